// The VFIO type1 container as userspace sees it: dirty tracking off or on, manual clear
// negotiated or not, and every ioctl with its preconditions. Each precondition is a
// guard with its requirement; each refusal is a transition whose outcome names the errno
// the kernel returns (`einval`, `eexist`, `enospc`, `efault`) and changes nothing. A
// successful call returns `ok` after its effects, in order.
//
// Requirements: VFIO-MAP-1..10, VFIO-UNMAP-1..12, VFIO-DIRTY-1..13, VFIO-CLEAR-1..6,
//               VFIO-EXT-1, VFIO-INFO-1 (VFIO-DIRTY-14 is an abstract operation in args.ts)
// Sources: Linux include/uapi/linux/vfio.h; drivers/vfio/vfio_iommu_type1.c; the
//          manual-clear RFC (Kunkun Jiang / Keqian Zhu, 2021: kernel v1 Jan, v2 Mar;
//          QEMU v2 May with GET_BITMAP_NOCLEAR): Kunkun Jiang's QEMU RFC
//          <20210310094106.2191-1-jiangkunkun@huawei.com> and Keqian Zhu's HTTU RFC
//          <20210128151742.18840-1-zhukeqian1@huawei.com> (docs/SOURCES.md).
//
// Events carry the classified facts of spec/vfio/args.ts (`classifyMapDma`,
// `classifyUnmapDma`, `classifyDirtyPagesArgs`, `classifyExtension`), never raw numbers,
// so the machine is finite and compiles into a table over `VFIO_TYPE1_EVENTS`.
//
// The guards of one event are tried in the order the kernel checks; where two checks
// give the same errno the order only decides which requirement a refusal is charged to.
//
// Manual clear, as this spec fixes it (the RFC was never merged):
// - VFIO_CHECK_EXTENSION(VFIO_DIRTY_LOG_MANUAL_CLEAR = 11) answers 1 and negotiates it;
//   only then are GET_BITMAP_NOCLEAR (1 << 3) and CLEAR_BITMAP (1 << 4) in the flag mask.
// - GET_BITMAP keeps reading *and clearing* after negotiation; GET_BITMAP_NOCLEAR only
//   reads; CLEAR_BITMAP clears exactly the pages whose bits are set.
// DEPARTS from RFC v1/v2 (kernel, Jan and Mar 2021): there the extension query switched
// GET_BITMAP itself to read-only and CLEAR_BITMAP was 1 << 3; v1 numbered the extension 9
// (now VFIO_UNMAP_ALL). The maintainer asked for an explicit no-clear operation instead.
import { and, setup, stateIn } from 'xstate';
import { guard, rule } from '../rule.ts';
import { DIRTY_BITMAP_OPS, type CheckExtensionEvent, type DirtyBitmapOp, type DirtyPagesEvent, type DirtyRangeFacts, type MapDmaEvent, type MapDmaFacts, type UnmapDmaEvent, type UnmapDmaFacts } from './args.ts';

export type GetInfoEvent = { readonly type: 'GET_INFO' };
export type VfioType1Event = MapDmaEvent | UnmapDmaEvent | DirtyPagesEvent | CheckExtensionEvent | GetInfoEvent;

/** What a call returns: 0, -errno, or CHECK_EXTENSION's 1 / 0. Always the last action. */
export const VFIO_OUTCOMES = ['ok', 'einval', 'eexist', 'enospc', 'efault', 'enoent', 'supported', 'unsupported'] as const;
export type VfioOutcome = (typeof VFIO_OUTCOMES)[number];

/** What a successful call does, in order, before its outcome. */
export const VFIO_EFFECTS = ['mapDma', 'reportDirty', 'unmapDma', 'clearReported', 'clearSelected', 'invalidateTlb', 'startTracking', 'stopTracking'] as const;
export type VfioEffect = (typeof VFIO_EFFECTS)[number];

