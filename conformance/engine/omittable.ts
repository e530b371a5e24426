// A generated operation made of several calls, some of which shrinking may leave out.
//
// A VFIO manual-clear round (vfio-type1-profile.ts) is one operation of the scenario but
// five or six calls: writes, a NO_CLEAR read, a clear, a write, a read. fast-check shrinks
// an operation only through its fields, so a counterexample that needs a round's writes
// alone kept the whole round: vfio-start-twice-clears shrank to 15 steps where 9 show the
// loss, and vfio-clear-whole-range to 13 where its read after the clear needs no NO_CLEAR
// read before it.
//
// `omittable(arb, parts)` generates exactly what `arb` generates, draw for draw (a seed's
// sequences are unchanged; a generated value has no `omit` field), and shrinks first as
// `arb` does, then by leaving out one more of the `parts` optional calls, the last first:
// the value gains `omit`, a bit mask of the parts left out, which the operation's runner
// honours. A value with parts left out still shrinks by `arb`'s shrinks of its fields
// (the context is kept), with the same parts left out. The shrink stream is deterministic,
// so a replay path (fast-check's `path`) reaches the same counterexample again.
import fc from 'fast-check';

/** What omittable adds to a value: the parts left out, a bit each (absent: none). */
export interface Omission {
  readonly omit?: number;
}

interface OmitContext {
  readonly inner: unknown;
  readonly omit: number;
}

const isOmitContext = (c: unknown): c is OmitContext => typeof c === 'object' && c !== null && 'inner' in c && 'omit' in c;

/** `value` with the parts `omit` names left out (none: `value` itself, as `arb` made it). */
function withOmit<T extends object>(value: T, omit: number): T & Omission {
  return omit === 0 ? value : { ...value, omit };
}

/** `value` as `arb` made it: without the `omit` this wrapper added. */
function strip<T extends object>(value: T & Omission): T {
  if (value.omit === undefined) return value;
  const { omit: _, ...rest } = value;
  return rest as T;
}

class Omittable<T extends object> extends fc.Arbitrary<T & Omission> {
  constructor(
    private readonly arb: fc.Arbitrary<T>,
    private readonly parts: number,
  ) {
    super();
  }

  generate(mrng: fc.Random, biasFactor: number | undefined): fc.Value<T & Omission> {
    const v = this.arb.generate(mrng, biasFactor);
    return new fc.Value<T & Omission>(v.value_, { inner: v.context, omit: 0 } satisfies OmitContext);
  }

  canShrinkWithoutContext(value: unknown): value is T & Omission {
    return typeof value === 'object' && value !== null && this.arb.canShrinkWithoutContext(strip(value as T & Omission));
  }

  shrink(value: T & Omission, context: unknown): fc.Stream<fc.Value<T & Omission>> {
    const { inner, omit } = isOmitContext(context) ? context : { inner: context, omit: value.omit ?? 0 };
    const own = this.arb.shrink(strip(value), inner).map((v) => new fc.Value<T & Omission>(withOmit(v.value_, omit), { inner: v.context, omit } satisfies OmitContext));
    return own.join(this.omissions(strip(value), inner, omit));
  }

  /** `value` with one more part left out, the last part first. */
  private *omissions(value: T, inner: unknown, omit: number): IterableIterator<fc.Value<T & Omission>> {
    for (let part = this.parts - 1; part >= 0; part--) {
      const bit = 1 << part;
      if ((omit & bit) !== 0) continue;
      yield new fc.Value<T & Omission>(withOmit(value, omit | bit), { inner, omit: omit | bit } satisfies OmitContext);
    }
  }
}

/** `arb`'s values, also shrunk by leaving out any of `parts` optional parts (`omit`, a bit per part; at most 30 parts). */
export function omittable<T extends object>(arb: fc.Arbitrary<T>, parts: number): fc.Arbitrary<T & Omission> {
  if (!Number.isInteger(parts) || parts < 1 || parts > 30) throw new RangeError(`omittable: parts must be an integer from 1 to 30, got ${parts}`);
  return new Omittable(arb, parts);
}

/** Whether `value` leaves out `part` (0-based). */
export const omits = (value: Omission, part: number): boolean => ((value.omit ?? 0) & (1 << part)) !== 0;
