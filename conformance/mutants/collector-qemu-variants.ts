// Collectors that do what a QEMU release did, for the dirty-ring-collector profile's
// directed tests: a subclass of the reference collector each. Here because conformance/
// reaches impl/ only through the reference adapter and this folder. None is in the zoo:
// each is released code, judged by the architectures it ran on.
import { type CollectorRing, DirtyRingCollector } from '../../impl/kvm/dirty-ring/collector.ts';
import { KVM_DIRTY_GFN_F_DIRTY, KVM_DIRTY_GFN_F_RESET, flagsAddr } from '../../impl/kvm/dirty-ring/ring-memory.ts';
import { referenceDirtyRingCollectorAdapter } from '../adapters/reference.ts';
import type { DirtyRingCollectorAdapter } from '../profiles/dirty-ring-collector/types.ts';

/**
 * QEMU v6.1 to v7.1 accel/kvm/kvm-all.c dirty_gfn_is_dirtied (`gfn->flags ==
 * KVM_DIRTY_GFN_F_DIRTY`) and dirty_gfn_set_collected (`gfn->flags = KVM_DIRTY_GFN_F_RESET`):
 * plain accesses, which order the ring on x86 (TSO), the only architecture with
 * KVM_CAP_DIRTY_LOG_RING; QEMU v7.2 made them qatomic_load_acquire and
 * qatomic_store_release for arm64's KVM_CAP_DIRTY_LOG_RING_ACQ_REL.
 */
export class PlainFlagsCollector extends DirtyRingCollector {
  protected override isDirty(ring: CollectorRing, i: number): boolean {
    return this.memory.load32(flagsAddr(ring.base, i), 'relaxed') === KVM_DIRTY_GFN_F_DIRTY;
  }
  protected override markCollected(ring: CollectorRing, i: number): void {
    this.memory.store32(flagsAddr(ring.base, i), KVM_DIRTY_GFN_F_RESET, 'relaxed');
  }
}

/** The plain-flags collector's adapter, run on `arches`. */
export function plainFlagsCollectorAdapter(arches: readonly ('x86' | 'arm64')[]): DirtyRingCollectorAdapter {
  return { ...referenceDirtyRingCollectorAdapter(`QEMU v6.1-v7.1 plain flags (${arches.join(', ')})`, PlainFlagsCollector), arches };
}
