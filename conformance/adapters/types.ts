// The adapter interfaces: one per profile, small and asynchronous. Outcomes the spec
// defines are returned as data (negative errno values, fault kinds, dirty bitmaps as
// bytes), never thrown. A thrown exception, a promise that does not settle within the
// time limit, or an answer of the wrong shape makes the verdict "undecided".
//
// See conformance/ADAPTERS.md for the contract.

import type { KvmDirtyLogAdapter } from '../profiles/kvm-dirty-log/adapter.ts';
import type { KvmDirtyRingAdapter } from '../profiles/kvm-dirty-ring/types.ts';
import type { DirtyRingCollectorAdapter } from '../profiles/dirty-ring-collector/types.ts';
import type { ProfileName } from '../profiles/index.ts';
import type { Capabilities, ContractName } from '../../spec/contracts/types.ts';

export type { Capabilities, ContractName } from '../../spec/contracts/types.ts';
import type { IovaBitmapContractName } from '../../spec/iova-bitmap/contracts.ts';
export type { IovaBitmapContractName } from '../../spec/iova-bitmap/contracts.ts';
// The KVM profiles' interfaces, kept beside their profiles, exported here too: an adapter imports every type from 'dirtyspec/adapters'.
export type { KvmDirtyLogAdapter, KvmDirtyLogConfig, KvmDirtyLogHooks, KvmDirtyLogInstance, KvmGuestPageObservation, KvmMemoryRegionArg } from '../profiles/kvm-dirty-log/adapter.ts';
export type { GuestWriteArg, KitRingMemory, KitTask, KvmDirtyRingAdapter, KvmDirtyRingConfig, KvmDirtyRingInstance, RingLoadOrder, RingStoreOrder } from '../profiles/kvm-dirty-ring/types.ts';
export type { CollectorHostCalls, DirtyRingCollectorAdapter, DirtyRingCollectorConfig, DirtyRingCollectorInstance } from '../profiles/dirty-ring-collector/types.ts';

/** The kit's physical memory. Page tables and context descriptors live here. */
export interface KitMemory {
  load(address: number): bigint;
  store(address: number, value: bigint): void;
  exchange(address: number, value: bigint): bigint;
  compareExchange(address: number, expected: bigint, replacement: bigint): bigint;
  fetchOr(address: number, mask: bigint): bigint;
  fetchAnd(address: number, mask: bigint): bigint;
  /** A zeroed 4 KiB frame; its physical address. */
  allocFrame(): number;
  freeFrame(address: number): void;
}

export type Fault = 'translation' | 'permission' | 'accessFlag' | 'addressSize' | 'badStream';
export const FAULTS: readonly Fault[] = ['translation', 'permission', 'accessFlag', 'addressSize', 'badStream'];

export type DmaOutcome = { readonly ok: true; readonly pa: number } | { readonly ok: false; readonly fault: Fault };

export type SmmuCommand =
  | { readonly op: 'CMD_TLBI_NH_VA'; readonly asid: number; readonly iova: number; readonly size: number }
  | { readonly op: 'CMD_TLBI_NH_ASID'; readonly asid: number }
  | { readonly op: 'CMD_CFGI_CD'; readonly streamId: number }
  | { readonly op: 'CMD_SYNC' };

/**
 * A dirty bitmap over [iova, iova + size): bit i (bit i % 8 of byte i / 8, i.e. bit i % 64
 * of little-endian u64 word i / 64) is the 4 KiB page at iova + i * 4096. Its length is
 * exactly ceil(pages / 64) * 8 bytes, as the kernel's u64 bitmaps.
 */
export type DirtyBitmap = Uint8Array;

// ---- profile smmu-hw: the implementation under test is the SMMU -------------------------

export interface SmmuHwConfig {
  /** SMMU_IDR0.HTTU to present: 0 none, 1 access flag, 2 access flag and dirty state. */
  readonly httu: 0 | 1 | 2;
  /** SMMU_IDR3.BBML to present. */
  readonly bbml: 0 | 1 | 2;
  /** IOTLB entries (a hint; a model may cache fewer). */
  readonly iotlbCapacity: number;
}

/** One entry of the SMMU's IOTLB, as `SmmuHw.iotlbEntries` shows it. */
export interface SmmuIotlbEntry {
  readonly asid: number;
  /** IOVA of the start of the leaf the entry caches. */
  readonly base: number;
  /** The leaf's level: 1 (1 GiB block), 2 (2 MiB block) or 3 (4 KiB page). */
  readonly level: 1 | 2 | 3;
  /** The leaf as cached, once the walk's own HTTU update was done: AP[2] and DBM (readOnly: AP[2] without DBM; writable: neither; writableClean: both; writableDirty: DBM alone). */
  readonly state: 'readOnly' | 'writable' | 'writableClean' | 'writableDirty';
}

