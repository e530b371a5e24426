import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { armLpaeProtToPte, decodeLeaf, type Level } from '../../spec/descriptor/encoding.ts';
import { EEXIST, EINVAL, ENOENT, ERANGE } from '../errno.ts';
import type { MemoryAccessKind } from '../memory/physical-memory.ts';
import { createTestbed } from '../testbed.ts';
import { IOMMU_DIRTY_NO_CLEAR, IOMMU_READ, IOMMU_WRITE } from './io-pgtable-arm.ts';

const RW = IOMMU_READ | IOMMU_WRITE;
const MiB2 = 0x20_0000;
const GiB = 0x4000_0000;
const states = (tb: ReturnType<typeof createTestbed>, iova = 0, size = 2 ** 48) => [...tb.domain.pgtable.leaves(iova, size)].map((l) => decodeLeaf(l.pte, l.level as Level).state);
const dirtyRanges = (tb: ReturnType<typeof createTestbed>, iova: number, size: number, flags = 0) => {
  const out: [number, number][] = [];
  assert.is(
    tb.domain.pgtable.readAndClearDirty(iova, size, flags, (i, s) => out.push([i, s])),
    0,
  );
  return out;
};

test('[PTE-3] [PTE-4] map uses a 2 MiB block where iova, paddr and size allow, and matches the spec encoding bit for bit', () => {
  const tb = createTestbed();
  assert.is(tb.domain.map(MiB2, 0x8000_0000, MiB2, RW), 0);
  const [leaf, ...rest] = [...tb.domain.pgtable.leaves()];
  assert.equal(rest, []);
  assert.is(leaf!.level, 2);
  assert.is(leaf!.pte, armLpaeProtToPte(RW, 2, 0x8000_0000, { hd: true }));
});

test('[PTE-3] [PTE-4] map falls back to pages when the output address is not block-aligned, and uses 1 GiB blocks at L1', () => {
  const tb = createTestbed();
  assert.is(tb.domain.map(0, 0x8000_1000, MiB2, IOMMU_READ), 0);
  const leaves = [...tb.domain.pgtable.leaves()];
  assert.is(leaves.length, 512);
  assert.ok(leaves.every((l, i) => l.level === 3 && l.pte === armLpaeProtToPte(IOMMU_READ, 3, 0x8000_1000 + i * 4096, { hd: true })));
  assert.is(tb.domain.map(GiB, 2 * GiB, GiB, RW), 0);
  assert.equal(
    [...tb.domain.pgtable.leaves(GiB, GiB)].map((l) => l.level),
    [1],
  );
});

test('[MAP-3] without the HD quirk writable leaves carry no DBM', () => {
  const tb = createTestbed({ dirtyCapable: false });
  tb.domain.map(0, 0x8000_0000, 0x1000, RW);
  assert.equal(states(tb), ['writable']);
});

test('[MAP-4] mapping over a mapped range is -EEXIST and leaves nothing of that call mapped', () => {
  const tb = createTestbed();
  tb.domain.map(0x3000, 0x9000_0000, 0x1000, RW);
  assert.is(tb.domain.map(0, 0x8000_0000, 0x5000, RW), -EEXIST);
  assert.equal(
    [...tb.domain.pgtable.leaves()].map((l) => l.iova),
    [0x3000],
  );
  assert.is(tb.domain.map(0, 0x8000_0000, MiB2, RW), -EEXIST, 'a block over a table');
  tb.domain.map(MiB2, 0x8000_0000, MiB2, RW);
  assert.is(tb.domain.map(MiB2 + 0x1000, 0x8000_0000, 0x1000, RW), -EEXIST, 'a page under a block');
});

test('[MAP-6] map of an iova, paddr or size off the 4 KiB page, or of size 0, is -EINVAL and maps nothing', () => {
  const tb = createTestbed();
  const pg = tb.domain.pgtable;
  assert.is(pg.map(0x1001, 0, 0x1000, RW), -EINVAL);
  assert.is(pg.map(0, 0x10, 0x1000, RW), -EINVAL);
  assert.is(pg.map(0, 0, 0x1800, RW), -EINVAL);
  assert.is(pg.map(0, 0, 0, RW), -EINVAL);
  assert.equal([...pg.leaves()], []);
});

