// Faulty variants of the reference KVM VM (impl/kvm/dirty-log/kvm-vm.ts), one overridden
// step each: ways KVM's dirty log has gone wrong, or could. They live here, at the gate
// through which conformance/ reaches impl/; the profile lists them in
// conformance/profiles/kvm-dirty-log/mutants.ts. Several are upstream bugs
// undone: the CLEAR edge fixes 76d58e0f07ec ("KVM: fix KVM_CLEAR_DIRTY_LOG for memory
// slots of unaligned size"), 53eac7a8f8cf (the last partial word: DIV_ROUND_UP) and
// 4ddc9204572c (copy ALIGN(num_pages, 64) / 8 bytes, not the slot's bitmap size).
import { KVM_MEM_LOG_DIRTY_PAGES, KvmVm, type Memslot } from '../../impl/kvm/dirty-log/kvm-vm.ts';
import { referenceKvmDirtyLogAdapter } from '../adapters/reference.ts';
import type { KvmDirtyLogAdapter } from '../profiles/kvm-dirty-log/adapter.ts';
import type { BugClass, Mutant } from './types.ts';

/** The TLB flush is deferred to the next dirty-log ioctl instead of done before returning. */
export class FlushAfterReturnVm extends KvmVm {
  private pending = false;
  // FAULT (stale-iotlb): between the return and the next call, a write through a cached
  // writable translation of a page just protected completes without a fault: unrecorded.
  protected override flushTlbBeforeReturn(): void {
    this.pending = true;
  }
  protected override beginIoctl(): void {
    if (this.pending) this.flushTlb();
    this.pending = false;
  }
}

/** GET without manual protect takes a bitmap word with a plain load, then a store of 0. */
export class PlainTakeVm extends KvmVm {
  // FAULT (racy-update): a vCPU fault's atomic set_bit between the load and the store is
  // overwritten by the 0: the page was neither reported nor is it dirty any more.
  protected override takeWord(addr: number): bigint {
    const v = this.memory.load(addr);
    this.memory.store(addr, 0n);
    return v;
  }
}

/** GET protects a word's pages before it takes the word (the order before edde99ce0529). */
export class ProtectBeforeTakeVm extends KvmVm {
  // FAULT (racy-update): a vCPU fault between the protection and the exchange marks a bit the
  // exchange then clears, and leaves its page writable: the page's next write is never logged.
  protected override takeAndProtect(slot: Memslot, word: number, addr: number): bigint {
    this.protectMask(slot, word * 64, this.memory.load(addr), this.eagerSplit);
    return this.takeWord(addr);
  }
}

/** GET without manual protect takes every word but protects only the pages of the first word it takes. */
export class GetProtectsFirstWordVm extends KvmVm {
  private protectedAWord = false;
  // FAULT (boundary-arithmetic): the protection stops after the first word with a set bit, so
  // every later page the GET reported (its bit taken) stays writable: its next write neither
  // faults nor sets a bit, and no later GET reports it.
  protected override beginIoctl(): void {
    this.protectedAWord = false;
    super.beginIoctl();
  }
  protected override takeAndProtect(slot: Memslot, word: number, addr: number): bigint {
    if (this.protectedAWord) return this.takeWord(addr);
    this.protectedAWord = true;
    return super.takeAndProtect(slot, word, addr);
  }
}

/**
 * The write fault asks whether the slot logs by its dirty bitmap, not by its flag: Linux
 * arm64's memslot_is_logging (arch/arm64/kvm/mmu.c, v6.12) is `dirty_bitmap &&
 * !READONLY`, and a VM whose dirty ring has no bitmap (kvm_use_dirty_bitmap false: ring
 * without KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP) gives a logging slot none.
 */
export class BitmapGatedLoggingVm extends KvmVm {
  // FAULT (scope-change): with the dirty ring alone, a logging slot's write fault maps or
  // relaxes a huge leaf as if the slot did not log, and only the faulting page is recorded:
  // the other pages of its 2 MiB take writes without a fault, unrecorded.
  protected override writeFault(slot: Memslot, gfn: number): void {
    if (slot.bitmap === undefined && (slot.flags & KVM_MEM_LOG_DIRTY_PAGES) !== 0) {
      super.writeFault({ ...slot, flags: slot.flags & ~KVM_MEM_LOG_DIRTY_PAGES }, gfn);
      return;
    }
    super.writeFault(slot, gfn);
  }
}

