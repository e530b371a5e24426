// Model-based refinement test: random sequences of map, unmap, DMA, split, merge,
// read-and-clear, TLB invalidation and tracking changes run on the reference
// implementation and on the spec model (model/descriptor-model.ts, machines stepped with
// xstate's pure transition()). After every step every raw descriptor must decode to the
// state its leaf machine predicts, every IOTLB entry must be one the IOTLB machine still
// allows, and every DMA result and dirty report must be the one the machines predict.
// DMA writes are injected between the driver's memory accesses during split and merge.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Level } from '../spec/descriptor/encoding.ts';
import { leafStateOf } from '../spec/descriptor/leaf-machine.ts';
import { checkDescriptors, checkTlb } from '../model/check-descriptors.ts';
import { DescriptorModel, type ExpectedDma } from '../model/descriptor-model.ts';
import { EEXIST, EOPNOTSUPP } from './errno.ts';
import { IOMMU_DIRTY_NO_CLEAR, IOMMU_READ, IOMMU_WRITE } from './pgtable/io-pgtable-arm.ts';
import type { DmaResult } from './smmu/smmu.ts';
import { createTestbed, type Testbed } from './testbed.ts';

const PAGE = 0x1000;
const MiB2 = 0x20_0000;
const WINDOW = 4 * MiB2; // IOVAs [0, 8 MiB): four 2 MiB regions
const NUM_RUNS = Number(process.env.REFINEMENT_RUNS ?? 3000);

interface Real {
  tb: Testbed;
  bbml: boolean;
  nextPa: number;
  streams: number[];
}

class Mismatch extends Error {}
const fail = (what: string): never => {
  throw new Mismatch(what);
};
const hex = (n: number) => `0x${n.toString(16)}`;

function sameDma(got: DmaResult, want: ExpectedDma, what: string): void {
  const g = got.ok ? `ok level ${got.level}` : `fault ${got.fault}`;
  const w = want.ok ? `ok level ${want.level}` : `fault ${want.fault}`;
  if (g !== w) fail(`${what}: implementation ${g}, spec ${w}`);
}

/** The IOTLB (it may have evicted entries, IOTLB-11, but holds none the spec invalidated) and the page table read from memory. */
function syncTlb(m: DescriptorModel, r: Real): void {
  checkTlb(m, r.tb.smmu.iotlb.entries());
}

function compare(m: DescriptorModel, r: Real): void {
  syncTlb(m, r);
  checkDescriptors(m, (a) => r.tb.memory.load(a), r.tb.domain.pgtable.pgd, WINDOW);
}

/** Installs a hook that performs one DMA write at the `at`-th memory access of the driver operation. */
function inject(r: Real, at: number, iova: number): () => DmaResult | undefined {
  let count = 0;
  let result: DmaResult | undefined;
  r.tb.memory.hook = () => {
    if (count++ === at) result = r.tb.smmu.dmaWrite(r.streams[0]!, iova);
  };
  return () => {
    r.tb.memory.hook = undefined;
    return result;
  };
}

type Cmd = fc.Command<DescriptorModel, Real>;

class MapCmd implements Cmd {
  constructor(readonly page: number, readonly pages: number, readonly write: boolean, readonly aligned: boolean) {}
  check = () => true;
  run(m: DescriptorModel, r: Real): void {
    const iova = this.page * PAGE;
    const size = Math.min(this.pages * PAGE, WINDOW - iova);
    const pa = r.nextPa + (this.aligned ? 0 : PAGE);
    r.nextPa += 2 * WINDOW;
    const overlap = m.leavesIn(iova, size).length > 0;
    const ret = r.tb.domain.map(iova, pa, size, this.write ? IOMMU_READ | IOMMU_WRITE : IOMMU_READ);
    if (overlap) {
      if (ret !== -EEXIST) fail(`map over a mapped range returned ${ret}, spec -EEXIST (MAP-4)`);
    } else {
      if (ret !== 0) fail(`map returned ${ret}`);
      const created = [...r.tb.domain.pgtable.leaves(iova, size)].map((l) => ({ iova: l.iova, level: l.level as Level, oa: pa + (l.iova - iova) }));
      m.map(created, this.write);
    }
    compare(m, r);
  }
  toString = () => `map(${hex(this.page * PAGE)}, ${this.pages} pages, ${this.write ? 'rw' : 'r'}, ${this.aligned ? 'aligned' : 'unaligned'} pa)`;
}

