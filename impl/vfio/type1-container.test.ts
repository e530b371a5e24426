import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dirtyBitmapPages } from '../../spec/bitmap/dirty-bitmap.ts';
import { DIRTY_BITMAP_SIZE_MAX, fallbackDirtyBitmap, migrationCapability } from '../../spec/vfio/args.ts';
import { EEXIST, EFAULT, EINVAL, ENOSPC, EOVERFLOW } from '../errno.ts';
import { PTE_AP_RDONLY } from '../pgtable/pte.ts';
import {
  createType1Container,
  TYPE1_PGSIZE_BITMAP,
  VFIO_DIRTY_LOG_MANUAL_CLEAR,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
  VFIO_DMA_UNMAP_FLAG_VADDR,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_CLEAR_BITMAP,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP_NOCLEAR,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_START,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP,
  VFIO_IOMMU_INFO_CAPS,
  VFIO_IOMMU_INFO_PGSIZES,
  type Type1Testbed,
} from './type1-container.ts';

const PG = 0x1000;
const RW = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
const GET_DIRTY = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
const START = VFIO_IOMMU_DIRTY_PAGES_FLAG_START;
const STOP = VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP;
const GET = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
const NOCLEAR = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP_NOCLEAR;
const CLEAR = VFIO_IOMMU_DIRTY_PAGES_FLAG_CLEAR_BITMAP;
const U64_MAX_PAGE = 2 ** 64 - PG;

// Two mappings: A, four pages; B, one 2 MiB block (iova and vaddr 2 MiB-aligned).
const A = { iova: 0x10_0000, size: 0x4000, vaddr: 0x8000_0000 };
const B = { iova: 0x20_0000, size: 0x20_0000, vaddr: 0x9000_0000 };
const bytes = (size: number) => Math.ceil(size / PG / 64) * 8;
const bm = (size: number, o: Partial<{ pgsize: number; size: number; data: Uint8Array }> = {}) => ({ pgsize: PG, size: bytes(size), ...o });

interface Setup {
  tracking?: boolean;
  manualClear?: boolean;
  httu?: 0 | 1 | 2;
  pageGranular?: boolean;
  dmaEntryLimit?: number;
}
function setup(s: Setup = {}): Type1Testbed {
  const t = createType1Container({
    ...(s.httu !== undefined ? { httu: s.httu } : {}),
    ...(s.pageGranular !== undefined ? { pageGranular: s.pageGranular } : {}),
    ...(s.dmaEntryLimit !== undefined ? { dmaEntryLimit: s.dmaEntryLimit } : {}),
  });
  assert.is(t.container.mapDma(RW, A.vaddr, A.iova, A.size).errno, 0);
  if ((s.dmaEntryLimit ?? 2) > 1) assert.is(t.container.mapDma(RW, B.vaddr, B.iova, B.size).errno, 0);
  if (s.manualClear) assert.is(t.container.checkExtension(VFIO_DIRTY_LOG_MANUAL_CLEAR), 1);
  if (s.tracking) assert.is(t.container.dirtyPages(START).errno, 0);
  return t;
}

/** Everything a call could change: mappings, flags, free entries, leaves, IOTLB, queued commands. */
function snapshot(t: Type1Testbed): string {
  const c = t.container;
  return JSON.stringify({
    mappings: c.mappings,
    tracking: [c.dirtyPageTracking, c.hardwareDirtyTracking, c.dirtyLogManualClear, t.domain.dirtyTracking],
    avail: c.getInfo().capDmaAvail.avail,
    leaves: [...t.domain.pgtable.leaves()].map((l) => [l.iova, l.level, l.pte.toString(16)]),
    tlb: t.smmu.iotlb.entries().map((e) => [e.base, e.size, e.state]),
    pending: t.smmu.pendingCommands.length,
  });
}

/** The call returns -errno and changes nothing. */
function refused(t: Type1Testbed, errno: number, call: () => { errno: number }): void {
  const before = snapshot(t);
  const r = call();
  assert.is(r.errno, -errno);
  assert.is(snapshot(t), before, 'a refused call changed the container');
}

const report = (t: Type1Testbed, iova: number, size: number, flags = GET) => {
  const r = t.container.dirtyPages(flags, { iova, size, bitmap: bm(size) });
  assert.is(r.errno, 0);
  assert.is(r.bitmap!.length, bytes(size));
  return dirtyBitmapPages(r.bitmap!, iova);
};
const write = (t: Type1Testbed, ...iovas: number[]) => {
  for (const iova of iovas) assert.ok(t.smmu.dmaWrite(0, iova).ok, `DMA write to 0x${iova.toString(16)}`);
};
const bitsFor = (base: number, size: number, iovas: number[]) => {
  const out = new Uint8Array(bytes(size));
  for (const at of iovas) {
    const i = (at - base) / PG;
    out[i >> 3]! |= 1 << (i & 7);
  }
  return out;
};
const clear = (t: Type1Testbed, iova: number, size: number, iovas: number[]) => t.container.dirtyPages(CLEAR, { iova, size, bitmap: bm(size, { data: bitsFor(iova, size, iovas) }) });

