// Profile vfio-type1: the VFIO type1 container's uAPI as a black box, with a device the
// implementation owns issuing DMA writes. fast-check generates a configuration (hardware
// dirty tracking or the all-dirty fallback, a small or the default mapping limit) and a
// sequence of ioctls with valid and invalid arguments; this file draws each call's
// arguments, makes the call and compares the answer with the model (model/vfio/): each
// call is classified (spec/vfio/args.ts) and stepped through the container machine
// compiled into a table (spec/vfio/type1-machine.ts, model/vfio/prediction.ts): every
// errno is compared, a refused call must change nothing observable, and every report goes
// through the dirty state (model/vfio/dirty-state.ts, model/ghost.ts) per 4 KiB page: no
// loss (NOLOSS-1..3) and, with hardware tracking, no false dirty (PRECISION-1).
//
// With an adapter that has `dmaRw`, the emulated device's CPU-side access (vfio_dma_rw)
// too: accesses straddling pages, spanning two mappings, running into a hole, a read-only
// or a write-only mapping, while tracking and not (spec/vfio/dma-rw.ts): the errno, and
// every page a write touched owed by the next report (VFIO-RW-3).
//
// Under a driver contract (spec/contracts/: `--contract`, or the adapter's declared one) the
// container sits on that contract's IOMMU, whose unmap reports no dirty state: UNMAP_DMA's
// bitmap is judged by the contract's rule in NOLOSS-3's place (rfc-2021: UNMAP-R1, the
// sync before the unmap; linux-upstream: UNMAP-U3, the read-and-clear before it), and the
// dirty state allows what the contract does (vfioDirtyContract, model/vfio/dirty-state.ts).
//
// Requirements: VFIO-MAP-*, VFIO-UNMAP-*, VFIO-DIRTY-*, VFIO-CLEAR-*, VFIO-RW-*,
//               VFIO-EXT-1, VFIO-INFO-1, NOLOSS-1..3 (UNMAP-R1 or UNMAP-U3 in NOLOSS-3's
//               place under rfc-2021 or linux-upstream), PRECISION-1, BITMAP-1.
import fc from 'fast-check';
import { droppable } from './droppable.ts';
import { type Omission, omits, omittable } from './omittable.ts';
import { RunContext } from '../../model/run-context.ts';
import { ContainerModel, type Mapping, followed } from '../../model/vfio/container.ts';
import { checkDeviceWrite, writeGoesThrough } from '../../model/vfio/device.ts';
import { DirtyState, STRICT_VFIO_DIRTY, type VfioDirtyContract } from '../../model/vfio/dirty-state.ts';
import { infoFlagsOk, migrationCapabilityOk } from '../../model/vfio/info.ts';
import type { Prediction } from '../../model/vfio/prediction.ts';
import { checkAllDirty, reportBytes, reportedPages } from '../../model/vfio/report.ts';
import { Violation } from '../../model/violation.ts';
import { requirements } from '../../spec/requirements.ts';
import { type Contract, type ContractName, contracts, coversProfile } from '../../spec/contracts/index.ts';
import {
  DIRTY_BITMAP_SIZE_MAX,
  STRICT_TYPE1_UAPI,
  TYPE1_OPTIONAL_EXTENSIONS,
  type Type1Uapi,
  VFIO_DMA_MAP_FLAG_VADDR,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
  VFIO_DMA_UNMAP_FLAG_VADDR,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_CLEAR_BITMAP,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP_NOCLEAR,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_START,
  VFIO_UNMAP_ALL,
  VFIO_UPDATE_VADDR,
  classifyDirtyPagesArgs,
  classifyExtension,
  classifyMapDma,
  classifyUnmapDma,
  vaddrAnswerWithEmulatedGroup,
  overflowAnswerWithAddressableLimit,
  minPgsize,
} from '../../spec/vfio/args.ts';
import { dmaRwWalk, rwDirtiedPages } from '../../spec/vfio/dma-rw.ts';
import { vfioType1Machine } from '../../spec/vfio/type1-machine.ts';
import type { VfioBitmapArg, VfioType1Adapter, VfioType1Config, VfioType1Instance } from '../adapters/types.ts';
import type { TraceStep } from './commands.ts';
import { type CallLimits, CallTimer, Undecided, callWeight, timed } from './limits.ts';
import { inFlight, type InFlightStep } from './crash.ts';
import type { CoverageFigure, ProfileResult, RunOptions } from './run-profile.ts';
import { runScenarioProfile } from './scenario-profile.ts';

const PG = 4096n;
/**
 * The IOVA window the sequences map in: 1,280 pages at 1 MiB, so the 2 MiB blocks at 2 and
 * 4 MiB fit; most mappings and ranges fall in its first 256 pages.
 */
export const VFIO_BASE = 0x10_0000n;
export const VFIO_WINDOW_PAGES = 1280;
const NEAR_PAGES = 256;
const BLOCK = 0x20_0000n;
const VADDR_BASE = 0x8000_0000n;
const U64 = 1n << 64n;
/** DIRTY_BITMAP_PAGES_MAX + 1 pages: a mapping no dirty bitmap can cover. */
const HUGE = (1n << 31n) * PG;

/** The bitmap argument: valid ('ok', 'extra': larger than needed) or one field wrong (its size, or its page size); 'fixed8' is 8 bytes whatever the range. */
type BitmapKind = 'ok' | 'extra' | 'short' | 'zero' | 'fixed8' | 'tooLarge' | 'pgsize8k' | 'pgsize2m' | 'pgsize0';
/** The range: valid, one field wrong, or (resolved against the mappings when the call is made) exactly a mapping, or one that bisects a mapping. */
type RangeKind = 'ok' | 'unaligned' | 'sizeZero' | 'sizeUnaligned' | 'wrap' | 'mapping' | 'bisect' | 'span';

type Op =
  | { k: 'map'; page: number; pages: number; flags: number; vaddr: 'ok' | 'unaligned' | 'notBacked' | 'wrap'; range: 'ok' | 'unaligned' | 'sizeZero' | 'wrap' | 'outside' | 'huge' }
  | { k: 'unmap'; page: number; pages: number; flags: number; bitmap: BitmapKind; range: RangeKind }
  | { k: 'dma'; pick: number; mapped: boolean; offset: number }
  | { k: 'dirty'; flags: number }
  | { k: 'bitmap'; flags: number; page: number; pages: number; bitmap: BitmapKind; range: RangeKind; bits: readonly number[]; allBits: boolean }
  | { k: 'ext'; extension: number }
  | { k: 'info' }
  /** A 2 MiB-aligned mapping of 2 MiB (a block leaf), at 2 or 4 MiB. */
  | { k: 'block'; at: number; flags: number }
  /** A mapping of exactly DIRTY_BITMAP_PAGES_MAX pages ('max', accepted) or one more ('over'), then its unmap. */
  | { k: 'limit'; pages: 'max' | 'over' }
  | (Round & Omission)
  /** A vfio_dma_rw access (the emulated device's CPU side), placed against the mappings when it is made (see `rw`). */
  | { k: 'rw'; shape: RwShape; pick: number; extra: number; write: boolean; neighbour: number }
  /**
   * MAP_DMA with VADDR alone, where the container offers VFIO_UPDATE_VADDR (else nothing
   * after the VFIO_CHECK_EXTENSION(10) it asks first): over exactly the mapping `page` picks
   * ('mapping'), or from `page` for `pages` pages ('range', over a mapping, part of one or none).
   */
  | { k: 'vaddr'; target: 'mapping' | 'range'; page: number; pages: number }
  /**
   * The group of the container's device leaves the container, or joins it again, where the
   * adapter offers detachDevice and attachDevice (VFIO-DETACH-1, VFIO-DIRTY-14); made only
   * without hardware tracking, else nothing (see `group`).
   */
  | { k: 'group'; attach: boolean };

/**
 * A directed manual-clear round on one mapping: write, NO_CLEAR read, clear a subset, write,
 * read. Shrinking may leave out the calls after the writes (`omit`, ROUND_PARTS).
 */
interface Round {
  k: 'round';
  pick: number;
  writes: readonly number[];
  bits: readonly number[];
  last: number;
  read: number;
}

/**
 * Where an access goes: 'straddle' 2 bytes at the last byte of a page; 'pages' 1..3 pages
 * and a few bytes from a page's start, its second byte or its last; 'edge' from the last
 * page of a mapping across its end, into a mapping made right after it (read-write,
 * read-only or write-only) or a hole; 'window' anywhere in the window; 'zero' 0 bytes.
 */
type RwShape = 'straddle' | 'pages' | 'edge' | 'window' | 'zero';

interface Scenario {
  readonly config: VfioType1Config;
  readonly ops: readonly Op[];
}

/** The calls of a round after its writes, each of which shrinking may leave out (a bit of the round's `omit` each, in this order). */
const ROUND_PARTS = ['noClearRead', 'clear', 'lastWrite', 'read'] as const;
const roundDoes = (o: Omission, part: (typeof ROUND_PARTS)[number]): boolean => !omits(o, ROUND_PARTS.indexOf(part));

