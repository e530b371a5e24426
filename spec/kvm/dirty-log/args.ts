// The KVM dirty-log uAPI as numbers, and the pure rules over its arguments: each ioctl's
// arguments are classified into the facts the machine (memslot-machine.ts) decides on,
// one boolean per check the kernel makes, so the machine keeps the kernel's order.
// Bitmaps use the kernel layout: bit i of u64 word i / 64, little-endian bytes (byte
// i >> 3, bit i & 7), ALIGN(npages, 64) / 8 bytes.
//
// Requirements: KVM-SLOT-1..8, 10, 12 (classifySetMemoryRegion), KVM-LOG-1..2, 8
//               (classifyGetDirtyLog, dirtyLogBytes), KVM-CLEAR-1..2, 4..6, 8
//               (classifyClearDirtyLog, clearedPages), KVM-CAP-1..2, 5 (classifyEnableCap,
//               KVM_DIRTY_LOG_MANUAL_CAPS, KVM_MANUAL_CAPS_ANSWERS).
// Sources: Linux v6.14 include/uapi/linux/kvm.h, virt/kvm/kvm_main.c (see requirements.ts).

/** include/uapi/linux/kvm.h: KVMIO, the ioctl type byte. */
export const KVMIO = 0xae;
const IOC_WRITE = 1;
const IOC_READ = 2;
/** _IOC(dir, KVMIO, nr, size) as include/uapi/asm-generic/ioctl.h builds it. */
export function kvmIoc(dir: number, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (KVMIO << 8) | nr) >>> 0;
}
/** _IOW(KVMIO, 0x46, struct kvm_userspace_memory_region): 32 bytes. */
export const KVM_SET_USER_MEMORY_REGION = kvmIoc(IOC_WRITE, 0x46, 32);
/** _IOW(KVMIO, 0x42, struct kvm_dirty_log): 16 bytes. */
export const KVM_GET_DIRTY_LOG = kvmIoc(IOC_WRITE, 0x42, 16);
/** _IOWR(KVMIO, 0xc0, struct kvm_clear_dirty_log): 24 bytes. */
export const KVM_CLEAR_DIRTY_LOG = kvmIoc(IOC_WRITE | IOC_READ, 0xc0, 24);
/** _IOW(KVMIO, 0xa3, struct kvm_enable_cap): 104 bytes. */
export const KVM_ENABLE_CAP = kvmIoc(IOC_WRITE, 0xa3, 104);
/** _IO(KVMIO, 0x03). */
export const KVM_CHECK_EXTENSION = kvmIoc(0, 0x03, 0);

export const KVM_MEM_LOG_DIRTY_PAGES = 1 << 0;
export const KVM_MEM_READONLY = 1 << 1;
export const KVM_MEM_GUEST_MEMFD = 1 << 2;
export const KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 = 168;
export const KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE = 1 << 0;
export const KVM_DIRTY_LOG_INITIALLY_SET = 1 << 1;
/** KVM-CAP-5: what KVM_CHECK_EXTENSION(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) returns on x86 from v5.7 (3c9bd4006bfc) and arm64 from v5.8. */
export const KVM_DIRTY_LOG_MANUAL_CAPS = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET;
/**
 * KVM-CAP-5: the answers a VM may give KVM_CHECK_EXTENSION(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2),
 * each the args[0] bits its KVM_ENABLE_CAP takes: 3 (the architecture's KVM_DIRTY_LOG_MANUAL_CAPS: x86 from v5.7,
 * 3c9bd4006bfc "KVM: X86: enable dirty log gradually in small chunks"; arm64 from v5.8, "KVM:
 * arm64: Support enabling dirty log gradually in small chunks"), 1 (the generic default from
 * v5.2, d7547c55cbe7 "KVM: Introduce KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2", whose
 * kvm_vm_ioctl_enable_cap_generic refuses args[0] & ~1: x86 v5.2..v5.6, arm64 v5.2..v5.7), 0 (168 not offered: v5.0 and v5.1 had manual protect as
 * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT, 166, which d7547c55cbe7 retired).
 */
export const KVM_MANUAL_CAPS_ANSWERS: readonly number[] = [0, KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE, KVM_DIRTY_LOG_MANUAL_CAPS];
/** KVM-SLOT-7: (1UL << 31) - 1 pages at most in a user slot. */
export const KVM_MEM_MAX_NR_PAGES = 2 ** 31 - 1;
/** x86: KVM_MEM_SLOTS_NUM (SHRT_MAX) - KVM_INTERNAL_MEM_SLOTS (3). arm64 has 32767. */
export const KVM_USER_MEM_SLOTS_X86 = 32764;
/** x86: two address spaces (SMM is the second); arm64 has one. */
export const KVM_ADDRESS_SPACES_X86 = 2;
export const PAGE_SIZE = 4096;
const U64_LIMIT = 1n << 64n;

