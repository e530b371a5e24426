// Hardware faults: the reference SMMU (Smmu) with one protected step overridden, run as
// profile smmu-hw. Each subclass says what is wrong with a `FAULT (class <name>)` comment (docs/BUG-CLASSES).
import { PTE_AP_RDONLY, PTE_DBM } from '../../impl/pgtable/pte.ts';
import type { IotlbEntry } from '../../impl/smmu/iotlb.ts';
import type { ContextDescriptor } from '../../impl/smmu/registers.ts';
import { Smmu, type DmaResult, type SmmuCommand } from '../../impl/smmu/smmu.ts';
import { referenceSmmuHwAdapter, type SmmuClass } from '../adapters/reference.ts';
import { WalkCachingSmmu } from './smmu-architecture-variants.ts';
import type { Mutant } from './types.ts';

/** Reads through a DBM leaf make it writable-dirty. */
export class HwDirtyOnReadSmmu extends Smmu {
  // FAULT (class false-dirty): a DMA read of a DBM leaf also clears AP[2]: pages only read are
  // reported dirty.
  protected override httuUpdate(pte: bigint, write: boolean): bigint {
    const next = super.httuUpdate(pte, write);
    return (pte & PTE_DBM) !== 0n ? next & ~PTE_AP_RDONLY : next;
  }
}

/** The HTTU update is a plain store of the value computed from the walk's read. */
export class HwPlainStoreSmmu extends Smmu {
  // FAULT (class racy-update): no compare: a software change made between the walk's read and the
  // update (an unmap, a clear, a split) is overwritten.
  protected override commitUpdate(ptep: number, expected: bigint, next: bigint): bigint {
    this.memory.store(ptep, next);
    return expected;
  }
}

/** An HTTU update that finds the leaf gone is taken as done: the write completes anyway. */
export class HwCompleteAfterLostUpdateSmmu extends Smmu {
  // FAULT (class racy-update): the compare-exchange that was to record the write fails because
  // software removed the leaf meanwhile (an unmap read it clean and took it), and the SMMU
  // completes the write with the translation its walk read: no dirty state is recorded
  // anywhere, and the unmap's report, taken before, cannot hold the page.
  protected override commitUpdate(ptep: number, expected: bigint, next: bigint): bigint {
    const old = super.commitUpdate(ptep, expected, next);
    return (old & 1n) === 0n ? expected : old;
  }
}

/** A walk cache of last-level tables that only CMD_TLBI_NH_ASID drops. */
export class HwWalkCacheKeptSmmu extends WalkCachingSmmu {
  // FAULT (class stale-iotlb): the SMMU remembers the last-level table each 2 MiB region's walk
  // went through and reads it first on the next walk there, but drops it only on
  // CMD_TLBI_NH_ASID: the CMD_TLBI_NH_VA a driver issues over a region before it frees the
  // table (after a merge, say) leaves the pointer, and a later walk reads freed memory.
  protected override dropWalks(c: SmmuCommand): void {
    if (c.op === 'CMD_TLBI_NH_ASID') super.dropWalks(c);
  }
}

/** A write through a cached writable-clean entry is performed without updating memory. */
export class CachedCleanWriteNoUpdateSmmu extends Smmu {
  // FAULT (class stale-iotlb): the write uses the cached translation and never re-walks to clear
  // AP[2] in memory: the descriptor stays writable-clean and the write is lost.
  protected override writeThroughCachedClean(hit: IotlbEntry, _cd: ContextDescriptor, iova: number): DmaResult {
    return { ok: true, pa: hit.outputBase + (iova - hit.base), level: hit.level, tlbHit: true };
  }
}

function hwMutant(name: string, bugClass: Mutant['bugClass'], SmmuImpl: SmmuClass, description: string): Mutant {
  return { name, bugClass, profile: 'smmu-hw', description, adapter: referenceSmmuHwAdapter(name, SmmuImpl) };
}

export const smmuMutants: readonly Mutant[] = [
  hwMutant('hw-dirty-on-read', 'false-dirty', HwDirtyOnReadSmmu, 'A DMA read through a DBM leaf clears AP[2] as a write would: pages only read come back dirty. Class false-dirty: over-reporting.'),
  hwMutant(
    'hw-plain-store',
    'racy-update',
    HwPlainStoreSmmu,
    "The HTTU update is a plain store of the value computed from the walk's read, not a compare-exchange: a concurrent software change (here an unmap) is overwritten and the leaf comes back. Class racy-update: a plain store over a descriptor the other side updates concurrently.",
  ),
  hwMutant(
    'hw-complete-after-lost-update',
    'racy-update',
    HwCompleteAfterLostUpdateSmmu,
    "The HTTU compare-exchange finds the leaf unmapped (software took it between the walk's read and the update) and the SMMU completes the write with the translation it read, instead of walking again and faulting: the write reaches memory with no dirty state recorded, and the unmap's report, made before it, misses the page. Class racy-update: a failed atomic update taken as done.",
  ),
  hwMutant(
    'hw-walk-cache-kept',
    'stale-iotlb',
    HwWalkCacheKeptSmmu,
    'The SMMU caches the last-level table of each walk (a walk cache) and drops it only on CMD_TLBI_NH_ASID, not on the CMD_TLBI_NH_VA over the range that a driver issues before it frees a table: a later walk reads the freed table. Class stale-iotlb: cached translation state that outlives its invalidation.',
  ),
  hwMutant(
    'cached-clean-write-no-update',
    'stale-iotlb',
    CachedCleanWriteNoUpdateSmmu,
    'A DMA write through an IOTLB entry cached writable-clean is performed from the cache without the re-walk that clears AP[2] in memory: the write is never seen as dirty. Class stale-iotlb: the cached clean state stands in for the in-memory update that must precede the write.',
  ),
];
