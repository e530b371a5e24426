// CLEAR-U2 permits, and does not require, what Linux's read-and-clear records past a leaf:
// io_pgtable_visit_dirty records [cursor, cursor + leaf size), which runs past the leaf's
// end where the range starts inside it, and iova_bitmap_set sets those bits. A walk that
// records only the leaf's own pages loses nothing (no write makes a page dirty through a
// leaf that does not map it), so it conforms under linux-upstream too.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { KitMemory } from 'dirtyspec/adapters';
import { runProfile } from '../../engine/run-profile.ts';
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

const OPTIONS = { runs: 300, timeoutMs: 5000, maxCommands: 30, contract: 'linux-upstream' } as const;

test("[CLEAR-U2] [BITMAP-2] a walk that records only the dirty leaf's own pages from the cursor conforms under linux-upstream (seeds 1 to 3)", async () => {
  for (const seed of [1, 2, 3]) {
    const r = await runProfile(linuxUpstreamAdapter('own pages', OwnPagesDomain), { ...OPTIONS, seed });
    assert.is(r.verdict, 'conforms', `seed ${seed}: ${JSON.stringify(r.counterexample?.violation)}`);
    assert.ok(
      r.requirements.some((q) => q.id === 'CLEAR-U2' && q.verdict === 'pass'),
      `seed ${seed}: CLEAR-U2 checked`,
    );
  }
});

test.run();
