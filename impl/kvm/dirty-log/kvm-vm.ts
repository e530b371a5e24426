// The reference KVM VM for dirty logging: memslots (KVM_SET_USER_MEMORY_REGION), the
// dirty bitmaps with KVM_GET_DIRTY_LOG, KVM_CLEAR_DIRTY_LOG and the manual-protect
// capability, over an EPT-style stage 2 in the kit's physical memory, with the vCPU's
// side: a TLB of write-permitted translations, the hardware dirty bit (EPT A/D) and its
// log (PML), write faults handled as KVM's MMU does. Methods take the ioctls' raw numbers
// and return 0 or a negated Linux errno; a refused call changes nothing (except
// KVM_GET_DIRTY_LOG's -EFAULT without manual protect, which the kernel returns after
// taking the bitmap).
//
// Sources: Linux v6.14 include/uapi/linux/kvm.h; virt/kvm/kvm_main.c
//          (kvm_vm_ioctl_set_memory_region, kvm_set_memory_region, kvm_prepare_memory_region,
//          kvm_commit_memory_region, kvm_get_dirty_log_protect, kvm_clear_dirty_log_protect,
//          kvm_vm_ioctl_enable_cap_generic, mark_page_dirty_in_slot); arch/x86/kvm/x86.c
//          (kvm_mmu_slot_apply_flags, kvm_arch_sync_dirty_log); arch/x86/kvm/mmu/mmu.c and
//          tdp_mmu.c (kvm_arch_mmu_enable_log_dirty_pt_masked, fast_page_fault, huge page
//          split by cmpxchg); Intel SDM Vol. 3C (EPT entry format, A/D flags, PML).
//
// Memory layout (all 64-bit words in PhysicalMemory, every access through it, so the
// kit's hook runs between any two):
// - per address space, a page directory frame per GiB of guest physical space; a PDE is
//   0, a 2 MiB huge leaf (PS set), or a table of 512 4 KiB leaves;
// - EPT leaf bits: R 0, W 1, X 2, PS 7 (PDE), A 8, D 9, address 51:12 (the host address);
// - a slot's dirty bitmap: ALIGN(npages, 64) / 64 words, bit i of word i / 64 for page i,
//   set by atomic OR, taken by atomic exchange, cleared by atomic AND-NOT.
//
// DEPARTS: one vCPU (one TLB, one PML buffer); no guest data (a write is its recording);
// userspace_addr is taken as the host address the leaf maps; huge pages are 2 MiB only,
// used where the slot's guest and host addresses are 2 MiB-congruent and cover the
// whole huge page (host THP assumed); disabling logging leaves the small leaves as they
// are (no recovery of huge pages); the dirty ring is an option, not an ioctl.
import type { PhysicalMemory } from '../../memory/physical-memory.ts';
import { EEXIST, EFAULT, EINVAL, ENOENT } from '../../errno.ts';

/** include/uapi/asm-generic/errno-base.h: ENXIO. impl/errno.ts does not list it. */
export const ENXIO = 6;

// include/uapi/linux/kvm.h (Linux v6.14). spec/kvm/dirty-log/args.ts has them too: impl/
// imports nothing from spec/, so the implementation keeps its own copy.
export const KVM_MEM_LOG_DIRTY_PAGES = 1 << 0;
export const KVM_MEM_READONLY = 1 << 1;
export const KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 = 168;
export const KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE = 1 << 0;
export const KVM_DIRTY_LOG_INITIALLY_SET = 1 << 1;
export const KVM_DIRTY_LOG_MANUAL_CAPS = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET;
export const KVM_CAP_DIRTY_LOG_RING = 192;
export const KVM_CAP_DIRTY_LOG_RING_ACQ_REL = 223;
/** KVM_DIRTY_RING_MAX_ENTRIES * sizeof(struct kvm_dirty_gfn): what x86 answers for both ring capabilities (v6.1 on). */
const KVM_DIRTY_RING_MAX_BYTES = 65536 * 16;
/** _IOW(KVMIO, 0x46, struct kvm_userspace_memory_region). */
export const KVM_SET_USER_MEMORY_REGION = 0x4020ae46;
/** _IOW(KVMIO, 0x42, struct kvm_dirty_log). */
export const KVM_GET_DIRTY_LOG = 0x4010ae42;
/** _IOWR(KVMIO, 0xc0, struct kvm_clear_dirty_log). */
export const KVM_CLEAR_DIRTY_LOG = 0xc018aec0;
/** _IOW(KVMIO, 0xa3, struct kvm_enable_cap). */
export const KVM_ENABLE_CAP = 0x4068aea3;
/** (1UL << 31) - 1: the most pages of a user slot (virt/kvm/kvm_main.c). */
const KVM_MEM_MAX_NR_PAGES = 2 ** 31 - 1;