/** What must hold once each effect has run (checked against an implementation). */
export const VFIO_EFFECT_POSTCONDITIONS: Record<VfioEffect, string> = {
  mapDma: 'the range is one new mapping, translated by the IOMMU to the pinned pages with the requested permissions',
  reportDirty: 'the returned bitmap (bit i of u64 word i/64 = page iova + i * pgsize) holds every page of the range dirtied and not cleared since; pages outside any mapping are 0',
  unmapDma: 'no mapping inside the range remains, the IOMMU translates none of its pages, and the call returned the bytes unmapped',
  clearReported: 'every page the report holds is clean: a write after the call returns is reported by the next report',
  clearSelected: 'every page whose bit is set in the user bitmap is clean, and no other page lost its dirty state',
  invalidateTlb: 'no IOTLB entry still caches a cleared page as dirty: the next write to it is recorded',
  startTracking: 'writes from now on are recorded for every mapping, present and future; stale dirty state from before is gone',
  stopTracking: 'nothing is recorded any more and the dirty state not yet reported is dropped',
};

type ReqParams = { req: string };
type E = VfioType1Event;
const noop = () => {};
/** The actions of a transition: effects in order, then the outcome. */
const does = (...actions: (VfioOutcome | VfioEffect)[]) => actions;
const is =
  <T extends E['type']>(type: T, test: (e: Extract<E, { type: T }>) => boolean) =>
  (args: { event: E }, _params: ReqParams): boolean =>
    args.event.type === type && test(args.event as Extract<E, { type: T }>);
const map = (test: (e: MapDmaFacts) => boolean) => is('MAP_DMA', test);
const unmap = (test: (e: UnmapDmaFacts) => boolean) => is('UNMAP_DMA', test);
const isBitmapOp = (e: DirtyPagesEvent): e is Extract<DirtyPagesEvent, DirtyRangeFacts> => (DIRTY_BITMAP_OPS as readonly string[]).includes(e.op);
const range = (test: (e: DirtyRangeFacts & { op: DirtyBitmapOp }) => boolean) => is('DIRTY_PAGES', (e) => isBitmapOp(e) && test(e));
const op = (...ops: DirtyPagesEvent['op'][]) => is('DIRTY_PAGES', (e) => ops.includes(e.op));

const NOT_NEGOTIATED = '#vfioType1.manualClear.notNegotiated';

// ---------------------------------------------------------------------------------------
// Transition lists per event, for tracking off (`on = false`) and on.

function mapDma(on: boolean) {
  return [
    { guard: guard('mapFlagsInvalid', 'VFIO-MAP-1'), actions: does('einval'), ...rule('VFIO-MAP-1') },
    { guard: guard('mapUnaligned', 'VFIO-MAP-2'), actions: does('einval'), ...rule('VFIO-MAP-2') },
    { guard: guard('mapWraps', 'VFIO-MAP-3'), actions: does('einval'), ...rule('VFIO-MAP-3') },
    // VFIO_UPDATE_VADDR offered: a new vaddr for the mapping that is exactly the range and
    // whose vaddr UNMAP_DMA with VADDR invalidated, which the kit never does; so -ENOENT
    // where no mapping meets the range, -EINVAL where one does, and nothing changes.
    { guard: and([guard('mapSetVaddr', 'VFIO-MAP-10'), guard('mapOverlaps', 'VFIO-MAP-10')]), actions: does('einval'), ...rule('VFIO-MAP-10') },
    { guard: guard('mapSetVaddr', 'VFIO-MAP-10'), actions: does('enoent'), ...rule('VFIO-MAP-10') },
    { guard: guard('mapOverlaps', 'VFIO-MAP-4'), actions: does('eexist'), ...rule('VFIO-MAP-4') },
    { guard: guard('mapNoEntryLeft', 'VFIO-MAP-5'), actions: does('enospc'), ...rule('VFIO-MAP-5') },
    { guard: guard('mapOutsideIovaRanges', 'VFIO-MAP-6'), actions: does('einval'), ...rule('VFIO-MAP-6') },
    { guard: guard('mapVaddrNotBacked', 'VFIO-MAP-7'), actions: does('efault'), ...rule('VFIO-MAP-7') },
    ...(on ? [{ guard: guard('mapBitmapTooLarge', 'VFIO-MAP-8'), actions: does('einval'), ...rule('VFIO-MAP-8') }] : []),
    { actions: does('mapDma', 'ok'), ...rule('VFIO-MAP-9') },
  ];
}

