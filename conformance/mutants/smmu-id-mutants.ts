// Faulty page tables for the descriptor rules no mutant's kill named yet (the requirement
// matrix): the descriptor's type field (PTE-1), the encoding of a protection (PTE-3),
// iopte_writeable_dirty (PTE-5) and the atomic swap of a split (SPLIT-2), each a way
// Linux v6.12 drivers/iommu/io-pgtable-arm.c (__arm_lpae_init_pte, arm_lpae_prot_to_pte,
// iopte_writeable_dirty, arm_lpae_install_table) could be got wrong in one place.
import { IommuDomain, type PgtableFactory } from '../../impl/domain.ts';
import { ArmLpaeIoPgtable, type DirtyRecord, IOMMU_DIRTY_NO_CLEAR, IOMMU_READ, IOMMU_WRITE } from '../../impl/pgtable/io-pgtable-arm.ts';
import { PTE_AP_RDONLY, PTE_DBM, PTE_TYPE_BLOCK, PTE_TYPE_MASK, isTable, isValid, levelIndex, pteAddress } from '../../impl/pgtable/pte.ts';
import { decodeCd } from '../../impl/smmu/registers.ts';
import { createKitMemory, createKitSmmu, referenceSmmuDriverAdapter } from '../adapters/reference.ts';
import type { Adapter, KitSmmuPort, SmmuDriverAdapter } from '../adapters/types.ts';
import { dirtyBitmapPages } from '../../spec/bitmap/dirty-bitmap.ts';
import type { Probe } from './probe.ts';
import type { BugClass, Mutant } from './types.ts';

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

// ---- zoo entries and probes ----------------------------------------------------------

type PgtableClass = new (...args: ConstructorParameters<typeof ArmLpaeIoPgtable>) => ArmLpaeIoPgtable;
const factory =
  (P: PgtableClass): PgtableFactory =>
  (memory, config, flush) =>
    new P(memory, config, flush);

