// The built-in implementation: the reference SMMU and driver from impl/, as adapters,
// and as the parts the kit supplies around a third party's implementation. This file
// and the mutant zoo are the only places conformance/ reaches impl/ (README.md, Layout).
import { IommuDomain, type PgtableFactory, type SmmuPort } from '../../impl/domain.ts';
import { type ChunkPool, MemoryError, PhysicalMemory } from '../../impl/memory/physical-memory.ts';

/** What kit memory throws at an access it cannot serve (unaligned, or no frame allocated there). */
export { MemoryError };
import { Smmu } from '../../impl/smmu/smmu.ts';
import { IovaBitmap, iovaBitmapAlloc, iovaBitmapForEach, iovaBitmapFree, iovaBitmapSet } from '../../impl/iova-bitmap/iova-bitmap.ts';
import type { UserBuffer } from '../../impl/iova-bitmap/user-buffer.ts';
import { type Type1ContainerOptions, VfioType1Container, createType1Container } from '../../impl/vfio/type1-container.ts';
import { dirtyBitmapSet, newDirtyBitmap } from '../../spec/bitmap/dirty-bitmap.ts';
import type { IovaBitmapContractName } from '../../spec/iova-bitmap/contracts.ts';
import type { VfioType1Adapter, IovaBitmapAdapter, KitMemory, KitSmmuPort, SmmuDriver, SmmuDriverAdapter, SmmuDriverConfig, SmmuHw, SmmuHwAdapter, SmmuHwConfig } from './types.ts';
import { type ContractName, ERRNO, contracts } from '../../spec/contracts/index.ts';
import type { DomainOptions } from '../../impl/domain.ts';
import { idr0Httu } from '../../impl/smmu/registers.ts';
import { KvmDirtyRingVm } from '../../impl/kvm/dirty-ring/kvm-ring.ts';
import type { KitRingMemory, KitTask, KvmDirtyRingAdapter, KvmDirtyRingConfig, KvmDirtyRingInstance } from '../profiles/kvm-dirty-ring/types.ts';
import { DirtyRingCollector, type CollectorHost } from '../../impl/kvm/dirty-ring/collector.ts';
import type { CollectorHostCalls, DirtyRingCollectorAdapter, DirtyRingCollectorConfig, DirtyRingCollectorInstance } from '../profiles/dirty-ring-collector/types.ts';

export type SmmuClass = new (memory: PhysicalMemory, config: { httu: 0 | 1 | 2; bbml: 0 | 1 | 2; iotlbCapacity?: number }) => Smmu;
export type DomainClass = new (smmu: SmmuPort, memory: PhysicalMemory, options: SmmuDriverConfig, createPgtable?: PgtableFactory) => IommuDomain;

/** The kit's memory is always the reference PhysicalMemory (it has the access hook); `chunks`: the run's pool of backing store (impl/memory/physical-memory.ts ChunkPool). */
export function createKitMemory(chunks?: ChunkPool): PhysicalMemory {
  return new PhysicalMemory(chunks === undefined ? {} : { chunks });
}

/**
 * The reference runs on the kit's memory. Checked by shape, not `instanceof`: an adapter
 * module may load its own copy of this file (another module instance, another class).
 */
function asPhysical(memory: KitMemory): PhysicalMemory {
  const m = memory as Partial<PhysicalMemory>;
  if (typeof m.frameWords !== 'function' || typeof m.allocFrame !== 'function' || !('hook' in m)) {
    throw new TypeError("the reference implementation runs on the kit's PhysicalMemory (load, store, atomics, allocFrame, frameWords, hook)");
  }
  return memory as PhysicalMemory;
}

/** The reference SMMU: the kit's hardware in profile smmu-driver (its IOTLB can be inspected). */
export function createKitSmmu(memory: KitMemory, config: SmmuHwConfig, SmmuImpl: SmmuClass = Smmu): Smmu {
  return new SmmuImpl(asPhysical(memory), config);
}