/** CLEAR protects a word's selected dirty pages before it clears their bits. */
export class ClearProtectBeforeTakeVm extends KvmVm {
  // FAULT (racy-update): a vCPU fault between the protection and the fetch-andnot marks a bit
  // the clear then drops, and leaves its page writable: the page's next write is never logged.
  protected override clearAndProtect(slot: Memslot, word: number, mask: bigint): bigint {
    const addr = this.wordAddress(slot, word);
    const dirty = mask & this.memory.load(addr);
    if (dirty !== 0n) this.protectMask(slot, word * 64, dirty, this.eagerSplit);
    return mask & this.clearWord(addr, mask);
  }
}

/** GET under manual protect clears the bitmap as it reads it (and protects nothing). */
export class ManualGetClearsVm extends KvmVm {
  // FAULT (over-clear): the caller's CLEAR is the only clear under manual protect; a GET
  // that also clears loses the pages it reported before the caller cleared and copied them,
  // and a page written after is not recorded again (its leaf stayed writable).
  protected override copyBitmapManual(slot: Memslot, out: Uint8Array): void {
    for (let w = 0; w < Math.ceil(slot.npages / 64); w++) {
      const v = this.memory.exchange(this.wordAddress(slot, w), 0n);
      for (let b = 0; b < 8; b++) out[w * 8 + b] = Number((v >> BigInt(b * 8)) & 0xffn);
    }
  }
}

/** INITIALLY_SET allocates a zeroed bitmap and write-protects eagerly, as without it. */
export class InitSetEagerVm extends KvmVm {
  // FAULT (state-not-carried): the pages written before logging started are no longer
  // reported: the initial "everything dirty" state is forgotten.
  protected override allocBitmap(slot: Memslot): void {
    const mode = this.manualDirtyLogProtect;
    this.manualDirtyLogProtect = mode & ~2;
    try {
      super.allocBitmap(slot);
    } finally {
      this.manualDirtyLogProtect = mode;
    }
    this.protectPages(
      slot,
      Array.from({ length: slot.npages }, (_, i) => i),
      this.eagerSplit,
    );
    this.flushTlb();
  }
}

/** CLEAR walks num_pages / 64 words, rounding down (before 53eac7a8f8cf). */
export class ClearLastWordVm extends KvmVm {
  // FAULT (boundary-arithmetic): at a slot's end with num_pages not a multiple of 64, the
  // last partial word is neither cleared nor re-protected: those pages are reported again.
  protected override clearWords(numPages: number): number {
    return Math.floor(numPages / 64);
  }
}

/** CLEAR requires num_pages to be a multiple of 64 even at the slot's end (before 76d58e0f07ec). */
export class ClearRangeAlignedVm extends KvmVm {
  // FAULT (boundary-arithmetic): the last pages of a slot whose size is not a multiple of
  // 64 pages can never be cleared: the valid call is -EINVAL.
  protected override clearRangeOk(npages: number, firstPage: bigint, numPages: number): boolean {
    return super.clearRangeOk(npages, firstPage, numPages) && numPages % 64 === 0;
  }
}

/** CLEAR copies the slot's whole bitmap size from the user (before 4ddc9204572c). */
export class ClearReadsSlotBitmapVm extends KvmVm {
  // FAULT (boundary-arithmetic): a valid buffer of ALIGN(num_pages, 64) / 8 bytes shorter
  // than the slot's bitmap is -EFAULT (and a longer read past the caller's buffer).
  protected override clearBytes(slot: Memslot, _numPages: number): number {
    return Math.ceil(slot.npages / 64) * 8;
  }
}

/** GET and CLEAR do not drain the hardware log (PML) first; only a full buffer is drained. */
export class NoPmlSyncVm extends KvmVm {
  // FAULT (state-not-carried): with a hardware dirty bit, writes logged but not yet drained
  // are missing from the report (kvm_arch_sync_dirty_log skipped).
  protected override syncDirtyLog(): void {
    if (this.pml.length >= this.pmlEntries) super.syncDirtyLog();
  }
}

/** The drain at a PML-full exit drops the whole buffer; the drains at GET and CLEAR are right. */
export class PmlFullDroppedVm extends KvmVm {
  // FAULT (boundary-arithmetic): a full buffer's index (0xFFFF after the 512th entry, x86
  // vmx_flush_pml_buffer) taken as past the last entry instead of as the whole buffer, so
  // the exit resets it without a page marked: every write it logged goes unreported.
  protected override syncDirtyLog(): void {
    if (this.pml.length >= this.pmlEntries) this.pml.splice(0);
    else super.syncDirtyLog();
  }
}

