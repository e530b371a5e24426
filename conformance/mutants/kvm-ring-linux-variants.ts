// VMs that do what an older Linux did where the spec takes either answer, for the
// kvm-dirty-ring profile's directed tests: a subclass of the reference VM each. Here because
// conformance/ reaches impl/ only through the reference adapter and this folder. None is in
// the zoo: each is released behaviour, not a fault the kit seeded.
import { KvmDirtyRingVm } from '../../impl/kvm/dirty-ring/kvm-ring.ts';
import { referenceKvmDirtyRingAdapter } from '../adapters/reference.ts';
import type { KvmDirtyRingAdapter } from '../profiles/kvm-dirty-ring/types.ts';

/**
 * Linux v5.11 to v6.1: x86 vcpu_enter_guest checks kvm_dirty_ring_soft_full at every entry
 * into the guest (KVM_REQ_DIRTY_RING_SOFT_FULL came in v6.2), so a vCPU whose ring's used
 * count a collector's error wrapped (RESET on an entry never pushed: reset_index past
 * dirty_index) exits KVM_EXIT_DIRTY_RING_FULL at once on every KVM_RUN, even one with no write.
 */
export class SoftFullAtEveryEntryVm extends KvmDirtyRingVm {
  protected override mustExit(r: Parameters<KvmDirtyRingVm['mustExit']>[0]): boolean {
    return this.used(r) >= r.softLimit;
  }
}

export const softFullAtEveryEntryAdapter = (): KvmDirtyRingAdapter => referenceKvmDirtyRingAdapter('Linux v5.11-v6.1 soft-full check at every guest entry', SoftFullAtEveryEntryVm);
