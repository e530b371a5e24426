// eventLoopTurns(): a pause that costs nothing until its interval has passed, then lets the
// event loop run what waits on it (a worker's message, a timer) before the run goes on.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eventLoopTurns } from './event-loop-turn.ts';

const spin = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

test('no turn before the interval has passed since the last', () => {
  const pause = eventLoopTurns(1000);
  assert.is(pause(), undefined);
  spin(5);
  assert.is(pause(), undefined);
});

test('after the interval, a turn: what waits on the event loop runs before the pause resolves, and the interval starts again', async () => {
  const pause = eventLoopTurns(20);
  let ran = false;
  setImmediate(() => {
    ran = true;
  });
  spin(25);
  const turn = pause();
  assert.ok(turn !== undefined, 'a turn is due after 25 ms');
  await turn;
  assert.ok(ran, 'the callback queued before the pause ran during its turn');
  assert.is(pause(), undefined, 'no second turn right after one');
});

test('a chain of promises alone never lets a queued callback run; the same chain with the pause does', async () => {
  // The case it exists for: a block against an in-process adapter settles every await at once.
  const chain = async (steps: number, pause?: () => Promise<void> | undefined) => {
    for (let i = 0; i < steps; i++) {
      spin(1);
      const turn = pause?.();
      if (turn !== undefined) await turn;
      await Promise.resolve();
    }
  };
  let ran = false;
  setImmediate(() => {
    ran = true;
  });
  await chain(30);
  assert.not.ok(ran, 'without the pause the callback waited for the whole chain');
  ran = false;
  setImmediate(() => {
    ran = true;
  });
  const pause = eventLoopTurns(10);
  let sawIt = false;
  await chain(30, () => {
    const t = pause();
    return t === undefined ? undefined : t.then(() => void (sawIt = ran));
  });
  assert.ok(sawIt, 'with the pause the callback ran while the chain was still going');
});

test.run();
