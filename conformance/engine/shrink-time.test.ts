// Shrinking a failure has a time limit (RunOptions.shrinkMs, the CLI's --shrink-time): each
// attempt replays a prefix of the failing sequence, and against a slow implementation (a
// faithful port that walks a huge mapping page by page) shrinking could outlast any CI job.
// Once the time is spent, the engine stops and reports the shortest failure found so far,
// saying so; the replay line reproduces exactly that counterexample.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Adapter } from '../adapters/types.ts';
import { findMutant } from '../mutants/index.ts';
import { htmlRunReport } from '../report/html.ts';
import { humanReport } from '../report/human.ts';
import { jsonReportObject } from '../report/json.ts';
import { junitReport } from '../report/junit.ts';
import { FirstFailure } from './first-failure.ts';
import { runProfile } from './run-profile.ts';
import { Violation } from '../../model/violation.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A mutant whose every sequence starts `ms` late (its create waits): each shrinking attempt costs at least that. */
function slowed(name: string, ms: number): Adapter {
  const m = findMutant(name);
  if (m === undefined) throw new Error(`no mutant ${name}`);
  const a = m.adapter as Adapter & { create: (...args: never[]) => Promise<unknown> };
  const create = async (...args: never[]) => {
    await sleep(ms);
    return a.create(...args);
  };
  return { ...a, create } as Adapter;
}

const violation = () => new Violation('spec', ['NOLOSS-1'], 'a page', 'none');

test('FirstFailure: without a limit a violation is shrunk to the end; with one, every attempt after it passes unrun and the stop is recorded', async () => {
  const unlimited = new FirstFailure(2000);
  assert.not.ok(unlimited.skipRun());
  await unlimited.judge(violation(), []).catch(() => {});
  assert.not.ok(unlimited.skipRun());
  assert.is(unlimited.shrinkStopped, undefined);

  const limited = new FirstFailure(2000, 30);
  await limited.judge(violation(), []).catch(() => {});
  assert.not.ok(limited.skipRun(), 'an attempt within the time runs');
  await sleep(60);
  assert.ok(limited.skipRun(), 'an attempt after the time is skipped');
  assert.ok(limited.skipRun(), 'and every one after it');
  assert.is(limited.shrinkStopped?.attempts, 1);
  assert.ok((limited.shrinkStopped?.seconds ?? 0) >= 0.03);
});

for (const [name, ms] of [
  ['map-one-page-short', 15],
  ['iova-bitmap-end-inside-page', 15],
] as const) {
  test(`${name} (${ms} ms a sequence): shrinking stops at its time, reports so, and the replay line reproduces that counterexample`, async () => {
    const adapter = slowed(name, ms);
    const seed = 7;
    const stopped = await runProfile(adapter, { runs: 100, seed, timeoutMs: 2000, maxCommands: 30, shrinkMs: 1 });
    assert.is(stopped.verdict, 'does-not-conform');
    assert.ok(stopped.shrinkStopped !== undefined, 'the stop is in the result');
    assert.ok(stopped.counterexample !== undefined && stopped.replay !== undefined);
    assert.match(humanReport([stopped]), /shrinking stopped after [\d.]+ s and \d+ attempts \(--shrink-time\)/);
    assert.equal(jsonReportObject([stopped]).profiles[0]?.shrinkStopped, stopped.shrinkStopped);
    assert.match(junitReport([stopped]), /shrinking stopped after/);
    assert.match(await htmlRunReport([stopped]), /shrinking stopped after/);

    const replayed = await runProfile(adapter, { runs: 1, seed: stopped.replay.seed, path: stopped.replay.path, timeoutMs: 2000, maxCommands: 30 });
    assert.is(replayed.verdict, 'does-not-conform');
    assert.equal(
      replayed.counterexample?.steps.map((s) => s.op),
      stopped.counterexample.steps.map((s) => s.op),
    );
    assert.equal(replayed.counterexample?.violation.req, stopped.counterexample.violation.req);

    // Unlimited (and not slowed: the same verdicts, faster), the shrinking goes on to a counterexample no longer than that.
    const full = await runProfile(findMutant(name)!.adapter, { runs: 100, seed, timeoutMs: 2000, maxCommands: 30 });
    assert.is(full.verdict, 'does-not-conform');
    assert.is(full.shrinkStopped, undefined);
    assert.ok(full.counterexample!.steps.length <= stopped.counterexample.steps.length);
  });
}

test.run();
