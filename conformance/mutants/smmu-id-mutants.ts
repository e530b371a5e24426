// Faulty page tables and SMMUs for the descriptor and IOTLB rules no mutant's kill named yet
// (the requirement matrix): the descriptor's type field (PTE-1), the encoding of a
// protection (PTE-3), iopte_writeable_dirty (PTE-5) and the atomic swap of a split
// (SPLIT-2), each a way Linux v6.12 drivers/iommu/io-pgtable-arm.c (__arm_lpae_init_pte,
// arm_lpae_prot_to_pte, iopte_writeable_dirty, arm_lpae_install_table) could be got wrong
// in one place; and an IOTLB hit that writes memory (IOTLB-3, IOTLB-4: ARM IHI 0070 §16.2,
// §3.13: the hardware updates a descriptor by an atomic read-modify-write of what memory
// holds, when it walks, never from what it cached).
import { IommuDomain } from '../../impl/domain.ts';
import { ArmLpaeIoPgtable, type DirtyRecord, IOMMU_DIRTY_NO_CLEAR, IOMMU_READ, IOMMU_WRITE } from '../../impl/pgtable/io-pgtable-arm.ts';
import { PTE_AF, PTE_AP_RDONLY, PTE_DBM, PTE_TYPE_BLOCK, PTE_TYPE_MASK, levelSize } from '../../impl/pgtable/pte.ts';
import type { ContextDescriptor } from '../../impl/smmu/registers.ts';
import type { DmaResult, Smmu } from '../../impl/smmu/smmu.ts';
import { referenceSmmuDriverAdapter, referenceSmmuHwAdapter } from '../adapters/reference.ts';
import type { Adapter, DmaOutcome, SmmuDriverAdapter, SmmuHwAdapter } from '../adapters/types.ts';
import type { Probe } from './probe.ts';
import { CachedFromSmmu, type Driver, type Hw, type PgtableClass, type Spec, driverSystem, factory, hwSystem, probesOf, zooOf } from './smmu-probe-systems.ts';
import type { Mutant } from './types.ts';

const RW = IOMMU_READ | IOMMU_WRITE;
const PA = 0x8000_0000;
const MiB2 = 0x20_0000;

/** A page (L3) is written with the block type. */
export class PageTypedBlockPgtable extends ArmLpaeIoPgtable {
  // FAULT (class boundary-arithmetic): __arm_lpae_init_pte's `if (lvl == ARM_LPAE_MAX_LEVELS - 1)
  // pte |= ARM_LPAE_PTE_TYPE_PAGE; else pte |= ARM_LPAE_PTE_TYPE_BLOCK;` compared with
  // ARM_LPAE_MAX_LEVELS: the last level is never matched, so every page gets bits 1:0 = 0b01,
  // which is reserved at L3 (ARM DDI 0487 D8.3): the SMMU takes a translation fault there.
  override protToPte(prot: number, level: number, paddr: number): bigint {
    const pte = super.protToPte(prot, level, paddr);
    return level === 3 ? (pte & ~PTE_TYPE_MASK) | PTE_TYPE_BLOCK : pte;
  }
}

/** A read-only leaf of a domain with the HD quirk gets DBM too. */
export class ReadOnlyDbmPgtable extends ArmLpaeIoPgtable {
  // FAULT (class bad-input-accepted): arm_lpae_prot_to_pte's `else if (quirks &
  // IO_PGTABLE_QUIRK_ARM_HD) pte |= ARM_LPAE_PTE_DBM` as a separate `if`: a read-only leaf
  // carries AP[2] and DBM, which is writable-clean, so with HD the SMMU lets a device write
  // through a mapping made without IOMMU_WRITE and marks it dirty.
  override protToPte(prot: number, level: number, paddr: number): bigint {
    const pte = super.protToPte(prot, level, paddr);
    return this.config.hdQuirk ? pte | PTE_DBM : pte;
  }
}

