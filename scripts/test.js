#!/usr/bin/env node
// The test command (`npm test`): type-check, format and lint (`npm run check`) beside every *.test.ts under uvu with V8 coverage on,
// and c8's report with coverage thresholds on spec/ and impl/ (once the covered part has ended). uvu prints no summary line of the shape CI reads,
// so this prints one last: `N passed, N failed` (`, N skipped` when any were skipped).
// The type-check, the format and lint check and the coverage thresholds count as one test each.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { colourEnv, useColour, uvuColourArgs } from './colour.js';
import { partQueue } from './part-queue.js';
import { planParts } from './test-parts.js';
import { ensureSystemDeps, needsLater } from './system-deps.js';
import { testFiles, uvuArgs } from './test-files.js';

const root = fileURLToPath(new URL('..', import.meta.url));
// Colour only on a terminal and without NO_COLOR; the children (tsc, biome, c8, uvu) are told so.
const colour = useColour(process.stdout.isTTY, process.env);
const env = colourEnv(colour, process.env);
const bin = (name) => fileURLToPath(new URL(`../node_modules/.bin/${name}`, import.meta.url));

function run(cmd, args, { capture = false, echo = true, env: childEnv = env } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env: childEnv, stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'] });
    let out = '';
    if (capture) {
      child.stdout.on('data', (chunk) => {
        if (echo) process.stdout.write(chunk);
        out += chunk;
      });
    }
    child.on('close', (code) => resolve({ code: code ?? 1, out, pid: child.pid }));
  });
}

// What only some tests need (chromium) may still be installing when the tests start: the parts that need it wait for it (below).
const laterDeps = ensureSystemDeps();

let passed = 0;
let failed = 0;
let skipped = 0;

// The type-check and Biome (biome.json: the formatting and the lint rules) start beside the
// tests, not before them: together a few seconds of the machine's two cores, which the
// test runs below would otherwise wait for. Their output is held and printed before the tests'.
const checks = Promise.all([run(bin('tsc'), ['--noEmit', '-p', '.'], { capture: true, echo: false }), run('npm', ['run', '--silent', 'check'], { capture: true, echo: false })]);

// The tests run with V8 coverage on (NODE_V8_COVERAGE, as c8 would set it), then c8 reports
// from the test processes' own files. The processes and worker threads the tests start
// collect none (scripts/no-child-coverage.js takes the variable out of their environment):
// c8 12 merges their view of a module wrongly with the test process's (a file covered 100%
// in the test process fell to 39% merged), what they run the tests run in process too, and
// collecting it costs them half again their CPU. Two things are left out before c8 reads
// the files:
// - any file not written by a test process itself;
// - source-map entries that are not files: tsx loads a .ts module of a CommonJS package from
//   a data: URL, and c8 12 throws on any source-map key that is not a file URL.
const coverageDir = fileURLToPath(new URL('../coverage/tmp/', import.meta.url));
rmSync(coverageDir, { recursive: true, force: true });
mkdirSync(coverageDir, { recursive: true });
// The test files as uvu finds them (the same ignores), in parts run two at a time:
// the machines have two cores, and one uvu process runs its files one after another. Each
// part's output is printed whole, in order, once all have ended, so outputs never interleave.
//
// The parts are cut by weight (test-parts.js): the covered part, then parts that shrink as
// the run goes on, and the two runners take the next part left as each finishes: a stale
// weight costs at most part of a small part's time (in CI, fixed halves of equal weight took
// 220 s and 181 s; eight equal parts still left the runners up to 40 s apart). Each part
// costs one uvu process start.
// The weights: CPU seconds (user and system, the processes a file starts included) each
// file took alone, one after another, as this script runs it but without coverage, the
// files of 4 s or more; any file not listed weighs DEFAULT_WEIGHT, the mean of the others
// (more than 100 files). Measured with scripts/test-weights.js in a fresh clone, 2026-12-01, 11:20
// (every figure in one run, so on one scale). Run it again
// when a file's cost changes much: a stale weight costs part of one part's time.
const WEIGHTS = {
  'conformance/mutants/matrix.test.ts': 54,
  'conformance/lib/lib.test.ts': 49,
  'conformance/campaign/campaign.test.ts': 41,
  'conformance/engine/incremental-check.test.ts': 37,
  'conformance/examples/c/c-example.test.ts': 35,
  'conformance/campaign/hang.test.ts': 26,
  'conformance/package/pack.test.ts': 23,
  'conformance/protocol/exec.test.ts': 22,
  'conformance/cli/main.test.ts': 21,
  'conformance/protocol/crash-served.test.ts': 19,
  'conformance/engine/concurrency.test.ts': 15,
  'conformance/protocol/schema.test.ts': 13,
  'conformance/lib/lib-crash.test.ts': 12,
  'conformance/engine/refinement.test.ts': 12,
  'conformance/profiles/kvm-dirty-log/profile.test.ts': 12,
  'conformance/report/html.browser.test.ts': 11,
  'conformance/lib/kvm-ring.test.ts': 8,
  'conformance/profiles/dirty-ring-collector/profile.test.ts': 8,
  'conformance/protocol/trace.test.ts': 8,
  'conformance/profiles/kvm-dirty-ring/profile.test.ts': 7,
  'conformance/engine/vfio-type1-uapi.test.ts': 7,
  'conformance/profiles/kvm-dirty-log/uapi.test.ts': 5,
  'conformance/report/spec-doc.test.ts': 5,
  'conformance/engine/run-profile.test.ts': 5,
  'conformance/profiles/kvm-dirty-ring/signals.test.ts': 5,
  'conformance/examples/linux-upstream/linux-upstream.test.ts': 5,
  'conformance/protocol/crash-failure.test.ts': 4,
};
const DEFAULT_WEIGHT = 1.36;
const files = testFiles(root);
const weight = (f) => WEIGHTS[f] ?? DEFAULT_WEIGHT;
// Coverage is that of the tests of spec/, impl/, model/ and scripts/ (the unit tests: 98.4%
// of spec/ and impl/'s lines, 95.0% of branches, measured 2026-11-30); the conformance
// suites under conformance/ run without it, in parts of their own. They reach 1.4 points
// more of those lines, but precise coverage made their in-process runs take a fifth more
// CPU (matrix.test.ts 37 s against 31 s alone), and with it the 2-core CI run went over
// five minutes (303 s and 307 s in fresh clones).
const uncoveredFile = (f) => f.startsWith('conformance/');
// The covered part first, so that c8's report (which needs only it) runs beside the others;
// then parts that shrink as the run goes on, so that the two runners end close together (test-parts.js).
const ordered = planParts(files, weight, (f) => !uncoveredFile(f)).map((p) => ({ ...p, uncovered: !p.covered }));
const partFiles = ordered.map((p) => p.files);
const uvu = (names) => uvuArgs(names, uvuColourArgs(colour));
/** c8's report (output held) on the coverage files the test processes `pids` wrote: see above for what is left out. */
async function coverageReport(pids) {
  const testPids = pids.map((pid) => `coverage-${pid}-`);
  for (const f of readdirSync(coverageDir).filter((n) => n.endsWith('.json'))) {
    const path = join(coverageDir, f);
    if (!testPids.some((p) => f.startsWith(p))) {
      rmSync(path);
      continue;
    }
    const data = JSON.parse(readFileSync(path, 'utf8'));
    const cache = data['source-map-cache'];
    if (cache === undefined) continue;
    const files = Object.fromEntries(Object.entries(cache).filter(([url]) => url.startsWith('file:')));
    if (Object.keys(files).length !== Object.keys(cache).length) writeFileSync(path, JSON.stringify({ ...data, 'source-map-cache': files }));
  }
  return run(
    bin('c8'),
    [
      'report',
      '--temp-directory',
      coverageDir,
      '--all',
      '--check-coverage',
      '--lines',
      '90',
      '--branches',
      '85',
      '--include',
      'spec/**',
      '--include',
      'impl/**',
      '--exclude',
      '**/*.test.ts',
      '--reporter',
      'text-summary',
      '--reporter',
      'text',
      '--report-dir',
      'coverage',
    ],
    { capture: true, echo: false },
  );
}

