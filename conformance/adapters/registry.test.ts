// Adapter modules in every format ADAPTERS.md lists load, from a "type": "commonjs"
// package as `npm init -y` makes one: TypeScript with import/export (which Node alone
// would treat as CommonJS there), .mts, .cts, ES modules, and CommonJS in its three
// shapes (module.exports, exports.adapters, a transpiled exports.default).
//
// They load in a child process set up as bin/dirtyspec.js sets up a checkout's (tsx's
// ES module hooks only, no `--import tsx`): there a .ts file with `export` in a
// "commonjs" package went to Node's CommonJS loader and failed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AdapterLoadError, loadAdapters } from './registry.ts';

const dir = mkdtempSync(join(tmpdir(), 'dirtyspec-registry-'));
writeFileSync(join(dir, 'package.json'), '{ "name": "project", "version": "1.0.0", "type": "commonjs" }\n');

// An iova-bitmap adapter whose create refuses: enough to be an adapter, named after its file.
const adapter = (name: string) => `{ profile: 'iova-bitmap', name: '${name}', create: async () => -22 }`;
const modules: Record<string, string> = {
  'esm-syntax.ts': `import type {} from 'node:fs';\nconst helper = (): number => 1;\nexport default [${adapter('esm-syntax.ts')}].slice(0, helper());\n`,
  'typed.mts': `export const adapters = [${adapter('typed.mts')}];\n`,
  'common.cts': `module.exports = ${adapter('common.cts')};\n`,
  'plain.mjs': `export default ${adapter('plain.mjs')};\n`,
  'module-exports.js': `module.exports = [${adapter('module-exports.js')}];\n`,
  'named.cjs': `exports.adapters = [${adapter('named.cjs')}];\n`,
  'transpiled.js': `Object.defineProperty(exports, '__esModule', { value: true });\nexports.default = ${adapter('transpiled.js')};\n`,
};
for (const [file, text] of Object.entries(modules)) writeFileSync(join(dir, file), text);

test.after(() => rmSync(dir, { recursive: true, force: true }));

// Each file's adapters as `profile: name`, or the error loading it.
const child = `const { register } = await import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))});
register();
const { loadAdapters } = await import(${JSON.stringify(new URL('./registry.ts', import.meta.url).href)});
const out = {};
for (const file of ${JSON.stringify(Object.keys(modules))}) {
  try {
    out[file] = [...(await loadAdapters(${JSON.stringify(dir)} + '/' + file)).values()].map((a) => a.profile + ': ' + a.name);
  } catch (e) {
    out[file] = e.message;
  }
}
process.stdout.write(JSON.stringify(out));
`;
let loaded: Record<string, unknown> = {};
test.before(() => {
  writeFileSync(join(dir, 'load-all.mjs'), child);
  const r = spawnSync(process.execPath, [join(dir, 'load-all.mjs')], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`the loading process failed: ${r.status}\n${r.stderr}`);
  loaded = JSON.parse(r.stdout) as Record<string, unknown>;
});

for (const file of Object.keys(modules)) {
  test(`an adapter module ${file} in a "commonjs" package loads`, () => {
    assert.equal(loaded[file], [`iova-bitmap: ${file}`]);
  });
}

test('a module that exports no adapter is an AdapterLoadError naming what an adapter needs', async () => {
  writeFileSync(join(dir, 'empty.cjs'), 'module.exports = { something: 1 };\n');
  try {
    await loadAdapters(join(dir, 'empty.cjs'));
    assert.unreachable('loaded');
  } catch (e) {
    assert.instance(e, AdapterLoadError);
    assert.match((e as Error).message, /empty\.cjs: export default is not an adapter: it needs profile/);
  }
});

test('a TypeScript module with a syntax error is an AdapterLoadError, not a crash', async () => {
  writeFileSync(join(dir, 'broken.ts'), 'export default {\n');
  try {
    await loadAdapters(join(dir, 'broken.ts'));
    assert.unreachable('loaded');
  } catch (e) {
    assert.instance(e, AdapterLoadError);
    assert.match((e as Error).message, /broken\.ts: could not load the module/);
  }
});

test.run();
