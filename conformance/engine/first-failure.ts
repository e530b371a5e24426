// Which runs of a property fail like the first failure, so that fast-check shrinks an
// undecided run as it shrinks a violation: toward the shortest input that is undecided
// for the same kind of reason. The verdict stays what the first failure was.
import { Violation } from '../../model/violation.ts';
import type { TraceStep } from './commands.ts';
import { Undecided } from './limits.ts';

/** An Undecided's reason without its numbers: "set did not answer within N ms", "... threw: Error: boom". */
export function reasonKind(message: string): string {
  return (message.split('\n')[0] ?? '').replace(/0x[0-9a-f]+|\d+/gi, 'N');
}

/** The first undecided run of a property: its exception, steps and commands, as run. */
export interface FirstUndecided {
  readonly error: Undecided;
  readonly steps: TraceStep[];
}

/**
 * Watches the runs of one property. `judge` is called with each run's exception: it
 * rethrows what fails like the first failure (the property fails, fast-check shrinks)
 * and returns on anything else (that candidate passes):
 *   - the first failure a Violation: every Violation fails, an Undecided passes;
 *   - the first failure an Undecided: an Undecided of the same kind of reason fails,
 *     unless it is the very same object (a dead session, an --exec process that ended,
 *     answers every request with the one failure, so shrinking would only follow it) or
 *     the shrinking has had its budget; a Violation passes.
 * Any other exception (the kit's own) fails, as before.
 */
export class FirstFailure {
  private first: { kind: 'violation' } | ({ kind: 'undecided'; reason: string; at: number } & FirstUndecided) | undefined;
  private readonly budgetMs: number;

  /** `timeoutMs`: an adapter call's limit; shrinking an undecided run may take ten of them (at least 2 s). */
  constructor(timeoutMs: number) {
    this.budgetMs = Math.max(2000, 10 * timeoutMs);
  }

  /** The first undecided run, when the first failure was one. */
  get undecided(): FirstUndecided | undefined {
    return this.first?.kind === 'undecided' ? this.first : undefined;
  }

  /** Whether a run need not be run at all: the shrinking of an undecided run is over. */
  get skip(): boolean {
    const f = this.first;
    return f?.kind === 'undecided' && performance.now() - f.at > this.budgetMs;
  }

  judge(e: unknown, steps: TraceStep[]): void {
    const f = this.first;
    if (e instanceof Violation) {
      if (f === undefined) this.first = { kind: 'violation' };
      if (f === undefined || f.kind === 'violation') throw e;
      return;
    }
    if (e instanceof Undecided) {
      if (f === undefined) {
        this.first = { kind: 'undecided', reason: reasonKind(e.message), at: performance.now(), error: e, steps };
        throw e;
      }
      if (f.kind === 'undecided' && e !== f.error && !this.skip && reasonKind(e.message) === f.reason) throw e;
      return;
    }
    throw e;
  }

  /**
   * The shrunk input's replay, judged: whether it is undecided again for the same kind of
   * reason (not the first's very object: that is a dead session, nothing was replayed).
   */
  replayedAlike(e: unknown): e is Undecided {
    const f = this.first;
    return f?.kind === 'undecided' && e instanceof Undecided && e !== f.error && reasonKind(e.message) === f.reason;
  }
}
