// Profile kvm-dirty-log: a KVM VM's dirty log as a black box (adapter.ts). fast-check
// generates a configuration (write protection or a hardware dirty bit, eager split or
// not, the dirty ring excluding the bitmap) and one of two scenarios:
// - ops: a sequence of ioctls with valid and invalid arguments (memslots created,
//   deleted, moved, logging switched on and off, every sanity check broken; the
//   capability with good and bad args[0]; GET and CLEAR with bad slot ids, short
//   buffers, first_page and num_pages at every edge of slots whose sizes are often not
//   a multiple of 64 pages, and whose bases are sometimes not either: SLOT_SHIFTS)
//   and vCPU writes, single or in bursts inside a 64-page chunk,
//   some racing the ioctl between the implementation's memory accesses;
// - migration: slots written, then logged, and a migration client (model/kvm-dirty-log/
//   migration.ts) in read-and-clear or manual-protect mode (with or without
//   INITIALLY_SET) while the vCPU writes between and inside its calls; at the end the
//   destination must equal the source.
// Every call is classified (spec/kvm/dirty-log/args.ts) and stepped through the memslot
// machine: the errno must match; every report goes through the slot's ghost (no loss,
// no false dirty); CLEAR discharges exactly its selection.
// When the implementation shows its guest pages (the adapter's optional inspectPage, as
// the reference does), the kit also steps each page it drives through the kvmGuestPage
// machine and counts a transition once the page was seen in the state it leads to
// (model/kvm-dirty-log/guest-pages.ts); a page tour takes the pages through huge leaves,
// splits, INITIALLY_SET and racing writes in the window between a protection and its
// flush. And once a call that may protect leaves has returned, no page the guest wrote
// may keep a cached translation its leaf no longer allows (KVM-PT-13, KVM-PT-9; KVM-PT-12
// when other protected pages lost theirs). With inspectPage too, a write that faults in a
// logging slot leaves a 4 KiB writable leaf with the page's bit set (KVM-PT-1, 5, 8; a
// clean leaf walked, KVM-PT-7), a write that faults on a leaf the log protected, in a
// slot no longer logging, leaves it writable (KVM-PT-6), as does one to a page not mapped
// in a slot not logging (KVM-PT-2, 4 KiB or huge), a write through a writable leaf (4 KiB
// or huge) leaves the page as it was (KVM-PT-3), and a write through a 4 KiB leaf
// caches no translation of a neighbour (KVM-PT-14): verdicts named in violations, not
// listed below (a black box without inspectPage is not checked on them).
//
// Requirements: KVM-SLOT-*, KVM-LOG-*, KVM-CLEAR-*, KVM-CAP-*, KVM-PT-4, 7, 9, 10, 13, 15,
//               16, NOLOSS-1, NOLOSS-2, PRECISION-1.
import fc from 'fast-check';
import { droppable } from '../../engine/droppable.ts';
import { type Omission, omits, omittable } from '../../engine/omittable.ts';
import { GuestPages, type PageObservation } from '../../../model/kvm-dirty-log/guest-pages.ts';
import { KvmMigrationClient, type KvmMigrationEvent, type KvmMigrationMode } from '../../../model/kvm-dirty-log/migration.ts';
import { KvmVmModel, LazyMemslotTable } from '../../../model/kvm-dirty-log/vm-model.ts';
import { Violation } from '../../../model/violation.ts';
import {
  KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
  KVM_DIRTY_LOG_INITIALLY_SET,
  KVM_DIRTY_LOG_MANUAL_CAPS,
  KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE,
  KVM_MANUAL_CAPS_ANSWERS,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY,
  PAGE_SIZE,
  classifyClearDirtyLog,
  classifyEnableCap,
  classifyGetDirtyLog,
  classifySetMemoryRegion,
  clearedPages,
  dirtyLogBytes,
  dirtyLogPages,
  slotField,
  type MemoryRegionArgs,
} from '../../../spec/kvm/dirty-log/args.ts';
import { kvmGuestPageMachine } from '../../../spec/kvm/dirty-log/guest-page-machine.ts';
import { KVM_CAP_DIRTY_LOG_RING, KVM_CAP_DIRTY_LOG_RING_ACQ_REL } from '../../../spec/kvm/dirty-ring/uapi.ts';
import { kvmMemslotMachine, type SlotState } from '../../../spec/kvm/dirty-log/memslot-machine.ts';
import { coverageFigure } from '../../../model/run-context.ts';
import { machineTransitions } from '../../../spec/machines.ts';
import { requirements } from '../../../spec/requirements.ts';
import type { TraceStep } from '../../engine/commands.ts';
import { CallTimer, type CallLimits, Undecided, checkErrno, timed } from '../../engine/limits.ts';
import { inFlight, type InFlightStep } from '../../engine/crash.ts';
import type { CoverageFigure, ProfileResult, RunOptions } from '../../engine/run-profile.ts';
import { runScenarioProfile } from '../../engine/scenario-profile.ts';
import type { KvmDirtyLogAdapter, KvmDirtyLogConfig, KvmDirtyLogInstance, KvmMemoryRegionArg } from './adapter.ts';

export const KVM_DIRTY_LOG_PROFILE = 'kvm-dirty-log';
/** The faults of a slot not logging (KVM-PT-2, -6): checked on the vCPU's own writes, for the leaf they leave, not on racing ones. */
const UNLOGGED_FAULTS: ReadonlySet<string> = new Set(['KVM-PT-2', 'KVM-PT-6']);
const PG = BigInt(PAGE_SIZE);
/** Slot i's guest physical base (2 MiB aligned, 8 MiB apart: sizes up to 1024 pages fit twice). */
const GPA_BASE = 0x1_0000_0000n;
const SPACING = 0x80_0000n;
const UADDR_BASE = 0x7000_0000_0000n;
/** The slot fields the scenarios use: three of address space 0, one of address space 1. */
export const KVM_SLOTS = [0, 1, 2, slotField(1, 0)] as const;
/** Slot sizes in pages: the edges around 64-page words and 2 MiB leaves. */
const PAGES = [1, 2, 63, 64, 65, 100, 127, 128, 129, 191, 256, 511, 512, 513, 1024] as const;
/**
 * Where a new slot starts past its 8 MiB window, in pages (its host address moves alike, so
 * huge pages stay possible inside it): mostly 0; else a base that is not a multiple of 64
 * pages, so a bitmap word of 64 pages can straddle a 2 MiB page (1: a full word's last page
 * is the first page of the next 2 MiB page). KVM takes any page-aligned base
 * (kvm_set_memory_region checks only PAGE_SIZE alignment), and huge pages are then allowed
 * only where a whole 2 MiB page lies in the slot (Linux v6.18 arch/x86/kvm/x86.c
 * kvm_alloc_memslot_metadata, disallow_lpage at the slot's ends).
 */
const SLOT_SHIFTS = [0, 0, 0, 0, 0, 0, 1, 32, 96, 480] as const;
const ERRNO: Record<string, number> = { ok: 0, einval: -22, enoent: -2, efault: -14, enxio: -6, eexist: -17 };
/**
 * The requirements of a GET's or CLEAR's transition that what the call did decides, not its
 * errno: each is listed where the check that compares it ran over something that could have
 * differed, not wherever the call was made. KVM-LOG-5 / -6 on the report (get) where a bit of the
 * slot was set or maybe set; KVM-CLEAR-7 on a clear with a set bit to clear or an owed page to
 * keep; KVM-CLEAR-9 on a clear accepted without manual protect (where it could be refused);
 * KVM-PT-9 and KVM-PT-13 where a page whose translation was cached had its leaf protected by the
 * call (checkFlushed); KVM-PT-7 and KVM-PT-10 where a write walks a clean leaf (checkFault) or
 * logging starts over a huge leaf (checkProtections), not on a GET or CLEAR. A wrong errno
 * still names every requirement of the transition (compare).
 */
const CONTENT_REQ: ReadonlySet<string> = new Set(['KVM-LOG-5', 'KVM-LOG-6', 'KVM-CLEAR-7', 'KVM-CLEAR-9', 'KVM-PT-7', 'KVM-PT-9', 'KVM-PT-10', 'KVM-PT-13']);
/**
 * The leaf rules of a memslot transition (KVM-PT-4, -9, -10, -13, -15): only an implementation that
 * shows its pages (inspectPage) is compared on them, so a black box's step does not list them.
 */
const LEAF_REQ: ReadonlySet<string> = new Set(['KVM-PT-4', 'KVM-PT-9', 'KVM-PT-10', 'KVM-PT-13', 'KVM-PT-15']);
/** What the errno step of a GET or CLEAR lists of its transition's requirements: those its content does not decide. */
const errnoReq = (x: { readonly req: readonly string[] }): string[] => x.req.filter((id) => !CONTENT_REQ.has(id));

type RegionKind =
  | 'create'
  | 'delete'
  | 'logOn'
  | 'logOff'
  | 'move'
  | 'moveLogOn'
  | 'moveLogOff'
  | 'moveOverlap'
  | 'badFlags'
  | 'unalignedSize'
  | 'unalignedGpa'
  | 'badUaddr'
  | 'uaddrPastLimit'
  | 'badAsId'
  | 'badId'
  | 'wrap'
  | 'tooMany'
  | 'immutable'
  | 'overlap'
  | 'readonlyToggle'
  | 'same';
type IdKind = 'ok' | 'badAs' | 'badId';
type FirstKind = 'zero' | 'c64' | 'c128' | 'lastChunk' | 'roundUp' | 'unaligned' | 'one' | 'huge';
type NumKind = 'zero' | 'n64' | 'n128' | 'toEnd' | 'toEndMinus1' | 'toEndPlus1' | 'n36' | 'full';
interface Race {
  readonly at: number;
  readonly page: number;
  /** The page is near the last one the kit wrote in the slot (same 64-page word, likely): where a race matters. */
  readonly near: boolean;
}

type Op =
  /** `shift`: pages past the slot's 8 MiB window, guest and host address alike, where a create places a new slot (SLOT_SHIFTS). */
  | { k: 'region'; pick: number; kind: RegionKind; pages: number; flags: number; shift?: number }
  | { k: 'cap'; cap: number; flags: number; args0: bigint }
  | { k: 'ext' }
  | { k: 'get'; pick: number; id: IdKind; short: boolean; races: readonly Race[] }
  | { k: 'clear'; pick: number; id: IdKind; first: FirstKind; num: NumKind; bits: 'all' | 'some' | 'none'; some: readonly number[]; bytes: 'ok' | 'short' | 'extra'; races: readonly Race[] }
  | { k: 'write'; pick: number; page: number; nowhere: boolean }
  | { k: 'burst'; pick: number; chunk: number; offsets: readonly number[] }
  /** KVM_RUN writing `count` consecutive pages of a slot from `from`, one step of the trace (the page tour: more than a PML buffer holds). */
  | { k: 'flood'; pick: number; from: number; count: number }
  | { k: 'aim'; pick: number; n: number; pages: number; from?: SlotState }
  /** The VM's eager page splitting switched at run time (x86: the kvm.eager_page_split module parameter), when the adapter can. */
  | { k: 'split'; on: boolean };

/**
 * An `aim` op is decided when it runs, from the named slot's state in the memslot
 * machine: the n-th (mod their number) of the calls that take each of the state's
 * transitions. The rare ones (a slot without a bitmap moved under INITIALLY_SET, moved
 * onto another slot, every sanity check broken on it) are then as likely as the common
 * ones whatever the sequence did before, instead of needing the right kinds in the right
 * order by chance. Region kinds, then GET and CLEAR shapes. With `from`, the slot is first
 * brought to that state (created, deleted, logging switched on or off): the tour scenario
 * is every aim from every state, so each of those transitions is taken in every tour.
 */
type Aim = RegionKind | 'createLog' | 'createNoLog' | 'get' | 'getShort' | 'getRaced' | 'clearRaced' | 'clearOk' | 'clearUnaligned' | 'clearOutside' | 'clearNum' | 'clearShort';
const AIM_SANITY: readonly Aim[] = ['badFlags', 'unalignedSize', 'unalignedGpa', 'badUaddr', 'uaddrPastLimit', 'wrap', 'tooMany'];
const AIM_LOG: readonly Aim[] = ['get', 'getShort', 'getRaced', 'clearRaced', 'clearOk', 'clearUnaligned', 'clearOutside', 'clearNum', 'clearShort'];
const RACE_EVERY_ACCESS: readonly Race[] = Array.from({ length: 4 }, (_, at) => ({ at, page: at, near: true }));
const AIMS: Record<SlotState, readonly Aim[]> = {
  absent: ['badId', 'badAsId', ...AIM_SANITY, 'delete', 'overlap', 'createLog', 'createNoLog', ...AIM_LOG],
  noLog: [...AIM_SANITY, 'delete', 'immutable', 'readonlyToggle', 'same', 'moveOverlap', 'moveLogOn', 'move', 'logOn', ...AIM_LOG],
  logging: [...AIM_SANITY, 'delete', 'immutable', 'same', 'moveOverlap', 'moveLogOff', 'move', 'logOff', ...AIM_LOG],
};

export interface KvmOpsScenario {
  readonly kind: 'ops';
  readonly config: KvmDirtyLogConfig;
  readonly ops: readonly Op[];
  /**
   * KVM's own writes without a running vCPU (KVM-LOG-9), each made after op `after` (from 0;
   * past the last op, before the final checks), of page `page` of slot `pick` % 3; made
   * where the adapter offers kvmWrite. Drawn after the rest; absent in scenarios recorded before it.
   */
  readonly kvmWrites?: readonly KvmOwnWrite[];
}

export interface KvmOwnWrite {
  readonly after: number;
  readonly pick: number;
  readonly page: number;
}

export interface KvmMigrationScenario {
  readonly kind: 'migration';
  readonly config: KvmDirtyLogConfig;
  readonly mode: KvmMigrationMode;
  readonly initiallySet: boolean;
  /** Pages of each slot (one to three slots of address space 0). */
  readonly slots: readonly number[];
  /** Pages written before logging starts (huge leaves where allowed). */
  readonly before: readonly number[];
  /** Writes at the client's events: `at` counts its events. */
  readonly writes: readonly { readonly at: number; readonly slot: number; readonly page: number }[];
  /**
   * Writes inside its ioctls: call number, then memory-access number. One whose `omit` is 1
   * (only shrinking sets it, engine/omittable.ts) is made just before its call instead: the
   * same write without the race, which a counterexample keeps when the race is not what loses it.
   * A race at an access past the call's last never fired; left out it does write: the shrunk
   * scenario is another valid one (its trace shows the write), not a replay of the original.
   */
  readonly races: readonly ({ readonly call: number; readonly at: number; readonly slot: number; readonly page: number } & Omission)[];
}

export type KvmScenario = KvmOpsScenario | KvmMigrationScenario;

// ---------------------------------------------------------------------------------------
// Arbitraries

