// Profile kvm-dirty-ring: KVM's side of the dirty ring as a black box. fast-check
// generates a configuration (arch, ring size, vCPUs, WITH_BITMAP, enable attempts with
// bad arguments), a sequence of operations (guest writes by a vCPU, harvests by the kit's
// collector, rewrites by a hostile collector, KVM_RESET_DIRTY_RINGS, writes without a
// vCPU, KVM_GET_DIRTY_LOG, late enable attempts) and the delays of relaxed stores
// (model/kvm-dirty-ring/ordered-memory.ts). Checked, step by step:
// - every ioctl's errno against kvmDirtyRingVm (KVM-RING-2..10, -15);
// - KVM_RUN's exit and the writes it made against the soft limit (KVM-RING-12);
// - each entry the kit harvests (flags load-acquire, then slot and offset) is exactly the
//   push the guest's write owed, in order (KVM-RING-11, -22); no entry for a writable page;
// - a reset returns the count of harvested entries, clears their flags, and leaves
//   exactly the pages the spec's batches name write-protected (KVM-RING-15..19), whatever
//   slot and offset the hostile collector wrote;
// - at the end (all stores visible) every owed entry is in the ring.
// One run in four ends with an aimed sequence (aimed.ts): steps the random ops seldom
// line up (a run to exactly the soft limit, writes without a vCPU then GET, hostile
// rewrites then a reset, the ring-size edge), checked by the same checks.
//
// Requirements: KVM-RING-2..12, -15..19, -21, -22 (each listed on a trace step only where
// the step compared an observation that could have failed it: RunReach, kit.ts).
import fc from 'fast-check';
import { droppable } from '../../engine/droppable.ts';
import { OrderedMemory } from '../../../model/kvm-dirty-ring/ordered-memory.ts';
import { Violation } from '../../../model/violation.ts';
import {
  type RingSizeClass,
  bitmapBatches,
  classifyEnableRing,
  classifyEnableWithBitmap,
  consumedByStoppedReset,
  lateExits,
  reprotectedPages,
  resetBatchValid,
  resetBatchesOf,
  ringCheckExtension,
  ringUapiProblem,
  type RingUapi,
  reservedEntries,
  ringGeometry,
  spannedPages,
  type RingArch,
} from '../../../spec/kvm/dirty-ring/rules.ts';
import {
  KVM_CAP_DIRTY_LOG_RING,
  KVM_CAP_DIRTY_LOG_RING_ACQ_REL,
  KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP,
  KVM_DIRTY_GFN_SIZE,
  KVM_DIRTY_RING_MAX_ENTRIES,
  KVM_EXIT_DIRTY_RING_FULL,
  KVM_EXIT_HLT,
  PAGE_SIZE,
} from '../../../spec/kvm/dirty-ring/uapi.ts';
import type { KvmDirtyRingVmEvent } from '../../../spec/kvm/dirty-ring/ring-machines.ts';
import type { TraceStep } from '../../engine/commands.ts';
import { CallTimer, type CallLimits, Undecided, checkErrno, timed } from '../../engine/limits.ts';
import { inFlight, type InFlightStep } from '../../engine/crash.ts';
import type { ProfileResult, RunOptions } from '../../engine/run-profile.ts';
import { runScenarioProfile } from '../../engine/scenario-profile.ts';
import { RunContext } from '../../../model/run-context.ts';
import { aimedRingArbitrary } from './aimed.ts';
import { type RingMemslot, RunReach, StoreClock, flagsAt, offsetAt, ringBase, ringCoverage, ringTables, sideOf, ringMemslots, slotAt, slotCode, takesForbidden, type RingTables } from './kit.ts';
import { KitSignals } from './signals.ts';
import type { GuestWriteArg, KitRingMemory, KvmDirtyRingAdapter, KvmDirtyRingInstance } from './types.ts';

export const KVM_DIRTY_RING_PROFILE = 'kvm-dirty-ring';

/** 'max': KVM_DIRTY_RING_MAX_ENTRIES entries (1 MiB), the largest ring KVM accepts; 'big' is twice that. */
export type SizeKind = 'ok' | 'zero' | 'notPow2' | 'small' | 'big' | 'max';
export type HostileKind = 'wrap' | 'badAs' | 'badId' | 'noSlot' | 'pastEnd' | 'otherPage' | 'otherSlot' | 'remark' | 'markInvalid';

export interface RingScenarioConfig {
  readonly arch: RingArch;
  readonly ringBytes: 4096 | 8192;
  readonly vcpus: 1 | 2;
  readonly withBitmap: boolean;
  /** A vCPU is created before the ring is enabled (KVM-RING-7): the ring stays off. */
  readonly late: boolean;
  readonly enables: readonly { readonly cap: number; readonly size: SizeKind }[];
}

export type RingOp =
  | {
      readonly k: 'run';
      readonly vcpu: number;
      readonly slot: 0 | 1;
      readonly start: number;
      readonly count: number;
      readonly stride: 1 | 2 | -1;
      /** The pages written, in order, instead of start, count and stride (aimed sequences). */
      readonly pages?: readonly number[];
    }
  /** KVM_RUN with writes to write-protected pages only (slot 0's, then slot 1's), as many as take the ring from its used entries to the soft limit, plus `extra` (aimed.ts). */
  /**
   * Writes to write-protected pages up to the soft limit (+ `extra`). `fresh`: pages no run
   * has written first (they fault and map); `pmlOnly`: only where the adapter declares a CPU
   * dirty log (none otherwise).
   */
  | { readonly k: 'fill'; readonly vcpu: number; readonly extra: number; readonly fresh?: boolean; readonly pmlOnly?: boolean }
  | { readonly k: 'harvest'; readonly vcpu: number; readonly max: number }
  | { readonly k: 'hostile'; readonly vcpu: number; readonly pick: number; readonly kind: HostileKind }
  | { readonly k: 'reset' }
  | { readonly k: 'noVcpu'; readonly slot: 0 | 1; readonly offset: number }
  | { readonly k: 'getLog'; readonly slot: 0 | 1 }
  | { readonly k: 'enable'; readonly cap: number; readonly size: SizeKind }
  /** KVM_CHECK_EXTENSION of a number no capability has. */
  | { readonly k: 'checkExt'; readonly cap: number };

/**
 * A step of an aimed sequence (aimed.ts) and where in the run it goes: `enable` after the
 * configuration's enables (before the kit enables the ring if they left it off), `ring`
 * once the ring and WITH_BITMAP are set up (before the vCPUs, unless the configuration
 * makes them first), `end` after the ops.
 */
export interface AimedStep {
  readonly at: 'enable' | 'ring' | 'end';
  readonly op: RingOp;
}

export interface RingScenario {
  readonly config: RingScenarioConfig;
  readonly ops: readonly RingOp[];
  /** Steps each relaxed store stays invisible to the other side, in issue order. */
  readonly delays: readonly number[];
  /** The aimed sequence (aimed.ts): drawn after the rest, empty in three runs of four. Absent in scenarios recorded before it. */
  readonly aimed?: readonly AimedStep[];
  /**
   * For an adapter that `checksSignals`: per KVM_RESET_DIRTY_RINGS in order (the final one
   * included), the check of signal_pending(current) (from 0) from which a signal is pending;
   * -1 or past the end: none (KVM-RING-24). Drawn last; absent in scenarios recorded before it.
   */
  readonly signals?: readonly number[];
  /**
   * Per KVM_RESET_DIRTY_RINGS in order: a write of vCPU 0's racing the reset (null: none), of
   * the page the `pick`-th harvested entry names, at the reset's `at`-th vcpuBetween call
   * (KVM-RING-16). Drawn after the signals; absent in scenarios recorded before it.
   */
  readonly resetRaces?: readonly ({ readonly at: number; readonly pick: number } | null)[];
}

const CAPS = [KVM_CAP_DIRTY_LOG_RING, KVM_CAP_DIRTY_LOG_RING_ACQ_REL, KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP];
/** The enable's rules with a guard of their own (RingRun.enableSides decides them). */
const GUARDED_ENABLE: readonly string[] = ['KVM-RING-2', 'KVM-RING-3', 'KVM-RING-4', 'KVM-RING-5'];

export function ringScenarioArbitrary(maxCommands: number): fc.Arbitrary<RingScenario> {
  const size = fc.constantFrom<SizeKind>('ok', 'zero', 'notPow2', 'small', 'big');
  const vcpu = fc.nat(1);
  const op: fc.Arbitrary<RingOp> = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        k: fc.constant('run' as const),
        vcpu,
        slot: fc.constantFrom<0 | 1>(0, 0, 1),
        start: fc.oneof(fc.nat(62), fc.nat(255)),
        count: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max: 8 }) }, { weight: 1, arbitrary: fc.integer({ min: 100, max: 300 }) }),
        stride: fc.constantFrom<1 | 2 | -1>(1, 1, 2, -1),
      }),
    },
    { weight: 4, arbitrary: fc.record({ k: fc.constant('harvest' as const), vcpu, max: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constant(1024)) }) },
    {
      weight: 3,
      arbitrary: fc.record({ k: fc.constant('hostile' as const), vcpu, pick: fc.nat(7), kind: fc.constantFrom<HostileKind>('wrap', 'wrap', 'wrap', 'badAs', 'badId', 'noSlot', 'pastEnd', 'otherPage', 'otherSlot', 'remark', 'markInvalid') }),
    },
    { weight: 3, arbitrary: fc.constant({ k: 'reset' as const }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('noVcpu' as const), slot: fc.constantFrom<0 | 1>(0, 1), offset: fc.nat(63) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('getLog' as const), slot: fc.constantFrom<0 | 1>(0, 1) }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('enable' as const), cap: fc.constantFrom(...CAPS, KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP), size: fc.constantFrom<SizeKind>('ok', 'ok', 'zero', 'notPow2', 'small', 'big') }) },
  );
  return fc.record({
    config: fc.record({
      arch: fc.constantFrom<RingArch>('x86', 'x86', 'arm64'),
      ringBytes: fc.constantFrom<4096 | 8192>(4096, 4096, 8192),
      vcpus: fc.constantFrom<1 | 2>(1, 1, 2),
      withBitmap: fc.boolean(),
      late: fc.constantFrom(false, false, false, false, false, false, false, true),
      enables: fc.array(fc.record({ cap: fc.constantFrom(...CAPS, 7), size }), { maxLength: 3 }),
    }),
    ops: droppable(fc.array(op, { minLength: 1, maxLength: Math.max(1, maxCommands) })),
    delays: fc.array(fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: 1, max: 4 }) }), { maxLength: 24 }),
    // Last, so that config, ops and delays come out of a seed as they did before it.
    aimed: aimedRingArbitrary(),
    // After it, for the same reason; used only where the adapter checks signals.
    signals: fc.array(fc.oneof({ weight: 2, arbitrary: fc.constant(-1) }, { weight: 3, arbitrary: fc.nat(6) }), { maxLength: 6 }),
    // After them, for the same reason.
    resetRaces: fc.array(fc.option(fc.record({ at: fc.nat(6), pick: fc.nat(15) }), { nil: null, freq: 2 }), { maxLength: 6 }),
  });
}

