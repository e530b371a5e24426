// The shape check of a recorded sequence's input (input-shape.ts): what shrinking adds to a
// generated operation is accepted, within its range, and anything else names its field.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { vfioType1InputProblem } from './input-shape.ts';

const round = (extra: object) => ({ config: { hwDirty: true }, ops: [{ k: 'round', pick: 0, writes: [1], bits: [], last: 2, read: 1, ...extra }] });

test("a vfio-type1 round's omit (the calls shrinking left out, four bits) is optional; outside 0..15 it is refused, naming the field", () => {
  assert.is(vfioType1InputProblem(round({})), undefined);
  for (const omit of [0, 5, 15]) assert.is(vfioType1InputProblem(round({ omit })), undefined, `omit ${omit}`);
  for (const omit of [16, -1, '3', 1.5]) assert.match(vfioType1InputProblem(round({ omit }))!, /^input\/ops\/0\/omit must be one of 0, 1, .*15$/, `omit ${String(omit)}`);
});

test('an omit on an operation other than a round is a field that operation does not have', () => {
  const dma = { config: { hwDirty: true }, ops: [{ k: 'dma', pick: 0, mapped: true, offset: 0, omit: 1 }] };
  assert.match(vfioType1InputProblem(dma)!, /input\/ops\/0 has a field "omit"/);
});

test.run();
