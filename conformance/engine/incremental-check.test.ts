// The incremental descriptor check (only the words written and the leaves the model
// changed since the last check) has the power of the full check (the whole window walked
// after every operation): both give the same verdict, the same counts and the same
// counterexample, on the reference over many sequences and on every smmu mutant.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceAdapters } from '../adapters/registry.ts';
import { mutants } from '../mutants/index.ts';
import { type ProfileResult, runProfile } from './run-profile.ts';

const essentials = (r: ProfileResult) => ({
  verdict: r.verdict,
  runs: r.runs,
  commands: r.commands,
  coverage: r.transitionCoverage,
  requirements: r.requirements,
  violation: r.counterexample?.violation,
  steps: r.counterexample?.steps.map((s) => `${s.op} => ${s.answer} | ${s.expected}`),
  replay: r.replay,
  undecided: r.undecided?.message,
});

for (const profile of ['smmu-driver', 'smmu-hw'] as const) {
  test(`the incremental and the full check agree on the reference (${profile}, 300 sequences, races on)`, async () => {
    const options = { runs: 300, seed: 11, timeoutMs: 5000, maxCommands: 30 };
    const incremental = await runProfile(referenceAdapters[profile], options);
    const full = await runProfile(referenceAdapters[profile], { ...options, fullCheck: true });
    assert.equal(essentials(incremental), essentials(full));
    assert.is(incremental.verdict, 'conforms');
  });
}

test('the incremental and the full check agree on every smmu mutant: same verdict, same shrunk counterexample', async () => {
  const smmu = mutants.filter((m) => m.profile === 'smmu-hw' || m.profile === 'smmu-driver');
  assert.ok(smmu.length >= 10, `${smmu.length} smmu mutants`);
  // 150 sequences a mutant (a kill comes within the first dozens for all but a few): the test is that both checks agree, not how soon.
  for (const m of smmu) {
    const options = { runs: 150, seed: 5, timeoutMs: 5000, maxCommands: 30 };
    const incremental = await runProfile(m.adapter, options);
    const full = await runProfile(m.adapter, { ...options, fullCheck: true });
    assert.equal(essentials(incremental), essentials(full), m.name);
  }
});

test.run();
