// More faulty KVM VMs (profile kvm-dirty-log): the argument checks and state changes of
// Linux v6.12.117 virt/kvm/kvm_main.c (kvm_set_memory_region / __kvm_set_memory_region,
// kvm_vm_ioctl_enable_cap_generic, kvm_vm_ioctl_check_extension_generic, kvm_get_dirty_log_protect,
// kvm_clear_dirty_log_protect) and arch/x86/kvm/mmu (kvm_mmu_slot_apply_flags), each done
// wrong in one place: a check left out or off by one, two checks in the wrong order, a
// state change that does not happen. The reference's checks are inline, so most mutants
// wrap the ioctl and let through (or reshape) the input the missing check would refuse.
import {
  EPT_ADDR,
  EPT_PS,
  EPT_W,
  KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
  KVM_DIRTY_LOG_INITIALLY_SET,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY,
  KvmVm,
  type Memslot,
  type MemoryRegion,
  type VcpuWriteResult,
} from '../../impl/kvm/dirty-log/kvm-vm.ts';
import { GPA, type KvmLogSpec, UADDR, kvmLogProbesOf, kvmLogZooOf, set } from './kvm-log-probes.ts';
import type { Probe } from './probe.ts';
import type { BugClass, Mutant } from './types.ts';

const EINVAL = -22;
const ENOENT = -2;
const EFAULT = -14;
const EEXIST = -17;
const ENXIO = -6;
const EBUSY = -16;
const PAGE = 4096;

/** Runs `fn` with `obj[key]` set to `value`, then puts the old value back (a readonly field or a method, as a faulty kernel would have it). */
function withField<T>(obj: object, key: string, value: unknown, fn: () => T): T {
  const o = obj as Record<string, unknown>;
  const own = Object.hasOwn(o, key);
  const old = o[key];
  Object.defineProperty(o, key, { value, configurable: true, writable: true });
  try {
    return fn();
  } finally {
    if (own) Object.defineProperty(o, key, { value: old, configurable: true, writable: true });
    else delete o[key];
  }
}

type Get = ReturnType<KvmVm['getDirtyLog']>;
const slotOf = (vm: KvmVm, field: number) => (vm as unknown as { slots: Map<number, { npages: number; bitmap?: unknown; flags: number; baseGfn: number; userspaceAddr: number }> }).slots.get(field >>> 0);

// ---- KVM_SET_USER_MEMORY_REGION ---------------------------------------------------------

export class SlotIdOffByOneVm extends KvmVm {
  // FAULT (class boundary-arithmetic): `(u16)slot > KVM_USER_MEM_SLOTS` instead of `>=`: slot id
  // KVM_USER_MEM_SLOTS, one past the array, is taken.
  override setUserMemoryRegion(mem: MemoryRegion): number {
    return (mem.slot & 0xffff) === this.userMemSlots ? withField(this, 'userMemSlots', this.userMemSlots + 1, () => super.setUserMemoryRegion(mem)) : super.setUserMemoryRegion(mem);
  }
}

export class SlotFlagsUncheckedVm extends KvmVm {
  // FAULT (class bad-input-accepted): the `mem->flags & ~valid_flags` test is missing: unknown flags are dropped.
  override setUserMemoryRegion(mem: MemoryRegion): number {
    return super.setUserMemoryRegion({ ...mem, flags: mem.flags & 3 });
  }
}

export class SlotGpaUnalignedVm extends KvmVm {
  // FAULT (class bad-input-accepted): guest_phys_addr is not checked for page alignment (memory_size is):
  // the slot starts at the page the address falls in.
  override setUserMemoryRegion(mem: MemoryRegion): number {
    return super.setUserMemoryRegion({ ...mem, guestPhysAddr: mem.guestPhysAddr - (mem.guestPhysAddr % PAGE) });
  }
}

export class SlotAccessOkMissingVm extends KvmVm {
  // FAULT (class bad-input-accepted): access_ok(userspace_addr, memory_size) is not called: a
  // slot backed by kernel addresses is taken.
  override setUserMemoryRegion(mem: MemoryRegion): number {
    return withField(this, 'userAddressLimit', 2 ** 64, () => super.setUserMemoryRegion(mem));
  }
}

export class SlotAsIdUncheckedVm extends KvmVm {
  // FAULT (class bad-input-accepted): `as_id >= kvm_arch_nr_memslot_as_ids(kvm)` is not checked on
  // KVM_SET_USER_MEMORY_REGION: a slot in an address space the VM does not have is taken.
  override setUserMemoryRegion(mem: MemoryRegion): number {
    const asId = mem.slot >>> 16;
    return asId >= this.addressSpaces && asId < 16 ? withField(this, 'addressSpaces', asId + 1, () => super.setUserMemoryRegion(mem)) : super.setUserMemoryRegion(mem);
  }
}

export class DeleteMissingOkVm extends KvmVm {
  // FAULT (class bad-input-accepted): deleting (memory_size 0) a slot id that holds no slot returns 0, not -EINVAL.
  override setUserMemoryRegion(mem: MemoryRegion): number {
    const r = super.setUserMemoryRegion(mem);
    return r === EINVAL &&
      mem.memorySize === 0 &&
      slotOf(this, mem.slot) === undefined &&
      (mem.slot & 0xffff) < this.userMemSlots &&
      mem.slot >>> 16 < this.addressSpaces &&
      (mem.flags & ~3) === 0 &&
      mem.guestPhysAddr % PAGE === 0 &&
      mem.userspaceAddr % PAGE === 0
      ? 0
      : r;
  }
}

export class SlotOverlapUncheckedVm extends KvmVm {
  // FAULT (class bad-input-accepted): the overlap walk over the address space's slots is missing: two slots hold the same guest pages.
  override setUserMemoryRegion(mem: MemoryRegion): number {
    return withField(
      this,
      'overlaps',
      () => false,
      () => super.setUserMemoryRegion(mem),
    );
  }
}

export class SlotWholeWordsVm extends KvmVm {
  // FAULT (class valid-input-refused): a new logging slot must be a whole number of bitmap words
  // (64 pages), a rule of the developer's own: a valid slot of 65 pages is -EINVAL.
  override setUserMemoryRegion(mem: MemoryRegion): number {
    const pages = mem.memorySize / PAGE;
    if (slotOf(this, mem.slot) === undefined && (mem.flags & KVM_MEM_LOG_DIRTY_PAGES) !== 0 && pages % 64 !== 0) {
      const r = super.setUserMemoryRegion(mem);
      if (r !== 0) return r;
      super.setUserMemoryRegion({ ...mem, memorySize: 0 });
      return EINVAL;
    }
    return super.setUserMemoryRegion(mem);
  }
}

