// A mutant: the reference implementation with one deliberate fault, as an adapter the
// conformance suite runs like any third party's. The suite is only as good as the
// mutants it kills; each belongs to one of the bug classes defined in docs/BUG-CLASSES.
import type { Adapter, ProfileName } from '../adapters/types.ts';

/**
 * The bug classes, each defined (with real upstream fixes) under its own heading in
 * docs/BUG-CLASSES: how a dirty page is lost, over-reported, or bad input let through.
 */
export const BUG_CLASSES = ['boundary-arithmetic', 'stale-iotlb', 'racy-update', 'state-not-carried', 'scope-change', 'over-clear', 'bad-input-accepted', 'false-dirty', 'wrong-address', 'valid-input-refused'] as const;
export type BugClass = (typeof BUG_CLASSES)[number];

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
  /**
   * The requirement IDs the fault is meant to break: the "mutants" column of the
   * requirement matrix (`dirtyspec mutants --matrix`). Only a declaration: the "killed by"
   * column comes from the IDs the run's counterexample names.
   */
  readonly targets?: readonly string[];
}
