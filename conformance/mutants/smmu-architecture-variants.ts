// SMMUs that make a choice the architecture leaves open and the kit's own SMMU does not
// make, for smmu-hw's tests: each must conform. Here because conformance/ reaches impl/ only
// through the reference adapter and this folder. None is in the zoo: none is a fault.
import { PTE_AF, PTE_NG, isTable, isValid, levelIndex, levelSize, pteAddress } from '../../impl/pgtable/pte.ts';
import type { ContextDescriptor } from '../../impl/smmu/registers.ts';
import { type DmaResult, Smmu, type SmmuCommand, cachedState } from '../../impl/smmu/smmu.ts';
import { referenceSmmuHwAdapter } from '../adapters/reference.ts';
import type { SmmuHwAdapter } from '../adapters/types.ts';
import { leafOf } from './smmu-probe-systems.ts';

/**
 * An SMMU whose walk sets AF before it checks the permission, and whose IOTLB keeps the leaf
 * of a walk whose access then took a permission fault. Both are allowed: ARM IHI 0070 G.b
 * §3.13.2 ("If access to a descriptor causes a permission fault, it is UNKNOWN whether the AF
 * flag of the descriptor is updated to 1"); ARM DDI 0487 M.a.a D8.15 RJVXRH (a translation
 * table entry that generates a Permission fault is permitted to be cached in a TLB), with
 * §3.21.1 making the Armv8-A caching rules the SMMU's.
 */
export class AfFirstCachingSmmu extends Smmu {
  protected override walk(cd: ContextDescriptor, iova: number, write: boolean, ha: boolean, hd: boolean): DmaResult {
    const r = super.walk(cd, iova, write, ha, hd);
    if (r.ok || r.fault !== 'permission') return r;
    const leaf = leafOf(this, cd, iova);
    if (leaf === undefined) return r;
    let pte = leaf.pte;
    // HTTU-1: AF set by the access that then faults (the fault is decided by AP[2], DBM and HD, which the update does not touch).
    if ((pte & PTE_AF) === 0n && ha) pte = this.memory.fetchOr(leaf.ptep, PTE_AF) | PTE_AF;
    if ((pte & PTE_AF) === 0n) return r;
    const size = levelSize(leaf.level);
    const base = iova - (iova % size);
    this.iotlb.insert({ asid: cd.asid, base, level: leaf.level, size, outputBase: pteAddress(pte), state: cachedState(pte), ...((pte & PTE_NG) === 0n ? { global: true } : {}) });
    return r;
  }
}

/** The smmu-hw adapter of AfFirstCachingSmmu. */
export function afFirstCachingSmmuAdapter(): SmmuHwAdapter {
  return referenceSmmuHwAdapter('AF set and leaf cached on a permission fault', AfFirstCachingSmmu);
}

/**
 * AfFirstCachingSmmu's adapter, counting the permission faults after which it set AF and
 * those after which it kept the leaf: what a test shows its runs reached.
 */
export function countedAfFirstCachingSmmuAdapter(): { adapter: SmmuHwAdapter; seen: { afSet: number; kept: number } } {
  const seen = { afSet: 0, kept: 0 };
  const af = (leaf: { pte: bigint } | undefined) => leaf !== undefined && (leaf.pte & PTE_AF) !== 0n;
  class Counted extends AfFirstCachingSmmu {
    protected override walk(cd: ContextDescriptor, iova: number, write: boolean, ha: boolean, hd: boolean): DmaResult {
      const before = this.iotlb.entries().length;
      const had = af(leafOf(this, cd, iova));
      const r = super.walk(cd, iova, write, ha, hd);
      if (!r.ok && r.fault === 'permission') {
        if (!had && af(leafOf(this, cd, iova))) seen.afSet++;
        if (this.iotlb.entries().length > before) seen.kept++;
      }
      return r;
    }
  }
  return { adapter: referenceSmmuHwAdapter('AF set and leaf cached on a permission fault', Counted), seen };
}

