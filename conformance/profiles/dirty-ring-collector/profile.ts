// Profile dirty-ring-collector: a VMM's collector as a black box, in a migration. The kit
// is KVM and the guest: its rings live in the kit's memory (model/kvm-dirty-ring/
// ordered-memory.ts: relaxed stores delayed by generated steps), KVM pushes as
// kvm_dirty_ring_push does (slot, offset, then flags with release), resets as
// kvm_dirty_ring_reset does (acquire of RESET; the spec's batches re-protect pages), and
// the guest writes pages (a write to a protected page pushes; a full ring stops the vCPU),
// also between the collector's calls to KVM_RESET_DIRTY_RINGS and its page copies.
// fast-check generates the configuration, the guest's writes, the syncs, the writes
// injected during a sync, and the delays. Checked:
// - at each reset, the collector marked RESET on dirty entries only, in order from where
//   the last reset stopped, none skipped (KVM-RING-13, -14);
// - after the final sync the destination equals the source page for page (KVM-RING-23),
//   charged to reset-before-copy when a stale page's copy preceded its reset (KVM-RING-20).
//
// Requirements: KVM-RING-13, -14, -20, -21, -22, -23 (a sync lists one only where the
// run set up what its check could catch: RunReach, ../kvm-dirty-ring/kit.ts).
import type { RingRunOptions } from '../kvm-dirty-ring/profile.ts';
import fc from 'fast-check';
import { droppable } from '../../engine/droppable.ts';
import { RingMigrationCheck, guestMemoryPages, pageKey } from '../../../model/kvm-dirty-ring/migration-check.ts';
import { OrderedMemory } from '../../../model/kvm-dirty-ring/ordered-memory.ts';
import { Violation } from '../../../model/violation.ts';
import { type RingArch, reprotectedPages, reservedEntries, resetBatches, ringGeometry } from '../../../spec/kvm/dirty-ring/rules.ts';
import type { TraceStep } from '../../engine/commands.ts';
import { CallTimer, type CallLimits, Undecided } from '../../engine/limits.ts';
import { inFlight, type InFlightStep } from '../../engine/crash.ts';
import type { ProfileResult } from '../../engine/run-profile.ts';
import { runScenarioProfile } from '../../engine/scenario-profile.ts';
import { RunContext } from '../../../model/run-context.ts';
import { GFN, RING_MEMSLOTS, RunReach, StoreClock, flagsAt, offsetAt, ringBase, ringCoverage, ringTables, sideOf, slotAt, slotCode, takesForbidden, type RingTables } from '../kvm-dirty-ring/kit.ts';
import type { CollectorHostCalls, DirtyRingCollectorAdapter, DirtyRingCollectorInstance } from './types.ts';
import type { KitRingMemory } from '../kvm-dirty-ring/types.ts';

export const DIRTY_RING_COLLECTOR_PROFILE = 'dirty-ring-collector';

type Inject = { readonly at: number; readonly what: 'lastCopied' | 'page'; readonly slot: 0 | 1; readonly offset: number };

export type CollectorOp =
  | { readonly k: 'guest'; readonly vcpu: number; readonly slot: 0 | 1; readonly start: number; readonly count: number; readonly stride: 1 | 2 | -1 }
  | { readonly k: 'noVcpu'; readonly slot: 0 | 1; readonly offset: number }
  | { readonly k: 'sync'; readonly injects: readonly Inject[] };

export interface CollectorScenario {
  /**
   * `pml`: the kit's KVM logs guest writes in a CPU dirty log of PML_ENTRIES entries and
   * pushes them all when it is flushed, checking the soft-full request only before the
   * vCPU enters the guest again (Intel PML, scaled down from 512), so pushes land after
   * the request (kvmVcpuRing softFull --PUSH), in the entries the reserve keeps for them.
   */
  readonly config: {
    readonly vcpus: 1 | 2;
    readonly withBitmap: boolean;
    readonly pml: boolean;
    /**
     * The machine the collector and the kit's KVM run on: on x86 (TSO) a thread's loads are
     * not reordered with its earlier loads nor its stores with its earlier stores, so plain
     * accesses order the ring as acquire and release would (KVM-RING-22); arm64 reorders
     * them. PML is Intel's: on arm64 `pml` is off. Absent (a scenario recorded before the
     * kit drew it): arm64.
     */
    readonly arch?: RingArch;
  };
  readonly ops: readonly CollectorOp[];
  readonly delays: readonly number[];
}

const RING_BYTES = 4096;
/** The kit's CPU dirty log when `pml` is on (kvm_cpu_dirty_log_size; the reserve grows by it: KVM-RING-4). */
export const PML_ENTRIES = 16;

/** The architectures a collector runs on unless its adapter says (`DirtyRingCollectorAdapter.arches`). */
const ARCHES: readonly RingArch[] = ['arm64', 'x86'];

