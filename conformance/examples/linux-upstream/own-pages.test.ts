// What CLEAR-U2 owes past a dirty leaf. io_pgtable_visit_dirty records [cursor, cursor +
// leaf size), which runs past the leaf's end where the range starts inside it. Where those
// pages are a hole, or a leaf the walk does not clear, the record is their only harm or none
// (a leaf not cleared stays dirty for the next report): a walk that records only the dirty
// leaf's own pages is as right as Linux there. Where they are the head of the next leaf,
// which the walk then enters past them and clears whole, that record is their only report:
// a walk that leaves them out loses them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { KitMemory } from 'dirtyspec/adapters';
import { contracts } from '../../../spec/contracts/index.ts';
import { DmaCommand, MapCommand, ReadAndClearCommand, type RunCommand, TrackingCommand, type TraceStep } from '../../engine/commands.ts';
import { replaySmmuSequence } from '../../engine/run-profile.ts';
import { Violation } from '../../../model/violation.ts';
import { linuxUpstreamAdapter } from './adapter.ts';
import { ArmSmmuDomain } from './arm-smmu-v3.ts';
import { ArmLpaeIoPgtable, type IoPgtableCfg, type IoPgtableFlushOps, type IoPgtableWalkData } from './io-pgtable-arm.ts';

/** io_pgtable_visit_dirty recording [cursor, end of the leaf) instead of [cursor, cursor + leaf size): the cursor and errno as Linux has them. */
class OwnPagesPgtable extends ArmLpaeIoPgtable {
  protected override visitDirty(walkData: IoPgtableWalkData, ptep: number, lvl: number): number {
    const record = walkData.dirty.record;
    // Clipped once, where the walk enters at the top: the tables below pass the same walk data down.
    if (record === undefined || clipping.has(walkData)) return super.visitDirty(walkData, ptep, lvl);
    // A leaf of `length` bytes is naturally aligned: it ends at the next multiple of its size after the cursor.
    const clipped = (iova: number, length: number) => record(iova, Math.min(length, iova - (iova % length) + length - iova));
    const data: IoPgtableWalkData = { ...walkData, dirty: { ...walkData.dirty, record: clipped } };
    clipping.add(data);
    const ret = super.visitDirty(data, ptep, lvl);
    walkData.addr = data.addr;
    return ret;
  }
}
const clipping = new WeakSet<IoPgtableWalkData>();

class OwnPagesDomain extends ArmSmmuDomain {
  protected override allocPgtable(memory: KitMemory, cfg: IoPgtableCfg, tlb: IoPgtableFlushOps): ArmLpaeIoPgtable {
    return new OwnPagesPgtable(memory, cfg, tlb);
  }
}

const CONFIG = { httu: 2 as const, bbml: 2 as const, iotlbCapacity: 1, dirtyCapable: true, pageGranular: false, startTracking: false };
const ownPages = linuxUpstreamAdapter('own pages', OwnPagesDomain);
const linux = linuxUpstreamAdapter();

/** The sequence replayed under linux-upstream: undefined when it passes, else the violation. */
async function outcome(adapter: typeof linux, commands: RunCommand[]): Promise<Violation | undefined> {
  const trace: TraceStep[] = [];
  try {
    await replaySmmuSequence(adapter, { config: CONFIG, commands }, 5000, trace, contracts['linux-upstream']);
    return undefined;
  } catch (e) {
    if (e instanceof Violation) return e;
    throw e;
  }
}

test("[CLEAR-U2] [BITMAP-2] a range starting inside a dirty block that ends before a hole: the walk that records only the block's own pages passes (the record past it is permitted)", async () => {
  // A block at 0x400000, written; read from 0x5e1000 for 34 pages, past the block's end into nothing.
  const seq = () => [new MapCommand(0x400, 512, true, true), new TrackingCommand(true), new DmaCommand(true, 0, 0, 0, undefined, 0x5f_0000), new ReadAndClearCommand(0x5e1, 34, false)];
  assert.is(await outcome(linux, seq()), undefined, 'Linux');
  assert.is((await outcome(ownPages, seq()))?.message, undefined, 'own pages');
});

test("[CLEAR-U2] [NOLOSS-1] a range starting inside a dirty block before a written block: the next block's head is reported only by the first record, so the walk that leaves it out loses it", async () => {
  // Two 2 MiB blocks at 0; the second written at its first page; read from 0x1000 for 1023 pages.
  const seq = () => [new MapCommand(0, 1024, true, true), new TrackingCommand(true), new DmaCommand(true, 0, 0, 0, undefined, 0x20_0000), new DmaCommand(true, 0, 0, 0, undefined, 0x1000), new ReadAndClearCommand(1, 1023, false)];
  assert.is(await outcome(linux, seq()), undefined, 'Linux');
  const v = await outcome(ownPages, seq());
  assert.is(v?.kind, 'loss', String(v));
  assert.match(v!.actual, /0x200000/);
});

test.run();