function unmapDma(on: boolean) {
  return [
    { guard: guard('unmapUnknownFlags', 'VFIO-UNMAP-1'), actions: does('einval'), ...rule('VFIO-UNMAP-1') },
    { guard: guard('unmapDirtyWithAllOrVaddr', 'VFIO-UNMAP-2'), actions: does('einval'), ...rule('VFIO-UNMAP-2') },
    { guard: guard('unmapVaddr', 'VFIO-UNMAP-3'), actions: does('einval'), ...rule('VFIO-UNMAP-3') },
    { guard: guard('unmapBitmapSizeBad', 'VFIO-UNMAP-4'), actions: does('einval'), ...rule('VFIO-UNMAP-4') },
    { guard: guard('unmapIovaUnaligned', 'VFIO-UNMAP-5'), actions: does('einval'), ...rule('VFIO-UNMAP-5') },
    { guard: guard('unmapAllWithRange', 'VFIO-UNMAP-6'), actions: does('einval'), ...rule('VFIO-UNMAP-6') },
    { guard: guard('unmapRangeBad', 'VFIO-UNMAP-7'), actions: does('einval'), ...rule('VFIO-UNMAP-7') },
    on ? { guard: guard('unmapPgsizeNotMin', 'VFIO-UNMAP-9'), actions: does('einval'), ...rule('VFIO-UNMAP-9') } : { guard: guard('unmapGetDirtyBitmap', 'VFIO-UNMAP-8'), actions: does('einval'), ...rule('VFIO-UNMAP-8') },
    { guard: guard('unmapBisects', 'VFIO-UNMAP-10'), actions: does('einval'), ...rule('VFIO-UNMAP-10') },
    ...(on ? [{ guard: guard('unmapGetDirtyBitmap', 'VFIO-UNMAP-12'), actions: does('reportDirty', 'unmapDma', 'ok'), ...rule('VFIO-UNMAP-12', 'NOLOSS-3') }] : []),
    { actions: does('unmapDma', 'ok'), ...rule('VFIO-UNMAP-11') },
  ];
}

/** The checks every VFIO_IOMMU_DIRTY_PAGES call goes through first, tracking or not. */
const dirtyPagesFlags = [
  { guard: guard('dirtyUnknownFlag', 'VFIO-DIRTY-1'), actions: does('einval'), ...rule('VFIO-DIRTY-1') },
  { guard: and([guard('manualClearFlag', 'VFIO-CLEAR-2'), stateIn(NOT_NEGOTIATED)]), actions: does('einval'), ...rule('VFIO-CLEAR-2') },
  { guard: guard('notExactlyOneFlag', 'VFIO-DIRTY-2'), actions: does('einval'), ...rule('VFIO-DIRTY-2') },
];

/** The range and bitmap checks of GET_BITMAP, GET_BITMAP_NOCLEAR and CLEAR_BITMAP, in the kernel's order. */
const dirtyPagesRange = [
  { guard: guard('rangeWraps', 'VFIO-DIRTY-6'), actions: does('einval'), ...rule('VFIO-DIRTY-6') },
  // Upstream rejects size 0 inside verify_bitmap_size (npages = 0): same errno.
  { guard: guard('rangeSizeZero', 'VFIO-DIRTY-7'), actions: does('einval'), ...rule('VFIO-DIRTY-7') },
  { guard: guard('bitmapSizeBad', 'VFIO-DIRTY-8'), actions: does('einval'), ...rule('VFIO-DIRTY-8') },
  { guard: guard('bitmapPgsizeNotMin', 'VFIO-DIRTY-9'), actions: does('einval'), ...rule('VFIO-DIRTY-9') },
  { guard: guard('rangeUnaligned', 'VFIO-DIRTY-10'), actions: does('einval'), ...rule('VFIO-DIRTY-10') },
];

const dirtyPagesOff = [
  ...dirtyPagesFlags,
  { guard: and([guard('start', 'VFIO-DIRTY-3'), guard('mappingTooLarge', 'VFIO-DIRTY-4')]), actions: does('einval'), ...rule('VFIO-DIRTY-4') },
  { guard: guard('start', 'VFIO-DIRTY-3'), target: 'on', actions: does('startTracking', 'ok'), ...rule('VFIO-DIRTY-3') },
  { guard: guard('stop', 'VFIO-DIRTY-5'), actions: does('ok'), ...rule('VFIO-DIRTY-5') },
  ...dirtyPagesRange,
  { guard: guard('clearBitmap', 'VFIO-CLEAR-3'), actions: does('einval'), ...rule('VFIO-CLEAR-3') },
  { guard: guard('getBitmapAny', 'VFIO-DIRTY-11'), actions: does('einval'), ...rule('VFIO-DIRTY-11') },
];

