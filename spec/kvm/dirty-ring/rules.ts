// The dirty ring's pure rules: classifying KVM_ENABLE_CAP into the facts the VM machine
// steps on, the ring's geometry and soft limit, the producer's exit point, the reset's
// coalescing and validation exactly as kvm_dirty_ring_reset / kvm_reset_dirty_gfn do them,
// and the pages a reset re-protects.
//
// Requirements: KVM-RING-2..10 (enabling), KVM-RING-11/12 (push, soft full), KVM-RING-13
//               (harvest order), KVM-RING-15..19 (reset).
// Sources: Linux v6.18 virt/kvm/kvm_main.c, virt/kvm/dirty_ring.c (see requirements.ts);
//          <20260512060742.1628959-1-contact@xchglabs.com> for the wrapped-offset check.
import {
  KVM_CAP_DIRTY_LOG_RING,
  KVM_CAP_DIRTY_LOG_RING_ACQ_REL,
  KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP,
  KVM_DIRTY_GFN_F_RESET,
  KVM_DIRTY_GFN_SIZE,
  KVM_DIRTY_RING_MAX_ENTRIES,
  KVM_DIRTY_RING_RSVD_ENTRIES,
  PAGE_SIZE,
  decodeSlot,
} from './uapi.ts';

const U32 = 2 ** 32;
const U64 = 1n << 64n;
const BITS_PER_LONG = 64n;

/** The architecture as the ring sees it. */
export type RingArch = 'x86' | 'arm64';

export interface RingArchInfo {
  /** KVM_CHECK_EXTENSION(KVM_CAP_DIRTY_LOG_RING): non-zero only with CONFIG_HAVE_KVM_DIRTY_RING_TSO. */
  readonly tso: boolean;
  /** CONFIG_NEED_KVM_DIRTY_RING_WITH_BITMAP: the arch dirties memory without a running vCPU. */
  readonly needsBitmap: boolean;
}

export const RING_ARCHES: Record<RingArch, RingArchInfo> = {
  x86: { tso: true, needsBitmap: false },
  arm64: { tso: false, needsBitmap: true },
};

/**
 * KVM-RING-2: what KVM_CHECK_EXTENSION answers for the three ring capabilities.
 * @req KVM-RING-2
 * @source Linux v6.18 virt/kvm/kvm_main.c kvm_vm_ioctl_enable_cap_generic, kvm_vm_ioctl_check_extension_generic; Linux v6.18 Documentation/virt/kvm/api.rst (KVM_CAP_DIRTY_LOG_RING/KVM_CAP_DIRTY_LOG_RING_ACQ_REL)
 */
export function ringCheckExtension(arch: RingArch, cap: number): number {
  const a = RING_ARCHES[arch];
  if (cap === KVM_CAP_DIRTY_LOG_RING) return a.tso ? KVM_DIRTY_RING_MAX_ENTRIES * KVM_DIRTY_GFN_SIZE : 0;
  if (cap === KVM_CAP_DIRTY_LOG_RING_ACQ_REL) return KVM_DIRTY_RING_MAX_ENTRIES * KVM_DIRTY_GFN_SIZE;
  if (cap === KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP) return a.needsBitmap ? 1 : 0;
  throw new RangeError(`cap: ${cap} is not a dirty ring capability (192, 223, 225)`);
}

