// The contract mutants: each one deviates from the contract adapter it mutates (the
// linux-upstream or rfc-2021 example, conformance/examples/linux-upstream/), shown by one
// directed scenario through both, in the manner of mutants.test.ts; and each declares the
// contract it runs under, with a description that justifies its class.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { HazardStep } from '../../spec/contracts/types.ts';
import type { SmmuDriverAdapter } from '../adapters/types.ts';
import { linuxUpstreamAdapter } from '../examples/linux-upstream/adapter.ts';
import { play as playScenario } from '../examples/linux-upstream/play.ts';
import { rfc2021Adapter } from '../examples/linux-upstream/rfc-2021.ts';
import { contractMutants, linuxUpstreamMutants, rfc2021Mutants } from './contract-mutants.ts';
import { BUG_CLASSES } from './types.ts';

const MiB2 = 0x20_0000;
const findMutant = (name: string) => contractMutants.find((m) => m.name === name);
const directedTitles: string[] = [];
function directed(title: string, fn: () => Promise<void>): void {
  directedTitles.push(title);
  test(title, fn);
}

// ---- contract mutants: the same scenario through the mutant and the adapter it mutates ----

/** A linux-upstream mutant and the linux-upstream example adapter, played through the same scenario (contract vocabulary). */
async function upstreamPair(name: string, steps: readonly HazardStep[]) {
  const mutant = findMutant(name);
  assert.ok(mutant, `no mutant ${name}`);
  assert.is((mutant.adapter as SmmuDriverAdapter).contract, 'linux-upstream', `${name} runs under linux-upstream`);
  return { upstream: await playScenario(linuxUpstreamAdapter(), steps), mutant: await playScenario(mutant.adapter as SmmuDriverAdapter, steps) };
}
const UP: HazardStep = { op: 'create', httu: 2, bbml: 0, dirtyCapable: true, pageGranular: false };
const upAttach: HazardStep = { op: 'attach', stream: 10 };
const upMap = (iova: number, size: number): HazardStep => ({ op: 'map', iova, size, write: true, pa: 'page-aligned' });
const upDma = (iova: number): HazardStep => ({ op: 'dmaWrite', iova, stream: 10 });
const upRc = (iova: number, size: number): HazardStep => ({ op: 'readAndClearDirty', iova, size, noClear: false });

directed('[TRACK-U2, PRECISION-1] mutant upstream-enable-without-clear deviates from the reference: a page mapped before tracking started is in the first report', async () => {
  const { upstream, mutant } = await upstreamPair('upstream-enable-without-clear', [UP, upAttach, upMap(0, 0x1000), { op: 'setDirtyTracking', enable: true }, upRc(0, 0x1000)]);
  assert.equal(upstream.steps[4]!.reported, []);
  assert.equal(mutant.steps[4]!.reported, [0]);
});

directed('[CLEAR-U2, NOLOSS-1] mutant upstream-walk-index-from-range-start deviates from the reference: a range starting one page into a table skips the first page of the next table', async () => {
  const steps = [UP, upAttach, upMap(0, 2 * MiB2), upRc(0, 2 * MiB2), upDma(MiB2), upRc(0x1000, 2 * MiB2 - 0x1000)];
  const { upstream, mutant } = await upstreamPair('upstream-walk-index-from-range-start', steps);
  assert.equal(upstream.steps[5]!.reported, [MiB2]);
  assert.equal(mutant.steps[5]!.reported, []);
});

directed("[CLEAR-U2, BITMAP-1] mutant upstream-walk-cursor-skips-clean deviates from the reference: after a clean page the dirty one is reported at the clean one's address", async () => {
  const { upstream, mutant } = await upstreamPair('upstream-walk-cursor-skips-clean', [UP, upAttach, upMap(0, 0x2000), upRc(0, 0x2000), upDma(0x1000), upRc(0, 0x2000)]);
  assert.equal(upstream.steps[5]!.reported, [0x1000]);
  assert.equal(mutant.steps[5]!.reported, [0]);
});

directed('[UNMAP-1, IOTLB-5] mutant upstream-unmap-without-tlbi deviates from the reference: a DMA write after the unmap still translates through the IOTLB', async () => {
  const { upstream, mutant } = await upstreamPair('upstream-unmap-without-tlbi', [UP, upAttach, upMap(0, 0x1000), upDma(0), { op: 'unmap', iova: 0, size: 0x1000 }, upDma(0)]);
  assert.is(upstream.steps[5]!.dma, 'fault');
  assert.is(mutant.steps[5]!.dma, 'ok');
});

directed('[TRACK-U1, HTTU-2] mutant upstream-cd-without-hd deviates from the reference: a write through a writable-clean leaf faults instead of dirtying it', async () => {
  const { upstream, mutant } = await upstreamPair('upstream-cd-without-hd', [UP, upAttach, upMap(0, 0x1000), upRc(0, 0x1000), upDma(0)]);
  assert.is(upstream.steps[4]!.dma, 'ok');
  assert.is(mutant.steps[4]!.dma, 'fault');
  assert.is(mutant.cdWord0.get(10)! & (3n << 42n), 1n << 43n, 'HA without HD');
});

