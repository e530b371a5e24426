// Faulty KVM VMs for the requirement IDs the other zoo mutants left without a kill: the
// memslot checks of Linux v6.14 virt/kvm/kvm_main.c kvm_set_memory_region and the fast
// page fault of arch/x86/kvm/mmu/mmu.c (profile kvm-dirty-log), the coalescing of Linux
// v6.18 virt/kvm/dirty_ring.c kvm_dirty_ring_reset (profile kvm-dirty-ring), each done
// wrong in one place as a kernel plausibly gets it wrong. Where the reference's code is
// inline, the mutant wraps the call and lets through what the wrong code would.
import { EPT_A, EPT_ADDR, EPT_D, EPT_PS, EPT_R, EPT_W, KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY, KvmVm, type Memslot, type MemoryRegion, type VcpuWriteResult } from '../../impl/kvm/dirty-log/kvm-vm.ts';
import { KVM_CAP_DIRTY_LOG_RING_ACQ_REL, KVM_EXIT_DIRTY_RING_FULL, KvmDirtyRingVm, type GuestWrite, type ResetBatch } from '../../impl/kvm/dirty-ring/kvm-ring.ts';
import { FlatRingMemory, flagsAddr } from '../../impl/kvm/dirty-ring/ring-memory.ts';
import { referenceKvmDirtyRingAdapter } from '../adapters/reference.ts';
import type { Adapter } from '../adapters/types.ts';
import { NO_SIGNALS } from '../profiles/kvm-dirty-ring/signals.ts';
import type { KvmDirtyRingAdapter } from '../profiles/kvm-dirty-ring/types.ts';
import { GPA, type KvmLogSpec, kvmLogProbesOf, kvmLogZooOf, set } from './kvm-log-probes.ts';
import type { MutantSpec, Probe } from './probe.ts';
import type { BugClass, Mutant } from './types.ts';

const EINVAL = -22;
const PAGE = 4096;
/** KVM_MEM_MAX_NR_PAGES: (1UL << 31) - 1 (include/linux/kvm_host.h). */
const MAX_NR_PAGES = 2 ** 31 - 1;

const slotOf = (vm: KvmVm, field: number) => (vm as unknown as { slots: Map<number, Memslot> }).slots.get(field >>> 0);

// ---- KVM_SET_USER_MEMORY_REGION ---------------------------------------------------------

export class SlotWrapInGfnsVm extends KvmVm {
  // FAULT (class bad-input-accepted): the overflow test is made on frame numbers, `base_gfn +
  // npages < base_gfn`, instead of on bytes (`guest_phys_addr + memory_size <
  // guest_phys_addr`): a 64-bit gfn_t holds at most 2^52 frames and never wraps, so a slot
  // whose end lies past 2^64 is taken, its frames running off the guest physical space.
  override setUserMemoryRegion(mem: MemoryRegion): number {
    const gpa = BigInt(mem.guestPhysAddr);
    const size = BigInt(mem.memorySize);
    // Only a wrapping slot at or above 2^63 gets that far: below, its size is past KVM_MEM_MAX_NR_PAGES.
    if (gpa + size < 1n << 64n || gpa < 1n << 63n || size === 0n) return super.setUserMemoryRegion(mem);
    // The reference's own byte test is inline: the call runs with the slot 2^63 lower (its
    // checks and overlap walk alike, no slot of the kit lies near either place), then the
    // slot is put where the frame numbers say.
    const r = super.setUserMemoryRegion({ ...mem, guestPhysAddr: mem.guestPhysAddr - 2 ** 63 });
    const slot = slotOf(this, mem.slot);
    if (r === 0 && slot !== undefined) slot.baseGfn = Math.floor(mem.guestPhysAddr / PAGE);
    return r;
  }
}