const races = fc.array(fc.record({ at: fc.oneof(fc.nat(6), fc.nat(24)), page: fc.oneof(fc.nat(7), fc.nat()), near: fc.boolean() }), { maxLength: 3 });
const pick = fc.constantFrom(0, 0, 0, 1, 1, 2, 3);
const idKind = fc.constantFrom<IdKind>('ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'badAs', 'badId');
const pageIndex = fc.oneof(fc.constantFrom(0, 1, 62, 63, 64, 65, 99, 127, 128, 511, 512, -1, -2), fc.nat(1023));

function opArbitrary(): fc.Arbitrary<Op> {
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        k: fc.constant('region' as const),
        pick,
        kind: fc.constantFrom<RegionKind>(
          'create',
          'create',
          'create',
          'create',
          'delete',
          'delete',
          'logOn',
          'logOn',
          'logOn',
          'logOff',
          'logOff',
          'move',
          'moveLogOn',
          'moveLogOff',
          'moveOverlap',
          'badFlags',
          'unalignedSize',
          'unalignedGpa',
          'badUaddr',
          'uaddrPastLimit',
          'badAsId',
          'badId',
          'wrap',
          'tooMany',
          'immutable',
          'overlap',
          'readonlyToggle',
        ),
        pages: fc.constantFrom(...PAGES),
        flags: fc.constantFrom(KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_LOG_DIRTY_PAGES, 0, KVM_MEM_READONLY),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        k: fc.constant('cap' as const),
        cap: fc.constantFrom(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 167),
        flags: fc.constantFrom(0, 0, 0, 0, 0, 1),
        args0: fc.constantFrom(0n, 1n, 1n, 3n, 3n, 2n, 4n, 5n, 1n << 63n),
      }),
    },
    { weight: 1, arbitrary: fc.constant({ k: 'ext' as const }) },
    { weight: 5, arbitrary: fc.record({ k: fc.constant('get' as const), pick, id: idKind, short: fc.constantFrom(false, false, false, false, false, true), races }) },
    {
      weight: 6,
      arbitrary: fc.record({
        k: fc.constant('clear' as const),
        pick,
        id: idKind,
        first: fc.constantFrom<FirstKind>('zero', 'zero', 'c64', 'c128', 'lastChunk', 'lastChunk', 'roundUp', 'unaligned', 'one', 'huge'),
        num: fc.constantFrom<NumKind>('zero', 'n64', 'n64', 'n128', 'toEnd', 'toEnd', 'toEnd', 'toEndMinus1', 'toEndPlus1', 'n36', 'full'),
        bits: fc.constantFrom<'all' | 'some' | 'none'>('all', 'all', 'some', 'some', 'none'),
        some: fc.array(fc.nat(127), { maxLength: 6 }),
        bytes: fc.constantFrom<'ok' | 'short' | 'extra'>('ok', 'ok', 'ok', 'ok', 'ok', 'short', 'extra'),
        races,
      }),
    },
    { weight: 8, arbitrary: fc.record({ k: fc.constant('write' as const), pick, page: pageIndex, nowhere: fc.constantFrom(false, false, false, false, false, false, true) }) },
    {
      weight: 2,
      arbitrary: fc.record({ k: fc.constant('burst' as const), pick, chunk: fc.nat(15), offsets: fc.array(fc.nat(63), { minLength: 1, maxLength: 6 }) }),
    },
    { weight: 4, arbitrary: fc.record({ k: fc.constant('aim' as const), pick, n: fc.nat(63), pages: fc.constantFrom(...PAGES) }) },
  );
}

const configArbitrary: fc.Arbitrary<KvmDirtyLogConfig> = fc.record({
  hwDirty: fc.boolean(),
  eagerSplit: fc.constantFrom(true, true, false),
  dirtyRingExclusive: fc.constantFrom(false, false, false, false, false, false, false, false, false, true),
});

/**
 * Always the whole list; when a run of it fails, fast-check shrinks it by dropping runs of
 * items (halves, quarters, ... single items), as it shrinks an array, then by replacing an
 * item with a smaller one (`smaller`: a call's racing writes halved or dropped): a tour's
 * counterexample comes down to the few calls that matter (each aim brings its slot to its
 * state itself).
 */
class WholeThenFewer<T> extends fc.Arbitrary<T[]> {
  constructor(
    private readonly items: readonly T[],
    private readonly smaller: (item: T) => readonly T[] = () => [],
  ) {
    super();
  }
  generate(): fc.Value<T[]> {
    return new fc.Value([...this.items], undefined);
  }
  canShrinkWithoutContext(value: unknown): value is T[] {
    return Array.isArray(value);
  }
  shrink(value: T[]): fc.Stream<fc.Value<T[]>> {
    const smaller = this.smaller;
    function* fewer(): Generator<fc.Value<T[]>> {
      for (let run = Math.max(1, value.length >> 1); ; run >>= 1) {
        for (let at = 0; at + run <= value.length; at += run) yield new fc.Value([...value.slice(0, at), ...value.slice(at + run)], undefined);
        if (run === 1) break;
      }
      for (let at = 0; at < value.length; at++) for (const item of smaller(value[at]!)) yield new fc.Value([...value.slice(0, at), item, ...value.slice(at + 1)], undefined);
    }
    return value.length === 0 ? fc.Stream.nil() : new fc.Stream(fewer());
  }
}

function scenarioArbitrary(maxCommands: number): fc.Arbitrary<KvmScenario> {
  const ops: fc.Arbitrary<KvmScenario> = fc
    .record({
      config: configArbitrary,
      // Most sequences set manual protect up (or not) and create a logging slot first.
      cap: fc.constantFrom<bigint | undefined>(undefined, 1n, 3n, 1n, 3n),
      first: fc.constantFrom(...PAGES),
      rest: droppable(fc.array(opArbitrary(), { minLength: 1, maxLength: Math.max(1, maxCommands), size: 'medium' })),
    })
    .map(({ config, cap, first, rest }) => ({
      kind: 'ops' as const,
      config,
      ops: [
        ...(cap === undefined ? [] : [{ k: 'cap' as const, cap: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, flags: 0, args0: cap }]),
        { k: 'region' as const, pick: 0, kind: 'create' as const, pages: first, flags: KVM_MEM_LOG_DIRTY_PAGES },
        ...rest,
      ],
    }));
  const migration: fc.Arbitrary<KvmScenario> = fc.record({
    kind: fc.constant('migration' as const),
    config: configArbitrary.map((c) => ({ ...c, dirtyRingExclusive: false })),
    mode: fc.constantFrom<KvmMigrationMode>('read-and-clear', 'manual-protect'),
    initiallySet: fc.boolean(),
    slots: fc.array(fc.constantFrom(...PAGES), { minLength: 1, maxLength: 2 }),
    before: fc.array(fc.nat(1023), { maxLength: 4 }),
    writes: fc.array(fc.record({ at: fc.nat(60), slot: fc.nat(1), page: pageIndex }), { maxLength: 10 }),
    races: fc.array(omittable(fc.record({ call: fc.nat(8), at: fc.nat(24), slot: fc.nat(1), page: pageIndex }), 1), { maxLength: 4 }),
  });
  // The tour: another slot to overlap, then from each state of slot 0 every aim, with a
  // guest write after each (the ghost checks the GETs and CLEARs among them); the cap
  // decides which of the INITIALLY_SET and manual-protect transitions it takes, and one
  // tour in three is under the dirty ring (every GET and CLEAR -ENXIO, whatever the state).
  const tour: fc.Arbitrary<KvmScenario> = fc
    .record({
      config: fc.tuple(configArbitrary, fc.constantFrom(false, false, true)).map(([c, dirtyRingExclusive]) => ({ ...c, dirtyRingExclusive })),
      cap: fc.constantFrom<bigint | undefined>(undefined, undefined, 1n, 3n, 3n),
      pages: fc.constantFrom(...PAGES),
      other: fc.constantFrom(...PAGES),
      page: fc.nat(1023),
    })
    .chain(({ config, cap, pages, other, page }) =>
      new WholeThenFewer<Op>([
        ...(cap === undefined ? [] : [{ k: 'cap' as const, cap: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, flags: 0, args0: cap }]),
        { k: 'region' as const, pick: 1, kind: 'create' as const, pages: other, flags: KVM_MEM_LOG_DIRTY_PAGES },
        ...(['absent', 'noLog', 'logging'] as const).flatMap((from) =>
          AIMS[from].flatMap((_, n) => [
            { k: 'aim' as const, pick: 0, n, pages, from },
            { k: 'write' as const, pick: 0, page: page + 7 * n, nowhere: false },
          ]),
        ),
      ]).map((ops) => ({ kind: 'ops' as const, config, ops })),
    );
  // The page tour: guest pages of 2 MiB-backed slots through every kvmGuestPage transition
  // (guest-pages.ts looks at each when the implementation shows its pages): huge leaves
  // mapped, walked after another call's flush, protected whole or split by logging on,
  // split by the next write's fault; a GET and a CLEAR with a racing write to a page at
  // each of their first 16 memory accesses, so that some land after the page's protection
  // and before the flush (KVM-PT-13); INITIALLY_SET, whose logging protects nothing until
  // CLEAR; a write-protected huge leaf written with logging off; logging switched on again
  // without manual protect, with eager splitting off and then on (the module parameter).
  const pageTour: fc.Arbitrary<KvmScenario> = fc
    .record({ hwDirty: fc.boolean(), eagerSplit: fc.boolean(), raceAt: fc.nat(7) })
    .chain(({ raceAt, ...c }) => new WholeThenFewer<Op>(pageTourOps(raceAt, c.hwDirty), fewerRaces).map((ops) => ({ kind: 'ops' as const, config: { ...c, dirtyRingExclusive: false }, ops })));
  // KVM's own writes (KVM-LOG-9) drawn after the scenario, so that it comes out of a seed as it did before them.
  const kvmWrites = fc.array(fc.record({ after: fc.nat(31), pick: fc.nat(2), page: fc.nat(1023) }), { maxLength: 3 });
  // The shifts of the random sequences' slot creations (SLOT_SHIFTS), in order, drawn last for the same reason.
  const shifts = fc.array(fc.constantFrom(...SLOT_SHIFTS), { maxLength: 4 });
  const random = ops.map((sc) => ({ sc, random: true }));
  const fixed = (a: fc.Arbitrary<KvmScenario>) => a.map((sc) => ({ sc, random: false }));
  return fc
    .tuple(fc.oneof({ weight: 8, arbitrary: random }, { weight: 2, arbitrary: fixed(migration) }, { weight: 1, arbitrary: fixed(tour) }, { weight: 1, arbitrary: fixed(pageTour) }), kvmWrites, shifts)
    .map(([{ sc, random: shifted }, writes, sh]) => {
      if (sc.kind !== 'ops') return sc;
      let k = 0;
      // The tours keep their slots in place: their pages are chosen for the huge leaves there.
      const ops = shifted && sh.length > 0 ? sc.ops.map((o) => (o.k === 'region' && o.kind === 'create' && (sh[k++] ?? 0) !== 0 ? { ...o, shift: sh[k - 1]! } : o)) : sc.ops;
      return { ...sc, ops, ...(writes.length > 0 ? { kvmWrites: writes } : {}) };
    });
}

/** A GET or CLEAR with its racing writes dropped, or halved (the shrinking of WholeThenFewer). */
function fewerRaces(o: Op): Op[] {
  if ((o.k !== 'get' && o.k !== 'clear') || o.races.length === 0) return [];
  const half = o.races.length >> 1;
  return [
    { ...o, races: [] },
    ...(half > 0
      ? [
          { ...o, races: o.races.slice(0, half) },
          { ...o, races: o.races.slice(half) },
        ]
      : []),
  ];
}

