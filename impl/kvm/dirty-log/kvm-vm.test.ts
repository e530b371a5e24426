import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EEXIST, EFAULT, EINVAL, ENOENT } from '../../errno.ts';
import { PhysicalMemory } from '../../memory/physical-memory.ts';
import {
  ENXIO,
  KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
  KVM_CLEAR_DIRTY_LOG,
  KVM_DIRTY_LOG_INITIALLY_SET,
  KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE,
  KVM_ENABLE_CAP,
  KVM_GET_DIRTY_LOG,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY,
  KVM_SET_USER_MEMORY_REGION,
  EPT_D,
  KvmVm,
  type KvmVmOptions,
  type MemoryRegion,
} from './kvm-vm.ts';

const PG = 4096;
const LOG = KVM_MEM_LOG_DIRTY_PAGES;
const GPA = 0x4000_0000; // 1 GiB: 2 MiB-aligned
const UADDR = 0x7f00_0000_0000 - 0x1_0000_0000; // 2 MiB-congruent with GPA
const MANUAL = BigInt(KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE);
const INIT = BigInt(KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET);

function vm(o: KvmVmOptions = {}): KvmVm {
  return new KvmVm(new PhysicalMemory(), o);
}
const region = (o: Partial<MemoryRegion> = {}): MemoryRegion => ({ slot: 0, flags: LOG, guestPhysAddr: GPA, memorySize: 100 * PG, userspaceAddr: UADDR, ...o });
const pagesOf = (b: Uint8Array | undefined) => {
  const out: number[] = [];
  for (let i = 0; i < (b?.length ?? 0) * 8; i++) if ((b![i >> 3]! & (1 << (i & 7))) !== 0) out.push(i);
  return out;
};
const bits = (n: number, ...i: number[]) => {
  const b = new Uint8Array(n);
  for (const x of i) b[x >> 3]! |= 1 << (x & 7);
  return b;
};
const write = (v: KvmVm, page: number) => v.vcpuWrite(GPA + page * PG);
/** The PDE of GPA's 2 MiB (the first directory frame the VM allocated). */
const pdeOf = (v: KvmVm) => (v as unknown as { directories: Map<number, number>[] }).directories[0]!.get(1)! + 0;

test('[KVM-SLOT-1] [KVM-LOG-5] [KVM-CLEAR-7] [KVM-CAP-1] the ioctl numbers', () => {
  assert.equal([KVM_SET_USER_MEMORY_REGION, KVM_GET_DIRTY_LOG, KVM_CLEAR_DIRTY_LOG, KVM_ENABLE_CAP], [0x4020ae46, 0x4010ae42, 0xc018aec0, 0x4068aea3]);
});

test('[KVM-SLOT-1] [KVM-SLOT-2] [KVM-SLOT-3] [KVM-SLOT-4] [KVM-SLOT-5] [KVM-SLOT-6] [KVM-SLOT-7] the sanity checks are -EINVAL and create nothing', () => {
  const v = vm();
  for (const r of [
    region({ slot: 32764 }),
    region({ flags: 4 }),
    region({ memorySize: 100 * PG + 1 }),
    region({ guestPhysAddr: GPA + 1 }),
    region({ userspaceAddr: UADDR + 8 }),
    region({ userspaceAddr: 2 ** 47 - 10 * PG }),
    region({ slot: 2 << 16 }),
    region({ guestPhysAddr: 2 ** 64 - 64 * PG }),
    region({ memorySize: 2 ** 31 * PG, userspaceAddr: 0 }),
  ]) {
    assert.is(v.setUserMemoryRegion(r), -EINVAL, JSON.stringify(r));
  }
  assert.equal(v.memslots, []);
  assert.is(vm({ readonlyMem: false }).setUserMemoryRegion(region({ flags: KVM_MEM_READONLY })), -EINVAL);
});