// EPT entry bits (Intel SDM Vol. 3C, EPT paging-structure entries).
export const EPT_R = 1n << 0n;
export const EPT_W = 1n << 1n;
export const EPT_X = 1n << 2n;
export const EPT_PS = 1n << 7n;
export const EPT_A = 1n << 8n;
export const EPT_D = 1n << 9n;
export const EPT_ADDR = ((1n << 52n) - 1n) & ~0xfffn;

const PAGE = 4096;
const HUGE_PAGES = 512;
const U64_LIMIT = 1n << 64n;

export interface KvmVmOptions {
  /** x86 EPT A/D with PML (arm64 stage-2 DBM alike): protect by clearing D, log writes in hardware. Default false (write protection). */
  readonly hwDirty?: boolean;
  /** eager_page_split: split huge leaves when logging starts (default true). */
  readonly eagerSplit?: boolean;
  /** Map 2 MiB leaves where the slot allows (default true). */
  readonly hugePages?: boolean;
  /** KVM_USER_MEM_SLOTS (default x86's 32764). */
  readonly userMemSlots?: number;
  /** Address spaces (default x86's 2). */
  readonly addressSpaces?: number;
  /** KVM_MEM_READONLY supported (default true). */
  readonly readonlyMem?: boolean;
  /**
   * Where access_ok stops a slot: userspace_addr + memory_size past it is -EINVAL (default 2^47).
   * DEPARTS: x86-64's is TASK_SIZE_MAX (2^47 - 4096) before v6.4 and TASK_SIZE_MAX - 4096 from
   * v6.12 (86e6b1547b3d, USER_PTR_MAX); the reference is held to the limit it declares.
   */
  readonly userAddressLimit?: number;
  /** The dirty ring is enabled without KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP: no bitmaps, GET/CLEAR -ENXIO. */
  readonly dirtyRingExclusive?: boolean;
  /** PML buffer entries (512 on x86); a full buffer exits to KVM, which drains it. */
  readonly pmlEntries?: number;
}

export interface MemoryRegion {
  readonly slot: number;
  readonly flags: number;
  readonly guestPhysAddr: number;
  readonly memorySize: number;
  readonly userspaceAddr: number;
}

export interface Memslot {
  readonly asId: number;
  readonly id: number;
  baseGfn: number;
  readonly npages: number;
  flags: number;
  readonly userspaceAddr: number;
  /** Physical addresses of the frames holding the dirty bitmap words; undefined: no bitmap. */
  bitmap: number[] | undefined;
}

export type VcpuWriteResult = { readonly exit: 'none' } | { readonly exit: 'mmio' };

function u64(x: number): bigint {
  if (!Number.isInteger(x) || x < 0 || x >= 2 ** 64) throw new RangeError(`must be an integer in [0, 2^64), got ${x}`);
  return BigInt(x);
}

export class KvmVm {
  readonly hwDirty: boolean;
  readonly eagerSplit: boolean;
  readonly hugePages: boolean;
  readonly userMemSlots: number;
  readonly addressSpaces: number;
  readonly readonlyMem: boolean;
  readonly userAddressLimit: number;
  readonly dirtyRingExclusive: boolean;
  readonly pmlEntries: number;
  /** kvm->manual_dirty_log_protect. */
  manualDirtyLogProtect = 0;
  protected readonly slots = new Map<number, Memslot>();
  /** Per address space: GiB index to page-directory frame. */
  protected readonly directories: Map<number, number>[] = [];
  /** The vCPU's TLB: gfns (address space 0) whose write needs no walk. */
  readonly tlb = new Set<number>();
  /** The vCPU's PML buffer: gfns logged by hardware, not yet in a bitmap. */
  readonly pml: number[] = [];
  /** TLB flushes done (remote TLB flush requests), for tests. */
  flushes = 0;

  constructor(
    readonly memory: PhysicalMemory,
    options: KvmVmOptions = {},
  ) {
    this.hwDirty = options.hwDirty ?? false;
    this.eagerSplit = options.eagerSplit ?? true;
    this.hugePages = options.hugePages ?? true;
    this.userMemSlots = options.userMemSlots ?? 32764;
    this.addressSpaces = options.addressSpaces ?? 2;
    this.readonlyMem = options.readonlyMem ?? true;
    this.userAddressLimit = options.userAddressLimit ?? 2 ** 47;
    this.dirtyRingExclusive = options.dirtyRingExclusive ?? false;
    this.pmlEntries = options.pmlEntries ?? 512;
    for (let i = 0; i < this.addressSpaces; i++) this.directories.push(new Map());
  }

