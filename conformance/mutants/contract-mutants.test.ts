// The contract mutants: each one deviates from the contract adapter it mutates (the
// linux-upstream or rfc-2021 example, conformance/examples/linux-upstream/), shown by one
// directed scenario through both, in the manner of mutants.test.ts; and each declares the
// contract it runs under, with a description that justifies its class.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { SmmuDriverAdapter } from '../adapters/types.ts';
import { contractMutants, contractProbes, linuxUpstreamMutants, rfc2021Mutants } from './contract-mutants.ts';
import { BUG_CLASSES } from './types.ts';

const findMutant = (name: string) => contractMutants.find((m) => m.name === name);
const directedTitles: string[] = [];
function directed(title: string, fn: () => Promise<void>): void {
  directedTitles.push(title);
  test(title, fn);
}

for (const p of contractProbes) {
  directed(p.title, async () => {
    assert.equal(await p.run(p.reference), p.want.reference, 'the reference');
    assert.equal(await p.run(findMutant(p.mutant)!.adapter), p.want.mutant, 'the mutant');
  });
}

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
