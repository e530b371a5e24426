// The reference KVM side of the dirty ring: the VM ioctls that configure it
// (KVM_CHECK_EXTENSION, KVM_ENABLE_CAP of the ring and of WITH_BITMAP, vCPU and memslot
// creation, KVM_GET_DIRTY_LOG's exclusion), the push on a guest write to a
// write-protected page, soft full and KVM_EXIT_DIRTY_RING_FULL, and
// KVM_RESET_DIRTY_RINGS with its coalescing and its slot/offset validation. The rings
// live in memory the caller owns (`RingMemory`); the vCPU thread's stores and the reset's
// accesses carry the orderings of the kernel (smp_wmb before flags; acquire of a
// harvested flag; release of the cleared flag).
//
// Page protection is modelled per memslot page: a page of a memslot with
// KVM_MEM_LOG_DIRTY_PAGES starts write-protected; a write to it pushes one entry and
// makes it writable; a reset that consumes its entry write-protects it again.
//
// Methods return 0 or a negated Linux errno as the kernel does. Sources: Linux v6.18
// virt/kvm/kvm_main.c (kvm_vm_ioctl_enable_dirty_log_ring, kvm_vm_ioctl_reset_dirty_pages,
// kvm_vm_ioctl_enable_cap_generic, mark_page_dirty_in_slot, kvm_get_dirty_log_protect),
// virt/kvm/dirty_ring.c (kvm_dirty_ring_push, kvm_dirty_ring_reset, kvm_reset_dirty_gfn,
// kvm_dirty_ring_check_request); "KVM: Reject wrapped offset in kvm_reset_dirty_gfn()"
// (<20260512060742.1628959-1-contact@xchglabs.com>).
//
// DEPARTS: no PML (kvm_cpu_dirty_log_size is a constructor option, 0 by default); one
// memslot per (as_id, id), created whole (no move, no delete); a guest write is a call,
// not an EPT fault.
import { EINVAL, ENOENT } from '../../errno.ts';
import { KVM_DIRTY_GFN_F_DIRTY, KVM_DIRTY_GFN_F_RESET, flagsAddr, offsetAddr, slotAddr, type RingMemory } from './ring-memory.ts';

/** include/uapi/asm-generic/errno-base.h (impl/errno.ts has not got these two). */
const ENXIO = 6;
const E2BIG = 7;

export const KVM_CAP_DIRTY_LOG_RING = 192;
export const KVM_CAP_DIRTY_LOG_RING_ACQ_REL = 223;
export const KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP = 225;
export const KVM_EXIT_HLT = 5;
export const KVM_EXIT_DIRTY_RING_FULL = 31;
const KVM_DIRTY_RING_RSVD_ENTRIES = 64;
const KVM_DIRTY_RING_MAX_ENTRIES = 65536;
const GFN_SIZE = 16;
const PAGE_SIZE = 4096;
const U64 = (1n << 64n) - 1n;

/** A batch of the reset: a slot, the page its mask starts at, and the mask of pages from there (kvm_dirty_ring_reset's cur_slot, cur_offset, mask). */
export interface ResetBatch {
  slot: number;
  offset: bigint;
  mask: bigint;
}

export type KvmArch = 'x86' | 'arm64';

export interface KvmRingOptions {
  readonly arch: KvmArch;
  /** kvm_cpu_dirty_log_size(): x86 PML 512 when enabled; 0 here by default. */
  readonly cpuDirtyLogSize?: number;
  /** kvm_arch_nr_memslot_as_ids. */
  readonly addressSpaces?: number;
  /** KVM_USER_MEM_SLOTS. */
  readonly userMemSlots?: number;
  /**
   * signal_pending(current) in the task making KVM_RESET_DIRTY_RINGS: where given, the reset
   * checks it before each entry and stops there when a signal is pending (Linux v6.17+,
   * 49005a2a3d2a). Absent: the reset never stops early (Linux up to v6.16).
   */
  readonly signalPending?: () => boolean;
  /**
   * The guest writes vCPU 0 makes while KVM_RESET_DIRTY_RINGS runs (its vCPU thread runs
   * meanwhile): asked before each entry, made as that vCPU's KVM_RUN makes them.
   */
  readonly vcpuBetween?: () => readonly GuestWrite[];
}