export function collectorScenarioArbitrary(maxCommands: number, arches: readonly RingArch[] = ARCHES): fc.Arbitrary<CollectorScenario> {
  const inject: fc.Arbitrary<Inject> = fc.record({ at: fc.nat(6), what: fc.constantFrom<'lastCopied' | 'page'>('lastCopied', 'lastCopied', 'page'), slot: fc.constantFrom<0 | 1>(0, 1), offset: fc.nat(63) });
  const op: fc.Arbitrary<CollectorOp> = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        k: fc.constant('guest' as const),
        vcpu: fc.nat(1),
        slot: fc.constantFrom<0 | 1>(0, 0, 1),
        start: fc.oneof(fc.nat(62), fc.nat(255)),
        count: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max: 8 }) }, { weight: 1, arbitrary: fc.integer({ min: 100, max: 300 }) }),
        stride: fc.constantFrom<1 | 2 | -1>(1, 1, 2, -1),
      }),
    },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('noVcpu' as const), slot: fc.constantFrom<0 | 1>(0, 1), offset: fc.nat(63) }) },
    { weight: 4, arbitrary: fc.record({ k: fc.constant('sync' as const), injects: fc.array(inject, { maxLength: 3 }) }) },
  );
  // The architecture is drawn last, so a seed's other draws are those it had before the kit drew one; arm64, which reorders more, twice as often.
  const arch = arches.length === 1 ? fc.constant(arches[0]!) : fc.constantFrom<RingArch>(...arches.flatMap((a) => (a === 'arm64' ? [a, a] : [a])));
  return fc
    .record({
      config: fc.record({ vcpus: fc.constantFrom<1 | 2>(1, 1, 2), withBitmap: fc.boolean(), pml: fc.boolean() }),
      ops: droppable(fc.array(op, { minLength: 1, maxLength: Math.max(1, maxCommands) })),
      delays: fc.array(fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: 1, max: 4 }) }), { maxLength: 24 }),
      arch,
    })
    .map(({ config, ops, delays, arch: a }) => ({ config: { ...config, pml: config.pml && a === 'x86', arch: a }, ops, delays }));
}

const hex = (v: number | bigint) => `0x${v.toString(16)}`;
const archOf = (sc: CollectorScenario): RingArch => sc.config.arch ?? 'arm64';
/** Every page of the memslots, as the migration check names them, in page order (shared by the runs, never changed). */
const GUEST_PAGES = guestMemoryPages(RING_MEMSLOTS.flatMap((m, s) => Array.from({ length: m.npages }, (_, p) => pageKey(slotCode(s), p))));

interface KitRing {
  readonly base: number;
  readonly entries: number;
  readonly softLimit: number;
  dirty: number;
  reset: number;
  /** What KVM pushed at each entry not yet reset: its page, the entry's kvmDirtyGfn state, and the step at which the push's slot and offset become visible. */
  readonly pushed: Map<number, { slot: number; offset: number; gfn: unknown; due: number }>;
  vcpu: unknown;
}

/** The kit's KVM and guest, correct by construction from the spec's rules. */
class KitKvm {
  readonly t: RingTables;
  readonly rings: KitRing[] = [];
  readonly protectedPages = RING_MEMSLOTS.map((m) => new Uint8Array(m.npages).fill(1));
  readonly bitmaps = RING_MEMSLOTS.map((m) => new Uint8Array(Math.ceil(m.npages / 64) * 8));
  private readonly kvm;
  pushes = 0;

  constructor(
    ctx: RunContext,
    readonly memory: OrderedMemory,
    /** The kit's steps, and when its KVM's relaxed stores become visible. */
    readonly clock: StoreClock,
    readonly migration: RingMigrationCheck,
    vcpus: number,
    readonly withBitmap: boolean,
    readonly pml: number,
  ) {
    this.t = ringTables(ctx);
    this.kvm = clock.watch(sideOf(memory, 'kvm'));
    const g = ringGeometry(RING_BYTES, reservedEntries(pml));
    for (let v = 0; v < vcpus; v++) this.rings.push({ base: ringBase(v), entries: g.entries, softLimit: g.softLimit, dirty: 0, reset: 0, pushed: new Map(), vcpu: this.t.vcpu.initial });
  }

  used(r: KitRing): number {
    return (r.dirty - r.reset) >>> 0;
  }

