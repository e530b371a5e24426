// io-pgtable-arm.c as Linux v6.11 and v6.12 (the 6.12.y LTS line) have it: the same as
// io-pgtable-arm.ts but for an unmap that covers part of a block, which v6.13's 33729a5fc0ca
// ("iommu/io-pgtable-arm: Remove split on unmap behavior") refuses and v6.12 splits:
// arm_lpae_split_blk_unmap (Linux v6.12.117 drivers/iommu/io-pgtable-arm.c) builds a table
// of the block's attributes minus the part unmapped, installs it with a compare-exchange
// against the block it read, and gives up (0 bytes) if the block changed meanwhile (the
// SMMU setting its dirty state, say). The children take iopte_prot(blk_pte), whose mask
// holds AP[2] and DBM (ARM_LPAE_PTE_ATTR_HI_MASK has DBM since v6.11): a block's dirty state
// reaches every page. The contract linux-upstream allows both behaviours (UNMAP-U1).
import type { KitMemory, SmmuDriverAdapter } from 'dirtyspec/adapters';
import { type DomainClass, linuxUpstreamAdapter } from './adapter.ts';
import { ArmSmmuDomain } from './arm-smmu-v3.ts';
import {
  ARM_LPAE_MAX_LEVELS,
  ARM_LPAE_PTE_DBM,
  ARM_LPAE_PTE_TYPE_TABLE,
  ARM_LPAE_PTE_XN,
  ARM_LPAE_PTES_PER_TABLE,
  ArmLpaeIoPgtable,
  blockSize,
  type IoPgtableCfg,
  type IoPgtableFlushOps,
  type IommuIotlbGather,
  iopteDeref,
  iopteType,
  lvlIdx,
} from './io-pgtable-arm.ts';

/** ARM_LPAE_PTE_ATTR_MASK (Linux v6.12): bits 11:2, XN and DBM; iopte_prot keeps these. */
const ARM_LPAE_PTE_ATTR_MASK = (0x3ffn << 2n) | ARM_LPAE_PTE_XN | ARM_LPAE_PTE_DBM;
const iopteProt = (pte: bigint) => pte & ARM_LPAE_PTE_ATTR_MASK;

export class ArmLpaeIoPgtableV612 extends ArmLpaeIoPgtable {
  /** __arm_lpae_unmap's partial block (v6.12): arm_lpae_split_blk_unmap at the next level. */
  protected override unmapPartialBlock(gather: IommuIotlbGather | undefined, iova: number, size: number, pgcount: number, lvl: number, ptep: number, blkPte: bigint): number {
    return this.splitBlkUnmap(gather, iova, size, blkPte, lvl + 1, ptep, pgcount);
  }

  /** arm_lpae_split_blk_unmap (Linux v6.12.117); `lvl` is the level of the table that replaces the block. */
  private splitBlkUnmap(gather: IommuIotlbGather | undefined, iova: number, size: number, blkPte: bigint, lvl: number, ptep: number, pgcount: number): number {
    if (lvl === ARM_LPAE_MAX_LEVELS) return 0; // WARN_ON
    let tablep = this.memory.allocFrame();
    const splitSz = blockSize(lvl);
    let unmapIdxStart = -1;
    let numEntries = 0;
    if (size === splitSz) {
      unmapIdxStart = lvlIdx(iova, lvl);
      numEntries = Math.min(pgcount, ARM_LPAE_PTES_PER_TABLE - unmapIdxStart);
    }
    let blkPaddr = iopteDeref(blkPte);
    const prot = iopteProt(blkPte);
    // __arm_lpae_init_pte of each entry but the unmapped ones: plain stores, the table is not yet linked.
    for (let i = 0; i < ARM_LPAE_PTES_PER_TABLE; i++, blkPaddr += splitSz) {
      if (i >= unmapIdxStart && i < unmapIdxStart + numEntries) continue; // Unmap!
      this.initPteEntries(blkPaddr, prot, lvl, 1, tablep + i * 8);
    }
    const pte = this.installTable(tablep, ptep, blkPte);
    if (pte !== blkPte) {
      this.memory.freeFrame(tablep);
      // We may race against someone unmapping another part of this block, but anything else is invalid.
      if (iopteType(pte) !== ARM_LPAE_PTE_TYPE_TABLE) return 0;
      tablep = iopteDeref(pte);
    } else if (unmapIdxStart >= 0) {
      if (gather !== undefined) for (let i = 0; i < numEntries; i++) this.tlb.tlbAddPage(gather, iova + i * size, size);
      return numEntries * size;
    }
    return this.unmapAt(gather, iova, size, pgcount, lvl, tablep);
  }
}

/** The arm-smmu-v3 domain over the v6.12 page table. */
export class ArmSmmuDomainV612 extends ArmSmmuDomain {
  protected override allocPgtable(memory: KitMemory, cfg: IoPgtableCfg, tlb: IoPgtableFlushOps): ArmLpaeIoPgtable {
    return new ArmLpaeIoPgtableV612(memory, cfg, tlb);
  }
}

/** The adapter: linux-upstream with v6.12's split of a cut block. */
export function linuxV612Adapter(name = 'linux v6.12 (iommufd + arm-smmu-v3 + io-pgtable-arm before 33729a5fc0ca)', Domain: DomainClass = ArmSmmuDomainV612): SmmuDriverAdapter {
  return linuxUpstreamAdapter(name, Domain);
}

export default [linuxV612Adapter()];