/**
 * KVM-RING-2: the answers a KVM of any version since the ring's introduction may give for
 * one ring capability: 0 (a kernel before it, or an arch without it) or the answer of
 * Linux v6.18 (ringCheckExtension). So a weakly ordered arch never offers
 * KVM_CAP_DIRTY_LOG_RING, and x86 never WITH_BITMAP. Linux v5.11 virt/kvm/kvm_main.c
 * kvm_vm_ioctl_check_extension_generic answers KVM_CAP_DIRTY_LOG_RING under
 * `#if KVM_DIRTY_LOG_PAGE_OFFSET > 0` (only x86 defines the offset) and knows neither 223
 * nor 225; _ACQ_REL came with "KVM: Add
 * KVM_CAP_DIRTY_LOG_RING_ACQ_REL capability and config option" (Linux v6.1), WITH_BITMAP
 * and the arm64 ring with "KVM: Support dirty ring in conjunction with bitmap" and "KVM:
 * arm64: Enable ring-based dirty memory tracking" (Linux v6.2).
 * @req KVM-RING-2
 * @source Linux v6.18 virt/kvm/kvm_main.c kvm_vm_ioctl_check_extension_generic; Linux v5.11 virt/kvm/kvm_main.c kvm_vm_ioctl_check_extension_generic
 */
export function ringCheckExtensionAllowed(arch: RingArch, cap: number, answer: number): boolean {
  return answer === 0 || answer === ringCheckExtension(arch, cap);
}

/** The three answers a VM gave, by capability number (192, 223, 225). */
export type RingUapi = Readonly<Record<number, number>>;

/**
 * KVM-RING-2: what is wrong with a VM's three answers taken together, or undefined. Each
 * must be allowed (ringCheckExtensionAllowed); WITH_BITMAP needs _ACQ_REL (both came to
 * arm64 in v6.2), and x86 offers _ACQ_REL only beside KVM_CAP_DIRTY_LOG_RING (v5.11's).
 * @req KVM-RING-2
 * @source Linux v6.18 virt/kvm/kvm_main.c kvm_vm_ioctl_check_extension_generic; Linux v5.11 virt/kvm/kvm_main.c kvm_vm_ioctl_check_extension_generic
 */
export function ringUapiProblem(arch: RingArch, answers: RingUapi): string | undefined {
  for (const cap of [KVM_CAP_DIRTY_LOG_RING, KVM_CAP_DIRTY_LOG_RING_ACQ_REL, KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP]) {
    const a = answers[cap] ?? 0;
    if (!ringCheckExtensionAllowed(arch, cap, a)) return `KVM_CHECK_EXTENSION(${cap}) on ${arch} returns 0 or ${ringCheckExtension(arch, cap)}`;
  }
  if ((answers[KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP] ?? 0) !== 0 && (answers[KVM_CAP_DIRTY_LOG_RING_ACQ_REL] ?? 0) === 0)
    return `KVM_CHECK_EXTENSION(${KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP}) on ${arch} returns 0 while KVM_CHECK_EXTENSION(${KVM_CAP_DIRTY_LOG_RING_ACQ_REL}) does`;
  if (RING_ARCHES[arch].tso && (answers[KVM_CAP_DIRTY_LOG_RING_ACQ_REL] ?? 0) !== 0 && (answers[KVM_CAP_DIRTY_LOG_RING] ?? 0) === 0)
    return `KVM_CHECK_EXTENSION(${KVM_CAP_DIRTY_LOG_RING_ACQ_REL}) on ${arch} returns 0 while KVM_CHECK_EXTENSION(${KVM_CAP_DIRTY_LOG_RING}) does`;
  return undefined;
}

/**
 * KVM-RING-4/8: kvm_dirty_ring_get_rsvd_entries: 64 plus the CPU dirty log (x86 PML: 512 when enabled).
 * @req KVM-RING-4 KVM-RING-8
 * @source Linux v6.18 virt/kvm/kvm_main.c kvm_vm_ioctl_enable_dirty_log_ring; Linux v6.18 virt/kvm/dirty_ring.c kvm_dirty_ring_get_rsvd_entries; Linux v6.18 virt/kvm/kvm_main.c kvm_vm_ioctl_enable_dirty_log_ring; Linux v6.18 virt/kvm/dirty_ring.c kvm_dirty_ring_alloc, kvm_dirty_ring_get_rsvd_entries
 */