test('[MAP-7] map with an iova or paddr past 2^48, or a range crossing it, is -ERANGE and maps nothing', () => {
  const tb = createTestbed();
  const pg = tb.domain.pgtable;
  assert.is(pg.map(2 ** 48, 0, 0x1000, RW), -ERANGE);
  assert.is(pg.map(2 ** 48 - 0x1000, 0, 0x2000, RW), -ERANGE);
  assert.is(pg.map(0, 2 ** 48, 0x1000, RW), -ERANGE);
  assert.is(pg.map(0, 2 ** 48 - 0x1000, 0x2000, RW), -ERANGE);
  assert.equal([...pg.leaves()], []);
});

test('[MAP-8] map with neither IOMMU_READ nor IOMMU_WRITE is -EINVAL, after an address past 2^48 and before a range crossing it', () => {
  const tb = createTestbed();
  const pg = tb.domain.pgtable;
  assert.is(pg.map(0, 0, 0x1000, 0), -EINVAL);
  assert.is(pg.map(0, 0, 0x1000, 1 << 5), -EINVAL);
  assert.is(pg.map(2 ** 48, 0, 0x1000, 0), -ERANGE);
  assert.is(pg.map(2 ** 48 - 0x1000, 0, 0x2000, 0), -EINVAL);
  assert.equal([...pg.leaves()], []);
});

test('[UNMAP-1] unmap returns the bytes unmapped, invalidates, and reports dirty leaves it removed', () => {
  const tb = createTestbed();
  tb.domain.map(0, 0x8000_0000, 0x4000, RW); // HD quirk: leaves start writable-dirty
  const got: [number, number][] = [];
  assert.is(
    tb.domain.unmap(0x1000, 0x2000, (i, s) => got.push([i, s])),
    0x2000,
  );
  assert.equal(got, [
    [0x1000, 0x1000],
    [0x2000, 0x1000],
  ]);
  assert.equal(
    [...tb.domain.pgtable.leaves()].map((l) => l.iova),
    [0, 0x3000],
  );
  assert.is(tb.domain.unmap(0x1001, 0x1000), 0);
  assert.is(tb.domain.unmap(0x10_0000, 0x1000), 0, 'a hole unmaps nothing');
  assert.is(tb.domain.pgtable.iovaToPhys(0x3004), 0x8000_3004);
  assert.is(tb.domain.pgtable.iovaToPhys(0x1000), undefined);
  assert.is(tb.domain.pgtable.iovaToPhys(-1), undefined);
});

test('[UNMAP-1] [SPLIT-1] unmapping part of a block splits it and keeps the rest mapped with its state', () => {
  const tb = createTestbed();
  tb.domain.map(0, 0x8000_0000, MiB2, RW);
  assert.is(tb.domain.unmap(0x1000, 0x1000), 0x1000);
  const leaves = [...tb.domain.pgtable.leaves()];
  assert.is(leaves.length, 511);
  assert.ok(leaves.every((l) => l.level === 3 && decodeLeaf(l.pte, 3).state === 'writableDirty'));
});

test('[SPLIT-1] splitting a dirty 2 MiB block leaves 512 dirty pages with consecutive output addresses', () => {
  const tb = createTestbed();
  tb.domain.map(MiB2, 0x8000_0000, MiB2, RW);
  assert.is(tb.domain.pgtable.splitBlock(MiB2 + 0x5000), 0);
  const leaves = [...tb.domain.pgtable.leaves()];
  assert.is(leaves.length, 512);
  leaves.forEach((l, i) => {
    assert.is(l.level, 3);
    assert.is(decodeLeaf(l.pte, 3).state, 'writableDirty');
    assert.is(decodeLeaf(l.pte, 3).outputAddress, 0x8000_0000 + i * 4096);
  });
});

