import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AnyTransitionDefinition, SnapshotFrom } from 'xstate';
import { machineTransitions } from '../machines.ts';
import type { RuleMeta } from '../rule.ts';
import { initialState, run, step } from '../step.ts';
import type { DirtyBitmapOp, DirtyRangeFacts, MapDmaEvent, UnmapDmaEvent } from './args.ts';
import { VFIO_EFFECT_POSTCONDITIONS, VFIO_EFFECTS, VFIO_OUTCOMES, VFIO_TYPE1_EVENTS, vfioType1Machine as m, vfioType1StateOf, type VfioType1Event } from './type1-machine.ts';

const MAP_OK: MapDmaEvent = { type: 'MAP_DMA', flagsValid: true, setVaddr: false, aligned: true, wraps: false, overlaps: false, entriesLeft: true, inIovaRange: true, vaddrBacked: true, bitmapFits: true };
const UNMAP_OK: UnmapDmaEvent = {
  type: 'UNMAP_DMA',
  unknownFlags: false,
  getDirtyBitmap: false,
  unmapAll: false,
  vaddr: false,
  bitmapSizeOk: true,
  pgsizeIsMin: true,
  iovaAligned: true,
  rangeOk: true,
  bisectsMapping: false,
};
const RANGE_OK: DirtyRangeFacts = { wraps: false, sizeZero: false, bitmapSizeOk: true, pgsizeIsMin: true, aligned: true, bisectsMapping: false };
const mapE = (o: Partial<MapDmaEvent> = {}): VfioType1Event => ({ ...MAP_OK, ...o });
const unmapE = (o: Partial<UnmapDmaEvent> = {}): VfioType1Event => ({ ...UNMAP_OK, ...o });
const bitmapE = (op: DirtyBitmapOp, o: Partial<DirtyRangeFacts> = {}): VfioType1Event => ({ type: 'DIRTY_PAGES', op, ...RANGE_OK, ...o });
const START: VfioType1Event = { type: 'DIRTY_PAGES', op: 'START', mappingTooLarge: false };
const STOP: VfioType1Event = { type: 'DIRTY_PAGES', op: 'STOP' };
const NEGOTIATE: VfioType1Event = { type: 'CHECK_EXTENSION', extension: 'VFIO_DIRTY_LOG_MANUAL_CLEAR' };

const OFF: VfioType1Event[] = [];
const ON: VfioType1Event[] = [START];
const OFF_MC: VfioType1Event[] = [NEGOTIATE];
const ON_MC: VfioType1Event[] = [NEGOTIATE, START];

/** Runs `prefix`, then `event`: the outcomes of `event`, the states before and after, and the requirements its transitions cite. */
function take(prefix: VfioType1Event[], event: VfioType1Event) {
  const before = run(m, prefix)[0];
  const taken = m.getTransitionData(before, event) as AnyTransitionDefinition[];
  const [after, out] = step(m, before, event);
  return { out, before: vfioType1StateOf(before), after: vfioType1StateOf(after), req: taken.flatMap((t) => (t.meta as RuleMeta | undefined)?.req ?? []) };
}

/** `event` after `prefix` is refused with `outcome`, charged to `id`, and changes no state. */
function refused(prefix: VfioType1Event[], event: VfioType1Event, outcome: string, id: string): void {
  const r = take(prefix, event);
  assert.equal(r.out, [outcome], `${JSON.stringify(event)}: ${r.out.join(',')}`);
  assert.equal(r.after, r.before);
  assert.ok((r.req as readonly string[]).includes(id), `${JSON.stringify(event)} charged to ${r.req.join(',')}, not ${id}`);
}

function accepted(prefix: VfioType1Event[], event: VfioType1Event, out: string[], id: string) {
  const r = take(prefix, event);
  assert.equal(r.out, out);
  assert.ok((r.req as readonly string[]).includes(id), `charged to ${r.req.join(',')}, not ${id}`);
  return r;
}

// ---------------------------------------------------------------------------------------
// MAP_DMA

