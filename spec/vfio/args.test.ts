import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DIRTY_BITMAP_PAGES_MAX,
  DIRTY_BITMAP_SIZE_MAX,
  VFIO_DIRTY_LOG_MANUAL_CLEAR,
  VFIO_DIRTY_LOG_MANUAL_CLEAR_V1,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_VADDR,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
  VFIO_DMA_UNMAP_FLAG_VADDR,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_CLEAR_BITMAP,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP_NOCLEAR,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_START,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP,
  VFIO_TYPE1v2_IOMMU,
  STRICT_TYPE1_UAPI,
  VFIO_UNMAP_ALL,
  VFIO_UPDATE_VADDR,
  bitmapTestBit,
  classifyDirtyPagesArgs,
  classifyExtension,
  classifyMapDma,
  classifyUnmapDma,
  fallbackDirtyBitmap,
  fallbackScope,
  vaddrAnswerWithEmulatedGroup,
  overflowAnswerWithAddressableLimit,
  migrationCapability,
  minPgsize,
  type Type1ContainerView,
} from './args.ts';

const PG = 0x1000;
const C: Type1ContainerView = {
  pgsizeBitmap: 0x4020_1000, // 4 KiB | 2 MiB | 1 GiB
  mappings: [
    { iova: 0x10_0000, size: 0x4000 },
    { iova: 0x20_0000, size: 0x20_0000 },
  ],
  dmaAvail: 10,
  iovaRanges: [{ start: 0, end: 2 ** 48 - 1 }],
  vaddrLimit: 2 ** 48,
};
const RW = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
const mapArgs = (o: Partial<{ flags: number; iova: number | bigint; size: number | bigint; vaddr: number | bigint }> = {}) => ({ flags: RW, iova: 0x80_0000, size: 0x2000, vaddr: 0x4000_0000, ...o });
const GET = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
const bm = (size: number | bigint = 8, pgsize: number | bigint = PG) => ({ pgsize, size });
const range = (flags: number, iova: number | bigint, size: number | bigint, bitmap = bm()) => classifyDirtyPagesArgs(C, { flags, iova, size, bitmap });
const GB = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
const U64_MAX_PAGE = 2n ** 64n - 0x1000n;

test('[VFIO-INFO-1] the smallest page size, the largest bitmap, and the migration capability', () => {
  assert.is(minPgsize(0x4020_1000), 0x1000n);
  assert.is(minPgsize(0x20_0000), 0x20_0000n);
  assert.throws(() => minPgsize(0), /no page size/);
  assert.is(DIRTY_BITMAP_PAGES_MAX, 2147483647);
  assert.is(DIRTY_BITMAP_SIZE_MAX, 2 ** 28);
  assert.equal(migrationCapability(0x4020_1000), { id: 2, version: 1, flags: 0, pgsizeBitmap: 0x1000n, maxDirtyBitmapSize: 2 ** 28 });
});

// MAP_DMA

