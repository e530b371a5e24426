// The descriptor model's own operations on inputs at the sizes a driver may choose.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DescriptorModel } from './descriptor-model.ts';
import { RunContext } from './run-context.ts';

test('a map of 2^18 pages in one call is modelled (the range of its leaves was once found by a spread of them all, past the argument limit)', () => {
  const model = new DescriptorModel(new RunContext(), false, false, true);
  const pages = 2 ** 18;
  const created = Array.from({ length: pages }, (_, i) => ({ iova: 2 ** 32 + i * 4096, level: 3 as const, oa: 2 ** 33 + i * 4096 }));
  model.map(created, true);
  assert.is(model.leaves.size, pages);
  assert.ok(model.inOneMapping(2 ** 32, pages * 4096), 'one mapping over the whole range');
});

test.run();