test('[KVM-SLOT-8] [KVM-SLOT-9] delete: -EINVAL without a slot; with one, zapped, flushed, bitmap and slot gone', () => {
  const v = vm();
  assert.is(v.setUserMemoryRegion(region({ memorySize: 0 })), -EINVAL);
  assert.is(v.setUserMemoryRegion(region()), 0);
  write(v, 3);
  const frames = v.memory.frameCount;
  const flushes = v.flushes;
  assert.is(v.setUserMemoryRegion(region({ memorySize: 0 })), 0);
  assert.equal(v.memslots, []);
  assert.is(v.leafState(Math.floor(GPA / PG) + 3), 'none');
  assert.is(v.tlb.size, 0);
  assert.ok(v.flushes > flushes);
  assert.ok(v.memory.frameCount < frames);
  assert.is(v.getDirtyLog(0, 16).errno, -ENOENT);
});

test('[KVM-SLOT-10] overlapping another slot of the address space is -EEXIST; the other address space is apart', () => {
  const v = vm();
  assert.is(v.setUserMemoryRegion(region()), 0);
  assert.is(v.setUserMemoryRegion(region({ slot: 1, guestPhysAddr: GPA + 99 * PG, userspaceAddr: UADDR + 0x100_0000 })), -EEXIST);
  assert.is(v.setUserMemoryRegion(region({ slot: (1 << 16) | 1, userspaceAddr: UADDR + 0x100_0000 })), 0);
  assert.is(v.setUserMemoryRegion(region({ slot: 1, guestPhysAddr: GPA + 100 * PG, userspaceAddr: UADDR + 0x100_0000 })), 0);
  assert.is(v.setUserMemoryRegion(region({ slot: 1, guestPhysAddr: GPA + 50 * PG, userspaceAddr: UADDR + 0x100_0000 })), -EEXIST);
});

test('[KVM-SLOT-11] [KVM-SLOT-12] [KVM-SLOT-13] create, immutable fields, no-op', () => {
  const v = vm();
  assert.is(v.setUserMemoryRegion(region({ flags: 0 })), 0);
  assert.is(v.getDirtyLog(0, 16).errno, -ENOENT);
  assert.is(v.setUserMemoryRegion(region({ flags: 0, userspaceAddr: UADDR + 0x20_0000 })), -EINVAL);
  assert.is(v.setUserMemoryRegion(region({ flags: 0, memorySize: 64 * PG })), -EINVAL);
  assert.is(v.setUserMemoryRegion(region({ flags: KVM_MEM_READONLY })), -EINVAL);
  assert.is(v.setUserMemoryRegion(region({ flags: 0 })), 0);
  assert.is(v.memslots.length, 1);
});

test('[KVM-SLOT-14] [KVM-PT-10] logging on: huge leaves split eagerly and every leaf protected, the TLB flushed', () => {
  const v = vm();
  assert.is(v.setUserMemoryRegion(region({ flags: 0, memorySize: 1024 * PG })), 0);
  write(v, 0);
  write(v, 700);
  const gfn = Math.floor(GPA / PG);
  assert.is(v.leafState(gfn), 'huge');
  assert.is(v.setUserMemoryRegion(region({ flags: LOG, memorySize: 1024 * PG })), 0);
  assert.is(v.leafState(gfn), 'protected');
  assert.is(v.leafState(gfn + 511), 'protected');
  assert.is(v.leafState(gfn + 700), 'protected');
  assert.is(v.tlb.size, 0);
  assert.equal(pagesOf(v.getDirtyLog(0, 128).bitmap), []);
  write(v, 5);
  assert.equal(pagesOf(v.getDirtyLog(0, 128).bitmap), [5]);
});

