// Every mutant is a real deviation: one directed sequence per mutant, run through the
// mutant's adapter exactly as the kit builds it and through the reference adapter, with
// an observable result (a dirty bitmap, a raw descriptor, a DMA result) that differs.
import { KitBuffer } from '../engine/iova-bitmap-profile.ts';
import { referenceIovaBitmapAdapter, referenceKvmDirtyRingAdapter, referenceVfioType1Adapter } from '../adapters/reference.ts';
import { KvmDirtyRingVm } from '../../impl/kvm/dirty-ring/kvm-ring.ts';
import { TlbVm } from './kvm-dirty-ring-mutants.ts';
import type { TraceStep } from '../engine/commands.ts';
import type { IovaBitmapAdapter, IovaBitmapArgs, VfioType1Adapter, VfioType1Instance } from '../adapters/types.ts';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { SmmuPort } from '../../impl/domain.ts';
import { IOMMU_DIRTY_NO_CLEAR, IOMMU_READ, IOMMU_WRITE } from '../../impl/pgtable/io-pgtable-arm.ts';
import { PTE_AP_RDONLY, PTE_DBM, isValid, levelIndex, pteAddress } from '../../impl/pgtable/pte.ts';
import { decodeCd } from '../../impl/smmu/registers.ts';
import { dirtyBitmapPages } from '../../spec/bitmap/dirty-bitmap.ts';
import { type ReferenceSmmuDriver, createKitDriver, createKitMemory, createKitSmmu, referenceSmmuDriverAdapter, referenceSmmuHwAdapter } from '../adapters/reference.ts';
import type { DirtyBitmap, KitSmmuPort, SmmuDriverAdapter, SmmuHwAdapter } from '../adapters/types.ts';
import { BUG_CLASSES, findMutant, mutants } from './index.ts';
import { createSystem } from '../engine/system.ts';
import { matrixProbes } from './matrix-mutants.ts';
import { contractProbes } from './contract-mutants.ts';
import { smmuIdProbes } from './smmu-id-mutants.ts';
import { smmuTlbProbes } from './smmu-tlb-mutants.ts';
import { level1Probes } from './level1-mutants.ts';
import { argumentProbes } from './argument-mutants.ts';
import { Violation } from '../../model/violation.ts';
import type { DirtyRingCollectorAdapter } from '../profiles/dirty-ring-collector/types.ts';
import { type CollectorScenario, replayDirtyRingCollectorScenario } from '../profiles/dirty-ring-collector/profile.ts';
import { profileOf } from '../profiles/index.ts';
import { type RingScenario, replayKvmDirtyRingScenario } from '../profiles/kvm-dirty-ring/profile.ts';
import type { KvmDirtyRingAdapter } from '../profiles/kvm-dirty-ring/types.ts';
import type { KvmDirtyLogAdapter } from '../profiles/kvm-dirty-log/adapter.ts';
import { replayKvmDirtyLogScenario } from '../profiles/kvm-dirty-log/profile.ts';
import { KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_MEM_LOG_DIRTY_PAGES } from '../../spec/kvm/dirty-log/args.ts';

const RW = IOMMU_READ | IOMMU_WRITE;
const PA = 0x8000_0000;
const MiB2 = 0x20_0000;
const pages = (bitmap: DirtyBitmap, iova: number) => dirtyBitmapPages(bitmap, iova);
const range = (iova: number, n: number) => Array.from({ length: n }, (_, i) => iova + i * 0x1000);

function driverAdapter(name: string): SmmuDriverAdapter {
  const m = findMutant(name);
  assert.ok(m, `no mutant ${name}`);
  assert.is(m.adapter.profile, 'smmu-driver');
  return m.adapter as SmmuDriverAdapter;
}

function hwAdapter(name: string): SmmuHwAdapter {
  const m = findMutant(name);
  assert.ok(m, `no mutant ${name}`);
  assert.is(m.adapter.profile, 'smmu-hw');
  return m.adapter as SmmuHwAdapter;
}

/**
 * Profile smmu-driver as the kit runs it: kit memory, the reference SMMU as the port,
 * the driver from the adapter. The port only forwards (it remembers CD addresses, so a
 * test can find a descriptor by walking the table the hardware walks).
 */
async function driverSystem(adapter: SmmuDriverAdapter, streams: readonly number[] = [0], pageGranular = false) {
  const memory = createKitMemory();
  const smmu = createKitSmmu(memory, { httu: 2, bbml: 2, iotlbCapacity: 64 });
  const cds = new Map<number, number>();
  const port: KitSmmuPort = {
    idr0: smmu.idr0,
    idr3: smmu.idr3,
    attachStream: (streamId, cd) => {
      cds.set(streamId, cd);
      smmu.attachStream(streamId, cd);
    },
    detachStream: (streamId) => smmu.detachStream(streamId),
    submit: (commands) => smmu.submit(commands),
  };
  const driver = await adapter.create(memory, port, { asid: 1, dirtyCapable: true, pageGranular });
  if (typeof driver === 'number' || driver.splitBlock === undefined || driver.mergePages === undefined) throw new Error(`${adapter.name}: create refused, or no split and merge`);
  for (const s of streams) assert.is(await driver.attach(s), 0);
  /** The physical address of the level-`level` entry for `iova` in the table stream 0 uses. */
  const entryAddress = (iova: number, level: number) => {
    const cd = cds.get(0)!;
    let table = decodeCd(memory.load(cd), memory.load(cd + 8)).ttb0;
    for (let l = 0; l < level; l++) table = pteAddress(memory.load(table + levelIndex(iova, l) * 8));
    return table + levelIndex(iova, level) * 8;
  };
  const report = async (iova: number, size: number, flags = 0) => {
    const r = await driver.readAndClearDirty(iova, size, flags);
    assert.is(r.errno, 0);
    return pages(r.dirty, iova);
  };
  return { memory, smmu, driver: driver as ReferenceSmmuDriver, entryAddress, report };
}

/**
 * Profile smmu-hw: kit memory, the SMMU from the adapter, and the kit's reference driver
 * over a synchronous port. The reference adapter does each call's work before its
 * promise settles, so the port can forward without awaiting.
 */
async function hwSystem(adapter: SmmuHwAdapter) {
  const memory = createKitMemory();
  const hw = await adapter.create(memory, { httu: 2, bbml: 2, iotlbCapacity: 64 });
  const { idr0, idr3 } = await hw.readRegisters();
  const port: SmmuPort = {
    idr0,
    idr3,
    attachStream: (streamId, cd) => void hw.attachStream(streamId, cd),
    detachStream: (streamId) => void hw.detachStream(streamId),
    submit: (commands) => void hw.submit(commands),
  };
  const domain = createKitDriver(memory, port, { asid: 1, dirtyCapable: true, pageGranular: false });
  assert.is(domain.attach(0), 0);
  const report = (iova: number, size: number) => {
    const got: number[] = [];
    assert.is(
      domain.readAndClearDirty(iova, size, 0, (i, s) => got.push(...range(i, s / 0x1000))),
      0,
    );
    return got;
  };
  return { memory, hw, domain, report };
}

const reference = { driver: referenceSmmuDriverAdapter(), hw: referenceSmmuHwAdapter() };

/** Titles of the directed tests, to check every mutant has one. */
const directedTitles: string[] = [];
function directed(title: string, fn: () => Promise<unknown>): void {
  directedTitles.push(title);
  test(title, async () => {
    await fn();
  });
}

// ---- driver mutants (profile smmu-driver) ------------------------------------------

directed('[IOTLB-9] mutant clear-without-tlbi deviates from the reference: a write after the clear goes through the stale writable-dirty IOTLB entry and is lost', async () => {
  const run = async (adapter: SmmuDriverAdapter) => {
    const { smmu, driver, report } = await driverSystem(adapter);
    assert.is(await driver.map(0, PA, 0x4000, RW), 0);
    assert.is(await driver.setDirtyTracking(true), 0);
    assert.ok(smmu.dmaWrite(0, 0x1000).ok, 'caches the leaf writable-dirty');
    assert.equal(await report(0, 0x4000), [0x1000]);
    assert.ok(smmu.dmaWrite(0, 0x1000).ok);
    return report(0, 0x4000);
  };
  assert.equal(await run(reference.driver), [0x1000]);
  assert.equal(await run(driverAdapter('clear-without-tlbi')), []);
});

directed('[IOTLB-7] mutant tlbi-before-clear deviates from the reference: a DMA between the early TLBI and the clear re-caches the leaf, and the next write is lost', async () => {
  const run = async (adapter: SmmuDriverAdapter) => {
    const { memory, smmu, driver, report } = await driverSystem(adapter);
    assert.is(await driver.map(0, PA, 0x4000, RW), 0);
    assert.is(await driver.setDirtyTracking(true), 0);
    assert.ok(smmu.dmaWrite(0, 0x1000).ok);
    let injected = false;
    memory.hook = () => {
      // The first access of the walk: after the mutant's TLBI, before any clear.
      if (injected) return;
      injected = true;
      assert.ok(smmu.dmaWrite(0, 0x1000).ok);
    };
    const first = await report(0, 0x4000);
    memory.hook = undefined;
    assert.ok(injected);
    assert.equal(first, [0x1000]);
    assert.ok(smmu.dmaWrite(0, 0x1000).ok);
    return report(0, 0x4000);
  };
  assert.equal(await run(reference.driver), [0x1000]);
  assert.equal(await run(driverAdapter('tlbi-before-clear')), []);
});

directed("[SPLIT-2] mutant split-read-then-store deviates from the reference: a DMA write dirtying the block between the split's read and its store is lost", async () => {
  const run = async (adapter: SmmuDriverAdapter) => {
    const { memory, smmu, driver, entryAddress, report } = await driverSystem(adapter);
    assert.is(await driver.map(0, PA, MiB2, RW), 0);
    assert.is(await driver.setDirtyTracking(true), 0);
    const blockPtep = entryAddress(0, 2);
    assert.is(memory.load(blockPtep) & (PTE_DBM | PTE_AP_RDONLY), PTE_DBM | PTE_AP_RDONLY, 'the block is writable-clean');
    let injected = false;
    memory.hook = (kind, address) => {
      // The split's write to the live block (exchange in the reference, store in the mutant).
      if (injected || kind === 'load' || address !== blockPtep) return;
      injected = true;
      assert.ok(smmu.dmaWrite(0, 0x1234).ok);
    };
    assert.is(await driver.splitBlock(0), 0);
    memory.hook = undefined;
    assert.ok(injected);
    return (await report(0, MiB2)).length;
  };
  assert.is(await run(reference.driver), 512);
  assert.is(await run(driverAdapter('split-read-then-store')), 0);
});

