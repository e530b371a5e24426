// The engine's limit of a whole call over --exec, and the step a call in flight names.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Crash, callLimitMs, inFlight, isPeerTimed, markPeerTimed } from './crash.ts';
import { Undecided } from './limits.ts';

test("an in-process adapter's calls have --timeout as their limit; a peer-timed one's twice it, at least 100 ms more, so the peer's per-message limit decides a hang", () => {
  assert.is(callLimitMs({ profile: 'smmu-driver' }, 2000), 2000);
  const peer = markPeerTimed({ profile: 'smmu-driver' });
  assert.ok(isPeerTimed(peer));
  assert.is(callLimitMs(peer, 2000), 4000);
  assert.is(callLimitMs(peer, 30), 130);
});

test('a spread copy of a peer-timed adapter (a wrapper that replaces one method) stays peer-timed', () => {
  const peer = markPeerTimed({ profile: 'kvm-dirty-log', name: 'x' });
  assert.ok(isPeerTimed({ ...peer, name: 'y' }));
});

test('inFlight builds a lazy step only for a Crash, and the innermost call named wins', () => {
  let built = 0;
  const step = () => {
    built++;
    return { op: 'map(0x0)', expected: 'an errno', req: ['MAP-1'] };
  };
  const plain = new Undecided('no');
  assert.throws(
    () => inFlight(step)(plain),
    (e: unknown) => e === plain,
  );
  assert.is(built, 0);
  const crash = new Crash('died', { how: 'signal', status: 'signal SIGSEGV', call: { op: 'smmu-driver.map', args: '{}' }, diagnostics: '', stderr: '' }, async () => {});
  assert.throws(() => inFlight(step)(crash));
  assert.throws(() => inFlight({ op: 'outer', expected: '-', req: ['X-1'] })(crash));
  assert.is(built, 1);
  assert.equal(crash.step, { op: 'map(0x0)', expected: 'an errno', req: ['MAP-1'] });
  assert.ok(crash.covered);
});

test.run();
