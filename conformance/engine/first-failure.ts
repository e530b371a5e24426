// Which runs of a property fail like the first failure, so that fast-check shrinks an
// undecided run as it shrinks a violation: toward the shortest input that is undecided
// for the same kind of reason. The verdict stays what the first failure was, except for
// a crash (crash.ts: the process under test died or hung during a call): confirmed in a
// fresh process, shrunk with a fresh process per attempt, and, when the shrunk input
// crashes again, a failure of the requirements that cover the call in flight.
import { Violation } from '../../model/violation.ts';
import type { TraceStep } from './commands.ts';
import { Crash, crashStep } from './crash.ts';
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

type First =
  | { kind: 'violation'; at: number }
  | ({ kind: 'undecided'; reason: string; at: number } & FirstUndecided)
  /** `confirmed`: the same input crashed alike in a fresh process; else `again` says what it did there. */
  | { kind: 'crash'; at: number; error: Crash; steps: TraceStep[]; confirmed: boolean; again: string };

/** What the shrunk input's replay makes of a crash: a failure of the call's requirements, or undecided with the reason. */
export type CrashOutcome =
  | { readonly verdict: 'does-not-conform'; readonly crash: Crash; readonly steps: TraceStep[]; readonly req: readonly string[]; readonly expected: string; readonly actual: string }
  | { readonly verdict: 'undecided'; readonly message: string; readonly steps: readonly TraceStep[]; readonly replayable: boolean };

/** How a run ended, in a few words, for the message of a crash that did not come back. */
function outcomeOf(e: unknown): string {
  if (e === undefined) return 'it passed';
  if (e instanceof Crash) return `it crashed otherwise: ${e.info.status} in ${e.info.call.op}`;
  if (e instanceof Violation) return `it failed otherwise: ${e.message}`;
  return `it was undecided otherwise: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`;
}

/**
 * Watches the runs of one property. `judge` is called with each run's exception: it
 * rethrows what fails like the first failure (the property fails, fast-check shrinks)
 * and returns on anything else (that candidate passes):
 *   - the first failure a Violation: every Violation fails, an Undecided passes;
 *   - the first failure an Undecided: an Undecided of the same kind of reason fails,
 *     unless it is the very same object (a dead session, an --exec process that ended,
 *     answers every request with the one failure, so shrinking would only follow it) or
 *     the shrinking has had its budget; a Violation passes;
 *   - the first failure a Crash of a call the profile names requirements for (others are
 *     judged as any Undecided): the same input runs again in a fresh process (`again`);
 *     if it crashes alike (how it ended, the call in flight), a crash alike fails and
 *     anything else passes, until the budget; if not, nothing is shrunk.
 * Any other exception (the kit's own) fails, as before. Once such a crash was seen,
 * every later run starts with a fresh process (`fresh`).
 */
export class FirstFailure {
  private first: First | undefined;
  private readonly budgetMs: number;
  /** Runs after the first failure: fast-check's shrinking attempts. */
  private attempts = 0;
  /** When the shrinking of a violation ran out of `shrinkMs`: its seconds and attempts then. */
  private stopped: { readonly seconds: number; readonly attempts: number } | undefined;
  /** How to start a fresh process: from the last crash seen. */
  private renew: (() => Promise<void>) | undefined;

  /**
   * `timeoutMs`: an adapter call's limit; shrinking an undecided run may take ten of them
   * (at least 2 s; a crash at least 5 s: a process per attempt). `shrinkMs`: how long the
   * shrinking of a violation may take (undefined: no limit); once it is spent, every
   * later candidate passes unrun, so fast-check ends with the shortest failing input found
   * so far, whose path replays it as any other.
   */
  constructor(
    timeoutMs: number,
    private readonly shrinkMs?: number,
  ) {
    this.budgetMs = Math.max(2000, 10 * timeoutMs);
  }

  /** Whether the shrinking of a violation ran out of time, and when: the counterexample is the shortest found by then. */
  get shrinkStopped(): { readonly seconds: number; readonly attempts: number } | undefined {
    return this.stopped;
  }

  /** The first undecided run, when the first failure was one. */
  get undecided(): FirstUndecided | undefined {
    return this.first?.kind === 'undecided' ? this.first : undefined;
  }