test('[VFIO-MAP-1] MAP_DMA with unknown flags, VADDR, or neither READ nor WRITE is -EINVAL', () => {
  for (const p of [OFF, ON]) refused(p, mapE({ flagsValid: false }), 'einval', 'VFIO-MAP-1');
});
test('[VFIO-MAP-2] MAP_DMA with size 0 or an unaligned iova, size or vaddr is -EINVAL', () => {
  for (const p of [OFF, ON]) refused(p, mapE({ aligned: false }), 'einval', 'VFIO-MAP-2');
});
test('[VFIO-MAP-3] MAP_DMA whose iova or vaddr range wraps is -EINVAL', () => {
  for (const p of [OFF, ON]) refused(p, mapE({ wraps: true }), 'einval', 'VFIO-MAP-3');
});
test('[VFIO-MAP-4] MAP_DMA overlapping a mapping is -EEXIST', () => {
  for (const p of [OFF, ON]) refused(p, mapE({ overlaps: true }), 'eexist', 'VFIO-MAP-4');
});
test('[VFIO-MAP-5] MAP_DMA with no entry left is -ENOSPC', () => {
  for (const p of [OFF, ON]) refused(p, mapE({ entriesLeft: false }), 'enospc', 'VFIO-MAP-5');
});
test('[VFIO-MAP-6] MAP_DMA outside the valid IOVA ranges is -EINVAL', () => {
  for (const p of [OFF, ON]) refused(p, mapE({ inIovaRange: false }), 'einval', 'VFIO-MAP-6');
});
test('[VFIO-MAP-7] MAP_DMA of unbacked process addresses is -EFAULT', () => {
  for (const p of [OFF, ON]) refused(p, mapE({ vaddrBacked: false }), 'efault', 'VFIO-MAP-7');
});
test('[VFIO-MAP-8] MAP_DMA too large for a dirty bitmap is -EINVAL while tracking, and fine while not', () => {
  refused(ON, mapE({ bitmapFits: false }), 'einval', 'VFIO-MAP-8');
  refused(ON_MC, mapE({ bitmapFits: false }), 'einval', 'VFIO-MAP-8');
  accepted(OFF, mapE({ bitmapFits: false }), ['mapDma', 'ok'], 'VFIO-MAP-9');
});
test('[VFIO-MAP-9] a valid MAP_DMA maps and returns 0 in every state', () => {
  for (const p of [OFF, ON, OFF_MC, ON_MC]) {
    const r = accepted(p, mapE(), ['mapDma', 'ok'], 'VFIO-MAP-9');
    assert.equal(r.after, r.before);
  }
});
test('[VFIO-MAP-10] MAP_DMA setting a vaddr (VFIO_UPDATE_VADDR offered) is -ENOENT over no mapping, -EINVAL over one, after the size and wrap checks, and never maps', () => {
  for (const p of [OFF, ON, OFF_MC, ON_MC]) {
    refused(p, mapE({ setVaddr: true }), 'enoent', 'VFIO-MAP-10');
    refused(p, mapE({ setVaddr: true, overlaps: true }), 'einval', 'VFIO-MAP-10');
    // The checks after it (entries left, IOVA range, pinnable, bitmap size) do not apply.
    refused(p, mapE({ setVaddr: true, entriesLeft: false, inIovaRange: false, vaddrBacked: false, bitmapFits: false }), 'enoent', 'VFIO-MAP-10');
  }
  refused(OFF, mapE({ setVaddr: true, aligned: false }), 'einval', 'VFIO-MAP-2');
  refused(OFF, mapE({ setVaddr: true, wraps: true }), 'einval', 'VFIO-MAP-3');
});
test('[VFIO-MAP-1] [VFIO-MAP-4] checks run in the kernel order: flags before overlap', () => {
  refused(OFF, mapE({ flagsValid: false, overlaps: true, entriesLeft: false }), 'einval', 'VFIO-MAP-1');
  refused(OFF, mapE({ overlaps: true, entriesLeft: false }), 'eexist', 'VFIO-MAP-4');
});

// ---------------------------------------------------------------------------------------
// UNMAP_DMA

