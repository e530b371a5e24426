#!/usr/bin/env node
// The test command (`npm test`): type-check, format and lint (`npm run check`), then every *.test.ts under uvu inside c8 with
// coverage thresholds on spec/ and impl/. uvu prints no summary line of the shape CI reads,
// so this prints one last: `N passed, N failed` (`, N skipped` when any were skipped).
// The type-check, the format and lint check and the coverage thresholds count as one test each.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { colourEnv, useColour, uvuColourArgs } from './colour.js';
import { ensureSystemDeps } from './system-deps.js';

const root = fileURLToPath(new URL('..', import.meta.url));
// Colour only on a terminal and without NO_COLOR; the children (tsc, biome, c8, uvu) are told so.
const colour = useColour(process.stdout.isTTY, process.env);
const env = colourEnv(colour, process.env);
const bin = (name) => fileURLToPath(new URL(`../node_modules/.bin/${name}`, import.meta.url));

function run(cmd, args, { capture = false } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'] });
    let out = '';
    if (capture) {
      child.stdout.on('data', (chunk) => {
        process.stdout.write(chunk);
        out += chunk;
      });
    }
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

ensureSystemDeps();

let passed = 0;
let failed = 0;
let skipped = 0;

const tsc = await run(bin('tsc'), ['--noEmit', '-p', '.']);
if (tsc.code === 0) passed++;
else {
  failed++;
  console.log('typecheck: FAILED (tsc --noEmit -p .)');
}

// Biome (biome.json): the formatting and the lint rules; `npm run check` says what differs.
const check = await run('npm', ['run', '--silent', 'check']);
if (check.code === 0) passed++;
else {
  failed++;
  console.log('check: FAILED (npm run check: format and lint; scripts/format-all.sh applies the formatting and the safe fixes)');
}

const c8 = ['--all', '--check-coverage', '--lines', '90', '--branches', '85', '--include', 'spec/**', '--include', 'impl/**', '--exclude', '**/*.test.ts', '--reporter', 'text-summary', '--reporter', 'text', '--report-dir', 'coverage'];
const uvu = [process.execPath, '--import', 'tsx', fileURLToPath(new URL('../node_modules/uvu/bin.js', import.meta.url)), '.', '\\.test\\.ts$', '-i', 'node_modules', '-i', 'scratch', '-i', 'coverage', ...uvuColourArgs(colour)];
const tests = await run(bin('c8'), [...c8, ...uvu], { capture: true });
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
  // uvu exits 1 on test failures; c8 exits 1 when coverage is under the thresholds.
  const coverageFailed = /ERROR: Coverage for .* does not meet/.test(plain) || (tests.code !== 0 && total - ok - skip === 0);
  if (coverageFailed) {
    failed++;
    console.log('coverage: FAILED (thresholds: 90% lines, 85% branches on spec/ and impl/)');
  } else passed++;
}

console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 ? 1 : 0);
