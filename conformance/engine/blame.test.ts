// A loss is charged to the call that caused it, not to the later report that sees it: the
// ghost remembers, for each owed page, the clearing call that had to keep it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { findMutant } from '../mutants/index.ts';
import { runProfile } from './run-profile.ts';

test('[VFIO-CLEAR-5] [NOLOSS-2] CLEAR_BITMAP clearing pages it was not given is blamed on CLEAR_BITMAP (vfio-clear-whole-range): a clear never forgets pages it was not asked to clear; with the report that saw the loss', async () => {
  const m = findMutant('vfio-clear-whole-range')!;
  const r = await runProfile(m.adapter, { runs: 1000, seed: 1, timeoutMs: 5000, maxCommands: 30 });
  assert.is(r.verdict, 'does-not-conform');
  assert.equal(r.counterexample!.violation.req, ['VFIO-CLEAR-5', 'NOLOSS-2', 'NOLOSS-1']);
  assert.match(r.counterexample!.violation.expected, /kept dirty by .*CLEAR_BITMAP/);
  assert.equal(r.requirements.find((q) => q.id === 'VFIO-CLEAR-5')?.verdict, 'fail');
});

test('a report that drops an owed page no clear had to keep is blamed on the report itself', async () => {
  const m = findMutant('vfio-unmap-drops-dirty')!;
  const r = await runProfile(m.adapter, { runs: 1000, seed: 1, timeoutMs: 5000, maxCommands: 30 });
  assert.is(r.verdict, 'does-not-conform');
  assert.not.ok(r.counterexample!.violation.req.includes('VFIO-CLEAR-5'), JSON.stringify(r.counterexample!.violation));
});

test.run();