/** read_and_clear_dirty takes DBM alone for "dirty". */
export class DirtyByDbmPgtable extends ArmLpaeIoPgtable {
  // FAULT (class false-dirty): iopte_writeable_dirty(pte) written as `pte & ARM_LPAE_PTE_DBM`
  // (DBM read as a dirty bit, as the D bit of AMD's and Intel's second-stage tables is),
  // instead of `(pte & (AP_RDONLY | DBM)) == DBM`: every writable-clean leaf is reported dirty.
  override readAndClearDirty(iova: number, size: number, flags: number, record?: DirtyRecord): number {
    // The arguments as the reference checks them (NO_CLEAR and no record: nothing is touched).
    const r = super.readAndClearDirty(iova, size, flags | IOMMU_DIRTY_NO_CLEAR);
    if (r !== 0) return r;
    const clear = (flags & IOMMU_DIRTY_NO_CLEAR) === 0;
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const leaf of [...this.leaves(iova, size)]) {
      if ((leaf.pte & PTE_DBM) === 0n) continue;
      record?.(leaf.iova, leaf.size);
      if (!clear || leaf.iova < iova || leaf.iova + leaf.size > iova + size) continue;
      this.memory.fetchOr(leaf.ptep, PTE_AP_RDONLY);
      lo = Math.min(lo, leaf.iova);
      hi = Math.max(hi, leaf.iova + leaf.size);
    }
    if (hi > lo) this.flushRange(lo, hi - lo);
    return 0;
  }
}

/** The split swaps in the table with a compare-exchange and does not look at its result. */
export class SplitCmpxchgIgnoredPgtable extends ArmLpaeIoPgtable {
  // FAULT (class racy-update): arm_lpae_install_table's cmpxchg against the block as read, its
  // result not checked (the 2021 HTTU RFC's arm_lpae_do_split_blk: "Race does not exist",
  // safe there only because it splits dirty blocks), where arm_lpae_split_blk_unmap checks
  // `pte != blk_pte`: when the hardware dirtied the block between the read and the swap, the
  // swap fails, the block stays, and the split still reports success.
  protected override swapBlockForTable(ptep: number, read: bigint, tablePte: bigint): bigint {
    this.memory.compareExchange(ptep, read, tablePte);
    return read;
  }
}

// ---- SMMUs (smmu-hw) -----------------------------------------------------------------

/** An IOTLB hit stores the descriptor the entry was cached from back to memory. */
class HitWritesBackSmmu extends CachedFromSmmu {
  /** After a hit: the cached descriptor, with AF, stored back over whatever memory holds now. */
  protected writeBack(streamId: number, iova: number, r: DmaResult): void {
    if (!r.ok || !r.tlbHit) return;
    const cd = (this as unknown as { contextDescriptor(s: number): ContextDescriptor | undefined }).contextDescriptor(streamId);
    const from = cd === undefined ? undefined : this.cachedFrom.get(`${cd.asid}:${r.level}:${iova - (iova % levelSize(r.level))}`);
    if (from !== undefined) this.memory.store(from.ptep, from.pte | PTE_AF);
  }
}

/** A read that hits in the IOTLB writes the cached descriptor back. */
export class ReadHitWritesBackSmmu extends HitWritesBackSmmu {
  // FAULT (class stale-iotlb): the access flag "refreshed" on a read hit from the IOTLB's copy of
  // the descriptor, with a plain store: memory is touched by an access the IOTLB served, and
  // whatever software changed since the walk (a clear, an unmap) is undone.
  override dmaRead(streamId: number, iova: number): DmaResult {
    const r = super.dmaRead(streamId, iova);
    this.writeBack(streamId, iova, r);
    return r;
  }
}

