// The negative suite of profile vfio-type1: one test per refusal of the container
// machine (spec/vfio/type1-machine.ts), through the reference ADAPTER as the kit drives
// any implementation. Each asserts the kernel's errno and that nothing observable
// changed: the free mapping entries (GET_INFO), the dirty state and tracking
// (GET_BITMAP_NOCLEAR over both mappings, its errno included), and whether the refused
// range translates (a device write there must still fault).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceVfioType1Adapter } from '../adapters/reference.ts';
import type { VfioBitmapArg, VfioType1Instance } from '../adapters/types.ts';

const EINVAL = -22;
const EEXIST = -17;
const ENOSPC = -28;
const EFAULT = -14;
const PG = 0x1000n;
const RW = 3;
const START = 1;
const STOP = 2;
const GET = 1 << 2;
const NOCLEAR = 1 << 3;
const CLEAR = 1 << 4;
const GET_DIRTY = 1;
const ALL = 2;
const VADDR = 4;
const U64 = 1n << 64n;
// A: 4 pages; B: 8 pages; FREE: never mapped.
const A = { iova: 0x10_0000n, size: 4n * PG, vaddr: 0x8000_0000n };
const B = { iova: 0x20_0000n, size: 8n * PG, vaddr: 0x9000_0000n };
const FREE = 0x40_0000n;
const WIN = { iova: 0x10_0000n, size: 0x20_0000n };
const bm = (size: bigint, o: Partial<VfioBitmapArg> = {}): VfioBitmapArg => ({ pgsize: PG, size: ((size / PG + 63n) / 64n) * 8n, ...o });

interface Setup {
  tracking?: boolean;
  negotiated?: boolean;
  dmaEntryLimit?: number;
}

async function setup(s: Setup = {}): Promise<{ c: VfioType1Instance; probe: () => Promise<string> }> {
  const { tracking = true, negotiated = true } = s;
  const c = await referenceVfioType1Adapter().create({ hwDirty: true, ...(s.dmaEntryLimit === undefined ? {} : { dmaEntryLimit: s.dmaEntryLimit }) });
  assert.is((await c.mapDma(RW, A.vaddr, A.iova, A.size)).errno, 0);
  assert.is((await c.mapDma(RW, B.vaddr, B.iova, B.size)).errno, 0);
  if (negotiated) assert.is(await c.checkExtension(11), 1);
  if (tracking) {
    assert.is((await c.dirtyPages(START)).errno, 0);
    // Clear what the new mappings started with, then dirty one page of each.
    assert.is((await c.dirtyPages(GET, { ...WIN, bitmap: bm(WIN.size) })).errno, 0);
    assert.ok((await c.deviceDmaWrite(A.iova + PG)).ok);
    assert.ok((await c.deviceDmaWrite(B.iova + 3n * PG)).ok);
  }
  const probe = async () => {
    const info = await c.getInfo();
    const nocl = negotiated ? await c.dirtyPages(NOCLEAR, { ...WIN, bitmap: bm(WIN.size) }) : undefined;
    const free = await c.deviceDmaWrite(FREE);
    return JSON.stringify({ avail: info.dmaAvail, nocl: nocl === undefined ? null : { errno: nocl.errno, bits: nocl.bitmap === undefined ? null : [...nocl.bitmap] }, free: free.ok });
  };
  return { c, probe };
}

/** A refused call: its errno, and nothing observable changed. */
async function refused(s: Setup, want: number, call: (c: VfioType1Instance) => Promise<{ errno: number } | number>): Promise<void> {
  const { c, probe } = await setup(s);
  const before = await probe();
  const r = await call(c);
  assert.is(typeof r === 'number' ? r : r.errno, want);
  assert.is(await probe(), before, 'a refused call changes nothing');
}

