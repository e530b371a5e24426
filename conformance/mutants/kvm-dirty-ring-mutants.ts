// Faulty variants of the reference KVM dirty ring (impl/kvm/dirty-ring/kvm-ring.ts), one
// overridden step each, for profile kvm-dirty-ring: members of the zoo (./index.ts).
import { KvmDirtyRingVm, type VcpuRing } from '../../impl/kvm/dirty-ring/kvm-ring.ts';
import { flagsAddr, offsetAddr, slotAddr } from '../../impl/kvm/dirty-ring/ring-memory.ts';
import { referenceKvmDirtyRingAdapter } from '../adapters/reference.ts';
import type { KvmDirtyRingAdapter } from '../profiles/kvm-dirty-ring/types.ts';
import type { BugClass, Mutant } from './types.ts';

/** A ring mutant: a zoo Mutant, typed for its adapter. */
export interface RingMutant<A> extends Mutant {
  readonly profile: 'kvm-dirty-ring' | 'dirty-ring-collector';
  readonly adapter: A & Mutant['adapter'];
  /** Killed only because relaxed stores are delayed: survives with delays off. */
  readonly ordering?: true;
}

/** soft_limit = entries: the reserved entries are not subtracted. */
export class SoftLimitNoReserveVm extends KvmDirtyRingVm {
  // FAULT (class 1): the vCPU runs 64 pushes too long before KVM_EXIT_DIRTY_RING_FULL; with
  // PML or any push between request and exit the ring overwrites entries not yet reset.
  protected override softLimitOf(entries: number): number {
    return entries;
  }
}

/** Reset coalesces neighbouring entries whatever their slot. */
export class ResetMergesSlotsVm extends KvmDirtyRingVm {
  // FAULT (class 9): the page of one slot is re-protected in the other slot's numbering;
  // the real one stays writable and its next write is lost.
  protected override sameBatchSlot(): boolean {
    return true;
  }
}

/** The push writes the memslot id without its address space. */
export class PushDropsAddressSpaceVm extends KvmDirtyRingVm {
  // FAULT (class wrong-address): kvm_dirty_ring_push given `slot = memslot->id` instead of
  // `as_id << 16 | id`: a page of address space 1 is pushed as address space 0's memslot
  // with that id, which the collector copies, and the reset re-protects, instead.
  protected override push(r: Parameters<KvmDirtyRingVm['push']>[0], slot: number, offset: number): void {
    super.push(r, slot & 0xffff, offset);
  }
}

/** The bounds check before the 2026 fix: offset + __fls(mask) in u64, which wraps. */
export class ResetOffsetWrapsVm extends KvmDirtyRingVm {
  // FAULT (class 7): a hostile pair (offset 2^64 - 63, then 0) passes the check and
  // re-protects a page the entries do not name (the kernel indexed past the rmap).
  protected override resetBatch(slot: number, offset: bigint, mask: bigint): void {
    const m = this.memslots.get(slot >>> 0);
    if (m === undefined || mask === 0n || slot >>> 16 >= this.addressSpaces) return;
    const top = BigInt(mask.toString(2).length - 1);
    if (BigInt.asUintN(64, offset + top) >= BigInt(m.npages)) return;
    for (let i = 0n; i < 64n; i++) {
      if (((mask >> i) & 1n) === 0n) continue;
      const p = BigInt.asUintN(64, offset + i);
      if (p < BigInt(m.npages)) m.protectedPages[Number(p)] = 1; // an index past the slot is lost to the kernel's memory
    }
  }
}

/** Push publishes the flags first, then slot and offset. */
export class PushFlagsFirstVm extends KvmDirtyRingVm {
  // FAULT (class 3): a collector that acquires DIRTY may read the previous lap's slot and offset.
  protected override push(r: VcpuRing, slot: number, offset: number): void {
    const i = r.dirtyIndex & (r.entries - 1);
    this.memory.store32(flagsAddr(r.base, i), 1, 'release');
    this.memory.store32(slotAddr(r.base, i), slot >>> 0, 'relaxed');
    this.memory.store64(offsetAddr(r.base, i), BigInt(offset), 'relaxed');
    r.dirtyIndex = (r.dirtyIndex + 1) >>> 0;
    this.pushes++;
    if (this.used(r) >= r.softLimit) r.softFullRequest = true;
  }
}