/** A write that hits in the IOTLB writes the cached descriptor back. */
export class WriteHitWritesBackSmmu extends HitWritesBackSmmu {
  // FAULT (class stale-iotlb): on a write hit through an entry cached writable or
  // writable-dirty the dirty state is "kept in step" by storing the IOTLB's copy of the
  // descriptor back: software's clear or unmap since the walk is undone by the device's write.
  override dmaWrite(streamId: number, iova: number): DmaResult {
    const r = super.dmaWrite(streamId, iova);
    this.writeBack(streamId, iova, r);
    return r;
  }
}

// ---- zoo entries and probes ----------------------------------------------------------

const refDriver = referenceSmmuDriverAdapter();
const refHw = referenceSmmuHwAdapter();
const pg = (P: PgtableClass) => (name: string) => referenceSmmuDriverAdapter(name, IommuDomain, factory(P));
const hwOf = (S: typeof Smmu) => (name: string) => referenceSmmuHwAdapter(name, S);
const onDriver = (steps: (s: Driver) => Promise<unknown>) => async (a: Adapter) => steps(await driverSystem(a as SmmuDriverAdapter));
const onHw = (steps: (s: Hw) => Promise<unknown>) => async (a: Adapter) => steps(await hwSystem(a as SmmuHwAdapter, { tracking: true }));

/** smmu-hw: page 0 written (dirty and cached writable-dirty), then cleared in memory without a TLBI, then `access`: whether the leaf is still clean. */
const afterClearWithoutTlbi = (access: (hw: Hw['hw']) => Promise<DmaOutcome>) =>
  onHw(async ({ memory, hw, domain }) => {
    domain.map(0, PA, 0x1000, RW);
    await hw.dmaWrite(0, 0);
    const leaf = [...domain.pgtable.leaves(0, 0x1000)][0]!;
    memory.fetchOr(leaf.ptep, PTE_AP_RDONLY);
    const r = await access(hw);
    return { ok: r.ok, clean: (memory.load(leaf.ptep) & PTE_AP_RDONLY) !== 0n };
  });

