// vfio_dma_rw through the reference container (vfio_iommu_type1_dma_rw and _chunk of
// Linux v6.12): the chunk walk, its errnos, and the pages a write dirties, reported,
// cleared and dropped as the hardware's are.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dirtyBitmapPages } from '../../spec/bitmap/dirty-bitmap.ts';
import { EINVAL, EPERM } from '../errno.ts';
import {
  createType1Container,
  VFIO_DIRTY_LOG_MANUAL_CLEAR,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_CLEAR_BITMAP,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP_NOCLEAR,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_START,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP,
  type VfioType1Container,
} from './type1-container.ts';

const PG = 0x1000;
const R = VFIO_DMA_MAP_FLAG_READ;
const W = VFIO_DMA_MAP_FLAG_WRITE;
const RW = R | W;
const GET = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
const NOCLEAR = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP_NOCLEAR;
const CLEAR = VFIO_IOMMU_DIRTY_PAGES_FLAG_CLEAR_BITMAP;
// A, four pages; B, two pages right after it; a hole after B.
const A = { iova: 0x10_0000, size: 4 * PG };
const B = { iova: A.iova + A.size, size: 2 * PG };
const ALL = { iova: A.iova, size: A.size + B.size };

function container(o: { tracking?: boolean; hw?: boolean; bFlags?: number } = {}): VfioType1Container {
  const { container: c } = createType1Container({ httu: o.hw === false ? 0 : 2 });
  assert.is(c.mapDma(RW, 0x8000_0000, A.iova, A.size).errno, 0);
  assert.is(c.mapDma(o.bFlags ?? RW, 0x8000_0000 + A.size, B.iova, B.size).errno, 0);
  assert.is(c.checkExtension(VFIO_DIRTY_LOG_MANUAL_CLEAR), 1);
  if (o.tracking ?? true) {
    assert.is(c.dirtyPages(VFIO_IOMMU_DIRTY_PAGES_FLAG_START).errno, 0);
    c.dirtyPages(GET, { ...ALL, bitmap: { pgsize: PG, size: 8 } }); // mapped while off: nothing dirty yet, but clear anyway
  }
  return c;
}

const report = (c: VfioType1Container, flags = GET, range = ALL) => {
  const r = c.dirtyPages(flags, { ...range, bitmap: { pgsize: PG, size: 8 } });
  assert.is(r.errno, 0);
  return dirtyBitmapPages(r.bitmap!, range.iova);
};

test('[VFIO-RW-3] a 2-byte write at PAGE_SIZE - 1 dirties both pages it touches', () => {
  const c = container();
  assert.equal(c.dmaRw(A.iova + PG - 1, 2, true), { errno: 0, copied: 2 });
  assert.equal(report(c), [A.iova, A.iova + PG]);
});

test('[VFIO-RW-3] an unaligned write of two pages and 3 bytes dirties the three pages it touches, and GET_BITMAP clears them', () => {
  const c = container();
  assert.is(c.dmaRw(A.iova + 0x10, 2 * PG + 3, true).errno, 0);
  assert.equal(report(c), [A.iova, A.iova + PG, A.iova + 2 * PG]);
  assert.equal(report(c), []);
});

test('[VFIO-RW-1] a length of 0 is -EINVAL and copies nothing', () => {
  assert.equal(container().dmaRw(A.iova, 0, true), { errno: -EINVAL, copied: 0 });
});

test('[VFIO-RW-1] [VFIO-RW-3] an access across two adjacent mappings is two chunks, each clipped to its mapping, and dirties pages of both', () => {
  const c = container();
  assert.equal(c.dmaRw(B.iova - 8, 16, true), { errno: 0, copied: 16 });
  assert.equal(report(c), [B.iova - PG, B.iova]);
});

test('[VFIO-RW-1] [VFIO-RW-4] an access running into a hole is -EINVAL; the chunk before it stays copied and dirty, as in Linux', () => {
  const c = container();
  const end = B.iova + B.size;
  assert.equal(c.dmaRw(end - 4, 8, true), { errno: -EINVAL, copied: 4 });
  assert.equal(report(c), [end - PG]);
});