export type U64 = number | bigint;

function u64(name: string, x: U64): bigint {
  const v = typeof x === 'bigint' ? x : Number.isInteger(x) ? BigInt(x) : -1n;
  if (v < 0n || v >= U64_LIMIT) throw new RangeError(`${name}: must be an integer in [0, 2^64), got ${String(x)}`);
  return v;
}
function u32(name: string, x: number): number {
  if (!Number.isInteger(x) || x < 0 || x > 0xffff_ffff) throw new RangeError(`${name}: must be a u32, got ${String(x)}`);
  return x;
}

/**
 * The slot field: as_id in bits 31:16, the id in bits 15:0 (KVM-SLOT-1).
 * @req KVM-SLOT-1
 * @source Linux v6.14 virt/kvm/kvm_main.c kvm_vm_ioctl_set_memory_region; Linux v6.14 Documentation/virt/kvm/api.rst KVM_SET_USER_MEMORY_REGION
 */
export function slotField(asId: number, id: number): number {
  if (!Number.isInteger(asId) || asId < 0 || asId > 0xffff) throw new RangeError(`asId: must be a u16, got ${asId}`);
  if (!Number.isInteger(id) || id < 0 || id > 0xffff) throw new RangeError(`id: must be a u16, got ${id}`);
  return ((asId << 16) | id) >>> 0;
}
export function splitSlot(slot: number): { asId: number; id: number } {
  u32('slot', slot);
  return { asId: slot >>> 16, id: slot & 0xffff };
}

/**
 * KVM-LOG-5, KVM-LOG-8: kvm_dirty_bitmap_bytes: ALIGN(npages, 64) / 8.
 * @req KVM-LOG-5 KVM-LOG-8
 * @source Linux v6.14 virt/kvm/kvm_main.c kvm_get_dirty_log_protect, kvm_dirty_bitmap_bytes; Linux v6.14 Documentation/virt/kvm/api.rst KVM_GET_DIRTY_LOG; Linux v6.14 virt/kvm/kvm_main.c kvm_clear_dirty_log_protect comment ("never includes any bits beyond the length of the memslot"); kvm_alloc_dirty_bitmap
 */
export function dirtyLogBytes(npages: number): number {
  if (!Number.isInteger(npages) || npages < 0) throw new RangeError(`npages: must be a non-negative integer, got ${npages}`);
  return Math.ceil(npages / 64) * 8;
}

/** What classification needs to know about the VM. */
export interface KvmVmView {
  /** KVM_USER_MEM_SLOTS (KVM_CAP_NR_MEMSLOTS). */
  readonly userMemSlots: number;
  /** kvm_arch_nr_memslot_as_ids (KVM_CAP_MULTI_ADDRESS_SPACE). */
  readonly addressSpaces: number;
  /** The dirty ring is in use without KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP: no bitmaps (KVM-LOG-1). */
  readonly dirtyRingExclusive: boolean;
  /** KVM_MEM_READONLY is accepted (kvm_arch_has_readonly_mem). */
  readonly readonlyMem: boolean;
  /** Exclusive end of the user addresses access_ok accepts (TASK_SIZE). */
  readonly userAddressLimit: U64;
  /** The slots that exist, by slot field (as_id << 16 | id). */
  readonly slots: readonly KvmSlotView[];
}

export interface KvmSlotView {
  readonly slot: number;
  readonly flags: number;
  readonly guestPhysAddr: U64;
  readonly memorySize: U64;
  readonly userspaceAddr: U64;
}

export interface MemoryRegionArgs {
  readonly slot: number;
  readonly flags: number;
  readonly guestPhysAddr: U64;
  readonly memorySize: U64;
  readonly userspaceAddr: U64;
}

// ---------------------------------------------------------------------------------------
// KVM_SET_USER_MEMORY_REGION