export class SlotUaddrChangeIgnoredVm extends KvmVm {
  // FAULT (class bad-input-accepted): a changed userspace_addr of an existing slot is not compared:
  // the call returns 0 and the slot keeps its old backing.
  override setUserMemoryRegion(mem: MemoryRegion): number {
    const old = slotOf(this, mem.slot);
    return super.setUserMemoryRegion(old === undefined || mem.memorySize === 0 ? mem : { ...mem, userspaceAddr: old.userspaceAddr });
  }
}

export class SlotSameIsEexistVm extends KvmVm {
  // FAULT (class valid-input-refused): the overlap test runs for an unchanged slot too and finds
  // the slot itself: setting a slot to what it is, a no-op, is -EEXIST.
  override setUserMemoryRegion(mem: MemoryRegion): number {
    const old = slotOf(this, mem.slot);
    if (old !== undefined && mem.memorySize === old.npages * PAGE && mem.guestPhysAddr === old.baseGfn * PAGE && mem.userspaceAddr === old.userspaceAddr && mem.flags === old.flags) return EEXIST;
    return super.setUserMemoryRegion(mem);
  }
}

export class LoggingOnNoProtectVm extends KvmVm {
  // FAULT (class state-not-carried): switching KVM_MEM_LOG_DIRTY_PAGES on allocates the bitmap but
  // does not write-protect the slot (kvm_mmu_slot_apply_flags skipped): writes through the
  // leaves already writable are never recorded.
  override setUserMemoryRegion(mem: MemoryRegion): number {
    return withField(
      this,
      'protectPages',
      () => {},
      () => super.setUserMemoryRegion(mem),
    );
  }
}

export class LoggingOffKeepsBitmapVm extends KvmVm {
  // FAULT (class state-not-carried): switching logging off keeps the dirty bitmap: GET on the
  // slot still answers, with stale bits, instead of -ENOENT.
  override setUserMemoryRegion(mem: MemoryRegion): number {
    return withField(
      this,
      'freeBitmap',
      () => {},
      () => super.setUserMemoryRegion(mem),
    );
  }
}

// ---- KVM_GET_DIRTY_LOG ----------------------------------------------------------------

export class RingCheckLateVm extends KvmVm {
  // FAULT (class bad-input-accepted): the dirty-ring test (-ENXIO) comes after the slot lookup:
  // a missing slot is -ENOENT, where -ENXIO must come before any other check.
  override getDirtyLog(slotField: number, bitmapBytes: number): Get {
    if (this.dirtyRingExclusive && (slotField >>> 16 >= this.addressSpaces || (slotField & 0xffff) >= this.userMemSlots)) return { errno: EINVAL };
    if (this.dirtyRingExclusive && slotOf(this, slotField) === undefined) return { errno: ENOENT };
    return super.getDirtyLog(slotField, bitmapBytes);
  }
  override clearDirtyLog(slotField: number, firstPage: bigint, numPages: number, bitmap: Uint8Array): number {
    if (this.dirtyRingExclusive && (slotField >>> 16 >= this.addressSpaces || (slotField & 0xffff) >= this.userMemSlots)) return EINVAL;
    if (this.dirtyRingExclusive && slotOf(this, slotField) === undefined) return ENOENT;
    return super.clearDirtyLog(slotField, firstPage, numPages, bitmap);
  }
}

export class GetAsIdUncheckedVm extends KvmVm {
  // FAULT (class bad-input-accepted): KVM_GET_DIRTY_LOG does not check as_id: the lookup in a
  // memslots array past the VM's finds nothing, -ENOENT instead of -EINVAL.
  override getDirtyLog(slotField: number, bitmapBytes: number): Get {
    return slotField >>> 16 >= this.addressSpaces && !this.dirtyRingExclusive && (slotField & 0xffff) < this.userMemSlots ? { errno: ENOENT } : super.getDirtyLog(slotField, bitmapBytes);
  }
}

export class GetUnloggedEmptyVm extends KvmVm {
  // FAULT (class bad-input-accepted): `if (!memslot->dirty_bitmap) return -ENOENT` is missing for a
  // slot that exists: a slot not logging answers a bitmap of zeros ("nothing dirty").
  override getDirtyLog(slotField: number, bitmapBytes: number): Get {
    const s = slotOf(this, slotField);
    if (!this.dirtyRingExclusive && s !== undefined && s.bitmap === undefined && slotField >>> 16 < this.addressSpaces) return { errno: 0, bitmap: new Uint8Array(Math.ceil(s.npages / 64) * 8) };
    return super.getDirtyLog(slotField, bitmapBytes);
  }
}

export class ManualGetNoEfaultVm extends KvmVm {
  // FAULT (class bad-input-accepted): under manual protect, copy_to_user's failure is not checked:
  // a dirty_bitmap the kernel cannot write gets 0.
  override getDirtyLog(slotField: number, bitmapBytes: number): Get {
    const s = slotOf(this, slotField);
    if (this.manualDirtyLogProtect !== 0 && s?.bitmap !== undefined) return super.getDirtyLog(slotField, Math.max(bitmapBytes, Math.ceil(s.npages / 64) * 8));
    return super.getDirtyLog(slotField, bitmapBytes);
  }
}

export class GetEfaultFirstVm extends KvmVm {
  // FAULT (class state-not-carried): without manual protect, an unwritable dirty_bitmap is refused
  // (-EFAULT) before the bitmap is taken, where the kernel takes it (and protects the pages)
  // first: the kit's copy of the dirty state and the VM's part ways.
  override getDirtyLog(slotField: number, bitmapBytes: number): Get {
    const s = slotOf(this, slotField);
    if (this.manualDirtyLogProtect === 0 && !this.dirtyRingExclusive && s?.bitmap !== undefined && bitmapBytes < Math.ceil(s.npages / 64) * 8 && slotField >>> 16 < this.addressSpaces) return { errno: EFAULT };
    return super.getDirtyLog(slotField, bitmapBytes);
  }
}

export class InitSetWholeWordsVm extends KvmVm {
  // FAULT (class false-dirty): KVM_DIRTY_LOG_INITIALLY_SET sets whole words (bitmap_set over
  // ALIGN(npages, BITS_PER_LONG)): the bits past the slot's last page come back set.
  protected override allocBitmap(slot: Parameters<KvmVm['allocBitmap']>[0]): void {
    super.allocBitmap(slot);
    if ((this.manualDirtyLogProtect & 2) === 0) return;
    for (let w = 0; w < Math.ceil(slot.npages / 64); w++) this.memory.store(this.wordAddress(slot, w), (1n << 64n) - 1n);
  }
}

// ---- KVM_CLEAR_DIRTY_LOG ----------------------------------------------------------------

export class ClearAsIdUncheckedVm extends KvmVm {
  // FAULT (class bad-input-accepted): KVM_CLEAR_DIRTY_LOG does not check as_id: -ENOENT instead of -EINVAL.
  override clearDirtyLog(slotField: number, firstPage: bigint, numPages: number, bitmap: Uint8Array): number {
    return slotField >>> 16 >= this.addressSpaces && !this.dirtyRingExclusive && (slotField & 0xffff) < this.userMemSlots && (firstPage & 63n) === 0n ? ENOENT : super.clearDirtyLog(slotField, firstPage, numPages, bitmap);
  }
}