interface Memslot {
  readonly asId: number;
  readonly id: number;
  readonly npages: number;
  readonly logDirty: boolean;
  /** 1: write-protected (the next write pushes). */
  readonly protectedPages: Uint8Array;
  readonly bitmap: Uint8Array | undefined;
}

export interface VcpuRing {
  readonly base: number;
  readonly entries: number;
  readonly softLimit: number;
  dirtyIndex: number;
  resetIndex: number;
  /** KVM_REQ_DIRTY_RING_SOFT_FULL pending. */
  softFullRequest: boolean;
}

export interface GuestWrite {
  readonly slot: number;
  readonly offset: number;
}

export class KvmDirtyRingVm {
  readonly arch: KvmArch;
  readonly rsvdEntries: number;
  readonly addressSpaces: number;
  readonly userMemSlots: number;
  ringSize = 0;
  withBitmap = false;
  readonly vcpus: (VcpuRing | undefined)[] = [];
  protected readonly memslots = new Map<number, Memslot>();
  /** Entries pushed (benchmark figure). */
  pushes = 0;
  /** Pages write-protected again by resets (benchmark figure). */
  reprotected = 0;

  /** KvmRingOptions.signalPending. */
  protected readonly signalPending: (() => boolean) | undefined;
  /** KvmRingOptions.vcpuBetween. */
  protected readonly vcpuBetween: (() => readonly GuestWrite[]) | undefined;

  constructor(
    protected readonly memory: RingMemory,
    options: KvmRingOptions,
  ) {
    this.arch = options.arch;
    this.signalPending = options.signalPending;
    this.vcpuBetween = options.vcpuBetween;
    this.rsvdEntries = KVM_DIRTY_RING_RSVD_ENTRIES + (options.cpuDirtyLogSize ?? 0);
    this.addressSpaces = options.addressSpaces ?? (options.arch === 'x86' ? 2 : 1);
    this.userMemSlots = options.userMemSlots ?? 32764;
  }

  checkExtension(cap: number): number {
    const max = KVM_DIRTY_RING_MAX_ENTRIES * GFN_SIZE;
    if (cap === KVM_CAP_DIRTY_LOG_RING) return this.arch === 'x86' ? max : 0;
    if (cap === KVM_CAP_DIRTY_LOG_RING_ACQ_REL) return max;
    if (cap === KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP) return this.arch === 'arm64' ? 1 : 0;
    return 0;
  }

  /** KVM_ENABLE_CAP for the three ring capabilities. */
  enableCap(cap: number, arg0: number, flags = 0): number {
    if (cap === KVM_CAP_DIRTY_LOG_RING || cap === KVM_CAP_DIRTY_LOG_RING_ACQ_REL) {
      if (this.checkExtension(cap) === 0) return -EINVAL;
      return this.enableDirtyLogRing(arg0 >>> 0);
    }
    if (cap === KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP) {
      if (this.arch !== 'arm64' || this.ringSize === 0 || flags !== 0) return -EINVAL;
      if (this.memslots.size > 0) return -EINVAL;
      this.withBitmap = true;
      return 0;
    }
    return -EINVAL;
  }

  /** The soft limit a new ring gets (kvm_dirty_ring_alloc). */
  protected softLimitOf(entries: number): number {
    return entries - this.rsvdEntries;
  }

  /** kvm->created_vcpus. */
  protected createdVcpus(): number {
    return this.vcpus.length;
  }

  protected enableDirtyLogRing(size: number): number {
    if (size === 0 || (size & (size - 1)) !== 0) return -EINVAL;
    if (size < this.rsvdEntries * GFN_SIZE || size < PAGE_SIZE) return -EINVAL;
    if (size > KVM_DIRTY_RING_MAX_ENTRIES * GFN_SIZE) return -E2BIG;
    if (this.ringSize !== 0) return -EINVAL;
    if (this.createdVcpus() > 0) return -EINVAL;
    this.ringSize = size;
    return 0;
  }

