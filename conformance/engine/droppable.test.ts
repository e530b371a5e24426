// droppable(): the same draws as the array it wraps, shrinks that also drop any one item,
// and a replay path that reaches the same counterexample again.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { droppable } from './droppable.ts';

const items = (minLength = 1) => fc.array(fc.integer({ min: 0, max: 3 }), { minLength, maxLength: 12 });
/** Fails when the first item is 3: the shortest counterexample is [3], and only a drop of the items after it reaches it. */
const firstIsThree = (a: readonly number[]) => a[0] !== 3;

function counterexample(arb: fc.Arbitrary<number[]>, seed: number, path?: string): { value: readonly number[]; path: string } | undefined {
  const d = fc.check(fc.property(arb, firstIsThree), { seed, numRuns: 200, ...(path === undefined ? {} : { path }) });
  return d.failed && d.counterexample !== null ? { value: d.counterexample[0], path: d.counterexamplePath ?? '' } : undefined;
}

test('generates what the wrapped arbitrary generates, draw for draw', () => {
  for (const seed of [1, 2, 3, 42]) assert.equal(fc.sample(droppable(items()), { seed, numRuns: 50 }), fc.sample(items(), { seed, numRuns: 50 }), `seed ${seed}`);
});

test("shrinks to the one item the failure needs, where fast-check's array shrinker keeps an item after it", () => {
  const plainLengths: number[] = [];
  for (let seed = 1; seed <= 20; seed++) {
    const dropped = counterexample(droppable(items()), seed);
    assert.ok(dropped !== undefined, `seed ${seed}: no failure found`);
    assert.equal(dropped.value, [3], `seed ${seed}`);
    plainLengths.push(counterexample(items(), seed)?.value.length ?? 0);
  }
  // The case the wrapper exists for: without it, some seeds end with items the failure does not need.
  assert.ok(
    plainLengths.some((n) => n > 1),
    `fast-check alone reached [3] on every seed (${plainLengths.join(' ')}): the test no longer shows what droppable adds`,
  );
});

test('the floor: no drop below it (arrays of at least 2 items keep 2, where a drop would leave [3])', () => {
  for (let seed = 1; seed <= 10; seed++) {
    const c = counterexample(droppable(items(2), 2), seed);
    assert.ok(c !== undefined);
    assert.is(c.value.length, 2, `seed ${seed}: ${JSON.stringify(c.value)}`);
  }
});

test('the replay path fast-check prints reaches the same counterexample again (drops included)', () => {
  for (let seed = 1; seed <= 10; seed++) {
    const first = counterexample(droppable(items()), seed);
    assert.ok(first !== undefined);
    const again = counterexample(droppable(items()), seed, first.path);
    assert.equal(again?.value, first.value, `seed ${seed} path ${first.path}`);
  }
});

test.run();
