// Explaining an observation by the alternatives the spec allows. Where the spec leaves a
// choice open (a DMA write racing a driver operation may land before or after it; an
// IOTLB entry the kit cannot see may have been evicted, IOTLB-11), what the
// implementation shows must match one of the allowed outcomes. Each alternative is
// applied to its own copy of the model and checked; the first that passes is adopted.
// When none does, the model takes the state of the alternative the failure is reported
// from, so the trace shows that prediction, and its violation is thrown. The run's
// transition coverage keeps only what the adopted alternative took.
import type { DescriptorModel } from './descriptor-model.ts';
import { Violation } from './violation.ts';

export interface Explanation<T> {
  /** What the chosen alternative returned. */
  readonly value: T;
  /** Its index among the alternatives. */
  readonly index: number;
}

export interface ExplainOptions<T> {
  /** Which failed alternative a failure is reported from (default: the first). */
  readonly blame?: 'first' | 'last';
  /** Called with the reported alternative's value just before its violation is thrown. */
  readonly unexplained?: (value: T | undefined) => void;
}

/**
 * Applies each alternative in turn (`apply` steps the model; `check` compares it with
 * what the implementation showed and throws a Violation when they differ). A single
 * alternative is applied to `model` itself; several each get a copy. Anything thrown that
 * is not a Violation is an error of the kit and is rethrown at once.
 */
export function explain<T>(model: DescriptorModel, alternatives: readonly ((m: DescriptorModel) => T)[], check: (m: DescriptorModel, value: T) => void, options: ExplainOptions<T> = {}): Explanation<T> {
  if (alternatives.length === 0) throw new Error('explain: no alternative');
  const failures: { model: DescriptorModel; value: T | undefined; error: Violation }[] = [];
  for (const [index, alternative] of alternatives.entries()) {
    const m = alternatives.length === 1 ? model : model.clone();
    // A rejected alternative's transitions were not taken: the run's coverage forgets them.
    const mark = alternatives.length === 1 ? undefined : model.ctx.coverageMark();
    let value: T | undefined;
    try {
      value = alternative(m);
      check(m, value);
    } catch (e) {
      if (!(e instanceof Violation)) throw e;
      if (mark !== undefined) model.ctx.undoCoverage(mark);
      failures.push({ model: m, value, error: e });
      continue;
    }
    if (m !== model) model.adopt(m);
    return { value, index };
  }
  const reported = options.blame === 'last' ? failures[failures.length - 1]! : failures[0]!;
  if (reported.model !== model) model.adopt(reported.model);
  options.unexplained?.(reported.value);
  throw reported.error;
}