const GET = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
const NOCLEAR = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP_NOCLEAR;
const CLEAR = VFIO_IOMMU_DIRTY_PAGES_FLAG_CLEAR_BITMAP;

/** Each call's arguments valid most of the time, else one field wrong: the range or the bitmap, never both. */
const rangeAndBitmap = fc.oneof(
  { weight: 10, arbitrary: fc.record({ range: fc.constantFrom<RangeKind>('ok', 'ok', 'ok', 'mapping', 'mapping', 'bisect', 'bisect', 'span', 'span'), bitmap: fc.constantFrom<BitmapKind>('ok', 'ok', 'ok', 'extra') }) },
  { weight: 3, arbitrary: fc.record({ range: fc.constantFrom<RangeKind>('ok', 'mapping'), bitmap: fc.constantFrom<BitmapKind>('short', 'zero', 'fixed8', 'tooLarge', 'pgsize8k', 'pgsize2m', 'pgsize0') }) },
  { weight: 2, arbitrary: fc.record({ range: fc.constantFrom<RangeKind>('unaligned', 'sizeZero', 'sizeUnaligned', 'wrap'), bitmap: fc.constant<BitmapKind>('ok') }) },
);

function scenarioArbitrary(maxCommands: number): fc.Arbitrary<Scenario> {
  const page = fc.oneof({ weight: 6, arbitrary: fc.nat(NEAR_PAGES - 1) }, { weight: 1, arbitrary: fc.nat(VFIO_WINDOW_PAGES - 1) });
  const rangePages = fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 65, max: NEAR_PAGES }), fc.constant(NEAR_PAGES), fc.constant(VFIO_WINDOW_PAGES));
  const op: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 32,
      arbitrary: fc.record({
        k: fc.constant('map' as const),
        page,
        pages: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 80 })),
        flags: fc.constantFrom(3, 3, 3, 3, 3, 1, 2, 0, 4, 7),
        vaddr: fc.constantFrom('ok' as const, 'ok' as const, 'ok' as const, 'ok' as const, 'ok' as const, 'unaligned' as const, 'notBacked' as const, 'wrap' as const),
        range: fc.constantFrom('ok' as const, 'ok' as const, 'ok' as const, 'ok' as const, 'ok' as const, 'ok' as const, 'unaligned' as const, 'sizeZero' as const, 'wrap' as const, 'outside' as const, 'huge' as const),
      }),
    },
    { weight: 8, arbitrary: fc.record({ k: fc.constant('block' as const), at: fc.nat(1), flags: fc.constantFrom(3, 3, 3, 1) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('limit' as const), pages: fc.constantFrom('max' as const, 'over' as const) }) },
    {
      weight: 16,
      arbitrary: fc.tuple(rangeAndBitmap, fc.record({ page, pages: rangePages, flags: fc.constantFrom(0, 0, 1, 1, 1, 1, 2, 3, 4, 8) })).map(([rb, r]) => ({ k: 'unmap' as const, ...r, ...rb })),
    },
    { weight: 64, arbitrary: fc.record({ k: fc.constant('dma' as const), pick: fc.nat(), mapped: fc.constantFrom(true, true, true, true, false), offset: fc.nat(4095) }) },
    { weight: 16, arbitrary: fc.record({ k: fc.constant('dirty' as const), flags: fc.constantFrom(1, 1, 1, 2, 0, 3, 5, 1 << 5, 9, 24) }) },
    {
      weight: 40,
      arbitrary: fc
        .tuple(
          rangeAndBitmap,
          fc.record({
            flags: fc.constantFrom(GET, GET, NOCLEAR, NOCLEAR, CLEAR, CLEAR, CLEAR),
            page: fc.oneof(fc.constant(0), page),
            pages: rangePages,
            bits: fc.array(fc.nat(NEAR_PAGES - 1), { maxLength: 24 }),
            allBits: fc.boolean(),
          }),
        )
        .map(([rb, r]) => ({ k: 'bitmap' as const, ...r, ...rb })),
    },
    {
      weight: 16,
      arbitrary: omittable<Round>(
        fc.record({
          k: fc.constant('round' as const),
          pick: fc.nat(),
          writes: droppable(fc.array(fc.nat(), { minLength: 1, maxLength: 3 }), 1),
          bits: fc.array(fc.nat(), { maxLength: 4 }),
          last: fc.nat(),
          read: fc.constantFrom(GET, NOCLEAR),
        }),
        ROUND_PARTS.length,
      ),
    },
    { weight: 8, arbitrary: fc.record({ k: fc.constant('ext' as const), extension: fc.constantFrom(11, 11, 11, 1, 3, 9, 10, 0, 2) }) },
    { weight: 8, arbitrary: fc.constant({ k: 'info' as const }) },
  );
  // The vfio_dma_rw accesses come in a tuple element of their own, drawn after every other
  // and placed among the operations by `at`: the draws of the rest of a seed stay as they were.
  const rw = fc.record({
    at: fc.nat(Math.max(1, maxCommands)),
    op: fc.record({
      k: fc.constant('rw' as const),
      shape: fc.constantFrom<RwShape>('straddle', 'straddle', 'pages', 'pages', 'edge', 'edge', 'edge', 'window', 'zero'),
      pick: fc.nat(),
      extra: fc.nat(),
      write: fc.constantFrom(true, true, true, false),
      neighbour: fc.nat(3),
    }),
  });
  // MAP_DMA with VADDR alone (VFIO-MAP-10: -EINVAL over a mapping, -ENOENT over none, tracking
  // on or off) is reachable only on a container that answers VFIO_CHECK_EXTENSION(10) with 1,
  // and npm start runs one such campaign (the reference with Linux's uAPI) of 200 sequences.
  // Among the ordinary maps above, flags 4 with an aligned range and vaddr is about one
  // operation in 120, and it lands over a mapping rarely: in that campaign -EINVAL while
  // tracking is off was reached on 4 of seeds 1..20. So 0 to 2 of these per sequence, in an
  // element of their own drawn after the rest (the other draws of a seed stay as they were)
  // and placed like the accesses, half of them naming a mapping exactly, as the uAPI's use
  // does (the new vaddr of the mapping whose iova and size it names). Where 10 is answered 0
  // they end at that answer: VADDR as an unknown flag (VFIO-MAP-1) is drawn above.
  const vaddr = fc.record({
    at: fc.nat(Math.max(1, maxCommands)),
    op: fc.record({ k: fc.constant('vaddr' as const), target: fc.constantFrom('mapping' as const, 'range' as const), page, pages: fc.integer({ min: 1, max: 16 }) }),
  });
  // The device's group detached and attached again (VFIO-DETACH-1): up to two of each, drawn
  // after everything else (the other draws of a seed stay as they were) and placed like the
  // accesses. A run takes them only without hardware tracking (`group`).
  const group = fc.record({ at: fc.nat(Math.max(1, maxCommands)), op: fc.record({ k: fc.constant('group' as const), attach: fc.boolean() }) });
  return fc.record({
    config: fc
      .tuple(fc.constantFrom(true, true, true, false), fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined, freq: 3 }))
      .map(([hwDirty, limit]): VfioType1Config => (limit === undefined ? { hwDirty } : { hwDirty, dmaEntryLimit: limit })),
    // Most sequences negotiate manual clear and start tracking first (as a migration does).
    ops: fc
      .tuple(
        fc.constantFrom(true, true, true, false),
        fc.constantFrom(true, true, true, false),
        droppable(fc.array(op, { minLength: 1, maxLength: Math.max(1, maxCommands), size: 'medium' })),
        fc.array(rw, { maxLength: 3 }),
        fc.array(vaddr, { maxLength: 2 }),
        fc.array(group, { maxLength: 4 }),
      )
      .map(([negotiate, start, rest, rws, vaddrs, groups]): Op[] => {
        // `at` operations after the first map (an emulated device reads and writes memory the user
        // mapped; a vaddr is updated for a mapping), where there is one: shrinking `at` brings the
        // operation next to that map.
        const ops: Op[] = [...rest];
        const after = ops.findIndex((x) => x.k === 'map' || x.k === 'block') + 1;
        for (const r of [...rws, ...vaddrs, ...groups]) ops.splice(after + Math.min(r.at, ops.length - after), 0, r.op);
        return [...(negotiate ? [{ k: 'ext' as const, extension: 11 }] : []), ...(start ? [{ k: 'dirty' as const, flags: 1 }] : []), ...ops];
      }),
  });
}

const hex = (v: bigint | number) => `0x${v.toString(16)}`;
const num = (v: bigint) => Number(v);

/**
 * The requirements of an accepted call's transition that its answer's content decides, not
 * its errno: the report's pages, what a clear keeps. Each is listed where that content could
 * have failed it (rangeCall, unmapRange), not wherever the call was accepted; a wrong errno
 * still names every requirement of the transition (compare).
 */
const CONTENT_REQ = new Set(['VFIO-DIRTY-13', 'VFIO-CLEAR-4', 'VFIO-CLEAR-5', 'VFIO-CLEAR-6', 'VFIO-UNMAP-12', 'NOLOSS-1', 'NOLOSS-2', 'NOLOSS-3']);

