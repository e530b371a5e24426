import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeLeaf, type Level } from '../spec/descriptor/encoding.ts';
import { EINVAL, EOPNOTSUPP } from './errno.ts';
import { IOMMU_READ, IOMMU_WRITE } from './pgtable/io-pgtable-arm.ts';
import { decodeCd } from './smmu/registers.ts';
import { createTestbed, type Testbed } from './testbed.ts';
import { IommuDomain } from './domain.ts';
import { PhysicalMemory } from './memory/physical-memory.ts';
import { Smmu } from './smmu/smmu.ts';

const RW = IOMMU_READ | IOMMU_WRITE;
const cd = (tb: Testbed, streamId: number) => {
  const at = tb.domain.contextDescriptorAddress(streamId)!;
  return decodeCd(tb.memory.load(at), tb.memory.load(at + 8));
};
const states = (tb: Testbed) => [...tb.domain.pgtable.leaves()].map((l) => decodeLeaf(l.pte, l.level as Level).state);
const levels = (tb: Testbed) => [...tb.domain.pgtable.leaves()].map((l) => l.level);

test('[TRACK-1] enabling without HTTU access+dirty, or on a domain not allocated for tracking, is -EOPNOTSUPP and changes nothing', () => {
  for (const tb of [createTestbed({ httu: 1 }), createTestbed({ httu: 0 }), createTestbed({ dirtyCapable: false })]) {
    tb.domain.map(0, 0x8000_0000, 0x1000, RW);
    const before = [...tb.domain.pgtable.leaves()].map((l) => l.pte);
    assert.is(tb.domain.setDirtyTracking(true), -EOPNOTSUPP);
    assert.is(tb.domain.dirtyTracking, false);
    assert.is(cd(tb, 0).hd, false);
    assert.equal(
      [...tb.domain.pgtable.leaves()].map((l) => l.pte),
      before,
    );
  }
});

test('[TRACK-2] enabling sets HA and HD in the CD of every stream of the domain, and the SMMU acts on it', () => {
  const tb = createTestbed({ streams: [3, 9, 12] });
  tb.domain.map(0, 0x8000_0000, 0x1000, RW);
  assert.is(tb.domain.setDirtyTracking(true), 0);
  for (const s of [3, 9, 12]) {
    assert.equal([cd(tb, s).ha, cd(tb, s).hd], [true, true]);
    assert.ok(tb.smmu.dmaWrite(s, 0).ok, `stream ${s} writes to a clean leaf without faulting`);
  }
});

test('[TRACK-3] enabling clears stale dirty state and leaves no TLB entry behind', () => {
  const tb = createTestbed();
  tb.domain.map(0, 0x8000_0000, 0x20_0000, RW);
  tb.domain.map(0x40_0000, 0x9000_1000, 0x3000, RW);
  tb.smmu.dmaWrite(0, 0x40_1000);
  assert.ok(tb.smmu.iotlb.size > 0);
  tb.domain.setDirtyTracking(true);
  assert.ok(states(tb).every((s) => s === 'writableClean'));
  assert.is(tb.smmu.iotlb.size, 0);
  assert.equal(tb.smmu.pendingCommands, []);
});

test('[TRACK-4] enabling with the page-granular policy splits every block, 1 GiB ones included', () => {
  const tb = createTestbed({ pageGranular: true });
  tb.domain.map(0x4000_0000, 0x8000_0000, 0x4000_0000, RW);
  tb.domain.map(0x20_0000, 0x1_0000_0000, 0x20_0000, RW);
  tb.domain.setDirtyTracking(true);
  const ls = levels(tb);
  assert.is(ls.length, 512 * 512 + 512);
  assert.ok(ls.every((l) => l === 3));
});

test('[TRACK-5] enabling twice and disabling while off return 0 and do nothing', () => {
  const tb = createTestbed();
  tb.domain.map(0, 0x8000_0000, 0x1000, RW);
  assert.is(tb.domain.setDirtyTracking(false), 0);
  assert.equal(states(tb), ['writableDirty']);
  tb.domain.setDirtyTracking(true);
  tb.smmu.dmaWrite(0, 0);
  assert.is(tb.domain.setDirtyTracking(true), 0);
  assert.equal(states(tb), ['writableDirty'], 'the second enable did not clear the dirty state again');
});

