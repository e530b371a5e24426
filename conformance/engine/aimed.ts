// Short sequences aimed at what a rule forbids, where the random low window seldom goes:
// merges of pages none of which is writable-dirty, of read-only pages and of pages that do
// not fit one block (MERGE-1, MERGE-2, MERGE-R2, TRACK-R3), with a DMA write between the
// merge's check of its children and its exchange; read-and-clear ranges that cut a dirty
// 2 MiB block (CLEAR-4, CLEAR-R2); a write cached before a one-page read-and-clear, then a
// write through the cache (IOTLB-7, IOTLB-9); a 2 MiB-aligned map of a block and a few pages
// (MAP-2, MAP-3, PTE-4); tracking turned on with a DMA write racing its stale clear and its
// split (TRACK-3, TRACK-4). Each works in one or more 2 MiB regions of the low window, which
// it first empties leaf by leaf, whatever the sequence left there.
import fc from 'fast-check';
import type { Capabilities } from '../../spec/contracts/index.ts';
import { DmaCommand, MapCommand, MergeCommand, MiB2, PAGE, ReadAndClearCommand, RefillCommand, type RunCommand, type RunModel, type RunReal, TrackingCommand, UnmapCommand, WINDOW } from './commands.ts';

const REGION_PAGES = MiB2 / PAGE;
const REGIONS = WINDOW / MiB2;
const hex = (n: number) => `0x${n.toString(16)}`;

/**
 * Empties `regions` 2 MiB regions of the low window from `region` on: each run of
 * contiguous leaves there is unmapped whole (an unmap that neither cuts a block nor meets a
 * hole, so every contract unmaps all of it), checked as any unmap is.
 */
export class EmptyRegionsCommand implements RunCommand {
  constructor(
    readonly region: number,
    readonly regions: number,
  ) {}
  check = () => true;
  async run(m: RunModel, r: RunReal): Promise<void> {
    const base = (this.region % REGIONS) * MiB2;
    const size = Math.min(this.regions * MiB2, WINDOW - base);
    const runs: [number, number][] = [];
    for (const l of m.model.leavesIn(base, size)) {
      const last = runs[runs.length - 1];
      if (last !== undefined && last[1] === l.iova) last[1] = l.iova + l.size;
      else runs.push([l.iova, l.iova + l.size]);
    }
    for (const [from, to] of runs) await new UnmapCommand(from / PAGE, (to - from) / PAGE).run(m, r);
  }
  toString = () => `empty ${this.regions} 2 MiB region${this.regions === 1 ? '' : 's'} from ${hex((this.region % REGIONS) * MiB2)}`;
}

/**
 * Tracking turned off where that merges every contiguous run of pages (rfc-2021, TRACK-R3):
 * there it is the merge the RFC's caller makes. Elsewhere nothing (strict merges back only
 * what enabling split, which an aimed merge's pages were not).
 */
export class StopMergingCommand implements RunCommand {
  check = () => true;
  async run(m: RunModel, r: RunReal): Promise<void> {
    if (m.model.caps.setDirtyTracking.disable.merges === 'every-contiguous-run') await new TrackingCommand(false).run(m, r);
  }
  toString = () => 'setDirtyTracking(false), where it merges every contiguous run';
}

/** How an aimed merge ends: mergePages, with a DMA write raced against it, or after a write to one page. */
type MergeEnd = { readonly kind: 'merge' } | { readonly kind: 'race'; readonly at: number; readonly offset: number; readonly aimed: boolean } | { readonly kind: 'dirty'; readonly page: number };

/** A merge's race: aimed, just after the driver's `at`-th read of the written page's descriptor; else at its `at`-th access. */
const mergeRace = (end: MergeEnd & { kind: 'race' }) => (end.aimed ? { at: end.at, offset: end.offset, aimed: true, after: true } : { at: end.at, offset: end.offset, aimed: false });

/**
 * 511 pages mapped at a 2 MiB base and the last one refilled, with the first page's output
 * addresses and permission (the region merges) or not (it must not: MERGE-1/2, TRACK-R3);
 * tracking on and the region read and cleared whole, so no page is writable-dirty; then a
 * merge, and tracking turned off where that merges every contiguous run (rfc-2021, whose
 * mergePages the kit asks only of a region that merges): always where the region does not
 * merge, else when `disable`. An injected write lands between the merge's reading of its
 * children and its exchange: `aimed`, just after the driver's first or second read of the
 * written page's own descriptor (before its next access of any kind), wherever in its
 * accesses that falls: a driver that snapshots the 512 children once, then swaps, is raced
 * there as surely as one that reads them twice; else at its `at`-th access of any kind (the
 * reference reads 512 children to check them and 512 to look for a dirty one, after a few
 * to walk).
 */