/** What the errno step of a call lists: a refusal's rules; of an accepted call's, those its content does not decide. */
const errnoReq = (x: Prediction): string[] => (x.want !== 0 ? [...x.entry.req] : x.entry.req.filter((id) => !CONTENT_REQ.has(id)));

function bitmapArg(kind: BitmapKind, size: bigint): VfioBitmapArg {
  const need = ((size / PG + 63n) / 64n) * 8n;
  switch (kind) {
    case 'ok':
      return { pgsize: PG, size: need };
    case 'extra':
      return { pgsize: PG, size: need + 64n };
    case 'fixed8':
      return { pgsize: PG, size: 8n };
    case 'pgsize0':
      return { pgsize: 0n, size: need };
    case 'short':
      return { pgsize: PG, size: need >= 8n ? need - 8n : 0n };
    case 'zero':
      return { pgsize: PG, size: 0n };
    case 'tooLarge':
      return { pgsize: PG, size: BigInt(DIRTY_BITMAP_SIZE_MAX) + 8n };
    case 'pgsize8k':
      return { pgsize: 2n * PG, size: need };
    case 'pgsize2m':
      return { pgsize: 512n * PG, size: need };
  }
}

/**
 * The range of a call: from `page` for `pages` pages, one field made wrong, or (against the
 * mappings now) exactly the mapping `page` picks, or that mapping moved by a page so it bisects
 * it, or from it to the end of the next one or two.
 */
function rangeArgs(kind: RangeKind, page: number, pages: number, mappings: readonly Mapping[] = []): { iova: bigint; size: bigint } {
  const iova = VFIO_BASE + BigInt(page) * PG;
  const size = BigInt(pages) * PG;
  const small = mappings.filter(followed);
  const m = small.length > 0 ? small[page % small.length]! : undefined;
  switch (kind) {
    case 'ok':
      return { iova, size };
    case 'mapping':
      return m === undefined ? { iova, size } : { iova: m.iova, size: m.size };
    case 'bisect': {
      // The whole mapping m and the first page of the next one (or the last page of the one
      // before): a range that holds a mapping and bisects another; else m less its first page.
      if (m === undefined) return { iova, size };
      const next = small.find((n) => n.iova >= m.iova + m.size && n.size > PG);
      const prev = small.findLast((n) => n.iova + n.size <= m.iova && n.size > PG);
      if (next !== undefined && (pages % 2 === 0 || prev === undefined)) return { iova: m.iova, size: next.iova + PG - m.iova };
      if (prev !== undefined) return { iova: prev.iova + prev.size - PG, size: m.iova + m.size - (prev.iova + prev.size - PG) };
      return { iova: m.iova + PG, size: m.size };
    }
    case 'span': {
      // From the start of mapping m to the end of the next one or two (holes between them
      // allowed): one report or unmap over mappings whose bits share bitmap words
      // (drivers/vfio/vfio_iommu_type1.c update_user_bitmap: a mapping whose first bit is
      // not at a word's start ORs in the word the one before it wrote).
      if (m === undefined) return { iova, size };
      const after = small.filter((n) => n.iova >= m.iova + m.size).slice(0, 1 + (pages % 2));
      const last = after.at(-1) ?? m;
      return { iova: m.iova, size: last.iova + last.size - m.iova };
    }
    case 'unaligned':
      return { iova: iova + 0x800n, size };
    case 'sizeZero':
      return { iova, size: 0n };
    case 'sizeUnaligned':
      return { iova, size: size + 0x100n };
    case 'wrap':
      // Odd page counts from 2^64 - 2 pages (one page: the last valid page; more: past 2^64);
      // even ones end exactly at 2^64, which VFIO_IOMMU_DIRTY_PAGES refuses (range.iova +
      // range.size < range.iova) and MAP_DMA and UNMAP_DMA, whose checks subtract 1, do not.
      return { iova: pages % 2 === 0 ? U64 - size : U64 - 2n * PG, size };
  }
}

/** The answered report over [iova, iova + size), as the pages it holds: a bitmap of the wrong length is undecided, a bit past the range a violation (BITMAP-1). */
function decode(what: string, bitmap: unknown, iova: bigint, size: bigint): Set<number> {
  const want = reportBytes(size);
  if (!(bitmap instanceof Uint8Array) || bitmap.length !== want) {
    const npages = Number(size / PG);
    throw new Undecided(`${what} answered a bitmap of ${bitmap instanceof Uint8Array ? `${bitmap.length} bytes` : String(bitmap)}: expected a Uint8Array of ALIGN(${npages}, 64) / 8 = ${want} bytes (BITMAP-1)`);
  }
  return reportedPages(what, bitmap, iova, size);
}

/**
 * One scenario against one container: draws each call's arguments, makes the call, and
 * compares its answer with the model (model/vfio/: the container and its mappings, the
 * machine's prediction, the dirty state).
 */
/** An errno another Linux version gives for the same refusal, and which version: compare() takes either. */
interface Alternative {
  readonly errno: number;
  readonly as: string;
}
const emulatedGroup = (errno: number | undefined): Alternative | undefined => (errno === undefined ? undefined : { errno, as: 'as Linux v6.3+ with an emulated group' });
const addressableLimit = (errno: number | undefined): Alternative | undefined => (errno === undefined ? undefined : { errno, as: 'as Linux from the addressable-limit series, v6.18' });

class Run {
  readonly c: ContainerModel;
  readonly d: DirtyState;
  /** The mappings accepted UNMAP_DMA calls removed (a device write there must fault: VFIO-UNMAP-11). */
  private readonly removed: Mapping[] = [];
  /** A check after a refused call is running: it is not followed by another. */
  private rechecking = false;
  steps = 0;
  /** The time limit of the container's calls, one after another: one timer for all of them. */
  private readonly timer: CallTimer;

  /** The rule ids as the contract names them (rfc-2021: UNMAP-R1 where strict has NOLOSS-3). */
  readonly named: (ids: readonly string[]) => string[];
  /**
   * The optional extensions the container answered so far (VFIO_UNMAP_ALL, VFIO_UPDATE_VADDR,
   * VFIO_DIRTY_LOG_MANUAL_CLEAR): its first answer, 1 or 0, is the uAPI it offers, and every
   * later answer and call is held to it. Asked before the kit relies on it (`offers`).
   */
  private readonly answered = new Map<keyof Type1Uapi, boolean>();

  constructor(
    ctx: RunContext,
    readonly adapter: VfioType1Adapter,
    readonly inst: VfioType1Instance,
    readonly config: VfioType1Config,
    limits: CallLimits,
    readonly trace: TraceStep[],
    readonly contract: Contract = contracts.strict,
  ) {
    this.c = new ContainerModel(ctx, inst.vaddrLimit);
    this.d = new DirtyState(config.hwDirty, this.c.mappings, vfioDirtyContract(contract));
    this.timer = new CallTimer(limits.timeoutMs, limits.watch);
    this.named = renamer(contract);
  }

  /** The mappings the kit writes to and reports over (not the INT_MAX-page ones). */
  small(): readonly Mapping[] {
    return this.c.followedMappings();
  }

  /** `step`: the step this call is, with the requirements that cover its input, for a crash during it (engine/crash.ts). */
  call<T>(what: string, fn: () => Promise<T>, step?: InFlightStep, weight = 1): Promise<T> {
    this.steps++;
    const answer = this.timer.run(() => `${this.adapter.name} ${what}`, fn, weight);
    return step === undefined ? answer : answer.catch(inFlight(step, this.trace));
  }

  /** The uAPI as answered; an extension not asked yet as the strict reference offers it (nothing drawn relies on it before it is asked). */
  uapi(): Type1Uapi {
    return { ...STRICT_TYPE1_UAPI, ...Object.fromEntries(this.answered) };
  }

  /** Whether the container offers `extension` (9 or 10): asked first (VFIO_CHECK_EXTENSION, a step) unless answered already. */
  async offers(extension: typeof VFIO_UNMAP_ALL | typeof VFIO_UPDATE_VADDR): Promise<boolean> {
    const field = TYPE1_OPTIONAL_EXTENSIONS.get(extension)!;
    if (!this.answered.has(field)) await this.checkExtension(extension);
    return this.answered.get(field)!;
  }