export class SlotMaxPagesAsIdExemptVm extends KvmVm {
  // FAULT (class bad-input-accepted): the exemption of KVM's internal memslots from the size
  // limit (`id < KVM_USER_MEM_SLOTS && npages > KVM_MEM_MAX_NR_PAGES`) tests the whole slot
  // field, as_id << 16 | id, instead of id: every user slot of address space 1 (x86's SMM
  // space) reads as internal and escapes the limit, a dirty bitmap past an unsigned int's
  // index included.
  override setUserMemoryRegion(mem: MemoryRegion): number {
    const npages = Math.floor(mem.memorySize / PAGE);
    if (mem.slot >>> 16 === 0 || npages <= MAX_NR_PAGES || (mem.slot & 0xffff) >= this.userMemSlots) {
      this.materialize(mem);
      return super.setUserMemoryRegion(mem);
    }
    // The reference's limit test is inline: the call runs one page short of the limit (the
    // same checks pass or fail; the slot is new, or its size differs and it fails as an
    // immutable change either way), then the slot gets its real size.
    const r = super.setUserMemoryRegion({ ...mem, memorySize: mem.memorySize - (npages - MAX_NR_PAGES) * PAGE });
    const slot = slotOf(this, mem.slot) as { npages: number } | undefined;
    if (r === 0 && slot !== undefined) slot.npages = npages;
    return r;
  }

  // DEPARTS (not the fault): the bitmap of such a slot (2^25 words, 256 MiB in the kit's
  // memory) gets a frame at a time on first use, set then if KVM_DIRTY_LOG_INITIALLY_SET
  // asked for it; before the bitmap is freed every frame is allocated, so freeing finds them.
  private readonly lazy = new Map<Memslot, boolean>();

  protected override allocBitmap(slot: Memslot): void {
    if (slot.npages <= 1 << 20) return super.allocBitmap(slot);
    slot.bitmap = new Array<number>(Math.ceil(Math.ceil(slot.npages / 64) / 512));
    this.lazy.set(slot, (this.manualDirtyLogProtect & 2) !== 0);
  }

  protected override wordAddress(slot: Memslot, word: number): number {
    const set = this.lazy.get(slot);
    if (set !== undefined && slot.bitmap !== undefined && slot.bitmap[word >> 9] === undefined) {
      const frame = this.memory.allocFrame();
      slot.bitmap[word >> 9] = frame;
      for (let w = word & ~511; set && w < Math.min((word & ~511) + 512, Math.ceil(slot.npages / 64)); w++) {
        const bits = Math.min(64, slot.npages - w * 64);
        this.memory.store(frame + (w & 511) * 8, bits === 64 ? (1n << 64n) - 1n : (1n << BigInt(bits)) - 1n);
      }
    }
    return super.wordAddress(slot, word);
  }

  /** Before a call that may free a lazy bitmap (delete, logging off): every frame allocated. */
  private materialize(mem: MemoryRegion): void {
    const slot = slotOf(this, mem.slot);
    if (slot?.bitmap === undefined || !this.lazy.has(slot) || (mem.memorySize !== 0 && (mem.flags & KVM_MEM_LOG_DIRTY_PAGES) !== 0)) return;
    for (let f = 0; f < slot.bitmap.length; f++) if (slot.bitmap[f] === undefined) slot.bitmap[f] = this.memory.allocFrame();
    this.lazy.delete(slot);
  }
}

// ---- the vCPU's write faults (stage-2 / EPT) ----------------------------------------------