/** The page tour's operations (see scenarioArbitrary), one GET raced at its `raceAt`-th access where `hwDirty` is off, and one CLEAR. Slot 1 and 2 are 1024 pages: two 2 MiB leaves each. */
function pageTourOps(raceAt: number, hwDirty: boolean): Op[] {
  const W = (pick: number, page: number): Op => ({ k: 'write', pick, page, nowhere: false });
  const region = (pick: number, kind: RegionKind, pages = 1024, flags = 0): Op => ({ k: 'region', pick, kind, pages, flags });
  const raced = (page: number): Race[] => Array.from({ length: 16 }, (_, at) => ({ at, page, near: false }));
  const cap = (args0: bigint): Op => ({ k: 'cap', cap: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, flags: 0, args0 });
  return [
    // Slot 2 made logging under manual protect, page 10 written, and a CLEAR whose
    // `raceAt`-th access (as the raced GET's below) is raced by the first write to page 11,
    // which faults; then page 11 written again and a GET (manual protect: it only reads). A
    // CLEAR that protects a word's dirty pages before it takes their bits (Linux v6.12.117
    // kvm_clear_dirty_log_protect takes them with atomic_long_fetch_andnot, then protects
    // what it took) lets the fault land between the two: it marks the page and makes it
    // writable, the take drops the mark, and the write after it goes unlogged. Then manual
    // protect off and slot 2 deleted, for the tour below.
    cap(1n),
    region(2, 'create', 1024, KVM_MEM_LOG_DIRTY_PAGES),
    W(2, 10),
    { k: 'clear', pick: 2, id: 'ok', first: 'zero', num: 'toEnd', bits: 'all', some: [], bytes: 'ok', races: [{ at: raceAt, page: 11, near: false }] },
    W(2, 11),
    { k: 'get', pick: 2, id: 'ok', short: false, races: [] },
    cap(0n),
    region(2, 'delete'),
    region(0, 'create', 64, KVM_MEM_LOG_DIRTY_PAGES),
    region(1, 'create'),
    W(1, 5),
    W(1, 5),
    W(1, 600),
    W(0, 3),
    { k: 'get', pick: 0, id: 'ok', short: false, races: [] },
    W(1, 5),
    region(1, 'logOn', 1024, KVM_MEM_LOG_DIRTY_PAGES),
    W(1, 5),
    W(1, 6),
    { k: 'get', pick: 1, id: 'ok', short: false, races: raced(5) },
    W(1, 5),
    // Pages 5 and 6 dirty again, then a GET of another slot, which flushes every TLB
    // (kvm_flush_remote_tlbs): page 5's next write faults. One write races the next GET at
    // its `raceAt`-th access; landing between a word's protection and its exchange, its fault
    // marks a bit already set and makes the page writable. A GET that protects a word before
    // it takes it (the race edde99ce0529 closed) then clears the bit and leaves the page
    // writable: the write after it is never logged, and the GET after that owes page 5.
    // Write protection only (without a hardware dirty bit the log protects by write
    // permission, where the fault is what marks a page; with one, a huge leaf stays writable).
    ...(hwDirty
      ? []
      : [
          W(1, 6),
          W(0, 4),
          { k: 'get', pick: 0, id: 'ok', short: false, races: [] } as const,
          { k: 'get', pick: 1, id: 'ok', short: false, races: [{ at: raceAt, page: 5, near: false }] } as const,
          W(1, 5),
          { k: 'get', pick: 1, id: 'ok', short: false, races: [] } as const,
        ]),
    region(1, 'logOff'),
    W(1, 5),
    cap(3n),
    region(2, 'create'),
    W(2, 10),
    W(2, 700),
    region(2, 'logOn', 1024, KVM_MEM_LOG_DIRTY_PAGES),
    W(2, 10),
    { k: 'clear', pick: 2, id: 'ok', first: 'zero', num: 'toEnd', bits: 'all', some: [], bytes: 'ok', races: raced(10) },
    W(2, 10),
    region(2, 'logOff'),
    W(2, 700),
    cap(0n),
    region(1, 'logOn', 1024, KVM_MEM_LOG_DIRTY_PAGES),
    region(1, 'logOff'),
    { k: 'split', on: true },
    region(1, 'logOn', 1024, KVM_MEM_LOG_DIRTY_PAGES),
    W(1, 600),
    // A logging slot moved away and home again (manual protect off): its page written before
    // the moves is reported while it is away, which protects only its new place, so the
    // write after it is home again is recorded only if the move zapped the old leaves
    // (KVM-PT-15; Linux v6.12.117 kvm_arch_flush_shadow_memslot, which zaps every leaf
    // under KVM_X86_QUIRK_SLOT_ZAP_ALL and the slot's own otherwise: a stale writable leaf
    // takes the write without a fault).
    W(0, 20),
    region(0, 'move', 64, KVM_MEM_LOG_DIRTY_PAGES),
    { k: 'get', pick: 0, id: 'ok', short: false, races: [] },
    region(0, 'move', 64, KVM_MEM_LOG_DIRTY_PAGES),
    W(0, 20),
    { k: 'get', pick: 0, id: 'ok', short: false, races: [] },
    // The same for a slot deleted and made again in the same place: the write to the page
    // written before the delete is recorded only if the delete zapped its leaf.
    W(0, 21),
    region(0, 'delete', 64),
    region(0, 'create', 64, KVM_MEM_LOG_DIRTY_PAGES),
    W(0, 21),
    { k: 'get', pick: 0, id: 'ok', short: false, races: [] },
    // A write racing a GET on a write-protected huge leaf: slot 1 made again with a huge
    // leaf at page 600, logging started without eager split (the leaf write-protected whole,
    // KVM-PT-10), and the write's fault maps a 4 KiB leaf and marks the page, which this GET
    // or the next must report (KVM-PT-5), whether or not the fault waits for mmu_lock. Write
    // protection only, as above.
    ...(hwDirty
      ? []
      : [
          region(1, 'delete'),
          region(1, 'create'),
          W(1, 600),
          { k: 'split', on: false } as const,
          region(1, 'logOn', 1024, KVM_MEM_LOG_DIRTY_PAGES),
          { k: 'get', pick: 1, id: 'ok', short: false, races: [{ at: raceAt, page: 600, near: false }] } as const,
          { k: 'get', pick: 1, id: 'ok', short: false, races: [] } as const,
        ]),
    // With a hardware dirty bit: slot 1's first 600 pages written, reported (which makes
    // them clean), and written again: 600 entries for a PML buffer of 512, so the vCPU exits
    // PML-full once and KVM drains a full buffer (x86 vmx_flush_pml_buffer); the GET after
    // it owes all 600 pages.
    ...(hwDirty
      ? [
          { k: 'flood', pick: 1, from: 0, count: 600 } as const,
          { k: 'get', pick: 1, id: 'ok', short: false, races: [] } as const,
          { k: 'flood', pick: 1, from: 0, count: 600 } as const,
          { k: 'get', pick: 1, id: 'ok', short: false, races: [] } as const,
        ]
      : []),
    // INITIALLY_SET, eager splitting off, slot 2 made again one page past its window
    // (SLOT_SHIFTS) with a huge leaf over its pages 511..1022, then logging on (which
    // protects nothing). A CLEAR of bitmap word 7 with bits 0 and 63 set clears pages 448
    // and 511: the first lies in the 2 MiB page below, the last is the first page of the
    // huge leaf, which the CLEAR must write-protect so that the write after it is logged.
    // Linux v6.18 arch/x86/kvm/mmu/mmu.c kvm_arch_mmu_enable_log_dirty_pt_masked protects
    // the 2 MiB page of the word's last set page only when ALIGN(start, 2 MiB) and
    // ALIGN(end, 2 MiB) differ, which they do not when that page starts a 2 MiB page.
    region(2, 'delete'),
    { k: 'split', on: false },
    cap(3n),
    { k: 'region', pick: 2, kind: 'create', pages: 1024, flags: 0, shift: 1 },
    W(2, 600),
    region(2, 'logOn', 1024, KVM_MEM_LOG_DIRTY_PAGES),
    { k: 'clear', pick: 2, id: 'ok', first: 'zero', num: 'toEnd', bits: 'some', some: [448, 511], bytes: 'ok', races: [] },
    W(2, 511),
    { k: 'get', pick: 2, id: 'ok', short: false, races: [] },
  ];
}

// ---------------------------------------------------------------------------------------
// The run

const hex = (v: bigint | number) => `0x${v.toString(16)}`;
/** between()'s answer when no write is due at an access. */
const NONE_DUE: readonly bigint[] = Object.freeze([]);
/** The pages a call's racing writes touch (not judged by checkProtections). */
const racedPages = (plan: readonly { gpa: bigint }[]) => new Set(plan.map((p) => p.gpa / PG));
const norm = (page: number, npages: number) => (npages <= 0 ? 0 : ((page % npages) + npages) % npages);

class Run {
  readonly model: KvmVmModel;
  steps = 0;
  /** Writes to inject at the implementation's memory accesses during the current call. */
  private plan: { at: number; gpa: bigint }[] = [];
  private accesses = 0;
  private inCall = false;
  /** Source versions of guest pages (migration), by gpa. */
  readonly versions = new Map<bigint, number>();
  /**
   * During a migration: its client (what it has sent), and what the rounds put at stake of
   * NOLOSS-2 in the final comparison: a write racing a GET or CLEAR over a page already sent
   * (`raced`), a CLEAR that had to keep a page not yet sent again (`kept`).
   */
  private migration: { readonly client: KvmMigrationClient; raced: boolean; kept: boolean } | undefined;
  /** The slot and pages [from, to) of the GET or CLEAR running now: a racing write inside them is that call's to report or keep. */
  private callRange: { slot: number; from: number; to: number } | undefined;
  stopped = false;
  /** The last page the guest wrote, per slot (where races aim). */
  private readonly lastWritten = new Map<number, number>();
  /** Per logging slot, the pages KVM wrote itself (KVM-LOG-9) that no report has taken and no vCPU written since. */
  private readonly kvmWritten = new Map<number, Set<number>>();
  /** Pages the vCPU wrote whose translation may still be cached (checkFlushed). */
  private readonly cached = new Set<bigint>();
  /** The guest pages through kvmGuestPage, when the implementation shows them (inspectPage) and the machine is not yet covered whole. */
  private readonly pages: GuestPages | undefined;
  private readonly inspect: ((gpa: bigint) => PageObservation) | undefined;
  /** Racing writes of the current call that faulted in a logging slot, looked at from the next memory access on; one whose leaf is still unmapped or huge and write-protected, until the call returns (checkRacedFaults). */
  private racedFaults: { gpa: bigint; rule: string; leaf: string }[] = [];
  /**
   * Per slot, the pages a GET without manual protect took whose leaf was still writable once it
   * returned (checkProtections), until the slot's next report (checkUnprotected): slot, then page.
   */
  private readonly unprotected = new Map<number, Map<number, { gpa: bigint; was: string; what: string; rule: 'KVM-LOG-5' | 'KVM-LOG-7' }>>();
  /** A violation seen inside the current call, thrown once it returns. */
  private deferred: Violation | undefined;
  /** The index in the trace of the last ioctl's step (compare): checkFlushed lists its rules there. */
  private callStep = -1;
  /** The first answer to KVM_CHECK_EXTENSION(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2), held for the VM's life (KVM-CAP-5). */
  private manualCaps: number | undefined;
  /** One timer for the run's calls, one after another (limits.ts CallTimer: arming a timer per call showed in the profile). */
  private readonly timer: CallTimer;

  constructor(
    readonly adapter: KvmDirtyLogAdapter,
    readonly inst: KvmDirtyLogInstance,
    readonly config: KvmDirtyLogConfig,
    readonly limits: CallLimits,
    readonly trace: TraceStep[],
    table: LazyMemslotTable,
    pageCoverage: GuestPageCoverage,
  ) {
    this.timer = new CallTimer(limits.timeoutMs, limits.watch);
    const inspect = inst.inspectPage;
    this.inspect = typeof inspect === 'function' ? (gpa) => this.watched(() => inspect.call(inst, gpa)) : undefined;
    if (this.inspect !== undefined) pageCoverage.inspected = true;
    const pages = this.inspect === undefined ? undefined : new GuestPages(pageCoverage.covered, config);
    this.pages = pages?.saturated === false ? pages : undefined;
    this.model = new KvmVmModel(table, {
      userMemSlots: inst.userMemSlots,
      addressSpaces: inst.addressSpaces,
      readonlyMem: inst.readonlyMem,
      userAddressLimit: inst.userAddressLimit,
      dirtyRingExclusive: config.dirtyRingExclusive,
    });
  }

  /** hooks.between: the writes due at this memory access of the current call. */
  between(): readonly bigint[] {
    if (!this.inCall || this.stopped) return NONE_DUE;
    this.checkRacedFaults(false);
    const n = this.accesses++;
    // Most accesses have no write due: no arrays for them (this runs at every memory access of a call).
    let due: bigint[] | undefined;
    for (let i = 0; i < this.plan.length; i++) if (this.plan[i]!.at === n) (due ??= []).push(this.plan[i]!.gpa);
    if (due === undefined) return NONE_DUE;
    for (const gpa of due) {
      const fault = this.faultRule(this.pageBefore(gpa));
      // A racing write's leaf is looked at for the logging rules only: the call may protect the page again since (KVM-PT-2 and -6 are checked on the vCPU's own writes).
      if (fault !== undefined && !UNLOGGED_FAULTS.has(fault.rule)) this.racedFaults.push({ gpa, ...fault });
      this.guestWrote(gpa, true);
    }
    return due;
  }

  private guestWrote(gpa: bigint, raced: boolean): void {
    const hit = this.model.slotOfGfn(gpa / PG);
    if (hit !== undefined) this.lastWritten.set(hit.slot.slot, hit.rel);
    // A vCPU's write owes the page too: a later loss of it is not KVM-LOG-9's alone.
    if (hit !== undefined) this.kvmWritten.get(hit.slot.slot >>> 0)?.delete(hit.rel);
    if (hit !== undefined && this.pages !== undefined) {
      const s = hit.slot;
      const w = { logging: this.model.ghosts.has(s.slot), readonlySlot: (s.flags & KVM_MEM_READONLY) !== 0, hugeBacked: hugeBacked(s, hit.rel) };
      if (raced) this.pages.racingWrite(s.slot, hit.rel, w, this.inspect?.(gpa));
      else this.pages.write(s.slot, hit.rel, w);
    }
    const expected = this.model.vcpuWrite(gpa);
    if (expected === 'none') this.versions.set(gpa, (this.versions.get(gpa) ?? 0) + 1);
    const r = this.callRange;
    if (raced && this.migration !== undefined && r !== undefined && hit !== undefined && hit.slot.slot === r.slot && hit.rel >= r.from && hit.rel < r.to && this.stale(r.slot, hit.rel)) this.migration.raced = true;
    if (expected === 'none' && this.inspect !== undefined) this.cached.add(gpa);
    if (raced) this.trace.push({ op: `  vCPU write at ${hex(gpa)} (racing, at the implementation's memory access ${this.accesses - 1})`, answer: '-', expected: expected === 'none' ? 'recorded if the slot logs' : 'MMIO exit', req: [] });
  }

  /**
   * The adapter's synchronous inspectPage, read between calls as well as within them: between
   * them it is published to the watch with a call's limit, so a module that hangs in it is
   * stopped as one that hangs in a call (call-watch.ts); within a call, that call's deadline
   * already covers it.
   */
  private watched<T>(read: () => T): T {
    const watch = this.limits.watch;
    if (watch === undefined || this.inCall) return read();
    watch.started(this.limits.timeoutMs);
    try {
      return read();
    } finally {
      watch.ended();
    }
  }

  /** `step`: the step this call is, with the requirements that cover its input, for a crash or hang during it (engine/crash.ts). */
  async call<T>(what: string, fn: () => Promise<T>, plan: { at: number; gpa: bigint }[] = [], step?: InFlightStep): Promise<T> {
    this.steps++;
    this.plan = plan;
    this.accesses = 0;
    this.inCall = true;
    this.deferred = undefined;
    try {
      const answer = this.timer.run(() => `${this.adapter.name} ${what}`, fn);
      const r = await (step === undefined ? answer : answer.catch(inFlight(step, this.trace)));
      this.checkRacedFaults(true);
      if (this.deferred !== undefined) throw this.deferred;
      return r;
    } finally {
      this.inCall = false;
      this.plan = [];
      this.racedFaults = [];
    }
  }

  /** The step an ioctl is while in flight: what compare will check of its answer. */
  private inFlightStep(what: string, x: ReturnType<KvmVmModel['step']>): InFlightStep {
    return { op: what, expected: `${ERRNO[x.outcome]} (${x.outcome})`, req: x.req.length > 0 ? x.req : ['KVM-SLOT-11'] };
  }

  /**
   * `listed`: what the step lists, where not every requirement of the transition and `also`
   * (errnoReq). `misread`: the rules a wrong answer points to (clearMisread), named first.
   */
  private compare(what: string, got: number, x: ReturnType<KvmVmModel['step']>, also: readonly string[] = [], listed?: readonly string[], misread: (got: number, expected: string) => readonly string[] = () => []): void {
    const want = ERRNO[x.outcome];
    this.callStep = this.trace.length;
    this.trace.push({ op: what, answer: `${got}`, expected: `${want} (${x.outcome})`, req: [...(listed ?? [...x.req, ...also])], transitions: x.taken });
    // `also`: rules the input meets beside the machine's (KVM-CLEAR-8); a valid call refused may be refused for them.
    if (got !== want) throw new Violation('spec', [...new Set([...misread(got, x.outcome), ...(x.req.length > 0 ? x.req : ['KVM-SLOT-11']), ...(x.outcome === 'ok' ? also : [])])], `${what} returns ${want} (${x.outcome})`, `${got}`);
  }

  /** The operation returned: the pages it stepped are looked at (guest-pages.ts). */
  private settle(): void {
    this.pages?.settle(this.inspect, (slot, rel) => (this.model.slots.has(slot >>> 0) ? this.model.gpaOf(slot, rel) : undefined));
  }

