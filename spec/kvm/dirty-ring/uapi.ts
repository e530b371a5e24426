// The dirty ring's uAPI, bit-exact (KVM-RING-1): constants, struct kvm_dirty_gfn in bytes,
// the slot encoding and an entry's state from its flags.
//
// Sources: Linux v6.18 include/uapi/linux/kvm.h (KVM_DIRTY_GFN_F_*, struct kvm_dirty_gfn,
//          KVM_CAP_DIRTY_LOG_RING*, KVM_EXIT_DIRTY_RING_FULL, KVM_RESET_DIRTY_RINGS),
//          include/linux/kvm_host.h (KVM_DIRTY_RING_RSVD_ENTRIES, KVM_DIRTY_RING_MAX_ENTRIES).

export const KVM_CAP_DIRTY_LOG_RING = 192;
export const KVM_CAP_DIRTY_LOG_RING_ACQ_REL = 223;
export const KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP = 225;
export const KVM_EXIT_DIRTY_RING_FULL = 31;
/** KVM_EXIT_HLT: what the kit's guest does when it has made all its writes. */
export const KVM_EXIT_HLT = 5;
/** _IO(KVMIO, 0xc7). */
export const KVM_RESET_DIRTY_RINGS = 0xaec7;

export const KVM_DIRTY_GFN_F_DIRTY = 1 << 0;
export const KVM_DIRTY_GFN_F_RESET = 1 << 1;
export const KVM_DIRTY_GFN_F_MASK = 0x3;

/** sizeof(struct kvm_dirty_gfn): flags at +0 (u32), slot at +4 (u32), offset at +8 (u64). */
export const KVM_DIRTY_GFN_SIZE = 16;
export const GFN_FLAGS_OFFSET = 0;
export const GFN_SLOT_OFFSET = 4;
export const GFN_OFFSET_OFFSET = 8;

export const KVM_DIRTY_RING_RSVD_ENTRIES = 64;
export const KVM_DIRTY_RING_MAX_ENTRIES = 65536;
export const PAGE_SIZE = 4096;
/** x86: KVM_MEM_SLOTS_NUM (SHRT_MAX) - KVM_INTERNAL_MEM_SLOTS (3). */
export const KVM_USER_MEM_SLOTS_X86 = 32764;

const U32 = 2 ** 32;
const U64 = 1n << 64n;

export interface DirtyGfn {
  readonly flags: number;
  readonly slot: number;
  readonly offset: bigint;
}

function u32(name: string, x: number): number {
  if (!Number.isInteger(x) || x < 0 || x >= U32) throw new RangeError(`${name}: must be a u32, got ${x}`);
  return x;
}

function u64(name: string, x: bigint): bigint {
  if (typeof x !== 'bigint' || x < 0n || x >= U64) throw new RangeError(`${name}: must be a u64 (bigint in [0, 2^64)), got ${String(x)}`);
  return x;
}

/**
 * The 16 bytes of one entry, little-endian.
 * @req KVM-RING-1
 * @source Linux v6.18 include/uapi/linux/kvm.h; include/linux/kvm_host.h
 */
export function encodeDirtyGfn(e: DirtyGfn): Uint8Array {
  const out = new Uint8Array(KVM_DIRTY_GFN_SIZE);
  const v = new DataView(out.buffer);
  v.setUint32(GFN_FLAGS_OFFSET, u32('flags', e.flags), true);
  v.setUint32(GFN_SLOT_OFFSET, u32('slot', e.slot), true);
  v.setBigUint64(GFN_OFFSET_OFFSET, u64('offset', e.offset), true);
  return out;
}

/**
 * The entry the 16 bytes hold, little-endian (the inverse of encodeDirtyGfn).
 * @req KVM-RING-1
 * @source Linux v6.18 include/uapi/linux/kvm.h; include/linux/kvm_host.h
 */
export function decodeDirtyGfn(bytes: Uint8Array): DirtyGfn {
  if (bytes.length !== KVM_DIRTY_GFN_SIZE) throw new RangeError(`struct kvm_dirty_gfn: must be ${KVM_DIRTY_GFN_SIZE} bytes, got ${bytes.length}`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { flags: v.getUint32(GFN_FLAGS_OFFSET, true), slot: v.getUint32(GFN_SLOT_OFFSET, true), offset: v.getBigUint64(GFN_OFFSET_OFFSET, true) };
}

/**
 * kvm_dirty_gfn.slot: (as_id << 16) | id, as mark_page_dirty_in_slot builds it.
 * @req KVM-RING-1
 * @source Linux v6.18 include/uapi/linux/kvm.h; include/linux/kvm_host.h
 */
export function encodeSlot(asId: number, id: number): number {
  if (!Number.isInteger(asId) || asId < 0 || asId > 0xffff) throw new RangeError(`as_id: must be in [0, 65535], got ${asId}`);
  if (!Number.isInteger(id) || id < 0 || id > 0xffff) throw new RangeError(`slot id: must be in [0, 65535], got ${id}`);
  return ((asId << 16) | id) >>> 0;
}

/**
 * kvm_reset_dirty_gfn: as_id = slot >> 16, id = (u16)slot.
 * @req KVM-RING-1
 * @source Linux v6.18 include/uapi/linux/kvm.h; include/linux/kvm_host.h
 */
export function decodeSlot(slot: number): { asId: number; id: number } {
  u32('slot', slot);
  return { asId: slot >>> 16, id: slot & 0xffff };
}

export type GfnState = 'invalid' | 'dirty' | 'harvested';

/**
 * The lifecycle table of include/uapi/linux/kvm.h: 00 invalid, 01 dirty, 1X to reset.
 * @req KVM-RING-1
 * @source Linux v6.18 include/uapi/linux/kvm.h; include/linux/kvm_host.h
 */
export function gfnState(flags: number): GfnState {
  u32('flags', flags);
  if ((flags & KVM_DIRTY_GFN_F_RESET) !== 0) return 'harvested';
  return (flags & KVM_DIRTY_GFN_F_DIRTY) !== 0 ? 'dirty' : 'invalid';
}