export class FastFixHugeWhileLoggingVm extends KvmVm {
  // FAULT (class scope-change): the fast page fault fixes a write-protected huge leaf in place
  // although its slot logs (the `sp->role.level > PG_LEVEL_4K &&
  // kvm_slot_dirty_track_enabled(fault->slot)` test of Linux v6.14 arch/x86/kvm/mmu/mmu.c
  // fast_page_fault dropped): the huge leaf is made writable again and only the faulting
  // page is marked, so writes to the other 511 pages of its 2 MiB go unrecorded.
  protected override writeFault(slot: Memslot, gfn: number): void {
    const pdeAddr = this.pdeAddress(slot.asId, gfn, false);
    const pde = pdeAddr === undefined ? 0n : this.memory.load(pdeAddr);
    if (pdeAddr === undefined || slot.bitmap === undefined || (pde & EPT_R) === 0n || (pde & EPT_PS) === 0n || (pde & EPT_W) !== 0n) return super.writeFault(slot, gfn);
    // fast_pf_fix_direct_spte: the leaf made writable by cmpxchg, then the faulting page marked.
    if (this.memory.compareExchange(pdeAddr, pde, pde | EPT_W | EPT_A | EPT_D) === pde) this.markDirty(slot, gfn - slot.baseGfn);
  }
}

// ---- KVM_RUN --------------------------------------------------------------------------------

/** KVM_EXIT_DIRTY_RING_FULL as the RFC series defined it (<20191129213505.18472-10-peterx@redhat.com>), before it was renumbered 31 on merge. */
const RFC_EXIT_DIRTY_RING_FULL = 29;

export class RingFullExitRfcNumberVm extends KvmDirtyRingVm {
  // FAULT (class valid-input-refused): the vCPU leaves KVM_RUN at the soft limit, as it must,
  // but with exit reason 29, KVM_EXIT_DIRTY_RING_FULL of the RFC series' uapi/linux/kvm.h,
  // where Linux v6.18 include/uapi/linux/kvm.h has 31 (29 is KVM_EXIT_X86_RDMSR): a VMM
  // built on the merged header never sees its ring full and never collects.
  override run(vcpu: number, writes: readonly GuestWrite[]): { exitReason: number; done: number } {
    const r = super.run(vcpu, writes);
    return r.exitReason === KVM_EXIT_DIRTY_RING_FULL ? { ...r, exitReason: RFC_EXIT_DIRTY_RING_FULL } : r;
  }
}

// ---- KVM_RESET_DIRTY_RINGS ----------------------------------------------------------------

const U64 = (1n << 64n) - 1n;

export class ResetBackwardMergeUncheckedVm extends KvmDirtyRingVm {
  // FAULT (class boundary-arithmetic): kvm_dirty_ring_reset's backward merge (an entry 1..63
  // pages below the batch's base) shifts the mask up without its overflow test, `(mask <<
  // -delta >> -delta) == mask`: a page 63 pages above the base falls off the top of the
  // 64-bit mask, is never re-protected, and its next write is lost.
  protected override joinBatch(cur: ResetBatch, offset: bigint): boolean {
    const delta = BigInt.asIntN(64, offset - cur.offset);
    if (delta > -64n && delta < 0n) {
      cur.offset = offset;
      cur.mask = ((cur.mask << -delta) & U64) | 1n;
      return true;
    }
    return super.joinBatch(cur, offset);
  }
}

export class ResetMergesSixtyFourAheadVm extends KvmDirtyRingVm {
  // FAULT (class boundary-arithmetic): kvm_dirty_ring_reset's forward merge takes an entry 64
  // pages above the batch's base (delta <= BITS_PER_LONG instead of <): its bit is shifted off
  // the top of the 64-bit mask, the page is never re-protected, and its next write is lost.
  protected override joinBatch(cur: ResetBatch, offset: bigint): boolean {
    if (BigInt.asIntN(64, offset - cur.offset) === 64n) return true; // mask | (1 << 64) in 64 bits: no bit
    return super.joinBatch(cur, offset);
  }
}

export class FlushLastGfnOnlyVm extends KvmVm {
  // FAULT (class stale-iotlb): GET and CLEAR flush the TLB after protecting with a flush of
  // one gfn, the loop variable of the protection loop (kvm_flush_remote_tlbs_gfn(kvm, gfn,
  // PG_LEVEL_4K) after `for_each_set_bit`), where Linux v6.14 virt/kvm/kvm_main.c flushes
  // the memslot (kvm_flush_remote_tlbs_memslot): only the last page protected loses its
  // cached translation, every other protected page keeps a writable one.
  private lastProtected: number | undefined;

