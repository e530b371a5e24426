// The SMMUv3 hardware model: stream table, context descriptors with HA/HD, a stage-1
// 4-level walk (4 KiB granule, 48-bit IOVA, blocks at L1 and L2), HTTU updates as atomic
// compare-exchange loops on the in-memory descriptor, a bounded IOTLB used before
// walking, and the command queue (CMD_TLBI_NH_VA, CMD_TLBI_NH_ASID, CMD_CFGI_CD,
// CMD_SYNC).
// Sources: ARM IHI 0070 E.a §3.13 (HTTU), §4 (commands), §5.4 (CD), §7.3 (faults), §16.2;
//          Linux v6.12.117 drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h (IDR0_HTTU,
//          CTXDESC_CD_0_TCR_HA/HD); the IOTLB flush after a clear: Jason Gunthorpe,
//          12 Feb 2022, <20220212000117.GS4160@nvidia.com>.
//
// DEPARTS: one DMA transaction (walk, HTTU update, access) is atomic with respect to the
// driver's memory accesses: the conformance engine interleaves whole transactions between
// driver accesses, not the individual loads of a walk.
// DEPARTS: BBML1 and BBML2 are treated alike (the model has no TLB conflict aborts).
// DEPARTS: the stream table entry is not in memory; `attachStream` is the STE write
// plus CMD_CFGI_STE. Context descriptors are in memory and cached until CMD_CFGI_CD.
import type { PhysicalMemory } from '../memory/physical-memory.ts';
import { PTE_AF, PTE_AP_RDONLY, PTE_DBM, PTE_NG, PTE_TYPE_MASK, PTE_TYPE_PAGE, IOVA_LIMIT, isTable, isValid, levelIndex, levelSize, pteAddress } from '../pgtable/pte.ts';
import { Iotlb, type CachedState, type IotlbEntry } from './iotlb.ts';
import { decodeCd, IDR0_HTTU_ACCESS, IDR0_COHACC, IDR0_HTTU_ACCESS_DIRTY, IDR0_HTTU_SHIFT, IDR3_BBML_SHIFT, type Bbml, type ContextDescriptor, type Httu } from './registers.ts';

export interface SmmuConfig {
  /** SMMU_IDR0.HTTU: 0 none, 1 access flag, 2 access flag and dirty state. */
  readonly httu: Httu;
  /** SMMU_IDR3.BBML: 0 none, 1 BBML1, 2 BBML2. */
  readonly bbml: Bbml;
  readonly iotlbCapacity?: number;
}

export type DmaFault = 'translation' | 'permission' | 'accessFlag' | 'addressSize' | 'badStream';

export type DmaResult = { readonly ok: true; readonly pa: number; readonly level: number; readonly tlbHit: boolean } | { readonly ok: false; readonly fault: DmaFault };

export type SmmuCommand =
  | { readonly op: 'CMD_TLBI_NH_VA'; readonly asid: number; readonly iova: number; readonly size: number }
  | { readonly op: 'CMD_TLBI_NH_ASID'; readonly asid: number }
  | { readonly op: 'CMD_CFGI_CD'; readonly streamId: number }
  | { readonly op: 'CMD_SYNC' };

export interface SmmuStats {
  walks: number;
  tlbHits: number;
  httuUpdates: number;
  casRetries: number;
  syncs: number;
}

const MAX_CAS_RETRIES = 64;

/** The permission state an IOTLB entry caches for a leaf descriptor (DBM and AP[2]). */
export function cachedState(pte: bigint): CachedState {
  const dbm = (pte & PTE_DBM) !== 0n;
  const rdonly = (pte & PTE_AP_RDONLY) !== 0n;
  return dbm ? (rdonly ? 'writableClean' : 'writableDirty') : rdonly ? 'readOnly' : 'writable';
}

export class Smmu {
  readonly idr0: number;
  readonly idr3: number;
  readonly iotlb: Iotlb;
  readonly stats: SmmuStats = { walks: 0, tlbHits: 0, httuUpdates: 0, casRetries: 0, syncs: 0 };
  private readonly streams = new Map<number, number>(); // streamId -> CD address
  private readonly cdCache = new Map<number, ContextDescriptor>();
  private pending: SmmuCommand[] = [];

