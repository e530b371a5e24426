// Merging blocks' results: the rules, and that merging in any grouping and order (the
// shards of a campaign, merged later) gives what merging every block at once gives.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ProfileResult } from '../engine/run-profile.ts';
import { blockPart, mergeParts, type Part } from './merge.ts';

const KEYS = ['a --X#0', 'a --Y#0', 'b --X#0', 'b --Z#0', 'c --Y#0'];
const IDS = ['NOLOSS-1', 'PTE-1', 'IOTLB-2', 'IOTLB-10', 'HTTU-2'];

function block(b: number, verdict: ProfileResult['verdict'], missing: string[], reqs: [string, 'pass' | 'fail' | 'undecided'][], runs = 10): ProfileResult {
  const reached = new Set(reqs.map(([id]) => id));
  return {
    name: 'smmu-hw',
    adapter: 'reference',
    verdict,
    runs,
    commands: runs * 3,
    seconds: 0.25,
    seed: 1000 + b,
    transitionCoverage: { leaf: { covered: KEYS.length - missing.length, total: KEYS.length, missing } },
    requirements: reqs.map(([id, v]) => ({ id, verdict: v })),
    unreached: IDS.filter((id) => !reached.has(id)),
    ...(verdict === 'does-not-conform'
      ? {
          counterexample: {
            config: { httu: 2, bbml: 2, iotlbCapacity: 1, dirtyCapable: true, pageGranular: false, startTracking: true },
            steps: [],
            violation: { kind: 'loss' as const, req: ['NOLOSS-1'], expected: `block ${b}`, actual: 'x' },
          },
          replay: { seed: 1000 + b, path: `${b}:1@` },
        }
      : {}),
    ...(verdict === 'undecided' ? { undecided: { message: `block ${b} hung`, steps: [] } } : {}),
  };
}

test('counts add up, coverage is the union, and the requirements take the worst verdict any block gave', () => {
  const m = mergeParts(
    [
      blockPart(0, block(0, 'conforms', ['a --Y#0', 'b --Z#0', 'c --Y#0'], [['NOLOSS-1', 'pass']])),
      blockPart(
        1,
        block(
          1,
          'conforms',
          ['a --X#0', 'b --Z#0', 'c --Y#0'],
          [
            ['NOLOSS-1', 'pass'],
            ['IOTLB-10', 'pass'],
          ],
        ),
      ),
      blockPart(
        2,
        block(
          2,
          'does-not-conform',
          ['b --Z#0', 'c --Y#0'],
          [
            ['NOLOSS-1', 'fail'],
            ['IOTLB-2', 'pass'],
          ],
          40,
        ),
      ),
    ],
    7,
  );
  const r = m.result;
  assert.is(r.verdict, 'does-not-conform');
  assert.is(r.seed, 7);
  assert.is(r.runs, 60);
  assert.is(r.commands, 180);
  assert.is(r.seconds, 0.75);
  assert.equal(r.transitionCoverage.leaf, { covered: 3, total: 5, missing: ['b --Z#0', 'c --Y#0'] });
  assert.equal(r.requirements, [
    { id: 'IOTLB-2', verdict: 'pass' },
    { id: 'IOTLB-10', verdict: 'pass' },
    { id: 'NOLOSS-1', verdict: 'fail' },
  ]);
  assert.equal(r.unreached, ['HTTU-2', 'PTE-1']);
  assert.equal(m.blocks, [0, 1, 2]);
  assert.is(m.failedBlock, 2);
  assert.equal(r.replay, { seed: 1002, path: '2:1@' });
});

test('the failing block with the lowest index gives the counterexample; failure outranks undecided', () => {
  const m = mergeParts(
    [blockPart(4, block(4, 'does-not-conform', [], [['NOLOSS-1', 'fail']])), blockPart(1, block(1, 'undecided', [], [['NOLOSS-1', 'undecided']])), blockPart(3, block(3, 'does-not-conform', [], [['NOLOSS-1', 'fail']]))],
    7,
  );
  assert.is(m.result.verdict, 'does-not-conform');
  assert.is(m.failedBlock, 3);
  assert.is(m.result.counterexample?.violation.expected, 'block 3');
  assert.is(m.result.undecided, undefined);
  const u = mergeParts([blockPart(5, block(5, 'undecided', [], [])), blockPart(0, block(0, 'conforms', [], [])), blockPart(2, block(2, 'undecided', [], []))], 7);
  assert.is(u.result.verdict, 'undecided');
  assert.is(u.undecidedBlock, 2);
  assert.is(u.result.undecided?.message, 'block 2 hung');
});

test('a block twice, or parts of two profiles, cannot be merged', () => {
  assert.throws(() => mergeParts([blockPart(1, block(1, 'conforms', [], [])), blockPart(1, block(1, 'conforms', [], []))], 7), /block 1 of smmu-hw twice/);
  assert.throws(() => mergeParts([blockPart(0, block(0, 'conforms', [], [])), blockPart(1, { ...block(1, 'conforms', [], []), name: 'smmu-driver' })], 7), /profile smmu-driver merged with smmu-hw/);
});

const verdictArb = fc.constantFrom<ProfileResult['verdict']>('conforms', 'conforms', 'conforms', 'does-not-conform', 'undecided');
const blockArb = (b: number) =>
  fc.tuple(verdictArb, fc.subarray(KEYS), fc.subarray(IDS), fc.integer({ min: 1, max: 100 })).map(([verdict, missing, reached, runs]) =>
    block(
      b,
      verdict,
      missing,
      reached.map((id, i): [string, 'pass' | 'fail' | 'undecided'] => [id, verdict === 'undecided' ? 'undecided' : verdict === 'does-not-conform' && i === 0 ? 'fail' : 'pass']),
      runs,
    ),
  );

test('merging the shards of a campaign gives what merging all its blocks gives, for any shards and order', () => {
  const campaign = fc.integer({ min: 1, max: 12 }).chain((count) =>
    fc.tuple(
      fc.tuple(...Array.from({ length: count }, (_, b) => blockArb(b))),
      fc.integer({ min: 1, max: count }),
      fc.shuffledSubarray(
        Array.from({ length: count }, (_, b) => b),
        { minLength: count, maxLength: count },
      ),
    ),
  );
  fc.assert(
    fc.property(campaign, ([results, of, order]) => {
      const whole = mergeParts(
        results.map((r, b) => blockPart(b, r)),
        7,
      );
      const shards: Part[] = [];
      for (let i = 0; i < of; i++) {
        const blocks = order.filter((b) => b % of === i);
        if (blocks.length > 0)
          shards.push(
            mergeParts(
              blocks.map((b) => blockPart(b, results[b]!)),
              7,
            ),
          );
      }
      const merged = mergeParts(shards.reverse(), 7);
      assert.equal(merged, whole);
    }),
    { numRuns: 300, seed: 42 },
  );
});

test.run();
