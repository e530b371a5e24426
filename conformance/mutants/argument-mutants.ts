// Argument faults: the reference page-table driver answering a call it must refuse
// (spec/descriptor/arguments.ts: MAP-6..8, UNMAP-2, CLEAR-5, SPLIT-3, MERGE-3) as if the
// arguments were good, or near enough, and one refusing a call at the edge it must take
// (map-ias-off-by-one). Run as profile smmu-driver on the reference domain;
// the engine's argument commands (conformance/engine/argument-commands.ts) kill them.
import { IommuDomain } from '../../impl/domain.ts';
import { ArmLpaeIoPgtable, type DirtyRecord, IOMMU_READ } from '../../impl/pgtable/io-pgtable-arm.ts';
import { GRANULE, IOVA_LIMIT } from '../../impl/pgtable/pte.ts';
import { referenceSmmuDriverAdapter } from '../adapters/reference.ts';
import type { Adapter, SmmuDriverAdapter } from '../adapters/types.ts';
import { type Driver, type PgtableClass, type Spec, driverSystem, factory, probesOf, zooOf } from './smmu-probe-systems.ts';

const EINVAL = 22;
const ENOENT = 2;
const ERANGE = 34;

/** map rounds an output address that is not page-aligned down to its page. */
export class MapPaddrRoundedPgtable extends ArmLpaeIoPgtable {
  // FAULT (class bad-input-accepted): the paddr alignment test of __iommu_map is missing
  // and the leaf takes the address cut to its page: the device reaches memory the caller never named.
  override map(iova: number, paddr: number, size: number, prot: number): number {
    return super.map(iova, paddr - (paddr % GRANULE), size, prot);
  }
}

/** map takes an output address past 2^48 with its high bits cut off. */
export class MapOasUncheckedPgtable extends ArmLpaeIoPgtable {
  // FAULT (class bad-input-accepted): no `paddr >> cfg->oas` test (Linux v6.12 arm_lpae_map_pages):
  // the descriptor's OA field keeps bits 47:12 and the leaf points at another page.
  override map(iova: number, paddr: number, size: number, prot: number): number {
    return super.map(iova, paddr >= IOVA_LIMIT ? paddr % IOVA_LIMIT : paddr, size, prot);
  }
}

/** map refuses a range whose last byte is the last IOVA below 2^48, as if it reached past it. */
export class MapIasOffByOnePgtable extends ArmLpaeIoPgtable {
  // FAULT (class valid-input-refused): the input-address test compares the range's end, not
  // its last byte, with 2^48 (iova + size >= 2^48 where Linux's arm_lpae_map_pages refuses only
  // an iova at or past it): the last pages of the IOVA space cannot be mapped.
  override map(iova: number, paddr: number, size: number, prot: number): number {
    if (iova + size === IOVA_LIMIT && size > 0) return -ERANGE;
    return super.map(iova, paddr, size, prot);
  }
}

/** map of a prot with neither read nor write maps the range read-only and succeeds. */
export class MapNoProtReadOnlyPgtable extends ArmLpaeIoPgtable {
  // FAULT (class bad-input-accepted): prot 0 taken as IOMMU_READ: the device may read a range
  // its owner granted no access to.
  override map(iova: number, paddr: number, size: number, prot: number): number {
    return super.map(iova, paddr, size, prot === 0 ? IOMMU_READ : prot);
  }
}

/** unmap rounds an iova that is not page-aligned down to its page and unmaps from there. */
export class UnmapIovaRoundedPgtable extends ArmLpaeIoPgtable {
  // FAULT (class bad-input-accepted): the IS_ALIGNED(iova | size, min_pagesz) test of
  // __iommu_unmap is missing: a page the caller did not name is unmapped.
  override unmap(iova: number, size: number, record?: DirtyRecord): number {
    return super.unmap(iova - (iova % GRANULE), size, record);
  }
}

/** read_and_clear_dirty of size 0 reads and clears the page at iova and succeeds. */
export class ClearSizeZeroPagePgtable extends ArmLpaeIoPgtable {
  // FAULT (class bad-input-accepted): no WARN_ON(!size) (Linux v6.12
  // arm_lpae_read_and_clear_dirty): a size of 0 is taken as one page, which is cleared while
  // the caller's bitmap, of 0 bytes, can hold nothing: its dirty state is forgotten.
  override readAndClearDirty(iova: number, size: number, flags: number, record?: DirtyRecord): number {
    return super.readAndClearDirty(iova, size === 0 ? GRANULE : size, flags, record);
  }
}