  /** The slots, as copies. */
  get memslots(): readonly Readonly<Memslot>[] {
    return [...this.slots.values()].map((s) => ({ ...s, bitmap: s.bitmap === undefined ? undefined : [...s.bitmap] }));
  }

  private get initiallySet(): boolean {
    return (this.manualDirtyLogProtect & KVM_DIRTY_LOG_INITIALLY_SET) !== 0;
  }

  private get loggingAny(): boolean {
    return [...this.slots.values()].some((s) => (s.flags & KVM_MEM_LOG_DIRTY_PAGES) !== 0);
  }

  // -------------------------------------------------------------------------------------
  // KVM_CHECK_EXTENSION, KVM_ENABLE_CAP

  /**
   * KVM_CHECK_EXTENSION: the manual-protect options, and the dirty ring as x86 offers it from
   * v6.1 (kvm_vm_ioctl_check_extension_generic: KVM_CAP_DIRTY_LOG_RING and _ACQ_REL under
   * CONFIG_HAVE_KVM_DIRTY_RING_TSO), which this VM plays through its dirtyRingExclusive option.
   */
  checkExtension(cap: number): number {
    if (cap === KVM_CAP_DIRTY_LOG_RING || cap === KVM_CAP_DIRTY_LOG_RING_ACQ_REL) return KVM_DIRTY_RING_MAX_BYTES;
    return cap === KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 ? KVM_DIRTY_LOG_MANUAL_CAPS : 0;
  }

  /** kvm_vm_ioctl_enable_cap_generic. */
  enableCap(cap: number, flags: number, args0: bigint): number {
    if (cap !== KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) return -EINVAL;
    let allowed = BigInt(KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE);
    if ((args0 & BigInt(KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE)) !== 0n) allowed = BigInt(KVM_DIRTY_LOG_MANUAL_CAPS);
    if (flags !== 0 || (args0 & ~allowed) !== 0n) return -EINVAL;
    this.manualDirtyLogProtect = Number(args0);
    return 0;
  }

  // -------------------------------------------------------------------------------------
  // KVM_SET_USER_MEMORY_REGION

  setUserMemoryRegion(mem: MemoryRegion): number {
    if ((mem.slot & 0xffff) >= this.userMemSlots) return -EINVAL; // kvm_vm_ioctl_set_memory_region
    const valid = KVM_MEM_LOG_DIRTY_PAGES | (this.readonlyMem ? KVM_MEM_READONLY : 0);
    if ((mem.flags & ~valid) !== 0) return -EINVAL;
    const asId = mem.slot >>> 16;
    const id = mem.slot & 0xffff;
    const size = u64(mem.memorySize);
    const gpa = u64(mem.guestPhysAddr);
    const uaddr = u64(mem.userspaceAddr);
    if (size % BigInt(PAGE) !== 0n || gpa % BigInt(PAGE) !== 0n) return -EINVAL;
    if (uaddr % BigInt(PAGE) !== 0n || uaddr + size > BigInt(this.userAddressLimit)) return -EINVAL;
    if (asId >= this.addressSpaces) return -EINVAL;
    if (gpa + size >= U64_LIMIT) return -EINVAL;
    if (size / BigInt(PAGE) > BigInt(KVM_MEM_MAX_NR_PAGES)) return -EINVAL;
    // Memslot updates kick the vCPUs out, which flushes their PML buffers into the old slots.
    this.syncDirtyLog();
    const key = mem.slot >>> 0;
    const old = this.slots.get(key);
    const npages = Number(size / BigInt(PAGE));
    const baseGfn = Number(gpa / BigInt(PAGE));
    if (size === 0n) {
      if (old === undefined) return -EINVAL;
      this.zapSlot(old);
      this.flushTlb();
      this.slots.delete(key);
      if (old.bitmap !== undefined) this.freeBitmap(old);
      return 0;
    }
    let change: 'create' | 'move' | 'flags';
    if (old === undefined) change = 'create';
    else {
      if (mem.userspaceAddr !== old.userspaceAddr || npages !== old.npages || ((mem.flags ^ old.flags) & KVM_MEM_READONLY) !== 0) return -EINVAL;
      if (baseGfn !== old.baseGfn) change = 'move';
      else if (mem.flags !== old.flags) change = 'flags';
      else return 0;
    }
    if ((change === 'create' || change === 'move') && this.overlaps(asId, id, baseGfn, npages)) return -EEXIST;
    const logging = (mem.flags & KVM_MEM_LOG_DIRTY_PAGES) !== 0;
    if (change === 'create') {
      const slot: Memslot = { asId, id, baseGfn, npages, flags: mem.flags, userspaceAddr: mem.userspaceAddr, bitmap: undefined };
      if (logging && !this.dirtyRingExclusive) this.allocBitmap(slot);
      this.slots.set(key, slot);
      return 0;
    }
    const slot = old!;
    const wasLogging = slot.bitmap !== undefined;
    if (change === 'move') {
      this.zapSlot(slot);
      this.flushTlb();
      slot.baseGfn = baseGfn;
    }
    slot.flags = mem.flags;
    if (!logging && slot.bitmap !== undefined) this.freeBitmap(slot);
    if (logging && !wasLogging && !this.dirtyRingExclusive) {
      this.allocBitmap(slot);
      // kvm_mmu_slot_apply_flags: INITIALLY_SET protects nothing (every bit is set).
      if (change === 'flags' && !this.initiallySet) {
        this.protectPages(
          slot,
          Array.from({ length: slot.npages }, (_, i) => i),
          this.eagerSplit,
        );
        this.flushTlb();
      }
    }
    return 0;
  }

