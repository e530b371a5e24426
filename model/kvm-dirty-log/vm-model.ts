// What the spec predicts of a KVM VM's dirty log, call by call: the slots as userspace set
// them (the view args.ts classifies against), one kvmMemslot machine per slot id (every
// KVM_ENABLE_CAP goes to all of them and to a template for ids not yet touched), stepped
// through a lazily filled table that records the transitions taken (coverage), and the
// ghost of each slot's dirty pages (ghost.ts).
//
// Requirements: those of spec/kvm/dirty-log/memslot-machine.ts (the machine decides).
import type { AnyTransitionDefinition } from 'xstate';
import { KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY, PAGE_SIZE, splitSlot, type KvmSlotView, type KvmVmView, type MemoryRegionArgs } from '../../spec/kvm/dirty-log/args.ts';
import { kvmMemslotMachine, kvmMemslotStateOf, type KvmMemslotEvent, type KvmMemslotSnapshot } from '../../spec/kvm/dirty-log/memslot-machine.ts';
import { initialState, step } from '../../spec/step.ts';
import { activeStates, stateKey, transitionKey, type TakenTransition } from '../transition-table.ts';
import { SlotGhost } from './ghost.ts';

export interface KvmStep {
  readonly next: KvmMemslotSnapshot;
  readonly outcomes: readonly string[];
  readonly outcome: string;
  readonly req: readonly string[];
  readonly taken: readonly TakenTransition[];
}

/** The memslot machine, stepped through a table filled on demand (its event space is too large to compile up front). */
export class LazyMemslotTable {
  private readonly entries = new Map<string, KvmStep>();
  readonly covered = new Set<string>();
  readonly initial = initialState(kvmMemslotMachine);

  step(s: KvmMemslotSnapshot, e: KvmMemslotEvent): KvmStep {
    const key = `${stateKey(s)}|${JSON.stringify(e)}`;
    let entry = this.entries.get(key);
    if (entry === undefined) {
      const taken = kvmMemslotMachine.getTransitionData(s, e) as AnyTransitionDefinition[];
      const [next, outcomes] = step(kvmMemslotMachine, s, e);
      const from = activeStates(s.value);
      const to = activeStates(next.value);
      entry = {
        next,
        outcomes,
        outcome: outcomes[outcomes.length - 1] ?? 'none',
        req: [...new Set(taken.flatMap((t) => (t.meta as { req?: string[] } | undefined)?.req ?? []))],
        taken: taken.map((t) => ({ machine: kvmMemslotMachine.id, transition: transitionKey(t), from, to })),
      };
      this.entries.set(key, entry);
    }
    for (const t of entry.taken) this.covered.add(t.transition);
    return entry;
  }
}

export interface SlotModel extends KvmSlotView {
  readonly npages: number;
}

export interface VmParams {
  readonly userMemSlots: number;
  readonly addressSpaces: number;
  readonly readonlyMem: boolean;
  readonly userAddressLimit: bigint;
  readonly dirtyRingExclusive: boolean;
}

export class KvmVmModel {
  readonly slots = new Map<number, SlotModel>();
  readonly ghosts = new Map<number, SlotGhost>();
  private readonly snapshots = new Map<number, KvmMemslotSnapshot>();
  private template: KvmMemslotSnapshot;

  constructor(
    readonly table: LazyMemslotTable,
    readonly params: VmParams,
  ) {
    this.template = table.initial;
  }

  view(): KvmVmView {
    return { ...this.params, slots: [...this.slots.values()] };
  }

  snapshot(slot: number): KvmMemslotSnapshot {
    return this.snapshots.get(slot >>> 0) ?? this.template;
  }

  state(slot: number) {
    return kvmMemslotStateOf(this.snapshot(slot));
  }

  get protect(): 'off' | 'manual' | 'manualInitSet' {
    return kvmMemslotStateOf(this.template).protect;
  }

  /** Steps the machine of `slot` (or, for ENABLE_CAP and CHECK_EXTENSION, every machine); returns the entry of `slot`'s. */
  step(slot: number, e: KvmMemslotEvent): KvmStep {
    if (e.type === 'ENABLE_CAP' || e.type === 'CHECK_EXTENSION') {
      const entry = this.table.step(this.template, e);
      this.template = entry.next;
      for (const [k, s] of this.snapshots) this.snapshots.set(k, this.table.step(s, e).next);
      return entry;
    }
    const entry = this.table.step(this.snapshot(slot), e);
    this.snapshots.set(slot >>> 0, entry.next);
    return entry;
  }

  /** Applies a successful KVM_SET_USER_MEMORY_REGION's effects to the slots and ghosts. */
  applyRegion(a: MemoryRegionArgs, effects: ReadonlySet<string>): void {
    const key = a.slot >>> 0;
    const npages = Number(BigInt(a.memorySize) / BigInt(PAGE_SIZE));
    if (effects.has('deleteSlot')) {
      this.slots.delete(key);
      this.ghosts.delete(key);
      return;
    }
    if (effects.has('createSlot') || effects.has('moveSlot') || effects.has('allocBitmap') || effects.has('allocBitmapAllSet') || effects.has('freeBitmap')) {
      this.slots.set(key, { slot: key, flags: a.flags, guestPhysAddr: a.guestPhysAddr, memorySize: a.memorySize, userspaceAddr: a.userspaceAddr, npages });
    }
    if (effects.has('freeBitmap')) this.ghosts.delete(key);
    if (effects.has('allocBitmap')) this.ghosts.set(key, new SlotGhost(npages, false));
    if (effects.has('allocBitmapAllSet')) this.ghosts.set(key, new SlotGhost(npages, true));
  }

  /** The slot of address space 0 holding guest page `gfn`, and the page's index in it. */
  slotOfGfn(gfn: bigint): { slot: SlotModel; rel: number } | undefined {
    for (const s of this.slots.values()) {
      if (splitSlot(s.slot).asId !== 0) continue;
      const base = BigInt(s.guestPhysAddr) / BigInt(PAGE_SIZE);
      if (gfn >= base && gfn < base + BigInt(s.npages)) return { slot: s, rel: Number(gfn - base) };
    }
    return undefined;
  }

  /** A vCPU write to `gpa`: whether the spec lets it through (a writable slot) and, if the slot logs, the ghost learns of it. */
  vcpuWrite(gpa: bigint): 'none' | 'mmio' {
    const hit = this.slotOfGfn(gpa / BigInt(PAGE_SIZE));
    if (hit === undefined || (hit.slot.flags & KVM_MEM_READONLY) !== 0) return 'mmio';
    if ((hit.slot.flags & KVM_MEM_LOG_DIRTY_PAGES) !== 0) this.ghosts.get(hit.slot.slot)?.write(hit.rel);
    return 'none';
  }

  /**
   * A write KVM makes at `gpa` without a running vCPU (mark_page_dirty_in_slot with
   * kvm_get_running_vcpu() NULL): where a writable slot holds it, the ghost of a logging
   * slot learns of it, as of a vCPU's write; nothing of the page's leaf changes. Returns
   * whether a slot held it (false: KVM's write fails, nothing written).
   * @req KVM-LOG-9
   * @source Linux v6.14 virt/kvm/kvm_main.c mark_page_dirty_in_slot
   */
  kvmWrite(gpa: bigint): boolean {
    return this.vcpuWrite(gpa) === 'none';
  }

  gpaOf(slot: number, rel: number): bigint {
    const s = this.slots.get(slot >>> 0)!;
    return BigInt(s.guestPhysAddr) + BigInt(rel) * BigInt(PAGE_SIZE);
  }
}
