#!/usr/bin/env node
// `npm run build` (and `npm pack` / `npm publish`, through prepack): the package's
// JavaScript and type declarations in dist/, so an installed kit runs without a
// TypeScript loader and a user's project type-checks against it with default settings.
//  1. tsc -p tsconfig.build.json: everything but tests and test fixtures; relative `.ts`
//     imports become `.js` (rewriteRelativeImportExtensions).
//  2. tsc leaves `.ts` in the declarations' import paths; they become `.js`, which every
//     moduleResolution setting finds (node16, nodenext, bundler), with no
//     allowImportingTsExtensions needed in the user's project.
//  3. The files the code reaches by a path relative to itself: the protocol's JSON Schemas,
//     and bin/dirtyspec.js with the module it imports as dist/bin/ (conformance/lib forks
//     `../../bin/dirtyspec.js`).
//  4. dist/.source-stamp: the stamp of the sources it was built from (scripts/source-stamp.js),
//     so that bin/dirtyspec.js in a checkout runs dist/ only while it matches the sources.
//  5. The command and its worker threads as one file each (scripts/bundle.js: esbuild),
//     which bin/dirtyspec.js and the campaign pool start instead of the module tree.
// It builds into dist.new/ and then puts that in dist/'s place, so that a dirtyspec already
// running from dist/ (the tests run the command while pack.test.ts packs) never finds it
// half built: at every moment dist/ is the old build whole, the new one whole, or absent.
import { spawnSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleEntries } from './bundle.js';
import { sourceStamp } from './source-stamp.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const final = join(root, 'dist');
const dist = join(root, 'dist.new');
const tsc = join(root, 'node_modules', '.bin', 'tsc');

const stamp = sourceStamp(root);
rmSync(dist, { recursive: true, force: true });
const built = spawnSync(tsc, ['-p', join(root, 'tsconfig.build.json'), '--outDir', dist], { stdio: 'inherit' });
if (built.status !== 0) {
  rmSync(dist, { recursive: true, force: true });
  console.error(`build: tsc -p tsconfig.build.json failed (${built.error?.message ?? `exit status ${built.status}`})`);
  // Installing a checkout (npm ci / npm install run prepare) must not fail for a type error
  // in the sources: without a current dist/ the command runs them through tsx, and npm test
  // reports the type-check. A pack or publish must fail: it would ship no dist/.
  if (process.env.npm_command === 'ci' || process.env.npm_command === 'install') {
    console.error('build: dist/ not built; bin/dirtyspec.js runs the TypeScript sources instead');
    process.exit(0);
  }
  process.exit(1);
}

// `from './x.ts'`, `import('./x.ts')` and `export * from '../y.ts'`: relative specifiers only.
const TS_SPECIFIER = /((?:from|import)\s*\(?\s*)(['"])(\.\.?\/[^'"]*?)\.(m?)ts\2/g;
let declarations = 0;
for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue;
  const file = join(entry.parentPath ?? entry.path, entry.name);
  const text = readFileSync(file, 'utf8');
  const fixed = text.replace(TS_SPECIFIER, (_all, lead, quote, path, m) => `${lead}${quote}${path}.${m}js${quote}`);
  if (fixed !== text) writeFileSync(file, fixed);
  declarations++;
}

cpSync(join(root, 'conformance', 'protocol', 'schema'), join(dist, 'conformance', 'protocol', 'schema'), { recursive: true });
cpSync(join(root, 'bin', 'dirtyspec.js'), join(dist, 'bin', 'dirtyspec.js'));
cpSync(join(root, 'bin', 'v8-tuning.js'), join(dist, 'bin', 'v8-tuning.js'));
const bundled = await bundleEntries(dist);
writeFileSync(join(dist, '.source-stamp'), `${stamp}\n`);
const old = join(root, `dist.old-${process.pid}`);
try {
  renameSync(final, old);
} catch (e) {
  if (e.code !== 'ENOENT') throw e;
}
renameSync(dist, final);
rmSync(old, { recursive: true, force: true });
console.log(`build: dist/ (${declarations} declaration files), the protocol schemas and bin/ copied, ${bundled}`);
