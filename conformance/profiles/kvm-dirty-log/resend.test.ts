import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceKvmDirtyLogAdapter } from '../../adapters/reference.ts';
import { measureResends } from './resend.ts';

const PATTERN = { pages: 1000, burst: 8, offset: 3, spacing: 7, rounds: 3 };

test('[KVM-LOG-6] [KVM-CLEAR-7] manual protect (GET, then CLEAR of each chunk before it is sent) re-sends fewer pages than GET alone, for the same bursts', async () => {
  const auto = await measureResends(referenceKvmDirtyLogAdapter(), 'read-and-clear', PATTERN);
  const manual = await measureResends(referenceKvmDirtyLogAdapter(), 'manual-protect', PATTERN);
  assert.is(auto.guestWrites, manual.guestWrites);
  assert.ok(auto.resent > 0);
  assert.ok(manual.resent < auto.resent, `manual ${manual.resent} vs read-and-clear ${auto.resent}`);
});

test('[KVM-LOG-5] with no guest writes nothing is sent twice', async () => {
  const r = await measureResends(referenceKvmDirtyLogAdapter(), 'read-and-clear', { ...PATTERN, burst: 0 });
  assert.equal([r.sent, r.resent], [1000, 0]);
});

test.run();
