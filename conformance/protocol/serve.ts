// The implementation's end of the protocol, for adapters written in TypeScript: serves
// them over standard input and output (PROTOCOL.md). `serve-reference.ts` serves the
// built-in reference this way, which tests the protocol end to end on every profile and
// gives the round-trip benchmark its partner. Everything here is synchronous, as a C
// harness would be: a callback blocks until the kit's answer line has been read.
import { serveKvmDirtyLog } from '../profiles/kvm-dirty-log/wire.ts';
import { serveKvmDirtyRing } from '../profiles/kvm-dirty-ring/wire.ts';
import { serveDirtyRingCollector } from '../profiles/dirty-ring-collector/wire.ts';
import { readSync, writeSync } from 'node:fs';
import type { Adapter, IovaBitmapInstance, KitMemory, KitSmmuPort, KitUserBuffer, SmmuCommand, SmmuDriver, SmmuHw, VfioType1Instance } from '../adapters/types.ts';
import { bytesFromWire, bytesToWire, maskToWire, u64FromWire, u64ToWire } from './codec.ts';
import { PROTOCOL_VERSION } from './peer.ts';
import type { PeerHello } from './channel.ts';

type Msg = Record<string, unknown> & { op?: string };

/** The shell command that serves the reference over the protocol (serve-reference.ts), for --exec. */
export const SERVE_REFERENCE_COMMAND = `${JSON.stringify(process.execPath)} --import tsx ${JSON.stringify(new URL('./serve-reference.ts', import.meta.url).pathname)}`;

class LineIo {
  private buffered = '';
  private readonly chunk = Buffer.alloc(1 << 16);
  constructor(
    private readonly input: number,
    private readonly output: number,
  ) {}

  /** The next line, or undefined at end of input. */
  read(): string | undefined {
    for (;;) {
      const nl = this.buffered.indexOf('\n');
      if (nl >= 0) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        return line;
      }
      let got: number;
      try {
        got = readSync(this.input, this.chunk, 0, this.chunk.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        if ((e as NodeJS.ErrnoException).code === 'EOF') return undefined;
        throw e;
      }
      if (got === 0) return undefined;
      this.buffered += this.chunk.toString('utf8', 0, got);
    }
  }

  write(msg: unknown): void {
    const line = `${JSON.stringify(msg)}\n`;
    let off = 0;
    const bytes = Buffer.from(line);
    while (off < bytes.length) off += writeSync(this.output, bytes, off);
  }
}

/** How a server makes a callback and gets the kit's answer (synchronously). */
export interface CallbackPort {
  call(op: string, args?: Record<string, unknown>): unknown;
}

class Callbacks implements CallbackPort {
  private next = 1;
  constructor(private readonly io: LineIo) {}
  call(op: string, args: Record<string, unknown> = {}): unknown {
    const cb = this.next++;
    this.io.write({ cb, op, ...args });
    const line = this.io.read();
    if (line === undefined) throw new Error(`end of input while waiting for the answer to callback ${cb}`);
    const m = JSON.parse(line) as { re?: unknown; result?: unknown };
    if (m.re !== cb) throw new Error(`expected the answer to callback ${cb}, got ${line.slice(0, 200)}`);
    return m.result;
  }
}

/** Kit memory seen through callbacks. `hook` and `frameWords` exist so the reference accepts it; the hook is never called. */
function remoteMemory(cb: CallbackPort): KitMemory & { hook: () => void; frameWords(): never; frameCount: number } {
  const big = (v: unknown) => u64FromWire(v as string);
  return {
    hook: () => {},
    frameWords() {
      throw new Error('frameWords: kit memory is remote');
    },
    frameCount: 0,
    load: (address) => big(cb.call('memory.load', { address })),
    store: (address, value) => void cb.call('memory.store', { address, value: maskToWire(value) }),
    exchange: (address, value) => big(cb.call('memory.exchange', { address, value: maskToWire(value) })),
    compareExchange: (address, expected, replacement) => big(cb.call('memory.compareExchange', { address, expected: maskToWire(expected), replacement: maskToWire(replacement) })),
    fetchOr: (address, mask) => big(cb.call('memory.fetchOr', { address, mask: maskToWire(mask) })),
    fetchAnd: (address, mask) => big(cb.call('memory.fetchAnd', { address, mask: maskToWire(mask) })),
    allocFrame: () => cb.call('memory.allocFrame') as number,
    freeFrame: (address) => void cb.call('memory.freeFrame', { address }),
  };
}

function remotePort(cb: CallbackPort, idr0: number, idr3: number): KitSmmuPort {
  return {
    idr0,
    idr3,
    attachStream: (streamId, cdAddress) => void cb.call('smmu.attachStream', { streamId, cdAddress }),
    detachStream: (streamId) => void cb.call('smmu.detachStream', { streamId }),
    submit: (commands: readonly SmmuCommand[]) => void cb.call('smmu.submit', { commands }),
  };
}

