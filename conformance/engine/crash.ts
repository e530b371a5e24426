// A process under test that died (a signal, an exit) or hung (no answer within the time
// limit) during a call: an Undecided that knows the call in flight, how the process
// ended, the tail of its standard error, and how to start a fresh process. The engine
// (first-failure.ts) turns it into a failure when the same input crashes again in a
// fresh process, charged to the requirements the profile names for that call; a crash
// that does not come back stays undecided.
import type { TraceStep } from './commands.ts';
import { type InFlightStep, Undecided } from './limits.ts';

export interface CrashInfo {
  /** signal: killed by a signal; exit: it exited; hang: it did not answer within the time limit (and was killed). */
  readonly how: 'signal' | 'exit' | 'hang';
  /** "signal SIGFPE", "exit status 3", "no answer within 300 ms". */
  readonly status: string;
  /** The request in flight: its protocol op and its arguments as sent (JSON). */
  readonly call: { readonly op: string; readonly args: string };
  /** The last messages exchanged and the tail of its standard error, as the peer printed them. */
  readonly diagnostics: string;
  /** The last lines of its standard error, alone ('' when it wrote none). */
  readonly stderr: string;
}

export type { InFlightStep };

export class Crash extends Undecided {
  constructor(
    message: string,
    readonly info: CrashInfo,
    /** Ends the process (whatever its state) and starts a fresh one, hello and all. Throws Undecided when the fresh one does not start. */
    readonly renew: () => Promise<void>,
    /** Ends the session of the process running now (a fresh one after renew) with `reason`, as the peer does on a failure. */
    readonly end: (reason: string) => void = () => {},
  ) {
    super(message);
    this.name = 'Crash';
  }

  /** Whether the profile named requirements for the call in flight: only such a crash is confirmed, shrunk and judged; any other stays undecided as before. */
  get covered(): boolean {
    return (this.step?.req.length ?? 0) > 0;
  }

  /** What makes two crashes alike: how it ended (numbers aside: time limits differ) and the call in flight. */
  get kind(): string {
    return `${this.info.how}: ${this.info.status.replace(/\d+/g, 'N')} in ${this.info.call.op}`;
  }
}

/**
 * For a call's `.catch`: an Undecided during the call (a crash, an exception, a hang, an
 * answer of the wrong shape) is given the step the call would have been (the first one
 * named wins: the innermost call), then rethrown; anything else is rethrown as it is.
 * With `trace`, an Undecided that is not a crash also ends the trace with that step, so
 * the report's steps show the call that gave no answer (a crash's step is added where it is
 * judged, first-failure.ts). `step` may be a function, called only then (a hot path's
 * calls need not build their step's text).
 */
export function inFlight(step: InFlightStep | (() => InFlightStep), trace?: TraceStep[]): (e: unknown) => never {
  return (e) => {
    if (e instanceof Undecided && e.step === undefined) {
      e.step = typeof step === 'function' ? step() : step;
      if (trace !== undefined && !(e instanceof Crash)) {
        const reason = e.message.split('\n')[0]!;
        trace.push({ op: e.step.op, answer: `no answer: ${reason.length > 200 ? `${reason.slice(0, 200)}…` : reason}`, expected: e.step.expected, req: [] });
      }
    }
    throw e;
  };
}

/** The call in flight as the last step of a counterexample. */
export function crashStep(c: Crash): TraceStep {
  const answer = c.info.how === 'hang' ? `${c.info.status}, killed` : `the process died (${c.info.status})`;
  return {
    op: c.step?.op ?? `${c.info.call.op} ${c.info.call.args}`,
    answer,
    expected: c.step?.expected ?? 'an answer',
    req: c.step?.req ?? [],
  };
}

/**
 * Marks an adapter whose calls go to a process through a peer that limits each message
 * itself (--exec: peer.ts, --timeout): a hang there is decided by the peer, which knows
 * the call in flight and kills the process, so it can be a Crash. The engine's own limit
 * of a whole call (limits.ts: timed, CallTimer), armed before the request goes out, would
 * otherwise fire first at the same limit and leave the hang undecided.
 */
export const peerTimed: unique symbol = Symbol('dirtyspec.peerTimed');

/** Marks `adapter` as peer-timed (see peerTimed) and returns it. */
export function markPeerTimed<A extends object>(adapter: A): A {
  Object.defineProperty(adapter, peerTimed, { value: true, enumerable: true }); // enumerable: a spread copy of the adapter stays peer-timed
  return adapter;
}

/**
 * The engine's limit of a whole call for `adapter`, given --timeout: `ms`, or for a
 * peer-timed adapter twice it (at least `ms` + 100 ms), a backstop for an implementation
 * that keeps making callbacks without answering (each message within `ms`), while a
 * process silent for `ms` is the peer's hang. A call that answers in `ms` answers in
 * either limit; the engine's message names the limit it applied.
 */
export function isPeerTimed(adapter: object): boolean {
  return (adapter as { [peerTimed]?: boolean })[peerTimed] === true;
}

export function callLimitMs(adapter: object, ms: number): number {
  return isPeerTimed(adapter) ? ms + Math.max(ms, 100) : ms;
}
