import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { run } from '../step.ts';
import { domainTrackingMachine as m, TRACKING_STEP_POSTCONDITIONS, TRACKING_STEPS, type TrackingEvent } from './tracking-machine.ts';

const set = (enable: boolean, pageGranular = false, hwDirty = true): TrackingEvent => ({ type: 'SET_DIRTY_TRACKING', enable, hwDirty, pageGranular });

test('[TRACK-1] enabling without hardware dirty support is -EOPNOTSUPP and stays off', () => {
  const [s, out] = run(m, [set(true, false, false)]);
  assert.is(s.value, 'off');
  assert.equal(out, ['rejectEopnotsupp']);
});
test('[TRACK-2] [TRACK-3] enabling sets HA/HD on every stream before clearing stale dirty state, then invalidates', () => {
  const [s, out] = run(m, [set(true)]);
  assert.is(s.value, 'on');
  assert.equal(out, ['setHaHdAllStreams', 'clearStaleDirty', 'invalidateAll']);
});
test('[TRACK-4] enabling with the page-granular policy then splits every block', () => {
  assert.equal(run(m, [set(true, true)])[1], ['setHaHdAllStreams', 'clearStaleDirty', 'invalidateAll', 'splitBlocks']);
});
test('[TRACK-5] enabling while on and disabling while off do nothing', () => {
  assert.equal(run(m, [set(true), set(true, true)])[1].length, 3);
  const [s, out] = run(m, [set(false)]);
  assert.is(s.value, 'off');
  assert.equal(out, []);
});
test('[TRACK-6] disabling merges back (page-granular), marks leaves dirty, invalidates, then clears HA/HD', () => {
  const [s, out] = run(m, [set(true, true), set(false, true)]);
  assert.is(s.value, 'off');
  assert.equal(out.slice(4), ['mergeBlocks', 'markWritableDirty', 'invalidateAll', 'clearHaHdAllStreams']);
  assert.equal(run(m, [set(true), set(false)])[1].slice(3), ['markWritableDirty', 'invalidateAll', 'clearHaHdAllStreams']);
});
test('[TRACK-7] a stream attached while on gets HA/HD; while off, nothing', () => {
  assert.equal(run(m, [set(true), { type: 'ATTACH_STREAM' }])[1].slice(3), ['setHaHdOnStream']);
  assert.equal(run(m, [{ type: 'ATTACH_STREAM' }])[1], []);
});
test('[TRACK-2] every step has a stated postcondition', () => {
  for (const s of TRACKING_STEPS) assert.type(TRACKING_STEP_POSTCONDITIONS[s], 'string');
});

test.run();