directed("[TRACK-4] mutant enable-split-read-then-store deviates from the reference: a DMA write dirtying a block after enabling's stale clear and before its split's store is lost", async () => {
  const run = async (adapter: SmmuDriverAdapter) => {
    const { memory, smmu, driver, entryAddress, report } = await driverSystem(adapter, [0], true);
    assert.is(await driver.map(0, PA, MiB2, RW), 0);
    const blockPtep = entryAddress(0, 2);
    let injected = false;
    memory.hook = (kind, address) => {
      // The split's write of the table over the block (an exchange in the reference, a store in
      // the mutant), after the stale clear (an atomic OR of AP[2]) made the block writable-clean.
      if (injected || (kind !== 'store' && kind !== 'exchange') || address !== blockPtep) return;
      injected = true;
      assert.ok(smmu.dmaWrite(0, 0x1234).ok);
    };
    assert.is(await driver.setDirtyTracking(true), 0);
    memory.hook = undefined;
    assert.ok(injected);
    return (await report(0, MiB2)).length;
  };
  assert.is(await run(reference.driver), 512);
  assert.is(await run(driverAdapter('enable-split-read-then-store')), 0);
});

directed("[NOLOSS-3] mutant unmap-read-then-store deviates from the reference: a DMA write dirtying a leaf between the unmap's read and its store is not reported", async () => {
  const run = async (adapter: SmmuDriverAdapter) => {
    const { memory, smmu, driver, entryAddress } = await driverSystem(adapter);
    assert.is(await driver.map(0, PA, MiB2, RW), 0);
    assert.is(await driver.setDirtyTracking(true), 0);
    const blockPtep = entryAddress(0, 2);
    assert.is(memory.load(blockPtep) & (PTE_DBM | PTE_AP_RDONLY), PTE_DBM | PTE_AP_RDONLY, 'the block is writable-clean');
    let injected = false;
    memory.hook = (kind, address) => {
      // The unmap's write to the live block (exchange in the reference, store in the mutant), after its walk read it.
      if (injected || kind === 'load' || address !== blockPtep) return;
      injected = true;
      assert.ok(smmu.dmaWrite(0, 0x1234).ok);
    };
    const { unmapped, dirty } = await driver.unmap(0, MiB2);
    memory.hook = undefined;
    assert.ok(injected);
    assert.is(unmapped, MiB2);
    return dirty.reduce((n, b) => n + (b.toString(2).match(/1/g)?.length ?? 0), 0);
  };
  assert.is(await run(reference.driver), 512);
  assert.is(await run(driverAdapter('unmap-read-then-store')), 0);
});

directed('[MAP-3] mutant map-one-page-short deviates from the reference: a map of 513 pages leaves the last one unmapped and returns 0', async () => {
  const run = async (adapter: SmmuDriverAdapter) => {
    const { smmu, driver } = await driverSystem(adapter);
    assert.is(await driver.map(0, PA, 513 * 0x1000, RW), 0);
    return smmu.dmaWrite(0, 512 * 0x1000).ok;
  };
  assert.is(await run(reference.driver), true);
  assert.is(await run(driverAdapter('map-one-page-short')), false);
});

directed('[NOLOSS-1] mutant clear-size-u32 deviates from the reference: a report of the 8 GiB below 2^48 walks nothing and misses the dirty last page', async () => {
  const run = async (adapter: SmmuDriverAdapter) => {
    const { driver } = await driverSystem(adapter);
    assert.is(await driver.setDirtyTracking(true), 0);
    assert.is(await driver.map(2 ** 48 - 0x1000, PA, 0x1000, RW), 0);
    const r = await driver.readAndClearDirty(2 ** 48 - 8 * 2 ** 30, 8 * 2 ** 30, 0);
    return { errno: r.errno, dirty: pages(r.dirty, 2 ** 48 - 8 * 2 ** 30) };
  };
  assert.equal(await run(reference.driver), { errno: 0, dirty: [2 ** 48 - 0x1000] });
  assert.equal(await run(driverAdapter('clear-size-u32')), { errno: 0, dirty: [] });
});

directed('[NOLOSS-1] mutant clear-lower-half deviates from the reference: a report at the last page below 2^48 (level-0 entry 511) misses its dirty state', async () => {
  const run = async (adapter: SmmuDriverAdapter) => {
    const { driver } = await driverSystem(adapter);
    assert.is(await driver.setDirtyTracking(true), 0);
    assert.is(await driver.map(2 ** 47 - 0x1000, PA, 0x2000, RW), 0);
    const r = await driver.readAndClearDirty(2 ** 47 - 0x1000, 0x2000, 0);
    return { errno: r.errno, dirty: pages(r.dirty, 2 ** 47 - 0x1000) };
  };
  assert.equal(await run(reference.driver), { errno: 0, dirty: [2 ** 47 - 0x1000, 2 ** 47] });
  assert.equal(await run(driverAdapter('clear-lower-half')), { errno: 0, dirty: [2 ** 47 - 0x1000] });
});

directed('[IOTLB-12] mutant free-table-without-flush deviates from the reference: a block mapped where an emptied table was frees the table a walk went through without invalidating it first', async () => {
  const run = async (adapter: SmmuDriverAdapter) => {
    const sys = await createSystem(adapter, { httu: 2, bbml: 2, iotlbCapacity: 64, dirtyCapable: true, pageGranular: false }, { timeoutMs: 2000 });
    assert.is(await sys.attach(0), 0);
    assert.is(await sys.map(0, PA, 0x1000, RW), 0);
    assert.is((await sys.unmap(0, 0x1000)).unmapped, 0x1000);
    assert.equal(await sys.dma(0, 0x1000, false), { ok: false, fault: 'translation' }, 'the walk goes through the empty level-3 table');
    assert.is(await sys.map(0, PA, 0x20_0000, RW), 0);
    return sys.freedWalkedTable!()?.req;
  };
  assert.is(await run(reference.driver), undefined);
  assert.equal(await run(driverAdapter('free-table-without-flush')), ['IOTLB-12']);
});

directed('[MERGE-1] mutant merge-ignores-contiguity deviates from the reference: pages of two mappings with unrelated output addresses are merged into one block', async () => {
  const run = async (adapter: SmmuDriverAdapter) => {
    const { driver } = await driverSystem(adapter);
    assert.is(await driver.map(0, PA, 256 * 0x1000, RW), 0);
    assert.is(await driver.map(256 * 0x1000, PA + 4 * MiB2, 256 * 0x1000, RW), 0);
    return (await driver.mergePages(0, 2)) === 0;
  };
  assert.is(await run(reference.driver), false);
  assert.is(await run(driverAdapter('merge-ignores-contiguity')), true);
});

directed('[SPLIT-1] mutant split-dirty-first-page-only deviates from the reference: a write at page 5 of a dirty block is gone after the split', async () => {
  const run = async (adapter: SmmuDriverAdapter) => {
    const { smmu, driver, report } = await driverSystem(adapter);
    assert.is(await driver.map(0, PA, MiB2, RW), 0);
    assert.is(await driver.setDirtyTracking(true), 0);
    assert.ok(smmu.dmaWrite(0, 0x5000).ok);
    assert.is(await driver.splitBlock(0), 0);
    return report(0, MiB2);
  };
  assert.equal(await run(reference.driver), range(0, 512));
  assert.equal(await run(driverAdapter('split-dirty-first-page-only')), [0]);
});

directed('[MERGE-1] mutant merge-ignores-dirty deviates from the reference: the block merged from a dirty page comes out clean', async () => {
  const run = async (adapter: SmmuDriverAdapter) => {
    const { smmu, driver, report } = await driverSystem(adapter);
    assert.is(await driver.map(0, PA, MiB2, RW), 0);
    assert.is(await driver.splitBlock(0), 0);
    assert.is(await driver.setDirtyTracking(true), 0);
    assert.ok(smmu.dmaWrite(0, 0x7_3000).ok);
    assert.is(await driver.mergePages(0, 2), 0);
    return (await report(0, MiB2)).length;
  };
  assert.is(await run(reference.driver), 512);
  assert.is(await run(driverAdapter('merge-ignores-dirty')), 0);
});

directed("[MERGE-1] mutant merge-no-late-fold deviates from the reference: a write between the merge's look at its clean children and the swap is lost with the table", async () => {
  const run = async (adapter: SmmuDriverAdapter) => {
    const { memory, smmu, driver, entryAddress, report } = await driverSystem(adapter);
    assert.is(await driver.map(0, PA, MiB2, RW), 0);
    assert.is(await driver.splitBlock(0), 0);
    assert.is(await driver.setDirtyTracking(true), 0);
    await report(0, MiB2); // every page clean
    // At the swap of the table entry for a block: the children were looked at, the table is still linked.
    const l2 = entryAddress(0, 2);
    memory.hook = (kind, address) => {
      if (kind !== 'exchange' || address !== l2) return;
      memory.hook = undefined;
      assert.ok(smmu.dmaWrite(0, 0x7_3000).ok);
    };
    assert.is(await driver.mergePages(0, 2), 0);
    memory.hook = undefined;
    return (await report(0, MiB2)).length;
  };
  assert.is(await run(reference.driver), 512);
  assert.is(await run(driverAdapter('merge-no-late-fold')), 0);
});

directed("[IOTLB-9] mutant global-leaves deviates from the reference: a DMA cached before tracking starts is still cached after the enable's invalidation by ASID", async () => {
  const run = async (adapter: SmmuDriverAdapter) => {
    const { smmu, driver } = await driverSystem(adapter);
    // Read-only: the enable's stale clear (a range TLBI, which reaches global entries) leaves it alone; its invalidation by ASID is all that can drop the entry.
    assert.is(await driver.map(0, PA, MiB2, IOMMU_READ), 0);
    assert.ok(smmu.dmaRead(0, 0x3000).ok);
    assert.is(await driver.setDirtyTracking(true), 0);
    return smmu.iotlb.entries().length;
  };
  assert.is(await run(reference.driver), 0);
  assert.is(await run(driverAdapter('global-leaves')), 1);
});

