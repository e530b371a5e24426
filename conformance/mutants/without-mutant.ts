// The ratchet of the requirement matrix: requirement IDs that no zoo mutant's kill names
// yet. The matrix test (matrix.test.ts) runs the whole zoo and fails when an ID is
// neither killed by some mutant nor listed here, and when a listed ID is killed (take it
// off the list): the list only shrinks. An ID comes off by a new mutant, a real way to
// get that rule wrong, whose counterexample names it.
//
// None is left. The last two, UNMAP-R1 (rfc-2021) and UNMAP-U3 (linux-upstream), are
// caller obligations (the page-table unmap reports no dirty state, so the caller reads it
// first): their mutants are the caller done wrong, vfio-type1's UNMAP_DMA under each
// contract (rfc-unmap-dma-without-sync, iommufd-unmap-without-dirty-read).
export const WITHOUT_MUTANT: readonly string[] = [];

/** The list's length may not grow past this; lower it as IDs come off. */
export const WITHOUT_MUTANT_MAX = 0;
