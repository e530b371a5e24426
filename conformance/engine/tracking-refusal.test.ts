// setDirtyTracking on a domain that cannot track (not allocated for dirty tracking, or an
// SMMU without HTTU = 2): an enable is -EOPNOTSUPP (TRACK-1); a disable while off is 0
// (TRACK-5) or, as Linux's layering answers it, -EOPNOTSUPP too: iommufd refuses both for a
// domain without dirty_ops before the driver is reached.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceSmmuDriverAdapter } from '../adapters/reference.ts';
import type { SmmuDriverAdapter } from '../adapters/types.ts';
import { runProfile } from './run-profile.ts';

const EOPNOTSUPP = -95;

/** The reference driver, refusing every setDirtyTracking on a domain not allocated for dirty tracking, `enable` or not. */
function refusingBoth(refuseAlsoWhenCapable = false): SmmuDriverAdapter {
  const ref = referenceSmmuDriverAdapter();
  return {
    profile: 'smmu-driver',
    name: refuseAlsoWhenCapable ? 'refuses-disable-always' : 'refuses-disable-without-dirty-ops',
    async create(memory, smmu, config) {
      const d = await ref.create(memory, smmu, config);
      if (typeof d === 'number') return d;
      return { ...d, setDirtyTracking: async (enable) => (!enable && (!config.dirtyCapable || refuseAlsoWhenCapable) ? EOPNOTSUPP : d.setDirtyTracking(enable)) };
    },
  };
}

test('a disable refused with -EOPNOTSUPP on a domain that cannot track conforms, as Linux answers it', async () => {
  const r = await runProfile(refusingBoth(), { runs: 300, seed: 6, timeoutMs: 2000, maxCommands: 20 });
  assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation));
});

test('[TRACK-6] a disable refused on a domain that can track does not conform', async () => {
  const r = await runProfile(refusingBoth(true), { runs: 300, seed: 6, timeoutMs: 2000, maxCommands: 20 });
  assert.is(r.verdict, 'does-not-conform');
  assert.ok(r.counterexample!.violation.req.includes('TRACK-6'), JSON.stringify(r.counterexample!.violation));
});

test.run();