directed('[NOLOSS-1] mutant record-4k-for-2m deviates from the reference: a write at 0x5000 in a 2 MiB block is reported as page 0 only', async () => {
  const run = async (adapter: SmmuDriverAdapter) => {
    const { smmu, driver, report } = await driverSystem(adapter);
    assert.is(await driver.map(0, PA, MiB2, RW), 0);
    assert.is(await driver.setDirtyTracking(true), 0);
    assert.ok(smmu.dmaWrite(0, 0x5000).ok);
    return report(0, MiB2);
  };
  assert.equal(await run(reference.driver), range(0, 512));
  assert.equal(await run(driverAdapter('record-4k-for-2m')), [0]);
});

directed('[NOLOSS-1] mutant last-page-not-scanned deviates from the reference: the last page of [0, 0x4000) is not reported (L3 fast path)', async () => {
  const run = async (adapter: SmmuDriverAdapter) => {
    const { memory, smmu, driver, report } = await driverSystem(adapter);
    assert.is(await driver.map(0, PA, 0x4000, RW), 0);
    assert.is(await driver.setDirtyTracking(true), 0);
    for (const iova of range(0, 4)) assert.ok(smmu.dmaWrite(0, iova).ok);
    assert.is(memory.hook, undefined, 'no hook: the walk takes the L3 fast path');
    return report(0, 0x4000);
  };
  assert.equal(await run(reference.driver), [0, 0x1000, 0x2000, 0x3000]);
  assert.equal(await run(driverAdapter('last-page-not-scanned')), [0, 0x1000, 0x2000]);
});

directed('[NOLOSS-2] mutant no-clear-ignored deviates from the reference: a read with IOMMU_DIRTY_NO_CLEAR clears, so the next read misses the page', async () => {
  const run = async (adapter: SmmuDriverAdapter) => {
    const { smmu, driver, report } = await driverSystem(adapter);
    assert.is(await driver.map(0, PA, 0x4000, RW), 0);
    assert.is(await driver.setDirtyTracking(true), 0);
    assert.ok(smmu.dmaWrite(0, 0x2000).ok);
    assert.equal(await report(0, 0x4000, IOMMU_DIRTY_NO_CLEAR), [0x2000]);
    return report(0, 0x4000, IOMMU_DIRTY_NO_CLEAR);
  };
  assert.equal(await run(reference.driver), [0x2000]);
  assert.equal(await run(driverAdapter('no-clear-ignored')), []);
});

/** Four writable pages at 0, tracking on, a DMA write to 0x2000, then an unmap of the four: what it unmapped and reported dirty. */
async function unmapAfterOneWrite(adapter: SmmuDriverAdapter) {
  const { smmu, driver } = await driverSystem(adapter);
  assert.is(await driver.map(0, PA, 0x4000, RW), 0);
  assert.is(await driver.setDirtyTracking(true), 0);
  assert.ok(smmu.dmaWrite(0, 0x2000).ok);
  const { unmapped, dirty } = await driver.unmap(0, 0x4000);
  return { unmapped, dirty: pages(dirty, 0) };
}

directed('[NOLOSS-3] mutant unmap-drops-dirty deviates from the reference: unmapping a written page reports nothing', async () => {
  assert.equal(await unmapAfterOneWrite(reference.driver), { unmapped: 0x4000, dirty: [0x2000] });
  assert.equal(await unmapAfterOneWrite(driverAdapter('unmap-drops-dirty')), { unmapped: 0x4000, dirty: [] });
});

directed('[PRECISION-1] mutant unmap-reports-all-dirty deviates from the reference: unmapping four pages, one written, reports all four', async () => {
  assert.equal(await unmapAfterOneWrite(reference.driver), { unmapped: 0x4000, dirty: [0x2000] });
  assert.equal(await unmapAfterOneWrite(driverAdapter('unmap-reports-all-dirty')), { unmapped: 0x4000, dirty: [0, 0x1000, 0x2000, 0x3000] });
});

directed('[NOLOSS-1] [BITMAP-2] mutant record-without-table-base deviates from the reference: a write at 0x201000 is reported at 0x1000', async () => {
  const run = async (adapter: SmmuDriverAdapter) => {
    const { smmu, driver, report } = await driverSystem(adapter);
    assert.is(await driver.map(MiB2, PA, 0x2000, RW), 0);
    assert.is(await driver.setDirtyTracking(true), 0);
    assert.ok(smmu.dmaWrite(0, MiB2 + 0x1000).ok);
    return report(0, 2 * MiB2);
  };
  assert.equal(await run(reference.driver), [MiB2 + 0x1000]);
  assert.equal(await run(driverAdapter('record-without-table-base')), [0x1000]);
});

// ---- domain mutants (profile smmu-driver) -------------------------------------------

directed("[TRACK-2] mutant tracking-first-stream-only deviates from the reference: stream 1's write to a clean leaf faults and is never dirty", async () => {
  const run = async (adapter: SmmuDriverAdapter) => {
    const { smmu, driver, report } = await driverSystem(adapter, [0, 1]);
    assert.is(await driver.map(0, PA, 0x4000, RW), 0);
    assert.is(await driver.setDirtyTracking(true), 0);
    const write = smmu.dmaWrite(1, 0x1000);
    return { write: write.ok ? 'ok' : write.fault, dirty: await report(0, 0x4000) };
  };
  assert.equal(await run(reference.driver), { write: 'ok', dirty: [0x1000] });
  assert.equal(await run(driverAdapter('tracking-first-stream-only')), { write: 'permission', dirty: [] });
});

directed('[TRACK-3] [PRECISION-1] mutant enable-without-clearing-stale deviates from the reference: pages nobody wrote since tracking started are reported', async () => {
  const run = async (adapter: SmmuDriverAdapter) => {
    const { driver, report } = await driverSystem(adapter);
    assert.is(await driver.map(0, PA, 0x4000, RW), 0); // HD quirk: mapped writable-dirty (PTE-3)
    assert.is(await driver.setDirtyTracking(true), 0);
    return report(0, 0x4000);
  };
  assert.equal(await run(reference.driver), []);
  assert.equal(await run(driverAdapter('enable-without-clearing-stale')), range(0, 4));
});

// ---- hardware mutants (profile smmu-hw) ---------------------------------------------

directed('[HTTU-3] mutant hw-dirty-on-read deviates from the reference: a DMA read makes the leaf writable-dirty', async () => {
  const run = async (adapter: SmmuHwAdapter) => {
    const { memory, hw, domain, report } = await hwSystem(adapter);
    assert.is(domain.map(0, PA, 0x4000, RW), 0);
    assert.is(domain.setDirtyTracking(true), 0);
    assert.equal(await hw.dmaRead(0, 0x1000), { ok: true, pa: PA + 0x1000 });
    const leaf = [...domain.pgtable.leaves(0x1000, 0x1000)][0]!;
    return { rdonly: (memory.load(leaf.ptep) & PTE_AP_RDONLY) !== 0n, dirty: report(0, 0x4000) };
  };
  assert.equal(await run(reference.hw), { rdonly: true, dirty: [] });
  assert.equal(await run(hwAdapter('hw-dirty-on-read')), { rdonly: false, dirty: [0x1000] });
});

/**
 * A DMA write to 0x1000 (a writable leaf, tracking on) with the kit's unmap of that leaf run at
 * the SMMU's first access to it that `unmapAt` picks: what the write answered, and whether the
 * leaf is valid after.
 */
async function writeRacingUnmap(adapter: SmmuHwAdapter, unmapAt: (kind: string) => boolean) {
  const { memory, hw, domain } = await hwSystem(adapter);
  assert.is(domain.map(0, PA, 0x4000, RW), 0);
  assert.is(domain.setDirtyTracking(true), 0);
  const ptep = [...domain.pgtable.leaves(0x1000, 0x1000)][0]!.ptep;
  let unmapped = -1;
  memory.hook = (kind, address) => {
    if (unmapped >= 0 || !unmapAt(kind) || address !== ptep) return;
    unmapped = domain.unmap(0x1000, 0x1000);
  };
  const write = await hw.dmaWrite(0, 0x1000);
  memory.hook = undefined;
  assert.is(unmapped, 0x1000);
  return { write: write.ok ? 'ok' : write.fault, leafValid: isValid(memory.load(ptep)) };
}

directed("[HTTU-5] mutant hw-plain-store deviates from the reference: an unmap between the walk's read and its update is overwritten, and the leaf comes back", async () => {
  // The hardware's update of the leaf: a compare-exchange in the reference, a store in the mutant.
  const update = (kind: string) => kind !== 'load';
  assert.equal(await writeRacingUnmap(reference.hw, update), { write: 'translation', leafValid: false });
  assert.equal(await writeRacingUnmap(hwAdapter('hw-plain-store'), update), { write: 'ok', leafValid: true });
});

directed("[HTTU-2] [HTTU-5] mutant hw-complete-after-lost-update deviates from the reference: an unmap between the walk's read and its update, and the write completes anyway", async () => {
  // The hardware's compare-exchange of the leaf, after its walk read it clean.
  const update = (kind: string) => kind === 'compareExchange';
  assert.equal(await writeRacingUnmap(reference.hw, update), { write: 'translation', leafValid: false });
  assert.equal(await writeRacingUnmap(hwAdapter('hw-complete-after-lost-update'), update), { write: 'ok', leafValid: false });
});

directed('[IOTLB-9] mutant hw-walk-cache-kept deviates from the reference: after a merge freed the table a walk went through, the next walk reads the freed table', async () => {
  const run = async (adapter: SmmuHwAdapter) => {
    const { hw, domain } = await hwSystem(adapter);
    assert.is(domain.map(0, PA, 0x20_0000, RW), 0);
    assert.is(domain.splitBlock(0), 0);
    assert.ok((await hw.dmaRead(0, 0x1000)).ok);
    assert.is(domain.mergePages(0, 2), 0);
    try {
      const w = await hw.dmaWrite(0, 0x1000);
      return w.ok ? 'ok' : w.fault;
    } catch (e) {
      return (e as Error).name;
    }
  };
  assert.is(await run(reference.hw), 'ok');
  assert.is(await run(hwAdapter('hw-walk-cache-kept')), 'MemoryError');
});

directed('[IOTLB-5] mutant cached-clean-write-no-update deviates from the reference: a write through a cached writable-clean entry leaves the leaf clean', async () => {
  const run = async (adapter: SmmuHwAdapter) => {
    const { hw, domain, report } = await hwSystem(adapter);
    assert.is(domain.map(0, PA, 0x4000, RW), 0);
    assert.is(domain.setDirtyTracking(true), 0);
    assert.equal(await hw.dmaRead(0, 0x1000), { ok: true, pa: PA + 0x1000 }, 'caches the leaf writable-clean');
    assert.equal(await hw.dmaWrite(0, 0x1000), { ok: true, pa: PA + 0x1000 });
    return report(0, 0x4000);
  };
  assert.equal(await run(reference.hw), [0x1000]);
  assert.equal(await run(hwAdapter('cached-clean-write-no-update')), []);
});