  private overlaps(asId: number, id: number, baseGfn: number, npages: number): boolean {
    for (const s of this.slots.values()) {
      if (s.asId !== asId || s.id === id) continue;
      if (s.baseGfn < baseGfn + npages && baseGfn < s.baseGfn + s.npages) return true;
    }
    return false;
  }

  /** kvm_alloc_dirty_bitmap (+ bitmap_set under INITIALLY_SET). */
  protected allocBitmap(slot: Memslot): void {
    const words = Math.ceil(slot.npages / 64);
    const frames: number[] = [];
    for (let i = 0; i < Math.max(1, Math.ceil(words / 512)); i++) frames.push(this.memory.allocFrame());
    slot.bitmap = frames;
    if (this.initiallySet) {
      for (let w = 0; w < words; w++) {
        const bits = Math.min(64, slot.npages - w * 64);
        this.memory.store(this.wordAddress(slot, w), bits === 64 ? (1n << 64n) - 1n : (1n << BigInt(bits)) - 1n);
      }
    }
  }

  private freeBitmap(slot: Memslot): void {
    for (const f of slot.bitmap ?? []) this.memory.freeFrame(f);
    slot.bitmap = undefined;
  }

  protected wordAddress(slot: Memslot, word: number): number {
    return slot.bitmap![word >> 9]! + (word & 511) * 8;
  }

  /** mark_page_dirty_in_slot: set_bit_le, atomic. */
  protected markDirty(slot: Memslot, rel: number): void {
    if (slot.bitmap === undefined) return;
    this.memory.fetchOr(this.wordAddress(slot, rel >> 6), 1n << BigInt(rel & 63));
  }

  // -------------------------------------------------------------------------------------
  // KVM_GET_DIRTY_LOG, KVM_CLEAR_DIRTY_LOG

  /** `bitmapBytes`: how many bytes at dirty_bitmap the caller made writable. */
  getDirtyLog(slotField: number, bitmapBytes: number): { errno: number; bitmap?: Uint8Array } {
    this.beginIoctl();
    if (this.dirtyRingExclusive) return { errno: -ENXIO };
    const asId = slotField >>> 16;
    const id = slotField & 0xffff;
    if (asId >= this.addressSpaces || id >= this.userMemSlots) return { errno: -EINVAL };
    const slot = this.slots.get(slotField >>> 0);
    if (slot === undefined || slot.bitmap === undefined) return { errno: -ENOENT };
    this.syncDirtyLog();
    const words = Math.ceil(slot.npages / 64);
    const n = words * 8;
    const snapshot = new Uint8Array(n);
    if (this.manualDirtyLogProtect !== 0) {
      this.copyBitmapManual(slot, snapshot);
    } else {
      let flush = false;
      for (let w = 0; w < words; w++) {
        const addr = this.wordAddress(slot, w);
        if (this.memory.load(addr) === 0n) continue;
        flush = true;
        writeWord(snapshot, w, this.takeAndProtect(slot, w, addr));
      }
      if (flush) this.flushTlbBeforeReturn();
    }
    if (bitmapBytes < n) return { errno: -EFAULT };
    return { errno: 0, bitmap: snapshot };
  }

  /** Manual protect: the bitmap is read, not cleared. */
  protected copyBitmapManual(slot: Memslot, out: Uint8Array): void {
    for (let w = 0; w < Math.ceil(slot.npages / 64); w++) writeWord(out, w, this.memory.load(this.wordAddress(slot, w)));
  }

