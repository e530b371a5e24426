// The system a run drives: the implementation under test with the kit's parts around it.
//
// - smmu-hw: the adapter's SMMU; the kit supplies memory and the reference driver. The
//   driver's commands and stream-table writes go to the adapter in order after each
//   driver operation (no DMA runs inside a driver operation in this profile). Software
//   changes can run between the hardware's memory accesses (`interleave`). Its IOTLB can
//   be inspected where the adapter offers `iotlbEntries` (in process only).
// - smmu-driver: the adapter's driver; the kit supplies memory and the reference SMMU,
//   whose IOTLB the kit can inspect. DMA writes can run between the driver's memory
//   accesses (`inject`).
import { dirtyBitmapSet, newDirtyBitmap } from '../../spec/bitmap/dirty-bitmap.ts';
import { CTXDESC_CD_0_TCR_HA, CTXDESC_CD_0_TCR_HD, decodeContextDescriptor, smmuIdr0Httu, smmuIdr3Bbml } from '../../spec/smmu/context-descriptor.ts';
import { MemoryError, createKitDriver, createKitMemory, createKitSmmu } from '../adapters/reference.ts';
import { Violation } from '../../model/violation.ts';
import { WalkCaches, tablesOnWalk } from '../../model/walk-cache.ts';
import type { Adapter, DmaOutcome, KitSmmuPort, SmmuCommand, SmmuDriver, SmmuDriverAdapter, SmmuHw, SmmuHwAdapter, SmmuIotlbEntry } from '../adapters/types.ts';
import { type ContractName, contracts } from '../../spec/contracts/index.ts';
import { type CallLimits, CallTimer, Undecided, checkBitmap, checkCount, checkDma, checkErrno, timed } from './limits.ts';
import type { CallWatch } from './call-watch.ts';
import { type InFlightStep, inFlight, isPeerTimed } from './crash.ts';
import { profiles } from '../profiles/index.ts';

export interface SystemConfig {
  readonly httu: 0 | 1 | 2;
  readonly bbml: 0 | 2;
  readonly iotlbCapacity: number;
  readonly dirtyCapable: boolean;
  readonly pageGranular: boolean;
}

export const ASID = 1;

export interface TlbView {
  readonly base: number;
  readonly level: number;
  readonly state: string;
}

type Memory = ReturnType<typeof createKitMemory>;

export interface System {
  readonly profile: 'smmu-hw' | 'smmu-driver';
  /** The part the kit plays around the implementation (the profile module's `kitPlays`): the races a command can run depend on it, never on the profile's name. */
  readonly kitPlays: 'driver' | 'smmu';
  readonly memory: Memory;
  readonly streams: number[];
  /** TTB0 of the domain, read from the first stream's CD in kit memory. */
  ttb0(): number;
  /** HA/HD of every attached stream's CD, as in kit memory. */
  cds(): { streamId: number; ha: boolean; hd: boolean }[];
  map(iova: number, paddr: number, size: number, prot: number): Promise<number>;
  unmap(iova: number, size: number): Promise<{ unmapped: number; dirty: Uint8Array }>;
  /** `blockSize`: the block's size (what a contract with `split.told` 'iova-and-size' tells the driver). */
  splitBlock(iova: number, blockSize: number): Promise<number>;
  mergePages(iova: number, level: number, blockSize: number): Promise<number>;
  readAndClearDirty(iova: number, size: number, flags: number): Promise<{ errno: number; dirty: Uint8Array }>;
  setDirtyTracking(enable: boolean): Promise<number>;
  attach(streamId: number): Promise<number>;
  dma(streamId: number, iova: number, write: boolean): Promise<DmaOutcome>;
  invalidate(iova: number, size: number | 'all'): Promise<void>;
  /**
   * smmu-hw only, and only where they differ from the configuration the kit asked create for
   * (BBML1 and BBML2 are one to the kit's driver and the model): what the SMMU presents in
   * SMMU_IDR0.HTTU and SMMU_IDR3.BBML (a model without HTTU, say, QEMU's), and the
   * configuration the run has with them (SystemOptions.configFor), which the kit's driver
   * was built with. The kit's driver reads the registers, as Linux's
   * arm_smmu_device_hw_probe does, so the run follows them.
   */
  readonly presents?: { readonly httu: 0 | 1 | 2; readonly bbml: 0 | 1 | 2; readonly config: SystemConfig };
  /** smmu-hw only (the kit is the driver there): writes HA/HD into every CD, then CMD_CFGI_CD + CMD_SYNC. */
  kitSetCds?(ha: boolean, hd: boolean): Promise<void>;
  /** smmu-hw only: the kit's page-table driver called directly, whatever the tracking state. */
  kitPgtable?: {
    readAndClearDirty(iova: number, size: number): Promise<void>;
    markAllWritableDirty(): Promise<void>;
  };
  /** smmu-driver only (the kit is the SMMU there): a table page the driver freed while a walk through it may still be cached (IOTLB-12), once. */
  freedWalkedTable?(): Violation | undefined;
  /** The IOTLB of the domain's ASID: the kit's SMMU's (smmu-driver), or the adapter's where it offers `iotlbEntries` (smmu-hw); undefined otherwise. */
  tlb(): TlbView[] | undefined;
  /**
   * Runs `op` with a hook that, at the `at`-th memory access it makes, runs `act` once.
   * Returns what `act` returned (undefined if the operation made fewer accesses).
   */
  withHook<T, R>(at: HookTrigger, act: () => R, op: () => Promise<T>): Promise<[T, R | undefined]>;
}

