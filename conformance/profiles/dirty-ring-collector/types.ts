// Profile dirty-ring-collector: the implementation under test is a VMM's dirty-ring
// collector. The kit plays KVM (the rings in its memory, the pushes, KVM_RESET_DIRTY_RINGS,
// KVM_GET_DIRTY_LOG) and the guest (writes, also while the collector works), and judges the
// migration end to end. See profile.ts.
import type { KitRingMemory } from '../kvm-dirty-ring/types.ts';

export type { KitRingMemory };

/** What the kit offers the collector, synchronously (as ioctls and the migration stream are). */
export interface CollectorHostCalls {
  /** KVM_RESET_DIRTY_RINGS: the entries reset, or a negative errno. */
  resetDirtyRings(): number;
  /** Send the page's current contents to the destination. */
  copyPage(slot: number, offset: number): void;
  /** KVM_GET_DIRTY_LOG (only with WITH_BITMAP): the slot's bitmap, bit i = page i, read and cleared. */
  getDirtyLog(slot: number): Uint8Array;
}

export interface DirtyRingCollectorConfig {
  /** KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP is on: the final sync must collect the memslot bitmaps last. */
  readonly withBitmap: boolean;
  /** The logging memslots: slot (as_id << 16 | id) and pages. */
  readonly memslots: readonly { readonly slot: number; readonly npages: number }[];
}

export interface DirtyRingCollectorInstance {
  /** A vCPU's ring: `entries` struct kvm_dirty_gfn at `base` in the kit's memory (its first harvest starts at entry 0). */
  addRing(base: number, entries: number): Promise<void>;
  /**
   * One sync of the migration: harvest what the rings hold, reset, copy. `final`: the vCPUs
   * are stopped; after it returns every page written since its last copy must have been
   * copied again.
   */
  sync(final: boolean): Promise<void>;
}

export interface DirtyRingCollectorAdapter {
  readonly profile: 'dirty-ring-collector';
  readonly name: string;
  /**
   * The architectures the collector runs on, where it runs on fewer than both: on x86 (TSO)
   * plain loads and stores order the ring as acquire and release do, on arm64 they do not.
   * A collector that enables KVM_CAP_DIRTY_LOG_RING (192), which only x86 offers (arm64
   * has KVM_CAP_DIRTY_LOG_RING_ACQ_REL alone), declares ['x86']. Default: both.
   */
  readonly arches?: readonly ('x86' | 'arm64')[];
  create(memory: KitRingMemory, host: CollectorHostCalls, config: DirtyRingCollectorConfig): Promise<DirtyRingCollectorInstance>;
}
