// The dirtyspec command line. `run`, `mutants` and `list` arrive with the conformance
// engine; until then every command says so and exits 2 ("could not decide").
const USAGE = `usage: dirtyspec <command>

commands:
  run       run the conformance suite against an implementation
  mutants   run the suite against every mutant of the reference implementation
  list      list profiles, requirement IDs and mutants`;

export async function main(argv: readonly string[]): Promise<number> {
  const [command] = argv;
  if (command === undefined || command === '--help' || command === '-h') {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  console.error(`dirtyspec ${command}: not available yet in this version (the conformance engine is issue 3)`);
  return 2;
}