// ---------------------------------------------------------------------------------------
// MAP_DMA

test('[VFIO-MAP-1] MAP_DMA with no permission, VADDR or an unknown flag is -EINVAL and changes nothing', () => {
  const t = setup();
  for (const flags of [0, 1 << 2, RW | (1 << 2), RW | (1 << 5)]) refused(t, EINVAL, () => t.container.mapDma(flags, 0x7000_0000, 0x80_0000, PG));
});
test('[VFIO-MAP-2] MAP_DMA with size 0 or an unaligned iova, size or vaddr is -EINVAL', () => {
  const t = setup();
  refused(t, EINVAL, () => t.container.mapDma(RW, 0x7000_0000, 0x80_0000, 0));
  refused(t, EINVAL, () => t.container.mapDma(RW, 0x7000_0000, 0x80_0800, PG));
  refused(t, EINVAL, () => t.container.mapDma(RW, 0x7000_0000, 0x80_0000, 0x1800));
  refused(t, EINVAL, () => t.container.mapDma(RW, 0x7000_0010, 0x80_0000, PG));
});
test('[VFIO-MAP-3] MAP_DMA whose iova or vaddr range wraps past 2^64 is -EINVAL', () => {
  const t = setup();
  refused(t, EINVAL, () => t.container.mapDma(RW, 0x7000_0000, U64_MAX_PAGE, 2 * PG));
  refused(t, EINVAL, () => t.container.mapDma(RW, U64_MAX_PAGE, 0x80_0000, 2 * PG));
  assert.throws(() => t.container.mapDma(RW, 0, -PG, PG), /2\^64/);
});
test('[VFIO-MAP-3] [VFIO-UNMAP-7] [VFIO-DIRTY-6] with the addressable-limit range checks a range past 2^64 is -EOVERFLOW, checked before the flag combination and the bitmap', () => {
  const t = createType1Container({ rangeChecks: 'addressable-limit' });
  assert.is(t.container.dirtyPages(START).errno, 0);
  refused(t, EOVERFLOW, () => t.container.mapDma(RW, 0x7000_0000, U64_MAX_PAGE, 2 * PG));
  refused(t, EOVERFLOW, () => t.container.mapDma(0, 0x7000_0000, U64_MAX_PAGE, 2 * PG));
  refused(t, EINVAL, () => t.container.mapDma(RW | (1 << 5), 0x7000_0000, U64_MAX_PAGE, 2 * PG));
  refused(t, EOVERFLOW, () => t.container.unmapDma(0, U64_MAX_PAGE, 2 * PG));
  refused(t, EOVERFLOW, () => t.container.dirtyPages(GET, { iova: U64_MAX_PAGE, size: 2 * PG, bitmap: bm(2 * PG, { size: 0 }) }));
});
test('[VFIO-DIRTY-6] with the addressable-limit range checks a report ending exactly at 2^64 is taken: 0 and an empty bitmap where nothing is mapped', () => {
  const t = createType1Container({ rangeChecks: 'addressable-limit' });
  assert.is(t.container.dirtyPages(START).errno, 0);
  const r = t.container.dirtyPages(GET, { iova: U64_MAX_PAGE, size: PG, bitmap: bm(PG) });
  assert.is(r.errno, 0);
  assert.equal([...r.bitmap!], new Array(8).fill(0));
  assert.is(createType1Container().container.dirtyPages(GET, { iova: U64_MAX_PAGE, size: PG, bitmap: bm(PG) }).errno, -EINVAL, 'v6.12: tracking off, and the range wraps anyway');
});
test('[VFIO-MAP-4] MAP_DMA overlapping a mapping is -EEXIST', () => {
  const t = setup();
  refused(t, EEXIST, () => t.container.mapDma(RW, 0x7000_0000, A.iova + A.size - PG, 2 * PG));
  refused(t, EEXIST, () => t.container.mapDma(RW, 0x7000_0000, 0, 0x100_0000));
});
test('[VFIO-MAP-5] MAP_DMA beyond dma_entry_limit is -ENOSPC; an unmap frees the entry', () => {
  const t = setup({ dmaEntryLimit: 1 });
  refused(t, ENOSPC, () => t.container.mapDma(RW, B.vaddr, B.iova, B.size));
  assert.is(t.container.unmapDma(0, A.iova, A.size).errno, 0);
  assert.is(t.container.mapDma(RW, B.vaddr, B.iova, B.size).errno, 0);
});
test('[VFIO-MAP-6] MAP_DMA past the 48-bit IOVA range is -EINVAL', () => {
  const t = setup();
  refused(t, EINVAL, () => t.container.mapDma(RW, 0x7000_0000, 2 ** 48 - PG, 2 * PG));
  refused(t, EINVAL, () => t.container.mapDma(RW, 0x7000_0000, 2 ** 50, PG));
});
test('[VFIO-MAP-7] MAP_DMA of addresses that cannot be pinned is -EFAULT', () => {
  const t = setup();
  refused(t, EFAULT, () => t.container.mapDma(RW, 2 ** 48 - PG, 0x80_0000, 2 * PG));
});
test('[VFIO-MAP-8] MAP_DMA of 8 TiB is -EINVAL while tracking and fine while not', () => {
  const t = setup({ tracking: true });
  refused(t, EINVAL, () => t.container.mapDma(RW, 2 ** 44, 2 ** 43, 2 ** 43));
  const u = setup();
  assert.is(u.container.mapDma(RW, 2 ** 44, 2 ** 43, 2 ** 43).errno, 0);
  assert.is(u.container.mappings.length, 3);
});
test('[VFIO-MAP-9] a valid MAP_DMA is one new mapping, translated to its pages with its permissions', () => {
  const t = setup();
  assert.equal(t.container.mappings, [
    { ...A, prot: RW },
    { ...B, prot: RW },
  ]);
  assert.is(t.container.mapDma(VFIO_DMA_MAP_FLAG_READ, 0x7000_0000, A.iova + A.size, PG).errno, 0); // adjacent: not merged
  assert.is(t.container.mappings.length, 3);
  assert.is(t.container.getInfo().capDmaAvail.avail, 0xffff - 3);
  const r = t.smmu.dmaRead(0, A.iova + PG + 8);
  assert.ok(r.ok && r.pa === A.vaddr + PG + 8);
  assert.equal(t.smmu.dmaWrite(0, A.iova + A.size), { ok: false, fault: 'permission' });
  assert.ok(t.smmu.dmaWrite(0, B.iova + 5 * PG).ok);
});
test('[VFIO-MAP-9] [NOLOSS-1] a mapping made while tracking has its writes reported', () => {
  const t = setup({ tracking: true });
  report(t, 0, 0x40_0000);
  assert.is(t.container.mapDma(RW, 0x7000_0000, 0x80_0000, 4 * PG).errno, 0);
  report(t, 0x80_0000, 4 * PG); // a new writable mapping starts dirty (MAP-2): drain it
  write(t, 0x80_2000);
  assert.equal(report(t, 0x80_0000, 4 * PG), [0x80_2000]);
});