  /**
   * KVM-PT-13 / KVM-PT-9, when the implementation shows its pages: once a call that may
   * protect leaves (its memslot-machine effects include flushTlb) has returned, no page
   * the guest wrote keeps a translation in the TLB while its leaf no longer lets the guest
   * write it (protected, clean or a write-protected huge leaf): the next write through it
   * would not be recorded. Checked on every page the vCPU wrote whose translation was
   * still cached at the last look, in every run alike.
   */
  private checkFlushed(what: string, effects: ReadonlySet<string>): void {
    if (this.inspect === undefined || !effects.has('flushTlb')) return;
    const guarded = (leaf: string) => leaf === 'protected' || leaf === 'clean' || leaf === 'hugeProtected';
    const seen = [...this.cached].map((gpa) => ({ gpa, ...this.inspect!(gpa) }));
    const stale = seen.find((p) => p.tlb && guarded(p.leaf));
    // Another protected page's translation is gone: a flush ran and left this one (KVM-PT-12), or the call did not flush after protecting (KVM-PT-13).
    const flushedOthers = seen.some((p) => !p.tlb && guarded(p.leaf));
    for (const p of seen) if (!p.tlb) this.cached.delete(p.gpa);
    // The check could fail only where a page whose writable translation was cached now has a
    // guarded leaf: the call protected it (a write through a guarded leaf faults and makes it
    // writable again), so its translation had to go (KVM-PT-9's stale translation, KVM-PT-13's flush).
    // Listed on the call's own step (a step more would lengthen every counterexample).
    const protectedCached = seen.filter((p) => guarded(p.leaf)).length;
    const step = this.trace[this.callStep];
    if (protectedCached > 0 && step !== undefined)
      this.trace[this.callStep] = {
        ...step,
        expected: `${step.expected}; no translation cached of the ${protectedCached} page${protectedCached === 1 ? '' : 's'} whose cached leaf it protected`,
        req: [...step.req, 'KVM-PT-13', 'KVM-PT-9'],
      };
    if (stale !== undefined)
      throw new Violation(
        'loss',
        flushedOthers ? ['KVM-PT-12', 'KVM-PT-13', 'KVM-PT-9'] : ['KVM-PT-13', 'KVM-PT-9'],
        `once ${what} has returned, no translation of ${hex(stale.gpa)} in the TLB (its leaf is ${stale.leaf}: the TLB flushed before the return${flushedOthers ? ', every translation with it' : ''})`,
        `a translation still cached${flushedOthers ? ' while other protected pages lost theirs' : ''}: the next write to the page goes through it unrecorded`,
      );
  }

  /** The slot field an op names, with the id broken as asked. */
  slotFor(pick: number, id: IdKind): number {
    const s = KVM_SLOTS[pick % KVM_SLOTS.length]!;
    if (id === 'badAs') return slotField(this.model.params.addressSpaces, s & 0xffff);
    if (id === 'badId') return slotField(s >>> 16, this.model.params.userMemSlots + (s & 0xffff));
    return s;
  }

  npages(slot: number): number {
    return this.model.slots.get(slot >>> 0)?.npages ?? 64;
  }

  /** During a migration: page `rel` of `slot` was sent and the source changed since, so only the dirty log can bring it to the destination. */
  private stale(slot: number, rel: number): boolean {
    const sent = this.migration?.client.destination.get(slot)?.get(rel);
    const s = this.model.slots.get(slot >>> 0);
    return sent !== undefined && s !== undefined && sent !== (this.versions.get(BigInt(s.guestPhysAddr) + BigInt(rel) * PG) ?? 0);
  }

  /** Races: pages of the named slot (address space 0, else slot 0), at the given accesses. */
  racePlan(slot: number, rs: readonly Race[]): { at: number; gpa: bigint }[] {
    const target = this.model.slots.get(slot >>> 0)?.slot;
    const s = target !== undefined && target >>> 16 === 0 ? this.model.slots.get(target) : this.model.slots.get(0);
    if (s === undefined || (s.flags & KVM_MEM_READONLY) !== 0) return [];
    const last = this.lastWritten.get(s.slot) ?? 0;
    return rs.map((r) => ({ at: r.at, gpa: BigInt(s.guestPhysAddr) + BigInt(norm(r.near ? last + (r.page % 8) - 3 : r.page, s.npages)) * PG }));
  }

  // ---- the ioctls, checked

  async region(a: MemoryRegionArgs, label: string): Promise<void> {
    const x = this.model.step(a.slot, classifySetMemoryRegion(this.model.view(), a));
    const arg: KvmMemoryRegionArg = { slot: a.slot, flags: a.flags, guestPhysAddr: BigInt(a.guestPhysAddr), memorySize: BigInt(a.memorySize), userspaceAddr: BigInt(a.userspaceAddr) };
    const what = `KVM_SET_USER_MEMORY_REGION(${label}: slot ${hex(a.slot)}, flags ${a.flags}, gpa ${hex(BigInt(a.guestPhysAddr))}, size ${hex(BigInt(a.memorySize))}, uaddr ${hex(BigInt(a.userspaceAddr))})`;
    const effects = new Set(x.outcomes);
    const before = x.outcome === 'ok' && (effects.has('protectSlot') || effects.has('allocBitmapAllSet')) ? this.leavesOf(a.slot) : new Map<bigint, PageObservation['leaf']>();
    const r = await this.call('setUserMemoryRegion', () => this.inst.setUserMemoryRegion(arg), [], this.inFlightStep(what, x));
    this.compare(what, checkErrno('setUserMemoryRegion', r?.errno), x, [], this.inspect === undefined ? x.req.filter((id) => !LEAF_REQ.has(id)) : undefined);
    if (x.outcome !== 'ok') return;
    const pages = this.pages;
    if (pages !== undefined) {
      // A memslot update kicks the vCPUs out: their hardware logs are drained first.
      pages.syncAll();
      if (effects.has('zapLeaves')) pages.zapSlot(a.slot, effects.has('deleteSlot'));
    }
    this.model.applyRegion(a, effects);
    // The slot changed (deleted, moved, its log started or stopped): what was left writable is
    // judged no more. A call that changes nothing ("Nothing to change" in v6.12
    // kvm_set_memory_region, effects 'ok' alone) keeps it.
    if ([...effects].some((e) => e !== 'ok')) this.unprotected.delete(a.slot >>> 0);
    if (pages !== undefined) {
      if (effects.has('protectSlot')) pages.protectSlot(a.slot, this.npages(a.slot), effects.has('flushTlb'));
      this.settle();
    }
    this.checkFlushed(`KVM_SET_USER_MEMORY_REGION(slot ${hex(a.slot)})`, effects);
    this.checkProtections(`KVM_SET_USER_MEMORY_REGION(slot ${hex(a.slot)}, flags ${a.flags})`, before, effects, new Set());
  }

  /**
   * KVM-CAP-1, -4, -5: the manual-protect capability as the VM offers it. Before the first
   * KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) of a sequence the kit asks
   * KVM_CHECK_EXTENSION(168), as a VMM does, and holds the VM to its answer: 3 (x86 from v5.7, arm64 from v5.8),
   * 1 (x86 v5.2..v5.6, arm64 v5.2..v5.7: INITIALLY_SET refused) or 0 (the capability unknown, as before v5.2).
   * A VM that takes an option its answer left out fails KVM-CAP-5 beside the refusal's rule.
   */
  async cap(cap: number, flags: number, args0: bigint): Promise<void> {
    const offered = cap === KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 ? await this.offeredManualCaps() : KVM_DIRTY_LOG_MANUAL_CAPS;
    const x = this.model.step(0, classifyEnableCap({ cap, flags, args0 }, offered));
    const what = `KVM_ENABLE_CAP(cap ${cap}, flags ${flags}, args[0] ${hex(args0)})`;
    const r = await this.call('enableCap', () => this.inst.enableCap(cap, flags, args0), [], this.inFlightStep(what, x));
    const got = checkErrno('enableCap', r?.errno);
    // An option the answer left out (INITIALLY_SET after 1, anything after 0) taken anyway: the answer misstates what the VM takes.
    const unoffered = BigInt(KVM_DIRTY_LOG_MANUAL_CAPS) & ~BigInt(offered);
    if (cap === KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 && got === 0 && x.outcome !== 'ok' && flags === 0 && (args0 & ~BigInt(KVM_DIRTY_LOG_MANUAL_CAPS)) === 0n && ((args0 & unoffered) !== 0n || offered === 0)) {
      this.trace.push({ op: what, answer: `${got}`, expected: `${ERRNO[x.outcome]} (${x.outcome}): KVM_CHECK_EXTENSION(${cap}) answered ${offered}`, req: ['KVM-CAP-5', ...x.req], transitions: x.taken });
      throw new Violation('spec', ['KVM-CAP-5', ...x.req], `${what} returns ${ERRNO[x.outcome]} (${x.outcome}) on a VM whose KVM_CHECK_EXTENSION(${cap}) answered ${offered}`, `${got}: the VM takes an option its answer does not offer`);
    }
    this.compare(what, got, x);
  }

  /** KVM-CAP-5: the VM's answer to KVM_CHECK_EXTENSION(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2), asked once. */
  async offeredManualCaps(): Promise<number> {
    if (this.manualCaps === undefined) await this.ext();
    return this.manualCaps ?? KVM_DIRTY_LOG_MANUAL_CAPS;
  }

  async ext(): Promise<void> {
    const x = this.model.step(0, { type: 'CHECK_EXTENSION' });
    const held = this.manualCaps;
    const expected = held === undefined ? `${KVM_MANUAL_CAPS_ANSWERS.slice(0, -1).join(', ')} or ${KVM_MANUAL_CAPS_ANSWERS.at(-1)}` : `${held}, its first answer`;
    const got = await this.call('checkExtension', () => this.inst.checkExtension(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2), [], {
      op: `KVM_CHECK_EXTENSION(${KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2})`,
      expected,
      req: ['KVM-CAP-5'],
    });
    this.trace.push({ op: `KVM_CHECK_EXTENSION(${KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2})`, answer: `${got}`, expected, req: x.req, transitions: x.taken });
    if (typeof got !== 'number' || !KVM_MANUAL_CAPS_ANSWERS.includes(got) || (held !== undefined && got !== held))
      throw new Violation('spec', ['KVM-CAP-5'], `KVM_CHECK_EXTENSION(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) returns ${expected}`, `${String(got)}`);
    this.manualCaps = got;
  }

  async get(slot: number, bitmapBytes: number, plan: { at: number; gpa: bigint }[]): Promise<Set<number> | undefined> {
    const x = this.model.step(slot, classifyGetDirtyLog(this.model.view(), { slot, bitmapBytes }));
    const ghost = this.model.ghosts.get(slot >>> 0);
    const effects = new Set(x.outcomes);
    const checks = effects.has('syncDirtyLog');
    if (checks) ghost?.begin();
    // The pages whose bits a take would find set, for their protection when no report shows them (KVM-LOG-7).
    const taken = this.pages !== undefined && effects.has('takeBitmap') && x.outcome !== 'ok' && ghost !== undefined ? [...ghost.owed, ...ghost.maybe] : [];
    // Those surely set: a take that fails to copy out still protects them (KVM-LOG-7, checkProtections).
    const surelyTaken = this.inspect !== undefined && effects.has('takeBitmap') && x.outcome !== 'ok' && ghost !== undefined ? new Set(ghost.owed) : undefined;
    this.pages?.begin(checks);
    const what = `KVM_GET_DIRTY_LOG(slot ${hex(slot)}, ${bitmapBytes} bytes writable)`;
    const before = effects.has('protectTaken') ? this.leavesOf(slot) : new Map<bigint, PageObservation['leaf']>();
    this.callRange = { slot: slot >>> 0, from: 0, to: ghost?.npages ?? 0 };
    const r = await this.call('getDirtyLog', () => this.inst.getDirtyLog(slot, bitmapBytes), plan, this.inFlightStep(what, x));
    this.callRange = undefined;
    try {
      this.compare(what, checkErrno('getDirtyLog', r?.errno), x, [], errnoReq(x));
    } catch (e) {
      ghost?.endNothing();
      throw e;
    }
    if (!checks || ghost === undefined) {
      this.pagesAfter(checks, slot, [], what, effects);
      return undefined;
    }
    const take = effects.has('takeBitmap');
    if (x.outcome !== 'ok') {
      // KVM-LOG-7: without manual protect the snapshot was taken before the fault.
      if (take) ghost.endTakenWithoutReport();
      else ghost.endNothing();
      this.pagesAfter(true, slot, take ? taken : [], what, effects);
      this.checkProtections(what, before, effects, racedPages(plan), take && surelyTaken !== undefined ? { pages: surelyTaken, rule: 'KVM-LOG-7' } : undefined);
      return undefined;
    }
    const npages = ghost.npages;
    const want = dirtyLogBytes(npages);
    const req = take ? ['KVM-LOG-5'] : ['KVM-LOG-6'];
    if (!(r.bitmap instanceof Uint8Array)) {
      ghost.endNothing();
      throw new Undecided(`${this.adapter.name} getDirtyLog answered no bitmap (a Uint8Array of ${want} bytes) with errno 0`);
    }
    if (r.bitmap.length !== want) {
      ghost.endNothing();
      throw new Violation('spec', req, `${what}: a bitmap of ALIGN(${npages}, 64) / 8 = ${want} bytes`, `${r.bitmap.length} bytes`);
    }
    const { pages, beyond } = dirtyLogPages(r.bitmap, npages);
    if (beyond.length > 0) {
      ghost.endNothing();
      throw new Violation('precision', ['KVM-LOG-8'], `${what}: no bit past page ${npages - 1}`, `bits ${beyond.slice(0, 8).join(', ')} set`);
    }
    const reported = new Set(pages);
    const owed = [...ghost.owedBefore].sort((a, b) => a - b);
    // KVM-LOG-9 where a page owed is one KVM wrote itself: the report must hold it as a vCPU's.
    const byKvm = this.kvmWritten.get(slot >>> 0);
    const kvmOwed = byKvm === undefined ? [] : owed.filter((p) => byKvm.has(p));
    this.trace.push({
      op: `${what}: bitmap`,
      // Counts and page numbers told apart: "1 page: 0", never "(0)" read as a count.
      answer: `${pages.length} page${pages.length === 1 ? '' : 's'}${pages.length > 0 && pages.length <= 8 ? `: ${pages.join(', ')}` : ''}`,
      expected: `the ${owed.length} owed page${owed.length === 1 ? '' : 's'}${owed.length > 0 && owed.length <= 8 ? `: ${owed.join(', ')}` : ''}`,
      // NOLOSS-1 where a page was owed (else no page can be missing); KVM-LOG-8 where the
      // bitmap has bits past npages (npages not a multiple of 64), else none can be set.
      // NOLOSS-2 where an owed page was left owed by an earlier clearing call a write to it raced,
      // or kept by an earlier CLEAR (with KVM-CLEAR-7: its loss is charged to the clear).
      // KVM-LOG-5 / -6 where a bit of the slot was set or maybe set (owed, allowed again, or written
      // during the call): else there is nothing to report, take or leave, and a bit set anyway is
      // a false dirty (PRECISION-1). The report's failures still name it.
      req: [
        ...(ghost.bitsAtStake ? req : []),
        ...(owed.length > 0 ? ['NOLOSS-1'] : []),
        ...(ghost.racedOwed || ghost.keptOwed ? ['NOLOSS-2'] : []),
        ...(ghost.keptOwed ? ['KVM-CLEAR-7'] : []),
        'PRECISION-1',
        ...(npages % 64 !== 0 ? ['KVM-LOG-8'] : []),
        ...(kvmOwed.length > 0 ? ['KVM-LOG-9'] : []),
      ],
    });
    ghost.endReport(reported, take, kvmOwed.some((p) => !reported.has(p)) ? ['KVM-LOG-9', ...req] : req, { op: what });
    if (take && byKvm !== undefined) for (const p of reported) byKvm.delete(p);
    this.pagesAfter(true, slot, take ? reported : [], what, effects);
    this.checkUnprotected(slot, reported, racedPages(plan), what);
    this.checkProtections(what, before, effects, racedPages(plan), take ? { pages: reported, rule: 'KVM-LOG-5' } : undefined);
    return reported;
  }

