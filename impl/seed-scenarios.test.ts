// Directed scenarios from the source threads, end to end through the SMMU model and the
// driver: the HTTU series (Keqian Zhu, RFC 28 Jan 2021,
// <20210128151742.18840-1-zhukeqian1@huawei.com>) and Jason Gunthorpe on the IOTLB flush
// and the dirty bit across a split (12 Feb 2022, <20220212000117.GS4160@nvidia.com>).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeLeaf, type Level } from '../spec/descriptor/encoding.ts';
import { IOMMU_READ, IOMMU_WRITE } from './pgtable/io-pgtable-arm.ts';
import { PTE_AP_RDONLY } from './pgtable/pte.ts';
import { createTestbed } from './testbed.ts';

const RW = IOMMU_READ | IOMMU_WRITE;
const report = (tb: ReturnType<typeof createTestbed>, iova: number, size: number) => {
  const got: number[] = [];
  assert.is(
    tb.domain.readAndClearDirty(iova, size, 0, (i) => got.push(i)),
    0,
  );
  return got;
};

test('[HTTU-2] [CLEAR-1] HTTU RFC: write, read-and-clear, write again: the second read-and-clear reports the page again', () => {
  const tb = createTestbed({ iotlbCapacity: 1 });
  tb.domain.map(0, 0x8000_0000, 0x4000, RW);
  tb.domain.setDirtyTracking(true);
  assert.ok(tb.smmu.dmaWrite(0, 0x2010).ok);
  assert.equal(report(tb, 0, 0x4000), [0x2000]);
  assert.ok(tb.smmu.dmaWrite(0, 0x3000).ok, 'evicts the only TLB entry');
  assert.ok(tb.smmu.dmaWrite(0, 0x2020).ok);
  assert.equal(report(tb, 0, 0x4000), [0x2000, 0x3000]);
  assert.equal(report(tb, 0, 0x4000), []);
});

test('[IOTLB-7] [IOTLB-9] Gunthorpe 2022: with the TLB holding the entry, the invalidation after the clear is what makes the next write count', () => {
  const tb = createTestbed();
  tb.domain.map(0, 0x8000_0000, 0x4000, RW);
  tb.domain.setDirtyTracking(true);
  tb.smmu.dmaWrite(0, 0x1000);
  const syncs = tb.smmu.stats.syncs;
  assert.equal(report(tb, 0, 0x4000), [0x1000]);
  assert.is(tb.smmu.stats.syncs, syncs + 1, 'read-and-clear ended with TLBI + CMD_SYNC');
  assert.ok(tb.smmu.dmaWrite(0, 0x1000).ok);
  assert.is(tb.smmu.stats.tlbHits, 0, 'the write missed the TLB: the cached dirty entry was gone');
  assert.equal(report(tb, 0, 0x4000), [0x1000]);

  // The same clear done without the invalidation: the cached writable-dirty entry absorbs the write.
  tb.smmu.dmaWrite(0, 0x1000);
  const leaf = [...tb.domain.pgtable.leaves(0x1000, 0x1000)][0]!;
  tb.memory.fetchOr(leaf.ptep, PTE_AP_RDONLY);
  assert.ok(tb.smmu.dmaWrite(0, 0x1000).ok);
  assert.equal(report(tb, 0, 0x4000), [], 'HAZARD: the write went through the stale entry and was lost');
});

test('[SPLIT-1] Gunthorpe 2022: splitting a dirty 2 MiB block leaves 512 dirty pages', () => {
  const tb = createTestbed({ pageGranular: false });
  tb.domain.map(0x20_0000, 0x8000_0000, 0x20_0000, RW);
  tb.domain.setDirtyTracking(true);
  assert.ok(tb.smmu.dmaWrite(0, 0x20_0040).ok);
  assert.is(tb.domain.pgtable.splitBlock(0x20_0000), 0);
  const pages = [...tb.domain.pgtable.leaves()];
  assert.is(pages.length, 512);
  assert.ok(pages.every((l) => l.level === 3 && decodeLeaf(l.pte, 3).state === 'writableDirty'));
  assert.is(report(tb, 0, 0x40_0000).length, 512);
});

test('[MERGE-1] merging pages with one dirty gives a dirty block', () => {
  const tb = createTestbed({ pageGranular: true });
  tb.domain.map(0x20_0000, 0x8000_0000, 0x20_0000, RW);
  tb.domain.setDirtyTracking(true);
  assert.is([...tb.domain.pgtable.leaves()].length, 512, 'page-granular tracking split the block');
  assert.ok(tb.smmu.dmaWrite(0, 0x21_0000).ok);
  assert.is(tb.domain.pgtable.mergePages(0x20_0000, 2), 0);
  const [block] = [...tb.domain.pgtable.leaves()];
  assert.is(block!.level, 2);
  assert.is(decodeLeaf(block!.pte, block!.level as Level).state, 'writableDirty');
});

test('[FAULT-3] a write to a writable-clean leaf with HD off faults', () => {
  const tb = createTestbed();
  tb.domain.map(0, 0x8000_0000, 0x1000, RW);
  tb.domain.pgtable.readAndClearDirty(0, 0x1000, 0);
  const before = [...tb.domain.pgtable.leaves()][0]!.pte;
  assert.equal(tb.smmu.dmaWrite(0, 0x10), { ok: false, fault: 'permission' });
  assert.is([...tb.domain.pgtable.leaves()][0]!.pte, before);
});

test.run();