  /** KVM_CREATE_VCPU; with the ring on, its ring is the zeroed memory at `ringBase` (the mmap at KVM_DIRTY_LOG_PAGE_OFFSET). Returns the vCPU index. */
  createVcpu(ringBase: number): number {
    const id = this.vcpus.length;
    if (this.ringSize === 0) {
      this.vcpus.push(undefined);
      return id;
    }
    const entries = this.ringSize / GFN_SIZE;
    this.vcpus.push({ base: ringBase, entries, softLimit: this.softLimitOf(entries), dirtyIndex: 0, resetIndex: 0, softFullRequest: false });
    return id;
  }

  /** KVM_SET_USER_MEMORY_REGION of a new slot. */
  setMemslot(asId: number, id: number, npages: number, logDirty: boolean): number {
    if (asId >= this.addressSpaces || id >= this.userMemSlots || !Number.isInteger(npages) || npages <= 0) return -EINVAL;
    const key = (asId << 16) | id;
    if (this.memslots.has(key)) return -EINVAL;
    const bitmap = logDirty && (this.ringSize === 0 || this.withBitmap) ? new Uint8Array(Math.ceil(npages / 64) * 8) : undefined;
    this.memslots.set(key, { asId, id, npages, logDirty, protectedPages: new Uint8Array(npages).fill(logDirty ? 1 : 0), bitmap });
    return 0;
  }

  private slot(slot: number): Memslot | undefined {
    return this.memslots.get(slot >>> 0);
  }

  /** Introspection for the kit: whether the next write to the page would be recorded. */
  writeProtected(slot: number, offset: number): boolean {
    const m = this.slot(slot);
    return m !== undefined && offset >= 0 && offset < m.npages && m.protectedPages[offset] === 1;
  }

  /** The entry KVM_RUN would fill next, and what it holds: for the kit's checks and reports. */
  ringState(vcpu: number): { dirtyIndex: number; resetIndex: number; softLimit: number; entries: number } | undefined {
    const r = this.vcpus[vcpu];
    return r === undefined ? undefined : { dirtyIndex: r.dirtyIndex, resetIndex: r.resetIndex, softLimit: r.softLimit, entries: r.entries };
  }

  protected used(r: VcpuRing): number {
    return (r.dirtyIndex - r.resetIndex) >>> 0;
  }

  /** kvm_dirty_ring_push: slot and offset, smp_wmb, flags = DIRTY. */
  protected push(r: VcpuRing, slot: number, offset: number): void {
    const i = r.dirtyIndex & (r.entries - 1);
    this.memory.store32(slotAddr(r.base, i), slot >>> 0, 'relaxed');
    this.memory.store64(offsetAddr(r.base, i), BigInt(offset), 'relaxed');
    this.memory.store32(flagsAddr(r.base, i), KVM_DIRTY_GFN_F_DIRTY, 'release');
    r.dirtyIndex = (r.dirtyIndex + 1) >>> 0;
    this.pushes++;
    if (this.used(r) >= r.softLimit) r.softFullRequest = true;
  }

  /** mark_page_dirty_in_slot from a vCPU's write fault on a protected page: the ring if the vCPU has one, else the bitmap. */
  protected guestWrite(r: VcpuRing | undefined, w: GuestWrite): void {
    const m = this.slot(w.slot);
    if (m === undefined || !m.logDirty || w.offset < 0 || w.offset >= m.npages || m.protectedPages[w.offset] === 0) return;
    m.protectedPages[w.offset] = 0;
    if (r !== undefined) this.push(r, w.slot >>> 0, w.offset);
    else if (m.bitmap !== undefined) m.bitmap[w.offset >> 3]! |= 1 << (w.offset & 7);
  }

  /** kvm_dirty_ring_check_request at guest entry: true if the vCPU must exit. */
  protected mustExit(r: VcpuRing): boolean {
    if (!r.softFullRequest) return false;
    if (this.used(r) >= r.softLimit) return true;
    r.softFullRequest = false;
    return false;
  }

