import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
  KVM_CHECK_EXTENSION,
  KVM_CLEAR_DIRTY_LOG,
  KVM_DIRTY_LOG_INITIALLY_SET,
  KVM_DIRTY_LOG_MANUAL_CAPS,
  KVM_MANUAL_CAPS_ANSWERS,
  KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE,
  KVM_ENABLE_CAP,
  KVM_GET_DIRTY_LOG,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_MAX_NR_PAGES,
  KVM_MEM_READONLY,
  KVM_SET_USER_MEMORY_REGION,
  classifyClearDirtyLog,
  classifyEnableCap,
  classifyGetDirtyLog,
  classifySetMemoryRegion,
  clearedPages,
  dirtyLogBytes,
  dirtyLogPages,
  slotField,
  splitSlot,
  type KvmVmView,
  type MemoryRegionArgs,
} from './args.ts';

const PG = 4096;
// Slot 0: 100 pages at 1 MiB (not a multiple of 64); slot 1 of address space 1: 64 pages.
const VM: KvmVmView = {
  userMemSlots: 32764,
  addressSpaces: 2,
  dirtyRingExclusive: false,
  readonlyMem: true,
  userAddressLimit: 2 ** 47,
  slots: [
    { slot: 0, flags: KVM_MEM_LOG_DIRTY_PAGES, guestPhysAddr: 0x10_0000, memorySize: 100 * PG, userspaceAddr: 0x7000_0000 },
    { slot: slotField(1, 1), flags: 0, guestPhysAddr: 0x10_0000, memorySize: 64 * PG, userspaceAddr: 0x7100_0000 },
  ],
};
const region = (o: Partial<MemoryRegionArgs> = {}): MemoryRegionArgs => ({ slot: 5, flags: 0, guestPhysAddr: 0x100_0000, memorySize: 16 * PG, userspaceAddr: 0x7200_0000, ...o });
const set = (o: Partial<MemoryRegionArgs> = {}) => classifySetMemoryRegion(VM, region(o));
const clear = (o: Partial<{ slot: number; firstPage: number | bigint; numPages: number; bitmapBytes: number }> = {}) => classifyClearDirtyLog(VM, { slot: 0, firstPage: 0, numPages: 64, bitmapBytes: 8, ...o });
const bits = (...i: number[]) => {
  const b = new Uint8Array(16);
  for (const x of i) b[x >> 3]! |= 1 << (x & 7);
  return b;
};

test('[KVM-SLOT-1] [KVM-LOG-5] [KVM-CLEAR-7] [KVM-CAP-1] the ioctl numbers are _IOC(dir, KVMIO 0xae, nr, sizeof the struct)', () => {
  assert.is(KVM_SET_USER_MEMORY_REGION, 0x4020ae46);
  assert.is(KVM_GET_DIRTY_LOG, 0x4010ae42);
  assert.is(KVM_CLEAR_DIRTY_LOG, 0xc018aec0);
  assert.is(KVM_ENABLE_CAP, 0x4068aea3);
  assert.is(KVM_CHECK_EXTENSION, 0xae03);
  assert.is(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 168);
  assert.is(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY, 3);
});

test('[KVM-SLOT-1] the slot field is as_id << 16 | id; (u16)slot >= KVM_USER_MEM_SLOTS is refused', () => {
  assert.is(slotField(1, 7), 0x1_0007);
  assert.equal(splitSlot(0x1_0007), { asId: 1, id: 7 });
  assert.throws(() => slotField(0, 0x1_0000), /id: must be a u16/);
  assert.ok(set({ slot: 32764 }).slotIdInvalid);
  assert.ok(set({ slot: slotField(1, 32764) }).slotIdInvalid);
  assert.not.ok(set({ slot: 32763 }).slotIdInvalid);
});

test('[KVM-SLOT-2] flags other than LOG_DIRTY_PAGES and READONLY (READONLY only where the arch has it)', () => {
  assert.not.ok(set({ flags: 3 }).flagsInvalid);
  assert.ok(set({ flags: 4 }).flagsInvalid);
  assert.ok(set({ flags: 2 ** 31 }).flagsInvalid);
  assert.ok(classifySetMemoryRegion({ ...VM, readonlyMem: false }, region({ flags: KVM_MEM_READONLY })).flagsInvalid);
});

