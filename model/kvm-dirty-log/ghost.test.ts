import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Violation } from '../violation.ts';
import { SlotGhost } from './ghost.ts';

const report = (g: SlotGhost, pages: number[], clear: boolean) => {
  g.begin();
  g.endReport(new Set(pages), clear, ['KVM-LOG-5']);
};

test('[NOLOSS-1] [KVM-LOG-5] a report missing an owed page is a loss', () => {
  const g = new SlotGhost(100, false);
  g.write(3);
  g.begin();
  try {
    g.endReport(new Set(), true, ['KVM-LOG-5']);
    assert.unreachable();
  } catch (e) {
    assert.ok(e instanceof Violation && e.kind === 'loss' && e.req.includes('NOLOSS-1'));
  }
});

test('[PRECISION-1] [KVM-LOG-6] a page reported without a write is a false dirty; under manual protect a report discharges nothing', () => {
  const g = new SlotGhost(100, false);
  g.write(3);
  report(g, [3], false);
  report(g, [3], false);
  g.begin();
  assert.throws(
    () => g.endReport(new Set([3, 4]), false, ['KVM-LOG-6']),
    (e: unknown) => e instanceof Violation && e.kind === 'precision',
  );
});

test('[NOLOSS-2] [KVM-CLEAR-7] a page written during a clearing call and discharged by it may be reported again; one not discharged stays owed', () => {
  const g = new SlotGhost(100, false);
  g.write(1);
  g.begin();
  g.write(1);
  g.write(2);
  g.endDischarge([1]);
  assert.equal([...g.owed], [2]);
  report(g, [1, 2], true);
  assert.equal([...g.owed], []);
});

test('[KVM-SLOT-11] [KVM-LOG-7] INITIALLY_SET owes every page; -EFAULT after the take discharges them all', () => {
  const g = new SlotGhost(70, true);
  assert.is(g.owed.size, 70);
  g.begin();
  g.write(5);
  g.endTakenWithoutReport();
  assert.is(g.owed.size, 0);
  report(g, [5], true);
});

test('[NOLOSS-2] a page written during a read-and-clear report that left it out is raced: the next report could lose it, and a loss of it names NOLOSS-2', () => {
  const g = new SlotGhost(100, false);
  g.begin();
  g.write(4);
  g.endReport(new Set(), true, ['KVM-LOG-5']);
  g.begin();
  assert.ok(g.racedOwed);
  assert.throws(
    () => g.endReport(new Set(), true, ['KVM-LOG-5']),
    (e: unknown) => e instanceof Violation && e.kind === 'loss' && e.req.join() === 'KVM-LOG-5,NOLOSS-1,NOLOSS-2',
  );
});

test('[NOLOSS-2] a page written during a report under manual protect (which clears nothing) is not raced: its loss names NOLOSS-1 alone; once reported-and-cleared, no longer raced', () => {
  const g = new SlotGhost(100, false);
  g.begin();
  g.write(4);
  g.endReport(new Set(), false, ['KVM-LOG-6']);
  g.begin();
  assert.not.ok(g.racedOwed);
  assert.throws(
    () => g.endReport(new Set(), false, ['KVM-LOG-6']),
    (e: unknown) => e instanceof Violation && e.req.join() === 'KVM-LOG-6,NOLOSS-1',
  );
  const h = new SlotGhost(100, false);
  h.begin();
  h.write(4);
  h.endDischarge([]);
  report(h, [4], true);
  h.begin();
  assert.not.ok(h.racedOwed);
});

const CLEAR = { op: 'KVM_CLEAR_DIRTY_LOG(slot 0x0, first_page 0, num_pages 64, 8 bytes, clearing 3)', req: ['KVM-CLEAR-7', 'NOLOSS-2'] };

test('[KVM-CLEAR-7] [NOLOSS-2] a page owed when a CLEAR began that it was not asked to clear, missing from a later report, is charged to the clear before the report', () => {
  const g = new SlotGhost(64, false);
  g.write(3);
  g.write(40);
  g.begin();
  g.endClear([3], CLEAR);
  g.begin();
  assert.ok(g.keptOwed, 'page 40 was kept by the clear');
  try {
    g.endReport(new Set(), false, ['KVM-LOG-6']);
    assert.unreachable();
  } catch (e) {
    assert.ok(e instanceof Violation && e.kind === 'loss', String(e));
    assert.equal(e.req, ['KVM-CLEAR-7', 'NOLOSS-2', 'KVM-LOG-6', 'NOLOSS-1']);
    assert.match(e.expected, /40 of the slot, kept dirty by KVM_CLEAR_DIRTY_LOG/);
  }
});

test("[KVM-CLEAR-7] a page a report held after the clear kept it is no longer the clear's: a later loss of it names the report alone", () => {
  const g = new SlotGhost(64, false);
  g.write(40);
  g.begin();
  g.endClear([], CLEAR);
  report(g, [40], false);
  g.begin();
  assert.not.ok(g.keptOwed);
  assert.throws(
    () => g.endReport(new Set(), false, ['KVM-LOG-6']),
    (e: unknown) => e instanceof Violation && e.req.join() === 'KVM-LOG-6,NOLOSS-1',
  );
});

test("[KVM-CLEAR-7] a CLEAR keeps only the owed pages of its own range: a page past first_page + num_pages is not the clear's, and its loss names the report alone", () => {
  const g = new SlotGhost(128, false);
  g.write(3);
  g.write(100);
  g.begin();
  g.endClear([3], CLEAR, { from: 0, to: 64 });
  g.begin();
  assert.not.ok(g.keptOwed, 'page 100 lies outside the clear');
  assert.throws(
    () => g.endReport(new Set(), false, ['KVM-LOG-6']),
    (e: unknown) => e instanceof Violation && e.req.join() === 'KVM-LOG-6,NOLOSS-1',
  );
});

test('[PRECISION-1] [KVM-CLEAR-7] [KVM-LOG-5] a page reported unwritten after a call cleared it is charged to that call first, then to the report', () => {
  const g = new SlotGhost(100, false);
  g.write(70);
  g.begin();
  g.endClear([70], { op: 'CLEAR#1', req: ['KVM-CLEAR-7', 'NOLOSS-2'] }, { from: 64, to: 100 }, (p) => (p >= 64 ? ['KVM-CLEAR-5', 'KVM-CLEAR-7'] : ['KVM-CLEAR-7']));
  g.begin();
  assert.throws(
    () => g.endReport(new Set([70]), true, ['KVM-LOG-5']),
    (e: unknown) => e instanceof Violation && e.kind === 'precision' && e.req.join() === 'KVM-CLEAR-5,KVM-CLEAR-7,KVM-LOG-5,PRECISION-1' && /CLEAR#1/.test(e.expected),
  );
  // A read-and-clear report that discharged a page is charged the same way; a write in between forgets it.
  const h = new SlotGhost(100, false);
  h.write(3);
  h.begin();
  h.endReport(new Set([3]), true, ['KVM-LOG-5'], { op: 'GET#1' });
  h.begin();
  assert.throws(
    () => h.endReport(new Set([3]), true, ['KVM-LOG-5'], { op: 'GET#2' }),
    (e: unknown) => e instanceof Violation && e.kind === 'precision' && /GET#1/.test(e.expected),
  );
  const k = new SlotGhost(100, false);
  k.write(3);
  report(k, [3], true);
  k.write(3);
  report(k, [3], true);
});

test.run();
