// Scenario from the issue: 64 GiB mapped at 4 KiB pages in one dirty-capable domain,
// 1% of pages dirtied by DMA, then the cost of arm_lpae_read_and_clear_dirty over the
// whole range, with and without IOMMU_DIRTY_NO_CLEAR, and the memory a mapped page costs.
import { IommuDomain } from '../impl/domain.ts';
import { FRAME_SIZE, PhysicalMemory } from '../impl/memory/physical-memory.ts';
import { IOMMU_DIRTY_NO_CLEAR, IOMMU_READ, IOMMU_WRITE } from '../impl/pgtable/io-pgtable-arm.ts';
import { GRANULE, levelSize } from '../impl/pgtable/pte.ts';
import { Smmu } from '../impl/smmu/smmu.ts';
import type { Figure, Scenario } from './index.ts';

const SIZE = 64 * 2 ** 30;
const PAGES = SIZE / GRANULE; // 16,777,216 leaves
/** 4 KiB past a 2 MiB (and 1 GiB) boundary: no block can be used, every leaf is a level-3 page. */
const PADDR = 2 ** 39 + GRANULE;
const DIRTY_FRACTION = 0.01;
const STREAM = 1;
const SEED = 0x2545f491;

/** xorshift32: a small seeded PRNG, so every run dirties the same pages. */
function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`pgtable-scan: ${what}`);
}

function gc(): void {
  globalThis.gc?.();
}

function heapBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function seconds(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export const pgtableScan: Scenario = {
  name: 'pgtable-scan',
  run(log) {
    gc();
    const heapBefore = heapBytes();
    const memory = new PhysicalMemory();
    const smmu = new Smmu(memory, { httu: 2, bbml: 2 });
    const domain = new IommuDomain(smmu, memory, { asid: 1, dirtyCapable: true, pageGranular: false });
    check(domain.attach(STREAM) === 0, 'attach failed');
    const framesBefore = memory.frameCount; // the L0 table and the CD

    log(`mapping ${SIZE / 2 ** 30} GiB at 4 KiB pages (${PAGES} leaves)`);
    let ret = 0;
    const mapSeconds = seconds(() => (ret = domain.map(0, PADDR, SIZE, IOMMU_READ | IOMMU_WRITE)));
    check(ret === 0, `map returned ${ret}`);

    // Every leaf is a page: one L1 table, 64 L2 tables, and an L3 table per 2 MiB.
    const tables = memory.frameCount - framesBefore;
    const expectedTables = 1 + SIZE / levelSize(1) + SIZE / levelSize(2);
    check(tables === expectedTables, `expected ${expectedTables} new tables (all leaves level 3), got ${tables}`);
    const sample = xorshift32(SEED ^ 0x5a5a5a5a);
    for (let n = 0; n < 1000; n++) {
      const iova = (sample() % PAGES) * GRANULE;
      const leaves = [...domain.pgtable.leaves(iova, GRANULE)];
      check(leaves.length === 1 && leaves[0]!.level === 3, `leaf at 0x${iova.toString(16)} is not one level-3 page`);
      check(domain.pgtable.iovaToPhys(iova) === PADDR + iova, `wrong output address at 0x${iova.toString(16)}`);
    }

    gc();
    const heapPerPage = (heapBytes() - heapBefore) / PAGES;
    const tablePerPage = (memory.frameCount * FRAME_SIZE) / PAGES;
    const backingPerPage = memory.backingBytes / PAGES;

    log('setDirtyTracking(true): clearing every leaf');
    const enableSeconds = seconds(() => (ret = domain.setDirtyTracking(true)));
    check(ret === 0, `setDirtyTracking(true) returned ${ret}`);

    let count = 0;
    const record = (_iova: number, size: number): void => {
      count += size / GRANULE;
    };
    check(domain.readAndClearDirty(0, SIZE, IOMMU_DIRTY_NO_CLEAR, record) === 0 && count === 0, `${count} pages dirty right after enabling`);

    const writes = Math.round(PAGES * DIRTY_FRACTION);
    log(`dirtying ${writes} random pages with smmu.dmaWrite`);
    const dirtied = new Uint8Array(PAGES);
    let distinct = 0;
    const rand = xorshift32(SEED);
    const dmaSeconds = seconds(() => {
      for (let n = 0; n < writes; n++) {
        const page = rand() % PAGES;
        const r = smmu.dmaWrite(STREAM, page * GRANULE);
        check(r.ok && r.pa === PADDR + page * GRANULE, `dmaWrite of page ${page} failed: ${JSON.stringify(r)}`);
        if (dirtied[page] === 0) {
          dirtied[page] = 1;
          distinct++;
        }
      }
    });

    log('readAndClearDirty(IOMMU_DIRTY_NO_CLEAR)');
    count = 0;
    const noClearSeconds = seconds(() => (ret = domain.readAndClearDirty(0, SIZE, IOMMU_DIRTY_NO_CLEAR, record)));
    check(ret === 0 && count === distinct, `IOMMU_DIRTY_NO_CLEAR reported ${count} pages, ${distinct} were dirtied`);

    log('readAndClearDirty(0)');
    count = 0;
    const clearSeconds = seconds(() => (ret = domain.readAndClearDirty(0, SIZE, 0, record)));
    check(ret === 0 && count === distinct, `clearing pass reported ${count} pages, ${distinct} were dirtied`);

    count = 0;
    check(domain.readAndClearDirty(0, SIZE, 0, record) === 0 && count === 0, `second clearing pass reported ${count} pages, expected 0`);

    const figures: Figure[] = [
      { name: 'map time', value: mapSeconds, unit: 's' },
      { name: 'map rate', value: PAGES / mapSeconds, unit: 'pages/s' },
      { name: 'setDirtyTracking(true) time', value: enableSeconds, unit: 's' },
      { name: 'dmaWrite rate', value: writes / dmaSeconds, unit: 'writes/s' },
      { name: 'readAndClearDirty IOMMU_DIRTY_NO_CLEAR scan rate', value: PAGES / noClearSeconds, unit: 'leaves/s', target: { atLeast: 50e6 } },
      { name: 'readAndClearDirty clear scan rate', value: PAGES / clearSeconds, unit: 'leaves/s', target: { atLeast: 50e6 } },
      { name: 'page-table bytes per page', value: tablePerPage, unit: 'B/page', target: { atMost: 10 } },
      { name: 'backing bytes per page', value: backingPerPage, unit: 'B/page', target: { atMost: 10 } },
      { name: 'heap growth per page', value: heapPerPage, unit: 'B/page', target: { atMost: 10 } },
    ];
    log(`${distinct} distinct pages dirtied by ${writes} writes; ${smmu.stats.walks} walks, ${smmu.stats.tlbHits} IOTLB hits`);
    return figures.map((f) => ({ ...f, name: `${this.name}: ${f.name}` }));
  },
};