  /**
   * VFIO_CHECK_EXTENSION. The first answer for an optional extension (9, 10, 11) may be 1 or
   * 0: it sets what the container offers (11 answered 1 negotiates manual clear); any other
   * answer, or a later one that differs, fails VFIO-EXT-1 (VFIO-CLEAR-1 for 11).
   */
  async checkExtension(extension: number): Promise<void> {
    const field = TYPE1_OPTIONAL_EXTENSIONS.get(extension);
    const first = field !== undefined && !this.answered.has(field);
    const what = `VFIO_CHECK_EXTENSION(${extension})`;
    const req = extension === 11 ? ['VFIO-CLEAR-1', 'VFIO-EXT-1'] : ['VFIO-EXT-1'];
    const got = await this.call('checkExtension', () => this.inst.checkExtension(extension), { op: what, expected: first ? '1 or 0' : `${this.c.predict(classifyExtension(extension, this.uapi())).want}`, req });
    if (first && (got === 0 || got === 1)) this.answered.set(field, got === 1);
    const x = this.c.predict(classifyExtension(extension, this.uapi()));
    const expected = first ? `1 or 0 (the container's choice, held from now on): ${x.want}` : `${x.want}`;
    this.trace.push({ op: what, answer: `${got}`, expected, req: x.entry.req, transitions: x.entry.taken });
    if (got !== x.want) throw new Violation('spec', first ? req : x.entry.req, `${what} returns ${first ? '1 or 0' : x.want}`, `${String(got)}`);
    this.c.settle(x);
  }

  errno(what: string, r: unknown): number {
    const e = (r as { errno?: unknown } | null)?.errno;
    if (typeof e !== 'number' || !Number.isInteger(e) || e > 0 || e < -4095) throw new Undecided(`${this.adapter.name} ${what} answered ${String(e)}: errno must be 0 or a negative errno`);
    return e;
  }

  async info(initial = false): Promise<void> {
    const i = await this.call('getInfo', () => this.inst.getInfo(), { op: 'VFIO_IOMMU_GET_INFO', expected: '0', req: ['VFIO-INFO-1'] });
    const e = this.errno('getInfo', i);
    const x = initial ? undefined : this.c.predict({ type: 'GET_INFO' });
    // The step shows beside each answer what the spec expects of it: dma_avail always (any
    // value in a fresh container whose limit the kit does not set), the flags and the
    // migration capability when they are wrong.
    const flagsOk = infoFlagsOk(i.flags);
    const migrationOk = migrationCapabilityOk(i.iovaPgsizes, i.migration);
    const wantAvail = !initial ? `${this.c.dmaAvail}` : this.config.dmaEntryLimit !== undefined ? `${this.config.dmaEntryLimit}` : "any (the limit is the implementation's)";
    const answer = [
      `${e}`,
      `dma_avail ${i.dmaAvail}`,
      ...(flagsOk ? [] : [`flags ${hex(i.flags)}`]),
      ...(migrationOk ? [] : [`migration flags ${i.migration.flags}, pgsize_bitmap ${hex(i.migration.pgsizeBitmap)}, max_dirty_bitmap_size ${hex(i.migration.maxDirtyBitmapSize)}`]),
    ];
    const expected = ['0', `dma_avail ${wantAvail}`, ...(flagsOk ? [] : ['flags PGSIZES | CAPS']), ...(migrationOk ? [] : [`migration flags 0, pgsize_bitmap the smallest page size, max_dirty_bitmap_size ${hex(DIRTY_BITMAP_SIZE_MAX)}`])];
    this.trace.push({ op: 'VFIO_IOMMU_GET_INFO', answer: answer.join(', '), expected: expected.join(', '), req: ['VFIO-INFO-1'], ...(x === undefined ? {} : { transitions: x.entry.taken }) });
    if (x !== undefined) this.c.settle(x);
    if (e !== 0) throw new Violation('spec', ['VFIO-INFO-1'], 'GET_INFO returns 0', `${e}`);
    if (!flagsOk) throw new Violation('spec', ['VFIO-INFO-1'], 'GET_INFO flags PGSIZES | CAPS', hex(i.flags));
    if (!migrationOk) {
      throw new Violation(
        'spec',
        ['VFIO-INFO-1'],
        `migration capability: flags 0, pgsize_bitmap the smallest page size, max_dirty_bitmap_size ${hex(DIRTY_BITMAP_SIZE_MAX)}`,
        `flags ${i.migration.flags}, pgsize_bitmap ${hex(i.migration.pgsizeBitmap)}, max ${hex(i.migration.maxDirtyBitmapSize)}`,
      );
    }
    if (initial) {
      if (minPgsize(i.iovaPgsizes) !== PG) throw new Undecided(`${this.adapter.name}: the kit drives 4 KiB-page containers; the smallest page size is ${hex(minPgsize(i.iovaPgsizes))}`);
      this.c.opened(i);
      if (this.config.dmaEntryLimit !== undefined && i.dmaAvail !== this.config.dmaEntryLimit)
        throw new Violation('spec', ['VFIO-MAP-5'], `dma_avail ${this.config.dmaEntryLimit} in a fresh container with that limit`, `dma_avail ${i.dmaAvail}`);
    } else if (i.dmaAvail !== this.c.dmaAvail) {
      throw new Violation('spec', ['VFIO-MAP-9', 'VFIO-UNMAP-11'], `dma_avail ${this.c.dmaAvail}`, `dma_avail ${i.dmaAvail}`);
    }
  }

  /** After a refused call: the mapping count is unchanged (the rest shows in later steps). */
  async unchanged(what: string, req: readonly string[]): Promise<void> {
    const i = await this.call('getInfo', () => this.inst.getInfo(), { op: 'VFIO_IOMMU_GET_INFO after the refused call', expected: '0', req: ['VFIO-INFO-1'] });
    if (i.dmaAvail !== this.c.dmaAvail) {
      // The check's own step, so that the trace shows the count expected beside the one answered.
      this.trace.push({ op: 'VFIO_IOMMU_GET_INFO after the refused call', answer: `dma_avail ${i.dmaAvail}`, expected: `dma_avail ${this.c.dmaAvail} (unchanged)`, req: [...req] });
      throw new Violation('spec', [...req], `${what} refused changes nothing: dma_avail ${this.c.dmaAvail}`, `dma_avail ${i.dmaAvail}`);
    }
  }

  /**
   * What every decoded report over [iova, iova + size) is also checked against: no false
   * dirty (PRECISION-1); no bit past the range (BITMAP-1, reportedPages), which can be set
   * only where the bitmap has bits past it (npages not a multiple of 64: a bitmap of the
   * wrong length is undecided, a page at the wrong bit a loss or a false dirty); and without
   * hardware tracking the all-dirty rule (VFIO-DIRTY-14), which checkAllDirty can fail only
   * where a mapping lies inside the range.
   */
  private reportChecks(iova: bigint, size: bigint): string[] {
    const inside = !this.config.hwDirty && this.d.device && this.small().some((m) => m.iova >= iova && m.iova + m.size <= iova + size);
    // VFIO-DETACH-1 where a mapping a detach made dirty lies in the range (checked before this report clears it).
    const detached = !this.config.hwDirty && this.d.reportsDetach(num(iova), num(size));
    return [...((size / PG) % 64n !== 0n ? ['BITMAP-1'] : []), 'PRECISION-1', ...(inside ? ['VFIO-DIRTY-14'] : []), ...(detached ? ['VFIO-DETACH-1'] : [])];
  }

  /** Whether a page of [iova, iova + size) is owed now, one `kept` leaves aside: what a report over the range could lose (NOLOSS-1, NOLOSS-3), or a clear keeping the rest must keep. */
  private owedIn(iova: bigint, size: bigint, kept?: ReadonlySet<number>): boolean {
    const [from, to] = [num(iova), num(iova + size)];
    for (const p of this.d.ghost.owed) if (p >= from && p < to && kept?.has(p) !== true) return true;
    return false;
  }

  /** VFIO-DIRTY-14, where it applies: without hardware tracking, while the device's group is attached, the report holds every page of every mapping inside its range. */
  allDirty(what: string, pages: ReadonlySet<number>, iova: bigint, size: bigint): void {
    if (!this.config.hwDirty && this.d.device) checkAllDirty(what, pages, this.c.mappings, iova, size, this.d.ghost.owed);
  }

  /**
   * Compares a call's errno. `range` is what the call was about: after a refusal, besides
   * the mapping count, a GET_BITMAP_NOCLEAR over each mapping it meets (every mapping if
   * the range is not one) shows that no dirty state changed (issue: a call that reads and
   * clears before a later check refuses it loses pages).
   */
  async compare(what: string, got: number, x: Prediction, range?: { iova: bigint; size: bigint }, req: readonly string[] = x.entry.req, negotiated = false, alternatives: readonly (Alternative | undefined)[] = []): Promise<void> {
    // A manual-clear operation taken since the negotiation: the step also checks that the negotiation was kept (VFIO-CLEAR-1), which -EINVAL, a container's answer to flags outside its mask, fails.
    const kept = negotiated && x.want === 0 ? ['VFIO-CLEAR-1'] : [];
    // A refusal another errno may give as well (another Linux version's answer: alternativeAnswers): the same refusal, changing nothing.
    const also = x.want < 0 ? alternatives.filter((a): a is Alternative => a !== undefined && a.errno !== x.want) : [];
    const expected = `${x.want} (${x.outcome})${also.map((a) => ` or ${a.errno} (${a.as})`).join('')}`;
    this.trace.push({ op: what, answer: `${got}`, expected, req: this.named([...req, ...kept]), transitions: x.entry.taken });
    if (got !== x.want && !also.some((a) => a.errno === got)) throw new Violation('spec', x.entry.req.length > 0 ? this.named([...x.entry.req, ...(got === -22 ? kept : [])]) : ['VFIO-MAP-9'], `${what} returns ${expected}`, `${got}`);
    if (x.want < 0) {
      await this.unchanged(what, x.entry.req);
      await this.recheck(what, range);
    }
  }

