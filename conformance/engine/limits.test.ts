// The time limit of a call grows with a huge range (callWeight): Linux's type1 unmap walks a
// mapping page by page, so the INT_MAX-page mapping of VFIO-MAP-8 and VFIO-DIRTY-4 is a
// slow call in a faithful port, not a hang. Any other call keeps the plain limit.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceVfioType1Adapter } from '../adapters/reference.ts';
import type { VfioType1Adapter } from '../adapters/types.ts';
import { CallTimer, Undecided, callWeight } from './limits.ts';
import { runProfile } from './run-profile.ts';

const PAGE = 4096n;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('callWeight: one limit below 2^27 pages; one more per 2^27 pages from there (17 for the INT_MAX-page mapping)', () => {
  assert.is(callWeight(0n), 1);
  assert.is(callWeight((2n ** 27n - 1n) * PAGE), 1);
  assert.is(callWeight(2n ** 27n * PAGE), 2);
  assert.is(callWeight(2n ** 31n * PAGE), 17);
  assert.ok(Math.abs(callWeight((2n ** 31n - 1n) * PAGE) - 17) < 1e-6);
});

test('CallTimer: a weighted call may take its weight in limits; the next plain call is held to the plain limit again', async () => {
  const timer = new CallTimer(50);
  assert.is(await timer.run('weighted', () => sleep(120).then(() => 'done'), 4), 'done');
  try {
    await timer.run('plain', () => sleep(120).then(() => 'late'));
    assert.unreachable('the plain call outlived its limit');
  } catch (e) {
    assert.instance(e, Undecided);
    assert.match((e as Error).message, /plain did not answer within 50 ms/);
  }
});

/**
 * The reference container whose UNMAP_DMA takes `ms` more where `slow(size)` holds (a
 * faithful port's per-page walk of a huge mapping), its other calls as fast as ever; `slowed`
 * counts those unmaps.
 */
function slowUnmap(name: string, ms: number, slow: (size: bigint) => boolean): { adapter: VfioType1Adapter; slowed: () => number } {
  const ref = referenceVfioType1Adapter();
  let slowed = 0;
  const adapter: VfioType1Adapter = {
    profile: 'vfio-type1',
    name,
    async create(config) {
      const c = await ref.create(config);
      return {
        ...c,
        unmapDma: async (flags, iova, size, bitmap) => {
          if (slow(size)) {
            slowed++;
            await sleep(ms);
          }
          return c.unmapDma(flags, iova, size, bitmap);
        },
      };
    },
  };
  return { adapter, slowed: () => slowed };
}

test('[VFIO-MAP-8] [VFIO-DIRTY-4] [VFIO-UNMAP-11] a container whose unmap of the INT_MAX-page mapping takes 3 limits conforms; one that slow on every unmap is undecided', async () => {
  const huge = slowUnmap('slow-huge-unmap', 150, (size) => size >= 2n ** 27n * PAGE);
  const r = await runProfile(huge.adapter, { runs: 150, seed: 1, timeoutMs: 50, maxCommands: 30 });
  assert.is(r.verdict, 'conforms', JSON.stringify(r.undecided ?? r.counterexample?.violation));
  assert.ok(huge.slowed() > 0, 'no unmap of a huge mapping was made');
  // The weight is the range's, not a blanket allowance: the same delay on a small unmap is a hang.
  const every = slowUnmap('slow-unmap', 150, () => true);
  const u = await runProfile(every.adapter, { runs: 50, seed: 1, timeoutMs: 50, maxCommands: 30 });
  assert.is(u.verdict, 'undecided');
  assert.match(u.undecided?.message ?? '', /did not answer within 50 ms/);
});

test.run();