class UnmapCmd implements Cmd {
  constructor(readonly page: number, readonly pages: number) {}
  check = () => true;
  run(m: DescriptorModel, r: Real): void {
    const iova = this.page * PAGE;
    const size = Math.min(this.pages * PAGE, WINDOW - iova);
    // A partly covered block is split first, as the driver does.
    for (let again = true; again; ) {
      again = false;
      for (const l of m.leavesIn(iova, size)) {
        if (l.iova < iova || l.iova + l.size > iova + size) {
          m.split(l.iova);
          again = true;
          break;
        }
      }
    }
    const got: string[] = [];
    const bytes = r.tb.domain.unmap(iova, size, (i, s) => got.push(`${hex(i)}+${hex(s)}`));
    const wantDirty = m.leavesIn(iova, size).filter((l) => leafStateOf(l.snap).state === 'writableDirty').map((l) => `${hex(l.iova)}+${hex(l.size)}`);
    const wantBytes = m.leavesIn(iova, size).reduce((a, l) => a + l.size, 0);
    m.unmap(iova, size);
    if (bytes !== wantBytes) fail(`unmap returned ${bytes} bytes, spec ${wantBytes}`);
    if (got.join() !== wantDirty.join()) fail(`unmap reported dirty [${got}], spec [${wantDirty}] (UNMAP-1)`);
    compare(m, r);
  }
  toString = () => `unmap(${hex(this.page * PAGE)}, ${this.pages} pages)`;
}

/** Picks a target IOVA: a mapped leaf (biased to its edges) or anywhere in the window. */
function target(m: DescriptorModel, pick: number, offset: number): number {
  const leaves = [...m.leaves.values()];
  if (leaves.length === 0 || pick % 5 === 4) return (offset * PAGE) % WINDOW;
  const l = leaves[pick % leaves.length]!;
  const edge = [0, l.size - 1, (offset * PAGE) % l.size][pick % 3]!;
  return l.iova + edge;
}

class DmaCmd implements Cmd {
  constructor(readonly write: boolean, readonly pick: number, readonly offset: number, readonly stream: number) {}
  check = () => true;
  run(m: DescriptorModel, r: Real): void {
    syncTlb(m, r);
    const iova = target(m, this.pick, this.offset);
    const streamId = r.streams[this.stream % r.streams.length]!;
    const got = this.write ? r.tb.smmu.dmaWrite(streamId, iova) : r.tb.smmu.dmaRead(streamId, iova);
    sameDma(got, m.dma(iova, this.write, streamId), `DMA ${this.write ? 'write' : 'read'} ${hex(iova)}`);
    compare(m, r);
  }
  toString = () => `dma${this.write ? 'Write' : 'Read'}(pick ${this.pick}, offset ${this.offset}, stream #${this.stream})`;
}

/** Applies an injected DMA to the model on the side of the structural change the implementation's walk saw. */
function applyInjected(m: DescriptorModel, r: Real, got: DmaResult | undefined, iova: number, beforeLevel: number, change: (model: DescriptorModel) => void): void {
  if (got === undefined) return change(m);
  if (!got.ok && got.fault === 'translation' && !r.bbml) return change(m); // break-before-make window (SPLIT-2)
  // A successful access names the leaf it went through, which says the order; a fault
  // does not, so the order before the change is tried first, then the one after.
  const beforeFirst = got.ok ? got.level === beforeLevel : (() => {
    const c = m.clone();
    const want = c.dma(iova, true, r.streams[0]!);
    return !want.ok && want.fault === got.fault;
  })();
  if (beforeFirst) {
    sameDma(got, m.dma(iova, true, r.streams[0]!), `DMA write ${hex(iova)} injected before the change`);
    return change(m);
  }
  change(m);
  sameDma(got, m.dma(iova, true, r.streams[0]!), `DMA write ${hex(iova)} injected after the change`);
}

class SplitCmd implements Cmd {
  constructor(readonly pick: number, readonly at: number | undefined, readonly offset: number) {}
  check = () => true;
  run(m: DescriptorModel, r: Real): void {
    syncTlb(m, r);
    const blocks = [...m.leaves.values()].filter((l) => l.level < 3);
    if (blocks.length === 0) return;
    const b = blocks[this.pick % blocks.length]!;
    const iova = b.iova + ((this.offset * PAGE) % b.size);
    const done = this.at === undefined ? () => undefined : inject(r, this.at, iova);
    const ret = r.tb.domain.pgtable.splitBlock(b.iova);
    const got = done();
    if (ret !== 0) fail(`splitBlock(${hex(b.iova)}) returned ${ret}`);
    applyInjected(m, r, got, iova, b.level, (model) => model.split(b.iova));
    compare(m, r);
  }
  toString = () => `split(pick ${this.pick}${this.at === undefined ? '' : `, DMA write at access ${this.at} to +${this.offset} pages`})`;
}