  /**
   * A guest write by vCPU v; false if the vCPU cannot run (its ring is soft full).
   * `enters`: the vCPU enters the guest for this write, checking the soft-full request
   * first; false: the write is logged in the same guest entry as the one before (PML).
   */
  guestWrite(v: number, s: 0 | 1, offset: number, enters = true): boolean {
    const r = this.rings[v]!;
    if (enters) {
      // The entry (kvmVcpuRing RUN): a request pending on a ring below the limit is dropped; on a soft-full ring the vCPU exits.
      r.vcpu = this.t.vcpu.step(r.vcpu as never, { type: 'RUN' }).next;
      if (this.used(r) >= r.softLimit) return false;
    }
    this.migration.write(pageKey(slotCode(s), offset));
    if (this.protectedPages[s]![offset] === 0) return true;
    this.protectedPages[s]![offset] = 0;
    const i = r.dirty & (r.entries - 1);
    this.kvm.store32(slotAt(r.base, i), slotCode(s), 'relaxed');
    const due = this.clock.lastDue;
    this.kvm.store64(offsetAt(r.base, i), BigInt(offset), 'relaxed');
    const due2 = this.clock.lastDue;
    this.kvm.store32(flagsAt(r.base, i), 1, 'release');
    // Stepped from the state of the entry it lands on: the kit's KVM honours the soft limit, so never onto a DIRTY one (PUSH_ONTO_DIRTY).
    const gfn = this.t.gfn.step((r.pushed.get(i)?.gfn ?? this.t.gfn.initial) as never, { type: 'PUSH' });
    if (takesForbidden(gfn)) throw new Error(`the kit's KVM pushed onto vCPU ${v}'s entry ${i}, not yet reset (used ${this.used(r)} of ${r.entries}): a kit bug`);
    r.pushed.set(i, { slot: slotCode(s), offset, gfn: gfn.next, due: Math.max(due, due2) });
    r.dirty = (r.dirty + 1) >>> 0;
    r.vcpu = this.t.vcpu.step(r.vcpu as never, { type: 'PUSH', reachesSoftLimit: this.used(r) >= r.softLimit }).next;
    this.pushes++;
    return true;
  }

  /** A write KVM makes without a running vCPU: the bitmap with WITH_BITMAP (the kit generates it only then). */
  writeNoVcpu(s: 0 | 1, offset: number): void {
    this.migration.write(pageKey(slotCode(s), offset));
    if (!this.withBitmap) return;
    this.bitmaps[s]![offset >> 3]! |= 1 << (offset & 7);
    this.uncollected[s]!.add(offset);
  }

  /** Pages whose entries the last reset consumed (so the collector harvested them before it). */
  lastConsumed: string[] = [];
  /**
   * What the last reset could check of the collector: entries it consumed (marked RESET on
   * pushed entries: KVM-RING-14's other case; their pages copied after it or not: -13, -20),
   * one of them with a relaxed store of its push still invisible (-22), entries past the stop it read
   * for a skipped one (-13), and a stop at dirty_index, where a RESET would be on an entry
   * never pushed (-14).
   */
  lastChecks = { consumed: 0, delayedConsumed: false, scanned: 0, atDirtyIndex: false };
  /** Per memslot: pages written without a vCPU whose bitmap bit no KVM_GET_DIRTY_LOG has returned yet. */
  readonly uncollected = RING_MEMSLOTS.map(() => new Set<number>());

  /** KVM_RESET_DIRTY_RINGS, checking the collector's marks on the way (KVM-RING-13, -14). */
  reset(): number {
    let count = 0;
    this.lastConsumed = [];
    this.lastChecks = { consumed: 0, delayedConsumed: false, scanned: 0, atDirtyIndex: false };
    for (const [v, r] of this.rings.entries()) {
      const consumed: { slot: number; offset: bigint }[] = [];
      for (;;) {
        const i = r.reset & (r.entries - 1);
        const flags = this.kvm.load32(flagsAt(r.base, i), 'acquire');
        if ((r.dirty - r.reset) >>> 0 === 0) this.lastChecks.atDirtyIndex = true;
        if ((flags & 2) === 0) break;
        if ((r.dirty - r.reset) >>> 0 === 0) throw new Violation('spec', ['KVM-RING-14'], `RESET only on entries the collector harvested as dirty (vCPU ${v}'s entry ${i} was never pushed)`, `flags ${flags}`);
        consumed.push({ slot: this.kvm.load32(slotAt(r.base, i), 'relaxed'), offset: this.kvm.load64(offsetAt(r.base, i), 'relaxed') });
        this.kvm.store32(flagsAt(r.base, i), 0, 'release');
        const e = r.pushed.get(i);
        this.lastChecks.consumed++;
        // Its slot or offset still invisible: a collector that read them unordered would read stale ones (KVM-RING-22).
        if (e !== undefined && this.clock.invisible(e.due)) this.lastChecks.delayedConsumed = true;
        if (e !== undefined) this.lastConsumed.push(pageKey(e.slot, e.offset));
        if (e !== undefined) this.t.gfn.step(this.t.gfn.step(e.gfn as never, { type: 'MARK_RESET' }).next, { type: 'RESET', valid: true });
        r.pushed.delete(i);
        r.reset = (r.reset + 1) >>> 0;
        count++;
      }
      // Entries past the stop that carry RESET: the collector skipped one (KVM-RING-13).
      for (let k = 1; k < this.used(r); k++) {
        this.lastChecks.scanned++;
        const i = (r.reset + k) & (r.entries - 1);
        const flags = this.kvm.load32(flagsAt(r.base, i), 'acquire');
        if ((flags & 2) !== 0) throw new Violation('loss', ['KVM-RING-13'], `vCPU ${v}'s entries harvested in order, none skipped`, `entry ${i} marked RESET while entry ${r.reset & (r.entries - 1)} before it is not`);
      }
      r.vcpu = this.t.vcpu.step(r.vcpu as never, { type: 'RESET', belowSoftLimit: this.used(r) < r.softLimit }).next;
      // Two address spaces, as x86 with SMM: the second memslot is in address space 1 (kit.ts RING_MEMSLOTS).
      const limits = { addressSpaces: 2, userMemSlots: 32764 };
      for (const p of reprotectedPages(resetBatches(consumed), RING_MEMSLOTS, limits)) this.protectedPages[p.slot === slotCode(0) ? 0 : 1]![p.offset] = 1;
    }
    return count;
  }