// ---------------------------------------------------------------------------------------
// UNMAP_DMA

test('[VFIO-UNMAP-1] UNMAP_DMA with an unknown flag is -EINVAL', () => {
  const t = setup({ tracking: true });
  refused(t, EINVAL, () => t.container.unmapDma(1 << 3, A.iova, A.size));
  refused(t, EINVAL, () => t.container.unmapDma(GET_DIRTY | (1 << 7), A.iova, A.size, bm(A.size)));
});
test('[VFIO-UNMAP-2] GET_DIRTY_BITMAP with ALL or VADDR is -EINVAL', () => {
  const t = setup({ tracking: true });
  refused(t, EINVAL, () => t.container.unmapDma(GET_DIRTY | VFIO_DMA_UNMAP_FLAG_ALL, 0, 0, bm(PG)));
  refused(t, EINVAL, () => t.container.unmapDma(GET_DIRTY | VFIO_DMA_UNMAP_FLAG_VADDR, A.iova, A.size, bm(A.size)));
  refused(t, EINVAL, () => t.container.unmapDma(GET_DIRTY | VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_VADDR, 0, 0, bm(PG)));
});
test('[VFIO-UNMAP-3] UNMAP_DMA with VADDR is -EINVAL (no VFIO_UPDATE_VADDR)', () => {
  const t = setup();
  refused(t, EINVAL, () => t.container.unmapDma(VFIO_DMA_UNMAP_FLAG_VADDR, A.iova, A.size));
  refused(t, EINVAL, () => t.container.unmapDma(VFIO_DMA_UNMAP_FLAG_VADDR | VFIO_DMA_UNMAP_FLAG_ALL, 0, 0));
});
test('[VFIO-UNMAP-4] GET_DIRTY_BITMAP with a missing, empty, too small or too large bitmap is -EINVAL', () => {
  const t = setup({ tracking: true });
  refused(t, EINVAL, () => t.container.unmapDma(GET_DIRTY, B.iova, B.size));
  refused(t, EINVAL, () => t.container.unmapDma(GET_DIRTY, B.iova, B.size, bm(B.size, { size: 0 })));
  refused(t, EINVAL, () => t.container.unmapDma(GET_DIRTY, B.iova, B.size, bm(B.size, { size: 56 })));
  refused(t, EINVAL, () => t.container.unmapDma(GET_DIRTY, B.iova, B.size, bm(B.size, { size: DIRTY_BITMAP_SIZE_MAX + 8 })));
});
test('[VFIO-UNMAP-5] UNMAP_DMA with an unaligned iova is -EINVAL', () => {
  const t = setup();
  refused(t, EINVAL, () => t.container.unmapDma(0, A.iova + 0x800, A.size));
});
test('[VFIO-UNMAP-6] UNMAP_DMA with ALL and a non-zero iova or size is -EINVAL', () => {
  const t = setup();
  refused(t, EINVAL, () => t.container.unmapDma(VFIO_DMA_UNMAP_FLAG_ALL, A.iova, 0));
  refused(t, EINVAL, () => t.container.unmapDma(VFIO_DMA_UNMAP_FLAG_ALL, 0, A.size));
});
test('[VFIO-UNMAP-7] UNMAP_DMA with size 0, an unaligned size, or a wrapping range is -EINVAL', () => {
  const t = setup();
  refused(t, EINVAL, () => t.container.unmapDma(0, A.iova, 0));
  refused(t, EINVAL, () => t.container.unmapDma(0, A.iova, A.size + 0x800));
  refused(t, EINVAL, () => t.container.unmapDma(0, U64_MAX_PAGE, 2 * PG));
});
test('[VFIO-UNMAP-8] GET_DIRTY_BITMAP while tracking is off is -EINVAL', () => {
  const t = setup({ manualClear: true });
  refused(t, EINVAL, () => t.container.unmapDma(GET_DIRTY, A.iova, A.size, bm(A.size)));
});
test('[VFIO-UNMAP-9] GET_DIRTY_BITMAP with a page size other than 4 KiB is -EINVAL', () => {
  const t = setup({ tracking: true });
  refused(t, EINVAL, () => t.container.unmapDma(GET_DIRTY, B.iova, B.size, bm(B.size, { pgsize: 0x20_0000, size: 8 })));
});
test('[VFIO-UNMAP-10] UNMAP_DMA bisecting a mapping, at its start or at its end, is -EINVAL', () => {
  const t = setup({ tracking: true });
  refused(t, EINVAL, () => t.container.unmapDma(0, A.iova + PG, A.size - PG));
  refused(t, EINVAL, () => t.container.unmapDma(0, A.iova, A.size - PG));
  refused(t, EINVAL, () => t.container.unmapDma(GET_DIRTY, A.iova, B.iova + PG - A.iova, bm(B.iova + PG - A.iova)));
});
test('[VFIO-UNMAP-11] UNMAP_DMA removes the mappings inside the range, holes allowed; ALL removes everything', () => {
  const t = setup();
  assert.equal(t.container.unmapDma(0, 0x50_0000, PG), { errno: 0, unmapped: 0 });
  assert.equal(t.container.unmapDma(0, 0, 0x40_0000), { errno: 0, unmapped: A.size + B.size });
  assert.equal(t.container.mappings, []);
  assert.equal(t.smmu.dmaRead(0, A.iova), { ok: false, fault: 'translation' });
  assert.equal([...t.domain.pgtable.leaves()], []);
  assert.is(t.container.getInfo().capDmaAvail.avail, 0xffff);
  const u = setup();
  assert.equal(u.container.unmapDma(VFIO_DMA_UNMAP_FLAG_ALL, 0, 0), { errno: 0, unmapped: A.size + B.size });
  assert.equal(u.container.mappings, []);
});
test('[VFIO-UNMAP-12] [NOLOSS-3] UNMAP_DMA with GET_DIRTY_BITMAP while tracking reports the written pages it removes', () => {
  const t = setup({ tracking: true, pageGranular: true });
  report(t, 0, 0x40_0000); // drain
  write(t, A.iova + PG, B.iova + 7 * PG);
  const r = t.container.unmapDma(GET_DIRTY, A.iova, B.iova + B.size - A.iova, bm(B.iova + B.size - A.iova));
  assert.is(r.errno, 0);
  assert.is(r.unmapped, A.size + B.size);
  assert.equal(dirtyBitmapPages(r.bitmap!, A.iova), [A.iova + PG, B.iova + 7 * PG]);
  assert.equal(t.container.mappings, []);
});
test('[VFIO-UNMAP-12] [VFIO-DIRTY-14] without hardware tracking, UNMAP_DMA reports every page it removes', () => {
  const t = setup({ tracking: true, httu: 1 });
  assert.not.ok(t.container.hardwareDirtyTracking);
  const r = t.container.unmapDma(GET_DIRTY, A.iova, A.size, bm(A.size));
  assert.equal(dirtyBitmapPages(r.bitmap!, A.iova), [A.iova, A.iova + PG, A.iova + 2 * PG, A.iova + 3 * PG]);
});

