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

test.run();