test('[VFIO-MAP-1] only READ and WRITE, at least one; VADDR is outside the mask', () => {
  assert.ok(classifyMapDma(C, mapArgs()).flagsValid);
  assert.ok(classifyMapDma(C, mapArgs({ flags: VFIO_DMA_MAP_FLAG_READ })).flagsValid);
  assert.not.ok(classifyMapDma(C, mapArgs({ flags: 0 })).flagsValid);
  assert.not.ok(classifyMapDma(C, mapArgs({ flags: RW | VFIO_DMA_MAP_FLAG_VADDR })).flagsValid);
  assert.not.ok(classifyMapDma(C, mapArgs({ flags: VFIO_DMA_MAP_FLAG_VADDR })).flagsValid);
  assert.not.ok(classifyMapDma(C, mapArgs({ flags: VFIO_DMA_MAP_FLAG_WRITE | (1 << 7) })).flagsValid);
});
test('[VFIO-MAP-2] size 0, or iova, size or vaddr off the smallest page size', () => {
  assert.ok(classifyMapDma(C, mapArgs()).aligned);
  for (const o of [{ size: 0 }, { iova: 0x80_0800 }, { size: 0x1800 }, { vaddr: 0x4000_0010 }]) assert.not.ok(classifyMapDma(C, mapArgs(o)).aligned, JSON.stringify(o));
});
test('[VFIO-MAP-3] iova + size or vaddr + size past 2^64 wraps; ending exactly at 2^64 does not', () => {
  assert.ok(classifyMapDma(C, mapArgs({ iova: U64_MAX_PAGE, size: 0x2000 })).wraps);
  assert.ok(classifyMapDma(C, mapArgs({ vaddr: U64_MAX_PAGE, size: 0x2000 })).wraps);
  assert.not.ok(classifyMapDma(C, mapArgs({ iova: U64_MAX_PAGE, size: 0x1000 })).wraps);
  assert.throws(() => classifyMapDma(C, mapArgs({ iova: -1 })), /2\^64/);
  assert.throws(() => classifyMapDma(C, mapArgs({ iova: 2n ** 64n })), /2\^64/);
  assert.throws(() => classifyMapDma(C, mapArgs({ size: 0.5 })), /2\^64/);
});
test('[VFIO-MAP-4] any overlap with a mapping; touching is no overlap', () => {
  assert.ok(classifyMapDma(C, mapArgs({ iova: 0x10_3000, size: 0x2000 })).overlaps);
  assert.ok(classifyMapDma(C, mapArgs({ iova: 0, size: 0x100_0000 })).overlaps);
  assert.not.ok(classifyMapDma(C, mapArgs({ iova: 0x10_4000, size: 0x1000 })).overlaps);
  assert.not.ok(classifyMapDma(C, mapArgs({ iova: 0xf_f000, size: 0x1000 })).overlaps);
});
test('[VFIO-MAP-5] no entry left when dma_avail is 0', () => {
  assert.ok(classifyMapDma(C, mapArgs()).entriesLeft);
  assert.not.ok(classifyMapDma({ ...C, dmaAvail: 0 }, mapArgs()).entriesLeft);
});
test('[VFIO-MAP-6] the range must lie inside one valid IOVA range; no ranges means anything goes', () => {
  assert.ok(classifyMapDma(C, mapArgs({ iova: 2 ** 48 - 0x1000, size: 0x1000 })).inIovaRange);
  assert.not.ok(classifyMapDma(C, mapArgs({ iova: 2 ** 48 - 0x1000, size: 0x2000 })).inIovaRange);
  assert.ok(classifyMapDma({ ...C, iovaRanges: [] }, mapArgs({ iova: 2 ** 50 })).inIovaRange);
});
test('[VFIO-MAP-7] process addresses past the backed space cannot be pinned', () => {
  assert.ok(classifyMapDma(C, mapArgs({ vaddr: 2 ** 48 - 0x2000 })).vaddrBacked);
  assert.not.ok(classifyMapDma(C, mapArgs({ vaddr: 2 ** 48 - 0x1000 })).vaddrBacked);
});
test('[VFIO-MAP-8] a bitmap holds at most INT_MAX pages: 8 TiB - 4 KiB fits, 8 TiB does not', () => {
  assert.ok(classifyMapDma(C, mapArgs({ size: 2 ** 43 - PG })).bitmapFits);
  assert.not.ok(classifyMapDma(C, mapArgs({ size: 2 ** 43 })).bitmapFits);
});

// UNMAP_DMA