/**
 * The contracts the reference plays, and how: the domain's lifecycle option (impl/domain.ts
 * DomainOptions.lifecycle), one implementation with options, not a copy per contract.
 * rfc-2021 is the RFC v4 lifecycle (impl/domain.ts 'rfc-v4').
 */
export const REFERENCE_LIFECYCLES: Partial<Record<ContractName, NonNullable<DomainOptions['lifecycle']>>> = { strict: 'reference', 'linux-upstream': 'linux-v6.18', 'rfc-2021': 'rfc-v4' };

/** The contracts the reference implementation conforms to. */
export const REFERENCE_CONTRACTS = Object.keys(REFERENCE_LIFECYCLES) as ContractName[];

function lifecycleOf(contract: ContractName): NonNullable<DomainOptions['lifecycle']> {
  const l = REFERENCE_LIFECYCLES[contract];
  if (l === undefined) throw new RangeError(`the reference implementation does not play contract ${contract} (it plays ${REFERENCE_CONTRACTS.join(', ')})`);
  return l;
}

/** The errno the contract's create refuses `config` with on an SMMU with `idr0`, or 0 (capabilities.create.refuses; the kit's SMMU is always coherent). */
export function contractRefusal(contract: ContractName, idr0: number, config: Pick<SmmuDriverConfig, 'dirtyCapable'>): number {
  for (const r of contracts[contract].capabilities.create.refuses) if (r.when === 'dirtyCapableWithoutHttu2' && config.dirtyCapable && idr0Httu(idr0) !== 2) return -ERRNO[r.errno];
  return 0;
}

/** The reference driver: the kit's driver in profile smmu-hw (synchronous, over a port), following `contract`. */
export function createKitDriver(memory: KitMemory, port: SmmuPort, config: SmmuDriverConfig, contract: ContractName = 'strict'): IommuDomain {
  return new IommuDomain(port, asPhysical(memory), { ...config, lifecycle: lifecycleOf(contract) });
}

export function referenceSmmuHwAdapter(name = 'reference', SmmuImpl: SmmuClass = Smmu, contract: ContractName = 'strict'): SmmuHwAdapter {
  return {
    profile: 'smmu-hw',
    name,
    ...(contract === 'strict' ? {} : { contract }),
    async create(memory: KitMemory, config: SmmuHwConfig): Promise<SmmuHw> {
      const smmu = createKitSmmu(memory, config, SmmuImpl);
      return {
        readRegisters: async () => ({ idr0: smmu.idr0, idr3: smmu.idr3 }),
        attachStream: async (streamId, cd) => smmu.attachStream(streamId, cd),
        detachStream: async (streamId) => smmu.detachStream(streamId),
        submit: async (commands) => smmu.submit(commands),
        dmaRead: async (streamId, iova) => strip(smmu.dmaRead(streamId, iova)),
        dmaWrite: async (streamId, iova) => strip(smmu.dmaWrite(streamId, iova)),
        iotlbEntries: () => smmu.iotlb.entries().map((e) => ({ asid: e.asid, base: e.base, level: e.level as 1 | 2 | 3, state: e.state })),
      };
    },
  };
}

function strip(r: ReturnType<Smmu['dmaRead']>) {
  return r.ok ? ({ ok: true, pa: r.pa } as const) : ({ ok: false, fault: r.fault } as const);
}

/** The reference driver: its create never refuses under strict, and it has split and merge (what wrappers and tests of the reference rely on). */
export interface ReferenceSmmuDriver extends SmmuDriver {
  splitBlock(iova: number, blockSize?: number): Promise<number>;
  mergePages(iova: number, level: number, blockSize?: number): Promise<number>;
}
export interface ReferenceSmmuDriverAdapter extends SmmuDriverAdapter {
  create(memory: KitMemory, smmu: KitSmmuPort, config: SmmuDriverConfig): Promise<ReferenceSmmuDriver>;
}

