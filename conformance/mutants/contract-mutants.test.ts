// The contract mutants: each in the zoo, declaring the contract it runs under, with a
// description that justifies its class and one directed probe (a scenario through the
// mutant and through the contract adapter it mutates, which mutants.test.ts runs).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { SmmuDriverAdapter } from '../adapters/types.ts';
import { contractProbes, linuxUpstreamMutants, rfc2021Mutants } from './contract-mutants.ts';
import { findMutant } from './index.ts';
import { BUG_CLASSES } from './types.ts';

test('the contract mutants: at least three per non-strict contract, each in the zoo, declaring its contract, kebab-case, a class it justifies, one directed probe', () => {
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
      assert.is(contractProbes.filter((p) => p.mutant === m.name).length, 1, `${m.name} has one directed probe (mutants.test.ts runs it)`);
      assert.is(findMutant(m.name), m, `${m.name} is in the zoo`);
    }
  }
});

test.run();