const shards = new Array(partFiles.length);
const partSeconds = new Array(partFiles.length);
// c8's report starts as soon as the covered part has ended, beside the parts still running,
// instead of after the last of them: the coverage is that part's alone.
let coverage;
// A part with a browser test waits for the background install of chromium, if it is not there yet (part-queue.js).
const queue = partQueue(partFiles.length, (i) => partFiles[i].some(needsLater), laterDeps);
const runnerEnds = [];
async function runner() {
  for (let i = await queue.next(); i >= 0; i = await queue.next()) {
    const started = performance.now();
    shards[i] = await run(process.execPath, uvu(partFiles[i]), { capture: true, echo: false, env: ordered[i].uncovered ? env : { ...env, NODE_V8_COVERAGE: coverageDir } });
    partSeconds[i] = (performance.now() - started) / 1000;
    if (!ordered[i].uncovered) coverage = coverageReport([shards[i].pid]);
  }
  runnerEnds.push(performance.now());
}
const testRuns = Promise.all([runner(), runner()]);
const [tsc, check] = await checks;
process.stdout.write(tsc.out);
if (tsc.code === 0) passed++;
else {
  failed++;
  console.log('typecheck: FAILED (tsc --noEmit -p .)');
}
process.stdout.write(check.out);
if (check.code === 0) passed++;
else {
  failed++;
  console.log('check: FAILED (npm run check: format and lint; scripts/format-all.sh applies the formatting and the safe fixes)');
}
await testRuns;
for (const done of shards) process.stdout.write(done.out);
console.log(`test parts, two at a time: ${partSeconds.map((t, i) => `${t.toFixed(0)} s (${partFiles[i].length} files)`).join(', ')}; the runners ended ${((runnerEnds[1] - runnerEnds[0]) / 1000).toFixed(0)} s apart`);
const report = await (coverage ?? coverageReport([]));
process.stdout.write(report.out);
for (const tests of shards) {
  // eslint-disable-next-line no-control-regex
  const plain = tests.out.replace(/\x1b\[[0-9;]*m/g, '');
  const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? NaN);
  const ok = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? NaN);
  const skip = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  if (Number.isNaN(total) || Number.isNaN(ok)) {
    console.log('uvu: no summary found (a test file crashed before reporting)');
    failed++;
  } else {
    passed += ok;
    skipped += skip;
    failed += total - ok - skip;
  }
}
// c8 report exits non-zero when coverage is under the thresholds, or when it cannot report at all.
if (report.code !== 0) {
  failed++;
  console.log('coverage: FAILED (thresholds: 90% lines, 85% branches on spec/ and impl/; or c8 could not report)');
} else passed++;

console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 ? 1 : 0);
