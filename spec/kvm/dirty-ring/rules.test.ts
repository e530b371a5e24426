import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  consumedByStoppedReset,
  lateExits,
  bitmapBatches,
  classifyEnableRing,
  classifyEnableWithBitmap,
  classifyRingSize,
  entriesToHarvest,
  entriesToReset,
  fls64,
  reprotectedPages,
  reservedEntries,
  resetBatchValid,
  resetBatchValidBeforeWrapFix,
  resetBatches,
  resetBatchesOf,
  ringCheckExtension,
  ringUapiProblem,
  ringGeometry,
  ringSlotIndex,
  ringSoftFull,
  ringUsed,
  spannedPages,
  writesBeforeExit,
  type MemslotView,
} from './rules.ts';
import { KVM_CAP_DIRTY_LOG_RING, KVM_CAP_DIRTY_LOG_RING_ACQ_REL, KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, encodeSlot } from './uapi.ts';

const LIMITS = { addressSpaces: 2, userMemSlots: 32764 };
const SLOTS: MemslotView[] = [
  { asId: 0, id: 0, npages: 256 },
  { asId: 0, id: 1, npages: 128 },
  { asId: 1, id: 0, npages: 16 },
];
const S0 = encodeSlot(0, 0);
const S1 = encodeSlot(0, 1);

test('[KVM-RING-2] x86 answers 1 MiB for both ring capabilities; arm64 only for ACQ_REL, and 1 for WITH_BITMAP', () => {
  assert.is(ringCheckExtension('x86', KVM_CAP_DIRTY_LOG_RING), 1 << 20);
  assert.is(ringCheckExtension('x86', KVM_CAP_DIRTY_LOG_RING_ACQ_REL), 1 << 20);
  assert.is(ringCheckExtension('x86', KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP), 0);
  assert.is(ringCheckExtension('arm64', KVM_CAP_DIRTY_LOG_RING), 0);
  assert.is(ringCheckExtension('arm64', KVM_CAP_DIRTY_LOG_RING_ACQ_REL), 1 << 20);
  assert.is(ringCheckExtension('arm64', KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP), 1);
  assert.not.ok(classifyEnableRing('arm64', KVM_CAP_DIRTY_LOG_RING, 65536).supported);
  assert.ok(classifyEnableRing('arm64', KVM_CAP_DIRTY_LOG_RING_ACQ_REL, 65536).supported);
  assert.throws(() => ringCheckExtension('x86', 191), /not a dirty ring capability/);
});

test("[KVM-RING-2] the uAPI a VM offers: each answer 0 (an older kernel, or an arch without it) or v6.18's; nothing else, and no WITH_BITMAP without _ACQ_REL", () => {
  const v618 = (arch: 'x86' | 'arm64') => ({ 192: ringCheckExtension(arch, 192), 223: ringCheckExtension(arch, 223), 225: ringCheckExtension(arch, 225) });
  assert.is(ringUapiProblem('x86', v618('x86')), undefined);
  assert.is(ringUapiProblem('arm64', v618('arm64')), undefined);
  // Linux v5.11 to v6.0: x86 answers KVM_CAP_DIRTY_LOG_RING only; arm64 has no ring before v6.2.
  assert.is(ringUapiProblem('x86', { 192: 1 << 20, 223: 0, 225: 0 }), undefined);
  assert.is(ringUapiProblem('arm64', { 192: 0, 223: 0, 225: 0 }), undefined);
  assert.match(ringUapiProblem('arm64', { 192: 1 << 20, 223: 1 << 20, 225: 1 }) ?? '', /KVM_CHECK_EXTENSION\(192\) on arm64 returns 0 or 0/);
  assert.match(ringUapiProblem('x86', { 192: 4096, 223: 0, 225: 0 }) ?? '', /returns 0 or 1048576/);
  assert.match(ringUapiProblem('x86', { 192: 1 << 20, 223: 1 << 20, 225: 1 }) ?? '', /\(225\) on x86/);
  assert.match(ringUapiProblem('arm64', { 192: 0, 223: 0, 225: 1 }) ?? '', /225.*while.*223/);
  assert.match(ringUapiProblem('x86', { 192: 0, 223: 1 << 20, 225: 0 }) ?? '', /223.*while.*192/);
  // The enables are judged by the answers.
  assert.not.ok(classifyEnableRing('x86', KVM_CAP_DIRTY_LOG_RING_ACQ_REL, 4096, 0, { 192: 1 << 20, 223: 0, 225: 0 }).supported);
  assert.ok(classifyEnableRing('x86', KVM_CAP_DIRTY_LOG_RING, 4096, 0, { 192: 1 << 20, 223: 0, 225: 0 }).supported);
  assert.not.ok(classifyEnableWithBitmap('arm64', 0, { 192: 0, 223: 0, 225: 0 }).allowed);
  assert.ok(classifyEnableWithBitmap('arm64', 0, v618('arm64')).allowed);
});

