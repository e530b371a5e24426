import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { reprotectedPages, resetBatches } from '../../../spec/kvm/dirty-ring/rules.ts';
import { DirtyRingCollector } from './collector.ts';
import { KVM_CAP_DIRTY_LOG_RING, KVM_CAP_DIRTY_LOG_RING_ACQ_REL, KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, KVM_EXIT_DIRTY_RING_FULL, KVM_EXIT_HLT, KvmDirtyRingVm } from './kvm-ring.ts';
import { FlatRingMemory, flagsAddr, offsetAddr, slotAddr } from './ring-memory.ts';

const RING = 4096; // 256 entries, soft limit 192
const S0 = 0; // as 0, id 0
const S1 = 1; // as 0, id 1

function vm(arch: 'x86' | 'arm64' = 'x86', vcpus = 1) {
  const mem = new FlatRingMemory(RING * 4);
  const kvm = new KvmDirtyRingVm(mem, { arch });
  assert.is(kvm.enableCap(KVM_CAP_DIRTY_LOG_RING_ACQ_REL, RING), 0);
  for (let v = 0; v < vcpus; v++) kvm.createVcpu(v * RING);
  assert.is(kvm.setMemslot(0, 0, 256, true), 0);
  assert.is(kvm.setMemslot(0, 1, 128, true), 0);
  return { mem, kvm };
}
const writes = (slot: number, from: number, n: number) => Array.from({ length: n }, (_, i) => ({ slot, offset: from + i }));
const entry = (mem: FlatRingMemory, base: number, i: number) => ({ flags: mem.load32(flagsAddr(base, i)), slot: mem.load32(slotAddr(base, i)), offset: mem.load64(offsetAddr(base, i)) });
/** What a correct collector does to one entry. */
const markReset = (mem: FlatRingMemory, base: number, i: number) => mem.store32(flagsAddr(base, i), 2);

test('[KVM-RING-2] the ring capabilities per arch; an unreported one is -EINVAL', () => {
  const x86 = new KvmDirtyRingVm(new FlatRingMemory(RING), { arch: 'x86' });
  assert.is(x86.checkExtension(KVM_CAP_DIRTY_LOG_RING), 1 << 20);
  assert.is(x86.checkExtension(KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP), 0);
  const arm = new KvmDirtyRingVm(new FlatRingMemory(RING), { arch: 'arm64' });
  assert.is(arm.enableCap(KVM_CAP_DIRTY_LOG_RING, RING), -22);
  assert.is(arm.enableCap(KVM_CAP_DIRTY_LOG_RING_ACQ_REL, RING), 0);
});

test('[KVM-RING-3] [KVM-RING-4] [KVM-RING-5] [KVM-RING-6] [KVM-RING-7] enabling: size and order errnos', () => {
  const k = new KvmDirtyRingVm(new FlatRingMemory(RING), { arch: 'x86' });
  assert.is(k.enableCap(KVM_CAP_DIRTY_LOG_RING, 0), -22);
  assert.is(k.enableCap(KVM_CAP_DIRTY_LOG_RING, 6000), -22);
  assert.is(k.enableCap(KVM_CAP_DIRTY_LOG_RING, 2048), -22);
  assert.is(k.enableCap(KVM_CAP_DIRTY_LOG_RING, 1 << 21), -7);
  assert.is(k.enableCap(KVM_CAP_DIRTY_LOG_RING, RING), 0);
  assert.is(k.enableCap(KVM_CAP_DIRTY_LOG_RING, RING), -22);
  const late = new KvmDirtyRingVm(new FlatRingMemory(RING), { arch: 'x86' });
  late.createVcpu(0);
  assert.is(late.enableCap(KVM_CAP_DIRTY_LOG_RING, RING), -22);
  const pml = new KvmDirtyRingVm(new FlatRingMemory(RING), { arch: 'x86', cpuDirtyLogSize: 512 });
  assert.is(pml.enableCap(KVM_CAP_DIRTY_LOG_RING, 8192), -22, '576 reserved entries need 9216 bytes');
});

test('[KVM-RING-8] a vCPU gets a ring of size / 16 entries with soft limit entries - 64', () => {
  const { kvm } = vm();
  assert.equal(kvm.ringState(0), { dirtyIndex: 0, resetIndex: 0, softLimit: 192, entries: 256 });
});

