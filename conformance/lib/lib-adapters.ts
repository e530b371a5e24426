// `dirtyspec run --lib LIBRARY`: a shared library implementing the C ABI of dirtyspec.h
// (C-ABI.md), loaded in process with koffi and presented as the kit's adapters, so the
// engine, the verdicts, replay and reports are those of --adapter and --exec.
//
// koffi (https://koffi.dev) because it ships prebuilt binaries inside its npm package (no
// compiler at install time), calls a C function in about 0.3 us with a callback back into
// JavaScript, and passes typed arrays and raw pointers without copies.
//
// Each callback the library makes runs the kit's operation synchronously, on the kit's
// memory, SMMU port or user buffer: the memory's hook (the engine's DMA between two
// accesses) runs inside it exactly as it does for an in-process adapter. An exception in
// a callback (an access outside the kit's frames, an unknown memory order) is kept, every
// later callback of the same call returns 0 without touching the kit, and the call then
// throws: the run is undecided, as a failed protocol callback makes it.
import koffi from 'koffi';
import type { Adapter, DirtyBitmap, DmaOutcome, IovaBitmapAdapter, KitMemory, KitSmmuPort, KitUserBuffer, ProfileName, SmmuCommand, SmmuDriverAdapter, SmmuHwAdapter, VfioBitmapArg, VfioType1Adapter } from '../adapters/types.ts';
import { FAULTS, PROFILES } from '../adapters/types.ts';
import { Undecided } from '../engine/limits.ts';
import { printable } from '../protocol/printable.ts';

export const ABI_VERSION = 1;

/** DIRTYSPEC_PROFILE_* bits, in PROFILES order. */
/** The profiles the C ABI has (a profile without a bit is not in ABI version 1). */
export const PROFILE_BITS: Partial<Record<ProfileName, number>> = { 'smmu-hw': 1, 'smmu-driver': 2, 'iova-bitmap': 4, 'vfio-type1': 8 };

/** Byte offsets and sizes of dirtyspec.h's structs on LP64 (checked against the C compiler by the tests). */
export const LAYOUT = {
  kit: { size: 136, abi: 0, sizeField: 4, ctx: 8, callbacks: 16 },
  cmd: { size: 32, op: 0, streamId: 4, asid: 8, iova: 16, sz: 24 },
  bitmap: { size: 40, bytes: 0, iova: 8, sz: 16, cap: 24, len: 32 },
  hello: { size: 16, abi: 0, profiles: 4, name: 8 },
  smmuHwConfig: { size: 12, httu: 0, bbml: 4, iotlbCapacity: 8 },
  smmuDriverConfig: { size: 16, asid: 0, idr0: 4, idr3: 8, dirtyCapable: 12, pageGranular: 13 },
  iovaBitmapArgs: { size: 56, iova: 0, length: 8, pageSize: 16, offset: 24, bitmapSize: 32, bufferSize: 40, maxPinnedPages: 48 },
  vfioConfig: { size: 8, hwDirty: 0, dmaEntryLimit: 4 },
  vfioBitmap: { size: 32, pgsize: 0, sz: 8, data: 16, dataLen: 24 },
  vfioRange: { size: 48, iova: 0, sz: 8, bitmap: 16 },
  vfioInfo: { size: 304, errno: 0, flags: 4, iovaPgsizes: 8, migrationFlags: 16, dmaAvail: 20, migrationPgsizeBitmap: 24, maxDirtyBitmapSize: 32, nIovaRanges: 40, ranges: 48 },
} as const;

/** The order of the function pointers in struct dirtyspec_kit. */
const CALLBACKS = ['load', 'store', 'cmpxchg', 'xchg', 'fetch_or', 'fetch_and', 'alloc_frame', 'free_frame', 'attach_stream', 'detach_stream', 'submit', 'pin', 'unpin', 'or_byte', 'fill_bytes'] as const;
type CallbackName = (typeof CALLBACKS)[number];

const PROTOS: Record<CallbackName, string> = {
  load: 'uint64_t dirtyspec_load_cb(void *ctx, uint64_t pa, int order)',
  store: 'void dirtyspec_store_cb(void *ctx, uint64_t pa, uint64_t value, int order)',
  cmpxchg: 'uint64_t dirtyspec_cmpxchg_cb(void *ctx, uint64_t pa, uint64_t expected, uint64_t replacement, int order)',
  xchg: 'uint64_t dirtyspec_xchg_cb(void *ctx, uint64_t pa, uint64_t value, int order)',
  fetch_or: 'uint64_t dirtyspec_fetch_or_cb(void *ctx, uint64_t pa, uint64_t mask, int order)',
  fetch_and: 'uint64_t dirtyspec_fetch_and_cb(void *ctx, uint64_t pa, uint64_t mask, int order)',
  alloc_frame: 'uint64_t dirtyspec_alloc_frame_cb(void *ctx)',
  free_frame: 'void dirtyspec_free_frame_cb(void *ctx, uint64_t pa)',
  attach_stream: 'void dirtyspec_attach_stream_cb(void *ctx, uint32_t stream_id, uint64_t cd_pa)',
  detach_stream: 'void dirtyspec_detach_stream_cb(void *ctx, uint32_t stream_id)',
  submit: 'void dirtyspec_submit_cb(void *ctx, void *cmds, uint32_t n)',
  pin: 'bool dirtyspec_pin_cb(void *ctx, uint64_t page)',
  unpin: 'void dirtyspec_unpin_cb(void *ctx, uint64_t page)',
  or_byte: 'void dirtyspec_or_byte_cb(void *ctx, uint64_t page, uint32_t offset, uint32_t mask)',
  fill_bytes: 'void dirtyspec_fill_bytes_cb(void *ctx, uint64_t page, uint32_t start, uint32_t end, uint32_t value)',
};

