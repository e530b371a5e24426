// A crash (engine/crash.ts) in a call the profile names requirements for: confirmed in a
// fresh process, shrunk with a fresh process per attempt, a failure of those requirements
// when the shrunk input crashes again; undecided when it does not come back, or when no
// requirement covers the call. A fake process stands in for an --exec one.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { TraceStep } from './commands.ts';
import { Crash, inFlight } from './crash.ts';
import { runScenarioProfile } from './scenario-profile.ts';

/** A process that dies of SIGFPE on inputs from 500 on (only in its first life when `once`), with a count of its lives. */
function fakeProcess(opts: { once?: boolean; covered?: boolean } = {}) {
  const p = { lives: 1, crashes: 0 };
  const renew = async () => void p.lives++;
  const call = async (x: number) => {
    if (x >= 500 && (!opts.once || p.lives === 1)) {
      p.crashes++;
      throw new Crash('fake: the process exited (signal SIGFPE)', { how: 'signal', status: 'signal SIGFPE', call: { op: 'fake.set', args: `{"x":${x}}` }, diagnostics: '', stderr: 'fake: divide error' }, renew);
    }
    return 0;
  };
  const profile = {
    name: 'iova-bitmap' as const,
    adapter: 'fake',
    arbitrary: fc.integer({ min: 0, max: 1000 }),
    async run(x: number, trace: TraceStep[]) {
      trace.push({ op: 'create', answer: 'ok', expected: 'ok', req: ['IOVA-BITMAP-1'] });
      await call(x).catch(opts.covered === false ? (e: unknown) => Promise.reject(e) : inFlight({ op: `set(${x})`, expected: '0', req: ['IOVA-BITMAP-3'] }));
      trace.push({ op: `set(${x})`, answer: '0', expected: '0', req: ['IOVA-BITMAP-2'] });
      return 2;
    },
    requirements: ['IOVA-BITMAP-1', 'IOVA-BITMAP-2', 'IOVA-BITMAP-3'],
    coverage: () => ({}),
    configOf: (x: number) => ({ x }),
  };
  return { p, profile };
}

const options = { runs: 100, seed: 3, timeoutMs: 100, maxCommands: 10 };

test('a covered crash that comes back is a failure of its requirements, shrunk, the call in flight last, each attempt in a fresh process', async () => {
  const { p, profile } = fakeProcess();
  const r = await runScenarioProfile(profile, options);
  assert.is(r.verdict, 'does-not-conform');
  assert.equal(r.counterexample!.config, { x: 500 }, 'shrunk to the smallest input that crashes');
  assert.equal(r.counterexample!.violation.req, ['IOVA-BITMAP-3']);
  assert.equal(r.counterexample!.steps.at(-1), { op: 'set(500)', answer: 'the process died (signal SIGFPE)', expected: '0', req: ['IOVA-BITMAP-3'] });
  assert.equal(r.counterexample!.crash, { status: 'signal SIGFPE', call: 'fake.set {"x":500}', stderr: 'fake: divide error' });
  assert.equal(
    r.requirements.find((q) => q.id === 'IOVA-BITMAP-3'),
    { id: 'IOVA-BITMAP-3', verdict: 'fail' },
  );
  assert.ok(r.replay !== undefined);
  // The confirmation, every shrinking attempt and the final replay each started a process.
  assert.ok(p.lives >= p.crashes + 1, `${p.lives} lives for ${p.crashes} crashes`);
});

test('a crash that does not come back in a fresh process is undecided, not shrunk, and says so', async () => {
  const { p, profile } = fakeProcess({ once: true });
  const r = await runScenarioProfile(profile, options);
  assert.is(r.verdict, 'undecided');
  assert.match(r.undecided!.message, /the same input ran again in a fresh process and it passed, so the crash does not reproduce/);
  assert.is(r.replay, undefined);
  assert.is(p.crashes, 1);
});

test('a crash in a call no requirement covers stays undecided as any other, in the one process', async () => {
  const { p, profile } = fakeProcess({ covered: false });
  const r = await runScenarioProfile(profile, options);
  assert.is(r.verdict, 'undecided');
  assert.match(r.undecided!.message, /^fake: the process exited \(signal SIGFPE\)/);
  assert.is(p.lives, 1, 'no fresh process');
});

test.run();
