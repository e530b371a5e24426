import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { requirements as REQUIREMENTS } from '../requirements.ts';
import { IOVA_BITMAP_CONTRACT_NAMES, hardened, iovaBitmapContractByName, iovaBitmapContracts, isIovaBitmapContractName, linux } from './contracts.ts';

test('[IOVA-BITMAP-5] [IOVA-BITMAP-9] hardened is the kit rules with their errnos: no caller obligation, set answers an errno, the kit sends bad arguments and recordings outside the range', () => {
  assert.equal(hardened.callerObligations, []);
  assert.is(hardened.setResult, 'errno');
  assert.ok(hardened.allocChecks && hardened.setOutsideRange && hardened.unpinnablePages && hardened.forEachReportsRecordingErrors && hardened.walkUnpins);
});

test("[IOVA-BITMAP-1] [IOVA-BITMAP-4] [IOVA-BITMAP-5] [IOVA-BITMAP-9] linux: Linux v6.18's alloc checks nothing and set returns nothing, so those rules are the caller's, each citing the Linux function", () => {
  assert.is(linux.setResult, 'none');
  assert.not.ok(linux.allocChecks || linux.setOutsideRange || linux.unpinnablePages || linux.forEachReportsRecordingErrors || linux.walkUnpins);
  assert.equal(linux.callerObligations.map((o) => o.id).sort(), ['IOVA-BITMAP-1', 'IOVA-BITMAP-4', 'IOVA-BITMAP-5', 'IOVA-BITMAP-6', 'IOVA-BITMAP-9']);
  for (const o of linux.callerObligations) {
    assert.ok(o.id in REQUIREMENTS, o.id);
    assert.match(o.source, /Linux v6\.18 drivers\/(iommu\/iommufd|vfio)\//);
  }
  for (const h of linux.hazards) for (const id of h.req) assert.ok(id in REQUIREMENTS, `${h.id}: ${id}`);
});

test('contract names: linux and hardened; an unknown name is an error naming both', () => {
  assert.equal([...IOVA_BITMAP_CONTRACT_NAMES].sort(), Object.keys(iovaBitmapContracts).sort());
  for (const n of IOVA_BITMAP_CONTRACT_NAMES) assert.is(iovaBitmapContractByName(n).name, n);
  assert.not.ok(isIovaBitmapContractName('strict'));
  assert.throws(() => iovaBitmapContractByName('strict'), /must be one of hardened, linux, got "strict"/);
});

test.run();