export interface SmmuHw {
  /** SMMU_IDR0 and SMMU_IDR3 as the hardware presents them. */
  readRegisters(): Promise<{ idr0: number; idr3: number }>;
  /** The STE of `streamId` now points at the stage-1 CD at `cdAddress` (STE write + CFGI_STE + SYNC). */
  attachStream(streamId: number, cdAddress: number): Promise<void>;
  detachStream(streamId: number): Promise<void>;
  /** Command queue: everything before a CMD_SYNC is complete when the promise settles. */
  submit(commands: readonly SmmuCommand[]): Promise<void>;
  /** One DMA access by `streamId` at `iova`, translated and with HTTU updates done in kit memory. */
  dmaRead(streamId: number, iova: number): Promise<DmaOutcome>;
  dmaWrite(streamId: number, iova: number): Promise<DmaOutcome>;
  /**
   * Optional, and synchronous: the entries the IOTLB holds now (in-process adapters only;
   * the wire protocol has no such request). With it the kit follows the IOTLB entry by
   * entry, as it does its own in smmu-driver: an entry gone is an eviction seen when it
   * happens (IOTLB-11), an entry the spec invalidated still held breaks IOTLB-9, one
   * cached in another state IOTLB-1. Without it the kit accepts an eviction before any
   * access that could have hit.
   */
  iotlbEntries?(): readonly SmmuIotlbEntry[];
}

/**
 * What an smmu-hw or smmu-driver adapter declares about the driver contract it follows
 * (spec/contracts/, docs/CONTRACTS.md). Both fields are optional: an adapter that
 * declares nothing follows `strict`. Without `--contract` the run uses the declared
 * contract; `--contract NAME` runs NAME and the report says when it differs from the
 * declared one (a linux-upstream driver run under strict fails, naming the strict rules
 * it broke). Declared capabilities must equal the contract's, field for field: the kit
 * names each field that differs and runs nothing (exit 2).
 */
export interface SmmuContractDeclaration {
  /** The driver contract; default `strict`. */
  readonly contract?: ContractName;
  /** The contract's capabilities (spec/contracts/types.ts): which operations exist, what create refuses, ... Default: the contract's. */
  readonly capabilities?: Capabilities;
}

export interface SmmuHwAdapter extends SmmuContractDeclaration {
  readonly profile: 'smmu-hw';
  readonly name: string;
  /** A fresh SMMU for one run, using `memory` for every table walk and descriptor update. */
  create(memory: KitMemory, config: SmmuHwConfig): Promise<SmmuHw>;
}

// ---- profile smmu-driver: the implementation under test is the page-table driver ------

/** The kit's SMMU as the driver sees it: synchronous, like MMIO and the command queue. */
export interface KitSmmuPort {
  readonly idr0: number;
  readonly idr3: number;
  attachStream(streamId: number, cdAddress: number): void;
  detachStream(streamId: number): void;
  submit(commands: readonly SmmuCommand[]): void;
}

export interface SmmuDriverConfig {
  readonly asid: number;
  /** The domain was allocated for dirty tracking (IOMMU_HWPT_ALLOC_DIRTY_TRACKING). */
  readonly dirtyCapable: boolean;
  /** Split blocks into pages while tracking; merge back when tracking stops. */
  readonly pageGranular: boolean;
}

export interface SmmuDriver {
  /** Maps [iova, iova+size) to [paddr, ...) with IOMMU_READ (1) / IOMMU_WRITE (2); 0 or -errno. */
  map(iova: number, paddr: number, size: number, prot: number): Promise<number>;
  /** Unmaps; returns the bytes unmapped and the dirty state of what it removed. */
  unmap(iova: number, size: number): Promise<{ unmapped: number; dirty: DirtyBitmap }>;
  /**
   * Splits the block mapping `iova` into a table of the next level; `blockSize` is the
   * block's size (0x40000000 at level 1, 0x200000 at level 2). Optional: a contract
   * without split (`capabilities.operations.splitBlock` false, e.g. linux-upstream)
   * never calls it.
   */
  splitBlock?(iova: number, blockSize: number): Promise<number>;
  /** Merges the table at `level` (1 or 2) covering `iova` into a block of `blockSize` bytes. Optional as splitBlock. */
  mergePages?(iova: number, level: number, blockSize: number): Promise<number>;
  /** flags: IOMMU_DIRTY_NO_CLEAR = 1. */
  readAndClearDirty(iova: number, size: number, flags: number): Promise<{ errno: number; dirty: DirtyBitmap }>;
  setDirtyTracking(enable: boolean): Promise<number>;
  /** Attaches a stream: writes its CD in kit memory and points the kit SMMU's STE at it. */
  attach(streamId: number): Promise<number>;
}