test('[KVM-RING-3] size 0 or not a power of two', () => {
  for (const s of [0, 3, 4097, 65535, 3 << 12]) assert.is(classifyRingSize(s, 64), 'notPowerOfTwo', String(s));
  assert.throws(() => classifyRingSize(2 ** 32, 64), /u32/);
  assert.throws(() => classifyRingSize(-1, 64), /u32/);
});

test('[KVM-RING-4] below a page or the reserved entries (64 + PML 512 = 9216 bytes) is too small', () => {
  assert.is(classifyRingSize(2048, 64), 'tooSmall');
  assert.is(classifyRingSize(4096, 64), 'ok');
  assert.is(reservedEntries(512), 576);
  assert.is(classifyRingSize(8192, reservedEntries(512)), 'tooSmall');
  assert.is(classifyRingSize(16384, reservedEntries(512)), 'ok');
  assert.throws(() => reservedEntries(-1), /cpuDirtyLogSize/);
});

test('[KVM-RING-5] above 65536 entries (1 MiB) is too large', () => {
  assert.is(classifyRingSize(1 << 20, 64), 'ok');
  assert.is(classifyRingSize(1 << 21, 64), 'tooLarge');
  assert.is(classifyEnableRing('x86', KVM_CAP_DIRTY_LOG_RING, 1 << 21).size, 'tooLarge');
});

test('[KVM-RING-8] the geometry: entries = size / 16, soft_limit = entries - reserved', () => {
  assert.equal(ringGeometry(4096, 64), { entries: 256, softLimit: 192 });
  assert.equal(ringGeometry(65536, 64), { entries: 4096, softLimit: 4032 });
  assert.equal(ringGeometry(16384, reservedEntries(512)), { entries: 1024, softLimit: 448 });
  assert.throws(() => ringGeometry(4095, 64), /not a ring size/);
});

test('[KVM-RING-10] WITH_BITMAP is allowed only where the arch needs it, with cap.flags 0', () => {
  assert.ok(classifyEnableWithBitmap('arm64', 0).allowed);
  assert.not.ok(classifyEnableWithBitmap('arm64', 1).allowed);
  assert.not.ok(classifyEnableWithBitmap('x86', 0).allowed);
});

test('[KVM-RING-11] [KVM-RING-13] free-running indexes map to entries by & (entries - 1), wrapping at 2^32', () => {
  assert.is(ringSlotIndex(0, 256), 0);
  assert.is(ringSlotIndex(255, 256), 255);
  assert.is(ringSlotIndex(256, 256), 0);
  assert.is(ringSlotIndex(2 ** 32 - 1, 256), 255);
});

test('[KVM-RING-12] used is u32 dirty_index - reset_index; soft full at soft_limit', () => {
  assert.is(ringUsed(10, 4), 6);
  assert.is(ringUsed(3, 2 ** 32 - 2), 5, 'across the u32 wrap');
  assert.not.ok(ringSoftFull(191, 0, 192));
  assert.ok(ringSoftFull(192, 0, 192));
  assert.ok(ringSoftFull(2, 2 ** 32 - 190, 192));
});

