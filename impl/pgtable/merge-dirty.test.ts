// A merge of pages of which one is writable-dirty installs its block dirty at once: with HD
// off (tracking stopped), a write landing between the swap and the fold of late dirty state
// must not find the block writable-clean (it would fault where the pages let it through).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createTestbed } from '../testbed.ts';
import { IOMMU_READ, IOMMU_WRITE } from './io-pgtable-arm.ts';

const MiB2 = 0x20_0000;

test('[MERGE-1] a DMA write at any access of a merge of dirty pages, HD off, goes through', () => {
  for (let at = 0; at < 530; at++) {
    const tb = createTestbed();
    assert.is(tb.domain.setDirtyTracking(true), 0);
    assert.is(tb.domain.map(MiB2, 0x8000_0000, MiB2, IOMMU_READ | IOMMU_WRITE), 0);
    assert.is(tb.domain.pgtable.splitBlock(MiB2), 0);
    assert.is(tb.domain.setDirtyTracking(false), 0); // every writable leaf dirty, HA/HD off
    let count = 0;
    let fault: string | undefined;
    tb.memory.hook = () => {
      if (count++ !== at) return;
      const r = tb.smmu.dmaWrite(0, MiB2);
      if (!r.ok) fault = r.fault;
    };
    assert.is(tb.domain.pgtable.mergePages(MiB2, 2), 0);
    tb.memory.hook = undefined;
    assert.is(fault, undefined, `a write at access ${at} faulted`);
  }
});

test.run();
