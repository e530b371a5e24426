// Profile vfio-type1: the device's group leaving and joining the container (`group`
// operations, VFIO-DETACH-1 and VFIO-DIRTY-14), made only where the groups decide the
// dirty scope (no hardware tracking) and the adapter offers both calls.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Violation } from '../../model/violation.ts';
import { referenceVfioType1Adapter } from '../adapters/reference.ts';
import type { VfioType1Adapter } from '../adapters/types.ts';
import { mutants } from '../mutants/index.ts';
import type { TraceStep } from './commands.ts';
import { replayVfioType1Scenario } from './vfio-type1-profile.ts';

/** Tracking on, a 4-page mapping, a device write, the group out, a write the kit must not make, a report. */
const scenario = (hwDirty: boolean) => ({
  config: { hwDirty },
  ops: [
    { k: 'dirty', flags: 1 },
    { k: 'map', page: 0, pages: 4, flags: 3, vaddr: 'ok', range: 'ok' },
    { k: 'dma', pick: 1, mapped: true, offset: 0 },
    { k: 'group', attach: false },
    { k: 'dma', pick: 2, mapped: true, offset: 0 },
    { k: 'bitmap', flags: 4, page: 0, pages: 4, bitmap: 'ok', range: 'mapping', bits: [], allBits: false },
  ],
});

async function ops(adapter: VfioType1Adapter, hwDirty: boolean): Promise<string[]> {
  const trace: TraceStep[] = [];
  await replayVfioType1Scenario(adapter, scenario(hwDirty), 5000, trace);
  return trace.map((s) => `${s.op} => ${s.answer} [${s.req.join(' ')}]`);
}

test('[VFIO-DETACH-1] without hardware tracking the group leaves, the device writes nothing after it, and the report over the mapping answers for the detach', async () => {
  const t = await ops(referenceVfioType1Adapter(), false);
  const leave = t.findIndex((s) => s.startsWith('VFIO_GROUP_UNSET_CONTAINER'));
  assert.ok(leave > 0, t.join('\n'));
  assert.is(t.filter((s) => s.startsWith('device DMA write')).length, 1, 'one device write, before the detach');
  assert.match(t.slice(leave).find((s) => s.includes(': bitmap'))!, /4 pages .*VFIO-DETACH-1/);
});

test('with hardware tracking, or without the calls, the group operation is nothing', async () => {
  const hw = await ops(referenceVfioType1Adapter(), true);
  assert.not.ok(
    hw.some((s) => s.includes('GROUP')),
    hw.join('\n'),
  );
  assert.is(hw.filter((s) => s.startsWith('device DMA write')).length, 2);
  const ref = referenceVfioType1Adapter();
  const without: VfioType1Adapter = {
    ...ref,
    async create(config) {
      const { detachDevice: _d, attachDevice: _a, ...rest } = await ref.create(config);
      return rest;
    },
  };
  const none = await ops(without, false);
  assert.not.ok(
    none.some((s) => s.includes('GROUP')),
    none.join('\n'),
  );
});

test('[VFIO-DETACH-1] the container that forgets the device at the detach loses its write, charged to VFIO-DETACH-1', async () => {
  const m = mutants.find((x) => x.name === 'vfio-detach-forgets-device')!;
  try {
    await ops(m.adapter as VfioType1Adapter, false);
    assert.unreachable('no violation');
  } catch (e) {
    assert.ok(e instanceof Violation && e.kind === 'loss' && e.req.includes('VFIO-DETACH-1'), String(e));
  }
});

test.run();