function remoteBuffer(cb: CallbackPort, size: number): KitUserBuffer {
  return {
    size,
    pin: (page) => cb.call('buffer.pin', { page }) as boolean,
    unpin: (page) => void cb.call('buffer.unpin', { page }),
    orByte: (page, offset, mask) => void cb.call('buffer.orByte', { page, offset, mask }),
    fillBytes: (page, start, end, value) => void cb.call('buffer.fillBytes', { page, start, end, value }),
    readByte: (page, offset) => cb.call('buffer.readByte', { page, offset }) as number,
  };
}

const u = (v: unknown) => u64FromWire(v as string);
const n = (v: unknown) => v as number;
const vfioBitmap = (b: Msg) => ({ pgsize: u(b.pgsize), size: u(b.size), ...(b.data === undefined ? {} : { data: bytesFromWire(b.data as string) }) });

/** Serves `adapters` (one per profile) until `bye` or end of input. */
export async function serve(adapters: readonly Adapter[], name: string, input = 0, output = 1): Promise<void> {
  const io = new LineIo(input, output);
  const handle = protocolServer(adapters, name, new Callbacks(io));
  for (;;) {
    const line = io.read();
    if (line === undefined) return;
    const m = JSON.parse(line) as Msg & { id: number; op: string };
    let result: unknown;
    try {
      result = await handle(m);
    } catch (e) {
      io.write({ id: m.id, error: (e as Error).message });
      continue;
    }
    io.write({ id: m.id, result });
    if (m.op === 'bye') return;
  }
}

/**
 * The server's half of every operation: decodes a request's arguments, calls the adapter,
 * encodes its result. Callbacks go through `cb`. Throws for an op it does not know.
 */
