import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { u64ToWire } from '../protocol/codec.ts';
import { scenarioArbitrary } from './iova-bitmap-profile.ts';

// A value the wire cannot carry (2^64 was cut to 0x0) would make a report show an
// argument that was never sent: the generator must never produce one.
test('iova-bitmap scenarios: every u64 argument (alloc and set) is in [0, 2^64), so it travels as sent', () => {
  const seen = { pgshift63: 0, overflow: 0 };
  fc.assert(
    fc.property(scenarioArbitrary(), (sc) => {
      if (sc.args.pageSize === 1n << 63n) seen.pgshift63++;
      for (const v of [sc.args.iova, sc.args.length, sc.args.pageSize, ...sc.sets.flatMap((s) => [s.iova, s.length])]) u64ToWire(v);
      // The range itself fits too (its last byte is a u64), unless it is the overflow class drawn on purpose (IOVA-BITMAP-5's -EOVERFLOW).
      if (sc.args.length > 0n && sc.args.iova + sc.args.length - 1n > (1n << 64n) - 1n) seen.overflow++;
    }),
    { numRuns: 3000, seed: 1 },
  );
  assert.ok(seen.pgshift63 > 0, 'the largest page size was drawn');
  assert.ok(seen.overflow > 0, 'a range past 2^64 was drawn (refused with -EOVERFLOW)');
});

test.run();
