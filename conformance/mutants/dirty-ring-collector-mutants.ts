// Faulty variants of the reference dirty-ring collector (impl/kvm/dirty-ring/collector.ts),
// for profile dirty-ring-collector: the ways a VMM's collector has got the ring wrong.
// Members of the zoo (./index.ts).
import { DirtyRingCollector, type CollectorHost, type CollectorRing } from '../../impl/kvm/dirty-ring/collector.ts';
import { flagsAddr, offsetAddr, slotAddr } from '../../impl/kvm/dirty-ring/ring-memory.ts';
import { referenceDirtyRingCollectorAdapter } from '../adapters/reference.ts';
import type { DirtyRingCollectorAdapter } from '../profiles/dirty-ring-collector/types.ts';
import type { RingMutant } from './kvm-dirty-ring-mutants.ts';
import type { BugClass } from './types.ts';

/** Reads slot and offset first, then the flags, all relaxed. */
export class FieldsBeforeFlagsCollector extends DirtyRingCollector {
  // FAULT (class 3): the slot and offset read may be the previous lap's (or zero) even
  // though the flags then read DIRTY: the wrong page is copied, the dirty one never.
  private early: { slot: number; offset: number } | undefined;
  protected override isDirty(ring: CollectorRing, i: number): boolean {
    this.early = { slot: this.memory.load32(slotAddr(ring.base, i), 'relaxed'), offset: Number(this.memory.load64(offsetAddr(ring.base, i), 'relaxed')) };
    return (this.memory.load32(flagsAddr(ring.base, i), 'relaxed') & 3) === 1;
  }
  protected override readEntry(): { slot: number; offset: number } {
    return this.early!;
  }
}

/** Reads the flags relaxed (no load-acquire), then slot and offset. */
export class FlagsRelaxedCollector extends DirtyRingCollector {
  // FAULT (class 3): without acquire nothing makes KVM's slot and offset stores visible
  // to the reads after the flags (api.rst: "load-acquire/store-release accessors").
  protected override isDirty(ring: CollectorRing, i: number): boolean {
    return (this.memory.load32(flagsAddr(ring.base, i), 'relaxed') & 3) === 1;
  }
}

/** Copies the pages, then resets the rings. */
export class CopyBeforeResetCollector extends DirtyRingCollector {
  // FAULT (class 5): a write between a page's copy and the reset finds the page writable
  // (no push) and the reset then protects it: that write never reaches the destination.
  protected override resetAndCopy(host: CollectorHost, pages: readonly { slot: number; offset: number }[]): void {
    for (const p of pages) host.copyPage(p.slot, p.offset);
    host.resetDirtyRings();
  }
}

/** Steps over entry 0 each time the fetch index wraps. */
export class SkipsWrappedIndexCollector extends DirtyRingCollector {
  // FAULT (class 1): the wrap is handled as "restart at 1": entry 0 of every later lap is
  // never harvested, the reset stops at it, and its page is never copied.
  override harvest(): { slot: number; offset: number }[] {
    const out: { slot: number; offset: number }[] = [];
    for (const r of this.rings) {
      for (let n = 0; n < r.entries; n++) {
        const i = this.index(r);
        if (!this.isDirty(r, i)) break;
        out.push(this.readEntry(r, i));
        this.markCollected(r, i);
        r.fetch = (r.fetch + 1) >>> 0;
        if ((r.fetch & (r.entries - 1)) === 0) r.fetch = (r.fetch + 1) >>> 0;
      }
    }
    return out;
  }
}

/** Never calls KVM_RESET_DIRTY_RINGS. */
export class NeverResetsCollector extends DirtyRingCollector {
  // FAULT (class 5): harvested pages are never write-protected again: their next writes push nothing.
  protected override resetAndCopy(host: CollectorHost, pages: readonly { slot: number; offset: number }[]): void {
    for (const p of pages) host.copyPage(p.slot, p.offset);
  }
}

/** The final sync does not collect the WITH_BITMAP bitmaps. */
export class IgnoresBitmapCollector extends DirtyRingCollector {
  // FAULT (class 3): pages KVM dirtied without a running vCPU (api.rst: the bitmap "should be
  // the very last thing") are never sent.
  override sync(host: CollectorHost, final = false): number {
    const { getDirtyLog: _dropped, ...rest } = host;
    return super.sync(rest, final);
  }
}

/** Harvests only the first vCPU's ring. */
export class FirstRingOnlyCollector extends DirtyRingCollector {
  // FAULT (class 5): the rings of vCPUs added later are never read.
  override addRing(ring: CollectorRing): void {
    if (this.rings.length === 0) super.addRing(ring);
  }
}

/** Harvests at most 64 entries per ring per sync, the final one included. */
export class HarvestCapCollector extends DirtyRingCollector {
  // FAULT (class 1): the final sync leaves entries in the ring; their pages are never sent.
  override harvest(): { slot: number; offset: number }[] {
    const out: { slot: number; offset: number }[] = [];
    for (const r of this.rings) {
      for (let n = 0; n < 64; n++) {
        const i = this.index(r);
        if (!this.isDirty(r, i)) break;
        out.push(this.readEntry(r, i));
        this.markCollected(r, i);
        r.fetch = (r.fetch + 1) >>> 0;
      }
    }
    return out;
  }
}

