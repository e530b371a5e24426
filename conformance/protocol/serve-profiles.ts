// The implementation's half of each profile's operations (PROTOCOL.md): decodes a
// request's arguments, calls the in-process adapter, encodes its result, and turns the
// adapter's use of kit memory, the SMMU port or the user buffer into callbacks. serve.ts
// finds a profile's half here by the profile's name (`servers`), never by testing it.
// The KVM profiles keep their halves beside their kit halves (profiles/*/wire.ts).
import type { Adapter, IovaBitmapAdapter, IovaBitmapInstance, KitMemory, KitSmmuPort, KitUserBuffer, SmmuCommand, SmmuDriver, SmmuDriverAdapter, SmmuHw, SmmuHwAdapter, VfioType1Adapter, VfioType1Instance } from '../adapters/types.ts';
import { serveDirtyRingCollector } from '../profiles/dirty-ring-collector/wire.ts';
import { serveKvmDirtyLog } from '../profiles/kvm-dirty-log/wire.ts';
import { serveKvmDirtyRing } from '../profiles/kvm-dirty-ring/wire.ts';
import { bytesFromWire, bytesToWire, maskToWire, u64FromWire, u64ToWire } from './codec.ts';

type Msg = Record<string, unknown>;
/** Makes a callback to the kit and returns its answer (synchronously: the implementation waits for it). */
export type Call = (op: string, args?: Msg) => unknown;
/** One profile's half: serves its requests (`<profile>.<method>`) for one adapter. Throws for an op it does not know, or one before create. */
export type ProfileServer = (m: Msg & { op: string }) => Promise<unknown>;
type Server<A extends Adapter> = (adapter: A, call: Call) => ProfileServer;

const u = (v: unknown) => u64FromWire(v as string);
const n = (v: unknown) => v as number;

/** Kit memory seen through callbacks. `hook` and `frameWords` exist so the reference accepts it; the hook is never called. */
function remoteMemory(call: Call): KitMemory & { hook: () => void; frameWords(): never; frameCount: number } {
  return {
    hook: () => {},
    frameWords() {
      throw new Error('frameWords: kit memory is remote');
    },
    frameCount: 0,
    load: (address) => u(call('memory.load', { address })),
    store: (address, value) => void call('memory.store', { address, value: maskToWire(value) }),
    exchange: (address, value) => u(call('memory.exchange', { address, value: maskToWire(value) })),
    compareExchange: (address, expected, replacement) => u(call('memory.compareExchange', { address, expected: maskToWire(expected), replacement: maskToWire(replacement) })),
    fetchOr: (address, mask) => u(call('memory.fetchOr', { address, mask: maskToWire(mask) })),
    fetchAnd: (address, mask) => u(call('memory.fetchAnd', { address, mask: maskToWire(mask) })),
    allocFrame: () => call('memory.allocFrame') as number,
    freeFrame: (address) => void call('memory.freeFrame', { address }),
  };
}

function remotePort(call: Call, idr0: number, idr3: number): KitSmmuPort {
  return {
    idr0,
    idr3,
    attachStream: (streamId, cdAddress) => void call('smmu.attachStream', { streamId, cdAddress }),
    detachStream: (streamId) => void call('smmu.detachStream', { streamId }),
    submit: (commands: readonly SmmuCommand[]) => void call('smmu.submit', { commands }),
  };
}

function remoteBuffer(call: Call, size: number): KitUserBuffer {
  return {
    size,
    pin: (page) => call('buffer.pin', { page }) as boolean,
    unpin: (page) => void call('buffer.unpin', { page }),
    orByte: (page, offset, mask) => void call('buffer.orByte', { page, offset, mask }),
    fillBytes: (page, start, end, value) => void call('buffer.fillBytes', { page, start, end, value }),
    readByte: (page, offset) => call('buffer.readByte', { page, offset }) as number,
  };
}

/** The instance `create` made, or an error naming the op that came before it. */
function created<T>(x: T | undefined, op: string): T {
  if (x === undefined) throw new Error(`${op} before create`);
  return x;
}

/** A method the adapter may leave out (the run's contract decides whether it is called). */
function optional<F>(f: F | undefined, op: string, what: string): F {
  if (f === undefined) throw new Error(`${op}: this implementation has no ${what}; it was called`);
  return f;
}

