// `dirtyspec spec`: writes the spec document (SPEC.md) generated from the machines and a
// reference run of the suite (spec-status.ts), or with --check compares the committed
// copy with a fresh one.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstDifference, specDocument } from '../report/spec-doc.ts';
import { parseFlags, stringFlag, type Io } from './args.ts';
import { STATUS_RUNS, STATUS_SEED, referenceStatusRun } from './spec-status.ts';

/** SPEC.md at the repository root, found from this module, not the working directory. */
export const DEFAULT_SPEC_PATH = fileURLToPath(new URL('../../SPEC.md', import.meta.url));

export const SPEC_HELP = `usage: dirtyspec spec [--out FILE] [--check]

Generates the spec document from the machines in spec/, the requirement catalogue, the
abstract operations' header comments and the [ID] tags of the tests: per machine a
Mermaid state diagram and a table of transitions, then the abstract operations and the
catalogue of every requirement with its source, tests and status in a reference run
(the suite against the reference implementation, seed ${STATUS_SEED}, ${STATUS_RUNS} runs per profile,
run by this command: a few seconds).

  --out FILE   where the document goes (default: SPEC.md at the repository root)
  --check      write nothing: exit 1 naming the first differing line if FILE is stale
  -h, --help   this text

exit status: 0 written (or up to date), 1 stale (--check), 2 a usage error`;

export async function specCommand(argv: readonly string[], io: Io): Promise<number> {
  const flags = parseFlags(argv, { out: { type: 'string' }, check: { type: 'boolean' } });
  if (flags.booleans.has('help')) {
    io.out(`${SPEC_HELP}\n`);
    return 0;
  }
  const given = stringFlag(flags, 'out');
  const path = given === undefined ? DEFAULT_SPEC_PATH : resolve(given);
  const doc = specDocument({ status: await referenceStatusRun() });
  if (flags.booleans.has('check')) {
    let committed: string;
    try {
      committed = readFileSync(path, 'utf8');
    } catch (e) {
      io.err(`dirtyspec spec: ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)}); run \`dirtyspec spec\` to generate it\n`);
      return 1;
    }
    const diff = firstDifference(doc, committed);
    if (diff === undefined) {
      io.out(`${path} is up to date\n`);
      return 0;
    }
    // A window of the two lines around the first column where they differ.
    let col = 0;
    while (diff.expected !== undefined && diff.actual !== undefined && col < diff.expected.length && diff.expected[col] === diff.actual[col]) col++;
    const from = Math.max(0, col - 60);
    const show = (l: string | undefined): string => (l === undefined ? '(end of file)' : `${from > 0 ? '…' : ''}${JSON.stringify(l.slice(from, from + 160))}${l.length > from + 160 ? '…' : ''}`);
    io.err(
      `dirtyspec spec: ${path} is stale: first difference at line ${diff.line}, column ${col + 1}\n` +
        `  expected: ${show(diff.expected)}\n` +
        `  found:    ${show(diff.actual)}\n` +
        `run \`dirtyspec spec${given === undefined ? '' : ` --out ${given}`}\` to regenerate it\n`,
    );
    return 1;
  }
  writeFileSync(path, doc);
  io.out(`wrote ${path} (${doc.split('\n').length - 1} lines, ${Buffer.byteLength(doc)} bytes)\n`);
  return 0;
}