// ---------------------------------------------------------------------------------------
// VFIO_IOMMU_DIRTY_PAGES

test('[VFIO-DIRTY-1] DIRTY_PAGES with an unknown flag is -EINVAL', () => {
  const t = setup({ tracking: true, manualClear: true });
  refused(t, EINVAL, () => t.container.dirtyPages(1 << 5));
  refused(t, EINVAL, () => t.container.dirtyPages(GET | (1 << 9), { iova: A.iova, size: A.size, bitmap: bm(A.size) }));
});
test('[VFIO-DIRTY-2] DIRTY_PAGES with no flag or two flags is -EINVAL', () => {
  const t = setup({ manualClear: true });
  refused(t, EINVAL, () => t.container.dirtyPages(0));
  refused(t, EINVAL, () => t.container.dirtyPages(START | STOP));
  refused(t, EINVAL, () => t.container.dirtyPages(START | GET, { iova: A.iova, size: A.size, bitmap: bm(A.size) }));
  refused(t, EINVAL, () => t.container.dirtyPages(NOCLEAR | CLEAR, { iova: A.iova, size: A.size, bitmap: bm(A.size) }));
});
test('[VFIO-DIRTY-3] START turns hardware tracking on in the domain; a second START does nothing', () => {
  const t = setup();
  assert.is(t.container.dirtyPages(START).errno, 0);
  assert.ok(t.container.dirtyPageTracking && t.container.hardwareDirtyTracking && t.domain.dirtyTracking);
  const before = snapshot(t);
  assert.is(t.container.dirtyPages(START).errno, 0);
  assert.is(snapshot(t), before);
});
test('[VFIO-DIRTY-4] START with a mapping of 8 TiB is -EINVAL and tracking stays off', () => {
  const t = setup();
  assert.is(t.container.mapDma(RW, 2 ** 44, 2 ** 43, 2 ** 43).errno, 0);
  refused(t, EINVAL, () => t.container.dirtyPages(START));
  assert.not.ok(t.container.dirtyPageTracking);
});
test('[VFIO-DIRTY-5] STOP turns tracking off and drops what was not reported; a second STOP does nothing', () => {
  const t = setup({ tracking: true });
  write(t, A.iova);
  assert.is(t.container.dirtyPages(STOP).errno, 0);
  assert.not.ok(t.container.dirtyPageTracking || t.container.hardwareDirtyTracking || t.domain.dirtyTracking);
  const before = snapshot(t);
  assert.is(t.container.dirtyPages(STOP).errno, 0);
  assert.is(snapshot(t), before);
  assert.is(t.container.dirtyPages(START).errno, 0);
  assert.equal(report(t, A.iova, A.size), []);
});

