// `dirtyspec run --exec COMMAND`: the adapters of the profiles an implementation names
// in its hello, each operation a request over the protocol (PROTOCOL.md), each callback
// answered from the kit's memory, SMMU port or user buffer.
import { profiles, type ProfileModule } from '../profiles/index.ts';
import type { Adapter, DirtyBitmap, IovaBitmapAdapter, IovaBitmapWindowAnswer, KitMemory, KitSmmuPort, KitUserBuffer, ProfileName, SmmuCommand, SmmuDriverAdapter, SmmuHwAdapter, VfioBitmapArg, VfioType1Adapter } from '../adapters/types.ts';
import { bytesFromWire, bytesToWire, u64FromWire, u64ToWire } from './codec.ts';
import type { CallbackHandler, Channel } from './channel.ts';
import { type Capabilities, type ContractName, contracts } from '../../spec/contracts/index.ts';
import type { SmmuContractDeclaration } from '../adapters/types.ts';
import { ExecPeer } from './peer.ts';
import { markPeerTimed } from '../engine/crash.ts';
import { callWeight } from '../engine/limits.ts';

type Msg = Record<string, unknown>;
const n = (v: unknown) => v as number;
const u = (v: unknown) => u64FromWire(v as string);

/** Answers memory callbacks (PROTOCOL.md: smmu-hw and smmu-driver). */
function memoryOp(memory: KitMemory, c: Msg & { op: string }): unknown {
  switch (c.op) {
    case 'memory.load':
      return u64ToWire(memory.load(n(c.address)));
    case 'memory.store':
      memory.store(n(c.address), u(c.value));
      return null;
    case 'memory.exchange':
      return u64ToWire(memory.exchange(n(c.address), u(c.value)));
    case 'memory.compareExchange':
      return u64ToWire(memory.compareExchange(n(c.address), u(c.expected), u(c.replacement)));
    case 'memory.fetchOr':
      return u64ToWire(memory.fetchOr(n(c.address), u(c.mask)));
    case 'memory.fetchAnd':
      return u64ToWire(memory.fetchAnd(n(c.address), u(c.mask)));
    case 'memory.allocFrame':
      return memory.allocFrame();
    case 'memory.freeFrame':
      memory.freeFrame(n(c.address));
      return null;
    default:
      throw new Error(`${c.op} is not a callback of this profile`);
  }
}

function smmuOp(memory: KitMemory, port: KitSmmuPort): CallbackHandler {
  return (c) => {
    switch (c.op) {
      case 'smmu.attachStream':
        port.attachStream(n(c.streamId), n(c.cdAddress));
        return null;
      case 'smmu.detachStream':
        port.detachStream(n(c.streamId));
        return null;
      case 'smmu.submit':
        port.submit(c.commands as SmmuCommand[]);
        return null;
      default:
        return memoryOp(memory, c);
    }
  };
}

function bufferOp(buffer: KitUserBuffer, window?: (iova: bigint, length: bigint) => IovaBitmapWindowAnswer): CallbackHandler {
  return (c) => {
    switch (c.op) {
      case 'buffer.pin':
        return buffer.pin(n(c.page));
      case 'buffer.unpin':
        buffer.unpin(n(c.page));
        return null;
      case 'buffer.orByte':
        buffer.orByte(n(c.page), n(c.offset), n(c.mask));
        return null;
      case 'buffer.fillBytes':
        buffer.fillBytes(n(c.page), n(c.start), n(c.end), n(c.value));
        return null;
      case 'buffer.readByte':
        return buffer.readByte(n(c.page), n(c.offset));
      case 'bitmap.window': {
        if (window === undefined) throw new Error('bitmap.window outside iova-bitmap.forEach');
        const a = window(u64FromWire(c.iova as string), u64FromWire(c.length as string));
        return { set: a.set.map((s) => ({ iova: u64ToWire(s.iova), length: u64ToWire(s.length) })), ret: a.ret };
      }
      default:
        throw new Error(`${c.op} is not a callback of profile iova-bitmap`);
    }
  };
}

const bitmap = (v: unknown): DirtyBitmap => bytesFromWire(v as string);
const vfioBitmapToWire = (b: VfioBitmapArg) => ({ pgsize: u64ToWire(b.pgsize), size: u64ToWire(b.size), ...(b.data === undefined ? {} : { data: bytesToWire(b.data) }) });