/** The exported functions of each profile (dirtyspec.h), as koffi prototypes. */
const FUNCTIONS = {
  hello: 'int dirtyspec_hello(uint32_t kit_abi, void *hello)',
  'smmu-hw': {
    create: 'int dirtyspec_smmu_hw_create(void *kit, void *config, void *instance)',
    readRegisters: 'void dirtyspec_smmu_hw_read_registers(void *smmu, void *idr0, void *idr3)',
    attachStream: 'void dirtyspec_smmu_hw_attach_stream(void *smmu, uint32_t stream_id, uint64_t cd_pa)',
    detachStream: 'void dirtyspec_smmu_hw_detach_stream(void *smmu, uint32_t stream_id)',
    submit: 'void dirtyspec_smmu_hw_submit(void *smmu, void *cmds, uint32_t n)',
    dmaRead: 'int dirtyspec_smmu_hw_dma_read(void *smmu, uint32_t stream_id, uint64_t iova, void *pa)',
    dmaWrite: 'int dirtyspec_smmu_hw_dma_write(void *smmu, uint32_t stream_id, uint64_t iova, void *pa)',
    destroy: 'void dirtyspec_smmu_hw_destroy(void *smmu)',
  },
  'smmu-driver': {
    create: 'int dirtyspec_smmu_driver_create(void *kit, void *config, void *instance)',
    map: 'int dirtyspec_smmu_driver_map(void *domain, uint64_t iova, uint64_t paddr, uint64_t size, uint32_t prot)',
    unmap: 'uint64_t dirtyspec_smmu_driver_unmap(void *domain, uint64_t iova, uint64_t size, void *dirty)',
    splitBlock: 'int dirtyspec_smmu_driver_split_block(void *domain, uint64_t iova)',
    mergePages: 'int dirtyspec_smmu_driver_merge_pages(void *domain, uint64_t iova, uint32_t level)',
    readAndClearDirty: 'int dirtyspec_smmu_driver_read_and_clear_dirty(void *domain, uint64_t iova, uint64_t size, uint32_t flags, void *dirty)',
    setDirtyTracking: 'int dirtyspec_smmu_driver_set_dirty_tracking(void *domain, bool enable)',
    attach: 'int dirtyspec_smmu_driver_attach(void *domain, uint32_t stream_id)',
    destroy: 'void dirtyspec_smmu_driver_destroy(void *domain)',
  },
  'iova-bitmap': {
    create: 'int dirtyspec_iova_bitmap_create(void *kit, void *args, void *instance)',
    set: 'int dirtyspec_iova_bitmap_set(void *bitmap, uint64_t iova, uint64_t length)',
    free: 'void dirtyspec_iova_bitmap_free(void *bitmap)',
    destroy: 'void dirtyspec_iova_bitmap_destroy(void *bitmap)',
  },
  'vfio-type1': {
    create: 'int dirtyspec_vfio_type1_create(void *kit, void *config, void *instance, void *vaddr_limit)',
    checkExtension: 'int dirtyspec_vfio_type1_check_extension(void *container, int64_t extension)',
    getInfo: 'void dirtyspec_vfio_type1_get_info(void *container, void *info)',
    mapDma: 'int dirtyspec_vfio_type1_map_dma(void *container, uint32_t flags, uint64_t vaddr, uint64_t iova, uint64_t size)',
    unmapDma: 'int dirtyspec_vfio_type1_unmap_dma(void *container, uint32_t flags, uint64_t iova, uint64_t size, void *bitmap, void *unmapped, void *out)',
    dirtyPages: 'int dirtyspec_vfio_type1_dirty_pages(void *container, uint32_t flags, void *range, void *out)',
    deviceDmaWrite: 'int dirtyspec_vfio_type1_device_dma_write(void *container, uint64_t iova)',
    destroy: 'void dirtyspec_vfio_type1_destroy(void *container)',
  },
} as const;

/** koffi's callback types are named, and a name is defined once per process: made on first use, shared by every library. */
type CallbackType = ReturnType<typeof koffi.pointer>;
let callbackTypes: Record<CallbackName, CallbackType> | undefined;
function callbackType(name: CallbackName): CallbackType {
  callbackTypes ??= Object.fromEntries(CALLBACKS.map((c) => [c, koffi.pointer(koffi.proto(PROTOS[c]))])) as Record<CallbackName, CallbackType>;
  return callbackTypes[name];
}

/** The largest dirty bitmap the kit hands an implementation: 256 MiB (the kernel's DIRTY_BITMAP_SIZE_MAX). */
const MAX_BITMAP_BYTES = 256 * 1024 * 1024;
const MAX_ORDER = 6;
type Fn = (...args: unknown[]) => unknown;
type Ptr = bigint;

export interface LibOptions {
  /** Time limit of one call, ms: a call that returns later is undecided (one that never returns is the parent's to kill). */
  readonly timeoutMs: number;
  /** Called before (`>`) and after (`<`) every call into the library, for the parent's last-steps log. */
  readonly onCall?: (direction: '>' | '<', text: string) => void;
}

