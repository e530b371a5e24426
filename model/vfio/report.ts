// A dirty report as the spec reads it: the bitmap's layout (BITMAP-1: bit i of u64 word
// i / 64 is page iova + i * 4 KiB, ALIGN(npages, 64) / 8 bytes, no bit past the range), and
// without hardware dirty tracking, every mapped page of the range in it (VFIO-DIRTY-14).
//
// Requirements: BITMAP-1, PRECISION-1, VFIO-DIRTY-14.
// Sources: Linux v6.12.117 include/uapi/linux/vfio.h (struct vfio_bitmap);
//          drivers/vfio/vfio_iommu_type1.c update_user_bitmap (num_non_pinned_groups: the
//          whole vfio_dma is dirty), verify_bitmap_size (DIRTY_BITMAP_BYTES).
import { dirtyBitmapBytes } from '../../spec/bitmap/dirty-bitmap.ts';
import { Violation } from '../violation.ts';
import { type Mapping, PAGE, followed } from './container.ts';

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

/** BITMAP-1: the bytes of a report over `size` bytes at 4 KiB pages. */
export function reportBytes(size: bigint): number {
  return dirtyBitmapBytes(Number(size / PAGE));
}

/** The pages (IOVAs, ascending) a report over [iova, iova + size) holds; a bit past the range is a violation (BITMAP-1). `bitmap` has reportBytes(size) bytes. */
export function reportedPages(what: string, bitmap: Uint8Array, iova: bigint, size: bigint): Set<number> {
  const npages = Number(size / PAGE);
  const base = Number(iova);
  const out = new Set<number>();
  for (let byte = 0; byte < bitmap.length; byte++) {
    const b = bitmap[byte]!;
    if (b === 0) continue;
    for (let bit = 0; bit < 8; bit++) {
      if ((b & (1 << bit)) === 0) continue;
      const i = byte * 8 + bit;
      if (i >= npages) throw new Violation('precision', ['BITMAP-1', 'PRECISION-1'], `${what}: no bit past page ${npages - 1} of the range`, `bit ${i} set`);
      out.add(base + i * 4096);
    }
  }
  return out;
}

/**
 * VFIO-DIRTY-14: without hardware dirty tracking, a report over [iova, iova + size) holds
 * every page of every (followed) mapping inside it, read-only ones too. A missing page the
 * device wrote (`owed`) is a lost dirty page; one nothing wrote breaks the rule without
 * losing anything (a spec violation, not a loss).
 */
export function checkAllDirty(what: string, pages: ReadonlySet<number>, mappings: readonly Mapping[], iova: bigint, size: bigint, owed: ReadonlySet<number> = new Set()): void {
  let first: { p: number; m: Mapping } | undefined;
  for (const m of mappings) {
    if (m.iova < iova || m.iova + m.size > iova + size || !followed(m)) continue;
    for (let p = Number(m.iova); p < Number(m.iova + m.size); p += 4096) {
      if (pages.has(p)) continue;
      const expected = `${what}: without hardware dirty tracking every mapped page of the range is reported (mapping ${hex(m.iova)}+${hex(m.size)}, flags ${m.flags})`;
      if (owed.has(p)) throw new Violation('loss', ['VFIO-DIRTY-14', 'NOLOSS-1'], expected, `page ${hex(p)}, written by the device, missing`);
      first ??= { p, m };
    }
  }
  if (first !== undefined)
    throw new Violation(
      'spec',
      ['VFIO-DIRTY-14'],
      `${what}: without hardware dirty tracking every mapped page of the range is reported (mapping ${hex(first.m.iova)}+${hex(first.m.size)}, flags ${first.m.flags})`,
      `page ${hex(first.p)} missing`,
    );
}