  getDirtyLog(slot: number): Uint8Array {
    const s = slot === slotCode(0) ? 0 : slot === slotCode(1) ? 1 : -1;
    if (s < 0 || !this.withBitmap) throw new Undecided(`getDirtyLog(${hex(slot)}): ${s < 0 ? 'no such memslot' : 'the ring excludes the bitmap (-ENXIO) without WITH_BITMAP'}`);
    const out = this.bitmaps[s]!.slice();
    this.bitmaps[s]!.fill(0);
    this.uncollected[s]!.clear();
    return out;
  }
}

class CollectorRun {
  readonly migration: RingMigrationCheck;
  readonly kvm: KitKvm;
  inst: DirtyRingCollectorInstance | undefined;
  steps = 0;
  /** Host calls made during the current sync, and the writes to inject at them. */
  private calls = 0;
  private injects: readonly Inject[] = [];
  private lastCopied: string | undefined;
  private injected: string[] = [];
  private vcpusRunning = true;
  /** A violation found inside a host call: it stands, whatever the collector does with the call's failure. */
  private hostViolation: Violation | undefined;
  /** Pages copied since the last reset; those a reset then consumes were copied before it (KVM-RING-20). */
  private copiedSinceReset = new Set<string>();
  /** Pages copied in the current sync: an early copy is one the same sync made before its reset (a copy in an earlier sync is a copy the collector then failed to repeat: KVM-RING-13). */
  private copiedThisSync = new Set<string>();
  private readonly copiedEarly = new Set<string>();
  /** Pages whose entries a reset consumed and that were copied after it (harvested and sent). */
  private readonly consumedNotCopied = new Set<string>();
  /** What the run's steps checked (kvm-dirty-ring/kit.ts): each sync lists only what its resets and the final check could fail. */
  private readonly reach = new RunReach();
  private here: string[] = [];
  private guardedHere: string[] = [];
  /** The guest wrote during the current sync (before one of its host calls), and a reset of it consumed an entry. */
  private wroteDuringSync = false;
  private consumedDuringSync = false;
  /** A sync in which the guest wrote and a reset consumed an entry: a write between a page's copy and the reset of its entry could be lost (KVM-RING-20). */
  private copyRaceSeen = false;
  /** A reset consumed an entry whose push had a relaxed store still invisible: a collector reading slot and offset unordered could read them stale (KVM-RING-22). */
  private delayedSeen = false;
  /** KVM wrote a page without a vCPU into the dirty bitmap: only KVM_GET_DIRTY_LOG sends it (KVM-RING-21). */
  private noVcpuSeen = false;
  /** One timer for the run's calls, one after another (limits.ts CallTimer). */
  private readonly timer: CallTimer;

  constructor(
    ctx: RunContext,
    readonly adapter: DirtyRingCollectorAdapter,
    readonly sc: CollectorScenario,
    readonly memory: OrderedMemory,
    readonly clock: StoreClock,
    readonly limits: CallLimits,
    readonly trace: TraceStep[],
  ) {
    this.timer = new CallTimer(limits.timeoutMs, limits.watch);
    this.migration = new RingMigrationCheck(GUEST_PAGES);
    this.kvm = new KitKvm(ctx, memory, clock, this.migration, sc.config.vcpus, sc.config.withBitmap, sc.config.pml && archOf(sc) === 'x86' ? PML_ENTRIES : 0);
  }