test('[KVM-RING-9] [KVM-RING-10] [KVM-RING-21] the bitmap: -ENXIO with the ring alone; WITH_BITMAP rules; writes without a vCPU', () => {
  const { kvm } = vm('x86');
  assert.is(kvm.getDirtyLog(S0).errno, -6);
  assert.is(kvm.enableCap(KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, 0), -22, 'x86 does not need it');
  const arm = new KvmDirtyRingVm(new FlatRingMemory(RING), { arch: 'arm64' });
  assert.is(arm.enableCap(KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, 0), -22, 'ring off');
  assert.is(arm.enableCap(KVM_CAP_DIRTY_LOG_RING_ACQ_REL, RING), 0);
  assert.is(arm.enableCap(KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, 0, 1), -22, 'flags not 0');
  assert.is(arm.enableCap(KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, 0), 0);
  arm.setMemslot(0, 0, 64, true);
  assert.is(arm.enableCap(KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, 0), -22, 'a memslot exists');
  arm.writeWithoutVcpu({ slot: S0, offset: 9 });
  const log = arm.getDirtyLog(S0);
  assert.is(log.errno, 0);
  assert.is(log.bitmap![1], 1 << 1);
  assert.ok(arm.writeProtected(S0, 9), 'collected: protected again');
  kvm.writeWithoutVcpu({ slot: S0, offset: 3 });
  assert.ok(kvm.writeProtected(S0, 3), 'no MMU fault: the protection is unchanged');
  assert.equal(kvm.run(0, []), { exitReason: KVM_EXIT_HLT, done: 0 });
  assert.is(kvm.pushes, 0, 'x86 without the bitmap: nothing records the write');
});

test('[KVM-RING-11] a write to a protected page pushes slot, offset and DIRTY once; the page is writable after', () => {
  const { kvm, mem } = vm();
  assert.equal(
    kvm.run(0, [
      { slot: S1, offset: 7 },
      { slot: S1, offset: 7 },
      { slot: S0, offset: 1 },
    ]),
    { exitReason: KVM_EXIT_HLT, done: 3 },
  );
  assert.equal(entry(mem, 0, 0), { flags: 1, slot: S1, offset: 7n });
  assert.equal(entry(mem, 0, 1), { flags: 1, slot: S0, offset: 1n });
  assert.is(entry(mem, 0, 2).flags, 0);
  assert.not.ok(kvm.writeProtected(S1, 7));
  assert.ok(kvm.writeProtected(S1, 8));
});

test('[KVM-RING-12] the vCPU exits DIRTY_RING_FULL right after the push that reaches the soft limit, until a reset', () => {
  const { kvm, mem } = vm();
  assert.equal(kvm.run(0, writes(S0, 0, 200)), { exitReason: KVM_EXIT_DIRTY_RING_FULL, done: 192 });
  assert.equal(kvm.run(0, writes(S0, 192, 1)), { exitReason: KVM_EXIT_DIRTY_RING_FULL, done: 0 });
  for (let i = 0; i < 10; i++) markReset(mem, 0, i);
  assert.is(kvm.resetDirtyRings(), 10);
  assert.equal(kvm.run(0, writes(S0, 192, 12)), { exitReason: KVM_EXIT_DIRTY_RING_FULL, done: 10 }, '182 used: runs again, full after 10 more');
  for (let i = 10; i < 202; i++) markReset(mem, 0, i);
  assert.is(kvm.resetDirtyRings(), 192);
  assert.equal(kvm.run(0, writes(S0, 202, 3)), { exitReason: KVM_EXIT_HLT, done: 3 });
});

test('[KVM-RING-15] [KVM-RING-19] reset consumes RESET entries in order, clears their flags and stops at the first without', () => {
  const { kvm, mem } = vm();
  kvm.run(0, writes(S0, 0, 4));
  markReset(mem, 0, 0);
  markReset(mem, 0, 1);
  markReset(mem, 0, 3);
  assert.is(kvm.resetDirtyRings(), 2);
  assert.equal(
    [0, 1, 2, 3].map((i) => entry(mem, 0, i).flags),
    [0, 0, 1, 2],
  );
  assert.is(kvm.ringState(0)!.resetIndex, 2);
  assert.is(new KvmDirtyRingVm(new FlatRingMemory(RING), { arch: 'x86' }).resetDirtyRings(), -22);
});