/** What a callback works on: set at each create of its profile. */
interface Slot {
  memory?: KitMemory;
  port?: KitSmmuPort;
  buffer?: KitUserBuffer;
  kit: Ptr;
}

const bytesFor = (size: number) => Math.ceil(Math.ceil(size / 4096) / 64) * 8;
const hex = (v: number | bigint) => `0x${v.toString(16)}`;
const u64 = (v: unknown) => (typeof v === 'bigint' ? v : BigInt(v as number));
/** A u64 argument as C sees it: two's complement, as the protocol's encoding wraps it (codec.ts). */
const w64 = (v: bigint) => BigInt.asUintN(64, v);
const num = (v: unknown) => (typeof v === 'bigint' ? Number(v) : (v as number));

/** A native buffer that grows and is reused: the bytes of dirty bitmaps handed to the library. */
class NativeBytes {
  private ptr: Ptr = 0n;
  private cap = 0;
  private bytes = new Uint8Array(0);
  /** The struct dirtyspec_bitmap that points at these bytes (a transient argument, rewritten per call). */
  readonly struct = Buffer.alloc(LAYOUT.bitmap.size);
  reserve(n: number): Ptr {
    if (n > this.cap) {
      if (this.ptr !== 0n) koffi.free(this.ptr);
      this.cap = Math.max(n, 4096);
      this.ptr = koffi.alloc('uint8_t', this.cap) as Ptr;
      this.bytes = new Uint8Array(koffi.view(this.ptr, this.cap));
    }
    return this.ptr;
  }
  view(n: number): Uint8Array {
    return this.bytes.subarray(0, n);
  }
  release(): void {
    if (this.ptr !== 0n) koffi.free(this.ptr);
    this.ptr = 0n;
    this.cap = 0;
    this.bytes = new Uint8Array(0);
  }
}

