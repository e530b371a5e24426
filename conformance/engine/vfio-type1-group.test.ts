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

/** `run` fails with a violation of `kind` charged to VFIO-DETACH-1. */
async function failsOnDetach(run: () => Promise<unknown>, kind: 'loss' | 'precision'): Promise<void> {
  try {
    await run();
  } catch (e) {
    assert.ok(e instanceof Violation && e.kind === kind && e.req.includes('VFIO-DETACH-1'), String(e));
    return;
  }
  assert.unreachable('no violation');
}

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
  await failsOnDetach(() => ops(m.adapter as VfioType1Adapter, false), 'loss');
});

/** A reference container changed by `patch` (its instance's calls), for the blame tests below. */
function patched(patch: (inst: Awaited<ReturnType<VfioType1Adapter['create']>>) => Partial<Awaited<ReturnType<VfioType1Adapter['create']>>>): VfioType1Adapter {
  const ref = referenceVfioType1Adapter();
  return {
    ...ref,
    async create(config) {
      const inst = await ref.create(config);
      return { ...inst, ...patch(inst) };
    },
  };
}

test('while the group is out the kit makes no MAP_DMA outside the IOVA ranges or with an unpinnable vaddr, a one-page one at 2^64 - 4 KiB included (Linux checks neither without a domain)', async () => {
  const trace: TraceStep[] = [];
  const sc = {
    config: { hwDirty: false },
    ops: [
      { k: 'map', page: 0, pages: 4, flags: 3, vaddr: 'ok', range: 'ok' },
      { k: 'group', attach: false },
      { k: 'map', page: 8, pages: 1, flags: 3, vaddr: 'ok', range: 'outside' },
      { k: 'map', page: 9, pages: 1, flags: 3, vaddr: 'notBacked', range: 'ok' },
      // One page at 2^64 - 4 KiB, of IOVA or vaddr: it ends at 2^64 and wraps nothing, so it is one more map Linux takes while out (was judged VFIO-MAP-6, -7).
      { k: 'map', page: 12, pages: 1, flags: 3, vaddr: 'ok', range: 'wrap' },
      { k: 'map', page: 13, pages: 1, flags: 3, vaddr: 'wrap', range: 'ok' },
      // Two pages there do wrap: -EINVAL with or without a domain (vfio_dma_do_map), so that map is made.
      { k: 'map', page: 14, pages: 2, flags: 3, vaddr: 'ok', range: 'wrap' },
      { k: 'map', page: 10, pages: 1, flags: 3, vaddr: 'ok', range: 'ok' },
      { k: 'group', attach: true },
      { k: 'map', page: 11, pages: 1, flags: 3, vaddr: 'notBacked', range: 'ok' },
    ],
  };
  await replayVfioType1Scenario(referenceVfioType1Adapter(), sc, 5000, trace);
  const maps = trace.filter((s) => s.op.startsWith('MAP_DMA')).map((s) => s.answer);
  assert.equal(maps, ['0', '-22', '0', '-14'], 'the first map, the wrapping one and the plain map while out, and the unbacked one once the group is back');
});

test('[VFIO-DETACH-1] a container that goes on reporting every mapped page once the group is out: FALSE DIRTY naming VFIO-DETACH-1', async () => {
  // The report after the detach's pages were reported once: every page again.
  const everyPage = patched((inst) => ({
    async dirtyPages(flags, range) {
      const r = await inst.dirtyPages(flags, range);
      return r.bitmap === undefined ? r : { ...r, bitmap: new Uint8Array(r.bitmap.length).fill(0xff) };
    },
  }));
  const sc = {
    config: { hwDirty: false },
    ops: [
      { k: 'dirty', flags: 1 },
      { k: 'map', page: 0, pages: 64, flags: 3, vaddr: 'ok', range: 'ok' },
      { k: 'group', attach: false },
      { k: 'bitmap', flags: 4, page: 0, pages: 64, bitmap: 'ok', range: 'mapping', bits: [], allBits: false },
      { k: 'bitmap', flags: 4, page: 0, pages: 64, bitmap: 'ok', range: 'mapping', bits: [], allBits: false },
    ],
  };
  await failsOnDetach(() => replayVfioType1Scenario(everyPage, sc, 5000, []), 'precision');
});

test("[VFIO-DETACH-1] a NO_CLEAR read that consumes the detach's pages loses the device's write at the next report, still charged to VFIO-DETACH-1", async () => {
  let consumed = false;
  const noclearConsumes = patched((inst) => ({
    async dirtyPages(flags, range) {
      // GET_BITMAP_NOCLEAR (1 << 3) taken as GET_BITMAP: the detach's whole-dirty marking goes.
      const r = await inst.dirtyPages(flags === 8 ? 4 : flags, range);
      if (flags === 8) consumed = true;
      return r;
    },
  }));
  const sc = {
    config: { hwDirty: false },
    ops: [
      { k: 'ext', extension: 11 },
      { k: 'dirty', flags: 1 },
      { k: 'map', page: 0, pages: 4, flags: 3, vaddr: 'ok', range: 'ok' },
      { k: 'dma', pick: 1, mapped: true, offset: 0 },
      { k: 'group', attach: false },
      { k: 'bitmap', flags: 8, page: 0, pages: 4, bitmap: 'ok', range: 'mapping', bits: [], allBits: false },
      { k: 'bitmap', flags: 4, page: 0, pages: 4, bitmap: 'ok', range: 'mapping', bits: [], allBits: false },
    ],
  };
  await failsOnDetach(() => replayVfioType1Scenario(noclearConsumes, sc, 5000, []), 'loss');
  assert.ok(consumed, 'the NO_CLEAR read was made');
});

test.run();
