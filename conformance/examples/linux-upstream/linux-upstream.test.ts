// The linux-upstream example adapter (an implementation written from how upstream Linux
// behaves) against the linux-upstream contract: every hazard scenario of the contract,
// played on the adapter with the kit's SMMU, gives the answers, the leaves and the missed
// pages the contract's simulation predicts; and single behaviours where Linux and the
// strict contract part ways.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dirtyBitmapPages } from '../../../spec/bitmap/dirty-bitmap.ts';
import { contracts } from '../../../spec/contracts/index.ts';
import { simulate, type SimLeafState } from '../../../spec/contracts/simulate.ts';
import type { HazardStep } from '../../../spec/contracts/types.ts';
import { decodeLeaf, type Level } from '../../../spec/descriptor/encoding.ts';
import { walkLeaves } from '../../../spec/descriptor/walk.ts';
import { createKitMemory, createKitSmmu } from '../../adapters/reference.ts';
import type { KitSmmuPort, SmmuDriver } from '../../adapters/types.ts';
import { linuxUpstreamAdapter } from './adapter.ts';
import { IDR0_COHACC } from './arm-smmu-v3.ts';

const PAGE = 0x1000;
const MiB2 = 0x20_0000;
const upstream = contracts['linux-upstream'];

interface Played {
  readonly errno: number;
  readonly reported?: readonly number[];
  readonly unmapped?: number;
  readonly dma?: 'ok' | 'fault';
}

/**
 * Plays a scenario (the contract's vocabulary) on the adapter with the kit's SMMU; output
 * addresses as spec/contracts/simulate.ts allocates them. `coherent` presents IDR0.COHACC.
 */
async function play(steps: readonly HazardStep[], coherent = true) {
  const memory = createKitMemory();
  let driver: SmmuDriver | undefined;
  let smmu: ReturnType<typeof createKitSmmu> | undefined;
  let nextPa = 0x4000_0000;
  const out: Played[] = [];
  /** The CD address of each stream attached, in order. */
  const cds: number[] = [];
  for (const step of steps) {
    switch (step.op) {
      case 'create': {
        smmu = createKitSmmu(memory, { httu: step.httu, bbml: step.bbml, iotlbCapacity: 64 });
        const s = smmu;
        const port: KitSmmuPort = {
          idr0: s.idr0 | (coherent ? IDR0_COHACC : 0),
          idr3: s.idr3,
          attachStream: (id, cd) => {
            cds.push(cd);
            s.attachStream(id, cd);
          },
          detachStream: (id) => s.detachStream(id),
          submit: (c) => s.submit(c),
        };
        const d = await linuxUpstreamAdapter().create(memory, port, { asid: 1, dirtyCapable: step.dirtyCapable, pageGranular: step.pageGranular });
        if (typeof d === 'number') out.push({ errno: d });
        else {
          driver = d;
          out.push({ errno: 0 });
        }
        break;
      }
      case 'attach':
        out.push({ errno: await driver!.attach(step.stream) });
        break;
      case 'setDirtyTracking':
        out.push({ errno: await driver!.setDirtyTracking(step.enable) });
        break;
      case 'map': {
        const pa = nextPa + (step.pa === 'page-aligned' ? PAGE : 0);
        nextPa += 0x200_0000;
        out.push({ errno: await driver!.map(step.iova, pa, step.size, step.write ? 3 : 1) });
        break;
      }
      case 'dmaWrite':
        out.push({ errno: 0, dma: smmu!.dmaWrite(step.stream, step.iova).ok ? 'ok' : 'fault' });
        break;
      case 'readAndClearDirty': {
        const r = await driver!.readAndClearDirty(step.iova, step.size, step.noClear ? 1 : 0);
        out.push({ errno: r.errno, reported: dirtyBitmapPages(r.dirty, step.iova) });
        break;
      }
      case 'unmap': {
        const r = await driver!.unmap(step.iova, step.size);
        out.push({ errno: 0, unmapped: r.unmapped, reported: dirtyBitmapPages(r.dirty, step.iova) });
        break;
      }
      default:
        throw new Error(`the linux-upstream adapter has no ${step.op}`);
    }
  }
  return { out, memory, driver, cd: cds[0] };
}

/** The leaves of the adapter's table (read from kit memory through the CD of `stream`), with their spec state. */
function leavesOf(memory: ReturnType<typeof createKitMemory>, cd: number): { iova: number; size: number; state: SimLeafState }[] {
  const ttb0 = Number(memory.load(cd + 8) & (((1n << 52n) - 1n) & ~0xfn));
  return walkLeaves((a) => memory.load(a), ttb0, 0, 8 * MiB2).map((l) => ({ iova: l.iova, size: l.size, state: decodeLeaf(l.pte, l.level as Level).state as SimLeafState }));
}

