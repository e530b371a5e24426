// The dirtyspec command line: `run`, `merge`, `mutants`, `list`, `spec`, `check-trace`, and `--help` for each.
// Exit status: 0 conforms (or all mutants killed), 1 does not conform (or a mutant
// survived), 2 undecided or a usage / adapter-load error.
import { AdapterLoadError } from '../adapters/registry.ts';
import { MERGE_HELP, mergeCommand } from '../campaign/merge-command.ts';
import { UsageError, processIo, type Io } from './args.ts';
import { CHECK_TRACE_HELP, checkTraceCommand } from './check-trace.ts';
import { LIST_HELP, listCommand } from './list.ts';
import { MUTANTS_HELP, mutantsCommand } from './mutants.ts';
import { RUN_HELP, runCommand } from './run.ts';
import { SPEC_HELP, specCommand } from './spec.ts';

export const USAGE = `usage: dirtyspec <command> [flags]

commands:
  run       run the conformance suite against an implementation
  merge     combine the --json reports of a campaign's shards (run --shard) into one report
  mutants   run the suite against every mutant of the reference implementation
  list      list profiles, requirement IDs and mutants
  spec      generate the spec document (SPEC.md) from the machines, or --check it
  check-trace  check a recorded trace (run --record) against the spec
  help      this text, or \`dirtyspec help <command>\`

\`dirtyspec <command> --help\` describes a command's flags.
exit status: 0 conforms, 1 does not conform, 2 undecided or a usage error`;

const COMMANDS: Record<string, { help: string; run: (argv: readonly string[], io: Io) => number | Promise<number> }> = {
  run: { help: RUN_HELP, run: runCommand },
  merge: { help: MERGE_HELP, run: mergeCommand },
  mutants: { help: MUTANTS_HELP, run: mutantsCommand },
  list: { help: LIST_HELP, run: listCommand },
  spec: { help: SPEC_HELP, run: specCommand },
  'check-trace': { help: CHECK_TRACE_HELP, run: checkTraceCommand },
};

export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    io.err(`${USAGE}\n`);
    return 2;
  }
  if (command === '--help' || command === '-h') {
    io.out(`${USAGE}\n`);
    return 0;
  }
  if (command === 'help') {
    const [topic, ...extra] = rest;
    const entry = topic === undefined ? undefined : Object.hasOwn(COMMANDS, topic) ? COMMANDS[topic] : undefined;
    if (extra.length > 0 || (topic !== undefined && entry === undefined)) {
      io.err(`dirtyspec help: no command ${JSON.stringify(rest.join(' '))}; commands: ${Object.keys(COMMANDS).join(', ')}\n`);
      return 2;
    }
    io.out(`${entry?.help ?? USAGE}\n`);
    return 0;
  }
  if (!Object.hasOwn(COMMANDS, command)) {
    io.err(`dirtyspec: unknown command ${JSON.stringify(command)}; commands: ${Object.keys(COMMANDS).join(', ')} (dirtyspec --help)\n`);
    return 2;
  }
  try {
    return await COMMANDS[command]!.run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`dirtyspec ${command}: ${e.message}\n(dirtyspec ${command} --help lists the flags)\n`);
      return 2;
    }
    if (e instanceof AdapterLoadError) {
      io.err(`dirtyspec ${command}: ${e.message}\n`);
      return 2;
    }
    // Anything else is a bug in dirtyspec: say so in one line, the stack only on request.
    const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    io.err(`dirtyspec ${command}: internal error: ${message}${process.env.DIRTYSPEC_DEBUG ? '' : ' (DIRTYSPEC_DEBUG=1 prints the stack)'}\n`);
    if (process.env.DIRTYSPEC_DEBUG && e instanceof Error && e.stack !== undefined) io.err(`${e.stack}\n`);
    return 2;
  }
}
