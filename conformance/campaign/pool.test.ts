// The pool's queue: every block handed out once, and a thread kept to its profiles.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { planCampaign } from './plan.ts';
import { BlockQueue } from './pool.ts';

test('each block is handed out once; a thread keeps to its profiles and takes from another only when none is left', () => {
  const units = planCampaign(['smmu-hw', 'smmu-driver', 'vfio-type1'], 400, 1).units;
  const queue = new BlockQueue(units);
  const a = {};
  const b = {};
  const got = new Map<object, number[]>([
    [a, []],
    [b, []],
  ]);
  // a takes three blocks for each one b takes, as a faster thread would.
  for (let turn = 0; queue.size > 0; turn++) {
    const thread = turn % 4 === 3 ? b : a;
    got.get(thread)!.push(queue.take(thread)!);
  }
  assert.is(queue.take(a), undefined);
  const all = [...got.values()].flat().sort((x, y) => x - y);
  assert.equal(
    all,
    units.map((_, i) => i),
  );
  const profiles = (t: object) => [...new Set(got.get(t)!.map((i) => units[i]!.profile))];
  assert.equal(profiles(a), ['smmu-hw', 'vfio-type1', 'smmu-driver']);
  assert.equal(profiles(b), ['smmu-driver']);
});

test('blocks given back are handed out again, lowest first', () => {
  const units = planCampaign(['iova-bitmap'], 300, 1).units;
  const queue = new BlockQueue(units);
  const t = {};
  assert.equal([queue.take(t), queue.take(t), queue.take(t)], [0, 1, 2]);
  queue.giveBack([2, 1]);
  assert.equal([queue.take(t), queue.take(t), queue.take(t)], [1, 2, undefined]);
});

test.run();