test('[VFIO-UNMAP-1] UNMAP_DMA with an unknown flag is -EINVAL', () => {
  for (const p of [OFF, ON]) refused(p, unmapE({ unknownFlags: true, getDirtyBitmap: true }), 'einval', 'VFIO-UNMAP-1');
});
test('[VFIO-UNMAP-2] GET_DIRTY_BITMAP with ALL or with VADDR is -EINVAL, tracking or not', () => {
  for (const p of [OFF, ON]) {
    refused(p, unmapE({ getDirtyBitmap: true, unmapAll: true, rangeOk: false }), 'einval', 'VFIO-UNMAP-2');
    refused(p, unmapE({ getDirtyBitmap: true, vaddr: true }), 'einval', 'VFIO-UNMAP-2');
    refused(p, unmapE({ getDirtyBitmap: true, unmapAll: true, vaddr: true }), 'einval', 'VFIO-UNMAP-2');
  }
});
test('[VFIO-UNMAP-3] UNMAP_DMA with VADDR is -EINVAL (no VFIO_UPDATE_VADDR)', () => {
  for (const p of [OFF, ON]) refused(p, unmapE({ vaddr: true }), 'einval', 'VFIO-UNMAP-3');
});
test('[VFIO-UNMAP-4] GET_DIRTY_BITMAP with a bad bitmap size is -EINVAL; without the flag the size is ignored', () => {
  for (const p of [OFF, ON]) refused(p, unmapE({ getDirtyBitmap: true, bitmapSizeOk: false }), 'einval', 'VFIO-UNMAP-4');
  accepted(ON, unmapE({ bitmapSizeOk: false }), ['unmapDma', 'ok'], 'VFIO-UNMAP-11');
});
test('[VFIO-UNMAP-5] UNMAP_DMA with an unaligned iova is -EINVAL', () => {
  for (const p of [OFF, ON]) refused(p, unmapE({ iovaAligned: false }), 'einval', 'VFIO-UNMAP-5');
});
test('[VFIO-UNMAP-6] UNMAP_DMA with ALL and a non-zero iova or size is -EINVAL', () => {
  for (const p of [OFF, ON]) refused(p, unmapE({ unmapAll: true, rangeOk: false }), 'einval', 'VFIO-UNMAP-6');
});
test('[VFIO-UNMAP-7] UNMAP_DMA (not ALL) with size 0, unaligned or wrapping is -EINVAL', () => {
  for (const p of [OFF, ON]) refused(p, unmapE({ rangeOk: false }), 'einval', 'VFIO-UNMAP-7');
});
test('[VFIO-UNMAP-8] GET_DIRTY_BITMAP while tracking is off is -EINVAL', () => {
  refused(OFF, unmapE({ getDirtyBitmap: true }), 'einval', 'VFIO-UNMAP-8');
  refused(OFF_MC, unmapE({ getDirtyBitmap: true }), 'einval', 'VFIO-UNMAP-8');
});
test('[VFIO-UNMAP-9] GET_DIRTY_BITMAP with a page size other than the smallest is -EINVAL', () => {
  refused(ON, unmapE({ getDirtyBitmap: true, pgsizeIsMin: false }), 'einval', 'VFIO-UNMAP-9');
});
test('[VFIO-UNMAP-10] UNMAP_DMA bisecting a mapping is -EINVAL; ALL never bisects', () => {
  for (const p of [OFF, ON]) refused(p, unmapE({ bisectsMapping: true }), 'einval', 'VFIO-UNMAP-10');
  refused(ON, unmapE({ bisectsMapping: true, getDirtyBitmap: true }), 'einval', 'VFIO-UNMAP-10');
  accepted(ON, unmapE({ unmapAll: true, bisectsMapping: true }), ['unmapDma', 'ok'], 'VFIO-UNMAP-11');
});
test('[VFIO-UNMAP-11] a valid UNMAP_DMA (range or ALL) unmaps and returns 0 in every state', () => {
  for (const p of [OFF, ON, OFF_MC, ON_MC]) {
    accepted(p, unmapE(), ['unmapDma', 'ok'], 'VFIO-UNMAP-11');
    accepted(p, unmapE({ unmapAll: true }), ['unmapDma', 'ok'], 'VFIO-UNMAP-11');
  }
});
test('[VFIO-UNMAP-12] [NOLOSS-3] UNMAP_DMA with GET_DIRTY_BITMAP while tracking reports before it unmaps', () => {
  for (const p of [ON, ON_MC]) accepted(p, unmapE({ getDirtyBitmap: true }), ['reportDirty', 'unmapDma', 'ok'], 'VFIO-UNMAP-12');
});