test('[KVM-SLOT-3] memory_size or guest_phys_addr not a multiple of 4 KiB', () => {
  assert.ok(set({ memorySize: 16 * PG + 1 }).unaligned);
  assert.ok(set({ guestPhysAddr: 0x100_0800 }).unaligned);
  assert.not.ok(set().unaligned);
});

test('[KVM-SLOT-4] userspace_addr unaligned, or the range past the user address limit (access_ok)', () => {
  assert.ok(set({ userspaceAddr: 0x7200_0010 }).userAddrInvalid);
  assert.ok(set({ userspaceAddr: 2 ** 47 - 8 * PG }).userAddrInvalid);
  assert.not.ok(set({ userspaceAddr: 2 ** 47 - 16 * PG }).userAddrInvalid);
});

test('[KVM-SLOT-5] as_id at or past the address spaces', () => {
  assert.ok(set({ slot: slotField(2, 0) }).asIdInvalid);
  assert.not.ok(set({ slot: slotField(1, 0) }).asIdInvalid);
});

test('[KVM-SLOT-6] guest_phys_addr + memory_size wrapping past 2^64 (reaching it exactly wraps to 0)', () => {
  assert.ok(set({ guestPhysAddr: 2n ** 64n - 16n * 4096n }).gpaWraps);
  assert.ok(set({ guestPhysAddr: 2n ** 64n - 8n * 4096n }).gpaWraps);
  assert.not.ok(set({ guestPhysAddr: 2n ** 64n - 17n * 4096n }).gpaWraps);
});

test('[KVM-SLOT-7] more than KVM_MEM_MAX_NR_PAGES pages', () => {
  assert.is(KVM_MEM_MAX_NR_PAGES, 2147483647);
  assert.ok(set({ memorySize: 2 ** 31 * PG, userspaceAddr: 0 }).tooManyPages);
  assert.not.ok(set({ memorySize: (2 ** 31 - 1) * PG, userspaceAddr: 0 }).tooManyPages);
});

test('[KVM-SLOT-8] [KVM-SLOT-9] memory_size 0 is a delete, whether or not the slot exists', () => {
  assert.ok(set({ memorySize: 0 }).sizeZero);
  assert.ok(set({ slot: 0, memorySize: 0 }).sizeZero);
  assert.not.ok(set({ slot: 0, memorySize: 0 }).immutableChange);
  assert.not.ok(set({ slot: 0, memorySize: 0 }).overlaps);
});

test('[KVM-SLOT-10] creating or moving over another slot of the same address space overlaps; other address spaces do not', () => {
  assert.ok(set({ guestPhysAddr: 0x10_0000 + 99 * PG }).overlaps);
  assert.not.ok(set({ guestPhysAddr: 0x10_0000 + 100 * PG }).overlaps);
  assert.not.ok(set({ slot: slotField(1, 9), guestPhysAddr: 0x10_0000 + 64 * PG }).overlaps);
  assert.ok(set({ slot: slotField(1, 9), guestPhysAddr: 0x10_0000 + 63 * PG }).overlaps);
  // The slot itself is not another slot; an unmoved slot is not checked.
  assert.not.ok(set({ slot: 0, guestPhysAddr: 0x10_0000, memorySize: 100 * PG, userspaceAddr: 0x7000_0000 }).overlaps);
});

test('[KVM-SLOT-12] [KVM-SLOT-13] [KVM-SLOT-16] changing an existing slot: address, size and READONLY are immutable; base and LOG_DIRTY_PAGES may change', () => {
  const same = { slot: 0, flags: KVM_MEM_LOG_DIRTY_PAGES, guestPhysAddr: 0x10_0000, memorySize: 100 * PG, userspaceAddr: 0x7000_0000 };
  const s = set(same);
  assert.equal([s.immutableChange, s.moves, s.flagsChange, s.logDirty], [false, false, false, true]);
  assert.ok(set({ ...same, userspaceAddr: 0x7800_0000 }).immutableChange);
  assert.ok(set({ ...same, memorySize: 64 * PG }).immutableChange);
  assert.ok(set({ ...same, flags: KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY }).immutableChange);
  const off = set({ ...same, flags: 0 });
  assert.equal([off.immutableChange, off.flagsChange, off.logDirty], [false, true, false]);
  const moved = set({ ...same, guestPhysAddr: 0x400_0000 });
  assert.equal([moved.moves, moved.overlaps], [true, false]);
});

