// `dirtyspec run --exec`: an implementation that breaks the protocol is undecided (exit 2)
// with a message naming what went wrong, the last messages and its standard error, and
// leaves no process behind; one that keeps it is judged like an in-process adapter.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from '../cli/capture.ts';
import { servedReference } from './fixtures/served-reference.ts';

const dir = mkdtempSync(join(tmpdir(), 'dirtyspec-exec-'));
const proxy = new URL('./fixtures/fault-proxy.mjs', import.meta.url).pathname;
// The reference served from one bundled file (fixtures/served-reference.ts): started many times here.
const serveReference = servedReference();

const cli = runCli;

/** Running, not a zombie waiting for init to reap it. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!);
  } catch {
    return false;
  }
}

/** Runs the fault proxy in `mode`, failing at its `nth` reply; returns the CLI's answer and the pids it started. */
async function faulty(mode: string, nth: number, ...flags: string[]) {
  const pidFile = join(dir, `${mode}.pids`);
  const r = await cli('run', '--exec', `${JSON.stringify(process.execPath)} ${JSON.stringify(proxy)} ${mode} ${nth} ${JSON.stringify(pidFile)}`, '--profile', 'vfio-type1', '--runs', '20', '--seed', '7', ...flags);
  const pids = readFileSync(pidFile, 'utf8').trim().split(' ').map(Number);
  return { ...r, pids };
}

function assertNoLeftovers(pids: number[]): void {
  for (const pid of pids) assert.not.ok(alive(pid), `process ${pid} is still running`);
}

// Reply 2 answers create, which no requirement covers: a crash there is undecided (one in a
// covered call that comes back in a fresh process is a failure: crash-failure.test.ts).
test('an implementation that crashes mid-run in a call no requirement covers is undecided (exit 2), with its standard error, and leaves no process', async () => {
  const r = await faulty('crash', 2);
  assert.is(r.status, 2);
  assert.match(r.out, /the process exited \(exit status 3\)/);
  assert.match(r.out, /fault-proxy: crash at reply 2/, 'the tail of its standard error');
  assert.match(r.out, /last messages/);
  assertNoLeftovers(r.pids);
});

test('an implementation that stops answering in a call no requirement covers is undecided at the time limit, and is killed', async () => {
  const r = await faulty('hang', 2, '--timeout', '300');
  assert.is(r.status, 2);
  assert.match(r.out, /no answer within 300 ms/);
  assertNoLeftovers(r.pids);
});

test('an implementation that keeps making callbacks but never replies is undecided at the limit of a whole call, with its messages', async () => {
  const pidFile = join(dir, 'chatter.pids');
  const r = await cli('run', '--exec', `${JSON.stringify(process.execPath)} ${JSON.stringify(proxy)} chatter 4 ${JSON.stringify(pidFile)}`, '--profile', 'iova-bitmap', '--runs', '20', '--seed', '7', '--timeout', '400');
  assert.is(r.status, 2, r.out);
  // The limit of a whole call over --exec: twice --timeout (engine/crash.ts, callLimitMs); each message came within 400 ms.
  assert.match(r.out, /did not answer within 800 ms/);
  assert.match(r.out, /< \{"cb":\d+,"op":"buffer\.pin","page":0\}/, 'the callbacks it kept making, in the last messages');
  assertNoLeftovers(readFileSync(pidFile, 'utf8').trim().split(' ').map(Number));
});

test('a line that is not JSON is undecided, the line quoted in the last messages', async () => {
  const r = await faulty('garble', 3);
  assert.is(r.status, 2);
  assert.match(r.out, /a line that is not JSON/);
  assert.match(r.out, /< this is not JSON/);
  assertNoLeftovers(r.pids);
});