/** The limit on each call (and the watch a watched worker's run publishes its calls to: call-watch.ts), and the contract. */
export interface SystemOptions extends CallLimits {
  /** smmu-hw: the contract the kit's driver follows (default strict). */
  readonly contract?: ContractName;
  /**
   * smmu-hw: the configuration the run has with the registers the SMMU presents (its
   * contract's create rules applied to them, run-profile.ts runSequence), where they differ
   * from the one asked for: the kit's driver is built with it, so it never writes what a
   * domain on that SMMU could not have (HA/HD of a dirty-capable domain without HTTU 2).
   */
  readonly configFor?: (presents: { readonly httu: 0 | 1 | 2; readonly bbml: 0 | 1 | 2 }) => SystemConfig;
  /** The run's pool of kit-memory backing store (RunContext.memoryChunks): the system's memory takes from it, and gives back on `System.release`. */
  readonly chunks?: Map<number, BigUint64Array[]>;
}

/** The implementation's create refused the configuration with `errno` (a contract may allow it: `capabilities.create.refuses`). */
export class CreateRefused extends Error {
  constructor(
    readonly errno: number,
    what: string,
  ) {
    super(`${what} refused the configuration with ${errno}`);
    this.name = 'CreateRefused';
  }
}

class CdRegistry {
  readonly byStream = new Map<number, number>();
  constructor(private readonly memory: Memory) {}
  ttb0(): number {
    const first = [...this.byStream.values()][0];
    if (first === undefined) return 0;
    return decodeContextDescriptor(this.memory.load(first), this.memory.load(first + 8)).ttb0;
  }
  cds() {
    return [...this.byStream].map(([streamId, at]) => {
      const cd = decodeContextDescriptor(this.memory.load(at), this.memory.load(at + 8));
      return { streamId, ha: cd.ha, hd: cd.hd };
    });
  }
}

/**
 * When a hook acts: at the `at`-th memory access of the operation (counted from 0), or
 * aimed at one descriptor: at the operation's `nth` access (from 0) to the word at
 * `address`, so that a race lands between the read and the write of that descriptor (or,
 * `after`, just after that access: before the operation's next access of any kind).
 */
export type HookTrigger = number | { readonly address: number; readonly nth: number; readonly after?: boolean };