test('[VFIO-UNMAP-1] [VFIO-UNMAP-2] [VFIO-UNMAP-3] flag classification', () => {
  const u = (flags: number) => classifyUnmapDma(C, { flags, iova: 0x10_0000, size: 0x4000, bitmap: bm() });
  assert.ok(u(1 << 3).unknownFlags);
  assert.not.ok(u(GET | VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_VADDR).unknownFlags);
  const e = u(GET | VFIO_DMA_UNMAP_FLAG_VADDR);
  assert.equal([e.getDirtyBitmap, e.unmapAll, e.vaddr], [true, false, true]);
  assert.ok(u(VFIO_DMA_UNMAP_FLAG_ALL).unmapAll);
});
test('[VFIO-UNMAP-4] with GET_DIRTY_BITMAP the bitmap must be non-empty, within the maximum and large enough; without it, ignored', () => {
  const u = (size: number | bigint, bitmap?: { pgsize: number | bigint; size: number | bigint }, flags = GET) => classifyUnmapDma(C, { flags, iova: 0x20_0000, size, ...(bitmap ? { bitmap } : {}) });
  assert.ok(u(0x20_0000, bm(64)).bitmapSizeOk); // 512 pages: 64 bytes
  assert.not.ok(u(0x20_0000, bm(56)).bitmapSizeOk);
  assert.not.ok(u(0x4000, bm(0)).bitmapSizeOk);
  assert.not.ok(u(0x4000, bm(DIRTY_BITMAP_SIZE_MAX + 8)).bitmapSizeOk);
  assert.ok(u(0x4000, bm(DIRTY_BITMAP_SIZE_MAX)).bitmapSizeOk);
  assert.not.ok(u(0x4000, undefined).bitmapSizeOk);
  assert.ok(u(0x4000, undefined, 0).bitmapSizeOk);
});
test('[VFIO-UNMAP-5] iova must be a multiple of the smallest page size', () => {
  assert.not.ok(classifyUnmapDma(C, { flags: 0, iova: 0x10_0800, size: 0x1000 }).iovaAligned);
});
test('[VFIO-UNMAP-6] [VFIO-UNMAP-7] ALL needs iova = size = 0; otherwise size non-zero, aligned, not wrapping', () => {
  const all = (iova: number, size: number) => classifyUnmapDma(C, { flags: VFIO_DMA_UNMAP_FLAG_ALL, iova, size }).rangeOk;
  assert.ok(all(0, 0));
  assert.not.ok(all(0x1000, 0));
  assert.not.ok(all(0, 0x1000));
  const r = (iova: number | bigint, size: number | bigint) => classifyUnmapDma(C, { flags: 0, iova, size }).rangeOk;
  assert.ok(r(0x10_0000, 0x4000));
  assert.not.ok(r(0x10_0000, 0));
  assert.not.ok(r(0x10_0000, 0x4800));
  assert.not.ok(r(U64_MAX_PAGE, 0x2000));
});
test('[VFIO-UNMAP-9] with GET_DIRTY_BITMAP the bitmap page size must be the smallest', () => {
  assert.ok(classifyUnmapDma(C, { flags: GET, iova: 0x10_0000, size: 0x4000, bitmap: bm(8) }).pgsizeIsMin);
  assert.not.ok(classifyUnmapDma(C, { flags: GET, iova: 0x10_0000, size: 0x4000, bitmap: bm(8, 0x2000) }).pgsizeIsMin);
});
test('[VFIO-UNMAP-10] a range starting or ending inside a mapping bisects it; holes and whole mappings do not', () => {
  const b = (iova: number, size: number) => classifyUnmapDma(C, { flags: 0, iova, size }).bisectsMapping;
  assert.ok(b(0x10_1000, 0x3000));
  assert.ok(b(0x10_0000, 0x2000));
  assert.ok(b(0x0, 0x30_0000));
  assert.not.ok(b(0x0, 0x40_0000));
  assert.not.ok(b(0x10_0000, 0x4000));
  assert.not.ok(b(0x50_0000, 0x1000));
  assert.not.ok(classifyUnmapDma(C, { flags: VFIO_DMA_UNMAP_FLAG_ALL, iova: 0, size: 0 }).bisectsMapping);
});

// VFIO_IOMMU_DIRTY_PAGES