export class ClearUnloggedOkVm extends KvmVm {
  // FAULT (class bad-input-accepted): `if (!memslot->dirty_bitmap) return -ENOENT` is missing in CLEAR: a slot not logging clears nothing and returns 0.
  override clearDirtyLog(slotField: number, firstPage: bigint, numPages: number, bitmap: Uint8Array): number {
    const s = slotOf(this, slotField);
    const r = super.clearDirtyLog(slotField, firstPage, numPages, bitmap);
    return r === ENOENT && s !== undefined && s.bitmap === undefined ? 0 : r;
  }
}

export class ClearPastEndClampedVm extends KvmVm {
  // FAULT (class bad-input-accepted): `num_pages > npages - first_page` is not checked; the walk
  // stops at the slot's end: a range past it returns 0.
  override clearDirtyLog(slotField: number, firstPage: bigint, numPages: number, bitmap: Uint8Array): number {
    const s = slotOf(this, slotField);
    if (s !== undefined && firstPage <= BigInt(s.npages) && BigInt(numPages) > BigInt(s.npages) - firstPage) return super.clearDirtyLog(slotField, firstPage, s.npages - Number(firstPage), bitmap);
    return super.clearDirtyLog(slotField, firstPage, numPages, bitmap);
  }
}

export class ClearUnalignedNumOkVm extends KvmVm {
  // FAULT (class bad-input-accepted): `(num_pages & 63) && first_page + num_pages != npages` is not
  // checked: a range ending inside a word short of the slot's end is taken, and the whole
  // last word's selected bits are cleared.
  protected override clearRangeOk(npages: number, firstPage: bigint, numPages: number): boolean {
    return firstPage <= BigInt(npages) && BigInt(numPages) <= BigInt(npages) - firstPage;
  }
}

export class ClearBitsPastEndRefusedVm extends KvmVm {
  // FAULT (class valid-input-refused): a user bitmap with bits set for pages past the slot's end is
  // -EINVAL, where the kernel ignores them (the slot's bitmap has nothing there).
  override clearDirtyLog(slotField: number, firstPage: bigint, numPages: number, bitmap: Uint8Array): number {
    const s = slotOf(this, slotField);
    if (s !== undefined && s.bitmap !== undefined) {
      const first = Number(firstPage);
      for (let i = Math.max(0, s.npages - first); i < Math.ceil(numPages / 64) * 64 && i >> 3 < bitmap.length; i++) if ((bitmap[i >> 3]! & (1 << (i & 7))) !== 0 && first + i >= s.npages) return EINVAL;
    }
    return super.clearDirtyLog(slotField, firstPage, numPages, bitmap);
  }
}

// ---- KVM_ENABLE_CAP, KVM_CHECK_EXTENSION ----------------------------------------------------

export class CapFlagsUncheckedVm extends KvmVm {
  // FAULT (class bad-input-accepted): `cap->flags` is not checked: non-zero flags are ignored.
  override enableCap(cap: number, _flags: number, args0: bigint): number {
    return super.enableCap(cap, 0, args0);
  }
}

export class CapInitSetAloneVm extends KvmVm {
  // FAULT (class bad-input-accepted): INITIALLY_SET is allowed without MANUAL_PROTECT_ENABLE (the
  // allowed mask is taken as both bits whatever args[0] holds).
  override enableCap(cap: number, flags: number, args0: bigint): number {
    if (args0 !== 2n || cap !== KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 || flags !== 0) return super.enableCap(cap, flags, args0);
    this.manualDirtyLogProtect = 2;
    return 0;
  }
}

export class CapBusyWhileLoggingVm extends KvmVm {
  // FAULT (class valid-input-refused): the manual-protect setting may not change while a slot logs
  // (-EBUSY), a rule of the developer's own: the uAPI takes it at any time.
  override enableCap(cap: number, flags: number, args0: bigint): number {
    const logging = [...(this as unknown as { slots: Map<number, { bitmap?: unknown }> }).slots.values()].some((s) => s.bitmap !== undefined);
    return cap === KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 && logging ? EBUSY : super.enableCap(cap, flags, args0);
  }
}

export class CapUnknownOkVm extends KvmVm {
  // FAULT (class bad-input-accepted): the default of the capability switch returns 0, not -EINVAL.
  override enableCap(cap: number, flags: number, args0: bigint): number {
    return cap !== KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 ? 0 : super.enableCap(cap, flags, args0);
  }
}

export class CapReportsV1Vm extends KvmVm {
  // FAULT (class valid-input-refused): KVM_CHECK_EXTENSION answers 1, as x86 v5.2..v5.6 did (manual protect, no
  // INITIALLY_SET), yet KVM_ENABLE_CAP takes INITIALLY_SET, which those kernels refused: the answer hides an option
  // the VM has, so a VMM never asks for it. (An answer of 1 with INITIALLY_SET refused is v5.4's uAPI, and conforms.)
  override checkExtension(cap: number): number {
    return cap === KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 ? 1 : super.checkExtension(cap);
  }
}

export class LogOnRefusedVm extends KvmVm {
  // FAULT (class valid-input-refused): the test for a changed KVM_MEM_READONLY compares every flag:
  // switching KVM_MEM_LOG_DIRTY_PAGES on for an existing slot is -EINVAL.
  override setUserMemoryRegion(mem: MemoryRegion): number {
    const old = slotOf(this, mem.slot);
    if (old !== undefined && mem.memorySize !== 0 && (old.flags & KVM_MEM_LOG_DIRTY_PAGES) === 0 && (mem.flags & KVM_MEM_LOG_DIRTY_PAGES) !== 0) return EINVAL;
    return super.setUserMemoryRegion(mem);
  }
}

export class LogOffBusyVm extends KvmVm {
  // FAULT (class valid-input-refused): logging may not be switched off while the slot has a
  // bitmap (-EBUSY), a rule of the developer's own: the uAPI frees the bitmap and returns 0.
  override setUserMemoryRegion(mem: MemoryRegion): number {
    const old = slotOf(this, mem.slot);
    if (old?.bitmap !== undefined && mem.memorySize !== 0 && (mem.flags & KVM_MEM_LOG_DIRTY_PAGES) === 0 && mem.memorySize === old.npages * PAGE && mem.userspaceAddr === old.userspaceAddr) return EBUSY;
    return super.setUserMemoryRegion(mem);
  }
}

export class GetShortBufferOkVm extends KvmVm {
  // FAULT (class bad-input-accepted): without manual protect, copy_to_user's failure is not checked:
  // a dirty_bitmap the kernel cannot write gets 0 (the snapshot, taken and protected, is lost).
  override getDirtyLog(slotField: number, bitmapBytes: number): Get {
    const s = slotOf(this, slotField);
    if (this.manualDirtyLogProtect === 0 && s?.bitmap !== undefined) return super.getDirtyLog(slotField, Math.max(bitmapBytes, Math.ceil(s.npages / 64) * 8));
    return super.getDirtyLog(slotField, bitmapBytes);
  }
}