const BITMAP_OPS: [string, number][] = [
  ['GET_BITMAP', GET],
  ['GET_BITMAP_NOCLEAR', NOCLEAR],
  ['CLEAR_BITMAP', CLEAR],
];
for (const [name, op] of BITMAP_OPS) {
  test(`[VFIO-DIRTY-6] [VFIO-DIRTY-7] [VFIO-DIRTY-8] [VFIO-DIRTY-9] [VFIO-DIRTY-10] ${name}: wrap, size 0, bitmap size, page size, alignment are -EINVAL`, () => {
    const t = setup({ tracking: true, manualClear: true });
    const call = (iova: number, size: number, bitmap: { pgsize: number; size: number }) => () => t.container.dirtyPages(op, { iova, size, bitmap });
    refused(t, EINVAL, call(U64_MAX_PAGE, 2 * PG, bm(2 * PG))); // VFIO-DIRTY-6
    refused(t, EINVAL, call(A.iova, 0, bm(PG))); // VFIO-DIRTY-7
    refused(t, EINVAL, call(B.iova, B.size, bm(B.size, { size: 56 }))); // VFIO-DIRTY-8
    refused(t, EINVAL, call(A.iova, A.size, bm(A.size, { size: 0 })));
    refused(t, EINVAL, call(A.iova, A.size, bm(A.size, { size: DIRTY_BITMAP_SIZE_MAX + 1 })));
    refused(t, EINVAL, call(B.iova, B.size, bm(B.size, { pgsize: 2 * PG }))); // VFIO-DIRTY-9
    refused(t, EINVAL, call(A.iova + 0x800, A.size, bm(A.size))); // VFIO-DIRTY-10
    refused(t, EINVAL, call(A.iova, A.size + 0x800, bm(A.size + PG)));
  });
}
test('[VFIO-DIRTY-11] GET_BITMAP and GET_BITMAP_NOCLEAR while tracking is off are -EINVAL', () => {
  const t = setup({ manualClear: true });
  write(t, A.iova);
  refused(t, EINVAL, () => t.container.dirtyPages(GET, { iova: A.iova, size: A.size, bitmap: bm(A.size) }));
  refused(t, EINVAL, () => t.container.dirtyPages(NOCLEAR, { iova: A.iova, size: A.size, bitmap: bm(A.size) }));
});
test('[VFIO-DIRTY-12] GET_BITMAP and GET_BITMAP_NOCLEAR bisecting a mapping are -EINVAL', () => {
  const t = setup({ tracking: true, manualClear: true });
  write(t, A.iova + PG);
  refused(t, EINVAL, () => t.container.dirtyPages(GET, { iova: A.iova + PG, size: PG, bitmap: bm(PG) }));
  refused(t, EINVAL, () => t.container.dirtyPages(NOCLEAR, { iova: B.iova, size: PG, bitmap: bm(PG) }));
});
test('[VFIO-DIRTY-13] [NOLOSS-1] legacy GET_BITMAP reports the written pages and clears them; a later write is reported again', () => {
  const t = setup({ tracking: true, pageGranular: true });
  assert.equal(report(t, 0, 0x40_0000), []); // START cleared the stale state
  write(t, A.iova + 2 * PG, B.iova, B.iova + 0x1f_f000);
  assert.equal(report(t, 0, 0x40_0000), [A.iova + 2 * PG, B.iova, B.iova + 0x1f_f000]);
  assert.equal(report(t, 0, 0x40_0000), []);
  write(t, A.iova + 2 * PG); // the IOTLB held it dirty: the clear must have invalidated it
  assert.equal(report(t, A.iova, A.size), [A.iova + 2 * PG]);
});
test('[VFIO-DIRTY-13] [VFIO-CLEAR-1] GET_BITMAP still clears after manual clear was negotiated', () => {
  const t = setup({ tracking: true, manualClear: true, pageGranular: true });
  report(t, 0, 0x40_0000);
  write(t, A.iova);
  assert.equal(report(t, A.iova, A.size), [A.iova]);
  assert.equal(report(t, A.iova, A.size), []);
});
test('[VFIO-DIRTY-14] without hardware dirty tracking every mapped page is reported, every time', () => {
  for (const httu of [0, 1] as const) {
    const t = setup({ tracking: true, httu });
    assert.ok(t.container.dirtyPageTracking);
    assert.not.ok(t.container.hardwareDirtyTracking);
    const expect = dirtyBitmapPages(fallbackDirtyBitmap(t.container.mappings, 0, 0x40_0000, PG), 0);
    assert.is(expect.length, 4 + 512);
    assert.equal(report(t, 0, 0x40_0000), expect);
    assert.equal(report(t, 0, 0x40_0000), expect);
    assert.is(t.container.checkExtension(VFIO_DIRTY_LOG_MANUAL_CLEAR), 1);
    assert.is(clear(t, A.iova, A.size, [A.iova]).errno, 0);
    assert.equal(report(t, A.iova, A.size, NOCLEAR), expect.slice(0, 4));
  }
});