  /**
   * KVM_RUN: the guest makes `writes` in order; the vCPU exits KVM_EXIT_DIRTY_RING_FULL
   * before entering the guest again once its ring is soft full (at once if it already
   * is), else KVM_EXIT_HLT after the last write. Returns the exit and the writes made.
   */
  run(vcpu: number, writes: readonly GuestWrite[]): { exitReason: number; done: number } {
    if (vcpu < 0 || vcpu >= this.vcpus.length) return { exitReason: -ENOENT, done: 0 };
    const r = this.vcpus[vcpu];
    let done = 0;
    for (const w of writes) {
      if (r !== undefined && this.mustExit(r)) return { exitReason: KVM_EXIT_DIRTY_RING_FULL, done };
      this.guestWrite(r, w);
      done++;
    }
    if (r !== undefined && this.mustExit(r)) return { exitReason: KVM_EXIT_DIRTY_RING_FULL, done };
    return { exitReason: KVM_EXIT_HLT, done };
  }

  /**
   * A write KVM itself makes to guest memory without a running vCPU (kvm_write_guest from
   * an ioctl: no MMU fault, so the page's protection is unchanged): mark_page_dirty_in_slot
   * sets the bitmap bit if the slot has a bitmap, else nothing records it.
   */
  writeWithoutVcpu(w: GuestWrite): void {
    const m = this.slot(w.slot);
    if (m === undefined || !m.logDirty || w.offset < 0 || w.offset >= m.npages || m.bitmap === undefined) return;
    m.bitmap[w.offset >> 3]! |= 1 << (w.offset & 7);
  }

  /** KVM_GET_DIRTY_LOG: the slot's bitmap, read and cleared; -ENXIO while the ring excludes it. */
  getDirtyLog(slot: number): { errno: number; bitmap?: Uint8Array } {
    if (this.ringSize !== 0 && !this.withBitmap) return { errno: -ENXIO };
    const m = this.slot(slot);
    if (m === undefined || m.bitmap === undefined) return { errno: -ENOENT };
    const out = m.bitmap.slice();
    // kvm_get_dirty_log_protect: each non-zero u64 word re-protected by one kvm_arch_mmu_enable_log_dirty_pt_masked.
    for (let w = 0; w * 64 < m.npages; w++) {
      let mask = 0n;
      for (let i = 0; i < 64 && w * 64 + i < m.npages; i++) if ((out[(w * 64 + i) >> 3]! >> (i & 7)) & 1) mask |= 1n << BigInt(i);
      if (mask !== 0n) this.enableLogDirtyPtMasked(m, w * 64, mask);
    }
    m.bitmap.fill(0);
    return { errno: 0, bitmap: out };
  }

  /**
   * kvm_arch_mmu_enable_log_dirty_pt_masked: x86 write-protects the pages of the set bits;
   * arm64 the whole range from the lowest set bit to the highest (kvm_stage2_wp_range over
   * [__ffs(mask), __fls(mask) + 1)), the pages between them too.
   */
  protected enableLogDirtyPtMasked(m: Memslot, base: number, mask: bigint): void {
    const low = (mask & -mask).toString(2).length - 1;
    const high = mask.toString(2).length - 1;
    for (let i = low; i <= high; i++) {
      if (this.arch === 'x86' && ((mask >> BigInt(i)) & 1n) === 0n) continue;
      const p = base + i;
      if (p < 0 || p >= m.npages) throw new RangeError(`re-protection of page ${p} outside its slot (${m.npages} pages)`);
      m.protectedPages[p] = 1;
      this.reprotected++;
    }
  }

  /** Whether two consecutive consumed entries may join one batch (kvm_dirty_ring_reset). */
  protected sameBatchSlot(cur: number, next: number): boolean {
    return cur === next;
  }

  /** kvm_reset_dirty_gfn's check: the memslot exists and offset..offset+__fls(mask) lies inside it, with no u64 wrap. */
  protected batchTarget(slot: number, offset: bigint, mask: bigint): Memslot | undefined {
    if (mask === 0n) return undefined;
    const asId = slot >>> 16;
    const id = slot & 0xffff;
    if (asId >= this.addressSpaces || id >= this.userMemSlots) return undefined;
    const m = this.memslots.get(((asId << 16) | id) >>> 0);
    if (m === undefined) return undefined;
    const n = BigInt(m.npages);
    const top = BigInt(mask.toString(2).length - 1);
    return offset < n && offset + top < n ? m : undefined;
  }

