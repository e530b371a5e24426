#!/usr/bin/env node
// Measures the weights scripts/test.js balances its parts by: each test file run alone, one
// after another, as `npm test` runs it but without coverage, under /usr/bin/time (CPU
// seconds, user and system, of the file's process and every process it starts). Prints
// WEIGHTS (the files of 4 s or more) and DEFAULT_WEIGHT (the mean of the others) to paste
// into scripts/test.js. About 10 minutes on an idle 2-core machine; run it on one.
//   node scripts/test-weights.js [PATTERN]   (only files whose path contains PATTERN)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testFiles, uvuArgs } from './test-files.js';

const TIME = '/usr/bin/time';
if (!existsSync(TIME)) {
  console.error(`${TIME} is missing (Debian: apt-get install time): it measures the CPU of the processes a test starts`);
  process.exit(2);
}
const root = fileURLToPath(new URL('..', import.meta.url));
const filter = process.argv[2] ?? '';
const scratch = mkdtempSync(join(tmpdir(), 'dirtyspec-weights-'));
const out = join(scratch, 'time');
const rows = [];
for (const file of testFiles(root).filter((f) => f.includes(filter))) {
  const r = spawnSync(TIME, ['-f', '%e %U %S', '-o', out, process.execPath, ...uvuArgs([file])], { cwd: root, stdio: 'ignore' });
  const [wall, user, sys] = readFileSync(out, 'utf8').trim().split('\n').at(-1).split(' ').map(Number);
  const cpu = user + sys;
  rows.push({ file, cpu, wall });
  console.error(`${file}: ${cpu.toFixed(1)} s CPU, ${wall.toFixed(1)} s wall${r.status === 0 ? '' : ` (exit ${r.status}: a failing test; its weight is not that of a passing run)`}`);
}
rmSync(scratch, { recursive: true, force: true });
const heavy = rows.filter((r) => r.cpu >= 4).sort((a, b) => b.cpu - a.cpu);
const light = rows.filter((r) => r.cpu < 4);
console.log(`// measured ${new Date().toISOString().slice(0, 10)} by scripts/test-weights.js`);
console.log('const WEIGHTS = {');
for (const r of heavy) console.log(`  '${r.file}': ${Math.round(r.cpu)},`);
console.log('};');
console.log(`const DEFAULT_WEIGHT = ${light.length === 0 ? 1 : (light.reduce((a, r) => a + r.cpu, 0) / light.length).toFixed(2)};`);