  /** Before each host call of a sync: the guest writes what the scenario injects there (vCPU 0, while it runs). */
  private beforeHostCall(): void {
    const n = this.calls++;
    if (!this.vcpusRunning) return;
    for (const inj of this.injects) {
      if (inj.at !== n) continue;
      let s: 0 | 1 = inj.slot;
      let offset = inj.offset % RING_MEMSLOTS[inj.slot]!.npages;
      if (inj.what === 'lastCopied' && this.lastCopied !== undefined) {
        const [slot, off] = this.lastCopied.split(':').map(Number);
        s = slot === slotCode(0) ? 0 : 1;
        offset = off!;
      }
      if (!this.kvm.guestWrite(0, s, offset)) continue;
      this.injected.push(pageKey(slotCode(s), offset));
      this.wroteDuringSync = true;
    }
  }

  /**
   * What a reset checked of the collector (KitKvm.lastChecks): the order of its harvest
   * (KVM-RING-13) where it consumed an entry (whose page must then be copied) or read one
   * past the stop; KVM-RING-14 on both sides, a stop at dirty_index (RESET there would be
   * on an entry never pushed) and RESET on pushed entries.
   */
  private resetChecked(): void {
    const c = this.kvm.lastChecks;
    if (c.consumed > 0 || c.scanned > 0) this.here.push('KVM-RING-13');
    if (c.atDirtyIndex) this.side('KVM-RING-14', true);
    if (c.consumed > 0) this.side('KVM-RING-14', false);
    if (c.consumed > 0) this.consumedDuringSync = true;
    if (c.delayedConsumed) this.delayedSeen = true;
  }

  private side(id: string, held: boolean): void {
    this.reach.side(id, held);
    this.guardedHere.push(id);
  }

  /** The requirements the sync checked (`plain` besides those its resets did): for its trace step. */
  private take(plain: readonly string[]): string[] {
    const req = this.reach.list([...plain, ...this.here], this.guardedHere);
    this.here = [];
    this.guardedHere = [];
    return req;
  }

  host(): CollectorHostCalls {
    return {
      resetDirtyRings: () => {
        this.beforeHostCall();
        // The ioctl runs in the collector's own thread: it sees that thread's stores in program order, relaxed or not.
        this.memory.fence('vmm');
        this.migration.reset();
        let n: number;
        try {
          n = this.kvm.reset();
        } catch (e) {
          if (e instanceof Violation) this.hostViolation ??= e;
          throw e;
        }
        this.resetChecked();
        for (const p of this.kvm.lastConsumed) {
          if (this.copiedSinceReset.has(p) && this.copiedThisSync.has(p)) this.copiedEarly.add(p);
          this.consumedNotCopied.add(p);
        }
        this.copiedSinceReset = new Set();
        return n;
      },
      copyPage: (slot, offset) => {
        this.beforeHostCall();
        const key = pageKey(slot, offset);
        if (!this.migration.copy(key)) throw new Undecided(`${this.adapter.name} copied ${key}: not a page of any memslot`);
        this.lastCopied = key;
        this.copiedSinceReset.add(key);
        this.copiedThisSync.add(key);
        this.consumedNotCopied.delete(key);
        // Copied again after the reset that consumed its entry: the early copy did no harm.
        this.copiedEarly.delete(key);
      },
      getDirtyLog: (slot) => {
        this.beforeHostCall();
        return this.kvm.getDirtyLog(slot);
      },
    };
  }

  /** `step`: the step this call is, with the requirements that cover its input, for a crash or hang during it (engine/crash.ts). Setup (create, addRing) names none. */
  call<T>(what: string, fn: () => Promise<T>, step?: InFlightStep): Promise<T> {
    const answer = this.timer.run(() => `${this.adapter.name} ${what}`, fn);
    return step === undefined ? answer : answer.catch(inFlight(step, this.trace));
  }

  /** The first flags field the collector loaded relaxed: harvested without an acquire, so its slot and offset may be read stale (KVM-RING-22). */
  relaxedFlagsLoad: { ring: number; entry: number } | undefined;
  /** The first entry whose slot or offset the collector loaded before its flags (KVM-RING-13: read after the flags). */
  readBeforeFlags: { ring: number; entry: number } | undefined;
  /** Per entry (`ring:entry`) since the collector last loaded its flags: whether it has loaded the slot and the offset after them. */
  private readonly harvesting = new Map<string, { slot: boolean; offset: boolean }>();