// ---- the mutants of the requirement matrix (matrix-mutants.ts) and the contract mutants (contract-mutants.ts): each with its probe ----

for (const p of [...matrixProbes, ...contractProbes]) {
  directed(p.title, async () => {
    assert.equal(await p.run(p.reference), p.want.reference, 'the reference');
    assert.equal(await p.run(findMutant(p.mutant)!.adapter), p.want.mutant, 'the mutant');
  });
}

// The descriptor mutants of smmu-id-mutants.ts, the IOTLB mutant of smmu-tlb-mutants.ts, the level-1 mutants of level1-mutants.ts and the argument mutants of argument-mutants.ts, each with its probe.
for (const p of [...smmuIdProbes, ...smmuTlbProbes, ...level1Probes, ...argumentProbes]) {
  directed(p.title, async () => {
    assert.equal(await p.run(p.reference), p.want.reference, 'the reference');
    assert.equal(await p.run(findMutant(p.mutant)!.adapter), p.want.mutant, 'the mutant');
  });
}

// ---- the zoo itself -------------------------------------------------------------------

test('the zoo: at least 14 mutants, unique kebab-case names, adapters of the stated profile, every mutant with a directed test', () => {
  assert.ok(mutants.length >= 14, `only ${mutants.length} mutants`);
  const names = mutants.map((m) => m.name);
  assert.equal([...new Set(names)], names, 'names are unique');
  for (const m of mutants) {
    assert.match(m.name, /^[a-z0-9]+(?:-[a-z0-9]+)*$/, `${m.name} is kebab-case`);
    assert.is(m.adapter.profile, m.profile, `${m.name}: adapter profile`);
    assert.is(m.adapter.name, m.name, `${m.name}: adapter name`);
    assert.ok(BUG_CLASSES.includes(m.bugClass), `${m.name}: bug class`);
    assert.ok(m.description.includes(`Class ${m.bugClass}: `), `${m.name}: the description justifies class ${m.bugClass}`);
    assert.is(findMutant(m.name), m);
    assert.is(directedTitles.filter((t) => t.includes(`mutant ${m.name} deviates from the reference`)).length, 1, `${m.name} has one directed test`);
  }
  assert.is(findMutant('no-such-mutant'), undefined);
});