  constructor(
    readonly memory: PhysicalMemory,
    config: SmmuConfig,
  ) {
    if (![0, 1, 2].includes(config.httu)) throw new RangeError(`SMMU_IDR0.HTTU: must be 0, 1 or 2, got ${config.httu}`);
    if (![0, 1, 2].includes(config.bbml)) throw new RangeError(`SMMU_IDR3.BBML: must be 0, 1 or 2, got ${config.bbml}`);
    // COHACC: the model's memory is coherent with the SMMU's accesses.
    this.idr0 = (config.httu << IDR0_HTTU_SHIFT) | IDR0_COHACC;
    this.idr3 = config.bbml << IDR3_BBML_SHIFT;
    this.iotlb = new Iotlb(config.iotlbCapacity ?? 64);
  }

  get httu(): Httu {
    return ((this.idr0 >>> IDR0_HTTU_SHIFT) & 3) as Httu;
  }

  /** Points stream `streamId`'s STE at the CD at `cdAddress` (STE write + CFGI_STE + SYNC). */
  attachStream(streamId: number, cdAddress: number): void {
    this.streams.set(streamId, cdAddress);
    this.cdCache.delete(streamId);
  }

  detachStream(streamId: number): void {
    this.streams.delete(streamId);
    this.cdCache.delete(streamId);
  }

  /** Queues commands; everything queued takes effect at the next CMD_SYNC (the latest the architecture allows). */
  submit(commands: readonly SmmuCommand[]): void {
    for (const cmd of commands) {
      if (cmd.op !== 'CMD_SYNC') {
        this.pending.push(cmd);
        continue;
      }
      this.stats.syncs++;
      const queued = this.pending;
      this.pending = [];
      for (const c of queued) {
        if (c.op === 'CMD_TLBI_NH_VA') this.iotlb.invalidateRange(c.asid, c.iova, c.size);
        else if (c.op === 'CMD_TLBI_NH_ASID') this.iotlb.invalidateAsid(c.asid);
        else if (c.op === 'CMD_CFGI_CD') this.cdCache.delete(c.streamId);
      }
    }
  }

  /** Commands queued and not yet completed by a CMD_SYNC. */
  get pendingCommands(): readonly SmmuCommand[] {
    return this.pending;
  }

  private contextDescriptor(streamId: number): ContextDescriptor | undefined {
    let cd = this.cdCache.get(streamId);
    if (cd !== undefined) return cd;
    const address = this.streams.get(streamId);
    if (address === undefined) return undefined;
    cd = decodeCd(this.memory.load(address), this.memory.load(address + 8));
    if (!cd.valid) return undefined;
    this.cdCache.set(streamId, cd);
    return cd;
  }

  /** The HA/HD the hardware acts on: the CD's bits, limited by SMMU_IDR0.HTTU. */
  private effective(cd: ContextDescriptor): { ha: boolean; hd: boolean } {
    const httu = this.httu;
    const ha = cd.ha && httu >= IDR0_HTTU_ACCESS;
    return { ha, hd: ha && cd.hd && httu === IDR0_HTTU_ACCESS_DIRTY };
  }

  dmaRead(streamId: number, iova: number): DmaResult {
    return this.dma(streamId, iova, false);
  }

  dmaWrite(streamId: number, iova: number): DmaResult {
    return this.dma(streamId, iova, true);
  }

  private dma(streamId: number, iova: number, write: boolean): DmaResult {
    const cd = this.contextDescriptor(streamId);
    if (cd === undefined) return { ok: false, fault: 'badStream' };
    if (!Number.isSafeInteger(iova) || iova < 0 || iova >= IOVA_LIMIT) return { ok: false, fault: 'addressSize' };
    const { ha, hd } = this.effective(cd);
    const hit = this.iotlb.lookup(cd.asid, iova);
    if (hit !== undefined) {
      const pa = hit.outputBase + (iova - hit.base);
      if (!write || hit.state === 'writable' || hit.state === 'writableDirty') {
        this.stats.tlbHits++;
        return { ok: true, pa, level: hit.level, tlbHit: true };
      }
      if (hit.state === 'readOnly' || !hd) return { ok: false, fault: 'permission' };
      return this.writeThroughCachedClean(hit, cd, iova, ha, hd);
    }
    return this.walk(cd, iova, write, ha, hd);
  }