// ---- MAP_DMA ----------------------------------------------------------------------------
test('[VFIO-MAP-1] MAP_DMA with no READ/WRITE flag, or an unknown one (VADDR), is -EINVAL', async () => {
  await refused({}, EINVAL, (c) => c.mapDma(0, 0xa000_0000n, FREE, PG));
  await refused({}, EINVAL, (c) => c.mapDma(RW | 4, 0xa000_0000n, FREE, PG));
});
test('[VFIO-MAP-2] MAP_DMA with a size not a multiple of 4 KiB is -EINVAL', async () => {
  await refused({}, EINVAL, (c) => c.mapDma(RW, 0xa000_0000n, FREE, 0x800n));
});
test('[VFIO-MAP-3] MAP_DMA whose iova + size wraps past 2^64 is -EINVAL', async () => {
  await refused({}, EINVAL, (c) => c.mapDma(RW, 0xa000_0000n, U64 - PG, 2n * PG));
});
test('[VFIO-MAP-4] MAP_DMA overlapping a mapping is -EEXIST', async () => {
  await refused({}, EEXIST, (c) => c.mapDma(RW, 0xa000_0000n, A.iova + 3n * PG, 2n * PG));
});
test('[VFIO-MAP-5] MAP_DMA with dma_entry_limit mappings made is -ENOSPC', async () => {
  await refused({ dmaEntryLimit: 2 }, ENOSPC, (c) => c.mapDma(RW, 0xa000_0000n, FREE, PG));
});
test('[VFIO-MAP-6] MAP_DMA outside the valid IOVA ranges is -EINVAL', async () => {
  await refused({}, EINVAL, async (c) => {
    const info = await c.getInfo();
    return c.mapDma(RW, 0xa000_0000n, info.iovaRanges[info.iovaRanges.length - 1]!.end + 1n, PG);
  });
});
test('[VFIO-MAP-7] MAP_DMA of process addresses that cannot be pinned is -EFAULT', async () => {
  await refused({}, EFAULT, (c) => c.mapDma(RW, c.vaddrLimit - PG, FREE, 2n * PG));
});
test('[VFIO-MAP-8] MAP_DMA while tracking of more than INT_MAX pages is -EINVAL', async () => {
  await refused({}, EINVAL, (c) => c.mapDma(RW, 0x40_0000_0000n, FREE, (1n << 31n) * PG));
});

// ---- UNMAP_DMA --------------------------------------------------------------------------
test('[VFIO-UNMAP-1] UNMAP_DMA with an unknown flag is -EINVAL', async () => {
  await refused({}, EINVAL, (c) => c.unmapDma(1 << 3, A.iova, A.size));
});
test('[VFIO-UNMAP-2] UNMAP_DMA with GET_DIRTY_BITMAP and ALL is -EINVAL', async () => {
  await refused({}, EINVAL, (c) => c.unmapDma(GET_DIRTY | ALL, 0n, 0n, bm(0n)));
});
test('[VFIO-UNMAP-3] UNMAP_DMA with VADDR is -EINVAL', async () => {
  await refused({}, EINVAL, (c) => c.unmapDma(VADDR, A.iova, A.size));
});
test('[VFIO-UNMAP-4] UNMAP_DMA with GET_DIRTY_BITMAP and a bitmap of 0 bytes is -EINVAL', async () => {
  await refused({}, EINVAL, (c) => c.unmapDma(GET_DIRTY, A.iova, A.size, bm(A.size, { size: 0n })));
});
test('[VFIO-UNMAP-5] UNMAP_DMA at an iova not a multiple of 4 KiB is -EINVAL', async () => {
  await refused({}, EINVAL, (c) => c.unmapDma(0, A.iova + 0x800n, A.size));
});
test('[VFIO-UNMAP-6] UNMAP_DMA with ALL and a range is -EINVAL', async () => {
  await refused({}, EINVAL, (c) => c.unmapDma(ALL, A.iova, A.size));
});
test('[VFIO-UNMAP-7] UNMAP_DMA of size 0 is -EINVAL', async () => {
  await refused({}, EINVAL, (c) => c.unmapDma(0, A.iova, 0n));
});
test('[VFIO-UNMAP-8] UNMAP_DMA with GET_DIRTY_BITMAP while tracking is off is -EINVAL', async () => {
  await refused({ tracking: false }, EINVAL, (c) => c.unmapDma(GET_DIRTY, A.iova, A.size, bm(A.size)));
});
test('[VFIO-UNMAP-9] UNMAP_DMA with GET_DIRTY_BITMAP at a bitmap pgsize other than 4 KiB is -EINVAL', async () => {
  await refused({}, EINVAL, (c) => c.unmapDma(GET_DIRTY, A.iova, A.size, bm(A.size, { pgsize: 2n * PG })));
});
test('[VFIO-UNMAP-10] UNMAP_DMA bisecting a mapping is -EINVAL', async () => {
  await refused({}, EINVAL, (c) => c.unmapDma(0, A.iova, PG));
  await refused({}, EINVAL, (c) => c.unmapDma(GET_DIRTY, B.iova + PG, B.size - PG, bm(B.size - PG)));
});