const hex = (v: number | bigint) => `0x${v.toString(16)}`;

/**
 * The factor (a power of two) by which the configuration's ring sizes grow so that a 4 KiB
 * ring holds more entries than the reserve (64 + the CPU dirty log: KVM-RING-4): 1 without
 * PML, 4 with PML's 512 (16 KiB, 1,024 entries, soft limit 448).
 */
export function ringSizeScale(cpuDirtyLogSize: number): number {
  let scale = 1;
  while ((4096 * scale) / KVM_DIRTY_GFN_SIZE <= reservedEntries(cpuDirtyLogSize)) scale *= 2;
  return scale;
}
const ERRNO: Record<string, number> = { ok: 0, einval: -22, e2big: -7, enxio: -6 };
/** include/uapi/asm-generic/errno-base.h: a reset stopped by a signal may answer it (KVM-RING-24). */
const EINTR = 4;
const U64_WRAP_OFFSET = 0xffff_ffff_ffff_ffc1n;

/** The size a kind stands for, with the configuration's ring size grown by `scale` (ringSizeScale). */
function sizeBytes(kind: SizeKind, ringBytes: number, scale = 1): number {
  switch (kind) {
    case 'ok':
      return ringBytes;
    case 'zero':
      return 0;
    case 'notPow2':
      return ringBytes + 16;
    case 'small':
      // Below a page; with PML's reserve, half the time a page (4 KiB, under 576 entries of 16 bytes): KVM-RING-4's reserve clause.
      return scale > 1 && ringBytes === 4096 * scale ? 4096 : 2048;
    case 'big':
      return 1 << 21;
    case 'max':
      return 1 << 20;
  }
}

/** The size checks of kvm_vm_ioctl_enable_dirty_log_ring in order, each with its rule (KVM-RING-3, -4, -5). */
const SIZE_CHECKS: readonly { readonly cls: RingSizeClass; readonly id: string }[] = [
  { cls: 'notPowerOfTwo', id: 'KVM-RING-3' },
  { cls: 'tooSmall', id: 'KVM-RING-4' },
  { cls: 'tooLarge', id: 'KVM-RING-5' },
];

/**
 * The class `bytes` falls in for a VM that lacks the size check `skip` (the checks after it
 * still run, in their order): what such a VM would have answered instead of that check's
 * refusal. A refusal whose errno the next check gives anyway (size 0: not a power of two,
 * and below a page too) tells nothing about the check that came first.
 */
export function sizeClassWithout(skip: RingSizeClass, bytes: number, cpuDirtyLogSize = 0): RingSizeClass {
  const checks = SIZE_CHECKS.slice(SIZE_CHECKS.findIndex((c) => c.cls === skip) + 1).map((c) => c.cls);
  for (const c of checks) {
    if (c === 'tooSmall' && (bytes < reservedEntries(cpuDirtyLogSize) * KVM_DIRTY_GFN_SIZE || bytes < PAGE_SIZE)) return c;
    if (c === 'tooLarge' && bytes > KVM_DIRTY_RING_MAX_ENTRIES * KVM_DIRTY_GFN_SIZE) return c;
  }
  return 'ok';
}

interface GhostEntry {
  slot: number;
  offset: bigint;
  state: 'dirty' | 'harvested';
  gfn: ReturnType<RingTables['gfn']['step']>['next'];
  rewritten: boolean;
  /** The KVM_RUN that pushed it (runWrites' count): with a CPU dirty log, the pushes of one flush may come in any order. */
  run?: number;
}

/** A write of vCPU 0's racing a reset: when (`at`), what, the memslot's index, and the page's protection before the reset. */
interface RacedWrite {
  readonly at: number;
  readonly write: GuestWriteArg;
  readonly s: 0 | 1;
  readonly before: number;
}

interface GhostRing {
  readonly base: number;
  readonly entries: number;
  readonly softLimit: number;
  dirty: number;
  reset: number;
  fetch: number;
  readonly slots: Map<number, GhostEntry>;
  vcpu: ReturnType<RingTables['vcpu']['step']>['next'];
}

class RingRun {
  readonly t: RingTables;
  vm: RingTables['vm']['initial'];
  readonly rings: (GhostRing | undefined)[] = [];
  /**
   * Per memslot: 1 = write-protected (the next vCPU write pushes), 0 = writable, 2 = either
   * (arm64: a page between two a batch names, KVM-RING-16), until the next protection check
   * reads which.
   */
  readonly protectedPages: Uint8Array[];
  readonly bitmaps: Set<number>[];
  /** The scenario's memslots (kit.ts ringMemslots: on x86 one is in address space 1). */
  readonly memslots: readonly RingMemslot[];
  memslotsMade = false;
  steps = 0;
  /** The ring size KVM accepted (the configuration's, or 1 MiB when an aimed enable of the largest ring was accepted). */
  ringBytes: number;
  private readonly kitSide: KitRingMemory;
  /** What the run's steps checked (kit.ts): each trace step lists the requirements it really checked. */
  readonly reach = new RunReach();
  /** Requirements checked since the last trace step, and guarded ones whose side a step compared (`take` lists them). */
  private here: string[] = [];
  private guardedHere: string[] = [];
  /** Per vCPU: a write to a writable page (which must push nothing) made since its ring was last harvested to its end. */
  private readonly unpushed: boolean[] = [];
  /** KVM_RUN calls made (GhostEntry.run). */
  private runs = 0;
  /** KVM_RESET_DIRTY_RINGS calls made (the index into RingScenario.signals). */
  private resets = 0;
  /** Per memslot: the pages KVM wrote without a vCPU that its dirty bitmap holds, not yet collected. */
  private readonly noVcpuPages: Set<number>[];
  /** Per memslot, the pages a vCPU has written in this run (mapped since). */
  private readonly written: Set<number>[];
  /** One timer for the run's calls, one after another (limits.ts CallTimer). */
  private readonly timer: CallTimer;

  constructor(
    ctx: RunContext,
    readonly adapter: KvmDirtyRingAdapter,
    readonly inst: KvmDirtyRingInstance,
    readonly sc: RingScenario,
    readonly memory: OrderedMemory,
    readonly callLimits: CallLimits,
    readonly trace: TraceStep[],
    /** The kit's steps, and when KVM's relaxed stores (its side of the memory watched) become visible. */
    readonly clock: StoreClock,
    /** signal_pending(current) as KVM's reset reads it (signals.ts). */
    readonly signals: KitSignals,
  ) {
    // With a CPU dirty log (PML: the ring grows to 1,024 or 2,048 entries, soft limit 448 or 1,472) the
    // first memslot has as many pages as the ring has entries, so that a run can reach the soft limit
    // and go B + 1 pushes past it (B + soft limit = entries - 64).
    const dirtyLog = sc.config.arch === 'x86' ? (adapter.cpuDirtyLogSize ?? 0) : 0;
    const scale = ringSizeScale(dirtyLog);
    this.memslots = ringMemslots(sc.config.arch, scale > 1 ? (sc.config.ringBytes * scale) / KVM_DIRTY_GFN_SIZE : 256);
    this.protectedPages = this.memslots.map((m) => new Uint8Array(m.npages));
    this.bitmaps = this.memslots.map(() => new Set<number>());
    this.noVcpuPages = this.memslots.map(() => new Set<number>());
    this.written = this.memslots.map(() => new Set<number>());
    this.timer = new CallTimer(callLimits.timeoutMs, callLimits.watch);
    this.kitSide = sideOf(memory, 'vmm');
    this.t = ringTables(ctx);
    this.vm = this.t.vm.initial;
    this.cpuDirtyLogSize = sc.config.arch === 'x86' ? (adapter.cpuDirtyLogSize ?? 0) : 0;
    this.sizeScale = ringSizeScale(this.cpuDirtyLogSize);
    this.ringBytes = sc.config.ringBytes * this.sizeScale;
  }

  /** The VM's KVM_CHECK_EXTENSION answers for 192, 223 and 225 (setup): the uAPI it offers (KVM-RING-2). Linux v6.18's until asked. */
  uapi: RingUapi = {};

  /** kvm_cpu_dirty_log_size() as the adapter declares it (x86 with PML: 512; 0 on arm64). */
  readonly cpuDirtyLogSize: number;
  /** The configuration's ring sizes (4 and 8 KiB) are multiplied by this, so that they hold the reserved entries. */
  readonly sizeScale: number;

  get arch(): RingArch {
    return this.sc.config.arch;
  }

  /** Memslot i's slot code (as_id << 16 | id). */
  slotCode(i: number): number {
    return slotCode(i, this.memslots);
  }

  /** kvm_reset_dirty_gfn's bounds: x86 has two address spaces (SMM), arm64 one. */
  get limits(): { addressSpaces: number; userMemSlots: number } {
    return { addressSpaces: this.arch === 'x86' ? 2 : 1, userMemSlots: 32764 };
  }

  /** Pages the arch may protect besides the named ones (KVM-RING-16, arm64): writable ones become either. */
  mayProtect(pages: readonly { slot: number; offset: number }[]): boolean {
    let any = false;
    for (const p of pages) {
      const prot = this.protectedPages[p.slot === this.slotCode(0) ? 0 : 1]!;
      if (prot[p.offset] !== 0) continue;
      prot[p.offset] = 2;
      any = true;
    }
    return any;
  }

