// Choices the architecture leaves to an SMMU and the kit's own SMMU does not take: an SMMU
// under test (smmu-hw) that takes them conforms, and takes them in the runs that say so
// (a pass earned on the choice, not around it).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { SmmuHwAdapter } from '../adapters/types.ts';
import { findMutant } from '../mutants/index.ts';
import { afFirstCachingSmmuAdapter, countedAfFirstCachingSmmuAdapter as counted, countedCdCachingSmmuAdapter, countedNeighbourPrefetchSmmuAdapter, countedWalkCachingSmmuAdapter } from '../mutants/smmu-architecture-variants.ts';
import { walkCacheDirectedTests } from './directed.ts';
import { runProfile } from './run-profile.ts';

/** `adapter` without iotlbEntries: the kit cannot see its IOTLB. */
function hiddenIotlb(adapter: SmmuHwAdapter): SmmuHwAdapter {
  return {
    ...adapter,
    async create(memory, config) {
      const { iotlbEntries: _hidden, ...hw } = await adapter.create(memory, config);
      return hw;
    },
  };
}

/** Asserts that `adapter` conforms on smmu-hw (strict) on each of `seeds`, `runs` runs each. */
async function conformsOn(adapter: SmmuHwAdapter, seeds: readonly number[], runs: number): Promise<void> {
  for (const seed of seeds) {
    const r = await runProfile(adapter, { runs, seed, timeoutMs: 2000, maxCommands: 30 });
    assert.is(r.verdict, 'conforms', `seed ${seed}: ${JSON.stringify(r.counterexample?.violation ?? r.undecided?.message)}`);
  }
}

for (const seed of [1, 2, 3]) {
  test(`an SMMU that sets AF and keeps the leaf on a permission fault (IHI 0070 G.b §3.13.2, DDI 0487 D8.15) conforms on smmu-hw, seed ${seed}`, async () => {
    const { adapter, seen } = counted();
    const r = await runProfile(adapter, { runs: 300, seed, timeoutMs: 2000, maxCommands: 30 });
    assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation ?? r.undecided?.message));
    assert.ok(seen.kept > 0, `no permission fault kept a leaf in ${r.commands} commands`);
  });
}

test('the same SMMU with its IOTLB hidden (no iotlbEntries) conforms: a kept leaf the kit cannot see is explained at the accesses it serves', async () => {
  const { adapter, seen } = counted();
  await conformsOn(hiddenIotlb(adapter), [1, 2], 300);
  assert.ok(seen.kept > 0);
});

test('runs reach a permission fault that sets AF, and one that keeps the leaf in the IOTLB', async () => {
  const { adapter, seen } = counted();
  await runProfile(adapter, { runs: 300, seed: 1, timeoutMs: 2000, maxCommands: 30 });
  assert.ok(seen.afSet > 0, 'no permission fault with HA on');
  assert.ok(seen.kept > 0, 'no permission-faulted leaf kept');
});

test('an SMMU whose IOTLB entries keep the HD they were filled with (IHI 0070 G.b §5.4.1) conforms on smmu-hw, and its runs write through such an entry after the kit changed the CD without a TLBI', async () => {
  const { adapter, seen } = countedCdCachingSmmuAdapter();
  await conformsOn(adapter, [1, 2, 3], 500);
  assert.ok(seen.usedCachedHd > 0, 'no write acted on a cached HD other than the CD');
});

test('[IOTLB-1] an SMMU that prefetches the next page into its IOTLB (IHI 0070 G.b §3.21.1, §4.2.2) conforms on smmu-hw, its entries shown through iotlbEntries', async () => {
  const { adapter, seen } = countedNeighbourPrefetchSmmuAdapter();
  await conformsOn(adapter, [1, 2, 3], 300);
  assert.ok(seen.prefetched > 0, 'no entry prefetched');
});

test('an SMMU with a walk cache that CMD_TLBI_NH_VA drops over its range (IHI 0070 G.b §4.4.2.4) conforms on smmu-hw, its walks starting from cached tables', async () => {
  const { adapter, seen } = countedWalkCachingSmmuAdapter();
  await conformsOn(adapter, [1, 2, 3], 300);
  assert.ok(seen.walkCacheHits > 0, 'no walk started from a cached table');
});

test('[IOTLB-9] each directed walk-cache test fails an SMMU whose walk cache outlives CMD_TLBI_NH_VA (the zoo mutant hw-walk-cache-kept), at the access after the table was freed', async () => {
  const mutant = findMutant('hw-walk-cache-kept')!;
  const ids = walkCacheDirectedTests().map((t) => t.id);
  assert.equal(ids, ['walkCache/merge', 'walkCache/blockOverEmptyTable']);
  for (const id of ids) {
    const r = await runProfile(mutant.adapter, { runs: 1, seed: 0, timeoutMs: 2000, maxCommands: 30, path: `directed:${id}` });
    assert.is(r.verdict, 'does-not-conform', id);
    assert.equal(r.counterexample!.violation.req, ['IOTLB-9'], id);
    assert.match(r.counterexample!.violation.actual, /read freed memory/, id);
    assert.is(r.replay?.path, `directed:${id}`);
  }
});

// Two counterexamples an outside SMMU model (2026-12-02) drew against the kit, replayed on the
// kit's own variants: each failed before the fix it names.

test('a write made faultable by the read-and-clear racing it (the clear first) may set AF: the choices are taken on the leaf as each order leaves it', async () => {
  const r = await runProfile(afFirstCachingSmmuAdapter(), { runs: 1, seed: 11, path: '53:0:0:0:0:3:2:3:1:7:6:5:5:7:7:7:7:8:8:8:8:8:8:8:8@SD/s:N', timeoutMs: 2000, maxCommands: 30, contract: 'linux-upstream' });
  assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation));
  assert.ok(r.commands >= 6, `the replay ran its steps (${r.commands})`);
});

test("after the kit changed the CDs itself, a stream attached later gets the others' HA/HD (CDs sharing an ASID must agree, IHI 0070 G.b §3.13)", async () => {
  const r = await runProfile(hiddenIotlb(countedCdCachingSmmuAdapter().adapter), {
    runs: 1,
    seed: 2548709910,
    path: '89:0:0:5:8:8:12:10:18:22:20:17:17:18:18:18:19:19:8:10:12:13:14:14:14:14:14:7@XE///p:9',
    timeoutMs: 2000,
    maxCommands: 30,
    contract: 'linux-upstream',
  });
  assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation));
  assert.ok(r.commands >= 7, `the replay ran its steps (${r.commands})`);
});

test.run();