  /** After `what` was refused: a NO_CLEAR read over each mapping meeting `range` reports every page still owed. */
  async recheck(what: string, range: { iova: bigint; size: bigint } | undefined): Promise<void> {
    if (this.rechecking || !this.c.tracking || !this.c.manualClear) return;
    const meets = (m: Mapping) => range === undefined || range.size === 0n || (m.iova < range.iova + range.size && range.iova < m.iova + m.size);
    const affected = this.small().filter(meets);
    this.rechecking = true;
    try {
      for (const m of affected) await this.rangeCall(`after the refused ${what}: DIRTY_PAGES GET_BITMAP_NOCLEAR(iova ${hex(m.iova)}, size ${hex(m.size)})`, NOCLEAR, m.iova, m.size, bitmapArg('ok', m.size), []);
    } finally {
      this.rechecking = false;
    }
  }

  async op(o: Op): Promise<void> {
    switch (o.k) {
      case 'info':
        return this.info();
      case 'ext':
        return this.checkExtension(o.extension);
      case 'map':
        return this.map(o);
      case 'unmap':
        return this.unmap(o);
      case 'dma':
        return this.dma(o);
      case 'dirty':
        return this.dirtyFlags(o.flags);
      case 'bitmap':
        return this.bitmapOp(o);
      case 'block':
        return this.block(o);
      case 'limit':
        return this.limit(o.pages);
      case 'round':
        return this.round(o);
      case 'rw':
        return this.rw(o);
      case 'vaddr':
        return this.setVaddr(o);
      case 'group':
        return this.group(o.attach);
    }
  }

  /**
   * The device's group leaves the container (`attach` false) or joins it again, where the
   * adapter offers both calls and the IOMMU records no dirty state (the scope is then the
   * groups': VFIO-DIRTY-14, VFIO-DETACH-1); otherwise nothing. A detach while detached, or an
   * attach while attached, is nothing too. Both must answer 0. Under manual clear a
   * CLEAR_BITMAP clears the selected pages of a detach's whole-dirty mappings as of any other
   * dirty state (Linux has no manual clear; the RFC's clear is a bitmap_clear of dma->bitmap,
   * where vfio_iommu_populate_bitmap_full sets them).
   */
  async group(attach: boolean): Promise<void> {
    const { detachDevice, attachDevice } = this.inst;
    if (detachDevice === undefined || attachDevice === undefined || this.config.hwDirty || attach === this.d.device) return;
    const op = attach ? "VFIO_GROUP_SET_CONTAINER (the device's group joins again)" : "VFIO_GROUP_UNSET_CONTAINER (the device's group leaves; an emulated group keeps the container)";
    const req = attach ? ['VFIO-DIRTY-14'] : ['VFIO-DETACH-1'];
    const r = await this.call(attach ? 'attachDevice' : 'detachDevice', () => (attach ? attachDevice() : detachDevice()), { op, expected: '0', req });
    const e = this.errno(attach ? 'attachDevice' : 'detachDevice', r);
    this.trace.push({ op, answer: `${e}`, expected: '0', req });
    if (e !== 0) throw new Violation('spec', req, `${op} returns 0`, `${e}`);
    if (attach) this.d.deviceReattached();
    else this.d.deviceDetached(this.c.tracking);
  }

  /**
   * Before a write into `m` over [iova, iova + length), with hardware tracking: if a page it
   * may dirty is dirty already (owed, or a new mapping's), `m` is reported and cleared first
   * (GET_BITMAP, one step in the trace), so that what the access dirties is owed by it alone
   * and a page it fails to dirty shows.
   */
  async cleanBefore(m: Mapping, iova: bigint, length: bigint): Promise<void> {
    if (!this.c.tracking || !this.config.hwDirty) return;
    const from = iova < m.iova ? m.iova : iova - (iova % PG);
    const to = iova + length < m.iova + m.size ? iova + length : m.iova + m.size;
    let dirty = false;
    for (let p = from; p < to && !dirty; p += PG) dirty = this.d.ghost.owed.has(num(p)) || this.d.allowed(num(p));
    if (dirty) await this.rangeCall(`before the access: DIRTY_PAGES GET_BITMAP(iova ${hex(m.iova)}, size ${hex(m.size)})`, GET, m.iova, m.size, bitmapArg('ok', m.size), [], true);
  }

  /**
   * A vfio_dma_rw access (VFIO-RW-1..4), placed by its shape against the mappings now; an
   * adapter without `dmaRw` skips it. The errno is the walk's (spec/vfio/dma-rw.ts); a
   * write's pages are owed while tracking; a refused write's earlier chunks may or may not
   * have been written; a read, and a refused access at and past its refusal, dirty nothing.
   */
  async rw(o: Extract<Op, { k: 'rw' }>): Promise<void> {
    const dmaRw = this.inst.dmaRw;
    if (dmaRw === undefined) return;
    const maps = this.small();
    const m = maps.length > 0 ? maps[o.pick % maps.length]! : undefined;
    let iova: bigint;
    let length: bigint;
    if (m === undefined || o.shape === 'window') {
      iova = VFIO_BASE + BigInt(o.pick % VFIO_WINDOW_PAGES) * PG + BigInt(o.extra % 4096);
      length = 1n + BigInt(o.extra % 12_289);
    } else {
      const npages = m.size / PG;
      const q = BigInt(Math.floor(o.pick / maps.length));
      const end = m.iova + m.size;
      const nb = o.neighbour & 3;
      switch (o.shape) {
        case 'straddle':
          // Across a page boundary inside m (across its end when it has one page).
          iova = m.iova + (npages > 1n ? q % (npages - 1n) : 0n) * PG + PG - 1n;
          length = 2n;
          break;
        case 'pages': {
          // 1..3 pages and a few bytes, from a page far enough from m's end to fit when m is large enough.
          const k = BigInt(1 + (o.extra % 3));
          iova = m.iova + (q % (npages > k ? npages - k : 1n)) * PG + [0n, 1n, PG - 1n, BigInt(o.extra % 4096)][nb]!;
          length = k * PG + BigInt((o.extra >> 2) % 8);
          break;
        }
        case 'edge': {
          // Make a neighbour of one or two pages right after m (read-write, read-only or write-only), unless one is there or it is to stay a hole.
          if (nb > 0 && this.c.mappingAt(end) === undefined) {
            const pages = BigInt(1 + (o.extra % 2));
            if (this.c.mappings.every((d) => d.iova >= end + pages * PG || d.iova + d.size <= end)) await this.mapRange([3, 1, 2][nb - 1]!, VADDR_BASE + (end - VFIO_BASE), end, pages * PG);
          }
          iova = end - 1n - BigInt(o.extra % 4096);
          length = end - iova + 1n + BigInt((o.extra >> 12) % 4100);
          break;
        }
        default:
          iova = m.iova + (q % npages) * PG + BigInt(o.extra % 4096);
          length = 0n;
      }
    }
    if (m !== undefined && o.write && o.shape !== 'window') await this.cleanBefore(m, iova, length);
    const walk = dmaRwWalk(this.c.mappings, iova, length, o.write);
    const what = `vfio_dma_rw(${o.write ? 'write' : 'read'} ${length} bytes at ${hex(iova)})`;
    const r = await this.call('dmaRw', () => dmaRw.call(this.inst, iova, Number(length), o.write), { op: what, expected: `${walk.errno}`, req: walk.req });
    const got = this.errno('dmaRw', r);
    // Besides the answer, what the later reports check of this access: the pages it dirties or leaves clean (VFIO-RW-3), nothing past a refusal (VFIO-RW-4).
    const checks = [...(walk.errno === 0 && (this.c.tracking || !o.write) ? ['VFIO-RW-3'] : []), ...(walk.errno !== 0 && length > 0n ? ['VFIO-RW-4'] : [])];
    this.trace.push({ op: what, answer: `${got}`, expected: `${walk.errno}`, req: [...new Set([...walk.req, ...checks])] });
    if (got !== walk.errno) throw new Violation('spec', walk.req, `${what} returns ${walk.errno}`, `${got}`);
    const pages = walk.chunks.flatMap((c) => rwDirtiedPages(c).map(num));
    if (!o.write) this.d.rwUntouched(what, ['VFIO-RW-3'], pages);
    else if (walk.errno === 0) this.d.rwWritten(what, pages, this.c.tracking);
    else this.d.rwMaybeWritten(pages);
    if (walk.refusedAt === undefined || length === 0n) return;
    // At and past the refusal nothing is written or dirtied (VFIO-RW-4).
    const past: number[] = [];
    for (let p = walk.refusedAt - (walk.refusedAt % PG); p < iova + length; p += PG) if (this.c.mappingAt(p) !== undefined) past.push(num(p));
    this.d.rwUntouched(what, ['VFIO-RW-4'], past);
  }