  get ringOn(): boolean {
    return (this.vm.value as { ring: string }).ring === 'on';
  }

  get bitmapOn(): boolean {
    return (this.vm.value as { withBitmap: string }).withBitmap === 'on';
  }

  /** `step`: the step this call is, with the requirements that cover its input, for a crash or hang during it (engine/crash.ts). */
  call<T>(what: string, fn: () => Promise<T>, step?: InFlightStep): Promise<T> {
    const answer = this.timer.run(() => `${this.adapter.name} ${what}`, fn);
    return step === undefined ? answer : answer.catch(inFlight(step, this.trace));
  }

  vmStep(event: KvmDirtyRingVmEvent) {
    const entry = this.t.vm.step(this.vm, event);
    this.vm = entry.next;
    return { entry, outcome: entry.outcomes[entry.outcomes.length - 1]!, effects: new Set(entry.outcomes) };
  }

  /** A requirement this step checked: its check compared an observation that could have failed it. */
  checked(id: string): void {
    this.here.push(id);
  }

  /** The guarded case of `id` (`held`) or its other case arose at this step and was compared (RunReach). */
  side(id: string, held: boolean): void {
    this.reach.side(id, held);
    this.guardedHere.push(id);
  }

  /** The requirements this step checked (`plain` besides those `checked` and `side` named since the last step): for its trace step. */
  take(plain: readonly string[] = []): string[] {
    const req = this.reach.list([...plain, ...this.here], this.guardedHere);
    this.here = [];
    this.guardedHere = [];
    return req;
  }

  push(op: string, answer: string, expected: string, req: readonly string[], transitions: TraceStep['transitions'] = []): void {
    this.trace.push({ op, answer, expected, req, ...(transitions && transitions.length > 0 ? { transitions } : {}) });
  }

  async enable(cap: number, size: SizeKind): Promise<void> {
    const bytes = sizeBytes(size, this.sc.config.ringBytes * this.sizeScale, this.sizeScale);
    const what = `KVM_ENABLE_CAP(${cap}, args[0] ${bytes})`;
    if (cap === KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP) {
      // Any size kind but 'ok' stands for a non-zero cap.flags.
      const flags = size === 'ok' ? 0 : 1;
      const x = this.vmStep(classifyEnableWithBitmap(this.arch, flags, this.uapi));
      const op = `KVM_ENABLE_CAP(KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, flags ${flags})`;
      const got = checkErrno(what, await this.call('enableCap', () => this.inst.enableCap(cap, 0, flags), { op, expected: `${ERRNO[x.outcome]} (${x.outcome})`, req: x.entry.req }));
      // KVM-RING-10's guard: WITH_BITMAP refused (any of its reasons) or accepted.
      this.side('KVM-RING-10', x.outcome !== 'ok');
      this.push(op, `${got}`, `${ERRNO[x.outcome]} (${x.outcome})`, this.take(), x.entry.taken);
      if (got !== ERRNO[x.outcome]) throw new Violation('spec', x.entry.req, `${ERRNO[x.outcome]} (${x.outcome})`, `${got}`);
      return;
    }
    if (cap !== KVM_CAP_DIRTY_LOG_RING && cap !== KVM_CAP_DIRTY_LOG_RING_ACQ_REL) {
      const got = checkErrno(what, await this.call('enableCap', () => this.inst.enableCap(cap, bytes, 0), { op: what, expected: '-22', req: ['KVM-RING-2'] }));
      // KVM-RING-2's guarded case: a capability KVM does not support, refused (an accepting VM answers 0).
      this.side('KVM-RING-2', true);
      this.push(what, `${got}`, '-22 (not a ring capability: KVM_ENABLE_CAP of an unknown cap)', this.take());
      if (got !== -22) throw new Violation('spec', ['KVM-RING-2'], `-22 for capability ${cap}`, `${got}`);
      return;
    }
    const before = this.vm;
    const event = classifyEnableRing(this.arch, cap, bytes, this.cpuDirtyLogSize, this.uapi);
    const x = this.vmStep(event);
    const got = checkErrno(what, await this.call('enableCap', () => this.inst.enableCap(cap, bytes, 0), { op: what, expected: `${ERRNO[x.outcome]} (${x.outcome})`, req: x.entry.req }));
    this.enableSides(before, event, bytes, x.outcome);
    this.push(what, `${got}`, `${ERRNO[x.outcome]} (${x.outcome})`, this.take(x.entry.req.filter((id) => !GUARDED_ENABLE.includes(id))), x.entry.taken);
    if (got !== ERRNO[x.outcome]) throw new Violation('spec', x.entry.req, `${what} returns ${ERRNO[x.outcome]} (${x.outcome})`, `${got}`);
    if (x.outcome === 'ok') this.ringBytes = bytes;
  }

  /**
   * The guards of an ENABLE_RING the run compared, in kvm_vm_ioctl_enable_dirty_log_ring's
   * order: the capability (KVM-RING-2), then the size (KVM-RING-3, -4, -5). A guard that
   * did not hold is its other side; one that held counts only where a VM without that
   * check would have answered otherwise (the same step in `before` with the guard false):
   * with the ring already on, or a vCPU made, a refused size is -EINVAL either way
   * (KVM-RING-6, -7), and the answer says nothing of the size check.
   */
  enableSides(before: typeof this.vm, event: ReturnType<typeof classifyEnableRing>, bytes: number, outcome: string): void {
    const differs = (alt: ReturnType<typeof classifyEnableRing>) => {
      const e = this.t.vm.table.peek(before, alt);
      return e !== undefined && e.outcomes[e.outcomes.length - 1] !== outcome;
    };
    if (!event.supported) {
      if (differs({ ...event, supported: true })) this.side('KVM-RING-2', true);
      return;
    }
    this.side('KVM-RING-2', false);
    for (const c of SIZE_CHECKS) {
      if (event.size !== c.cls) {
        this.side(c.id, false);
        continue;
      }
      if (differs({ ...event, size: sizeClassWithout(c.cls, bytes, this.cpuDirtyLogSize) })) this.side(c.id, true);
      return;
    }
  }

  /**
   * KVM_CHECK_EXTENSION of a capability the VM has not: 0 (Linux v6.18 virt/kvm/kvm_main.c
   * kvm_vm_ioctl_check_extension_generic: an unknown number falls to the architecture's
   * kvm_vm_ioctl_check_extension, whose default is 0).
   */
  async checkExt(cap: number): Promise<void> {
    const what = `KVM_CHECK_EXTENSION(${cap}) on ${this.arch}`;
    const got = await this.call('checkExtension', () => this.inst.checkExtension(cap), { op: what, expected: '0', req: ['KVM-RING-2'] });
    // KVM-RING-2's guarded case (a capability KVM does not know), asked for.
    this.side('KVM-RING-2', true);
    this.push(what, `${String(got)}`, '0 (no such capability)', this.take());
    if (got !== 0) throw new Violation('spec', ['KVM-RING-2'], `${what} returns 0 (no such capability)`, `${String(got)}`);
  }

  async setup(): Promise<void> {
    const c = this.sc.config;
    // The ring's uAPI is what the VM answers: each capability 0 (a kernel before it, or an
    // arch without it) or Linux v6.18's answer (KVM-RING-2, ringUapiProblem); the enables
    // are then judged by those answers.
    const answers: Record<number, number> = {};
    for (const cap of CAPS) answers[cap] = await this.call('checkExtension', () => this.inst.checkExtension(cap), { op: `KVM_CHECK_EXTENSION(${cap}) on ${c.arch}`, expected: `0 or ${ringCheckExtension(c.arch, cap)}`, req: ['KVM-RING-2'] });
    const problem = ringUapiProblem(c.arch, answers);
    if (problem !== undefined) throw new Violation('spec', ['KVM-RING-2'], problem, CAPS.map((cap) => String(answers[cap])).join(', '));
    this.uapi = answers;
    // Every run asks the same three questions before its first step: KVM-RING-2 is decided by the enables (enableSides), this violation aside.
    this.push(`KVM_CHECK_EXTENSION(192, 223, 225) on ${c.arch}`, CAPS.map((cap) => String(answers[cap])).join(', '), `each 0 or ${CAPS.map((cap) => ringCheckExtension(c.arch, cap)).join(', ')}`, []);
    if (c.late) await this.createVcpus(c.vcpus);
    for (const e of c.enables) await this.enable(e.cap, e.size);
    await this.aimedAt('enable');
    if (!this.ringOn) {
      // The configuration's capability if the VM offers it, else the other ring capability it offers (a VM offering neither is refused, and runs without the ring).
      const first = c.arch === 'x86' && c.ringBytes === 8192 ? KVM_CAP_DIRTY_LOG_RING : KVM_CAP_DIRTY_LOG_RING_ACQ_REL;
      const other = first === KVM_CAP_DIRTY_LOG_RING ? KVM_CAP_DIRTY_LOG_RING_ACQ_REL : KVM_CAP_DIRTY_LOG_RING;
      await this.enable(this.uapi[first] === 0 && this.uapi[other] !== 0 ? other : first, 'ok');
    }
    // Twice: once on, a second enable before any memslot is 0 again (KVM-RING-10).
    if (c.withBitmap) for (let k = 0; k < 2; k++) await this.enable(KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, 'ok');
    await this.aimedAt('ring');
    if (!c.late) await this.createVcpus(c.vcpus);
    for (const [i, m] of this.memslots.entries()) {
      const x = this.vmStep({ type: 'CREATE_MEMSLOT' });
      const op = `KVM_SET_USER_MEMORY_REGION(slot ${hex(this.slotCode(i))}, ${m.npages} pages, KVM_MEM_LOG_DIRTY_PAGES)`;
      const got = checkErrno('setMemslot', await this.call('setMemslot', () => this.inst.setMemslot(m.asId, m.id, m.npages, true), { op, expected: '0', req: x.entry.req }));
      if (got !== 0) throw new Undecided(`${this.adapter.name} setMemslot(${m.asId}, ${m.id}, ${m.npages}) answered ${got}: the kit needs its memslots`);
      this.protectedPages[i]!.fill(1);
      // The errno is the only thing compared here, and a refusal is undecided (the kit needs its memslots): no rule is checked; the bitmap is, by KVM_GET_DIRTY_LOG.
      this.push(op, '0', `0${x.effects.has('allocBitmap') ? ' with a bitmap' : ''}`, [], x.entry.taken);
    }
    this.memslotsMade = true;
  }