  /** The descriptor after this access's HTTU update (HTTU-1, HTTU-2; HTTU-3: reads change no dirty state). */
  protected httuUpdate(pte: bigint, write: boolean): bigint {
    let next = pte | PTE_AF; // HTTU-1 (the caller has checked HA if AF was clear)
    if (write && (pte & PTE_AP_RDONLY) !== 0n) next &= ~PTE_AP_RDONLY; // HTTU-2: writable-clean -> writable-dirty
    return next;
  }

  /** The atomic update of the in-memory descriptor; returns the value found (HTTU-5). */
  protected commitUpdate(ptep: number, expected: bigint, next: bigint): bigint {
    return this.memory.compareExchange(ptep, expected, next);
  }

  /** A write through a cached writable-clean entry with HD: drop it and re-walk, updating memory (IOTLB-5). */
  protected writeThroughCachedClean(hit: IotlbEntry, cd: ContextDescriptor, iova: number, ha: boolean, hd: boolean): DmaResult {
    this.iotlb.remove(hit);
    return this.walk(cd, iova, true, ha, hd);
  }

  /** Stage-1 walk with HTTU (HTTU-1, HTTU-2, HTTU-5). */
  protected walk(cd: ContextDescriptor, iova: number, write: boolean, ha: boolean, hd: boolean): DmaResult {
    this.stats.walks++;
    let retries = 0;
    // Stryker disable next-line ConditionalExpression: its mutant switch for `for (; false; )` would put an if between the label and the loop, where `continue restart` cannot name it (npm run mutation; the mutant returns undefined, killed by any DMA)
    restart: for (;;) {
      let table = cd.ttb0;
      for (let level = 0; level <= 3; level++) {
        const ptep = table + levelIndex(iova, level) * 8;
        let pte = this.memory.load(ptep);
        if (!isValid(pte)) return { ok: false, fault: 'translation' };
        if (isTable(pte, level)) {
          table = pteAddress(pte);
          continue;
        }
        if (level === 0) return { ok: false, fault: 'translation' }; // no L0 block with a 4 KiB granule
        if (level === 3 && (pte & PTE_TYPE_MASK) !== PTE_TYPE_PAGE) return { ok: false, fault: 'translation' }; // 0b01 is reserved at L3
        // A leaf: compute the HTTU update and apply it with a compare-exchange loop.
        for (;;) {
          // Faults first (FAULT-4 before FAULT-2/3); a faulting access updates nothing.
          const af = (pte & PTE_AF) !== 0n;
          if (!af && !ha) return { ok: false, fault: 'accessFlag' };
          const rdonly = (pte & PTE_AP_RDONLY) !== 0n;
          const dbm = (pte & PTE_DBM) !== 0n;
          if (write && rdonly && (!dbm || !hd)) return { ok: false, fault: 'permission' };
          const next = this.httuUpdate(pte, write);
          if (next !== pte) {
            const old = this.commitUpdate(ptep, pte, next);
            if (old !== pte) {
              // HTTU-5: software changed the descriptor under us; re-evaluate from memory.
              if (++retries > MAX_CAS_RETRIES) throw new Error(`HTTU compare-exchange at 0x${ptep.toString(16)} did not settle after ${MAX_CAS_RETRIES} retries`);
              this.stats.casRetries++;
              if (!isValid(old) || isTable(old, level)) continue restart;
              pte = old;
              continue;
            }
            this.stats.httuUpdates++;
            pte = next;
          }
          const size = levelSize(level);
          const base = iova - (iova % size);
          const outputBase = pteAddress(pte);
          this.iotlb.insert({ asid: cd.asid, base, level, size, outputBase, state: cachedState(pte), ...((pte & PTE_NG) === 0n ? { global: true } : {}) });
          return { ok: true, pa: outputBase + (iova - base), level, tlbHit: false };
        }
      }
      return { ok: false, fault: 'translation' };
    }
  }
}