export function reservedEntries(cpuDirtyLogSize: number): number {
  if (!Number.isInteger(cpuDirtyLogSize) || cpuDirtyLogSize < 0) throw new RangeError(`cpuDirtyLogSize: must be a non-negative integer, got ${cpuDirtyLogSize}`);
  return KVM_DIRTY_RING_RSVD_ENTRIES + cpuDirtyLogSize;
}

export type RingSizeClass = 'ok' | 'notPowerOfTwo' | 'tooSmall' | 'tooLarge';

/**
 * The size checks of kvm_vm_ioctl_enable_dirty_log_ring, in its order (KVM-RING-3, -4, -5).
 * @req KVM-RING-3 KVM-RING-4 KVM-RING-5
 * @source Linux v6.18 virt/kvm/kvm_main.c kvm_vm_ioctl_enable_dirty_log_ring; Linux v6.18 virt/kvm/kvm_main.c kvm_vm_ioctl_enable_dirty_log_ring; Linux v6.18 virt/kvm/dirty_ring.c kvm_dirty_ring_get_rsvd_entries
 */
export function classifyRingSize(size: number, rsvdEntries: number): RingSizeClass {
  if (!Number.isInteger(size) || size < 0 || size >= U32) throw new RangeError(`size: args[0] is taken as a u32, got ${size}`);
  if (size === 0 || (size & (size - 1)) !== 0) return 'notPowerOfTwo';
  if (size < rsvdEntries * KVM_DIRTY_GFN_SIZE || size < PAGE_SIZE) return 'tooSmall';
  if (size > KVM_DIRTY_RING_MAX_ENTRIES * KVM_DIRTY_GFN_SIZE) return 'tooLarge';
  return 'ok';
}

export interface RingGeometry {
  readonly entries: number;
  readonly softLimit: number;
}

/**
 * KVM-RING-8: kvm_dirty_ring_alloc.
 * @req KVM-RING-8
 * @source Linux v6.18 virt/kvm/kvm_main.c kvm_vm_ioctl_enable_dirty_log_ring; Linux v6.18 virt/kvm/dirty_ring.c kvm_dirty_ring_alloc, kvm_dirty_ring_get_rsvd_entries
 */
export function ringGeometry(sizeBytes: number, rsvdEntries: number): RingGeometry {
  if (classifyRingSize(sizeBytes, rsvdEntries) !== 'ok') throw new RangeError(`size: ${sizeBytes} bytes is not a ring size KVM accepts (KVM-RING-3..5)`);
  const entries = sizeBytes / KVM_DIRTY_GFN_SIZE;
  return { entries, softLimit: entries - rsvdEntries };
}

/**
 * KVM-RING-12: kvm_dirty_ring_used, u32 arithmetic on free-running indexes.
 * @req KVM-RING-12
 * @source Linux v6.18 virt/kvm/dirty_ring.c kvm_dirty_ring_push, kvm_dirty_ring_check_request, kvm_dirty_ring_soft_full; Linux v6.18 Documentation/virt/kvm/api.rst (KVM_CAP_DIRTY_LOG_RING/KVM_CAP_DIRTY_LOG_RING_ACQ_REL)
 */
export function ringUsed(dirtyIndex: number, resetIndex: number): number {
  return (dirtyIndex - resetIndex + U32) % U32;
}

/**
 * KVM-RING-12: kvm_dirty_ring_soft_full.
 * @req KVM-RING-12
 * @source Linux v6.18 virt/kvm/dirty_ring.c kvm_dirty_ring_push, kvm_dirty_ring_check_request, kvm_dirty_ring_soft_full; Linux v6.18 Documentation/virt/kvm/api.rst (KVM_CAP_DIRTY_LOG_RING/KVM_CAP_DIRTY_LOG_RING_ACQ_REL)
 */
export function ringSoftFull(dirtyIndex: number, resetIndex: number, softLimit: number): boolean {
  return ringUsed(dirtyIndex, resetIndex) >= softLimit;
}