test('[KVM-RING-12] a vCPU exits right after the push that reaches soft_limit, or at once when already full', () => {
  assert.equal(writesBeforeExit(190, 192, [true, false, true, true]), { done: 3, full: true });
  assert.equal(writesBeforeExit(0, 192, [true, true]), { done: 2, full: false });
  assert.equal(writesBeforeExit(192, 192, [true]), { done: 0, full: true });
  assert.equal(writesBeforeExit(191, 192, [false, false]), { done: 2, full: false }, 'writes to writable pages push nothing');
});

test('[KVM-RING-13] harvest takes the dirty entries in order and stops at the first that is not', () => {
  const flags = new Map([
    [5, 1],
    [6, 1],
    [7, 3],
    [8, 1],
  ]);
  assert.equal(
    entriesToHarvest(5, (i) => flags.get(i) ?? 0, 256),
    [5, 6],
  );
  assert.equal(
    entriesToHarvest(8, (i) => flags.get(i) ?? 0, 256),
    [8],
  );
  assert.equal(
    entriesToHarvest(9, (i) => flags.get(i) ?? 0, 256),
    [],
  );
  assert.equal(
    entriesToHarvest(0, () => 1, 4),
    [0, 1, 2, 3],
    'never more than the ring holds',
  );
});

test('[KVM-RING-15] [KVM-RING-19] reset consumes from reset_index while RESET is set and stops at the first entry without it', () => {
  const flags = new Map([
    [0, 2],
    [1, 3],
    [2, 1],
    [3, 2],
  ]);
  assert.equal(
    entriesToReset(0, (i) => flags.get(i) ?? 0),
    [0, 1],
  );
  assert.equal(
    entriesToReset(2, (i) => flags.get(i) ?? 0),
    [],
  );
  assert.equal(
    entriesToReset(3, (i) => flags.get(i) ?? 0),
    [3],
  );
});

test('[KVM-RING-17] neighbouring entries of one slot merge into (offset, mask); other slots never', () => {
  assert.equal(
    resetBatches([
      { slot: S0, offset: 10n },
      { slot: S0, offset: 11n },
      { slot: S0, offset: 73n },
    ]),
    [{ slot: S0, offset: 10n, mask: 0b11n | (1n << 63n) }],
  );
  assert.equal(
    resetBatches([
      { slot: S0, offset: 10n },
      { slot: S0, offset: 74n },
    ]),
    [
      { slot: S0, offset: 10n, mask: 1n },
      { slot: S0, offset: 74n, mask: 1n },
    ],
  );
  assert.equal(
    resetBatches([
      { slot: S0, offset: 5n },
      { slot: S1, offset: 6n },
    ]),
    [
      { slot: S0, offset: 5n, mask: 1n },
      { slot: S1, offset: 6n, mask: 1n },
    ],
  );
  assert.equal(
    resetBatches([
      { slot: S0, offset: 5n },
      { slot: encodeSlot(1, 0), offset: 6n },
    ]).length,
    2,
    'as_id is part of the slot',
  );
  assert.equal(resetBatches([]), []);
});

test("[KVM-RING-17] resetBatchesOf: entry k falls in the batch that coalescing the entries from that batch's first one up to k leaves open", () => {
  const entry = fc.record({ slot: fc.constantFrom(S0, S1), offset: fc.bigInt({ min: 0n, max: 200n }) });
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 40 }), (entries) => {
      const { batches, batchOf } = resetBatchesOf(entries);
      assert.equal(batches, resetBatches(entries));
      let first = 0;
      let b = -1;
      for (let k = 0; k < entries.length; k++) {
        if (k === 0 || resetBatches(entries.slice(first, k + 1)).length > 1) {
          first = k;
          b++;
        }
        assert.is(batchOf[k], b, `entry ${k}`);
      }
      assert.is(batchOf.length, entries.length);
    }),
    { seed: 17, numRuns: 300 },
  );
});