test('[KVM-PT-10] [KVM-PT-5] without eager split a huge leaf is write-protected whole; the next write splits it on the fault', () => {
  const v = vm({ eagerSplit: false });
  v.setUserMemoryRegion(region({ flags: 0, memorySize: 512 * PG }));
  write(v, 0);
  v.setUserMemoryRegion(region({ flags: LOG, memorySize: 512 * PG }));
  const gfn = Math.floor(GPA / PG);
  assert.is(v.leafState(gfn), 'hugeProtected');
  write(v, 9);
  assert.is(v.leafState(gfn + 9), 'writable');
  assert.is(v.leafState(gfn + 10), 'protected');
  assert.equal(pagesOf(v.getDirtyLog(0, 64).bitmap), [9]);
});

test('[KVM-SLOT-15] logging off drops the bitmap and its unfetched state', () => {
  const v = vm();
  v.setUserMemoryRegion(region());
  write(v, 1);
  assert.is(v.setUserMemoryRegion(region({ flags: 0 })), 0);
  assert.is(v.getDirtyLog(0, 16).errno, -ENOENT);
  assert.is(v.setUserMemoryRegion(region()), 0);
  assert.equal(pagesOf(v.getDirtyLog(0, 16).bitmap), []);
});

test('[KVM-SLOT-16] [KVM-PT-15] a move zaps and keeps the bitmap by page of the slot', () => {
  const v = vm();
  v.setUserMemoryRegion(region());
  write(v, 7);
  assert.is(v.setUserMemoryRegion(region({ guestPhysAddr: GPA + 0x100_0000 })), 0);
  assert.is(v.leafState(Math.floor(GPA / PG) + 7), 'none');
  assert.is(v.tlb.size, 0);
  assert.equal(v.vcpuWrite(GPA + 7 * PG), { exit: 'mmio' });
  v.vcpuWrite(GPA + 0x100_0000 + 9 * PG);
  assert.equal(pagesOf(v.getDirtyLog(0, 16).bitmap), [7, 9]);
});

test('[KVM-LOG-1] the dirty ring without a bitmap: -ENXIO for GET and CLEAR', () => {
  const v = vm({ dirtyRingExclusive: true });
  assert.is(v.setUserMemoryRegion(region()), 0);
  assert.is(v.getDirtyLog(0, 16).errno, -ENXIO);
  assert.is(v.getDirtyLog(1 << 20, 16).errno, -ENXIO);
  assert.is(v.clearDirtyLog(0, 1n, 0, new Uint8Array(0)), -ENXIO);
});

test('[KVM-LOG-2] [KVM-LOG-3] GET: bad slot id -EINVAL, no slot or no bitmap -ENOENT', () => {
  const v = vm();
  assert.is(v.getDirtyLog(2 << 16, 0).errno, -EINVAL);
  assert.is(v.getDirtyLog(32764, 0).errno, -EINVAL);
  assert.is(v.getDirtyLog(3, 0).errno, -ENOENT);
});

test('[KVM-LOG-5] [KVM-LOG-8] without manual protect GET reports and clears; the bitmap is ALIGN(npages, 64) / 8 bytes, nothing past npages', () => {
  const v = vm();
  v.setUserMemoryRegion(region());
  for (const p of [0, 63, 64, 99]) write(v, p);
  const r = v.getDirtyLog(0, 16);
  assert.is(r.errno, 0);
  assert.is(r.bitmap!.length, 16);
  assert.equal(pagesOf(r.bitmap), [0, 63, 64, 99]);
  assert.equal(pagesOf(v.getDirtyLog(0, 16).bitmap), []);
  write(v, 64);
  assert.equal(pagesOf(v.getDirtyLog(0, 16).bitmap), [64]);
});

test('[KVM-LOG-4] [KVM-LOG-6] under manual protect GET does not clear; -EFAULT changes nothing', () => {
  const v = vm();
  assert.is(v.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, MANUAL), 0);
  v.setUserMemoryRegion(region());
  write(v, 2);
  assert.is(v.getDirtyLog(0, 8).errno, -EFAULT);
  assert.equal(pagesOf(v.getDirtyLog(0, 16).bitmap), [2]);
  write(v, 3);
  assert.equal(pagesOf(v.getDirtyLog(0, 16).bitmap), [2, 3]);
});