  protected override protectPages(slot: Memslot, pages: readonly number[], split: boolean): void {
    super.protectPages(slot, pages, split);
    const last = pages.findLast((rel) => rel < slot.npages);
    if (last !== undefined) this.lastProtected = slot.baseGfn + last;
  }

  protected override flushTlbBeforeReturn(): void {
    if (this.lastProtected === undefined) return super.flushTlbBeforeReturn();
    this.tlb.delete(this.lastProtected);
    this.lastProtected = undefined;
    this.flushes++;
  }
}

export class TlbCachesDirectoryVm extends KvmVm {
  // FAULT (class stale-iotlb): the vCPU's TLB caches the translation a write used at the
  // level of its page directory entry, a 2 MiB entry, even when the walk ended at a 4 KiB
  // leaf (Intel SDM Vol. 3A and 3C: an entry caches the translation of the page the walk
  // mapped, at that page's size): every other page of the 2 MiB is then written through
  // the TLB without a walk, past an absent or write-protected leaf, unrecorded.
  override vcpuWrite(gpa: number): VcpuWriteResult {
    const r = super.vcpuWrite(gpa);
    const gfn = Math.floor(gpa / PAGE);
    const pdeAddr = r.exit === 'none' ? this.pdeAddress(0, gfn, false) : undefined;
    if (pdeAddr === undefined || (this.memory.load(pdeAddr) & (EPT_R | EPT_PS)) !== EPT_R) return r;
    const start = gfn - (gfn % 512);
    for (let g = start; g < start + 512; g++) this.tlb.add(g);
    return r;
  }
}

export class WalkCleanSetsAccessedOnlyVm extends KvmVm {
  // FAULT (class state-not-carried): with a hardware dirty bit, the walk of a writable-clean
  // leaf takes the write for a read and sets only the accessed bit (the `write_fault` test
  // of Linux v6.14 arch/x86/kvm/mmu/paging_tmpl.h FNAME(update_accessed_dirty_bits), the
  // A/D update KVM emulates for a nested hypervisor's EPT, read wrong): the dirty bit stays
  // clear and nothing is logged, so the write never reaches the bitmap.
  override vcpuWrite(gpa: number): VcpuWriteResult {
    const gfn = Math.floor(gpa / PAGE);
    const slot = this.slotOf(0, gfn);
    if (!this.hwDirty || slot === undefined || (slot.flags & KVM_MEM_READONLY) !== 0 || this.tlb.has(gfn)) return super.vcpuWrite(gpa);
    const pdeAddr = this.pdeAddress(0, gfn, false);
    const pde = pdeAddr === undefined ? 0n : this.memory.load(pdeAddr);
    if (pdeAddr === undefined || (pde & EPT_R) === 0n || (pde & EPT_PS) !== 0n) return super.vcpuWrite(gpa);
    const leafAddr = Number(pde & EPT_ADDR) + (gfn % 512) * 8;
    const leaf = this.memory.load(leafAddr);
    if ((leaf & EPT_R) === 0n || (leaf & EPT_W) === 0n || (leaf & EPT_D) !== 0n) return super.vcpuWrite(gpa);
    if (this.memory.compareExchange(leafAddr, leaf, leaf | EPT_A) !== leaf) return super.vcpuWrite(gpa);
    this.tlb.add(gfn);
    return { exit: 'none' };
  }
}

// ---- zoo entries and probes ----------------------------------------------------------

type Spec = KvmLogSpec;