  /** A GET or CLEAR returned: its syncs, protections and flush on the guest pages, then the look (guest-pages.ts). */
  private pagesAfter(sync: boolean, slot: number, protect: Iterable<number>, what: string, effects: ReadonlySet<string>): void {
    if (this.pages !== undefined) {
      const rels = [...protect];
      this.pages.call(sync, slot, rels, rels.length > 0);
      this.settle();
    }
    this.checkFlushed(what, effects);
  }

  async clear(slot: number, firstPage: bigint, numPages: number, bitmap: Uint8Array, plan: { at: number; gpa: bigint }[]): Promise<void> {
    const x = this.model.step(slot, classifyClearDirtyLog(this.model.view(), { slot, firstPage, numPages, bitmapBytes: bitmap.length }));
    const ghost = this.model.ghosts.get(slot >>> 0);
    const effects = new Set(x.outcomes);
    if (effects.has('syncDirtyLog')) ghost?.begin();
    // The pages whose bits are surely or maybe set: those a clear of their bit protects.
    const set = this.pages !== undefined && ghost !== undefined ? new Set([...ghost.owed, ...ghost.maybe]) : new Set<number>();
    this.pages?.begin(effects.has('syncDirtyLog'));
    const before = effects.has('protectCleared') ? this.leavesOf(slot) : new Map<bigint, PageObservation['leaf']>();
    // KVM-CLEAR-7 where the clear had a set bit (or one maybe set) to clear, or an owed page of the
    // slot it was not asked to clear and must keep: later reports show both (a page reported
    // again unwritten, one lost). A clear of nothing over a slot owing nothing (the bulk stage's)
    // cannot differ.
    const chosenNow = effects.has('clearSelected') && ghost !== undefined ? new Set(clearedPages(ghost.npages, Number(firstPage), numPages, bitmap)) : undefined;
    const toClear = chosenNow !== undefined && [...chosenNow].some((p) => ghost!.owed.has(p) || ghost!.maybe.has(p));
    // Owed pages inside [first_page, first_page + num_pages) the clear did not select: those it must keep.
    const inClear = (p: number) => p >= Number(firstPage) && p < Number(firstPage) + numPages;
    const toKeep = chosenNow !== undefined && [...ghost!.owed].some((p) => inClear(p) && !chosenNow.has(p));
    // KVM-CLEAR-5 where a set bit (or one maybe set) lies in the partial word that ends the slot: that word is cleared too.
    const tail = numPages % 64 === 0 ? Number.POSITIVE_INFINITY : Number(firstPage) + Math.floor(numPages / 64) * 64;
    const tailToClear = chosenNow !== undefined && [...chosenNow].some((p) => p >= tail && (ghost!.owed.has(p) || ghost!.maybe.has(p)));
    if (this.migration !== undefined && effects.has('clearSelected') && ghost !== undefined) {
      // NOLOSS-2's "a clear never forgets pages it was not asked to clear": at stake in the final comparison where this clear must keep a page not yet sent again.
      const chosen = new Set(clearedPages(ghost.npages, Number(firstPage), numPages, bitmap));
      for (const p of ghost.owed) if (p >= Number(firstPage) && p < Number(firstPage) + numPages && !chosen.has(p) && this.stale(slot >>> 0, p)) this.migration.kept = true;
    }
    this.callRange = { slot: slot >>> 0, from: Number(firstPage), to: Number(firstPage) + numPages };
    const r = await this.call(
      'clearDirtyLog',
      () => this.inst.clearDirtyLog(slot, firstPage, numPages, bitmap),
      plan,
      this.inFlightStep(`KVM_CLEAR_DIRTY_LOG(slot ${hex(slot)}, first_page ${firstPage}, num_pages ${numPages}, ${bitmap.length} bytes)`, x),
    );
    this.callRange = undefined;
    const selected = effects.has('clearSelected') && ghost !== undefined ? clearedPages(ghost.npages, Number(firstPage), numPages, bitmap) : [];
    const what = `KVM_CLEAR_DIRTY_LOG(slot ${hex(slot)}, first_page ${firstPage}, num_pages ${numPages}, ${bitmap.length} bytes${selected.length > 0 ? `, clearing ${selected.length <= 8 ? selected.join(', ') : `${selected.length} pages`}` : ''})`;
    // KVM-CLEAR-8: bits for pages past the slot's end are in the buffer and must be ignored.
    const beyond = ghost !== undefined && effects.has('clearSelected') && bitmap.some((_, i) => i * 8 + 7 >= ghost.npages - Number(firstPage) && (bitmap[i]! & (0xff << Math.max(0, ghost.npages - Number(firstPage) - i * 8)) & 0xff) !== 0);
    try {
      // KVM-CLEAR-9 where manual protect is off: a clear accepted there could have been refused.
      // NOLOSS-2 where it kept an owed page: a clear never forgets pages it was not asked to clear
      // (a later report missing the page names this clear's rules: SlotGhost.endClear).
      const content = x.outcome === 'ok' ? [...(tailToClear ? ['KVM-CLEAR-5'] : []), ...(toClear || toKeep ? ['KVM-CLEAR-7'] : []), ...(toKeep ? ['NOLOSS-2'] : []), ...(this.model.protect === 'off' ? ['KVM-CLEAR-9'] : [])] : [];
      const misread = clearMisread(ghost?.npages, firstPage, numPages, bitmap.length, beyond);
      this.compare(what, checkErrno('clearDirtyLog', r?.errno), x, beyond ? ['KVM-CLEAR-8'] : [], [...errnoReq(x), ...(beyond ? ['KVM-CLEAR-8'] : []), ...content], misread);
    } finally {
      // A clear accepted keeps what it was not asked to clear, charged to it (endClear).
      if (effects.has('syncDirtyLog')) {
        if (x.outcome === 'ok') {
          // A page it cleared and a later report holds unwritten is charged to it: KVM-CLEAR-7, and KVM-CLEAR-5 in the partial word ending the slot.
          ghost?.endClear(selected, { op: what, req: ['KVM-CLEAR-7', 'NOLOSS-2'] }, { from: Number(firstPage), to: Number(firstPage) + numPages }, (p) => (p >= tail ? ['KVM-CLEAR-5', 'KVM-CLEAR-7'] : ['KVM-CLEAR-7']));
        } else ghost?.endDischarge(selected);
      }
    }
    this.pagesAfter(effects.has('syncDirtyLog'), slot, effects.has('protectCleared') ? selected.filter((p) => set.has(p)) : [], what, effects);
    if (x.outcome === 'ok') this.checkProtections(what, before, effects, racedPages(plan));
  }

  async split(on: boolean): Promise<void> {
    const set = this.inst.setEagerSplit;
    if (typeof set !== 'function') {
      this.trace.push({ op: `eager page splitting ${on ? 'on' : 'off'}`, answer: 'not offered by the adapter: skipped', expected: '-', req: [] });
      return;
    }
    await this.call('setEagerSplit', () => set.call(this.inst, on));
    this.pages?.setSplit(on);
    this.trace.push({ op: `eager page splitting ${on ? 'on' : 'off'} (module parameter)`, answer: 'done', expected: '-', req: [] });
  }

  /**
   * KVM writes a page itself, without a running vCPU (KVM-LOG-9): the ghost of a logging slot
   * owes it as a vCPU's write; the guest pages do not change. Skipped where the adapter has no
   * kvmWrite, or no writable slot holds the page (KVM's write would fail).
   */
  async kvmWrite(w: KvmOwnWrite): Promise<void> {
    const fn = this.inst.kvmWrite;
    // With the dirty ring on and no bitmap nothing records such a write (Linux warns): nothing to check.
    if (typeof fn !== 'function' || this.config.dirtyRingExclusive) return;
    const slot = KVM_SLOTS[w.pick % 3]!;
    const s = this.model.slots.get(slot);
    if (s === undefined || (s.flags & KVM_MEM_READONLY) !== 0) return;
    const rel = norm(w.page, s.npages);
    const gpa = BigInt(s.guestPhysAddr) + BigInt(rel) * PG;
    const ghost = this.model.ghosts.get(s.slot);
    const logging = ghost !== undefined;
    // KVM-LOG-9 is at stake where this write alone makes the page owed.
    const alone = ghost !== undefined && !ghost.owed.has(rel) && !ghost.maybe.has(rel);
    const op = `KVM writes ${hex(gpa)} without a running vCPU (kvm_write_guest)`;
    await this.call('kvmWrite', () => fn.call(this.inst, gpa), [], { op, expected: 'done', req: ['KVM-LOG-9'] });
    this.model.kvmWrite(gpa);
    this.versions.set(gpa, (this.versions.get(gpa) ?? 0) + 1);
    this.lastWritten.set(s.slot, rel);
    if (alone) {
      const mine = this.kvmWritten.get(s.slot >>> 0) ?? new Set<number>();
      mine.add(rel);
      this.kvmWritten.set(s.slot >>> 0, mine);
    }
    // Nothing of KVM's is compared here: the next GET's report is (KVM-LOG-9 there).
    this.trace.push({ op, answer: 'done', expected: logging ? "its bit set in the slot's bitmap (the next GET reports it)" : 'not recorded (the slot does not log)', req: [] });
    this.settle();
  }

  /** Each slot's pages KVM wrote that its ghost no longer owes (reported, cleared, logging off, the slot gone) leave kvmWritten. */
  private pruneKvmWritten(): void {
    for (const [slot, pages] of this.kvmWritten) {
      const ghost = this.model.ghosts.get(slot);
      if (ghost === undefined) this.kvmWritten.delete(slot);
      else for (const p of pages) if (!ghost.owed.has(p)) pages.delete(p);
    }
  }

  async write(gpa: bigint): Promise<void> {
    await this.checkedWrite(gpa, `vCPU write at ${hex(gpa)}`, true);
  }

  /**
   * One vCPU write at `gpa` (step `op`, traced on its own or as part of a flood), with the
   * checks of its page: the exit (KVM-PT-16, KVM-SLOT-11), a fault it must take (checkFault),
   * nothing of the page changed by a write through a writable leaf (KVM-PT-3), no neighbour's
   * translation cached by it (KVM-PT-14); the pages' states settled after it.
   */
  private async checkedWrite(gpa: bigint, op: string, traced: boolean): Promise<void> {
    const before = this.pageBefore(gpa);
    const fault = this.faultRule(before);
    // A write through a writable leaf (4 KiB or huge), through the TLB or by a walk: nothing of the page may change (KVM-PT-3).
    const through = before !== undefined && (before.seen.leaf === 'writable' || before.seen.leaf === 'huge') ? before : undefined;
    const uncached = this.uncachedNeighbours(gpa);
    this.guestWrote(gpa, false);
    const { exit, mmio } = await this.vcpuWrite(gpa, op);
    const want = mmio ? 'mmio' : 'none';
    if (traced || exit !== want) this.trace.push({ op, answer: traced ? exit : `${exit} at ${hex(gpa)}`, expected: want, req: mmio ? ['KVM-PT-16'] : [] });
    if (exit !== want) throw new Violation('spec', mmio ? ['KVM-PT-16'] : ['KVM-SLOT-11'], `the write at ${hex(gpa)} ${mmio ? 'exits as MMIO (no writable slot)' : 'goes through (a writable slot holds it)'}`, exit);
    if (fault !== undefined) this.checkFault(gpa, fault);
    if (through !== undefined) this.checkThrough(gpa, through);
    if (exit === 'none') this.checkCachedOnly(gpa, uncached);
    this.settle();
  }

  /**
   * A run of vCPU writes to consecutive pages, as one step: each page owed as any vCPU
   * write makes it, and each write checked as a single one is (checkedWrite). Over more
   * clean pages than x86's PML buffer holds (512 entries: the 513th logged write exits
   * PML-full, and vmx_flush_pml_buffer drains every entry into the bitmaps), a drain that
   * drops or misreads a full buffer loses pages the next GET owes.
   */
  async flood(o: Extract<Op, { k: 'flood' }>): Promise<void> {
    const s = this.model.slots.get(KVM_SLOTS[o.pick % 3]!);
    if (s === undefined) return;
    const count = Math.min(o.count, s.npages - Math.min(o.from, s.npages));
    const first = BigInt(s.guestPhysAddr) + BigInt(o.from) * PG;
    const op = `KVM_RUN: vCPU writes to ${count} pages from ${hex(first)}`;
    const at = this.trace.length;
    this.trace.push({ op, answer: 'stopped by the failure below', expected: 'none', req: [] });
    for (let i = 0; i < count; i++) {
      // A write's checks are in the trace only where one fails.
      const mark = this.trace.length;
      await this.checkedWrite(first + BigInt(i) * PG, op, false);
      this.trace.length = mark;
    }
    this.trace[at] = { op, answer: 'every write went through, each checked', expected: 'none', req: [] };
  }

  /** The vCPU's write at `gpa` (step `op`): its exit, undecided unless 'none' or 'mmio', and whether the spec says MMIO (no writable slot holds the page). */
  private async vcpuWrite(gpa: bigint, op: string): Promise<{ exit: 'none' | 'mmio'; mmio: boolean }> {
    const hit = this.model.slotOfGfn(gpa / PG);
    const mmio = hit === undefined || (hit.slot.flags & KVM_MEM_READONLY) !== 0;
    const r = await this.call('vcpuWrite', () => this.inst.vcpuWrite(gpa), [], { op, expected: mmio ? 'mmio' : 'none', req: mmio ? ['KVM-PT-16'] : ['KVM-SLOT-11'] });
    const exit = (r as { exit?: unknown } | null)?.exit;
    if (exit !== 'none' && exit !== 'mmio') throw new Undecided(`${this.adapter.name} vcpuWrite answered ${JSON.stringify(r)}: expected { exit: 'none' | 'mmio' }`);
    return { exit, mmio };
  }