  /**
   * The ring memory as the collector sees it: noting a flags field loaded without acquire,
   * a slot or offset loaded before the entry's flags, and checking that RESET is stored on
   * an entry only after its slot and offset were loaded since its flags (KVM-RING-14). The
   * kit's single-threaded KVM cannot show what that order protects (another thread's
   * KVM_RESET_DIRTY_RINGS reusing the entry before it was read), so the order is checked
   * where the collector makes it.
   */
  collectorSide(): KitRingMemory {
    const side = sideOf(this.memory, 'vmm');
    const rings = this.kvm.rings;
    /** The ring, entry and field (0 flags, 4 slot, 8 offset) at `addr`, if it is in a ring. */
    const fieldAt = (addr: number) => {
      const v = rings.findIndex((r) => addr >= r.base && addr < r.base + r.entries * GFN);
      if (v < 0) return undefined;
      const rel = addr - rings[v]!.base;
      return { ring: v, entry: Math.floor(rel / GFN), field: rel % GFN, key: `${v}:${Math.floor(rel / GFN)}` };
    };
    /** Entries whose slot or offset the collector loaded before their flags since it last marked them: KVM-RING-13's and -22's to judge (the pages it copies), not this check's. */
    const readEarly = new Set<string>();
    const loaded = (addr: number, width: 4 | 8) => {
      const f = fieldAt(addr);
      if (f === undefined) return;
      // A flags load starts the entry's harvest; one again before RESET (a re-check) keeps what was read since the first.
      if (f.field === 0 && !this.harvesting.has(f.key)) this.harvesting.set(f.key, { slot: false, offset: false });
      const h = this.harvesting.get(f.key);
      if (f.field === 0 && width === 8) h!.slot = true; // flags and slot in one load
      if (f.field === 4 || f.field === 8) {
        if (h === undefined) {
          this.readBeforeFlags ??= { ring: f.ring, entry: f.entry };
          readEarly.add(f.key);
        } else if (f.field === 4) h.slot = true;
        else h.offset = true;
      }
    };
    const stored = (addr: number, value: bigint, order: 'relaxed' | 'release') => {
      const f = fieldAt(addr);
      if (f === undefined || f.field !== 0 || (value & 2n) === 0n) return;
      if (order === 'relaxed' && archOf(this.sc) === 'arm64') {
        // On x86 a plain store is a release (TSO); arm64 has KVM_CAP_DIRTY_LOG_RING_ACQ_REL alone, whose documentation asks for store-release.
        const v = new Violation('spec', ['KVM-RING-14', 'KVM-RING-22'], `vCPU ${f.ring}'s entry ${f.entry} marked RESET with a store-release (arm64)`, 'RESET stored relaxed');
        this.hostViolation ??= v;
        throw v;
      }
      const h = this.harvesting.get(f.key);
      this.harvesting.delete(f.key);
      const early = readEarly.delete(f.key);
      if ((h?.slot === true && h.offset) || early) return;
      const unread = [...(h?.slot === true ? [] : ['slot']), ...(h?.offset === true ? [] : ['offset'])].join(' and ');
      const v = new Violation(
        'spec',
        ['KVM-RING-14'],
        `vCPU ${f.ring}'s entry ${f.entry} marked RESET only after its slot and offset were read, since its flags were (once RESET is set, a KVM_RESET_DIRTY_RINGS from any thread may hand the entry back to KVM)`,
        `RESET stored with the entry's ${unread} not read${h === undefined ? ', nor its flags' : ''}`,
      );
      this.hostViolation ??= v;
      throw v;
    };
    return {
      ...side,
      load32: (addr, order) => {
        if (order === 'relaxed' && this.relaxedFlagsLoad === undefined) {
          const f = fieldAt(addr);
          if (f !== undefined && f.field === 0) this.relaxedFlagsLoad = { ring: f.ring, entry: f.entry };
        }
        loaded(addr, 4);
        return side.load32(addr, order);
      },
      load64: (addr, order) => {
        loaded(addr, 8);
        return side.load64(addr, order);
      },
      store32: (addr, value, order) => {
        stored(addr, BigInt(value), order);
        side.store32(addr, value, order);
      },
      store64: (addr, value, order) => {
        stored(addr, value, order);
        side.store64(addr, value, order);
      },
    };
  }

  async setup(): Promise<void> {
    const inst = await this.call('create', () => this.adapter.create(this.collectorSide(), this.host(), { withBitmap: this.sc.config.withBitmap, memslots: RING_MEMSLOTS.map((m, s) => ({ slot: slotCode(s), npages: m.npages })) }));
    if (typeof inst !== 'object' || inst === null || typeof inst.sync !== 'function') throw new Undecided(`${this.adapter.name} create answered ${String(inst)}: expected a collector`);
    this.inst = inst;
    for (const r of this.kvm.rings) await this.call('addRing', () => inst.addRing(r.base, r.entries));
    // The bulk stage: every page is sent once before the first sync.
    for (const [s, m] of RING_MEMSLOTS.entries()) for (let p = 0; p < m.npages; p++) this.migration.copy(pageKey(slotCode(s), p));
    this.migration.actions.length = 0;
    this.trace.push({
      op: `setup on ${archOf(this.sc)}: ${this.sc.config.vcpus} vCPU ring(s) of 256 entries, memslots ${RING_MEMSLOTS.map((m, s) => `${hex(slotCode(s))} (${m.npages} pages)`).join(' and ')}${this.sc.config.withBitmap ? ', WITH_BITMAP' : ''}${this.kvm.pml > 0 ? `, PML of ${PML_ENTRIES} entries (soft limit ${this.kvm.rings[0]!.softLimit})` : ''}; bulk copy`,
      answer: 'ready',
      expected: 'ready',
      req: [],
    });
  }