export function mergeSequence(region: number, write: boolean, fit: 'fits' | 'otherPa' | 'otherWrite', end: MergeEnd, disable: boolean): RunCommand[] {
  const base = region * REGION_PAGES;
  const merge =
    end.kind === 'merge' ? [new MergeCommand(region, undefined)] : end.kind === 'race' ? [new MergeCommand(region, mergeRace(end))] : [new DmaCommand(true, 0, 0, 0, undefined, (base + end.page) * PAGE), new MergeCommand(region, undefined)];
  return [
    new EmptyRegionsCommand(region, 1),
    new MapCommand(base, REGION_PAGES - 1, write, true),
    new RefillCommand(region, fit !== 'otherPa', fit !== 'otherWrite'),
    new TrackingCommand(true),
    new ReadAndClearCommand(base, REGION_PAGES, false),
    ...merge,
    ...(fit !== 'fits' || disable ? [new StopMergingCommand()] : []),
  ];
}

/**
 * A writable 2 MiB block mapped with tracking on and written, then read and cleared over a
 * range that starts at or before its base and ends inside it, and over one that starts
 * inside it and ends at or past its end: each time the block is reported and stays
 * writable-dirty (CLEAR-4), or the call is -EINVAL and clears nothing of it (CLEAR-R2).
 */
export function cutSequence(region: number, headEnd: number, tailStart: number, outside: number, written: number): RunCommand[] {
  const base = region * REGION_PAGES;
  const from = Math.max(0, base - outside);
  return [
    new EmptyRegionsCommand(region, 1),
    new TrackingCommand(true),
    new MapCommand(base, REGION_PAGES, true, true),
    new DmaCommand(true, 0, 0, 0, undefined, (base + written) * PAGE),
    new ReadAndClearCommand(from, base + headEnd - from, false),
    new ReadAndClearCommand(base + tailStart, REGION_PAGES - tailStart + outside, false),
  ];
}

/**
 * A few pages mapped with tracking on; a DMA write to one caches its entry writable-dirty;
 * a read-and-clear of that page alone (the last page it clears) must invalidate the entry
 * (IOTLB-7, IOTLB-9), so the write through it again walks and dirties the page anew.
 */
export function onePageClearSequence(region: number, first: number, pages: number, target: number): RunCommand[] {
  const page = region * REGION_PAGES + first;
  const at = (page + (target % pages)) * PAGE;
  return [
    new EmptyRegionsCommand(region, 1),
    new TrackingCommand(true),
    new MapCommand(page, pages, true, false),
    new DmaCommand(true, 0, 0, 0, undefined, at),
    new ReadAndClearCommand(at / PAGE, 1, false),
    new DmaCommand(true, 0, 0, 0, undefined, at),
  ];
}

/** A writable map at a 2 MiB-aligned IOVA and output address of one or two blocks and a few pages: its leaves stop at the range's end (a block for the tail would reach past it: MAP-2/MAP-3, PTE-4). */
export function blockAndTailSequence(region: number, blocks: 1 | 2, tail: number, write: boolean): RunCommand[] {
  const first = Math.min(region, REGIONS - 1 - blocks);
  return [new EmptyRegionsCommand(first, blocks + 1), new MapCommand(first * REGION_PAGES, blocks * REGION_PAGES + tail, write, true)];
}

/**
 * Tracking off, a writable 2 MiB block mapped, and tracking turned on (then off and on
 * again, once per entry of `ats`) with a DMA write to the block at the `at`-th access to its
 * descriptor (TRACK-3, TRACK-4): after the stale clear the write dirties the block again,
 * and a split for page-granular tracking must carry that to the pages (an exchange, not a
 * read then a store). The kit reads the descriptor as the write is made, so such a write
 * is placed after the clear.
 */
export function enableRaceSequence(region: number, ats: readonly number[], offset: number): RunCommand[] {
  const base = region * REGION_PAGES;
  // Each enable after the first comes after a disable, which merges back what the last one split.
  const enables = ats.flatMap((at, i) => [...(i === 0 ? [] : [new TrackingCommand(false)]), new TrackingCommand(true, { at, offset, aimed: true })]);
  return [new EmptyRegionsCommand(region, 1), new TrackingCommand(false), new MapCommand(base, REGION_PAGES, true, true), ...enables];
}

/**
 * The aimed sequence of a run (smmu-driver; none where the kit is the driver): none in
 * three runs of four, else one of the sequences above. Drawn after the low window's and
 * the high region's commands and run after them, so those come out and run as they always
 * have for a seed.
 */
