// Module-level mutable state in the engine and the model (issue 10), found on the source.
// conformance/engine/concurrency.test.ts shows what it would break: runs at once in one
// process must report what they report alone.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Allowances, checkModuleState, EXPECTED, formatFinding } from './module-state.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The findings in a throwaway tree (path -> contents), as `file: name: what`. */
function findingsIn(files: Record<string, string>, allowances: Allowances = {}) {
  const root = mkdtempSync(join(tmpdir(), 'module-state-'));
  try {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    const r = checkModuleState(root, allowances);
    return { found: r.findings.map((f) => `${f.file}: ${f.name}: ${f.what}`), allowed: r.allowed.map((f) => `${f.file}: ${f.name}`), unused: r.unusedAllowances };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('the engine and the model hold no module-level mutable state but the reviewed memos (EXPECTED)', () => {
  const r = checkModuleState(ROOT, EXPECTED);
  assert.ok(r.modules > 50 && r.importers > 200, `read ${r.modules} modules and ${r.importers} importers: the walk missed the tree`);
  assert.ok(r.findings.length === 0, `module-level mutable state (make it part of a run: its options, its RunContext, an object it creates):\n${r.findings.map(formatFinding).join('\n')}`);
  assert.equal(r.unusedAllowances, [], 'allowances in scripts/module-state.ts EXPECTED that nothing needs any more: remove them');
});

test('a top-level let or var is found, whatever is done with it: the watch call-watch.ts kept per thread, as it was', () => {
  const { found } = findingsIn({
    'conformance/engine/call-watch.ts': 'let published: { slots: Int32Array } | undefined;\nexport function publish(b: SharedArrayBuffer): void {\n  published = { slots: new Int32Array(b) };\n}\n',
    'model/m.ts': 'var count = 0;\ndeclare let ambient: number;\nexport const f = () => { let local = 1; for (let i = 0; i < 2; i++) local += i; return local + count; };\n',
  });
  assert.equal(found, ['conformance/engine/call-watch.ts: published: a top-level `let`', 'model/m.ts: count: a top-level `var`']);
});

test('a constant is found once what it holds is changed, in its module or through an import', () => {
  const { found } = findingsIn({
    'model/a.ts': [
      'const cache = new Map<string, number>();',
      'export function get(k: string): number {',
      '  if (!cache.has(k)) cache.set(k, k.length);',
      '  return cache.get(k)!;',
      '}',
      'export const TABLE: number[] = [1, 2];',
      'export const COUNTS = { n: 0, byKind: new Map<string, number[]>() };',
      'export const DONE = new Set<string>();',
      'export const FLAGS: Record<string, boolean> = {};',
      'export const ORDER = [3, 1, 2];',
      'export const GRID = [[0]];',
      'export function registry() {}',
      'export class Config {',
      '  static readonly defaults = { depth: 1 };',
      '  static mutable = 0;',
      '}',
      'export const BAG = { a: 1 };',
      'export const LOG: string[] = [];',
      'export const VALUES = new Map<string, { n: number }>();',
    ].join('\n'),
    'conformance/engine/b.ts': [
      "import { TABLE as T, COUNTS, FLAGS, ORDER, registry, Config, BAG } from '../../model/a.ts';",
      "import * as a from '../../model/a.ts';",
      'export function run(kind: string, op: number): void {',
      '  T.push(1);',
      '  COUNTS.n += 1;',
      '  COUNTS.byKind.get(kind)!.push(op);',
      '  a.DONE.add(kind);',
      '  switch (op) {',
      '    case 1:',
      '      FLAGS[kind] = true;',
      '      break;',
      '  }',
      '  ORDER.sort();',
      '  (registry as unknown as { n: number }).n;',
      '  Config.defaults.depth++;',
      '  delete BAG.a;',
      '  a.GRID[0]![0] = 1;',
      '}',
      "export const more = () => Object.assign(a.LOG, ['x']);",
      'export const bump = (k: string) => void ++a.VALUES.get(k)!.n;',
    ].join('\n'),
  });
  assert.equal(found, [
    'model/a.ts: cache: changed after load: cache.set(...) (model/a.ts:3)',
    'model/a.ts: TABLE: changed after load: T.push(...) (conformance/engine/b.ts:4)',
    'model/a.ts: COUNTS: changed after load: COUNTS.n += ... (conformance/engine/b.ts:5)',
    'model/a.ts: DONE: changed after load: a….add(...) (conformance/engine/b.ts:7)',
    'model/a.ts: FLAGS: changed after load: FLAGS… = ... (conformance/engine/b.ts:10)',
    'model/a.ts: ORDER: changed after load: ORDER.sort(...) (conformance/engine/b.ts:13)',
    'model/a.ts: GRID: changed after load: a… = ... (conformance/engine/b.ts:17)',
    'model/a.ts: Config: changed after load: Config….depth++ (conformance/engine/b.ts:15)',
    'model/a.ts: Config.mutable: a static field that is not readonly',
    'model/a.ts: BAG: changed after load: delete BAG.a (conformance/engine/b.ts:16)',
    'model/a.ts: LOG: changed after load: Object.assign(a.LOG, ...) (conformance/engine/b.ts:19)',
    'model/a.ts: VALUES: changed after load: ++a….n (conformance/engine/b.ts:20)',
  ]);
});

test('reading a constant, copying it, comparing it or naming its type is no change', () => {
  const { found } = findingsIn({
    'model/t.ts': [
      'export const TABLE: readonly number[] = Object.freeze([1, 2]);',
      "export const NAMES = new Map([[1, 'a']]);",
      'export const LIMITS = { max: 3 };',
      'export type Row = (typeof TABLE)[number];',
      'export function use(x: number): number {',
      '  const sorted = [...TABLE].sort();',
      '  const mapped = TABLE.map((v) => v * 2).sort();',
      '  const copy: (typeof LIMITS)["max"] = LIMITS.max;',
      '  if (LIMITS.max >= x || LIMITS.max <= x || LIMITS.max === x || LIMITS.max !== x) return NAMES.get(x)?.length ?? 0;',
      '  const xs: Row[] = [];',
      '  xs.push(copy);',
      '  return sorted[0]! + mapped[0]! + (NAMES.has(x) ? 1 : 0) + xs.length;',
      '}',
    ].join('\n'),
    'model/t.test.ts': "import { TABLE } from './t.ts';\nexport const probe = () => TABLE.length;\n",
  });
  assert.equal(found, []);
});

test('tests and fixtures are not the engine, outside folders are not checked, but their changes to an engine constant are', () => {
  const { found } = findingsIn({
    'conformance/engine/x.test.ts': 'let runs = 0;\nexport const f = () => runs++;\n',
    'conformance/campaign/fixtures/adapter.ts': 'let calls = 0;\nexport const g = () => calls++;\n',
    'conformance/protocol/p.ts': "let live = 0;\nimport { SEEN } from '../engine/s.ts';\nexport const h = () => { live++; SEEN.add('p'); };\n",
    'conformance/engine/s.ts': 'export const SEEN = new Set<string>();\n',
  });
  assert.equal(found, ['conformance/engine/s.ts: SEEN: changed after load: SEEN.add(...) (conformance/protocol/p.ts:3)']);
});

test('an allowance names a finding it lets stay; one that names nothing is reported', () => {
  const r = findingsIn({ 'model/c.ts': 'const memo = new WeakMap<object, string>();\nexport const key = (o: object) => memo.get(o) ?? (memo.set(o, "k"), "k");\n' }, { 'model/c.ts: memo': 'reviewed', 'model/c.ts: gone': 'no longer there' });
  assert.equal(r.found, []);
  assert.equal(r.allowed, ['model/c.ts: memo']);
  assert.equal(r.unused, ['model/c.ts: gone']);
});

test.run();