  async sync(final: boolean, injects: readonly Inject[]): Promise<void> {
    this.calls = 0;
    this.injects = injects;
    this.injected = [];
    this.wroteDuringSync = false;
    this.consumedDuringSync = false;
    this.copiedThisSync = new Set();
    const before = this.kvm.pushes;
    const op = final ? 'final sync (vCPUs stopped)' : `sync${injects.length > 0 ? ` with guest writes at host calls ${injects.map((i) => `#${i.at}`).join(', ')}` : ''}`;
    // For a crash or hang: what the sync's checks cover.
    const crashReq = final ? ['KVM-RING-13', 'KVM-RING-14', 'KVM-RING-20', 'KVM-RING-22', 'KVM-RING-23', ...(this.sc.config.withBitmap ? ['KVM-RING-21'] : [])] : ['KVM-RING-13', 'KVM-RING-14'];
    try {
      await this.call(final ? 'final sync' : 'sync', () => this.inst!.sync(final), { op, expected: 'the sync done', req: crashReq });
    } catch (e) {
      if (this.hostViolation === undefined) throw e;
      // The sync the violation stopped is the counterexample's last step.
      this.trace.push({ op, answer: `stopped: ${this.hostViolation.actual}`, expected: this.hostViolation.expected, req: [...this.hostViolation.req] });
      throw this.hostViolation;
    }
    if (this.hostViolation !== undefined) {
      this.trace.push({ op, answer: `returned after: ${this.hostViolation.actual}`, expected: this.hostViolation.expected, req: [...this.hostViolation.req] });
      throw this.hostViolation;
    }
    if (this.wroteDuringSync && this.consumedDuringSync) this.copyRaceSeen = true;
    const stale = this.migration.staleCount();
    // The final check (finish) decides KVM-RING-23 in every run, and what made a page stale where the run set up the case: a write between a
    // copy and the reset consuming its entry (KVM-RING-20), a consumed push stored late (KVM-RING-22), a page only the bitmap holds (KVM-RING-21).
    const finalChecks = final ? ['KVM-RING-23', ...(this.copyRaceSeen ? ['KVM-RING-20'] : []), ...(this.delayedSeen ? ['KVM-RING-22'] : []), ...(this.noVcpuSeen ? ['KVM-RING-21'] : [])] : [];
    this.trace.push({
      op,
      answer: `${stale} page(s) differ after it${this.injected.length > 0 ? `; guest wrote ${this.injected.slice(0, 3).join(', ')} during it` : ''}`,
      expected: final ? '0 pages differ' : `any (${this.kvm.pushes - before} pushed during it)`,
      req: this.take(finalChecks),
    });
  }

  async op(o: CollectorOp): Promise<void> {
    this.steps++;
    switch (o.k) {
      case 'guest': {
        const v = o.vcpu % this.kvm.rings.length;
        const n = RING_MEMSLOTS[o.slot]!.npages;
        let done = 0;
        // With PML the vCPU enters the guest once per PML_ENTRIES writes (the log's flush exits).
        const perEntry = this.kvm.pml > 0 ? this.kvm.pml : 1;
        for (let i = 0; i < o.count; i++) {
          if (!this.kvm.guestWrite(v, o.slot, (((o.start + i * o.stride) % n) + n) % n, i % perEntry === 0)) break;
          done++;
        }
        this.trace.push({
          op: `vCPU ${v} writes ${o.count} pages of slot ${hex(slotCode(o.slot))} from ${o.start} stride ${o.stride}`,
          answer: `${done} made`,
          expected: done < o.count ? `${done} (ring soft full: KVM_EXIT_DIRTY_RING_FULL${this.kvm.pml > 0 ? ` at a guest entry, every ${this.kvm.pml} writes with PML` : ''})` : `${done}`,
          req: [],
        });
        return;
      }
      case 'noVcpu':
        if (!this.sc.config.withBitmap) return; // without the bitmap nothing records it: no collector could send it
        this.kvm.writeNoVcpu(o.slot, o.offset % RING_MEMSLOTS[o.slot]!.npages);
        this.noVcpuSeen = true;
        // The kit's KVM writing: nothing of the collector's is compared until the final check (KVM-RING-21 there).
        this.trace.push({ op: `KVM writes ${hex(slotCode(o.slot))}:${o.offset % RING_MEMSLOTS[o.slot]!.npages} without a vCPU`, answer: 'bitmap bit set', expected: 'bitmap bit set', req: [] });
        return;
      case 'sync':
        return this.sync(false, o.injects);
    }
  }