const specs: readonly Spec[] = [
  {
    name: 'kvm-slot-wrap-in-gfns',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-SLOT-6'],
    description:
      'KVM_SET_USER_MEMORY_REGION tests for wrap-around on frame numbers (base_gfn + npages < base_gfn, which a 64-bit gfn_t never meets) instead of on guest_phys_addr + memory_size, as Linux v6.14 virt/kvm/kvm_main.c kvm_set_memory_region does: a slot ending past 2^64 is taken.',
    Impl: SlotWrapInGfnsVm,
    what: 'a slot at 2^64 - 4 KiB of 64 pages is taken',
    run: async (vm) => set(vm, { guestPhysAddr: (1n << 64n) - 4096n }),
    want: { reference: EINVAL, mutant: 0 },
  },
  {
    name: 'kvm-slot-max-pages-as-id-exempt',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-SLOT-7'],
    description:
      'The exemption of internal memslots from KVM_MEM_MAX_NR_PAGES (Linux v6.14 virt/kvm/kvm_main.c kvm_set_memory_region, `id < KVM_USER_MEM_SLOTS && ...`, from <20250123144627.312456-2-imbrenda@linux.ibm.com>) tests the whole slot field instead of id: a user slot of address space 1 with 2^31 pages is taken, its dirty bitmap past what an unsigned int indexes.',
    Impl: SlotMaxPagesAsIdExemptVm,
    what: 'a slot of address space 1 with 2^31 pages is taken',
    run: async (vm) => set(vm, { slot: 1 << 16, memorySize: (1n << 31n) * 4096n, userspaceAddr: 0n }),
    want: { reference: EINVAL, mutant: 0 },
  },
  {
    name: 'kvm-fast-fix-huge-while-logging',
    bugClass: 'boundary-arithmetic',
    targets: ['KVM-PT-5'],
    description:
      'The fast page fault makes a write-protected huge leaf of a logging slot writable again and marks only the faulting page (the dirty-logging test of Linux v6.14 arch/x86/kvm/mmu/mmu.c fast_page_fault dropped), instead of letting the slow path map the page as a 4 KiB leaf: the other pages of the 2 MiB are written unrecorded.',
    Impl: FastFixHugeWhileLoggingVm,
    what: 'with eager splitting off, a write after logging starts leaves page 1 of the huge leaf writable and unrecorded',
    run: async (vm) => {
      await set(vm, { flags: 0, memorySize: 512n * 4096n, userspaceAddr: 0x4000_0000n });
      await vm.vcpuWrite(GPA);
      await set(vm, { memorySize: 512n * 4096n, userspaceAddr: 0x4000_0000n });
      await vm.vcpuWrite(GPA);
      await vm.vcpuWrite(GPA + 4096n);
      return (await vm.getDirtyLog(0, 64)).bitmap?.[0];
    },
    want: { reference: 0b11, mutant: 0b01 },
    config: { eagerSplit: false },
  },
  {
    name: 'kvm-flush-last-gfn-only',
    bugClass: 'stale-iotlb',
    targets: ['KVM-PT-12'],
    description:
      "GET and CLEAR flush, after protecting, the translation of the last page they protected only (a one-gfn flush with the protection loop's variable, where Linux v6.14 virt/kvm/kvm_main.c kvm_get_dirty_log_protect and kvm_clear_dirty_log_protect flush the memslot): every other protected page keeps its cached writable translation, and its next write goes through unrecorded.",
    Impl: FlushLastGfnOnlyVm,
    what: 'after GET of a 64-page slot with pages 0 and 5 written, page 0 is still in the TLB',
    run: async (vm) => {
      await set(vm, {});
      await vm.vcpuWrite(GPA);
      await vm.vcpuWrite(GPA + 5n * 4096n);
      await vm.getDirtyLog(0, 8);
      return vm.inspectPage?.(GPA).tlb;
    },
    want: { reference: false, mutant: true },
  },
  {
    name: 'kvm-tlb-caches-directory',
    bugClass: 'stale-iotlb',
    targets: ['KVM-PT-14'],
    description:
      "The vCPU's TLB caches a write's translation for the whole 2 MiB of its page directory entry although the walk ended at a 4 KiB leaf (Intel SDM Vol. 3A and 3C: a TLB entry translates the page the walk mapped, at that page's size): the other pages of the 2 MiB are written without a walk, past absent or write-protected leaves, unrecorded.",
    Impl: TlbCachesDirectoryVm,
    what: 'after a write to page 0 of a logging slot, a write to page 1 is not in the log',
    run: async (vm) => {
      await set(vm, {});
      await vm.vcpuWrite(GPA);
      await vm.vcpuWrite(GPA + 4096n);
      return (await vm.getDirtyLog(0, 8)).bitmap?.[0];
    },
    want: { reference: 0b11, mutant: 0b01 },
  },
  {
    name: 'kvm-walk-clean-sets-accessed-only',
    bugClass: 'state-not-carried',
    targets: ['KVM-PT-7'],
    description:
      'With a hardware dirty bit, the walk of a writable-clean leaf sets only the accessed bit on a write (the write_fault test of Linux v6.14 arch/x86/kvm/mmu/paging_tmpl.h FNAME(update_accessed_dirty_bits) read wrong): the dirty bit stays clear, nothing is logged, and the write after a GET never reaches the bitmap.',
    Impl: WalkCleanSetsAccessedOnlyVm,
    what: 'with EPT A/D, a write after GET cleaned the page is not in the next GET',
    run: async (vm) => {
      await set(vm, {});
      await vm.vcpuWrite(GPA);
      await vm.getDirtyLog(0, 8);
      await vm.vcpuWrite(GPA);
      return (await vm.getDirtyLog(0, 8)).bitmap?.[0];
    },
    want: { reference: 1, mutant: 0 },
    config: { hwDirty: true },
  },
];