/**
 * KVM-RING-11/13: the array index of free-running index i (i & (entries - 1)).
 * @req KVM-RING-11 KVM-RING-13
 * @source Linux v6.18 virt/kvm/dirty_ring.c kvm_dirty_ring_push; Linux v6.18 virt/kvm/kvm_main.c mark_page_dirty_in_slot; KVM: Dirty ring interface v3 (Peter Xu, <20200109145729.32898-1-peterx@redhat.com>); Linux v6.18 Documentation/virt/kvm/api.rst (KVM_CAP_DIRTY_LOG_RING/KVM_CAP_DIRTY_LOG_RING_ACQ_REL) ("must collect the dirty GFNs in sequence", "load-acquire/store-release"); include/uapi/linux/kvm.h (lifecycle comment)
 */
export function ringSlotIndex(index: number, entries: number): number {
  return (index >>> 0) & (entries - 1);
}

/**
 * KVM-RING-12: a vCPU with `used` entries in its ring runs `writes` guest writes, of which
 * `pushes[i]` says whether write i hits a protected page. It exits with
 * KVM_EXIT_DIRTY_RING_FULL right after the push that makes the ring soft full (or at
 * once if it already is): the number of writes it completes.
 * @req KVM-RING-12
 * @source Linux v6.18 virt/kvm/dirty_ring.c kvm_dirty_ring_push, kvm_dirty_ring_check_request, kvm_dirty_ring_soft_full; Linux v6.18 Documentation/virt/kvm/api.rst (KVM_CAP_DIRTY_LOG_RING/KVM_CAP_DIRTY_LOG_RING_ACQ_REL)
 */
export function writesBeforeExit(used: number, softLimit: number, pushes: readonly boolean[]): { done: number; full: boolean } {
  if (used >= softLimit) return { done: 0, full: true };
  let u = used;
  for (let i = 0; i < pushes.length; i++) {
    if (!pushes[i]) continue;
    u++;
    if (u >= softLimit) return { done: i + 1, full: true };
  }
  return { done: pushes.length, full: false };
}

/**
 * KVM-RING-12 with a CPU dirty log of `cpuDirtyLogSize` entries (x86 PML: 512; 0 without):
 * the exits a vCPU may give besides the one `writesBeforeExit` names, when that one is a
 * KVM_EXIT_DIRTY_RING_FULL after the write whose push reaches the soft limit (done > 0).
 * The CPU logs a write to a page whose dirty bit KVM cleared and KVM pushes the logged
 * writes at the next VM exit (vmx_flush_pml_buffer at the head of __vmx_handle_exit), at
 * the latest the PML-full exit that the next logged write would cause, or the EPT
 * violation of a write to a write-protected page (flushed first, then pushed); the request
 * is checked before the next guest entry (vcpu_enter_guest). So the exit may come after
 * up to `cpuDirtyLogSize` more pushing writes (used <= soft_limit + cpuDirtyLogSize =
 * entries - 64 at the exit), and a vCPU whose log held everything to its last write may
 * halt instead (KVM_EXIT_HLT: __kvm_emulate_halt with a userspace LAPIC; the request stays
 * pending and the next KVM_RUN exits at once). Empty without a CPU dirty log.
 * @req KVM-RING-12
 * @source Linux v6.12.117 arch/x86/kvm/vmx/vmx.c __vmx_handle_exit, vmx_flush_pml_buffer, handle_pml_full; arch/x86/kvm/x86.c vcpu_enter_guest, __kvm_emulate_halt; virt/kvm/dirty_ring.c kvm_dirty_ring_push, kvm_dirty_ring_check_request, kvm_dirty_ring_get_rsvd_entries
 */
