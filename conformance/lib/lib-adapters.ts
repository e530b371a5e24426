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
//
// ABI versions: the kit offers version 4 and, each time dirtyspec_hello refuses one
// (-EPROTO), the next older; a library gets the struct dirtyspec_kit it was built for
// (version 1: abi 1, size 136; version 2 appended members, size 200; version 3 appended
// none; version 4 appended signal_pending, size 208) and may name its version's profiles only. A library that accepts the offer but
// answers an older version the kit has (its hello does not look at kit_abi) is taken at
// its word: that version.
import koffi from 'koffi';
import type { Adapter, DirtyBitmap, DmaOutcome, IovaBitmapAdapter, KitMemory, KitSmmuPort, KitUserBuffer, ProfileName, SmmuCommand, SmmuDriverAdapter, SmmuHwAdapter, VfioBitmapArg, VfioType1Adapter } from '../adapters/types.ts';
import { FAULTS, PROFILES } from '../adapters/types.ts';
import { Undecided, callWeight } from '../engine/limits.ts';
import { Violation } from '../../model/violation.ts';
import type { CollectorHostCalls, DirtyRingCollectorAdapter, KitRingMemory } from '../profiles/dirty-ring-collector/types.ts';
import type { KvmDirtyLogAdapter } from '../profiles/kvm-dirty-log/adapter.ts';
import type { KitTask, KvmDirtyRingAdapter } from '../profiles/kvm-dirty-ring/types.ts';
import { printable } from '../protocol/printable.ts';

/** The kit's ABI version (dirtyspec.h DIRTYSPEC_ABI_VERSION). */
export const ABI_VERSION = 4;
/** The versions the kit loads, the one it offers first first. */
export const ABI_VERSIONS = [4, 3, 2, 1] as const;
type AbiVersion = (typeof ABI_VERSIONS)[number];

/** DIRTYSPEC_PROFILE_* bits: the profiles the C ABI has (1 << 5, kvm-dirty-ring, since version 3). */
export const PROFILE_BITS: Partial<Record<ProfileName, number>> = { 'smmu-hw': 1, 'smmu-driver': 2, 'iova-bitmap': 4, 'vfio-type1': 8, 'kvm-dirty-log': 16, 'kvm-dirty-ring': 32, 'dirty-ring-collector': 64 };
const V1_PROFILES: readonly ProfileName[] = ['smmu-hw', 'smmu-driver', 'iova-bitmap', 'vfio-type1'];
const V2_PROFILES: readonly ProfileName[] = [...V1_PROFILES, 'kvm-dirty-log', 'dirty-ring-collector'];
/** The profiles each ABI version has. */
const VERSION_PROFILES: Record<AbiVersion, readonly ProfileName[]> = { 1: V1_PROFILES, 2: V2_PROFILES, 3: [...V2_PROFILES, 'kvm-dirty-ring'], 4: [...V2_PROFILES, 'kvm-dirty-ring'] };
/** sizeof(struct dirtyspec_kit) in each version. */
const KIT_SIZE: Record<AbiVersion, number> = { 1: 136, 2: 200, 3: 200, 4: 208 };

/** Byte offsets and sizes of dirtyspec.h's structs on LP64 (checked against the C compiler by the tests). */
export const LAYOUT = {
  /** Version 4's struct; each earlier version's is its first KIT_SIZE bytes (version 1's: the callbacks up to fill_bytes; versions 2 and 3: up to get_dirty_log). */
  kit: { size: 208, sizeV1: 136, abi: 0, sizeField: 4, ctx: 8, callbacks: 16 },
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
  kvmConfig: { size: 3, hwDirty: 0, eagerSplit: 1, dirtyRingExclusive: 2 },
  kvmVmInfo: { size: 24, userMemSlots: 0, addressSpaces: 4, readonlyMem: 8, userAddressLimit: 16 },
  kvmRegion: { size: 32, slot: 0, flags: 4, guestPhysAddr: 8, memorySize: 16, userspaceAddr: 24 },
  memslot: { size: 8, slot: 0, npages: 4 },
  collectorConfig: { size: 16, withBitmap: 0, nMemslots: 4, memslots: 8 },
  // ABI version 3
  kvmRingConfig: { size: 4, arch: 0 },
  guestWrite: { size: 16, slot: 0, reserved: 4, offset: 8 },
} as const;

/** DIRTYSPEC_KVM_ARCH_* (struct dirtyspec_kvm_dirty_ring_config.arch). */
const KVM_ARCH = { x86: 1, arm64: 2 } as const;