test('[KVM-RING-17] a backwards visit moves the base down while no set bit is shifted out', () => {
  assert.equal(
    resetBatches([
      { slot: S0, offset: 20n },
      { slot: S0, offset: 18n },
    ]),
    [{ slot: S0, offset: 18n, mask: 0b101n }],
  );
  // mask bit 63 set: shifting down by 1 would lose it, so a new batch starts.
  assert.equal(
    resetBatches([
      { slot: S0, offset: 100n },
      { slot: S0, offset: 163n },
      { slot: S0, offset: 99n },
    ]),
    [
      { slot: S0, offset: 100n, mask: 1n | (1n << 63n) },
      { slot: S0, offset: 99n, mask: 1n },
    ],
  );
  assert.equal(
    resetBatches([
      { slot: S0, offset: 64n },
      { slot: S0, offset: 0n },
    ]).length,
    2,
    'delta -64 is not merged',
  );
});

test('[KVM-RING-18] a batch outside any memslot, or past its end, is ignored', () => {
  const ok = { slot: S0, offset: 250n, mask: 0b11n };
  assert.ok(resetBatchValid(ok, SLOTS, LIMITS));
  assert.not.ok(resetBatchValid({ ...ok, mask: 1n << 6n }, SLOTS, LIMITS), 'offset + __fls(mask) = 256 is past npages');
  assert.not.ok(resetBatchValid({ ...ok, offset: 256n }, SLOTS, LIMITS));
  assert.not.ok(resetBatchValid({ slot: encodeSlot(2, 0), offset: 0n, mask: 1n }, SLOTS, LIMITS), 'as_id >= address spaces');
  assert.not.ok(resetBatchValid({ slot: encodeSlot(0, 32764), offset: 0n, mask: 1n }, SLOTS, LIMITS), 'id >= KVM_USER_MEM_SLOTS');
  assert.not.ok(resetBatchValid({ slot: encodeSlot(0, 7), offset: 0n, mask: 1n }, SLOTS, LIMITS), 'no such memslot');
  assert.ok(resetBatchValid({ slot: encodeSlot(1, 0), offset: 15n, mask: 1n }, SLOTS, LIMITS));
  assert.not.ok(resetBatchValid({ ...ok, mask: 0n }, SLOTS, LIMITS));
  assert.is(fls64(1n << 63n), 63);
  assert.throws(() => fls64(0n), /non-zero/);
});

test('[KVM-RING-18] the hostile pair (offset 2^64 - 63, then 0) wraps past the old check and not past the fixed one', () => {
  const [b] = resetBatches([
    { slot: S0, offset: 0xffff_ffff_ffff_ffc1n },
    { slot: S0, offset: 0n },
  ]);
  assert.equal(b, { slot: S0, offset: 0xffff_ffff_ffff_ffc1n, mask: 1n | (1n << 63n) }, 'delta (s64)(0 - offset) = 63 merges');
  assert.ok(resetBatchValidBeforeWrapFix(b!, SLOTS, LIMITS), 'offset + 63 wraps to 0 < npages: the hole');
  assert.not.ok(resetBatchValid(b!, SLOTS, LIMITS));
  assert.equal(reprotectedPages([b!], SLOTS, LIMITS), []);
});

test('[KVM-RING-16] a reset re-protects exactly the set bits of the valid batches', () => {
  const batches = resetBatches([
    { slot: S0, offset: 3n },
    { slot: S0, offset: 5n },
    { slot: S1, offset: 500n },
    { slot: S1, offset: 7n },
  ]);
  assert.equal(reprotectedPages(batches, SLOTS, LIMITS), [
    { slot: S0, offset: 3 },
    { slot: S0, offset: 5 },
    { slot: S1, offset: 7 },
  ]);
});

