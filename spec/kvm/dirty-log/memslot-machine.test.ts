import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AnyTransitionDefinition } from 'xstate';
import type { RuleMeta } from '../../rule.ts';
import { run, step } from '../../step.ts';
import type { ClearDirtyLogFacts, EnableCapEvent, GetDirtyLogFacts, SetMemoryRegionFacts } from './args.ts';
import { KVM_EFFECT_POSTCONDITIONS, KVM_EFFECTS, kvmMemslotMachine as m, kvmMemslotStateOf, type KvmMemslotEvent } from './memslot-machine.ts';

const SET_OK: SetMemoryRegionFacts = {
  slotIdInvalid: false,
  flagsInvalid: false,
  unaligned: false,
  userAddrInvalid: false,
  asIdInvalid: false,
  gpaWraps: false,
  tooManyPages: false,
  sizeZero: false,
  immutableChange: false,
  overlaps: false,
  logDirty: false,
  moves: false,
  flagsChange: false,
};
const GET_OK: GetDirtyLogFacts = { ringExclusive: false, slotIdInvalid: false, bitmapFault: false };
const CLEAR_OK: ClearDirtyLogFacts = { ringExclusive: false, slotIdInvalid: false, firstPageUnaligned: false, rangeOutside: false, numPagesUnaligned: false, bitmapFault: false };
const setE = (o: Partial<SetMemoryRegionFacts> = {}): KvmMemslotEvent => ({ type: 'SET_MEMORY_REGION', ...SET_OK, ...o });
const getE = (o: Partial<GetDirtyLogFacts> = {}): KvmMemslotEvent => ({ type: 'GET_DIRTY_LOG', ...GET_OK, ...o });
const clearE = (o: Partial<ClearDirtyLogFacts> = {}): KvmMemslotEvent => ({ type: 'CLEAR_DIRTY_LOG', ...CLEAR_OK, ...o });
const capE = (mode: 'off' | 'manual' | 'manualInitSet', o: Partial<Extract<EnableCapEvent, { cap: 'manualProtect2' }>> = {}): KvmMemslotEvent => ({
  type: 'ENABLE_CAP',
  cap: 'manualProtect2',
  flagsNonZero: false,
  unknownBits: false,
  initSetAlone: false,
  mode,
  ...o,
});

const ABSENT: KvmMemslotEvent[] = [];
const NOLOG: KvmMemslotEvent[] = [setE()];
const LOGGING: KvmMemslotEvent[] = [setE({ logDirty: true })];
const MANUAL: KvmMemslotEvent[] = [capE('manual'), setE({ logDirty: true })];
const INITSET: KvmMemslotEvent[] = [capE('manualInitSet'), setE({ logDirty: true })];
const ALL = [ABSENT, NOLOG, LOGGING, MANUAL, INITSET];

function take(prefix: KvmMemslotEvent[], event: KvmMemslotEvent) {
  const before = run(m, prefix)[0];
  const taken = m.getTransitionData(before, event) as AnyTransitionDefinition[];
  const [after, out] = step(m, before, event);
  return { out, before: kvmMemslotStateOf(before), after: kvmMemslotStateOf(after), req: taken.flatMap((t) => (t.meta as RuleMeta | undefined)?.req ?? []) as string[] };
}
function refused(prefix: KvmMemslotEvent[], event: KvmMemslotEvent, outcome: string, id: string): void {
  const r = take(prefix, event);
  assert.equal(r.out, [outcome], `${JSON.stringify(event)}: ${r.out.join(',')}`);
  assert.equal(r.after, r.before);
  assert.ok(r.req.includes(id), `${JSON.stringify(event)} charged to ${r.req.join(',')}, not ${id}`);
}
function accepted(prefix: KvmMemslotEvent[], event: KvmMemslotEvent, out: string[], id: string) {
  const r = take(prefix, event);
  assert.equal(r.out, out);
  assert.ok(r.req.includes(id), `charged to ${r.req.join(',')}, not ${id}`);
  return r;
}

// ---------------------------------------------------------------------------------------
// KVM_SET_USER_MEMORY_REGION