  /**
   * One word of a GET without manual protect: taken first, then its pages protected, so a
   * fault between the two marks a bit this GET has already taken and the next one reports
   * (Linux v6.12.117 virt/kvm/kvm_main.c kvm_get_dirty_log_protect; the order edde99ce0529
   * made, "KVM: fix dirty bit tracking for slots with large pages").
   */
  protected takeAndProtect(slot: Memslot, word: number, addr: number): bigint {
    const mask = this.takeWord(addr);
    this.protectMask(slot, word * 64, mask, this.eagerSplit);
    return mask;
  }

  /** xchg(&dirty_bitmap[i], 0). */
  protected takeWord(addr: number): bigint {
    return this.memory.exchange(addr, 0n);
  }

  /** `bitmap`: the bytes at dirty_bitmap the kernel can read. */
  clearDirtyLog(slotField: number, firstPage: bigint, numPages: number, bitmap: Uint8Array): number {
    this.beginIoctl();
    if (this.dirtyRingExclusive) return -ENXIO;
    const asId = slotField >>> 16;
    const id = slotField & 0xffff;
    if (asId >= this.addressSpaces || id >= this.userMemSlots) return -EINVAL;
    if ((firstPage & 63n) !== 0n) return -EINVAL;
    const slot = this.slots.get(slotField >>> 0);
    if (slot === undefined || slot.bitmap === undefined) return -ENOENT;
    if (!this.clearRangeOk(slot.npages, firstPage, numPages)) return -EINVAL;
    this.syncDirtyLog();
    if (bitmap.length < this.clearBytes(slot, numPages)) return -EFAULT;
    const first = Number(firstPage);
    let flush = false;
    for (let i = 0, w = first / 64; i < this.clearWords(numPages); i++, w++) {
      const mask = readWord(bitmap, i);
      if (mask === 0n) continue;
      if (this.clearAndProtect(slot, w, mask) !== 0n) flush = true;
    }
    if (flush) this.flushTlbBeforeReturn();
    return 0;
  }

  /**
   * One word of a CLEAR: the selected bits taken first, then the pages that were dirty among
   * them protected, so a fault between the two marks a bit that stays for the next GET
   * (Linux v6.12.117 virt/kvm/kvm_main.c kvm_clear_dirty_log_protect:
   * atomic_long_fetch_andnot, then kvm_arch_mmu_enable_log_dirty_pt_masked). Returns the
   * bits it cleared.
   */
  protected clearAndProtect(slot: Memslot, word: number, mask: bigint): bigint {
    const cleared = mask & this.clearWord(this.wordAddress(slot, word), mask);
    if (cleared !== 0n) this.protectMask(slot, word * 64, cleared, this.eagerSplit);
    return cleared;
  }

  /** first_page > npages, num_pages > npages - first_page, or num_pages unaligned short of the end. */
  protected clearRangeOk(npages: number, firstPage: bigint, numPages: number): boolean {
    const n = BigInt(npages);
    const num = BigInt(numPages);
    if (firstPage > n || num > n - firstPage) return false;
    return !(num < n - firstPage && (num & 63n) !== 0n);
  }

  /** ALIGN(num_pages, 64) / 8: the bytes copy_from_user reads. */
  protected clearBytes(_slot: Memslot, numPages: number): number {
    return Math.ceil(numPages / 64) * 8;
  }

  /** DIV_ROUND_UP(num_pages, 64): the words the clear loop walks. */
  protected clearWords(numPages: number): number {
    return Math.ceil(numPages / 64);
  }

  /** atomic_long_fetch_andnot: the old word. */
  protected clearWord(addr: number, mask: bigint): bigint {
    return this.memory.fetchAnd(addr, ~mask & ((1n << 64n) - 1n));
  }

  // -------------------------------------------------------------------------------------
  // The MMU: protection, split, zap, TLB, PML

  /** kvm_arch_sync_dirty_log: the PML buffer drained into the bitmaps. */
  protected syncDirtyLog(): void {
    const logged = this.pml.splice(0);
    for (const gfn of logged) {
      const slot = this.slotOf(0, gfn);
      if (slot !== undefined) this.markDirty(slot, gfn - slot.baseGfn);
    }
  }

  /** Called first by every dirty-log ioctl (a deferred flush would land here). */
  protected beginIoctl(): void {}

  /** kvm_flush_remote_tlbs_memslot after protecting: before the ioctl returns. */
  protected flushTlbBeforeReturn(): void {
    this.flushTlb();
  }

  protected flushTlb(): void {
    this.tlb.clear();
    this.flushes++;
  }