  async map(o: Extract<Op, { k: 'map' }>): Promise<void> {
    // VADDR after asking for VFIO_UPDATE_VADDR: refused either way (VFIO-MAP-1 where it is not offered, VFIO-MAP-10 where it is).
    if ((o.flags & VFIO_DMA_MAP_FLAG_VADDR) !== 0) await this.offers(VFIO_UPDATE_VADDR);
    if (o.range === 'huge' && !this.c.tracking) return this.hugeWhileOff();
    // While the device's group is out the container has no IOMMU domain: Linux then checks no
    // IOVA range and pins nothing at MAP_DMA (vfio_iommu_aper_expand over no domain;
    // vfio_dma_do_map pins only with a domain) and refuses the group's return over such a
    // mapping instead. The kit makes neither map then (VFIO-MAP-6 and -7 are checked with the group in).
    if (!this.d.device && (o.range === 'outside' || o.vaddr === 'notBacked')) return;
    let iova = VFIO_BASE + BigInt(o.page) * PG;
    let size = BigInt(o.pages) * PG;
    let vaddr = VADDR_BASE + BigInt(o.page) * PG;
    if (o.range === 'unaligned') iova += 0x800n;
    if (o.range === 'sizeZero') size = 0n;
    if (o.range === 'wrap') iova = U64 - PG;
    // Past the last IOVA range, when there is room for an address there (a range ending at 2^64 - 1 leaves none: a u64 cannot hold 2^64).
    const ranges = this.c.iovaRanges;
    const past = ranges.length > 0 ? ranges[ranges.length - 1]!.end + 1n : U64;
    if (o.range === 'outside') iova = this.inst.vaddrLimit > 0n && past < U64 ? past : U64 - 16n * PG;
    if (o.range === 'huge') size = HUGE;
    if (o.vaddr === 'unaligned') vaddr += 0x10n;
    if (o.vaddr === 'notBacked') vaddr = this.inst.vaddrLimit;
    if (o.vaddr === 'wrap') vaddr = U64 - PG;
    // A one-page "wrap" ends at 2^64 and wraps nothing: with the group out it is a map Linux takes (no range check, no pin), as above.
    if (!this.d.device && (o.range === 'wrap' || o.vaddr === 'wrap') && iova + size <= U64 && vaddr + size <= U64) return;
    await this.mapRange(o.flags, vaddr, iova, size);
  }

  /**
   * MAP_DMA with VADDR alone where VFIO_UPDATE_VADDR is offered (VFIO-MAP-10): the kit never
   * invalidates a vaddr (UNMAP_DMA with VADDR), so it is refused, -EINVAL over a mapping
   * (the one it names exactly, or part of one) and -ENOENT over none, and changes nothing.
   */
  async setVaddr(o: Extract<Op, { k: 'vaddr' }>): Promise<void> {
    if (!(await this.offers(VFIO_UPDATE_VADDR))) return;
    const { iova, size } = rangeArgs(o.target === 'mapping' ? 'mapping' : 'ok', o.page, o.pages, this.c.mappings);
    await this.mapRange(VFIO_DMA_MAP_FLAG_VADDR, VADDR_BASE + (iova - VFIO_BASE), iova, size);
  }

  async mapRange(flags: number, vaddr: bigint, iova: bigint, size: bigint): Promise<boolean> {
    const x = this.c.predict(classifyMapDma(this.c.view(), { flags, iova, size, vaddr }, this.uapi()));
    const what = `MAP_DMA(flags ${flags}, vaddr ${hex(vaddr)}, iova ${hex(iova)}, size ${hex(size)})`;
    const r = await this.call('mapDma', () => this.inst.mapDma(flags, vaddr, iova, size), { op: what, expected: `${x.want} (${x.outcome})`, req: x.entry.req }, callWeight(size));
    const got = this.errno('mapDma', r);
    const view = this.c.view();
    await this.compare(what, got, x, { iova, size }, x.entry.req, false, [
      emulatedGroup(vaddrAnswerWithEmulatedGroup(view, { op: 'map', flags, iova, size, vaddr }, this.uapi())),
      addressableLimit(overflowAnswerWithAddressableLimit(view, { op: 'map', flags, iova, size, vaddr }, this.uapi())),
    ]);
    this.c.settle(x);
    if (!x.effects.has('mapDma')) return false;
    const m = { iova, size, flags };
    this.c.mapped(m);
    this.d.mapped(m, this.c.tracking);
    return true;
  }

  /** A 2 MiB-aligned mapping of 2 MiB whose vaddr is 2 MiB-aligned too: one block leaf (VFIO-CLEAR-6 needs it). */
  async block(o: Extract<Op, { k: 'block' }>): Promise<void> {
    const iova = BLOCK * BigInt(1 + 2 * o.at);
    const vaddr = VADDR_BASE + 0x4000_0000n + iova;
    if (!(await this.mapRange(o.flags, vaddr, iova, BLOCK))) return;
    this.d.blockMapped(num(iova), this.c.tracking);
  }

  /**
   * The size limits of MAP_DMA and START (VFIO-MAP-8, VFIO-DIRTY-4): a mapping of exactly
   * DIRTY_BITMAP_PAGES_MAX (INT_MAX) pages, accepted while tracking and letting START
   * through, or one page more; the kit unmaps it at once (no DMA goes there).
   */
  async limit(pages: 'max' | 'over'): Promise<void> {
    if (pages === 'over' && !this.c.tracking) return this.hugeWhileOff();
    const iova = 0x80_0000_0000n;
    const vaddr = 0x40_0000_0000n;
    const size = pages === 'over' ? HUGE : HUGE - PG;
    // Read-only: a writable mapping made while tracking starts dirty, and an implementation
    // would fill a 256 MiB bitmap for it within one call's time limit.
    if (!(await this.mapRange(1, vaddr, iova, size))) return;
    if (!this.c.tracking) await this.dirtyFlags(VFIO_IOMMU_DIRTY_PAGES_FLAG_START);
    await this.unmapRange(0, iova, size, undefined);
  }

  /** A directed manual-clear round on one small mapping: writes, a NO_CLEAR read, a clear of some pages, a write, a read. */
  async round(o: Extract<Op, { k: 'round' }>): Promise<void> {
    const maps = this.small();
    if (maps.length === 0) return;
    const m = maps[o.pick % maps.length]!;
    const npages = Number(m.size / PG);
    const write = (w: number) => this.dma({ k: 'dma', pick: 0, mapped: true, offset: 0, at: m.iova + BigInt(w % npages) * PG });
    for (const w of o.writes) await write(w);
    const arg = bitmapArg('ok', m.size);
    if (roundDoes(o, 'noClearRead')) await this.rangeCall(`round: DIRTY_PAGES GET_BITMAP_NOCLEAR(iova ${hex(m.iova)}, size ${hex(m.size)})`, NOCLEAR, m.iova, m.size, arg, []);
    if (roundDoes(o, 'clear')) {
      const data = new Uint8Array(Number(arg.size));
      const selected: number[] = [];
      for (const b of [...new Set([...o.bits, ...o.writes.slice(0, 1)].map((b) => b % npages))]) {
        data[b >> 3]! |= 1 << (b & 7);
        selected.push(num(m.iova) + b * 4096);
      }
      await this.rangeCall(`round: DIRTY_PAGES CLEAR_BITMAP(iova ${hex(m.iova)}, size ${hex(m.size)}, ${selected.length} bits set)`, CLEAR, m.iova, m.size, { ...arg, data }, selected);
    }
    if (roundDoes(o, 'lastWrite')) await write(o.last);
    if (roundDoes(o, 'read')) await this.rangeCall(`round: DIRTY_PAGES ${o.read === GET ? 'GET_BITMAP' : 'GET_BITMAP_NOCLEAR'}(iova ${hex(m.iova)}, size ${hex(m.size)})`, o.read, m.iova, m.size, arg, []);
  }

  /**
   * VFIO-DIRTY-4 while tracking is off: a mapping of more than INT_MAX pages (1 GiB-aligned,
   * so it maps as blocks), START (refused while it exists), and its unmap. The kit keeps
   * such a mapping for no longer than this.
   */
  async hugeWhileOff(): Promise<void> {
    const iova = 0x80_0000_0000n;
    const vaddr = 0x40_0000_0000n;
    if (!(await this.mapRange(3, vaddr, iova, HUGE))) return;
    await this.dirtyFlags(VFIO_IOMMU_DIRTY_PAGES_FLAG_START);
    await this.unmapRange(0, iova, HUGE, undefined);
  }