export function smmuHw(peer: Channel, name: string): SmmuHwAdapter {
  return {
    profile: 'smmu-hw',
    name,
    ...declared(peer),
    async create(memory, config) {
      const on = (c: Msg & { op: string }) => memoryOp(memory, c);
      const call = (op: string, args: Msg = {}) => peer.request(`smmu-hw.${op}`, args, on);
      await call('create', { httu: config.httu, bbml: config.bbml, iotlbCapacity: config.iotlbCapacity });
      const dma = async (op: string, streamId: number, iova: number) => {
        const r = await call(op, { streamId, iova });
        return r.ok === true ? { ok: true as const, pa: n(r.pa) } : { ok: false as const, fault: r.fault as 'translation' };
      };
      return {
        readRegisters: async () => {
          const r = await call('readRegisters');
          return { idr0: n(r.idr0), idr3: n(r.idr3) };
        },
        attachStream: async (streamId, cdAddress) => void (await call('attachStream', { streamId, cdAddress })),
        detachStream: async (streamId) => void (await call('detachStream', { streamId })),
        submit: async (commands) => void (await call('submit', { commands })),
        dmaRead: (streamId, iova) => dma('dmaRead', streamId, iova),
        dmaWrite: (streamId, iova) => dma('dmaWrite', streamId, iova),
      };
    },
  };
}

/** The contract and capabilities a hello declares (PROTOCOL.md, "Contracts"), as an smmu adapter's fields. */
function declared(peer: Channel): SmmuContractDeclaration {
  const h = peer.hello;
  return {
    ...(h.contract === undefined ? {} : { contract: h.contract as ContractName }),
    ...(h.capabilities === undefined ? {} : { capabilities: h.capabilities as unknown as Capabilities }),
  };
}

export function smmuDriver(peer: Channel, name: string): SmmuDriverAdapter {
  const decl = declared(peer);
  // The operations the declared contract has: the others are not offered (and so never sent).
  const ops = (decl.capabilities ?? contracts[decl.contract ?? 'strict']?.capabilities ?? contracts.strict.capabilities).operations;
  return {
    profile: 'smmu-driver',
    name,
    ...decl,
    async create(memory, smmu, config) {
      const on = smmuOp(memory, smmu);
      const call = (op: string, args: Msg) => peer.request(`smmu-driver.${op}`, args, on);
      const errno = async (op: string, args: Msg) => n((await call(op, args)).errno);
      const created = await call('create', { asid: config.asid, dirtyCapable: config.dirtyCapable, pageGranular: config.pageGranular, idr0: smmu.idr0, idr3: smmu.idr3 });
      if (created.errno !== undefined) return n(created.errno);
      return {
        map: (iova, paddr, size, prot) => errno('map', { iova, paddr, size, prot }),
        async unmap(iova, size) {
          const r = await call('unmap', { iova, size });
          return { unmapped: n(r.unmapped), dirty: bitmap(r.dirty) };
        },
        ...(ops.splitBlock ? { splitBlock: (iova: number, blockSize: number) => errno('splitBlock', { iova, blockSize }) } : {}),
        ...(ops.mergePages ? { mergePages: (iova: number, level: number, blockSize: number) => errno('mergePages', { iova, level, blockSize }) } : {}),
        async readAndClearDirty(iova, size, flags) {
          const r = await call('readAndClearDirty', { iova, size, flags });
          return { errno: n(r.errno), dirty: bitmap(r.dirty) };
        },
        setDirtyTracking: (enable) => errno('setDirtyTracking', { enable }),
        attach: (streamId) => errno('attach', { streamId }),
      };
    },
  };
}

export function iovaBitmap(peer: Channel, name: string): IovaBitmapAdapter {
  return {
    profile: 'iova-bitmap',
    name,
    async create(buffer, args) {
      const on = bufferOp(buffer);
      const call = (op: string, a: Msg) => peer.request(`iova-bitmap.${op}`, a, on);
      const r = await call('create', {
        iova: u64ToWire(args.iova),
        length: u64ToWire(args.length),
        pageSize: u64ToWire(args.pageSize),
        offset: args.offset,
        bitmapSize: args.bitmapSize,
        maxPinnedPages: args.maxPinnedPages,
        bufferSize: buffer.size,
      });
      if (r.errno !== 0) return n(r.errno);
      return {
        set: async (iova, length) => n((await call('set', { iova: u64ToWire(iova), length: u64ToWire(length) })).errno),
        free: async () => void (await call('free', {})),
        // iova_bitmap_for_each only where the implementation says it has one (create's `forEach`).
        ...(r.forEach === true ? { forEach: async (window: (iova: bigint, length: bigint) => IovaBitmapWindowAnswer) => n((await peer.request('iova-bitmap.forEach', {}, bufferOp(buffer, window))).errno) } : {}),
      };
    },
  };
}