test("[KVM-RING-16] arm64 may also protect the unnamed pages between a valid batch's lowest and highest page; x86 none", () => {
  const batches = [
    { slot: S0, offset: 3n, mask: 0b10101n },
    { slot: S0, offset: 100n, mask: 1n },
    { slot: S0, offset: 253n, mask: 0b10001n }, // past the slot's 256 pages: invalid (KVM-RING-18), nothing
  ];
  assert.equal(spannedPages('arm64', batches, SLOTS, LIMITS), [
    { slot: S0, offset: 4 },
    { slot: S0, offset: 6 },
  ]);
  assert.equal(spannedPages('x86', batches, SLOTS, LIMITS), []);
});

test("[KVM-RING-16] KVM_GET_DIRTY_LOG's batches: one per non-zero u64 word of the bitmap, at its first page", () => {
  assert.equal(bitmapBatches(S1, [3, 70, 5, 127]), [
    { slot: S1, offset: 0n, mask: (1n << 3n) | (1n << 5n) },
    { slot: S1, offset: 64n, mask: (1n << 6n) | (1n << 63n) },
  ]);
});

test('[KVM-RING-20] a harvested page copied before the reset that follows its harvest is flagged', async () => {
  const { copyBeforeReset } = await import('./rules.ts');
  assert.is(copyBeforeReset([{ k: 'harvest', page: 'a' }, { k: 'reset' }, { k: 'copy', page: 'a' }]), undefined);
  assert.equal(copyBeforeReset([{ k: 'harvest', page: 'a' }, { k: 'copy', page: 'a' }, { k: 'reset' }]), { index: 1, page: 'a' });
  assert.is(copyBeforeReset([{ k: 'copy', page: 'b' }, { k: 'harvest', page: 'a' }, { k: 'reset' }, { k: 'copy', page: 'a' }]), undefined, 'a bulk copy is not judged');
  assert.equal(copyBeforeReset([{ k: 'harvest', page: 'a' }, { k: 'reset' }, { k: 'harvest', page: 'a' }, { k: 'copy', page: 'a' }]), { index: 3, page: 'a' }, 'harvested again: a new reset is owed');
});

test('[KVM-RING-12] lateExits: with a CPU dirty log the exit may come up to B pushing writes late, or a halt when the log held the rest', () => {
  const P = [true, true, true, false, true, true];
  // soft limit reached by write 1 (done 2): without a log, nothing else
  assert.equal(lateExits({ done: 2, full: true }, P, 0), []);
  // B = 2: writes 2 (push), 3 (no push), 4 (push) may still be made; 5 would be the third push
  assert.equal(lateExits({ done: 2, full: true }, P, 2), [
    { done: 3, full: true },
    { done: 4, full: true },
    { done: 5, full: true },
  ]);
  // B = 8: everything, and a halt (4 pushes after, fewer than 8)
  assert.equal(lateExits({ done: 2, full: true }, P, 8).at(-1), { done: 6, full: false });
  // an exit at once (request pending, ring soft full) or no exit owed: nothing else
  assert.equal(lateExits({ done: 0, full: true }, P, 8), []);
  assert.equal(lateExits({ done: 6, full: false }, P, 8), []);
});

test('[KVM-RING-24] a stopped reset consumed the prefix of flags 0; an entry after it without RESET is stray', () => {
  assert.equal(consumedByStoppedReset([0, 0, 2, 2]), { consumed: 2 });
  assert.equal(consumedByStoppedReset([2, 2]), { consumed: 0 });
  assert.equal(consumedByStoppedReset([0, 0]), { consumed: 2 });
  assert.equal(consumedByStoppedReset([]), { consumed: 0 });
  assert.equal(consumedByStoppedReset([0, 2, 0]), { consumed: 1, strayAt: 2 });
  assert.equal(consumedByStoppedReset([0, 1]), { consumed: 1, strayAt: 1 });
});

test.run();