  /** The aimed sequence's steps for one place of the run. */
  async aimedAt(at: AimedStep['at']): Promise<void> {
    for (const s of this.sc.aimed ?? []) if (s.at === at) await this.op(s.op);
  }

  async createVcpus(n: number): Promise<void> {
    for (let v = 0; v < n; v++) {
      const x = this.vmStep({ type: 'CREATE_VCPU' });
      const id = await this.call('createVcpu', () => this.inst.createVcpu(ringBase(v)), { op: `KVM_CREATE_VCPU(${v})`, expected: `${v}`, req: x.entry.req });
      if (id !== v) throw new Undecided(`${this.adapter.name} createVcpu answered ${String(id)}: expected vCPU index ${v}`);
      if (x.effects.has('allocRing')) {
        const g = ringGeometry(this.ringBytes, reservedEntries(this.cpuDirtyLogSize));
        this.rings.push({ base: ringBase(v), entries: g.entries, softLimit: g.softLimit, dirty: 0, reset: 0, fetch: 0, slots: new Map(), vcpu: this.t.vcpu.initial });
      } else this.rings.push(undefined);
      // Only the index is compared (another answer is undecided): the ring, or none, shows in the runs and harvests.
      this.push(`KVM_CREATE_VCPU(${v})`, `${id}`, `${v}${x.effects.has('allocRing') ? ', with a ring' : ', no ring'}`, [], x.entry.taken);
    }
  }

  /**
   * Every page's protection as the implementation reports it must be the ghost's. A page
   * protected that no consumed entry names, or a named page left writable, is the reset's
   * addressing (KVM-RING-16) or, when a ring's reset consumed two entries or more
   * (`merged`: a batch could coalesce them), its coalescing (KVM-RING-17). A page protected
   * that no entry names is reported first: a page left writable may also be a page never
   * protected at all.
   */
  async checkProtection(what: string, hostile: boolean, merged = false, rule?: readonly string[]): Promise<void> {
    let missing: string | undefined;
    let extra: string | undefined;
    for (const [i, m] of this.memslots.entries()) {
      const bits = await this.call('writeProtectedPages', () => this.inst.writeProtectedPages(this.slotCode(i)), {
        op: `the write-protected pages of slot ${hex(this.slotCode(i))}, after ${what}`,
        expected: 'a bitmap',
        req: ['KVM-RING-16'],
      });
      if (!(bits instanceof Uint8Array) || bits.length !== Math.ceil(m.npages / 64) * 8)
        throw new Undecided(`${this.adapter.name} writeProtectedPages(${hex(this.slotCode(i))}) answered ${bits instanceof Uint8Array ? `${bits.length} bytes` : typeof bits}: ${Math.ceil(m.npages / 64) * 8} expected`);
      for (let p = 0; p < m.npages; p++) {
        const got = ((bits[p >> 3]! >> (p & 7)) & 1) === 1;
        if (this.protectedPages[i]![p] === 2) {
          this.protectedPages[i]![p] = got ? 1 : 0;
          continue;
        }
        const want = this.protectedPages[i]![p] === 1;
        if (got === want) continue;
        if (want) missing ??= `${hex(this.slotCode(i))}:${p}`;
        else extra ??= `${hex(this.slotCode(i))}:${p}`;
      }
    }
    if (extra !== undefined)
      throw new Violation(
        missing === undefined ? 'spec' : 'loss',
        rule ?? (hostile ? ['KVM-RING-18'] : merged ? ['KVM-RING-17', 'KVM-RING-16'] : ['KVM-RING-16']),
        `after ${what}, page ${extra} stays writable (${rule === undefined ? `no consumed entry names it${hostile ? ' validly' : ''}` : 'the call did not report it'})${missing === undefined ? '' : ` and page ${missing} is write-protected`}`,
        `write-protected: ${rule === undefined ? 'the reset' : 'the call'} touched a page it was not given${missing === undefined ? '' : `, and left ${missing} writable: its next write is lost`}`,
      );
    if (missing !== undefined)
      throw new Violation('loss', rule ?? (merged && !hostile ? ['KVM-RING-16', 'KVM-RING-17'] : ['KVM-RING-16']), `after ${what}, page ${missing} is write-protected (its next write is recorded)`, 'writable: the next write to it is lost');
  }

  writesOf(o: Extract<RingOp, { k: 'run' }>): GuestWriteArg[] {
    const n = this.memslots[o.slot]!.npages;
    if (o.pages !== undefined) return o.pages.map((p) => ({ slot: this.slotCode(o.slot), offset: ((p % n) + n) % n }));
    return Array.from({ length: o.count }, (_, i) => ({ slot: this.slotCode(o.slot), offset: (((o.start + i * o.stride) % n) + n) % n }));
  }

  run(o: Extract<RingOp, { k: 'run' }>): Promise<void> {
    const writes = this.writesOf(o);
    const from = o.pages === undefined ? `from page ${o.start} stride ${o.stride}` : `pages [${writes.map((w) => w.offset).join(', ')}]`;
    return this.runWrites(o.vcpu % this.rings.length, writes, `${writes.length} writes to slot ${hex(this.slotCode(o.slot))} ${from}`);
  }

  /**
   * KVM_RUN with writes to write-protected pages only, as many as take vCPU v's ring from
   * its used entries to the soft limit, plus `extra` (at least one, at most the protected
   * pages there are; 8 without a ring): with `extra` 0 the last write reaches the limit, and
   * the vCPU must exit KVM_EXIT_DIRTY_RING_FULL after it, not halt (KVM-RING-12).
   */
  fill(o: Extract<RingOp, { k: 'fill' }>): Promise<void> {
    const v = o.vcpu % this.rings.length;
    const ring = this.rings[v];
    if (o.pmlOnly === true && this.cpuDirtyLogSize === 0) return Promise.resolve();
    const free: GuestWriteArg[] = [];
    for (const [i, prot] of this.protectedPages.entries()) for (const [p, b] of prot.entries()) if (b === 1) free.push({ slot: this.slotCode(i), offset: p });
    // Fresh pages first (a stable sort keeps the slot order within each kind).
    if (o.fresh === true) free.sort((a, b) => Number(this.written[a.slot === this.slotCode(0) ? 0 : 1]!.has(a.offset)) - Number(this.written[b.slot === this.slotCode(0) ? 0 : 1]!.has(b.offset)));
    const used = ring === undefined ? 0 : (ring.dirty - ring.reset) >>> 0;
    const need = ring === undefined ? 8 : ring.softLimit - used + o.extra;
    const writes = free.slice(0, Math.max(1, Math.min(need, free.length)));
    return this.runWrites(v, writes, `${writes.length} writes to write-protected pages (used ${used}, soft limit ${ring?.softLimit ?? 'none'}, ${o.extra >= 0 ? '+' : ''}${o.extra})`);
  }

