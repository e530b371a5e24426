#!/usr/bin/env node
// The score of `npm run mutation`, per area and overall, from Stryker's JSON reports
// (reports/mutation/AREA.json) and docs/MUTATION.md, where each survivor is argued
// equivalent or named as a gap of the kit. Usage: node scripts/mutation-summary.js [AREA...]
//
// score = (killed + timed out + survivors argued equivalent) / (killed + timed out +
// survived + no coverage). Ignored mutants (a `// Stryker disable` comment), and those
// that did not compile or crashed the run before a verdict, count neither way, as in
// Stryker's own score. A survivor is matched to a line of docs/MUTATION.md by file, line,
// mutator and replacement:
//   - `impl/vfio/type1-container.ts:123` EqualityOperator `a <= b`: **equivalent** because ...
// A survivor with no such line is printed as unclassified; a line that matches no survivor
// as stale. A report is stale when the kit or the area's code changed since it was
// measured (reports/mutation/AREA.meta.json). Exit 1 when the overall score is below 90%
// (the acceptance of issue 11), 0 otherwise.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AREAS } from '../stryker/areas.mjs';
import { mutatedHash, testHash } from '../stryker/base.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const TARGET = 90;
const named = process.argv.slice(2);
const areas = named.length > 0 ? named : Object.keys(AREAS);

/** The survivor lines of docs/MUTATION.md. */
function classified() {
  const doc = join(root, 'docs', 'MUTATION.md');
  if (!existsSync(doc)) return [];
  const entries = [];
  for (const [i, line] of readFileSync(doc, 'utf8').split('\n').entries()) {
    const m = /^- `(impl\/[^`:]+):(\d+)` (\w+) `(.*?)`: \*\*(equivalent|gap)\*\*/.exec(line);
    if (m) entries.push({ file: m[1], line: Number(m[2]), mutator: m[3], replacement: m[4], verdict: m[5], docLine: i + 1, used: false });
  }
  return entries;
}

/** A replacement as docs/MUTATION.md writes it: one line, at most 60 characters. */
export function shortReplacement(text) {
  const one = text.replace(/\s+/g, ' ').replaceAll('`', "'");
  return one.length > 60 ? `${one.slice(0, 59)}…` : one;
}

const entries = classified();
const total = { killed: 0, timeout: 0, survived: 0, noCoverage: 0, equivalent: 0, gap: 0, unclassified: 0, other: 0 };
const rows = [];
const unclassified = [];
const missing = [];
for (const area of areas) {
  if (!(area in AREAS)) {
    console.error(`mutation-summary: unknown area ${area} (areas: ${Object.keys(AREAS).join(', ')})`);
    process.exit(2);
  }
  const file = join(root, 'reports', 'mutation', `${area}.json`);
  if (!existsSync(file)) {
    missing.push(area);
    continue;
  }
  const report = JSON.parse(readFileSync(file, 'utf8'));
  const metaFile = join(root, 'reports', 'mutation', `${area}.meta.json`);
  const meta = existsSync(metaFile) ? JSON.parse(readFileSync(metaFile, 'utf8')) : undefined;
  const stale = meta === undefined ? 'no record of what was measured' : meta.testHash !== testHash(area) ? 'the kit changed since' : meta.mutatedHash !== mutatedHash(area) ? "the area's code changed since" : '';
  const c = { killed: 0, timeout: 0, survived: 0, noCoverage: 0, equivalent: 0, gap: 0, unclassified: 0, other: 0 };
  for (const [path, f] of Object.entries(report.files)) {
    for (const m of f.mutants) {
      switch (m.status) {
        case 'Killed':
          c.killed++;
          break;
        case 'Timeout':
          c.timeout++;
          break;
        case 'Survived':
        case 'NoCoverage': {
          if (m.status === 'Survived') c.survived++;
          else c.noCoverage++;
          const rep = shortReplacement(m.replacement ?? '');
          const e = entries.find((x) => x.file === path && x.line === m.location.start.line && x.mutator === m.mutatorName && x.replacement === rep);
          if (e === undefined) {
            c.unclassified++;
            unclassified.push(`- \`${path}:${m.location.start.line}\` ${m.mutatorName} \`${rep}\``);
          } else {
            e.used = true;
            c[e.verdict]++;
          }
          break;
        }
        default:
          c.other++; // Ignored, CompileError, RuntimeError: neither way
      }
    }
  }
  for (const k of Object.keys(total)) total[k] += c[k];
  rows.push({ area, c, stale, when: meta?.finished ?? '?' });
}

const score = (c) => {
  const valid = c.killed + c.timeout + c.survived + c.noCoverage;
  return valid === 0 ? NaN : (100 * (c.killed + c.timeout + c.equivalent)) / valid;
};
const pct = (x) => (Number.isNaN(x) ? '  n/a' : `${x.toFixed(1)}%`);
console.log('\nmutation score of impl/ (the conformance suite as the test; survivors argued equivalent in docs/MUTATION.md count as killed)\n');
console.log('area             mutants  killed  timeout  survived  equivalent  gap  unclassified  score   measured');
for (const { area, c, stale, when } of rows) {
  const n = c.killed + c.timeout + c.survived + c.noCoverage;
  console.log(
    `${area.padEnd(16)} ${String(n).padStart(7)} ${String(c.killed).padStart(7)} ${String(c.timeout).padStart(8)} ${String(c.survived + c.noCoverage).padStart(9)} ${String(c.equivalent).padStart(11)} ${String(c.gap).padStart(4)} ${String(c.unclassified).padStart(13)}  ${pct(score(c)).padStart(6)}  ${when}${stale ? ` (STALE: ${stale})` : ''}`,
  );
}
for (const area of missing) console.log(`${area.padEnd(16)} not measured (npm run mutation -- ${area})`);
console.log(`\noverall: ${pct(score(total))} over ${rows.map((r) => r.area).join(', ') || 'no area'}${missing.length > 0 ? `; not measured: ${missing.join(', ')}` : ''} (target ${TARGET}%)`);
if (unclassified.length > 0) console.log(`\nsurvivors not in docs/MUTATION.md (argue each equivalent or name the gap):\n${unclassified.join('\n')}`);
const measuredFiles = new Set(rows.flatMap((r) => AREAS[r.area].mutate));
const staleEntries = entries.filter((e) => !e.used && measuredFiles.has(e.file));
if (staleEntries.length > 0) console.log(`\ndocs/MUTATION.md lines that match no survivor (killed now, or the code moved):\n${staleEntries.map((e) => `- line ${e.docLine}: ${e.file}:${e.line} ${e.mutator}`).join('\n')}`);
process.exit(score(total) >= TARGET ? 0 : 1);