test('[VFIO-DIRTY-1] [VFIO-DIRTY-2] [VFIO-CLEAR-2] flag classification: unknown bit first, then exactly one', () => {
  const f = (flags: number) => classifyDirtyPagesArgs(C, { flags, iova: 0x10_0000, size: 0x4000, bitmap: bm() });
  assert.equal(f(1 << 5), { type: 'DIRTY_PAGES', op: 'unknownFlag' });
  assert.equal(f(VFIO_IOMMU_DIRTY_PAGES_FLAG_START | (1 << 9)), { type: 'DIRTY_PAGES', op: 'unknownFlag' });
  assert.equal(f(0), { type: 'DIRTY_PAGES', op: 'noFlag' });
  assert.equal(f(VFIO_IOMMU_DIRTY_PAGES_FLAG_START | VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP), { type: 'DIRTY_PAGES', op: 'severalFlags', manualClearBits: false });
  assert.equal(f(GB | VFIO_IOMMU_DIRTY_PAGES_FLAG_CLEAR_BITMAP), { type: 'DIRTY_PAGES', op: 'severalFlags', manualClearBits: true });
  assert.equal(f(VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP), { type: 'DIRTY_PAGES', op: 'STOP' });
  assert.is(f(VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP_NOCLEAR).op, 'GET_BITMAP_NOCLEAR');
  assert.is(f(VFIO_IOMMU_DIRTY_PAGES_FLAG_CLEAR_BITMAP).op, 'CLEAR_BITMAP');
  assert.throws(() => classifyDirtyPagesArgs(C, { flags: GB }), /required/);
});
test('[VFIO-DIRTY-4] START sees a mapping too large for a bitmap', () => {
  assert.equal(classifyDirtyPagesArgs(C, { flags: VFIO_IOMMU_DIRTY_PAGES_FLAG_START }), { type: 'DIRTY_PAGES', op: 'START', mappingTooLarge: false });
  const big = { ...C, mappings: [{ iova: 2 ** 43, size: 2 ** 43 }] };
  assert.equal(classifyDirtyPagesArgs(big, { flags: VFIO_IOMMU_DIRTY_PAGES_FLAG_START }), { type: 'DIRTY_PAGES', op: 'START', mappingTooLarge: true });
});
test('[VFIO-DIRTY-6] iova + size past 2^64 wraps', () => {
  const e = range(GB, U64_MAX_PAGE, 0x2000);
  assert.ok('wraps' in e && e.wraps);
});
test('[VFIO-DIRTY-6] a range ending exactly at 2^64 wraps too (range.iova + range.size < range.iova); one ending a page short does not', () => {
  const e = range(GB, U64_MAX_PAGE - 0x1000n, 0x2000);
  assert.ok('wraps' in e && e.wraps);
  const last = range(GB, U64_MAX_PAGE, 0x1000);
  assert.ok('wraps' in last && last.wraps);
  const short = range(GB, U64_MAX_PAGE - 0x1000n, 0x1000);
  assert.ok('wraps' in short && !short.wraps);
});
test('[VFIO-DIRTY-7] size 0 is its own fact', () => {
  const e = range(GB, 0x10_0000, 0);
  assert.ok('sizeZero' in e && e.sizeZero && e.bitmapSizeOk);
});
test('[VFIO-DIRTY-8] the bitmap: non-zero, at most 256 MiB, at least ALIGN(npages, 64) / 8 bytes', () => {
  const ok = (size: number, bytes: number, pgsize: number = PG) => {
    const e = range(GB, 0, size, bm(bytes, pgsize));
    return 'bitmapSizeOk' in e && e.bitmapSizeOk;
  };
  assert.ok(ok(0x4000, 8));
  assert.ok(ok(64 * PG, 8));
  assert.not.ok(ok(65 * PG, 8));
  assert.ok(ok(65 * PG, 16));
  assert.not.ok(ok(0x4000, 0));
  assert.not.ok(ok(0x4000, DIRTY_BITMAP_SIZE_MAX + 1));
  // pgshift comes from the user's pgsize (__ffs), before the pgsize check
  assert.ok(ok(128 * PG, 8, 2 * PG));
});
test('[VFIO-DIRTY-9] [VFIO-DIRTY-10] page size and alignment', () => {
  const e = range(GB, 0x10_0000, 0x4000, bm(8, 0x2000));
  assert.ok('pgsizeIsMin' in e && !e.pgsizeIsMin && e.aligned);
  const f = range(GB, 0x10_0800, 0x4000);
  assert.ok('aligned' in f && !f.aligned && f.pgsizeIsMin);
  const g = range(GB, 0x10_0000, 0x4800, bm(16));
  assert.ok('aligned' in g && !g.aligned);
  const z = range(GB, 0x10_0000, 0x4000, bm(8, 0));
  assert.ok('pgsizeIsMin' in z && !z.pgsizeIsMin);
});
test('[VFIO-DIRTY-12] GET ranges must cover whole mappings, holes allowed', () => {
  const b = (iova: number, size: number) => {
    const e = range(GB, iova, size, bm(1024));
    return 'bisectsMapping' in e && e.bisectsMapping;
  };
  assert.not.ok(b(0, 0x40_0000));
  assert.not.ok(b(0x20_0000, 0x20_0000));
  assert.ok(b(0x20_0000, 0x10_0000));
  assert.ok(b(0x10_2000, 0x2000));
});
test('[VFIO-DIRTY-14] without hardware tracking every mapped page of the range is dirty, holes are not', () => {
  const bits = fallbackDirtyBitmap(C.mappings, 0x10_0000, 0x30_0000, PG);
  assert.is(bits.length, dirtyBytes(0x300));
  const set: number[] = [];
  for (let i = 0; i < 0x300; i++) if (bitmapTestBit(bits, i)) set.push(i);
  assert.equal(set.length, 4 + 512);
  assert.equal(set.slice(0, 5), [0, 1, 2, 3, 0x100]);
  assert.is(set[set.length - 1], 0x2ff);
  // a range starting inside a mapping reports only its part
  const part = fallbackDirtyBitmap(C.mappings, 0x10_2000, 0x2000, PG);
  assert.equal([bitmapTestBit(part, 0), bitmapTestBit(part, 1), bitmapTestBit(part, 2)], [true, true, false]);
});
// The uAPI the container offers (its CHECK_EXTENSION answers)