const S = 10;
const UP: HazardStep = { op: 'create', httu: 2, bbml: 0, dirtyCapable: true, pageGranular: false };
const attach: HazardStep = { op: 'attach', stream: S };
const on: HazardStep = { op: 'setDirtyTracking', enable: true };
const map = (iova: number, size: number, pa: 'block-aligned' | 'page-aligned' = 'page-aligned', write = true): HazardStep => ({ op: 'map', iova, size, write, pa });
const dma = (iova: number): HazardStep => ({ op: 'dmaWrite', iova, stream: S });
const rc = (iova: number, size: number): HazardStep => ({ op: 'readAndClearDirty', iova, size, noClear: false });
const unmap = (iova: number, size: number): HazardStep => ({ op: 'unmap', iova, size });

/** The adapter's answers and its final leaves equal the contract simulation's, step for step. */
async function matchesSimulation(steps: readonly HazardStep[]): Promise<void> {
  const sim = simulate(upstream, steps);
  const { out, memory, cd } = await play(steps);
  for (const [i, s] of sim.steps.entries()) {
    const got = out[i]!;
    const at = `step ${i} ${s.op}`;
    assert.is(got.errno, s.errno, `${at}: errno`);
    if (s.dma !== undefined) assert.is(got.dma, s.dma, `${at}: DMA`);
    if (s.unmapped !== undefined) assert.is(got.unmapped, s.unmapped, `${at}: bytes unmapped`);
    if (s.reported !== undefined) assert.equal(got.reported, s.reported, `${at}: pages reported`);
  }
  if (cd !== undefined) {
    assert.equal(
      leavesOf(memory, cd),
      sim.leaves.map((l) => ({ iova: l.iova, size: l.size, state: l.state })),
      'the leaves in memory are the simulation leaves',
    );
  }
}

for (const h of upstream.hazards) {
  test(`[${h.req.join(', ')}] ${h.id}: the adapter plays "${h.title}" as the contract simulation does, and misses ${h.misses.pages.map((p) => `0x${p.toString(16)}`).join(', ')} at step ${h.misses.atStep}`, async () => {
    await matchesSimulation(h.steps);
    const sim = simulate(upstream, h.steps);
    assert.equal(sim.misses, [h.misses]);
  });
}

test('[CREATE-U1] a dirty-tracking domain is refused with -EOPNOTSUPP without HTTU = 2, and without IDR0.COHACC; with both it is created', async () => {
  assert.is((await play([{ ...UP, httu: 1 }])).out[0]!.errno, -95);
  assert.is((await play([UP], false)).out[0]!.errno, -95);
  assert.is((await play([UP])).out[0]!.errno, 0);
  assert.is((await play([{ ...UP, httu: 0, dirtyCapable: false }])).out[0]!.errno, 0);
});

test('[TRACK-U4] setting dirty tracking on a domain allocated without it is -EOPNOTSUPP, enable and disable', async () => {
  const { out } = await play([{ ...UP, dirtyCapable: false }, attach, on, { op: 'setDirtyTracking', enable: false }]);
  assert.equal(
    out.map((o) => o.errno),
    [0, 0, -95, -95],
  );
});

test('[TRACK-U1, MAP-2] a stream attached before tracking is enabled writes through a clean leaf and dirties it (HA and HD from attach on)', async () => {
  await matchesSimulation([UP, attach, map(0, PAGE), rc(0, PAGE), dma(0), rc(0, PAGE)]);
});

test('[UNMAP-U1] unmapping part of a block unmaps nothing and leaves the block', async () => {
  await matchesSimulation([UP, attach, map(0, MiB2, 'block-aligned'), unmap(PAGE, PAGE), unmap(0, PAGE)]);
});

test('[UNMAP-U2] a hole ends an unmap of pages: the pages before it are unmapped', async () => {
  await matchesSimulation([UP, attach, map(0, 2 * PAGE), map(3 * PAGE, PAGE), unmap(0, 4 * PAGE)]);
});

test('[CLEAR-U1, CLEAR-U2] read-and-clear while tracking is off reports and clears whole leaves', async () => {
  await matchesSimulation([UP, attach, map(0, MiB2, 'block-aligned'), dma(PAGE), rc(0, PAGE), rc(0, MiB2)]);
});

test('[UNMAP-U2] Linux unmaps a table whole when the range covers its 2 MiB span: 2 MiB unmapped, holes inside it included (iommu_pgsize picks 2 MiB, __arm_lpae_unmap clears the table entry)', async () => {
  const { out } = await play([UP, attach, map(MiB2, 3 * PAGE), unmap(MiB2, MiB2), map(MiB2, PAGE)]);
  assert.is(out[3]!.unmapped, MiB2);
  assert.is(out[4]!.errno, 0, 'the pages under the table are gone: the range maps again');
});

test.run();
