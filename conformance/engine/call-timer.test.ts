// The per-system call timer: one timer for a system's calls, with the same answers as `timed`.
import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CallTimer, Undecided } from './limits.ts';

test('a call that answers in time gives its answer', async () => {
  const t = new CallTimer(200);
  assert.is(await t.run('a', async () => 7), 7);
  assert.is(
    await t.run(
      () => 'b',
      async () => 8,
    ),
    8,
  );
});

test('a call that never answers is undecided after the limit, named', async () => {
  const t = new CallTimer(50);
  const started = performance.now();
  const e = await t
    .run(
      () => 'adapter map',
      () => new Promise<never>(() => {}),
    )
    .catch((x: unknown) => x);
  assert.instance(e, Undecided);
  assert.match((e as Error).message, 'adapter map did not answer within 50 ms');
  assert.ok(performance.now() - started >= 49);
});

test('the limit counts from each call, not from the timer armed by an earlier one', async () => {
  const t = new CallTimer(80);
  await t.run('first', async () => 1);
  await new Promise((r) => setTimeout(r, 60));
  // Armed 60 ms ago by the first call: the second still gets its whole 80 ms.
  assert.is(await t.run('second', () => new Promise((r) => setTimeout(() => r(2), 50))), 2);
});

test('a call that throws is undecided with what it threw; the timer then serves the next call', async () => {
  const t = new CallTimer(100);
  const e = await t.run('unmap', () => Promise.reject(new RangeError('bad'))).catch((x: unknown) => x);
  assert.match((e as Error).message, 'unmap threw: RangeError: bad');
  const sync = await t
    .run('map', () => {
      throw new TypeError('sync');
    })
    .catch((x: unknown) => x);
  assert.match((sync as Error).message, 'map threw: TypeError: sync');
  assert.is(await t.run('dma', async () => 3), 3);
});

test('a call made while another is in flight still has its own limit', async () => {
  const t = new CallTimer(50);
  const outer = t.run('outer', () => new Promise((r) => setTimeout(() => r('o'), 20)));
  const inner = await t.run('inner', () => new Promise<never>(() => {})).catch((x: unknown) => x);
  assert.match((inner as Error).message, 'inner did not answer within 50 ms');
  assert.is(await outer, 'o');
});

test('an idle timer does not keep the process alive', () => {
  const script = `import { CallTimer } from ${JSON.stringify(new URL('./limits.ts', import.meta.url).href)};
const t = new CallTimer(60_000);
await t.run('x', async () => 1);
console.log('done');`;
  const started = performance.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.is(r.stdout.trim(), 'done', r.stderr);
  assert.ok(performance.now() - started < 30_000);
});

test.run();