export interface SmmuDriverAdapter extends SmmuContractDeclaration {
  readonly profile: 'smmu-driver';
  readonly name: string;
  /**
   * A fresh domain, or the negative errno the allocation refused with, where the
   * contract allows a refusal (`capabilities.create.refuses`: linux-upstream refuses a
   * dirty-capable domain without HTTU = 2 with -EOPNOTSUPP). The kit then runs the
   * configurations that were accepted and reports the refused ones.
   */
  create(memory: KitMemory, smmu: KitSmmuPort, config: SmmuDriverConfig): Promise<SmmuDriver | number>;
}

// ---- profile iova-bitmap: the implementation under test is the bitmap window code -----

/**
 * The user's bitmap memory, owned by the kit: 4 KiB pages that must be pinned before
 * they are written. The kit records every pin, unpin and write.
 */
export interface KitUserBuffer {
  readonly size: number;
  /** Pins one page; false if it cannot be pinned (outside the buffer or not mapped). */
  pin(page: number): boolean;
  unpin(page: number): void;
  /** ORs `mask` into byte `offset` of `page`. */
  orByte(page: number, offset: number, mask: number): void;
  /** Sets bytes [start, end) of `page` to `value`. */
  fillBytes(page: number, start: number, end: number, value: number): void;
  /**
   * Reads byte `offset` of a pinned `page` (code that reads or clears bits: read, then
   * fillBytes the byte back). A read of a page that is not pinned, or outside the buffer,
   * is a stray access the kit reports; it answers 0.
   */
  readByte(page: number, offset: number): number;
}

/** What the kit's iova_bitmap_for_each callback answers for one window: the ranges it records in it (iova_bitmap_set), then its return value (0 goes on, an errno stops the walk). */
export interface IovaBitmapWindowAnswer {
  readonly set: readonly { readonly iova: bigint; readonly length: bigint }[];
  readonly ret: number;
}

export interface IovaBitmapArgs {
  readonly iova: bigint;
  readonly length: bigint;
  readonly pageSize: bigint;
  /** Byte offset of the bitmap in the user buffer: any alignment. */
  readonly offset: number;
  /** Bytes the user says the bitmap has. */
  readonly bitmapSize: number;
  /** Most user pages pinned at once. */
  readonly maxPinnedPages: number;
}

export interface IovaBitmapInstance {
  /** iova_bitmap_set: 0 or a negative errno. */
  set(iova: bigint, length: bigint): Promise<number>;
  /** iova_bitmap_free: unpins everything. */
  free(): Promise<void>;
  /**
   * iova_bitmap_for_each (optional; without it IOVA-BITMAP-10 is not reached): calls
   * `window` for each IOVA range of the walk, in order; records the answer's `set` ranges
   * with iova_bitmap_set inside the callback, and stops if its `ret` is not 0. Returns that
   * `ret`, else the first recording error of the walk, else 0.
   */
  forEach?(window: (iova: bigint, length: bigint) => IovaBitmapWindowAnswer): Promise<number>;
}

export interface IovaBitmapAdapter {
  readonly profile: 'iova-bitmap';
  readonly name: string;
  /**
   * The contract it follows (spec/iova-bitmap/contracts.ts, docs/CONTRACTS.md): `hardened`
   * (default) checks its arguments and answers set with an errno; `linux` is Linux's
   * (alloc checks nothing, set answers 0 or nothing): the kit then sends only what Linux's
   * callers may. `--contract linux|hardened` overrides it.
   */
  readonly contract?: IovaBitmapContractName;
  /** iova_bitmap_alloc over the kit's buffer: an instance, or the negative errno it refused with. */
  create(buffer: KitUserBuffer, args: IovaBitmapArgs): Promise<IovaBitmapInstance | number>;
}

// ---- profile vfio-type1: the implementation under test is the VFIO type1 container --

export interface VfioType1Config {
  /** The IOMMU records dirty state in hardware (HTTU); false: the all-dirty fallback (VFIO-DIRTY-14). */
  readonly hwDirty: boolean;
  /** dma_entry_limit: the most mappings the container holds (default 65535). */
  readonly dmaEntryLimit?: number;
}

/** struct vfio_bitmap: bytes per bit, bytes of the user buffer, and (CLEAR_BITMAP) its contents. */
export interface VfioBitmapArg {
  readonly pgsize: bigint;
  readonly size: bigint;
  readonly data?: Uint8Array;
}