  /** kvm_arch_mmu_enable_log_dirty_pt_masked over the set bits of `mask` (pages base + i). */
  protected protectMask(slot: Memslot, base: number, mask: bigint, split: boolean): void {
    const pages: number[] = [];
    for (let i = 0; i < 64; i++) if (((mask >> BigInt(i)) & 1n) !== 0n) pages.push(base + i);
    this.protectPages(slot, pages, split);
  }

  protected protectPages(slot: Memslot, pages: readonly number[], split: boolean): void {
    for (const rel of pages) {
      if (rel >= slot.npages) continue;
      const gfn = slot.baseGfn + rel;
      const pdeAddr = this.pdeAddress(slot.asId, gfn, false);
      if (pdeAddr === undefined) continue;
      const pde = this.memory.load(pdeAddr);
      if ((pde & EPT_R) === 0n) continue;
      if ((pde & EPT_PS) !== 0n) {
        if (split) this.splitHuge(pdeAddr);
        else {
          this.protectLeaf(pdeAddr, EPT_W);
          continue;
        }
      }
      const pteAddr = this.pteAddress(pdeAddr, gfn);
      if (pteAddr === undefined) continue;
      this.protectLeaf(pteAddr, this.hwDirty ? EPT_D : EPT_W);
    }
  }

  /** Clears `bit` of a present leaf by an atomic AND (clear_bit / tdp_mmu_set_spte_atomic). */
  protected protectLeaf(addr: number, bit: bigint): void {
    const old = this.memory.load(addr);
    if ((old & EPT_R) === 0n || (old & bit) === 0n) return;
    this.memory.fetchAnd(addr, ~bit & ((1n << 64n) - 1n));
  }

  /**
   * Splits the huge leaf at `pdeAddr` into 512 small leaves carrying its bits, published
   * by compare-exchange: a D bit the hardware sets in between makes it retry.
   */
  protected splitHuge(pdeAddr: number): void {
    for (;;) {
      const old = this.memory.load(pdeAddr);
      if ((old & EPT_PS) === 0n || (old & EPT_R) === 0n) return;
      const table = this.memory.allocFrame();
      const base = old & EPT_ADDR;
      const bits = old & (EPT_R | EPT_W | EPT_X | EPT_A | EPT_D);
      for (let i = 0; i < HUGE_PAGES; i++) this.memory.store(table + i * 8, (base + BigInt(i * PAGE)) | bits);
      if (this.memory.compareExchange(pdeAddr, old, BigInt(table) | EPT_R | EPT_W | EPT_X) === old) return;
      this.memory.freeFrame(table);
    }
  }

  /** kvm_arch_flush_shadow_memslot: every leaf of the slot removed. */
  protected zapSlot(slot: Memslot): void {
    for (let gfn = slot.baseGfn; gfn < slot.baseGfn + slot.npages; ) {
      const pdeAddr = this.pdeAddress(slot.asId, gfn, false);
      const next = (Math.floor(gfn / HUGE_PAGES) + 1) * HUGE_PAGES;
      if (pdeAddr === undefined) {
        gfn = next;
        continue;
      }
      const pde = this.memory.load(pdeAddr);
      if ((pde & EPT_R) === 0n) {
        gfn = next;
        continue;
      }
      if ((pde & EPT_PS) !== 0n) {
        this.memory.exchange(pdeAddr, 0n);
        gfn = next;
        continue;
      }
      const start = next - HUGE_PAGES;
      if (start >= slot.baseGfn && next <= slot.baseGfn + slot.npages) {
        // The whole table belongs to the slot: it goes too, so a later fault may map a huge leaf again.
        const old = this.memory.exchange(pdeAddr, 0n);
        this.memory.freeFrame(Number(old & EPT_ADDR));
        gfn = next;
        continue;
      }
      const end = Math.min(next, slot.baseGfn + slot.npages);
      for (; gfn < end; gfn++) this.memory.exchange(this.pteAddress(pdeAddr, gfn)!, 0n);
    }
  }

  protected pdeAddress(asId: number, gfn: number, create: boolean): number | undefined {
    const dir = this.directories[asId]!;
    const gib = Math.floor(gfn / (HUGE_PAGES * 512));
    let frame = dir.get(gib);
    if (frame === undefined) {
      if (!create) return undefined;
      frame = this.memory.allocFrame();
      dir.set(gib, frame);
    }
    return frame + (Math.floor(gfn / HUGE_PAGES) % 512) * 8;
  }

  private pteAddress(pdeAddr: number, gfn: number): number | undefined {
    const pde = this.memory.load(pdeAddr);
    if ((pde & EPT_R) === 0n || (pde & EPT_PS) !== 0n) return undefined;
    return Number(pde & EPT_ADDR) + (gfn % HUGE_PAGES) * 8;
  }