test('a reply to a request id that was not asked is undecided, naming both ids', async () => {
  const r = await faulty('wrong-id', 5);
  assert.is(r.status, 2);
  assert.match(r.out, /a reply to request id 12, which was not asked \(the outstanding request is id 5, /);
  assertNoLeftovers(r.pids);
});

test('a result that breaks the schema is undecided, naming the field and the rule', async () => {
  const r = await faulty('schema', 5);
  assert.is(r.status, 2);
  assert.match(r.out, /the result of vfio-type1\.\w+(\/errno must be integer| has a field| lacks the required field)/);
  assertNoLeftovers(r.pids);
});

test("an error reply is undecided with the implementation's text, never a pass", async () => {
  const r = await faulty('error', 2);
  assert.is(r.status, 2);
  assert.match(r.out, /answered vfio-type1\.\w+ with an error: fixture: out of memory on purpose/);
  assertNoLeftovers(r.pids);
});

test('a hello naming another protocol version ends the handshake (exit 2), naming both versions', async () => {
  const r = await faulty('version2', 0);
  assert.is(r.status, 2);
  assert.match(r.out, /did not complete the hello handshake[\s\S]*speaks protocol 2; this kit speaks 1/);
  assertNoLeftovers(r.pids);
});

test("an implementation's text cannot draw on the report: control characters in its name are shown escaped", async () => {
  const r = await faulty('evil-name', 0);
  assert.match(r.out, /adapter evil\\u000a\\u001b\[8mverdict: conforms\)/);
  assert.not.match(r.out, /\u001b/);
  assertNoLeftovers(r.pids);
});

test('no reply to bye, or a non-zero exit after it, is a warning on stderr; the verdict stands', async () => {
  const quiet = await faulty('nobye', 0, '--timeout', '300');
  assert.is(quiet.status, 0, quiet.out);
  assert.match(quiet.err, /warning: .*bye: .*no answer within 300 ms/);
  assertNoLeftovers(quiet.pids);
  const loud = await faulty('byeexit1', 0);
  assert.is(loud.status, 0, loud.out);
  assert.match(loud.err, /warning: .*ended with exit status 1 after bye/);
});

test('a process outside the group that keeps the pipes open does not hold the kit (it reads on for 200 ms at most)', async () => {
  const pidFile = join(dir, 'outside.pid');
  const started = performance.now();
  const r = await cli('run', '--exec', `setsid sh -c 'echo $$ > ${pidFile}; exec sleep 30' & exec ${serveReference}`, '--profile', 'vfio-type1', '--runs', '3', '--seed', '1');
  const seconds = (performance.now() - started) / 1000;
  const outside = Number(readFileSync(pidFile, 'utf8'));
  process.kill(outside, 'SIGKILL');
  assert.is(r.status, 0, r.out);
  assert.ok(seconds < 15, `took ${seconds.toFixed(1)} s`);
});

test('a command that is not there is undecided at the handshake (exit 2), and the report files say so', async () => {
  const json = join(dir, 'handshake.json');
  const r = await cli('run', '--exec', join(dir, 'no-such-program'), '--runs', '1', '--profile', 'vfio-type1', '--json', json);
  assert.is(r.status, 2);
  assert.match(r.out, /did not complete the hello handshake/);
  assert.match(r.out, /not found|No such file|exit status 127/);
  const report = JSON.parse(readFileSync(json, 'utf8')) as { profiles: { name: string; verdict: string; undecided: { message: string } }[] };
  assert.equal(
    report.profiles.map((p) => [p.name, p.verdict]),
    [['vfio-type1', 'undecided']],
  );
  assert.match(report.profiles[0]!.undecided.message, /hello handshake/);
});

test('--exec and --adapter together are a usage error', async () => {
  const r = await cli('run', '--exec', 'true', '--adapter', 'x.ts');
  assert.is(r.status, 2);
  assert.match(r.err, /--adapter and --exec/);
});

test('the reference served over the protocol conforms on every profile', async () => {
  const r = await cli('run', '--exec', serveReference, '--runs', '25', '--seed', '3');
  assert.is(r.status, 0, r.out);
  for (const p of ['smmu-hw', 'smmu-driver', 'iova-bitmap', 'vfio-type1']) assert.match(r.out, new RegExp(`profile ${p} \\(adapter dirtyspec-reference \\(served over the protocol\\)\\): conforms`));
});

test('a profile the implementation does not name in its hello is a usage error naming the ones it does', async () => {
  const pidFile = join(dir, 'hello.pids');
  const r = await cli('run', '--exec', `${JSON.stringify(process.execPath)} ${JSON.stringify(proxy)} vfio-only 0 ${JSON.stringify(pidFile)}`, '--profile', 'smmu-hw', '--runs', '3');
  assert.is(r.status, 2);
  assert.match(r.err, /profile smmu-hw is not implemented by --exec .*its hello names: vfio-type1/);
  assertNoLeftovers(readFileSync(pidFile, 'utf8').trim().split(' ').map(Number));
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
