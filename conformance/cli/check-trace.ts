// `dirtyspec check-trace FILE`: checks a recorded trace (dirtyspec run --record, or one an
// implementation wrote itself) against the spec and the no-loss property.
import { readFileSync } from 'node:fs';
import { TraceFormatError, checkTrace, parseTrace } from '../protocol/check-trace.ts';
import { UsageError, intFlag, parseFlags, type Io } from './args.ts';
import { DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS } from './run.ts';

export const CHECK_TRACE_HELP = `usage: dirtyspec check-trace FILE [--timeout MS]

Checks a trace (JSON lines: conformance/protocol/schema/trace.json), as written by
\`dirtyspec run --record FILE\` or by an implementation that cannot be driven live,
against the spec and the no-loss property: every recorded sequence is run again by the
conformance engine with the trace answering for the implementation.

  --timeout MS   time limit of one replayed operation (default ${DEFAULT_TIMEOUT_MS})
  -h, --help     this text

exit status: 0 the trace conforms, 1 a step violates the spec (its line is printed),
             2 the trace is malformed, truncated or does not describe a run the kit
               makes (the line is printed), or a usage error`;

export async function checkTraceCommand(argv: readonly string[], io: Io): Promise<number> {
  const file = argv[0] !== undefined && !argv[0].startsWith('-') ? argv[0] : undefined;
  const flags = parseFlags(file === undefined ? argv : argv.slice(1), { timeout: { type: 'string' } });
  if (flags.booleans.has('help')) {
    io.out(`${CHECK_TRACE_HELP}\n`);
    return 0;
  }
  if (file === undefined) throw new UsageError('check-trace needs the trace FILE as its first argument');
  const timeoutMs = intFlag(flags, 'timeout', 1, MAX_TIMEOUT_MS, DEFAULT_TIMEOUT_MS);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    io.err(`dirtyspec check-trace: cannot read ${file}: ${(e as Error).message}\n`);
    return 2;
  }
  let sections;
  try {
    sections = parseTrace(text);
  } catch (e) {
    if (!(e instanceof TraceFormatError)) throw e;
    io.out(`${file}:${e.line}: UNDECIDED: ${e.message}\n`);
    return 2;
  }
  const r = await checkTrace(sections, timeoutMs);
  const steps = (list: readonly { op: string; answer: string; expected: string }[]) =>
    list.map((s, i) => `    ${i + 1}. ${s.op}  -> implementation: ${s.answer}  | spec: ${s.expected}\n`).join('');
  switch (r.verdict) {
    case 'conforms':
      io.out(`${file}: conforms\n${r.sections.map((s) => `  ${s.profile} (${s.adapter}): ${s.sequences} sequences, ${s.calls} calls\n`).join('')}`);
      return 0;
    case 'does-not-conform':
      io.out(
        `${file}:${r.line}: DOES NOT CONFORM: sequence ${r.sequence} of profile ${r.profile}, the call on line ${r.line}\n` +
          `  violates ${r.violation.req.join(', ')} (${r.violation.kind})\n    expected: ${r.violation.expected}\n    got:      ${r.violation.actual}\n` +
          `  the sequence's steps:\n${steps(r.steps)}`,
      );
      return 1;
    case 'undecided':
      io.out(`${file}:${r.line}: UNDECIDED: ${r.message}\n${r.steps.length > 0 ? `  steps so far:\n${steps(r.steps)}` : ''}`);
      return 2;
  }
}
