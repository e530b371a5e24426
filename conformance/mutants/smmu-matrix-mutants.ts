// More faulty page tables, domains and SMMUs (profiles smmu-driver and smmu-hw): the
// encoding of a new leaf (Linux v6.12.117 drivers/iommu/io-pgtable-arm.c
// arm_lpae_prot_to_pte, arm_lpae_init_pte), the invalidation after unmap, the clear of a
// leaf the range covers in part (io_pgtable_visit_dirty), the tracking lifecycle of the
// domain (iopt_set_dirty_tracking, arm_smmu_make_s1_cd), and the SMMU's fault checks and
// HTTU updates (ARM IHI 0070 §3.13, §7.3, §16.2), each done wrong in one place.
import { IommuDomain } from '../../impl/domain.ts';
import { ArmLpaeIoPgtable, type DirtyRecord, IOMMU_READ, IOMMU_WRITE } from '../../impl/pgtable/io-pgtable-arm.ts';
import { PTE_AF, PTE_AP_RDONLY, PTE_DBM, isWritableDirty, levelSize, pteAddress } from '../../impl/pgtable/pte.ts';
import type { ContextDescriptor } from '../../impl/smmu/registers.ts';
import { Smmu, type DmaResult, cachedState } from '../../impl/smmu/smmu.ts';
import { referenceSmmuDriverAdapter, referenceSmmuHwAdapter, type DomainClass, type SmmuClass } from '../adapters/reference.ts';
import type { Adapter, SmmuDriverAdapter, SmmuHwAdapter } from '../adapters/types.ts';
import type { Probe } from './probe.ts';
import { type Driver, type Hw, type Spec, driverSystem, factory, hwSystem, leafOf, probesOf, type PgtableClass, zooOf } from './smmu-probe-systems.ts';
import type { Mutant } from './types.ts';

const RW = IOMMU_READ | IOMMU_WRITE;
const PA = 0x8000_0000;
const MiB2 = 0x20_0000;

// ---- page tables (smmu-driver) -------------------------------------------------------

/** A writable leaf under the HD quirk is made without DBM. */
export class MapNoDbmPgtable extends ArmLpaeIoPgtable {
  // FAULT (class state-not-carried): arm_lpae_prot_to_pte without the IO_PGTABLE_QUIRK_ARM_HD
  // branch: the leaf is plain writable, the SMMU never records a write to it, and
  // iopte_writeable_dirty never reports it.
  override protToPte(prot: number, level: number, paddr: number): bigint {
    return super.protToPte(prot, level, paddr) & ~PTE_DBM;
  }
}

/** A writable leaf gets DBM whether or not the HD quirk is set. */
export class MapDbmAlwaysPgtable extends ArmLpaeIoPgtable {
  // FAULT (class false-dirty): the quirk test is dropped: a domain not allocated for dirty
  // tracking gets DBM leaves, which read as writable-dirty.
  override protToPte(prot: number, level: number, paddr: number): bigint {
    const pte = super.protToPte(prot, level, paddr);
    return (prot & IOMMU_WRITE) !== 0 ? pte | PTE_DBM : pte;
  }
}

/** A map over a valid leaf replaces it. */
export class MapOverLeafPgtable extends ArmLpaeIoPgtable {
  // FAULT (class bad-input-accepted): arm_lpae_init_pte's `if (iopte_leaf(pte)) { WARN_ON; return -EEXIST; }`
  // is dropped: the old leaf, dirty state included, is replaced by the new one.
  override map(iova: number, paddr: number, size: number, prot: number): number {
    const r = super.map(iova, paddr, size, prot);
    if (r !== -17) return r;
    this.unmap(iova, size);
    return super.map(iova, paddr, size, prot);
  }
}

