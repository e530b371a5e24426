// The smmu runs' high region (commands.ts HIGH): a 1 GiB block mapped, written, split to
// 2 MiB blocks and one of those to pages, read and cleared over part and whole, merged back
// and unmapped, all checked against the model; the page sets a 1 GiB leaf's report is
// compared as (PageRuns); and the generator's reach of it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PageRuns } from '../../model/ghost.ts';
import { referenceAdapters } from '../adapters/registry.ts';
import { DmaCommand, GiB, HIGH, MapCommand, MergeCommand, PAGE, ReadAndClearCommand, SplitCommand, type TraceStep, UnmapCommand } from './commands.ts';
import { replaySmmuSequence, runProfile, type SmmuSequenceInput } from './run-profile.ts';

const H = HIGH / PAGE;

test('PageRuns: a bitmap of whole bytes and single bits reads as runs, printed as a trace prints pages', () => {
  const bitmap = new Uint8Array(4);
  bitmap[0] = 0xff; // pages 0..7
  bitmap[1] = 0x01; // page 8: one run with the first byte
  bitmap[3] = 0x81; // pages 24 and 31
  const runs = PageRuns.fromBitmap(bitmap, 0x1000_0000);
  assert.is(runs.size, 11);
  assert.equal(runs.runs(), [
    [0x1000_0000, 0x1000_9000],
    [0x1001_8000, 0x1001_9000],
    [0x1001_f000, 0x1002_0000],
  ]);
  assert.ok(runs.has(0x1000_8000) && !runs.has(0x1000_9000) && runs.has(0x1001_f000));
  assert.is(runs.text(), '[0x10000000-0x10008000 (9 pages), 0x10018000, 0x1001f000]');
  assert.equal([...runs].length, 11);
});

test('PageRuns: runs added out of order merge where they touch; the pages one set lacks of another', () => {
  const a = new PageRuns();
  a.add(0x10_0000, 0x20_0000);
  a.add(0x30_0000, 0x40_0000);
  a.add(0x20_0000, 0x21_0000); // touches the first
  assert.equal(a.runs(), [
    [0x10_0000, 0x21_0000],
    [0x30_0000, 0x40_0000],
  ]);
  const b = PageRuns.of([0x10_0000, 0x10_1000, 0x38_0000]);
  assert.equal(a.minus(b).runs(), [
    [0x10_2000, 0x21_0000],
    [0x30_0000, 0x38_0000],
    [0x38_1000, 0x40_0000],
  ]);
  assert.is(b.minus(a).size, 0);
  assert.ok(a.copy().equals(a) && !a.equals(b));
});

test('a 1 GiB block through the high region on the reference (smmu-driver): mapped, written, split to 2 MiB blocks and one to pages, read, merged back at both levels, unmapped in part and whole', async () => {
  const trace: TraceStep[] = [];
  const input: SmmuSequenceInput = {
    config: { httu: 2, bbml: 2, iotlbCapacity: 4, dirtyCapable: true, pageGranular: false, startTracking: true },
    commands: [
      new MapCommand(H, GiB / PAGE, true, true),
      new DmaCommand(true, 2, 0x300, 0, undefined, undefined, true),
      new ReadAndClearCommand(H + 0x100, 512, true),
      new SplitCommand(0, undefined, true),
      new SplitCommand(1, undefined, true),
      new DmaCommand(true, 0, 0, 0, undefined, HIGH + 0x20_5000),
      new ReadAndClearCommand(H, GiB / PAGE, false),
      new MergeCommand(0, undefined, { level: 2 }),
      new MergeCommand(0, undefined, { level: 1 }),
      new UnmapCommand(H + 512, 512),
      new UnmapCommand(H, GiB / PAGE),
    ],
  };
  await replaySmmuSequence(referenceAdapters['smmu-driver'], input, 5000, trace);
  const steps = trace.map((s) => `${s.op} -> ${s.answer}`);
  const step = (prefix: string) => steps.find((s) => s.startsWith(prefix)) ?? `no step ${prefix} in\n${steps.join('\n')}`;
  assert.is(step('map(0x100000000, 262144 pages'), 'map(0x100000000, 262144 pages, rw, pa block-aligned) -> 0');
  assert.match(step('readAndClearDirty(0x100100000, 512 pages, IOMMU_DIRTY_NO_CLEAR'), /-> 0, dirty \[0x100100000-0x1002ff000 \(512 pages\)\]$/);
  assert.match(step('splitBlock(pick 0 in the high region) -> block 0x100000000 L1'), /-> 0$/);
  assert.match(step('splitBlock(pick 1 in the high region) -> block 0x100200000 L2'), /-> 0$/);
  // After the split, what was dirty in the 1 GiB block is dirty in every child: the whole block is reported.
  assert.match(step('readAndClearDirty(0x100000000, 262144 pages)'), /-> 0, dirty \[0x100000000-0x13ffff000 \(262144 pages\)\]$/);
  assert.match(step('mergePages(0x100200000, L2)'), /-> 0$/);
  assert.match(step('mergePages(0x100000000, L1)'), /-> 0$/);
  assert.match(step('unmap(0x100200000, 512 pages)'), /-> 0x200000 bytes/);
  assert.match(step('unmap(0x100000000, 262144 pages)'), /-> 0x3fe00000 bytes/);
});

test('the smmu-driver generator reaches the high region: of 300 sequences, some map the whole 1 GiB block, split, merge at level 1, read and unmap there', async () => {
  const ops: string[] = [];
  const r = await runProfile(referenceAdapters['smmu-driver'], {
    runs: 300,
    seed: 3,
    timeoutMs: 5000,
    maxCommands: 30,
    onSequence: (input) => {
      for (const c of (input as SmmuSequenceInput).commands) ops.push(String(c));
    },
  });
  assert.is(r.verdict, 'conforms');
  // The high region's IOVAs have nine hex digits (4 GiB to 5 GiB), the low window's at most six.
  for (const prefix of ['map(0x100000000, 262144 pages, rw, pa block-aligned)', 'splitBlock(pick', 'mergePages(0x100000000, L1', 'readAndClearDirty(0x1', 'unmap(0x1', 'dmaWrite(stream #0, pick']) {
    assert.ok(
      ops.some((o) => o.startsWith(prefix) && (prefix.startsWith('splitBlock') || prefix.startsWith('dma') ? o.includes('in the high region') : /^\w+\(0x1[0-3][0-9a-f]{7}[,)]/.test(o))),
      `no ${prefix} in the high region`,
    );
  }
});

test.run();
