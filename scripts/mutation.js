#!/usr/bin/env node
// `npm run mutation [-- AREA...] [-- --fresh]`: automatic mutation testing of impl/ with
// the conformance suite as the test (issue 11). For each area of stryker/areas.mjs in turn
// (or the areas named), StrykerJS with the command runner (stryker/AREA.conf.mjs), then
// the summary (scripts/mutation-summary.js): per area and overall, the score with the
// survivors that docs/MUTATION.md argues equivalent counted as killed.
//
// Not part of `npm test` or CI: a full run is about 1,700 mutants, each a conformance run
// (minutes to hours on a shared 2-core machine; MUTATION_CONCURRENCY=N runs N at once).
// Reports: reports/mutation/AREA.json and .html; a record of what was measured in
// AREA.meta.json, by which the summary says when a report is stale.
// --fresh: ignore the incremental cache (stryker --force).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AREAS } from '../stryker/areas.mjs';
import { areaRuns, mutatedHash, testHash } from '../stryker/base.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const argv = process.argv.slice(2);
const fresh = argv.includes('--fresh');
const named = argv.filter((a) => a !== '--fresh');
for (const a of named) {
  if (!(a in AREAS)) {
    console.error(`mutation: unknown area ${a} (areas: ${Object.keys(AREAS).join(', ')}; option: --fresh)`);
    process.exit(2);
  }
}
const areas = named.length > 0 ? named : Object.keys(AREAS);

mkdirSync(join(root, 'reports', 'mutation'), { recursive: true });
let failed = false;
for (const area of areas) {
  console.log(
    `\nmutation: ${area}: ${AREAS[area].mutate.join(', ')} against ${areaRuns(area)
      .map((a) => `dirtyspec ${a.join(' ')}`)
      .join('; ')}`,
  );
  const meta = { area, started: new Date().toISOString(), testHash: testHash(area), mutatedHash: mutatedHash(area), args: areaRuns(area) };
  const stryker = join(root, 'node_modules', '@stryker-mutator', 'core', 'bin', 'stryker.js');
  const r = spawnSync(process.execPath, [stryker, 'run', `stryker/${area}.conf.mjs`, ...(fresh ? ['--force'] : [])], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`mutation: ${area}: stryker failed (${r.error?.message ?? `exit status ${r.status}`})`);
    failed = true;
    continue;
  }
  // The sources as measured: if they changed during the run, the report is already stale.
  writeFileSync(join(root, 'reports', 'mutation', `${area}.meta.json`), `${JSON.stringify({ ...meta, finished: new Date().toISOString() }, null, 2)}\n`);
}
const summary = spawnSync(process.execPath, [join(root, 'scripts', 'mutation-summary.js'), ...areas], { cwd: root, stdio: 'inherit' });
process.exit(failed ? 2 : (summary.status ?? 2));
