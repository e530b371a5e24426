// A faulty IOTLB eviction (profile smmu-hw), for IOTLB-11: a bounded IOTLB may drop an
// entry at any time, and the entry then behaves as absent (ARM IHI 0070 E.a §16.2). An
// eviction is silent: the hardware updates a descriptor only when it walks, by an atomic
// read-modify-write of what memory holds (§3.13), never from what it cached. The kit sees
// the eviction through the reference adapter's IOTLB view (SmmuHw.iotlbEntries), so the
// fault is blamed on the eviction, not on the access that needed the room.
import { IOMMU_READ, IOMMU_WRITE } from '../../impl/pgtable/io-pgtable-arm.ts';
import { PTE_AP_RDONLY } from '../../impl/pgtable/pte.ts';
import type { PhysicalMemory } from '../../impl/memory/physical-memory.ts';
import { Iotlb, type IotlbEntry } from '../../impl/smmu/iotlb.ts';
import type { SmmuConfig } from '../../impl/smmu/smmu.ts';
import { referenceSmmuHwAdapter } from '../adapters/reference.ts';
import type { Adapter, SmmuHwAdapter } from '../adapters/types.ts';
import type { Probe } from './probe.ts';
import { CachedFromSmmu, hwSystem } from './smmu-probe-systems.ts';
import type { Mutant } from './types.ts';

const RW = IOMMU_READ | IOMMU_WRITE;
const PA = 0x8000_0000;

/** An IOTLB that tells its owner each entry it dropped to make room for another. */
class VictimReportingIotlb extends Iotlb {
  constructor(
    capacity: number,
    private readonly onEvict: (victim: IotlbEntry) => void,
  ) {
    super(capacity);
  }

  override insert(entry: IotlbEntry): void {
    const before = this.entries();
    super.insert(entry);
    if (before.length < this.capacity) return;
    const now = new Set(this.entries());
    // An entry replaced by one for the same leaf is not a victim.
    for (const e of before) if (!now.has(e) && !(e.asid === entry.asid && e.level === entry.level && e.base === entry.base)) this.onEvict(e);
  }
}

/** The IOTLB writes each victim's copy of its descriptor back to memory. */
export class EvictWritesBackSmmu extends CachedFromSmmu {
  // FAULT (class stale-iotlb): the victim write of a write-back cache: an entry evicted to
  // make room has the descriptor it was cached from (with the walk's own AF and dirty
  // update) stored back over whatever memory holds now, with a plain store, as if the IOTLB
  // held state memory lacked. A leaf software cleared or unmapped since the walk, whose
  // invalidation has not come yet, is made dirty or mapped again by an access elsewhere.
  constructor(memory: PhysicalMemory, config: SmmuConfig) {
    super(memory, config);
    (this as unknown as { iotlb: Iotlb }).iotlb = new VictimReportingIotlb(this.iotlb.capacity, (victim) => {
      const from = this.cachedFrom.get(`${victim.asid}:${victim.level}:${victim.base}`);
      if (from !== undefined) this.memory.store(from.ptep, from.pte);
    });
  }
}

const NAME = 'hw-evict-writes-back';

export const smmuTlbMutants: readonly Mutant[] = [
  {
    name: NAME,
    bugClass: 'stale-iotlb',
    profile: 'smmu-hw',
    targets: ['IOTLB-11'],
    description:
      "An IOTLB entry evicted to make room is written back: the descriptor it was cached from is stored over what memory holds now (a write-back cache's victim write, where the architecture's eviction is silent and HTTU updates memory only as it walks): a leaf software cleared without invalidating yet is dirty again after a DMA to another page. Class stale-iotlb: what the IOTLB cached written over what software changed.",
    adapter: referenceSmmuHwAdapter(NAME, EvictWritesBackSmmu),
  },
];

/**
 * smmu-hw with a one-entry IOTLB: page 0 written (dirty, cached writable-dirty), cleared in
 * memory without a TLBI, then page 1 read, which evicts page 0's entry: whether page 0 is
 * still clean, and what the IOTLB holds.
 */
async function evictAfterClearWithoutTlbi(adapter: Adapter) {
  const { memory, hw, domain } = await hwSystem(adapter as SmmuHwAdapter, { iotlbCapacity: 1, tracking: true });
  domain.map(0, PA, 0x2000, RW);
  await hw.dmaWrite(0, 0);
  const leaf = [...domain.pgtable.leaves(0, 0x1000)][0]!;
  memory.fetchOr(leaf.ptep, PTE_AP_RDONLY);
  const read = await hw.dmaRead(0, 0x1000);
  return { ok: read.ok, clean: (memory.load(leaf.ptep) & PTE_AP_RDONLY) !== 0n, cached: hw.iotlbEntries?.().map((e) => e.base) };
}

export const smmuTlbProbes: readonly Probe[] = [
  {
    mutant: NAME,
    title: `[IOTLB-11] mutant ${NAME} deviates from the reference: an entry evicted for a read elsewhere makes the leaf cleared since its walk dirty again`,
    reference: referenceSmmuHwAdapter(),
    run: evictAfterClearWithoutTlbi,
    want: { reference: { ok: true, clean: true, cached: [0x1000] }, mutant: { ok: true, clean: false, cached: [0x1000] } },
  },
];