test("[VFIO-DETACH-1] without hardware tracking, detaching the device's group while tracking makes every mapping dirty once; then the scope is the CPU side's", () => {
  const t = setup({ tracking: true, httu: 0 });
  write(t, A.iova + PG);
  assert.is(t.container.detachDevice(), 0);
  const every = dirtyBitmapPages(fallbackDirtyBitmap(t.container.mappings, 0, 0x40_0000, PG), 0);
  assert.equal(report(t, 0, 0x40_0000), every, 'every page of every mapping, once');
  assert.equal(report(t, 0, 0x40_0000), [], 'then none: the device is gone and nothing else dirtied them');
  assert.is(t.container.dmaRw(A.iova + 2 * PG, 8, true).errno, 0);
  assert.equal(report(t, 0, 0x40_0000), [A.iova + 2 * PG], 'a vfio_dma_rw write is still recorded');
  assert.is(t.container.detachDevice(), -EINVAL, 'the group is not attached');
});

test('[VFIO-DETACH-1] a detach while tracking is off marks nothing; under manual clear, CLEAR_BITMAP clears the selected pages of a detach and NOCLEAR keeps the rest', () => {
  const off = setup({ httu: 0 });
  assert.is(off.container.detachDevice(), 0);
  assert.is(off.container.dirtyPages(START).errno, 0);
  assert.equal(report(off, 0, 0x40_0000), []);
  const t = setup({ tracking: true, httu: 0, manualClear: true });
  assert.is(t.container.detachDevice(), 0);
  assert.is(clear(t, A.iova, A.size, [A.iova, A.iova + 3 * PG]).errno, 0);
  assert.equal(report(t, A.iova, A.size, NOCLEAR), [A.iova + PG, A.iova + 2 * PG]);
  assert.equal(report(t, A.iova, A.size, NOCLEAR), [A.iova + PG, A.iova + 2 * PG]);
  assert.equal(report(t, A.iova, A.size), [A.iova + PG, A.iova + 2 * PG]);
  assert.equal(report(t, A.iova, A.size), []);
});

test("[VFIO-DIRTY-14] the device's group attached again widens the scope to every mapped page again; UNMAP_DMA's bitmap follows the scope", () => {
  const t = setup({ tracking: true, httu: 0 });
  assert.is(t.container.detachDevice(), 0);
  assert.equal(report(t, 0, 0x40_0000).length, 4 + 512);
  assert.is(t.container.attachDevice(), 0);
  assert.is(t.container.attachDevice(), -EINVAL, 'attached already');
  assert.equal(report(t, A.iova, A.size), [A.iova, A.iova + PG, A.iova + 2 * PG, A.iova + 3 * PG]);
  assert.is(t.container.detachDevice(), 0);
  assert.equal(report(t, A.iova, A.size).length, 4, "the second detach's pages");
  const r = t.container.unmapDma(GET_DIRTY, A.iova, A.size, bm(A.size));
  assert.is(r.errno, 0);
  assert.equal(dirtyBitmapPages(r.bitmap!, A.iova), [], 'nothing dirty left in the mapping');
});

// ---------------------------------------------------------------------------------------
// Manual clear

