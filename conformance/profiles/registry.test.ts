// The registry is the one list of profiles: PROFILES (for modules that cannot load it)
// agrees with it, each module sits under its own name, and what a profile's module says
// the kit plays is what the engine's system plays (the engine tests that, never a name).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PROFILES } from '../adapters/types.ts';
import { createSystem } from '../engine/system.ts';
import { profileOf, profiles } from './index.ts';

test('PROFILES lists the registry, in its order', () => {
  assert.equal([...PROFILES], Object.keys(profiles));
});

test('each module is registered under its own name', () => {
  for (const [name, module] of Object.entries(profiles)) assert.is(module.name, name);
});

test('the smmu profiles say which part the kit plays, and the system the engine builds for each plays that part', async () => {
  assert.equal([profileOf('smmu-hw').kitPlays, profileOf('smmu-driver').kitPlays], ['driver', 'smmu']);
  for (const name of ['smmu-hw', 'smmu-driver'] as const) {
    const sys = await createSystem(profileOf(name).reference(), { httu: 2, bbml: 2, iotlbCapacity: 4, dirtyCapable: true, pageGranular: false }, { timeoutMs: 2000 });
    assert.is(sys.kitPlays, profileOf(name).kitPlays, name);
  }
});

test.run();