function withHook(memory: Memory) {
  return async <T, R>(at: HookTrigger, act: () => R, op: () => Promise<T>): Promise<[T, R | undefined]> => {
    let count = 0;
    let armed = false;
    let result: R | undefined;
    memory.hook =
      typeof at === 'number'
        ? () => {
            if (count++ === at) result = act();
          }
        : (_kind, address) => {
            // `after`: armed by the nth access to the word, fired before the next access of any kind.
            if (armed) {
              armed = false;
              result = act();
            }
            if (address === at.address && count++ === at.nth) {
              if (at.after === true) armed = true;
              else result = act();
            }
          };
    try {
      return [await op(), result];
    } finally {
      memory.hook = undefined;
    }
  };
}

const hex = (n: number) => `0x${n.toString(16)}`;

const IOTLB_STATES: readonly string[] = ['readOnly', 'writable', 'writableClean', 'writableDirty'] satisfies readonly SmmuIotlbEntry['state'][];

/**
 * smmu-hw: the adapter's IOTLB view (`SmmuHw.iotlbEntries`) as the engine reads it: the
 * entries of the domain's ASID, each checked for shape (a malformed answer, or a throw,
 * makes the run undecided).
 */
function iotlbView(name: string, hw: SmmuHw & { iotlbEntries(): readonly SmmuIotlbEntry[] }, timeoutMs: number, watch: CallWatch | undefined): () => TlbView[] {
  return () => {
    let entries: unknown;
    // Synchronous, so no timer can limit it: only a watching thread can stop it if it never returns (call-watch.ts).
    watch?.started(timeoutMs);
    try {
      entries = hw.iotlbEntries();
    } catch (e) {
      throw new Undecided(`${name} iotlbEntries threw: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    } finally {
      watch?.ended();
    }
    if (!Array.isArray(entries)) throw new Undecided(`${name} iotlbEntries answered ${JSON.stringify(entries)}: expected an array of { asid, base, level, state }`);
    const out: TlbView[] = [];
    for (const e of entries as Partial<SmmuIotlbEntry>[]) {
      const bad = (field: string, rule: string) => new Undecided(`${name} iotlbEntries answered an entry ${JSON.stringify(e)}: ${field} ${rule}`);
      if (typeof e !== 'object' || e === null) throw bad('the entry', 'must be an object');
      if (!Number.isSafeInteger(e.asid)) throw bad('asid', 'must be an integer');
      if (e.level !== 1 && e.level !== 2 && e.level !== 3) throw bad('level', 'must be 1, 2 or 3');
      if (!Number.isSafeInteger(e.base) || e.base! < 0 || e.base! % 2 ** (12 + 9 * (3 - e.level)) !== 0) throw bad('base', "must be a non-negative integer aligned to the level's size");
      if (!IOTLB_STATES.includes(e.state as string)) throw bad('state', `must be one of ${IOTLB_STATES.join(', ')}`);
      if (e.asid === ASID) out.push({ base: e.base!, level: e.level, state: e.state! });
    }
    return out;
  };
}

/**
 * `answer`, with the step it is (built only then) given to a crash or hang of the process
 * under test during it (engine/crash.ts); only an adapter over a process (peer-timed) can
 * crash so, so an in-process one's calls are left as they are.
 */
function stepOf<T>(adapter: object, answer: Promise<T>, step: () => InFlightStep): Promise<T> {
  return isPeerTimed(adapter) ? answer.catch(inFlight(step)) : answer;
}

/**
 * For a crash or hang of the process under test in a call (engine/crash.ts): the
 * requirements that say what the call must answer for a valid input, by operation.
 * `hdQuirk`: whether a writable map must give a writable-dirty leaf (MAP-2) or a plain
 * writable one (MAP-3). Creating, reading registers and detaching name none.
 */
function driverCallReq(op: 'map' | 'unmap' | 'splitBlock' | 'mergePages' | 'readAndClearDirty' | 'setDirtyTracking' | 'attach', hdQuirk: boolean, arg: { prot?: number; enable?: boolean } = {}): string[] {
  switch (op) {
    case 'map':
      return ((arg.prot ?? 0) & 2) === 0 ? ['MAP-1'] : [hdQuirk ? 'MAP-2' : 'MAP-3'];
    case 'unmap':
      return ['UNMAP-1'];
    case 'splitBlock':
      return ['SPLIT-1'];
    case 'mergePages':
      return ['MERGE-1', 'MERGE-2'];
    case 'readAndClearDirty':
      return ['CLEAR-1', 'NOLOSS-1'];
    case 'setDirtyTracking':
      return arg.enable === true ? ['TRACK-1'] : ['TRACK-6'];
    case 'attach':
      return ['TRACK-7'];
  }
}

/** The same for the SMMU's calls (smmu-hw): a DMA access by its HTTU rules, commands by what they complete, an attached stream by TRACK-7. */
function hwCallReq(call: { dma: 'read' | 'write' } | { commands: readonly SmmuCommand[] } | { attachStream: true }): string[] {
  if ('dma' in call) return call.dma === 'write' ? ['HTTU-2', 'HTTU-4'] : ['HTTU-3'];
  if ('attachStream' in call) return ['TRACK-7'];
  const req = new Set<string>();
  for (const c of call.commands) {
    if (c.op === 'CMD_TLBI_NH_VA' || c.op === 'CMD_TLBI_NH_ASID') req.add('IOTLB-9');
    if (c.op === 'CMD_CFGI_CD') req.add('TRACK-2');
  }
  return [...req];
}

export async function createSystem(adapter: SmmuHwAdapter | SmmuDriverAdapter, config: SystemConfig, options: SystemOptions): Promise<System> {
  // What the kit plays, as the profile module says, picks the system: the driver around an SMMU, or the SMMU under a driver.
  const kitPlays = profiles[adapter.profile].kitPlays;
  if (kitPlays === undefined) throw new Error(`profile ${adapter.profile}: its module says no part the kit plays (kitPlays)`);
  return kitPlays === 'driver' ? createHwSystem(adapter as SmmuHwAdapter, config, options, kitPlays) : createDriverSystem(adapter as SmmuDriverAdapter, config, options, kitPlays);
}

async function createHwSystem(adapter: Adapter & { profile: 'smmu-hw' }, config: SystemConfig, options: SystemOptions, kitPlays: System['kitPlays']): Promise<System> {
  const { timeoutMs, watch } = options;
  const memory = createKitMemory(options.chunks);
  const name = `${adapter.name} (smmu-hw)`;
  const hw: SmmuHw = await timed(`${name} create`, timeoutMs, () => adapter.create(memory, { httu: config.httu, bbml: config.bbml, iotlbCapacity: config.iotlbCapacity }), watch);
  const regs = await timed(`${name} readRegisters`, timeoutMs, () => hw.readRegisters(), watch);
  if (!Number.isInteger(regs?.idr0) || !Number.isInteger(regs?.idr3)) throw new Undecided(`${name} readRegisters answered ${JSON.stringify(regs)}: expected integers idr0 and idr3`);
  const httu = smmuIdr0Httu(regs.idr0);
  const bbml = smmuIdr3Bbml(regs.idr3);
  if (httu === 3) throw new Undecided(`${name} readRegisters answered SMMU_IDR0 = ${hex(regs.idr0)}: its HTTU field (bits 7:6) is 0b11, a reserved value`);
  if (bbml === 3) throw new Undecided(`${name} readRegisters answered SMMU_IDR3 = ${hex(regs.idr3)}: its BBML field (bits 12:11) is 0b11, a reserved value`);
  const registers = { httu, bbml } as { httu: 0 | 1 | 2; bbml: 0 | 1 | 2 };
  const differs = httu !== config.httu || (bbml === 0) !== (config.bbml === 0);
  const presents = differs ? { ...registers, config: options.configFor?.(registers) ?? { ...config, httu: registers.httu, bbml: registers.bbml === 0 ? 0 : 2 } } : undefined;
  const effective = presents?.config ?? config;
  const queue: { what: string; call: () => Promise<void>; req: string[] }[] = [];
  const cdRegistry = new CdRegistry(memory);
  const port = {
    idr0: regs.idr0,
    idr3: regs.idr3,
    attachStream: (streamId: number, cd: number) => {
      cdRegistry.byStream.set(streamId, cd);
      queue.push({ what: `attachStream(${streamId})`, call: () => hw.attachStream(streamId, cd), req: hwCallReq({ attachStream: true }) });
    },
    detachStream: (streamId: number) => {
      cdRegistry.byStream.delete(streamId);
      queue.push({ what: `detachStream(${streamId})`, call: () => hw.detachStream(streamId), req: [] });
    },
    submit: (commands: readonly SmmuCommand[]) => {
      const copy = [...commands];
      queue.push({ what: `submit(${copy.map((c) => c.op).join(', ')})`, call: () => hw.submit(copy), req: hwCallReq({ commands: copy }) });
    },
  };
  const driver = createKitDriver(memory, port, { asid: ASID, dirtyCapable: effective.dirtyCapable, pageGranular: effective.pageGranular }, options.contract);
  const timer = new CallTimer(timeoutMs, watch);
  const drain = async () => {
    while (queue.length > 0) {
      const { what, call, req } = queue.shift()!;
      await stepOf(
        adapter,
        timer.run(() => `${name} ${what}`, call),
        () => ({ op: `the kit's driver: ${what}`, expected: 'done', req }),
      );
    }
  };
  // A software change the kit makes inside a hardware access (`interleave`) queues its
  // commands; they reach the SMMU when the access is over. The SMMU is one agent: the
  // command queue's CMD_SYNC completes after an in-flight translation, and an
  // implementation over the protocol answers one request at a time.
  let inAccess = false;
  const after = async <T>(value: T): Promise<T> => {
    if (!inAccess) await drain();
    return value;
  };
  return {
    profile: 'smmu-hw',
    kitPlays,
    ...(presents === undefined ? {} : { presents }),
    memory,
    streams: [],
    ttb0: () => cdRegistry.ttb0(),
    cds: () => cdRegistry.cds(),
    map: (iova, paddr, size, prot) => after(driver.map(iova, paddr, size, prot)),
    unmap(iova, size) {
      const dirty = newDirtyBitmap(size);
      const unmapped = driver.unmap(iova, size, (i, s) => dirtyBitmapSet(dirty, iova, size, i, s));
      return after({ unmapped, dirty });
    },
    splitBlock: (iova) => after(driver.splitBlock(iova)),
    mergePages: (iova, level) => after(driver.mergePages(iova, level)),
    readAndClearDirty(iova, size, flags) {
      const dirty = newDirtyBitmap(size);
      const errno = driver.readAndClearDirty(iova, size, flags, (i, s) => dirtyBitmapSet(dirty, iova, size, i, s));
      return after({ errno, dirty });
    },
    setDirtyTracking: (enable) => after(driver.setDirtyTracking(enable)),
    attach: (streamId) => after(driver.attach(streamId)),
    async dma(streamId, iova, write) {
      const what = () => `${name} dma${write ? 'Write' : 'Read'}(${streamId}, 0x${iova.toString(16)})`;
      inAccess = true;
      let answer: unknown;
      try {
        answer = await stepOf(
          adapter,
          timer.run(what, async () => {
            try {
              return await (write ? hw.dmaWrite(streamId, iova) : hw.dmaRead(streamId, iova));
            } catch (e) {
              // The kit's driver frees a table only after unlinking it and invalidating its range
              // (TLBI + CMD_SYNC, which retires walk caches too): a walk that reads it then used a
              // table pointer the invalidation should have dropped. Kit memory says so by throwing.
              if (e instanceof MemoryError && e.message.endsWith('not backed by an allocated frame'))
                throw new Violation('spec', ['IOTLB-9'], 'the SMMU walks only the tables linked now (one unlinked, invalidated and freed is not read again)', `${what()} read freed memory: ${e.message}`);
              throw e;
            }
          }),
          () => ({ op: `DMA ${write ? 'write' : 'read'} at ${hex(iova)} (stream ${streamId})`, expected: 'a translation or a fault', req: hwCallReq({ dma: write ? 'write' : 'read' }) }),
        );
      } finally {
        inAccess = false;
      }
      const out = checkDma(what, answer);
      await drain(); // commands a software change interleaved into the access queued
      return out;
    },
    invalidate(iova, size) {
      port.submit([size === 'all' ? { op: 'CMD_TLBI_NH_ASID', asid: ASID } : { op: 'CMD_TLBI_NH_VA', asid: ASID, iova, size }, { op: 'CMD_SYNC' }]);
      return drain();
    },
    tlb: hw.iotlbEntries === undefined ? () => undefined : iotlbView(name, hw as SmmuHw & { iotlbEntries(): readonly SmmuIotlbEntry[] }, timeoutMs, watch),
    withHook: withHook(memory),
    kitPgtable: {
      readAndClearDirty: (iova, size) => after(void driver.pgtable.readAndClearDirty(iova, size, 0)),
      async markAllWritableDirty() {
        driver.pgtable.markAllWritableDirty();
        port.submit([{ op: 'CMD_TLBI_NH_ASID', asid: ASID }, { op: 'CMD_SYNC' }]);
        await drain();
      },
    },
    kitSetCds(ha, hd) {
      for (const [streamId, at] of cdRegistry.byStream) {
        memory.fetchAnd(at, ~(CTXDESC_CD_0_TCR_HA | CTXDESC_CD_0_TCR_HD));
        memory.fetchOr(at, (ha ? CTXDESC_CD_0_TCR_HA : 0n) | (hd ? CTXDESC_CD_0_TCR_HD : 0n));
        port.submit([{ op: 'CMD_CFGI_CD', streamId }]);
      }
      port.submit([{ op: 'CMD_SYNC' }]);
      return drain();
    },
  };
}

