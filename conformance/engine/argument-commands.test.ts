// The argument commands on a fixed sequence: four pages at 0 and a 2 MiB block at 2 MiB,
// tracking on, then one call the driver must refuse. The reference refuses it and changes
// nothing; a driver that takes the bad argument (the zoo's argument mutants) is caught
// with the rule's ID.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Violation } from '../../model/violation.ts';
import { referenceAdapters } from '../adapters/registry.ts';
import type { SmmuDriverAdapter } from '../adapters/types.ts';
import { argumentMutants } from '../mutants/argument-mutants.ts';
import { MapArgumentsCommand, MapAtIovaLimitCommand, MergeArgumentsCommand, ReadAndClearArgumentsCommand, SplitArgumentsCommand, UnmapArgumentsCommand } from './argument-commands.ts';
import { MapCommand, type RunCommand, type TraceStep } from './commands.ts';
import { replaySmmuSequence } from './run-profile.ts';

const mutant = (name: string) => argumentMutants.find((m) => m.name === name)!.adapter as SmmuDriverAdapter;

async function play(adapter: SmmuDriverAdapter, last: RunCommand): Promise<TraceStep[]> {
  const trace: TraceStep[] = [];
  const config = { httu: 2, bbml: 2, iotlbCapacity: 4, dirtyCapable: true, pageGranular: false, startTracking: true } as const;
  await replaySmmuSequence(adapter, { config, commands: [new MapCommand(0, 4, true, true), new MapCommand(512, 512, true, true), last] }, 5000, trace);
  return trace;
}

/** The reference passes the sequence with the command's step in the trace; the mutant fails it with `id`, at that step. */
async function refusedAndCaught(last: RunCommand, mutantName: string, id: string, answer: string): Promise<void> {
  const trace = await play(referenceAdapters['smmu-driver'], last);
  const step = trace.find((s) => s.req.includes(id));
  assert.ok(step !== undefined, `no step checked ${id}`);
  assert.is(step.answer, answer);
  try {
    await play(mutant(mutantName), last);
    assert.unreachable(`${mutantName} passed`);
  } catch (e) {
    if (!(e instanceof Violation)) throw e;
    assert.equal(e.req, [id]);
  }
}

test('[MAP-6] a map with a paddr off its page is -EINVAL and maps nothing; a driver that rounds it down is caught', async () => {
  await refusedAndCaught(new MapArgumentsCommand(['paddrUnaligned'], 0, true), 'map-paddr-rounded', 'MAP-6', '-EINVAL');
});

test('[MAP-7] a map with a paddr past 2^48 is -ERANGE; a driver that cuts the address to 48 bits is caught', async () => {
  await refusedAndCaught(new MapArgumentsCommand(['paddrPast'], 0, true), 'map-oas-unchecked', 'MAP-7', '-ERANGE');
});

test('[MAP-8] a map with neither IOMMU_READ nor IOMMU_WRITE maps nothing; a driver that maps it read-only is caught by the leaf it left', async () => {
  await refusedAndCaught(new MapArgumentsCommand(['noProt'], 0, true), 'map-no-prot-read-only', 'MAP-8', '-EINVAL');
});

test('[MAP-8] [MAP-7] a range crossing 2^48 with no prot is -EINVAL: the first chunk, below 2^48, fails the prot check first', async () => {
  const trace = await play(referenceAdapters['smmu-driver'], new MapArgumentsCommand(['iovaCrosses', 'noProt'], 0, true));
  const step = trace.at(-2)!;
  assert.match(step.op, /^map\(0xfffffffff000, .*prot 0\) \[iovaCrosses \+ noProt\]$/);
  assert.is(step.answer, '-EINVAL');
  assert.equal(step.req, ['MAP-8']);
});

test('[MAP-7] a map of the last pages below 2^48 maps them, and an unmap removes them; a driver that compares the end with 2^48 is caught', async () => {
  const trace = await play(referenceAdapters['smmu-driver'], new MapAtIovaLimitCommand(2, true));
  const map = trace.find((s) => s.op.startsWith('map(0xffffffffe000'));
  assert.ok(map !== undefined, 'no map of the last two pages');
  assert.is(map.answer, '0, leaves covering 0x2000 bytes');
  assert.ok(map.req.includes('MAP-7'));
  assert.is(trace.find((s) => s.op.startsWith('unmap(0xffffffffe000'))?.answer, '0x2000 bytes, 0 leaves left');
  try {
    await play(mutant('map-ias-off-by-one'), new MapAtIovaLimitCommand(2, true));
    assert.unreachable('map-ias-off-by-one passed');
  } catch (e) {
    if (!(e instanceof Violation)) throw e;
    assert.equal(e.req, ['MAP-7']);
  }
});

test('[UNMAP-2] an unmap at an iova off its page unmaps 0 bytes; a driver that rounds it down and unmaps is caught', async () => {
  await refusedAndCaught(new UnmapArgumentsCommand('iovaUnaligned', 0), 'unmap-iova-rounded', 'UNMAP-2', '0x0 bytes');
});

test('[CLEAR-5] a read-and-clear of size 0 is -EINVAL and reports nothing; a driver that reads and clears a page is caught', async () => {
  await refusedAndCaught(new ReadAndClearArgumentsCommand('sizeZero', 0, false), 'clear-size-zero-page', 'CLEAR-5', '-EINVAL');
});

test('[SPLIT-3] a split of a page is -EINVAL; a driver that answers 0 is caught', async () => {
  await refusedAndCaught(new SplitArgumentsCommand('page', 0), 'split-page-succeeds', 'SPLIT-3', '-EINVAL');
});

test('[MERGE-3] a merge at level 3 is -EINVAL; a driver that takes it as level 2 is caught over a hole', async () => {
  await refusedAndCaught(new MergeArgumentsCommand('badLevel', 3), 'merge-level-clamped', 'MERGE-3', '-EINVAL');
});

test('[SPLIT-3] a split where nothing is mapped is -ENOENT on the reference', async () => {
  const trace = await play(referenceAdapters['smmu-driver'], new SplitArgumentsCommand('hole', 0));
  assert.is(trace.find((s) => s.req.includes('SPLIT-3'))?.answer, '-ENOENT');
});

test.run();