// ---- DIRTY_PAGES ------------------------------------------------------------------------
test('[VFIO-DIRTY-1] DIRTY_PAGES with an unknown flag is -EINVAL', async () => {
  await refused({}, EINVAL, (c) => c.dirtyPages(1 << 5));
});
test('[VFIO-DIRTY-2] DIRTY_PAGES with no flag or two flags is -EINVAL', async () => {
  await refused({}, EINVAL, (c) => c.dirtyPages(0));
  await refused({}, EINVAL, (c) => c.dirtyPages(START | STOP));
  await refused({ tracking: false }, EINVAL, (c) => c.dirtyPages(START | GET, { ...WIN, bitmap: bm(WIN.size) }));
});
test('[VFIO-DIRTY-4] START while a mapping has more than INT_MAX pages is -EINVAL and tracking stays off', async () => {
  await refused({ tracking: false }, EINVAL, async (c) => {
    // 8 TiB + 4 KiB would need 2^31 pages; 2^31 pages of 1 GiB-aligned addresses map as 1 GiB blocks.
    assert.is((await c.mapDma(RW, 0x40_0000_0000n, 0x80_0000_0000n, (1n << 31n) * PG)).errno, 0);
    const r = await c.dirtyPages(START);
    assert.is((await c.unmapDma(0, 0x80_0000_0000n, (1n << 31n) * PG)).errno, 0);
    return r;
  });
});
test('[VFIO-DIRTY-6] GET_BITMAP whose range wraps past 2^64 is -EINVAL', async () => {
  await refused({}, EINVAL, (c) => c.dirtyPages(GET, { iova: U64 - PG, size: 2n * PG, bitmap: bm(2n * PG) }));
});
test('[VFIO-DIRTY-6] GET_BITMAP and CLEAR_BITMAP whose range ends exactly at 2^64 are -EINVAL (the sum is 0 in u64)', async () => {
  await refused({}, EINVAL, (c) => c.dirtyPages(GET, { iova: U64 - 2n * PG, size: 2n * PG, bitmap: bm(2n * PG) }));
  await refused({}, EINVAL, (c) => c.dirtyPages(CLEAR, { iova: U64 - PG, size: PG, bitmap: { ...bm(PG), data: new Uint8Array(8).fill(0xff) } }));
});
test('[VFIO-DIRTY-7] GET_BITMAP of size 0 is -EINVAL', async () => {
  await refused({}, EINVAL, (c) => c.dirtyPages(GET, { iova: A.iova, size: 0n, bitmap: bm(A.size) }));
});
test('[VFIO-DIRTY-8] GET_BITMAP with a bitmap one u64 word too small is -EINVAL', async () => {
  await refused({}, EINVAL, (c) => c.dirtyPages(GET, { ...WIN, bitmap: bm(WIN.size, { size: bm(WIN.size).size - 8n }) }));
  await refused({}, EINVAL, (c) => c.dirtyPages(CLEAR, { ...WIN, bitmap: bm(WIN.size, { size: 0n }) }));
});
test('[VFIO-DIRTY-9] GET_BITMAP and CLEAR_BITMAP at a bitmap pgsize other than 4 KiB are -EINVAL', async () => {
  await refused({}, EINVAL, (c) => c.dirtyPages(GET, { ...WIN, bitmap: bm(WIN.size, { pgsize: 512n * PG }) }));
  await refused({}, EINVAL, (c) => c.dirtyPages(CLEAR, { ...WIN, bitmap: { ...bm(WIN.size, { pgsize: 2n * PG }), data: new Uint8Array(64).fill(0xff) } }));
});
test('[VFIO-DIRTY-10] GET_BITMAP at an unaligned iova is -EINVAL', async () => {
  await refused({}, EINVAL, (c) => c.dirtyPages(GET, { iova: A.iova + 0x800n, size: A.size, bitmap: bm(A.size) }));
});
test('[VFIO-DIRTY-11] GET_BITMAP and GET_BITMAP_NOCLEAR while tracking is off are -EINVAL', async () => {
  await refused({ tracking: false }, EINVAL, (c) => c.dirtyPages(GET, { ...WIN, bitmap: bm(WIN.size) }));
  await refused({ tracking: false }, EINVAL, (c) => c.dirtyPages(NOCLEAR, { ...WIN, bitmap: bm(WIN.size) }));
});
test('[VFIO-DIRTY-12] GET_BITMAP bisecting a mapping is -EINVAL', async () => {
  await refused({}, EINVAL, (c) => c.dirtyPages(GET, { iova: A.iova + PG, size: PG, bitmap: bm(PG) }));
  await refused({}, EINVAL, (c) => c.dirtyPages(NOCLEAR, { iova: B.iova, size: PG, bitmap: bm(PG) }));
});