test('[KVM-SLOT-1] a slot id past KVM_USER_MEM_SLOTS is -EINVAL before every other check (such an id never holds a slot)', () => {
  for (const p of [ABSENT, [capE('manualInitSet')]]) refused(p, setE({ slotIdInvalid: true, flagsInvalid: true, unaligned: true, sizeZero: true }), 'einval', 'KVM-SLOT-1');
});
test('[KVM-SLOT-2] unknown flags are -EINVAL, before the sizes', () => {
  for (const p of ALL) refused(p, setE({ flagsInvalid: true, unaligned: true }), 'einval', 'KVM-SLOT-2');
});
test('[KVM-SLOT-3] an unaligned size or guest address is -EINVAL', () => {
  for (const p of ALL) refused(p, setE({ unaligned: true, userAddrInvalid: true }), 'einval', 'KVM-SLOT-3');
});
test('[KVM-SLOT-4] a bad userspace_addr is -EINVAL', () => {
  for (const p of ALL) refused(p, setE({ userAddrInvalid: true, asIdInvalid: true, gpaWraps: true }), 'einval', 'KVM-SLOT-4');
});
test("[KVM-SLOT-5] an address space past the VM's is -EINVAL", () => {
  refused(ABSENT, setE({ asIdInvalid: true, gpaWraps: true, sizeZero: true }), 'einval', 'KVM-SLOT-5');
});
test('[KVM-SLOT-6] a wrapping guest range is -EINVAL', () => {
  for (const p of ALL) refused(p, setE({ gpaWraps: true, tooManyPages: true }), 'einval', 'KVM-SLOT-6');
});
test('[KVM-SLOT-7] too many pages is -EINVAL, before the delete and overlap checks', () => {
  for (const p of ALL) refused(p, setE({ tooManyPages: true, overlaps: true }), 'einval', 'KVM-SLOT-7');
});
test('[KVM-SLOT-8] deleting a slot that does not exist is -EINVAL', () => {
  refused(ABSENT, setE({ sizeZero: true }), 'einval', 'KVM-SLOT-8');
});
test('[KVM-SLOT-9] [KVM-PT-15] deleting zaps, flushes, frees the bitmap and the slot', () => {
  const r = accepted(LOGGING, setE({ sizeZero: true }), ['zapLeaves', 'flushTlb', 'freeBitmap', 'deleteSlot', 'ok'], 'KVM-SLOT-9');
  assert.is(r.after.slot, 'absent');
  assert.ok(r.req.includes('KVM-PT-15'));
  assert.is(accepted(NOLOG, setE({ sizeZero: true }), ['zapLeaves', 'flushTlb', 'deleteSlot', 'ok'], 'KVM-SLOT-9').after.slot, 'absent');
});
test('[KVM-SLOT-10] creating or moving over another slot is -EEXIST', () => {
  refused(ABSENT, setE({ overlaps: true, logDirty: true }), 'eexist', 'KVM-SLOT-10');
  refused(NOLOG, setE({ moves: true, overlaps: true }), 'eexist', 'KVM-SLOT-10');
  refused(LOGGING, setE({ moves: true, overlaps: true, logDirty: true }), 'eexist', 'KVM-SLOT-10');
});
test('[KVM-SLOT-11] a new slot: no bitmap, a zeroed one, or all set under INITIALLY_SET', () => {
  assert.is(accepted(ABSENT, setE(), ['createSlot', 'ok'], 'KVM-SLOT-11').after.slot, 'noLog');
  assert.is(accepted(ABSENT, setE({ logDirty: true }), ['createSlot', 'allocBitmap', 'ok'], 'KVM-SLOT-11').after.slot, 'logging');
  assert.is(accepted([capE('manual')], setE({ logDirty: true }), ['createSlot', 'allocBitmap', 'ok'], 'KVM-SLOT-11').after.slot, 'logging');
  assert.is(accepted([capE('manualInitSet')], setE({ logDirty: true }), ['createSlot', 'allocBitmapAllSet', 'ok'], 'KVM-SLOT-11').after.slot, 'logging');
});
test('[KVM-SLOT-12] changing the address, size or READONLY of a slot is -EINVAL', () => {
  for (const p of [NOLOG, LOGGING, INITSET]) refused(p, setE({ immutableChange: true, moves: true, overlaps: true }), 'einval', 'KVM-SLOT-12');
});
test('[KVM-SLOT-13] setting a slot to what it is does nothing', () => {
  refused(NOLOG, setE(), 'ok', 'KVM-SLOT-13');
  refused(LOGGING, setE({ logDirty: true }), 'ok', 'KVM-SLOT-13');
});
test('[KVM-SLOT-14] [KVM-PT-10] [KVM-PT-4] logging on: protect and flush, or under INITIALLY_SET an all-set bitmap and nothing protected', () => {
  assert.is(accepted(NOLOG, setE({ logDirty: true, flagsChange: true }), ['allocBitmap', 'protectSlot', 'flushTlb', 'ok'], 'KVM-SLOT-14').after.slot, 'logging');
  assert.is(accepted([capE('manual'), setE()], setE({ logDirty: true, flagsChange: true }), ['allocBitmap', 'protectSlot', 'flushTlb', 'ok'], 'KVM-PT-10').after.slot, 'logging');
  assert.is(accepted([capE('manualInitSet'), setE()], setE({ logDirty: true, flagsChange: true }), ['allocBitmapAllSet', 'ok'], 'KVM-PT-4').after.slot, 'logging');
});
test('[KVM-SLOT-15] logging off frees the bitmap', () => {
  assert.is(accepted(LOGGING, setE({ flagsChange: true }), ['freeBitmap', 'ok'], 'KVM-SLOT-15').after.slot, 'noLog');
  assert.is(accepted(LOGGING, setE({ moves: true, flagsChange: true }), ['zapLeaves', 'flushTlb', 'moveSlot', 'freeBitmap', 'ok'], 'KVM-SLOT-15').after.slot, 'noLog');
});
test('[KVM-SLOT-16] moving zaps, flushes and keeps the bitmap', () => {
  assert.is(accepted(LOGGING, setE({ moves: true, logDirty: true }), ['zapLeaves', 'flushTlb', 'moveSlot', 'ok'], 'KVM-SLOT-16').after.slot, 'logging');
  assert.is(accepted(NOLOG, setE({ moves: true }), ['zapLeaves', 'flushTlb', 'moveSlot', 'ok'], 'KVM-SLOT-16').after.slot, 'noLog');
  assert.is(accepted(NOLOG, setE({ moves: true, logDirty: true, flagsChange: true }), ['zapLeaves', 'flushTlb', 'moveSlot', 'allocBitmap', 'ok'], 'KVM-SLOT-16').after.slot, 'logging');
  assert.is(accepted([capE('manualInitSet'), setE()], setE({ moves: true, logDirty: true, flagsChange: true }), ['zapLeaves', 'flushTlb', 'moveSlot', 'allocBitmapAllSet', 'ok'], 'KVM-SLOT-16').after.slot, 'logging');
});