/**
 * The reference driver as an adapter, following `contract` (default strict). Under a
 * contract whose create refuses (linux-upstream: a dirty-capable domain without HTTU = 2),
 * use `referenceContractDriverAdapter`, whose create may answer the errno.
 */
export function referenceSmmuDriverAdapter(name = 'reference', DomainImpl: DomainClass = IommuDomain, createPgtable?: PgtableFactory, contract: ContractName = 'strict'): ReferenceSmmuDriverAdapter {
  const lifecycle = lifecycleOf(contract);
  return {
    profile: 'smmu-driver',
    name,
    ...(contract === 'strict' ? {} : { contract }),
    async create(memory: KitMemory, smmu: KitSmmuPort, base: SmmuDriverConfig): Promise<ReferenceSmmuDriver> {
      const config = { ...base, lifecycle };
      const domain = createPgtable === undefined ? new DomainImpl(smmu, asPhysical(memory), config) : new DomainImpl(smmu, asPhysical(memory), config, createPgtable);
      return {
        map: async (iova, paddr, size, prot) => domain.map(iova, paddr, size, prot),
        async unmap(iova, size) {
          const dirty = newDirtyBitmap(size);
          const unmapped = domain.unmap(iova, size, (i, s) => dirtyBitmapSet(dirty, iova, size, i, s));
          return { unmapped, dirty };
        },
        splitBlock: async (iova) => domain.splitBlock(iova),
        mergePages: async (iova, level) => domain.mergePages(iova, level),
        async readAndClearDirty(iova, size, flags) {
          const dirty = newDirtyBitmap(Math.max(0, size));
          const errno = domain.readAndClearDirty(iova, size, flags, (i, s) => dirtyBitmapSet(dirty, iova, size, i, s));
          return { errno, dirty };
        },
        setDirtyTracking: async (enable) => domain.setDirtyTracking(enable),
        attach: async (streamId) => domain.attach(streamId),
      };
    },
  };
}

/**
 * The reference driver under `contract`, with the allocation's refusal as the contract
 * says (linux-upstream: iommufd_hwpt_paging_alloc refuses IOMMU_HWPT_ALLOC_DIRTY_TRACKING
 * with -EOPNOTSUPP where the SMMU has no hardware dirty state), and without split and
 * merge where the contract has none (capabilities.operations).
 */
export function referenceContractDriverAdapter(contract: ContractName, name = 'reference'): SmmuDriverAdapter {
  const inner = referenceSmmuDriverAdapter(name, IommuDomain, undefined, contract);
  const ops = contracts[contract].capabilities.operations;
  return {
    ...inner,
    async create(memory, smmu, config) {
      const refused = contractRefusal(contract, smmu.idr0, config);
      if (refused !== 0) return refused;
      const { splitBlock, mergePages, ...rest } = await inner.create(memory, smmu, config);
      return { ...rest, ...(ops.splitBlock ? { splitBlock } : {}), ...(ops.mergePages ? { mergePages } : {}) };
    },
  };
}

export type IovaBitmapClass = typeof IovaBitmap;

/**
 * The reference IOVA bitmap. `Impl` replaces the window class (the mutants); the kit's
 * buffer has the reference UserBuffer's operations, which is all the window code uses.
 */
export function referenceIovaBitmapAdapter(name = 'reference', Impl?: IovaBitmapClass, contract: IovaBitmapContractName = 'hardened'): IovaBitmapAdapter {
  // One implementation with an option: under `linux` the window's set is Linux v6.18's (no result, no clipping).
  const semantics = contract === 'linux' ? 'linux-v6.18' : 'hardened';
  return {
    profile: 'iova-bitmap',
    name,
    ...(contract === 'hardened' ? {} : { contract }),
    async create(buffer, args) {
      const got = iovaBitmapAlloc(args.iova, args.length, args.pageSize, buffer as unknown as UserBuffer, args.offset, { maxPinnedPages: args.maxPinnedPages, bitmapSize: args.bitmapSize, semantics });
      if (!(got instanceof IovaBitmap)) return got.errno;
      const bitmap = Impl === undefined ? got : new Impl(args.iova, args.length, got.pgshift, buffer as unknown as UserBuffer, args.offset, args.maxPinnedPages, semantics);
      return {
        set: async (iova, length) => iovaBitmapSet(bitmap, iova, length),
        free: async () => iovaBitmapFree(bitmap),
        forEach: async (window) =>
          iovaBitmapForEach(bitmap, (b, iova, length) => {
            const answer = window(iova, length);
            for (const s of answer.set) iovaBitmapSet(b, s.iova, s.length);
            return answer.ret;
          }),
      };
    },
  };
}