export function lateExits(first: { done: number; full: boolean }, pushes: readonly boolean[], cpuDirtyLogSize: number): { done: number; full: boolean }[] {
  const out: { done: number; full: boolean }[] = [];
  if (cpuDirtyLogSize === 0 || !first.full || first.done === 0) return out;
  let after = 0;
  for (let d = first.done + 1; d <= pushes.length; d++) {
    if (pushes[d - 1]) after++;
    if (after > cpuDirtyLogSize) return out;
    out.push({ done: d, full: true });
  }
  if (after < cpuDirtyLogSize) out.push({ done: pushes.length, full: false });
  return out;
}

// ---------------------------------------------------------------------------------------
// Enabling (the facts the VM machine steps on)

export type EnableRingEvent = {
  readonly type: 'ENABLE_RING';
  /** KVM-RING-2: KVM_CHECK_EXTENSION answers non-zero for this capability. */
  readonly supported: boolean;
  readonly size: RingSizeClass;
};

export function classifyEnableRing(
  arch: RingArch,
  cap: typeof KVM_CAP_DIRTY_LOG_RING | typeof KVM_CAP_DIRTY_LOG_RING_ACQ_REL,
  size: number,
  cpuDirtyLogSize = 0,
  /** The VM's KVM_CHECK_EXTENSION answers (ringUapiProblem found nothing wrong); Linux v6.18's when absent. */
  uapi?: RingUapi,
): EnableRingEvent {
  return { type: 'ENABLE_RING', supported: (uapi?.[cap] ?? ringCheckExtension(arch, cap)) !== 0, size: classifyRingSize(size, reservedEntries(cpuDirtyLogSize)) };
}

export type EnableWithBitmapEvent = {
  readonly type: 'ENABLE_WITH_BITMAP';
  /** CONFIG_NEED_KVM_DIRTY_RING_WITH_BITMAP and cap.flags == 0 (KVM-RING-10). */
  readonly allowed: boolean;
};

export function classifyEnableWithBitmap(arch: RingArch, capFlags: number, uapi?: RingUapi): EnableWithBitmapEvent {
  const offered = uapi === undefined ? RING_ARCHES[arch].needsBitmap : (uapi[KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP] ?? 0) !== 0;
  return { type: 'ENABLE_WITH_BITMAP', allowed: offered && capFlags === 0 };
}

// ---------------------------------------------------------------------------------------
// Reset: coalescing and validation (KVM-RING-17, KVM-RING-18)

export interface ResetBatch {
  readonly slot: number;
  readonly offset: bigint;
  /** The pages offset + i for each bit i (unsigned long, 64 bits). */
  readonly mask: bigint;
}

const s64 = (x: bigint): bigint => (x >= 1n << 63n ? x - U64 : x);
const m64 = (x: bigint): bigint => x & (U64 - 1n);

/**
 * KVM-RING-17: the kvm_reset_dirty_gfn calls kvm_dirty_ring_reset makes for the consumed
 * entries, in order: consecutive entries of one slot merge when the next offset lies 0..63
 * pages above the batch's base, or below it by less than 64 without shifting a set bit out
 * (the base moves down). Offsets are u64 and the delta is s64, as in C.
 * @req KVM-RING-17
 * @source Linux v6.18 virt/kvm/dirty_ring.c kvm_dirty_ring_reset ("Try to coalesce the reset operations")
 */
export function resetBatches(entries: readonly { readonly slot: number; readonly offset: bigint }[]): ResetBatch[] {
  return resetBatchesOf(entries).batches;
}

/**
 * `resetBatches`, with the batch each entry fell in: `batchOf[i]` is the index in `batches`
 * of the kvm_reset_dirty_gfn call that resets entry i.
 * @req KVM-RING-17
 * @source Linux v6.18 virt/kvm/dirty_ring.c kvm_dirty_ring_reset
 */