class MergeCmd implements Cmd {
  constructor(readonly region: number, readonly at: number | undefined, readonly offset: number) {}
  check = () => true;
  run(m: DescriptorModel, r: Real): void {
    syncTlb(m, r);
    const base = (this.region % (WINDOW / MiB2)) * MiB2;
    const mergeable = m.merge(base, 2, true);
    const iova = base + ((this.offset * PAGE) % MiB2);
    const done = this.at === undefined || !mergeable ? () => undefined : inject(r, this.at, iova);
    const ret = r.tb.domain.pgtable.mergePages(base, 2);
    const got = done();
    if ((ret === 0) !== mergeable) fail(`mergePages(${hex(base)}) returned ${ret}, spec says ${mergeable ? 'mergeable' : 'not mergeable'}`);
    if (mergeable) applyInjected(m, r, got, iova, 3, (model) => model.merge(base, 2));
    compare(m, r);
  }
  toString = () => `merge(${hex((this.region % (WINDOW / MiB2)) * MiB2)}${this.at === undefined ? '' : `, DMA write at access ${this.at} to +${this.offset} pages`})`;
}

class ReadAndClearCmd implements Cmd {
  constructor(readonly page: number, readonly pages: number, readonly noClear: boolean) {}
  check = () => true;
  run(m: DescriptorModel, r: Real): void {
    syncTlb(m, r);
    const iova = this.page * PAGE;
    const size = Math.min(this.pages * PAGE, WINDOW - iova);
    const got: string[] = [];
    const ret = r.tb.domain.pgtable.readAndClearDirty(iova, size, this.noClear ? IOMMU_DIRTY_NO_CLEAR : 0, (i, s) => got.push(`${hex(i)}+${hex(s)}`));
    if (ret !== 0) fail(`readAndClearDirty returned ${ret}`);
    const want = m.readAndClearDirty(iova, size, this.noClear).map((x) => `${hex(x.iova)}+${hex(x.size)}`);
    if (got.join() !== want.join()) fail(`readAndClearDirty(${hex(iova)}, ${hex(size)}) recorded [${got}], spec [${want}] (CLEAR-1)`);
    compare(m, r);
  }
  toString = () => `readAndClearDirty(${hex(this.page * PAGE)}, ${this.pages} pages${this.noClear ? ', NO_CLEAR' : ''})`;
}

class InvalidateCmd implements Cmd {
  constructor(readonly page: number, readonly pages: number, readonly all: boolean) {}
  check = () => true;
  run(m: DescriptorModel, r: Real): void {
    syncTlb(m, r);
    const asid = r.tb.domain.options.asid;
    if (this.all) {
      r.tb.smmu.submit([{ op: 'CMD_TLBI_NH_ASID', asid }, { op: 'CMD_SYNC' }]);
      m.invalidate(0, 2 ** 48);
    } else {
      r.tb.smmu.submit([{ op: 'CMD_TLBI_NH_VA', asid, iova: this.page * PAGE, size: this.pages * PAGE }, { op: 'CMD_SYNC' }]);
      m.invalidate(this.page * PAGE, this.pages * PAGE);
    }
    compare(m, r);
  }
  toString = () => (this.all ? 'CMD_TLBI_NH_ASID + CMD_SYNC' : `CMD_TLBI_NH_VA(${hex(this.page * PAGE)}, ${this.pages} pages) + CMD_SYNC`);
}

class TrackingCmd implements Cmd {
  constructor(readonly enable: boolean) {}
  check = () => true;
  run(m: DescriptorModel, r: Real): void {
    syncTlb(m, r);
    const ret = r.tb.domain.setDirtyTracking(this.enable);
    const steps = m.setDirtyTracking(this.enable);
    const want = steps.includes('rejectEopnotsupp') ? -EOPNOTSUPP : 0;
    if (ret !== want) fail(`setDirtyTracking(${this.enable}) returned ${ret}, spec ${want}`);
    compare(m, r);
  }
  toString = () => `setDirtyTracking(${this.enable})`;
}

class AttachCmd implements Cmd {
  check = (m: DescriptorModel) => m !== undefined;
  run(m: DescriptorModel, r: Real): void {
    const streamId = r.streams.length + 10;
    if (r.tb.domain.attach(streamId) !== 0) fail(`attach(${streamId}) failed`);
    m.attachStream(streamId);
    r.streams.push(streamId);
    compare(m, r);
  }
  toString = () => 'attach another stream (TRACK-7)';
}