const specs: readonly Spec[] = [
  {
    name: 'map-page-typed-block',
    bugClass: 'boundary-arithmetic',
    targets: ['PTE-1'],
    description:
      "A page is written with the block type: __arm_lpae_init_pte's last-level test compares with ARM_LPAE_MAX_LEVELS instead of ARM_LPAE_MAX_LEVELS - 1, so bits 1:0 of every L3 leaf are 0b01, which the architecture reserves at L3 (a translation fault). Class boundary-arithmetic: an off-by-one in the level that picks the descriptor type.",
    adapter: pg(PageTypedBlockPgtable),
    reference: refDriver,
    what: 'bits 1:0 of a mapped page are 0b01, and a DMA write through it faults',
    run: onDriver(async ({ smmu, driver, entry }) => {
      await driver.map(0, PA, 0x1000, RW);
      const w = smmu.dmaWrite(0, 0);
      return { type: Number(entry(0).pte & PTE_TYPE_MASK), dma: w.ok ? 'ok' : w.fault };
    }),
    want: { reference: { type: 3, dma: 'ok' }, mutant: { type: 1, dma: 'translation' } },
  },
  {
    name: 'map-readonly-dbm',
    bugClass: 'bad-input-accepted',
    targets: ['PTE-3'],
    description:
      "A read-only leaf of a domain with the HD quirk gets DBM as well as AP[2] (arm_lpae_prot_to_pte's `else if` for the quirk made an `if`): the leaf is writable-clean, and the SMMU lets a device write through a mapping made without IOMMU_WRITE, marking it dirty. Class bad-input-accepted: a write the mapping forbids let through.",
    adapter: pg(ReadOnlyDbmPgtable),
    reference: refDriver,
    what: 'a DMA write through a read-only mapping goes through',
    run: onDriver(async ({ smmu, driver }) => {
      await driver.map(0, PA, 0x1000, IOMMU_READ);
      await driver.setDirtyTracking(true);
      return smmu.dmaWrite(0, 0).ok;
    }),
    want: { reference: false, mutant: true },
  },
  {
    name: 'clear-dirty-by-dbm',
    bugClass: 'false-dirty',
    targets: ['PTE-5'],
    description:
      'read_and_clear_dirty takes a leaf with DBM for dirty (iopte_writeable_dirty as `pte & ARM_LPAE_PTE_DBM`, DBM read as a dirty bit), not `(pte & (AP_RDONLY | DBM)) == DBM`: every writable-clean page is reported. Class false-dirty: pages nobody wrote reported dirty.',
    adapter: pg(DirtyByDbmPgtable),
    reference: refDriver,
    what: 'a report after tracking starts, with nothing written, names every page',
    run: onDriver(async ({ driver, report }) => {
      await driver.map(0, PA, 0x4000, RW);
      await driver.setDirtyTracking(true);
      return report(0, 0x4000);
    }),
    want: { reference: [], mutant: [0, 0x1000, 0x2000, 0x3000] },
  },
  {
    name: 'split-cmpxchg-ignored',
    bugClass: 'racy-update',
    targets: ['SPLIT-2'],
    description:
      'The split installs the table with a compare-exchange against the block as read and ignores its result (arm_lpae_install_table unchecked, as the 2021 HTTU RFC does): when the hardware dirtied the block between the read and the swap, the block stays, the table is lost, and the split reports success. Class racy-update: a read, then an atomic update whose failure is not handled.',
    adapter: pg(SplitCmpxchgIgnoredPgtable),
    reference: refDriver,
    what: 'a DMA write racing the split leaves the block in place',
    run: onDriver(async ({ memory, smmu, driver, entry }) => {
      await driver.map(0, PA, MiB2, RW);
      await driver.setDirtyTracking(true);
      const block = entry(0).ptep;
      let injected = false;
      memory.hook = (kind, address) => {
        // Before the split's atomic write to the live block: the device dirties it.
        if (injected || kind === 'load' || address !== block) return;
        injected = true;
        smmu.dmaWrite(0, 0x1234);
      };
      const ret = await driver.splitBlock?.(0, MiB2);
      memory.hook = undefined;
      return { ret, injected, level: entry(0).level };
    }),
    want: { reference: { ret: 0, injected: true, level: 3 }, mutant: { ret: 0, injected: true, level: 2 } },
  },
  {
    name: 'hw-read-hit-writes-back',
    bugClass: 'stale-iotlb',
    targets: ['IOTLB-3'],
    description:
      "A DMA read that hits in the IOTLB stores the entry's copy of the descriptor back to memory (the access flag refreshed from the cache with a plain store): a leaf software cleared or unmapped since the walk is dirty or mapped again. Class stale-iotlb: what the IOTLB cached written over what software changed.",
    adapter: hwOf(ReadHitWritesBackSmmu),
    reference: refHw,
    what: 'a read through an entry cached writable-dirty makes the leaf cleared since dirty again',
    run: afterClearWithoutTlbi((hw) => hw.dmaRead(0, 0)),
    want: { reference: { ok: true, clean: true }, mutant: { ok: true, clean: false } },
  },
  {
    name: 'hw-write-hit-writes-back',
    bugClass: 'stale-iotlb',
    targets: ['IOTLB-4'],
    description:
      "A DMA write that hits in the IOTLB through an entry cached writable or writable-dirty stores the entry's copy of the descriptor back to memory: a leaf software cleared or unmapped since the walk is dirty or mapped again by the device's write. Class stale-iotlb: what the IOTLB cached written over what software changed.",
    adapter: hwOf(WriteHitWritesBackSmmu),
    reference: refHw,
    what: 'a write through an entry cached writable-dirty makes the leaf cleared since dirty again',
    run: afterClearWithoutTlbi((hw) => hw.dmaWrite(0, 0)),
    want: { reference: { ok: true, clean: true }, mutant: { ok: true, clean: false } },
  },
];

export const smmuIdMutants: readonly Mutant[] = zooOf(specs);

export const smmuIdProbes: readonly Probe[] = probesOf(specs);
