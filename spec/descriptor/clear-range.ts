// Which leaves a clearing report may clear. Requirement: CLEAR-4.
// Source: DESIGN.md (a clear must not forget pages it was not asked to clear).
// DEPARTS from Linux io_pgtable_visit_dirty, which clears every dirty leaf it records.

/** A writable-dirty leaf overlapping [iova, iova + size) is cleared only if it lies wholly inside the range. */
export function clearsLeaf(leafIova: number, leafSize: number, iova: number, size: number): boolean {
  return leafIova >= iova && leafIova + leafSize <= iova + size;
}