/** VFIO_IOMMU_GET_INFO as data. */
export interface VfioType1InfoResult {
  readonly errno: number;
  readonly flags: number;
  readonly iovaPgsizes: bigint;
  /** VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION. */
  readonly migration: { readonly flags: number; readonly pgsizeBitmap: bigint; readonly maxDirtyBitmapSize: bigint };
  /** VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL. */
  readonly dmaAvail: number;
  /** VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, inclusive ends. */
  readonly iovaRanges: readonly { readonly start: bigint; readonly end: bigint }[];
}

/**
 * One container with one device attached. Every method is the ioctl with its raw numbers
 * (bigint where the uAPI field is u64); results are data: errno 0 or a negative errno.
 */
export interface VfioType1Instance {
  /** Process addresses below this can be pinned (MAP_DMA vaddr; VFIO-MAP-7). */
  readonly vaddrLimit: bigint;
  /** VFIO_CHECK_EXTENSION: 1 or 0. */
  checkExtension(extension: number): Promise<number>;
  getInfo(): Promise<VfioType1InfoResult>;
  mapDma(flags: number, vaddr: bigint, iova: bigint, size: bigint): Promise<{ errno: number }>;
  /** With VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, `bitmap` is the vfio_bitmap; the result's bitmap is relative to iova. */
  unmapDma(flags: number, iova: bigint, size: bigint, bitmap?: VfioBitmapArg): Promise<{ errno: number; unmapped: bigint; bitmap?: DirtyBitmap }>;
  /** VFIO_IOMMU_DIRTY_PAGES; the bitmap operations take the range, GET_BITMAP(_NOCLEAR) return the bitmap. */
  dirtyPages(flags: number, range?: { iova: bigint; size: bigint; bitmap: VfioBitmapArg }): Promise<{ errno: number; bitmap?: DirtyBitmap }>;
  /** The attached device writes 4 bytes at `iova` (translated by the implementation's IOMMU). */
  deviceDmaWrite(iova: bigint): Promise<{ ok: boolean }>;
  /**
   * Optional: vfio_dma_rw, an emulated (mdev) device's CPU-side access: it writes (or reads)
   * `length` bytes at `iova` through the container (vfio_iommu_type1_dma_rw), with bytes of
   * its own. 0, or a negated errno (-EINVAL, -EPERM). Without it, VFIO-RW-1..4 are not reached.
   */
  dmaRw?(iova: bigint, length: number, write: boolean): Promise<{ errno: number }>;
  /**
   * Optional, with attachDevice: the group of the container's device (the one deviceDmaWrite
   * writes through: an IOMMU-backed device that pins no pages) leaves the container
   * (VFIO_GROUP_UNSET_CONTAINER), while another group, an emulated (mdev) one, keeps the
   * container and its mappings. 0, or a negated errno. The kit makes no device write while
   * the group is detached. Without both, VFIO-DETACH-1 is not reached.
   */
  detachDevice?(): Promise<{ errno: number }>;
  /** Optional, with detachDevice: the device's group joins the container again (VFIO_GROUP_SET_CONTAINER); its mappings are the container's. 0, or a negated errno. */
  attachDevice?(): Promise<{ errno: number }>;
}

export interface VfioType1Adapter {
  readonly profile: 'vfio-type1';
  readonly name: string;
  /**
   * The driver contract of the IOMMU under the container, where it changes what the
   * container must do (spec/contracts/, docs/CONTRACTS.md): `strict` (default: the
   * page-table unmap reports the dirty state it removes) or `rfc-2021` (the 2021 HTTU RFC:
   * the unmap reports none, so UNMAP_DMA with GET_DIRTY_BITMAP must sync first, UNMAP-R1;
   * START clears no stale state, TRACK-R2). `--contract` overrides it.
   */
  readonly contract?: ContractName;
  create(config: VfioType1Config): Promise<VfioType1Instance>;
}

export type Adapter = SmmuHwAdapter | SmmuDriverAdapter | IovaBitmapAdapter | VfioType1Adapter | KvmDirtyLogAdapter | KvmDirtyRingAdapter | DirtyRingCollectorAdapter;
/** Every profile's name: the registry's keys (conformance/profiles/index.ts, which checks that each has its adapter in `Adapter` and each adapter its profile). */
export type { ProfileName };
/** The adapter type of profile `P`. */
export type AdapterOf<P extends Adapter['profile']> = Extract<Adapter, { profile: P }>;
/** The registry's names, in its order, for modules that cannot load it (this one is the light `dirtyspec/adapters` entry point): conformance/profiles/registry.test.ts checks they agree. */
export const PROFILES: readonly ProfileName[] = ['smmu-hw', 'smmu-driver', 'iova-bitmap', 'vfio-type1', 'kvm-dirty-log', 'kvm-dirty-ring', 'dirty-ring-collector'];
