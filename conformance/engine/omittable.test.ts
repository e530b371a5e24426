// omittable(): the same draws as the arbitrary it wraps, shrinks that also leave out parts
// (after which the fields still shrink), and a replay path that reaches the same
// counterexample again.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Omission, omits, omittable } from './omittable.ts';

interface Op {
  a: number;
  b: number;
}
const op = () => fc.record({ a: fc.integer({ min: 0, max: 9 }), b: fc.integer({ min: 0, max: 9 }) });
/** What an operation of three parts does: part 0 adds a, part 1 adds b, part 2 adds 100 (the parts a failure does not need). */
const effect = (o: Op & Omission) => (omits(o, 0) ? 0 : o.a) + (omits(o, 1) ? 0 : o.b) + (omits(o, 2) ? 0 : 100);
/**
 * Fails when part 0 is done with a >= 5, or a >= 3 once part 2 is left out: the smallest
 * counterexample does part 0 alone, with a = 3, which only a shrink of `a` after the
 * omission reaches.
 */
const passes = (o: Op & Omission) => omits(o, 0) || o.a < (omits(o, 2) ? 3 : 5);

function counterexample(arb: fc.Arbitrary<Op & Omission>, seed: number, path?: string): { value: Op & Omission; path: string } | undefined {
  const d = fc.check(fc.property(arb, passes), { seed, numRuns: 200, ...(path === undefined ? {} : { path }) });
  return d.failed && d.counterexample !== null ? { value: d.counterexample[0], path: d.counterexamplePath ?? '' } : undefined;
}

test('generates what the wrapped arbitrary generates, draw for draw, with no omit field', () => {
  for (const seed of [1, 2, 3, 42]) assert.equal(fc.sample(omittable(op(), 3), { seed, numRuns: 50 }), fc.sample(op(), { seed, numRuns: 50 }), `seed ${seed}`);
});

test('shrinks by leaving out every part the failure does not need, and still shrinks the fields after that', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const c = counterexample(omittable(op(), 3), seed);
    assert.ok(c !== undefined, `seed ${seed}: no failure found`);
    // Parts 1 and 2 left out (bits 1 and 2), part 0 kept; a at its smallest failing value, b at 0.
    assert.equal(c.value, { a: 3, b: 0, omit: 0b110 }, `seed ${seed}`);
    assert.is(effect(c.value), 3);
  }
});

test('the replay path fast-check prints reaches the same counterexample again (omissions included)', () => {
  for (let seed = 1; seed <= 10; seed++) {
    const first = counterexample(omittable(op(), 3), seed);
    assert.ok(first !== undefined);
    const again = counterexample(omittable(op(), 3), seed, first.path);
    assert.equal(again?.value, first.value, `seed ${seed} path ${first.path}`);
  }
});

test('a part count outside 1..30 is refused, naming the rule', () => {
  for (const parts of [0, 31, 1.5]) assert.throws(() => omittable(op(), parts), /parts must be an integer from 1 to 30/);
});

test.run();
