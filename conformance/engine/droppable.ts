// A generated list of operations (a scenario's; the smmu runs' high-region steps), shrunk
// also by dropping any one of them.
//
// fast-check's array shrinker (fast-check 4, ArrayArbitrary.shrinkImpl) removes a leading
// run of items, then shrinks the first item and recurses into the rest, keeping at least
// minLength items at every depth: so it never drops the last item of an array of
// minLength 1, and drops a middle item only with everything before it. A counterexample
// whose loss needs its first operations (the map, the write) then keeps every operation
// after them, however useless: vfio-start-twice-clears shrank to 15-19 steps on some seeds
// where 9 suffice.
//
// `droppable(arb)` generates exactly what `arb` generates, draw for draw (a seed's
// sequences are unchanged), and shrinks first as `arb` does, then by dropping one item,
// the last first. A value made by a drop carries no context of `arb`'s, so it shrinks on
// by drops alone: fast-check tries a value's shrinks in order and keeps the first that
// still fails, so `arb`'s own shrinks (shorter prefixes, simpler items) have been
// exhausted by the time a drop is tried. The shrink stream is deterministic, so a replay
// path (fast-check's `path`) reaches the same counterexample again.
import fc from 'fast-check';

/** The context of a value made by dropping an item: it is shrunk only by further drops. */
const DROPPED: unique symbol = Symbol('dropped');

class Droppable<T> extends fc.Arbitrary<T[]> {
  constructor(
    private readonly arb: fc.Arbitrary<T[]>,
    private readonly floor: number,
  ) {
    super();
  }

  generate(mrng: fc.Random, biasFactor: number | undefined): fc.Value<T[]> {
    return this.arb.generate(mrng, biasFactor);
  }

  canShrinkWithoutContext(value: unknown): value is T[] {
    return this.arb.canShrinkWithoutContext(value);
  }

  shrink(value: T[], context: unknown): fc.Stream<fc.Value<T[]>> {
    const own = context === DROPPED ? fc.Stream.nil<fc.Value<T[]>>() : this.arb.shrink(value, context);
    return own.join(this.drops(value));
  }

  /** `value` without one of its items, the last first; none below `floor` items. */
  private *drops(value: T[]): IterableIterator<fc.Value<T[]>> {
    if (value.length <= this.floor) return;
    for (let i = value.length - 1; i >= 0; i--) yield new fc.Value([...value.slice(0, i), ...value.slice(i + 1)], DROPPED);
  }
}

/** `arb` (an array arbitrary), also shrunk by dropping any one item, to no fewer than `floor` items. */
export function droppable<T>(arb: fc.Arbitrary<T[]>, floor = 0): fc.Arbitrary<T[]> {
  return new Droppable(arb, floor);
}