/** A library loaded, its hello answered, its callbacks registered. */
export class LibPeer {
  readonly name: string;
  readonly profiles: ProfileName[];
  /** Calls into the library and callbacks out of it (the benchmark's operations). */
  readonly stats = { calls: 0, callbacks: 0 };
  private readonly lib: ReturnType<typeof koffi.load>;
  private readonly registered: Ptr[] = [];
  private readonly slots: Slot[] = [];
  /** The first exception of a callback during the current call. */
  private failure: { error: unknown; where: string } | undefined;
  private readonly live = new Map<ProfileName, { destroy: () => void }>();
  private readonly natives: NativeBytes[] = [];
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly options: LibOptions,
  ) {
    try {
      this.lib = koffi.load(path);
    } catch (e) {
      throw new Undecided(`could not load ${path}: ${(e as Error).message}`);
    }
    const hello = this.func(FUNCTIONS.hello);
    const h = Buffer.alloc(LAYOUT.hello.size);
    const ret = this.call('hello', () => hello(ABI_VERSION, h)) as number;
    if (ret !== 0) throw new Undecided(`${path}: dirtyspec_hello(${ABI_VERSION}) returned ${ret}: the library refuses this kit's ABI version ${ABI_VERSION}`);
    const abi = h.readUInt32LE(LAYOUT.hello.abi);
    if (abi !== ABI_VERSION) throw new Undecided(`${path}: dirtyspec_hello: the library implements ABI ${abi}; this kit implements ${ABI_VERSION} (dirtyspec.h, DIRTYSPEC_ABI_VERSION)`);
    const namePtr = h.readBigUInt64LE(LAYOUT.hello.name);
    const name = namePtr === 0n ? '' : (koffi.decode(namePtr, 'char', -1) as string);
    if (name.length < 1 || name.length > 200) throw new Undecided(`${path}: dirtyspec_hello: name must be 1 to 200 characters, got ${name.length}`);
    this.name = printable(name);
    const bits = h.readUInt32LE(LAYOUT.hello.profiles);
    const known = Object.values(PROFILE_BITS).reduce((a, b) => a | b, 0);
    if (bits === 0 || (bits & ~known) !== 0) throw new Undecided(`${path}: dirtyspec_hello: profiles ${hex(bits)} must be a non-empty set of DIRTYSPEC_PROFILE_* bits (${hex(known)})`);
    this.profiles = PROFILES.filter((p) => (bits & (PROFILE_BITS[p] ?? 0)) !== 0);
    this.registerCallbacks();
  }

  /** Loads the library and answers its hello. Throws Undecided. */
  static load(path: string, options: LibOptions): LibPeer {
    return new LibPeer(path, options);
  }

  private func(proto: string): Fn {
    try {
      return this.lib.func(proto) as Fn;
    } catch (e) {
      throw new Undecided(`${this.path}: ${(e as Error).message}: a profile the library's hello names needs all of its functions (dirtyspec.h)`);
    }
  }

  /** One call into the library: the log lines, the time limit, and a callback's failure rethrown. */
  call<T>(what: string, fn: () => T, result?: (r: T) => string): T {
    this.stats.calls++;
    this.options.onCall?.('>', what);
    this.failure = undefined;
    const t0 = performance.now();
    const r = fn();
    const ms = performance.now() - t0;
    const f = this.failure as { error: unknown; where: string } | undefined;
    this.failure = undefined;
    if (f !== undefined) {
      this.options.onCall?.('<', `${what}: a callback failed`);
      if (f.error instanceof Undecided) throw f.error;
      throw new Undecided(`${what}: callback ${f.where} failed in the kit: ${f.error instanceof Error ? f.error.message : String(f.error)}`);
    }
    this.options.onCall?.('<', result === undefined ? `${what}: done` : `${what}: ${result(r)}`);
    if (ms > this.options.timeoutMs) throw new Undecided(`${what} did not answer within ${this.options.timeoutMs} ms (it took ${Math.round(ms)} ms)`);
    return r;
  }

  private registerCallbacks(): void {
    const slot = (ctx: unknown) => this.slots[num(ctx)];
    const order = (o: unknown, what: string, pa: unknown) => {
      if (typeof o !== 'number' || !Number.isInteger(o) || o < 0 || o > MAX_ORDER) throw new Undecided(`${what}(${hex(u64(pa))}): memory order ${String(o)} is not one of DIRTYSPEC_ORDER_* (0 to ${MAX_ORDER})`);
    };
    /** The memory of the instance, after checking the access's order. */
    const ordered = (ctx: unknown, o: unknown, what: string, pa: unknown) => {
      order(o, what, pa);
      return mem(ctx);
    };
    const mem = (ctx: unknown) => {
      const m = slot(ctx)?.memory;
      if (m === undefined) throw new Undecided('a memory callback outside an instance of an SMMU profile');
      return m;
    };
    const port = (ctx: unknown) => {
      const p = slot(ctx)?.port;
      if (p === undefined) throw new Undecided('an SMMU port callback outside an smmu-driver instance');
      return p;
    };
    const buf = (ctx: unknown) => {
      const b = slot(ctx)?.buffer;
      if (b === undefined) throw new Undecided('a user-buffer callback outside an iova-bitmap instance');
      return b;
    };
    const impl: Record<CallbackName, Fn> = {
      load: (ctx, pa, o) => ordered(ctx, o, 'load', pa).load(num(pa)),
      store: (ctx, pa, v, o) => ordered(ctx, o, 'store', pa).store(num(pa), u64(v)),
      cmpxchg: (ctx, pa, e, r, o) => ordered(ctx, o, 'cmpxchg', pa).compareExchange(num(pa), u64(e), u64(r)),
      xchg: (ctx, pa, v, o) => ordered(ctx, o, 'xchg', pa).exchange(num(pa), u64(v)),
      fetch_or: (ctx, pa, v, o) => ordered(ctx, o, 'fetch_or', pa).fetchOr(num(pa), u64(v)),
      fetch_and: (ctx, pa, v, o) => ordered(ctx, o, 'fetch_and', pa).fetchAnd(num(pa), u64(v)),
      alloc_frame: (ctx) => BigInt(mem(ctx).allocFrame()),
      free_frame: (ctx, pa) => mem(ctx).freeFrame(num(pa)),
      attach_stream: (ctx, sid, cd) => port(ctx).attachStream(sid as number, num(cd)),
      detach_stream: (ctx, sid) => port(ctx).detachStream(sid as number),
      submit: (ctx, cmds, n) => port(ctx).submit(decodeCommands(cmds as Ptr | null, n as number)),
      pin: (ctx, page) => buf(ctx).pin(num(page)),
      unpin: (ctx, page) => buf(ctx).unpin(num(page)),
      or_byte: (ctx, page, off, mask) => buf(ctx).orByte(num(page), off as number, mask as number),
      fill_bytes: (ctx, page, s, e, v) => buf(ctx).fillBytes(num(page), s as number, e as number, v as number),
    };
    const pointers: Ptr[] = [];
    for (const name of CALLBACKS) {
      const fn = impl[name];
      // What the library gets back after a callback failed: it must finish the call, touching nothing.
      const fallback = name === 'pin' ? false : PROTOS[name].startsWith('void') ? undefined : 0n;
      // Fixed arity (no rest parameters): this runs once per access of the library.
      const wrapped = (a: unknown, b: unknown, c: unknown, d: unknown, e: unknown) => {
        this.stats.callbacks++;
        if (this.failure !== undefined) return fallback;
        try {
          return fn(a, b, c, d, e);
        } catch (err) {
          this.failure = {
            error: err,
            where: `${name}(${[b, c, d, e]
              .filter((x) => x !== undefined)
              .map((x) => (typeof x === 'bigint' || typeof x === 'number' ? hex(x) : String(x)))
              .join(', ')})`,
          };
          return fallback;
        }
      };
      const ptr = koffi.register(wrapped, callbackType(name)) as Ptr;
      this.registered.push(ptr);
      pointers.push(koffi.address(ptr) as Ptr);
    }
    // One struct dirtyspec_kit per profile (ctx = its index), for the library's lifetime.
    PROFILES.forEach((p, i) => {
      const kit = koffi.alloc('uint8_t', LAYOUT.kit.size) as Ptr;
      const b = Buffer.alloc(LAYOUT.kit.size);
      b.writeUInt32LE(ABI_VERSION, LAYOUT.kit.abi);
      b.writeUInt32LE(LAYOUT.kit.size, LAYOUT.kit.sizeField);
      b.writeBigUInt64LE(BigInt(i + 1), LAYOUT.kit.ctx);
      const used: Partial<Record<ProfileName, readonly CallbackName[]>> = {
        'smmu-hw': CALLBACKS.slice(0, 8),
        'smmu-driver': CALLBACKS.slice(0, 11),
        'iova-bitmap': CALLBACKS.slice(11),
        'vfio-type1': [],
      };
      CALLBACKS.forEach((c, j) => b.writeBigUInt64LE(used[p]?.includes(c) === true ? pointers[j]! : 0n, LAYOUT.kit.callbacks + 8 * j));
      new Uint8Array(koffi.view(kit, LAYOUT.kit.size)).set(b);
      this.slots[i + 1] = { kit };
    });
  }

  private slot(p: ProfileName): Slot {
    return this.slots[PROFILES.indexOf(p) + 1]!;
  }

  private native(): NativeBytes {
    const n = new NativeBytes();
    this.natives.push(n);
    return n;
  }

  /** Replaces the profile's live instance: the old one is destroyed without callbacks. */
  private replace(p: ProfileName, destroy?: () => void): void {
    const old = this.live.get(p);
    this.live.delete(p);
    old?.destroy();
    if (destroy !== undefined) this.live.set(p, { destroy });
  }

  private instance(what: string, ret: number, out: BigUint64Array): Ptr {
    if (ret !== 0) throw new Undecided(`${what} returned ${ret}: the library could not create an instance`);
    if (out[0] === 0n) throw new Undecided(`${what} returned 0 but no instance (*instance is NULL)`);
    return out[0]!;
  }

  /** A struct dirtyspec_bitmap over [iova, iova + size) with `cap` zeroed bytes (the struct is the native buffer's, reused). */
  private bitmapArg(native: NativeBytes, iova: number | bigint, size: number | bigint, cap: number): Buffer {
    const ptr = native.reserve(cap);
    native.view(cap).fill(0);
    const b = native.struct;
    b.writeBigUInt64LE(ptr, LAYOUT.bitmap.bytes);
    b.writeBigUInt64LE(w64(u64(iova)), LAYOUT.bitmap.iova);
    b.writeBigUInt64LE(w64(u64(size)), LAYOUT.bitmap.sz);
    b.writeBigUInt64LE(BigInt(cap), LAYOUT.bitmap.cap);
    b.writeBigUInt64LE(0n, LAYOUT.bitmap.len);
    return b;
  }

  /** The bytes the library answered in a struct dirtyspec_bitmap (a copy), or undefined for len 0 when `optional`. */
  private bitmapResult(what: string, native: NativeBytes, b: Buffer, optional: boolean): DirtyBitmap | undefined {
    const len = b.readBigUInt64LE(LAYOUT.bitmap.len);
    const cap = b.readBigUInt64LE(LAYOUT.bitmap.cap);
    if (len === 0n && optional) return undefined;
    if (len > cap) throw new Undecided(`${what} answered a dirty bitmap of ${len} bytes, more than the ${cap} bytes the kit gave it (struct dirtyspec_bitmap: len <= cap)`);
    return native.view(Number(len)).slice();
  }

  /** One adapter per profile the library's hello names. */
  adapters(): Map<ProfileName, Adapter> {
    const out = new Map<ProfileName, Adapter>();
    for (const p of this.profiles) out.set(p, this.adapter(p));
    return out;
  }

  private adapter(p: ProfileName): Adapter {
    switch (p) {
      case 'smmu-hw':
        return this.smmuHw();
      case 'smmu-driver':
        return this.smmuDriver();
      case 'iova-bitmap':
        return this.iovaBitmap();
      case 'vfio-type1':
        return this.vfioType1();
      default:
        throw new Error(`profile ${p} is not in the C ABI (version ${ABI_VERSION})`);
    }
  }

  private funcs<P extends Exclude<keyof typeof FUNCTIONS, 'hello'>>(p: P): Record<keyof (typeof FUNCTIONS)[P], Fn> {
    const table = FUNCTIONS[p] as Record<string, string>;
    return Object.fromEntries(Object.entries(table).map(([k, proto]) => [k, this.func(proto)])) as Record<keyof (typeof FUNCTIONS)[P], Fn>;
  }

  private smmuHw(): SmmuHwAdapter {
    const f = this.funcs('smmu-hw');
    const slot = this.slot('smmu-hw');
    const pa = new BigUint64Array(1);
    return {
      profile: 'smmu-hw',
      name: this.name,
      create: async (memory, config) => {
        this.replace('smmu-hw');
        slot.memory = memory;
        const c = Buffer.alloc(LAYOUT.smmuHwConfig.size);
        c.writeUInt32LE(config.httu, LAYOUT.smmuHwConfig.httu);
        c.writeUInt32LE(config.bbml, LAYOUT.smmuHwConfig.bbml);
        c.writeUInt32LE(config.iotlbCapacity, LAYOUT.smmuHwConfig.iotlbCapacity);
        const out = new BigUint64Array(1);
        const what = `smmu_hw_create(httu ${config.httu}, bbml ${config.bbml})`;
        const h = this.instance(
          what,
          this.call(what, () => f.create(slot.kit, c, out) as number),
          out,
        );
        this.replace('smmu-hw', () => this.call('smmu_hw_destroy', () => f.destroy(h)));
        const dma =
          (fn: Fn, op: string) =>
          async (streamId: number, iova: number): Promise<DmaOutcome> => {
            pa[0] = 0n;
            const what = `smmu_hw_${op}(${streamId}, ${hex(iova)})`;
            const r = this.call(what, () => fn(h, streamId, iova, pa) as number, String);
            if (r === 0) return { ok: true, pa: Number(pa[0]) };
            return { ok: false, fault: (FAULTS[r - 1] ?? `DIRTYSPEC_FAULT code ${r}`) as DmaOutcome & { ok: false } extends { fault: infer F } ? F : never };
          };
        return {
          readRegisters: async () => {
            const i0 = new Uint32Array(1);
            const i3 = new Uint32Array(1);
            this.call('smmu_hw_read_registers', () => f.readRegisters(h, i0, i3));
            return { idr0: i0[0]!, idr3: i3[0]! };
          },
          attachStream: async (streamId, cd) => void this.call(`smmu_hw_attach_stream(${streamId}, ${hex(cd)})`, () => f.attachStream(h, streamId, cd)),
          detachStream: async (streamId) => void this.call(`smmu_hw_detach_stream(${streamId})`, () => f.detachStream(h, streamId)),
          submit: async (commands) => {
            const b = encodeCommands(commands);
            this.call(`smmu_hw_submit(${commands.map((c) => c.op).join(', ')})`, () => f.submit(h, b, commands.length));
          },
          dmaRead: dma(f.dmaRead, 'dma_read'),
          dmaWrite: dma(f.dmaWrite, 'dma_write'),
        };
      },
    };
  }

  private smmuDriver(): SmmuDriverAdapter {
    const f = this.funcs('smmu-driver');
    const slot = this.slot('smmu-driver');
    const native = this.native();
    return {
      profile: 'smmu-driver',
      name: this.name,
      create: async (memory, smmu, config) => {
        this.replace('smmu-driver');
        slot.memory = memory;
        slot.port = smmu;
        const c = Buffer.alloc(LAYOUT.smmuDriverConfig.size);
        c.writeUInt32LE(config.asid, LAYOUT.smmuDriverConfig.asid);
        c.writeUInt32LE(smmu.idr0 >>> 0, LAYOUT.smmuDriverConfig.idr0);
        c.writeUInt32LE(smmu.idr3 >>> 0, LAYOUT.smmuDriverConfig.idr3);
        c.writeUInt8(config.dirtyCapable ? 1 : 0, LAYOUT.smmuDriverConfig.dirtyCapable);
        c.writeUInt8(config.pageGranular ? 1 : 0, LAYOUT.smmuDriverConfig.pageGranular);
        const out = new BigUint64Array(1);
        const what = `smmu_driver_create(asid ${config.asid}, dirty_capable ${config.dirtyCapable}, page_granular ${config.pageGranular})`;
        const h = this.instance(
          what,
          this.call(what, () => f.create(slot.kit, c, out) as number),
          out,
        );
        this.replace('smmu-driver', () => this.call('smmu_driver_destroy', () => f.destroy(h)));
        const errno = (what: string, fn: () => unknown) => this.call(what, fn as () => number, String);
        return {
          map: async (iova, paddr, size, prot) => errno(`smmu_driver_map(${hex(iova)}, ${hex(paddr)}, ${hex(size)}, ${prot})`, () => f.map(h, iova, paddr, size, prot)),
          unmap: async (iova, size) => {
            const what = `smmu_driver_unmap(${hex(iova)}, ${hex(size)})`;
            const b = this.bitmapArg(native, iova, size, Math.min(bytesFor(size), MAX_BITMAP_BYTES));
            const unmapped = num(
              this.call(
                what,
                () => f.unmap(h, iova, size, b),
                (r) => hex(u64(r)),
              ),
            );
            return { unmapped, dirty: this.bitmapResult(what, native, b, false)! };
          },
          splitBlock: async (iova) => errno(`smmu_driver_split_block(${hex(iova)})`, () => f.splitBlock(h, iova)),
          mergePages: async (iova, level) => errno(`smmu_driver_merge_pages(${hex(iova)}, ${level})`, () => f.mergePages(h, iova, level)),
          readAndClearDirty: async (iova, size, flags) => {
            const what = `smmu_driver_read_and_clear_dirty(${hex(iova)}, ${hex(size)}, ${flags})`;
            const b = this.bitmapArg(native, iova, Math.max(0, size), Math.min(bytesFor(Math.max(0, size)), MAX_BITMAP_BYTES));
            const r = this.call(what, () => f.readAndClearDirty(h, iova, size, flags, b) as number, String);
            return { errno: r, dirty: this.bitmapResult(what, native, b, false)! };
          },
          setDirtyTracking: async (enable) => errno(`smmu_driver_set_dirty_tracking(${enable})`, () => f.setDirtyTracking(h, enable)),
          attach: async (streamId) => errno(`smmu_driver_attach(${streamId})`, () => f.attach(h, streamId)),
        };
      },
    };
  }

  private iovaBitmap(): IovaBitmapAdapter {
    const f = this.funcs('iova-bitmap');
    const slot = this.slot('iova-bitmap');
    return {
      profile: 'iova-bitmap',
      name: this.name,
      create: async (buffer, args) => {
        this.replace('iova-bitmap');
        slot.buffer = buffer;
        const L = LAYOUT.iovaBitmapArgs;
        const a = Buffer.alloc(L.size);
        a.writeBigUInt64LE(w64(args.iova), L.iova);
        a.writeBigUInt64LE(w64(args.length), L.length);
        a.writeBigUInt64LE(w64(args.pageSize), L.pageSize);
        a.writeBigInt64LE(BigInt(args.offset), L.offset);
        a.writeBigInt64LE(BigInt(args.bitmapSize), L.bitmapSize);
        a.writeBigInt64LE(BigInt(buffer.size), L.bufferSize);
        a.writeBigInt64LE(BigInt(args.maxPinnedPages), L.maxPinnedPages);
        const out = new BigUint64Array(1);
        const what = `iova_bitmap_create(iova ${hex(args.iova)}, length ${hex(args.length)}, page_size ${hex(args.pageSize)}, offset ${args.offset})`;
        const ret = this.call(what, () => f.create(slot.kit, a, out) as number, String);
        if (ret !== 0) return ret;
        if (out[0] === 0n) throw new Undecided(`${what} returned 0 but no instance (*instance is NULL)`);
        const h = out[0]!;
        this.replace('iova-bitmap', () => this.call('iova_bitmap_destroy', () => f.destroy(h)));
        return {
          set: async (iova, length) => this.call(`iova_bitmap_set(${hex(iova)}, ${hex(length)})`, () => f.set(h, w64(iova), w64(length)) as number, String),
          free: async () => {
            this.live.delete('iova-bitmap'); // released by free: no destroy after it
            this.call('iova_bitmap_free', () => f.free(h));
          },
        };
      },
    };
  }

  private vfioType1(): VfioType1Adapter {
    const f = this.funcs('vfio-type1');
    const slot = this.slot('vfio-type1');
    const native = this.native();
    const dataNative = this.native();
    const encodeBitmap = (b: VfioBitmapArg, into: Buffer, at: number) => {
      into.writeBigUInt64LE(w64(b.pgsize), at + LAYOUT.vfioBitmap.pgsize);
      into.writeBigUInt64LE(w64(b.size), at + LAYOUT.vfioBitmap.sz);
      if (b.data !== undefined) {
        const ptr = dataNative.reserve(b.data.length);
        dataNative.view(b.data.length).set(b.data);
        into.writeBigUInt64LE(ptr, at + LAYOUT.vfioBitmap.data);
        into.writeBigUInt64LE(BigInt(b.data.length), at + LAYOUT.vfioBitmap.dataLen);
      }
    };
    // The bitmap an answer may hold: the bytes the range needs, at most 256 MiB.
    const capFor = (size: bigint) => (size > BigInt(MAX_BITMAP_BYTES) * 8n * 4096n ? MAX_BITMAP_BYTES : bytesFor(Number(size)));
    return {
      profile: 'vfio-type1',
      name: this.name,
      create: async (config) => {
        this.replace('vfio-type1');
        const c = Buffer.alloc(LAYOUT.vfioConfig.size);
        c.writeUInt8(config.hwDirty ? 1 : 0, LAYOUT.vfioConfig.hwDirty);
        c.writeUInt32LE(config.dmaEntryLimit ?? 65535, LAYOUT.vfioConfig.dmaEntryLimit);
        const out = new BigUint64Array(1);
        const limit = new BigUint64Array(1);
        const what = `vfio_type1_create(hw_dirty ${config.hwDirty})`;
        const h = this.instance(
          what,
          this.call(what, () => f.create(slot.kit, c, out, limit) as number),
          out,
        );
        this.replace('vfio-type1', () => this.call('vfio_type1_destroy', () => f.destroy(h)));
        return {
          vaddrLimit: limit[0]!,
          checkExtension: async (ext) => this.call(`vfio_type1_check_extension(${ext})`, () => f.checkExtension(h, ext) as number, String),
          getInfo: async () => {
            const L = LAYOUT.vfioInfo;
            const i = Buffer.alloc(L.size);
            this.call('vfio_type1_get_info', () => f.getInfo(h, i));
            const n = i.readUInt32LE(L.nIovaRanges);
            if (n > 16) throw new Undecided(`vfio_type1_get_info answered n_iova_ranges ${n}: at most DIRTYSPEC_MAX_IOVA_RANGES (16)`);
            return {
              errno: i.readInt32LE(L.errno),
              flags: i.readUInt32LE(L.flags),
              iovaPgsizes: i.readBigUInt64LE(L.iovaPgsizes),
              migration: { flags: i.readUInt32LE(L.migrationFlags), pgsizeBitmap: i.readBigUInt64LE(L.migrationPgsizeBitmap), maxDirtyBitmapSize: i.readBigUInt64LE(L.maxDirtyBitmapSize) },
              dmaAvail: i.readUInt32LE(L.dmaAvail),
              iovaRanges: Array.from({ length: n }, (_, k) => ({ start: i.readBigUInt64LE(L.ranges + 16 * k), end: i.readBigUInt64LE(L.ranges + 16 * k + 8) })),
            };
          },
          mapDma: async (flags, vaddr, iova, size) => ({ errno: this.call(`vfio_type1_map_dma(${flags}, ${hex(vaddr)}, ${hex(iova)}, ${hex(size)})`, () => f.mapDma(h, flags, w64(vaddr), w64(iova), w64(size)) as number, String) }),
          unmapDma: async (flags, iova, size, bm) => {
            const what = `vfio_type1_unmap_dma(${flags}, ${hex(iova)}, ${hex(size)})`;
            let arg: Buffer | null = null;
            if (bm !== undefined) {
              arg = Buffer.alloc(LAYOUT.vfioBitmap.size);
              encodeBitmap(bm, arg, 0);
            }
            const unmapped = new BigUint64Array(1);
            const b = this.bitmapArg(native, iova, size, capFor(size));
            const errno = this.call(what, () => f.unmapDma(h, flags, w64(iova), w64(size), arg, unmapped, b) as number, String);
            const bitmap = this.bitmapResult(what, native, b, true);
            return { errno, unmapped: unmapped[0]!, ...(bitmap === undefined ? {} : { bitmap }) };
          },
          dirtyPages: async (flags, range) => {
            const what = `vfio_type1_dirty_pages(${flags}${range === undefined ? '' : `, ${hex(range.iova)}, ${hex(range.size)}`})`;
            let r: Buffer | null = null;
            if (range !== undefined) {
              r = Buffer.alloc(LAYOUT.vfioRange.size);
              r.writeBigUInt64LE(w64(range.iova), LAYOUT.vfioRange.iova);
              r.writeBigUInt64LE(w64(range.size), LAYOUT.vfioRange.sz);
              encodeBitmap(range.bitmap, r, LAYOUT.vfioRange.bitmap);
            }
            const b = this.bitmapArg(native, range?.iova ?? 0n, range?.size ?? 0n, range === undefined ? 0 : capFor(range.size));
            const errno = this.call(what, () => f.dirtyPages(h, flags, r, b) as number, String);
            const bitmap = this.bitmapResult(what, native, b, true);
            return { errno, ...(bitmap === undefined ? {} : { bitmap }) };
          },
          deviceDmaWrite: async (iova) => {
            const r = this.call(`vfio_type1_device_dma_write(${hex(iova)})`, () => f.deviceDmaWrite(h, w64(iova)) as number, String);
            if (r !== 0 && r !== 1) throw new Undecided(`vfio_type1_device_dma_write(${hex(iova)}) returned ${r}: 1 (went through) or 0 (faulted)`);
            return { ok: r === 1 };
          },
        };
      },
    };
  }

  /** Destroys the live instances (no callbacks) and releases the callbacks and native buffers. The library stays mapped. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of [...this.live.keys()]) {
      try {
        this.replace(p);
      } catch {
        /* the verdict is decided by then */
      }
    }
    for (const r of this.registered) koffi.unregister(r);
    for (const s of this.slots) if (s !== undefined) koffi.free(s.kit);
    for (const n of this.natives) n.release();
  }
}