export function resetBatchesOf(entries: readonly { readonly slot: number; readonly offset: bigint }[]): { batches: ResetBatch[]; batchOf: number[] } {
  const batches: ResetBatch[] = [];
  const batchOf: number[] = [];
  let cur: { slot: number; offset: bigint; mask: bigint } | undefined;
  for (const e of entries) {
    if (cur !== undefined && e.slot === cur.slot) {
      const delta = s64(m64(e.offset - cur.offset));
      if (delta >= 0n && delta < BITS_PER_LONG) {
        cur.mask |= 1n << delta;
        batchOf.push(batches.length);
        continue;
      }
      if (delta > -BITS_PER_LONG && delta < 0n && m64(cur.mask << -delta) >> -delta === cur.mask) {
        cur.offset = e.offset;
        cur.mask = m64(cur.mask << -delta) | 1n;
        batchOf.push(batches.length);
        continue;
      }
    }
    if (cur !== undefined) batches.push({ ...cur });
    cur = { slot: e.slot, offset: e.offset, mask: 1n };
    batchOf.push(batches.length);
  }
  if (cur !== undefined) batches.push({ ...cur });
  return { batches, batchOf };
}

export interface MemslotView {
  readonly asId: number;
  readonly id: number;
  readonly npages: number;
}

export interface ResetLimits {
  /** kvm_arch_nr_memslot_as_ids: 2 on x86 with SMM, else 1. */
  readonly addressSpaces: number;
  /** KVM_USER_MEM_SLOTS. */
  readonly userMemSlots: number;
}

/** __fls: the index of the highest set bit (mask non-zero). */
export function fls64(mask: bigint): number {
  if (mask <= 0n || mask >= U64) throw new RangeError(`mask: __fls needs a non-zero u64, got ${mask}`);
  return mask.toString(2).length - 1;
}

/**
 * KVM-RING-18: whether kvm_reset_dirty_gfn acts on a batch: the memslot it names exists
 * and every page of the mask lies inside it, with offset checked on its own first so
 * offset + __fls(mask) cannot wrap.
 * @req KVM-RING-18
 * @source Linux v6.18 virt/kvm/dirty_ring.c kvm_reset_dirty_gfn; "KVM: Reject wrapped offset in kvm_reset_dirty_gfn()" (<20260512060742.1628959-1-contact@xchglabs.com>)
 */
export function resetBatchValid(b: ResetBatch, memslots: readonly MemslotView[], limits: ResetLimits): boolean {
  if (b.mask === 0n) return false;
  const { asId, id } = decodeSlot(b.slot);
  if (asId >= limits.addressSpaces || id >= limits.userMemSlots) return false;
  const m = memslots.find((s) => s.asId === asId && s.id === id);
  if (m === undefined) return false;
  const n = BigInt(m.npages);
  return b.offset < n && b.offset + BigInt(fls64(b.mask)) < n;
}

/**
 * KVM-RING-24: what a reset a signal stopped consumed of one ring, read from the flags of
 * the entries it had to consume, in ring order from reset_index, after it returned: a
 * prefix of them cleared (flags 0), the rest kept harvested (RESET still set). `consumed`
 * is the prefix's length; `strayAt`, where set, is the index in `flags` of an entry after
 * the prefix that lost RESET, which no stopped reset leaves.
 * @req KVM-RING-24
 * @source Linux v6.17 virt/kvm/dirty_ring.c kvm_dirty_ring_reset (49005a2a3d2a: `if (signal_pending(current)) return -EINTR;` before an entry is read; kvm_dirty_gfn_set_invalid as each is consumed)
 */
export function consumedByStoppedReset(flags: readonly number[]): { readonly consumed: number; readonly strayAt?: number } {
  let consumed = 0;
  while (consumed < flags.length && flags[consumed] === 0) consumed++;
  const stray = flags.findIndex((f, i) => i >= consumed && (f & KVM_DIRTY_GFN_F_RESET) === 0);
  return stray < 0 ? { consumed } : { consumed, strayAt: stray };
}

