// The memory a dirty ring lives in, as the reference producer and collector touch it:
// every access is one naturally aligned u32 or u64 field with its ordering, so that the
// owner of the memory (the kit) can delay relaxed stores and order release/acquire pairs.
// `FlatRingMemory` is a plain, sequentially consistent memory for tests and benchmarks.
//
// struct kvm_dirty_gfn (include/uapi/linux/kvm.h): flags u32 at +0, slot u32 at +4,
// offset u64 at +8, 16 bytes. The constants are copied here (impl/ imports nothing from
// spec/); spec/kvm/dirty-ring/uapi.ts has them with their sources.

export type LoadOrder = 'relaxed' | 'acquire';
export type StoreOrder = 'relaxed' | 'release';

export interface RingMemory {
  load32(addr: number, order: LoadOrder): number;
  load64(addr: number, order: LoadOrder): bigint;
  store32(addr: number, value: number, order: StoreOrder): void;
  store64(addr: number, value: bigint, order: StoreOrder): void;
}

export const KVM_DIRTY_GFN_F_DIRTY = 1;
export const KVM_DIRTY_GFN_F_RESET = 2;
export const GFN_SIZE = 16;
export const flagsAddr = (base: number, i: number) => base + i * GFN_SIZE;
export const slotAddr = (base: number, i: number) => base + i * GFN_SIZE + 4;
export const offsetAddr = (base: number, i: number) => base + i * GFN_SIZE + 8;

/** A byte array from address 0, every access visible at once. */
export class FlatRingMemory implements RingMemory {
  private readonly view: DataView;
  /** Accesses made, by kind (the benchmark's bytes-read figure). */
  readonly counts = { load32: 0, load64: 0, store32: 0, store64: 0 };

  constructor(readonly bytes: number) {
    this.view = new DataView(new ArrayBuffer(bytes));
  }

  private at(addr: number, width: 4 | 8): number {
    if (!Number.isSafeInteger(addr) || addr < 0 || addr % width !== 0 || addr + width > this.bytes) throw new RangeError(`ring memory: ${width * 8}-bit access at 0x${addr.toString(16)} is misaligned or outside ${this.bytes} bytes`);
    return addr;
  }

  load32(addr: number): number {
    this.counts.load32++;
    return this.view.getUint32(this.at(addr, 4), true);
  }
  load64(addr: number): bigint {
    this.counts.load64++;
    return this.view.getBigUint64(this.at(addr, 8), true);
  }
  store32(addr: number, value: number): void {
    this.counts.store32++;
    this.view.setUint32(this.at(addr, 4), value >>> 0, true);
  }
  store64(addr: number, value: bigint): void {
    this.counts.store64++;
    this.view.setBigUint64(this.at(addr, 8), BigInt.asUintN(64, value), true);
  }
}
