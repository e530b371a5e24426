// What both dirty-ring profiles share: the three ring machines compiled into tables once
// per process (with their coverage), the kit's ring memory as each side sees it, and the
// memslots the scenarios use.
import type { OrderedMemory, RingThread } from '../../../model/kvm-dirty-ring/ordered-memory.ts';
import type { AnyStateMachine, EventFromLogic, SnapshotFrom } from 'xstate';
import { type RunContext, compiledTable } from '../../../model/run-context.ts';
import type { TableEntry, TransitionTable } from '../../../model/transition-table.ts';
import { KVM_DIRTY_GFN_EVENTS, KVM_DIRTY_RING_VM_EVENTS, KVM_VCPU_RING_EVENTS, kvmDirtyGfnMachine, kvmDirtyRingVmMachine, kvmVcpuRingMachine } from '../../../spec/kvm/dirty-ring/ring-machines.ts';
import type { CoverageFigure } from '../../engine/run-profile.ts';
import { machineTransitions } from '../../../spec/machines.ts';
import type { KitRingMemory } from './types.ts';

/** A compiled machine stepped through the run's context (which records its coverage). */
export interface CoveredTable<M extends AnyStateMachine> {
  readonly table: TransitionTable<M>;
  readonly initial: SnapshotFrom<M>;
  step(snapshot: SnapshotFrom<M>, event: EventFromLogic<M>): TableEntry<M>;
}

function through<M extends AnyStateMachine>(ctx: RunContext, table: TransitionTable<M>): CoveredTable<M> {
  return { table, initial: table.initial, step: (s, e) => ctx.step(table, s, e) };
}

/** The ring machines (compiled once, shared), stepped through `ctx`. */
export function ringTables(ctx: RunContext) {
  return {
    vm: through(ctx, compiledTable(kvmDirtyRingVmMachine, KVM_DIRTY_RING_VM_EVENTS)),
    gfn: through(ctx, compiledTable(kvmDirtyGfnMachine, KVM_DIRTY_GFN_EVENTS)),
    vcpu: through(ctx, compiledTable(kvmVcpuRingMachine, KVM_VCPU_RING_EVENTS)),
  };
}

export type RingTables = ReturnType<typeof ringTables>;

const FORBIDDEN = new Set(
  [kvmDirtyRingVmMachine, kvmDirtyGfnMachine, kvmVcpuRingMachine].flatMap((m) =>
    machineTransitions(m)
      .filter((t) => t.meta?.forbidden !== undefined)
      .map((t) => `${m.id}|${t.key}`),
  ),
);

/** Whether a step took a forbidden transition (RuleMeta.forbidden: kvmDirtyGfn's PUSH onto a DIRTY entry). */
export function takesForbidden(entry: { readonly taken: readonly { readonly machine: string; readonly transition: string }[] }): boolean {
  return entry.taken.some((t) => FORBIDDEN.has(`${t.machine}|${t.transition}`));
}

/** The run's coverage of the three ring machines. */
export function ringCoverage(ctx: RunContext): Record<string, CoverageFigure> {
  return { kvmDirtyRingVm: ctx.coverage(kvmDirtyRingVmMachine), kvmDirtyGfn: ctx.coverage(kvmDirtyGfnMachine), kvmVcpuRing: ctx.coverage(kvmVcpuRingMachine) };
}

/** The ring memory as one side sees it: every access on `thread`, checked for shape. */
export function sideOf(memory: OrderedMemory, thread: RingThread): KitRingMemory {
  const order = (o: unknown, allowed: readonly string[], what: string) => {
    if (!allowed.includes(o as string)) throw new TypeError(`${what}: order must be one of ${allowed.join(', ')}, got ${String(o)}`);
    return o as never;
  };
  return {
    load32: (addr, o) => Number(memory.load(thread, addr, 4, order(o, ['relaxed', 'acquire'], 'load32'))),
    load64: (addr, o) => memory.load(thread, addr, 8, order(o, ['relaxed', 'acquire'], 'load64')),
    store32: (addr, value, o) => {
      if (!Number.isInteger(value) || value < 0 || value >= 2 ** 32) throw new RangeError(`store32 at 0x${addr.toString(16)}: value ${value} is not a u32`);
      memory.store(thread, addr, 4, BigInt(value), order(o, ['relaxed', 'release'], 'store32'));
    },
    store64: (addr, value, o) => memory.store(thread, addr, 8, value, order(o, ['relaxed', 'release'], 'store64')),
  };
}

/** Ring v's base address in the kit's memory (1 MiB apart, above 1 MiB). */
export const ringBase = (v: number) => 0x10_0000 * (v + 1);
export const GFN = 16;
export const flagsAt = (base: number, i: number) => base + i * GFN;
export const slotAt = (base: number, i: number) => base + i * GFN + 4;
export const offsetAt = (base: number, i: number) => base + i * GFN + 8;

/** A memslot a scenario creates: its address space, its id in it, its pages (slot code as_id << 16 | id). */
export interface RingMemslot {
  readonly asId: number;
  readonly id: number;
  readonly npages: number;
}