export type VfioType1ContainerClass = typeof VfioType1Container;

/**
 * The reference VFIO type1 container on a fresh testbed (the SMMU with HTTU 2 for
 * hardware dirty tracking, 0 for none); the device is stream 0 of its domain. `Impl`
 * replaces the container class (the mutants). Another `contract` than strict: the domain
 * follows its lifecycle ('rfc-v4' for rfc-2021, 'linux-v6.18' for linux-upstream: the
 * container is then the VMM over iommufd) and the adapter declares the contract. `uapi`:
 * the extensions the container offers (Type1ContainerOptions: without manual clear, as
 * upstream Linux; without VFIO_UNMAP_ALL, as before v5.12).
 */
export function referenceVfioType1Adapter(
  name = 'reference',
  Impl: VfioType1ContainerClass = VfioType1Container,
  contract: ContractName = 'strict',
  uapi: Pick<Type1ContainerOptions, 'manualClear' | 'unmapAll' | 'updateVaddr' | 'rangeChecks'> = {},
): VfioType1Adapter {
  const n = (x: bigint) => Number(x);
  return {
    profile: 'vfio-type1',
    name,
    ...(contract === 'strict' ? {} : { contract }),
    async create(config) {
      const tb = createType1Container({ httu: config.hwDirty ? 2 : 0, lifecycle: lifecycleOf(contract) });
      const c = new Impl(tb.domain, { ...uapi, ...(config.dmaEntryLimit === undefined ? {} : { dmaEntryLimit: config.dmaEntryLimit }) });
      const bm = (b: { pgsize: bigint; size: bigint; data?: Uint8Array }) => ({ pgsize: n(b.pgsize), size: n(b.size), ...(b.data === undefined ? {} : { data: b.data }) });
      return {
        vaddrLimit: BigInt(c.getInfo().capIovaRange.ranges[0]!.end) + 1n,
        checkExtension: async (ext) => c.checkExtension(ext),
        async getInfo() {
          const i = c.getInfo();
          return {
            errno: i.errno,
            flags: i.flags,
            iovaPgsizes: BigInt(i.iovaPgsizes),
            migration: { flags: i.capMigration.flags, pgsizeBitmap: BigInt(i.capMigration.pgsizeBitmap), maxDirtyBitmapSize: BigInt(i.capMigration.maxDirtyBitmapSize) },
            dmaAvail: i.capDmaAvail.avail,
            iovaRanges: i.capIovaRange.ranges.map((r) => ({ start: BigInt(r.start), end: BigInt(r.end) })),
          };
        },
        mapDma: async (flags, vaddr, iova, size) => c.mapDma(flags, n(vaddr), n(iova), n(size)),
        async unmapDma(flags, iova, size, bitmap) {
          const r = c.unmapDma(flags, n(iova), n(size), bitmap === undefined ? undefined : bm(bitmap));
          return { errno: r.errno, unmapped: BigInt(r.unmapped), ...(r.bitmap === undefined ? {} : { bitmap: r.bitmap }) };
        },
        dirtyPages: async (flags, range) => c.dirtyPages(flags, range === undefined ? undefined : { iova: n(range.iova), size: n(range.size), bitmap: bm(range.bitmap) }),
        deviceDmaWrite: async (iova) => ({ ok: tb.smmu.dmaWrite(0, n(iova)).ok }),
        dmaRw: async (iova, length, write) => ({ errno: c.dmaRw(n(iova), length, write).errno }),
        // A container with an emulated group beside the device's, which keeps it when the device's
        // group leaves. Linux from v6.3 (6.1.16 stable) answers VFIO_UPDATE_VADDR with 0 while one is attached
        // (ef3a3f6a294b), and the reference follows it: the container that offers it has none
        // (v5.12 to v6.2 offered both; the kit accepts that combination from an adapter).
        ...(uapi.updateVaddr === true ? {} : { detachDevice: async () => ({ errno: c.detachDevice() }), attachDevice: async () => ({ errno: c.attachDevice() }) }),
      };
    },
  };
}