const page = fc.nat(WINDOW / PAGE - 1);
const pages = fc.oneof(fc.integer({ min: 1, max: 8 }), fc.constantFrom(512, 1024, 511, 513));
const injectAt = fc.option(fc.oneof(fc.nat(16), fc.nat(1100)), { nil: undefined, freq: 3 });
const commands = fc.commands(
  [
    fc.tuple(page.map((p) => p - (p % 512)), fc.constantFrom(512, 1024), fc.boolean(), fc.constant(true)).map(([p, n, w, a]) => new MapCmd(p, n, w, a)),
    fc.tuple(page.map((p) => p - (p % 512)), fc.constantFrom(512, 1024), fc.constant(true), fc.constant(true)).map(([p, n, w, a]) => new MapCmd(p, n, w, a)),
    fc.tuple(page, pages, fc.boolean(), fc.boolean()).map(([p, n, w, a]) => new MapCmd(p, n, w, a)),
    fc.tuple(page, pages).map(([p, n]) => new UnmapCmd(p, n)),
    fc.tuple(fc.boolean(), fc.nat(), fc.nat(1023), fc.nat(3)).map(([w, p, o, s]) => new DmaCmd(w, p, o, s)),
    fc.tuple(fc.constant(true), fc.nat(), fc.nat(1023), fc.nat(3)).map(([w, p, o, s]) => new DmaCmd(w, p, o, s)),
    fc.tuple(fc.nat(), injectAt, fc.nat(511)).map(([p, at, o]) => new SplitCmd(p, at, o)),
    fc.tuple(fc.nat(3), injectAt, fc.nat(511)).map(([g, at, o]) => new MergeCmd(g, at, o)),
    fc.tuple(page, fc.oneof(pages, fc.constant(WINDOW / PAGE)), fc.boolean()).map(([p, n, nc]) => new ReadAndClearCmd(p, n, nc)),
    fc.constant(new ReadAndClearCmd(0, WINDOW / PAGE, false)),
    fc.tuple(page, pages, fc.boolean()).map(([p, n, a]) => new InvalidateCmd(p, n, a)),
    fc.boolean().map((e) => new TrackingCmd(e)),
    fc.constant(new TrackingCmd(true)),
    fc.constant(new AttachCmd()),
  ],
  // fast-check replays a command sequence only with its own replayPath: REFINEMENT_PATH is `<path>@<replayPath>`.
  { maxCommands: 30, ...(process.env.REFINEMENT_PATH?.includes('@') ? { replayPath: process.env.REFINEMENT_PATH.split('@')[1]! } : {}) },
);

const config = fc.record({
  bbml: fc.constantFrom(0, 2) as fc.Arbitrary<0 | 2>,
  httu: fc.constantFrom(2, 2, 2, 1) as fc.Arbitrary<1 | 2>,
  pageGranular: fc.boolean(),
  iotlbCapacity: fc.integer({ min: 1, max: 8 }),
  startTracking: fc.boolean(),
});

export function refinementProperty() {
  return fc.property(config, commands, (cfg, cmds) => {
    const { startTracking, ...options } = cfg;
    const tb = createTestbed({ ...options, streams: [0] });
    const model = new DescriptorModel(true, cfg.pageGranular, cfg.httu === 2);
    model.httu = cfg.httu;
    model.attachStream(0);
    if (startTracking) {
      tb.domain.setDirtyTracking(true);
      model.setDirtyTracking(true);
    }
    fc.modelRun(() => ({ model, real: { tb, bbml: cfg.bbml !== 0, nextPa: 0x1_0000_0000, streams: [0] } }), cmds);
  });
}

test(`[MAP-1] [UNMAP-1] [HTTU-2] [CLEAR-1] [SPLIT-1] [SPLIT-2] [MERGE-1] [IOTLB-9] [TRACK-2] the reference refines the spec machines over ${NUM_RUNS} random sequences`, () => {
  const seed = process.env.REFINEMENT_SEED === undefined ? undefined : Number(process.env.REFINEMENT_SEED);
  const path = process.env.REFINEMENT_PATH?.split('@')[0];
  const details = fc.check(refinementProperty(), { numRuns: NUM_RUNS, ...(seed === undefined ? {} : { seed }), ...(path === undefined ? {} : { path }) });
  if (details.failed) {
    const replayPath = /replayPath="([^"]*)"/.exec(String(details.counterexample?.[1]))?.[1] ?? '';
    const replay = `REFINEMENT_SEED=${details.seed} REFINEMENT_PATH='${details.counterexamplePath}@${replayPath}' node --import tsx impl/descriptor-refinement.test.ts`;
    assert.unreachable(`${String(details.errorInstance)}\n${fc.defaultReportMessage(details)}\n\nreplay: ${replay}`);
  }
});

test.run();