const PRE_V5_12 = { ...STRICT_TYPE1_UAPI, unmapAll: false };
const LINUX = { unmapAll: true, updateVaddr: true, manualClear: false };

test('[VFIO-UNMAP-1] without VFIO_UNMAP_ALL (before v5.12) ALL and VADDR are unknown UNMAP_DMA flags; GET_DIRTY_BITMAP is not', () => {
  const u = (flags: number, uapi = PRE_V5_12) => classifyUnmapDma(C, { flags, iova: 0, size: 0 }, uapi);
  assert.ok(u(VFIO_DMA_UNMAP_FLAG_ALL).unknownFlags);
  assert.ok(u(VFIO_DMA_UNMAP_FLAG_VADDR).unknownFlags);
  assert.not.ok(classifyUnmapDma(C, { flags: GET, iova: 0x10_0000, size: 0x4000, bitmap: bm() }, PRE_V5_12).unknownFlags);
  assert.not.ok(u(VFIO_DMA_UNMAP_FLAG_ALL, STRICT_TYPE1_UAPI).unknownFlags);
});
test('[VFIO-UNMAP-3] where VFIO_UPDATE_VADDR is offered the kit sends no UNMAP_DMA with VADDR: classifying one throws', () => {
  assert.throws(() => classifyUnmapDma(C, { flags: VFIO_DMA_UNMAP_FLAG_VADDR, iova: 0x10_0000, size: 0x4000 }, LINUX), /not modelled/);
  assert.ok(classifyUnmapDma(C, { flags: VFIO_DMA_UNMAP_FLAG_VADDR, iova: 0x10_0000, size: 0x4000 }).vaddr);
});
test('[VFIO-MAP-1] [VFIO-MAP-10] where VFIO_UPDATE_VADDR is offered, MAP_DMA takes VADDR alone (setVaddr), not with READ or WRITE', () => {
  const alone = classifyMapDma(C, mapArgs({ flags: VFIO_DMA_MAP_FLAG_VADDR }), LINUX);
  assert.equal([alone.flagsValid, alone.setVaddr], [true, true]);
  assert.not.ok(classifyMapDma(C, mapArgs({ flags: RW | VFIO_DMA_MAP_FLAG_VADDR }), LINUX).flagsValid);
  assert.not.ok(classifyMapDma(C, mapArgs({ flags: VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_VADDR }), LINUX).flagsValid);
  assert.not.ok(classifyMapDma(C, mapArgs({ flags: 0 }), LINUX).flagsValid);
  const rw = classifyMapDma(C, mapArgs(), LINUX);
  assert.equal([rw.flagsValid, rw.setVaddr], [true, false]);
  // Not offered: VADDR is outside the mask, and never a vaddr update.
  const strict = classifyMapDma(C, mapArgs({ flags: VFIO_DMA_MAP_FLAG_VADDR }));
  assert.equal([strict.flagsValid, strict.setVaddr], [false, false]);
});
test('[VFIO-EXT-1] [VFIO-CLEAR-1] 9, 10 and 11 answer as the container offers them; 11 offered is the negotiation', () => {
  const ext = (n: number, uapi: typeof LINUX) => classifyExtension(n, uapi).extension;
  assert.equal(
    [VFIO_UNMAP_ALL, VFIO_UPDATE_VADDR, VFIO_DIRTY_LOG_MANUAL_CLEAR].map((n) => ext(n, LINUX)),
    ['supported', 'supported', 'unsupported'],
  );
  assert.equal(
    [VFIO_UNMAP_ALL, VFIO_UPDATE_VADDR, VFIO_DIRTY_LOG_MANUAL_CLEAR].map((n) => ext(n, PRE_V5_12)),
    ['unsupported', 'unsupported', 'VFIO_DIRTY_LOG_MANUAL_CLEAR'],
  );
  assert.equal(
    [1, 3, 2, 0].map((n) => ext(n, LINUX)),
    ['supported', 'supported', 'unsupported', 'unsupported'],
  );
});

