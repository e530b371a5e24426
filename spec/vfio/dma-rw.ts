// vfio_dma_rw through a type1 container: the CPU-side access an emulated (mdev) device
// makes to IOVA space, as pure abstract operations. The walk turns one access (iova,
// length, read or write) and the container's mappings into its chunks, the errno, and the
// pages each copied chunk dirties; model/vfio/ follows the dirty state from them.
//
// Requirements: VFIO-RW-1..4
// Sources: Linux v6.12.117 drivers/vfio/vfio_iommu_type1.c vfio_iommu_type1_dma_rw and
//          vfio_iommu_type1_dma_rw_chunk (with the page count of commit 2c5af98592f6
//          "vfio/type1: fix dirty bitmap calculation in vfio_dma_rw",
//          <20200915003251.14343-1-yan.y.zhao@intel.com>); drivers/vfio/vfio_main.c
//          vfio_dma_rw.
import { VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE } from './args.ts';

/** Linux include/uapi/asm-generic/errno-base.h. */
export const RW_EPERM = 1;
export const RW_EINVAL = 22;
/** The page size the dirty bitmap is kept at (the container's smallest: 4 KiB). */
const PAGE = 4096n;

/** A mapping as the walk needs it: its range and its VFIO_DMA_MAP_FLAG_* permissions. */
export interface RwMapping {
  readonly iova: bigint;
  readonly size: bigint;
  readonly flags: number;
}

/** One chunk copied: `length` bytes at `iova`, inside `mapping`. */
export interface RwChunk {
  readonly iova: bigint;
  readonly length: bigint;
  readonly mapping: RwMapping;
}

export interface DmaRwWalk {
  /** 0, -EINVAL or -EPERM. */
  readonly errno: number;
  /** The chunks copied, in order: all of the access when errno is 0, else those before the refused chunk (which an implementation may or may not have copied: VFIO-RW-4). */
  readonly chunks: readonly RwChunk[];
  /** A refused access: the first byte of the refused chunk (nothing at or past it is copied). */
  readonly refusedAt?: bigint;
  /** The requirements that decide the answer. */
  readonly req: readonly string[];
}

/**
 * The walk of vfio_dma_rw over `mappings` (sorted or not; they do not overlap): length 0
 * is -EINVAL; else chunk by chunk, each in the mapping holding its first byte and clipped
 * to that mapping's end, until the access ends (0) or a chunk has no mapping (-EINVAL) or
 * lacks a permission (-EPERM: no READ, or a write without WRITE). A refusal after copied
 * chunks returns the refused chunk's errno all the same.
 * @req VFIO-RW-1 VFIO-RW-2 VFIO-RW-4
 * @source Linux v6.12.117 drivers/vfio/vfio_iommu_type1.c vfio_iommu_type1_dma_rw, vfio_iommu_type1_dma_rw_chunk;
 *         drivers/vfio/vfio_main.c vfio_dma_rw (len <= 0: -EINVAL)
 */
export function dmaRwWalk(mappings: readonly RwMapping[], iova: bigint, length: bigint, write: boolean): DmaRwWalk {
  if (length <= 0n) return { errno: -RW_EINVAL, chunks: [], refusedAt: iova, req: ['VFIO-RW-1'] };
  const chunks: RwChunk[] = [];
  const refused = (errno: number, at: bigint, id: string): DmaRwWalk => ({ errno, chunks, refusedAt: at, req: chunks.length > 0 ? [id, 'VFIO-RW-4'] : [id] });
  let at = iova;
  const end = iova + length;
  while (at < end) {
    const m = mappings.find((d) => at >= d.iova && at < d.iova + d.size);
    if (m === undefined) return refused(-RW_EINVAL, at, 'VFIO-RW-1');
    if ((write && (m.flags & VFIO_DMA_MAP_FLAG_WRITE) === 0) || (m.flags & VFIO_DMA_MAP_FLAG_READ) === 0) return refused(-RW_EPERM, at, 'VFIO-RW-2');
    const n = end - at < m.iova + m.size - at ? end - at : m.iova + m.size - at;
    chunks.push({ iova: at, length: n, mapping: m });
    at += n;
  }
  return { errno: 0, chunks, req: ['VFIO-RW-1', 'VFIO-RW-2'] };
}

/**
 * The pages (their IOVAs) a write chunk of `length` bytes at `iova` dirties while tracking:
 * within its mapping, offset >> pgshift through (offset + copied - 1) >> pgshift, i.e.
 * every 4 KiB page the bytes touch (not `copied >> pgshift` pages from the first, the
 * count before commit 2c5af98592f6, which is 0 for 2 bytes at PAGE_SIZE - 1).
 * @req VFIO-RW-3
 * @source Linux v6.12.117 drivers/vfio/vfio_iommu_type1.c vfio_iommu_type1_dma_rw_chunk (bitmap_set(dma->bitmap, offset >> pgshift,
 *         ((offset + *copied - 1) >> pgshift) - (offset >> pgshift) + 1)); commit 2c5af98592f6, <20200915003251.14343-1-yan.y.zhao@intel.com>
 */
export function rwDirtiedPages(chunk: Pick<RwChunk, 'iova' | 'length' | 'mapping'>): bigint[] {
  const offset = chunk.iova - chunk.mapping.iova;
  const first = offset / PAGE;
  const last = (offset + chunk.length - 1n) / PAGE;
  const out: bigint[] = [];
  for (let i = first; i <= last; i++) out.push(chunk.mapping.iova + i * PAGE);
  return out;
}
