// The reference collector of a VMM: per vCPU ring a fetch index; a sync harvests every
// ring in order (flags with load-acquire, then slot and offset; RESET set with a
// store-release), then calls KVM_RESET_DIRTY_RINGS, and only then hands the harvested
// pages to the migration copy. The final sync (vCPUs stopped) does the same and, with
// KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, collects the memslot bitmaps last.
//
// Sources: Linux v6.18 Documentation/virt/kvm/api.rst (KVM_CAP_DIRTY_LOG_RING: harvest in
// sequence, "load-acquire/store-release", reset "before reading the content of the dirty
// pages", WITH_BITMAP "the very last thing"); QEMU accel/kvm/kvm-all.c
// (kvm_dirty_ring_reap_one, dirty_gfn_is_dirtied, dirty_gfn_set_collected).
import { KVM_DIRTY_GFN_F_DIRTY, KVM_DIRTY_GFN_F_RESET, flagsAddr, offsetAddr, slotAddr, type RingMemory } from './ring-memory.ts';

/** What the collector needs from KVM and from the migration stream. */
export interface CollectorHost {
  /** KVM_RESET_DIRTY_RINGS: entries reset, or a negative errno. */
  resetDirtyRings(): number;
  /** Copy the page's current contents to the destination. */
  copyPage(slot: number, offset: number): void;
  /** KVM_GET_DIRTY_LOG of every logging memslot (WITH_BITMAP only): the pages set. */
  getDirtyLog?(): { slot: number; offset: number }[];
}

export interface CollectorRing {
  readonly base: number;
  readonly entries: number;
}

export class DirtyRingCollector {
  protected readonly rings: (CollectorRing & { fetch: number })[] = [];
  /** Entries harvested (benchmark figure). */
  harvestedEntries = 0;

  constructor(
    protected readonly memory: RingMemory,
    readonly withBitmap = false,
  ) {}

  addRing(ring: CollectorRing): void {
    if (ring.entries <= 0 || (ring.entries & (ring.entries - 1)) !== 0) throw new RangeError(`ring entries: must be a power of two, got ${ring.entries}`);
    this.rings.push({ ...ring, fetch: 0 });
  }

  /** dirty_gfn_is_dirtied: flags loaded with acquire, DIRTY set (RESET clear). */
  protected isDirty(ring: CollectorRing, i: number): boolean {
    return (this.memory.load32(flagsAddr(ring.base, i), 'acquire') & (KVM_DIRTY_GFN_F_DIRTY | KVM_DIRTY_GFN_F_RESET)) === KVM_DIRTY_GFN_F_DIRTY;
  }

  /** slot and offset of an entry already seen dirty. */
  protected readEntry(ring: CollectorRing, i: number): { slot: number; offset: number } {
    return { slot: this.memory.load32(slotAddr(ring.base, i), 'relaxed'), offset: Number(this.memory.load64(offsetAddr(ring.base, i), 'relaxed')) };
  }

  /** dirty_gfn_set_collected: RESET with a store-release. */
  protected markCollected(ring: CollectorRing, i: number): void {
    this.memory.store32(flagsAddr(ring.base, i), KVM_DIRTY_GFN_F_RESET, 'release');
  }

  protected index(ring: CollectorRing & { fetch: number }): number {
    return ring.fetch & (ring.entries - 1);
  }

  /** Every ring, in order, until its first entry that is not dirty. */
  harvest(): { slot: number; offset: number }[] {
    const pages: { slot: number; offset: number }[] = [];
    for (const ring of this.rings) {
      for (let n = 0; n < ring.entries; n++) {
        const i = this.index(ring);
        if (!this.isDirty(ring, i)) break;
        pages.push(this.readEntry(ring, i));
        this.markCollected(ring, i);
        ring.fetch = (ring.fetch + 1) >>> 0;
        this.harvestedEntries++;
      }
    }
    return pages;
  }

  /** One sync: harvest, reset, then copy; `final` also collects the bitmaps. Returns the pages copied. */
  sync(host: CollectorHost, final = false): number {
    const pages = this.harvest();
    if (final && this.withBitmap && host.getDirtyLog) pages.push(...host.getDirtyLog());
    this.resetAndCopy(host, pages);
    return pages.length;
  }

  protected resetAndCopy(host: CollectorHost, pages: readonly { slot: number; offset: number }[]): void {
    const r = host.resetDirtyRings();
    if (r < 0) throw new Error(`KVM_RESET_DIRTY_RINGS failed: ${r}`);
    for (const p of pages) host.copyPage(p.slot, p.offset);
  }
}