directed('[CREATE-U1] mutant upstream-dirty-domain-without-httu deviates from the reference: a dirty-tracking domain is created on an SMMU without HTTU = 2', async () => {
  const { upstream, mutant } = await upstreamPair('upstream-dirty-domain-without-httu', [{ ...UP, httu: 1 } as HazardStep]);
  assert.is(upstream.steps[0]!.errno, -95);
  assert.is(mutant.steps[0]!.errno, 0);
});

/** An rfc-2021 mutant and the rfc-2021 example adapter, played through the same scenario. */
async function rfcPair(name: string, steps: readonly HazardStep[]) {
  const mutant = findMutant(name);
  assert.ok(mutant, `no mutant ${name}`);
  assert.is((mutant.adapter as SmmuDriverAdapter).contract, 'rfc-2021', `${name} runs under rfc-2021`);
  return { rfc: await playScenario(rfc2021Adapter(), steps), mutant: await playScenario(mutant.adapter as SmmuDriverAdapter, steps) };
}
const RFC: HazardStep = { op: 'create', httu: 2, bbml: 2, dirtyCapable: true, pageGranular: true };
const rfcBlock = (iova: number): HazardStep => ({ op: 'map', iova, size: MiB2, write: true, pa: 'block-aligned' });
const rfcOn: HazardStep = { op: 'setDirtyTracking', enable: true };

directed('[SPLIT-R2, HTTU-2] mutant rfc-split-drops-dbm deviates from the reference: after start split the block and a clear, a write faults', async () => {
  const { rfc, mutant } = await rfcPair('rfc-split-drops-dbm', [RFC, upAttach, rfcBlock(0), rfcOn, upRc(0, MiB2), upDma(0)]);
  assert.is(rfc.steps[5]!.dma, 'ok');
  assert.is(mutant.steps[5]!.dma, 'fault');
});

directed('[MERGE-R2, NOLOSS-1] mutant rfc-merge-clean-block deviates from the reference: a page written before the merge is not in the next report', async () => {
  const steps: HazardStep[] = [RFC, upAttach, rfcOn, rfcBlock(MiB2), { op: 'splitBlock', iova: MiB2 }, upRc(MiB2, MiB2), upDma(MiB2 + 0x1000), { op: 'mergePages', iova: MiB2, level: 2 }, upRc(MiB2, MiB2)];
  const { rfc, mutant } = await rfcPair('rfc-merge-clean-block', steps);
  assert.ok(rfc.steps[8]!.reported!.includes(MiB2 + 0x1000));
  assert.equal(mutant.steps[8]!.reported, []);
});

directed('[CLEAR-R2, IOTLB-7] mutant rfc-clear-without-flush deviates from the reference: a write after a clear goes through the cached entry and is not reported', async () => {
  const { rfc, mutant } = await rfcPair('rfc-clear-without-flush', [RFC, upAttach, rfcOn, upMap(0, 0x1000), upDma(0), upRc(0, 0x1000), upDma(0), upRc(0, 0x1000)]);
  assert.equal(rfc.steps[7]!.reported, [0]);
  assert.equal(mutant.steps[7]!.reported, []);
});

directed('[TRACK-R3, FAULT-1] mutant rfc-stop-merges-over-hole deviates from the reference: a page unmapped while tracking translates again after stop', async () => {
  const steps: HazardStep[] = [RFC, upAttach, rfcBlock(0), rfcOn, { op: 'unmap', iova: 0x5000, size: 0x1000 }, { op: 'setDirtyTracking', enable: false }, upDma(0x5000)];
  const { rfc, mutant } = await rfcPair('rfc-stop-merges-over-hole', steps);
  assert.is(rfc.steps[6]!.dma, 'fault');
  assert.is(mutant.steps[6]!.dma, 'ok');
});

test('the contract mutants: at least three per non-strict contract, each declaring its contract, kebab-case, a class it justifies, one directed test', () => {
  assert.ok(linuxUpstreamMutants.length >= 3 && rfc2021Mutants.length >= 3);
  for (const [list, contract] of [
    [linuxUpstreamMutants, 'linux-upstream'],
    [rfc2021Mutants, 'rfc-2021'],
  ] as const) {
    for (const m of list) {
      assert.match(m.name, /^[a-z0-9]+(?:-[a-z0-9]+)*$/);
      assert.is(m.profile, 'smmu-driver');
      assert.is(m.adapter.name, m.name);
      assert.is((m.adapter as SmmuDriverAdapter).contract, contract, `${m.name} declares ${contract}`);
      assert.ok(BUG_CLASSES.includes(m.bugClass));
      assert.ok(m.description.startsWith(`${contract}: `) && m.description.includes(`Class ${m.bugClass}: `), `${m.name}: description`);
      assert.is(directedTitles.filter((t) => t.includes(`mutant ${m.name} deviates from the reference`)).length, 1, `${m.name} has one directed test`);
    }
  }
});

test.run();
