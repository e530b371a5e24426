// More faults for the requirement matrix: the IOVA bitmap window (Linux v6.12.117
// drivers/iommu/iommufd/iova_bitmap.c iova_bitmap_alloc, iova_bitmap_get,
// iova_bitmap_set, iova_bitmap_for_each), the all-dirty fallback of VFIO type1
// (drivers/vfio/vfio_iommu_type1.c update_user_bitmap) and the split of a live block
// (io-pgtable-arm.c arm_lpae_split_blk_unmap), each done wrong in one place.
import { IommuDomain, type PgtableFactory } from '../../impl/domain.ts';
import { IovaBitmap, type IovaBitmapFn, iovaBitmapAlloc, iovaBitmapFree, iovaBitmapSet } from '../../impl/iova-bitmap/iova-bitmap.ts';
import type { UserBuffer } from '../../impl/iova-bitmap/user-buffer.ts';
import { ArmLpaeIoPgtable, IOMMU_READ, IOMMU_WRITE } from '../../impl/pgtable/io-pgtable-arm.ts';
import { VfioType1Container } from '../../impl/vfio/type1-container.ts';
import { KitBuffer } from '../engine/iova-bitmap-profile.ts';
import { createKitMemory, createKitSmmu, referenceIovaBitmapAdapter, referenceSmmuDriverAdapter, referenceVfioType1Adapter } from '../adapters/reference.ts';
import type { Adapter, IovaBitmapAdapter, IovaBitmapArgs, KitSmmuPort, KitUserBuffer, SmmuDriverAdapter, VfioType1Adapter } from '../adapters/types.ts';
import { dirtyBitmapPages } from '../../spec/bitmap/dirty-bitmap.ts';
import { type Probe, type ProbedMutant, probeOf } from './probe.ts';
import type { Mutant } from './types.ts';

// ---- the IOVA bitmap ------------------------------------------------------------------

/** The window pins one user page more than the budget. */
export class PinsOneMoreIovaBitmap extends IovaBitmap {
  // FAULT (class boundary-arithmetic): `npages = min(npages + 1, max)` computed after the cap,
  // as if the page of pgoff were extra: the window pins one page past the budget.
  constructor(iova: bigint, length: bigint, pgshift: number, buffer: UserBuffer, offset: number, maxPinnedPages: number) {
    super(iova, length, pgshift, buffer, offset, maxPinnedPages + 1);
  }
}

/** A recording reaching outside the bitmap's range is cut silently and returns 0. */
export class OutsideSilentIovaBitmap extends IovaBitmap {
  // FAULT (class bad-input-accepted): the caller's range is clipped to the bitmap's without a
  // word: a recording the caller meant for another bitmap half disappears and nobody is told.
  override set(iova: bigint, length: bigint): number {
    const r = super.set(iova, length);
    const end = this.iova + this.length;
    if (r === -22 && length > 0n && iova < end && iova + length > this.iova) {
      (this as unknown as { error: unknown }).error = undefined;
      return 0;
    }
    return r;
  }
}

/** iova_bitmap_for_each never visits the last window. */
export class ForEachSkipsLastIovaBitmap extends IovaBitmap {
  // FAULT (class boundary-arithmetic): the walk's bound is `byte + window < total` instead of
  // `byte < total`: the last window of a bitmap that needs more than one is never visited.
  override forEach(fn: IovaBitmapFn): number {
    return super.forEach((b, iova, length) => (iova + length >= this.iova + this.length && iova > this.iova ? 0 : fn(b, iova, length)));
  }
}

const EINVAL = -22;

/** iova_bitmap_alloc's bitmap-size check one u64 word short. */
function sizeShortAdapter(name: string): IovaBitmapAdapter {
  const ref = referenceIovaBitmapAdapter(name);
  return {
    profile: 'iova-bitmap',
    name,
    async create(buffer: KitUserBuffer, args: IovaBitmapArgs) {
      // FAULT (class bad-input-accepted): `bitmap_size < ALIGN(npages, 64) / 8 - 8`: a bitmap
      // one word short is taken, and the last word is written past the user's buffer.
      const p = args.pageSize;
      const valid = p >= 4096n && p <= 1n << 63n && (p & (p - 1n)) === 0n && args.length > 0n && (args.iova & (p - 1n)) === 0n && (args.length & (p - 1n)) === 0n;
      if (!valid) return ref.create(buffer, args);
      const shift = BigInt(p.toString(2).length - 1);
      const npages = ((args.length - 1n) >> shift) + 1n;
      const need = Number(((npages + 63n) / 64n) * 8n);
      if (args.bitmapSize >= need || args.bitmapSize < need - 8) return ref.create(buffer, args);
      const got = iovaBitmapAlloc(args.iova, args.length, args.pageSize, buffer as unknown as UserBuffer, args.offset, { maxPinnedPages: args.maxPinnedPages, bitmapSize: need });
      if (!(got instanceof IovaBitmap)) return got.errno;
      return { set: async (iova: bigint, length: bigint) => iovaBitmapSet(got, iova, length), free: async () => iovaBitmapFree(got) };
    },
  };
}

