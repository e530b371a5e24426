// A mutant: the reference implementation with one deliberate fault, as an adapter the
// conformance suite runs like any third party's. The suite is only as good as the
// mutants it kills (../../../shared/reference/BUG-CLASSES.md).
import type { Adapter, ProfileName } from '../adapters/types.ts';

/** The bug classes of BUG-CLASSES.md. */
export type BugClass = 1 | 2 | 3 | 4 | 5 | 6;

export interface Mutant {
  /** Kebab-case, unique in the zoo. */
  readonly name: string;
  readonly bugClass: BugClass;
  readonly profile: ProfileName;
  /** The fault, and why it belongs to `bugClass`. */
  readonly description: string;
  /** The mutant as the kit runs it; `adapter.profile === profile`. */
  readonly adapter: Adapter;
  /**
   * 'crash': the fault is an exception on valid input (a kernel oops). The suite kills it
   * by reporting the crash: an "undecided" verdict whose reason is the adapter throwing.
   * Any other undecided run still counts as not killed.
   */
  readonly fault?: 'crash';
}