/**
 * The memslots of the collector profile's KVM, and of a kvm-dirty-ring scenario on x86:
 * slot code (as_id << 16 | id) and pages. The second is in address space 1 (SMM, as QEMU
 * makes it) with the first one's id, so a ring entry, a reset or a collector that drops the
 * address space (`slot = memslot->id`, or a lookup of the u32 code without `(u16)`) names
 * the other memslot or none (Linux v6.12.117 virt/kvm/dirty_ring.c kvm_dirty_ring_push,
 * kvm_reset_dirty_gfn: as_id = slot >> 16, id = (u16)slot).
 */
export const RING_MEMSLOTS: readonly RingMemslot[] = [
  { asId: 0, id: 0, npages: 256 },
  { asId: 1, id: 0, npages: 64 },
];
export const slotCode = (i: number, memslots: readonly RingMemslot[] = RING_MEMSLOTS) => (memslots[i]!.asId << 16) | memslots[i]!.id;

/** arm64 has one address space (KVM_ADDRESS_SPACE_NUM 1): both memslots are in address space 0 there. */
const ARM64_MEMSLOTS: readonly RingMemslot[] = [
  { asId: 0, id: 0, npages: 256 },
  { asId: 0, id: 1, npages: 64 },
];

/** The memslots of a kvm-dirty-ring scenario on `arch`. */
export function ringMemslots(arch: 'x86' | 'arm64', firstPages = 256): readonly RingMemslot[] {
  const m = arch === 'x86' ? RING_MEMSLOTS : ARM64_MEMSLOTS;
  return firstPages === m[0]!.npages ? m : [{ ...m[0]!, npages: firstPages }, m[1]!];
}

/**
 * What one run's steps really checked, for the trace steps' `req` (the runner counts a
 * requirement reached once a step lists it: engine/scenario-profile.ts). A step lists a
 * requirement only where its check compared an observation that could have failed it.
 * For a rule with a guard (a case that arises or not: a ring that reaches its soft limit,
 * a batch that is invalid, a size that is refused), each step that compared one side of
 * it says which (`side`), and the requirement is listed only once the run has compared
 * both: from the step that completes the pair on. Both ring profiles use it.
 */
export class RunReach {
  /** Per requirement: 1 the guarded case arose and was compared, 2 the other case did. */
  private readonly sides = new Map<string, number>();
  private readonly done = new Set<string>();

  /** The guarded case of `id` (`held`) or its other case arose at this step and was compared; true once both have, in this run. */
  side(id: string, held: boolean): boolean {
    const s = (this.sides.get(id) ?? 0) | (held ? 1 : 2);
    this.sides.set(id, s);
    if (s === 3) this.done.add(id);
    return s === 3;
  }

  /** Whether both sides of `id` arose in this run. */
  has(id: string): boolean {
    return this.done.has(id);
  }

  /** The requirements of `ids` that are checked at this step: those without a guard here (`always`), and the guarded ones both of whose sides arose. */
  list(always: readonly string[], guarded: readonly string[] = []): string[] {
    return [...new Set([...always, ...guarded.filter((id) => this.done.has(id))])];
  }
}

/**
 * The kit's steps, and when one side's relaxed stores become visible to the other. The
 * memory delays the k-th relaxed store of a thread by `delays[k]` steps (0 past the list,
 * all 0 with delays off: model/kvm-dirty-ring/ordered-memory.ts); a store made at step t
 * with delay d is invisible, unless an acquire synchronises with a release carrying it,
 * until step t + d. An ordering fault of that side (slot and offset not ordered before the
 * flags: KVM-RING-22) can only show to a reader while one of its stores is still invisible.
 * The runs step the memory through `tick` and `settle`; the watched side's stores through
 * the side `watch` returns.
 */
export class StoreClock {
  now = 0;
  /** The step at which the last relaxed store through the watched side becomes visible (`now` if at once). */
  lastDue = 0;
  private until = 0;
  private relaxed = 0;
  private settled = false;

  constructor(
    private readonly memory: OrderedMemory,
    private readonly delays: readonly number[],
    private readonly delaysOn: boolean,
  ) {}

  /** `side`, its relaxed stores timed. */
  watch(side: KitRingMemory): KitRingMemory {
    const timed = (order: string) => {
      if (order !== 'relaxed') return;
      const d = this.delaysOn ? (this.delays[this.relaxed] ?? 0) : 0;
      this.relaxed++;
      this.lastDue = this.now + Math.max(0, d);
      this.until = Math.max(this.until, this.lastDue);
    };
    return {
      load32: (a, o) => side.load32(a, o),
      load64: (a, o) => side.load64(a, o),
      store32: (a, v, o) => {
        side.store32(a, v, o);
        timed(o);
      },
      store64: (a, v, o) => {
        side.store64(a, v, o);
        timed(o);
      },
    };
  }

  /** One kit step passes (OrderedMemory.tick). */
  tick(): void {
    this.memory.tick();
    this.now++;
  }

  /** Every store visible (OrderedMemory.settle): nothing is invisible from now on. */
  settle(): void {
    this.memory.settle();
    this.settled = true;
  }

  /** Whether a store made visible at step `due` is still invisible now. */
  invisible(due: number): boolean {
    return !this.settled && due > this.now;
  }

  /** Whether a relaxed store through the watched side is still invisible now. */
  get pending(): boolean {
    return this.invisible(this.until);
  }
}