// ---------------------------------------------------------------------------------------
// KVM_GET_DIRTY_LOG

test('[KVM-LOG-1] the dirty ring without a bitmap: -ENXIO first, for GET and CLEAR, in every state', () => {
  for (const p of ALL) {
    refused(p, getE({ ringExclusive: true, slotIdInvalid: true }), 'enxio', 'KVM-LOG-1');
    refused(p, clearE({ ringExclusive: true, slotIdInvalid: true }), 'enxio', 'KVM-LOG-1');
  }
});
test('[KVM-LOG-2] GET with a bad slot id is -EINVAL', () => {
  for (const p of [ABSENT, [capE('manual')]]) refused(p, getE({ slotIdInvalid: true, bitmapFault: true }), 'einval', 'KVM-LOG-2');
});
test('[KVM-LOG-3] GET without a slot or without a bitmap is -ENOENT, before the buffer is looked at', () => {
  refused(ABSENT, getE({ bitmapFault: true }), 'enoent', 'KVM-LOG-3');
  refused(NOLOG, getE(), 'enoent', 'KVM-LOG-3');
  refused([...LOGGING, setE({ flagsChange: true })], getE(), 'enoent', 'KVM-LOG-3');
});
test('[KVM-LOG-4] under manual protect an unwritable buffer is -EFAULT, nothing cleared', () => {
  for (const p of [MANUAL, INITSET]) {
    const r = accepted(p, getE({ bitmapFault: true }), ['syncDirtyLog', 'efault'], 'KVM-LOG-4');
    assert.equal(r.after, r.before);
  }
});
test('[KVM-LOG-5] [KVM-PT-9] [KVM-PT-13] without manual protect GET syncs, takes, protects, flushes, copies out', () => {
  accepted(LOGGING, getE(), ['syncDirtyLog', 'takeBitmap', 'protectTaken', 'flushTlb', 'copyOut', 'ok'], 'KVM-LOG-5');
  // Switching manual protect off again restores it.
  accepted([...MANUAL, capE('off')], getE(), ['syncDirtyLog', 'takeBitmap', 'protectTaken', 'flushTlb', 'copyOut', 'ok'], 'KVM-PT-13');
});
test('[KVM-LOG-6] [KVM-PT-7] under manual protect GET syncs and copies out, clearing nothing', () => {
  for (const p of [MANUAL, INITSET]) accepted(p, getE(), ['syncDirtyLog', 'copyOut', 'ok'], 'KVM-LOG-6');
});
test('[KVM-LOG-7] without manual protect an unwritable buffer is -EFAULT after the bitmap was taken and protected', () => {
  const r = accepted(LOGGING, getE({ bitmapFault: true }), ['syncDirtyLog', 'takeBitmap', 'protectTaken', 'flushTlb', 'efault'], 'KVM-LOG-7');
  assert.equal(r.after, r.before);
});

