// A directed probe of a mutant: one short sequence of calls, run through the reference
// adapter and through the mutant's, whose observable results differ. mutants.test.ts runs
// each as the mutant's directed test (its title starts with the requirement IDs).
import type { Adapter } from '../adapters/types.ts';

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