export function aimedArbitrary(kitIsDriver: boolean, interleave: boolean, ops: Capabilities['operations']): fc.Arbitrary<readonly RunCommand[]> {
  if (kitIsDriver) return fc.constant([]);
  const region = fc.nat(REGIONS - 1);
  const ends = fc.oneof(
    { arbitrary: fc.constant<MergeEnd>({ kind: 'merge' }), weight: 2 },
    { arbitrary: fc.nat(REGION_PAGES - 1).map((page): MergeEnd => ({ kind: 'dirty', page })), weight: 1 },
    // A race at a driver's first or second read of the written page's descriptor, or at any of its first 1,100 accesses.
    ...(interleave ? [{ arbitrary: fc.tuple(fc.nat(1), fc.nat(3)).map(([at, offset]): MergeEnd => ({ kind: 'race', at, offset, aimed: true })), weight: 4 }] : []),
    ...(interleave ? [{ arbitrary: fc.tuple(fc.oneof(fc.integer({ min: 520, max: 1020 }), fc.nat(1100)), fc.nat(3)).map(([at, offset]): MergeEnd => ({ kind: 'race', at, offset, aimed: false })), weight: 2 }] : []),
  );
  const fits = fc.constantFrom<'fits' | 'otherPa' | 'otherWrite'>('fits', 'fits', 'otherPa', 'otherWrite');
  const merges = fc.tuple(region, fc.constantFrom(true, true, true, false), fits, ends, fc.boolean()).map(([g, w, fit, end, off]) => mergeSequence(g, w, fit, end, off));
  const regionPages = fc.integer({ min: 1, max: REGION_PAGES - 1 });
  const cuts = fc.tuple(region, regionPages, regionPages, fc.nat(3), fc.nat(REGION_PAGES - 1)).map(([g, head, tail, outside, written]) => cutSequence(g, head, tail, outside, written));
  const onePage = fc.tuple(region, fc.nat(REGION_PAGES - 8), fc.integer({ min: 1, max: 8 }), fc.nat(7)).map(([g, first, n, t]) => onePageClearSequence(g, first, n, t));
  const tails = fc.tuple(region, fc.constantFrom<1 | 2>(1, 1, 2), fc.integer({ min: 1, max: 8 }), fc.boolean()).map(([g, b, t, w]) => blockAndTailSequence(g, b, t, w));
  const enables = fc.tuple(region, fc.uniqueArray(fc.nat(7), { minLength: 1, maxLength: 3 }), fc.nat(REGION_PAGES - 1)).map(([g, ats, offset]) => enableRaceSequence(g, ats, offset));
  const aimed = fc.oneof(
    ...(ops.mergePages ? [{ arbitrary: merges, weight: 6 }] : []),
    { arbitrary: cuts, weight: 2 },
    { arbitrary: onePage, weight: 1 },
    { arbitrary: tails, weight: 1 },
    ...(interleave ? [{ arbitrary: enables, weight: 6 }] : []),
  );
  return new Droppable(fc.oneof({ arbitrary: fc.constant([]), weight: 3 }, { arbitrary: aimed, weight: 1 }));
}

/** What a Droppable value remembers: the inner arbitrary's context while nothing was dropped. */
type DropContext = { readonly inner: unknown } | undefined;

/**
 * A sequence whose commands shrinking may drop: first all of them, then one at a time (as
 * fast-check drops commands of fc.commands), then the inner arbitrary's own shrinks of the
 * whole sequence (its numbers). A failure an aimed sequence found shrinks to the steps it
 * needs, as one of the low window's does.
 */
export class Droppable<T> extends fc.Arbitrary<readonly T[]> {
  constructor(private readonly inner: fc.Arbitrary<readonly T[]>) {
    super();
  }
  generate(mrng: fc.Random, biasFactor: number | undefined): fc.Value<readonly T[]> {
    const v = this.inner.generate(mrng, biasFactor);
    return new fc.Value<readonly T[]>(v.value_, { inner: v.context } satisfies DropContext);
  }
  canShrinkWithoutContext(value: unknown): value is readonly T[] {
    return Array.isArray(value);
  }
  shrink(value: readonly T[], context: unknown): fc.Stream<fc.Value<readonly T[]>> {
    const dropped = (xs: readonly T[]) => new fc.Value<readonly T[]>(xs, undefined satisfies DropContext);
    const drops = value.length === 0 ? [] : [[], ...(value.length === 1 ? [] : value.map((_, i) => value.filter((__, j) => j !== i)))];
    const ctx = context as DropContext;
    const inner = ctx === undefined ? fc.Stream.nil<fc.Value<readonly T[]>>() : this.inner.shrink(value, ctx.inner).map((v) => new fc.Value<readonly T[]>(v.value_, { inner: v.context } satisfies DropContext));
    return fc.Stream.of(...drops.map(dropped)).join(inner);
  }
}
