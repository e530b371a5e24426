// The container's dirty state under the IOMMU's driver contract: what START leaves
// reportable (rfc-2021: TRACK-R2), the rule UNMAP_DMA's bitmap answers to (UNMAP-R1,
// UNMAP-U3), and the writes a stale IOTLB entry may absorb (linux-upstream: H-U2, H-U3).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Violation } from '../violation.ts';
import type { Mapping } from './container.ts';
import { DirtyState, STRICT_VFIO_DIRTY, type VfioDirtyContract } from './dirty-state.ts';

const PG = 0x1000;
const A = 0x10_0000;
const RFC: VfioDirtyContract = { unmapRule: 'UNMAP-R1', startClearsStale: false };
const UPSTREAM: VfioDirtyContract = { unmapRule: 'UNMAP-U3', startClearsStale: true, clearsWithoutTlbi: { start: true, report: true } };

function violation(fn: () => void): Violation | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof Violation) return e;
    throw e;
  }
  return undefined;
}

/** A page of a writable mapping written before START, then the first GET_BITMAP holding it. */
function firstReportAfterStart(contract: VfioDirtyContract): Violation | undefined {
  const mappings: Mapping[] = [{ iova: BigInt(A), size: 4n * BigInt(PG), flags: 3 }];
  const d = new DirtyState(true, mappings, contract);
  d.written(A + PG, false);
  d.trackingStarted();
  d.ghost.beginReport();
  return violation(() => d.reported(A, 4 * PG, new Set([A + PG]), true));
}

test('[PRECISION-1, TRACK-R2] a page written before START may be in the first report under rfc-2021 (start clears nothing); under strict it is a false dirty', () => {
  assert.is(firstReportAfterStart(RFC), undefined);
  assert.equal(firstReportAfterStart(STRICT_VFIO_DIRTY)?.kind, 'precision');
});

test("[UNMAP-R1] under rfc-2021 a page written while tracking and missing from UNMAP_DMA's bitmap is a loss named UNMAP-R1, in NOLOSS-3's place", () => {
  const rule = (contract: VfioDirtyContract) => {
    const d = new DirtyState(true, [{ iova: BigInt(A), size: BigInt(PG), flags: 3 }], contract);
    d.trackingStarted();
    d.written(A, true);
    d.ghost.beginReport();
    const v = violation(() => d.reportedByUnmap(A, PG, new Set()));
    return [v?.kind, v?.req];
  };
  assert.equal(rule(RFC), ['loss', ['UNMAP-R1']]);
  assert.equal(rule(UPSTREAM), ['loss', ['UNMAP-U3']]);
  assert.equal(rule(STRICT_VFIO_DIRTY), ['loss', ['NOLOSS-3']]);
});

/** Page A written, then `clear` (a GET_BITMAP, or START), then A written again and a GET_BITMAP without it. */
function writeClearWrite(contract: VfioDirtyContract, clear: 'report' | 'start'): Violation | undefined {
  const d = new DirtyState(true, [{ iova: BigInt(A), size: 2n * BigInt(PG), flags: 3 }], contract);
  if (clear === 'report') d.trackingStarted();
  d.written(A, clear === 'report');
  if (clear === 'start') d.trackingStarted();
  else {
    d.ghost.beginReport();
    d.reported(A, 2 * PG, new Set([A]), true);
  }
  d.written(A, true);
  d.written(A + PG, true);
  d.ghost.beginReport();
  return violation(() => d.reported(A, 2 * PG, new Set([A + PG]), true));
}

test('[NOLOSS-1, CLEAR-U4] linux-upstream: a write after a read-and-clear to a page written before it may go through the entry cached writable-dirty (no TLBI followed: H-U2), so the next report may lack it', () => {
  assert.is(writeClearWrite(UPSTREAM, 'report'), undefined);
  assert.equal(writeClearWrite(STRICT_VFIO_DIRTY, 'report')?.req, ['NOLOSS-1']);
});

test('[NOLOSS-1] linux-upstream: a page the device writes for the first time since it was mapped is owed (no entry of it can be stale)', () => {
  const d = new DirtyState(true, [{ iova: BigInt(A), size: 2n * BigInt(PG), flags: 3 }], UPSTREAM);
  d.trackingStarted();
  d.written(A + PG, true);
  d.ghost.beginReport();
  assert.equal(violation(() => d.reported(A, 2 * PG, new Set(), true))?.req, ['NOLOSS-1']);
});

test("[NOLOSS-1, TRACK-U2] linux-upstream: a write after START to a page written before it may go through the entry cached writable-dirty (START's clear has no TLBI: H-U3), so the first report may lack it", () => {
  assert.is(writeClearWrite(UPSTREAM, 'start'), undefined);
  assert.equal(writeClearWrite(STRICT_VFIO_DIRTY, 'start')?.req, ['NOLOSS-1']);
});

test.run();