// ---------------------------------------------------------------------------------------
// VFIO_IOMMU_DIRTY_PAGES: flags, START, STOP

test('[VFIO-DIRTY-1] DIRTY_PAGES with an unknown flag is -EINVAL', () => {
  for (const p of [OFF, ON, ON_MC]) refused(p, { type: 'DIRTY_PAGES', op: 'unknownFlag' }, 'einval', 'VFIO-DIRTY-1');
});
test('[VFIO-DIRTY-2] DIRTY_PAGES with no flag or several flags is -EINVAL', () => {
  for (const p of [OFF, ON, ON_MC]) {
    refused(p, { type: 'DIRTY_PAGES', op: 'noFlag' }, 'einval', 'VFIO-DIRTY-2');
    refused(p, { type: 'DIRTY_PAGES', op: 'severalFlags', manualClearBits: false }, 'einval', 'VFIO-DIRTY-2');
  }
  refused(ON_MC, { type: 'DIRTY_PAGES', op: 'severalFlags', manualClearBits: true }, 'einval', 'VFIO-DIRTY-2');
});
test('[VFIO-DIRTY-3] START turns tracking on; START while on does nothing', () => {
  const r = accepted(OFF, START, ['startTracking', 'ok'], 'VFIO-DIRTY-3');
  assert.is(r.after.tracking, 'on');
  const again = accepted(ON, START, ['ok'], 'VFIO-DIRTY-3');
  assert.equal(again.after, again.before);
});
test('[VFIO-DIRTY-4] START with a mapping too large for a bitmap is -EINVAL and tracking stays off', () => {
  refused(OFF, { type: 'DIRTY_PAGES', op: 'START', mappingTooLarge: true }, 'einval', 'VFIO-DIRTY-4');
});
test('[VFIO-DIRTY-5] STOP turns tracking off; STOP while off does nothing; negotiation survives', () => {
  const r = accepted(ON_MC, STOP, ['stopTracking', 'ok'], 'VFIO-DIRTY-5');
  assert.equal(r.after, { tracking: 'off', manualClear: 'negotiated' });
  const again = accepted(OFF, STOP, ['ok'], 'VFIO-DIRTY-5');
  assert.equal(again.after, again.before);
});

// ---------------------------------------------------------------------------------------
// VFIO_IOMMU_DIRTY_PAGES: the bitmap operations' range checks

