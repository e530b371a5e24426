// No run shares mutable state with another: coverage, checked requirements and the
// compiled tables' use live in a RunContext per run (model/run-context.ts), so the four
// profiles run at once in one process give the same reports as one after another.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceAdapters } from '../adapters/registry.ts';
import { PROFILES } from '../adapters/types.ts';
import { findMutant } from '../mutants/index.ts';
import { type ProfileResult, runProfile } from './run-profile.ts';

/** A report without its timing. */
const report = (r: ProfileResult) => ({ ...r, seconds: 0 });

test('every profile run concurrently in one process reports exactly what it reports alone', async () => {
  const options = { runs: 150, seed: 4, timeoutMs: 5000, maxCommands: 30 };
  const alone: ProfileResult[] = [];
  for (const p of PROFILES) alone.push(await runProfile(referenceAdapters[p], options));
  const together = await Promise.all(PROFILES.map((p) => runProfile(referenceAdapters[p], options)));
  assert.equal(together.map(report), alone.map(report));
});

test('two runs of one profile at once, one failing and one conforming, keep their own coverage and verdicts', async () => {
  const options = { runs: 300, seed: 9, timeoutMs: 5000, maxCommands: 30 };
  const mutant = findMutant('vfio-clear-whole-range')!;
  const alone = [await runProfile(referenceAdapters['vfio-type1'], options), await runProfile(mutant.adapter, options)];
  const together = await Promise.all([runProfile(referenceAdapters['vfio-type1'], options), runProfile(mutant.adapter, options)]);
  assert.equal(together.map(report), alone.map(report));
  assert.is(together[0]!.verdict, 'conforms');
  assert.is(together[1]!.verdict, 'does-not-conform');
});

test.run();
