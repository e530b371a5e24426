// An --adapter module runs in process, where a call that never returns (a loop without
// end) would keep its thread, and the kit's own timer of that thread, for ever. Its blocks
// run on worker threads that the main thread watches (engine/call-watch.ts, pool.ts): a
// worker still inside a call past the call's limit is stopped, and the block runs again
// against the module served by a process of its own (confirm-hang.ts), where the hang is
// confirmed, shrunk and judged like a hang over --exec. A call whose promise never
// settles leaves the thread free, so the engine's own timer ends it; that block is
// confirmed the same way.
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from '../cli/capture.ts';
import { planCampaign } from './plan.ts';
import { runInWorkers } from './pool.ts';

const fixture = fileURLToPath(new URL('./fixtures/faults-in-set.ts', import.meta.url));
const inspectHangs = fileURLToPath(new URL('./fixtures/inspect-hangs.ts', import.meta.url));

test('a watched worker inside a call past its limit is stopped: its block is undecided, saying why, and the other blocks run on a new worker', async () => {
  const units = planCampaign(['iova-bitmap'], 200, 1).units;
  const stopped: number[] = [];
  const pooled = await runInWorkers(units, { workers: 1, source: { kind: 'module', path: fixture }, settings: { timeoutMs: 200, maxCommands: 30 }, stopAfterMs: 300, onLost: (i) => stopped.push(i) });
  assert.not.ok('unavailable' in pooled);
  const results = pooled as Exclude<typeof pooled, { unavailable: string }>;
  assert.is(results.length, 2);
  assert.equal(stopped, [0, 1], 'each block meets a long recording');
  for (const r of results) {
    assert.is(r.verdict, 'undecided');
    assert.match(r.undecided!.message, /did not return: the thread running it was still inside it \d+ ms after the call's time limit/);
  }
});

test('a kvm-dirty-log module whose inspectPage never returns when read between calls (outside any call, after a vCPU write) is stopped as one inside a call', async () => {
  const units = planCampaign(['kvm-dirty-log'], 100, 1).units;
  const stopped: number[] = [];
  // Were that read not published to the watch, the worker would never be stopped: fail instead of waiting for ever.
  const limit = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the worker was not stopped within 60 s: the read between calls is not watched')), 60_000).unref());
  const pooled = await Promise.race([runInWorkers(units, { workers: 1, source: { kind: 'module', path: inspectHangs }, settings: { timeoutMs: 200, maxCommands: 30 }, stopAfterMs: 300, onLost: (i) => stopped.push(i) }), limit]);
  assert.not.ok('unavailable' in pooled);
  const results = pooled as Exclude<typeof pooled, { unavailable: string }>;
  assert.equal(stopped, [0]);
  assert.is(results[0]!.verdict, 'undecided');
  assert.match(results[0]!.undecided!.message, /did not return: the thread running it was still inside it \d+ ms after the call's time limit/);
});

test('the hang comes back against the module served by a process of its own: a failure of the call in flight, shrunk, with its replay line (exit 1)', async () => {
  const r = await runCli('run', '--adapter', fixture, '--profile', 'iova-bitmap', '--runs', '20', '--seed', '1', '--timeout', '300');
  assert.is(r.status, 1, r.out + r.err);
  assert.match(r.out, /crash: no answer within \d+ ms, in the call iova-bitmap\.set/);
  assert.match(r.out, /replay: npx dirtyspec run --profile iova-bitmap --adapter \S+faults-in-set\.ts --seed 1 --replay '[^']+'/);
});

test('a hang that does not come back against the served module stays undecided and says so (exit 2)', async () => {
  process.env.DIRTYSPEC_FIXTURE_WORKERS_ONLY = '1';
  try {
    const r = await runCli('run', '--adapter', fixture, '--profile', 'iova-bitmap', '--runs', '20', '--seed', '1', '--timeout', '300');
    assert.is(r.status, 2, r.out + r.err);
    assert.match(r.out, /UNDECIDED: the worker thread running block 0 stopped: a call into the implementation did not return/);
    assert.match(r.out, /the block ran through \(so this did not reproduce/);
  } finally {
    delete process.env.DIRTYSPEC_FIXTURE_WORKERS_ONLY;
  }
});

test('the confirmation judges the block by the contract the module declares: a linux iova-bitmap module whose hang does not come back stays undecided, not failed by hardened rules', async () => {
  process.env.DIRTYSPEC_FIXTURE_WORKERS_ONLY = '1';
  process.env.DIRTYSPEC_FIXTURE_CONTRACT = 'linux';
  try {
    const r = await runCli('run', '--adapter', fixture, '--profile', 'iova-bitmap', '--runs', '20', '--seed', '1', '--timeout', '300');
    assert.is(r.status, 2, r.out + r.err);
    assert.match(r.out, /UNDECIDED: the worker thread running block 0 stopped/);
  } finally {
    delete process.env.DIRTYSPEC_FIXTURE_WORKERS_ONLY;
    delete process.env.DIRTYSPEC_FIXTURE_CONTRACT;
  }
});

test('a module that ends its worker thread in a call: the block is lost with the exit code, and handed to the confirmation', async () => {
  process.env.DIRTYSPEC_FIXTURE_FAULT = 'exit';
  try {
    // The plain limits: the thread ends at once, so only a slow machine could make the watch stop it first (and the block say so instead).
    const units = planCampaign(['iova-bitmap'], 100, 1).units;
    const lost: number[] = [];
    const pooled = await runInWorkers(units, { workers: 1, source: { kind: 'module', path: fixture }, settings: { timeoutMs: 2000, maxCommands: 30 }, stopAfterMs: 1000, onLost: (i) => lost.push(i) });
    assert.not.ok('unavailable' in pooled);
    assert.equal(lost, [0]);
    assert.match((pooled as { undecided?: { message: string } }[])[0]!.undecided!.message, /the worker thread running block 0 stopped: exit code 3/);
  } finally {
    delete process.env.DIRTYSPEC_FIXTURE_FAULT;
  }
});

test("a call whose promise never settles (the thread stays free, the kit's timer catches it): confirmed against the served module like any hang, a failure of the call in flight (exit 1)", async () => {
  process.env.DIRTYSPEC_FIXTURE_FAULT = 'never';
  try {
    const r = await runCli('run', '--adapter', fixture, '--profile', 'iova-bitmap', '--runs', '20', '--seed', '1', '--timeout', '300');
    assert.is(r.status, 1, r.out + r.err);
    // Served, nothing else keeps the process alive: Node ends it with status 13 (an await that never settles), in that call.
    assert.match(r.out, /crash: (no answer within \d+ ms|exit status 13), in the call iova-bitmap\.set/);
  } finally {
    delete process.env.DIRTYSPEC_FIXTURE_FAULT;
  }
});

test.run();