test("[KVM-RING-16] [KVM-RING-17] reset re-protects exactly the pages the spec's batches name, never merging slots", () => {
  const { kvm, mem } = vm();
  const ws = [
    { slot: S0, offset: 5 },
    { slot: S1, offset: 6 },
    { slot: S0, offset: 70 },
    { slot: S0, offset: 68 },
    { slot: S0, offset: 200 },
  ];
  kvm.run(0, ws);
  for (let i = 0; i < ws.length; i++) markReset(mem, 0, i);
  kvm.resetDirtyRings();
  const expect = reprotectedPages(
    resetBatches(ws.map((w) => ({ slot: w.slot, offset: BigInt(w.offset) }))),
    [
      { asId: 0, id: 0, npages: 256 },
      { asId: 0, id: 1, npages: 128 },
    ],
    { addressSpaces: 2, userMemSlots: 32764 },
  );
  assert.is(expect.length, ws.length);
  for (const p of expect) assert.ok(kvm.writeProtected(p.slot, p.offset), `${p.slot}:${p.offset}`);
  assert.ok(kvm.writeProtected(S1, 5), 'never written: still protected');
  assert.is(kvm.reprotected, ws.length);
});

test('[KVM-RING-18] hostile slot and offset values are consumed and touch nothing, the wrapping pair included', () => {
  const { kvm, mem } = vm();
  kvm.run(0, writes(S0, 0, 6));
  const hostile: [number, bigint][] = [
    [S0, 0xffff_ffff_ffff_ffc1n],
    [S0, 0n],
    [(2 << 16) | 0, 1n],
    [32764, 1n],
    [7, 1n],
    [S1, 128n],
  ];
  hostile.forEach(([slot, off], i) => {
    mem.store32(slotAddr(0, i), slot);
    mem.store64(offsetAddr(0, i), off);
    markReset(mem, 0, i);
  });
  assert.is(kvm.resetDirtyRings(), 6);
  assert.is(kvm.reprotected, 0);
  for (let p = 0; p < 6; p++) assert.not.ok(kvm.writeProtected(S0, p), 'the pages really pushed stay writable: the collector lied');
});

test('[KVM-RING-13] [KVM-RING-14] [KVM-RING-20] the collector harvests in order across the wrap, resets, then copies', () => {
  const { kvm, mem } = vm('x86', 2);
  const c = new DirtyRingCollector(mem);
  c.addRing({ base: 0, entries: 256 });
  c.addRing({ base: RING, entries: 256 });
  const log: string[] = [];
  const host = {
    resetDirtyRings: () => {
      log.push('reset');
      return kvm.resetDirtyRings();
    },
    copyPage: (slot: number, offset: number) => log.push(`copy ${slot}:${offset}`),
  };
  kvm.run(0, writes(S0, 0, 150));
  kvm.run(1, writes(S1, 0, 3));
  assert.is(c.sync(host), 153);
  assert.is(log[0], 'reset');
  assert.is(log[1], 'copy 0:0');
  assert.is(log[151], 'copy 1:0');
  assert.is(entry(mem, 0, 0).flags, 0, 'consumed by the reset');
  log.length = 0;
  kvm.run(0, writes(S0, 150, 106));
  kvm.run(0, writes(S0, 0, 20)); // re-protected by the reset: pushed again, across index 255 -> 0
  assert.is(kvm.ringState(0)!.dirtyIndex, 276);
  assert.is(c.sync(host), 126);
  assert.equal(
    log.slice(-20),
    writes(S0, 0, 20).map((w) => `copy ${w.slot}:${w.offset}`),
  );
  assert.is(c.harvest().length, 0);
  assert.throws(() => c.addRing({ base: 0, entries: 100 }), /power of two/);
});

test('[KVM-RING-21] the final sync collects the bitmap last with WITH_BITMAP', () => {
  const mem = new FlatRingMemory(RING);
  const kvm = new KvmDirtyRingVm(mem, { arch: 'arm64' });
  kvm.enableCap(KVM_CAP_DIRTY_LOG_RING_ACQ_REL, RING);
  kvm.enableCap(KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, 0);
  kvm.createVcpu(0);
  kvm.setMemslot(0, 0, 64, true);
  const c = new DirtyRingCollector(mem, true);
  c.addRing({ base: 0, entries: 256 });
  kvm.run(0, [{ slot: S0, offset: 1 }]);
  kvm.writeWithoutVcpu({ slot: S0, offset: 40 });
  const copied: string[] = [];
  const host = {
    resetDirtyRings: () => kvm.resetDirtyRings(),
    copyPage: (s: number, o: number) => copied.push(`${s}:${o}`),
    getDirtyLog: () => {
      const b = kvm.getDirtyLog(S0).bitmap!;
      const out: { slot: number; offset: number }[] = [];
      for (let p = 0; p < 64; p++) if ((b[p >> 3]! >> (p & 7)) & 1) out.push({ slot: S0, offset: p });
      return out;
    },
  };
  assert.is(c.sync(host, true), 2);
  assert.equal(copied, ['0:1', '0:40']);
});

test.run();
