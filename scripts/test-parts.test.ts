// npm test's parts (scripts/test-parts.js): every file once, the covered ones first, and the
// rest in parts that shrink, so that the two runners end close together.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { planParts } from './test-parts.js';

const weights: Record<string, number> = { 'c/a': 50, 'c/b': 40, 'c/c': 30, 'c/d': 20, 'c/e': 10, 'c/f': 5, 'c/g': 5, 'u/x': 3, 'u/y': 2 };
const names = Object.keys(weights);
const weight = (f: string) => weights[f] ?? 1;
const covered = (f: string) => f.startsWith('u/');

test('every file is in exactly one part, the covered files in the first part alone', () => {
  const parts = planParts(names, weight, covered);
  assert.equal(parts.flatMap((p) => p.files).sort(), [...names].sort());
  assert.equal(parts[0], { files: ['u/x', 'u/y'], weight: 5, covered: true });
  for (const p of parts.slice(1)) assert.ok(p.files.every((f) => !covered(f)) && !p.covered, p.files.join(' '));
});

test('a part weighs the sum of its files, and lists them in name order', () => {
  for (const p of planParts(names, weight, covered)) {
    assert.is(
      p.weight,
      p.files.reduce((s, f) => s + weight(f), 0),
    );
    assert.equal(p.files, [...p.files].sort());
  }
});

test('the uncovered parts shrink: the last is no heavier than the minimum or the file it holds, the first several times that', () => {
  const many = Array.from({ length: 120 }, (_, i) => `c/f${String(i).padStart(3, '0')}`);
  const w = (f: string) => (f.endsWith('0') ? 20 : 1.5);
  const parts = planParts(many, w, () => false, { minimum: 12 });
  const sizes = parts.map((p) => p.weight);
  assert.ok(parts.length >= 6, `${parts.length} parts`);
  assert.ok(sizes.at(-1)! <= 20, sizes.join(' '));
  assert.ok(sizes[0]! >= sizes.at(-1)! * 3, `the first part is several times the last: ${sizes.join(' ')}`);
});

test('a file heavier than every capacity still gets a part, and none is dropped', () => {
  const parts = planParts(
    ['c/huge', 'c/s1', 'c/s2'],
    (f) => (f === 'c/huge' ? 1000 : 1),
    () => false,
    { minimum: 12 },
  );
  assert.equal(parts.flatMap((p) => p.files).sort(), ['c/huge', 'c/s1', 'c/s2']);
  assert.ok(parts.some((p) => p.files.includes('c/huge')));
});

test('no files, or only covered ones: no empty parts', () => {
  assert.equal(planParts([], weight, covered), []);
  assert.equal(planParts(['u/x'], weight, covered), [{ files: ['u/x'], weight: 3, covered: true }]);
});

test('bad sizing is refused, naming the field', () => {
  assert.throws(() => planParts(names, weight, covered, { share: 1 }), /share must be more than 1/);
  assert.throws(() => planParts(names, weight, covered, { minimum: 0 }), /minimum must be positive/);
});

test.run();