/** splitBlock of a page succeeds, doing nothing, as if it were split already. */
export class SplitPageSucceedsPgtable extends ArmLpaeIoPgtable {
  // FAULT (class bad-input-accepted): a split asked of a page answers 0 (as the HTTU RFC's
  // split_block does: "nothing to do"), so a caller cannot tell it from a block it split.
  override splitBlock(iova: number): number {
    const ret = super.splitBlock(iova);
    return ret === -EINVAL && iova < IOVA_LIMIT ? 0 : ret;
  }
}

/** mergePages takes a level outside 1..2 as the nearest one it knows: 0 as 1, 3 and above as 2. */
export class MergeLevelClampedPgtable extends ArmLpaeIoPgtable {
  // FAULT (class bad-input-accepted): the level is clamped instead of refused, so a merge asked at
  // level 3 (there is no page-sized table to merge) merges the 2 MiB region around the IOVA.
  override mergePages(iova: number, level: number): number {
    return super.mergePages(iova, Math.min(2, Math.max(1, level)));
  }
}

const MiB2 = 0x20_0000;
const PA = 0x1_0000_0000;
const RW = 3;

/** A fresh domain (tracking on) with four writable pages at 0 and a 2 MiB block at 2 MiB, then `call`; what it answered and the leaves over [0, 4 MiB) after it. */
function afterCall(call: (d: Driver['driver']) => Promise<unknown>) {
  return async (adapter: Adapter) => {
    const sys = await driverSystem(adapter as SmmuDriverAdapter);
    const d = sys.driver;
    if ((await d.map(0, PA, 4 * GRANULE, RW)) !== 0 || (await d.map(MiB2, PA + MiB2, MiB2, RW)) !== 0 || (await d.setDirtyTracking(true)) !== 0) throw new Error('setup refused');
    const answer = await call(d);
    const leaves: string[] = [];
    for (let iova = 0; iova < 2 * MiB2; iova += GRANULE) {
      const { level, pte } = sys.leaf(iova);
      if ((pte & 1n) !== 0n && iova % (level === 3 ? GRANULE : MiB2) === 0) leaves.push(`${iova.toString(16)} L${level}`);
    }
    return { answer, leaves };
  };
}

const BEFORE = ['0 L3', '1000 L3', '2000 L3', '3000 L3', '200000 L2'];

function spec(
  name: string,
  target: string,
  Pgtable: PgtableClass,
  description: string,
  what: string,
  call: (d: Driver['driver']) => Promise<unknown>,
  answers: { reference: unknown; mutant: unknown },
  mutantLeaves: readonly string[] = BEFORE,
): Spec {
  return {
    name,
    bugClass: 'bad-input-accepted',
    targets: [target],
    description,
    adapter: (n) => referenceSmmuDriverAdapter(n, IommuDomain, factory(Pgtable)),
    reference: referenceSmmuDriverAdapter(),
    what,
    run: afterCall(call),
    want: { reference: { answer: answers.reference, leaves: BEFORE }, mutant: { answer: answers.mutant, leaves: mutantLeaves } },
  };
}

