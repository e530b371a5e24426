// The pool's queue: every block handed out once, and a thread kept to its profiles; and
// the worker entry it starts, compiled or the sources.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { planCampaign } from './plan.ts';
import { BlockQueue, workerEntry } from './pool.ts';

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

test("from the sources, the pool starts dist/'s compiled worker only while dist/ was built from the sources as they are, and worker.ts otherwise", async () => {
  // A checkout of its own: the folders the stamp reads, and a built worker.
  const root = mkdtempSync(join(tmpdir(), 'dirtyspec-pool-'));
  for (const d of ['spec', 'model', 'impl', 'conformance/campaign', 'bin', 'dist/conformance/campaign']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'dist/conformance/campaign/worker.bundle.js'), '');
  const here = pathToFileURL(join(root, 'conformance/campaign/pool.ts')).href;
  const { sourceStamp } = (await import(new URL('../../scripts/source-stamp.js', import.meta.url).href)) as { sourceStamp(root: string): string };
  const entry = async () => (await workerEntry(here)).pathname.slice(root.length);
  assert.is(await entry(), '/conformance/campaign/worker.ts', 'no stamp: never built, or not by npm run build');
  writeFileSync(join(root, 'dist/.source-stamp'), sourceStamp(root));
  assert.is(await entry(), '/dist/conformance/campaign/worker.bundle.js');
  process.env.DIRTYSPEC_SOURCES = '1';
  try {
    assert.is(await entry(), '/conformance/campaign/worker.ts', 'DIRTYSPEC_SOURCES=1 asks for the sources');
  } finally {
    delete process.env.DIRTYSPEC_SOURCES;
  }
  writeFileSync(join(root, 'conformance/campaign/worker.ts'), '// edited after the build\n');
  assert.is(await entry(), '/conformance/campaign/worker.ts', 'a source changed since the build: dist/ is stale');
  // Compiled, the worker beside the module: the bundle where the build made it.
  assert.is((await workerEntry(pathToFileURL(join(root, 'dist/conformance/campaign/pool.js')).href)).pathname, join(root, 'dist/conformance/campaign/worker.bundle.js'));
  rmSync(root, { recursive: true, force: true });
});

test.run();