export class ClearShortBufferOkVm extends KvmVm {
  // FAULT (class bad-input-accepted): copy_from_user's failure is not checked: a dirty_bitmap shorter
  // than ALIGN(num_pages, 64) / 8 bytes reads as zeros past its end, and the call returns 0.
  override clearDirtyLog(slotField: number, firstPage: bigint, numPages: number, bitmap: Uint8Array): number {
    const need = Math.ceil(numPages / 64) * 8;
    if (bitmap.length >= need || numPages <= 0) return super.clearDirtyLog(slotField, firstPage, numPages, bitmap);
    const padded = new Uint8Array(need);
    padded.set(bitmap);
    return super.clearDirtyLog(slotField, firstPage, numPages, padded);
  }
}

export class DeleteLoggingBusyVm extends KvmVm {
  // FAULT (class valid-input-refused): a slot whose dirty log is on may not be deleted (-EBUSY), a
  // rule of the developer's own: the uAPI deletes it, drops its dirty state and returns 0.
  override setUserMemoryRegion(mem: MemoryRegion): number {
    return mem.memorySize === 0 && slotOf(this, mem.slot)?.bitmap !== undefined ? EBUSY : super.setUserMemoryRegion(mem);
  }
}

export class MoveRefusedVm extends KvmVm {
  // FAULT (class valid-input-refused): a new guest_phys_addr for an existing slot is taken for a
  // change of its backing and refused (-EINVAL): moving a slot, which the uAPI allows, fails.
  override setUserMemoryRegion(mem: MemoryRegion): number {
    const old = slotOf(this, mem.slot);
    return old !== undefined && mem.memorySize !== 0 && mem.guestPhysAddr !== old.baseGfn * PAGE ? EINVAL : super.setUserMemoryRegion(mem);
  }
}

// ---- the vCPU's writes (stage-2 / EPT) ---------------------------------------------------

export class ReadonlyWritableVm extends KvmVm {
  // FAULT (class bad-input-accepted): the fault path does not test KVM_MEM_READONLY: a guest write to
  // a read-only slot maps the page writable instead of exiting to userspace as MMIO.
  override vcpuWrite(gpa: number): VcpuWriteResult {
    const slot = this.slotOf(0, Math.floor(gpa / PAGE));
    if (slot === undefined || (slot.flags & KVM_MEM_READONLY) === 0) return super.vcpuWrite(gpa);
    slot.flags &= ~KVM_MEM_READONLY;
    try {
      return super.vcpuWrite(gpa);
    } finally {
      slot.flags |= KVM_MEM_READONLY;
    }
  }
}

export class AbsentFaultMapsReadOnlyVm extends KvmVm {
  // FAULT (class state-not-carried): in a slot that is not logging, the fault of a guest write to
  // a page not mapped maps it as a read fault would, without the write bit, and completes the
  // write for the guest (emulated): the write permission the fault asked for is not carried
  // into the leaf, so every later write to the page (or its 2 MiB) faults again.
  override vcpuWrite(gpa: number): VcpuWriteResult {
    const gfn = Math.floor(gpa / PAGE);
    const slot = this.slotOf(0, gfn);
    if (slot === undefined || (slot.flags & (KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY)) !== 0 || this.tlb.has(gfn) || this.leafState(gfn) !== 'none') return super.vcpuWrite(gpa);
    const r = super.vcpuWrite(gpa);
    const pdeAddr = this.pdeAddress(0, gfn, false)!;
    const pde = this.memory.load(pdeAddr);
    const leafAddr = (pde & EPT_PS) !== 0n ? pdeAddr : Number(pde & EPT_ADDR) + (gfn % 512) * 8;
    this.memory.store(leafAddr, this.memory.load(leafAddr) & ~EPT_W);
    this.tlb.delete(gfn);
    return r;
  }
}

export class SpuriousFaultSplitsHugeVm extends KvmVm {
  // FAULT (class state-not-carried): the fast page fault has lost its spurious test (the
  // `is_access_allowed(fault, spte)` → RET_PF_SPURIOUS of Linux v6.14 arch/x86/kvm/mmu/mmu.c
  // fast_page_fault: "a spurious fault caused by TLB lazily flushed, or some other CPU has
  // already fixed the PTE after the current CPU took the fault"). A write that reaches KVM
  // while its leaf already allows it (here: any write the vCPU's TLB does not translate) goes
  // on to the slow path as a real write fault, and in a logging slot the level is capped at
  // 4 KiB, so a huge leaf left writable (under INITIALLY_SET, KVM-PT-4) is split
  // (kvm_tdp_mmu_map, tdp_mmu_split_huge_page) and the page marked again. Such faults do
  // reach KVM with the leaf writable: Linux bug 219588 (<Z1m52K3Adv47opYO@google.com>), a
  // writable SPTE overwritten by a racing fault, fixed by 386d69f9f29b "KVM: x86/mmu: Treat
  // TDP MMU faults as spurious if access is already allowed". Nothing is lost; the 2 MiB
  // the capability kept huge is split by a write that needed nothing.
  override vcpuWrite(gpa: number): VcpuWriteResult {
    const gfn = Math.floor(gpa / PAGE);
    const slot = this.slotOf(0, gfn);
    const leaf = slot === undefined || (slot.flags & KVM_MEM_READONLY) !== 0 || this.tlb.has(gfn) ? undefined : this.leafState(gfn);
    if (slot !== undefined && (leaf === 'huge' || leaf === 'writable')) this.writeFault(slot, gfn);
    return super.vcpuWrite(gpa);
  }
}

export class ReprotectTogglesVm extends KvmVm {
  // FAULT (class state-not-carried): write protection flips the bit (`spte ^= PT_WRITABLE_MASK`)
  // instead of clearing it, so protecting a leaf that is already write-protected (or, with a
  // hardware dirty bit, clean) makes it writable (dirty) again: starting the log a second time
  // hands the guest back every page the first log protected, and its writes go unrecorded.
  protected override protectLeaf(addr: number, bit: bigint): void {
    const old = this.memory.load(addr);
    if ((old & 1n) === 0n) return; // not present (EPT_R)
    this.memory.compareExchange(addr, old, old ^ bit);
  }
}