// ---- the KVM dirty ring (issue 16): profiles kvm-dirty-ring and dirty-ring-collector ----

/**
 * The reference KVM side (impl/kvm/dirty-ring/kvm-ring.ts) on the kit's ring memory.
 * `cpuDirtyLogSize`: an x86 host with PML (512), declared to the kit and played by the VM.
 */
export function referenceKvmDirtyRingAdapter(name = 'reference', VmImpl: typeof KvmDirtyRingVm = KvmDirtyRingVm, cpuDirtyLogSize = 0, checksSignals = false): KvmDirtyRingAdapter {
  return {
    profile: 'kvm-dirty-ring',
    name,
    ...(cpuDirtyLogSize === 0 ? {} : { cpuDirtyLogSize }),
    ...(checksSignals ? { checksSignals } : {}),
    async create(memory: KitRingMemory, config: KvmDirtyRingConfig, task: KitTask): Promise<KvmDirtyRingInstance> {
      const vm = new VmImpl(memory, {
        arch: config.arch,
        ...(config.arch === 'x86' && cpuDirtyLogSize !== 0 ? { cpuDirtyLogSize } : {}),
        // `checksSignals`: the reset checks signal_pending(current) before each entry (Linux v6.17+).
        ...(checksSignals ? { signalPending: () => task.signalPending() } : {}),
        // The vCPU racing the reset: whatever the kit hands out (nothing unless it draws a race).
        vcpuBetween: () => task.vcpuBetween(),
      });
      /** Pages of each memslot created, by slot code (as_id << 16 | id). */
      const npages = new Map<number, number>();
      return {
        checkExtension: async (cap) => vm.checkExtension(cap),
        enableCap: async (cap, arg0, flags) => vm.enableCap(cap, arg0, flags),
        createVcpu: async (ringBase) => vm.createVcpu(ringBase),
        setMemslot: async (asId, id, n, logDirty) => {
          const errno = vm.setMemslot(asId, id, n, logDirty);
          if (errno === 0) npages.set(((asId << 16) | id) >>> 0, n);
          return errno;
        },
        run: async (vcpu, writes) => vm.run(vcpu, writes),
        writeWithoutVcpu: async (w) => vm.writeWithoutVcpu(w),
        resetDirtyRings: async () => vm.resetDirtyRings(),
        getDirtyLog: async (slot) => vm.getDirtyLog(slot),
        writeProtectedPages: async (slot) => {
          const n = npages.get(slot >>> 0) ?? 0;
          const out = new Uint8Array(Math.ceil(n / 64) * 8);
          for (let p = 0; p < n; p++) if (vm.writeProtected(slot, p)) out[p >> 3]! |= 1 << (p & 7);
          return out;
        },
      };
    },
  };
}

// ---- the KVM dirty log (issue 15): profile kvm-dirty-log ----
import { KvmVm } from '../../impl/kvm/dirty-log/kvm-vm.ts';
import type { KvmDirtyLogAdapter, KvmDirtyLogInstance } from '../profiles/kvm-dirty-log/adapter.ts';

export type KvmVmClass = typeof KvmVm;

/**
 * The reference KVM VM (impl/kvm/dirty-log/kvm-vm.ts) on a fresh PhysicalMemory whose
 * access hook asks the kit for the guest writes to make between two of its accesses.
 * `VmImpl` replaces the VM class (the mutants).
 */