/** The kvm-dirty-ring mutants, with their probes on a VM of the kit's flat ring memory. */
type RingSpec = MutantSpec<typeof KvmDirtyRingVm, Adapter>;

const RING_BASE = 0x10000;

const ringSpecs: readonly RingSpec[] = [
  {
    name: 'ring-full-exit-rfc-number',
    bugClass: 'valid-input-refused',
    targets: ['KVM-RING-1'],
    description:
      'KVM_RUN stops at the soft limit with exit reason 29, the KVM_EXIT_DIRTY_RING_FULL of the RFC series (<20191129213505.18472-10-peterx@redhat.com>), not the 31 of Linux v6.18 include/uapi/linux/kvm.h: a VMM built on the uAPI takes the exit for KVM_EXIT_X86_RDMSR and never collects the ring.',
    Impl: RingFullExitRfcNumberVm,
    what: 'the exit at the soft limit of a 256-entry ring is 29',
    run: async (a) => {
      const vm = await (a as KvmDirtyRingAdapter).create(new FlatRingMemory(1 << 22), { arch: 'x86' }, NO_SIGNALS);
      await vm.enableCap(KVM_CAP_DIRTY_LOG_RING_ACQ_REL, 4096, 0);
      await vm.createVcpu(RING_BASE);
      await vm.setMemslot(0, 0, 256, true);
      return vm.run(
        0,
        Array.from({ length: 200 }, (_, k) => ({ slot: 0, offset: k })),
      );
    },
    want: { reference: { exitReason: 31, done: 192 }, mutant: { exitReason: 29, done: 192 } },
  },
  {
    name: 'ring-reset-backward-merge-unchecked',
    bugClass: 'boundary-arithmetic',
    targets: ['KVM-RING-17'],
    description:
      "KVM_RESET_DIRTY_RINGS coalesces an entry 1..63 pages below the batch's base by shifting the mask up without the overflow test of Linux v6.18 virt/kvm/dirty_ring.c kvm_dirty_ring_reset (`(mask << -delta >> -delta) == mask`): after 64 entries written downwards, the highest page falls off the mask and stays writable.",
    Impl: ResetBackwardMergeUncheckedVm,
    what: 'after 65 writes from page 100 down, harvested and reset, page 100 is writable',
    run: (a) =>
      protectedAfterReset(
        a,
        Array.from({ length: 65 }, (_, k) => 100 - k),
        100,
      ),
    want: { reference: 1, mutant: 0 },
  },
  {
    name: 'ring-reset-merges-64-ahead',
    bugClass: 'boundary-arithmetic',
    targets: ['KVM-RING-17'],
    description:
      "KVM_RESET_DIRTY_RINGS coalesces an entry exactly 64 pages above the batch's base (delta <= BITS_PER_LONG where Linux v6.18 virt/kvm/dirty_ring.c kvm_dirty_ring_reset has delta < BITS_PER_LONG): its bit falls off the 64-bit mask and the page stays writable.",
    Impl: ResetMergesSixtyFourAheadVm,
    what: 'after writes to pages 10 and 74, harvested and reset, page 74 is writable',
    run: (a) => protectedAfterReset(a, [10, 74], 74),
    want: { reference: 1, mutant: 0 },
  },
];

