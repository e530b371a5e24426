// The dirty bitmap a report is written into: one bit per page of [iova, iova + size),
// in u64 words, as the kernel's user bitmaps (bit i of the bitmap is page
// iova + i * pgsize, bit i % 64 of word i / 64). Abstract operations only.
//
// Requirements: BITMAP-1 (layout and length), BITMAP-2 (recording clips to the range)
// Sources: Linux v6.12.117 include/uapi/linux/vfio.h (struct vfio_bitmap);
//          drivers/vfio/vfio_iommu_type1.c (update_user_bitmap);
//          drivers/iommu/iommufd/iova_bitmap.c (iova_bitmap_set).

export const BITMAP_PAGE_SHIFT = 12;

/**
 * BITMAP-1: bytes of a bitmap covering `pages` pages: ALIGN(pages, 64) / 8.
 * @req BITMAP-1
 * @source Linux v6.12.117 drivers/vfio/vfio_iommu_type1.c verify_bitmap_size (DIRTY_BITMAP_BYTES)
 */
export function dirtyBitmapBytes(pages: number): number {
  return Math.ceil(pages / 64) * 8;
}

/**
 * A zeroed bitmap for [iova, iova + size).
 * @req BITMAP-1
 * @source Linux v6.12.117 drivers/vfio/vfio_iommu_type1.c vfio_iova_dirty_bitmap (one bit per page of the range)
 */
export function newDirtyBitmap(size: number): Uint8Array {
  return new Uint8Array(dirtyBitmapBytes(Math.ceil(size / 2 ** BITMAP_PAGE_SHIFT)));
}

/**
 * BITMAP-2: marks every page of [iova, iova + length) that lies inside the bitmap's range [base, base + size).
 * @req BITMAP-2
 * @source Linux v6.12.117 drivers/iommu/iommufd/iova_bitmap.c iova_bitmap_set
 */
export function dirtyBitmapSet(bitmap: Uint8Array, base: number, size: number, iova: number, length: number): void {
  const first = Math.max(iova, base);
  const end = Math.min(iova + length, base + size);
  for (let at = first - (first % 4096); at < end; at += 4096) {
    const i = (at - base) / 4096;
    bitmap[i >> 3]! |= 1 << (i & 7);
  }
}

/**
 * The pages (their IOVAs) whose bits are set.
 * @req BITMAP-1
 * @source Linux v6.12.117 include/uapi/linux/vfio.h struct vfio_bitmap
 */
export function dirtyBitmapPages(bitmap: Uint8Array, base: number): number[] {
  const out: number[] = [];
  for (let byte = 0; byte < bitmap.length; byte++) {
    const b = bitmap[byte]!;
    if (b === 0) continue;
    for (let bit = 0; bit < 8; bit++) if (b & (1 << bit)) out.push(base + (byte * 8 + bit) * 4096);
  }
  return out;
}