/** A new leaf is made without the access flag. */
export class MapNoAfPgtable extends ArmLpaeIoPgtable {
  // FAULT (class state-not-carried): ARM_LPAE_PTE_AF missing from arm_lpae_prot_to_pte: with
  // HA=0 every access takes an access flag fault.
  override protToPte(prot: number, level: number, paddr: number): bigint {
    return super.protToPte(prot, level, paddr) & ~PTE_AF;
  }
}

/** Unmap gathers the range but never invalidates it. */
export class UnmapWithoutTlbiPgtable extends ArmLpaeIoPgtable {
  // FAULT (class stale-iotlb): io_pgtable_tlb_add_page gathers, iotlb_sync never runs: the
  // cached translation of an unmapped page keeps translating, writes included.
  override unmap(iova: number, size: number, record?: DirtyRecord): number {
    const self = this as unknown as { flushRange: (iova: number, size: number) => void };
    const flush = self.flushRange;
    Object.defineProperty(this, 'flushRange', { value: () => {}, configurable: true, writable: true });
    try {
      return super.unmap(iova, size, record);
    } finally {
      Object.defineProperty(this, 'flushRange', { value: flush, configurable: true, writable: true });
    }
  }
}

/** read_and_clear_dirty also clears a dirty leaf that reaches outside the range. */
export class ClearPartialLeafPgtable extends ArmLpaeIoPgtable {
  // FAULT (class over-clear): as Linux io_pgtable_visit_dirty: a 2 MiB block the range covers
  // in part is reported and made clean whole: its dirty pages outside the range are forgotten.
  override readAndClearDirty(iova: number, size: number, flags: number, record?: DirtyRecord): number {
    const r = super.readAndClearDirty(iova, size, flags, record);
    if (r !== 0 || (flags & 1) !== 0) return r;
    for (const leaf of [...this.leaves(iova, size)]) {
      if (isWritableDirty(leaf.pte) && (leaf.iova < iova || leaf.iova + leaf.size > iova + size)) {
        this.memory.fetchOr(leaf.ptep, PTE_AP_RDONLY);
        this.flushRange(leaf.iova, leaf.size);
      }
    }
    return 0;
  }
}

// ---- domains (smmu-driver) -----------------------------------------------------------

type DomainState = { tracking: boolean };
const domainState = (d: IommuDomain) => d as unknown as DomainState;

/** Enabling tracking on an SMMU without HTTU dirty support returns 0. */
export class EnableWithoutHttuDomain extends IommuDomain {
  // FAULT (class bad-input-accepted): arm_smmu_dbm_capable is not consulted: tracking "starts"
  // on hardware that never sets a dirty bit, and every report comes back empty.
  override setDirtyTracking(enable: boolean): number {
    if (!enable || this.dirtyTracking || this.hwDirty) return super.setDirtyTracking(enable);
    domainState(this).tracking = true;
    return 0;
  }
}

/** The page-granular policy does not split blocks when tracking starts. */
export class PageGranularNoSplitDomain extends IommuDomain {
  // FAULT (class scope-change): the split of every block on enable is skipped: the policy's
  // page granularity is not what the table has.
  override setDirtyTracking(enable: boolean): number {
    if (!enable || this.dirtyTracking) return super.setDirtyTracking(enable);
    const split = this.pgtable.splitAllBlocks;
    this.pgtable.splitAllBlocks = () => [];
    try {
      return super.setDirtyTracking(enable);
    } finally {
      this.pgtable.splitAllBlocks = split;
    }
  }
}

/** Enabling tracking while it is on clears the dirty state again. */
export class EnableTwiceClearsDomain extends IommuDomain {
  // FAULT (class over-clear): the `enable == tracking` early return is missing: a second
  // enable runs the stale-state clear again and the pages dirtied since the first are lost.
  override setDirtyTracking(enable: boolean): number {
    if (enable && this.dirtyTracking) {
      this.clearStaleDirty();
      this.flushAll();
      return 0;
    }
    return super.setDirtyTracking(enable);
  }
}

