// The ratchet of the requirement matrix: requirement IDs that no zoo mutant's kill names
// yet. The matrix test (matrix.test.ts) runs the whole zoo and fails when an ID is
// neither killed by some mutant nor listed here, and when a listed ID is killed (take it
// off the list): the list only shrinks. An ID comes off by a new mutant, a real way to
// get that rule wrong, whose counterexample names it.
//
// Why each one left has none yet (what a mutant would break, and why no run can see it):
// - UNMAP-R1 (rfc-2021: the page-table unmap reports no dirty state; VFIO syncs, stops
//   the log, then unmaps): to a driver it only permits (an unmap reporting more loses
//   nothing); what it demands is the caller's order, and in smmu-driver and smmu-hw the
//   kit is that caller. The unmap path's own faults are other rules' (the split on partial
//   unmap losing DBM, rfc-unmap-split-drops-dbm: UNMAP-1). It needs vfio-type1 on an
//   rfc-v4 domain run under rfc-2021 (docs/CONTRACTS.md, rfc-2021, says what that takes).
// - UNMAP-U3 (linux-upstream: the unmap reports no dirty state; the caller read-and-clears
//   first): the same position as UNMAP-R1. It came back on the list when an unmap began
//   to note it only over an owed page (f7af94f): until then every unmap noted it, and the
//   two mutants that named it (upstream-unmap-splits-block, upstream-unmap-skips-hole)
//   broke UNMAP-1 with UNMAP-U1 and UNMAP-U2 and only picked it up from the op's list.
//   It needs vfio-type1 (or an iommufd caller) on an upstream domain, whose UNMAP_DMA
//   unmaps without reading first (iommufd_vfio_unmap_dma refuses GET_DIRTY_BITMAP).
export const WITHOUT_MUTANT: readonly string[] = ['UNMAP-R1', 'UNMAP-U3'];

/** The list's length may not grow past this; lower it as IDs come off. */
export const WITHOUT_MUTANT_MAX = 2;