test('[KVM-LOG-1] [KVM-LOG-2] [KVM-LOG-4] KVM_GET_DIRTY_LOG: the ring, the slot id, a bitmap shorter than ALIGN(npages, 64) / 8', () => {
  assert.ok(classifyGetDirtyLog({ ...VM, dirtyRingExclusive: true }, { slot: 0, bitmapBytes: 16 }).ringExclusive);
  assert.ok(classifyGetDirtyLog(VM, { slot: slotField(2, 0), bitmapBytes: 16 }).slotIdInvalid);
  assert.ok(classifyGetDirtyLog(VM, { slot: 32764, bitmapBytes: 16 }).slotIdInvalid);
  assert.ok(classifyGetDirtyLog(VM, { slot: 0, bitmapBytes: 8 }).bitmapFault);
  assert.not.ok(classifyGetDirtyLog(VM, { slot: 0, bitmapBytes: 16 }).bitmapFault);
});

test('[KVM-LOG-5] [KVM-LOG-8] the bitmap is ALIGN(npages, 64) / 8 bytes; bits past npages are reported separately', () => {
  assert.equal([dirtyLogBytes(0), dirtyLogBytes(1), dirtyLogBytes(64), dirtyLogBytes(65), dirtyLogBytes(100)], [0, 8, 8, 16, 16]);
  assert.equal(dirtyLogPages(bits(0, 63, 64, 99, 100, 127), 100), { pages: [0, 63, 64, 99], beyond: [100, 127] });
});

test('[KVM-CLEAR-1] KVM_CLEAR_DIRTY_LOG slot id out of range', () => {
  assert.ok(clear({ slot: slotField(2, 0) }).slotIdInvalid);
  assert.ok(clear({ slot: 32764 }).slotIdInvalid);
  assert.not.ok(clear().slotIdInvalid);
});

test('[KVM-CLEAR-2] first_page must be a multiple of 64', () => {
  for (const f of [1, 32, 63, 65, 127]) assert.ok(clear({ firstPage: f, numPages: 0 }).firstPageUnaligned, `${f}`);
  for (const f of [0, 64, 128, 2n ** 63n]) assert.not.ok(clear({ firstPage: f, numPages: 0 }).firstPageUnaligned, `${f}`);
});

test('[KVM-CLEAR-4] the range must lie inside the slot: first_page <= npages, num_pages <= npages - first_page', () => {
  // 100 pages: first_page 128 is past the end; 64 + 64 runs past it; 64 + 36 ends at it.
  assert.ok(clear({ firstPage: 128, numPages: 0 }).rangeOutside);
  assert.ok(clear({ firstPage: 64, numPages: 64 }).rangeOutside);
  assert.ok(clear({ firstPage: 0, numPages: 101 }).rangeOutside);
  assert.not.ok(clear({ firstPage: 64, numPages: 36 }).rangeOutside);
  assert.not.ok(clear({ firstPage: 0, numPages: 100 }).rangeOutside);
  // A huge first_page does not wrap the check.
  assert.ok(clear({ firstPage: 2n ** 64n - 64n, numPages: 64 }).rangeOutside);
  // No slot: nothing to be outside of (the lookup's -ENOENT decides).
  assert.not.ok(clear({ slot: 7, firstPage: 128, numPages: 64 }).rangeOutside);
});

test("[KVM-CLEAR-5] num_pages not a multiple of 64 only when the range ends at the slot's end; num_pages 0 is fine", () => {
  assert.ok(clear({ firstPage: 0, numPages: 36 }).numPagesUnaligned);
  assert.ok(clear({ firstPage: 0, numPages: 99 }).numPagesUnaligned);
  assert.not.ok(clear({ firstPage: 64, numPages: 36 }).numPagesUnaligned);
  assert.not.ok(clear({ firstPage: 0, numPages: 100 }).numPagesUnaligned);
  assert.not.ok(clear({ firstPage: 0, numPages: 0 }).numPagesUnaligned);
  assert.not.ok(clear({ firstPage: 0, numPages: 64 }).numPagesUnaligned);
});

