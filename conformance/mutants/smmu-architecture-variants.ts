// SMMUs that make a choice the architecture leaves open and the kit's own SMMU does not
// make, for smmu-hw's tests: each must conform. Here because conformance/ reaches impl/ only
// through the reference adapter and this folder. None is in the zoo: none is a fault.
import { PTE_AF, PTE_NG, isTable, isValid, levelIndex, pteAddress } from '../../impl/pgtable/pte.ts';
import type { ContextDescriptor } from '../../impl/smmu/registers.ts';
import { type DmaResult, Smmu, cachedState } from '../../impl/smmu/smmu.ts';
import { referenceSmmuHwAdapter } from '../adapters/reference.ts';
import type { SmmuHwAdapter } from '../adapters/types.ts';

/** The leaf a walk of `cd`'s tables ends at for `iova`, with its level. */
export function leafAt(smmu: Smmu, cd: ContextDescriptor, iova: number): { ptep: number; pte: bigint; level: number } | undefined {
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
    const leaf = leafAt(this, cd, iova);
    if (leaf === undefined) return r;
    let pte = leaf.pte;
    // HTTU-1: AF set by the access that then faults (the fault is decided by AP[2], DBM and HD, which the update does not touch).
    if ((pte & PTE_AF) === 0n && ha) pte = this.memory.fetchOr(leaf.ptep, PTE_AF) | PTE_AF;
    if ((pte & PTE_AF) === 0n) return r;
    const size = 0x1000 * 512 ** (3 - leaf.level);
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
      const had = af(leafAt(this, cd, iova));
      const r = super.walk(cd, iova, write, ha, hd);
      if (!r.ok && r.fault === 'permission') {
        if (!had && af(leafAt(this, cd, iova))) seen.afSet++;
        if (this.iotlb.entries().length > before) seen.kept++;
      }
      return r;
    }
  }
  return { adapter: referenceSmmuHwAdapter('AF set and leaf cached on a permission fault', Counted), seen };
}