test('[SPLIT-1] splitting a clean block gives clean pages; a 1 GiB block splits into 2 MiB blocks', () => {
  const tb = createTestbed();
  tb.domain.map(GiB, 2 * GiB, GiB, RW);
  dirtyRanges(tb, GiB, GiB);
  assert.is(tb.domain.pgtable.splitBlock(GiB), 0);
  const leaves = [...tb.domain.pgtable.leaves()];
  assert.is(leaves.length, 512);
  assert.ok(leaves.every((l) => l.level === 2 && decodeLeaf(l.pte, 2).state === 'writableClean'));
});

test('[SPLIT-1] split errors: nothing mapped is -ENOENT, a page is -EINVAL', () => {
  const tb = createTestbed();
  assert.is(tb.domain.pgtable.splitBlock(0), -ENOENT);
  tb.domain.map(0, 0x8000_0000, 0x1000, RW);
  assert.is(tb.domain.pgtable.splitBlock(0), -EINVAL);
  assert.is(tb.domain.pgtable.splitBlock(2 ** 48), -EINVAL);
});

test('[SPLIT-2] with BBML the split swaps the block out with an atomic exchange, never a plain store', () => {
  const tb = createTestbed({ bbml: 2 });
  tb.domain.map(0, 0x8000_0000, MiB2, RW);
  const blockPtep = [...tb.domain.pgtable.leaves()][0]!.ptep;
  const atBlock: MemoryAccessKind[] = [];
  tb.memory.hook = (kind, address) => {
    if (address === blockPtep) atBlock.push(kind);
  };
  tb.domain.pgtable.splitBlock(0);
  tb.memory.hook = undefined;
  assert.equal(atBlock, ['load', 'exchange']);
});

test("[SPLIT-2] [HTTU-2] a DMA write that dirties the block between the split's read and its exchange is carried into every page", () => {
  const tb = createTestbed({ bbml: 2 });
  tb.domain.map(0, 0x8000_0000, MiB2, RW);
  assert.is(tb.domain.setDirtyTracking(true), 0);
  const blockPtep = [...tb.domain.pgtable.leaves()][0]!.ptep;
  tb.memory.hook = (kind, address) => {
    if (kind === 'exchange' && address === blockPtep) assert.ok(tb.smmu.dmaWrite(0, 0x1234).ok);
  };
  tb.domain.pgtable.splitBlock(0);
  tb.memory.hook = undefined;
  const s = states(tb);
  assert.is(s.length, 512);
  assert.ok(
    s.every((x) => x === 'writableDirty'),
    'the block was dirtied before the swap: every page is dirty',
  );
});

test('[SPLIT-2] without BBML the split breaks before make: DMA in the window takes a translation fault', () => {
  const tb = createTestbed({ bbml: 0 });
  tb.domain.map(0, 0x8000_0000, MiB2, RW);
  let inWindow: ReturnType<typeof tb.smmu.dmaRead> | undefined;
  const blockPtep = [...tb.domain.pgtable.leaves()][0]!.ptep;
  let exchanged = false;
  tb.memory.hook = (kind, address) => {
    if (exchanged && inWindow === undefined) inWindow = tb.smmu.dmaRead(0, 0x1000);
    if (kind === 'exchange' && address === blockPtep) exchanged = true;
  };
  tb.domain.pgtable.splitBlock(0);
  tb.memory.hook = undefined;
  assert.equal(inWindow, { ok: false, fault: 'translation' });
  assert.ok(states(tb).every((x) => x === 'writableDirty'));
});

test('[MERGE-1] merging pages of which one is dirty gives a dirty block', () => {
  const tb = createTestbed();
  tb.domain.map(0, 0x8000_0000, MiB2, RW);
  tb.domain.pgtable.splitBlock(0);
  assert.is(tb.domain.setDirtyTracking(true), 0);
  assert.ok(tb.smmu.dmaWrite(0, 0x7_3000).ok);
  assert.is(tb.domain.pgtable.mergePages(0, 2), 0);
  const leaves = [...tb.domain.pgtable.leaves()];
  assert.equal(
    leaves.map((l) => [l.level, decodeLeaf(l.pte, 2).state]),
    [[2, 'writableDirty']],
  );
  assert.equal(dirtyRanges(tb, 0, MiB2), [[0, MiB2]]);
});

