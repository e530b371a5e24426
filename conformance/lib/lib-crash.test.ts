// `dirtyspec run --lib` with a library that crashes or hangs in a call (the kernel-style
// example with one fault planted, fixtures/bad-lib.c): the crash is confirmed against the
// library served over the protocol by a process of its own, shrunk with a fresh process
// per attempt, and is a failure (exit 1) naming the requirements of the call, with a
// --lib replay line; no process is left behind (run-lib.ts).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from '../cli/capture.ts';
import { badLib, buildBadLib } from './fixtures/bad-lib.ts';
import { processesNaming } from './fixtures/processes.ts';

const here = new URL('.', import.meta.url).pathname;
const build = mkdtempSync(join(tmpdir(), 'dirtyspec-lib-crash-'));
// A library that hangs takes the same path (the parent kills the child at --timeout, then
// confirms): not run here, since every shrinking attempt of a hang waits out the time
// limit (2 s a call over the protocol); crash-served.test.ts confirms and shrinks a hang
// over --exec, which is the confirmation's path.
const BAD = ['SEGV', 'ABORT'] as const;
const bad = (v: (typeof BAD)[number]) => badLib(build, v);
const run = promisify(execFile);

test.before(async () => {
  // The faulty libraries need only the example's headers in the build folder (bad-lib.ts):
  // make's target for them, not the example's four builds, which no test here loads.
  await run('make', ['-s', '-C', join(here, '../examples/kernel-c'), `BUILD=${build}`, join(build, 'include/dirtyspec')]);
  await Promise.all(BAD.map((v) => buildBadLib(build, v)));
});

test.after(() => {
  rmSync(build, { recursive: true, force: true });
});

/**
 * A run of a library that dies or hangs in a call: the crash is confirmed in a process
 * serving the library over the protocol (a fresh one for each attempt), shrunk, and is a
 * failure (exit 1) with the call in flight and a --lib replay line (which fails again,
 * where `replayToo`); no process is left.
 */
async function crashFails(lib: string, crash: RegExp, replayToo: boolean, ...flags: string[]): Promise<string> {
  const r = await runCli('run', '--lib', lib, '--runs', '20', '--seed', '1', ...flags);
  assert.is(r.status, 1, r.out + r.err);
  assert.match(r.out, /SPEC VIOLATION \[MAP-\d\]/);
  assert.match(r.out, crash);
  assert.match(r.out, /in the call smmu-driver\.map \{[^}]*\} \(the same in a fresh process each time\)/);
  const steps = /counterexample \((\d+) steps\)/.exec(r.out);
  assert.ok(steps !== null && Number(steps[1]) <= 12, `${steps?.[1]} steps`);
  const replay = /--lib (\S+) --seed (\d+) --replay '([^']+)'/.exec(r.out);
  assert.ok(replay, 'the replay command names --lib');
  if (replayToo) {
    const again = await runCli('run', '--profile', 'smmu-driver', '--lib', replay[1]!, '--seed', replay[2]!, '--replay', replay[3]!, ...flags);
    assert.is(again.status, 1, again.out + again.err);
    assert.match(again.out, crash);
  }
  assert.equal(processesNaming(lib), [], 'no process left');
  return r.out;
}

test('a library that segfaults in map fails (exit 1): the crash, confirmed in a fresh process serving the library, shrunk to the map, with the signal and a --lib replay that fails again', async () => {
  await crashFails(bad('SEGV'), /crash: signal SIGSEGV/, true);
});

test('a library that aborts in map fails (exit 1) with SIGABRT and the tail of its standard error', async () => {
  const out = await crashFails(bad('ABORT'), /crash: signal SIGABRT/, false);
  assert.match(out, /\| bad-lib: map gives up/);
});

test.run();
