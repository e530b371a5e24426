import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  KVM_CAP_DIRTY_LOG_RING,
  KVM_CAP_DIRTY_LOG_RING_ACQ_REL,
  KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP,
  KVM_DIRTY_GFN_F_DIRTY,
  KVM_DIRTY_GFN_F_MASK,
  KVM_DIRTY_GFN_F_RESET,
  KVM_DIRTY_GFN_SIZE,
  KVM_DIRTY_RING_MAX_ENTRIES,
  KVM_DIRTY_RING_RSVD_ENTRIES,
  KVM_EXIT_DIRTY_RING_FULL,
  KVM_RESET_DIRTY_RINGS,
  decodeDirtyGfn,
  decodeSlot,
  encodeDirtyGfn,
  encodeSlot,
  gfnState,
} from './uapi.ts';

test("[KVM-RING-1] the uAPI numbers are the kernel's", () => {
  assert.is(KVM_CAP_DIRTY_LOG_RING, 192);
  assert.is(KVM_CAP_DIRTY_LOG_RING_ACQ_REL, 223);
  assert.is(KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, 225);
  assert.is(KVM_EXIT_DIRTY_RING_FULL, 31);
  assert.is(KVM_RESET_DIRTY_RINGS, (0xae << 8) | 0xc7);
  assert.is(KVM_DIRTY_GFN_F_DIRTY, 0b01);
  assert.is(KVM_DIRTY_GFN_F_RESET, 0b10);
  assert.is(KVM_DIRTY_GFN_F_MASK, 0x3);
  assert.is(KVM_DIRTY_RING_RSVD_ENTRIES, 64);
  assert.is(KVM_DIRTY_RING_MAX_ENTRIES, 65536);
});

test('[KVM-RING-1] struct kvm_dirty_gfn is 16 little-endian bytes: flags u32 at 0, slot u32 at 4, offset u64 at 8', () => {
  const b = encodeDirtyGfn({ flags: 1, slot: 0x0001_0002, offset: 0x0102_0304_0506_0708n });
  assert.is(b.length, KVM_DIRTY_GFN_SIZE);
  assert.equal([...b], [1, 0, 0, 0, 2, 0, 1, 0, 8, 7, 6, 5, 4, 3, 2, 1]);
  assert.equal(decodeDirtyGfn(b), { flags: 1, slot: 0x0001_0002, offset: 0x0102_0304_0506_0708n });
  assert.equal(decodeDirtyGfn(encodeDirtyGfn({ flags: 3, slot: 2 ** 32 - 1, offset: 2n ** 64n - 1n })), { flags: 3, slot: 2 ** 32 - 1, offset: 2n ** 64n - 1n });
});

test('[KVM-RING-1] bad field values are refused with the field named', () => {
  assert.throws(() => encodeDirtyGfn({ flags: -1, slot: 0, offset: 0n }), /flags: must be a u32/);
  assert.throws(() => encodeDirtyGfn({ flags: 0, slot: 2 ** 32, offset: 0n }), /slot: must be a u32/);
  assert.throws(() => encodeDirtyGfn({ flags: 0, slot: 0, offset: 2n ** 64n }), /offset: must be a u64/);
  assert.throws(() => decodeDirtyGfn(new Uint8Array(15)), /16 bytes/);
});

test('[KVM-RING-1] slot is as_id << 16 | id', () => {
  assert.is(encodeSlot(1, 5), 0x1_0005);
  assert.equal(decodeSlot(0x1_0005), { asId: 1, id: 5 });
  assert.equal(decodeSlot(0xffff_ffff), { asId: 0xffff, id: 0xffff });
  assert.throws(() => encodeSlot(0, 0x1_0000), /slot id/);
});

test('[KVM-RING-1] [KVM-RING-13] flags 00 invalid, 01 dirty, 1X harvested', () => {
  assert.is(gfnState(0), 'invalid');
  assert.is(gfnState(1), 'dirty');
  assert.is(gfnState(2), 'harvested');
  assert.is(gfnState(3), 'harvested');
  assert.is(gfnState(4), 'invalid', 'bits outside F_MASK do not make an entry dirty');
});

test.run();