/** The write fault makes a present write-protected leaf writable without marking the page. */
export class FaultNoMarkVm extends KvmVm {
  private fastPath = false;
  /** The fault on a write-protected 4 KiB leaf (fast_page_fault); a huge one is split and marked as before. */
  protected override writeFault(slot: Memslot, gfn: number): void {
    this.fastPath = this.leafState(gfn) === 'protected';
    try {
      super.writeFault(slot, gfn);
    } finally {
      this.fastPath = false;
    }
  }
  // FAULT (state-not-carried): fast_page_fault's mark_page_dirty_in_slot forgotten: the
  // write after a re-protection goes unrecorded.
  protected override markDirty(slot: Memslot, rel: number): void {
    if (this.fastPath) return;
    super.markDirty(slot, rel);
  }
}

/** CLEAR clears the whole 64-page word of each selected page. */
export class ClearWholeWordVm extends KvmVm {
  // FAULT (over-clear): pages the caller did not select lose their dirty state.
  protected override clearWord(addr: number, mask: bigint): bigint {
    return super.clearWord(addr, mask === 0n ? 0n : (1n << 64n) - 1n);
  }
}

/** first_page is not checked for a multiple of 64. */
export class FirstPageUncheckedVm extends KvmVm {
  // FAULT (bad-input-accepted): an unaligned first_page is accepted and rounded down to its
  // word: bit 0 of the caller's bitmap no longer means page first_page.
  override clearDirtyLog(slotField: number, firstPage: bigint, numPages: number, bitmap: Uint8Array): number {
    const r = super.clearDirtyLog(slotField, firstPage & ~63n, numPages, bitmap);
    return r;
  }
}

/** Moving a slot gives it a fresh, zeroed bitmap. */
export class MoveDropsBitmapVm extends KvmVm {
  // FAULT (state-not-carried): the dirty pages not yet fetched are lost by the move.
  override setUserMemoryRegion(mem: Parameters<KvmVm['setUserMemoryRegion']>[0]): number {
    const before = this.memslots.find((s) => ((s.asId << 16) | s.id) >>> 0 === mem.slot >>> 0);
    const r = super.setUserMemoryRegion(mem);
    if (r === 0 && before?.bitmap !== undefined && mem.memorySize !== 0 && before.baseGfn !== Math.floor(mem.guestPhysAddr / 4096)) {
      const slot = this.slots.get(mem.slot >>> 0);
      if (slot?.bitmap !== undefined) for (let w = 0; w < Math.ceil(slot.npages / 64); w++) this.memory.store(this.wordAddress(slot, w), 0n);
    }
    return r;
  }
}

/** KVM's own write without a running vCPU sets no bit (Linux v5.17 to v6.1 on x86). */
export class NoVcpuWriteUnmarkedVm extends KvmVm {
  // FAULT (state-not-carried): 2efd61a608b0's `if (WARN_ON_ONCE(!vcpu) ...) return;` (kept to
  // CONFIG_HAVE_KVM_DIRTY_RING by e09fccb5435d) in
  // mark_page_dirty_in_slot, before set_bit_le: kvm_write_guest from an ioctl (kvmclock,
  // Xen's shared info) changes the page and no report ever has it.
  protected override markDirtyWithoutVcpu(): void {}
}

/** A KvmVm whose memslot update of `kind` does not zap the slot's old leaves (kvm_arch_flush_shadow_memslot). */
function noZapOn(kind: 'move' | 'delete'): typeof KvmVm {
  return class extends KvmVm {
    private skipZap = false;
    override setUserMemoryRegion(mem: Parameters<KvmVm['setUserMemoryRegion']>[0]): number {
      const before = this.memslots.find((s) => ((s.asId << 16) | s.id) >>> 0 === mem.slot >>> 0);
      const deleting = before !== undefined && mem.memorySize === 0;
      const moving = before !== undefined && mem.memorySize !== 0 && before.baseGfn !== Math.floor(mem.guestPhysAddr / 4096);
      this.skipZap = kind === 'delete' ? deleting : moving;
      try {
        return super.setUserMemoryRegion(mem);
      } finally {
        this.skipZap = false;
      }
    }
    // FAULT (class stale-iotlb): the memslot update leaves the slot's leaves in place, so a
    // leaf made writable before it survives: after the slot is back at that address, the
    // guest writes the page through it without a fault, and nothing records the write.
    protected override zapSlot(slot: Memslot): void {
      if (!this.skipZap) super.zapSlot(slot);
    }
  };
}

/** A zoo Mutant whose adapter is a kvm-dirty-log adapter (the profile's tests run it as one). */
export interface KvmDirtyLogMutant extends Mutant {
  readonly profile: 'kvm-dirty-log';
  readonly adapter: KvmDirtyLogAdapter;
}