// ---- VFIO type1: the all-dirty fallback ------------------------------------------------

/** Without hardware dirty tracking the fallback fills whole bytes of the bitmap. */
export class FallbackWholeBytesContainer extends VfioType1Container {
  // FAULT (class false-dirty): the all-dirty case is a memset of the bytes the mapping's bits
  // fall in, not a bitmap_set of its bits: the bits around it, past the range's last page
  // included, come back set.
  protected override report(iova: number, size: number, noClear: boolean): Uint8Array {
    const out = super.report(iova, size, noClear);
    if (this.hardwareDirtyTracking) return out;
    for (const d of this.mappings) {
      if (d.iova < iova || d.iova + d.size > iova + size) continue;
      const first = (d.iova - iova) / 0x1000;
      const last = (d.iova + d.size - iova) / 0x1000 - 1;
      out.fill(0xff, first >> 3, (last >> 3) + 1);
    }
    return out;
  }
}

// ---- the split of a live block -----------------------------------------------------------

/** The split gives up when the hardware changed the block between its read and its swap. */
export class SplitGivesUpOnRacePgtable extends ArmLpaeIoPgtable {
  // FAULT (class racy-update): the table is installed with a compare-exchange against the value
  // read, and a failed compare (the SMMU set AF or dirtied the block meanwhile) returns -EAGAIN
  // with the block left in place, instead of carrying the late update into the new table.
  private raced = false;
  protected override swapBlockForTable(ptep: number, read: bigint, tablePte: bigint): bigint {
    const old = this.memory.compareExchange(ptep, read, tablePte);
    if (old !== read) this.raced = true;
    return read;
  }
  override splitBlock(iova: number): number {
    this.raced = false;
    const r = super.splitBlock(iova);
    return this.raced ? -11 : r;
  }
}

// ---- zoo entries and probes ----------------------------------------------------------

type Spec = ProbedMutant;

/** A bitmap through `adapter` over `args`, the recordings `sets`, then (optionally) a for_each walk; the bitmap bytes, the answers, the most pages pinned. */
async function bitmapRun(adapter: Adapter, args: IovaBitmapArgs, sets: readonly [bigint, bigint][], walk = false) {
  const buf = new KitBuffer(Math.ceil((args.offset + args.bitmapSize + 16) / 4096) * 4096);
  const bm = await (adapter as IovaBitmapAdapter).create(buf, args);
  if (typeof bm === 'number') return { created: bm };
  const answers: number[] = [];
  for (const [iova, length] of sets) answers.push(await bm.set(iova, length));
  const windows: bigint[] = [];
  if (walk && bm.forEach !== undefined)
    answers.push(
      await bm.forEach((iova, length) => {
        windows.push(iova, length);
        return { ret: 0, set: [] };
      }),
    );
  await bm.free();
  return { answers, maxPinned: buf.maxPinned, windows: windows.length / 2 };
}

const PG = 4096n;
const refBitmap = referenceIovaBitmapAdapter();
const RW = IOMMU_READ | IOMMU_WRITE;