function dirtyBytes(pages: number) {
  return Math.ceil(pages / 64) * 8;
}

// CHECK_EXTENSION

test('[VFIO-EXT-1] [VFIO-CLEAR-1] 11 is manual clear; 9 (v1) is VFIO_UNMAP_ALL; 10 is not offered', () => {
  assert.is(VFIO_DIRTY_LOG_MANUAL_CLEAR, 11);
  assert.equal(classifyExtension(VFIO_DIRTY_LOG_MANUAL_CLEAR), { type: 'CHECK_EXTENSION', extension: 'VFIO_DIRTY_LOG_MANUAL_CLEAR' });
  assert.equal(classifyExtension(VFIO_DIRTY_LOG_MANUAL_CLEAR_V1), { type: 'CHECK_EXTENSION', extension: 'supported' });
  assert.equal(classifyExtension(VFIO_TYPE1v2_IOMMU), { type: 'CHECK_EXTENSION', extension: 'supported' });
  assert.equal(classifyExtension(VFIO_UPDATE_VADDR), { type: 'CHECK_EXTENSION', extension: 'unsupported' });
  assert.equal(classifyExtension(4), { type: 'CHECK_EXTENSION', extension: 'unsupported' });
  assert.is(VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP_NOCLEAR, 1 << 3);
  assert.is(VFIO_IOMMU_DIRTY_PAGES_FLAG_CLEAR_BITMAP, 1 << 4);
  assert.is(VFIO_DMA_UNMAP_FLAG_VADDR, 1 << 2);
});