export function referenceKvmDirtyLogAdapter(name = 'reference', VmImpl: KvmVmClass = KvmVm): KvmDirtyLogAdapter {
  const n = (x: bigint) => Number(x);
  return {
    profile: 'kvm-dirty-log',
    name,
    async create(config, hooks): Promise<KvmDirtyLogInstance> {
      const memory = new PhysicalMemory();
      const vm = new VmImpl(memory, { hwDirty: config.hwDirty, eagerSplit: config.eagerSplit, dirtyRingExclusive: config.dirtyRingExclusive });
      memory.hook = () => {
        // Indexed: this runs at every memory access, and a for-of made an iterator each time, mostly over nothing.
        const due = hooks.between();
        for (let i = 0; i < due.length; i++) vm.vcpuWrite(n(due[i]!));
      };
      return {
        userMemSlots: vm.userMemSlots,
        addressSpaces: vm.addressSpaces,
        readonlyMem: vm.readonlyMem,
        userAddressLimit: BigInt(vm.userAddressLimit),
        setUserMemoryRegion: async (r) => ({ errno: vm.setUserMemoryRegion({ slot: r.slot, flags: r.flags, guestPhysAddr: n(r.guestPhysAddr), memorySize: n(r.memorySize), userspaceAddr: n(r.userspaceAddr) }) }),
        enableCap: async (cap, flags, args0) => ({ errno: vm.enableCap(cap, flags, args0) }),
        checkExtension: async (cap) => vm.checkExtension(cap),
        getDirtyLog: async (slot, bytes) => vm.getDirtyLog(slot, bytes),
        clearDirtyLog: async (slot, first, num, bitmap) => ({ errno: vm.clearDirtyLog(slot, first, num, bitmap) }),
        vcpuWrite: async (gpa) => vm.vcpuWrite(n(gpa)),
        kvmWrite: async (gpa) => vm.kvmWrite(n(gpa)),
        // kvm.eager_page_split is read at each protection: the field stands for the module parameter.
        setEagerSplit: async (on) => {
          (vm as { eagerSplit: boolean }).eagerSplit = on;
        },
        inspectPage: (gpa) => {
          // The kit reads every page an operation stepped: nothing here copies the VM's state (vm.memslots copies every slot).
          const gfn = Math.floor(n(gpa) / 4096);
          const dirty = vm.peekDirtyBitOfGfn(gfn);
          return { leaf: vm.leafState(gfn), tlb: vm.tlb.has(gfn), pml: vm.pml.includes(gfn), ...(dirty === undefined ? {} : { dirty }) };
        },
      };
    },
  };
}

/** The reference collector (impl/kvm/dirty-ring/collector.ts) on the kit's ring memory and host calls. */
export function referenceDirtyRingCollectorAdapter(name = 'reference', Impl: typeof DirtyRingCollector = DirtyRingCollector): DirtyRingCollectorAdapter {
  return {
    profile: 'dirty-ring-collector',
    name,
    async create(memory: KitRingMemory, host: CollectorHostCalls, config: DirtyRingCollectorConfig): Promise<DirtyRingCollectorInstance> {
      const c = new Impl(memory, config.withBitmap);
      const h: CollectorHost = {
        resetDirtyRings: () => host.resetDirtyRings(),
        copyPage: (slot, offset) => host.copyPage(slot, offset),
        getDirtyLog: () =>
          config.memslots.flatMap((m) => {
            const b = host.getDirtyLog(m.slot);
            const out: { slot: number; offset: number }[] = [];
            for (let p = 0; p < m.npages; p++) if ((b[p >> 3]! >> (p & 7)) & 1) out.push({ slot: m.slot, offset: p });
            return out;
          }),
      };
      return {
        addRing: async (base, entries) => c.addRing({ base, entries }),
        sync: async (final) => {
          c.sync(h, final);
        },
      };
    },
  };
}