const serveSmmuHw: Server<SmmuHwAdapter> = (adapter, call) => {
  let hw: SmmuHw | undefined;
  return async (m) => {
    switch (m.op) {
      case 'smmu-hw.create':
        hw = await adapter.create(remoteMemory(call), { httu: n(m.httu) as 0, bbml: n(m.bbml) as 0, iotlbCapacity: n(m.iotlbCapacity) });
        return {};
      case 'smmu-hw.readRegisters':
        return created(hw, m.op).readRegisters();
      case 'smmu-hw.attachStream':
        await created(hw, m.op).attachStream(n(m.streamId), n(m.cdAddress));
        return {};
      case 'smmu-hw.detachStream':
        await created(hw, m.op).detachStream(n(m.streamId));
        return {};
      case 'smmu-hw.submit':
        await created(hw, m.op).submit(m.commands as SmmuCommand[]);
        return {};
      case 'smmu-hw.dmaRead':
        return created(hw, m.op).dmaRead(n(m.streamId), n(m.iova));
      case 'smmu-hw.dmaWrite':
        return created(hw, m.op).dmaWrite(n(m.streamId), n(m.iova));
      default:
        throw new Error(`unknown op ${m.op}`);
    }
  };
};

const serveSmmuDriver: Server<SmmuDriverAdapter> = (adapter, call) => {
  let driver: SmmuDriver | undefined;
  return async (m) => {
    switch (m.op) {
      case 'smmu-driver.create': {
        const d = await adapter.create(remoteMemory(call), remotePort(call, n(m.idr0), n(m.idr3)), { asid: n(m.asid), dirtyCapable: m.dirtyCapable as boolean, pageGranular: m.pageGranular as boolean });
        if (typeof d === 'number') return { errno: d };
        driver = d;
        return {};
      }
      case 'smmu-driver.map':
        return { errno: await created(driver, m.op).map(n(m.iova), n(m.paddr), n(m.size), n(m.prot)) };
      case 'smmu-driver.unmap': {
        const r = await created(driver, m.op).unmap(n(m.iova), n(m.size));
        return { unmapped: r.unmapped, dirty: bytesToWire(r.dirty) };
      }
      case 'smmu-driver.splitBlock': {
        const d = created(driver, m.op);
        return { errno: await optional(d.splitBlock, m.op, 'splitBlock').call(d, n(m.iova), n(m.blockSize ?? 0)) };
      }
      case 'smmu-driver.mergePages': {
        const d = created(driver, m.op);
        return { errno: await optional(d.mergePages, m.op, 'mergePages').call(d, n(m.iova), n(m.level), n(m.blockSize ?? 0)) };
      }
      case 'smmu-driver.readAndClearDirty': {
        const r = await created(driver, m.op).readAndClearDirty(n(m.iova), n(m.size), n(m.flags));
        return { errno: r.errno, dirty: bytesToWire(r.dirty) };
      }
      case 'smmu-driver.setDirtyTracking':
        return { errno: await created(driver, m.op).setDirtyTracking(m.enable as boolean) };
      case 'smmu-driver.attach':
        return { errno: await created(driver, m.op).attach(n(m.streamId)) };
      default:
        throw new Error(`unknown op ${m.op}`);
    }
  };
};

const serveIovaBitmap: Server<IovaBitmapAdapter> = (adapter, call) => {
  let bitmap: IovaBitmapInstance | undefined;
  return async (m) => {
    switch (m.op) {
      case 'iova-bitmap.create': {
        const r = await adapter.create(remoteBuffer(call, n(m.bufferSize)), { iova: u(m.iova), length: u(m.length), pageSize: u(m.pageSize), offset: n(m.offset), bitmapSize: n(m.bitmapSize), maxPinnedPages: n(m.maxPinnedPages) });
        if (typeof r === 'number') return { errno: r };
        bitmap = r;
        return { errno: 0, ...(r.forEach === undefined ? {} : { forEach: true }) };
      }
      case 'iova-bitmap.set':
        return { errno: await created(bitmap, m.op).set(u(m.iova), u(m.length)) };
      case 'iova-bitmap.forEach': {
        const b = created(bitmap, m.op);
        return {
          errno: await optional(b.forEach, m.op, 'iova_bitmap_for_each').call(b, (iova, length) => {
            const a = call('bitmap.window', { iova: u64ToWire(iova), length: u64ToWire(length) }) as { set: { iova: string; length: string }[]; ret: number };
            return { set: a.set.map((s) => ({ iova: u(s.iova), length: u(s.length) })), ret: a.ret };
          }),
        };
      }
      case 'iova-bitmap.free':
        await created(bitmap, m.op).free();
        bitmap = undefined;
        return {};
      default:
        throw new Error(`unknown op ${m.op}`);
    }
  };
};

