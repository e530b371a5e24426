// A wrong answer of a vfio-type1 container is printed with the expected value beside the
// actual one in the counterexample's last step, not only in the violation's header.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceVfioType1Adapter } from '../adapters/reference.ts';
import type { VfioType1Adapter } from '../adapters/types.ts';
import { runProfile } from './run-profile.ts';

const options = { runs: 200, seed: 3, timeoutMs: 2000, maxCommands: 30 };

/** The reference container with GET_INFO's dma_avail changed by `skew` once `after` calls of `op` were made. */
function skewed(name: string, skew: (avail: number, calls: number) => number, counted: 'mapDma' | 'unmapDma'): VfioType1Adapter {
  const ref = referenceVfioType1Adapter();
  return {
    profile: 'vfio-type1',
    name,
    async create(config) {
      const c = await ref.create(config);
      let calls = 0;
      return {
        ...c,
        [counted]: async (...args: unknown[]) => {
          calls++;
          return (c[counted] as (...a: unknown[]) => Promise<unknown>)(...args);
        },
        getInfo: async () => {
          const i = await c.getInfo();
          return { ...i, dmaAvail: skew(i.dmaAvail, calls) };
        },
      } as typeof c;
    },
  };
}

test('[VFIO-MAP-5] [VFIO-INFO-1] every GET_INFO step shows the dma_avail the spec expects beside the one answered, the first one included', async () => {
  const r = await runProfile(
    skewed('avail-zero', () => 0, 'mapDma'),
    options,
  );
  assert.is(r.verdict, 'does-not-conform');
  const infos = r.counterexample!.steps.filter((s) => s.op.startsWith('VFIO_IOMMU_GET_INFO'));
  assert.ok(infos.length > 0);
  for (const s of infos) {
    assert.match(s.answer, /dma_avail 0/);
    assert.match(s.expected, /dma_avail (\d+|any)/, `${s.answer} | ${s.expected}`);
  }
});

test('[VFIO-MAP-9] a dma_avail that drifts after a map shows both counts in the GET_INFO step', async () => {
  const r = await runProfile(
    skewed('avail-drift', (a, calls) => (calls > 0 ? a + 1 : a), 'mapDma'),
    options,
  );
  assert.is(r.verdict, 'does-not-conform');
  const last = r.counterexample!.steps.at(-1)!;
  const got = /dma_avail (\d+)/.exec(last.answer)![1]!;
  const want = /dma_avail (\d+)/.exec(last.expected)![1]!;
  assert.is(Number(got), Number(want) + 1, `${last.answer} | ${last.expected}`);
});

test.run();
