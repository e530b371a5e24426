// `dirtyspec check-trace FILE`: checks a recorded trace (dirtyspec run --record, or one an
// implementation wrote itself) against the spec and the no-loss property.
import { accessSync, constants } from 'node:fs';
import { checkTraceFile } from '../protocol/check-trace.ts';
import { printable } from '../protocol/printable.ts';
import { UsageError, intFlag, parseFlags, type Io } from './args.ts';
import { DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS } from './run.ts';

export const CHECK_TRACE_HELP = `usage: dirtyspec check-trace FILE [--timeout MS]

Checks a trace (JSON lines: conformance/protocol/schema/trace.json), as written by
\`dirtyspec run --record FILE\` or by an implementation that cannot be driven live,
against the spec and the no-loss property: every recorded sequence is run again by the
conformance engine with the trace answering for the implementation.

  --timeout MS   time limit of one replayed operation (default ${DEFAULT_TIMEOUT_MS})
  -h, --help     this text

exit status: 0 the trace conforms (every section whole: its sequences numbered 1..n
               and its end line), 1 a step violates the spec (its line is printed),
             2 the trace is malformed, truncated or does not describe a run the kit
               makes (the line is printed), or a usage error`;

/** FILE and the flags: FILE is the one argument that is not a flag or a flag's value (after `--`, anything). */
function splitArgs(argv: readonly string[]): { file: string | undefined; flags: string[] } {
  const flags: string[] = [];
  let file: string | undefined;
  const take = (a: string) => {
    if (file !== undefined) throw new UsageError(`check-trace takes one FILE, got ${JSON.stringify(file)} and ${JSON.stringify(a)}`);
    file = a;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      for (const rest of argv.slice(i + 1)) take(rest);
      break;
    }
    if (a === '--timeout') {
      flags.push(a, ...(argv[i + 1] === undefined ? [] : [argv[i + 1]!]));
      i++;
    } else if (a.startsWith('-')) flags.push(a);
    else take(a);
  }
  return { file, flags };
}

export async function checkTraceCommand(argv: readonly string[], io: Io): Promise<number> {
  const { file, flags: rest } = splitArgs(argv);
  const flags = parseFlags(rest, { timeout: { type: 'string' } });
  if (flags.booleans.has('help')) {
    io.out(`${CHECK_TRACE_HELP}\n`);
    return 0;
  }
  if (file === undefined) throw new UsageError('check-trace needs the trace FILE');
  const timeoutMs = intFlag(flags, 'timeout', 1, MAX_TIMEOUT_MS, DEFAULT_TIMEOUT_MS);
  try {
    accessSync(file, constants.R_OK);
  } catch (e) {
    io.err(`dirtyspec check-trace: cannot read ${file}: ${(e as Error).message}\n`);
    return 2;
  }
  const r = await checkTraceFile(file, timeoutMs);
  const steps = (list: readonly { op: string; answer: string; expected: string }[]) => list.map((s, i) => `    ${i + 1}. ${s.op}  -> implementation: ${s.answer}  | spec: ${s.expected}\n`).join('');
  switch (r.verdict) {
    case 'conforms':
      io.out(`${file}: conforms\n${r.sections.map((s) => `  ${s.profile} (${printable(s.adapter)}): ${s.sequences} sequences, ${s.calls} calls\n`).join('')}`);
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