const CMD_OPS: Record<SmmuCommand['op'], number> = { CMD_TLBI_NH_VA: 1, CMD_TLBI_NH_ASID: 2, CMD_CFGI_CD: 3, CMD_SYNC: 4 };

function encodeCommands(commands: readonly SmmuCommand[]): Buffer {
  const L = LAYOUT.cmd;
  const b = Buffer.alloc(Math.max(1, commands.length) * L.size);
  commands.forEach((c, i) => {
    const at = i * L.size;
    b.writeUInt32LE(CMD_OPS[c.op], at + L.op);
    if (c.op === 'CMD_CFGI_CD') b.writeUInt32LE(c.streamId, at + L.streamId);
    if (c.op === 'CMD_TLBI_NH_VA' || c.op === 'CMD_TLBI_NH_ASID') b.writeUInt32LE(c.asid, at + L.asid);
    if (c.op === 'CMD_TLBI_NH_VA') {
      b.writeBigUInt64LE(BigInt(c.iova), at + L.iova);
      b.writeBigUInt64LE(BigInt(c.size), at + L.sz);
    }
  });
  return b;
}

const MAX_COMMANDS = 4096;

/** The commands of a submit callback; a malformed one is Undecided, as the protocol's schema makes it. */
function decodeCommands(ptr: Ptr | null, n: number): SmmuCommand[] {
  if (n === 0) return [];
  if (ptr === null || ptr === 0n) throw new Undecided(`submit: ${n} commands at NULL`);
  if (n > MAX_COMMANDS) throw new Undecided(`submit: ${n} commands, more than ${MAX_COMMANDS} in one call`);
  const L = LAYOUT.cmd;
  const b = Buffer.from(koffi.view(ptr, n * L.size));
  const out: SmmuCommand[] = [];
  for (let i = 0; i < n; i++) {
    const at = i * L.size;
    const op = b.readUInt32LE(at + L.op);
    const asid = b.readUInt32LE(at + L.asid);
    if ((op === 1 || op === 2) && asid > 0xffff) throw new Undecided(`submit: command ${i} has asid ${asid}: an ASID is 16 bits`);
    switch (op) {
      case 1: {
        const iova = b.readBigUInt64LE(at + L.iova);
        const size = b.readBigUInt64LE(at + L.sz);
        if (iova > BigInt(Number.MAX_SAFE_INTEGER) || size > BigInt(Number.MAX_SAFE_INTEGER)) throw new Undecided(`submit: command ${i} CMD_TLBI_NH_VA iova ${hex(iova)} size ${hex(size)} out of range`);
        out.push({ op: 'CMD_TLBI_NH_VA', asid, iova: Number(iova), size: Number(size) });
        break;
      }
      case 2:
        out.push({ op: 'CMD_TLBI_NH_ASID', asid });
        break;
      case 3:
        out.push({ op: 'CMD_CFGI_CD', streamId: b.readUInt32LE(at + L.streamId) });
        break;
      case 4:
        out.push({ op: 'CMD_SYNC' });
        break;
      default:
        throw new Undecided(`submit: command ${i} has op ${op}, not one of DIRTYSPEC_CMD_* (1 to 4)`);
    }
  }
  return out;
}
