// UNMAP-U1 under linux-upstream holds both behaviours Linux has had for an unmap that cuts a
// block: v6.13 on refuses it (33729a5fc0ca), v6.11 and v6.12 split it
// (arm_lpae_split_blk_unmap, io-pgtable-arm-v6.12.ts). The split conforms when its pages
// keep the block's dirty state, and loses a page when they do not.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { KitMemory } from 'dirtyspec/adapters';
import { contracts } from '../../../spec/contracts/index.ts';
import { DmaCommand, MapCommand, ReadAndClearCommand, type RunCommand, TrackingCommand, type TraceStep, UnmapCommand } from '../../engine/commands.ts';
import { replaySmmuSequence } from '../../engine/run-profile.ts';
import { Violation } from '../../../model/violation.ts';
import { linuxUpstreamAdapter } from './adapter.ts';
import { ArmSmmuDomain } from './arm-smmu-v3.ts';
import type { ArmLpaeIoPgtable, IoPgtableCfg, IoPgtableFlushOps } from './io-pgtable-arm.ts';
import { linuxV612Adapter } from './io-pgtable-arm-v6.12.ts';
import { SplitMakesCleanPgtable } from '../../mutants/contract-mutants.ts';

class CleanSplitDomain extends ArmSmmuDomain {
  protected override allocPgtable(memory: KitMemory, cfg: IoPgtableCfg, tlb: IoPgtableFlushOps): ArmLpaeIoPgtable {
    return new SplitMakesCleanPgtable(memory, cfg, tlb);
  }
}

const CONFIG = { httu: 2 as const, bbml: 0 as const, iotlbCapacity: 1, dirtyCapable: true, pageGranular: false, startTracking: true };

/** A 2 MiB block at 4 MiB written at 0x5f0000, its second page unmapped, then the rest of it read and cleared. */
const cut = (): RunCommand[] => [new MapCommand(0x400, 512, true, true), new TrackingCommand(true), new DmaCommand(true, 0, 0, 0, undefined, 0x5f_0000), new UnmapCommand(0x401, 1), new ReadAndClearCommand(0x402, 510, false)];

/** The sequence replayed under linux-upstream: its trace, and the violation if it failed. */
async function replay(adapter: ReturnType<typeof linuxUpstreamAdapter>): Promise<{ trace: TraceStep[]; violation?: Violation }> {
  const trace: TraceStep[] = [];
  try {
    await replaySmmuSequence(adapter, { config: CONFIG, commands: cut() }, 5000, trace, contracts['linux-upstream']);
    return { trace };
  } catch (e) {
    if (e instanceof Violation) return { trace, violation: e };
    throw e;
  }
}

const step = (trace: readonly TraceStep[], prefix: string) => trace.find((s) => s.op.startsWith(prefix));

test('[UNMAP-U1] v6.13 on: the unmap that cuts the block unmaps nothing and the block keeps its dirty state', async () => {
  const { trace, violation } = await replay(linuxUpstreamAdapter());
  assert.is(violation, undefined);
  assert.is(step(trace, 'unmap(0x401000')?.answer, '0x0 bytes, dirty []');
});

test('[UNMAP-U1] v6.12: the unmap splits the block, unmaps the page, and every other page keeps the block dirty (the report holds them all)', async () => {
  const { trace, violation } = await replay(linuxV612Adapter());
  assert.is(violation, undefined);
  assert.is(step(trace, 'unmap(0x401000')?.answer, '0x1000 bytes, dirty []');
  assert.ok(step(trace, 'unmap(0x401000')?.req.includes('UNMAP-U1'));
  assert.match(step(trace, 'readAndClearDirty(0x402000')?.answer ?? '', /^0, dirty \[0x402000-0x5ff000 \(510 pages\)/);
});

test('[UNMAP-U1] [NOLOSS-1] v6.12 with a split that makes the pages clean: the written page is lost', async () => {
  const { violation } = await replay(linuxV612Adapter('clean split', CleanSplitDomain));
  assert.ok(violation !== undefined, 'the clean split passed');
  assert.is(violation.kind, 'loss', `${violation.expected} | ${violation.actual}`);
  assert.ok(violation.req.includes('UNMAP-U1'), violation.req.join(', '));
});

/** The sequence under linux-upstream on the v6.12 example, whatever it is: its trace, and the violation if it failed. */
async function replayV612(commands: RunCommand[]): Promise<{ trace: TraceStep[]; violation?: Violation }> {
  const trace: TraceStep[] = [];
  try {
    await replaySmmuSequence(linuxV612Adapter(), { config: CONFIG, commands }, 5000, trace, contracts['linux-upstream']);
    return { trace };
  } catch (e) {
    if (e instanceof Violation) return { trace, violation: e };
    throw e;
  }
}

test('[UNMAP-U1] v6.12: an unmap cutting two blocks splits the first, and gives up on the second, which a DMA write changed between its read and its compare-exchange: the first part unmapped, then the unmap stops', async () => {
  const { trace, violation } = await replayV612([new MapCommand(0x400, 1024, true, true), new TrackingCommand(true), new UnmapCommand(0x5ff, 2, { at: 1, offset: 1, aimed: true })]);
  assert.is(violation, undefined, violation?.message);
  assert.match(step(trace, 'unmap(0x5ff000')?.answer ?? '', /^0x1000 bytes, dirty \[\]; injected DMA ok/);
});

test('[UNMAP-U1] v6.12: a 4 KiB unmap of a 1 GiB block splits it to 2 MiB blocks, then gives up on the 2 MiB one a DMA write changed: 0 bytes, the 2 MiB block in place', async () => {
  const HIGH_PAGE = (4 * 2 ** 30) / 0x1000;
  const { trace, violation } = await replayV612([new MapCommand(HIGH_PAGE, 262144, true, true), new TrackingCommand(true), new UnmapCommand(HIGH_PAGE + 1, 1, { at: 700, offset: 0, aimed: false })]);
  assert.is(violation, undefined, violation?.message);
  assert.match(step(trace, 'unmap(0x100001000')?.answer ?? '', /^0x0 bytes, dirty \[\]; injected DMA ok/);
});

test.run();