export interface SetMemoryRegionFacts {
  /** KVM-SLOT-1: (u16)slot >= KVM_USER_MEM_SLOTS. */
  readonly slotIdInvalid: boolean;
  /** KVM-SLOT-2: a flag outside LOG_DIRTY_PAGES | READONLY (READONLY only where the arch has it). */
  readonly flagsInvalid: boolean;
  /** KVM-SLOT-3: memory_size or guest_phys_addr not page-aligned. */
  readonly unaligned: boolean;
  /** KVM-SLOT-4: userspace_addr not page-aligned or not access_ok for memory_size bytes. */
  readonly userAddrInvalid: boolean;
  /** KVM-SLOT-5: as_id past the address spaces. */
  readonly asIdInvalid: boolean;
  /** KVM-SLOT-6: guest_phys_addr + memory_size wraps. */
  readonly gpaWraps: boolean;
  /** KVM-SLOT-7: more than KVM_MEM_MAX_NR_PAGES pages. */
  readonly tooManyPages: boolean;
  /** KVM-SLOT-8, KVM-SLOT-9: memory_size 0 (delete). */
  readonly sizeZero: boolean;
  /** KVM-SLOT-12: an existing slot's userspace_addr, size or READONLY flag differs. */
  readonly immutableChange: boolean;
  /** KVM-SLOT-10: the range overlaps another slot of the address space. */
  readonly overlaps: boolean;
  /** The new flags have KVM_MEM_LOG_DIRTY_PAGES. */
  readonly logDirty: boolean;
  /** KVM-SLOT-16: an existing slot at a new guest_phys_addr. */
  readonly moves: boolean;
  /** KVM-SLOT-13..15: an existing slot's flags differ. */
  readonly flagsChange: boolean;
}
export type SetMemoryRegionEvent = { readonly type: 'SET_MEMORY_REGION' } & SetMemoryRegionFacts;

export function classifySetMemoryRegion(vm: KvmVmView, a: MemoryRegionArgs): SetMemoryRegionEvent {
  const slot = u32('slot', a.slot);
  const flags = u32('flags', a.flags);
  const gpa = u64('guestPhysAddr', a.guestPhysAddr);
  const size = u64('memorySize', a.memorySize);
  const uaddr = u64('userspaceAddr', a.userspaceAddr);
  const { asId, id } = splitSlot(slot);
  const pg = BigInt(PAGE_SIZE);
  const valid = KVM_MEM_LOG_DIRTY_PAGES | (vm.readonlyMem ? KVM_MEM_READONLY : 0);
  const old = vm.slots.find((s) => s.slot === slot);
  const npages = size / pg;
  const gfn = gpa / pg;
  const overlaps = vm.slots.some((s) => {
    if (s.slot === slot || splitSlot(s.slot).asId !== asId) return false;
    const start = u64('slot.guestPhysAddr', s.guestPhysAddr) / pg;
    const end = start + u64('slot.memorySize', s.memorySize) / pg;
    return start < gfn + npages && gfn < end;
  });
  const moves = old !== undefined && u64('slot.guestPhysAddr', old.guestPhysAddr) !== gpa;
  return {
    type: 'SET_MEMORY_REGION',
    slotIdInvalid: id >= vm.userMemSlots,
    flagsInvalid: (flags & ~valid) !== 0,
    unaligned: size % pg !== 0n || gpa % pg !== 0n,
    userAddrInvalid: uaddr % pg !== 0n || uaddr + size > u64('userAddressLimit', vm.userAddressLimit),
    asIdInvalid: asId >= vm.addressSpaces,
    gpaWraps: gpa + size >= U64_LIMIT,
    tooManyPages: npages > BigInt(KVM_MEM_MAX_NR_PAGES),
    sizeZero: size === 0n,
    immutableChange: old !== undefined && size !== 0n && (u64('slot.userspaceAddr', old.userspaceAddr) !== uaddr || u64('slot.memorySize', old.memorySize) !== size || ((old.flags ^ flags) & KVM_MEM_READONLY) !== 0),
    // Only creating or moving checks overlap (kvm_check_memslot_overlap), and a zero-size call has nothing to overlap.
    overlaps: size !== 0n && (old === undefined || moves) && overlaps,
    logDirty: (flags & KVM_MEM_LOG_DIRTY_PAGES) !== 0,
    moves,
    flagsChange: old !== undefined && old.flags !== flags,
  };
}

// ---------------------------------------------------------------------------------------
// KVM_GET_DIRTY_LOG

export interface GetDirtyLogFacts {
  /** KVM-LOG-1: the dirty ring without a bitmap. */
  readonly ringExclusive: boolean;
  /** KVM-LOG-2: as_id or id out of range. */
  readonly slotIdInvalid: boolean;
  /** KVM-LOG-4, KVM-LOG-7: the kernel cannot write the ALIGN(npages, 64) / 8 bytes at dirty_bitmap. */
  readonly bitmapFault: boolean;
}
export type GetDirtyLogEvent = { readonly type: 'GET_DIRTY_LOG' } & GetDirtyLogFacts;

