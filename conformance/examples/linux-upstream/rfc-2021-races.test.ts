// The RFC code's behaviours that the engine once judged against the rfc-2021 contract
// wrongly, each as the sequence that showed it on this adapter (seed 34 of
// `dirtyspec run --adapter conformance/examples/linux-upstream/rfc-2021.ts --profile
// smmu-driver`, and seed 2 before it). The adapter must conform on each; a fault that
// only looks like the RFC's behaviour must not.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dirtyBitmapBytes } from '../../../spec/bitmap/dirty-bitmap.ts';
import { contracts } from '../../../spec/contracts/index.ts';
import type { SmmuDriverAdapter } from '../../adapters/types.ts';
import { AttachCommand, MapCommand, MergeCommand, ReadAndClearCommand, RefillCommand, type RunCommand, type TraceStep, TrackingCommand, UnmapCommand } from '../../engine/commands.ts';
import { replaySmmuSequence } from '../../engine/run-profile.ts';
import { Violation } from '../../../model/violation.ts';
import { rfc2021Adapter } from './rfc-2021.ts';
import { shownTrace as shown, traceStep as step } from '../../engine/trace-steps.ts';

const CONFIG = { httu: 2 as const, bbml: 2 as const, iotlbCapacity: 1, dirtyCapable: true, pageGranular: true, startTracking: true };
const MiB2 = 0x20_0000;

async function replay(commands: readonly RunCommand[], adapter: SmmuDriverAdapter = rfc2021Adapter()): Promise<TraceStep[]> {
  const trace: TraceStep[] = [];
  await replaySmmuSequence(adapter, { config: CONFIG, commands }, 5000, trace, contracts['rfc-2021']);
  return trace;
}

test('[TRACK-R3] stop merges within one mapping: a 2 MiB region two map calls fill, with contiguous output addresses, stays pages (was a false TRACK-R3)', async () => {
  const commands = [
    new AttachCommand(),
    new TrackingCommand(true),
    new MapCommand(0x401, 512, false, false),
    // The page before the map, at the output address the map's pages continue from: one run, two map calls.
    new RefillCommand(2, true, true),
    new TrackingCommand(false),
  ];
  const trace = await replay(commands);
  assert.is(step(trace, 'refill region 0x400000').op, 'refill region 0x400000 (its own output addresses, same permission) -> map(0x400000, 1 pages, r, pa 0x100000000)');
  assert.is(trace.filter((s) => s.op === 'setDirtyTracking(false)').at(-1)?.answer, '0');
});

test('[TRACK-R2, MERGE-R2] start splits per mapping too: a block merged over two mappings stays a block when tracking starts again (iommu_split_block reaches its size inside neither)', async () => {
  const commands = [
    new AttachCommand(),
    new TrackingCommand(true),
    new MapCommand(0x601, 511, true, true),
    new RefillCommand(3, true, true),
    new TrackingCommand(false),
    // The kit's own merge of the region (MERGE-R2: a writable-dirty block built from prot), which the caller never asks for.
    new MergeCommand(3, undefined),
    new TrackingCommand(true),
  ];
  const trace = await replay(commands);
  assert.is(step(trace, 'mergePages(0x600000, L2)').answer, '0', shown(trace));
  assert.is(trace.filter((s) => s.op === 'setDirtyTracking(true)').at(-1)?.answer, '0', shown(trace));
});

test('[CLEAR-R1, CLEAR-R2] a write racing a sync that reads a cut block page by page tears its report: the pages read after the write only, then -EINVAL on the cut block (was a false LOST)', async () => {
  const commands = [
    new AttachCommand(),
    new TrackingCommand(true),
    new MapCommand(0x400, 1024, false, true),
    new MapCommand(0, 1024, true, true),
    new ReadAndClearCommand(0, 2048, false),
    // The range starts one page into the clean block at 0: iommu_sync_dirty_log reads it once per page, the write lands after the first read.
    new ReadAndClearCommand(1, 512, false, { at: 1, offset: 0, aimed: true }),
  ];
  const trace = await replay(commands);
  assert.is(step(trace, 'readAndClearDirty(0x1000, 512 pages').answer, '-EINVAL, dirty [0x2000-0x1ff000 (510 pages)]');
  // The written page, not in the torn report, is still owed: the last report has it (the block stayed dirty).
  assert.ok(trace.at(-1)!.op.startsWith('final readAndClearDirty'), shown(trace));
});

/** The RFC adapter with an unmap that refuses every block the range cuts (0 bytes), raced or not. */
function refusingCutBlocks(): SmmuDriverAdapter {
  const inner = rfc2021Adapter('rfc-2021, cut blocks refused');
  return {
    ...inner,
    async create(memory, smmu, config) {
      const d = await inner.create(memory, smmu, config);
      if (typeof d === 'number') return d;
      return {
        ...d,
        unmap: async (iova, size) => (iova % MiB2 !== 0 || size % MiB2 !== 0 ? { unmapped: 0, dirty: new Uint8Array(dirtyBitmapBytes(size / 0x1000)) } : d.unmap(iova, size)),
      };
    },
  };
}

/** `commands` on an RFC adapter that refuses every cut block fail: the unmap should have split it. */
async function refusalFails(commands: readonly RunCommand[]): Promise<void> {
  try {
    await replay(commands, refusingCutBlocks());
    assert.unreachable('the refusing unmap conformed');
  } catch (e) {
    assert.instance(e, Violation);
    assert.match((e as Violation).message, /unmaps 0x1ff000 bytes/);
  }
}

const raceUnmap = (clearFirst: boolean) => [
  new AttachCommand(),
  new TrackingCommand(true),
  new MapCommand(0x600, 512, true, true),
  ...(clearFirst ? [new ReadAndClearCommand(0, 0, false, undefined, { pick: 0, before: 0 })] : []),
  new UnmapCommand(0x600, 511, { at: 1, offset: 0, aimed: true }),
];

test('[UNMAP-1] a write that dirties a clean block between the split read and its compare-exchange makes v5.12 give up: 0 bytes (was a false UNMAP-1)', async () => {
  const trace = await replay(raceUnmap(true));
  assert.is(step(trace, 'unmap(0x600000, 511 pages').answer.split(';')[0], '0x0 bytes, dirty []');
});

test('[UNMAP-1] a clean cut block, an unmap raced by no write that changed it: the split must go through, and refusing it fails', async () => {
  // At access 50 to the block's descriptor the write never comes: the split read it once and exchanged it.
  const commands = [...raceUnmap(true).slice(0, -1), new UnmapCommand(0x600, 511, { at: 50, offset: 0, aimed: true })];
  const trace = await replay(commands);
  assert.ok(step(trace, 'unmap(0x600000, 511 pages').answer.startsWith('0x1ff000 bytes'), shown(trace));
  await refusalFails(commands);
});

test('[UNMAP-1] a write to a block already dirty changes nothing: the split must go through, and an unmap that refuses the cut block fails', async () => {
  const trace = await replay(raceUnmap(false));
  assert.ok(step(trace, 'unmap(0x600000, 511 pages').answer.startsWith('0x1ff000 bytes'), shown(trace));
  await refusalFails(raceUnmap(false));
});

test.run();