/**
 * The check before the 2026 fix: (offset + __fls(mask)) >= npages in u64, which a
 * hostile offset near 2^64 wraps past. Kept so the tests can show the hole KVM-RING-18 closes.
 */
export function resetBatchValidBeforeWrapFix(b: ResetBatch, memslots: readonly MemslotView[], limits: ResetLimits): boolean {
  if (b.mask === 0n) return false;
  const { asId, id } = decodeSlot(b.slot);
  if (asId >= limits.addressSpaces || id >= limits.userMemSlots) return false;
  const m = memslots.find((s) => s.asId === asId && s.id === id);
  return m !== undefined && m64(b.offset + BigInt(fls64(b.mask))) < BigInt(m.npages);
}

/**
 * KVM-RING-16: the pages (slot, page offset) a reset re-protects: the set bits of every valid batch.
 * @req KVM-RING-16
 * @source Linux v6.18 virt/kvm/dirty_ring.c kvm_reset_dirty_gfn (kvm_arch_mmu_enable_log_dirty_pt_masked); Linux v6.18 virt/kvm/kvm_main.c kvm_vm_ioctl_reset_dirty_pages (kvm_flush_remote_tlbs)
 */
export function reprotectedPages(batches: readonly ResetBatch[], memslots: readonly MemslotView[], limits: ResetLimits): { slot: number; offset: number }[] {
  const out: { slot: number; offset: number }[] = [];
  for (const b of batches) {
    if (!resetBatchValid(b, memslots, limits)) continue;
    for (let i = 0n; i < 64n; i++) if ((b.mask >> i) & 1n) out.push({ slot: b.slot, offset: Number(b.offset + i) });
  }
  return out;
}

/**
 * KVM-RING-16 on arm64: the pages a reset may protect besides the named ones. arm64's
 * kvm_arch_mmu_enable_log_dirty_pt_masked write-protects the whole stage-2 range from the
 * lowest to the highest set bit of the mask (kvm_stage2_wp_range over [__ffs, __fls + 1)),
 * so the pages between two named ones are protected too; x86's walks the set bits only.
 * Either is safe (a page protected needlessly pushes again when written, as it should), so
 * on arm64 such a page may be protected or not; the kit learns which from the protection it
 * reads. Empty on x86. KVM_GET_DIRTY_LOG re-protects each u64 word of the bitmap the same
 * way (kvm_get_dirty_log_protect: one call per word), a batch per word.
 * @req KVM-RING-16
 * @source Linux v6.18 arch/arm64/kvm/mmu.c kvm_arch_mmu_enable_log_dirty_pt_masked (kvm_stage2_wp_range(start = base_gfn + __ffs(mask), end = base_gfn + __fls(mask) + 1)); Linux v6.18 arch/x86/kvm/mmu/mmu.c kvm_arch_mmu_enable_log_dirty_pt_masked (kvm_mmu_clear_dirty_pt_masked / kvm_mmu_write_protect_pt_masked: the set bits); Linux v6.18 virt/kvm/kvm_main.c kvm_get_dirty_log_protect
 */
export function spannedPages(arch: RingArch, batches: readonly ResetBatch[], memslots: readonly MemslotView[], limits: ResetLimits): { slot: number; offset: number }[] {
  const out: { slot: number; offset: number }[] = [];
  if (arch !== 'arm64') return out;
  for (const b of batches) {
    if (!resetBatchValid(b, memslots, limits)) continue;
    const low = BigInt((b.mask & -b.mask).toString(2).length - 1);
    const high = BigInt(fls64(b.mask));
    for (let i = low + 1n; i < high; i++) if (((b.mask >> i) & 1n) === 0n) out.push({ slot: b.slot, offset: Number(b.offset + i) });
  }
  return out;
}

