// The walk caches as the rule on freeing table pages sees them (IOTLB-12): a table page a
// walk went through may be freed only once an invalidation covering that walk completed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WalkCaches, tablesOnWalk } from './walk-cache.ts';

const T = 0x4000_5000;
const walkedAt = (iova: number) => {
  const w = new WalkCaches();
  w.walked(iova, [{ table: T, level: 3 }]);
  return w;
};

test('[IOTLB-12] a table page freed while a walk through it is not invalidated is named, once', () => {
  const w = walkedAt(0x20_5000);
  w.freed(T);
  const v = w.take();
  assert.ok(v);
  assert.equal(v.req, ['IOTLB-12']);
  assert.match(v.expected, /L3 table page at 0x40005000/);
  assert.match(v.actual, /\[0x200000, 0x400000\)/);
  assert.is(w.take(), undefined);
});

test('[IOTLB-12] a TLBI covering the walk, completed by CMD_SYNC, lets the page be freed', () => {
  const w = walkedAt(0x20_5000);
  w.submitted([{ op: 'CMD_TLBI_NH_VA', iova: 0x20_0000, size: 0x20_0000 }, { op: 'CMD_SYNC' }]);
  w.freed(T);
  assert.is(w.take(), undefined);
});

test('[IOTLB-12] CMD_TLBI_NH_ASID completed by CMD_SYNC drops every walk', () => {
  const w = walkedAt(0x20_5000);
  w.submitted([{ op: 'CMD_TLBI_NH_ASID' }, { op: 'CMD_SYNC' }]);
  w.freed(T);
  assert.is(w.take(), undefined);
});

test('[IOTLB-12] a TLBI not yet completed by CMD_SYNC, or one outside the span the table translates, does not', () => {
  const pending = walkedAt(0x20_5000);
  pending.submitted([{ op: 'CMD_TLBI_NH_VA', iova: 0x20_0000, size: 0x20_0000 }]);
  pending.freed(T);
  assert.ok(pending.take());
  const elsewhere = walkedAt(0x20_5000);
  elsewhere.submitted([{ op: 'CMD_TLBI_NH_VA', iova: 0x40_0000, size: 0x1000 }, { op: 'CMD_SYNC' }]);
  elsewhere.freed(T);
  assert.ok(elsewhere.take());
});

test('[IOTLB-12] a TLBI at any address of the span drops the pointer to the table (Leaf = 0: the entry pointing at it translates the whole span), even one not page-aligned', () => {
  const other = walkedAt(0x20_5000);
  other.submitted([{ op: 'CMD_TLBI_NH_VA', iova: 0x3f_f000, size: 0x1000 }, { op: 'CMD_SYNC' }]);
  other.freed(T);
  assert.is(other.take(), undefined);
  const unaligned = walkedAt(0x20_5000);
  unaligned.submitted([{ op: 'CMD_TLBI_NH_VA', iova: 0x1f_f800, size: 0x1000 }, { op: 'CMD_SYNC' }]);
  unaligned.freed(T);
  assert.is(unaligned.take(), undefined);
});

test('[IOTLB-12] a page no walk went through (a table never linked, or any other frame) is freed silently', () => {
  const w = walkedAt(0x20_5000);
  w.freed(T + 0x1000);
  assert.is(w.take(), undefined);
});

test('tablesOnWalk: the table pages below the top one, down to the first entry that is not a table', () => {
  // L0 at 0x1000 -> L1 at 0x2000 -> L2 at 0x3000, whose entry for the address is invalid.
  const mem = new Map<number, bigint>([
    [0x1000, 0x2000n | 3n],
    [0x2000, 0x3000n | 3n],
  ]);
  const load = (a: number) => mem.get(a) ?? 0n;
  assert.equal(tablesOnWalk(load, 0x1000, 0x1000), [
    { table: 0x2000, level: 1 },
    { table: 0x3000, level: 2 },
  ]);
  assert.equal(tablesOnWalk(load, 0x1000, 2 ** 39), []);
});

test.run();