  /** When the implementation shows its pages: the written page's neighbours in its slot and its 2 MiB whose translations are not cached (checkCachedOnly). */
  private uncachedNeighbours(gpa: bigint): bigint[] {
    if (this.inspect === undefined) return [];
    const hit = this.model.slotOfGfn(gpa / PG);
    if (hit === undefined) return [];
    const near = [gpa - PG, gpa + PG].filter((n) => n / PG / 512n === gpa / PG / 512n && this.model.slotOfGfn(n / PG)?.slot.slot === hit.slot.slot);
    return near.filter((n) => !this.inspect!(n).tlb);
  }

  /**
   * KVM-PT-14: a write caches the translation it used, of its own page. Once it left the
   * page a 4 KiB leaf (whose translation covers that page alone), a neighbour whose
   * translation was not cached before the write is not cached after it: otherwise the next
   * write to the neighbour goes through without a walk, past a leaf absent or protected.
   */
  private checkCachedOnly(gpa: bigint, uncached: readonly bigint[]): void {
    if (uncached.length === 0) return;
    const leaf = this.inspect!(gpa).leaf;
    if (leaf !== 'writable' && leaf !== 'clean' && leaf !== 'protected') return;
    const cached = uncached.find((n) => this.inspect!(n).tlb);
    if (cached === undefined) return;
    this.trace.push({ op: `  the TLB after the write at ${hex(gpa)} (a 4 KiB leaf)`, answer: `a translation of ${hex(cached)} too`, expected: `a translation of ${hex(gpa)} only`, req: ['KVM-PT-14'] });
    throw new Violation(
      'loss',
      ['KVM-PT-14'],
      `the write at ${hex(gpa)}, through a 4 KiB leaf, caches the translation of its own page only`,
      `a translation of ${hex(cached)}, not walked, cached too: its next write goes through without a walk, unrecorded`,
    );
  }

  /**
   * When the implementation shows its pages: the state of a page of a writable slot just
   * before a write to it, with whether its slot logs; undefined for a page outside every
   * slot or in a read-only one (the write exits as MMIO), or without inspectPage.
   */
  private pageBefore(gpa: bigint): { seen: PageObservation; logging: boolean } | undefined {
    if (this.inspect === undefined) return undefined;
    const hit = this.model.slotOfGfn(gpa / PG);
    if (hit === undefined || (hit.slot.flags & KVM_MEM_READONLY) !== 0) return undefined;
    return { seen: this.inspect(gpa), logging: this.model.ghosts.has(hit.slot.slot) };
  }

  /**
   * The rule of a write about to fault (its leaf absent, write-protected, huge and
   * write-protected, or clean, and no translation cached), as the page's state before the
   * write (pageBefore) shows it; undefined for any other write (through a writable leaf or
   * a cached translation, or none seen).
   */
  private faultRule(page: { seen: PageObservation; logging: boolean } | undefined): { rule: string; leaf: string } | undefined {
    if (page === undefined) return undefined;
    const seen = page.seen;
    if (seen.tlb) return undefined;
    // A slot not logging: a page not mapped faults and is mapped writable (KVM-PT-2); a protected leaf (left by the log) faults and is made writable again (KVM-PT-6).
    const rule = page.logging
      ? ({ none: 'KVM-PT-1', hugeProtected: 'KVM-PT-5', protected: 'KVM-PT-8', clean: 'KVM-PT-7' } as Record<string, string>)[seen.leaf]
      : seen.leaf === 'protected' || seen.leaf === 'hugeProtected'
        ? 'KVM-PT-6'
        : seen.leaf === 'none'
          ? 'KVM-PT-2'
          : undefined;
    return rule === undefined ? undefined : { rule, leaf: seen.leaf };
  }

  /**
   * The racing writes that faulted in a logging slot, looked at after at most one more of
   * the implementation's memory accesses (or once the call returned): the call itself may
   * protect or split the page since, never map it huge again, so a huge leaf there is the
   * fault's (KVM-PT-1, 5: never huge while logging).
   */
  private checkRacedFaults(returned: boolean): void {
    // At every memory access of a call: nothing to look at, nothing made (a new empty list each
    // time was a tenth of the bytes a kvm-dirty-log run allocated).
    if (this.racedFaults.length === 0) return;
    let pending: { gpa: bigint; rule: string; leaf: string }[] | undefined;
    for (const f of this.racedFaults) {
      const leaf = this.inspect!(f.gpa).leaf;
      // Still unmapped, or write-protected and huge: the write's fault has not run yet. It may
      // wait for a lock the call holds (mmu_lock, which GET and CLEAR take for write while they
      // protect: Linux v6.12 virt/kvm/kvm_main.c kvm_get_dirty_log_protect, KVM_MMU_LOCK; x86's
      // TDP MMU fault and arm64's user_mem_abort take it for read), so it is looked at again, at
      // the latest once the call has returned. (The leaf leaving that state is taken as the
      // fault's: a fault skipped while the call itself splits the leaf is left to the ghost.)
      if ((leaf === 'hugeProtected' || leaf === 'none') && !returned) {
        (pending ??= []).push(f);
        continue;
      }
      if (this.deferred !== undefined || (leaf !== 'huge' && leaf !== 'hugeProtected')) continue;
      this.trace.push({ op: `  the page at ${hex(f.gpa)} after the racing write (its leaf was ${f.leaf})`, answer: leaf, expected: 'a 4 KiB leaf', req: [f.rule] });
      this.deferred = new Violation(
        'loss',
        [f.rule],
        `the racing write at ${hex(f.gpa)} to a ${f.leaf === 'none' ? 'page not mapped' : `${f.leaf} leaf`} of a logging slot maps a 4 KiB leaf`,
        leaf === 'huge' ? 'a huge leaf: writes to the other pages of its 2 MiB go unrecorded' : 'a write-protected huge leaf once the call has returned: the write went through without its fault, unrecorded',
      );
    }
    this.racedFaults = pending ?? [];
  }

  /**
   * KVM-PT-1, 5, 8 (and 7 with a hardware dirty bit): the write that faulted (or walked a
   * clean leaf) in a logging slot leaves the page a 4 KiB writable leaf, never a huge one:
   * a huge writable leaf would let the guest write the other pages of its 2 MiB unrecorded.
   */
  private checkFault(gpa: bigint, fault: { rule: string; leaf: string }): void {
    if (UNLOGGED_FAULTS.has(fault.rule)) return this.checkUnloggedFault(gpa, fault);
    const seen = this.inspect!(gpa);
    const after = seen.leaf;
    // The fault marks the page before the leaf is writable (make_spte); a walk that sets a hardware dirty bit logs it for a later drain (KVM-PT-7).
    const unmarked = seen.dirty === false && fault.rule !== 'KVM-PT-7';
    this.trace.push({
      op: `  the page at ${hex(gpa)} after the write (its leaf was ${fault.leaf})`,
      answer: `${after}${seen.dirty === undefined ? '' : seen.dirty ? ', bit set' : ', bit clear'}`,
      expected: `writable (a 4 KiB leaf)${seen.dirty === undefined || fault.rule === 'KVM-PT-7' ? '' : ', its bit set'}`,
      req: [fault.rule],
    });
    if (unmarked && after === 'writable')
      throw new Violation('loss', [fault.rule], `the write fault at ${hex(gpa)} in a logging slot marks the page dirty in the bitmap before making its leaf writable`, 'the leaf writable, the bit clear: the write is not recorded');
    if (after !== 'writable')
      throw new Violation(
        after === 'huge' || after === 'clean' ? 'loss' : 'spec',
        [fault.rule],
        `the write at ${hex(gpa)} to a ${fault.leaf === 'none' ? 'page not mapped' : `${fault.leaf} leaf`} of a logging slot leaves a 4 KiB writable leaf`,
        after === 'huge' ? 'a writable huge leaf: writes to the other pages of its 2 MiB go unrecorded' : after === 'clean' ? 'a clean leaf: the write went through unrecorded' : `a ${after} leaf`,
      );
  }

  /**
   * KVM-PT-6: a write to a leaf the log had write-protected, in a slot no longer logging,
   * faults and leaves the page writable again: a 4 KiB writable leaf, or a huge one where
   * KVM maps huge (Linux v6.12 arch/x86/kvm/mmu/mmu.c fast_page_fault restores the write
   * bit of a protected SPTE; a zapped one is rebuilt by the slow path, huge where allowed).
   * KVM-PT-2: a write to a page not mapped, in a slot not logging, maps it writable, 4 KiB
   * or huge (direct_page_fault; kvm_mmu_max_mapping_level: huge only where the backing
   * allows, so a 4 KiB leaf is never wrong). A leaf still protected, or none, after the
   * write means every later write faults: the rule broken, not a lost page (no log to lose
   * it from).
   */
  private checkUnloggedFault(gpa: bigint, fault: { rule: string; leaf: string }): void {
    const after = this.inspect!(gpa).leaf;
    const before = fault.leaf === 'none' ? 'page not mapped' : `${fault.leaf} leaf`;
    const slot = fault.rule === 'KVM-PT-2' ? 'a slot not logging' : 'a slot no longer logging';
    this.trace.push({
      op: `  the page at ${hex(gpa)} after the write (${fault.leaf === 'none' ? 'not mapped before' : `its leaf was ${fault.leaf}`}, ${slot})`,
      answer: after,
      expected: 'writable (a 4 KiB or huge leaf)',
      req: [fault.rule],
    });
    if (after !== 'writable' && after !== 'huge' && after !== 'clean')
      throw new Violation('spec', [fault.rule], `the write at ${hex(gpa)} to a ${before} of ${slot} makes the page writable`, `a ${after} leaf: every later write to it faults`);
  }

  /**
   * KVM-PT-3: a write through a writable leaf (4 KiB, with its hardware dirty bit set where
   * there is one, or huge), by the TLB or by a walk, changes nothing and records nothing.
   * It never reaches KVM: the processor writes a dirty flag only when it is clear, and PML
   * logs only that setting (Intel SDM Vol. 3C, EPT accessed and dirty flags,
   * page-modification logging); a stage-2 descriptor that allows the write is not updated
   * (ARM DDI 0487, stage 2 DBM). So the page shows what it showed before the write: the same
   * leaf (not split, protected or cleaned), its hardware log and its bit as they were; only
   * a translation may be cached since (KVM-PT-14). A leaf the write changed costs the guest
   * faults (and, while logging, records) it never owed. Judged on the vCPU's own writes.
   * With a hardware dirty bit, a huge leaf's log and bit are not judged: the observation
   * does not show whether its dirty bit is set, and the walk of a huge leaf whose bit is
   * clear sets it and logs the page (as checkProtections, which does not judge it either).
   */
  private checkThrough(gpa: bigint, before: { seen: PageObservation; logging: boolean }): void {
    const was = before.seen;
    const now = this.inspect!(gpa);
    const leafOnly = this.config.hwDirty && was.leaf === 'huge';
    const show = (p: PageObservation) => (leafOnly ? p.leaf : `${p.leaf}${p.pml ? ', in the hardware log' : ''}${p.dirty === undefined ? '' : p.dirty ? ', bit set' : ', bit clear'}`);
    const slot = before.logging ? 'a logging slot' : 'a slot not logging';
    this.trace.push({ op: `  the page at ${hex(gpa)} after the write through its ${was.leaf} leaf (${slot})`, answer: show(now), expected: `${show(was)}, as before`, req: ['KVM-PT-3'] });
    if (now.leaf !== was.leaf || (!leafOnly && (now.pml !== was.pml || now.dirty !== was.dirty)))
      throw new Violation('spec', ['KVM-PT-3'], `the write at ${hex(gpa)} through a ${was.leaf} leaf of ${slot} changes nothing and records nothing (${show(was)})`, `${show(now)}`);
  }

  /**
   * When the implementation shows its pages: the leaves, before a call, of the pages written
   * in `slot` (the only pages of a run that can be mapped: the kit maps a page by a vCPU's
   * write; KVM's own writes map nothing, and their pages, unmapped, are skipped), for
   * checkProtections once the call has returned.
   */
  private leavesOf(slot: number): Map<bigint, PageObservation['leaf']> {
    const leaves = new Map<bigint, PageObservation['leaf']>();
    if (this.inspect === undefined) return leaves;
    for (const gpa of this.versions.keys()) {
      const hit = this.model.slotOfGfn(gpa / PG);
      if (hit !== undefined && hit.slot.slot === slot >>> 0) leaves.set(gpa, this.inspect(gpa).leaf);
    }
    return leaves;
  }

