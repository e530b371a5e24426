// Blocks and shards: every block in exactly one shard, seeds fixed by (seed, block).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BLOCK_RUNS, PlanError, blockCount, blockRuns, blockSeed, parseShard, planCampaign, shardBlocks } from './plan.ts';

test('a campaign is cut into blocks of BLOCK_RUNS runs, the last one shorter', () => {
  assert.is(blockCount(1), 1);
  assert.is(blockCount(BLOCK_RUNS), 1);
  assert.is(blockCount(BLOCK_RUNS + 1), 2);
  assert.equal(
    Array.from({ length: blockCount(250) }, (_, b) => blockRuns(250, b)),
    [100, 100, 50],
  );
});

test("block 0's seed is the campaign's; the others are 32-bit, fixed and distinct", () => {
  assert.is(blockSeed(7, 0), 7);
  assert.is(blockSeed(-5, 0), -5);
  const seeds = new Set<number>();
  for (let b = 1; b <= 2000; b++) {
    const s = blockSeed(7, b);
    assert.ok(Number.isInteger(s) && s >= 0 && s <= 0xffff_ffff, `block ${b}: ${s}`);
    assert.is(blockSeed(7, b), s, 'the same every time');
    seeds.add(s);
  }
  assert.is(seeds.size, 2000);
  assert.is.not(blockSeed(7, 1), blockSeed(8, 1));
  assert.is.not(blockSeed(-1, 1), blockSeed(0xffff_ffff, 2));
});

test('the shards of a campaign are disjoint and together run every block', () => {
  for (const count of [1, 2, 3, 10, 17]) {
    for (let of = 1; of <= count; of++) {
      const seen = Array.from({ length: of }, (_, i) => shardBlocks(count, { index: i + 1, of })).flat();
      assert.equal(
        [...seen].sort((a, b) => a - b),
        shardBlocks(count, undefined),
        `${count} blocks in ${of} shards`,
      );
    }
  }
  assert.equal(shardBlocks(10, { index: 2, of: 3 }), [1, 4, 7]);
});

test('--shard is i/n with 1 <= i <= n; anything else is a message naming the rule', () => {
  assert.equal(parseShard('2/3'), { index: 2, of: 3 });
  assert.match(parseShard('0/3') as string, /i must be from 1 to n \(3\)/);
  assert.match(parseShard('4/3') as string, /i must be from 1 to n/);
  assert.match(parseShard('1/0') as string, /n must be from 1/);
  assert.match(parseShard('two') as string, /--shard must be i\/n .* got "two"/);
});

test('a plan runs each profile over the same blocks; the directed tests only in block 0', () => {
  const plan = planCampaign(['smmu-hw', 'vfio-type1'], 350, 9, { shard: { index: 1, of: 2 } });
  assert.equal(plan.blocks, [0, 2]);
  assert.equal(
    plan.units.map((u) => [u.profile, u.block, u.runs, u.directed]),
    [
      ['smmu-hw', 0, 100, true],
      ['smmu-hw', 2, 100, false],
      ['vfio-type1', 0, 100, true],
      ['vfio-type1', 2, 100, false],
    ],
  );
  assert.equal(
    plan.units.map((u) => u.seed),
    [9, blockSeed(9, 2), 9, blockSeed(9, 2)],
  );
  assert.equal(
    planCampaign(['iova-bitmap'], 350, 9, { block: 3 }).units.map((u) => [u.block, u.runs]),
    [[3, 50]],
  );
});

test('a shard or block beyond the campaign is an error saying how many there are', () => {
  assert.throws(
    () => planCampaign(['smmu-hw'], 200, 1, { shard: { index: 3, of: 3 } }),
    (e: unknown) => e instanceof PlanError && /runs no block: the campaign has 2 blocks .* raise --runs to at least 201/.test(e.message),
  );
  assert.throws(
    () => planCampaign(['smmu-hw'], 200, 1, { block: 2 }),
    (e: unknown) => e instanceof PlanError && /--block 2: the campaign has blocks 0 to 1/.test(e.message),
  );
});

test.run();