/** The order of the function pointers in struct dirtyspec_kit. */
const CALLBACKS = [
  'load',
  'store',
  'cmpxchg',
  'xchg',
  'fetch_or',
  'fetch_and',
  'alloc_frame',
  'free_frame',
  'attach_stream',
  'detach_stream',
  'submit',
  'pin',
  'unpin',
  'or_byte',
  'fill_bytes',
  // version 2
  'vcpu_between',
  'ring_load32',
  'ring_load64',
  'ring_store32',
  'ring_store64',
  'reset_dirty_rings',
  'copy_page',
  'get_dirty_log',
  // version 4
  'signal_pending',
] as const;
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
  vcpu_between: 'uint32_t dirtyspec_vcpu_between_cb(void *ctx, void *gpas, uint32_t max)',
  ring_load32: 'uint32_t dirtyspec_ring_load32_cb(void *ctx, uint64_t addr, int order)',
  ring_load64: 'uint64_t dirtyspec_ring_load64_cb(void *ctx, uint64_t addr, int order)',
  ring_store32: 'void dirtyspec_ring_store32_cb(void *ctx, uint64_t addr, uint32_t value, int order)',
  ring_store64: 'void dirtyspec_ring_store64_cb(void *ctx, uint64_t addr, uint64_t value, int order)',
  reset_dirty_rings: 'int32_t dirtyspec_reset_dirty_rings_cb(void *ctx)',
  copy_page: 'void dirtyspec_copy_page_cb(void *ctx, uint32_t slot, uint64_t offset)',
  get_dirty_log: 'uint64_t dirtyspec_get_dirty_log_cb(void *ctx, uint32_t slot, void *bitmap, uint64_t bytes)',
  signal_pending: 'bool dirtyspec_signal_pending_cb(void *ctx)',
};

/** The callbacks set in each profile's struct dirtyspec_kit (the others are NULL). */
const USED: Partial<Record<ProfileName, readonly CallbackName[]>> = {
  'smmu-hw': CALLBACKS.slice(0, 8),
  'smmu-driver': CALLBACKS.slice(0, 11),
  'iova-bitmap': CALLBACKS.slice(11, 15),
  'vfio-type1': [],
  'kvm-dirty-log': ['vcpu_between'],
  'dirty-ring-collector': ['ring_load32', 'ring_load64', 'ring_store32', 'ring_store64', 'reset_dirty_rings', 'copy_page', 'get_dirty_log'],
  'kvm-dirty-ring': ['ring_load32', 'ring_load64', 'ring_store32', 'ring_store64', 'signal_pending'],
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
  'kvm-dirty-log': {
    create: 'int dirtyspec_kvm_dirty_log_create(void *kit, void *config, void *instance, void *info)',
    setUserMemoryRegion: 'int dirtyspec_kvm_dirty_log_set_user_memory_region(void *vm, void *region)',
    enableCap: 'int dirtyspec_kvm_dirty_log_enable_cap(void *vm, uint32_t cap, uint32_t flags, uint64_t args0)',
    checkExtension: 'int dirtyspec_kvm_dirty_log_check_extension(void *vm, uint32_t cap)',
    getDirtyLog: 'int dirtyspec_kvm_dirty_log_get_dirty_log(void *vm, uint32_t slot, void *bitmap, uint64_t bitmap_bytes, void *len)',
    clearDirtyLog: 'int dirtyspec_kvm_dirty_log_clear_dirty_log(void *vm, uint32_t slot, uint64_t first_page, uint32_t num_pages, void *bitmap, uint64_t bitmap_bytes)',
    vcpuWrite: 'int dirtyspec_kvm_dirty_log_vcpu_write(void *vm, uint64_t gpa)',
    destroy: 'void dirtyspec_kvm_dirty_log_destroy(void *vm)',
  },
  'dirty-ring-collector': {
    create: 'int dirtyspec_dirty_ring_collector_create(void *kit, void *config, void *instance)',
    addRing: 'int dirtyspec_dirty_ring_collector_add_ring(void *collector, uint64_t base, uint32_t entries)',
    sync: 'int dirtyspec_dirty_ring_collector_sync(void *collector, bool final)',
    destroy: 'void dirtyspec_dirty_ring_collector_destroy(void *collector)',
  },
  'kvm-dirty-ring': {
    cpuDirtyLogSize: 'uint32_t dirtyspec_kvm_dirty_ring_cpu_dirty_log_size(void)',
    create: 'int dirtyspec_kvm_dirty_ring_create(void *kit, void *config, void *instance)',
    checkExtension: 'int dirtyspec_kvm_dirty_ring_check_extension(void *vm, uint32_t cap)',
    enableCap: 'int dirtyspec_kvm_dirty_ring_enable_cap(void *vm, uint32_t cap, uint32_t flags, uint64_t args0)',
    createVcpu: 'int dirtyspec_kvm_dirty_ring_create_vcpu(void *vm, uint64_t ring_base)',
    setMemslot: 'int dirtyspec_kvm_dirty_ring_set_memslot(void *vm, uint32_t as_id, uint32_t id, uint32_t npages, bool log_dirty)',
    run: 'int dirtyspec_kvm_dirty_ring_run(void *vm, uint32_t vcpu, void *writes, uint32_t n, void *done)',
    writeWithoutVcpu: 'void dirtyspec_kvm_dirty_ring_write_without_vcpu(void *vm, uint32_t slot, uint64_t offset)',
    resetDirtyRings: 'int dirtyspec_kvm_dirty_ring_reset_dirty_rings(void *vm)',
    getDirtyLog: 'int dirtyspec_kvm_dirty_ring_get_dirty_log(void *vm, uint32_t slot, void *bitmap, uint64_t bytes)',
    writeProtectedPages: 'int dirtyspec_kvm_dirty_ring_write_protected_pages(void *vm, uint32_t slot, void *bitmap, uint64_t bytes)',
    destroy: 'void dirtyspec_kvm_dirty_ring_destroy(void *vm)',
  },
} as const;