  /**
   * KVM-PT-4, 9, 10, 11, when the implementation shows its pages: the leaves of `before`
   * (leavesOf, before the call) once a call that protects pages of the slot (`protects`: its
   * memslot-machine effects include protectSlot, protectTaken or protectCleared) or starts
   * the log under INITIALLY_SET has returned. Pages a racing write touched during the call
   * are not judged (the write may fault and make its page writable again, KVM-PT-8).
   * - Protecting never lets a leaf that was not writable be written unrecorded: one already
   *   write-protected, clean or a write-protected huge leaf is not writable after the call
   *   (KVM-PT-11: protecting it again changes nothing; a protection that toggles the bit,
   *   rather than clearing it, makes it writable).
   * - Starting the log protects every leaf of the slot (protectSlot): none is writable after
   *   the call (KVM-PT-9 for a 4 KiB leaf, KVM-PT-10 for a huge one, which is split or
   *   write-protected whole). With a hardware dirty bit a huge leaf is not judged: the kit's
   *   page observation cannot tell a huge leaf whose dirty bit was cleared from one still dirty.
   * - Starting the log under INITIALLY_SET protects nothing (KVM-PT-4): a writable leaf stays
   *   writable, huge or split into 4 KiB leaves.
   * - A GET without manual protect write-protects (or cleans) the leaf of every page whose bit it
   *   took (KVM-LOG-5; Linux v6.12 kvm_get_dirty_log_protect hands each word it took to
   *   kvm_arch_mmu_enable_log_dirty_pt_masked), and so does one that fails to copy the bitmap
   *   out (KVM-LOG-7): a page `taken` names whose leaf stays writable is judged at the slot's
   *   next report (checkUnprotected). x86's kvm_arch_mmu_enable_log_dirty_pt_masked (v6.12)
   *   protects 4 KiB leaves only there, the huge ones having been protected or split when
   *   logging started: a huge leaf still writable at such a GET (logging started under
   *   INITIALLY_SET, then the capability dropped the flag, which the kit can draw) loses its
   *   writes on x86 too (docs/CONTRACTS.md departure 38).
   *   A CLEAR is not judged so: its protection follows the bits it finds set, which an earlier
   *   faulty call may have cleared, so a leaf it leaves writable may be that call's fault (a GET
   *   in manual mode that clears); the ghost charges the CLEAR through later reports.
   */
  private checkProtections(
    what: string,
    before: ReadonlyMap<bigint, PageObservation['leaf']>,
    effects: ReadonlySet<string>,
    racedGfns: ReadonlySet<bigint>,
    taken?: { readonly pages: ReadonlySet<number>; readonly rule: 'KVM-LOG-5' | 'KVM-LOG-7' },
  ): void {
    // A move zaps the slot's leaves (KVM-PT-15): nothing of them is left to judge. With the dirty
    // ring exclusive there is no bitmap and no log of this profile's (profile kvm-dirty-ring judges it).
    if (this.inspect === undefined || before.size === 0 || effects.has('zapLeaves') || this.config.dirtyRingExclusive) return;
    const protects = effects.has('protectSlot') || effects.has('protectTaken') || effects.has('protectCleared');
    const initiallySet = effects.has('allocBitmapAllSet');
    if (!protects && !initiallySet) return;
    const unguarded = (leaf: string) => leaf === 'writable' || (leaf === 'huge' && !this.config.hwDirty);
    const judged = new Set<string>();
    for (const [gpa, was] of before) {
      if (racedGfns.has(gpa / PG)) continue;
      // The rule the page's leaf falls under, and whether the leaf it now has breaks it.
      let rule: string | undefined;
      if (initiallySet) rule = was === 'writable' || was === 'huge' ? 'KVM-PT-4' : undefined;
      else if (was === 'protected' || was === 'clean' || was === 'hugeProtected') rule = 'KVM-PT-11';
      else if (effects.has('protectSlot') && (was === 'writable' || was === 'huge')) rule = was === 'huge' ? 'KVM-PT-10' : 'KVM-PT-9';
      const hit = taken !== undefined && (was === 'writable' || was === 'huge') ? this.model.slotOfGfn(gpa / PG) : undefined;
      if (rule === undefined && hit !== undefined && taken!.pages.has(hit.rel)) {
        // Left writable, its bit may still be set (a precision bug, not a loss: the next report
        // holds the page again): judged at the slot's next report (checkUnprotected).
        if (unguarded(this.inspect(gpa).leaf)) this.awaitReport(hit.slot.slot, hit.rel, { gpa, was, what, rule: taken!.rule });
        continue;
      }
      if (rule === undefined) continue;
      const now = this.inspect(gpa).leaf;
      const broken = rule === 'KVM-PT-4' ? now !== 'writable' && now !== 'huge' : unguarded(now);
      judged.add(rule);
      if (!broken) continue;
      const expected =
        rule === 'KVM-PT-4'
          ? 'writable (4 KiB or huge): INITIALLY_SET protects nothing'
          : rule === 'KVM-PT-11'
            ? `${was}, as before: protecting it again changes nothing`
            : 'write-protected (or clean): starting the log protects every leaf of the slot';
      this.trace.push({ op: `  the page at ${hex(gpa)} after ${what} (its leaf was ${was})`, answer: now, expected, req: [rule] });
      throw new Violation(
        rule === 'KVM-PT-4' ? 'spec' : 'loss',
        [rule],
        `once ${what} has returned, the ${was} leaf of ${hex(gpa)} is ${expected}`,
        rule === 'KVM-PT-4' ? `a ${now} leaf: every later write to it faults` : `a ${now} leaf: the guest writes it without a fault, unrecorded`,
      );
    }
    if (judged.size > 0) this.trace.push({ op: `  the leaves the vCPU mapped in the slot, after ${what}`, answer: 'as the rules say', expected: [...judged].join(', '), req: [...judged] });
  }

  /**
   * KVM-LOG-5 (KVM-LOG-7 for a GET that failed to copy out) at the slot's next report: a page a
   * GET without manual protect took whose leaf it left writable (checkProtections). If its bit
   * was cleared, the guest writes the page without a fault and nothing records it: this report
   * does not hold the page and its leaf is still writable. If the bit was left set too, the
   * report holds it (a false dirty at most, the ghost's to judge). A page a racing write of this
   * report's call touched is carried to the report after.
   */
  /** Page `rel` of `slot`, left writable by the GET `u.what`, to be judged at the slot's next report. */
  private awaitReport(slot: number, rel: number, u: { gpa: bigint; was: string; what: string; rule: 'KVM-LOG-5' | 'KVM-LOG-7' }): void {
    let pages = this.unprotected.get(slot);
    if (pages === undefined) this.unprotected.set(slot, (pages = new Map()));
    pages.set(rel, u);
  }

  private checkUnprotected(slot: number, reported: ReadonlySet<number>, racedGfns: ReadonlySet<bigint>, what: string): void {
    const left = this.unprotected.get(slot >>> 0);
    if (left === undefined || this.inspect === undefined) return;
    this.unprotected.delete(slot >>> 0);
    const judged = new Set<string>();
    for (const [rel, u] of left) {
      if (reported.has(rel)) continue;
      // A racing write of this call touched it: judged at the next report instead.
      if (racedGfns.has(u.gpa / PG)) {
        this.awaitReport(slot >>> 0, rel, u);
        continue;
      }
      judged.add(u.rule);
      const now = this.inspect(u.gpa).leaf;
      if (now !== 'writable' && (now !== 'huge' || this.config.hwDirty)) continue;
      const expected = 'write-protected (or clean): the call took its dirty bit';
      this.trace.push({ op: `  the page at ${hex(u.gpa)} after ${u.what} (its leaf was ${u.was}), at ${what}`, answer: `a ${now} leaf, the page not reported`, expected, req: [u.rule] });
      throw new Violation(
        'loss',
        [u.rule],
        `once ${u.what} has returned, the ${u.was} leaf of ${hex(u.gpa)} is ${expected}`,
        `a ${now} leaf, and ${what} does not report the page: its bit is clear while the guest writes it without a fault, unrecorded`,
      );
    }
    if (judged.size > 0) this.trace.push({ op: `  the pages an earlier GET took and left writable, at ${what}`, answer: 'protected since', expected: 'protected, or reported again', req: [...judged] });
  }

  // ---- the ops scenario

  /** A slot's other home (and back): 8 MiB windows 3..5, clear of the others. */
  movedGpa(index: number, at: bigint | number): bigint {
    // The slot's shift past its window (SLOT_SHIFTS) goes with it.
    const shift = (BigInt(at) - GPA_BASE) % SPACING;
    const home = GPA_BASE + BigInt(index % 3) * SPACING + shift;
    return BigInt(at) === home ? GPA_BASE + BigInt(3 + (index % 3)) * SPACING + shift : home;
  }

  regionArgs(o: Extract<Op, { k: 'region' }>): MemoryRegionArgs {
    const index = o.pick % KVM_SLOTS.length;
    const slot = KVM_SLOTS[index]!;
    const shift = BigInt(o.shift ?? 0) * PG;
    const base = GPA_BASE + BigInt(index % 3) * SPACING + shift;
    const uaddr = UADDR_BASE + BigInt(index) * SPACING + shift;
    const old = this.model.slots.get(slot);
    const size = BigInt(o.pages) * PG;
    const cur = old === undefined ? { slot, flags: o.flags, guestPhysAddr: base, memorySize: size, userspaceAddr: uaddr } : { ...old };
    const toggle = (f: number) => ({ ...cur, flags: (cur.flags & KVM_MEM_READONLY) !== 0 ? cur.flags : f });
    switch (o.kind) {
      case 'create':
        return old === undefined ? cur : { ...cur, flags: o.flags & ~KVM_MEM_READONLY };
      case 'delete':
        return { ...cur, memorySize: 0n };
      case 'logOn':
        return toggle(KVM_MEM_LOG_DIRTY_PAGES);
      case 'logOff':
        return toggle(0);
      case 'move':
        return { ...cur, guestPhysAddr: this.movedGpa(index, cur.guestPhysAddr) };
      case 'moveLogOn':
        return { ...toggle(KVM_MEM_LOG_DIRTY_PAGES), guestPhysAddr: this.movedGpa(index, cur.guestPhysAddr) };
      case 'moveLogOff':
        return { ...toggle(0), guestPhysAddr: this.movedGpa(index, cur.guestPhysAddr) };
      case 'moveOverlap': {
        const other = [...this.model.slots.values()].find((s) => s.slot !== slot && s.slot >>> 16 === slot >>> 16);
        return { ...cur, guestPhysAddr: other === undefined ? GPA_BASE + BigInt((index + 1) % 3) * SPACING : BigInt(other.guestPhysAddr) };
      }
      case 'badFlags':
        return { ...cur, flags: 4 };
      case 'unalignedSize':
        return { ...cur, memorySize: BigInt(cur.memorySize) + 0x800n };
      case 'unalignedGpa':
        return { ...cur, guestPhysAddr: BigInt(cur.guestPhysAddr) + 0x10n };
      case 'badUaddr':
        return { ...cur, userspaceAddr: BigInt(cur.userspaceAddr) + 8n };
      case 'uaddrPastLimit':
        return { ...cur, userspaceAddr: this.model.params.userAddressLimit - PG };
      case 'badAsId':
        return { ...cur, slot: slotField(this.model.params.addressSpaces, slot & 0xffff) };
      case 'badId':
        return { ...cur, slot: slotField(slot >>> 16, this.model.params.userMemSlots) };
      case 'wrap':
        return { ...cur, guestPhysAddr: (1n << 64n) - PG };
      case 'tooMany':
        return { ...cur, memorySize: (1n << 31n) * PG, userspaceAddr: 0n };
      case 'immutable':
        return { ...cur, memorySize: BigInt(cur.memorySize) + 64n * PG };
      case 'overlap': {
        const other = [...this.model.slots.values()].find((s) => s.slot !== slot && s.slot >>> 16 === slot >>> 16);
        return old === undefined && other !== undefined ? { ...cur, guestPhysAddr: BigInt(other.guestPhysAddr) + PG * BigInt(other.npages - 1) } : cur;
      }
      case 'readonlyToggle':
        return { ...cur, flags: cur.flags ^ KVM_MEM_READONLY };
      case 'same':
        return cur;
    }
  }

  /** Brings the slot an op picks to `to`: deleted first when it must be created anew (or is read-only and must log). */
  async goTo(pick: number, to: SlotState, pages: number): Promise<void> {
    const slot = KVM_SLOTS[pick % KVM_SLOTS.length]!;
    const region = (kind: RegionKind, flags = 0) => this.op({ k: 'region', pick, kind, pages, flags });
    const state = () => this.model.state(slot).slot;
    const readonly = () => ((this.model.slots.get(slot)?.flags ?? 0) & KVM_MEM_READONLY) !== 0;
    if (state() === to) return;
    if (to === 'absent' || (to === 'logging' && readonly())) await region('delete');
    if (state() === 'absent' && to !== 'absent') await region('create', to === 'logging' ? KVM_MEM_LOG_DIRTY_PAGES : 0);
    else if (state() !== to) await region(to === 'logging' ? 'logOn' : 'logOff');
  }

  /** The call an `aim` op makes: see AIMS. */
  aimed(o: Extract<Op, { k: 'aim' }>): Op {
    const slot = KVM_SLOTS[o.pick % KVM_SLOTS.length]!;
    const aims = AIMS[this.model.state(slot).slot];
    const aim = aims[o.n % aims.length]!;
    const clear = (first: FirstKind, num: NumKind, bytes: 'ok' | 'short', races: readonly Race[] = []): Op => ({ k: 'clear', pick: o.pick, id: 'ok', first, num, bits: 'all', some: [], bytes, races });
    switch (aim) {
      case 'createLog':
      case 'createNoLog':
        return { k: 'region', pick: o.pick, kind: 'create', pages: o.pages, flags: aim === 'createLog' ? KVM_MEM_LOG_DIRTY_PAGES : 0 };
      case 'get':
      case 'getShort':
        return { k: 'get', pick: o.pick, id: 'ok', short: aim === 'getShort', races: [] };
      // A racing write at each of the call's first 4 memory accesses, each to another page
      // of the 64-page word the guest wrote last: one lands inside every window of the word's
      // handling (between a load and a store of the word, between the take and the protection).
      case 'getRaced':
        return { k: 'get', pick: o.pick, id: 'ok', short: false, races: RACE_EVERY_ACCESS };
      case 'clearRaced':
        return clear('zero', 'toEnd', 'ok', RACE_EVERY_ACCESS);
      case 'clearOk':
        return clear('zero', 'toEnd', 'ok');
      case 'clearUnaligned':
        return clear('unaligned', 'n64', 'ok');
      case 'clearOutside':
        return clear('zero', 'toEndPlus1', 'ok');
      case 'clearNum':
        return clear('zero', this.npages(slot) > 36 ? 'n36' : 'toEndMinus1', 'ok');
      case 'clearShort':
        return clear('zero', 'toEnd', 'short');
      default:
        return { k: 'region', pick: o.pick, kind: aim, pages: o.pages, flags: KVM_MEM_LOG_DIRTY_PAGES };
    }
  }

  async op(o: Op): Promise<void> {
    this.pruneKvmWritten();
    switch (o.k) {
      case 'aim':
        if (o.from !== undefined) await this.goTo(o.pick, o.from, o.pages);
        return this.op(this.aimed(o));
      case 'region':
        return this.region(this.regionArgs(o), o.kind);
      case 'cap':
        return this.cap(o.cap, o.flags, o.args0);
      case 'ext':
        return this.ext();
      case 'get': {
        const slot = this.slotFor(o.pick, o.id);
        const need = dirtyLogBytes(this.npages(slot));
        await this.get(slot, o.short ? Math.max(0, need - 8) : need, this.racePlan(slot, o.races));
        return;
      }
      case 'clear':
        return this.clearOp(o);
      case 'split':
        return this.split(o.on);
      case 'write': {
        const slot = KVM_SLOTS[o.pick % 3]!;
        const s = this.model.slots.get(slot);
        const gpa = o.nowhere || s === undefined ? GPA_BASE + 6n * SPACING + BigInt(norm(o.page, 512)) * PG : BigInt(s.guestPhysAddr) + BigInt(norm(o.page, s.npages)) * PG;
        return this.write(gpa);
      }
      case 'flood':
        return this.flood(o);
      case 'burst': {
        const s = this.model.slots.get(KVM_SLOTS[o.pick % 3]!);
        if (s === undefined) return;
        const chunk = o.chunk % Math.ceil(s.npages / 64);
        for (const off of o.offsets) if (chunk * 64 + off < s.npages) await this.write(BigInt(s.guestPhysAddr) + BigInt(chunk * 64 + off) * PG);
        return;
      }
    }
  }

  async clearOp(o: Extract<Op, { k: 'clear' }>): Promise<void> {
    const slot = this.slotFor(o.pick, o.id);
    const npages = this.npages(slot);
    const last = Math.floor(Math.max(0, npages - 1) / 64) * 64;
    const first: bigint = { zero: 0n, c64: 64n, c128: 128n, lastChunk: BigInt(last), roundUp: BigInt(Math.ceil(npages / 64) * 64), unaligned: 32n, one: 1n, huge: 1n << 63n }[o.first];
    const rest = Math.max(0, npages - Number(first > BigInt(npages) ? BigInt(npages) : first));
    const num = { zero: 0, n64: 64, n128: 128, toEnd: rest, toEndMinus1: Math.max(0, rest - 1), toEndPlus1: rest + 1, n36: 36, full: npages }[o.num];
    const need = dirtyLogBytes(num);
    const bytes = o.bytes === 'ok' ? need : o.bytes === 'short' ? Math.max(0, need - 8) : need + 8;
    const bitmap = new Uint8Array(bytes);
    if (o.bits === 'all') bitmap.fill(0xff);
    if (o.bits === 'some') for (const b of o.some) if (b >> 3 < bytes) bitmap[b >> 3]! |= 1 << (b & 7);
    await this.clear(slot, first, num, bitmap, this.racePlan(slot, o.races));
  }