const RANGE_CASES: [keyof DirtyRangeFacts, boolean, string][] = [
  ['wraps', true, 'VFIO-DIRTY-6'],
  ['sizeZero', true, 'VFIO-DIRTY-7'],
  ['bitmapSizeOk', false, 'VFIO-DIRTY-8'],
  ['pgsizeIsMin', false, 'VFIO-DIRTY-9'],
  ['aligned', false, 'VFIO-DIRTY-10'],
];
for (const [fact, value, id] of RANGE_CASES) {
  test(`[${id}] GET_BITMAP, GET_BITMAP_NOCLEAR and CLEAR_BITMAP with ${fact} = ${value} are -EINVAL, tracking or not`, () => {
    for (const p of [OFF_MC, ON_MC]) for (const o of ['GET_BITMAP', 'GET_BITMAP_NOCLEAR', 'CLEAR_BITMAP'] as const) refused(p, bitmapE(o, { [fact]: value }), 'einval', id);
    refused(ON, bitmapE('GET_BITMAP', { [fact]: value }), 'einval', id);
  });
}
test('[VFIO-DIRTY-6] [VFIO-DIRTY-9] range checks run in the kernel order', () => {
  refused(ON, bitmapE('GET_BITMAP', { wraps: true, pgsizeIsMin: false, aligned: false }), 'einval', 'VFIO-DIRTY-6');
  refused(ON, bitmapE('GET_BITMAP', { pgsizeIsMin: false, aligned: false, bisectsMapping: true }), 'einval', 'VFIO-DIRTY-9');
});
test('[VFIO-DIRTY-11] GET_BITMAP and GET_BITMAP_NOCLEAR while tracking is off are -EINVAL', () => {
  refused(OFF, bitmapE('GET_BITMAP'), 'einval', 'VFIO-DIRTY-11');
  refused(OFF_MC, bitmapE('GET_BITMAP'), 'einval', 'VFIO-DIRTY-11');
  refused(OFF_MC, bitmapE('GET_BITMAP_NOCLEAR'), 'einval', 'VFIO-DIRTY-11');
});
test('[VFIO-DIRTY-12] GET_BITMAP and GET_BITMAP_NOCLEAR bisecting a mapping are -EINVAL', () => {
  refused(ON, bitmapE('GET_BITMAP', { bisectsMapping: true }), 'einval', 'VFIO-DIRTY-12');
  refused(ON_MC, bitmapE('GET_BITMAP_NOCLEAR', { bisectsMapping: true }), 'einval', 'VFIO-DIRTY-12');
});
test('[VFIO-DIRTY-13] [NOLOSS-1] GET_BITMAP reports and clears, also after manual clear was negotiated', () => {
  for (const p of [ON, ON_MC]) {
    const r = accepted(p, bitmapE('GET_BITMAP'), ['reportDirty', 'clearReported', 'ok'], 'VFIO-DIRTY-13');
    assert.equal(r.after, r.before);
  }
});

// ---------------------------------------------------------------------------------------
// Manual clear

test('[VFIO-CLEAR-1] CHECK_EXTENSION(VFIO_DIRTY_LOG_MANUAL_CLEAR) returns 1 and negotiates, idempotently, tracking or not', () => {
  const r = accepted(OFF, NEGOTIATE, ['supported'], 'VFIO-CLEAR-1');
  assert.equal(r.after, { tracking: 'off', manualClear: 'negotiated' });
  assert.equal(accepted(ON, NEGOTIATE, ['supported'], 'VFIO-CLEAR-1').after, { tracking: 'on', manualClear: 'negotiated' });
  assert.equal(accepted(ON_MC, NEGOTIATE, ['supported'], 'VFIO-CLEAR-1').after, { tracking: 'on', manualClear: 'negotiated' });
});
test('[VFIO-CLEAR-2] GET_BITMAP_NOCLEAR or CLEAR_BITMAP before negotiation is -EINVAL, whatever else is wrong or right', () => {
  for (const p of [OFF, ON]) {
    refused(p, bitmapE('GET_BITMAP_NOCLEAR'), 'einval', 'VFIO-CLEAR-2');
    refused(p, bitmapE('CLEAR_BITMAP'), 'einval', 'VFIO-CLEAR-2');
    refused(p, bitmapE('CLEAR_BITMAP', { wraps: true }), 'einval', 'VFIO-CLEAR-2');
    refused(p, { type: 'DIRTY_PAGES', op: 'severalFlags', manualClearBits: true }, 'einval', 'VFIO-CLEAR-2');
  }
});
test('[VFIO-CLEAR-3] CLEAR_BITMAP while tracking is off is -EINVAL', () => {
  refused(OFF_MC, bitmapE('CLEAR_BITMAP'), 'einval', 'VFIO-CLEAR-3');
  refused([...ON_MC, STOP], bitmapE('CLEAR_BITMAP'), 'einval', 'VFIO-CLEAR-3');
});
test('[VFIO-CLEAR-4] [NOLOSS-1] GET_BITMAP_NOCLEAR reports without clearing', () => {
  accepted(ON_MC, bitmapE('GET_BITMAP_NOCLEAR'), ['reportDirty', 'ok'], 'VFIO-CLEAR-4');
});
test('[VFIO-CLEAR-5] [VFIO-CLEAR-6] [NOLOSS-2] CLEAR_BITMAP clears the selected pages, then invalidates the TLB; it may cover part of a mapping', () => {
  accepted(ON_MC, bitmapE('CLEAR_BITMAP'), ['clearSelected', 'invalidateTlb', 'ok'], 'VFIO-CLEAR-6');
  accepted(ON_MC, bitmapE('CLEAR_BITMAP', { bisectsMapping: true }), ['clearSelected', 'invalidateTlb', 'ok'], 'VFIO-CLEAR-5');
});