test('[VFIO-DIRTY-14] [VFIO-DETACH-1] the fallback scope: every page while a group that pins nothing is attached or a detach populated the mapping, else the pages dirtied through the container', () => {
  assert.is(fallbackScope(1, false), 'every-page');
  assert.is(fallbackScope(2, true), 'every-page');
  assert.is(fallbackScope(0, true), 'every-page');
  assert.is(fallbackScope(0, false), 'dirtied-through-the-container');
  for (const bad of [-1, 0.5, Number.NaN]) assert.throws(() => fallbackScope(bad, false), /nonPinnedGroups must be a count \(0 or more\)/);
});

test('[VFIO-MAP-1] [VFIO-UNMAP-3] with 9 offered and 10 not, a VADDR call may be answered as Linux v6.3+ with an emulated group: UNMAP -EBUSY, MAP VADDR alone looked up', () => {
  const c: Type1ContainerView = { mappings: [{ iova: 0x10_0000n, size: 0x4000n }], dmaAvail: 10, pgsizeBitmap: 0x1000n, iovaRanges: [{ start: 0n, end: (1n << 48n) - 1n }], vaddrLimit: 1n << 48n };
  const v512 = { unmapAll: true, updateVaddr: false, manualClear: false };
  assert.is(vaddrAnswerWithEmulatedGroup(c, { op: 'unmap', flags: 4 }, v512), -16);
  assert.is(vaddrAnswerWithEmulatedGroup(c, { op: 'unmap', flags: 4 | 2 }, v512), -16, 'ALL with VADDR too');
  assert.is(vaddrAnswerWithEmulatedGroup(c, { op: 'unmap', flags: 4 | 1 }, v512), undefined, 'GET_DIRTY_BITMAP with VADDR is -EINVAL either way');
  assert.is(vaddrAnswerWithEmulatedGroup(c, { op: 'unmap', flags: 4 | 8 }, v512), undefined, 'an unknown flag is -EINVAL either way');
  const map = (iova: bigint, size = 0x1000n, vaddr = 0x8000_0000n, flags = 4) => vaddrAnswerWithEmulatedGroup(c, { op: 'map', flags, iova, size, vaddr }, v512);
  assert.is(map(0x20_0000n), -2, 'no mapping meets the range: -ENOENT');
  assert.is(map(0x10_1000n), undefined, 'one does: -EINVAL either way');
  assert.is(map(0x20_0800n), undefined, 'unaligned: -EINVAL either way');
  assert.is(map(0x20_0000n, 0x1000n, 0x8000_0000n, 4 | 3), undefined, 'VADDR with READ or WRITE: -EINVAL either way');
  assert.is(vaddrAnswerWithEmulatedGroup(c, { op: 'unmap', flags: 4 }, { ...v512, unmapAll: false }), undefined, 'before v5.12 (9 not offered): the unknown flag only');
  assert.is(vaddrAnswerWithEmulatedGroup(c, { op: 'unmap', flags: 4 }, { ...v512, updateVaddr: true }), undefined, '10 offered: VFIO-MAP-10 and no UNMAP with VADDR');
});

// The addressable-limit series (6012379ede6a, v6.18): -EOVERFLOW for a range past 2^64 - 1, where v6.12 says -EINVAL.
const limitAnswer = (call: Parameters<typeof overflowAnswerWithAddressableLimit>[1]) => overflowAnswerWithAddressableLimit(C, call, STRICT_TYPE1_UAPI);