  /** The final check: every logging slot's report holds every page owed. */
  async finish(): Promise<void> {
    if (this.config.dirtyRingExclusive) return;
    for (const [slot, ghost] of [...this.model.ghosts]) await this.get(slot, dirtyLogBytes(ghost.npages), []);
  }

  // ---- the migration scenario

  async migrate(sc: KvmMigrationScenario): Promise<void> {
    // The mode the VM offers (KVM-CAP-5): manual protect only where KVM_CHECK_EXTENSION(168) has
    // bit 0, INITIALLY_SET only where it has bit 1; else the client runs without, as QEMU would.
    let mode = sc.mode;
    let initiallySet = sc.initiallySet;
    if (mode === 'manual-protect') {
      const offered = await this.offeredManualCaps();
      const note = (answer: string) => this.trace.push({ op: `the migration asks for ${mode}${initiallySet ? ' with INITIALLY_SET' : ''}`, answer, expected: '-', req: [] });
      if ((offered & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE) === 0) {
        note('manual protect not offered: read-and-clear instead');
        mode = 'read-and-clear';
      } else if (initiallySet && (offered & KVM_DIRTY_LOG_INITIALLY_SET) === 0) {
        note('INITIALLY_SET not offered: manual protect without it');
        initiallySet = false;
      }
    }
    if (mode === 'manual-protect') await this.cap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, initiallySet ? 3n : 1n);
    const slots = sc.slots.map((pages, i) => ({ slot: KVM_SLOTS[i]!, pages }));
    const args = (i: number, flags: number): MemoryRegionArgs => ({ slot: KVM_SLOTS[i]!, flags, guestPhysAddr: GPA_BASE + BigInt(i) * SPACING, memorySize: BigInt(sc.slots[i]!) * PG, userspaceAddr: UADDR_BASE + BigInt(i) * SPACING });
    for (let i = 0; i < slots.length; i++) await this.region(args(i, 0), 'create');
    for (const p of sc.before) await this.write(GPA_BASE + BigInt(norm(p, sc.slots[0]!)) * PG);
    for (let i = 0; i < slots.length; i++) await this.region(args(i, KVM_MEM_LOG_DIRTY_PAGES), 'logOn');
    const gpa = (slot: number, page: number) => GPA_BASE + BigInt(slot % slots.length) * SPACING + BigInt(norm(page, sc.slots[slot % slots.length]!)) * PG;
    let events = 0;
    let calls = 0;
    // The writes of the next call: those that race it (its plan), after those made just before it.
    const plan = async () => {
      const n = calls++;
      const mine = sc.races.filter((r) => r.call === n);
      for (const r of mine) if (omits(r, 0) && !this.stopped) await this.write(gpa(r.slot, r.page));
      return mine.filter((r) => !omits(r, 0)).map((r) => ({ at: r.at, gpa: gpa(r.slot, r.page) }));
    };
    const client = new KvmMigrationClient(
      {
        getDirtyLog: async (slot, bytes) => {
          const reported = await this.get(slot, bytes, await plan());
          const npages = this.model.slots.get(slot)!.npages;
          const bitmap = new Uint8Array(dirtyLogBytes(npages));
          for (const p of reported ?? []) bitmap[p >> 3]! |= 1 << (p & 7);
          return { errno: 0, bitmap };
        },
        clearDirtyLog: async (slot, first, num, bitmap) => {
          await this.clear(slot, first, num, bitmap, await plan());
          return { errno: 0 };
        },
        readSource: (slot, page) => this.versions.get(BigInt(this.model.slots.get(slot)!.guestPhysAddr) + BigInt(page) * PG) ?? 0,
        onEvent: async (_e: KvmMigrationEvent) => {
          const n = events++;
          if (this.stopped) return;
          for (const w of sc.writes) if (w.at === n) await this.write(gpa(w.slot, w.page));
        },
        stopVcpus: () => {
          this.stopped = true;
          this.trace.push({ op: 'the vCPUs stop (stop-and-copy)', answer: '-', expected: '-', req: [] });
        },
      },
      mode,
      slots.map((s) => ({ slot: s.slot, npages: s.pages })),
    );
    const stake = (this.migration = { client, raced: false, kept: false });
    const result = await client.run();
    this.migration = undefined;
    // The comparison could fail only where a page changed after its first send (`carried`): then
    // the reports (KVM-LOG-5 and NOLOSS-1; KVM-LOG-6 and the clears' KVM-CLEAR-7) had to bring
    // it; NOLOSS-2 where such a page was written racing a GET or CLEAR over it, or a clear had to keep it.
    const req = result.carried === 0 ? [] : mode === 'manual-protect' ? ['KVM-LOG-6', 'KVM-CLEAR-7', ...(stake.raced || stake.kept ? ['NOLOSS-2'] : [])] : ['KVM-LOG-5', 'NOLOSS-1'];
    this.trace.push({
      op: `migration (${mode}${mode === 'manual-protect' && initiallySet ? ', INITIALLY_SET' : ''}): destination compared`,
      answer: `equal after ${result.rounds} rounds, ${result.sent} pages sent`,
      expected: `equal (${result.carried} pages changed after their first send${stake.raced ? ', one written racing a call over it' : ''}${stake.kept ? ', one a clear had to keep' : ''})`,
      req,
    });
  }
}

/**
 * The rules a wrong answer to KVM_CLEAR_DIRTY_LOG points to, beside those of the transition the
 * spec took (`expected`), for a slot of `npages` pages with a bitmap (undefined: none). Linux
 * v5.0 kvm_clear_dirty_log_protect refused (log->num_pages & 63) before the slot lookup, fixed by
 * 76d58e0f07ec: -EINVAL for a num_pages not a multiple of 64 is KVM-CLEAR-5 misapplied where the
 * range ends exactly at the slot's end, or where the slot has no bitmap (-ENOENT first). v5.0 and
 * v5.1 copied kvm_dirty_bitmap_bytes(memslot), the whole slot's bitmap, from the user, fixed by
 * 4ddc9204572c: -EFAULT with ALIGN(num_pages, 64) / 8 bytes readable is KVM-CLEAR-6's read past
 * that length. With bits set for pages past the slot's end (`beyond`), an -EINVAL at the end may
 * be their refusal too: KVM-CLEAR-8 is named beside KVM-CLEAR-5.
 */
export function clearMisread(npages: number | undefined, firstPage: bigint, numPages: number, bytes: number, beyond = false): (got: number, expected: string) => string[] {
  return (got, expected) => {
    if (firstPage % 64n !== 0n) return [];
    if (npages === undefined) return got === ERRNO.einval && expected === 'enoent' && numPages % 64 !== 0 ? ['KVM-CLEAR-5'] : [];
    if (firstPage > BigInt(npages)) return [];
    const toEnd = BigInt(numPages) === BigInt(npages) - firstPage;
    if (got === ERRNO.einval && numPages % 64 !== 0 && toEnd) return beyond ? ['KVM-CLEAR-5', 'KVM-CLEAR-8'] : ['KVM-CLEAR-5'];
    if (got === ERRNO.efault && bytes >= dirtyLogBytes(numPages) && BigInt(numPages) <= BigInt(npages) - firstPage) return ['KVM-CLEAR-6'];
    return [];
  };
}

/** A campaign's coverage of kvmGuestPage: the transitions seen taken, and whether the implementation showed its pages at all. */
export interface GuestPageCoverage {
  readonly covered: Set<string>;
  inspected: boolean;
}

/** Whether the kit's host backing lets the page be mapped by a 2 MiB leaf: its aligned 512 pages inside the slot, guest and host addresses congruent (KVM-PT-2). */
function hugeBacked(s: { guestPhysAddr: bigint | number; userspaceAddr: bigint | number; npages: number }, rel: number): boolean {
  const base = BigInt(s.guestPhysAddr) / PG;
  const start = ((base + BigInt(rel)) / 512n) * 512n;
  return start >= base && start + 512n <= base + BigInt(s.npages) && (BigInt(s.userspaceAddr) / PG - base) % 512n === 0n;
}

/**
 * KVM-LOG-1: whether the VM has a dirty ring, as KVM_CHECK_EXTENSION says: KVM_CAP_DIRTY_LOG_RING
 * (192, x86 from v5.11, fb04a1eddb1a) or KVM_CAP_DIRTY_LOG_RING_ACQ_REL (223, v6.1 on; arm64's
 * only one, v6.2) non-zero. A VM without one (before v5.11) cannot be in the configuration
 * dirtyRingExclusive: its sequences run with the bitmap, and the trace says so.
 */
async function offersDirtyRing(adapter: KvmDirtyLogAdapter, inst: KvmDirtyLogInstance, limits: CallLimits, trace: TraceStep[]): Promise<boolean> {
  for (const cap of [KVM_CAP_DIRTY_LOG_RING, KVM_CAP_DIRTY_LOG_RING_ACQ_REL]) {
    const v = await timed(`${adapter.name} checkExtension(${cap})`, limits.timeoutMs, () => inst.checkExtension(cap), limits.watch);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new Undecided(`${adapter.name} checkExtension(${cap}) answered ${String(v)}: expected a non-negative integer (KVM_CHECK_EXTENSION's value)`);
    trace.push({ op: `KVM_CHECK_EXTENSION(${cap})`, answer: `${v}`, expected: 'the largest ring in bytes, or 0 (no dirty ring)', req: [] });
    if (v !== 0) return true;
  }
  trace.push({ op: 'the dirty ring', answer: 'not offered', expected: 'dirtyRingExclusive does not apply: GET and CLEAR use the bitmap', req: [] });
  return false;
}

async function runScenario(adapter: KvmDirtyLogAdapter, sc: KvmScenario, limits: CallLimits, trace: TraceStep[], table: LazyMemslotTable, pageCoverage: GuestPageCoverage): Promise<number> {
  let run: Run | undefined;
  const inst = await timed(`${adapter.name} create`, limits.timeoutMs, () => adapter.create(sc.config, { between: () => run?.between() ?? [] }), limits.watch);
  if (typeof inst !== 'object' || inst === null || typeof inst.getDirtyLog !== 'function' || typeof inst.userAddressLimit !== 'bigint') throw new Undecided(`${adapter.name} create answered ${String(inst)}: expected a VM instance`);
  trace.push({ op: `create(hwDirty ${sc.config.hwDirty}, eagerSplit ${sc.config.eagerSplit}, dirtyRingExclusive ${sc.config.dirtyRingExclusive})`, answer: 'a VM', expected: 'a VM', req: [] });
  const config = sc.config.dirtyRingExclusive && !(await offersDirtyRing(adapter, inst, limits, trace)) ? { ...sc.config, dirtyRingExclusive: false } : sc.config;
  run = new Run(adapter, inst, config, limits, trace, table, pageCoverage);
  if (sc.kind === 'migration') await run.migrate(sc);
  else {
    const own = sc.kvmWrites ?? [];
    for (const [i, o] of sc.ops.entries()) {
      await run.op(o);
      for (const w of own) if (w.after === i) await run.kvmWrite(w);
    }
    for (const w of own) if (w.after >= sc.ops.length) await run.kvmWrite(w);
    await run.finish();
  }
  return run.steps;
}

/** Every requirement the profile gives a verdict on. */
export const KVM_DIRTY_LOG_REQUIREMENTS: readonly string[] = [
  ...Object.keys(requirements).filter((id) => /^KVM-(SLOT|LOG|CLEAR|CAP)-/.test(id)),
  'KVM-PT-4',
  'KVM-PT-7',
  'KVM-PT-9',
  'KVM-PT-10',
  'KVM-PT-11',
  'KVM-PT-13',
  'KVM-PT-15',
  'KVM-PT-16',
  'NOLOSS-1',
  'NOLOSS-2',
  'PRECISION-1',
];

/**
 * A campaign's coverage: the memslot machine's transitions its table recorded, and the
 * guest-page machine's seen taken, when the implementation showed its pages (a black box
 * that cannot gets no kvmGuestPage figure: nothing of it was observed).
 */
export function kvmDirtyLogCoverage(table: LazyMemslotTable, pages?: GuestPageCoverage): Record<string, CoverageFigure> {
  const all = machineTransitions(kvmMemslotMachine).map((t) => t.key);
  const covered = table.covered;
  return {
    kvmMemslot: { covered: all.filter((k) => covered.has(k)).length, total: all.length, missing: all.filter((k) => !covered.has(k)) },
    ...(pages?.inspected === true ? { kvmGuestPage: coverageFigure(kvmGuestPageMachine, pages.covered) } : {}),
  };
}

export interface KvmDirtyLogRunOptions extends RunOptions {
  /** Only this kind of scenario (the mutant tests use it to keep runs short). */
  readonly only?: KvmScenario['kind'];
}

/** Runs the profile against `adapter`: a ProfileResult as runVfioType1Profile returns. */
export function runKvmDirtyLogProfile(adapter: KvmDirtyLogAdapter, options: KvmDirtyLogRunOptions): Promise<ProfileResult> {
  // The campaign's own table: its entries are a pure function of the machine, its coverage is this campaign's.
  const table = new LazyMemslotTable();
  const pages: GuestPageCoverage = { covered: new Set(), inspected: false };
  const arbitrary = scenarioArbitrary(options.maxCommands).filter((sc) => options.only === undefined || sc.kind === options.only);
  return runScenarioProfile(
    {
      // The engine's ProfileName does not list this profile yet (the lead's registry will).
      name: KVM_DIRTY_LOG_PROFILE as ProfileResult['name'],
      adapter: adapter.name,
      arbitrary,
      run: (sc, trace) => runScenario(adapter, sc, options, trace, table, pages),
      requirements: KVM_DIRTY_LOG_REQUIREMENTS,
      coverage: () => kvmDirtyLogCoverage(table, pages),
      configOf: (sc) => ({ hwDirty: sc.config.hwDirty, eagerSplit: sc.config.eagerSplit, dirtyRingExclusive: sc.config.dirtyRingExclusive, ...(sc.kind === 'migration' ? { mode: sc.mode, initiallySet: sc.initiallySet } : {}) }),
    },
    options,
  );
}

/** Runs one recorded scenario again (check-trace). Throws Violation or Undecided. */
export function replayKvmDirtyLogScenario(adapter: KvmDirtyLogAdapter, sc: unknown, timeoutMs: number, trace: TraceStep[]): Promise<number> {
  return runScenario(adapter, sc as KvmScenario, { timeoutMs }, trace, new LazyMemslotTable(), { covered: new Set(), inspected: false });
}