// ---------------------------------------------------------------------------------------
// KVM_CLEAR_DIRTY_LOG

test('[KVM-CLEAR-1] CLEAR with a bad slot id is -EINVAL', () => {
  for (const p of [ABSENT, [capE('manualInitSet')]]) refused(p, clearE({ slotIdInvalid: true, firstPageUnaligned: true }), 'einval', 'KVM-CLEAR-1');
});
test('[KVM-CLEAR-2] first_page not a multiple of 64 is -EINVAL even where the slot does not exist', () => {
  for (const p of ALL) refused(p, clearE({ firstPageUnaligned: true, rangeOutside: true }), 'einval', 'KVM-CLEAR-2');
});
test('[KVM-CLEAR-3] CLEAR without a slot or a bitmap is -ENOENT', () => {
  refused(ABSENT, clearE({ rangeOutside: true }), 'enoent', 'KVM-CLEAR-3');
  refused(NOLOG, clearE(), 'enoent', 'KVM-CLEAR-3');
});
test('[KVM-CLEAR-4] a range past the slot is -EINVAL, before the alignment of num_pages', () => {
  for (const p of [LOGGING, MANUAL, INITSET]) refused(p, clearE({ rangeOutside: true, numPagesUnaligned: true, bitmapFault: true }), 'einval', 'KVM-CLEAR-4');
});
test("[KVM-CLEAR-5] num_pages unaligned short of the slot's end is -EINVAL", () => {
  for (const p of [LOGGING, MANUAL, INITSET]) refused(p, clearE({ numPagesUnaligned: true, bitmapFault: true }), 'einval', 'KVM-CLEAR-5');
});
test('[KVM-CLEAR-6] an unreadable buffer is -EFAULT after the sync, clearing nothing', () => {
  for (const p of [LOGGING, MANUAL, INITSET]) accepted(p, clearE({ bitmapFault: true }), ['syncDirtyLog', 'efault'], 'KVM-CLEAR-6');
});
test('[KVM-CLEAR-7] [KVM-CLEAR-9] CLEAR clears the selected bits, protects and flushes, whatever the manual-protect setting', () => {
  for (const p of [LOGGING, MANUAL]) accepted(p, clearE(), ['syncDirtyLog', 'clearSelected', 'protectCleared', 'flushTlb', 'ok'], 'KVM-CLEAR-7');
  accepted(LOGGING, clearE(), ['syncDirtyLog', 'clearSelected', 'protectCleared', 'flushTlb', 'ok'], 'KVM-CLEAR-9');
});
test('[KVM-CLEAR-9] [KVM-PT-10] under INITIALLY_SET CLEAR also splits the huge leaves it clears', () => {
  accepted(INITSET, clearE(), ['syncDirtyLog', 'clearSelected', 'splitCleared', 'protectCleared', 'flushTlb', 'ok'], 'KVM-CLEAR-9');
});

// ---------------------------------------------------------------------------------------
// KVM_ENABLE_CAP, KVM_CHECK_EXTENSION

test('[KVM-CAP-1] non-zero flags or unknown bits are -EINVAL and change nothing', () => {
  for (const p of ALL) {
    refused(p, capE('manual', { flagsNonZero: true }), 'einval', 'KVM-CAP-1');
    refused(p, capE('manual', { unknownBits: true }), 'einval', 'KVM-CAP-1');
  }
});
test('[KVM-CAP-2] INITIALLY_SET alone is -EINVAL', () => {
  for (const p of ALL) refused(p, capE('off', { initSetAlone: true }), 'einval', 'KVM-CAP-2');
});
test('[KVM-CAP-3] the setting is replaced at any time, with slots logging or not', () => {
  for (const p of ALL) {
    for (const mode of ['off', 'manual', 'manualInitSet'] as const) {
      const r = accepted(p, capE(mode), ['setProtectMode', 'ok'], 'KVM-CAP-3');
      assert.is(r.after.protect, mode);
      assert.is(r.after.slot, r.before.slot);
    }
  }
});
test('[KVM-CAP-4] another capability is -EINVAL', () => {
  for (const p of ALL) refused(p, { type: 'ENABLE_CAP', cap: 'other' }, 'einval', 'KVM-CAP-4');
});
test('[KVM-CAP-5] KVM_CHECK_EXTENSION answers the manual caps', () => {
  for (const p of ALL) refused(p, { type: 'CHECK_EXTENSION' }, 'manualCaps', 'KVM-CAP-5');
});

test('every effect has a postcondition', () => {
  assert.equal(Object.keys(KVM_EFFECT_POSTCONDITIONS).sort(), [...KVM_EFFECTS].sort());
});

test.run();