test('[KVM-LOG-7] without manual protect -EFAULT comes after the bitmap was taken: the pages are gone', () => {
  const v = vm();
  v.setUserMemoryRegion(region());
  write(v, 2);
  assert.is(v.getDirtyLog(0, 8).errno, -EFAULT);
  assert.equal(pagesOf(v.getDirtyLog(0, 16).bitmap), []);
  assert.is(v.leafState(Math.floor(GPA / PG) + 2), 'protected');
});

test("[KVM-CLEAR-1] [KVM-CLEAR-2] [KVM-CLEAR-3] [KVM-CLEAR-4] [KVM-CLEAR-5] [KVM-CLEAR-6] CLEAR refusals in the kernel's order", () => {
  const v = vm();
  v.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, MANUAL);
  v.setUserMemoryRegion(region());
  const b = new Uint8Array(16).fill(0xff);
  assert.is(v.clearDirtyLog(2 << 16, 0n, 64, b), -EINVAL);
  assert.is(v.clearDirtyLog(7, 32n, 64, b), -EINVAL); // first_page before the slot lookup
  assert.is(v.clearDirtyLog(7, 0n, 64, b), -ENOENT);
  assert.is(v.clearDirtyLog(0, 128n, 0, b), -EINVAL);
  assert.is(v.clearDirtyLog(0, 64n, 64, b), -EINVAL);
  assert.is(v.clearDirtyLog(0, 0n, 36, b), -EINVAL);
  assert.is(v.clearDirtyLog(0, 0n, 100, new Uint8Array(8)), -EFAULT);
  write(v, 1);
  assert.equal(pagesOf(v.getDirtyLog(0, 16).bitmap), [1]);
});

test('[KVM-CLEAR-7] [KVM-CLEAR-8] CLEAR clears exactly the selected pages, the last partial word included; bits past the slot are ignored', () => {
  const v = vm();
  v.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, MANUAL);
  v.setUserMemoryRegion(region());
  for (const p of [1, 2, 64, 99]) write(v, p);
  assert.is(v.clearDirtyLog(0, 0n, 64, bits(8, 1)), 0);
  assert.equal(pagesOf(v.getDirtyLog(0, 16).bitmap), [2, 64, 99]);
  assert.is(v.clearDirtyLog(0, 64n, 36, bits(8, 35, 36, 63)), 0);
  assert.equal(pagesOf(v.getDirtyLog(0, 16).bitmap), [2, 64]);
  assert.is(v.clearDirtyLog(0, 0n, 0, new Uint8Array(0)), 0);
  assert.is(v.clearDirtyLog(0, 128n - 28n, 0, new Uint8Array(0)), -EINVAL);
  // Cleared pages are protected again: the next write is recorded.
  write(v, 1);
  write(v, 99);
  assert.equal(pagesOf(v.getDirtyLog(0, 16).bitmap), [1, 2, 64, 99]);
});

test('[KVM-CLEAR-9] CLEAR works without manual protect too', () => {
  const v = vm();
  v.setUserMemoryRegion(region());
  write(v, 4);
  assert.is(v.clearDirtyLog(0, 0n, 64, bits(8, 4)), 0);
  assert.equal(pagesOf(v.getDirtyLog(0, 16).bitmap), []);
});

test('[KVM-CAP-1] [KVM-CAP-2] [KVM-CAP-3] [KVM-CAP-4] [KVM-CAP-5] the capability', () => {
  const v = vm();
  assert.is(v.checkExtension(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2), 3);
  assert.is(v.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 1, MANUAL), -EINVAL);
  assert.is(v.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, 4n), -EINVAL);
  assert.is(v.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, BigInt(KVM_DIRTY_LOG_INITIALLY_SET)), -EINVAL);
  assert.is(v.enableCap(167, 0, 1n), -EINVAL);
  assert.is(v.manualDirtyLogProtect, 0);
  assert.is(v.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, INIT), 0);
  assert.is(v.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, 0n), 0);
  assert.is(v.manualDirtyLogProtect, 0);
});