test('[MERGE-2] merging clean pages gives a clean block and frees the table', () => {
  const tb = createTestbed();
  tb.domain.map(0, 0x8000_0000, MiB2, RW);
  tb.domain.pgtable.splitBlock(0);
  dirtyRanges(tb, 0, MiB2);
  const frames = tb.memory.frameCount;
  assert.is(tb.domain.pgtable.mergePages(0x1000, 2), 0);
  assert.equal(states(tb), ['writableClean']);
  assert.is(tb.memory.frameCount, frames - 1);
});

test('[MERGE-1] without BBML the merge breaks before make and still folds dirty state', () => {
  const tb = createTestbed({ bbml: 0 });
  tb.domain.map(0, 0x8000_0000, MiB2, RW);
  tb.domain.pgtable.splitBlock(0);
  dirtyRanges(tb, 0, MiB2);
  tb.domain.setDirtyTracking(true);
  tb.smmu.dmaWrite(0, 0x1f_f000);
  assert.is(tb.domain.pgtable.mergePages(0, 2), 0);
  assert.equal(states(tb), ['writableDirty']);
});

test('[MERGE-2] pages that are not contiguous, not aligned or not alike do not merge', () => {
  const tb = createTestbed();
  tb.domain.map(0, 0x8000_1000, MiB2, RW);
  assert.is(tb.domain.pgtable.mergePages(0, 2), -EINVAL, 'output not 2 MiB aligned');
  const tb2 = createTestbed();
  tb2.domain.map(0, 0x8000_0000, MiB2 - 0x1000, RW);
  assert.is(tb2.domain.pgtable.mergePages(0, 2), -EINVAL, 'a hole');
  tb2.domain.map(MiB2 - 0x1000, 0x9000_0000, 0x1000, RW);
  assert.is(tb2.domain.pgtable.mergePages(0, 2), -EINVAL, 'not contiguous');
  const tb3 = createTestbed();
  tb3.domain.map(0, 0x8000_0000, 0x1000, IOMMU_READ);
  tb3.domain.map(0x1000, 0x8000_1000, MiB2 - 0x1000, RW);
  assert.is(tb3.domain.pgtable.mergePages(0, 2), -EINVAL, 'different permissions');
  // Without the HD quirk there is no DBM: AP[2] alone tells read-only from writable, and must agree.
  const tb4 = createTestbed({ dirtyCapable: false });
  tb4.domain.map(0, 0x8000_0000, 0x1000, RW);
  tb4.domain.map(0x1000, 0x8000_1000, MiB2 - 0x1000, IOMMU_READ);
  assert.is(tb4.domain.pgtable.mergePages(0, 2), -EINVAL, 'different permissions without DBM');
  assert.is(tb3.domain.pgtable.mergePages(0, 3), -EINVAL);
  assert.is(tb3.domain.pgtable.mergePages(0, 1), -EINVAL, 'L1 entry is a table of tables');
  assert.is(tb3.domain.pgtable.mergePages(GiB, 2), -ENOENT);
  assert.is(tb3.domain.pgtable.mergePages(-1, 2), -EINVAL);
  tb3.domain.map(GiB, 2 * GiB, MiB2, RW);
  assert.is(tb3.domain.pgtable.mergePages(GiB, 2), -EINVAL, 'already a block');
});

