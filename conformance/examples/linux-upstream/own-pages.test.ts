// What CLEAR-U2 owes past a dirty leaf. io_pgtable_visit_dirty records [cursor, cursor +
// leaf size), which runs past the leaf's end where the range starts inside it. Where those
// pages are a hole, or a clean or read-only leaf, the record costs nothing: a walk that
// records only the dirty leaf's own pages is as right as Linux there. Where they are the head
// of a dirty block, that record is their only report: this walk enters the block past them
// and clears it whole, or a later walk may, so a walk that leaves them out loses them. A walk
// that reports more of a dirty block than Linux's cursor reaches is better, not false.
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

test('[CLEAR-U2] [NOLOSS-1] a range ending just inside the next dirty block: its head, recorded by the block before, is owed although this walk does not clear it (a later walk entering it past the head clears the head unreported)', async () => {
  // Two 2 MiB blocks at 0, both written; read from 0x1000 to 0x201000, then one page at 0x201000.
  const seq = () => [
    new MapCommand(0, 1024, true, true),
    new TrackingCommand(true),
    new DmaCommand(true, 0, 0, 0, undefined, 0x1000),
    new DmaCommand(true, 0, 0, 0, undefined, 0x20_0000),
    new ReadAndClearCommand(1, 512, false),
    new ReadAndClearCommand(0x201, 1, false),
  ];
  assert.is(await outcome(linux, seq()), undefined, 'Linux');
  const v = await outcome(ownPages, seq());
  assert.is(v?.kind, 'loss', String(v));
  assert.match(v!.actual, /0x200000/);
});

/** A walk that records a dirty leaf entered past its start from max(leaf start, range start): it reports the head Linux's cursor skips (H-U5). */
class HeadToo extends ArmSmmuDomain {
  override readAndClearDirty(iova: number, size: number, flags: number, record: (iova: number, length: number) => void): number {
    return super.readAndClearDirty(iova, size, flags, (at, length) => {
      const from = Math.max(at - (at % length), iova);
      record(from, at + length - from);
    });
  }
}

test('[CLEAR-U2] [PRECISION-1] a walk that also reports the head of a dirty block Linux enters past it (hazard H-U5) reports dirty pages only: not FALSE DIRTY', async () => {
  // Block 0 clean, block 1 written at its first page; read from 0x1000 for 1023 pages: Linux enters block 1 at 0x201000.
  const seq = () => [new MapCommand(0, 1024, true, true), new TrackingCommand(true), new DmaCommand(true, 0, 0, 0, undefined, 0x20_0000), new ReadAndClearCommand(1, 1023, false)];
  assert.is((await outcome(linuxUpstreamAdapter('head too', HeadToo), seq()))?.message, undefined);
});

test.run();
