#!/usr/bin/env node
// The test of `npm run mutation`: Stryker's command runner runs `node
// scripts/mutation-test.js AREA` in its sandbox once for the initial run and once per
// mutant (the mutant chosen by __STRYKER_ACTIVE_MUTANT__, read by the instrumented code).
// It is the conformance suite, `dirtyspec run` over the profiles that exercise the area
// (stryker/areas.mjs) with a fixed seed and run count; exit 0 (conforms) is a surviving
// mutant, anything else kills it.
//
// Speed: in a Stryker sandbox the kit runs compiled, as the installed package does (dist/,
// tsc --noCheck: an instrumented file need not type-check), built once by the initial run,
// since every mutant runs the same instrumented sources. That halves the CPU time of a
// mutant against loading the TypeScript sources through tsx each time (measured on
// iova-bitmap, 300 runs: 1.2 s against 2.3 s). Outside a sandbox (a manual check of the
// command in the checkout), it runs bin/dirtyspec.js on the sources and builds nothing.
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join, sep } from 'node:path';
import { areaRuns } from '../stryker/base.mjs';

// MUTATION_LOG=FILE: one line per run, `MUTANT_ID EXIT_STATUS MILLISECONDS` (0 survived, 1 or 2
// killed; a mutant Stryker times out leaves no line), so survivors can be read while the
// area still runs (Stryker writes its report only at the end); the IDs are the report's.
if (process.env.MUTATION_LOG) {
  const started = Date.now();
  process.on('exit', (code) => appendFileSync(process.env.MUTATION_LOG, `${process.env.__STRYKER_ACTIVE_MUTANT__ ?? 'initial'} ${code} ${Date.now() - started}\n`));
}

const area = process.argv[2];
if (area === undefined) {
  console.error('usage: node scripts/mutation-test.js AREA');
  process.exit(2);
}
// The default run, then one per contract of the area: the first that does not conform kills the mutant.
const runs = areaRuns(area);
const root = process.cwd();
const inSandbox = root.includes(`${sep}reports${sep}mutation${sep}tmp${sep}sandbox`);

if (!inSandbox) {
  for (const args of runs) {
    const r = spawnSync(process.execPath, [join(root, 'bin', 'dirtyspec.js'), ...args], { stdio: 'inherit' });
    if (r.status !== 0) process.exit(r.status ?? 2);
  }
  process.exit(0);
}

const dist = join(root, 'dist');
const entry = join(dist, 'conformance', 'cli', 'main.js');
if (!existsSync(entry)) {
  // Built aside and renamed into place, so that a second runner never sees half a build.
  const tmp = join(root, `dist.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  const tsc = join(root, 'node_modules', '.bin', 'tsc');
  const built = spawnSync(tsc, ['-p', 'tsconfig.build.json', '--outDir', tmp, '--noCheck', '--declaration', 'false'], { stdio: 'inherit' });
  if (built.status !== 0 || !existsSync(join(tmp, 'conformance', 'cli', 'main.js'))) {
    console.error(`mutation-test: tsc -p tsconfig.build.json --noCheck failed (${built.error?.message ?? `exit status ${built.status}`})`);
    process.exit(2);
  }
  // What the compiled kit reaches by a path relative to itself (as scripts/build.js copies).
  cpSync(join(root, 'conformance', 'protocol', 'schema'), join(tmp, 'conformance', 'protocol', 'schema'), { recursive: true });
  mkdirSync(join(tmp, 'bin'), { recursive: true });
  cpSync(join(root, 'bin', 'dirtyspec.js'), join(tmp, 'bin', 'dirtyspec.js'));
  try {
    renameSync(tmp, dist);
  } catch (e) {
    if (!existsSync(entry)) throw e;
    rmSync(tmp, { recursive: true, force: true }); // another runner built it first
  }
}
const { main } = await import(new URL(`file://${entry}`).href);
for (const args of runs) {
  const status = await main(args);
  if (status !== 0) {
    process.exitCode = status;
    break;
  }
}