/**
 * An SMMU whose IOTLB entries keep the CD's HD they were filled with: a write through an
 * entry cached writable-clean acts on that HD until a TLB invalidation drops the entry, not
 * on the CD as it is. Allowed: ARM IHI 0070 G.b §5.4.1 lists HA and HD among the CD fields
 * "permitted to be cached as part of a translation or TLB entry", whose change needs a TLB
 * invalidation besides CMD_CFGI_CD. `usedCachedHd` counts the writes where the two differed.
 */
export class CdCachingSmmu extends Smmu {
  usedCachedHd = 0;
  /** The HD each cached leaf's walk acted on, by `asid:level:base`. */
  private readonly filledHd = new Map<string, boolean>();

  protected override walk(cd: ContextDescriptor, iova: number, write: boolean, ha: boolean, hd: boolean): DmaResult {
    const r = super.walk(cd, iova, write, ha, hd);
    if (r.ok) this.filledHd.set(`${cd.asid}:${r.level}:${iova - (iova % levelSize(r.level))}`, hd);
    return r;
  }

  override dmaWrite(streamId: number, iova: number): DmaResult {
    const cd = (this as unknown as { contextDescriptor(s: number): ContextDescriptor | undefined }).contextDescriptor(streamId);
    const hit = cd === undefined ? undefined : this.iotlb.lookup(cd.asid, iova);
    if (cd === undefined || hit?.state !== 'writableClean') return super.dmaWrite(streamId, iova);
    const filled = this.filledHd.get(`${cd.asid}:${hit.level}:${hit.base}`);
    const ha = cd.ha && this.httu >= 1;
    if (filled === undefined || filled === (ha && cd.hd && this.httu === 2)) return super.dmaWrite(streamId, iova);
    this.usedCachedHd++;
    return filled ? this.writeThroughCachedClean(hit, cd, iova, ha, true) : { ok: false, fault: 'permission' };
  }
}

/** CdCachingSmmu's adapter, with the count of writes that acted on a cached HD other than the CD's (summed over its instances). */
export function countedCdCachingSmmuAdapter(): { adapter: SmmuHwAdapter; seen: { usedCachedHd: number } } {
  const seen = { usedCachedHd: 0 };
  class Counted extends CdCachingSmmu {
    override dmaWrite(streamId: number, iova: number): DmaResult {
      const before = this.usedCachedHd;
      const r = super.dmaWrite(streamId, iova);
      seen.usedCachedHd += this.usedCachedHd - before;
      return r;
    }
  }
  return { adapter: referenceSmmuHwAdapter('HD cached in IOTLB entries', Counted), seen };
}

/**
 * An SMMU that prefetches: after a walk for an access, it also caches the next page's leaf
 * when that leaf is valid with AF=1 (it updates nothing: a speculative fill). Allowed: ARM
 * IHI 0070 G.b §3.21.1 (the Armv8-A TLB rules, prefetch included), §4.2.2; DDI 0487 M.a.a
 * D8.16 RSQBCS. `prefetched` counts the entries so filled.
 */
export class NeighbourPrefetchSmmu extends Smmu {
  prefetched = 0;

  protected override walk(cd: ContextDescriptor, iova: number, write: boolean, ha: boolean, hd: boolean): DmaResult {
    const r = super.walk(cd, iova, write, ha, hd);
    if (!r.ok || r.tlbHit) return r;
    const next = iova - (iova % 0x1000) + 0x1000;
    const leaf = leafOf(this, cd, next);
    if (leaf === undefined || (leaf.pte & PTE_AF) === 0n || this.iotlb.lookup(cd.asid, next) !== undefined) return r;
    const size = levelSize(leaf.level);
    this.iotlb.insert({ asid: cd.asid, base: next - (next % size), level: leaf.level, size, outputBase: pteAddress(leaf.pte), state: cachedState(leaf.pte), ...((leaf.pte & PTE_NG) === 0n ? { global: true } : {}) });
    this.prefetched++;
    return r;
  }
}

