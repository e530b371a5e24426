// Profile vfio-type1: a manual-clear round whose calls after the writes shrinking may leave
// out (`omit`, ROUND_PARTS in vfio-type1-profile.ts): each bit leaves out its call and only
// it, so a counterexample keeps the calls its loss needs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Violation } from '../../model/violation.ts';
import { referenceVfioType1Adapter } from '../adapters/reference.ts';
import type { VfioType1Adapter } from '../adapters/types.ts';
import { mutants } from '../mutants/index.ts';
import type { TraceStep } from './commands.ts';
import { replayVfioType1Scenario } from './vfio-type1-profile.ts';

/** Manual clear negotiated, tracking on, a two-page mapping, then one round writing both pages and clearing the first. */
const scenario = (omit?: number) => ({
  config: { hwDirty: true },
  ops: [
    { k: 'ext', extension: 11 },
    { k: 'dirty', flags: 1 },
    { k: 'map', page: 0, pages: 2, flags: 3, vaddr: 'ok', range: 'ok' },
    { k: 'round', pick: 0, writes: [0, 1], bits: [], last: 0, read: 4, ...(omit === undefined ? {} : { omit }) },
  ],
});

async function roundOps(adapter: VfioType1Adapter, omit?: number): Promise<string[]> {
  const trace: TraceStep[] = [];
  await replayVfioType1Scenario(adapter, scenario(omit), 5000, trace);
  return trace.map((s) => s.op).filter((op) => op.startsWith('round:') || op.startsWith('device DMA'));
}

test('a round without omit makes every call: two writes, the NO_CLEAR read, the clear, a write, the read', async () => {
  const ops = await roundOps(referenceVfioType1Adapter());
  assert.equal(
    ops.map((op) => op.replace(/\(.*$/, '').replace(/ at .*$/, '')),
    [
      'device DMA write',
      'device DMA write',
      'round: DIRTY_PAGES GET_BITMAP_NOCLEAR',
      'round: DIRTY_PAGES GET_BITMAP_NOCLEAR',
      'round: DIRTY_PAGES CLEAR_BITMAP',
      'device DMA write',
      'round: DIRTY_PAGES GET_BITMAP',
      'round: DIRTY_PAGES GET_BITMAP',
    ],
  );
});

test('each bit of omit leaves out its own call (bit 0 the NO_CLEAR read, 1 the clear, 2 the last write, 3 the read), and all four leave the writes', async () => {
  const full = await roundOps(referenceVfioType1Adapter());
  const without = (pattern: RegExp, skip = 0) => full.filter((op, i) => !(pattern.test(op) && i >= skip));
  assert.equal(await roundOps(referenceVfioType1Adapter(), 0b0001), without(/NOCLEAR/));
  assert.equal(await roundOps(referenceVfioType1Adapter(), 0b0010), without(/CLEAR_BITMAP/));
  assert.equal(await roundOps(referenceVfioType1Adapter(), 0b0100), without(/device DMA/, 2));
  assert.equal(await roundOps(referenceVfioType1Adapter(), 0b1000), without(/GET_BITMAP\(/));
  assert.equal(await roundOps(referenceVfioType1Adapter(), 0b1111), full.slice(0, 2));
});

test('[VFIO-CLEAR-5] the clear that clears more than its bits is blamed at the next report with the NO_CLEAR read and the last write left out', async () => {
  const m = mutants.find((x) => x.name === 'vfio-clear-whole-range')!;
  try {
    await replayVfioType1Scenario(m.adapter as VfioType1Adapter, scenario(0b0101), 5000, []);
    assert.unreachable('no violation');
  } catch (e) {
    assert.ok(e instanceof Violation && e.kind === 'loss' && e.req.includes('VFIO-CLEAR-5'), String(e));
  }
});

test.run();
