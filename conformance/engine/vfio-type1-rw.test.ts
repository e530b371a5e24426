// Profile vfio-type1 with vfio_dma_rw (the emulated device's CPU-side access): an
// implementation that checks a whole access before copying anything conforms as Linux's
// chunk-by-chunk order does; the historical page count of vfio_iommu_type1_dma_rw_chunk
// is a loss charged to VFIO-RW-3; pages dirtied past a refusal are charged to VFIO-RW-4;
// an adapter without dmaRw leaves the VFIO-RW requirements not reached.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceVfioType1Adapter } from '../adapters/reference.ts';
import type { VfioType1Adapter, VfioType1Instance } from '../adapters/types.ts';
import { findMutant } from '../mutants/index.ts';
import { CheckFirstContainer, DirtiesPastRefusalContainer } from '../mutants/vfio-rw-variants.ts';
import { runProfile } from './run-profile.ts';

const options = { runs: 300, seed: 4, timeoutMs: 2000, maxCommands: 30 };
const RW_IDS = ['VFIO-RW-1', 'VFIO-RW-2', 'VFIO-RW-3', 'VFIO-RW-4'];

test('[VFIO-RW-4] an implementation that checks the whole access before copying anything conforms', async () => {
  const r = await runProfile(referenceVfioType1Adapter('check-first', CheckFirstContainer), options);
  assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation));
  for (const id of RW_IDS)
    assert.ok(
      r.requirements.some((x) => x.id === id && x.verdict === 'pass'),
      `${id} passes`,
    );
});

test('[VFIO-RW-3] vfio_dma_rw dirtying copied >> pgshift pages (before 2c5af98592f6) is a lost page charged to VFIO-RW-3', async () => {
  const r = await runProfile(findMutant('vfio-rw-dirty-count')!.adapter, options);
  assert.is(r.verdict, 'does-not-conform');
  const v = r.counterexample!.violation;
  assert.is(v.kind, 'loss');
  assert.equal(v.req, ['VFIO-RW-3', 'NOLOSS-1']);
  assert.ok(
    r.counterexample!.steps.some((s) => s.op.startsWith('vfio_dma_rw(write')),
    'the counterexample has the write',
  );
});

test('[VFIO-RW-4] [PRECISION-1] a refused write that leaves pages past the refusal dirty is a false dirty charged to VFIO-RW-4', async () => {
  const r = await runProfile(referenceVfioType1Adapter('dirties-past-refusal', DirtiesPastRefusalContainer), { ...options, runs: 1000 });
  assert.is(r.verdict, 'does-not-conform');
  const v = r.counterexample!.violation;
  assert.equal([v.kind, v.req], ['precision', ['VFIO-RW-4', 'PRECISION-1']]);
});

test('an adapter without dmaRw conforms and leaves the VFIO-RW requirements not reached', async () => {
  const ref = referenceVfioType1Adapter();
  const adapter: VfioType1Adapter = {
    ...ref,
    async create(config) {
      const { dmaRw: _, ...rest } = await ref.create(config);
      return rest as VfioType1Instance;
    },
  };
  const r = await runProfile(adapter, { ...options, runs: 100 });
  assert.is(r.verdict, 'conforms');
  assert.equal(
    RW_IDS.filter((id) => r.unreached?.includes(id)),
    RW_IDS,
  );
});

test.run();