const specs: readonly Spec[] = [
  {
    name: 'iova-bitmap-size-one-word-short',
    bugClass: 'bad-input-accepted',
    targets: ['IOVA-BITMAP-4'],
    description:
      "iova_bitmap_alloc's bitmap-size check is one u64 word short: a bitmap 8 bytes smaller than ALIGN(npages, 64) / 8 is taken, and its last word written past the user's buffer. Class bad-input-accepted: a user buffer too small for its range.",
    adapter: sizeShortAdapter('iova-bitmap-size-one-word-short'),
    reference: refBitmap,
    what: 'a bitmap of 8 bytes for 128 pages is taken',
    run: async (a) => (await bitmapRun(a, { iova: 0n, length: 128n * PG, pageSize: PG, offset: 0, bitmapSize: 8, maxPinnedPages: 512 }, [])).created ?? 'a bitmap',
    want: { reference: EINVAL, mutant: 'a bitmap' },
  },
  {
    name: 'iova-bitmap-pins-one-more',
    bugClass: 'boundary-arithmetic',
    targets: ['IOVA-BITMAP-6'],
    description: 'The window pins one user page more than the budget (the pgoff page counted after the cap). Class boundary-arithmetic: an off-by-one at a limit.',
    adapter: referenceIovaBitmapAdapter('iova-bitmap-pins-one-more', PinsOneMoreIovaBitmap),
    reference: refBitmap,
    what: 'with a budget of 1 page, a recording across two user pages pins 2',
    run: async (a) => (await bitmapRun(a, { iova: 0n, length: 65536n * PG, pageSize: PG, offset: 0, bitmapSize: 8192, maxPinnedPages: 1 }, [[0n, 65536n * PG]])).maxPinned,
    want: { reference: 1, mutant: 2 },
  },
  {
    name: 'iova-bitmap-outside-silent',
    bugClass: 'bad-input-accepted',
    targets: ['IOVA-BITMAP-9'],
    description:
      "A recording reaching outside the bitmap's range is clipped silently and returns 0 instead of -EINVAL: the caller never learns that part of it was dropped. Class bad-input-accepted: a range from the caller not checked against the bitmap's.",
    adapter: referenceIovaBitmapAdapter('iova-bitmap-outside-silent', OutsideSilentIovaBitmap),
    reference: refBitmap,
    what: 'a recording across the end of the range returns 0',
    run: async (a) => (await bitmapRun(a, { iova: 0n, length: 64n * PG, pageSize: PG, offset: 0, bitmapSize: 8, maxPinnedPages: 512 }, [[63n * PG, 2n * PG]])).answers,
    want: { reference: [EINVAL], mutant: [0] },
  },
  {
    name: 'iova-bitmap-for-each-skips-last',
    bugClass: 'boundary-arithmetic',
    targets: ['IOVA-BITMAP-10'],
    description: 'iova_bitmap_for_each stops one window short: the last window of a bitmap that needs more than one is never visited, and its pages are never read. Class boundary-arithmetic: an off-by-one in a loop bound.',
    adapter: referenceIovaBitmapAdapter('iova-bitmap-for-each-skips-last', ForEachSkipsLastIovaBitmap),
    reference: refBitmap,
    what: 'a walk over two windows visits one',
    run: async (a) => (await bitmapRun(a, { iova: 0n, length: 65536n * PG, pageSize: PG, offset: 0, bitmapSize: 8192, maxPinnedPages: 1 }, [], true)).windows,
    want: { reference: 2, mutant: 1 },
  },
  {
    name: 'vfio-fallback-whole-bytes',
    bugClass: 'false-dirty',
    targets: ['BITMAP-1'],
    description:
      "Without hardware dirty tracking, the all-dirty fallback fills the bytes a mapping's bits fall in instead of setting its bits: bits past the range's last page come back set. Class false-dirty: pages reported that are not in the range.",
    adapter: referenceVfioType1Adapter('vfio-fallback-whole-bytes', FallbackWholeBytesContainer),
    reference: referenceVfioType1Adapter(),
    what: 'a 3-page report has bits 3..7 set',
    run: async (a) => {
      const c = await (a as VfioType1Adapter).create({ hwDirty: false });
      await c.mapDma(3, 0x8000_0000n, 0x10_0000n, 0x3000n);
      await c.dirtyPages(1);
      const r = await c.dirtyPages(1 << 2, { iova: 0x10_0000n, size: 0x3000n, bitmap: { pgsize: 0x1000n, size: 8n } });
      return r.bitmap?.[0];
    },
    want: { reference: 0b111, mutant: 0xff },
  },
  {
    name: 'split-gives-up-on-race',
    bugClass: 'racy-update',
    targets: ['SPLIT-1', 'SPLIT-2'],
    description:
      'The split installs the table with a compare-exchange against the value it read and, when the SMMU changed the block meanwhile, returns -EAGAIN with the block left in place instead of carrying the late update into the table. Class racy-update: a split that loses the race with the hardware instead of absorbing it.',
    adapter: referenceSmmuDriverAdapter('split-gives-up-on-race', IommuDomain, ((memory, config, flush) => new SplitGivesUpOnRacePgtable(memory, config, flush)) satisfies PgtableFactory),
    reference: referenceSmmuDriverAdapter(),
    what: 'a DMA write between the read and the swap makes the split fail',
    run: async (a) => {
      const memory = createKitMemory();
      const smmu = createKitSmmu(memory, { httu: 2, bbml: 2, iotlbCapacity: 64 });
      const port: KitSmmuPort = { idr0: smmu.idr0, idr3: smmu.idr3, attachStream: (s, cd) => smmu.attachStream(s, cd), detachStream: (s) => smmu.detachStream(s), submit: (c) => smmu.submit(c) };
      const driver = await (a as SmmuDriverAdapter).create(memory, port, { asid: 1, dirtyCapable: true, pageGranular: false });
      if (typeof driver === 'number') return driver;
      await driver.attach(0);
      await driver.map(0, 0x8000_0000, 0x20_0000, RW);
      await driver.setDirtyTracking(true);
      let injected = false;
      memory.hook = (kind) => {
        // The first store of the split (a child of the new table): after its read of the block, before the swap.
        if (injected || kind !== 'store') return;
        injected = true;
        smmu.dmaWrite(0, 0x5000);
      };
      const r = await driver.splitBlock!(0, 0x20_0000);
      memory.hook = undefined;
      const report = await driver.readAndClearDirty(0, 0x20_0000, 0);
      return { split: r, dirty: report.errno === 0 ? dirtyBitmapPages(report.dirty, 0).length : report.errno };
    },
    want: { reference: { split: 0, dirty: 512 }, mutant: { split: -11, dirty: 512 } },
  },
];

export const moreMatrixMutants: readonly Mutant[] = specs.map((s) => ({ name: s.name, bugClass: s.bugClass, profile: s.adapter.profile, description: s.description, targets: s.targets, adapter: s.adapter }));

export const moreMatrixProbes: readonly Probe[] = specs.map(probeOf);