/**
 * A VM with the ring on (4096 entries) and a 256-page logging memslot: vCPU 0 writes `pages`
 * of it in order, the collector marks each pushed entry RESET, one KVM_RESET_DIRTY_RINGS;
 * 1 if `page` is write-protected again after it (its next write pushes), else 0.
 */
async function protectedAfterReset(a: Adapter, pages: readonly number[], page: number): Promise<number> {
  const memory = new FlatRingMemory(1 << 22);
  const vm = await (a as KvmDirtyRingAdapter).create(memory, { arch: 'x86' }, NO_SIGNALS);
  await vm.enableCap(KVM_CAP_DIRTY_LOG_RING_ACQ_REL, 4096, 0);
  await vm.createVcpu(RING_BASE);
  await vm.setMemslot(0, 0, 256, true);
  await vm.run(
    0,
    pages.map((offset) => ({ slot: 0, offset })),
  );
  for (let i = 0; i < pages.length; i++) memory.store32(flagsAddr(RING_BASE, i), 2); // KVM_DIRTY_GFN_F_RESET
  await vm.resetDirtyRings();
  const wp = await vm.writeProtectedPages(0);
  return (wp[page >> 3]! >> (page & 7)) & 1;
}

const WHY: Partial<Record<BugClass, string>> = {
  'bad-input-accepted': 'input the uAPI refuses let through, or refused under the wrong errno.',
  'stale-iotlb': 'a translation that outlives the protection of the leaf it caches.',
  'state-not-carried': 'the write is not carried into the dirty bit, so neither the hardware log nor the bitmap ever holds it.',
  'valid-input-refused': 'a KVM_RUN the uAPI lets run answered with an exit reason it does not define for that exit, which a VMM handles as another exit or as an unhandled one.',
  'boundary-arithmetic': 'arithmetic at an edge: a 2 MiB leaf made writable where one 4 KiB page is marked, a bit shifted off the top of a 64-bit mask.',
};

export const kvmIdMutants: readonly Mutant[] = [
  ...kvmLogZooOf(specs, WHY),
  ...ringSpecs.map((s) => ({
    name: s.name,
    bugClass: s.bugClass,
    profile: 'kvm-dirty-ring' as const,
    description: `${s.description} Class ${s.bugClass}: ${WHY[s.bugClass] ?? ''}`,
    targets: s.targets,
    adapter: referenceKvmDirtyRingAdapter(s.name, s.Impl),
  })),
];

const logProbes: readonly Probe[] = kvmLogProbesOf(specs);

const refRing = referenceKvmDirtyRingAdapter();

const ringProbes: readonly Probe[] = ringSpecs.map((s) => ({
  mutant: s.name,
  title: `${s.targets.map((t) => `[${t}]`).join(' ')} mutant ${s.name} deviates from the reference: ${s.what}`,
  reference: refRing,
  run: s.run,
  want: s.want,
}));

/** One directed probe per mutant of `kvmIdMutants`. */
export const kvmIdProbes: readonly Probe[] = [...logProbes, ...ringProbes];