  async finish(): Promise<void> {
    this.vcpusRunning = false;
    this.clock.settle();
    await this.sync(true, []);
    try {
      this.migration.finalCheck();
    } catch (e) {
      if (!(e instanceof Violation)) throw e;
      // Charge the stale pages to what the kit saw: a copy made before the reset that
      // consumed the page's entry (KVM-RING-20), or an entry consumed whose page was never
      // copied after: the collector sent another page than the entry named (KVM-RING-13, -22).
      const stale = this.migration.stale();
      const req = new Set(e.req);
      let why = '';
      const early = stale.find((p) => this.copiedEarly.has(p));
      const lost = stale.find((p) => this.consumedNotCopied.has(p));
      const unlogged = stale.find((p) => this.kvm.uncollected.some((pages, s) => [...pages].some((off) => pageKey(slotCode(s), off) === p)));
      if (unlogged !== undefined) {
        // A page KVM wrote without a vCPU: only the dirty bitmap holds it, and no KVM_GET_DIRTY_LOG returned it.
        req.add('KVM-RING-21');
        why = `; ${unlogged} was written without a vCPU and its dirty bitmap bit was never collected (KVM_GET_DIRTY_LOG)`;
      }
      const relaxed = this.relaxedFlagsLoad;
      if (relaxed !== undefined) {
        // The harvest itself was unordered: what it read of slot and offset may be stale, whatever it copied when.
        req.add('KVM-RING-13');
        req.add('KVM-RING-22');
        why += `; the collector loaded the flags of vCPU ${relaxed.ring}'s entry ${relaxed.entry} relaxed, not with acquire, so the slot and offset it read after may be stale`;
        if (lost !== undefined) why += `; the entry for ${lost} was harvested and reset but that page was never copied after`;
      } else if (early !== undefined) {
        req.add('KVM-RING-20');
        why += `; ${early} was copied before the reset that consumed its entry`;
      } else if (lost !== undefined) {
        req.add('KVM-RING-13');
        req.add('KVM-RING-22');
        const first = this.readBeforeFlags;
        why += `; the entry for ${lost} was harvested and reset but that page was never copied after${first === undefined ? '' : ` (the collector loaded the slot or offset of vCPU ${first.ring}'s entry ${first.entry} before its flags)`}`;
      }
      throw new Violation(e.kind, [...req], e.expected, `${e.actual}${why}`);
    }
  }
}

async function runScenario(ctx: RunContext, adapter: DirtyRingCollectorAdapter, sc: CollectorScenario, limits: CallLimits, trace: TraceStep[], delaysOn: boolean): Promise<number> {
  // On x86 both threads follow TSO (KVM-RING-22); on arm64 neither.
  const memory = new OrderedMemory({ delays: sc.delays, delaysOn, tso: archOf(sc) === 'x86' ? ['kvm', 'vmm'] : [] });
  const clock = new StoreClock(memory, sc.delays, delaysOn);
  const run = new CollectorRun(ctx, adapter, sc, memory, clock, limits, trace);
  await run.setup();
  for (const o of sc.ops) {
    await run.op(o);
    clock.tick();
  }
  await run.finish();
  return run.steps;
}

export const DIRTY_RING_COLLECTOR_REQUIREMENTS: readonly string[] = ['KVM-RING-13', 'KVM-RING-14', 'KVM-RING-20', 'KVM-RING-21', 'KVM-RING-22', 'KVM-RING-23'];

/** The ring's run options (`delays: false` makes relaxed stores visible at once), as the producer profile has them. */
export type CollectorRunOptions = RingRunOptions;

export function runDirtyRingCollectorProfile(adapter: DirtyRingCollectorAdapter, options: CollectorRunOptions): Promise<ProfileResult> {
  const ctx = new RunContext();
  return runScenarioProfile(
    {
      name: DIRTY_RING_COLLECTOR_PROFILE,
      adapter: adapter.name,
      arbitrary: collectorScenarioArbitrary(options.maxCommands, adapter.arches ?? ARCHES),
      run: (sc, trace) => runScenario(ctx, adapter, sc, options, trace, options.delays !== false),
      requirements: DIRTY_RING_COLLECTOR_REQUIREMENTS,
      always: ['KVM-RING-23'],
      coverage: () => {
        const c = ringCoverage(ctx);
        return { kvmDirtyGfn: c.kvmDirtyGfn!, kvmVcpuRing: c.kvmVcpuRing! };
      },
      configOf: (sc) => ({ arch: archOf(sc), vcpus: sc.config.vcpus, withBitmap: sc.config.withBitmap, pml: sc.config.pml }),
    },
    options,
  );
}

export function replayDirtyRingCollectorScenario(adapter: DirtyRingCollectorAdapter, sc: unknown, timeoutMs: number, trace: TraceStep[], delaysOn = true): Promise<number> {
  return runScenario(new RunContext(), adapter, sc as CollectorScenario, { timeoutMs }, trace, delaysOn);
}