/** NeighbourPrefetchSmmu's adapter, with the count of entries it prefetched (summed over its instances). */
export function countedNeighbourPrefetchSmmuAdapter(): { adapter: SmmuHwAdapter; seen: { prefetched: number } } {
  const seen = { prefetched: 0 };
  class Counted extends NeighbourPrefetchSmmu {
    protected override walk(cd: ContextDescriptor, iova: number, write: boolean, ha: boolean, hd: boolean): DmaResult {
      const before = this.prefetched;
      const r = super.walk(cd, iova, write, ha, hd);
      seen.prefetched += this.prefetched - before;
      return r;
    }
  }
  return { adapter: referenceSmmuHwAdapter('prefetches the next page', Counted), seen };
}

/** The span of a last-level table (4 KiB granule): what one walk cache entry covers. */
const TABLE_SPAN = 0x20_0000;

/**
 * An SMMU with a walk cache: it remembers the last-level table each 2 MiB region's walk went
 * through (by ASID), and reads it first on the next walk there. CMD_TLBI_NH_VA drops what it
 * holds over the command's range, CMD_TLBI_NH_ASID all of the ASID's: the kit's
 * CMD_TLBI_NH_VA is Leaf = 0, whose scope includes the cached entries of every level of the
 * walk, not only the last (ARM IHI 0070 G.b §4.4.2.4; §4.4 for the Leaf field). Allowed, and
 * what a driver that frees tables must allow for (IOTLB-12).
 */
export class WalkCachingSmmu extends Smmu {
  /** ASID, then 2 MiB region index, to the address of the last-level table the last walk there read. */
  private readonly walkCache = new Map<number, Map<number, number>>();
  /** Walks that started from a cached table. */
  walkCacheHits = 0;

  protected override walk(cd: ContextDescriptor, iova: number, write: boolean, ha: boolean, hd: boolean): DmaResult {
    const region = Math.floor(iova / TABLE_SPAN);
    const cached = this.walkCache.get(cd.asid)?.get(region);
    // The walk starts from the cached table: it reads the entry there first.
    if (cached !== undefined) {
      this.memory.load(cached + levelIndex(iova, 3) * 8);
      this.walkCacheHits++;
    }
    let table = cd.ttb0;
    for (let level = 0; level < 3; level++) {
      const pte = this.memory.load(table + levelIndex(iova, level) * 8);
      if (!isValid(pte) || !isTable(pte, level)) break;
      table = pteAddress(pte);
      if (level === 2) {
        const byRegion = this.walkCache.get(cd.asid) ?? new Map<number, number>();
        this.walkCache.set(cd.asid, byRegion.set(region, table));
      }
    }
    return super.walk(cd, iova, write, ha, hd);
  }

  override submit(commands: readonly SmmuCommand[]): void {
    for (const c of commands) this.dropWalks(c);
    super.submit(commands);
  }

  /** What `c` drops from the walk cache. */
  protected dropWalks(c: SmmuCommand): void {
    if (c.op === 'CMD_TLBI_NH_ASID') this.walkCache.delete(c.asid);
    if (c.op !== 'CMD_TLBI_NH_VA') return;
    const byRegion = this.walkCache.get(c.asid);
    if (byRegion === undefined) return;
    const first = Math.floor(c.iova / TABLE_SPAN);
    const last = Math.floor((c.iova + Math.max(c.size, 1) - 1) / TABLE_SPAN);
    for (const region of [...byRegion.keys()]) if (region >= first && region <= last) byRegion.delete(region);
  }
}

/** WalkCachingSmmu's adapter, with the count of walks that started from a cached table (summed over its instances). */
export function countedWalkCachingSmmuAdapter(): { adapter: SmmuHwAdapter; seen: { walkCacheHits: number } } {
  const seen = { walkCacheHits: 0 };
  class Counted extends WalkCachingSmmu {
    protected override walk(cd: ContextDescriptor, iova: number, write: boolean, ha: boolean, hd: boolean): DmaResult {
      const before = this.walkCacheHits;
      const r = super.walk(cd, iova, write, ha, hd);
      seen.walkCacheHits += this.walkCacheHits - before;
      return r;
    }
  }
  return { adapter: referenceSmmuHwAdapter('walk cache of last-level tables', Counted), seen };
}