const dirtyPagesOn = [
  ...dirtyPagesFlags,
  { guard: guard('start', 'VFIO-DIRTY-3'), actions: does('ok'), ...rule('VFIO-DIRTY-3') },
  { guard: guard('stop', 'VFIO-DIRTY-5'), target: 'off', actions: does('stopTracking', 'ok'), ...rule('VFIO-DIRTY-5') },
  ...dirtyPagesRange,
  // CLEAR_BITMAP has no bisection check: QEMU clears 64-page slices of a mapping.
  { guard: and([guard('getBitmapAny', 'VFIO-DIRTY-12'), guard('rangeBisects', 'VFIO-DIRTY-12')]), actions: does('einval'), ...rule('VFIO-DIRTY-12') },
  { guard: guard('getBitmap', 'VFIO-DIRTY-13'), actions: does('reportDirty', 'clearReported', 'ok'), ...rule('VFIO-DIRTY-13', 'NOLOSS-1') },
  { guard: guard('getBitmapNoClear', 'VFIO-CLEAR-4'), actions: does('reportDirty', 'ok'), ...rule('VFIO-CLEAR-4', 'NOLOSS-1') },
  { guard: guard('clearBitmap', 'VFIO-CLEAR-5'), actions: does('clearSelected', 'invalidateTlb', 'ok'), ...rule('VFIO-CLEAR-5', 'VFIO-CLEAR-6', 'NOLOSS-2') },
];

export const vfioType1Machine = setup({
  types: { events: {} as VfioType1Event },
  guards: {
    mapFlagsInvalid: map((e) => !e.flagsValid),
    mapUnaligned: map((e) => !e.aligned),
    mapWraps: map((e) => e.wraps),
    mapSetVaddr: map((e) => e.setVaddr),
    mapOverlaps: map((e) => e.overlaps),
    mapNoEntryLeft: map((e) => !e.entriesLeft),
    mapOutsideIovaRanges: map((e) => !e.inIovaRange),
    mapVaddrNotBacked: map((e) => !e.vaddrBacked),
    mapBitmapTooLarge: map((e) => !e.bitmapFits),
    unmapUnknownFlags: unmap((e) => e.unknownFlags),
    unmapDirtyWithAllOrVaddr: unmap((e) => e.getDirtyBitmap && (e.unmapAll || e.vaddr)),
    unmapVaddr: unmap((e) => e.vaddr),
    unmapBitmapSizeBad: unmap((e) => e.getDirtyBitmap && !e.bitmapSizeOk),
    unmapIovaUnaligned: unmap((e) => !e.iovaAligned),
    unmapAllWithRange: unmap((e) => e.unmapAll && !e.rangeOk),
    unmapRangeBad: unmap((e) => !e.unmapAll && !e.rangeOk),
    unmapGetDirtyBitmap: unmap((e) => e.getDirtyBitmap),
    unmapPgsizeNotMin: unmap((e) => e.getDirtyBitmap && !e.pgsizeIsMin),
    unmapBisects: unmap((e) => !e.unmapAll && e.bisectsMapping),
    dirtyUnknownFlag: op('unknownFlag'),
    manualClearFlag: is('DIRTY_PAGES', (e) => e.op === 'GET_BITMAP_NOCLEAR' || e.op === 'CLEAR_BITMAP' || (e.op === 'severalFlags' && e.manualClearBits)),
    notExactlyOneFlag: op('noFlag', 'severalFlags'),
    start: op('START'),
    mappingTooLarge: is('DIRTY_PAGES', (e) => e.op === 'START' && e.mappingTooLarge),
    stop: op('STOP'),
    rangeWraps: range((e) => e.wraps),
    rangeSizeZero: range((e) => e.sizeZero),
    bitmapSizeBad: range((e) => !e.bitmapSizeOk),
    bitmapPgsizeNotMin: range((e) => !e.pgsizeIsMin),
    rangeUnaligned: range((e) => !e.aligned),
    rangeBisects: range((e) => e.bisectsMapping),
    getBitmap: op('GET_BITMAP'),
    getBitmapNoClear: op('GET_BITMAP_NOCLEAR'),
    getBitmapAny: op('GET_BITMAP', 'GET_BITMAP_NOCLEAR'),
    clearBitmap: op('CLEAR_BITMAP'),
    manualClearExtension: is('CHECK_EXTENSION', (e) => e.extension === 'VFIO_DIRTY_LOG_MANUAL_CLEAR'),
    extensionSupported: is('CHECK_EXTENSION', (e) => e.extension === 'supported'),
  },
  actions: Object.fromEntries([...VFIO_OUTCOMES, ...VFIO_EFFECTS].map((a) => [a, noop])) as Record<VfioOutcome | VfioEffect, () => void>,
}).createMachine({
  id: 'vfioType1',
  type: 'parallel',
  states: {
    tracking: {
      initial: 'off',
      on: {
        GET_INFO: { actions: does('ok'), ...rule('VFIO-INFO-1') },
      },
      states: {
        off: {
          on: { MAP_DMA: mapDma(false), UNMAP_DMA: unmapDma(false), DIRTY_PAGES: dirtyPagesOff },
        },
        on: {
          on: { MAP_DMA: mapDma(true), UNMAP_DMA: unmapDma(true), DIRTY_PAGES: dirtyPagesOn },
        },
      },
    },
    manualClear: {
      initial: 'notNegotiated',
      on: {
        CHECK_EXTENSION: [
          { guard: guard('manualClearExtension', 'VFIO-CLEAR-1'), target: '.negotiated', actions: does('supported'), ...rule('VFIO-CLEAR-1') },
          { guard: guard('extensionSupported', 'VFIO-EXT-1'), actions: does('supported'), ...rule('VFIO-EXT-1') },
          { actions: does('unsupported'), ...rule('VFIO-EXT-1') },
        ],
      },
      states: {
        notNegotiated: {},
        negotiated: {},
      },
    },
  },
});

