// The counters of a result: runs are the sequences generated up to and including the
// failing one (not fast-check's shrinking), and commands include the failing sequence's.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { findMutant } from '../mutants/index.ts';
import { runProfile } from './run-profile.ts';

const options = { timeoutMs: 2000, maxCommands: 30 };

test('a failure in the first sequence: 1 run, and its commands counted (not "1 runs, 0 commands")', async () => {
  const r = await runProfile(findMutant('iova-bitmap-ignores-pgoff')!.adapter, { ...options, runs: 300, seed: 2 });
  assert.is(r.verdict, 'does-not-conform');
  assert.is(r.runs, 1);
  assert.ok(r.commands >= r.counterexample!.steps.length, `${r.commands} commands`);
});

test('runs count the sequences up to the failing one, not the shrinking: one run fewer with the same seed conforms', async () => {
  const adapter = findMutant('clear-without-tlbi')!.adapter;
  const r = await runProfile(adapter, { ...options, runs: 300, seed: 1 });
  assert.is(r.verdict, 'does-not-conform');
  assert.ok(r.runs > 1);
  const before = await runProfile(adapter, { ...options, runs: r.runs - 1, seed: 1 });
  assert.is(before.verdict, 'conforms');
  assert.is(before.runs, r.runs - 1);
  assert.ok(r.commands > before.commands, "the failing sequence's commands are counted");
});

test.run();
