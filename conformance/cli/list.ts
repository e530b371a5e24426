// `dirtyspec list`: the profiles, every requirement with its text and source, and the
// mutant zoo.
import { PROFILES } from '../adapters/types.ts';
import { mutants } from '../mutants/index.ts';
import { requirements } from '../../spec/requirements.ts';
import { parseFlags, type Io } from './args.ts';

export const LIST_HELP = `usage: dirtyspec list

Lists the profiles, every requirement ID with its text and source, and the mutants
(name, bug class, profile, description).

  -h, --help   this text`;

export function listText(): string {
  const out: string[] = [`profiles (${PROFILES.length})`, ...PROFILES.map((p) => `  ${p}`), ''];
  const ids = Object.keys(requirements) as (keyof typeof requirements)[];
  const width = Math.max(...ids.map((id) => id.length));
  out.push(`requirements (${ids.length})`);
  for (const id of ids) {
    const r = requirements[id];
    out.push(`  ${id.padEnd(width)}  ${r.text}`, `  ${''.padEnd(width)}  source: ${r.source}`);
  }
  out.push('', `mutants (${mutants.length})`);
  const nameWidth = Math.max(0, ...mutants.map((m) => m.name.length));
  for (const m of mutants) {
    out.push(`  ${m.name.padEnd(nameWidth)}  class ${m.bugClass}  ${m.profile}`, `      ${m.description}`);
  }
  return `${out.join('\n')}\n`;
}

export function listCommand(argv: readonly string[], io: Io): number {
  const flags = parseFlags(argv, {});
  io.out(flags.booleans.has('help') ? `${LIST_HELP}\n` : listText());
  return 0;
}