test('[VFIO-MAP-3] addressable limit: MAP_DMA past 2^64 is -EOVERFLOW even with a bad flag combination or alignment, but not with an unknown flag or size 0', () => {
  assert.is(limitAnswer({ op: 'map', ...mapArgs({ iova: U64_MAX_PAGE, size: 0x2000 }) }), -75);
  assert.is(limitAnswer({ op: 'map', ...mapArgs({ vaddr: U64_MAX_PAGE, size: 0x2000 }) }), -75, 'vaddr wraps');
  assert.is(limitAnswer({ op: 'map', ...mapArgs({ flags: 0, iova: U64_MAX_PAGE, size: 0x2000 }) }), -75, 'neither READ nor WRITE: checked after the overflow');
  assert.is(limitAnswer({ op: 'map', ...mapArgs({ iova: U64_MAX_PAGE + 0x800n, size: 0x2000 }) }), -75, 'unaligned: checked after the overflow');
  assert.is(limitAnswer({ op: 'map', ...mapArgs({ flags: RW | 0x100, iova: U64_MAX_PAGE, size: 0x2000 }) }), undefined, 'the ioctl flag mask comes first');
  assert.is(limitAnswer({ op: 'map', ...mapArgs({ iova: U64_MAX_PAGE, size: 0 }) }), undefined);
  assert.is(limitAnswer({ op: 'map', ...mapArgs({ iova: U64_MAX_PAGE, size: 0x1000 }) }), undefined, 'the last page of the address space does not wrap');
  const preV512 = { ...STRICT_TYPE1_UAPI, unmapAll: false };
  assert.is(overflowAnswerWithAddressableLimit(C, { op: 'map', ...mapArgs({ flags: VFIO_DMA_MAP_FLAG_VADDR, iova: U64_MAX_PAGE, size: 0x2000 }) }, preV512), undefined, 'VADDR outside the mask before v5.12');
});

test('[VFIO-UNMAP-7] addressable limit: UNMAP_DMA past 2^64 is -EOVERFLOW where v6.12 refused the range, not before', () => {
  assert.is(limitAnswer({ op: 'unmap', flags: 0, iova: U64_MAX_PAGE, size: 0x2000 }), -75);
  assert.is(limitAnswer({ op: 'unmap', flags: 0, iova: U64_MAX_PAGE + 0x800n, size: 0x2000 }), undefined, 'an unaligned iova is refused first');
  assert.is(limitAnswer({ op: 'unmap', flags: 0, iova: U64_MAX_PAGE, size: 0x2800 }), undefined, 'an unaligned size is refused first');
  assert.is(limitAnswer({ op: 'unmap', flags: VFIO_DMA_UNMAP_FLAG_ALL, iova: U64_MAX_PAGE, size: 0x2000 }), undefined);
});

test('[VFIO-DIRTY-6] addressable limit: a report past 2^64 - 1 is -EOVERFLOW; one ending exactly at 2^64 is checked as any other', () => {
  const dirty = (flags: number, size: number, bitmap = bm(), manualClearNegotiated = false) => limitAnswer({ op: 'dirty', flags, iova: U64_MAX_PAGE, size, bitmap, manualClearNegotiated });
  assert.is(dirty(GB, 0x2000), -75);
  assert.is(dirty(GB, 0x2000, bm(0)), -75, 'before the bitmap checks');
  assert.is(dirty(GB, 0x1000), undefined);
  assert.is(dirty(GB | VFIO_IOMMU_DIRTY_PAGES_FLAG_START, 0x2000), undefined, 'the flag checks come first');
  assert.is(dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP_NOCLEAR, 0x2000), undefined, 'manual clear not negotiated: its flags are refused first');
  assert.is(dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP_NOCLEAR, 0x2000, bm(), true), -75);
  const atEnd = { flags: GB, iova: U64_MAX_PAGE, size: 0x1000, bitmap: bm() };
  assert.equal(
    [classifyDirtyPagesArgs(C, atEnd), classifyDirtyPagesArgs(C, atEnd, 'addressable-limit')].map((f) => 'wraps' in f && f.wraps),
    [true, false],
  );
});

test.run();
