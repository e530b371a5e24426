// A counterexample carries the configuration of its own profile: the reports of an
// iova-bitmap or vfio-type1 failure name that profile's fields, never the SMMU's.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runProfile } from '../engine/run-profile.ts';
import { findMutant } from '../mutants/index.ts';
import { jsonReportObject } from '../report/json.ts';
import { junitReport } from '../report/junit.ts';

const SMMU_FIELDS = /\b(httu|bbml|iotlbCapacity|dirtyCapable|pageGranular|startTracking)\b/;

for (const [mutant, fields] of [
  ['vfio-clear-whole-range', ['hwDirty']],
  ['iova-bitmap-drops-past-window', ['iova', 'length', 'pageSize', 'offset', 'bitmapSize', 'maxPinnedPages']],
] as const) {
  test(`the JSON and JUnit reports of a ${mutant} failure carry its profile's configuration and no SMMU field`, async () => {
    const r = await runProfile(findMutant(mutant)!.adapter, { runs: 1000, seed: 1, timeoutMs: 5000, maxCommands: 30 });
    assert.is(r.verdict, 'does-not-conform');
    const config = r.counterexample!.config;
    for (const f of fields) assert.ok(f in config, `${f} in ${JSON.stringify(config)}`);
    const json = JSON.stringify(jsonReportObject([r]));
    assert.not.match(json, SMMU_FIELDS);
    const junit = junitReport([r]);
    assert.match(junit, new RegExp(`config: [^\\n]*${fields[0]}=`));
    assert.not.match(junit, SMMU_FIELDS);
  });
}

test.run();