test("[VFIO-CLEAR-1] [VFIO-EXT-1] CHECK_EXTENSION: 11 negotiates manual clear; 9 (v1's number) is VFIO_UNMAP_ALL; 10 is not offered", () => {
  const t = setup();
  assert.is(t.container.checkExtension(9), 1);
  assert.is(t.container.checkExtension(1), 1);
  assert.is(t.container.checkExtension(3), 1);
  assert.not.ok(t.container.dirtyLogManualClear);
  assert.is(t.container.checkExtension(10), 0);
  assert.is(t.container.checkExtension(4), 0);
  assert.is(t.container.checkExtension(11), 1);
  assert.ok(t.container.dirtyLogManualClear);
  assert.is(t.container.checkExtension(11), 1);
});
test('[VFIO-CLEAR-2] GET_BITMAP_NOCLEAR and CLEAR_BITMAP before negotiation are -EINVAL', () => {
  const t = setup({ tracking: true });
  write(t, A.iova);
  refused(t, EINVAL, () => t.container.dirtyPages(NOCLEAR, { iova: A.iova, size: A.size, bitmap: bm(A.size) }));
  refused(t, EINVAL, () => clear(t, A.iova, A.size, [A.iova]));
  refused(t, EINVAL, () => t.container.dirtyPages(GET | CLEAR, { iova: A.iova, size: A.size, bitmap: bm(A.size) }));
});
test('[VFIO-CLEAR-3] CLEAR_BITMAP while tracking is off is -EINVAL', () => {
  const t = setup({ manualClear: true });
  write(t, A.iova);
  refused(t, EINVAL, () => clear(t, A.iova, A.size, [A.iova]));
});
test('[VFIO-CLEAR-4] GET_BITMAP_NOCLEAR reports without clearing', () => {
  const t = setup({ tracking: true, manualClear: true, pageGranular: true });
  report(t, 0, 0x40_0000);
  write(t, A.iova, A.iova + 3 * PG);
  assert.equal(report(t, A.iova, A.size, NOCLEAR), [A.iova, A.iova + 3 * PG]);
  write(t, A.iova + PG);
  assert.equal(report(t, A.iova, A.size, NOCLEAR), [A.iova, A.iova + PG, A.iova + 3 * PG]);
});
test('[VFIO-CLEAR-5] [NOLOSS-2] CLEAR_BITMAP clears exactly the set bits, invalidates the TLB, and a write after it is reported', () => {
  const t = setup({ tracking: true, manualClear: true, pageGranular: true });
  report(t, 0, 0x40_0000);
  write(t, A.iova, A.iova + PG, A.iova + 2 * PG, B.iova + 9 * PG);
  assert.equal(report(t, 0, 0x40_0000, NOCLEAR), [A.iova, A.iova + PG, A.iova + 2 * PG, B.iova + 9 * PG]);
  assert.is(t.smmu.iotlb.lookup(1, A.iova)?.state, 'writableDirty');
  // A sub-range of B and all of A, in one call whose range starts inside A: no bisection check.
  assert.is(clear(t, A.iova + PG, B.iova + 0x10_0000 - (A.iova + PG), [A.iova + PG, B.iova + 9 * PG]).errno, 0);
  assert.is(clear(t, A.iova, A.size, [A.iova]).errno, 0);
  assert.equal(report(t, 0, 0x40_0000, NOCLEAR), [A.iova + 2 * PG]);
  // The cleared pages are writable-clean in memory and no longer cached: the next write walks and is recorded.
  assert.is(t.smmu.iotlb.lookup(1, A.iova), undefined);
  assert.equal(t.smmu.pendingCommands, []);
  write(t, A.iova, B.iova + 9 * PG);
  assert.equal(report(t, 0, 0x40_0000, NOCLEAR), [A.iova, A.iova + 2 * PG, B.iova + 9 * PG]);
});
test('[VFIO-CLEAR-5] [IOTLB-7] the TLB invalidation matters: a clear without it loses the next write', () => {
  const t = setup({ tracking: true, manualClear: true, pageGranular: true });
  report(t, 0, 0x40_0000);
  write(t, A.iova);
  // A broken clear: AP[2] set in memory, no TLBI. The IOTLB still holds the page writable-dirty.
  const leaf = [...t.domain.pgtable.leaves(A.iova, PG)][0]!;
  t.memory.fetchOr(leaf.ptep, PTE_AP_RDONLY);
  write(t, A.iova);
  assert.equal(report(t, A.iova, A.size, NOCLEAR), [], 'the write went through the stale entry and was lost');
  // The container's clear invalidates: the same sequence keeps the write.
  const u = setup({ tracking: true, manualClear: true, pageGranular: true });
  report(u, 0, 0x40_0000);
  write(u, A.iova);
  assert.is(clear(u, A.iova, A.size, [A.iova]).errno, 0);
  write(u, A.iova);
  assert.equal(report(u, A.iova, A.size, NOCLEAR), [A.iova]);
});
test('[VFIO-CLEAR-6] [PRECISION-1] a dirty block only partly selected stays dirty; selecting all of it clears it', () => {
  const t = setup({ tracking: true, manualClear: true });
  report(t, 0, 0x40_0000);
  write(t, B.iova + 3 * PG);
  const all = report(t, B.iova, B.size, NOCLEAR);
  assert.is(all.length, 512);
  assert.is(clear(t, B.iova, B.size, [B.iova + 3 * PG]).errno, 0);
  assert.equal(report(t, B.iova, B.size, NOCLEAR), all);
  assert.is(clear(t, B.iova, B.size, all).errno, 0);
  assert.equal(report(t, B.iova, B.size, NOCLEAR), []);
  // bits past a short data array read as zero
  write(t, B.iova);
  assert.is(t.container.dirtyPages(CLEAR, { iova: B.iova, size: B.size, bitmap: bm(B.size, { data: new Uint8Array(8).fill(0xff) }) }).errno, 0);
  assert.is(report(t, B.iova, B.size, NOCLEAR).length, 512);
});