/**
 * Functions a library may leave out: the kit looks each up, and without it the adapter
 * lacks the method (its requirements are not reached) instead of the run being undecided.
 */
const OPTIONAL_FUNCTIONS = {
  'vfio-type1': {
    dmaRw: 'int dirtyspec_vfio_type1_dma_rw(void *container, uint64_t iova, uint64_t length, bool write)',
    detachDevice: 'int dirtyspec_vfio_type1_detach_device(void *container)',
    attachDevice: 'int dirtyspec_vfio_type1_attach_device(void *container)',
  },
  'kvm-dirty-ring': {
    checksSignals: 'bool dirtyspec_kvm_dirty_ring_checks_signals(void)',
  },
  'kvm-dirty-log': {
    kvmWrite: 'void dirtyspec_kvm_dirty_log_kvm_write(void *vm, uint64_t gpa)',
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
  between?: () => readonly bigint[];
  ring?: KitRingMemory;
  /** kvm-dirty-ring: the task making the VM's ioctls (signal_pending). */
  task?: KitTask;
  host?: CollectorHostCalls;
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
  /** The ABI version the library's hello answered. */
  readonly abi: AbiVersion;
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
    // Each version the kit has, newest first, until the library accepts one (-EPROTO: it refuses that one).
    let offered: AbiVersion | undefined;
    const refused: string[] = [];
    for (const v of ABI_VERSIONS) {
      h.fill(0);
      const ret = this.call(`hello(${v})`, () => hello(v, h)) as number;
      if (ret === 0) {
        offered = v;
        break;
      }
      refused.push(`dirtyspec_hello(${v}) returned ${ret}`);
      if (ret !== -71) break; // only -EPROTO asks for another version
    }
    if (offered === undefined) throw new Undecided(`${path}: ${refused.join(', ')}: the library refuses this kit's ABI versions (${ABI_VERSIONS.join(', ')}; -EPROTO refuses one version, and the kit then offers the next)`);
    const abi = h.readUInt32LE(LAYOUT.hello.abi);
    // An older version the kit has, answered to a newer offer: a library whose hello does not look at kit_abi (it answers the version it was built for).
    const older = ABI_VERSIONS.find((v) => v === abi && v < offered!);
    if (abi !== offered && older === undefined)
      throw new Undecided(`${path}: dirtyspec_hello(${offered}): the library implements ABI ${abi}; this kit implements ${ABI_VERSIONS.join(', ')} (dirtyspec.h, DIRTYSPEC_ABI_VERSION) and offered ${offered}`);
    this.abi = older ?? offered;
    const namePtr = h.readBigUInt64LE(LAYOUT.hello.name);
    const name = namePtr === 0n ? '' : (koffi.decode(namePtr, 'char', -1) as string);
    if (name.length < 1 || name.length > 200) throw new Undecided(`${path}: dirtyspec_hello: name must be 1 to 200 characters, got ${name.length}`);
    this.name = printable(name);
    const bits = h.readUInt32LE(LAYOUT.hello.profiles);
    const known = VERSION_PROFILES[this.abi].reduce((a, p) => a | (PROFILE_BITS[p] ?? 0), 0);
    if (bits === 0 || (bits & ~known) !== 0) throw new Undecided(`${path}: dirtyspec_hello: profiles ${hex(bits)} must be a non-empty set of ABI version ${this.abi}'s DIRTYSPEC_PROFILE_* bits (${hex(known)})`);
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

  /** An optional function (OPTIONAL_FUNCTIONS), or undefined when the library does not export it. */
  private optionalFunc(proto: string): Fn | undefined {
    try {
      return this.lib.func(proto) as Fn;
    } catch {
      return undefined;
    }
  }

  /**
   * One call into the library: the log lines, the time limit (`weight` times --timeout:
   * callWeight), and a callback's failure rethrown. The '>' line of a weighted call starts
   * with its limit, `[limit MS ms] `, so the parent's kill timer (run-lib.ts) allows it too.
   */
  call<T>(what: string, fn: () => T, result?: (r: T) => string, weight = 1): T {
    this.stats.calls++;
    const limit = Math.round(this.options.timeoutMs * weight);
    this.options.onCall?.('>', weight === 1 ? what : `[limit ${limit} ms] ${what}`);
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
    if (ms > limit) throw new Undecided(`${what} did not answer within ${limit} ms (it took ${Math.round(ms)} ms)`);
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
    const ring = (ctx: unknown) => {
      const r = slot(ctx)?.ring;
      if (r === undefined) throw new Undecided('a ring callback outside a dirty-ring-collector or kvm-dirty-ring instance');
      return r;
    };
    const host = (ctx: unknown) => {
      const h = slot(ctx)?.host;
      if (h === undefined) throw new Undecided('a KVM callback outside a dirty-ring-collector instance');
      return h;
    };
    /** A ring field's address: a safe integer (the kit's memory model checks alignment and width). */
    const addr = (a: unknown) => {
      const v = u64(a);
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Undecided(`ring address ${hex(v)} is outside the kit's ring memory`);
      return Number(v);
    };
    const loadOrder = (o: unknown, what: string, a: unknown) => {
      if (o === 0) return 'relaxed' as const;
      if (o === 2) return 'acquire' as const;
      throw new Undecided(`${what}(${hex(u64(a))}): memory order ${String(o)}: a ring load is DIRTYSPEC_ORDER_RELAXED (0) or DIRTYSPEC_ORDER_ACQUIRE (2)`);
    };
    const storeOrder = (o: unknown, what: string, a: unknown) => {
      if (o === 0) return 'relaxed' as const;
      if (o === 3) return 'release' as const;
      throw new Undecided(`${what}(${hex(u64(a))}): memory order ${String(o)}: a ring store is DIRTYSPEC_ORDER_RELAXED (0) or DIRTYSPEC_ORDER_RELEASE (3)`);
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
      vcpu_between: (ctx, gpas, max) => {
        const b = slot(ctx)?.between;
        if (b === undefined) throw new Undecided('vcpu_between outside a kvm-dirty-log instance');
        const due = b();
        if (due.length > (max as number)) throw new Undecided(`vcpu_between: ${due.length} racing guest writes are due at this access, more than max ${String(max)} (pass DIRTYSPEC_KVM_MAX_RACING_WRITES, 64)`);
        if (due.length === 0) return 0;
        if (gpas === null || gpas === 0n) throw new Undecided(`vcpu_between: ${due.length} racing guest writes are due but gpas is NULL`);
        const out = Buffer.from(koffi.view(gpas as Ptr, 8 * due.length));
        due.forEach((g, i) => out.writeBigUInt64LE(w64(g), 8 * i));
        return due.length;
      },
      ring_load32: (ctx, a, o) => ring(ctx).load32(addr(a), loadOrder(o, 'ring_load32', a)),
      ring_load64: (ctx, a, o) => ring(ctx).load64(addr(a), loadOrder(o, 'ring_load64', a)),
      ring_store32: (ctx, a, v, o) => ring(ctx).store32(addr(a), v as number, storeOrder(o, 'ring_store32', a)),
      ring_store64: (ctx, a, v, o) => ring(ctx).store64(addr(a), u64(v), storeOrder(o, 'ring_store64', a)),
      reset_dirty_rings: (ctx) => {
        try {
          return host(ctx).resetDirtyRings();
        } catch (e) {
          // As over the protocol (dirty-ring-collector/wire.ts): the profile keeps the
          // violation the kit's KVM found in the marks and charges it when the sync returns.
          if (e instanceof Violation) return -22;
          throw e;
        }
      },
      copy_page: (ctx, s, offset) => {
        const o = u64(offset);
        if (o > 0xffff_ffffn) throw new Undecided(`copy_page(${hex(s as number)}, ${hex(o)}): the offset is past any memslot`);
        host(ctx).copyPage(s as number, Number(o));
      },
      signal_pending: (ctx) => {
        const t = slot(ctx)?.task;
        if (t === undefined) throw new Undecided('signal_pending outside a kvm-dirty-ring instance');
        return t.signalPending();
      },
      get_dirty_log: (ctx, s, bitmap, bytes) => {
        const b = host(ctx).getDirtyLog(s as number);
        if (u64(bytes) < BigInt(b.length)) throw new Undecided(`get_dirty_log(${hex(s as number)}): the memslot's bitmap is ${b.length} bytes; the library gave ${String(bytes)}`);
        if (b.length > 0) new Uint8Array(koffi.view(bitmap as Ptr, b.length)).set(b);
        return BigInt(b.length);
      },
    };
    const pointers: Ptr[] = [];
    for (const name of CALLBACKS) {
      const fn = impl[name];
      // What the library gets back after a callback failed: it must finish the call, touching nothing.
      const ret = PROTOS[name].split(' ')[0];
      const fallback = ret === 'bool' ? false : ret === 'void' ? undefined : ret === 'uint64_t' ? 0n : 0;
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
    // One struct dirtyspec_kit per profile (ctx = its index), for the library's lifetime,
    // of the version the library answered (version 1's is version 2's first 136 bytes;
    // version 3's is version 2's).
    const size = KIT_SIZE[this.abi];
    PROFILES.forEach((p, i) => {
      const kit = koffi.alloc('uint8_t', LAYOUT.kit.size) as Ptr;
      const b = Buffer.alloc(LAYOUT.kit.size);
      b.writeUInt32LE(this.abi, LAYOUT.kit.abi);
      b.writeUInt32LE(size, LAYOUT.kit.sizeField);
      b.writeBigUInt64LE(BigInt(i + 1), LAYOUT.kit.ctx);
      CALLBACKS.forEach((c, j) => b.writeBigUInt64LE(USED[p]?.includes(c) === true && LAYOUT.kit.callbacks + 8 * j < size ? pointers[j]! : 0n, LAYOUT.kit.callbacks + 8 * j));
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
      case 'kvm-dirty-log':
        return this.kvmDirtyLog();
      case 'dirty-ring-collector':
        return this.dirtyRingCollector();
      case 'kvm-dirty-ring':
        return this.kvmDirtyRing();
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
        const ret = this.call(what, () => f.create(slot.kit, c, out) as number);
        // A negative errno is the allocation's refusal, which the contract judges (linux-upstream's CREATE-U1: iommufd_hwpt_paging_alloc's -EOPNOTSUPP).
        if (ret < 0) return ret;
        const h = this.instance(what, ret, out);
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
    const dmaRw = this.optionalFunc(OPTIONAL_FUNCTIONS['vfio-type1'].dmaRw);
    // The device's group out and back in: both, or neither (one alone is not offered).
    const detachDevice = this.optionalFunc(OPTIONAL_FUNCTIONS['vfio-type1'].detachDevice);
    const attachDevice = this.optionalFunc(OPTIONAL_FUNCTIONS['vfio-type1'].attachDevice);
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
          mapDma: async (flags, vaddr, iova, size) => ({
            errno: this.call(`vfio_type1_map_dma(${flags}, ${hex(vaddr)}, ${hex(iova)}, ${hex(size)})`, () => f.mapDma(h, flags, w64(vaddr), w64(iova), w64(size)) as number, String, callWeight(size)),
          }),
          unmapDma: async (flags, iova, size, bm) => {
            const what = `vfio_type1_unmap_dma(${flags}, ${hex(iova)}, ${hex(size)})`;
            let arg: Buffer | null = null;
            if (bm !== undefined) {
              arg = Buffer.alloc(LAYOUT.vfioBitmap.size);
              encodeBitmap(bm, arg, 0);
            }
            const unmapped = new BigUint64Array(1);
            const b = this.bitmapArg(native, iova, size, capFor(size));
            const errno = this.call(what, () => f.unmapDma(h, flags, w64(iova), w64(size), arg, unmapped, b) as number, String, callWeight(size));
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
          ...(dmaRw === undefined
            ? {}
            : {
                dmaRw: async (iova: bigint, length: number, write: boolean) => ({
                  errno: this.call(`vfio_type1_dma_rw(${hex(iova)}, ${length}, ${write ? 'write' : 'read'})`, () => dmaRw(h, w64(iova), BigInt(length), write) as number, String),
                }),
              }),
          ...(detachDevice === undefined || attachDevice === undefined
            ? {}
            : {
                detachDevice: async () => ({ errno: this.call('vfio_type1_detach_device()', () => detachDevice(h) as number, String) }),
                attachDevice: async () => ({ errno: this.call('vfio_type1_attach_device()', () => attachDevice(h) as number, String) }),
              }),
        };
      },
    };
  }

  private kvmDirtyLog(): KvmDirtyLogAdapter {
    const f = this.funcs('kvm-dirty-log');
    const slot = this.slot('kvm-dirty-log');
    const native = this.native();
    const errno = (what: string, fn: () => unknown) => this.call(what, fn as () => number, String);
    // Version 4: KVM's own writes without a vCPU (optional).
    const kvmWrite = this.abi >= 4 ? this.optionalFunc(OPTIONAL_FUNCTIONS['kvm-dirty-log'].kvmWrite) : undefined;
    return {
      profile: 'kvm-dirty-log',
      name: this.name,
      create: async (config, hooks) => {
        this.replace('kvm-dirty-log');
        slot.between = hooks.between;
        const L = LAYOUT.kvmConfig;
        const c = Buffer.alloc(L.size);
        c.writeUInt8(config.hwDirty ? 1 : 0, L.hwDirty);
        c.writeUInt8(config.eagerSplit ? 1 : 0, L.eagerSplit);
        c.writeUInt8(config.dirtyRingExclusive ? 1 : 0, L.dirtyRingExclusive);
        const I = LAYOUT.kvmVmInfo;
        const info = Buffer.alloc(I.size);
        const out = new BigUint64Array(1);
        const what = `kvm_dirty_log_create(hw_dirty ${config.hwDirty}, eager_split ${config.eagerSplit}, dirty_ring_exclusive ${config.dirtyRingExclusive})`;
        const h = this.instance(
          what,
          this.call(what, () => f.create(slot.kit, c, out, info) as number),
          out,
        );
        this.replace('kvm-dirty-log', () => this.call('kvm_dirty_log_destroy', () => f.destroy(h)));
        return {
          userMemSlots: info.readUInt32LE(I.userMemSlots),
          addressSpaces: info.readUInt32LE(I.addressSpaces),
          readonlyMem: info.readUInt8(I.readonlyMem) !== 0,
          userAddressLimit: info.readBigUInt64LE(I.userAddressLimit),
          setUserMemoryRegion: async (m) => {
            const R = LAYOUT.kvmRegion;
            const r = Buffer.alloc(R.size);
            r.writeUInt32LE(m.slot >>> 0, R.slot);
            r.writeUInt32LE(m.flags >>> 0, R.flags);
            r.writeBigUInt64LE(w64(m.guestPhysAddr), R.guestPhysAddr);
            r.writeBigUInt64LE(w64(m.memorySize), R.memorySize);
            r.writeBigUInt64LE(w64(m.userspaceAddr), R.userspaceAddr);
            return { errno: errno(`kvm_dirty_log_set_user_memory_region(slot ${hex(m.slot)}, flags ${m.flags}, gpa ${hex(m.guestPhysAddr)}, size ${hex(m.memorySize)}, uaddr ${hex(m.userspaceAddr)})`, () => f.setUserMemoryRegion(h, r)) };
          },
          enableCap: async (cap, flags, args0) => ({ errno: errno(`kvm_dirty_log_enable_cap(${cap}, ${flags}, ${hex(args0)})`, () => f.enableCap(h, cap >>> 0, flags >>> 0, w64(args0))) }),
          checkExtension: async (cap) => errno(`kvm_dirty_log_check_extension(${cap})`, () => f.checkExtension(h, cap >>> 0)),
          getDirtyLog: async (slotId, bitmapBytes) => {
            const what = `kvm_dirty_log_get_dirty_log(${hex(slotId)}, ${bitmapBytes} bytes)`;
            if (bitmapBytes > MAX_BITMAP_BYTES) throw new Undecided(`${what}: more than the ${MAX_BITMAP_BYTES} bytes the kit hands an implementation`);
            const ptr = native.reserve(bitmapBytes);
            native.view(bitmapBytes).fill(0);
            const len = new BigUint64Array(1);
            const r = errno(what, () => f.getDirtyLog(h, slotId >>> 0, ptr, bitmapBytes, len));
            if (r !== 0) return { errno: r };
            if (len[0]! > BigInt(bitmapBytes)) throw new Undecided(`${what} answered a bitmap of ${len[0]} bytes, more than the ${bitmapBytes} writable bytes (*len <= bitmap_bytes)`);
            return { errno: 0, bitmap: native.view(Number(len[0])).slice() };
          },
          clearDirtyLog: async (slotId, firstPage, numPages, bitmap) => ({
            errno: errno(`kvm_dirty_log_clear_dirty_log(${hex(slotId)}, ${hex(firstPage)}, ${numPages}, ${bitmap.length} bytes)`, () =>
              f.clearDirtyLog(h, slotId >>> 0, w64(firstPage), numPages >>> 0, Buffer.from(bitmap.length === 0 ? [0] : bitmap), bitmap.length),
            ),
          }),
          vcpuWrite: async (gpa) => {
            const what = `kvm_dirty_log_vcpu_write(${hex(gpa)})`;
            const r = this.call(what, () => f.vcpuWrite(h, w64(gpa)) as number, String);
            if (r !== 0 && r !== 1) throw new Undecided(`${what} returned ${r}: 0 (went through) or 1 (MMIO exit)`);
            return { exit: r === 0 ? 'none' : 'mmio' };
          },
          ...(kvmWrite === undefined
            ? {}
            : {
                kvmWrite: async (gpa: bigint) => {
                  this.call(`kvm_dirty_log_kvm_write(${hex(gpa)})`, () => kvmWrite(h, w64(gpa)), String);
                },
              }),
        };
      },
    };
  }

  private dirtyRingCollector(): DirtyRingCollectorAdapter {
    const f = this.funcs('dirty-ring-collector');
    const slot = this.slot('dirty-ring-collector');
    const native = this.native();
    return {
      profile: 'dirty-ring-collector',
      name: this.name,
      create: async (memory, host, config) => {
        this.replace('dirty-ring-collector');
        slot.ring = memory;
        slot.host = host;
        const M = LAYOUT.memslot;
        const n = config.memslots.length;
        const ptr = native.reserve(Math.max(1, n) * M.size);
        const ms = Buffer.alloc(Math.max(1, n) * M.size);
        config.memslots.forEach((m, i) => {
          ms.writeUInt32LE(m.slot >>> 0, i * M.size + M.slot);
          ms.writeUInt32LE(m.npages >>> 0, i * M.size + M.npages);
        });
        native.view(ms.length).set(ms);
        const C = LAYOUT.collectorConfig;
        const c = Buffer.alloc(C.size);
        c.writeUInt8(config.withBitmap ? 1 : 0, C.withBitmap);
        c.writeUInt32LE(n, C.nMemslots);
        c.writeBigUInt64LE(ptr, C.memslots);
        const out = new BigUint64Array(1);
        const what = `dirty_ring_collector_create(with_bitmap ${config.withBitmap}, ${n} memslots)`;
        const h = this.instance(
          what,
          this.call(what, () => f.create(slot.kit, c, out) as number),
          out,
        );
        this.replace('dirty-ring-collector', () => this.call('dirty_ring_collector_destroy', () => f.destroy(h)));
        /** A call that answers 0 or cannot do what was asked: the run is undecided, as an error reply makes it over --exec. */
        const ok = (what: string, fn: () => unknown) => {
          const r = this.call(what, fn as () => number, String);
          if (r !== 0) throw new Undecided(`${what} returned ${r}: the library could not do it`);
        };
        return {
          addRing: async (base, entries) => ok(`dirty_ring_collector_add_ring(${hex(base)}, ${entries})`, () => f.addRing(h, base, entries)),
          sync: async (final) => ok(`dirty_ring_collector_sync(${final})`, () => f.sync(h, final)),
        };
      },
    };
  }

  private kvmDirtyRing(): KvmDirtyRingAdapter {
    const f = this.funcs('kvm-dirty-ring');
    const slot = this.slot('kvm-dirty-ring');
    const bitmapNative = this.native();
    const writesNative = this.native();
    // kvm_cpu_dirty_log_size(), asked once: the profile checks its range (0 to 65536).
    const pml = this.call('kvm_dirty_ring_cpu_dirty_log_size', () => f.cpuDirtyLogSize() as number, String);
    // Version 4: whether the reset checks signal_pending (optional; asked once).
    const checks = this.abi >= 4 ? this.optionalFunc(OPTIONAL_FUNCTIONS['kvm-dirty-ring'].checksSignals) : undefined;
    const checksSignals = checks !== undefined && this.call('kvm_dirty_ring_checks_signals', () => checks() as boolean, String) === true;
    return {
      profile: 'kvm-dirty-ring',
      name: this.name,
      ...(pml === 0 ? {} : { cpuDirtyLogSize: pml }),
      ...(checksSignals ? { checksSignals } : {}),
      create: async (memory, config, task) => {
        this.replace('kvm-dirty-ring');
        slot.ring = memory;
        slot.task = task;
        const c = Buffer.alloc(LAYOUT.kvmRingConfig.size);
        c.writeUInt32LE(KVM_ARCH[config.arch], LAYOUT.kvmRingConfig.arch);
        const out = new BigUint64Array(1);
        const what = `kvm_dirty_ring_create(arch ${config.arch})`;
        const h = this.instance(
          what,
          this.call(what, () => f.create(slot.kit, c, out) as number),
          out,
        );
        this.replace('kvm-dirty-ring', () => this.call('kvm_dirty_ring_destroy', () => f.destroy(h)));
        // The pages of each memslot the VM made (slot code as_id << 16 | id): the bitmaps' lengths.
        const npages = new Map<number, number>();
        const value = (what: string, fn: () => unknown) => this.call(what, fn as () => number, String);
        /** A memslot's bitmap from `fn(ptr, bytes)`: ALIGN(npages, 64) / 8 zeroed bytes for the library to fill. */
        const bitmapCall = (slotCode: number, what: string, fn: (ptr: Ptr, bytes: number) => unknown) => {
          const n = npages.get(slotCode >>> 0) ?? 0;
          const bytes = Math.ceil(n / 64) * 8;
          const ptr = bitmapNative.reserve(Math.max(1, bytes));
          bitmapNative.view(bytes).fill(0);
          const r = value(what, () => fn(ptr, bytes));
          return { r, bitmap: () => bitmapNative.view(bytes).slice() };
        };
        return {
          checkExtension: async (cap) => value(`kvm_dirty_ring_check_extension(${cap})`, () => f.checkExtension(h, cap >>> 0)),
          enableCap: async (cap, arg0, flags) => value(`kvm_dirty_ring_enable_cap(${cap}, ${flags}, ${hex(arg0)})`, () => f.enableCap(h, cap >>> 0, flags >>> 0, w64(u64(arg0)))),
          createVcpu: async (ringBase) => value(`kvm_dirty_ring_create_vcpu(${hex(ringBase)})`, () => f.createVcpu(h, w64(u64(ringBase)))),
          setMemslot: async (asId, id, n, logDirty) => {
            const r = value(`kvm_dirty_ring_set_memslot(${asId}, ${id}, ${n}, ${logDirty})`, () => f.setMemslot(h, asId >>> 0, id >>> 0, n >>> 0, logDirty));
            if (r === 0) npages.set(((asId << 16) | id) >>> 0, n);
            return r;
          },
          run: async (vcpu, writes) => {
            const L = LAYOUT.guestWrite;
            const n = writes.length;
            const ptr = writesNative.reserve(Math.max(1, n) * L.size);
            const b = Buffer.from(koffi.view(ptr, Math.max(1, n) * L.size));
            b.fill(0);
            writes.forEach((w, i) => {
              b.writeUInt32LE(w.slot >>> 0, i * L.size + L.slot);
              b.writeBigUInt64LE(w64(u64(w.offset)), i * L.size + L.offset);
            });
            const done = new Uint32Array(1);
            // The first writes name the call in the last-steps log (a run may make thousands).
            const shown = writes.slice(0, 8).map((w) => `${hex(w.slot)}:${w.offset}`);
            const what = `kvm_dirty_ring_run(vCPU ${vcpu}, ${n} writes${n === 0 ? '' : `: ${shown.join(' ')}${n > shown.length ? ' ...' : ''}`})`;
            const exitReason = this.call(
              what,
              () => f.run(h, vcpu >>> 0, ptr, n, done) as number,
              (r) => `exit ${r} after ${done[0]} writes`,
            );
            if (done[0]! > n) throw new Undecided(`${what} answered *done = ${done[0]}: more writes than the ${n} asked`);
            return { exitReason, done: done[0]! };
          },
          writeWithoutVcpu: async (w) => void this.call(`kvm_dirty_ring_write_without_vcpu(${hex(w.slot)}, ${w.offset})`, () => f.writeWithoutVcpu(h, w.slot >>> 0, w64(u64(w.offset)))),
          resetDirtyRings: async () => value('kvm_dirty_ring_reset_dirty_rings', () => f.resetDirtyRings(h)),
          getDirtyLog: async (s) => {
            const g = bitmapCall(s, `kvm_dirty_ring_get_dirty_log(${hex(s)})`, (ptr, bytes) => f.getDirtyLog(h, s >>> 0, ptr, bytes));
            return g.r === 0 ? { errno: 0, bitmap: g.bitmap() } : { errno: g.r };
          },
          writeProtectedPages: async (s) => {
            const what = `kvm_dirty_ring_write_protected_pages(${hex(s)})`;
            const g = bitmapCall(s, what, (ptr, bytes) => f.writeProtectedPages(h, s >>> 0, ptr, bytes));
            if (g.r !== 0) throw new Undecided(`${what} returned ${g.r}: the library could not report the memslot's protection`);
            return g.bitmap();
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