/** Push without smp_wmb: the flags store is relaxed. */
export class PushFlagsRelaxedVm extends KvmDirtyRingVm {
  // FAULT (class 3): nothing orders slot and offset before the flags on a weakly ordered CPU.
  protected override push(r: VcpuRing, slot: number, offset: number): void {
    const i = r.dirtyIndex & (r.entries - 1);
    this.memory.store32(slotAddr(r.base, i), slot >>> 0, 'relaxed');
    this.memory.store64(offsetAddr(r.base, i), BigInt(offset), 'relaxed');
    this.memory.store32(flagsAddr(r.base, i), 1, 'relaxed');
    r.dirtyIndex = (r.dirtyIndex + 1) >>> 0;
    this.pushes++;
    if (this.used(r) >= r.softLimit) r.softFullRequest = true;
  }
}

/** Reset reads the flags without acquire (before "KVM: Use acquire/release semantics ...", 8929bc965964, v6.1). */
export class ResetFlagsRelaxedVm extends KvmDirtyRingVm {
  // FAULT (class 3): the collector's stores before its release of RESET need not be visible:
  // the reset acts on slot and offset values the collector has already replaced.
  protected override harvested(r: VcpuRing, i: number): boolean {
    return (this.memory.load32(flagsAddr(r.base, i), 'relaxed') & 2) !== 0;
  }
}

/** Reset consumes any entry with a flag set, dirty or harvested. */
export class ResetConsumesDirtyVm extends KvmDirtyRingVm {
  // FAULT (class 6): entries the collector has not harvested yet are reset: their pages
  // are re-protected and their flags cleared before anyone copied them.
  protected override harvested(r: VcpuRing, i: number): boolean {
    return (this.memory.load32(flagsAddr(r.base, i), 'acquire') & 3) !== 0;
  }
}

/** The ring can be enabled after vCPUs exist (no created_vcpus check). */
export class EnableAfterVcpuVm extends KvmDirtyRingVm {
  // FAULT (class 7): vCPUs created before have no ring; their writes go nowhere.
  protected override createdVcpus(): number {
    return 0;
  }
}

/**
 * Not a mutant: KVM with the vCPU's TLB, as x86 and arm64 have one. A write through a
 * translation cached writable takes no fault and pushes nothing; a write fault on a
 * protected page pushes and caches the translation; KVM_RESET_DIRTY_RINGS flushes every
 * TLB after it re-protected (kvm_vm_ioctl_reset_dirty_pages: kvm_flush_remote_tlbs once
 * any entry was reset), as KVM_GET_DIRTY_LOG does after its protection.
 */
export class TlbVm extends KvmDirtyRingVm {
  /** The vCPU's cached writable translations, by slot code and page. */
  protected readonly tlb = new Set<string>();

  protected override guestWrite(r: VcpuRing | undefined, w: { readonly slot: number; readonly offset: number }): void {
    const key = `${w.slot >>> 0}:${w.offset}`;
    if (this.tlb.has(key)) return;
    super.guestWrite(r, w);
    if (!this.writeProtected(w.slot, w.offset)) this.tlb.add(key);
  }

  override resetDirtyRings(): number {
    const n = super.resetDirtyRings();
    if (n > 0) this.flush();
    return n;
  }

  override getDirtyLog(slot: number): { errno: number; bitmap?: Uint8Array } {
    const r = super.getDirtyLog(slot);
    this.flush();
    return r;
  }

  /** kvm_flush_remote_tlbs. */
  protected flush(): void {
    this.tlb.clear();
  }
}

/** The reset flushes the TLBs before it re-protects, not after. */
export class ResetFlushFirstVm extends TlbVm {
  // FAULT (class stale-iotlb): a vCPU write between the flush and a page's re-protection
  // caches the page writable; the protection is then never flushed, and the next writes go
  // through the stale translation without a fault: nothing is pushed.
  override resetDirtyRings(): number {
    this.flush();
    return KvmDirtyRingVm.prototype.resetDirtyRings.call(this);
  }
}

/** A reset that checks signal_pending(current) and, stopped by a signal, drops the batch it was coalescing (Linux v6.17). */
export class ResetSignalDropsBatchVm extends KvmDirtyRingVm {
  // FAULT (class state-not-carried): 49005a2a3d2a's `return -EINTR` at the top of the loop leaves
  // `mask` (the entries already consumed and counted since the last kvm_reset_dirty_gfn)
  // unprotected: their pages stay writable and the next writes to them push nothing.
  protected override stoppedBySignal(): void {}
}

