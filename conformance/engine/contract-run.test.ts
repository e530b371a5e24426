// The smmu engine under a driver contract: the reference plays linux-upstream and
// conforms, the strict reference fails it, hazards are shown apart from the verdict,
// refusals are recorded or charged, operations outside the capabilities are never sent.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { contracts } from '../../spec/contracts/index.ts';
import { referenceContractDriverAdapter, referenceSmmuDriverAdapter, referenceSmmuHwAdapter } from '../adapters/reference.ts';
import type { SmmuDriverAdapter } from '../adapters/types.ts';
import { capabilityMismatches, runContract } from './contract-run.ts';
import { runProfile } from './run-profile.ts';

const OPTIONS = { runs: 40, seed: 3, timeoutMs: 2000, maxCommands: 40 } as const;

test('[TRACK-U1, TRACK-U2, CLEAR-U2, UNMAP-U1] the reference playing linux-upstream conforms on smmu-driver, and the report names the contract', async () => {
  const r = await runProfile(referenceContractDriverAdapter('linux-upstream'), { ...OPTIONS, contract: 'linux-upstream' });
  assert.is(r.verdict, 'conforms', r.counterexample?.violation.expected);
  assert.is(r.contract?.name, 'linux-upstream');
  assert.ok(r.requirements.some((q) => q.id === 'TRACK-U1' && q.verdict === 'pass'));
});

test('[TRACK-U1] the reference playing linux-upstream conforms on smmu-hw (the kit is the driver and plays the contract)', async () => {
  const r = await runProfile(referenceSmmuHwAdapter('reference', undefined, 'linux-upstream'), { ...OPTIONS, contract: 'linux-upstream' });
  assert.is(r.verdict, 'conforms', r.counterexample?.violation.expected);
});

test('[TRACK-R1, TRACK-R2, SPLIT-R1, MERGE-R1, CLEAR-R1] the reference playing rfc-2021 conforms on both smmu profiles', async () => {
  for (const adapter of [referenceContractDriverAdapter('rfc-2021'), referenceSmmuHwAdapter('reference', undefined, 'rfc-2021')]) {
    const r = await runProfile(adapter, { ...OPTIONS, runs: 60, contract: 'rfc-2021' });
    assert.is(r.verdict, 'conforms', `${adapter.profile}: ${r.counterexample?.violation.expected ?? r.undecided?.message}`);
    assert.equal(
      r.contract!.hazards.map((h) => [h.id, h.onImplementation]),
      [
        ['H-R1', 'demonstrated'],
        ['H-R2', 'demonstrated'],
      ],
    );
  }
});

test('[TRACK-U1] the strict reference checked under linux-upstream fails at its first attach: the contract rules are what the run checks', async () => {
  const r = await runProfile(referenceSmmuDriverAdapter(), { ...OPTIONS, contract: 'linux-upstream' });
  assert.is(r.verdict, 'does-not-conform');
  assert.ok(r.counterexample!.violation.req.includes('TRACK-U1'), r.counterexample!.violation.req.join(','));
  assert.is(r.counterexample!.steps.length, 1);
});

test('[CREATE-U1] create refusals the contract allows are recorded by configuration, not charged', async () => {
  const r = await runProfile(referenceContractDriverAdapter('linux-upstream'), { ...OPTIONS, runs: 60, contract: 'linux-upstream' });
  assert.is(r.verdict, 'conforms');
  assert.ok(r.contract!.refused.length > 0);
  for (const x of r.contract!.refused) {
    assert.is(x.errno, -95);
    assert.match(x.config, /httu=[01] .*dirtyCapable=true/);
  }
});

test('[TRACK-1] a create refusal strict does not allow fails the run', async () => {
  const ref = referenceSmmuDriverAdapter();
  const refusing: SmmuDriverAdapter = { profile: 'smmu-driver', name: 'refuses', create: async (m, s, c) => (c.dirtyCapable ? -95 : ref.create(m, s, c)) };
  const r = await runProfile(refusing, OPTIONS);
  assert.is(r.verdict, 'does-not-conform');
  assert.equal(r.counterexample!.violation.req, ['TRACK-1']);
});

test('[UNMAP-U1] no split or merge is sent under a contract without them: an adapter whose split and merge throw conforms', async () => {
  const inner = referenceContractDriverAdapter('linux-upstream');
  const boom = async (): Promise<number> => {
    throw new Error('split or merge called');
  };
  const adapter: SmmuDriverAdapter = {
    ...inner,
    async create(m, s, c) {
      const d = await inner.create(m, s, c);
      return typeof d === 'number' ? d : { ...d, splitBlock: boom, mergePages: boom };
    },
  };
  const r = await runProfile(adapter, { ...OPTIONS, contract: 'linux-upstream' });
  assert.is(r.verdict, 'conforms', r.undecided?.message);
});

test('[NOLOSS-3, UNMAP-U3, IOTLB-7, CLEAR-U2, TRACK-U3, CLEAR-U3] every linux-upstream hazard is shown by the simulation and on the reference, apart from the verdict', async () => {
  const r = await runProfile(referenceContractDriverAdapter('linux-upstream'), { ...OPTIONS, runs: 10, contract: 'linux-upstream' });
  assert.is(r.verdict, 'conforms');
  const hazards = r.contract!.hazards;
  assert.equal(
    hazards.map((h) => h.id),
    contracts['linux-upstream'].hazards.map((h) => h.id),
  );
  for (const h of hazards) {
    assert.ok(h.bySimulation, h.id);
    assert.is(h.onImplementation, 'demonstrated', `${h.id}: ${h.note ?? ''}`);
    assert.match(h.scenario[h.misses.atStep]!, /<- misses/);
  }
});

test('[NOLOSS-3, UNMAP-U3] smmu-hw shows the hazards through the kit driver playing linux-upstream; a strict run lists none', async () => {
  const r = await runProfile(referenceSmmuHwAdapter('reference', undefined, 'linux-upstream'), { ...OPTIONS, runs: 1, contract: 'linux-upstream' });
  const h1 = r.contract!.hazards.find((h) => h.id === 'H-U1')!;
  assert.is(h1.onImplementation, 'demonstrated');
  const strict = await runProfile(referenceSmmuDriverAdapter(), { ...OPTIONS, runs: 1 });
  assert.equal(strict.contract!.hazards, []);
});

test('the run checks --contract, else the declared contract, else strict; a declared contract that differs is named', () => {
  const declared = referenceContractDriverAdapter('linux-upstream');
  assert.is(runContract(declared, undefined).contract.name, 'linux-upstream');
  assert.is(runContract(declared, 'strict').declared, 'linux-upstream');
  assert.is(runContract(referenceSmmuDriverAdapter(), undefined).contract.name, 'strict');
});

test('declared capabilities that are not the contract’s are named field by field', () => {
  const caps = contracts['linux-upstream'].capabilities;
  const adapter = { ...referenceContractDriverAdapter('linux-upstream'), capabilities: { ...caps, unmap: { ...caps.unmap, reportsDirty: true } } };
  assert.equal(capabilityMismatches(adapter), ['unmap.reportsDirty: declared true, contract linux-upstream has false']);
  assert.equal(capabilityMismatches({ ...adapter, capabilities: caps }), []);
});

test.run();