/** `bitmapBytes`: how many bytes at dirty_bitmap the caller made writable. */
export function classifyGetDirtyLog(vm: KvmVmView, a: { slot: number; bitmapBytes: number }): GetDirtyLogEvent {
  const { asId, id } = splitSlot(a.slot);
  const s = vm.slots.find((x) => x.slot === a.slot);
  const need = s === undefined ? 0 : dirtyLogBytes(Number(u64('slot.memorySize', s.memorySize) / BigInt(PAGE_SIZE)));
  return { type: 'GET_DIRTY_LOG', ringExclusive: vm.dirtyRingExclusive, slotIdInvalid: asId >= vm.addressSpaces || id >= vm.userMemSlots, bitmapFault: a.bitmapBytes < need };
}

// ---------------------------------------------------------------------------------------
// KVM_CLEAR_DIRTY_LOG

export interface ClearDirtyLogArgs {
  readonly slot: number;
  /** u32. */
  readonly numPages: number;
  /** u64. */
  readonly firstPage: U64;
  /** How many bytes at dirty_bitmap the kernel can read. */
  readonly bitmapBytes: number;
}

export interface ClearDirtyLogFacts {
  /** KVM-LOG-1. */
  readonly ringExclusive: boolean;
  /** KVM-CLEAR-1. */
  readonly slotIdInvalid: boolean;
  /** KVM-CLEAR-2: first_page & 63. */
  readonly firstPageUnaligned: boolean;
  /** KVM-CLEAR-4: first_page > npages or num_pages > npages - first_page. */
  readonly rangeOutside: boolean;
  /** KVM-CLEAR-5: num_pages & 63 with the range ending before the slot's end. */
  readonly numPagesUnaligned: boolean;
  /** KVM-CLEAR-6: fewer readable bytes than ALIGN(num_pages, 64) / 8. */
  readonly bitmapFault: boolean;
}
export type ClearDirtyLogEvent = { readonly type: 'CLEAR_DIRTY_LOG' } & ClearDirtyLogFacts;

export function classifyClearDirtyLog(vm: KvmVmView, a: ClearDirtyLogArgs): ClearDirtyLogEvent {
  const { asId, id } = splitSlot(a.slot);
  const num = BigInt(u32('numPages', a.numPages));
  const first = u64('firstPage', a.firstPage);
  const s = vm.slots.find((x) => x.slot === a.slot);
  const npages = s === undefined ? 0n : u64('slot.memorySize', s.memorySize) / BigInt(PAGE_SIZE);
  const outside = first > npages || num > npages - first;
  return {
    type: 'CLEAR_DIRTY_LOG',
    ringExclusive: vm.dirtyRingExclusive,
    slotIdInvalid: asId >= vm.addressSpaces || id >= vm.userMemSlots,
    firstPageUnaligned: (first & 63n) !== 0n,
    rangeOutside: s !== undefined && outside,
    numPagesUnaligned: s !== undefined && !outside && num < npages - first && (num & 63n) !== 0n,
    bitmapFault: a.bitmapBytes < dirtyLogBytes(a.numPages),
  };
}

/**
 * KVM-CLEAR-7, KVM-CLEAR-8: the pages of a slot of `npages` pages whose bits a valid
 * KVM_CLEAR_DIRTY_LOG clears, before intersecting with the slot's own dirty bits: bit i of
 * `bitmap` (i < DIV_ROUND_UP(num_pages, 64) * 64) is page first_page + i; bits for pages
 * at or past npages are ignored.
 * @req KVM-CLEAR-7 KVM-CLEAR-8
 * @source Linux v6.14 virt/kvm/kvm_main.c kvm_clear_dirty_log_protect (atomic_long_fetch_andnot, kvm_arch_mmu_enable_log_dirty_pt_masked, kvm_flush_remote_tlbs_memslot); Linux v6.14 virt/kvm/kvm_main.c kvm_clear_dirty_log_protect comment ("not a problem if userspace sets them")
 */
export function clearedPages(npages: number, firstPage: number, numPages: number, bitmap: Uint8Array): number[] {
  if (firstPage % 64 !== 0 || firstPage > npages || numPages > npages - firstPage)
    throw new RangeError(`clearedPages: first_page ${firstPage}, num_pages ${numPages} is not a valid range of a ${npages}-page slot (KVM-CLEAR-2, KVM-CLEAR-4)`);
  const out: number[] = [];
  const bits = Math.ceil(numPages / 64) * 64;
  for (let i = 0; i < bits; i++) {
    if (((bitmap[i >> 3] ?? 0) & (1 << (i & 7))) === 0) continue;
    if (firstPage + i < npages) out.push(firstPage + i);
  }
  return out;
}

