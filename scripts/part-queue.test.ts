// npm test's runners and the background install of chromium (scripts/part-queue.js).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { partQueue } from './part-queue.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

test('parts are taken in order, each once, then -1', async () => {
  const q = partQueue(3, () => false, Promise.resolve());
  assert.equal([await q.next(), await q.next(), await q.next(), await q.next()], [0, 1, 2, -1]);
});

test('a part that waits for the install is passed over while it runs, and taken once it is there', async () => {
  const install = deferred();
  const q = partQueue(3, (i) => i === 0, install.promise);
  assert.is(await q.next(), 1);
  assert.is(await q.next(), 2);
  const waiting = q.next();
  let got: number | undefined;
  void waiting.then((i) => (got = i));
  await new Promise((r) => setTimeout(r, 10));
  assert.is(got, undefined, 'only a waiting part is left: the runner waits');
  install.resolve();
  assert.is(await waiting, 0);
  assert.is(await q.next(), -1);
});

test('two runners asking at once never get the same part', async () => {
  const install = deferred();
  const q = partQueue(4, (i) => i < 2, install.promise);
  const first = [q.next(), q.next(), q.next()];
  install.resolve();
  const got = [...(await Promise.all(first)), await q.next(), await q.next()];
  assert.equal([...got].sort(), [-1, 0, 1, 2, 3]);
});

test('an install that fails (a rejected promise) still releases the waiting parts: their tests then fail with their own reason', async () => {
  const q = partQueue(2, (i) => i === 0, Promise.reject(new Error('apt-get failed')));
  assert.is(await q.next(), 1);
  assert.is(await q.next(), 0);
  assert.is(await q.next(), -1);
});

test.run();