test('[KVM-CLEAR-6] the kernel reads ALIGN(num_pages, 64) / 8 bytes of dirty_bitmap', () => {
  assert.ok(clear({ firstPage: 0, numPages: 100, bitmapBytes: 8 }).bitmapFault);
  assert.not.ok(clear({ firstPage: 0, numPages: 100, bitmapBytes: 16 }).bitmapFault);
  assert.not.ok(clear({ firstPage: 64, numPages: 36, bitmapBytes: 8 }).bitmapFault);
  assert.not.ok(clear({ firstPage: 0, numPages: 0, bitmapBytes: 0 }).bitmapFault);
});

test('[KVM-CLEAR-7] bit i is page first_page + i; exactly the set bits are selected', () => {
  assert.equal(clearedPages(100, 0, 64, bits(0, 5, 63)), [0, 5, 63]);
  assert.equal(clearedPages(100, 64, 36, bits(0, 35)), [64, 99]);
  assert.equal(clearedPages(100, 0, 0, bits(0, 1)), []);
  assert.throws(() => clearedPages(100, 32, 64, bits(0)), /KVM-CLEAR-2/);
});

test("[KVM-CLEAR-8] bits past the slot's end in the last word are ignored", () => {
  assert.equal(clearedPages(100, 64, 36, bits(35, 36, 63)), [99]);
});

test('[KVM-CAP-1] flags or args[0] bits outside MANUAL_PROTECT_ENABLE | INITIALLY_SET', () => {
  const e = classifyEnableCap({ cap: 168, flags: 1, args0: 1 });
  assert.ok(e.cap === 'manualProtect2' && e.flagsNonZero);
  const u = classifyEnableCap({ cap: 168, flags: 0, args0: 5 });
  assert.ok(u.cap === 'manualProtect2' && u.unknownBits);
  const big = classifyEnableCap({ cap: 168, flags: 0, args0: 1n << 63n });
  assert.ok(big.cap === 'manualProtect2' && big.unknownBits);
});

test('[KVM-CAP-2] INITIALLY_SET without MANUAL_PROTECT_ENABLE', () => {
  const e = classifyEnableCap({ cap: 168, flags: 0, args0: KVM_DIRTY_LOG_INITIALLY_SET });
  assert.ok(e.cap === 'manualProtect2' && e.initSetAlone && !e.unknownBits);
});

test('[KVM-CAP-3] args[0] 0, 1 and 3 are the three settings', () => {
  const mode = (v: number) => {
    const e = classifyEnableCap({ cap: 168, flags: 0, args0: v });
    return e.cap === 'manualProtect2' ? e.mode : 'other';
  };
  assert.equal([mode(0), mode(KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE), mode(3)], ['off', 'manual', 'manualInitSet']);
});

test('[KVM-CAP-4] [KVM-CAP-5] another capability is classified apart; the extension answers KVM_DIRTY_LOG_MANUAL_CAPS = 3', () => {
  assert.equal(classifyEnableCap({ cap: 167, flags: 0, args0: 1 }), { type: 'ENABLE_CAP', cap: 'other' });
  assert.is(KVM_DIRTY_LOG_MANUAL_CAPS, 3);
});

test("[KVM-CAP-1] [KVM-CAP-4] [KVM-CAP-5] by the VM's answer: 1 refuses INITIALLY_SET as an unknown bit (x86 v5.2..v5.6), 0 makes 168 unknown (before v5.2), anything else is no answer", () => {
  const e = (args0: number, offered: number) => classifyEnableCap({ cap: 168, flags: 0, args0 }, offered);
  const bits = (x: ReturnType<typeof e>) => (x.cap === 'manualProtect2' ? x.unknownBits : 'other');
  assert.equal([bits(e(1, 1)), bits(e(3, 1)), bits(e(2, 1)), bits(e(3, 3)), bits(e(1, 0))], [false, true, true, false, 'other']);
  assert.equal(KVM_MANUAL_CAPS_ANSWERS, [0, 1, 3]);
  assert.throws(() => e(1, 2), RangeError);
});

test.run();