  protected slotOf(asId: number, gfn: number): Memslot | undefined {
    for (const s of this.slots.values()) if (s.asId === asId && gfn >= s.baseGfn && gfn < s.baseGfn + s.npages) return s;
    return undefined;
  }

  // -------------------------------------------------------------------------------------
  // The vCPU

  /**
   * KVM's own write of address space 0's `gpa`, without a running vCPU (kvm_write_guest from
   * an ioctl): mark_page_dirty_in_slot through the memslot, no guest leaf touched. Outside
   * a writable slot nothing is written.
   */
  kvmWrite(gpa: number): void {
    const slot = this.slotOf(0, Math.floor(gpa / PAGE));
    if (slot === undefined || (slot.flags & KVM_MEM_READONLY) !== 0) return;
    this.markDirtyWithoutVcpu(slot, Math.floor(gpa / PAGE) - slot.baseGfn);
  }

  /** mark_page_dirty_in_slot with kvm_get_running_vcpu() NULL: the bitmap's bit, as for a vCPU (v6.2 on). */
  protected markDirtyWithoutVcpu(slot: Memslot, rel: number): void {
    this.markDirty(slot, rel);
  }

  /** A guest write of address space 0's `gpa`: through the TLB, by a walk, or by a fault KVM handles. */
  vcpuWrite(gpa: number): VcpuWriteResult {
    const gfn = Math.floor(gpa / PAGE);
    const slot = this.slotOf(0, gfn);
    if (slot === undefined || (slot.flags & KVM_MEM_READONLY) !== 0) return { exit: 'mmio' };
    if (this.tlb.has(gfn)) return { exit: 'none' };
    for (let tries = 0; tries < 4; tries++) {
      if (this.walkAndWrite(slot, gfn)) return { exit: 'none' };
      this.writeFault(slot, gfn);
    }
    throw new Error(`vcpuWrite 0x${gpa.toString(16)}: the fault did not make the page writable`);
  }

  /** The hardware walk: true if the write went through (setting A/D and logging in PML where needed). */
  private walkAndWrite(slot: Memslot, gfn: number): boolean {
    const pdeAddr = this.pdeAddress(slot.asId, gfn, false);
    if (pdeAddr === undefined) return false;
    const pde = this.memory.load(pdeAddr);
    if ((pde & EPT_R) === 0n) return false;
    const leafAddr = (pde & EPT_PS) !== 0n ? pdeAddr : this.pteAddress(pdeAddr, gfn)!;
    for (;;) {
      const leaf = this.memory.load(leafAddr);
      if ((leaf & EPT_R) === 0n || (leaf & EPT_W) === 0n) return false;
      if ((leaf & EPT_D) !== 0n) break;
      // Hardware sets A and D atomically; PML logs the page while dirty logging is on.
      if (this.memory.compareExchange(leafAddr, leaf, leaf | EPT_A | EPT_D) !== leaf) continue;
      // PML is on while any slot logs; what it logs for a slot without a bitmap is dropped on drain, so only a logging slot's pages are kept.
      if (this.hwDirty && this.loggingAny && slot.bitmap !== undefined) this.pmlLog(gfn);
      break;
    }
    this.tlb.add(gfn);
    return true;
  }

  private pmlLog(gfn: number): void {
    this.pml.push(gfn);
    if (this.pml.length >= this.pmlEntries) this.syncDirtyLog(); // PML-full exit
  }

  /** KVM's write fault (direct_page_fault / fast_page_fault). */
  protected writeFault(slot: Memslot, gfn: number): void {
    // Logging caps the mapping level at 4 KiB (with the ring, the ring would record the page).
    const logging = (slot.flags & KVM_MEM_LOG_DIRTY_PAGES) !== 0;
    const rel = gfn - slot.baseGfn;
    const pdeAddr = this.pdeAddress(slot.asId, gfn, true)!;
    const pde = this.memory.load(pdeAddr);
    const host = BigInt(slot.userspaceAddr + rel * PAGE);
    if ((pde & EPT_R) !== 0n && (pde & EPT_PS) !== 0n) {
      if (!logging) {
        this.memory.fetchOr(pdeAddr, EPT_W | EPT_A | EPT_D);
        return;
      }
      this.splitHuge(pdeAddr); // a write-protected huge leaf while logging: map the page small
    } else if ((pde & EPT_R) === 0n && !logging && this.hugeAllowed(slot, gfn)) {
      const hugeHost = host - BigInt((gfn % HUGE_PAGES) * PAGE);
      this.memory.compareExchange(pdeAddr, pde, hugeHost | EPT_R | EPT_W | EPT_X | EPT_PS | EPT_A | EPT_D);
      return;
    }
    let table = this.memory.load(pdeAddr);
    if ((table & EPT_R) === 0n) {
      const frame = this.memory.allocFrame();
      if (this.memory.compareExchange(pdeAddr, table, BigInt(frame) | EPT_R | EPT_W | EPT_X) !== table) this.memory.freeFrame(frame);
      table = this.memory.load(pdeAddr);
    }
    const pteAddr = Number(table & EPT_ADDR) + (gfn % HUGE_PAGES) * 8;
    const pte = this.memory.load(pteAddr);
    if (logging) this.markDirty(slot, rel); // make_spte marks the page before the leaf is writable
    this.makeWritable(pteAddr, pte, host);
  }