  async runWrites(v: number, writes: readonly GuestWriteArg[], description: string): Promise<void> {
    const ring = this.rings[v];
    const runNo = ++this.runs;
    const prot = this.protectedPages.map((p) => p.slice());
    const pushes = writes.map((w) => {
      const s = w.slot === this.slotCode(0) ? 0 : 1;
      if (prot[s]![w.offset] === 2) throw new Error(`kit: the protection of ${hex(w.slot)}:${w.offset} was not read after it became either`);
      const p = prot[s]![w.offset] === 1;
      prot[s]![w.offset] = 0;
      return p;
    });
    let want = { done: writes.length, full: false };
    /**
     * With a CPU dirty log of B entries (x86 PML, kvm_cpu_dirty_log_size()), the writes the
     * CPU logs are pushed at the next VM exit (vmx_flush_pml_buffer at the head of
     * __vmx_handle_exit), at the latest when the log is full, so the exit owed comes after
     * the write whose push reaches the limit (`want`) plus at most B more pushing writes;
     * at the end of the writes the vCPU may also halt (KVM_EXIT_HLT, the request pending:
     * the next KVM_RUN exits at once). `late` holds the other exits a faithful PML KVM may give.
     */
    const pml = this.cpuDirtyLogSize;
    const late: ReturnType<typeof lateExits> = [];
    if (ring !== undefined) {
      // KVM checks KVM_REQ_DIRTY_RING_SOFT_FULL before each entry into the guest: with the
      // request pending and the ring soft full it exits; a pending request on a ring no
      // longer soft full is dropped. A push that makes the ring soft full makes the request
      // (kvmVcpuRing: pending in softFull and requestPending).
      let u = (ring.dirty - ring.reset) >>> 0;
      let req = (ring.vcpu as { value: unknown }).value !== 'running';
      for (let i = 0; i <= writes.length; i++) {
        if (req) {
          if (u >= ring.softLimit) {
            want = { done: i, full: true };
            break;
          }
          req = false;
        }
        if (i === writes.length) break;
        if (pushes[i] && (u = (u + 1) >>> 0) >= ring.softLimit) req = true;
      }
      late.push(...lateExits(want, pushes, pml));
    }
    // A collector that marked an entry never pushed (KVM-RING-14's error) ran reset_index past
    // dirty_index: used wrapped above the ring's size with no request pending. Linux v5.11
    // to v6.1 check the soft limit at every guest entry (x86 vcpu_enter_guest, before
    // KVM_REQ_DIRTY_RING_SOFT_FULL: "KVM: x86: Introduce KVM_REQ_DIRTY_RING_SOFT_FULL", Linux
    // v6.2), so such a vCPU exits at once, every time; v6.2 on let it run. Both are KVM's
    // answer to a collector's error, and the kit takes either.
    const overrun = ring !== undefined && (ring.dirty - ring.reset) >>> 0 > ring.entries;
    const what = `KVM_RUN(vCPU ${v}): ${description}`;
    const r = await this.call('run', () => this.inst.run(v, writes), { op: what, expected: `exit ${want.full ? KVM_EXIT_DIRTY_RING_FULL : KVM_EXIT_HLT} after ${want.done} writes`, req: ['KVM-RING-11', 'KVM-RING-12'] });
    if (typeof r?.exitReason !== 'number' || typeof r.done !== 'number') throw new Undecided(`${this.adapter.name} run answered ${JSON.stringify(r)}: expected { exitReason, done }`);
    const wantExit = want.full ? KVM_EXIT_DIRTY_RING_FULL : KVM_EXIT_HLT;
    const taken: NonNullable<TraceStep['transitions']>[number][] = [];
    if (ring !== undefined) {
      const e = this.t.vcpu.step(ring.vcpu, { type: 'RUN' });
      taken.push(...e.taken);
      // The entry: a pending request on a ring below the limit dropped, or the exit at once (softFull stays).
      ring.vcpu = e.next;
    }
    // KVM-RING-12's guard: the ring at its soft limit (the exit owed) or not. Without a ring there is no limit; the pushes (KVM-RING-11) are checked where they are harvested.
    if (ring !== undefined) this.side('KVM-RING-12', want.full);
    // (A KVM_RUN with no writes too: v5.11 to v6.1 exit 31 at its entry, where v6.2 on halt.)
    const alternative = overrun && !(want.full && want.done === 0);
    this.push(
      what,
      `exit ${r.exitReason} after ${r.done} writes`,
      `exit ${wantExit} after ${want.done} writes${alternative ? ` or ${KVM_EXIT_DIRTY_RING_FULL} after 0 (reset_index past dirty_index)` : ''}${late.length > 0 ? ` or, the CPU dirty log pushing up to ${pml} more at the next VM exit,${late.some((l) => l.full) ? ` 31 after ${want.done + 1}..${late.filter((l) => l.full).at(-1)!.done}` : ''}${late.some((l) => !l.full) ? ` 5 after ${writes.length} (the request pending)` : ''}` : ''}`,
      this.take(),
      taken,
    );
    const took = late.find((l) => r.done === l.done && r.exitReason === (l.full ? KVM_EXIT_DIRTY_RING_FULL : KVM_EXIT_HLT));
    if (alternative && r.exitReason === KVM_EXIT_DIRTY_RING_FULL && r.done === 0) want = { done: 0, full: true };
    else if (took !== undefined) want = { done: took.done, full: want.full };
    else if (r.exitReason !== wantExit || r.done !== want.done) {
      // The vCPU stopped where the soft limit says, under another number than KVM_EXIT_DIRTY_RING_FULL: the uAPI's value (KVM-RING-1) is what is wrong.
      const number = want.full && r.done === want.done && r.exitReason !== KVM_EXIT_HLT;
      // A vCPU that runs on past the soft limit has lost nothing yet (the reserve holds its pushes); an entry overwritten is PUSH_ONTO_DIRTY's loss, checked at the push.
      throw new Violation(
        'spec',
        number ? ['KVM-RING-1'] : ['KVM-RING-12'],
        `exit ${wantExit === 31 ? 'KVM_EXIT_DIRTY_RING_FULL' : 'KVM_EXIT_HLT'} (${wantExit}) after ${want.done} writes (soft limit ${ring?.softLimit})`,
        `exit ${r.exitReason} after ${r.done} writes`,
      );
    }
    for (let i = 0; i < want.done; i++) this.written[writes[i]!.slot === this.slotCode(0) ? 0 : 1]!.add(writes[i]!.offset);
    for (let i = 0; i < want.done; i++) {
      if (!pushes[i]) {
        if (ring !== undefined) this.unpushed[v] = true;
        continue;
      }
      const w = writes[i]!;
      const s = w.slot === this.slotCode(0) ? 0 : 1;
      this.protectedPages[s]![w.offset] = 0;
      if (ring === undefined) {
        // The ring is off (a vCPU came first): the write goes to the dirty bitmap, as without the ring.
        this.bitmaps[s]!.add(w.offset);
        continue;
      }
      const idx = ring.dirty & (ring.entries - 1);
      const prev = ring.slots.get(idx);
      const gfn = this.t.gfn.step(prev?.gfn ?? this.t.gfn.initial, { type: 'PUSH' });
      // The forbidden push onto a DIRTY entry (PUSH_ONTO_DIRTY): the push the producer made lands on an entry not harvested.
      if (takesForbidden(gfn))
        throw new Violation(
          'loss',
          ['KVM-RING-12'],
          `vCPU ${v}'s push for ${hex(w.slot)}:${w.offset} lands on an entry not yet harvested and reset (used < ${ring.entries})`,
          `entry ${idx} still DIRTY with ${hex(prev?.slot ?? 0)}:${prev?.offset ?? 0n}: overwritten, its page lost`,
        );
      ring.slots.set(idx, { slot: w.slot, offset: BigInt(w.offset), state: 'dirty', gfn: gfn.next, rewritten: false, run: runNo });
      ring.dirty = (ring.dirty + 1) >>> 0;
      const reaches = (ring.dirty - ring.reset) >>> 0 >= ring.softLimit;
      ring.vcpu = this.t.vcpu.step(ring.vcpu, { type: 'PUSH', reachesSoftLimit: reaches }).next;
    }
  }

  /** The kit's correct collector: acquire the flags, then read slot and offset, then RESET with release. */
  async harvest(v: number, max: number, final = false): Promise<number> {
    const ring = this.rings[v];
    if (ring === undefined) return 0;
    let n = 0;
    const seen: string[] = [];
    // A relaxed store of KVM's still invisible: slot and offset not ordered before the flags would read stale (KVM-RING-22).
    const delayed = this.clock.pending;
    for (; n < Math.min(max, ring.entries); n++) {
      const idx = ring.fetch & (ring.entries - 1);
      const g = ring.slots.get(idx);
      const flags = this.kitSide.load32(flagsAt(ring.base, idx), 'acquire');
      const dirty = (flags & 3) === 1;
      if (g !== undefined) g.gfn = this.t.gfn.step(g.gfn, { type: 'READ' }).next;
      else this.t.gfn.step(this.t.gfn.initial, { type: 'READ' });
      if (!dirty) {
        if (g?.state === 'dirty' && final) throw new Violation('loss', ['KVM-RING-11'], `entry ${idx} of vCPU ${v}'s ring holds the push for ${hex(g.slot)}:${g.offset} (flags DIRTY) once every store is visible`, `flags ${flags}`);
        // Harvested to the first entry not dirty: no entry stood for a write to a writable page since the last such harvest (KVM-RING-11's other side).
        if (this.unpushed[v] === true && (g === undefined || g.state !== 'dirty')) {
          this.side('KVM-RING-11', false);
          this.unpushed[v] = false;
        }
        break;
      }
      if (g === undefined || g.state !== 'dirty')
        throw new Violation(
          'precision',
          ['KVM-RING-11'],
          `entry ${idx} of vCPU ${v}'s ring not dirty (no write to a protected page owed it)`,
          `flags ${flags}, slot ${hex(this.kitSide.load32(slotAt(ring.base, idx), 'relaxed'))}, offset ${this.kitSide.load64(offsetAt(ring.base, idx), 'relaxed')}`,
        );
      const slot = this.kitSide.load32(slotAt(ring.base, idx), 'relaxed');
      const offset = this.kitSide.load64(offsetAt(ring.base, idx), 'relaxed');
      if ((slot !== g.slot || offset !== g.offset) && this.cpuDirtyLogSize > 0 && g.run !== undefined) {
        // KVM-RING-11 with a CPU dirty log: the writes the CPU logged between two VM exits are
        // pushed together at the second, in an order of KVM's (Linux v6.12 vmx_flush_pml_buffer:
        // newest first; v6.14 on: oldest first). So an entry may hold a push of the same KVM_RUN
        // up to B - 1 places later: the ghost takes that order.
        for (let k = 1; k < this.cpuDirtyLogSize; k++) {
          const o = ring.slots.get((ring.fetch + k) & (ring.entries - 1));
          if (o === undefined || o.state !== 'dirty' || o.run !== g.run) continue;
          if (o.slot !== slot || o.offset !== offset) continue;
          [o.slot, o.offset, g.slot, g.offset] = [g.slot, g.offset, o.slot, o.offset];
          break;
        }
      }
      if (slot !== g.slot || offset !== g.offset) {
        throw new Violation(
          'loss',
          ['KVM-RING-11', 'KVM-RING-22'],
          `entry ${idx} of vCPU ${v}'s ring, seen DIRTY by a load-acquire, holds ${hex(g.slot)}:${g.offset}`,
          `${hex(slot)}:${offset} (slot and offset not stored before a release of the flags)`,
        );
      }
      this.kitSide.store32(flagsAt(ring.base, idx), 2, 'release');
      g.gfn = this.t.gfn.step(g.gfn, { type: 'MARK_RESET' }).next;
      g.state = 'harvested';
      ring.fetch = (ring.fetch + 1) >>> 0;
      if (seen.length < 4) seen.push(`${hex(slot)}:${offset}`);
    }
    if (n > 0) {
      // An owed push compared, slot and offset read after the acquire of its flags: KVM-RING-11's guarded side, and
      // KVM-RING-22 where a store of KVM's was still invisible (with every store visible no ordering fault can show).
      this.side('KVM-RING-11', true);
      if (delayed) this.checked('KVM-RING-22');
    }
    // KVM-RING-13 is the collector's rule: here the kit is the collector, and no check of this profile can fail it (dirty-ring-collector checks it).
    if (!final) this.push(`kit collector harvests vCPU ${v} (up to ${max})`, `${n} entries${seen.length > 0 ? ` (${seen.join(', ')}${n > 4 ? ', ...' : ''})` : ''}`, 'the owed pushes, in order', this.take());
    return n;
  }