/** Profile smmu-driver for a probe: kit memory, the reference SMMU, the driver from `adapter`, stream 0 attached. */
async function driverSystem(adapter: SmmuDriverAdapter) {
  const memory = createKitMemory();
  const smmu = createKitSmmu(memory, { httu: 2, bbml: 2, iotlbCapacity: 64 });
  let cdAt = 0;
  const port: KitSmmuPort = {
    idr0: smmu.idr0,
    idr3: smmu.idr3,
    attachStream: (streamId, cd) => {
      cdAt = cd;
      smmu.attachStream(streamId, cd);
    },
    detachStream: (streamId) => smmu.detachStream(streamId),
    submit: (commands) => smmu.submit(commands),
  };
  const driver = await adapter.create(memory, port, { asid: 1, dirtyCapable: true, pageGranular: false });
  if (typeof driver === 'number') throw new Error(`${adapter.name} create: ${driver}`);
  await driver.attach(0);
  /** The entry translating `iova` at the deepest level reached: its address and value. */
  const entry = (iova: number) => {
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
  return { memory, smmu, driver, entry, report };
}

type Driver = Awaited<ReturnType<typeof driverSystem>>;

interface Spec {
  readonly name: string;
  readonly bugClass: BugClass;
  readonly targets: readonly string[];
  readonly description: string;
  readonly pgtable: PgtableClass;
  readonly what: string;
  readonly run: (s: Driver) => Promise<unknown>;
  readonly want: { readonly reference: unknown; readonly mutant: unknown };
}

const specs: readonly Spec[] = [
  {
    name: 'map-page-typed-block',
    bugClass: 'boundary-arithmetic',
    targets: ['PTE-1'],
    description:
      "A page is written with the block type: __arm_lpae_init_pte's last-level test compares with ARM_LPAE_MAX_LEVELS instead of ARM_LPAE_MAX_LEVELS - 1, so bits 1:0 of every L3 leaf are 0b01, which the architecture reserves at L3 (a translation fault). Class boundary-arithmetic: an off-by-one in the level that picks the descriptor type.",
    pgtable: PageTypedBlockPgtable,
    what: 'bits 1:0 of a mapped page are 0b01, and a DMA write through it faults',
    run: async ({ smmu, driver, entry }) => {
      await driver.map(0, PA, 0x1000, RW);
      const w = smmu.dmaWrite(0, 0);
      return { type: Number(entry(0).pte & PTE_TYPE_MASK), dma: w.ok ? 'ok' : w.fault };
    },
    want: { reference: { type: 3, dma: 'ok' }, mutant: { type: 1, dma: 'translation' } },
  },
  {
    name: 'map-readonly-dbm',
    bugClass: 'bad-input-accepted',
    targets: ['PTE-3'],
    description:
      "A read-only leaf of a domain with the HD quirk gets DBM as well as AP[2] (arm_lpae_prot_to_pte's `else if` for the quirk made an `if`): the leaf is writable-clean, and the SMMU lets a device write through a mapping made without IOMMU_WRITE, marking it dirty. Class bad-input-accepted: a write the mapping forbids let through.",
    pgtable: ReadOnlyDbmPgtable,
    what: 'a DMA write through a read-only mapping goes through',
    run: async ({ smmu, driver }) => {
      await driver.map(0, PA, 0x1000, IOMMU_READ);
      await driver.setDirtyTracking(true);
      return smmu.dmaWrite(0, 0).ok;
    },
    want: { reference: false, mutant: true },
  },
  {
    name: 'clear-dirty-by-dbm',
    bugClass: 'false-dirty',
    targets: ['PTE-5'],
    description:
      'read_and_clear_dirty takes a leaf with DBM for dirty (iopte_writeable_dirty as `pte & ARM_LPAE_PTE_DBM`, DBM read as a dirty bit), not `(pte & (AP_RDONLY | DBM)) == DBM`: every writable-clean page is reported. Class false-dirty: pages nobody wrote reported dirty.',
    pgtable: DirtyByDbmPgtable,
    what: 'a report after tracking starts, with nothing written, names every page',
    run: async ({ driver, report }) => {
      await driver.map(0, PA, 0x4000, RW);
      await driver.setDirtyTracking(true);
      return report(0, 0x4000);
    },
    want: { reference: [], mutant: [0, 0x1000, 0x2000, 0x3000] },
  },
  {
    name: 'split-cmpxchg-ignored',
    bugClass: 'racy-update',
    targets: ['SPLIT-2'],
    description:
      'The split installs the table with a compare-exchange against the block as read and ignores its result (arm_lpae_install_table unchecked, as the 2021 HTTU RFC does): when the hardware dirtied the block between the read and the swap, the block stays, the table is lost, and the split reports success. Class racy-update: a read, then an atomic update whose failure is not handled.',
    pgtable: SplitCmpxchgIgnoredPgtable,
    what: 'a DMA write racing the split leaves the block in place',
    run: async ({ memory, smmu, driver, entry }) => {
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
    },
    want: { reference: { ret: 0, injected: true, level: 3 }, mutant: { ret: 0, injected: true, level: 2 } },
  },
];

const reference = referenceSmmuDriverAdapter();
const adapterOf = (s: Spec, name = s.name) => referenceSmmuDriverAdapter(name, IommuDomain, factory(s.pgtable));

export const smmuIdMutants: readonly Mutant[] = specs.map((s) => ({ name: s.name, bugClass: s.bugClass, profile: 'smmu-driver', description: s.description, targets: s.targets, adapter: adapterOf(s) }));

export const smmuIdProbes: readonly Probe[] = specs.map((s) => ({
  mutant: s.name,
  title: `${s.targets.map((t) => `[${t}]`).join(' ')} mutant ${s.name} deviates from the reference: ${s.what}`,
  reference,
  run: async (adapter: Adapter) => s.run(await driverSystem(adapter as SmmuDriverAdapter)),
  want: s.want,
}));