test('[KVM-SLOT-11] [KVM-PT-4] [KVM-CLEAR-9] INITIALLY_SET: every page reported until cleared; huge leaves stay writable until a CLEAR splits them', () => {
  const v = vm();
  v.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, INIT);
  v.setUserMemoryRegion(region({ flags: 0, memorySize: 512 * PG }));
  write(v, 0);
  const gfn = Math.floor(GPA / PG);
  assert.is(v.leafState(gfn), 'huge');
  assert.is(v.setUserMemoryRegion(region({ memorySize: 512 * PG })), 0);
  assert.is(v.leafState(gfn), 'huge');
  assert.is(pagesOf(v.getDirtyLog(0, 64).bitmap).length, 512);
  const all = new Uint8Array(8).fill(0xff);
  assert.is(v.clearDirtyLog(0, 0n, 64, all), 0);
  assert.is(v.leafState(gfn), 'protected');
  assert.is(v.leafState(gfn + 64), 'writable');
  assert.is(pagesOf(v.getDirtyLog(0, 64).bitmap).length, 448);
  write(v, 3);
  assert.ok(pagesOf(v.getDirtyLog(0, 64).bitmap).includes(3));
});

test('[KVM-PT-7] [KVM-PT-9] hardware dirty bit: protect clears D; a write sets D and logs it in PML; GET drains it', () => {
  const v = vm({ hwDirty: true });
  v.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, MANUAL);
  v.setUserMemoryRegion(region());
  write(v, 5);
  assert.equal(pagesOf(v.getDirtyLog(0, 16).bitmap), [5]);
  assert.is(v.clearDirtyLog(0, 0n, 64, bits(8, 5)), 0);
  assert.is(v.leafState(Math.floor(GPA / PG) + 5), 'clean');
  write(v, 5);
  assert.equal(v.pml, [Math.floor(GPA / PG) + 5]);
  assert.equal(pagesOf(v.getDirtyLog(0, 16).bitmap), [5]);
  assert.equal(v.pml, []);
});

test('[KVM-PT-7] a full PML buffer is drained by the exit', () => {
  const v = vm({ hwDirty: true, pmlEntries: 2 });
  v.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, MANUAL);
  v.setUserMemoryRegion(region());
  for (const p of [1, 2]) write(v, p);
  v.clearDirtyLog(0, 0n, 64, bits(8, 1, 2));
  write(v, 1);
  assert.is(v.pml.length, 1);
  write(v, 2);
  assert.is(v.pml.length, 0);
  assert.equal(pagesOf(v.peekBitmap(0)), [1, 2]);
});

test("one page's bit, as peekDirtyBit reads it, is the bitmap's; no bit outside the slot or of a slot without a bitmap", () => {
  const v = vm();
  v.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, MANUAL);
  v.setUserMemoryRegion(region());
  for (const p of [1, 2, 63, 64]) write(v, p);
  const bitmap = pagesOf(v.peekBitmap(0));
  assert.equal(
    [0, 1, 2, 3, 63, 64, 65].filter((p) => v.peekDirtyBit(0, p) === true),
    bitmap.filter((p) => [0, 1, 2, 3, 63, 64, 65].includes(p)),
  );
  assert.equal(bitmap, [1, 2, 63, 64]);
  assert.is(v.peekDirtyBit(0, -1), undefined);
  assert.is(v.peekDirtyBit(0, 1 << 20), undefined);
  assert.is(v.peekDirtyBit(7, 0), undefined);
});