  /** The hostile collector rewrites slot / offset of harvested, not yet reset entries. */
  hostile(o: Extract<RingOp, { k: 'hostile' }>): void {
    const ring = this.rings[o.vcpu % this.rings.length];
    if (ring === undefined) return;
    if (o.kind === 'markInvalid') return this.markInvalid(o.vcpu % this.rings.length, ring, o.pick);
    const waiting: number[] = [];
    const n = (ring.fetch - ring.reset) >>> 0;
    if (n <= ring.entries) for (let k = 0; k < n; k++) waiting.push((ring.reset + k) & (ring.entries - 1));
    if (waiting.length === 0) return;
    const at = waiting[o.pick % waiting.length]!;
    const g = ring.slots.get(at)!;
    // It rewrites slot and offset, then sets RESET again with a release, so that the reset
    // (acquiring it) must see the rewritten values: a rewrite after the last release would
    // race with the reset, and either value could be read.
    const write = (idx: number, slot: number, offset: bigint) => {
      const e = ring.slots.get(idx)!;
      this.kitSide.store32(slotAt(ring.base, idx), slot, 'relaxed');
      this.kitSide.store64(offsetAt(ring.base, idx), offset, 'relaxed');
      e.slot = slot;
      e.offset = offset;
      e.rewritten = true;
      e.gfn = this.t.gfn.step(e.gfn, { type: 'REWRITE' }).next;
      this.kitSide.store32(flagsAt(ring.base, idx), 2, 'release');
      e.gfn = this.t.gfn.step(e.gfn, { type: 'MARK_RESET' }).next;
    };
    const other = g.slot === this.slotCode(0) ? this.slotCode(1) : this.slotCode(0);
    switch (o.kind) {
      case 'remark': {
        // A collector that looks at a harvested entry again and sets RESET again: harmless.
        const flags = this.kitSide.load32(flagsAt(ring.base, at), 'acquire');
        g.gfn = this.t.gfn.step(g.gfn, { type: 'READ' }).next;
        this.kitSide.store32(flagsAt(ring.base, at), flags | 2, 'release');
        g.gfn = this.t.gfn.step(g.gfn, { type: 'MARK_RESET' }).next;
        break;
      }
      case 'wrap': {
        // The pair of <20260512060742.1628959-1-contact@xchglabs.com>: offset 2^64 - (63 - x),
        // then x; they merge (delta 63) and offset + 63 wraps to page x, a page just pushed.
        const next = waiting[waiting.indexOf(at) + 1];
        const n = next === undefined ? g : ring.slots.get(next)!;
        const x = n.offset < 63n ? n.offset : 0n;
        const slot = n.slot;
        write(at, slot, U64_WRAP_OFFSET + x);
        if (next !== undefined) write(next, slot, x);
        break;
      }
      case 'badAs':
        // The first address space the arch lacks (x86: 2, arm64: 1): a reset that checks as_id > nr instead of >= takes it.
        write(at, (this.limits.addressSpaces << 16) | 0, g.offset);
        break;
      case 'badId':
        write(at, 32764, g.offset);
        break;
      case 'noSlot':
        write(at, 7, g.offset);
        break;
      case 'pastEnd':
        write(at, g.slot, BigInt(g.slot === this.slotCode(0) ? this.memslots[0].npages : this.memslots[1].npages));
        break;
      case 'otherPage':
        write(at, g.slot, (g.offset + 1n) % 64n);
        break;
      case 'otherSlot':
        write(at, other, g.offset % 64n);
        break;
    }
    // The kit's own stores: nothing of KVM's is compared until the reset (KVM-RING-18 there).
    this.push(`hostile collector rewrites entry ${at} of vCPU ${o.vcpu % this.rings.length} (${o.kind})`, 'stored', 'a later reset validates it', []);
  }

  /**
   * A collector that sets RESET on the entry at dirty_index, never pushed (KVM-RING-14's
   * error): KVM's reset consumes it and reset_index runs one past dirty_index. The kit
   * predicts what KVM then does: used wraps to 2^32 - 1 without a pending request (the
   * vCPU runs on), the next push lands in that entry, and the reset stays one entry ahead.
   */
  markInvalid(v: number, ring: GhostRing, pick: number): void {
    const idx = ring.dirty & (ring.entries - 1);
    if (ring.fetch !== ring.dirty || ring.slots.has(idx)) return;
    const slot = this.slotCode(0);
    const offset = BigInt(pick % this.memslots[0].npages);
    this.kitSide.store32(slotAt(ring.base, idx), slot, 'relaxed');
    this.kitSide.store64(offsetAt(ring.base, idx), offset, 'relaxed');
    this.kitSide.store32(flagsAt(ring.base, idx), 2, 'release');
    ring.slots.set(idx, { slot, offset, state: 'harvested', gfn: this.t.gfn.step(this.t.gfn.initial, { type: 'MARK_RESET' }).next, rewritten: true });
    // The kit's own stores (KVM-RING-14's error, made on purpose): KVM's answer is compared at the reset.
    this.push(`hostile collector sets RESET on vCPU ${v}'s entry ${idx}, never pushed (naming ${hex(slot)}:${offset})`, 'stored', 'the next reset consumes it: reset_index passes dirty_index', []);
  }

  async reset(what = 'KVM_RESET_DIRTY_RINGS'): Promise<void> {
    const x = this.vmStep({ type: 'RESET_RINGS' });
    const signalFrom = this.adapter.checksSignals === true ? this.sc.signals?.[this.resets] : undefined;
    this.resets++;
    const batchesPerRing: { ring: GhostRing; entries: { ring: GhostRing; idx: number; e: GhostEntry }[]; stop: GhostEntry | undefined }[] = [];
    for (const ring of this.rings) {
      if (ring === undefined) continue;
      const mine: { ring: GhostRing; idx: number; e: GhostEntry }[] = [];
      let stop: GhostEntry | undefined;
      for (let i = ring.reset; ; i = (i + 1) >>> 0) {
        const idx = i & (ring.entries - 1);
        const e = ring.slots.get(idx);
        if (e === undefined || e.state !== 'harvested' || mine.length >= ring.entries) {
          stop = e;
          break;
        }
        mine.push({ ring, idx, e });
      }
      batchesPerRing.push({ ring, entries: mine, stop });
    }
    const limits = this.limits;
    const harvested = batchesPerRing.reduce((n, b) => n + b.entries.length, 0);
    const signalled = signalFrom !== undefined && signalFrom >= 0 && x.outcome === 'ok';
    // The signal is input the kit made: the step names it, so that a counterexample shows it.
    const op = signalled ? `${what}, a signal pending from its signal_pending() check ${signalFrom} (from 0)` : what;
    const expected = x.outcome !== 'ok' ? `${ERRNO[x.outcome]!}` : signalled ? `0..${harvested} (the entries consumed before it stops), or -EINTR` : `${harvested}`;
    const race = x.outcome === 'ok' ? this.raceFor(batchesPerRing, this.sc.resetRaces?.[this.resets - 1]) : undefined;
    this.signals.begin(x.outcome === 'ok' ? signalFrom : undefined, race);
    let got: number;
    try {
      got = await this.call('resetDirtyRings', () => this.inst.resetDirtyRings(), { op, expected, req: x.outcome === 'ok' ? ['KVM-RING-15', 'KVM-RING-19', ...(signalled ? ['KVM-RING-24'] : [])] : x.entry.req });
    } finally {
      this.signals.end();
    }
    // The ioctl ran on the collector's thread: on x86-TSO its stores (the cleared flags) are in
    // that thread's store buffer, which its own loads read (Linux v5.11 kvm_dirty_gfn_set_invalid
    // is a plain store). Drained here, so the check below reads what that thread sees.
    if (this.arch === 'x86') this.memory.fence('kvm');
    // KVM-RING-24: a reset that saw the signal may have stopped before a harvested entry, in
    // any ring. What it consumed is each ring's prefix of entries whose flags it cleared; the
    // entries after it must keep RESET, for a later reset.
    const interrupted = this.signals.delivered && x.outcome === 'ok';
    if (interrupted) {
      this.checked('KVM-RING-24');
      for (const b of batchesPerRing) {
        const flags = b.entries.map((c) => this.kitSide.load32(flagsAt(b.ring.base, c.idx), 'acquire'));
        const { consumed, strayAt } = consumedByStoppedReset(flags);
        if (strayAt !== undefined)
          throw new Violation(
            'spec',
            ['KVM-RING-24', 'KVM-RING-15'],
            `a reset stopped by a signal consumes a prefix of each ring's harvested entries: entry ${b.entries[strayAt]!.idx}, after the ${consumed} consumed, keeps RESET`,
            `entry ${b.entries[strayAt]!.idx} has flags ${flags[strayAt]}`,
          );
        b.entries = b.entries.slice(0, consumed);
      }
    }
    const consumed = batchesPerRing.flatMap((b) => b.entries);
    // A rewritten entry the reset consumed (one a signal left unconsumed names nothing yet).
    const hostile = consumed.some((c) => c.e.rewritten);
    // KVM-RING-19: each ring's reset stops at the entry after its harvested ones and leaves it as it is (where no signal stopped it first).
    let stopsAtDirty = false;
    if (!interrupted)
      for (const b of batchesPerRing) {
        if (b.stop === undefined) this.t.gfn.step(this.t.gfn.initial, { type: 'RESET', valid: true });
        else b.stop.gfn = this.t.gfn.step(b.stop.gfn, { type: 'RESET', valid: true }).next;
        if (b.stop?.state === 'dirty') stopsAtDirty = true;
      }
    const batched = batchesPerRing.map(({ ring, entries }) => ({ ring, entries, ...resetBatchesOf(entries.map((c) => ({ slot: c.e.slot, offset: c.e.offset }))) }));
    const want = x.outcome === 'ok' ? consumed.length : ERRNO[x.outcome]!;
    if (x.outcome === 'ok') this.resetSides(batched, limits, stopsAtDirty, interrupted);
    // A signal drawn past the checks the reset made was never pending: the step says so.
    const stepOp = signalled && !interrupted ? `${what}, a signal due at its signal_pending() check ${signalFrom} (from 0), not reached` : op;
    this.push(stepOp, `${got}`, interrupted ? `${want} (the entries it consumed before the signal stopped it) or -EINTR` : expected, x.outcome === 'ok' ? this.take() : x.entry.req, x.entry.taken);
    // A count past the harvested entries went on past an entry it should have stopped at (KVM-RING-19); one short of them stopped early (KVM-RING-15 alone).
    const countRules = interrupted ? ['KVM-RING-24', 'KVM-RING-15'] : typeof got === 'number' && got > want ? ['KVM-RING-15', 'KVM-RING-19'] : ['KVM-RING-15'];
    if (got !== want && !(interrupted && got === -EINTR))
      throw new Violation(
        'spec',
        x.outcome === 'ok' ? countRules : x.entry.req,
        `${what} returns ${want}${interrupted ? ' (the entries it consumed before the signal stopped it) or -EINTR' : x.outcome === 'ok' ? ' (the harvested entries from each reset_index)' : ''}`,
        `${String(got)}`,
      );
    if (x.outcome !== 'ok') return;
    for (const { ring, entries, batches, batchOf } of batched) {
      for (const p of reprotectedPages(batches, this.memslots, limits)) this.protectedPages[p.slot === this.slotCode(0) ? 0 : 1]![p.offset] = 1;
      this.mayProtect(spannedPages(this.arch, batches, this.memslots, limits));
      // The batch each entry fell in, for its machine step.
      for (const [k, c] of entries.entries()) {
        const batch = batches[batchOf[k]!]!;
        c.e.gfn = this.t.gfn.step(c.e.gfn, { type: 'RESET', valid: resetBatchValid(batch, this.memslots, limits) }).next;
        ring.slots.delete(c.idx);
        const flags = this.kitSide.load32(flagsAt(ring.base, c.idx), 'acquire');
        if (flags !== 0) throw new Violation('spec', ['KVM-RING-15'], `entry ${c.idx} consumed by the reset has flags 0`, `flags ${flags}`);
      }
      ring.reset = (ring.reset + entries.length) >>> 0;
      ring.vcpu = this.t.vcpu.step(ring.vcpu, { type: 'RESET', belowSoftLimit: (ring.dirty - ring.reset) >>> 0 < ring.softLimit }).next;
    }
    if (race !== undefined && this.signals.raced) this.racedWrite(race, batched, limits);
    try {
      await this.checkProtection(
        what,
        hostile,
        batchesPerRing.some((b) => b.entries.length >= 2),
      );
    } catch (e) {
      // A stopped reset re-protects the pages of every entry it consumed, the open batch's included (KVM-RING-24).
      if (interrupted && e instanceof Violation && !e.req.includes('KVM-RING-24')) throw new Violation(e.kind, ['KVM-RING-24', ...e.req], e.expected, e.actual);
      throw e;
    }
    if (race !== undefined && this.signals.raced) await this.writeAgain(race);
  }