/** Why each fault belongs to its class (the zoo's descriptions end with "Class <class>: why"). */
const WHY: Record<string, string> = {
  'kvm-flush-after-return': 'a TLB flush after the ioctl returned lets a stale writable translation outlive the protection.',
  'kvm-get-protects-first-word': 'the protection loop stops after the first word, so the pages of the later words it took stay writable.',
  'kvm-get-plain-take': 'a read and a write of a word another agent updates atomically, instead of one atomic exchange.',
  'kvm-get-protect-before-take': 'a protection ordered before the exchange it depends on, so a fault between the two is taken and then undone.',
  'kvm-clear-protect-before-take': 'a protection ordered before the fetch-andnot it depends on, so a fault between the two is taken and then undone.',
  'kvm-manual-get-clears': 'a read that also clears, so pages are forgotten before the caller cleared and copied them.',
  'kvm-initset-eager': 'the initial all-dirty state is not carried into the bitmap.',
  'kvm-clear-last-word': "the word count rounds down at the slot's end.",
  'kvm-clear-range-aligned': "the range check is off at the slot's end.",
  'kvm-clear-reads-slot-bitmap': "the size read from the caller is the slot's, not the range's.",
  'kvm-no-pml-sync': 'the hardware log is not carried into the bitmap before it is read.',
  'kvm-pml-full-dropped': "a full log's index is read as past its end, so none of it is carried into the bitmap.",
  'kvm-fault-no-mark': 'the write fault does not carry the write into the bitmap.',
  'kvm-ring-only-fault-maps-huge': 'the fault decides whether the slot is tracked by the bitmap, which the dirty ring alone does not allocate, so the mode of tracking changes what the fault protects.',
  'kvm-clear-whole-word': "the clear's extent is the word, not the selected pages.",
  'kvm-first-page-unchecked': 'an unaligned first_page is accepted.',
  'kvm-move-drops-bitmap': 'the dirty state is not carried across the move.',
  'kvm-move-no-zap': 'a translation of the slot at its old address outlives the move, and takes writes without a fault.',
  'kvm-delete-no-zap': 'a translation of the deleted slot outlives it, and takes writes to the slot made again without a fault.',
  'kvm-no-vcpu-write-unmarked': "a write KVM makes itself is not carried into the slot's bitmap.",
};

const mutant = (name: string, bugClass: BugClass, description: string, Impl: typeof KvmVm): KvmDirtyLogMutant => ({
  name,
  bugClass,
  profile: 'kvm-dirty-log',
  description: `${description} Class ${bugClass}: ${WHY[name] ?? 'see the class.'}`,
  adapter: referenceKvmDirtyLogAdapter(name, Impl),
});