test('[TRACK-6] disabling merges back, leaves every writable leaf dirty, flushes, and clears HA/HD', () => {
  const tb = createTestbed({ pageGranular: true, streams: [1, 2] });
  tb.domain.map(0x4000_0000, 0x8000_0000, 0x4000_0000, RW);
  tb.domain.map(0x20_0000, 0x1_0000_0000, 0x20_0000, RW);
  tb.domain.map(0, 0x2_0000_1000, 0x2000, RW);
  tb.domain.setDirtyTracking(true);
  tb.smmu.dmaRead(1, 0x1000);
  assert.is(tb.domain.setDirtyTracking(false), 0);
  assert.equal(levels(tb), [3, 3, 2, 1]);
  assert.ok(states(tb).every((s) => s === 'writableDirty'));
  assert.is(tb.smmu.iotlb.size, 0);
  for (const s of [1, 2]) assert.equal([cd(tb, s).ha, cd(tb, s).hd], [false, false]);
  assert.ok(tb.smmu.dmaWrite(1, 0x1000).ok, 'writes go through without HD');
});

test('[TRACK-7] a stream attached while tracking is on gets HA and HD; one attached while off does not', () => {
  const tb = createTestbed({ streams: [1] });
  tb.domain.map(0, 0x8000_0000, 0x1000, RW);
  assert.is(tb.domain.attach(2), 0);
  assert.is(cd(tb, 2).hd, false);
  tb.domain.setDirtyTracking(true);
  assert.is(tb.domain.attach(5), 0);
  assert.equal([cd(tb, 5).ha, cd(tb, 5).hd], [true, true]);
  assert.ok(tb.smmu.dmaWrite(5, 0x10).ok);
  const got: number[] = [];
  tb.domain.readAndClearDirty(0, 0x1000, 0, (i) => got.push(i));
  assert.equal(got, [0], "the late stream's write was recorded");
  assert.equal(tb.domain.streams, [1, 2, 5]);
});

test('[TRACK-7] attach and detach: bad stream ids are -EINVAL; a detached stream no longer translates', () => {
  const tb = createTestbed({ streams: [1] });
  tb.domain.map(0, 0x8000_0000, 0x1000, RW);
  assert.is(tb.domain.attach(-1), -EINVAL);
  assert.is(tb.domain.detach(7), -EINVAL);
  assert.is(tb.domain.attach(1), 0, 're-attaching rewrites the CD');
  assert.is(tb.domain.detach(1), 0);
  assert.equal(tb.smmu.dmaRead(1, 0), { ok: false, fault: 'badStream' });
});

test('[TRACK-3] readAndClearDirty through the domain is -EINVAL while tracking is off', () => {
  const tb = createTestbed();
  assert.is(tb.domain.readAndClearDirty(0, 0x1000, 0), -EINVAL);
});

test('[TRACK-1] a bad ASID is rejected with a message naming it', () => {
  assert.throws(() => createTestbed({ asid: 70000 }), /asid/);
});

test("[TRACK-R2] rfc-v4: starting the dirty log splits a writable 1 GiB block down to pages, as the RFC's split goes back into the new table; a read-only one stays", () => {
  const memory = new PhysicalMemory();
  const smmu = new Smmu(memory, { httu: 2, bbml: 2, iotlbCapacity: 8 });
  const domain = new IommuDomain(smmu, memory, { asid: 1, dirtyCapable: true, pageGranular: true, lifecycle: 'rfc-v4' });
  domain.attach(0);
  assert.is(domain.map(0x4000_0000, 0x1_0000_0000, 0x4000_0000, RW), 0);
  assert.is(domain.map(0x8000_0000, 0x2_0000_0000, 0x4000_0000, IOMMU_READ), 0);
  assert.is(domain.setDirtyTracking(true), 0);
  const count = (level: number) => [...domain.pgtable.leaves()].filter((l) => l.level === level).length;
  assert.equal([count(1), count(2), count(3)], [1, 0, 512 * 512]);
});

test.run();
