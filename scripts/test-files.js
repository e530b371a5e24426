// The test files and the uvu command line that runs some of them, as `npm test`
// (scripts/test.js) runs them and as scripts/test-weights.js times them.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { V8_FLAGS } from '../bin/v8-tuning.js';

const IGNORED = ['node_modules', 'scratch', 'coverage', 'dist', 'reports'];

/** Every *.test.ts under `dir` (paths relative to it), as uvu finds them with the ignores above, in name order. */
export function testFiles(dir, rel = '') {
  const found = readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const name = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.name.startsWith('.') || IGNORED.some((i) => name.includes(i))) return [];
    if (e.isDirectory()) return testFiles(join(dir, e.name), name);
    return /\.test\.ts$/.test(e.name) ? [name] : [];
  });
  return rel === '' ? found.sort() : found;
}

/** uvu's pattern for exactly these files. */
const only = (names) => `^(?:${names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`;

/** Node's arguments for one uvu process running `names` (paths relative to the repository), `extra` after uvu's own. */
export const uvuArgs = (names, extra = []) => [
  // V8 tuned as the command tunes it (bin/v8-tuning.js): the test processes run the same engine.
  ...V8_FLAGS,
  '--import',
  'tsx',
  '--import',
  fileURLToPath(new URL('./no-child-coverage.js', import.meta.url)),
  // The processes the tests fork (bin/dirtyspec.js) start without these loaders (no-child-loader.js).
  '--import',
  fileURLToPath(new URL('./no-child-loader.js', import.meta.url)),
  fileURLToPath(new URL('../node_modules/uvu/bin.js', import.meta.url)),
  '.',
  only(names),
  '-i',
  'node_modules',
  ...extra,
];
