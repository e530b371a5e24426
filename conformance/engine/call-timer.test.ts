// The per-system call timer: one timer for a system's calls, with the same answers as `timed`;
// and the watch each call in flight is published to (call-watch.ts), a value of its own per run.
import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CALL_WATCH_BYTES, CallWatch, overdueMs } from './call-watch.ts';
import { CallTimer, Undecided, timed } from './limits.ts';

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

/** A watch, and how far past its published deadline a moment `ms` from now is (0: no call in flight). */
function newWatch() {
  const buffer = new SharedArrayBuffer(CALL_WATCH_BYTES);
  const base = Date.now();
  return { watch: new CallWatch(buffer, base), overAt: (ms: number) => overdueMs(buffer, base, Date.now() + ms) };
}

test("a call in flight is published to its timer's watch with the call's limit, and cleared when it answers, throws or runs out", async () => {
  const a = newWatch();
  const t = new CallTimer(1000, a.watch);
  let during = -1;
  let past = -1;
  await t.run('map', async () => {
    during = a.overAt(900);
    past = a.overAt(5000);
  });
  assert.is(during, 0, 'within the limit');
  assert.ok(past >= 3900 && past <= 4100, `5 s from now is about 4 s past a 1 s limit: ${past}`);
  assert.is(a.overAt(60_000), 0, 'cleared once the call answered');
  await t.run('unmap', () => Promise.reject(new Error('x'))).catch(() => {});
  assert.is(a.overAt(60_000), 0, 'cleared once the call threw');
  const short = new CallTimer(30, a.watch);
  await short.run('dma', () => new Promise<never>(() => {})).catch(() => {});
  assert.is(a.overAt(60_000), 0, 'cleared once the engine gave up on the call');
  let weighted = -1;
  await t.run('huge unmap', async () => void (weighted = a.overAt(2500)), 3);
  assert.is(weighted, 0, "a weighted call's deadline is its weight in limits");
  let once = -1;
  await timed('create', 1000, async () => void (once = a.overAt(5000)), a.watch);
  assert.ok(once >= 3900 && once <= 4100, `timed publishes too: ${once}`);
  assert.is(a.overAt(60_000), 0);
});

test('two timers in one thread publish to their own watches only: the state is the watch, not the thread', async () => {
  const a = newWatch();
  const b = newWatch();
  const ta = new CallTimer(1000, a.watch);
  const tb = new CallTimer(1000, b.watch);
  const plain = new CallTimer(1000);
  let seen: number[] = [];
  await ta.run('a', async () => {
    seen = [a.overAt(5000), b.overAt(5000)];
    await tb.run('b', async () => {
      seen.push(a.overAt(5000), b.overAt(5000));
    });
    seen.push(b.overAt(5000));
    await plain.run('unwatched', async () => seen.push(b.overAt(5000)));
  });
  assert.ok(seen[0]! > 0, 'a is in a call');
  assert.is(seen[1], 0, 'b is not');
  assert.ok(seen[2]! > 0 && seen[3]! > 0, 'both are');
  assert.is(seen[4], 0, "b's call ended; a's did not end it");
  assert.is(seen[5], 0, 'a timer without a watch publishes nowhere');
  assert.is(a.overAt(60_000), 0);
});

test.run();