  async unmap(o: Extract<Op, { k: 'unmap' }>): Promise<void> {
    // VADDR is drawn only where VFIO_UPDATE_VADDR is not offered (a refusal); ALL after asking for VFIO_UNMAP_ALL.
    if ((o.flags & VFIO_DMA_UNMAP_FLAG_VADDR) !== 0 && (await this.offers(VFIO_UPDATE_VADDR))) return;
    if ((o.flags & VFIO_DMA_UNMAP_FLAG_ALL) !== 0) await this.offers(VFIO_UNMAP_ALL);
    let { iova, size } = rangeArgs(o.range, o.page, o.pages, this.c.mappings);
    if ((o.flags & VFIO_DMA_UNMAP_FLAG_ALL) !== 0 && (o.range === 'ok' || o.range === 'mapping')) [iova, size] = [0n, 0n];
    const getDirty = (o.flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) !== 0;
    return this.unmapRange(o.flags, iova, size, getDirty ? bitmapArg(o.bitmap, size) : undefined);
  }

  async unmapRange(flags: number, iova: bigint, size: bigint, bitmap: VfioBitmapArg | undefined): Promise<void> {
    const x = this.c.predict(classifyUnmapDma(this.c.view(), { flags, iova, size, ...(bitmap === undefined ? {} : { bitmap }) }, this.uapi()));
    const what = `UNMAP_DMA(flags ${flags}, iova ${hex(iova)}, size ${hex(size)}${bitmap === undefined ? '' : `, bitmap pgsize ${hex(bitmap.pgsize)} size ${bitmap.size}`})`;
    const report = x.effects.has('reportDirty');
    // The report could lose a page (VFIO-UNMAP-12, NOLOSS-3) only where one of its range is owed.
    const owed = report && this.owedIn(iova, size);
    if (report) this.d.ghost.beginReport();
    const r = await this.call('unmapDma', () => this.inst.unmapDma(flags, iova, size, bitmap), { op: what, expected: `${x.want} (${x.outcome})`, req: this.named(x.entry.req) }, callWeight(size));
    const got = this.errno('unmapDma', r);
    const view = this.c.view();
    await this.compare(what, got, x, { iova, size }, errnoReq(x), false, [
      emulatedGroup(vaddrAnswerWithEmulatedGroup(view, { op: 'unmap', flags }, this.uapi())),
      addressableLimit(overflowAnswerWithAddressableLimit(view, { op: 'unmap', flags, iova, size, ...(bitmap === undefined ? {} : { bitmap }) }, this.uapi())),
    ]);
    this.c.settle(x);
    if (!x.effects.has('unmapDma')) return;
    const victims = this.c.victims(flags, iova, size);
    if (report) {
      const pages = decode(what, r.bitmap, iova, size);
      this.trace.push({ op: `${what}: bitmap`, answer: `${pages.size} pages`, expected: `the dirty pages of the range`, req: [...(owed ? ['VFIO-UNMAP-12', this.d.contract.unmapRule] : []), ...this.reportChecks(iova, size)] });
      this.allDirty(what, pages, iova, size);
      this.d.reportedByUnmap(num(iova), num(size), pages);
    }
    const bytes = victims.reduce((s, m) => s + m.size, 0n);
    if (r.unmapped !== bytes) throw new Violation('spec', ['VFIO-UNMAP-11'], `${what} unmaps ${bytes} bytes`, `${String(r.unmapped)}`);
    for (const m of victims) {
      this.c.removed(m);
      this.d.unmapped(m);
      this.removed.push(m);
    }
  }

  /** A device write: to a page of a mapping (the mapping picked first, then the page), or anywhere in the window, or at `at`. */
  async dma(o: Extract<Op, { k: 'dma' }> & { at?: bigint }): Promise<void> {
    const maps = this.small();
    let page: bigint;
    if (o.at !== undefined) page = o.at;
    else if (o.mapped && maps.length > 0) {
      const m = maps[o.pick % maps.length]!;
      page = m.iova + BigInt(Math.floor(o.pick / maps.length) % Number(m.size / PG)) * PG;
    } else page = VFIO_BASE + BigInt(o.pick % VFIO_WINDOW_PAGES) * PG;
    const iova = page + BigInt(o.offset & ~3);
    const m = this.c.mappingAt(page);
    if (!this.d.device) return; // the device's group is detached: the device writes nothing through the container
    const r = await this.call('deviceDmaWrite', () => this.inst.deviceDmaWrite(iova), { op: `device DMA write at ${hex(iova)}`, expected: writeGoesThrough(m) ? 'ok' : 'fault', req: ['VFIO-MAP-9', 'VFIO-UNMAP-11'] });
    if (typeof r?.ok !== 'boolean') throw new Undecided(`${this.adapter.name} deviceDmaWrite answered ${JSON.stringify(r)}: expected { ok: boolean }`);
    const writable = writeGoesThrough(m);
    // What the answer can fail (checkDeviceWrite): through a mapping, its permissions (VFIO-MAP-9);
    // without one, VFIO-UNMAP-11's "stops their translation" only where an accepted UNMAP_DMA
    // removed a mapping holding the page (a page never mapped says nothing of an unmap).
    const req = m !== undefined ? ['VFIO-MAP-9'] : this.removed.some((d) => page >= d.iova && page < d.iova + d.size) ? ['VFIO-UNMAP-11'] : [];
    this.trace.push({ op: `device DMA write at ${hex(iova)}`, answer: r.ok ? 'ok' : 'fault', expected: writable ? 'ok' : 'fault', req });
    checkDeviceWrite(iova, m, r.ok);
    if (r.ok) this.d.written(num(page), this.c.tracking);
  }

  async dirtyFlags(flags: number): Promise<void> {
    const what = `DIRTY_PAGES(flags ${hex(flags)})`;
    const x = this.c.predict(classifyDirtyPagesArgs(this.c.view(), { flags, iova: VFIO_BASE, size: PG, bitmap: { pgsize: PG, size: 8n } }));
    const range = { iova: VFIO_BASE, size: PG, bitmap: { pgsize: PG, size: 8n, data: new Uint8Array(8) } };
    const r = await this.call('dirtyPages', () => this.inst.dirtyPages(flags, range), { op: what, expected: `${x.want} (${x.outcome})`, req: x.entry.req });
    await this.compare(what, this.errno('dirtyPages', r), x);
    this.c.settle(x);
    if (x.effects.has('startTracking')) this.d.trackingStarted();
    if (x.effects.has('stopTracking')) this.d.trackingStopped();
    // A single-flag GET/NOCLEAR/CLEAR over one page only arrives here from `bitmap`.
  }

  async bitmapOp(o: Extract<Op, { k: 'bitmap' }>): Promise<void> {
    const { iova, size } = rangeArgs(o.range, o.page, o.pages, this.c.mappings);
    const arg = bitmapArg(o.bitmap, size);
    const name = o.flags === GET ? 'GET_BITMAP' : o.flags === NOCLEAR ? 'GET_BITMAP_NOCLEAR' : 'CLEAR_BITMAP';
    let data: Uint8Array | undefined;
    const selected: number[] = [];
    if (o.flags === CLEAR) {
      data = new Uint8Array(Number(arg.size < 4096n ? arg.size : 4096n));
      const npages = Number(size / PG);
      const select = (b: number) => {
        if (b >> 3 >= data!.length) return;
        data![b >> 3]! |= 1 << (b & 7);
        selected.push(num(iova) + b * 4096);
      };
      // Bits in ascending order: none past the bytes sent is selected.
      if (o.allBits) for (let b = 0; b < npages && b >> 3 < data.length; b++) select(b);
      else for (const b of o.bits) if (b < npages) select(b);
    }
    const bitmap = data === undefined ? arg : { ...arg, data };
    const what = `DIRTY_PAGES ${name}(iova ${hex(iova)}, size ${hex(size)}, bitmap pgsize ${hex(arg.pgsize)} size ${arg.size}${data === undefined ? '' : `, ${selected.length} bits set`})`;
    await this.rangeCall(what, o.flags, iova, size, bitmap, selected);
  }