// ---- manual clear -----------------------------------------------------------------------
test('[VFIO-CLEAR-2] GET_BITMAP_NOCLEAR and CLEAR_BITMAP before manual clear was negotiated are -EINVAL', async () => {
  await refused({ negotiated: false }, EINVAL, (c) => c.dirtyPages(NOCLEAR, { ...WIN, bitmap: bm(WIN.size) }));
  await refused({ negotiated: false }, EINVAL, (c) => c.dirtyPages(CLEAR, { ...WIN, bitmap: { ...bm(WIN.size), data: new Uint8Array(64).fill(0xff) } }));
  // Negotiation is per container: CHECK_EXTENSION(9), RFC v1's number, negotiates nothing (VFIO-EXT-1).
  await refused({ negotiated: false }, EINVAL, async (c) => {
    assert.is(await c.checkExtension(9), 1);
    return c.dirtyPages(NOCLEAR, { ...WIN, bitmap: bm(WIN.size) });
  });
});
test('[VFIO-CLEAR-3] CLEAR_BITMAP while tracking is off is -EINVAL', async () => {
  await refused({ tracking: false }, EINVAL, (c) => c.dirtyPages(CLEAR, { ...WIN, bitmap: { ...bm(WIN.size), data: new Uint8Array(64).fill(0xff) } }));
});

test('the probe sees a change: a cleared page, an unmap, a new mapping, tracking stopped', async () => {
  const { c, probe } = await setup();
  const p0 = await probe();
  assert.is((await c.dirtyPages(GET, { ...A, bitmap: bm(A.size) })).errno, 0);
  const p1 = await probe();
  assert.is.not(p1, p0);
  assert.is((await c.mapDma(RW, 0xa000_0000n, FREE, PG)).errno, 0);
  const p2 = await probe();
  assert.is.not(p2, p1);
  assert.is((await c.dirtyPages(STOP)).errno, 0);
  assert.is.not(await probe(), p2);
});

test.run();
