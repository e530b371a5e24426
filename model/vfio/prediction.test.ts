import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { transition } from 'xstate';
import { machineTransitions } from '../../spec/machines.ts';
import { VFIO_TYPE1_EVENTS, vfioType1Machine } from '../../spec/vfio/type1-machine.ts';
import { RunContext } from '../run-context.ts';
import { TransitionTable, stateKey } from '../transition-table.ts';
import { OUTCOME_RETURNS, predict, vfioType1Table } from './prediction.ts';

/** One table filled whole (about 3,900 entries), for the tests below. */
const whole = new TransitionTable(vfioType1Machine, VFIO_TYPE1_EVENTS);

test('the vfioType1 table, filled whole, agrees with transition() on every state and event and reaches every transition', () => {
  const table = whole;
  const reached = new Set<string>();
  let n = 0;
  for (const [s, e, entry] of table.entries()) {
    const [next, actions] = transition(vfioType1Machine, s, e);
    assert.is(stateKey(entry.next), stateKey(next), `${stateKey(s)} + ${JSON.stringify(e)}`);
    assert.equal(
      [...entry.outcomes],
      actions.map((a) => a.type),
      `${stateKey(s)} + ${JSON.stringify(e)}`,
    );
    for (const k of entry.transitions) reached.add(k);
    n++;
  }
  assert.is(n, 4 * VFIO_TYPE1_EVENTS.length);
  assert.equal(
    machineTransitions(vfioType1Machine)
      .map((t) => t.key)
      .filter((k) => !reached.has(k)),
    [],
  );
});

test('a table filled on demand gives the entries of the table filled whole', () => {
  const lazy = new TransitionTable(vfioType1Machine, VFIO_TYPE1_EVENTS);
  const states = whole.states;
  // Walk the lazy table from its initial state through every event in turn, then compare each entry it filled.
  let s = lazy.initial;
  for (const [i, e] of VFIO_TYPE1_EVENTS.entries()) {
    const entry = lazy.step(s, e);
    const other = whole.peek(states.find((w) => stateKey(w) === stateKey(s))!, e)!;
    assert.equal([stateKey(entry.next), entry.outcomes, entry.transitions, entry.req, entry.taken], [stateKey(other.next), other.outcomes, other.transitions, other.req, other.taken], `event ${i}`);
    s = entry.next;
  }
  assert.throws(() => lazy.step(lazy.initial, { type: 'NOT_AN_EVENT' } as never), /no table entry/);
});

test('[VFIO-MAP-4] [VFIO-EXT-1] a prediction is the outcome as the number the ioctl returns, with its effects, and records coverage', () => {
  const ctx = new RunContext();
  const table = vfioType1Table();
  const map = predict(ctx, table.initial, { type: 'MAP_DMA', flagsValid: true, setVaddr: false, aligned: true, wraps: false, overlaps: true, entriesLeft: true, inIovaRange: true, vaddrBacked: true, bitmapFits: true });
  assert.equal([map.outcome, map.want, [...map.effects]], ['eexist', OUTCOME_RETURNS.eexist, ['eexist']]);
  assert.is(map.want, -17);
  const ext = predict(ctx, table.initial, { type: 'CHECK_EXTENSION', extension: 'supported' });
  assert.equal([ext.outcome, ext.want], ['supported', 1]);
  assert.is(ctx.coverage(vfioType1Machine).covered, 2);
});

test.run();