/** A stream attached while tracking is on gets a CD without HA and HD. */
export class AttachWithoutHaHdDomain extends IommuDomain {
  // FAULT (class scope-change): the CD of a stream attached later is built from the domain's
  // allocation-time settings, without HA and HD: its writes to clean leaves fault.
  override attach(streamId: number): number {
    const st = domainState(this);
    const was = st.tracking;
    st.tracking = false;
    try {
      return super.attach(streamId);
    } finally {
      st.tracking = was;
    }
  }
}

/** Disabling tracking turns HD off without marking writable-clean leaves dirty. */
export class DisableWithoutMarkingDirtyDomain extends IommuDomain {
  // FAULT (class state-not-carried): the step that makes writable-clean leaves writable-dirty is
  // skipped: once HD is off, a write through such a leaf takes a permission fault.
  override setDirtyTracking(enable: boolean): number {
    if (enable || !this.dirtyTracking) return super.setDirtyTracking(enable);
    const mark = this.pgtable.markAllWritableDirty;
    this.pgtable.markAllWritableDirty = () => {};
    try {
      return super.setDirtyTracking(enable);
    } finally {
      this.pgtable.markAllWritableDirty = mark;
    }
  }
}

// ---- the SMMU (smmu-hw) ----------------------------------------------------------------

/** The permission check comes before the access flag check. */
export class PermissionBeforeAfSmmu extends Smmu {
  // FAULT (class bad-input-accepted): the fault priority reversed: a write to a read-only leaf
  // with AF=0 and HA=0 reports a permission fault, where the access flag fault comes first.
  protected override walk(cd: ContextDescriptor, iova: number, write: boolean, ha: boolean, hd: boolean): DmaResult {
    const r = super.walk(cd, iova, write, ha, hd);
    if (r.ok || r.fault !== 'accessFlag' || !write) return r;
    const leaf = leafOf(this, cd, iova);
    if (leaf === undefined) return r;
    const rdonly = (leaf.pte & PTE_AP_RDONLY) !== 0n;
    const dbm = (leaf.pte & PTE_DBM) !== 0n;
    return rdonly && (!dbm || !hd) ? { ok: false, fault: 'permission' } : r;
  }
}

/** HTTU makes any read-only leaf writable on a write, DBM or not. */
export class HttuIgnoresDbmSmmu extends Smmu {
  // FAULT (class bad-input-accepted): the dirty-state update does not test DBM: a write through a
  // read-only leaf (DBM=0, AP[2]=1) clears AP[2] and goes through instead of a permission fault.
  protected override walk(cd: ContextDescriptor, iova: number, write: boolean, ha: boolean, hd: boolean): DmaResult {
    if (write && hd) {
      const leaf = leafOf(this, cd, iova);
      if (leaf !== undefined && (leaf.pte & PTE_AP_RDONLY) !== 0n && (leaf.pte & PTE_DBM) === 0n && ((leaf.pte & PTE_AF) !== 0n || ha)) this.memory.compareExchange(leaf.ptep, leaf.pte, (leaf.pte & ~PTE_AP_RDONLY) | PTE_DBM);
    }
    return super.walk(cd, iova, write, ha, hd);
  }
}

/** The dirty-state update is enabled by SMMU_IDR0.HTTU alone, not by the CD's HD. */
export class HdFromIdrSmmu extends Smmu {
  // FAULT (class scope-change): the CD's HD bit is not consulted: with HD=0 in the CD, a write
  // through a writable-clean leaf is made dirty instead of taking a permission fault.
  protected override walk(cd: ContextDescriptor, iova: number, write: boolean, ha: boolean, hd: boolean): DmaResult {
    return super.walk(cd, iova, write, ha, hd || this.httu === 2);
  }
}