// ---------------------------------------------------------------------------------------
// GET_INFO

test('[VFIO-INFO-1] GET_INFO: page sizes and the migration capability', () => {
  const t = setup();
  const info = t.container.getInfo();
  assert.is(info.errno, 0);
  assert.is(info.flags, VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
  assert.is(info.iovaPgsizes, TYPE1_PGSIZE_BITMAP);
  const spec = migrationCapability(TYPE1_PGSIZE_BITMAP);
  assert.equal(info.capMigration, { ...spec, pgsizeBitmap: Number(spec.pgsizeBitmap) });
  assert.equal(info.capIovaRange.ranges, [{ start: 0, end: 2 ** 48 - 1 }]);
  assert.is(info.capDmaAvail.avail, 0xffff - 2);
  assert.throws(() => t.container.dirtyPages(GET), /needs a range/);
});

// ---- on the RFC's IOMMU (lifecycle 'rfc-v4'): UNMAP_DMA syncs, stops the log for the mapping, then unmaps ----

/** A and B mapped on an 'rfc-v4' domain, tracking started, each reported once (the first report after START holds every page mapped writable-dirty). */
function rfcSetup(): Type1Testbed {
  const t = createType1Container({ lifecycle: 'rfc-v4' });
  assert.is(t.container.mapDma(RW, A.vaddr, A.iova, A.size).errno, 0);
  assert.is(t.container.mapDma(RW, B.vaddr, B.iova, B.size).errno, 0);
  assert.is(t.container.dirtyPages(START).errno, 0);
  assert.ok(t.container.hardwareDirtyTracking);
  report(t, A.iova, A.size);
  report(t, B.iova, B.size);
  return t;
}

test('[UNMAP-R1] rfc-v4: UNMAP_DMA with GET_DIRTY_BITMAP returns the page the device wrote (synced before the unmap, which reports none on this domain)', () => {
  const t = rfcSetup();
  write(t, A.iova + PG);
  const r = t.container.unmapDma(GET_DIRTY, A.iova, A.size, bm(A.size));
  assert.is(r.errno, 0);
  assert.equal(dirtyBitmapPages(r.bitmap!, A.iova), [A.iova + PG]);
});

test("[UNMAP-R1] rfc-v4: UNMAP_DMA's stop of the log is confined to the removed mapping: the domain keeps tracking, and the next GET_BITMAP of another mapping reports its write", () => {
  const t = rfcSetup();
  assert.is(t.container.unmapDma(GET_DIRTY, A.iova, A.size, bm(A.size)).errno, 0);
  assert.ok(t.domain.dirtyTracking);
  write(t, B.iova + 3 * PG);
  assert.equal(report(t, B.iova, B.size), [B.iova + 3 * PG]);
});

// ---- on Linux v6.18's IOMMU (lifecycle 'linux-v6.18'): the container as the VMM over iommufd ----

/** A and B (a 2 MiB block) mapped on a 'linux-v6.18' domain, tracking started (START clears what was mapped dirty). */
function upstreamSetup(): Type1Testbed {
  const t = createType1Container({ lifecycle: 'linux-v6.18' });
  assert.is(t.container.mapDma(RW, A.vaddr, A.iova, A.size).errno, 0);
  assert.is(t.container.mapDma(RW, B.vaddr, B.iova, B.size).errno, 0);
  assert.is(t.container.checkExtension(VFIO_DIRTY_LOG_MANUAL_CLEAR), 1);
  assert.is(t.container.dirtyPages(START).errno, 0);
  assert.ok(t.container.hardwareDirtyTracking);
  return t;
}

test('[UNMAP-U3] linux-v6.18: UNMAP_DMA with GET_DIRTY_BITMAP returns the page the device wrote (read and cleared before the unmap, which reports none on this domain)', () => {
  const t = upstreamSetup();
  write(t, A.iova + 2 * PG);
  const r = t.container.unmapDma(GET_DIRTY, A.iova, A.size, bm(A.size));
  assert.is(r.errno, 0);
  assert.equal(dirtyBitmapPages(r.bitmap!, A.iova), [A.iova + 2 * PG]);
});

test('[CLEAR-U2, VFIO-CLEAR-6] linux-v6.18: CLEAR_BITMAP selecting part of a block leaves it dirty (the read-and-clear would clear the block whole, so the container clears only leaves wholly inside a run)', () => {
  const t = upstreamSetup();
  write(t, B.iova + 5 * PG);
  assert.is(clear(t, B.iova, B.size, [B.iova + 5 * PG]).errno, 0);
  assert.equal(report(t, B.iova, B.size).length, B.size / PG, 'the block is still dirty: all its pages are reported');
});

test.run();
