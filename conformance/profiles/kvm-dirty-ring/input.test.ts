// check-trace reads a recorded kvm-dirty-ring or dirty-ring-collector sequence's input through
// the profile's shape check: every input the kit generates must pass it, or a trace of a
// real run is undecided (an aimed op's options and the signals were once left out).
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dirtyRingCollectorInputProblem } from '../dirty-ring-collector/module.ts';
import { collectorScenarioArbitrary } from '../dirty-ring-collector/profile.ts';
import { kvmDirtyRingInputProblem } from './module.ts';
import { ringScenarioArbitrary } from './profile.ts';

test('every kvm-dirty-ring input the kit generates passes the shape check-trace reads it with (2,000 inputs)', () => {
  fc.assert(
    fc.property(ringScenarioArbitrary(30), (sc) => kvmDirtyRingInputProblem(JSON.parse(JSON.stringify(sc))) === undefined),
    { numRuns: 2000, seed: 1 },
  );
});

test('every dirty-ring-collector input the kit generates passes the shape check-trace reads it with (2,000 inputs)', () => {
  fc.assert(
    fc.property(collectorScenarioArbitrary(30), (sc) => dirtyRingCollectorInputProblem(JSON.parse(JSON.stringify(sc))) === undefined),
    { numRuns: 2000, seed: 1 },
  );
});

test('the shape check names a malformed signal draw', () => {
  const sc = { config: { arch: 'x86', ringBytes: 4096, vcpus: 1, withBitmap: false, late: false, enables: [] }, ops: [], delays: [] };
  assert.is(kvmDirtyRingInputProblem({ ...sc, signals: [0, -1, 5] }), undefined);
  assert.match(kvmDirtyRingInputProblem({ ...sc, signals: [-2] })!, /input\/signals\/0 must be an integer -1\.\./);
});

test.run();