/**
 * Bit i of a kernel-layout bitmap (KVM-LOG-5).
 * @req KVM-LOG-5
 * @source Linux v6.14 virt/kvm/kvm_main.c kvm_get_dirty_log_protect, kvm_dirty_bitmap_bytes; Linux v6.14 Documentation/virt/kvm/api.rst KVM_GET_DIRTY_LOG
 */
export function bitmapTest(bitmap: Uint8Array, i: number): boolean {
  return ((bitmap[i >> 3] ?? 0) & (1 << (i & 7))) !== 0;
}

/**
 * The pages whose bits are set in a KVM_GET_DIRTY_LOG bitmap of a slot of `npages` pages; a bit at or past npages is an error (KVM-LOG-8).
 * @req KVM-LOG-8
 * @source Linux v6.14 virt/kvm/kvm_main.c kvm_clear_dirty_log_protect comment ("never includes any bits beyond the length of the memslot"); kvm_alloc_dirty_bitmap
 */
export function dirtyLogPages(bitmap: Uint8Array, npages: number): { pages: number[]; beyond: number[] } {
  const pages: number[] = [];
  const beyond: number[] = [];
  for (let i = 0; i < bitmap.length * 8; i++) if (bitmapTest(bitmap, i)) (i < npages ? pages : beyond).push(i);
  return { pages, beyond };
}

// ---------------------------------------------------------------------------------------
// KVM_ENABLE_CAP, KVM_CHECK_EXTENSION

export type ProtectMode = 'off' | 'manual' | 'manualInitSet';

export type EnableCapEvent =
  | { readonly type: 'ENABLE_CAP'; readonly cap: 'other' }
  | { readonly type: 'ENABLE_CAP'; readonly cap: 'manualProtect2'; readonly flagsNonZero: boolean; readonly unknownBits: boolean; readonly initSetAlone: boolean; readonly mode: ProtectMode };

/**
 * KVM-CAP-1, KVM-CAP-2, KVM-CAP-4: kvm_vm_ioctl_enable_cap_generic's checks on args[0].
 * `offered` is the VM's answer to KVM_CHECK_EXTENSION(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2), one of
 * KVM_MANUAL_CAPS_ANSWERS (v6.14's 3 by default): 0, the capability is unknown (KVM-CAP-4); 1,
 * args[0] bits outside it are refused (x86 v5.2..v5.6 kvm_vm_ioctl_enable_cap_generic: args[0] & ~1).
 * @req KVM-CAP-1 KVM-CAP-2 KVM-CAP-4
 * @source Linux v6.14 virt/kvm/kvm_main.c kvm_vm_ioctl_enable_cap_generic; Linux v6.14 Documentation/virt/kvm/api.rst KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2; Linux v6.14 virt/kvm/kvm_main.c kvm_vm_ioctl_enable_cap_generic (allowed_options); Linux v6.14 virt/kvm/kvm_main.c kvm_vm_ioctl_enable_cap (weak default); Linux v6.14 arch/x86/kvm/x86.c kvm_vm_ioctl_enable_cap (default -EINVAL); Linux v5.4 virt/kvm/kvm_main.c kvm_vm_ioctl_enable_cap_generic (args[0] & ~1)
 */
export function classifyEnableCap(a: { cap: number; flags: number; args0: U64 }, offered: number = KVM_DIRTY_LOG_MANUAL_CAPS): EnableCapEvent {
  if (!KVM_MANUAL_CAPS_ANSWERS.includes(offered)) throw new RangeError(`offered: KVM_CHECK_EXTENSION(${KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2}) answers one of ${KVM_MANUAL_CAPS_ANSWERS.join(', ')}, got ${offered}`);
  if (a.cap !== KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 || offered === 0) return { type: 'ENABLE_CAP', cap: 'other' };
  const v = u64('args[0]', a.args0);
  const enable = BigInt(KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE);
  const init = BigInt(KVM_DIRTY_LOG_INITIALLY_SET);
  return {
    type: 'ENABLE_CAP',
    cap: 'manualProtect2',
    flagsNonZero: u32('flags', a.flags) !== 0,
    unknownBits: (v & ~BigInt(offered)) !== 0n,
    initSetAlone: (v & init) !== 0n && (v & enable) === 0n,
    mode: (v & enable) === 0n ? 'off' : (v & init) !== 0n ? 'manualInitSet' : 'manual',
  };
}

export type CheckExtensionEvent = { readonly type: 'CHECK_EXTENSION' };
