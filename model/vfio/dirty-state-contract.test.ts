// The container's dirty state under the IOMMU's driver contract (rfc-2021): what START
// leaves reportable (TRACK-R2) and the rule UNMAP_DMA's bitmap answers to (UNMAP-R1).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Violation } from '../violation.ts';
import type { Mapping } from './container.ts';
import { DirtyState, STRICT_VFIO_DIRTY, type VfioDirtyContract } from './dirty-state.ts';

const PG = 0x1000;
const A = 0x10_0000;
const RFC: VfioDirtyContract = { unmapRule: 'UNMAP-R1', startClearsStale: false };

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
  assert.equal(rule(STRICT_VFIO_DIRTY), ['loss', ['NOLOSS-3']]);
});

test.run();