  protected makeWritable(pteAddr: number, pte: bigint, host: bigint): void {
    const next = (pte & EPT_R) !== 0n ? pte | EPT_W | EPT_A | EPT_D : host | EPT_R | EPT_W | EPT_X | EPT_A | EPT_D;
    this.memory.compareExchange(pteAddr, pte, next);
  }

  private hugeAllowed(slot: Memslot, gfn: number): boolean {
    if (!this.hugePages) return false;
    const start = gfn - (gfn % HUGE_PAGES);
    if (start < slot.baseGfn || start + HUGE_PAGES > slot.baseGfn + slot.npages) return false;
    return (slot.userspaceAddr / PAGE - slot.baseGfn) % HUGE_PAGES === 0;
  }

  // -------------------------------------------------------------------------------------
  // Introspection (tests and the kit's optional checks)

  /** The leaf of address space 0's page `gfn`: 'none', 'huge', 'hugeProtected', 'writable', 'clean' or 'protected'. */
  leafState(gfn: number): 'none' | 'huge' | 'hugeProtected' | 'writable' | 'clean' | 'protected' {
    const h = this.memory.hook;
    this.memory.hook = undefined;
    try {
      const pdeAddr = this.pdeAddress(0, gfn, false);
      if (pdeAddr === undefined) return 'none';
      const pde = this.memory.load(pdeAddr);
      if ((pde & EPT_R) === 0n) return 'none';
      if ((pde & EPT_PS) !== 0n) return (pde & EPT_W) !== 0n ? 'huge' : 'hugeProtected';
      const pte = this.memory.load(this.pteAddress(pdeAddr, gfn)!);
      if ((pte & EPT_R) === 0n) return 'none';
      if ((pte & EPT_W) === 0n) return 'protected';
      return this.hwDirty && (pte & EPT_D) === 0n ? 'clean' : 'writable';
    } finally {
      this.memory.hook = h;
    }
  }

  /** Whether page `rel` of the slot is set in its bitmap (no hook: one word read), or undefined without a bitmap. */
  /** peekDirtyBit for the page `gfn` of address space 0, found in its slot without copying the slots (memslots copies them all). */
  peekDirtyBitOfGfn(gfn: number): boolean | undefined {
    const slot = this.slotOf(0, gfn);
    return slot === undefined ? undefined : this.peekDirtyBit((slot.asId << 16) | slot.id, gfn - slot.baseGfn);
  }

  peekDirtyBit(slotField: number, rel: number): boolean | undefined {
    const slot = this.slots.get(slotField >>> 0);
    if (slot?.bitmap === undefined || rel < 0 || rel >= slot.npages) return undefined;
    const h = this.memory.hook;
    this.memory.hook = undefined;
    try {
      return ((this.memory.load(this.wordAddress(slot, rel >> 6)) >> BigInt(rel & 63)) & 1n) === 1n;
    } finally {
      this.memory.hook = h;
    }
  }

  /** The slot's bitmap words as bytes (no hook), or undefined without a bitmap. */
  peekBitmap(slotField: number): Uint8Array | undefined {
    const slot = this.slots.get(slotField >>> 0);
    if (slot?.bitmap === undefined) return undefined;
    const h = this.memory.hook;
    this.memory.hook = undefined;
    try {
      const out = new Uint8Array(Math.ceil(slot.npages / 64) * 8);
      for (let w = 0; w < out.length / 8; w++) writeWord(out, w, this.memory.load(this.wordAddress(slot, w)));
      return out;
    } finally {
      this.memory.hook = h;
    }
  }
}

function writeWord(out: Uint8Array, w: number, v: bigint): void {
  for (let b = 0; b < 8; b++) out[w * 8 + b] = Number((v >> BigInt(b * 8)) & 0xffn);
}

function readWord(buf: Uint8Array, w: number): bigint {
  let v = 0n;
  for (let b = 7; b >= 0; b--) v = (v << 8n) | BigInt(buf[w * 8 + b] ?? 0);
  return v;
}
