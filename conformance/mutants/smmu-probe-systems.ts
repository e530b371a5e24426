// What the smmu mutants' directed probes share: the two profiles set up as the kit runs
// them (kit memory, the reference SMMU or driver around the part under test), an SMMU
// that remembers where each cached leaf came from, and the table of a mutant file's
// entries (`Spec`) turned into zoo entries and probes.
import type { PgtableFactory } from '../../impl/domain.ts';
import type { ArmLpaeIoPgtable } from '../../impl/pgtable/io-pgtable-arm.ts';
import { isTable, isValid, levelIndex, levelSize, pteAddress } from '../../impl/pgtable/pte.ts';
import { type ContextDescriptor, decodeCd } from '../../impl/smmu/registers.ts';
import { type DmaResult, Smmu } from '../../impl/smmu/smmu.ts';
import { dirtyBitmapPages } from '../../spec/bitmap/dirty-bitmap.ts';
import { createKitDriver, createKitMemory, createKitSmmu } from '../adapters/reference.ts';
import type { Adapter, KitSmmuPort, SmmuDriverAdapter, SmmuHwAdapter } from '../adapters/types.ts';
import { type Probe, probeOf } from './probe.ts';
import type { BugClass, Mutant } from './types.ts';

export type PgtableClass = new (...args: ConstructorParameters<typeof ArmLpaeIoPgtable>) => ArmLpaeIoPgtable;

/** A page-table factory for the reference domain that builds `P`. */
export const factory =
  (P: PgtableClass): PgtableFactory =>
  (memory, config, flush) =>
    new P(memory, config, flush);

/** Profile smmu-driver as the kit runs it, for a probe: kit memory, the reference SMMU, the driver from `adapter`, `streams` attached (stream 0 alone by default). */
export async function driverSystem(adapter: SmmuDriverAdapter, opts: { streams?: readonly number[]; dirtyCapable?: boolean; pageGranular?: boolean; httu?: 0 | 1 | 2 } = {}) {
  const memory = createKitMemory();
  const smmu = createKitSmmu(memory, { httu: opts.httu ?? 2, bbml: 2, iotlbCapacity: 64 });
  const cds = new Map<number, number>();
  const port: KitSmmuPort = {
    idr0: smmu.idr0,
    idr3: smmu.idr3,
    attachStream: (streamId, cd) => {
      cds.set(streamId, cd);
      smmu.attachStream(streamId, cd);
    },
    detachStream: (streamId) => smmu.detachStream(streamId),
    submit: (commands) => smmu.submit(commands),
  };
  const driver = await adapter.create(memory, port, { asid: 1, dirtyCapable: opts.dirtyCapable ?? true, pageGranular: opts.pageGranular ?? false });
  if (typeof driver === 'number') throw new Error(`${adapter.name} create: ${driver}`);
  for (const s of opts.streams ?? [0]) await driver.attach(s);
  /** The entry translating `iova` (stream 0's table) at the deepest level reached: its level, address and value. */
  const entry = (iova: number) => {
    const cdAt = cds.get(0)!;
    let table = decodeCd(memory.load(cdAt), memory.load(cdAt + 8)).ttb0;
    for (let level = 0; ; level++) {
      const ptep = table + levelIndex(iova, level) * 8;
      const pte = memory.load(ptep);
      if (level === 3 || !isValid(pte) || !isTable(pte, level)) return { level, ptep, pte };
      table = pteAddress(pte);
    }
  };
  const report = async (iova: number, size: number) => {
    const r = await driver.readAndClearDirty(iova, size, 0);
    return r.errno === 0 ? dirtyBitmapPages(r.dirty, iova) : r.errno;
  };
  /** The same, without the address. */
  const leaf = (iova: number) => {
    const { level, pte } = entry(iova);
    return { level, pte };
  };
  return { memory, smmu, driver, entry, leaf, report };
}

export type Driver = Awaited<ReturnType<typeof driverSystem>>;

/** Profile smmu-hw for a probe: kit memory, the SMMU from `adapter`, the kit's reference driver with stream 0 attached (and tracking on, if asked). */
export async function hwSystem(adapter: SmmuHwAdapter, opts: { httu?: 0 | 1 | 2; tracking?: boolean; iotlbCapacity?: number } = {}) {
  const memory = createKitMemory();
  const hw = await adapter.create(memory, { httu: opts.httu ?? 2, bbml: 2, iotlbCapacity: opts.iotlbCapacity ?? 64 });
  const { idr0, idr3 } = await hw.readRegisters();
  const domain = createKitDriver(
    memory,
    { idr0, idr3, attachStream: (s, cd) => void hw.attachStream(s, cd), detachStream: (s) => void hw.detachStream(s), submit: (c) => void hw.submit(c) },
    { asid: 1, dirtyCapable: true, pageGranular: false },
  );
  domain.attach(0);
  if (opts.tracking === true) domain.setDirtyTracking(true);
  return { memory, hw, domain };
}

export type Hw = Awaited<ReturnType<typeof hwSystem>>;

/** The leaf the tables of `cd` give for `iova`, with its level (no access recorded by the SMMU's own counters). */
export function leafOf(smmu: Smmu, cd: ContextDescriptor, iova: number): { ptep: number; pte: bigint; level: number } | undefined {
  let table = cd.ttb0;
  for (let level = 0; level <= 3; level++) {
    const ptep = table + levelIndex(iova, level) * 8;
    const pte = smmu.memory.load(ptep);
    if (!isValid(pte)) return undefined;
    if (level < 3 && isTable(pte, level)) {
      table = pteAddress(pte);
      continue;
    }
    return { ptep, pte, level };
  }
  return undefined;
}

/** An SMMU that remembers, for each leaf its walks cached, the descriptor's address and value once the walk's own update was done (`asid:level:base`). */
export class CachedFromSmmu extends Smmu {
  protected readonly cachedFrom = new Map<string, { ptep: number; pte: bigint }>();

  protected override walk(cd: ContextDescriptor, iova: number, write: boolean, ha: boolean, hd: boolean): DmaResult {
    const r = super.walk(cd, iova, write, ha, hd);
    if (!r.ok) return r;
    let table = cd.ttb0;
    for (let level = 0; level <= r.level; level++) {
      const ptep = table + levelIndex(iova, level) * 8;
      const pte = this.memory.load(ptep);
      if (level === r.level) this.cachedFrom.set(`${cd.asid}:${level}:${iova - (iova % levelSize(level))}`, { ptep, pte });
      else table = pteAddress(pte);
    }
    return r;
  }
}

/** One mutant of a table: its zoo entry and its directed probe. */
export interface Spec {
  readonly name: string;
  readonly bugClass: BugClass;
  readonly targets: readonly string[];
  readonly description: string;
  readonly adapter: (name: string) => Adapter;
  readonly reference: Adapter;
  readonly what: string;
  readonly run: (adapter: Adapter) => Promise<unknown>;
  readonly want: { readonly reference: unknown; readonly mutant: unknown };
}

/** The zoo entries of a table of specs. */
export function zooOf(specs: readonly Spec[]): readonly Mutant[] {
  return specs.map((s) => {
    const adapter = s.adapter(s.name);
    return { name: s.name, bugClass: s.bugClass, profile: adapter.profile, description: s.description, targets: s.targets, adapter };
  });
}

/** The directed probes of a table of specs. */
export function probesOf(specs: readonly Spec[]): readonly Probe[] {
  return specs.map(probeOf);
}