test('[CLEAR-1] readAndClearDirty records each dirty leaf whole and makes it clean', () => {
  const tb = createTestbed();
  tb.domain.map(0, 0x8000_0000, MiB2, RW);
  tb.domain.map(MiB2, 0x9000_0000, 0x2000, RW);
  assert.equal(dirtyRanges(tb, 0, MiB2 + 0x1000), [
    [0, MiB2],
    [MiB2, 0x1000],
  ]);
  assert.equal(states(tb), ['writableClean', 'writableClean', 'writableDirty']);
  assert.equal(dirtyRanges(tb, 0, 2 * MiB2), [[MiB2 + 0x1000, 0x1000]]);
  assert.equal(dirtyRanges(tb, 0, 2 * MiB2), []);
});

test('[CLEAR-4] a dirty block only partly inside the range is recorded whole but stays dirty', () => {
  const tb = createTestbed();
  tb.domain.map(0, 0x8000_0000, MiB2, RW);
  assert.equal(dirtyRanges(tb, 0x1000, 0x2000), [[0, MiB2]]);
  assert.equal(states(tb), ['writableDirty'], 'clearing it would forget the pages outside [0x1000, 0x3000)');
  assert.equal(dirtyRanges(tb, 0, MiB2), [[0, MiB2]]);
  assert.equal(states(tb), ['writableClean']);
});

test('[CLEAR-1] IOMMU_DIRTY_NO_CLEAR reports without clearing and issues no invalidation', () => {
  const tb = createTestbed();
  tb.domain.map(0, 0x8000_0000, 0x3000, RW);
  const syncs = tb.smmu.stats.syncs;
  assert.is(dirtyRanges(tb, 0, 0x3000, IOMMU_DIRTY_NO_CLEAR).length, 3);
  assert.is(tb.smmu.stats.syncs, syncs);
  assert.is(dirtyRanges(tb, 0, 0x3000, IOMMU_DIRTY_NO_CLEAR).length, 3);
  assert.is(dirtyRanges(tb, 0, 0x3000).length, 3);
  assert.is(tb.smmu.stats.syncs, syncs + 1, 'one TLBI range + CMD_SYNC for the whole call');
});

test('[CLEAR-2] readAndClearDirty leaves read-only and plain writable leaves alone', () => {
  const tb = createTestbed();
  tb.domain.map(0, 0x8000_0000, 0x1000, IOMMU_READ);
  const before = [...tb.domain.pgtable.leaves()].map((l) => l.pte);
  assert.equal(dirtyRanges(tb, 0, 0x1000), []);
  assert.equal(
    [...tb.domain.pgtable.leaves()].map((l) => l.pte),
    before,
  );
  const plain = createTestbed({ dirtyCapable: false });
  plain.domain.map(0, 0x8000_0000, 0x1000, RW);
  assert.equal(dirtyRanges(plain, 0, 0x1000), []);
});

test('[CLEAR-1] readAndClearDirty rejects size 0, a range past 2^48 and unknown flags with -EINVAL', () => {
  const pg = createTestbed().domain.pgtable;
  assert.is(pg.readAndClearDirty(0, 0, 0), -EINVAL);
  assert.is(pg.readAndClearDirty(2 ** 48 - 0x1000, 0x2000, 0), -EINVAL);
  assert.is(pg.readAndClearDirty(0, 0x1000, 1 << 3), -EINVAL);
});

test('[CLEAR-1] the hooked walk and the direct scan find the same leaves and leave the same memory', () => {
  const run = (hooked: boolean) => {
    const tb = createTestbed();
    tb.domain.map(0, 0x8000_1000, 3 * MiB2, RW);
    tb.domain.map(4 * MiB2, 0x9000_0000, MiB2, RW);
    assert.is(tb.domain.setDirtyTracking(true), 0);
    for (const iova of [0x5000, 0x1f_f000, 0x20_0000, 0x5f_f000, 4 * MiB2 + 0x3000]) tb.smmu.dmaWrite(0, iova);
    if (hooked) tb.memory.hook = () => {};
    const out = dirtyRanges(tb, 0x1000, 5 * MiB2);
    tb.memory.hook = undefined;
    return { out, ptes: [...tb.domain.pgtable.leaves()].map((l) => l.pte) };
  };
  assert.equal(run(true), run(false));
  assert.is(run(false).out.length, 5);
});

test.run();
