// The Stryker config of one area of impl/ (stryker/areas.mjs): StrykerJS's command runner
// with the conformance suite as the test. A mutant is killed when `dirtyspec run` over the
// area's profiles exits non-zero (1: does not conform; 2: undecided, e.g. the mutant
// threw) or times out (a mutant that loops); it survives when the run conforms.
//
// The command is scripts/mutation-test.js AREA, which runs the kit compiled (see there).
//
// Tooling notes:
// - tsconfigFile names a file that does not exist, which turns off Stryker's tsconfig
//   preprocessor: it needs TypeScript's JavaScript API, which TypeScript 7 (native tsc)
//   does not have. No checker runs either: tsx strips types without checking them, so a
//   mutant that would not type-check still runs (and is killed or survives on behaviour).
// - The sandbox is a copy of the checkout under reports/mutation/tmp (reports/ is
//   ignored by git); the checkout itself is never mutated (no inPlace), since others work
//   in it at the same time.
// - Incremental mode is honest about staleness: the incremental file's name carries a
//   hash of everything the test depends on besides the mutated files (spec/, model/,
//   conformance/, the rest of impl/, bin/, the test script and its arguments), so a change to the kit starts the
//   area afresh; within the mutated files Stryker's own diff reuses the results of
//   mutants whose code and surroundings did not change. `npm run mutation -- --fresh`
//   ignores the cache.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AREAS, RUNS, SEED } from './areas.mjs';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** The arguments of `dirtyspec` that test an area. */
export function areaCommandArgs(area) {
  if (!(area in AREAS)) throw new Error(`mutation: unknown area ${area} (areas: ${Object.keys(AREAS).join(', ')})`);
  const { profiles } = AREAS[area];
  const runs = Number(process.env.MUTATION_RUNS ?? RUNS);
  // --workers 1: the machine is shared; Stryker's own concurrency is the parallelism.
  return ['run', ...profiles.flatMap((p) => ['--profile', p]), '--seed', String(SEED), '--runs', String(runs), '--workers', '1'];
}

/** Every `dirtyspec` run that tests an area, in order: the default one, then one per contract of the area (`--contract NAME`). */
export function areaRuns(area) {
  const base = areaCommandArgs(area);
  return [base, ...(AREAS[area].contracts ?? []).map((c) => [...base, '--contract', c])];
}

/** The command Stryker runs for each mutant of an area (scripts/mutation-test.js). */
export function areaCommand(area) {
  return `node scripts/mutation-test.js ${area}`;
}

function tsFiles(dir, out) {
  if (statSync(dir).isFile()) return [dir];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'node_modules' && name !== 'build') tsFiles(path, out);
    } else if (/\.(ts|js|mjs|json)$/.test(name) && !name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

/** A hash of what the test of an area depends on besides its mutated files. */
export function testHash(area) {
  const mutated = new Set(AREAS[area].mutate.map((f) => resolve(ROOT, f)));
  const files = ['spec', 'model', 'conformance', 'impl', 'bin', 'scripts/mutation-test.js', 'tsconfig.json', 'tsconfig.build.json']
    .flatMap((d) => tsFiles(join(ROOT, d), []))
    .filter((f) => !mutated.has(f))
    .sort();
  const h = createHash('sha256');
  h.update(
    areaRuns(area)
      .map((a) => a.join(' '))
      .join('\n'),
  );
  for (const f of files)
    h.update(`${relative(ROOT, f)}\0`)
      .update(readFileSync(f))
      .update('\0');
  return h.digest('hex').slice(0, 12);
}

/** A hash of the files an area mutates, as they are now. */
export function mutatedHash(area) {
  const h = createHash('sha256');
  for (const f of AREAS[area].mutate)
    h.update(`${f}\0`)
      .update(readFileSync(join(ROOT, f)))
      .update('\0');
  return h.digest('hex').slice(0, 12);
}

/** The Stryker options of one area. */
export function areaConfig(area) {
  if (!(area in AREAS)) throw new Error(`mutation: unknown area ${area} (areas: ${Object.keys(AREAS).join(', ')})`);
  const concurrency = Number(process.env.MUTATION_CONCURRENCY ?? 1);
  return {
    $schema: '../node_modules/@stryker-mutator/core/schema/stryker-schema.json',
    testRunner: 'command',
    commandRunner: { command: areaCommand(area) },
    coverageAnalysis: 'off',
    mutate: AREAS[area].mutate,
    checkers: [],
    // Message text and statistics, which no profile observes by design (see there).
    plugins: ['@stryker-mutator/*', join(ROOT, 'stryker', 'ignore-unobservable.mjs')],
    ignorers: ['unobservable'],
    tsconfigFile: 'stryker/no-tsconfig.json',
    disableTypeChecks: false,
    concurrency,
    // The conformance run's time varies with the load of a shared machine: generous.
    // The initial run also builds the compiled kit (scripts/mutation-test.js), which pads it.
    timeoutFactor: 2,
    timeoutMS: 15000,
    tempDirName: 'reports/mutation/tmp',
    cleanTempDir: true,
    ignorePatterns: ['/scratch', '/coverage', '/dist', '/docs', '/bench', '/reports', '/.c8-output', '*.tgz', 'conformance/examples/*/build'],
    incremental: true,
    incrementalFile: `reports/mutation/${area}.${testHash(area)}.incremental.json`,
    reporters: ['clear-text', 'progress-append-only', 'json', 'html'],
    jsonReporter: { fileName: `reports/mutation/${area}.json` },
    htmlReporter: { fileName: `reports/mutation/${area}.html` },
    clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
    thresholds: { high: 90, low: 80, break: null },
    fileLogLevel: 'off',
  };
}