/** The batches KVM_GET_DIRTY_LOG re-protects with: one per non-zero u64 word of the bitmap it returned (kvm_get_dirty_log_protect). */
export function bitmapBatches(slot: number, pages: readonly number[]): ResetBatch[] {
  const words = new Map<number, bigint>();
  for (const p of pages) words.set(Math.floor(p / 64), (words.get(Math.floor(p / 64)) ?? 0n) | (1n << BigInt(p % 64)));
  return [...words].sort(([a], [b]) => a - b).map(([w, mask]) => ({ slot, offset: BigInt(w * 64), mask }));
}

/**
 * KVM-RING-15/19: the entries one reset consumes from a ring: from reset_index while the
 * flags have RESET; `flagsAt(i)` reads the flags of free-running index i.
 * @req KVM-RING-15 KVM-RING-19
 * @source Linux v6.18 virt/kvm/kvm_main.c kvm_vm_ioctl_reset_dirty_pages; Linux v6.18 virt/kvm/dirty_ring.c kvm_dirty_ring_reset, kvm_dirty_gfn_set_invalid, kvm_dirty_gfn_harvested; Linux v6.18 virt/kvm/dirty_ring.c kvm_dirty_ring_reset
 */
export function entriesToReset(resetIndex: number, flagsAt: (index: number) => number): number[] {
  const out: number[] = [];
  for (let i = resetIndex >>> 0; ; i = (i + 1) >>> 0) {
    if ((flagsAt(i) & 2) === 0) return out;
    out.push(i);
    if (out.length > KVM_DIRTY_RING_MAX_ENTRIES) throw new RangeError('entriesToReset: more entries with RESET than a ring can hold');
  }
}

/**
 * KVM-RING-13: the entries a collector harvests from `fetch`: those in order whose flags
 * are dirty (DIRTY set, RESET clear), up to the first that is not.
 * @req KVM-RING-13
 * @source Linux v6.18 Documentation/virt/kvm/api.rst (KVM_CAP_DIRTY_LOG_RING/KVM_CAP_DIRTY_LOG_RING_ACQ_REL) ("must collect the dirty GFNs in sequence", "load-acquire/store-release"); include/uapi/linux/kvm.h (lifecycle comment)
 */
export function entriesToHarvest(fetch: number, flagsAt: (index: number) => number, entries: number): number[] {
  const out: number[] = [];
  for (let i = fetch >>> 0; out.length < entries; i = (i + 1) >>> 0) {
    const f = flagsAt(i);
    if ((f & 1) === 0 || (f & 2) !== 0) return out;
    out.push(i);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// The collector's order (KVM-RING-20)

/** What a collector does, in order: harvest a page, reset the rings, copy a page. */
export type CollectorAction = { readonly k: 'harvest'; readonly page: string } | { readonly k: 'reset' } | { readonly k: 'copy'; readonly page: string };

/**
 * KVM-RING-20: the first copy of a harvested page made before a KVM_RESET_DIRTY_RINGS
 * that follows its harvest (a write between that copy and the reset pushes nothing and is
 * lost), or undefined when every harvested page is copied only after a reset. Pages copied
 * without a harvest (the bulk stage) are not judged.
 * @req KVM-RING-20
 * @source Linux v6.18 Documentation/virt/kvm/api.rst (KVM_CAP_DIRTY_LOG_RING/KVM_CAP_DIRTY_LOG_RING_ACQ_REL) ("the ioctl must be called *before* reading the content of the dirty pages"); KVM: Dirty ring interface v3 (Peter Xu, <20200109145729.32898-1-peterx@redhat.com>)
 */
export function copyBeforeReset(actions: readonly CollectorAction[]): { index: number; page: string } | undefined {
  const awaitingReset = new Set<string>();
  for (const [index, a] of actions.entries()) {
    if (a.k === 'harvest') awaitingReset.add(a.page);
    else if (a.k === 'reset') awaitingReset.clear();
    else if (awaitingReset.has(a.page)) return { index, page: a.page };
  }
  return undefined;
}