export function vfioType1(peer: Channel, name: string): VfioType1Adapter {
  return {
    profile: 'vfio-type1',
    name,
    async create(config) {
      const call = (op: string, a: Msg = {}, weight = 1) => peer.request(`vfio-type1.${op}`, a, undefined, weight);
      const r = await call('create', { hwDirty: config.hwDirty, ...(config.dmaEntryLimit === undefined ? {} : { dmaEntryLimit: config.dmaEntryLimit }) });
      return {
        vaddrLimit: u(r.vaddrLimit),
        checkExtension: async (extension) => n((await call('checkExtension', { extension })).value),
        async getInfo() {
          const i = await call('getInfo');
          const m = i.migration as Msg;
          return {
            errno: n(i.errno),
            flags: n(i.flags),
            iovaPgsizes: u(i.iovaPgsizes),
            migration: { flags: n(m.flags), pgsizeBitmap: u(m.pgsizeBitmap), maxDirtyBitmapSize: u(m.maxDirtyBitmapSize) },
            dmaAvail: n(i.dmaAvail),
            iovaRanges: (i.iovaRanges as Msg[]).map((x) => ({ start: u(x.start), end: u(x.end) })),
          };
        },
        mapDma: async (flags, vaddr, iova, size) => ({ errno: n((await call('mapDma', { flags, vaddr: u64ToWire(vaddr), iova: u64ToWire(iova), size: u64ToWire(size) }, callWeight(size))).errno) }),
        async unmapDma(flags, iova, size, bm) {
          const x = await call('unmapDma', { flags, iova: u64ToWire(iova), size: u64ToWire(size), ...(bm === undefined ? {} : { bitmap: vfioBitmapToWire(bm) }) }, callWeight(size));
          return { errno: n(x.errno), unmapped: u(x.unmapped), ...(x.bitmap === undefined ? {} : { bitmap: bitmap(x.bitmap) }) };
        },
        async dirtyPages(flags, range) {
          const x = await call('dirtyPages', { flags, ...(range === undefined ? {} : { range: { iova: u64ToWire(range.iova), size: u64ToWire(range.size), bitmap: vfioBitmapToWire(range.bitmap) } }) });
          return { errno: n(x.errno), ...(x.bitmap === undefined ? {} : { bitmap: bitmap(x.bitmap) }) };
        },
        deviceDmaWrite: async (iova) => ({ ok: (await call('deviceDmaWrite', { iova: u64ToWire(iova) })).ok as boolean }),
        // vfio_dma_rw only where the implementation says it has one (create's `dmaRw`).
        ...(r.dmaRw === true ? { dmaRw: async (iova: bigint, length: number, write: boolean) => ({ errno: n((await call('dmaRw', { iova: u64ToWire(iova), length, write })).errno) }) } : {}),
        // The device's group out of the container and back, only where the implementation says it has them (create's `groups`).
        ...(r.groups === true
          ? {
              detachDevice: async () => ({ errno: n((await call('detachDevice')).errno) }),
              attachDevice: async () => ({ errno: n((await call('attachDevice')).errno) }),
            }
          : {}),
      };
    },
  };
}

/**
 * One adapter per profile the implementation named in its hello, all over `peer` (each
 * profile's mapping: its module's overChannel). Over a process (ExecPeer), a sequence
 * that starts after the process crashed (died or hung in a call) starts a fresh one.
 */
export function execAdapters(peer: Channel): Map<ProfileName, Adapter> {
  const out = new Map<ProfileName, Adapter>();
  for (const p of peer.hello.profiles as ProfileName[]) {
    const a = (profiles[p] as ProfileModule).overChannel(peer, peer.hello.name);
    out.set(p, peer instanceof ExecPeer ? revivingAfterCrash(a, peer) : a);
  }
  return out;
}

/** Also marks the adapter peer-timed (engine/crash.ts): the peer's --timeout decides a hang, which can then be judged as a crash. */
function revivingAfterCrash<A extends Adapter>(a: A, peer: ExecPeer): A {
  const create = a.create.bind(a) as (...args: unknown[]) => Promise<unknown>;
  return markPeerTimed({
    ...a,
    // No await when the session is alive: the request goes out at once, as without the wrapper.
    create: (...args: unknown[]) => (peer.endedInCrash ? peer.renew().then(() => create(...args)) : create(...args)),
  } as A);
}