  /**
   * The write of vCPU 0's that races a reset (RingScenario.resetRaces): the page the
   * `pick`-th harvested entry names, where the kit can judge it: a valid memslot page whose
   * protection it knows, no CPU dirty log (whose pushes come at a later exit), vCPU 0's ring
   * well below its soft limit.
   */
  private raceFor(batchesPerRing: readonly { ring: GhostRing; entries: readonly { e: GhostEntry }[] }[], draw: { readonly at: number; readonly pick: number } | null | undefined): RacedWrite | undefined {
    const ring = this.rings[0];
    if (draw === null || draw === undefined || ring === undefined || this.cpuDirtyLogSize > 0 || (ring.dirty - ring.reset) >>> 0 >= ring.softLimit - 2) return undefined;
    // A collector that marked entries KVM never pushed (KVM-RING-14's error) runs reset_index past dirty_index: a push would land on an entry this reset consumes.
    const mine = batchesPerRing.find((b) => b.ring === ring)?.entries.length ?? 0;
    if (mine > (ring.dirty - ring.reset) >>> 0) return undefined;
    const named = batchesPerRing.flatMap((b) => b.entries).filter((c) => !c.e.rewritten);
    if (named.length === 0) return undefined;
    const { slot, offset } = named[draw.pick % named.length]!.e;
    const s = slot === this.slotCode(0) ? 0 : slot === this.slotCode(1) ? 1 : undefined;
    if (s === undefined || offset >= BigInt(this.memslots[s]!.npages)) return undefined;
    const before = this.protectedPages[s]![Number(offset)]!;
    if (before === 2) return undefined;
    return { at: draw.at, write: { slot, offset: Number(offset) }, s, before };
  }

  /**
   * KVM-RING-16 with vCPU 0 running during the reset: its write came before the page's
   * re-protection (no push: the page was writable; the reset then protects it) or after it
   * (a push), or, the page protected all along, pushed in any case. Read in vCPU 0's ring
   * where the push would be; the ghost takes the entry, and the page's protection that the
   * write leaves.
   */
  private racedWrite(race: RacedWrite, batched: readonly { readonly batches: readonly Parameters<typeof resetBatchValid>[0][] }[], limits: Parameters<typeof resetBatchValid>[2]): void {
    const ring = this.rings[0]!;
    const { slot, offset } = race.write;
    const idx = ring.dirty & (ring.entries - 1);
    const flags = this.kitSide.load32(flagsAt(ring.base, idx), 'acquire');
    const pushed = (flags & 3) === 1 && this.kitSide.load32(slotAt(ring.base, idx), 'relaxed') === slot && this.kitSide.load64(offsetAt(ring.base, idx), 'relaxed') === BigInt(offset);
    const key = `${slot}:${offset}`;
    // The batches that protect the page (name it, or on arm64 span it): a reset protects with each in turn.
    const protections = batched.reduce(
      (n, b) => n + b.batches.filter((batch) => [...reprotectedPages([batch], this.memslots, limits), ...spannedPages(this.arch, [batch], this.memslots, limits)].some((p) => `${p.slot}:${p.offset}` === key)).length,
      0,
    );
    const protectsIt = protections > 0;
    const what = `  vCPU 0 writes ${hex(slot)}:${offset} while the reset runs (at its vcpuBetween call ${race.at})`;
    const expected = race.before === 1 ? 'a push (the page was write-protected)' : protectsIt ? 'a push or none (before or after the page is re-protected)' : 'no push (the page is writable)';
    this.push(what, pushed ? `a push at entry ${idx}` : 'no push', expected, []);
    if (!pushed && race.before === 1) throw new Violation('loss', ['KVM-RING-11'], `vCPU 0's write to write-protected ${key} during the reset pushes an entry at ${idx}`, 'no entry: the write is unrecorded');
    if (pushed && race.before === 0 && !protectsIt) throw new Violation('precision', ['KVM-RING-11'], `vCPU 0's write to writable ${key} during the reset pushes nothing`, `an entry at ${idx}`);
    this.written[race.s]!.add(offset);
    if (!pushed) {
      this.unpushed[0] = true;
      return;
    }
    const prev = ring.slots.get(idx);
    const gfn = this.t.gfn.step(prev?.gfn ?? this.t.gfn.initial, { type: 'PUSH' });
    ring.slots.set(idx, { slot, offset: BigInt(offset), state: 'dirty', gfn: gfn.next, rewritten: false, run: ++this.runs });
    ring.dirty = (ring.dirty + 1) >>> 0;
    ring.vcpu = this.t.vcpu.step(ring.vcpu, { type: 'PUSH', reachesSoftLimit: (ring.dirty - ring.reset) >>> 0 >= ring.softLimit }).next;
    // Writable before the reset and protected by one batch, the push came after that protection: writable
    // now. Protected all along, it came before or after the re-protection (if any); protected by two batches
    // (arm64: one names the page, another's range spans it), it may have come between them: either.
    this.protectedPages[race.s]![offset] = protections > 1 || (race.before === 1 && protectsIt) ? 2 : 0;
  }

  /**
   * After a raced reset, vCPU 0 writes the raced page again: where the reset left it
   * write-protected, the write must push (KVM-RING-16: "the next write to each of them
   * pushes"). A translation the racing write cached, flushed before the protection instead
   * of after it, takes this write unrecorded.
   */
  private async writeAgain(race: RacedWrite): Promise<void> {
    const ring = this.rings[0]!;
    const owed = this.protectedPages[race.s]![race.write.offset] === 1;
    const before = ring.dirty;
    await this.runWrites(0, [race.write], `the page written during the reset, again`);
    if (!owed || ring.dirty === before || this.clock.pending) return;
    const idx = before & (ring.entries - 1);
    if ((this.kitSide.load32(flagsAt(ring.base, idx), 'acquire') & 3) !== 1)
      throw new Violation(
        'loss',
        ['KVM-RING-16', 'KVM-RING-11'],
        `after the reset re-protected ${hex(race.write.slot)}:${race.write.offset}, the next write to it pushes an entry (at ${idx})`,
        'no entry: a translation cached writable during the reset outlived the protection (a TLB flushed before the protection, not after it?)',
      );
  }

  /**
   * What a reset with the ring on compares, before it is made: its count and the flags it
   * clears (KVM-RING-15) where it consumes an entry or stops at one KVM pushed; then, each
   * on both sides, the stop (KVM-RING-19: at an entry pushed and not harvested, or past
   * consumed ones), the re-protection (KVM-RING-16: a page a consumed entry names, and a
   * writable page none names), the coalescing (KVM-RING-17: two entries in one batch, and
   * two consecutive ones in two) and the validation (KVM-RING-18: a batch invalid, and one
   * valid), all read by the protection check that follows.
   */
  resetSides(
    batched: readonly { readonly entries: readonly unknown[]; readonly batches: readonly Parameters<typeof resetBatchValid>[0][]; readonly batchOf: readonly number[] }[],
    limits: Parameters<typeof resetBatchValid>[2],
    stopsAtDirty: boolean,
    /** A signal stopped it (KVM-RING-24): where it stopped says nothing of KVM-RING-19. */
    interrupted = false,
  ): void {
    const consumed = batched.some((b) => b.entries.length > 0);
    if (consumed || stopsAtDirty) this.checked('KVM-RING-15');
    if (stopsAtDirty) this.side('KVM-RING-19', true);
    if (consumed && !interrupted) this.side('KVM-RING-19', false);
    const named = new Set<string>();
    for (const b of batched) for (const p of reprotectedPages(b.batches, this.memslots, limits)) named.add(`${p.slot}:${p.offset}`);
    if (named.size > 0) this.side('KVM-RING-16', true);
    // The other side: a writable page no batch names nor (arm64) spans, which must stay writable.
    const spanned = new Set(batched.flatMap((b) => spannedPages(this.arch, b.batches, this.memslots, limits)).map((p) => `${p.slot}:${p.offset}`));
    if (this.protectedPages.some((prot, i) => prot.some((bit, p) => bit === 0 && !named.has(`${this.slotCode(i)}:${p}`) && !spanned.has(`${this.slotCode(i)}:${p}`)))) this.side('KVM-RING-16', false);
    for (const b of batched) {
      const sizes = new Map<number, number>();
      for (const k of b.batchOf) sizes.set(k, (sizes.get(k) ?? 0) + 1);
      if ([...sizes.values()].some((n) => n >= 2)) this.side('KVM-RING-17', true);
      if (b.batchOf.some((k, i) => i > 0 && k !== b.batchOf[i - 1])) this.side('KVM-RING-17', false);
      for (const batch of b.batches) this.side('KVM-RING-18', !resetBatchValid(batch, this.memslots, limits));
    }
  }