test('every bug class is defined under its own heading in the docs/ page of bug classes, and some mutant belongs to it', () => {
  const docs = new URL('../../docs/', import.meta.url).pathname;
  const text = readdirSync(docs)
    .filter((f) => f.endsWith('.md'))
    .map((f) => readFileSync(join(docs, f), 'utf8'))
    .join('\n');
  const headings = [...text.matchAll(/^## `([a-z-]+)`$/gm)].map((m) => m[1]);
  assert.equal(headings, [...BUG_CLASSES], 'the headings are the classes, in order');
  for (const c of BUG_CLASSES)
    assert.ok(
      mutants.some((m) => m.bugClass === c),
      `class ${c} has a mutant`,
    );
  // Each mutant is named in its own class's section, and in no other.
  const sections = new Map(text.split(/^## /m).map((sec) => [/^`([a-z-]+)`/.exec(sec)?.[1], sec] as const));
  for (const m of mutants) {
    assert.ok(sections.get(m.bugClass)?.includes(`\`${m.name}\``), `${m.name} is listed under ${m.bugClass}`);
    for (const c of BUG_CLASSES) if (c !== m.bugClass) assert.not.ok(sections.get(c)?.includes(`\`${m.name}\``), `${m.name} is listed under ${c} too`);
  }
});

// ---- iova-bitmap mutants: the same recordings through the reference and the mutant ----

async function bitmapBytes(name: string | undefined, args: IovaBitmapArgs, sets: [bigint, bigint][]): Promise<Uint8Array> {
  const adapter = name === undefined ? referenceIovaBitmapAdapter() : (findMutant(name)!.adapter as IovaBitmapAdapter);
  const buf = new KitBuffer(Math.ceil((args.offset + args.bitmapSize + 16) / 4096) * 4096);
  buf.bytes.fill(0, args.offset, args.offset + args.bitmapSize); // the bitmap starts zeroed, guard bytes around it
  const bm = await adapter.create(buf, args);
  if (typeof bm === 'number') throw new Error(`alloc refused: ${bm}`);
  for (const [iova, length] of sets) await bm.set(iova, length);
  await bm.free();
  return buf.bytes;
}

directed('[IOVA-BITMAP-7] mutant iova-bitmap-ignores-pgoff deviates from the reference: a bitmap 7 bytes into its page is written at byte 0', async () => {
  const args = { iova: 0n, length: 64n * 4096n, pageSize: 4096n, offset: 7, bitmapSize: 8, maxPinnedPages: 512 };
  const ref = await bitmapBytes(undefined, args, [[4096n, 4096n]]);
  const mut = await bitmapBytes('iova-bitmap-ignores-pgoff', args, [[4096n, 4096n]]);
  assert.is(ref[7], 0b10);
  assert.is(ref[0], 0xa5, 'the guard byte before the bitmap is untouched');
  assert.is(mut[7], 0, 'the mutant missed the bit');
  assert.is(mut[0], 0xa5 | 0b10, 'and wrote over memory before the bitmap');
});

directed('[IOVA-BITMAP-8] mutant iova-bitmap-drops-past-window deviates from the reference: the tail past a one-page window is lost', async () => {
  const pages = 40_000n; // 5,000 bytes of bitmap: more than one pinned page
  const args = { iova: 0n, length: pages * 4096n, pageSize: 4096n, offset: 0, bitmapSize: 5000, maxPinnedPages: 1 };
  const ref = await bitmapBytes(undefined, args, [[0n, pages * 4096n]]);
  const mut = await bitmapBytes('iova-bitmap-drops-past-window', args, [[0n, pages * 4096n]]);
  assert.is(ref[4999], 0xff);
  assert.is(mut[4095], 0xff, 'the first window is recorded');
  assert.is(mut[4096], 0, 'the rest of the recording was dropped');
});

directed('[IOVA-BITMAP-10] mutant iova-bitmap-walk-skips-set-ahead deviates from the reference: pages after a block recorded across a window edge, in its last byte, are walked by no window', async () => {
  // One pinned page of bitmap a window (32,768 pages), the range starting 3 pages before a
  // 2 MiB boundary: the callback records the 2 MiB block holding window 1's last page, which
  // reaches 3 pages into window 2 and ends at bit 32,770, inside byte 4,096. The mutant's
  // window 2 starts at byte 4,097: pages 32,771 to 32,775 are in no window.
  const args = { iova: 0x7fd000n, length: 40_000n * 4096n, pageSize: 4096n, offset: 0, bitmapSize: 5000, maxPinnedPages: 1 };
  const walk = async (name: string | undefined) => {
    const adapter = name === undefined ? referenceIovaBitmapAdapter() : (findMutant(name)!.adapter as IovaBitmapAdapter);
    const bm = await adapter.create(new KitBuffer(8192), args);
    if (typeof bm === 'number') throw new Error(`alloc refused: ${bm}`);
    const windows: bigint[] = [];
    const got = await bm.forEach!((iova, length) => {
      windows.push(iova);
      const last = iova + length - 1n;
      const block = last - (last % 0x200000n);
      return { set: windows.length === 1 ? [{ iova: block, length: 0x200000n }] : [], ret: 0 };
    });
    await bm.free();
    return { got, windows };
  };
  const ref = await walk(undefined);
  const mut = await walk('iova-bitmap-walk-skips-set-ahead');
  const window2 = args.iova + 32_768n * 4096n;
  assert.equal(ref, { got: 0, windows: [args.iova, window2] });
  assert.is(mut.got, 0);
  assert.equal(mut.windows, [args.iova, window2 + 8n * 4096n], 'window 2 starts at the byte after the block, 5 pages past its end');
});

// ---- vfio-type1 mutants: the same ioctls through the reference and the mutant container ----

const V = { iova: 0x10_0000n, size: 0x4000n, vaddr: 0x8000_0000n };
const VFIO_GET = 1 << 2;
const VFIO_NOCLEAR = 1 << 3;
const VFIO_CLEAR = 1 << 4;
const vbm = (size: bigint) => ({ pgsize: 0x1000n, size: ((size / 0x1000n + 63n) / 64n) * 8n });

/** A container with one 4-page mapping, manual clear negotiated, tracking on, the new mapping's dirty state cleared. */
async function vfioContainer(name: string | undefined): Promise<VfioType1Instance> {
  const adapter = name === undefined ? referenceVfioType1Adapter() : (findMutant(name)!.adapter as VfioType1Adapter);
  assert.is(adapter.profile, 'vfio-type1');
  const c = await adapter.create({ hwDirty: true });
  assert.is((await c.mapDma(3, V.vaddr, V.iova, V.size)).errno, 0);
  assert.is(await c.checkExtension(11), 1);
  assert.is((await c.dirtyPages(1)).errno, 0);
  assert.is((await c.dirtyPages(VFIO_GET, { ...V, bitmap: vbm(V.size) })).errno, 0);
  return c;
}

async function vfioPages(c: VfioType1Instance, flags = VFIO_GET): Promise<number[]> {
  const r = await c.dirtyPages(flags, { ...V, bitmap: vbm(V.size) });
  assert.is(r.errno, 0);
  return dirtyBitmapPages(r.bitmap!, Number(V.iova));
}

async function vfioBoth(run: (c: VfioType1Instance) => Promise<unknown>, name: string): Promise<[unknown, unknown]> {
  return [await run(await vfioContainer(undefined)), await run(await vfioContainer(name))];
}

directed('[VFIO-CLEAR-4] mutant vfio-noclear-clears deviates from the reference: a page read by GET_BITMAP_NOCLEAR is missing from the next report', async () => {
  const [ref, mut] = await vfioBoth(async (c) => {
    assert.ok((await c.deviceDmaWrite(V.iova + 0x1000n)).ok);
    assert.equal(await vfioPages(c, VFIO_NOCLEAR), [0x10_1000]);
    return vfioPages(c, VFIO_NOCLEAR);
  }, 'vfio-noclear-clears');
  assert.equal(ref, [0x10_1000]);
  assert.equal(mut, []);
});

directed('[VFIO-CLEAR-5] mutant vfio-clear-whole-range deviates from the reference: CLEAR_BITMAP of page 0 also clears dirty page 1', async () => {
  const [ref, mut] = await vfioBoth(async (c) => {
    assert.ok((await c.deviceDmaWrite(V.iova)).ok);
    assert.ok((await c.deviceDmaWrite(V.iova + 0x1000n)).ok);
    const data = new Uint8Array(8);
    data[0] = 0b1;
    assert.is((await c.dirtyPages(VFIO_CLEAR, { ...V, bitmap: { ...vbm(V.size), data } })).errno, 0);
    return vfioPages(c);
  }, 'vfio-clear-whole-range');
  assert.equal(ref, [0x10_1000]);
  assert.equal(mut, []);
});

directed('[VFIO-CLEAR-5] mutant vfio-clear-without-tlbi deviates from the reference: a write after CLEAR_BITMAP goes through the stale IOTLB entry and is lost', async () => {
  const [ref, mut] = await vfioBoth(async (c) => {
    assert.ok((await c.deviceDmaWrite(V.iova)).ok); // caches a writable-dirty entry
    const data = new Uint8Array(8).fill(0xff);
    assert.is((await c.dirtyPages(VFIO_CLEAR, { ...V, bitmap: { ...vbm(V.size), data } })).errno, 0);
    assert.ok((await c.deviceDmaWrite(V.iova)).ok);
    return vfioPages(c);
  }, 'vfio-clear-without-tlbi');
  assert.equal(ref, [0x10_0000]);
  assert.equal(mut, []);
});

directed("[VFIO-UNMAP-12] [BITMAP-1] mutant vfio-shared-word-overwritten deviates from the reference: a report over two mappings loses the first one's page in the u64 word they share", async () => {
  // A second mapping from page 5 of the range (V's 4 pages, a hole, then 1 page): its bits start
  // inside word 0, which holds V's pages too.
  const second = { iova: V.iova + 0x5000n, size: 0x1000n, vaddr: V.vaddr + 0x5000n };
  const span = { iova: V.iova, size: 0x6000n };
  const [ref, mut] = await vfioBoth(async (c) => {
    assert.is((await c.mapDma(3, second.vaddr, second.iova, second.size)).errno, 0);
    assert.ok((await c.deviceDmaWrite(V.iova + 0x1000n)).ok);
    assert.ok((await c.deviceDmaWrite(second.iova)).ok);
    const r = await c.dirtyPages(VFIO_GET, { ...span, bitmap: vbm(span.size) });
    assert.is(r.errno, 0);
    return dirtyBitmapPages(r.bitmap!, Number(span.iova));
  }, 'vfio-shared-word-overwritten');
  assert.equal(ref, [0x10_1000, 0x10_5000]);
  assert.equal(mut, [0x10_5000]);
});

directed('[VFIO-UNMAP-12] mutant vfio-unmap-drops-dirty deviates from the reference: UNMAP_DMA with GET_DIRTY_BITMAP returns no dirty page', async () => {
  const [ref, mut] = await vfioBoth(async (c) => {
    assert.ok((await c.deviceDmaWrite(V.iova + 0x2000n)).ok);
    const r = await c.unmapDma(1, V.iova, V.size, vbm(V.size));
    assert.is(r.errno, 0);
    assert.is(r.unmapped, V.size);
    return dirtyBitmapPages(r.bitmap!, Number(V.iova));
  }, 'vfio-unmap-drops-dirty');
  assert.equal(ref, [0x10_2000]);
  assert.equal(mut, []);
});

/** A container without hardware dirty tracking (no manual clear), the 4-page mapping, tracking on, its first report taken. */
async function vfioFallbackContainer(name: string | undefined): Promise<VfioType1Instance> {
  const adapter = name === undefined ? referenceVfioType1Adapter() : (findMutant(name)!.adapter as VfioType1Adapter);
  const c = await adapter.create({ hwDirty: false });
  assert.is((await c.mapDma(3, V.vaddr, V.iova, V.size)).errno, 0);
  assert.is((await c.dirtyPages(1)).errno, 0);
  assert.is((await c.dirtyPages(VFIO_GET, { ...V, bitmap: vbm(V.size) })).errno, 0);
  return c;
}

directed("[VFIO-DETACH-1] mutant vfio-detach-forgets-device deviates from the reference: after the device's group is detached while tracking, the report lacks the page the device wrote", async () => {
  const run = async (c: VfioType1Instance) => {
    assert.ok((await c.deviceDmaWrite(V.iova + 0x1000n)).ok);
    assert.is((await c.detachDevice!()).errno, 0);
    return [await vfioPages(c), await vfioPages(c)];
  };
  const ref = await run(await vfioFallbackContainer(undefined));
  const mut = await run(await vfioFallbackContainer('vfio-detach-forgets-device'));
  assert.equal(ref, [[0x10_0000, 0x10_1000, 0x10_2000, 0x10_3000], []], 'every page once, then none: the scope is the pinned pages');
  assert.equal(mut, [[], []]);
});

directed("[VFIO-DIRTY-14] mutant vfio-attach-keeps-scope deviates from the reference: once the device's group is attached again, the report is not every mapped page", async () => {
  const run = async (c: VfioType1Instance) => {
    assert.is((await c.detachDevice!()).errno, 0);
    await vfioPages(c); // the detach's pages
    assert.is((await c.attachDevice!()).errno, 0);
    assert.ok((await c.deviceDmaWrite(V.iova + 0x2000n)).ok);
    return vfioPages(c);
  };
  assert.equal(await run(await vfioFallbackContainer(undefined)), [0x10_0000, 0x10_1000, 0x10_2000, 0x10_3000]);
  assert.equal(await run(await vfioFallbackContainer('vfio-attach-keeps-scope')), []);
});

directed("[UNMAP-R1] mutant rfc-unmap-dma-without-sync deviates from the reference: on the RFC's IOMMU, UNMAP_DMA's bitmap lacks the page the device wrote", async () => {
  const unmapBitmap = async (adapter: VfioType1Adapter) => {
    assert.is(adapter.contract, 'rfc-2021');
    const c = await adapter.create({ hwDirty: true });
    assert.is((await c.mapDma(3, V.vaddr, V.iova, V.size)).errno, 0);
    assert.is((await c.dirtyPages(1)).errno, 0);
    assert.is((await c.dirtyPages(VFIO_GET, { ...V, bitmap: vbm(V.size) })).errno, 0); // the first report after START clears what MAP_DMA left dirty
    assert.ok((await c.deviceDmaWrite(V.iova + 0x2000n)).ok);
    const r = await c.unmapDma(1, V.iova, V.size, vbm(V.size));
    assert.is(r.errno, 0);
    assert.is(r.unmapped, V.size);
    return dirtyBitmapPages(r.bitmap!, Number(V.iova));
  };
  assert.equal(await unmapBitmap(referenceVfioType1Adapter('reference', undefined, 'rfc-2021')), [0x10_2000]);
  assert.equal(await unmapBitmap(findMutant('rfc-unmap-dma-without-sync')!.adapter as VfioType1Adapter), []);
});

directed("[UNMAP-U3] mutant iommufd-unmap-without-dirty-read deviates from the reference: as the VMM over iommufd on Linux v6.18's IOMMU, UNMAP_DMA's bitmap lacks the page the device wrote", async () => {
  const unmapBitmap = async (adapter: VfioType1Adapter) => {
    assert.is(adapter.contract, 'linux-upstream');
    const c = await adapter.create({ hwDirty: true });
    assert.is((await c.dirtyPages(1)).errno, 0);
    assert.is((await c.mapDma(3, V.vaddr, V.iova, V.size)).errno, 0);
    assert.is((await c.dirtyPages(VFIO_GET, { ...V, bitmap: vbm(V.size) })).errno, 0); // clears what MAP_DMA left dirty
    assert.ok((await c.deviceDmaWrite(V.iova + 0x1000n)).ok); // the first write to the page: no stale IOTLB entry can absorb it
    const r = await c.unmapDma(1, V.iova, V.size, vbm(V.size));
    assert.is(r.errno, 0);
    return dirtyBitmapPages(r.bitmap!, Number(V.iova));
  };
  assert.equal(await unmapBitmap(referenceVfioType1Adapter('reference', undefined, 'linux-upstream')), [0x10_1000]);
  assert.equal(await unmapBitmap(findMutant('iommufd-unmap-without-dirty-read')!.adapter as VfioType1Adapter), []);
});

directed('[VFIO-DIRTY-8] mutant vfio-bitmap-size-short deviates from the reference: GET_BITMAP over 128 pages with an 8-byte bitmap is accepted', async () => {
  const [ref, mut] = await vfioBoth(async (c) => (await c.dirtyPages(VFIO_GET, { iova: V.iova, size: 128n * 0x1000n, bitmap: { pgsize: 0x1000n, size: 8n } })).errno, 'vfio-bitmap-size-short');
  assert.is(ref, -22);
  assert.is(mut, 0);
});

directed('[VFIO-DIRTY-9] mutant vfio-any-bitmap-pgsize deviates from the reference: GET_BITMAP with an 8 KiB bitmap pgsize is accepted', async () => {
  const [ref, mut] = await vfioBoth(async (c) => (await c.dirtyPages(VFIO_GET, { ...V, bitmap: { pgsize: 0x2000n, size: 8n } })).errno, 'vfio-any-bitmap-pgsize');
  assert.is(ref, -22);
  assert.is(mut, 0);
});

directed('[IOVA-BITMAP-3] mutant iova-bitmap-page-size-overflow deviates from the reference: at page size 2^63 it faults where the reference records', async () => {
  const args = { iova: 0n, length: 1n << 63n, pageSize: 1n << 63n, offset: 0, bitmapSize: 8, maxPinnedPages: 512 };
  const ref = await bitmapBytes(undefined, args, [[0n, 1n << 63n]]);
  assert.is(ref[0], 1);
  let message = '';
  try {
    await bitmapBytes('iova-bitmap-page-size-overflow', args, [[0n, 1n << 63n]]);
  } catch (e) {
    message = (e as Error).message;
  }
  assert.match(message, /Division by zero/);
});

directed('[IOVA-BITMAP-2] mutant iova-bitmap-end-inside-page deviates from the reference: a recording ending one byte into page 2 drops page 2', async () => {
  const args = { iova: 0n, length: 64n * 4096n, pageSize: 4096n, offset: 0, bitmapSize: 8, maxPinnedPages: 512 };
  const ref = await bitmapBytes(undefined, args, [[4096n, 4097n]]);
  const mut = await bitmapBytes('iova-bitmap-end-inside-page', args, [[4096n, 4097n]]);
  assert.is(ref[0], 0b110);
  assert.is(mut[0], 0b010);
});

directed('[IOVA-BITMAP-3] mutant iova-bitmap-int-shift deviates from the reference: from page size 2^31 a recording past the first window is dropped, below it nothing differs', async () => {
  const pages = 40_000n; // 5,000 bytes of bitmap: two user pages, one pinned at a time
  const inFirst = 5n;
  const pastFirst = 4096n * 8n + 3n; // byte 4096, bit 3: the second user page
  for (const pgshift of [30n, 31n, 32n]) {
    const pageSize = 1n << pgshift;
    const args = { iova: 0n, length: pages * pageSize, pageSize, offset: 0, bitmapSize: 5000, maxPinnedPages: 1 };
    const sets: [bigint, bigint][] = [
      [inFirst * pageSize, pageSize],
      [pastFirst * pageSize, pageSize],
    ];
    const ref = await bitmapBytes(undefined, args, sets);
    const mut = await bitmapBytes('iova-bitmap-int-shift', args, sets);
    assert.is(ref[0], 0b100000, `page size 2^${pgshift}: the reference records page 5`);
    assert.is(ref[4096], 0b1000, `page size 2^${pgshift}: the reference records page ${pastFirst}`);
    assert.is(mut[0], 0b100000, `page size 2^${pgshift}: the mutant records inside the window pinned first`);
    assert.is(mut[4096], pgshift < 31n ? 0b1000 : 0, `page size 2^${pgshift}: the mutant ${pgshift < 31n ? 'records' : 'drops'} page ${pastFirst}`);
  }
});

/** iova_bitmap_alloc's answer through the mutant's adapter (or the reference's): an errno, or 'a bitmap'. */
async function allocAnswer(name: string | undefined, args: IovaBitmapArgs): Promise<number | string> {
  const adapter = name === undefined ? referenceIovaBitmapAdapter() : (findMutant(name)!.adapter as IovaBitmapAdapter);
  const buf = new KitBuffer(8192);
  const bm = await adapter.create(buf, args);
  if (typeof bm === 'number') return bm;
  await bm.free();
  return 'a bitmap';
}

directed('[IOVA-BITMAP-5] mutant iova-bitmap-refusal-order deviates from the reference: an unaligned range past 2^64 is -EINVAL, not -EOVERFLOW', async () => {
  const args = { iova: (1n << 64n) - 4096n + 1n, length: 2n * 4096n, pageSize: 4096n, offset: 0, bitmapSize: 8, maxPinnedPages: 1 };
  assert.is(await allocAnswer(undefined, args), -75);
  assert.is(await allocAnswer('iova-bitmap-refusal-order', args), -22);
});

directed('[IOVA-BITMAP-5] mutant iova-bitmap-no-length-checks deviates from the reference: a length not a multiple of page_size gets a bitmap', async () => {
  const args = { iova: 0n, length: 4096n + 1n, pageSize: 4096n, offset: 0, bitmapSize: 8, maxPinnedPages: 1 };
  assert.is(await allocAnswer(undefined, args), -22);
  assert.is(await allocAnswer('iova-bitmap-no-length-checks', args), 'a bitmap');
});

directed('[IOVA-BITMAP-1] mutant iova-bitmap-no-arg-checks deviates from the reference: a page size of 3 * 4096 gets a bitmap', async () => {
  const args = { iova: 0n, length: 3n * 4096n, pageSize: 3n * 4096n, offset: 0, bitmapSize: 8, maxPinnedPages: 1 };
  assert.is(await allocAnswer(undefined, args), -22);
  assert.is(await allocAnswer('iova-bitmap-no-arg-checks', args), 'a bitmap');
});

directed('[VFIO-DIRTY-14] mutant vfio-fallback-skips-readonly deviates from the reference: without hardware tracking a read-only mapping is not reported', async () => {
  const run = async (name: string | undefined) => {
    const adapter = name === undefined ? referenceVfioType1Adapter() : (findMutant(name)!.adapter as VfioType1Adapter);
    const c = await adapter.create({ hwDirty: false });
    assert.is((await c.mapDma(1, V.vaddr, V.iova, V.size)).errno, 0); // read-only
    assert.is((await c.dirtyPages(1)).errno, 0);
    return vfioPages(c);
  };
  assert.equal(await run(undefined), [0x10_0000, 0x10_1000, 0x10_2000, 0x10_3000]);
  assert.equal(await run('vfio-fallback-skips-readonly'), []);
});

directed('[VFIO-DIRTY-13] mutant vfio-get-drops-last-page deviates from the reference: a dirty last page of the range is not reported', async () => {
  const [ref, mut] = await vfioBoth(async (c) => {
    assert.ok((await c.deviceDmaWrite(V.iova + 0x3000n)).ok);
    return vfioPages(c);
  }, 'vfio-get-drops-last-page');
  assert.equal(ref, [0x10_3000]);
  assert.equal(mut, []);
});

directed('[VFIO-DIRTY-12] [NOLOSS-1] mutant vfio-get-clears-before-refusal deviates from the reference: a GET_BITMAP refused for bisecting a mapping has already cleared another', async () => {
  const [ref, mut] = await vfioBoth(async (c) => {
    const B = { iova: V.iova + V.size, size: 0x2000n };
    assert.is((await c.mapDma(3, V.vaddr + V.size, B.iova, B.size)).errno, 0);
    assert.ok((await c.deviceDmaWrite(V.iova)).ok);
    // The whole first mapping and half of the second: refused.
    assert.is((await c.dirtyPages(VFIO_GET, { iova: V.iova, size: V.size + 0x1000n, bitmap: vbm(V.size + 0x1000n) })).errno, -22);
    return vfioPages(c, VFIO_NOCLEAR);
  }, 'vfio-get-clears-before-refusal');
  assert.equal(ref, [0x10_0000]);
  assert.equal(mut, []);
});

// ---- KVM dirty log mutants: one fixed ops scenario each, replayed through the reference and the mutant ----

const KVM_LOG = { hwDirty: false, eagerSplit: true, dirtyRingExclusive: false } as const;
const LOG = KVM_MEM_LOG_DIRTY_PAGES;
const kvmCreate = (pages: number) => ({ k: 'region', pick: 0, kind: 'create', pages, flags: LOG }) as const;
const kvmManual = (args0: bigint) => ({ k: 'cap', cap: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, flags: 0, args0 }) as const;
const kvmWrite = (page: number) => ({ k: 'write', pick: 0, page, nowhere: false }) as const;
const kvmGet = (races: readonly { at: number; page: number; near: boolean }[] = []) => ({ k: 'get', pick: 0, id: 'ok', short: false, races }) as const;
const kvmClear = (first: string, num: string, bits: 'all' | 'some' = 'all', some: readonly number[] = []) => ({ k: 'clear', pick: 0, id: 'ok', first, num, bits, some, bytes: 'ok', races: [] }) as const;

/** The reference passes the ops scenario (a final GET of every logging slot checks it); mutant `name` fails it with a violation naming `req`. */
async function kvmLogDeviates(name: string, ops: readonly object[], req: string, config: object = KVM_LOG): Promise<void> {
  const m = findMutant(name)!;
  assert.is(m.profile, 'kvm-dirty-log');
  const sc = { kind: 'ops', config, ops };
  await replayKvmDirtyLogScenario(profileOf('kvm-dirty-log').reference(), sc, 2000, []);
  try {
    await replayKvmDirtyLogScenario(m.adapter as KvmDirtyLogAdapter, sc, 2000, []);
  } catch (e) {
    assert.instance(e, Violation, String(e));
    assert.ok((e as Violation).req.includes(req), `${name}: ${String(e)}`);
    return;
  }
  assert.unreachable(`${name} passed the scenario`);
}

// The kit sees the stale translation once GET returns (KVM-PT-13, through inspectPage), before the write through it is lost.
directed('[KVM-PT-13] mutant kvm-flush-after-return deviates from the reference: the translation cached before GET outlives the protection after GET returned', () =>
  kvmLogDeviates('kvm-flush-after-return', [kvmManual(1n), kvmCreate(1), kvmGet([{ at: 0, page: 0, near: false }]), kvmClear('zero', 'toEnd'), kvmWrite(0)], 'KVM-PT-13'),
);
directed('[KVM-LOG-5] [NOLOSS-1] mutant kvm-get-plain-take deviates from the reference: a fault setting page 1 between the load and the store of its word is lost', () =>
  kvmLogDeviates('kvm-get-plain-take', [kvmCreate(64), kvmWrite(0), kvmGet([{ at: 2, page: 1, near: false }]), kvmWrite(0)], 'NOLOSS-1'),
);
directed(
  "[KVM-LOG-5] [NOLOSS-1] mutant kvm-get-protect-before-take deviates from the reference: after another slot's GET flushed the TLB, a fault on page 5 between its protection and its word's exchange leaves it writable and its next write unlogged",
  () =>
    kvmLogDeviates(
      'kvm-get-protect-before-take',
      [
        kvmCreate(64),
        { k: 'region', pick: 1, kind: 'create', pages: 64, flags: LOG },
        kvmWrite(5),
        { k: 'write', pick: 1, page: 4, nowhere: false },
        { k: 'get', pick: 1, id: 'ok', short: false, races: [] },
        kvmGet([{ at: 6, page: 5, near: false }]),
        kvmWrite(5),
      ],
      'NOLOSS-1',
    ),
);
directed(
  '[KVM-CLEAR-7] [NOLOSS-1] mutant kvm-clear-protect-before-take deviates from the reference: a first write to page 12 faulting between the protection of page 5 and the clear of its word is marked, cleared, and its page left writable, so the next write is unlogged',
  () => kvmLogDeviates('kvm-clear-protect-before-take', [kvmManual(1n), kvmCreate(64), kvmWrite(5), { ...kvmClear('zero', 'toEnd'), races: [{ at: 1, page: 12, near: false }] }, kvmWrite(12)], 'NOLOSS-1'),
);
directed('[KVM-LOG-6] [NOLOSS-1] mutant kvm-manual-get-clears deviates from the reference: under manual protect a page reported but not cleared is missing from the next GET', () =>
  kvmLogDeviates('kvm-manual-get-clears', [kvmManual(1n), kvmCreate(64), kvmWrite(5), kvmGet()], 'NOLOSS-1'),
);
directed('[KVM-LOG-6] [KVM-CAP-3] mutant kvm-initset-eager deviates from the reference: a slot logging under INITIALLY_SET reports no page instead of every page', () =>
  kvmLogDeviates('kvm-initset-eager', [kvmManual(3n), kvmCreate(1), kvmGet()], 'NOLOSS-1'),
);
directed("[KVM-CLEAR-7] [PRECISION-1] mutant kvm-clear-last-word deviates from the reference: CLEAR of a 65-page slot to its end leaves page 64's bit set", () =>
  kvmLogDeviates('kvm-clear-last-word', [kvmManual(1n), kvmCreate(65), kvmWrite(64), kvmGet(), kvmClear('zero', 'toEnd')], 'PRECISION-1'),
);
directed('[KVM-CLEAR-7] mutant kvm-clear-range-aligned deviates from the reference: CLEAR of the one page of a 1-page slot (num_pages 1, to its end) is -EINVAL', () =>
  kvmLogDeviates('kvm-clear-range-aligned', [kvmManual(1n), kvmCreate(1), kvmClear('zero', 'toEnd')], 'KVM-CLEAR-7'),
);
directed('[KVM-CLEAR-7] mutant kvm-clear-reads-slot-bitmap deviates from the reference: CLEAR of 0 pages with a 0-byte buffer is -EFAULT', () =>
  kvmLogDeviates('kvm-clear-reads-slot-bitmap', [kvmManual(1n), kvmCreate(1), kvmClear('zero', 'zero')], 'KVM-CLEAR-7'),
);
directed('[KVM-PT-7] [NOLOSS-1] mutant kvm-no-pml-sync deviates from the reference: with a hardware dirty bit, a write logged by PML is missing from GET', () =>
  kvmLogDeviates('kvm-no-pml-sync', [kvmCreate(64), kvmWrite(3), kvmGet(), kvmWrite(3)], 'NOLOSS-1', { ...KVM_LOG, hwDirty: true }),
);
directed('[KVM-LOG-5] [NOLOSS-1] mutant kvm-pml-full-dropped deviates from the reference: with a hardware dirty bit, 600 clean pages written past a full PML buffer are missing from GET', () =>
  kvmLogDeviates('kvm-pml-full-dropped', [kvmCreate(1024), { k: 'flood', pick: 0, from: 0, count: 600 }, kvmGet(), { k: 'flood', pick: 0, from: 0, count: 600 }, kvmGet()], 'NOLOSS-1', { ...KVM_LOG, hwDirty: true }),
);
directed('[KVM-LOG-5] mutant kvm-get-protects-first-word deviates from the reference: page 70, in the second word GET took, stays writable, so the next GET misses its write', () =>
  kvmLogDeviates('kvm-get-protects-first-word', [kvmCreate(128), kvmWrite(3), kvmWrite(70), kvmGet(), kvmWrite(70)], 'KVM-LOG-5'),
);
directed('[KVM-PT-1] mutant kvm-ring-only-fault-maps-huge deviates from the reference: with the dirty ring alone, the first write to a logging slot maps a 2 MiB leaf', () =>
  kvmLogDeviates('kvm-ring-only-fault-maps-huge', [kvmCreate(1024), kvmWrite(5)], 'KVM-PT-1', { ...KVM_LOG, dirtyRingExclusive: true }),
);
directed('[KVM-PT-8] mutant kvm-fault-no-mark deviates from the reference: the write after GET re-protected the page faults and leaves the page writable with its bit clear', () =>
  kvmLogDeviates('kvm-fault-no-mark', [kvmCreate(64), kvmWrite(3), kvmGet(), kvmWrite(3)], 'KVM-PT-8'),
);
directed('[KVM-CLEAR-7] [NOLOSS-1] mutant kvm-clear-whole-word deviates from the reference: CLEAR of page 0 also forgets dirty page 1', () =>
  kvmLogDeviates('kvm-clear-whole-word', [kvmManual(1n), kvmCreate(64), kvmWrite(0), kvmWrite(1), kvmGet(), kvmClear('zero', 'n64', 'some', [0])], 'NOLOSS-1'),
);
directed('[KVM-CLEAR-2] mutant kvm-first-page-unchecked deviates from the reference: CLEAR at first_page 32 returns 0', () =>
  kvmLogDeviates('kvm-first-page-unchecked', [kvmManual(1n), kvmCreate(128), kvmClear('unaligned', 'n64')], 'KVM-CLEAR-2'),
);
directed('[KVM-SLOT-16] [NOLOSS-1] mutant kvm-move-drops-bitmap deviates from the reference: a page written before the slot moved is not reported after', () =>
  kvmLogDeviates('kvm-move-drops-bitmap', [kvmCreate(64), kvmWrite(7), { k: 'region', pick: 0, kind: 'move', pages: 64, flags: LOG }], 'NOLOSS-1'),
);
directed('[KVM-PT-15] [NOLOSS-1] mutant kvm-move-no-zap deviates from the reference: a page written before the slot moved away and back is written again unrecorded', () =>
  kvmLogDeviates('kvm-move-no-zap', [kvmCreate(64), kvmWrite(20), { k: 'region', pick: 0, kind: 'move', pages: 64, flags: LOG }, kvmGet(), { k: 'region', pick: 0, kind: 'move', pages: 64, flags: LOG }, kvmWrite(20), kvmGet()], 'NOLOSS-1'),
);
directed('[KVM-PT-15] [NOLOSS-1] mutant kvm-delete-no-zap deviates from the reference: a page written before the slot was deleted and made again is written again unrecorded', () =>
  kvmLogDeviates('kvm-delete-no-zap', [kvmCreate(64), kvmWrite(21), { k: 'region', pick: 0, kind: 'delete', pages: 64, flags: 0 }, kvmCreate(64), kvmWrite(21), kvmGet()], 'NOLOSS-1'),
);

// ---- KVM dirty ring mutants: one fixed scenario each, replayed through the reference and the mutant ----

const X86_RING = { arch: 'x86', ringBytes: 4096, vcpus: 1, withBitmap: false, late: false, enables: [] } as const;
/** arm64: weakly ordered, where a relaxed flags access of KVM's is a bug (on x86-TSO it is ordered: Linux v5.11 has them). */
const ARM_RING = { ...X86_RING, arch: 'arm64' } as const;
const ONE_RING = { vcpus: 1, withBitmap: false, pml: false } as const;

/**
 * The reference (the profile's, or `reference` where the mutant's interface needs another:
 * signal checks, a TLB) passes `sc`, its steps in `trace`; mutant `name` fails it with a
 * violation naming `req`, returned for the caller's further checks.
 */
async function ringDeviates(name: string, sc: RingScenario | CollectorScenario, req: string, reference?: KvmDirtyRingAdapter, trace: TraceStep[] = []): Promise<Violation> {
  const m = findMutant(name)!;
  const replay = (adapter: unknown, steps: TraceStep[]) =>
    m.profile === 'kvm-dirty-ring' ? replayKvmDirtyRingScenario(adapter as KvmDirtyRingAdapter, sc, 2000, steps) : replayDirtyRingCollectorScenario(adapter as DirtyRingCollectorAdapter, sc, 2000, steps);
  await replay(reference ?? profileOf(m.profile as 'kvm-dirty-ring' | 'dirty-ring-collector').reference(), trace);
  try {
    await replay(m.adapter, []);
  } catch (e) {
    assert.instance(e, Violation, String(e));
    assert.ok((e as Violation).req.includes(req), `${name}: ${String(e)}`);
    return e as Violation;
  }
  assert.unreachable(`${name} passed the scenario`);
  throw new Error('unreachable');
}

directed('[KVM-RING-12] mutant ring-soft-limit-no-reserve deviates from the reference: 192 writes on a 256-entry ring do not exit KVM_EXIT_DIRTY_RING_FULL at the soft limit', () =>
  ringDeviates('ring-soft-limit-no-reserve', { config: X86_RING, ops: [{ k: 'run', vcpu: 0, slot: 0, start: 0, count: 192, stride: 1 }], delays: [] }, 'KVM-RING-12'),
);

directed('[KVM-RING-16] [KVM-RING-17] mutant ring-reset-merges-slots deviates from the reference: an entry rewritten to a slot that does not exist is merged with its slot-0 neighbour, which is then not re-protected', () =>
  ringDeviates(
    'ring-reset-merges-slots',
    { config: X86_RING, ops: [{ k: 'run', vcpu: 0, slot: 0, start: 0, count: 2, stride: 1 }, { k: 'harvest', vcpu: 0, max: 2 }, { k: 'hostile', vcpu: 0, pick: 0, kind: 'noSlot' }, { k: 'reset' }], delays: [] },
    'KVM-RING-16',
  ),
);

directed('[KVM-RING-11] mutant ring-push-drops-address-space deviates from the reference: a write to the memslot of address space 1 is pushed as slot 0 (address space 0)', () =>
  ringDeviates(
    'ring-push-drops-address-space',
    {
      config: X86_RING,
      ops: [
        { k: 'run', vcpu: 0, slot: 1, start: 3, count: 1, stride: 1 },
        { k: 'harvest', vcpu: 0, max: 1024 },
      ],
      delays: [],
    },
    'KVM-RING-11',
  ),
);

directed('[KVM-RING-18] mutant ring-reset-offset-wraps deviates from the reference: the hostile pair (offset 2^64 - 63, then 0) re-protects page 0', () =>
  ringDeviates(
    'ring-reset-offset-wraps',
    { config: X86_RING, ops: [{ k: 'run', vcpu: 0, slot: 0, start: 0, count: 2, stride: 1 }, { k: 'harvest', vcpu: 0, max: 1024 }, { k: 'hostile', vcpu: 0, pick: 0, kind: 'wrap' }, { k: 'reset' }], delays: [] },
    'KVM-RING-18',
  ),
);

directed('[KVM-RING-22] mutant ring-push-flags-first deviates from the reference: with the first relaxed store 2 steps late, the collector acquires DIRTY and reads a stale slot', () =>
  ringDeviates(
    'ring-push-flags-first',
    {
      config: X86_RING,
      ops: [
        { k: 'run', vcpu: 0, slot: 1, start: 0, count: 1, stride: 1 },
        { k: 'harvest', vcpu: 0, max: 1024 },
      ],
      delays: [2],
    },
    'KVM-RING-22',
  ),
);

directed('[KVM-RING-22] mutant ring-push-flags-relaxed deviates from the reference on arm64: a relaxed DIRTY visible before the slot and offset stored ahead of it', () =>
  ringDeviates(
    'ring-push-flags-relaxed',
    {
      config: ARM_RING,
      ops: [
        { k: 'run', vcpu: 0, slot: 0, start: 0, count: 2, stride: 1 },
        { k: 'harvest', vcpu: 0, max: 1024 },
        { k: 'run', vcpu: 0, slot: 0, start: 0, count: 1, stride: 1 },
      ],
      delays: [1, 0, 0, 0, 2],
    },
    'KVM-RING-22',
  ),
);

directed('[KVM-RING-18] mutant ring-reset-flags-relaxed deviates from the reference on arm64: a reset reading RESET relaxed acts on the slot the hostile collector replaced', () =>
  ringDeviates(
    'ring-reset-flags-relaxed',
    {
      config: ARM_RING,
      ops: [{ k: 'run', vcpu: 0, slot: 0, start: 0, count: 1, stride: 1 }, { k: 'harvest', vcpu: 0, max: 1 }, { k: 'hostile', vcpu: 0, pick: 0, kind: 'otherSlot' }, { k: 'reset' }],
      delays: [2],
    },
    'KVM-RING-18',
  ),
);

directed('[KVM-RING-15] mutant ring-reset-consumes-dirty deviates from the reference: a reset before any harvest consumes the dirty entry', () =>
  ringDeviates('ring-reset-consumes-dirty', { config: X86_RING, ops: [{ k: 'run', vcpu: 0, slot: 0, start: 0, count: 1, stride: 1 }, { k: 'reset' }], delays: [] }, 'KVM-RING-15'),
);

directed('[KVM-RING-7] mutant ring-enable-after-vcpu deviates from the reference: KVM_ENABLE_CAP(DIRTY_LOG_RING) after KVM_CREATE_VCPU returns 0', () =>
  ringDeviates('ring-enable-after-vcpu', { config: { ...X86_RING, late: true }, ops: [{ k: 'reset' }], delays: [] }, 'KVM-RING-7'),
);

directed('[KVM-RING-22] mutant collector-fields-before-flags deviates from the reference: with the offset store 2 steps late, the collector copies page 0 instead of page 1', () =>
  ringDeviates(
    'collector-fields-before-flags',
    {
      config: ONE_RING,
      ops: [
        { k: 'guest', vcpu: 0, slot: 0, start: 1, count: 1, stride: 1 },
        { k: 'sync', injects: [] },
      ],
      delays: [0, 2],
    },
    'KVM-RING-22',
  ),
);

directed('[KVM-RING-22] mutant collector-flags-relaxed deviates from the reference: a relaxed load of DIRTY does not carry the late offset store with it', () =>
  ringDeviates(
    'collector-flags-relaxed',
    {
      config: ONE_RING,
      ops: [
        { k: 'guest', vcpu: 0, slot: 0, start: 1, count: 1, stride: 1 },
        { k: 'sync', injects: [] },
      ],
      delays: [0, 2],
    },
    'KVM-RING-22',
  ),
);

directed('[KVM-RING-20] mutant collector-copy-before-reset deviates from the reference: a guest write between the copy of page 0 and the reset is never sent', () =>
  ringDeviates(
    'collector-copy-before-reset',
    {
      config: ONE_RING,
      ops: [
        { k: 'guest', vcpu: 0, slot: 0, start: 0, count: 1, stride: 1 },
        { k: 'sync', injects: [{ at: 1, what: 'lastCopied', slot: 0, offset: 0 }] },
      ],
      delays: [],
    },
    'KVM-RING-20',
  ),
);

directed('[KVM-RING-13] mutant collector-skips-wrapped-index deviates from the reference: after 256 pushes the entry 0 of the second lap is never harvested', () =>
  ringDeviates(
    'collector-skips-wrapped-index',
    {
      config: ONE_RING,
      ops: [
        { k: 'guest', vcpu: 0, slot: 0, start: 0, count: 150, stride: 1 },
        { k: 'sync', injects: [] },
        { k: 'guest', vcpu: 0, slot: 0, start: 150, count: 106, stride: 1 },
        { k: 'sync', injects: [] },
        { k: 'guest', vcpu: 0, slot: 1, start: 0, count: 1, stride: 1 },
      ],
      delays: [],
    },
    'KVM-RING-23',
  ),
);

directed("[KVM-RING-14] mutant collector-reset-before-read deviates from the reference: it stores RESET on the entry of page 3 before it loads the entry's slot and offset", async () => {
  const v = await ringDeviates(
    'collector-reset-before-read',
    {
      config: ONE_RING,
      ops: [
        { k: 'guest', vcpu: 0, slot: 0, start: 3, count: 1, stride: 1 },
        { k: 'sync', injects: [] },
      ],
      delays: [],
    },
    'KVM-RING-14',
  );
  assert.match(v.actual, /slot and offset not read/);
});

directed('[KVM-RING-23] mutant collector-drops-address-space deviates from the reference: a page written in address space 1 is copied from the memslot of address space 0', () =>
  ringDeviates(
    'collector-drops-address-space',
    {
      config: ONE_RING,
      ops: [
        { k: 'guest', vcpu: 0, slot: 1, start: 3, count: 1, stride: 1 },
        { k: 'sync', injects: [] },
      ],
      delays: [],
    },
    'KVM-RING-23',
  ),
);

directed('[KVM-RING-23] mutant collector-never-resets deviates from the reference: page 0 written again after the first sync pushes nothing and is never sent again', () =>
  ringDeviates(
    'collector-never-resets',
    {
      config: ONE_RING,
      ops: [
        { k: 'guest', vcpu: 0, slot: 0, start: 0, count: 1, stride: 1 },
        { k: 'sync', injects: [] },
        { k: 'guest', vcpu: 0, slot: 0, start: 0, count: 1, stride: 1 },
      ],
      delays: [],
    },
    'KVM-RING-23',
  ),
);

directed('[KVM-RING-21] mutant collector-ignores-bitmap deviates from the reference: a page KVM wrote without a vCPU is in the WITH_BITMAP bitmap, never read', () =>
  ringDeviates('collector-ignores-bitmap', { config: { ...ONE_RING, withBitmap: true }, ops: [{ k: 'noVcpu', slot: 0, offset: 0 }], delays: [] }, 'KVM-RING-23'),
);

directed("[KVM-RING-13] mutant collector-first-ring-only deviates from the reference: vCPU 1's push is never harvested", () =>
  ringDeviates('collector-first-ring-only', { config: { ...ONE_RING, vcpus: 2 }, ops: [{ k: 'guest', vcpu: 1, slot: 0, start: 0, count: 1, stride: 1 }], delays: [] }, 'KVM-RING-23'),
);

directed('[KVM-RING-13] mutant collector-harvest-cap deviates from the reference: the final sync leaves 36 of 100 entries in the ring', () =>
  ringDeviates('collector-harvest-cap', { config: ONE_RING, ops: [{ k: 'guest', vcpu: 0, slot: 0, start: 0, count: 100, stride: 1 }], delays: [] }, 'KVM-RING-23'),
);

directed("[KVM-LOG-9] [NOLOSS-1] mutant kvm-no-vcpu-write-unmarked deviates from the reference: a page KVM writes itself (kvm_write_guest, no running vCPU) is missing from the next GET's report", async () => {
  const sc = { kind: 'ops', config: KVM_LOG, ops: [kvmCreate(64), kvmGet()], kvmWrites: [{ after: 0, pick: 0, page: 9 }] };
  const trace: TraceStep[] = [];
  await replayKvmDirtyLogScenario(profileOf('kvm-dirty-log').reference(), sc, 2000, trace);
  assert.ok(
    trace.some((s) => s.req.includes('KVM-LOG-9')),
    'the report that holds page 9 checks KVM-LOG-9',
  );
  try {
    await replayKvmDirtyLogScenario(findMutant('kvm-no-vcpu-write-unmarked')!.adapter as KvmDirtyLogAdapter, sc, 2000, []);
  } catch (e) {
    assert.instance(e, Violation, String(e));
    assert.is((e as Violation).kind, 'loss');
    assert.ok((e as Violation).req.includes('KVM-LOG-9') && (e as Violation).req.includes('NOLOSS-1'), String(e));
    return;
  }
  assert.unreachable('page 9 was reported');
});
directed('[KVM-RING-24] [KVM-RING-16] mutant ring-reset-signal-drops-batch deviates from the reference that checks signals: a reset signalled at its second check has consumed page 0, whose page it leaves writable', async () => {
  const sc: RingScenario = {
    config: X86_RING,
    ops: [{ k: 'run', vcpu: 0, slot: 0, start: 0, count: 3, stride: 1 }, { k: 'harvest', vcpu: 0, max: 1024 }, { k: 'reset' }],
    delays: [],
    signals: [1],
  };
  const trace: TraceStep[] = [];
  const v = await ringDeviates('ring-reset-signal-drops-batch', sc, 'KVM-RING-24', referenceKvmDirtyRingAdapter('reference', KvmDirtyRingVm, 0, true), trace);
  assert.is(trace.find((s) => s.op.startsWith('KVM_RESET_DIRTY_RINGS'))!.answer, '1', 'the reference stops after one entry');
  assert.is(v.kind, 'loss');
  assert.equal(v.req, ['KVM-RING-24', 'KVM-RING-16']);
});

directed(
  '[KVM-RING-16] [KVM-RING-11] mutant ring-reset-flush-first deviates from the reference (a KVM with a TLB that flushes after the protection): vCPU 0 writing page 1 during the reset caches it writable past its protection, and the next write pushes nothing',
  async () => {
    const sc: RingScenario = {
      config: X86_RING,
      ops: [{ k: 'run', vcpu: 0, slot: 0, start: 0, count: 3, stride: 1 }, { k: 'harvest', vcpu: 0, max: 1024 }, { k: 'reset' }],
      delays: [],
      resetRaces: [{ at: 0, pick: 1 }],
    };
    const v = await ringDeviates('ring-reset-flush-first', sc, 'KVM-RING-16', referenceKvmDirtyRingAdapter('tlb', TlbVm));
    assert.is(v.kind, 'loss');
    assert.equal(v.req, ['KVM-RING-16', 'KVM-RING-11']);
  },
);

test.run();