export const kvmDirtyLogMutants: readonly KvmDirtyLogMutant[] = [
  mutant(
    'kvm-flush-after-return',
    'stale-iotlb',
    'GET and CLEAR protect the leaves but flush the TLB at the next dirty-log call instead of before returning: a guest write through the stale writable translation in between is never recorded.',
    FlushAfterReturnVm,
  ),
  mutant(
    'kvm-get-protect-before-take',
    'racy-update',
    'GET without manual protect write-protects each word’s pages before it takes the word (as before edde99ce0529): a vCPU fault in between marks a bit the exchange then clears, and leaves the page writable, so its next write is never logged.',
    ProtectBeforeTakeVm,
  ),
  mutant(
    'kvm-clear-protect-before-take',
    'racy-update',
    'CLEAR write-protects the dirty pages of each word it selects before it clears their bits (Linux clears with atomic_long_fetch_andnot, then protects what it cleared): a vCPU fault in between marks a bit the clear then drops, and leaves the page writable, so its next write is never logged.',
    ClearProtectBeforeTakeVm,
  ),
  mutant(
    'kvm-get-protects-first-word',
    'boundary-arithmetic',
    'GET without manual protect takes every bitmap word but write-protects only the pages of the first word with a set bit: a page of a later word is reported and stays writable, so its next write is never logged.',
    GetProtectsFirstWordVm,
  ),
  mutant('kvm-get-plain-take', 'racy-update', 'GET without manual protect takes each bitmap word with a plain load and a store of 0 instead of an atomic exchange: a vCPU fault setting a bit in between is lost.', PlainTakeVm),
  mutant(
    'kvm-manual-get-clears',
    'over-clear',
    'GET under manual protect clears the bitmap it reports (and protects nothing): pages reported but not yet cleared and copied by the caller are gone, and later writes are not recorded.',
    ManualGetClearsVm,
  ),
  mutant('kvm-initset-eager', 'state-not-carried', 'INITIALLY_SET allocates a zeroed bitmap and write-protects every page when logging starts: the pages written before are never reported.', InitSetEagerVm),
  mutant(
    'kvm-clear-last-word',
    'boundary-arithmetic',
    'CLEAR walks num_pages / 64 words rounding down (before commit 53eac7a8f8cf): the last partial word of a slot whose size is not a multiple of 64 pages is neither cleared nor protected.',
    ClearLastWordVm,
  ),
  mutant('kvm-clear-range-aligned', 'boundary-arithmetic', "CLEAR requires num_pages to be a multiple of 64 even where the range ends at the slot's end (before commit 76d58e0f07ec): the valid call is -EINVAL.", ClearRangeAlignedVm),
  mutant(
    'kvm-clear-reads-slot-bitmap',
    'boundary-arithmetic',
    "CLEAR reads the slot's whole bitmap size from the caller (before commit 4ddc9204572c), not ALIGN(num_pages, 64) / 8 bytes: a valid short buffer is -EFAULT.",
    ClearReadsSlotBitmapVm,
  ),
  mutant(
    'kvm-pml-full-dropped',
    'boundary-arithmetic',
    'With a hardware dirty bit, the drain at the PML-full exit (the 513th logged write) resets the buffer without marking its 512 pages: they are missing from the next GET. Class boundary-arithmetic: a full buffer read as an empty one.',
    PmlFullDroppedVm,
  ),
  mutant('kvm-no-pml-sync', 'state-not-carried', 'GET and CLEAR skip kvm_arch_sync_dirty_log (the PML buffers are drained only when full): with a hardware dirty bit, logged writes are missing from the report.', NoPmlSyncVm),
  mutant(
    'kvm-ring-only-fault-maps-huge',
    'scope-change',
    "With the dirty ring and no bitmap, the write fault in a logging slot asks for the slot's bitmap (arm64's memslot_is_logging) instead of its KVM_MEM_LOG_DIRTY_PAGES flag, so it maps or relaxes a 2 MiB leaf and records only the faulting page: the rest of the 2 MiB is written unrecorded.",
    BitmapGatedLoggingVm,
  ),
  mutant('kvm-fault-no-mark', 'state-not-carried', 'The write fault on a write-protected 4 KiB leaf (fast_page_fault) makes it writable without marking the page dirty: the first write after a re-protection is lost.', FaultNoMarkVm),
  mutant(
    'kvm-clear-whole-word',
    'over-clear',
    "CLEAR clears every bit of a 64-page word in which the caller selected any page: dirty pages not selected are forgotten. Class over-clear: the clear's extent is the word, not the selected pages.",
    ClearWholeWordVm,
  ),
  mutant('kvm-first-page-unchecked', 'bad-input-accepted', 'CLEAR accepts a first_page that is not a multiple of 64 (rounding it down): -EINVAL expected.', FirstPageUncheckedVm),
  mutant('kvm-move-drops-bitmap', 'state-not-carried', 'Moving a logging slot zeroes its dirty bitmap: the dirty pages not yet fetched are lost.', MoveDropsBitmapVm),
  mutant(
    'kvm-move-no-zap',
    'stale-iotlb',
    'KVM_MR_MOVE without kvm_arch_flush_shadow_memslot of the old slot (Linux v6.12.117 virt/kvm/kvm_main.c kvm_invalidate_memslot): a page written before the slot moves away keeps a writable leaf at its old address; GET while the slot is away protects only the new place, so once the slot is back the next write to the page is not recorded.',
    noZapOn('move'),
  ),
  mutant(
    'kvm-delete-no-zap',
    'stale-iotlb',
    'KVM_MR_DELETE without kvm_arch_flush_shadow_memslot: a page written before the delete keeps a writable leaf, and a write to it after the slot is made again in the same place is not recorded.',
    noZapOn('delete'),
  ),
  mutant(
    'kvm-no-vcpu-write-unmarked',
    'state-not-carried',
    "KVM's own write to guest memory without a running vCPU (kvm_write_guest from an ioctl) sets no bit in the logging slot's bitmap: Linux v5.17 to v6.1 on x86 returned from mark_page_dirty_in_slot at WARN_ON_ONCE(!vcpu) (2efd61a608b0, e09fccb5435d) until 86bdf3ebcfe1 (v6.2).",
    NoVcpuWriteUnmarkedVm,
  ),
];