test('[VFIO-RW-1] an access starting in a hole is -EINVAL and copies nothing', () => {
  assert.equal(container().dmaRw(A.iova - PG, 4, false), { errno: -EINVAL, copied: 0 });
});

test('[VFIO-RW-2] a write into a read-only mapping is -EPERM; a read of it is 0', () => {
  const c = container({ bFlags: R });
  assert.equal(c.dmaRw(B.iova, 4, true), { errno: -EPERM, copied: 0 });
  assert.equal(c.dmaRw(B.iova, 4, false), { errno: 0, copied: 4 });
});

test('[VFIO-RW-2] a write-only mapping refuses reads and writes alike (no READ: -EPERM)', () => {
  const c = container({ bFlags: W });
  assert.is(c.dmaRw(B.iova, 4, true).errno, -EPERM);
  assert.is(c.dmaRw(B.iova, 4, false).errno, -EPERM);
});

test('[VFIO-RW-2] [VFIO-RW-4] a write from A into a read-only B is -EPERM at B: A is dirtied, B is not', () => {
  const c = container({ bFlags: R });
  assert.equal(c.dmaRw(B.iova - 2, 4, true), { errno: -EPERM, copied: 2 });
  assert.equal(report(c), [B.iova - PG]);
});

test('[VFIO-RW-3] a read dirties nothing', () => {
  const c = container();
  assert.is(c.dmaRw(A.iova, 3 * PG, false).errno, 0);
  assert.equal(report(c), []);
});

test('[VFIO-RW-3] a write while tracking is off dirties nothing that START then reports', () => {
  const c = container({ tracking: false });
  assert.is(c.dmaRw(A.iova, 8, true).errno, 0);
  assert.is(c.dirtyPages(VFIO_IOMMU_DIRTY_PAGES_FLAG_START).errno, 0);
  assert.equal(report(c), []);
});

test('[VFIO-RW-3] GET_BITMAP_NOCLEAR keeps the pages a write dirtied; CLEAR_BITMAP forgets exactly the selected ones', () => {
  const c = container();
  assert.is(c.dmaRw(A.iova + PG - 1, 2, true).errno, 0);
  assert.equal(report(c, NOCLEAR), [A.iova, A.iova + PG]);
  assert.equal(report(c, NOCLEAR), [A.iova, A.iova + PG]);
  const data = new Uint8Array(8);
  data[0] = 0b10; // the second page only
  assert.is(c.dirtyPages(CLEAR, { ...ALL, bitmap: { pgsize: PG, size: 8, data } }).errno, 0);
  assert.equal(report(c, NOCLEAR), [A.iova]);
});

test('[VFIO-RW-3] STOP drops the pages a write dirtied', () => {
  const c = container();
  assert.is(c.dmaRw(A.iova, 8, true).errno, 0);
  assert.is(c.dirtyPages(VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP).errno, 0);
  assert.is(c.dirtyPages(VFIO_IOMMU_DIRTY_PAGES_FLAG_START).errno, 0);
  assert.equal(report(c), []);
});

test('[VFIO-RW-3] [VFIO-UNMAP-12] UNMAP_DMA with GET_DIRTY_BITMAP reports the pages a write dirtied in what it unmaps', () => {
  const c = container();
  assert.is(c.dmaRw(B.iova + PG + 5, 1, true).errno, 0);
  const r = c.unmapDma(VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, B.iova, B.size, { pgsize: PG, size: 8 });
  assert.is(r.errno, 0);
  assert.equal(dirtyBitmapPages(r.bitmap!, B.iova), [B.iova + PG]);
});

test('[VFIO-RW-3] [VFIO-DIRTY-14] without hardware dirty tracking the all-dirty report already holds what a write dirtied', () => {
  const c = container({ hw: false });
  assert.is(c.dmaRw(A.iova + PG - 1, 2, true).errno, 0);
  assert.equal(report(c, GET, A), [A.iova, A.iova + PG, A.iova + 2 * PG, A.iova + 3 * PG]);
});

test.run();
