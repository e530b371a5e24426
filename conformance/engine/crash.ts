// A process under test that died (a signal, an exit) or hung (no answer within the time
// limit) during a call: an Undecided that knows the call in flight, how the process
// ended, the tail of its standard error, and how to start a fresh process. The engine
// (first-failure.ts) turns it into a failure when the same input crashes again in a
// fresh process, charged to the requirements the profile names for that call; a crash
// that does not come back stays undecided.
import type { TraceStep } from './commands.ts';
import { Undecided } from './limits.ts';

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

/** The step a call would have been, as the profile that made it names it: what it was and the requirements that say it must answer. */
export interface InFlightStep {
  readonly op: string;
  readonly expected: string;
  readonly req: readonly string[];
}

export class Crash extends Undecided {
  /** Set by the profile that made the call (inFlight): the step in its own terms. */
  step: InFlightStep | undefined;

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
 * For a call's `.catch`: a Crash during the call is given the step the call would have
 * been (the first one named wins: the innermost call), then rethrown; anything else is
 * rethrown as it is.
 */
export function inFlight(step: InFlightStep): (e: unknown) => never {
  return (e) => {
    if (e instanceof Crash && e.step === undefined) e.step = step;
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
