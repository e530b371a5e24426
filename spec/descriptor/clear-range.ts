// Which leaves a clearing report may clear. Requirement: CLEAR-4.
// Source: dirtyspec design: a clear must not forget pages it was not asked to clear
// (NOLOSS-2). DEPARTS from Linux v6.12.117 drivers/iommu/io-pgtable-arm.c
// io_pgtable_visit_dirty, which clears every dirty leaf it records, whole.

/**
 * A writable-dirty leaf overlapping [iova, iova + size) is cleared only if it lies wholly inside the range.
 * @req CLEAR-4
 * @source dirtyspec design: a clear must not forget pages it was not asked to clear (NOLOSS-2); DEPARTS from Linux v6.12.117 drivers/iommu/io-pgtable-arm.c io_pgtable_visit_dirty, which clears the whole leaf
 */
export function clearsLeaf(leafIova: number, leafSize: number, iova: number, size: number): boolean {
  return leafIova >= iova && leafIova + leafSize <= iova + size;
}
