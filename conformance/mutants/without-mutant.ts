// The ratchet of the requirement matrix: requirement IDs that no zoo mutant's kill names
// yet. The matrix test (matrix.test.ts) runs the whole zoo and fails when an ID is
// neither killed by some mutant nor listed here, and when a listed ID is killed (take it
// off the list): the list only shrinks. An ID comes off by a new mutant, a real way to
// get that rule wrong, whose counterexample names it.
export const WITHOUT_MUTANT: readonly string[] = ['KVM-PT-2', 'KVM-PT-3', 'KVM-PT-4', 'KVM-PT-6', 'KVM-PT-11', 'UNMAP-R1'];

/** The list's length may not grow past this; lower it as IDs come off. */
export const WITHOUT_MUTANT_MAX = 6;
