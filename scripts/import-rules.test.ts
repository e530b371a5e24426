import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkImportRules, checkReference, EXCEPTIONS, type Exceptions, formatViolation, moduleReferences, RULES } from './import-rules.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A throwaway repository: path -> contents; returns its root. The caller removes it. */
function fakeTree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'import-rules-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

function violationsIn(files: Record<string, string>, exceptions: Exceptions = {}): { lines: string[]; unused: readonly string[] } {
  const root = fakeTree(files);
  try {
    const r = checkImportRules(root, exceptions);
    return { lines: r.violations.map(formatViolation), unused: r.unusedExceptions };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('the repository follows the import rules (spec/, model/, impl/, conformance/)', () => {
  const r = checkImportRules(ROOT);
  assert.ok(r.files > 100 && r.references > 300, `read ${r.files} files and ${r.references} references: the walk missed the tree`);
  assert.ok(r.violations.length === 0, `imports that break the layering rules:\n${r.violations.map(formatViolation).join('\n')}`);
  assert.equal(r.unusedExceptions, [], 'exceptions in scripts/import-rules.ts EXCEPTIONS that nothing needs any more: remove them');
});

test('a violating import fails, naming the file, the line and the rule', () => {
  const { lines } = violationsIn({
    'spec/a.ts': 'export const a = 1;\n',
    'impl/b.ts': "// impl code\nimport { x } from './c.ts';\nimport { a } from '../spec/a.ts';\nexport const b = a + x;\n",
    'impl/c.ts': 'export const x = 1;\n',
  });
  assert.equal(lines, [`impl/b.ts:3: imports '../spec/a.ts' (spec/a.ts): ${RULES.impl.text}`]);
});

test('every folder rule: spec/ imports nothing else, model/ spec/ only, impl/ none of the others', () => {
  const { lines } = violationsIn({
    'spec/s.ts': "import { m } from '../model/m.ts';\nimport '../bench/b.ts';\n",
    'model/m.ts': "import { s } from '../spec/s.ts';\nexport type C = typeof import('../conformance/c.ts');\n",
    'model/n.ts': "export const load = () => import('../impl/i.ts');\n",
    'impl/i.ts': "export * from '../model/m.ts';\n",
    'conformance/c.ts': "import { m } from '../model/m.ts';\nimport { s } from '../spec/s.ts';\n",
  });
  assert.equal(lines.sort(), [
    `impl/i.ts:1: imports '../model/m.ts' (model/m.ts): ${RULES.impl.text}`,
    `model/m.ts:2: imports '../conformance/c.ts' (conformance/c.ts): ${RULES.model.text}`,
    `model/n.ts:1: imports '../impl/i.ts' (impl/i.ts): ${RULES.model.text}`,
    `spec/s.ts:1: imports '../model/m.ts' (model/m.ts): ${RULES.spec.text}`,
    `spec/s.ts:2: imports '../bench/b.ts' (bench/b.ts): ${RULES.spec.text}`,
  ]);
});

test('conformance/ reaches impl/ only through the reference adapter and the mutants, tests included', () => {
  const { lines } = violationsIn({
    'impl/smmu.ts': 'export class Smmu {}\n',
    'conformance/adapters/reference.ts': "import { Smmu } from '../../impl/smmu.ts';\n",
    'conformance/mutants/smmu-mutants.ts': "import { Smmu } from '../../impl/smmu.ts';\n",
    'conformance/mutants/mutants.test.ts': "import { Smmu } from '../../impl/smmu.ts';\n",
    'conformance/adapters/registry.ts': "import { reference } from './reference.ts';\nimport { Smmu } from '../../impl/smmu.ts';\n",
    'conformance/engine/run.test.ts': "const { Smmu } = await import('../../impl/smmu.ts');\n",
  });
  assert.equal(lines.sort(), [
    `conformance/adapters/registry.ts:2: imports '../../impl/smmu.ts' (impl/smmu.ts): ${RULES.conformance.text}`,
    `conformance/engine/run.test.ts:1: imports '../../impl/smmu.ts' (impl/smmu.ts): ${RULES.conformance.text}`,
  ]);
});

test("impl/'s tests may use spec/ as the oracle, but never model/ or conformance/", () => {
  const { lines } = violationsIn({
    'impl/x.test.ts': "import { encode } from '../spec/encoding.ts';\nimport { ghost } from '../model/ghost.ts';\nimport { run } from '../conformance/run.ts';\n",
    'impl/x.ts': "import { encode } from '../spec/encoding.ts';\n",
  });
  assert.equal(lines.sort(), [
    `impl/x.test.ts:2: imports '../model/ghost.ts' (model/ghost.ts): ${RULES.impl.text}`,
    `impl/x.test.ts:3: imports '../conformance/run.ts' (conformance/run.ts): ${RULES.impl.text}`,
    `impl/x.ts:1: imports '../spec/encoding.ts' (spec/encoding.ts): ${RULES.impl.text}`,
  ]);
});

test('an exception lets one file past its rule, and an exception nothing needs is reported', () => {
  const exceptions: Exceptions = {
    'model/m.test.ts': { may: ['impl'], why: 'drives the reference' },
    'model/gone.test.ts': { may: ['impl'], why: 'no longer exists' },
  };
  const r = violationsIn({ 'model/m.test.ts': "import { c } from '../impl/c.ts';\n", 'model/n.test.ts': "import { c } from '../impl/c.ts';\n" }, exceptions);
  assert.equal(r.lines, [`model/n.test.ts:1: imports '../impl/c.ts' (impl/c.ts): ${RULES.model.text}`]);
  assert.equal(r.unused, ['model/gone.test.ts']);
});

test('every exception in the repository says why', () => {
  for (const [file, e] of Object.entries(EXCEPTIONS)) assert.ok(e.why.length > 20 && e.may.length > 0, file);
});

test('a self-reference by package name is checked where package.json "exports" resolves it, under every condition', () => {
  const pkg = {
    name: 'kit',
    exports: { '.': { source: './conformance/api.ts', default: './dist/conformance/api.js' }, './impl/*': './impl/*.ts', './model': { default: './dist/model/index.js' } },
  };
  const { lines } = violationsIn({
    'package.json': JSON.stringify(pkg),
    'conformance/examples/adapter.ts': "import { run } from 'kit';\n",
    'spec/s.ts': "import { run } from 'kit';\n",
    'model/m.ts': "import { x } from 'kit/impl/smmu';\n",
    'impl/i.ts': "import { y } from 'kit/model';\nimport { z } from 'kit/missing';\n",
  });
  assert.equal(lines.sort(), [
    `impl/i.ts:1: imports 'kit/model' (./dist/model/index.js by package.json): ${RULES.impl.text}`,
    `impl/i.ts:2: imports 'kit/missing' (not in package.json "exports"/"imports"): ${RULES.impl.text}; a self-reference must resolve through package.json`,
    `model/m.ts:1: imports 'kit/impl/smmu' (./impl/smmu.ts by package.json): ${RULES.model.text}`,
    `spec/s.ts:1: imports 'kit' (./conformance/api.ts by package.json): ${RULES.spec.text}`,
  ]);
});

test('packages and node: builtins are outside the rules; a path out of the repository or an absolute one is not', () => {
  assert.equal(checkReference('spec/a.ts', 'xstate', undefined).rule, undefined);
  assert.equal(checkReference('impl/a.ts', 'node:fs', undefined).rule, undefined);
  assert.equal(checkReference('bench/a.ts', '../impl/x.ts', undefined).rule, undefined);
  assert.equal(checkReference('impl/a.ts', '../../elsewhere/x.ts', undefined).target, 'outside the repository');
  assert.equal(checkReference('impl/a.ts', '/work/spec/x.ts', undefined).target, 'an absolute path or URL');
  assert.equal(checkReference('impl/a.ts', 'file:///work/spec/x.ts', undefined).target, 'an absolute path or URL');
});

test('moduleReferences finds every import form, at the line of its specifier', () => {
  const src = [
    "import fc from 'fast-check';", // 1
    "import type { A } from './a.ts';", // 2
    "import './side-effect.ts';", // 3
    'import {', // 4
    '  b,', // 5
    '  type C,', // 6
    "} from './multi-line.ts';", // 7
    "import * as ns from './ns.ts';", // 8
    "export { d } from './d.ts';", // 9
    "export * from './star.ts';", // 10
    "export * as e from './e.ts';", // 11
    "export type { F } from './f.ts';", // 12
    "const g = await import('./g.ts');", // 13
    "type H = typeof import('./h.ts');", // 14
    'const i = await import(`./i.ts`);', // 15
    "import j = require('./j.ts');", // 16
    "import def, { k } from './k.ts';", // 17
    "const l = await import('./l.ts', { with: { type: 'json' } });", // 18
    '/// <reference path="./m.d.ts" />', // 19
  ].join('\n');
  assert.equal(
    moduleReferences(src).map((r) => `${r.line} ${r.form} ${r.specifier}`),
    [
      '1 import fast-check',
      '2 import ./a.ts',
      '3 import ./side-effect.ts',
      '7 import ./multi-line.ts',
      '8 import ./ns.ts',
      '9 export ./d.ts',
      '10 export ./star.ts',
      '11 export ./e.ts',
      '12 export ./f.ts',
      '13 import() ./g.ts',
      '14 import() ./h.ts',
      '15 import() ./i.ts',
      '16 require ./j.ts',
      '17 import ./k.ts',
      '18 import() ./l.ts',
      '19 /// <reference> ./m.d.ts',
    ],
  );
});

test('moduleReferences skips comments, strings, template text, regular expressions and non-imports', () => {
  const src = [
    "// import a from '../spec/a.ts';",
    "/* import('../spec/b.ts')",
    "   export * from '../spec/c.ts' */",
    'const s = "import d from \'../spec/d.ts\'";',
    "const t = 'export * from \\'../spec/e.ts\\'';",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: source text holding a template literal, as the tokenizer reads it
    "const u = `import('../spec/f.ts') ${s} import g from '../spec/g.ts'`;",
    "const r = /import\\('..\\/spec\\/h.ts'\\)/g;",
    "const q = s.length / 2; const w = /from '..\\/spec\\/i.ts'/;",
    "obj.import('../spec/j.ts');",
    'const m = import.meta.url;',
    'const n = await import(m);',
    "export const from = 'x'; export { from };",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: source text holding a template literal, as the tokenizer reads it
    "const v = `${await import('./real.ts')}`;",
  ].join('\n');
  assert.equal(
    moduleReferences(src).map((r) => `${r.line} ${r.specifier}`),
    ['13 ./real.ts'],
  );
});

test('moduleReferences keeps line numbers through multi-line comments, strings and templates', () => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: source text holding a template literal, as the tokenizer reads it
  const src = ['/*', ' * a', ' */', 'const t = `', '${1}', '`;', "const s = 'a\\", "b';", "import x from './x.ts';"].join('\n');
  assert.equal(moduleReferences(src), [{ specifier: './x.ts', line: 9, form: 'import' }]);
});

test.run();