/** HA=1 lets an access through a leaf with AF=0 without setting AF in memory. */
export class NoAfUpdateSmmu extends Smmu {
  // FAULT (class state-not-carried): the access flag update is left out of the HTTU
  // read-modify-write: the descriptor keeps AF=0 although the access went through.
  protected override httuUpdate(pte: bigint, write: boolean): bigint {
    const next = super.httuUpdate(pte, write);
    return (pte & PTE_AF) === 0n ? next & ~PTE_AF : next;
  }
}

/** A write through an IOTLB entry cached read-only is performed. */
export class CachedReadOnlyWriteSmmu extends Smmu {
  // FAULT (class stale-iotlb): the IOTLB hit path checks the cached permission for reads only:
  // a write through an entry cached read-only completes.
  override dmaWrite(streamId: number, iova: number): DmaResult {
    const cd = (this as unknown as { contextDescriptor(s: number): ContextDescriptor | undefined }).contextDescriptor(streamId);
    const hit = cd === undefined ? undefined : this.iotlb.lookup(cd.asid, iova);
    if (hit?.state === 'readOnly') return { ok: true, pa: hit.outputBase + (iova - hit.base), level: hit.level, tlbHit: true };
    return super.dmaWrite(streamId, iova);
  }
}

/** CMD_CFGI_CD is ignored: a CD once fetched stays cached whatever software writes to it. */
export class IgnoresCfgiCdSmmu extends Smmu {
  // FAULT (class scope-change): the CD cache is never invalidated, so HA/HD set by software
  // after the first access never reach the walks (IHI 0070 G.b §5.4.1: a CD change needs
  // CMD_CFGI_CD, which this SMMU drops), and enabling tracking leaves HD off.
  override submit(commands: Parameters<Smmu['submit']>[0]): void {
    super.submit(commands.filter((c) => c.op !== 'CMD_CFGI_CD'));
  }
}

/** The IOTLB keeps the leaf of a walk that faulted while its AF was 0. */
export class CachesLeafWithoutAfSmmu extends Smmu {
  // FAULT (class stale-iotlb): a walk whose access took an access flag fault, or a permission
  // fault that left AF at 0, still fills the IOTLB with its leaf. Arm forbids both (IOTLB-2:
  // DDI 0487 D8.16 RXCLRD, D8.5.1.2 IRGQLZ); a permission fault after AF=1 may cache.
  protected override walk(cd: ContextDescriptor, iova: number, write: boolean, ha: boolean, hd: boolean): DmaResult {
    const r = super.walk(cd, iova, write, ha, hd);
    if (r.ok || (r.fault !== 'accessFlag' && r.fault !== 'permission')) return r;
    const leaf = leafOf(this, cd, iova);
    if (leaf === undefined || (leaf.pte & PTE_AF) !== 0n) return r;
    const size = levelSize(leaf.level);
    this.iotlb.insert({ asid: cd.asid, base: iova - (iova % size), level: leaf.level, size, outputBase: pteAddress(leaf.pte), state: cachedState(leaf.pte) });
    return r;
  }
}

// ---- zoo entries and probes ----------------------------------------------------------

const refDriver = referenceSmmuDriverAdapter();
const refHw = referenceSmmuHwAdapter();
const pg = (P: PgtableClass) => (name: string) => referenceSmmuDriverAdapter(name, IommuDomain, factory(P));
const dom = (D: DomainClass) => (name: string) => referenceSmmuDriverAdapter(name, D);
const hw = (S: SmmuClass) => (name: string) => referenceSmmuHwAdapter(name, S);
const onDriver = (steps: (s: Driver) => Promise<unknown>, opts?: Parameters<typeof driverSystem>[1]) => async (a: Adapter) => steps(await driverSystem(a as SmmuDriverAdapter, opts));
const onHw = (steps: (s: Hw) => Promise<unknown>, httu?: 0 | 1 | 2) => async (a: Adapter) => steps(await hwSystem(a as SmmuHwAdapter, httu === undefined ? {} : { httu }));
const bits = (pte: bigint) => ({ dbm: (pte & PTE_DBM) !== 0n, rdonly: (pte & PTE_AP_RDONLY) !== 0n, af: (pte & PTE_AF) !== 0n });

