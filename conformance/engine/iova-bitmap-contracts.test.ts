// The iova-bitmap profile's two contracts (spec/iova-bitmap/contracts.ts): Linux's, where
// the caller checks the arguments and records only inside the range and set has no
// result, and the hardened one with the errnos. The reference plays both (an option of
// the window code: impl/iova-bitmap semantics 'linux-v6.18').
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { referenceIovaBitmapAdapter } from '../adapters/reference.ts';
import type { IovaBitmapAdapter } from '../adapters/types.ts';
import { iovaBitmapCheckArgs } from '../../spec/iova-bitmap/rules.ts';
import { iovaBitmapContracts } from '../../spec/iova-bitmap/contracts.ts';
import { parseRunArgs } from '../cli/run.ts';
import { UsageError } from '../cli/args.ts';
import { iovaBitmapRunContract, runIovaBitmapProfile, scenarioArbitrary } from './iova-bitmap-profile.ts';

const options = { timeoutMs: 5000, maxCommands: 20 };
const linuxReference = () => referenceIovaBitmapAdapter('linux-v6.18', undefined, 'linux');

/**
 * The reference with Linux v6.18's iova_bitmap_for_each: fn(bitmap, bitmap->iova,
 * bitmap->length, opaque), the callback once with the whole range, its recordings through
 * iova_bitmap_set, whose window stays pinned until iova_bitmap_free.
 */
function v618Walk(inner: IovaBitmapAdapter): IovaBitmapAdapter {
  return {
    ...inner,
    async create(buffer, args) {
      const got = await inner.create(buffer, args);
      if (typeof got === 'number') return got;
      return {
        set: got.set,
        free: got.free,
        forEach: async (window) => {
          const answer = window(args.iova, args.length);
          for (const s of answer.set) await got.set(s.iova, s.length);
          return answer.ret;
        },
      };
    },
  };
}

test('[IOVA-BITMAP-2] [IOVA-BITMAP-10] a Linux-faithful set (no result, no clipping) conforms under contract linux, and the report names it', async () => {
  const r = await runIovaBitmapProfile(linuxReference(), { ...options, runs: 300, seed: 1 });
  assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation));
  assert.is(r.contract?.name, 'linux');
  assert.not.ok(
    r.requirements.some((x) => ['IOVA-BITMAP-1', 'IOVA-BITMAP-4', 'IOVA-BITMAP-9'].includes(x.id)),
    'the caller obligations are not checked on the implementation',
  );
});

test("[IOVA-BITMAP-10] Linux v6.18's walk, whose window stays pinned until iova_bitmap_free, conforms under linux; under hardened the walk must leave nothing pinned", async () => {
  for (const seed of [1, 2, 3]) {
    const r = await runIovaBitmapProfile(v618Walk(linuxReference()), { ...options, runs: 300, seed });
    assert.is(r.verdict, 'conforms', `seed ${seed}: ${JSON.stringify(r.counterexample?.violation)}`);
    assert.ok(
      r.requirements.some((x) => x.id === 'IOVA-BITMAP-10' && x.verdict === 'pass'),
      `seed ${seed}: the walk was checked`,
    );
  }
  const hardened = await runIovaBitmapProfile(v618Walk(referenceIovaBitmapAdapter()), { ...options, runs: 300, seed: 1 });
  assert.is(hardened.verdict, 'does-not-conform');
  assert.equal(hardened.counterexample!.violation.req, ['IOVA-BITMAP-10', 'IOVA-BITMAP-6']);
});

test('[IOVA-BITMAP-9] [IOVA-BITMAP-5] a Linux-faithful set does not conform under contract hardened, naming IOVA-BITMAP-9', async () => {
  for (const seed of [1, 2, 3]) {
    const r = await runIovaBitmapProfile(linuxReference(), { ...options, runs: 300, seed, iovaBitmapContract: 'hardened' });
    assert.is(r.verdict, 'does-not-conform', `seed ${seed}`);
    assert.is(r.contract?.name, 'hardened');
    assert.is(r.contract?.declared, 'linux');
    const req = r.counterexample!.violation.req;
    assert.ok(req.includes('IOVA-BITMAP-9') || req.includes('IOVA-BITMAP-5'), `seed ${seed}: ${req.join(', ')}`);
  }
});

test('[IOVA-BITMAP-9] the hardened reference conforms under contract linux too: checks the caller never needs are allowed', async () => {
  const r = await runIovaBitmapProfile(referenceIovaBitmapAdapter(), { ...options, runs: 300, seed: 4, iovaBitmapContract: 'linux' });
  assert.is(r.verdict, 'conforms');
  assert.is(r.contract?.name, 'linux');
});