export class InitiallySetProtectsVm extends KvmVm {
  // FAULT (class scope-change): kvm_mmu_slot_apply_flags write-protects the slot when its log
  // starts whatever the manual-protect setting, without the early return for
  // KVM_DIRTY_LOG_INITIALLY_SET: every bit is set already, so the pass only costs the guest a
  // fault on each page it writes next, the work the capability exists to save.
  override setUserMemoryRegion(mem: MemoryRegion): number {
    const old = this.slots.get(mem.slot >>> 0);
    const starts = old !== undefined && old.bitmap === undefined && (mem.flags & KVM_MEM_LOG_DIRTY_PAGES) !== 0 && mem.memorySize === old.npages * PAGE && mem.guestPhysAddr === old.baseGfn * PAGE;
    const r = super.setUserMemoryRegion(mem);
    if (r === 0 && starts && old.bitmap !== undefined && (this.manualDirtyLogProtect & KVM_DIRTY_LOG_INITIALLY_SET) !== 0) {
      this.protectPages(
        old,
        Array.from({ length: old.npages }, (_, i) => i),
        this.eagerSplit,
      );
      this.flushTlb();
    }
    return r;
  }
}

export class UnloggedFaultStaysProtectedVm extends KvmVm {
  // FAULT (class state-not-carried): once the slot stops logging, a guest write to a leaf the log
  // write-protected is completed for the guest (emulated) but the leaf is never made writable
  // again, as fast_page_fault would: every later write to the page faults.
  override vcpuWrite(gpa: number): VcpuWriteResult {
    const gfn = Math.floor(gpa / PAGE);
    const slot = this.slotOf(0, gfn);
    if (slot === undefined || (slot.flags & (KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY)) !== 0 || this.tlb.has(gfn)) return super.vcpuWrite(gpa);
    const leaf = this.leafState(gfn);
    return leaf === 'protected' || leaf === 'hugeProtected' ? { exit: 'none' } : super.vcpuWrite(gpa);
  }
}

export class LoggingFaultMapsHugeVm extends KvmVm {
  // FAULT (class boundary-arithmetic): the fault of a logging slot does not cap the mapping level at
  // 4 KiB: it marks the page and maps the whole 2 MiB writable, and the writes to the other 511
  // pages go through unrecorded.
  protected override writeFault(slot: Memslot, gfn: number): void {
    if ((slot.flags & KVM_MEM_LOG_DIRTY_PAGES) === 0 || slot.bitmap === undefined) return super.writeFault(slot, gfn);
    super.writeFault({ ...slot, flags: slot.flags & ~KVM_MEM_LOG_DIRTY_PAGES }, gfn);
    this.markDirty(slot, gfn - slot.baseGfn);
  }
}

// ---- zoo entries and probes ----------------------------------------------------------

const LOG = KVM_MEM_LOG_DIRTY_PAGES;
type Spec = KvmLogSpec;