const specs: readonly Spec[] = [
  {
    name: 'map-no-dbm',
    bugClass: 'state-not-carried',
    targets: ['MAP-2'],
    description: 'A writable leaf of a domain with the HD quirk is made without DBM: the SMMU never records a write to it and no report names it. Class state-not-carried: the dirty-tracking state is not put into the leaf it must live in.',
    adapter: pg(MapNoDbmPgtable),
    reference: refDriver,
    what: 'a new writable leaf has DBM=0',
    run: onDriver(async ({ driver, leaf }) => {
      await driver.map(0, PA, 0x1000, RW);
      return bits(leaf(0).pte);
    }),
    want: { reference: { dbm: true, rdonly: false, af: true }, mutant: { dbm: false, rdonly: false, af: true } },
  },
  {
    name: 'map-dbm-always',
    bugClass: 'false-dirty',
    targets: ['MAP-3'],
    description: 'A writable leaf gets DBM whether or not the domain has the HD quirk: a domain not allocated for dirty tracking holds leaves that read as writable-dirty. Class false-dirty: dirty state where none was asked for.',
    adapter: pg(MapDbmAlwaysPgtable),
    reference: refDriver,
    what: 'a writable leaf without the HD quirk has DBM=1',
    run: onDriver(
      async ({ driver, leaf }) => {
        await driver.map(0, PA, 0x1000, RW);
        return bits(leaf(0).pte);
      },
      { dirtyCapable: false },
    ),
    want: { reference: { dbm: false, rdonly: false, af: true }, mutant: { dbm: true, rdonly: false, af: true } },
  },
  {
    name: 'map-over-leaf',
    bugClass: 'bad-input-accepted',
    targets: ['MAP-4'],
    description: "A map over a valid leaf replaces it instead of failing with -EEXIST (arm_lpae_init_pte's leaf test dropped): the old translation and its dirty state are gone. Class bad-input-accepted: an overlapping map taken.",
    adapter: pg(MapOverLeafPgtable),
    reference: refDriver,
    what: 'a second map of page 0 returns 0',
    run: onDriver(async ({ driver }) => {
      await driver.map(0, PA, 0x1000, RW);
      return driver.map(0, PA + 0x10_0000, 0x1000, RW);
    }),
    want: { reference: -17, mutant: 0 },
  },
  {
    name: 'map-no-af',
    bugClass: 'state-not-carried',
    targets: ['MAP-5'],
    description: 'A new leaf is made with AF=0 (ARM_LPAE_PTE_AF left out of arm_lpae_prot_to_pte): with HA=0 every access takes an access flag fault. Class state-not-carried: a descriptor bit the mapping must carry is lost.',
    adapter: pg(MapNoAfPgtable),
    reference: refDriver,
    what: 'a new leaf has AF=0',
    run: onDriver(async ({ driver, leaf }) => {
      await driver.map(0, PA, 0x1000, RW);
      return bits(leaf(0).pte).af;
    }),
    want: { reference: true, mutant: false },
  },
  {
    name: 'unmap-without-tlbi',
    bugClass: 'stale-iotlb',
    targets: ['IOTLB-8'],
    description: 'Unmap gathers the range but never invalidates it: the cached translation of an unmapped page keeps translating DMA, writes included. Class stale-iotlb: an unmap without a TLB invalidation.',
    adapter: pg(UnmapWithoutTlbiPgtable),
    reference: refDriver,
    what: 'a write after the unmap goes through the cached translation',
    run: onDriver(async ({ smmu, driver }) => {
      await driver.map(0, PA, 0x1000, RW);
      smmu.dmaWrite(0, 0);
      await driver.unmap(0, 0x1000);
      return smmu.dmaWrite(0, 0).ok;
    }),
    want: { reference: false, mutant: true },
  },
  {
    name: 'clear-partial-leaf',
    bugClass: 'over-clear',
    targets: ['CLEAR-4'],
    description:
      'read_and_clear_dirty clears a dirty 2 MiB block the range covers only in part, as Linux io_pgtable_visit_dirty does: its dirty pages outside the range are forgotten. Class over-clear: the clear reaches past the range asked.',
    adapter: pg(ClearPartialLeafPgtable),
    reference: refDriver,
    what: 'a report of the block after a report of its first page is empty',
    run: onDriver(async ({ smmu, driver, report }) => {
      await driver.map(0, PA, MiB2, RW);
      await driver.setDirtyTracking(true);
      smmu.dmaWrite(0, 0x5000);
      await report(0, 0x1000);
      const r = await report(0, MiB2);
      return typeof r === 'number' ? r : r.length;
    }),
    want: { reference: 512, mutant: 0 },
  },
  {
    name: 'enable-without-httu',
    bugClass: 'bad-input-accepted',
    targets: ['TRACK-1'],
    description:
      'Enabling tracking on an SMMU without HTTU dirty support returns 0 instead of -EOPNOTSUPP (arm_smmu_dbm_capable not consulted): tracking "starts" on hardware that never sets a dirty bit. Class bad-input-accepted: a request the hardware cannot serve taken.',
    adapter: dom(EnableWithoutHttuDomain),
    reference: refDriver,
    what: 'enabling tracking with SMMU_IDR0.HTTU = 0 returns 0',
    run: onDriver(async ({ driver }) => driver.setDirtyTracking(true), { httu: 0 }),
    want: { reference: -95, mutant: 0 },
  },
  {
    name: 'page-granular-no-split',
    bugClass: 'scope-change',
    targets: ['TRACK-4'],
    description: 'With the page-granular policy, enabling tracking does not split blocks: a write to one page of a 2 MiB block is reported as 512 pages. Class scope-change: the tracking granularity is not the one the policy promises.',
    adapter: dom(PageGranularNoSplitDomain),
    reference: refDriver,
    what: 'a block stays a block after enabling tracking',
    run: onDriver(
      async ({ driver, leaf }) => {
        await driver.map(0, PA, MiB2, RW);
        await driver.setDirtyTracking(true);
        return leaf(0).level;
      },
      { pageGranular: true },
    ),
    want: { reference: 3, mutant: 2 },
  },
  {
    name: 'enable-twice-clears',
    bugClass: 'over-clear',
    targets: ['TRACK-5'],
    description: 'Enabling tracking while it is on clears the dirty state again (the early return is missing): pages dirtied since the first enable are lost. Class over-clear: a clear nobody asked for.',
    adapter: dom(EnableTwiceClearsDomain),
    reference: refDriver,
    what: 'a page written before a second enable is not reported',
    run: onDriver(async ({ smmu, driver, report }) => {
      await driver.map(0, PA, 0x4000, RW);
      await driver.setDirtyTracking(true);
      smmu.dmaWrite(0, 0x1000);
      await driver.setDirtyTracking(true);
      return report(0, 0x4000);
    }),
    want: { reference: [0x1000], mutant: [] },
  },
  {
    name: 'attach-without-ha-hd',
    bugClass: 'scope-change',
    targets: ['TRACK-7'],
    description: 'A stream attached while tracking is on gets a CD without HA and HD: its writes to clean leaves fault and are never dirty. Class scope-change: a device added to the domain is outside the tracking.',
    adapter: dom(AttachWithoutHaHdDomain),
    reference: refDriver,
    what: 'stream 1, attached while tracking, faults on a clean leaf',
    run: onDriver(async ({ smmu, driver }) => {
      await driver.map(0, PA, 0x4000, RW);
      await driver.setDirtyTracking(true);
      await driver.attach(1);
      const w = smmu.dmaWrite(1, 0x1000);
      return w.ok ? 'ok' : w.fault;
    }),
    want: { reference: 'ok', mutant: 'permission' },
  },
  {
    name: 'disable-without-marking-dirty',
    bugClass: 'state-not-carried',
    targets: ['CLEAR-3'],
    description:
      'Disabling tracking turns HD off without first marking writable-clean leaves writable-dirty: a write through such a leaf then takes a permission fault. Class state-not-carried: the leaf state the next mode needs is not carried into it.',
    adapter: dom(DisableWithoutMarkingDirtyDomain),
    reference: refDriver,
    what: 'a write after disabling tracking faults',
    run: onDriver(async ({ smmu, driver }) => {
      await driver.map(0, PA, 0x4000, RW);
      await driver.setDirtyTracking(true);
      await driver.setDirtyTracking(false);
      const w = smmu.dmaWrite(0, 0x1000);
      return w.ok ? 'ok' : w.fault;
    }),
    want: { reference: 'ok', mutant: 'permission' },
  },
  {
    name: 'hw-permission-before-af',
    bugClass: 'bad-input-accepted',
    targets: ['FAULT-4'],
    description:
      'The SMMU checks the permission before the access flag: a write to a read-only leaf with AF=0 and HA=0 reports a permission fault, where the access flag fault has priority. Class bad-input-accepted: an access reported under the wrong fault, so software handles it as the wrong one.',
    adapter: hw(PermissionBeforeAfSmmu),
    reference: refHw,
    what: 'a write to a read-only leaf with AF=0 is a permission fault',
    run: onHw(async ({ memory, hw, domain }) => {
      domain.map(0, PA, 0x1000, IOMMU_READ);
      const leaf = [...domain.pgtable.leaves(0, 0x1000)][0]!;
      memory.store(leaf.ptep, leaf.pte & ~PTE_AF);
      const w = await hw.dmaWrite(0, 0);
      return w.ok ? 'ok' : w.fault;
    }, 0),
    want: { reference: 'accessFlag', mutant: 'permission' },
  },
  {
    name: 'hw-httu-ignores-dbm',
    bugClass: 'bad-input-accepted',
    targets: ['FAULT-2'],
    description: 'The HTTU dirty update does not test DBM: a write through a read-only leaf clears AP[2] and goes through instead of a permission fault. Class bad-input-accepted: a write the mapping does not allow let through.',
    adapter: hw(HttuIgnoresDbmSmmu),
    reference: refHw,
    what: 'a write through a read-only leaf goes through',
    run: onHw(async ({ hw, domain }) => {
      domain.map(0, PA, 0x1000, IOMMU_READ);
      domain.setDirtyTracking(true);
      return (await hw.dmaWrite(0, 0)).ok;
    }),
    want: { reference: false, mutant: true },
  },
  {
    name: 'hw-hd-from-idr',
    bugClass: 'scope-change',
    targets: ['FAULT-3'],
    description:
      "The SMMU enables the dirty update from SMMU_IDR0.HTTU alone, not from the CD's HD: with HD=0 a write through a writable-clean leaf makes it dirty instead of faulting. Class scope-change: the hardware tracks where software did not ask it to.",
    adapter: hw(HdFromIdrSmmu),
    reference: refHw,
    what: 'a write through a writable-clean leaf with HD=0 goes through',
    run: onHw(async ({ memory, hw, domain }) => {
      domain.map(0, PA, 0x1000, RW);
      const leaf = [...domain.pgtable.leaves(0, 0x1000)][0]!;
      memory.fetchOr(leaf.ptep, PTE_AP_RDONLY);
      return (await hw.dmaWrite(0, 0)).ok;
    }),
    want: { reference: false, mutant: true },
  },
  {
    name: 'hw-no-af-update',
    bugClass: 'state-not-carried',
    targets: ['HTTU-1'],
    description: 'With HA=1 an access through a leaf with AF=0 goes through without setting AF in memory: the access flag update is left out of the read-modify-write. Class state-not-carried: an access the hardware must record is not.',
    adapter: hw(NoAfUpdateSmmu),
    reference: refHw,
    what: 'AF stays 0 after a read through the leaf',
    run: onHw(async ({ memory, hw, domain }) => {
      domain.map(0, PA, 0x1000, RW);
      domain.setDirtyTracking(true);
      const leaf = [...domain.pgtable.leaves(0, 0x1000)][0]!;
      memory.store(leaf.ptep, memory.load(leaf.ptep) & ~PTE_AF);
      await hw.dmaRead(0, 0);
      return bits(memory.load(leaf.ptep)).af;
    }),
    want: { reference: true, mutant: false },
  },
  {
    name: 'hw-cached-readonly-write',
    bugClass: 'stale-iotlb',
    targets: ['IOTLB-6'],
    description: 'A write through an IOTLB entry cached read-only completes: the hit path checks the cached permission for reads only. Class stale-iotlb: a cached entry used beyond what it caches.',
    adapter: hw(CachedReadOnlyWriteSmmu),
    reference: refHw,
    what: 'a write through a read-only entry cached by a read goes through',
    run: onHw(async ({ hw, domain }) => {
      domain.map(0, PA, 0x1000, IOMMU_READ);
      await hw.dmaRead(0, 0);
      return (await hw.dmaWrite(0, 0)).ok;
    }),
    want: { reference: false, mutant: true },
  },
  {
    name: 'hw-ignores-cfgi-cd',
    bugClass: 'scope-change',
    targets: ['TRACK-2'],
    description:
      'The SMMU drops CMD_CFGI_CD: the CD it fetched first stays cached, so the HA/HD that enabling tracking writes never reach its walks, and a write through a writable-clean leaf faults instead of making it dirty. Class scope-change: tracking the software turned on never starts in the hardware. (A TLB entry may keep the HD it was filled with until a TLBI, IOTLB-6; a walk may not.)',
    adapter: hw(IgnoresCfgiCdSmmu),
    reference: refHw,
    what: 'a write through a writable-clean leaf after enabling tracking faults',
    run: onHw(async ({ hw, domain }) => {
      domain.map(0, PA, 0x2000, RW);
      await hw.dmaRead(0, 0x1000);
      domain.setDirtyTracking(true);
      const w = await hw.dmaWrite(0, 0);
      return w.ok ? 'ok' : w.fault;
    }),
    want: { reference: 'ok', mutant: 'permission' },
  },
  {
    name: 'hw-caches-leaf-without-af',
    bugClass: 'stale-iotlb',
    targets: ['IOTLB-2'],
    description:
      'The IOTLB keeps the leaf of a walk that faulted with AF=0 (an access flag fault, or a permission fault that left AF clear): Arm lets a TLB hold a permission-faulted entry only once its AF is 1. Class stale-iotlb: an entry cached that the architecture never lets a TLB hold.',
    adapter: hw(CachesLeafWithoutAfSmmu),
    reference: refHw,
    what: 'a write to a read-only leaf with AF=0 leaves an IOTLB entry',
    run: onHw(async ({ memory, hw, domain }) => {
      domain.map(0, PA, 0x1000, IOMMU_READ);
      const leaf = [...domain.pgtable.leaves(0, 0x1000)][0]!;
      memory.store(leaf.ptep, leaf.pte & ~PTE_AF);
      await hw.dmaWrite(0, 0);
      return (await hw.iotlbEntries!()).length;
    }, 0),
    want: { reference: 0, mutant: 1 },
  },
];

export const smmuMatrixMutants: readonly Mutant[] = zooOf(specs);

export const smmuMatrixProbes: readonly Probe[] = probesOf(specs);