  /** kvm_arch_mmu_enable_log_dirty_pt_masked. */
  protected resetBatch(slot: number, offset: bigint, mask: bigint): void {
    const m = this.batchTarget(slot, offset, mask);
    if (m === undefined) return;
    this.enableLogDirtyPtMasked(m, Number(offset), mask);
  }

  /** The load of a ring entry's flags by the reset: acquire, pairing with the collector's release. */
  protected harvested(r: VcpuRing, i: number): boolean {
    return (this.memory.load32(flagsAddr(r.base, i), 'acquire') & KVM_DIRTY_GFN_F_RESET) !== 0;
  }

  /**
   * kvm_dirty_ring_reset for one ring: the entries consumed, and whether a pending signal
   * stopped it before an entry. Stopped so, it still re-protects the batch it holds (the
   * pages of entries it consumed): Linux v6.17's `return -EINTR` drops that batch
   * (stoppedBySignal).
   */
  protected resetRing(r: VcpuRing): { count: number; interrupted: boolean } {
    let count = 0;
    let cur: ResetBatch | undefined;
    for (;;) {
      this.vcpuRuns();
      if (this.signalPending?.() === true) {
        this.stoppedBySignal(cur);
        return { count, interrupted: true };
      }
      const i = r.resetIndex & (r.entries - 1);
      if (!this.harvested(r, i)) break;
      const slot = this.memory.load32(slotAddr(r.base, i), 'relaxed') >>> 0;
      const offset = this.memory.load64(offsetAddr(r.base, i), 'relaxed');
      this.memory.store32(flagsAddr(r.base, i), 0, 'release');
      r.resetIndex = (r.resetIndex + 1) >>> 0;
      count++;
      if (cur !== undefined && this.sameBatchSlot(cur.slot, slot) && this.joinBatch(cur, offset)) continue;
      if (cur !== undefined) this.resetBatch(cur.slot, cur.offset, cur.mask);
      cur = { slot, offset, mask: 1n };
    }
    if (cur !== undefined) this.resetBatch(cur.slot, cur.offset, cur.mask);
    return { count, interrupted: false };
  }

  /** vCPU 0 runs while the reset does: the writes it makes now (KvmRingOptions.vcpuBetween). */
  protected vcpuRuns(): void {
    for (const w of this.vcpuBetween?.() ?? []) this.guestWrite(this.vcpus[0], w);
  }

  /** A reset stopped by a pending signal with `cur` open: its pages are re-protected, as every consumed entry's are (KVM-RING-24). */
  protected stoppedBySignal(cur: ResetBatch | undefined): void {
    if (cur !== undefined) this.resetBatch(cur.slot, cur.offset, cur.mask);
  }

  /**
   * The reset's coalescing of an entry of the batch's slot at `offset`: ahead of the batch's
   * base by less than 64 pages, a bit of its mask; behind it by less than 64, the base moves
   * down to it where the mask, shifted up, loses no bit. Returns whether it joined.
   */
  protected joinBatch(cur: ResetBatch, offset: bigint): boolean {
    const delta = BigInt.asIntN(64, offset - cur.offset);
    if (delta >= 0n && delta < 64n) {
      cur.mask |= 1n << delta;
      return true;
    }
    if (delta > -64n && delta < 0n && ((cur.mask << -delta) & U64) >> -delta === cur.mask) {
      cur.offset = offset;
      cur.mask = ((cur.mask << -delta) & U64) | 1n;
      return true;
    }
    return false;
  }

  /**
   * KVM_RESET_DIRTY_RINGS: every vCPU's ring; the number of entries reset, or -EINVAL without
   * the ring. A ring stopped by a signal ends the walk, and the call still returns the
   * entries reset so far (kvm_vm_ioctl_reset_dirty_pages returns `cleared`, not -EINTR).
   */
  resetDirtyRings(): number {
    if (this.ringSize === 0) return -EINVAL;
    let cleared = 0;
    for (const r of this.vcpus) {
      if (r === undefined) continue;
      const { count, interrupted } = this.resetRing(r);
      cleared += count;
      if (interrupted) break;
    }
    return cleared;
  }
}