const vfioBitmap = (b: Msg) => ({ pgsize: u(b.pgsize), size: u(b.size), ...(b.data === undefined ? {} : { data: bytesFromWire(b.data as string) }) });

const serveVfioType1: Server<VfioType1Adapter> = (adapter) => {
  let vfio: VfioType1Instance | undefined;
  return async (m) => {
    switch (m.op) {
      case 'vfio-type1.create':
        vfio = await adapter.create({ hwDirty: m.hwDirty as boolean, ...(m.dmaEntryLimit === undefined ? {} : { dmaEntryLimit: n(m.dmaEntryLimit) }) });
        return { vaddrLimit: u64ToWire(vfio.vaddrLimit), ...(vfio.dmaRw === undefined ? {} : { dmaRw: true }), ...(vfio.detachDevice === undefined || vfio.attachDevice === undefined ? {} : { groups: true }) };
      case 'vfio-type1.checkExtension':
        return { value: await created(vfio, m.op).checkExtension(n(m.extension)) };
      case 'vfio-type1.getInfo': {
        const i = await created(vfio, m.op).getInfo();
        return {
          errno: i.errno,
          flags: i.flags,
          iovaPgsizes: u64ToWire(i.iovaPgsizes),
          migration: { flags: i.migration.flags, pgsizeBitmap: u64ToWire(i.migration.pgsizeBitmap), maxDirtyBitmapSize: u64ToWire(i.migration.maxDirtyBitmapSize) },
          dmaAvail: i.dmaAvail,
          iovaRanges: i.iovaRanges.map((r) => ({ start: u64ToWire(r.start), end: u64ToWire(r.end) })),
        };
      }
      case 'vfio-type1.mapDma':
        return created(vfio, m.op).mapDma(n(m.flags), u(m.vaddr), u(m.iova), u(m.size));
      case 'vfio-type1.unmapDma': {
        const r = await created(vfio, m.op).unmapDma(n(m.flags), u(m.iova), u(m.size), m.bitmap === undefined ? undefined : vfioBitmap(m.bitmap as Msg));
        return { errno: r.errno, unmapped: u64ToWire(r.unmapped), ...(r.bitmap === undefined ? {} : { bitmap: bytesToWire(r.bitmap) }) };
      }
      case 'vfio-type1.dirtyPages': {
        const range = m.range as Msg | undefined;
        const r = await created(vfio, m.op).dirtyPages(n(m.flags), range === undefined ? undefined : { iova: u(range.iova), size: u(range.size), bitmap: vfioBitmap(range.bitmap as Msg) });
        return { errno: r.errno, ...(r.bitmap === undefined ? {} : { bitmap: bytesToWire(r.bitmap) }) };
      }
      case 'vfio-type1.deviceDmaWrite':
        return created(vfio, m.op).deviceDmaWrite(u(m.iova));
      case 'vfio-type1.dmaRw': {
        const v = created(vfio, m.op);
        return optional(v.dmaRw, m.op, 'vfio_dma_rw').call(v, u(m.iova), n(m.length), m.write as boolean);
      }
      case 'vfio-type1.detachDevice': {
        const v = created(vfio, m.op);
        return optional(v.detachDevice, m.op, "the device's group leaving").call(v);
      }
      case 'vfio-type1.attachDevice': {
        const v = created(vfio, m.op);
        return optional(v.attachDevice, m.op, "the device's group joining").call(v);
      }
      default:
        throw new Error(`unknown op ${m.op}`);
    }
  };
};

/** Each profile's half, by name. `satisfies` checks that every adapter of the `Adapter` union has one, typed for it. */
export const servers = {
  'smmu-hw': serveSmmuHw,
  'smmu-driver': serveSmmuDriver,
  'iova-bitmap': serveIovaBitmap,
  'vfio-type1': serveVfioType1,
  'kvm-dirty-log': serveKvmDirtyLog,
  'kvm-dirty-ring': serveKvmDirtyRing,
  'dirty-ring-collector': serveDirtyRingCollector,
} as const satisfies { readonly [P in Adapter['profile']]: Server<Extract<Adapter, { profile: P }>> };

/** The half that serves `adapter`'s profile. */
export function serverOf(adapter: Adapter, call: Call): ProfileServer {
  return (servers[adapter.profile] as Server<Adapter>)(adapter, call);
}
