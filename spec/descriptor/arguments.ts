// What the page-table driver answers to arguments it must refuse, and what it must leave
// as it was: map, unmap and read-and-clear at the iommu_map level (the kit's SmmuDriver),
// split and merge where there is no block or no table of pages. Requirements: MAP-6,
// MAP-7, MAP-8, UNMAP-2, CLEAR-5, SPLIT-3, MERGE-3.
// Sources: Linux v6.12.117 drivers/iommu/iommu.c (__iommu_map, iommu_map_nosync in later kernels; __iommu_unmap),
// drivers/iommu/io-pgtable-arm.c (arm_lpae_map_pages, arm_lpae_unmap_pages,
// arm_lpae_read_and_clear_dirty); split and merge: the kit's own errnos (see SPLIT-3, MERGE-3).

/** The smallest page size (the 4 KiB granule's page). */
export const MIN_PAGE = 0x1000;
/** The input and output address sizes of the kit's stage-1 tables: 48 bits (cfg->ias, cfg->oas). */
export const ADDRESS_LIMIT = 2 ** 48;
export const IOMMU_READ = 1;
export const IOMMU_WRITE = 2;
const EINVAL = 22;
const ENOENT = 2;
const ERANGE = 34;

const aligned = (n: number) => n % MIN_PAGE === 0;

/**
 * The answers a map of these arguments may give when it must map nothing, or undefined when
 * the arguments are good: alignment and size first, then an address at or past 2^48, then prot,
 * then a range crossing 2^48 (refused at a later chunk than the first).
 * @req MAP-6 MAP-7 MAP-8
 * @source Linux v6.12.117 drivers/iommu/iommu.c __iommu_map (iommu_map_nosync in later kernels) (IS_ALIGNED(iova | paddr | size, min_pagesz): -EINVAL; size 0 maps nothing);
 * drivers/iommu/io-pgtable-arm.c arm_lpae_map_pages (WARN_ON(iaext || paddr >> cfg->oas): -ERANGE, then no IOMMU_READ | IOMMU_WRITE: -EINVAL, 0 before v6.11)
 */
export function mapRefusal(iova: number, paddr: number, size: number, prot: number): { readonly errnos: readonly number[]; readonly req: string } | undefined {
  if (!aligned(iova) || !aligned(paddr) || !aligned(size)) return { errnos: [-EINVAL], req: 'MAP-6' };
  if (size === 0) return { errnos: [0, -EINVAL], req: 'MAP-6' };
  if (iova >= ADDRESS_LIMIT || paddr >= ADDRESS_LIMIT) return { errnos: [-ERANGE], req: 'MAP-7' };
  if ((prot & (IOMMU_READ | IOMMU_WRITE)) === 0) return { errnos: [-EINVAL, 0], req: 'MAP-8' };
  // Crossing 2^48: the first chunk starts below it, so only a later chunk is refused, after the prot check.
  if (iova + size > ADDRESS_LIMIT || paddr + size > ADDRESS_LIMIT) return { errnos: [-ERANGE], req: 'MAP-7' };
  return undefined;
}

/**
 * Whether an unmap of these arguments must unmap 0 bytes and change nothing.
 * @req UNMAP-2
 * @source Linux v6.12.117 drivers/iommu/iommu.c __iommu_unmap (IS_ALIGNED(iova | size, min_pagesz) else 0); drivers/iommu/io-pgtable-arm.c arm_lpae_unmap_pages (WARN_ON(iaext): 0)
 */
export function unmapRefused(iova: number, size: number): boolean {
  return !aligned(iova) || !aligned(size) || size === 0 || iova >= ADDRESS_LIMIT;
}

/**
 * The errno of a read-and-clear of these arguments that must report and clear nothing, or undefined.
 * @req CLEAR-5
 * @source Linux v6.12.117 drivers/iommu/io-pgtable-arm.c arm_lpae_read_and_clear_dirty (WARN_ON(!size), WARN_ON((iova + size - 1) & ~(BIT(cfg->ias) - 1)): -EINVAL)
 */
export function readAndClearRefusal(iova: number, size: number): number | undefined {
  return size === 0 || iova + size - 1 >= ADDRESS_LIMIT ? -EINVAL : undefined;
}

/**
 * The errno of splitBlock at `iova`, given the level of the leaf that maps it (undefined: none), or undefined when there is a block to split.
 * @req SPLIT-3
 * @source dirtyspec design (SPLIT-3): -ENOENT where nothing is mapped, -EINVAL at a page or past 2^48; DEPARTS from the HTTU series' split_block (0 bytes, then -EFAULT, for a hole; success for a page), patch 04/11 of v2, <20210310090614.26668-5-zhukeqian1@huawei.com>
 */
export function splitRefusal(iova: number, leafLevel: number | undefined): number | undefined {
  if (iova >= ADDRESS_LIMIT) return -EINVAL;
  if (leafLevel === undefined) return -ENOENT;
  return leafLevel === 3 ? -EINVAL : undefined;
}

/**
 * The answers mergePages(iova, level) may give where it must merge nothing, or undefined when
 * there is a table of pages (or blocks) at that level to look at. `there`: what maps the span.
 * @req MERGE-3
 * @source dirtyspec design (MERGE-3): a bad level or IOVA is -EINVAL first; nothing mapped is -ENOENT (or -EINVAL over an emptied table left in place); a block of that level is -EINVAL; DEPARTS from __arm_lpae_merge_page of patch 05/11 of the HTTU series v2, <20210310090614.26668-6-zhukeqian1@huawei.com> (0 bytes, then -EFAULT, for a hole; success over a leaf)
 */
export function mergeRefusal(iova: number, level: number, there: 'nothing' | 'block' | 'table'): readonly number[] | undefined {
  if ((level !== 1 && level !== 2) || iova >= ADDRESS_LIMIT) return [-EINVAL];
  if (there === 'nothing') return [-ENOENT, -EINVAL];
  if (there === 'block') return [-EINVAL];
  return undefined;
}