test('[IOVA-BITMAP-5] [IOVA-BITMAP-9] [IOVA-BITMAP-6] under linux the kit sends only what Linux callers may: valid alloc arguments, recordings inside the range, pinnable pages', () => {
  for (const sc of fc.sample(scenarioArbitrary(iovaBitmapContracts.linux), { numRuns: 2000, seed: 5 })) {
    const { iova, length, pageSize, bitmapSize } = sc.args;
    assert.is(iovaBitmapCheckArgs({ iova, length, pageSize, bitmapBytes: bitmapSize }).errno, 0);
    for (const s of sc.sets) assert.ok(s.length > 0n && s.iova >= iova && s.iova + s.length <= iova + length, `${s.iova} +${s.length} outside [${iova}, +${length})`);
    assert.is(sc.unpinnable, undefined);
  }
});

test('[IOVA-BITMAP-5] under linux a recording over more than one page starts and ends on page boundaries, as a whole IOPTE does; one inside a page may be partial', () => {
  let partial = 0;
  let multi = 0;
  for (const sc of fc.sample(scenarioArbitrary(iovaBitmapContracts.linux), { numRuns: 2000, seed: 6 })) {
    const { iova, pageSize } = sc.args;
    for (const s of sc.sets) {
      const first = (s.iova - iova) / pageSize;
      const last = (s.iova + s.length - 1n - iova) / pageSize;
      if (first === last) {
        if (s.iova % pageSize !== 0n || s.length !== pageSize) partial++;
        continue;
      }
      multi++;
      assert.ok((s.iova - iova) % pageSize === 0n && s.length % pageSize === 0n, `[${s.iova}, +${s.length}) at page size ${pageSize}`);
    }
  }
  assert.ok(partial > 100 && multi > 100, `${partial} partial, ${multi} multi-page recordings`);
});

test('the contract a run checks: --contract, else the declared one, else hardened', () => {
  assert.is(iovaBitmapRunContract({}, undefined).contract.name, 'hardened');
  assert.is(iovaBitmapRunContract({ contract: 'linux' }, undefined).contract.name, 'linux');
  assert.equal(iovaBitmapRunContract({ contract: 'linux' }, 'hardened'), { contract: iovaBitmapContracts.hardened, declared: 'linux' });
});

test('dirtyspec run --contract linux|hardened selects the iova-bitmap contract; an unknown name lists both kinds', () => {
  assert.is(parseRunArgs(['--contract', 'linux'])!.iovaBitmapContract, 'linux');
  assert.is(parseRunArgs(['--contract', 'linux'])!.contract, undefined);
  assert.is(parseRunArgs(['--contract', 'linux-upstream'])!.iovaBitmapContract, undefined);
  assert.throws(
    () => parseRunArgs(['--contract', 'lenient']),
    (e: unknown) => e instanceof UsageError && /strict, linux-upstream, rfc-2021 \(smmu profiles\) or hardened, linux \(iova-bitmap\)/.test((e as Error).message),
  );
});

test('--contract linux without profile iova-bitmap among the profiles asked is a usage error naming the smmu contracts', () => {
  assert.throws(
    () => parseRunArgs(['--profile', 'smmu-driver', '--contract', 'linux']),
    (e: unknown) => e instanceof UsageError && /one of strict, linux-upstream, rfc-2021, got "linux" \(linux is a contract of profile iova-bitmap/.test((e as Error).message),
  );
});

test('[IOVA-BITMAP-3] under linux a wrong set result at a page size from 2^31 names IOVA-BITMAP-3 too (Linux v6.11 with the int 1 << pgshift pinned past the bitmap and failed there)', async () => {
  const inner = linuxReference();
  const adapter: IovaBitmapAdapter = {
    ...inner,
    async create(buffer, args) {
      const got = await inner.create(buffer, args);
      if (typeof got === 'number' || args.pageSize < 1n << 31n) return got;
      return { ...got, set: async () => -14 };
    },
  };
  for (const seed of [1, 2, 3]) {
    const r = await runIovaBitmapProfile(adapter, { ...options, runs: 300, seed });
    assert.is(r.verdict, 'does-not-conform', `seed ${seed}`);
    assert.ok(r.counterexample!.violation.req.includes('IOVA-BITMAP-3'), `seed ${seed}: ${r.counterexample!.violation.req.join(', ')}`);
  }
});

test.run();