export function protocolServer(adapters: readonly Adapter[], name: string, cb: CallbackPort): (m: Msg & { op: string }) => Promise<unknown> {
  const by = new Map(adapters.map((a) => [a.profile, a]));
  let hw: SmmuHw | undefined;
  let driver: SmmuDriver | undefined;
  let bitmap: IovaBitmapInstance | undefined;
  let vfio: VfioType1Instance | undefined;
  let kvm: ((m: Msg & { op: string }) => Promise<unknown>) | undefined;
  let ring: ((m: Msg & { op: string }) => Promise<unknown>) | undefined;
  let collector: ((m: Msg & { op: string }) => Promise<unknown>) | undefined;
  const need = <T>(x: T | undefined, what: string): T => {
    if (x === undefined) throw new Error(what.includes(':') ? what : `${what} before create`);
    return x;
  };
  return handle;

  async function handle(m: Msg & { op: string }): Promise<unknown> {
    const [profile, op] = m.op.includes('.') ? (m.op.split('.') as [string, string]) : ['', m.op];
    if (profile === '') {
      if (op === 'hello') return { protocol: PROTOCOL_VERSION, name, profiles: adapters.map((a) => a.profile), ...helloContract(adapters) };
      if (op === 'bye') return {};
      throw new Error(`unknown op ${m.op}`);
    }
    const a = by.get(profile as Adapter['profile']);
    if (a === undefined) throw new Error(`profile ${profile} is not served`);
    if (a.profile === 'kvm-dirty-log') return (kvm ??= serveKvmDirtyLog(a, (o, args) => cb.call(o, args)))(m);
    if (a.profile === 'kvm-dirty-ring') return (ring ??= serveKvmDirtyRing(a, (o, args) => cb.call(o, args)))(m);
    if (a.profile === 'dirty-ring-collector') return (collector ??= serveDirtyRingCollector(a, (o, args) => cb.call(o, args)))(m);
    if (op === 'create') {
      switch (a.profile) {
        case 'smmu-hw':
          hw = await a.create(remoteMemory(cb), { httu: n(m.httu) as 0, bbml: n(m.bbml) as 0, iotlbCapacity: n(m.iotlbCapacity) });
          return {};
        case 'smmu-driver': {
          const d = await a.create(remoteMemory(cb), remotePort(cb, n(m.idr0), n(m.idr3)), { asid: n(m.asid), dirtyCapable: m.dirtyCapable as boolean, pageGranular: m.pageGranular as boolean });
          if (typeof d === 'number') return { errno: d };
          driver = d;
          return {};
        }
        case 'iova-bitmap': {
          const r = await a.create(remoteBuffer(cb, n(m.bufferSize)), { iova: u(m.iova), length: u(m.length), pageSize: u(m.pageSize), offset: n(m.offset), bitmapSize: n(m.bitmapSize), maxPinnedPages: n(m.maxPinnedPages) });
          if (typeof r === 'number') return { errno: r };
          bitmap = r;
          return { errno: 0, ...(r.forEach === undefined ? {} : { forEach: true }) };
        }
        case 'vfio-type1':
          vfio = await a.create({ hwDirty: m.hwDirty as boolean, ...(m.dmaEntryLimit === undefined ? {} : { dmaEntryLimit: n(m.dmaEntryLimit) }) });
          return { vaddrLimit: u64ToWire(vfio.vaddrLimit) };
      }
    }
    switch (m.op) {
      case 'smmu-hw.readRegisters':
        return need(hw, m.op).readRegisters();
      case 'smmu-hw.attachStream':
        return need(hw, m.op)
          .attachStream(n(m.streamId), n(m.cdAddress))
          .then(() => ({}));
      case 'smmu-hw.detachStream':
        return need(hw, m.op)
          .detachStream(n(m.streamId))
          .then(() => ({}));
      case 'smmu-hw.submit':
        return need(hw, m.op)
          .submit(m.commands as SmmuCommand[])
          .then(() => ({}));
      case 'smmu-hw.dmaRead':
        return need(hw, m.op).dmaRead(n(m.streamId), n(m.iova));
      case 'smmu-hw.dmaWrite':
        return need(hw, m.op).dmaWrite(n(m.streamId), n(m.iova));
      case 'smmu-driver.map':
        return { errno: await need(driver, m.op).map(n(m.iova), n(m.paddr), n(m.size), n(m.prot)) };
      case 'smmu-driver.unmap': {
        const r = await need(driver, m.op).unmap(n(m.iova), n(m.size));
        return { unmapped: r.unmapped, dirty: bytesToWire(r.dirty) };
      }
      case 'smmu-driver.splitBlock':
        return { errno: await need(need(driver, m.op).splitBlock, `${m.op}: this implementation has no splitBlock; it was called`).call(driver, n(m.iova), n(m.blockSize ?? 0)) };
      case 'smmu-driver.mergePages':
        return { errno: await need(need(driver, m.op).mergePages, `${m.op}: this implementation has no mergePages; it was called`).call(driver, n(m.iova), n(m.level), n(m.blockSize ?? 0)) };
      case 'smmu-driver.readAndClearDirty': {
        const r = await need(driver, m.op).readAndClearDirty(n(m.iova), n(m.size), n(m.flags));
        return { errno: r.errno, dirty: bytesToWire(r.dirty) };
      }
      case 'smmu-driver.setDirtyTracking':
        return { errno: await need(driver, m.op).setDirtyTracking(m.enable as boolean) };
      case 'smmu-driver.attach':
        return { errno: await need(driver, m.op).attach(n(m.streamId)) };
      case 'iova-bitmap.set':
        return { errno: await need(bitmap, m.op).set(u(m.iova), u(m.length)) };
      case 'iova-bitmap.forEach': {
        const b = need(bitmap, m.op);
        if (b.forEach === undefined) throw new Error('iova-bitmap.forEach: this implementation has no iova_bitmap_for_each');
        return {
          errno: await b.forEach((iova, length) => {
            const a = cb.call('bitmap.window', { iova: u64ToWire(iova), length: u64ToWire(length) }) as { set: { iova: string; length: string }[]; ret: number };
            return { set: a.set.map((s) => ({ iova: u(s.iova), length: u(s.length) })), ret: a.ret };
          }),
        };
      }
      case 'iova-bitmap.free':
        await need(bitmap, m.op).free();
        bitmap = undefined;
        return {};
      case 'vfio-type1.checkExtension':
        return { value: await need(vfio, m.op).checkExtension(n(m.extension)) };
      case 'vfio-type1.getInfo': {
        const i = await need(vfio, m.op).getInfo();
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
        return need(vfio, m.op).mapDma(n(m.flags), u(m.vaddr), u(m.iova), u(m.size));
      case 'vfio-type1.unmapDma': {
        const r = await need(vfio, m.op).unmapDma(n(m.flags), u(m.iova), u(m.size), m.bitmap === undefined ? undefined : vfioBitmap(m.bitmap as Msg));
        return { errno: r.errno, unmapped: u64ToWire(r.unmapped), ...(r.bitmap === undefined ? {} : { bitmap: bytesToWire(r.bitmap) }) };
      }
      case 'vfio-type1.dirtyPages': {
        const range = m.range as Msg | undefined;
        const r = await need(vfio, m.op).dirtyPages(n(m.flags), range === undefined ? undefined : { iova: u(range.iova), size: u(range.size), bitmap: vfioBitmap(range.bitmap as Msg) });
        return { errno: r.errno, ...(r.bitmap === undefined ? {} : { bitmap: bytesToWire(r.bitmap) }) };
      }
      case 'vfio-type1.deviceDmaWrite':
        return need(vfio, m.op).deviceDmaWrite(u(m.iova));
      default:
        throw new Error(`unknown op ${m.op}`);
    }
  }
}

/** The contract part of a hello, from the adapters that declare one (the smmu profiles share it). */
export function helloContract(adapters: readonly Adapter[]): Pick<PeerHello, 'contract' | 'capabilities'> {
  for (const a of adapters) {
    if ((a.profile === 'smmu-driver' || a.profile === 'smmu-hw') && a.contract !== undefined) {
      return { contract: a.contract, ...(a.capabilities === undefined ? {} : { capabilities: a.capabilities as unknown as Record<string, unknown> }) };
    }
  }
  return {};
}