  async noVcpu(o: Extract<RingOp, { k: 'noVcpu' }>): Promise<void> {
    const x = this.vmStep({ type: 'WRITE_NO_VCPU' });
    await this.call('writeWithoutVcpu', () => this.inst.writeWithoutVcpu({ slot: this.slotCode(o.slot), offset: o.offset }), {
      op: `KVM writes ${hex(this.slotCode(o.slot))}:${o.offset} without a running vCPU`,
      expected: 'done',
      req: x.entry.req,
    });
    if (x.effects.has('setBitmap')) {
      this.bitmaps[o.slot]!.add(o.offset);
      this.noVcpuPages[o.slot]!.add(o.offset);
    }
    // Nothing of KVM's is compared here but the protection: the bit is read by KVM_GET_DIRTY_LOG (KVM-RING-21 there).
    this.push(`KVM writes ${hex(this.slotCode(o.slot))}:${o.offset} without a running vCPU`, 'done', x.effects.has('setBitmap') ? 'its bitmap bit set' : 'not recorded (no bitmap)', [], x.entry.taken);
    await this.checkProtection('a write without a vCPU (no MMU fault: protection unchanged)', false);
  }

  async getLog(o: Extract<RingOp, { k: 'getLog' }>): Promise<void> {
    const x = this.vmStep({ type: 'GET_DIRTY_LOG' });
    const want = ERRNO[x.outcome]!;
    const r = await this.call('getDirtyLog', () => this.inst.getDirtyLog(this.slotCode(o.slot)), { op: `KVM_GET_DIRTY_LOG(slot ${hex(this.slotCode(o.slot))})`, expected: `${want}`, req: x.entry.req });
    const got = checkErrno('getDirtyLog', r?.errno);
    const wantPages = [...this.bitmaps[o.slot]!].sort((a, b) => a - b);
    // KVM-RING-21 where the bitmap compared must hold a page KVM wrote without a vCPU; the errno is the transition's rule (KVM-RING-9, or -21 for its 0).
    const plain = x.entry.req.filter((id) => id !== 'KVM-RING-21');
    if (want === 0 && this.noVcpuPages[o.slot]!.size > 0) plain.push('KVM-RING-21');
    this.push(`KVM_GET_DIRTY_LOG(slot ${hex(this.slotCode(o.slot))})`, `${got}`, `${want}${want === 0 ? ` with pages [${wantPages.join(', ')}]` : ''}`, this.take(plain), x.entry.taken);
    if (got !== want) throw new Violation('spec', x.entry.req, `KVM_GET_DIRTY_LOG returns ${want} (${x.outcome})`, `${got}`);
    if (got !== 0) return;
    const n = this.memslots[o.slot]!.npages;
    const b = r.bitmap;
    if (!(b instanceof Uint8Array) || b.length !== Math.ceil(n / 64) * 8)
      throw new Undecided(`${this.adapter.name} getDirtyLog answered a bitmap of ${b instanceof Uint8Array ? b.length : typeof b} bytes: ${Math.ceil(n / 64) * 8} expected`);
    const pages: number[] = [];
    for (let p = 0; p < n; p++) if ((b[p >> 3]! >> (p & 7)) & 1) pages.push(p);
    if (pages.join() !== wantPages.join())
      throw new Violation(pages.length < wantPages.length ? 'loss' : 'precision', ['KVM-RING-21'], `the bitmap holds the pages written without a vCPU: [${wantPages.join(', ')}]`, `[${pages.join(', ')}]`);
    this.bitmaps[o.slot]!.clear();
    this.noVcpuPages[o.slot]!.clear();
    for (const p of pages) this.protectedPages[o.slot]![p] = 1;
    // KVM_GET_DIRTY_LOG re-protects what it reports (KVM-RING-21), a word at a time, on arm64 as one range (KVM-RING-16): read what it took.
    this.mayProtect(spannedPages(this.arch, bitmapBatches(this.slotCode(o.slot), pages), this.memslots, this.limits));
    await this.checkProtection(`KVM_GET_DIRTY_LOG(${hex(this.slotCode(o.slot))})`, false, false, ['KVM-RING-21', 'KVM-RING-16']);
  }

  async op(o: RingOp): Promise<void> {
    this.steps++;
    switch (o.k) {
      case 'run':
        return this.run(o);
      case 'harvest':
        await this.harvest(o.vcpu % this.rings.length, o.max);
        return;
      case 'hostile':
        return this.hostile(o);
      case 'reset':
        return this.reset();
      case 'noVcpu':
        return this.noVcpu(o);
      case 'getLog':
        return this.getLog(o);
      case 'enable':
        return this.enable(o.cap, o.size);
      case 'fill':
        return this.fill(o);
      case 'checkExt':
        return this.checkExt(o.cap);
    }
  }

  /** Every store visible: every owed push must be in the ring; the kit harvests and resets all. */
  async finish(): Promise<void> {
    this.clock.settle();
    let n = 0;
    for (let v = 0; v < this.rings.length; v++) n += await this.harvest(v, 1 << 20, true);
    this.push('final: every store visible, the kit harvests every ring', `${n} entries`, 'every owed push, in order', this.take());
    if (this.ringOn) await this.reset('final KVM_RESET_DIRTY_RINGS');
  }
}

async function runScenario(ctx: RunContext, adapter: KvmDirtyRingAdapter, sc: RingScenario, limits: CallLimits, trace: TraceStep[], delaysOn: boolean): Promise<number> {
  const pml = adapter.cpuDirtyLogSize;
  if (pml !== undefined && !(Number.isSafeInteger(pml) && pml >= 0 && pml <= 65536)) throw new Undecided(`${adapter.name}: cpuDirtyLogSize must be an integer from 0 to 65536 (kvm_cpu_dirty_log_size(): 512 with PML), got ${String(pml)}`);
  // KVM on x86 runs on x86-TSO (its plain flags accesses up to Linux v6.0 are ordered by the CPU: ordered-memory.ts).
  const memory = new OrderedMemory({ delays: sc.delays, delaysOn, tso: sc.config.arch === 'x86' ? ['kvm'] : [] });
  const clock = new StoreClock(memory, sc.delays, delaysOn);
  const signals = new KitSignals();
  const inst = await timed(`${adapter.name} create`, limits.timeoutMs, () => adapter.create(clock.watch(sideOf(memory, 'kvm')), { arch: sc.config.arch }, signals), limits.watch);
  if (typeof inst !== 'object' || inst === null || typeof inst.run !== 'function') throw new Undecided(`${adapter.name} create answered ${String(inst)}: expected a VM instance`);
  const run = new RingRun(ctx, adapter, inst, sc, memory, limits, trace, clock, signals);
  await run.setup();
  for (const o of sc.ops) {
    await run.op(o);
    clock.tick();
  }
  for (const s of sc.aimed ?? []) {
    if (s.at !== 'end') continue;
    await run.op(s.op);
    clock.tick();
  }
  await run.finish();
  return run.steps;
}

/** Every requirement the profile gives a verdict on. */
/** Not KVM-RING-13 or -14: the collector's rules, which the kit's own collector keeps here (dirty-ring-collector checks them). */
export const KVM_DIRTY_RING_REQUIREMENTS: readonly string[] = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15, 16, 17, 18, 19, 21, 22].map((n) => `KVM-RING-${n}`);

export interface RingRunOptions extends RunOptions {
  /** false: relaxed stores are visible at once (ordering faults cannot show). Default true. */
  readonly delays?: boolean;
}

export function runKvmDirtyRingProfile(adapter: KvmDirtyRingAdapter, options: RingRunOptions): Promise<ProfileResult> {
  const ctx = new RunContext();
  return runScenarioProfile(
    {
      name: KVM_DIRTY_RING_PROFILE,
      adapter: adapter.name,
      arbitrary: ringScenarioArbitrary(options.maxCommands),
      run: (sc, trace) => runScenario(ctx, adapter, sc, options, trace, options.delays !== false),
      // KVM-RING-24 only where the adapter's reset checks signals: no other reset can be stopped by one.
      requirements: adapter.checksSignals === true ? [...KVM_DIRTY_RING_REQUIREMENTS, 'KVM-RING-24'] : KVM_DIRTY_RING_REQUIREMENTS,
      coverage: () => ringCoverage(ctx),
      configOf: (sc) => {
        const pml = sc.config.arch === 'x86' ? (adapter.cpuDirtyLogSize ?? 0) : 0;
        return { arch: sc.config.arch, ringBytes: sc.config.ringBytes * ringSizeScale(pml), vcpus: sc.config.vcpus, withBitmap: sc.config.withBitmap, vcpuBeforeRing: sc.config.late, ...(pml === 0 ? {} : { cpuDirtyLogSize: pml }) };
      },
    },
    options,
  );
}

/** Runs one recorded scenario again. Throws Violation or Undecided. */
export function replayKvmDirtyRingScenario(adapter: KvmDirtyRingAdapter, sc: unknown, timeoutMs: number, trace: TraceStep[], delaysOn = true): Promise<number> {
  return runScenario(new RunContext(), adapter, sc as RingScenario, { timeoutMs }, trace, delaysOn);
}