// ---------------------------------------------------------------------------------------
// CHECK_EXTENSION, GET_INFO

test('[VFIO-EXT-1] other extensions answer 1 or 0 and negotiate nothing', () => {
  for (const p of [OFF, ON]) {
    const yes = accepted(p, { type: 'CHECK_EXTENSION', extension: 'supported' }, ['supported'], 'VFIO-EXT-1');
    assert.is(yes.after.manualClear, 'notNegotiated');
    accepted(p, { type: 'CHECK_EXTENSION', extension: 'unsupported' }, ['unsupported'], 'VFIO-EXT-1');
  }
});
test('[VFIO-INFO-1] GET_INFO succeeds in every state and changes nothing', () => {
  for (const p of [OFF, ON, OFF_MC, ON_MC]) {
    const r = accepted(p, { type: 'GET_INFO' }, ['ok'], 'VFIO-INFO-1');
    assert.equal(r.after, r.before);
  }
});

// ---------------------------------------------------------------------------------------
// The machine as a whole

/** Every reachable state times every event of the alphabet: outcomes, next state, transition keys taken. */
function enumerate() {
  type S = SnapshotFrom<typeof m>;
  const key = (s: S) => JSON.stringify(s.value);
  const seen = new Map<string, S>();
  const queue: S[] = [initialState(m)];
  const entries: { state: S; event: VfioType1Event; out: string[]; next: S; taken: string[] }[] = [];
  for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
    if (seen.has(key(s))) continue;
    seen.set(key(s), s);
    for (const event of VFIO_TYPE1_EVENTS) {
      const taken = (m.getTransitionData(s, event) as AnyTransitionDefinition[]).map((t) => `${t.source.path.join('.') || '(root)'} --${t.eventType}#${(t.source.transitions.get(t.eventType) ?? []).indexOf(t)}`);
      const [next, out] = step(m, s, event);
      entries.push({ state: s, event, out, next, taken });
      if (!seen.has(key(next))) queue.push(next);
    }
  }
  return { states: [...seen.values()], entries };
}
const ALL = enumerate();

test('[VFIO-DIRTY-1] the alphabet reaches 4 states and takes every transition; every call ends with exactly one outcome', () => {
  assert.is(ALL.states.length, 4);
  const outcomes = new Set<string>(VFIO_OUTCOMES);
  const covered = new Set<string>();
  for (const { state, event, out, taken } of ALL.entries) {
    assert.is(out.filter((a) => outcomes.has(a)).length, 1, `${JSON.stringify(state.value)} ${JSON.stringify(event)}: ${out.join(',')}`);
    assert.ok(outcomes.has(out[out.length - 1]!));
    taken.forEach((k) => covered.add(k));
  }
  const missing = machineTransitions(m)
    .filter((x) => !covered.has(x.key))
    .map((x) => x.key);
  assert.equal(missing, []);
});
test('[VFIO-MAP-4] [VFIO-DIRTY-8] every refusal (an errno outcome) leaves the state as it was and does nothing else', () => {
  const errnos = new Set(['einval', 'eexist', 'enospc', 'efault']);
  let refusals = 0;
  for (const { state, out, next } of ALL.entries) {
    if (!out.some((a) => errnos.has(a))) continue;
    refusals++;
    assert.is(out.length, 1);
    assert.equal(next.value, state.value);
  }
  assert.ok(refusals > 1000);
});
test('[VFIO-CLEAR-5] every effect has a stated postcondition; the machine starts off and not negotiated', () => {
  for (const e of VFIO_EFFECTS) assert.type(VFIO_EFFECT_POSTCONDITIONS[e], 'string');
  assert.equal(vfioType1StateOf(initialState(m)), { tracking: 'off', manualClear: 'notNegotiated' });
});

test.run();