  /** `quiet`: the report's pages are checked without a trace step of their own (the kit's own clearing report before an access). */
  async rangeCall(what: string, flags: number, iova: bigint, size: bigint, bitmap: VfioBitmapArg, selected: readonly number[], quiet = false): Promise<void> {
    const view = this.c.view();
    let x = this.c.predict(classifyDirtyPagesArgs(view, { flags, iova, size, bitmap }));
    // A range ending exactly at 2^64: v6.12 refuses it (VFIO-DIRTY-6), the addressable-limit checks take it as any other (the answer says which the container has).
    const limitFacts = classifyDirtyPagesArgs(view, { flags, iova, size, bitmap }, 'addressable-limit');
    const atLimit = 'wraps' in limitFacts && x.entry.req.includes('VFIO-DIRTY-6') && !limitFacts.wraps ? this.c.predict(limitFacts) : undefined;
    const report = x.effects.has('reportDirty') || (atLimit?.effects.has('reportDirty') ?? false);
    // A report could lose a page (VFIO-DIRTY-13 or VFIO-CLEAR-4, with NOLOSS-1) only where one of its range is owed.
    const owing = report && this.owedIn(iova, size);
    // VFIO-CLEAR-6 is checked only where a clear selects part of a block: the block's other pages stay owed.
    const clears = x.effects.has('clearSelected') || (atLimit?.effects.has('clearSelected') ?? false);
    const chosen = clears ? new Set(selected) : undefined;
    const partBlock = chosen !== undefined && this.d.selectsPartOfBlock(selected, chosen);
    // With hardware tracking (without it every mapped page is reported whatever a clear did), a
    // clear shows in later reports where it had a dirty page to clear (VFIO-CLEAR-5: reported
    // again unwritten, or a write after it lost) or an owed page of its range to keep
    // (VFIO-CLEAR-5, and NOLOSS-2: a clear never forgets pages it was not asked to clear).
    const toClear = chosen !== undefined && this.config.hwDirty && selected.some((p) => this.d.ghost.owed.has(p) || this.d.allowed(p));
    const toKeep = chosen !== undefined && this.config.hwDirty && this.owedIn(iova, size, chosen);
    if (report) this.d.ghost.beginReport();
    const r = await this.call('dirtyPages', () => this.inst.dirtyPages(flags, { iova, size, bitmap }), { op: what, expected: `${x.want} (${x.outcome})`, req: x.entry.req });
    const negotiated = (flags === NOCLEAR || flags === CLEAR) && this.c.manualClear;
    const got = this.errno('dirtyPages', r);
    if (atLimit !== undefined && got === atLimit.want && got !== x.want) x = atLimit;
    const clearing = x.effects.has('clearSelected');
    await this.compare(
      what,
      got,
      x,
      { iova, size },
      [...errnoReq(x), ...(clearing && partBlock ? ['VFIO-CLEAR-6'] : []), ...(clearing && (toClear || toKeep) ? ['VFIO-CLEAR-5'] : []), ...(clearing && toKeep ? ['NOLOSS-2'] : [])],
      negotiated,
      [addressableLimit(overflowAnswerWithAddressableLimit(view, { op: 'dirty', flags, iova, size, bitmap, manualClearNegotiated: this.c.manualClear }, this.uapi()))],
    );
    this.c.settle(x);
    if (x.effects.has('reportDirty')) {
      const pages = decode(what, r.bitmap, iova, size);
      this.allDirty(what, pages, iova, size);
      const clear = x.effects.has('clearReported');
      const owed = this.d.ghost.owed;
      if (!quiet)
        this.trace.push({
          op: `${what}: bitmap`,
          answer: `${pages.size} pages${pages.size > 0 && pages.size <= 8 ? ` (${[...pages].map(hex).join(', ')})` : ''}`,
          expected: `the owed pages${
            owed.size > 0 && owed.size <= 8
              ? ` (${[...owed]
                  .sort((a, b) => a - b)
                  .map(hex)
                  .join(', ')})`
              : ''
          }`,
          req: [...(owing ? x.entry.req : []), ...this.reportChecks(iova, size)],
        });
      this.d.reported(num(iova), num(size), pages, clear);
    }
    // VFIO-CLEAR-5: exactly the selected pages are discharged; the rest of the range stay owed, kept by this call:
    // a later report missing one names this call's rules, VFIO-CLEAR-5 and NOLOSS-2 (a clear never forgets pages it was not asked to clear).
    if (chosen !== undefined && clearing) this.d.clearedSelected(num(iova), num(size), selected, chosen, { op: what, req: ['VFIO-CLEAR-5', 'NOLOSS-2'] });
  }

  /** The final reports, one GET_BITMAP per mapping (a range that always fits, so never refused): everything owed must be in them. */
  async finish(): Promise<void> {
    if (!this.c.tracking) return;
    for (const m of this.small()) await this.rangeCall(`final DIRTY_PAGES GET_BITMAP(iova ${hex(m.iova)}, size ${hex(m.size)})`, GET, m.iova, m.size, bitmapArg('ok', m.size), []);
    this.d.checkAllReported();
  }
}

async function runScenario(ctx: RunContext, adapter: VfioType1Adapter, sc: Scenario, limits: CallLimits, trace: TraceStep[], contract: Contract = contracts.strict): Promise<number> {
  const inst = await timed(`${adapter.name} create`, limits.timeoutMs, () => adapter.create(sc.config), limits.watch);
  if (typeof inst !== 'object' || inst === null || typeof inst.mapDma !== 'function' || typeof inst.vaddrLimit !== 'bigint') throw new Undecided(`${adapter.name} create answered ${String(inst)}: expected a container instance`);
  trace.push({ op: `create(hwDirty ${sc.config.hwDirty}${sc.config.dmaEntryLimit === undefined ? '' : `, dma_entry_limit ${sc.config.dmaEntryLimit}`})`, answer: 'a container', expected: 'a container', req: [] });
  const run = new Run(ctx, adapter, inst, sc.config, limits, trace, contract);
  await run.info(true);
  for (const o of sc.ops) await run.op(o);
  await run.finish();
  return run.steps;
}

/** Every requirement the profile gives a verdict on (under strict). */
export const VFIO_TYPE1_REQUIREMENTS: readonly string[] = [...Object.keys(requirements).filter((id) => id.startsWith('VFIO-')), 'NOLOSS-1', 'NOLOSS-2', 'NOLOSS-3', 'PRECISION-1', 'BITMAP-1'];

/**
 * A rule of the profile as `contract` names it: a strict rule the contract replaces is its
 * variant rules (rfc-2021: NOLOSS-3 by UNMAP-R1, UNMAP_DMA's sync before the unmap); the
 * profile's other rules are the container's and every contract keeps them.
 */
function renamer(contract: Contract): (ids: readonly string[]) => string[] {
  const by = new Map<string, readonly string[]>(contract.rules.replaced.map((r) => [r.id, r.by]));
  return (ids) => [...new Set(ids.flatMap((id) => by.get(id) ?? [id]))];
}

/** What `contract` changes in the container's dirty state (model/vfio/dirty-state.ts). */
export function vfioDirtyContract(contract: Contract): VfioDirtyContract {
  if (contract.name === 'strict') return STRICT_VFIO_DIRTY;
  const unmapRule = renamer(contract)(['NOLOSS-3'])[0];
  if (unmapRule !== 'NOLOSS-3' && unmapRule !== 'UNMAP-R1' && unmapRule !== 'UNMAP-U3') throw new RangeError(`vfio-type1: contract ${contract.name} replaces NOLOSS-3 by ${unmapRule}, which the profile does not judge`);
  const { enable } = contract.capabilities.setDirtyTracking;
  const start = enable.clearsStale && !enable.invalidates;
  const report = contract.capabilities.readAndClear.invalidatesCleared === 'no';
  return { unmapRule, startClearsStale: enable.clearsStale, ...(start || report ? { clearsWithoutTlbi: { start, report } } : {}) };
}

/** The requirements the profile gives a verdict on under `contract`. */
export function vfioType1Requirements(contract: Contract): readonly string[] {
  return renamer(contract)(VFIO_TYPE1_REQUIREMENTS);
}

/**
 * The contract a run checks: `--contract` where it names this profile (its `profiles`;
 * strict and rfc-2021), else the one the adapter declares, else strict. A declared contract
 * that does not name the profile is undecided.
 */
export function vfioRunContract(adapter: VfioType1Adapter, requested: ContractName | undefined): { contract: Contract; declared?: ContractName } {
  const declared = adapter.contract;
  if (declared !== undefined && !coversProfile(declared, 'vfio-type1')) throw new Undecided(`${adapter.name} declares contract ${declared}, which is not a contract of profile vfio-type1`);
  const name = requested !== undefined && coversProfile(requested, 'vfio-type1') ? requested : (declared ?? 'strict');
  return { contract: contracts[name], ...(declared !== undefined && declared !== name ? { declared } : {}) };
}

export async function runVfioType1Profile(adapter: VfioType1Adapter, options: RunOptions): Promise<ProfileResult> {
  const ctx = new RunContext();
  const { contract, declared } = vfioRunContract(adapter, options.contract);
  const coverage = (): Record<string, CoverageFigure> => ({ vfioType1: ctx.coverage(vfioType1Machine) });
  const result = await runScenarioProfile(
    {
      name: adapter.profile,
      adapter: adapter.name,
      arbitrary: scenarioArbitrary(options.maxCommands),
      run: (sc, trace) => runScenario(ctx, adapter, sc, options, trace, contract),
      requirements: vfioType1Requirements(contract),
      coverage,
      configOf: (sc) => ({ hwDirty: sc.config.hwDirty, ...(sc.config.dmaEntryLimit === undefined ? {} : { dmaEntryLimit: sc.config.dmaEntryLimit }) }),
    },
    options,
  );
  if (contract.name === 'strict' && declared === undefined) return result;
  return { ...result, contract: { name: contract.name, ...(declared === undefined ? {} : { declared }), refused: [], excused: {}, hazards: [] } };
}

/** Runs one recorded scenario again (dirtyspec check-trace), under the contract the adapter declares. Throws Violation or Undecided. */
export function replayVfioType1Scenario(adapter: VfioType1Adapter, sc: unknown, timeoutMs: number, trace: TraceStep[], contract?: string): Promise<number> {
  return runScenario(new RunContext(), adapter, sc as Scenario, { timeoutMs }, trace, vfioRunContract(adapter, contract as ContractName | undefined).contract);
}