/** Takes the ring entry's slot as a memslot id, without its address space. */
export class DropsAddressSpaceCollector extends DirtyRingCollector {
  // FAULT (class wrong-address): the slot field is as_id << 16 | id (QEMU's ring reaper,
  // accel/kvm/kvm-all.c, splits it into both before marking the page); keeping only the low 16 bits names the memslot
  // of address space 0 with that id, so a page written in address space 1 (SMM) is copied
  // from the wrong memslot and its own copy is never sent.
  protected override readEntry(ring: CollectorRing, i: number): { slot: number; offset: number } {
    const e = super.readEntry(ring, i);
    return { slot: e.slot & 0xffff, offset: e.offset };
  }
}

/** Marks an entry RESET as soon as its flags read dirty, then reads its slot and offset. */
export class ResetBeforeReadCollector extends DirtyRingCollector {
  // FAULT (class racy-update): RESET hands the entry back to KVM: a KVM_RESET_DIRTY_RINGS
  // from another thread (a vCPU's ring-full exit, QEMU's reaper) may reset it and KVM push
  // onto it before the slot and offset are read, so the page read is another (api.rst:
  // harvest, then "mark the flag from state 01b to 1Xb"). A lone collector never loses by it.
  protected override isDirty(ring: CollectorRing, i: number): boolean {
    const dirty = super.isDirty(ring, i);
    if (dirty) this.markCollected(ring, i);
    return dirty;
  }
  protected override markCollected(ring: CollectorRing, i: number): void {
    if (this.marked.has(`${ring.base}:${i}`)) return void this.marked.delete(`${ring.base}:${i}`);
    this.marked.add(`${ring.base}:${i}`);
    super.markCollected(ring, i);
  }
  private readonly marked = new Set<string>();
}

const mutant = (name: string, bugClass: BugClass, description: string, Impl: typeof DirtyRingCollector, ordering?: true): RingMutant<DirtyRingCollectorAdapter> => ({
  name,
  bugClass,
  profile: 'dirty-ring-collector',
  description,
  adapter: referenceDirtyRingCollectorAdapter(name, Impl),
  ...(ordering ? { ordering } : {}),
});

export const dirtyRingCollectorMutants: readonly RingMutant<DirtyRingCollectorAdapter>[] = [
  mutant(
    'collector-fields-before-flags',
    'racy-update',
    "reads slot and offset before the flags, without acquire. Class racy-update: the fields read may be the previous lap's, so the wrong page is copied and the dirty one never.",
    FieldsBeforeFlagsCollector,
    true,
  ),
  mutant('collector-flags-relaxed', 'racy-update', "reads the flags relaxed, not with acquire. Class racy-update: nothing makes KVM's slot and offset stores visible to the reads after the flags.", FlagsRelaxedCollector, true),
  mutant(
    'collector-copy-before-reset',
    'racy-update',
    'copies the harvested pages before KVM_RESET_DIRTY_RINGS. Class racy-update: a guest write between the copy and the reset finds the page writable (no push) and the reset then protects it: the write never reaches the destination.',
    CopyBeforeResetCollector,
  ),
  mutant(
    'collector-skips-wrapped-index',
    'boundary-arithmetic',
    'restarts at entry 1 when the fetch index wraps. Class boundary-arithmetic: entry 0 of every later lap is never harvested; the reset stops at it and its page is never copied.',
    SkipsWrappedIndexCollector,
  ),
  mutant('collector-never-resets', 'state-not-carried', 'never calls KVM_RESET_DIRTY_RINGS. Class state-not-carried: harvested pages are never write-protected again, so their next writes push nothing.', NeverResetsCollector),
  mutant('collector-ignores-bitmap', 'scope-change', 'the final sync does not collect the WITH_BITMAP bitmaps. Class scope-change: pages KVM dirtied without a running vCPU are outside what the collector sends.', IgnoresBitmapCollector),
  mutant('collector-first-ring-only', 'scope-change', "harvests only the first vCPU's ring. Class scope-change: the rings of vCPUs added later are outside what the collector reads.", FirstRingOnlyCollector),
  mutant(
    'collector-drops-address-space',
    'wrong-address',
    "keeps only the low 16 bits of an entry's slot (the memslot id) and drops the address space. Class wrong-address: a page written in address space 1 is copied from address space 0's memslot of the same id, and its own copy is never sent.",
    DropsAddressSpaceCollector,
  ),
  mutant(
    'collector-reset-before-read',
    'racy-update',
    "marks an entry RESET as soon as its flags read dirty, before it reads the entry's slot and offset. Class racy-update: once RESET is set, a KVM_RESET_DIRTY_RINGS from another thread may hand the entry back to KVM, which pushes onto it before the fields are read.",
    ResetBeforeReadCollector,
  ),
  mutant(
    'collector-harvest-cap',
    'boundary-arithmetic',
    'harvests at most 64 entries per ring per sync, the final sync too. Class boundary-arithmetic: a per-sync cap where the final sync must drain the ring leaves entries whose pages are never sent.',
    HarvestCapCollector,
  ),
];