test('[KVM-PT-13] [KVM-PT-14] a cached translation lets writes through without recording; the flush before return ends that', () => {
  const v = vm();
  v.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, MANUAL);
  v.setUserMemoryRegion(region());
  write(v, 8);
  write(v, 9);
  assert.ok(v.tlb.has(Math.floor(GPA / PG) + 8));
  // A write racing inside CLEAR, after the leaf is protected and before the flush, goes through the TLB unrecorded.
  let raced = false;
  v.memory.hook = () => {
    if (!raced && v.leafState(Math.floor(GPA / PG) + 8) === 'protected') {
      raced = true;
      write(v, 8);
      assert.is(v.leafState(Math.floor(GPA / PG) + 8), 'protected');
    }
  };
  v.clearDirtyLog(0, 0n, 64, bits(8, 8, 9));
  v.memory.hook = undefined;
  assert.ok(raced);
  assert.is(v.tlb.size, 0);
  write(v, 8);
  assert.equal(pagesOf(v.getDirtyLog(0, 16).bitmap), [8]);
});

test('[KVM-LOG-5] [KVM-PT-8] a write racing GET between the exchange and the protection is not lost', () => {
  const v = vm();
  v.setUserMemoryRegion(region());
  write(v, 1);
  let done = false;
  v.memory.hook = (kind) => {
    if (!done && kind === 'fetchAnd') {
      done = true;
      v.vcpuWrite(GPA + 2 * PG);
    }
  };
  assert.equal(pagesOf(v.getDirtyLog(0, 16).bitmap), [1]);
  v.memory.hook = undefined;
  assert.equal(pagesOf(v.getDirtyLog(0, 16).bitmap), [2]);
});

test('[KVM-PT-16] [KVM-PT-2] a read-only slot exits as MMIO; a slot not logging maps huge and records nothing', () => {
  const v = vm();
  v.setUserMemoryRegion(region({ flags: KVM_MEM_READONLY }));
  assert.equal(write(v, 0), { exit: 'mmio' });
  assert.equal(v.vcpuWrite(0x1000), { exit: 'mmio' });
  const w = vm();
  w.setUserMemoryRegion(region({ flags: 0, memorySize: 512 * PG }));
  assert.equal(write(w, 3), { exit: 'none' });
  assert.is(w.leafState(Math.floor(GPA / PG) + 3), 'huge');
});

test('[KVM-PT-6] after logging stops a protected leaf is made writable by the fault, unrecorded', () => {
  const v = vm();
  v.setUserMemoryRegion(region());
  write(v, 1);
  v.getDirtyLog(0, 16);
  v.setUserMemoryRegion(region({ flags: 0 }));
  const gfn = Math.floor(GPA / PG) + 1;
  assert.is(v.leafState(gfn), 'protected');
  write(v, 1);
  assert.is(v.leafState(gfn), 'writable');
});

test('[KVM-PT-10] a huge-leaf split published by compare-exchange keeps a dirty bit set concurrently', () => {
  const v = vm({ hwDirty: true });
  v.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, INIT);
  v.setUserMemoryRegion(region({ flags: 0, memorySize: 512 * PG }));
  write(v, 0);
  v.setUserMemoryRegion(region({ memorySize: 512 * PG }));
  const gfn = Math.floor(GPA / PG);
  assert.is(v.leafState(gfn), 'huge');
  // The hardware sets D on the huge leaf between the split's read and its publication: the split retries.
  let raced = false;
  v.memory.hook = (kind) => {
    if (!raced && kind === 'compareExchange') {
      raced = true;
      v.memory.hook = undefined;
      v.tlb.clear();
      const pde = v.memory.load(pdeOf(v));
      v.memory.store(pdeOf(v), pde & ~EPT_D);
      write(v, 100);
    }
  };
  assert.is(v.clearDirtyLog(0, 0n, 64, bits(8, 0)), 0);
  assert.ok(raced);
  assert.is(v.leafState(gfn), 'clean');
  assert.is(v.leafState(gfn + 100), 'writable');
  assert.equal(v.pml, [gfn + 100]);
});

test.run();
