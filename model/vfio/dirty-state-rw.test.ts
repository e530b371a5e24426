// The dirty state after vfio_dma_rw accesses: a write's pages are owed (and their loss
// charged to VFIO-RW-3), a refused write's earlier pages are "maybe" (neither owed nor a
// false dirty), and pages an access left clean are charged to its rule when reported.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Violation } from '../violation.ts';
import type { Mapping } from './container.ts';
import { DirtyState } from './dirty-state.ts';

const PG = 0x1000;
const A = 0x10_0000;
const mappings: Mapping[] = [{ iova: BigInt(A), size: 4n * BigInt(PG), flags: 3 }];

function tracking(): DirtyState {
  const d = new DirtyState(true, mappings);
  d.trackingStarted();
  return d;
}

function report(d: DirtyState, pages: number[]): void {
  d.ghost.beginReport();
  d.reported(A, 4 * PG, new Set(pages), true);
}

function violation(fn: () => void): Violation {
  try {
    fn();
  } catch (e) {
    if (e instanceof Violation) return e;
    throw e;
  }
  throw new Error('no violation');
}

test('[VFIO-RW-3] [NOLOSS-1] a report lacking a page a vfio_dma_rw write dirtied is a loss charged to VFIO-RW-3', () => {
  const d = tracking();
  d.rwWritten('vfio_dma_rw(write 2 bytes at 0x100fff)', [A, A + PG], true);
  const v = violation(() => report(d, [A]));
  assert.equal([v.kind, v.req], ['loss', ['VFIO-RW-3', 'NOLOSS-1']]);
});

test('[VFIO-RW-3] the pages a write dirtied, reported, are discharged by a clearing report', () => {
  const d = tracking();
  d.rwWritten('w', [A, A + PG], true);
  report(d, [A, A + PG]);
  assert.is(d.ghost.owed.size, 0);
  report(d, []);
});

test('[VFIO-RW-4] the pages of a refused write before its refusal may be reported or not: neither owed nor false dirty', () => {
  const d = tracking();
  d.rwMaybeWritten([A + 3 * PG]);
  report(d, [A + 3 * PG]);
  const e = tracking();
  e.rwMaybeWritten([A + 3 * PG]);
  report(e, []);
  assert.is(e.ghost.owed.size, 0);
});

test('[VFIO-RW-4] [PRECISION-1] a page at or past a refusal, reported dirty, is a false dirty charged to VFIO-RW-4', () => {
  const d = tracking();
  d.rwUntouched('vfio_dma_rw(write 8 bytes at 0x103ffc)', ['VFIO-RW-4'], [A + 3 * PG]);
  const v = violation(() => report(d, [A + 3 * PG]));
  assert.equal([v.kind, v.req], ['precision', ['VFIO-RW-4', 'PRECISION-1']]);
});

test('[VFIO-RW-3] [PRECISION-1] a page only read, reported dirty, is a false dirty charged to VFIO-RW-3; once written it is not', () => {
  const d = tracking();
  d.rwUntouched('vfio_dma_rw(read 4 bytes at 0x100000)', ['VFIO-RW-3'], [A]);
  assert.equal(violation(() => report(d, [A])).req, ['VFIO-RW-3', 'PRECISION-1']);
  const e = tracking();
  e.rwUntouched('r', ['VFIO-RW-3'], [A]);
  e.written(A, true);
  report(e, [A]);
});

test.run();