const mutant = (name: string, bugClass: BugClass, description: string, Impl: typeof KvmDirtyRingVm, ordering?: true, checksSignals = false): RingMutant<KvmDirtyRingAdapter> => ({
  name,
  bugClass,
  profile: 'kvm-dirty-ring',
  description,
  adapter: referenceKvmDirtyRingAdapter(name, Impl, 0, checksSignals),
  ...(ordering ? { ordering } : {}),
});

export const kvmDirtyRingMutants: readonly RingMutant<KvmDirtyRingAdapter>[] = [
  mutant(
    'ring-soft-limit-no-reserve',
    'boundary-arithmetic',
    'soft_limit = entries: KVM_EXIT_DIRTY_RING_FULL comes 64 pushes late. Class boundary-arithmetic: the limit forgets the reserved entries (kvm_dirty_ring_get_rsvd_entries), so the pushes between the request and the exit overwrite entries not yet reset.',
    SoftLimitNoReserveVm,
  ),
  mutant(
    'ring-reset-merges-slots',
    'wrong-address',
    "reset coalesces neighbouring entries of different slots into one mask. Class wrong-address: a page of one memslot is re-protected in the other memslot's numbering, and the real page stays writable.",
    ResetMergesSlotsVm,
  ),
  mutant(
    'ring-push-drops-address-space',
    'wrong-address',
    "push writes the memslot id alone in the entry's slot, without as_id << 16. Class wrong-address: a page written in address space 1 (x86 SMM) is named as address space 0's memslot of the same id, so the collector copies, and the reset re-protects, the wrong page.",
    PushDropsAddressSpaceVm,
  ),
  mutant(
    'ring-reset-offset-wraps',
    'bad-input-accepted',
    'reset checks offset + __fls(mask) in u64 (before the 2026 fix): a hostile wrapped offset re-protects page 0. Class bad-input-accepted: an offset outside the memslot passes the bounds check because the sum wraps.',
    ResetOffsetWrapsVm,
  ),
  mutant('ring-push-flags-first', 'racy-update', "push stores flags (release) before slot and offset. Class racy-update: a collector that acquires DIRTY may read the previous lap's slot and offset.", PushFlagsFirstVm, true),
  mutant('ring-push-flags-relaxed', 'racy-update', 'push stores the flags relaxed (no smp_wmb). Class racy-update: nothing orders slot and offset before the flags, so a collector can see DIRTY with stale fields.', PushFlagsRelaxedVm, true),
  mutant(
    'ring-reset-flags-relaxed',
    'racy-update',
    "reset loads the flags relaxed, not acquire. Class racy-update: the collector's rewrites before its release of RESET need not be visible to the reset, which acts on old slot and offset values.",
    ResetFlagsRelaxedVm,
    true,
  ),
  mutant('ring-reset-consumes-dirty', 'over-clear', 'reset consumes entries with DIRTY as well as RESET. Class over-clear: entries not harvested yet are reset and their pages re-protected before anyone copied them.', ResetConsumesDirtyVm),
  mutant('ring-enable-after-vcpu', 'bad-input-accepted', 'the ring can be enabled after a vCPU was created. Class bad-input-accepted: the created_vcpus check is missing, and the vCPUs created before have no ring.', EnableAfterVcpuVm),
  mutant(
    'ring-reset-flush-first',
    'stale-iotlb',
    'reset flushes the TLBs before it re-protects the pages of the entries it consumed, not after (kvm_vm_ioctl_reset_dirty_pages flushes once the rings are reset). Class stale-iotlb: a vCPU write between the flush and the protection caches the page writable, and its next writes go through that translation with no fault and no push.',
    ResetFlushFirstVm,
  ),
  mutant(
    'ring-reset-signal-drops-batch',
    'state-not-carried',
    "reset checks signal_pending(current) before each entry and, a signal pending, returns with the batch it was coalescing not re-protected (Linux v6.17 kvm_dirty_ring_reset, 49005a2a3d2a). Class state-not-carried: the entries are consumed and counted, and their pages' next writes push nothing; no later reset re-protects them.",
    ResetSignalDropsBatchVm,
    undefined,
    true,
  ),
];
