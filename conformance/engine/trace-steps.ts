// Finding a step in a run's trace by the start of its operation, for tests that replay a
// fixed sequence and look at one call's answer.
import type { TraceStep } from './commands.ts';

/** The trace as lines `op -> answer`, for a test's failure message. */
export const shownTrace = (trace: readonly TraceStep[]): string => trace.map((s) => `${s.op} -> ${s.answer}`).join('\n');

/** The first step whose operation starts with `prefix`; throws, showing the trace, when there is none. */
export function traceStep(trace: readonly TraceStep[], prefix: string): TraceStep {
  const s = trace.find((x) => x.op.startsWith(prefix));
  if (s === undefined) throw new Error(`no step ${prefix} in\n${shownTrace(trace)}`);
  return s;
}