const specs: readonly Spec[] = [
  spec(
    'map-paddr-rounded',
    'MAP-6',
    MapPaddrRoundedPgtable,
    'map rounds an output address that is not a multiple of 4 KiB down to its page and maps it, returning 0, where __iommu_map answers -EINVAL. Class bad-input-accepted: the alignment test of paddr is missing.',
    'a map at 0x10000 with a paddr 0x800 into its page is -EINVAL and maps nothing; the mutant maps a page there',
    (d) => d.map(0x1_0000, PA + 0x10_0800, GRANULE, RW),
    { reference: -EINVAL, mutant: 0 },
    [...BEFORE.slice(0, 4), '10000 L3', BEFORE[4]!],
  ),
  spec(
    'map-oas-unchecked',
    'MAP-7',
    MapOasUncheckedPgtable,
    'map takes an output address at or past 2^48 with its high bits cut off and maps it, returning 0, where arm_lpae_map_pages answers -ERANGE. Class bad-input-accepted: the output address size is not checked.',
    'a map at 0x4000 of a paddr past 2^48 is -ERANGE and maps nothing; the mutant maps a page there',
    (d) => d.map(4 * GRANULE, IOVA_LIMIT + PA, GRANULE, RW),
    { reference: -ERANGE, mutant: 0 },
    [...BEFORE.slice(0, 4), '4000 L3', BEFORE[4]!],
  ),
  {
    ...spec(
      'map-ias-off-by-one',
      'MAP-7',
      MapIasOffByOnePgtable,
      'map refuses, with -ERANGE, a range ending exactly at 2^48 (its last byte the last IOVA) where arm_lpae_map_pages maps it: the end is compared with the input address size instead of the last byte. Class valid-input-refused: the VMM cannot map the top of the IOVA space.',
      'a map of the last page below 2^48 returns 0; the mutant answers -ERANGE',
      (d) => d.map(IOVA_LIMIT - GRANULE, PA + 8 * GRANULE, GRANULE, RW),
      { reference: 0, mutant: -ERANGE },
    ),
    bugClass: 'valid-input-refused',
  },
  spec(
    'map-no-prot-read-only',
    'MAP-8',
    MapNoProtReadOnlyPgtable,
    'map with a prot of neither IOMMU_READ nor IOMMU_WRITE maps the range read-only and returns 0, where it must map nothing. Class bad-input-accepted: an access the caller did not grant.',
    'a map at 0x4000 with prot 0 is -EINVAL and maps nothing; the mutant maps a read-only page there',
    (d) => d.map(4 * GRANULE, PA + 4 * GRANULE, GRANULE, 0),
    { reference: -EINVAL, mutant: 0 },
    [...BEFORE.slice(0, 4), '4000 L3', BEFORE[4]!],
  ),
  spec(
    'unmap-iova-rounded',
    'UNMAP-2',
    UnmapIovaRoundedPgtable,
    'unmap rounds an iova that is not a multiple of 4 KiB down to its page and unmaps from there, where __iommu_unmap unmaps 0 bytes. Class bad-input-accepted: the alignment test of iova is missing.',
    'an unmap at 0x800 of one page unmaps 0 bytes; the mutant unmaps the page at 0',
    async (d) => (await d.unmap(0x800, GRANULE)).unmapped,
    { reference: 0, mutant: GRANULE },
    BEFORE.slice(1),
  ),
  spec(
    'clear-size-zero-page',
    'CLEAR-5',
    ClearSizeZeroPagePgtable,
    'read_and_clear_dirty of size 0 reads and clears the page at iova and returns 0, where it must be -EINVAL: the page is cleared but the 0-byte bitmap reports nothing. Class bad-input-accepted: WARN_ON(!size) missing.',
    'a read-and-clear of size 0 at 0 is -EINVAL; the mutant answers 0',
    async (d) => (await d.readAndClearDirty(0, 0, 0)).errno,
    { reference: -EINVAL, mutant: 0 },
  ),
  spec(
    'split-page-succeeds',
    'SPLIT-3',
    SplitPageSucceedsPgtable,
    'splitBlock of a page answers 0 and does nothing (as the HTTU RFC does), where the kit asks -EINVAL. Class bad-input-accepted: a split where there is no block reported as done.',
    'a split of the page at 0x1000 is -EINVAL; the mutant answers 0',
    (d) => d.splitBlock!(GRANULE, GRANULE),
    { reference: -EINVAL, mutant: 0 },
  ),
  spec(
    'merge-level-clamped',
    'MERGE-3',
    MergeLevelClampedPgtable,
    'mergePages takes a level outside 1..2 as the nearest valid one (3 as 2, 0 as 1) instead of answering -EINVAL: asked at level 3, it merges the 2 MiB region around the IOVA, or answers -ENOENT over nothing. Class bad-input-accepted: the level is not checked.',
    'a merge at level 3 over the hole at 6 MiB is -EINVAL; the mutant walks it as level 2 and answers -ENOENT',
    (d) => d.mergePages!(3 * MiB2, 3, GRANULE),
    { reference: -EINVAL, mutant: -ENOENT },
  ),
];

export const argumentMutants = zooOf(specs);
export const argumentProbes = probesOf(specs);