const specs: readonly Spec[] = [
  {
    name: 'kvm-slot-id-off-by-one',
    bugClass: 'boundary-arithmetic',
    targets: ['KVM-SLOT-1'],
    description: 'KVM_SET_USER_MEMORY_REGION tests (u16)slot > KVM_USER_MEM_SLOTS instead of >=: the slot id one past the array is taken.',
    Impl: SlotIdOffByOneVm,
    what: 'slot id KVM_USER_MEM_SLOTS is taken',
    run: async (vm) => set(vm, { slot: vm.userMemSlots }),
    want: { reference: EINVAL, mutant: 0 },
  },
  {
    name: 'kvm-slot-flags-unchecked',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-SLOT-2'],
    description: 'KVM_SET_USER_MEMORY_REGION drops unknown flags instead of refusing them.',
    Impl: SlotFlagsUncheckedVm,
    what: 'flag 1 << 2 is taken',
    run: async (vm) => set(vm, { flags: LOG | 4 }),
    want: { reference: EINVAL, mutant: 0 },
  },
  {
    name: 'kvm-slot-gpa-unaligned',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-SLOT-3'],
    description: 'KVM_SET_USER_MEMORY_REGION does not check guest_phys_addr for page alignment.',
    Impl: SlotGpaUnalignedVm,
    what: 'guest_phys_addr 4 GiB + 0x10 is taken',
    run: async (vm) => set(vm, { guestPhysAddr: GPA + 0x10n }),
    want: { reference: EINVAL, mutant: 0 },
  },
  {
    name: 'kvm-slot-access-ok-missing',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-SLOT-4'],
    description: 'KVM_SET_USER_MEMORY_REGION does not call access_ok on [userspace_addr, +memory_size): a slot backed by kernel addresses is taken.',
    Impl: SlotAccessOkMissingVm,
    what: 'userspace_addr at TASK_SIZE is taken',
    run: async (vm) => set(vm, { userspaceAddr: vm.userAddressLimit }),
    want: { reference: EINVAL, mutant: 0 },
  },
  {
    name: 'kvm-slot-as-id-unchecked',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-SLOT-5'],
    description: 'KVM_SET_USER_MEMORY_REGION does not check as_id: a slot in an address space the VM does not have is taken.',
    Impl: SlotAsIdUncheckedVm,
    what: 'as_id 2 is taken',
    run: async (vm) => set(vm, { slot: vm.addressSpaces << 16 }),
    want: { reference: EINVAL, mutant: 0 },
  },
  {
    name: 'kvm-delete-missing-ok',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-SLOT-8'],
    description: 'Deleting (memory_size 0) a slot id that holds no slot returns 0 instead of -EINVAL.',
    Impl: DeleteMissingOkVm,
    what: 'deleting slot 5, never created, returns 0',
    run: async (vm) => set(vm, { slot: 5, memorySize: 0n }),
    want: { reference: EINVAL, mutant: 0 },
  },

  {
    name: 'kvm-slot-overlap-unchecked',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-SLOT-10'],
    description: 'KVM_SET_USER_MEMORY_REGION does not check for overlap with the other slots of the address space: two slots hold the same guest pages.',
    Impl: SlotOverlapUncheckedVm,
    what: 'slot 1 over slot 0 is taken',
    run: async (vm) => {
      await set(vm, {});
      return set(vm, { slot: 1, userspaceAddr: UADDR + 0x100000n });
    },
    want: { reference: EEXIST, mutant: 0 },
  },
  {
    name: 'kvm-slot-whole-words',
    bugClass: 'valid-input-refused',
    targets: ['KVM-SLOT-11'],
    description: "A new logging slot must be a whole number of 64-page bitmap words, a rule of the developer's own: a valid slot of 65 pages is -EINVAL.",
    Impl: SlotWholeWordsVm,
    what: 'a logging slot of 65 pages is -EINVAL',
    run: async (vm) => set(vm, { memorySize: 65n * 4096n }),
    want: { reference: 0, mutant: EINVAL },
  },
  {
    name: 'kvm-slot-uaddr-change-ignored',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-SLOT-12'],
    description: 'A changed userspace_addr of an existing slot is not compared: the call returns 0 and the slot keeps its old backing.',
    Impl: SlotUaddrChangeIgnoredVm,
    what: 'a new userspace_addr for slot 0 returns 0',
    run: async (vm) => {
      await set(vm, {});
      return set(vm, { userspaceAddr: UADDR + 0x100000n });
    },
    want: { reference: EINVAL, mutant: 0 },
  },
  {
    name: 'kvm-slot-same-is-eexist',
    bugClass: 'valid-input-refused',
    targets: ['KVM-SLOT-13'],
    description: 'Setting a slot to exactly what it is, a no-op, is -EEXIST: the overlap test finds the slot itself.',
    Impl: SlotSameIsEexistVm,
    what: 'setting slot 0 again is -EEXIST',
    run: async (vm) => {
      await set(vm, {});
      return set(vm, {});
    },
    want: { reference: 0, mutant: EEXIST },
  },
  {
    name: 'kvm-logging-on-no-protect',
    bugClass: 'state-not-carried',
    targets: ['KVM-SLOT-14'],
    description: 'Switching KVM_MEM_LOG_DIRTY_PAGES on allocates the bitmap but does not write-protect the slot: a write through a leaf already writable is never recorded.',
    Impl: LoggingOnNoProtectVm,
    what: 'a write after logging starts is not in the log',
    run: async (vm) => {
      await set(vm, { flags: 0 });
      await vm.vcpuWrite(GPA);
      await set(vm, {});
      await vm.vcpuWrite(GPA);
      return (await vm.getDirtyLog(0, 8)).bitmap?.[0];
    },
    want: { reference: 1, mutant: 0 },
  },
  {
    name: 'kvm-logging-off-keeps-bitmap',
    bugClass: 'state-not-carried',
    targets: ['KVM-SLOT-15'],
    description: 'Switching logging off keeps the dirty bitmap: GET on the slot still answers, with stale bits, instead of -ENOENT.',
    Impl: LoggingOffKeepsBitmapVm,
    what: 'GET after logging stops returns 0',
    run: async (vm) => {
      await set(vm, {});
      await set(vm, { flags: 0 });
      return (await vm.getDirtyLog(0, 8)).errno;
    },
    want: { reference: ENOENT, mutant: 0 },
  },

  {
    name: 'kvm-ring-check-late',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-LOG-1'],
    description: 'With the dirty ring in use without a bitmap, GET and CLEAR check the slot before the ring: a missing slot is -ENOENT where -ENXIO comes first.',
    Impl: RingCheckLateVm,
    what: 'GET on a missing slot with the ring exclusive is -ENOENT',
    run: async (vm) => (await vm.getDirtyLog(7, 8)).errno,
    want: { reference: ENXIO, mutant: ENOENT },
    config: { dirtyRingExclusive: true },
  },
  {
    name: 'kvm-get-as-id-unchecked',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-LOG-2'],
    description: 'KVM_GET_DIRTY_LOG does not check as_id: -ENOENT instead of -EINVAL.',
    Impl: GetAsIdUncheckedVm,
    what: 'GET with as_id 2 is -ENOENT',
    run: async (vm) => (await vm.getDirtyLog(vm.addressSpaces << 16, 8)).errno,
    want: { reference: EINVAL, mutant: ENOENT },
  },
  {
    name: 'kvm-get-unlogged-empty',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-LOG-3'],
    description: 'KVM_GET_DIRTY_LOG on a slot without KVM_MEM_LOG_DIRTY_PAGES answers a bitmap of zeros instead of -ENOENT: the VMM reads "nothing dirty".',
    Impl: GetUnloggedEmptyVm,
    what: 'GET on a slot not logging returns 0',
    run: async (vm) => {
      await set(vm, { flags: 0 });
      return (await vm.getDirtyLog(0, 8)).errno;
    },
    want: { reference: ENOENT, mutant: 0 },
  },
  {
    name: 'kvm-manual-get-no-efault',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-LOG-4'],
    description: 'Under manual protect, the failure to write the dirty_bitmap is not checked: a bitmap the kernel cannot write gets 0.',
    Impl: ManualGetNoEfaultVm,
    what: 'GET into a 0-byte buffer under manual protect returns 0',
    run: async (vm) => {
      await vm.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, 1n);
      await set(vm, {});
      return (await vm.getDirtyLog(0, 0)).errno;
    },
    want: { reference: EFAULT, mutant: 0 },
  },
  {
    name: 'kvm-get-efault-first',
    bugClass: 'state-not-carried',
    targets: ['KVM-LOG-7'],
    description:
      'Without manual protect, an unwritable dirty_bitmap is refused before the bitmap is taken, where the kernel takes it and protects the pages first: the pages stay dirty and the caller, following the uAPI, sends them twice or not at all.',
    Impl: GetEfaultFirstVm,
    what: 'a page dirty before a GET into a 0-byte buffer is still reported after it',
    run: async (vm) => {
      await set(vm, {});
      await vm.vcpuWrite(GPA);
      await vm.getDirtyLog(0, 0);
      return (await vm.getDirtyLog(0, 8)).bitmap?.[0];
    },
    want: { reference: 0, mutant: 1 },
  },
  {
    name: 'kvm-initset-whole-words',
    bugClass: 'false-dirty',
    targets: ['KVM-LOG-8'],
    description: "KVM_DIRTY_LOG_INITIALLY_SET sets whole bitmap words: the bits past the slot's last page come back set.",
    Impl: InitSetWholeWordsVm,
    what: 'a 3-page slot under INITIALLY_SET reports bits 3..63',
    run: async (vm) => {
      await vm.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, 3n);
      await set(vm, { memorySize: 3n * 4096n });
      return (await vm.getDirtyLog(0, 8)).bitmap?.[0];
    },
    want: { reference: 0b111, mutant: 0xff },
  },
  {
    name: 'kvm-clear-as-id-unchecked',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-CLEAR-1'],
    description: 'KVM_CLEAR_DIRTY_LOG does not check as_id: -ENOENT instead of -EINVAL.',
    Impl: ClearAsIdUncheckedVm,
    what: 'CLEAR with as_id 2 is -ENOENT',
    run: async (vm) => (await vm.clearDirtyLog(vm.addressSpaces << 16, 0n, 64, new Uint8Array(8))).errno,
    want: { reference: EINVAL, mutant: ENOENT },
  },
  {
    name: 'kvm-clear-unlogged-ok',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-CLEAR-3'],
    description: 'KVM_CLEAR_DIRTY_LOG on a slot without a dirty bitmap returns 0 instead of -ENOENT.',
    Impl: ClearUnloggedOkVm,
    what: 'CLEAR on a slot not logging returns 0',
    run: async (vm) => {
      await set(vm, { flags: 0 });
      return (await vm.clearDirtyLog(0, 0n, 64, new Uint8Array(8))).errno;
    },
    want: { reference: ENOENT, mutant: 0 },
  },
  {
    name: 'kvm-clear-past-end-clamped',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-CLEAR-4'],
    description: "KVM_CLEAR_DIRTY_LOG does not check num_pages > npages - first_page: a range past the slot's end is cut at the end and returns 0.",
    Impl: ClearPastEndClampedVm,
    what: 'CLEAR of 128 pages of a 64-page slot returns 0',
    run: async (vm) => {
      await vm.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, 1n);
      await set(vm, {});
      return (await vm.clearDirtyLog(0, 0n, 128, new Uint8Array(16))).errno;
    },
    want: { reference: EINVAL, mutant: 0 },
  },
  {
    name: 'kvm-clear-unaligned-num-ok',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-CLEAR-5'],
    description: "KVM_CLEAR_DIRTY_LOG takes a num_pages that is not a multiple of 64 short of the slot's end, and clears the whole last word's selected bits.",
    Impl: ClearUnalignedNumOkVm,
    what: 'CLEAR of 10 pages of a 128-page slot returns 0',
    run: async (vm) => {
      await vm.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, 1n);
      await set(vm, { memorySize: 128n * 4096n });
      return (await vm.clearDirtyLog(0, 0n, 10, new Uint8Array(8))).errno;
    },
    want: { reference: EINVAL, mutant: 0 },
  },
  {
    name: 'kvm-clear-bits-past-end-refused',
    bugClass: 'valid-input-refused',
    targets: ['KVM-CLEAR-8'],
    description: "KVM_CLEAR_DIRTY_LOG refuses a user bitmap with bits set for pages past the slot's end, which the kernel ignores.",
    Impl: ClearBitsPastEndRefusedVm,
    what: 'CLEAR of a 3-page slot with all 64 bits set is -EINVAL',
    run: async (vm) => {
      await vm.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, 1n);
      await set(vm, { memorySize: 3n * 4096n });
      return (await vm.clearDirtyLog(0, 0n, 3, new Uint8Array(8).fill(0xff))).errno;
    },
    want: { reference: 0, mutant: EINVAL },
  },
  {
    name: 'kvm-cap-flags-unchecked',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-CAP-1'],
    description: 'KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) does not check cap->flags.',
    Impl: CapFlagsUncheckedVm,
    what: 'flags 1 is taken',
    run: async (vm) => (await vm.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 1, 1n)).errno,
    want: { reference: EINVAL, mutant: 0 },
  },
  {
    name: 'kvm-cap-initset-alone',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-CAP-2'],
    description: 'KVM_DIRTY_LOG_INITIALLY_SET is taken without KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE.',
    Impl: CapInitSetAloneVm,
    what: 'args[0] 2 is taken',
    run: async (vm) => (await vm.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, 2n)).errno,
    want: { reference: EINVAL, mutant: 0 },
  },
  {
    name: 'kvm-cap-busy-while-logging',
    bugClass: 'valid-input-refused',
    targets: ['KVM-CAP-3'],
    description: "The manual-protect setting may not change while a slot logs (-EBUSY), a rule of the developer's own: the uAPI takes it at any time.",
    Impl: CapBusyWhileLoggingVm,
    what: 'enabling manual protect with a logging slot is -EBUSY',
    run: async (vm) => {
      await set(vm, {});
      return (await vm.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, 1n)).errno;
    },
    want: { reference: 0, mutant: EBUSY },
  },
  {
    name: 'kvm-cap-unknown-ok',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-CAP-4'],
    description: 'KVM_ENABLE_CAP of a capability the VM does not know returns 0 (the default of the switch), not -EINVAL.',
    Impl: CapUnknownOkVm,
    what: 'capability 9999 is taken',
    run: async (vm) => (await vm.enableCap(9999, 0, 0n)).errno,
    want: { reference: EINVAL, mutant: 0 },
  },
  {
    name: 'kvm-cap-reports-v1',
    bugClass: 'valid-input-refused',
    targets: ['KVM-CAP-5'],
    description: 'KVM_CHECK_EXTENSION(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) answers 1, as x86 v5.2..v5.6 did, yet KVM_ENABLE_CAP takes INITIALLY_SET, which those kernels refused: a VMM never asks for it.',
    Impl: CapReportsV1Vm,
    what: 'KVM_CHECK_EXTENSION(168) is 1',
    run: async (vm) => vm.checkExtension(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2),
    want: { reference: 3, mutant: 1 },
  },
  {
    name: 'kvm-readonly-writable',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-PT-16'],
    description: 'A guest write to a KVM_MEM_READONLY slot is mapped writable instead of exiting to userspace as MMIO.',
    Impl: ReadonlyWritableVm,
    what: 'a write to a read-only slot does not exit',
    run: async (vm) => {
      await set(vm, { flags: 2 });
      return (await vm.vcpuWrite(GPA)).exit;
    },
    want: { reference: 'mmio', mutant: 'none' },
  },
  {
    name: 'kvm-unlogged-fault-stays-protected',
    bugClass: 'state-not-carried',
    targets: ['KVM-PT-6'],
    description: 'After the slot stops logging, a guest write to a leaf the log write-protected completes but leaves the leaf protected (not made writable again as fast_page_fault does): every later write to the page faults.',
    Impl: UnloggedFaultStaysProtectedVm,
    what: 'after logging stops, the page written leaves its leaf protected',
    run: async (vm) => {
      await set(vm, {});
      await vm.vcpuWrite(GPA);
      await vm.getDirtyLog(0, 64);
      await set(vm, { flags: 0 });
      await vm.vcpuWrite(GPA);
      return vm.inspectPage?.(GPA).leaf;
    },
    want: { reference: 'writable', mutant: 'protected' },
  },
  {
    name: 'kvm-absent-fault-maps-read-only',
    bugClass: 'state-not-carried',
    targets: ['KVM-PT-2'],
    description: 'In a slot that is not logging, the fault of a guest write to a page not mapped maps it without the write bit (as a read fault would) and emulates the write: every later write to the page faults again.',
    Impl: AbsentFaultMapsReadOnlyVm,
    what: 'a write to a page not mapped, in a slot not logging, leaves its leaf protected',
    run: async (vm) => {
      await set(vm, { flags: 0 });
      await vm.vcpuWrite(GPA);
      return vm.inspectPage?.(GPA).leaf;
    },
    want: { reference: 'writable', mutant: 'protected' },
  },
  {
    name: 'kvm-spurious-fault-splits-huge',
    bugClass: 'state-not-carried',
    targets: ['KVM-PT-3'],
    description:
      'The fast page fault has no spurious test (is_access_allowed in Linux v6.14 arch/x86/kvm/mmu/mmu.c fast_page_fault; 386d69f9f29b gave the TDP MMU the same test after bug 219588): a write that reaches KVM while its leaf already allows it is handled as a real write fault, and in a logging slot the 4 KiB cap splits a huge leaf INITIALLY_SET left writable: the write through a writable leaf changes it.',
    Impl: SpuriousFaultSplitsHugeVm,
    what: 'under INITIALLY_SET, a write through a huge leaf left writable when the log started splits it',
    run: async (vm) => {
      await vm.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, 3n);
      await set(vm, { flags: 0, memorySize: 512n * 4096n, userspaceAddr: 0x4000_0000n });
      await vm.vcpuWrite(GPA);
      await set(vm, { memorySize: 512n * 4096n, userspaceAddr: 0x4000_0000n });
      await vm.vcpuWrite(GPA + 4096n);
      return vm.inspectPage?.(GPA + 4096n).leaf;
    },
    want: { reference: 'huge', mutant: 'writable' },
  },
  {
    name: 'kvm-reprotect-toggles',
    bugClass: 'state-not-carried',
    targets: ['KVM-PT-11'],
    description: 'Write protection flips the writable bit instead of clearing it: starting the log again makes every leaf the first log left write-protected writable, and the guest writes them unrecorded.',
    Impl: ReprotectTogglesVm,
    what: 'after a log stops and starts again, the page the first log protected is writable',
    run: async (vm) => {
      await set(vm, {});
      await vm.vcpuWrite(GPA);
      await vm.getDirtyLog(0, 64);
      await set(vm, { flags: 0 });
      await set(vm, {});
      return vm.inspectPage?.(GPA).leaf;
    },
    want: { reference: 'protected', mutant: 'writable' },
  },
  {
    name: 'kvm-initially-set-protects',
    bugClass: 'scope-change',
    targets: ['KVM-PT-4'],
    description: 'Under KVM_DIRTY_LOG_INITIALLY_SET, starting the log still write-protects the slot: every page the guest writes next faults, the cost the capability exists to save.',
    Impl: InitiallySetProtectsVm,
    what: 'under INITIALLY_SET, starting the log leaves the page written before it protected',
    run: async (vm) => {
      await vm.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, 3n);
      await set(vm, { flags: 0 });
      await vm.vcpuWrite(GPA);
      await set(vm, {});
      return vm.inspectPage?.(GPA).leaf;
    },
    want: { reference: 'writable', mutant: 'protected' },
  },
  {
    name: 'kvm-logging-fault-maps-huge',
    bugClass: 'boundary-arithmetic',
    targets: ['KVM-PT-1'],
    description: 'The write fault of a logging slot maps a 2 MiB leaf instead of capping the level at 4 KiB: writes to the other pages of the huge page go through unrecorded.',
    Impl: LoggingFaultMapsHugeVm,
    what: 'after a write to page 0 of a 512-page slot, a write to page 1 is not in the log',
    run: async (vm) => {
      await set(vm, { memorySize: 512n * 4096n, userspaceAddr: 0x4000_0000n });
      await vm.vcpuWrite(GPA);
      await vm.vcpuWrite(GPA + 4096n);
      return (await vm.getDirtyLog(0, 64)).bitmap?.[0];
    },
    want: { reference: 0b11, mutant: 0b01 },
  },
  {
    name: 'kvm-log-on-refused',
    bugClass: 'valid-input-refused',
    targets: ['KVM-SLOT-14'],
    description: 'Switching KVM_MEM_LOG_DIRTY_PAGES on for an existing slot is -EINVAL: the test for a changed KVM_MEM_READONLY compares every flag.',
    Impl: LogOnRefusedVm,
    what: 'turning logging on for slot 0 is -EINVAL',
    run: async (vm) => {
      await set(vm, { flags: 0 });
      return set(vm, {});
    },
    want: { reference: 0, mutant: EINVAL },
  },
  {
    name: 'kvm-log-off-busy',
    bugClass: 'valid-input-refused',
    targets: ['KVM-SLOT-15'],
    description: "Switching logging off while the slot has a dirty bitmap is -EBUSY, a rule of the developer's own: the uAPI frees the bitmap and returns 0.",
    Impl: LogOffBusyVm,
    what: 'turning logging off for slot 0 is -EBUSY',
    run: async (vm) => {
      await set(vm, {});
      return set(vm, { flags: 0 });
    },
    want: { reference: 0, mutant: EBUSY },
  },
  {
    name: 'kvm-get-short-buffer-ok',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-LOG-7'],
    description: 'Without manual protect, the failure to write the dirty_bitmap is not checked: a buffer the kernel cannot write gets 0, and the snapshot taken (and protected) is lost.',
    Impl: GetShortBufferOkVm,
    what: 'GET into a 0-byte buffer returns 0',
    run: async (vm) => {
      await set(vm, {});
      return (await vm.getDirtyLog(0, 0)).errno;
    },
    want: { reference: EFAULT, mutant: 0 },
  },
  {
    name: 'kvm-clear-short-buffer-ok',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-CLEAR-6'],
    description: 'KVM_CLEAR_DIRTY_LOG does not check that it could read ALIGN(num_pages, 64) / 8 bytes: a short dirty_bitmap reads as zeros past its end and the call returns 0.',
    Impl: ClearShortBufferOkVm,
    what: 'CLEAR of 64 pages with a 0-byte buffer returns 0',
    run: async (vm) => {
      await vm.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, 1n);
      await set(vm, {});
      return (await vm.clearDirtyLog(0, 0n, 64, new Uint8Array(0))).errno;
    },
    want: { reference: EFAULT, mutant: 0 },
  },
  {
    name: 'kvm-delete-logging-busy',
    bugClass: 'valid-input-refused',
    targets: ['KVM-SLOT-9'],
    description: "Deleting a slot whose dirty log is on is -EBUSY, a rule of the developer's own: the uAPI deletes it and returns 0.",
    Impl: DeleteLoggingBusyVm,
    what: 'deleting a logging slot is -EBUSY',
    run: async (vm) => {
      await set(vm, {});
      return set(vm, { memorySize: 0n });
    },
    want: { reference: 0, mutant: EBUSY },
  },
  {
    name: 'kvm-move-refused',
    bugClass: 'valid-input-refused',
    targets: ['KVM-SLOT-16'],
    description: 'Moving a slot (a new guest_phys_addr, same size and backing) is -EINVAL: the new address is taken for a change of backing.',
    Impl: MoveRefusedVm,
    what: 'moving slot 0 is -EINVAL',
    run: async (vm) => {
      await set(vm, {});
      return set(vm, { guestPhysAddr: GPA + 0x100000n });
    },
    want: { reference: 0, mutant: EINVAL },
  },
];

const WHY: Record<BugClass, string> = {
  'boundary-arithmetic': 'an off-by-one at a limit.',
  'bad-input-accepted': 'input the uAPI refuses let through, or refused under the wrong errno.',
  'valid-input-refused': 'a request the uAPI allows answered with an error.',
  'state-not-carried': 'the state a change must carry is not carried.',
  'stale-iotlb': 'a translation that outlives what it maps.',
  'false-dirty': 'bits reported that no page behind them wrote.',
  'racy-update': '',
  'scope-change': 'the start or end of tracking done wrong.',
  'over-clear': '',
  'wrong-address': '',
};

export const kvmMatrixMutants: readonly Mutant[] = kvmLogZooOf(specs, WHY);

export const kvmMatrixProbes: readonly Probe[] = kvmLogProbesOf(specs);