export type VfioType1Snapshot = ReturnType<typeof vfioType1Machine.resolveState>;

/** The container's state as two names, for tests and reports. */
export function vfioType1StateOf(snapshot: { value: unknown }): { tracking: 'off' | 'on'; manualClear: 'notNegotiated' | 'negotiated' } {
  return snapshot.value as { tracking: 'off' | 'on'; manualClear: 'notNegotiated' | 'negotiated' };
}

function bools<K extends string>(keys: readonly K[]): Record<K, boolean>[] {
  const out: Record<K, boolean>[] = [];
  for (let n = 0; n < 1 << keys.length; n++) out.push(Object.fromEntries(keys.map((k, i) => [k, (n & (1 << i)) !== 0])) as Record<K, boolean>);
  return out;
}

/** Every event the machine distinguishes, with every combination of its facts: the alphabet for compiling it into a table. */
export const VFIO_TYPE1_EVENTS: readonly VfioType1Event[] = (() => {
  const out: VfioType1Event[] = [{ type: 'GET_INFO' }];
  for (const extension of ['VFIO_DIRTY_LOG_MANUAL_CLEAR', 'supported', 'unsupported'] as const) out.push({ type: 'CHECK_EXTENSION', extension });
  for (const f of bools(['flagsValid', 'setVaddr', 'aligned', 'wraps', 'overlaps', 'entriesLeft', 'inIovaRange', 'vaddrBacked', 'bitmapFits'] as const)) out.push({ type: 'MAP_DMA', ...f });
  for (const f of bools(['unknownFlags', 'getDirtyBitmap', 'unmapAll', 'vaddr', 'bitmapSizeOk', 'pgsizeIsMin', 'iovaAligned', 'rangeOk', 'bisectsMapping'] as const)) {
    out.push({ type: 'UNMAP_DMA', ...f });
  }
  out.push({ type: 'DIRTY_PAGES', op: 'unknownFlag' }, { type: 'DIRTY_PAGES', op: 'noFlag' }, { type: 'DIRTY_PAGES', op: 'STOP' });
  for (const manualClearBits of [false, true]) out.push({ type: 'DIRTY_PAGES', op: 'severalFlags', manualClearBits });
  for (const mappingTooLarge of [false, true]) out.push({ type: 'DIRTY_PAGES', op: 'START', mappingTooLarge });
  for (const o of DIRTY_BITMAP_OPS) {
    for (const f of bools(['wraps', 'sizeZero', 'bitmapSizeOk', 'pgsizeIsMin', 'aligned', 'bisectsMapping'] as const)) out.push({ type: 'DIRTY_PAGES', op: o, ...f });
  }
  return out;
})();
