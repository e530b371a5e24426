// A directed probe of a mutant: one short sequence of calls, run through the reference
// adapter and through the mutant's, whose observable results differ. mutants.test.ts runs
// each as the mutant's directed test (its title starts with the requirement IDs).
import type { Adapter } from '../adapters/types.ts';
import type { BugClass } from './types.ts';

export interface Probe {
  /** The mutant it tells apart from the reference. */
  readonly mutant: string;
  /** `[ID] mutant NAME deviates from the reference: what differs`. */
  readonly title: string;
  /** The reference adapter of the mutant's profile. */
  readonly reference: Adapter;
  /** Runs the sequence through `adapter` and returns what it observed. */
  run(adapter: Adapter): Promise<unknown>;
  /** What the reference and the mutant observe. */
  readonly want: { readonly reference: unknown; readonly mutant: unknown };
}

/** A mutant file's table entry: the mutant (its adapter built) with its probe. */
export interface ProbedMutant {
  readonly name: string;
  readonly bugClass: BugClass;
  readonly targets: readonly string[];
  readonly description: string;
  readonly adapter: Adapter;
  readonly reference: Adapter;
  /** What differs, for the probe's title. */
  readonly what: string;
  readonly run: (adapter: Adapter) => Promise<unknown>;
  readonly want: { readonly reference: unknown; readonly mutant: unknown };
}

/** The probe of an entry: its title is the targets, the name and what differs. */
/** A mutant table's row: the faulty class, its zoo entry and its directed probe (`run` on a system of `Arg`). */
export interface MutantSpec<Impl, Arg> {
  readonly name: string;
  readonly bugClass: BugClass;
  readonly targets: readonly string[];
  readonly description: string;
  readonly Impl: Impl;
  readonly what: string;
  readonly run: (a: Arg) => Promise<unknown>;
  readonly want: { readonly reference: unknown; readonly mutant: unknown };
}

export function probeOf(s: Pick<ProbedMutant, 'name' | 'targets' | 'reference' | 'what' | 'run' | 'want'>): Probe {
  return { mutant: s.name, title: `${s.targets.map((t) => `[${t}]`).join(' ')} mutant ${s.name} deviates from the reference: ${s.what}`, reference: s.reference, run: s.run, want: s.want };
}