async function createDriverSystem(adapter: Adapter & { profile: 'smmu-driver' }, config: SystemConfig, { timeoutMs, watch, contract, chunks }: SystemOptions, kitPlays: System['kitPlays']): Promise<System> {
  const memory = createKitMemory(chunks);
  const name = `${adapter.name} (smmu-driver)`;
  const smmu = createKitSmmu(memory, { httu: config.httu, bbml: config.bbml, iotlbCapacity: config.iotlbCapacity });
  const cdRegistry = new CdRegistry(memory);
  // IOTLB-12: the table pages the kit's SMMU walked through, until an invalidation over the walk completes; the driver's frees are checked against them.
  const walks = new WalkCaches();
  const free = memory.freeFrame.bind(memory);
  memory.freeFrame = (address: number) => {
    walks.freed(address);
    free(address);
  };
  const submit = (commands: readonly SmmuCommand[]) => {
    walks.submitted(commands);
    smmu.submit(commands);
  };
  const port: KitSmmuPort = {
    idr0: smmu.idr0,
    idr3: smmu.idr3,
    attachStream: (streamId, cd) => {
      cdRegistry.byStream.set(streamId, cd);
      smmu.attachStream(streamId, cd);
    },
    detachStream: (streamId) => {
      cdRegistry.byStream.delete(streamId);
      smmu.detachStream(streamId);
    },
    submit,
  };
  const created = await timed(`${name} create`, timeoutMs, () => adapter.create(memory, port, { asid: ASID, dirtyCapable: config.dirtyCapable, pageGranular: config.pageGranular }), watch);
  if (typeof created === 'number') {
    if (!Number.isInteger(created) || created >= 0) throw new Undecided(`${name} create answered ${created}: expected a domain or a negative errno`);
    throw new CreateRefused(created, `${name} create`);
  }
  const driver: SmmuDriver = created;
  const timer = new CallTimer(timeoutMs, watch);
  const hdQuirk = contracts[contract ?? 'strict'].capabilities.create.hdQuirkFrom === 'hardware' ? config.httu === 2 : config.dirtyCapable;
  // `op`: the call as a step, for a crash or hang during it (engine/crash.ts), with the requirements driverCallReq names.
  const call = <T>(what: Parameters<typeof driverCallReq>[0], fn: () => Promise<T>, op: () => string, arg: Parameters<typeof driverCallReq>[2] = {}) =>
    stepOf(
      adapter,
      timer.run(() => `${name} ${what}`, fn),
      () => ({ op: op(), expected: what === 'unmap' ? 'the bytes unmapped and a dirty bitmap' : what === 'readAndClearDirty' ? 'an errno and a dirty bitmap' : 'an errno', req: driverCallReq(what, hdQuirk, arg) }),
    );
  const need = <F>(f: F | undefined, op: string): F => {
    if (f === undefined) throw new Undecided(`${name} has no ${op}, and the run's contract calls it (capabilities.operations.${op}): declare the contract the driver follows, or implement ${op}`);
    return f;
  };
  return {
    profile: 'smmu-driver',
    kitPlays,
    memory,
    streams: [],
    ttb0: () => cdRegistry.ttb0(),
    cds: () => cdRegistry.cds(),
    map: async (iova, paddr, size, prot) =>
      checkErrno(
        'map',
        await call(
          'map',
          () => driver.map(iova, paddr, size, prot),
          () => `map(${hex(iova)}, pa ${hex(paddr)}, ${hex(size)}, prot ${prot})`,
          { prot },
        ),
      ),
    async unmap(iova, size) {
      const r = await call(
        'unmap',
        () => driver.unmap(iova, size),
        () => `unmap(${hex(iova)}, ${hex(size)})`,
      );
      return { unmapped: checkCount(`${name} unmap: unmapped`, r?.unmapped), dirty: checkBitmap(`${name} unmap`, r?.dirty, size) };
    },
    splitBlock: async (iova, blockSize) =>
      checkErrno(
        'splitBlock',
        await call(
          'splitBlock',
          () => need(driver.splitBlock, 'splitBlock').call(driver, iova, blockSize),
          () => `splitBlock(${hex(iova)}, ${hex(blockSize)})`,
        ),
      ),
    mergePages: async (iova, level, blockSize) =>
      checkErrno(
        'mergePages',
        await call(
          'mergePages',
          () => need(driver.mergePages, 'mergePages').call(driver, iova, level, blockSize),
          () => `mergePages(${hex(iova)}, level ${level}, ${hex(blockSize)})`,
        ),
      ),
    async readAndClearDirty(iova, size, flags) {
      const r = await call(
        'readAndClearDirty',
        () => driver.readAndClearDirty(iova, size, flags),
        () => `readAndClearDirty(${hex(iova)}, ${hex(size)}, flags ${flags})`,
      );
      return { errno: checkErrno(`${name} readAndClearDirty`, r?.errno), dirty: checkBitmap(`${name} readAndClearDirty`, r?.dirty, size) };
    },
    setDirtyTracking: async (enable) =>
      checkErrno(
        'setDirtyTracking',
        await call(
          'setDirtyTracking',
          () => driver.setDirtyTracking(enable),
          () => `setDirtyTracking(${enable})`,
          { enable },
        ),
      ),
    attach: async (streamId) =>
      checkErrno(
        'attach',
        await call(
          'attach',
          () => driver.attach(streamId),
          () => `attach(${streamId})`,
        ),
      ),
    async dma(streamId, iova, write) {
      const before = smmu.stats.walks;
      const r = write ? smmu.dmaWrite(streamId, iova) : smmu.dmaRead(streamId, iova);
      if (smmu.stats.walks !== before)
        walks.walked(
          iova,
          tablesOnWalk((a) => memory.load(a), cdRegistry.ttb0(), iova),
        );
      return r.ok ? { ok: true, pa: r.pa } : { ok: false, fault: r.fault };
    },
    async invalidate(iova, size) {
      submit([size === 'all' ? { op: 'CMD_TLBI_NH_ASID', asid: ASID } : { op: 'CMD_TLBI_NH_VA', asid: ASID, iova, size }, { op: 'CMD_SYNC' }]);
    },
    freedWalkedTable: () => walks.take(),
    tlb: () => smmu.iotlb.entries().map((e) => ({ base: e.base, level: e.level, state: e.state })),
    withHook: withHook(memory),
  };
}