  /**
   * Whether a run need not be run at all: the shrinking of an undecided run or a crash is
   * over (or, for a crash that did not come back, never begins), or that of a violation has
   * spent `shrinkMs`. Called once before each run.
   */
  skipRun(): boolean {
    const f = this.first;
    if (f !== undefined) this.attempts++;
    if (f?.kind === 'violation') {
      if (this.shrinkMs === undefined || this.stopped !== undefined) return this.stopped !== undefined;
      const spent = performance.now() - f.at;
      if (spent <= this.shrinkMs) return false;
      // The attempt that found the budget spent is not one.
      this.stopped = { seconds: Math.round(spent / 100) / 10, attempts: this.attempts - 1 };
      return true;
    }
    return this.skip;
  }

  /** Whether the shrinking of an undecided run or a crash is over (`skipRun` without counting an attempt). */
  private get skip(): boolean {
    const f = this.first;
    if (f?.kind === 'crash') return !f.confirmed || performance.now() - f.at > Math.max(5000, this.budgetMs);
    return f?.kind === 'undecided' && performance.now() - f.at > this.budgetMs;
  }

  /** Before a run: once a crash was seen, a fresh process (the crash's renew). Throws Undecided when it does not start. */
  async fresh(): Promise<void> {
    await this.renew?.();
  }

  /** `again` runs the same input again (with a trace of its own): a first crash is confirmed with it. */
  async judge(e: unknown, steps: TraceStep[], again?: (trace: TraceStep[]) => Promise<unknown>): Promise<void> {
    if (e instanceof Crash && e.covered) this.renew = e.renew;
    const f = this.first;
    if (f === undefined && e instanceof Crash && e.covered && again !== undefined) {
      const trace: TraceStep[] = [];
      let e2: unknown;
      try {
        await this.fresh();
        await again(trace);
      } catch (x) {
        e2 = x;
      }
      if (e2 instanceof Crash) this.renew = e2.renew; // the same process: renew is the peer's
      const alike = e2 instanceof Crash && e2.kind === e.kind ? e2 : undefined;
      this.first = alike !== undefined ? { kind: 'crash', at: performance.now(), error: alike, steps: trace, confirmed: true, again: '' } : { kind: 'crash', at: performance.now(), error: e, steps, confirmed: false, again: outcomeOf(e2) };
      throw alike ?? e;
    }
    if (f?.kind === 'crash') {
      if (f.confirmed && !this.skip && e instanceof Crash && e.kind === f.error.kind) throw e;
      if (!(e instanceof Violation) && !(e instanceof Undecided)) throw e;
      return;
    }
    if (e instanceof Violation) {
      if (f === undefined) this.first = { kind: 'violation', at: performance.now() };
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

  /**
   * When the first failure was a crash: what the replay of the shrunk input (`e`, its
   * exception or undefined; `steps`, its trace, in a fresh process) makes of it. A crash
   * alike whose call the profile covers with requirements is a failure of them, the call
   * in flight the last step; one the profile names none for stays undecided, with its
   * steps and replay; a crash that did not come back in a fresh process (when confirming,
   * or on this replay) is undecided and says so.
   */
  crashOutcome(e: unknown, steps: TraceStep[]): CrashOutcome | undefined {
    const f = this.first;
    if (f?.kind !== 'crash') return undefined;
    // Undecided: the fresh process that ran without crashing is done with, like any session of an undecided run.
    if (!f.confirmed || !(e instanceof Crash) || e.kind !== f.error.kind) f.error.end('the crash did not reproduce, so the run is undecided and the session ended');
    if (!f.confirmed) {
      return {
        verdict: 'undecided',
        message: `${f.error.message}\nNot a verdict: the same input ran again in a fresh process and ${f.again}, so the crash does not reproduce (does the implementation keep state between sessions, or is it not deterministic?)`,
        steps: [...f.steps, crashStep(f.error)],
        replayable: false,
      };
    }
    if (!(e instanceof Crash) || e.kind !== f.error.kind) {
      return {
        verdict: 'undecided',
        message: `${f.error.message}\nNot a verdict: the crash came back in a fresh process, but the shrunk input, replayed in a fresh process, ${outcomeOf(e)}`,
        steps: [...f.steps, crashStep(f.error)],
        replayable: false,
      };
    }
    const step = crashStep(e);
    const all = [...steps, step];
    if (step.req.length === 0) {
      return {
        verdict: 'undecided',
        message: `${e.message}\nThe crash reproduces in a fresh process (the replay command runs it again), but the profile names no requirement for the call in flight, ${e.info.call.op}, so it is not charged to one`,
        steps: all,
        replayable: true,
      };
    }
    return { verdict: 'does-not-conform', crash: e, steps: all, req: step.req, expected: `an answer (${step.expected})`, actual: step.answer };
  }
}
