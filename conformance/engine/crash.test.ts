// The engine's limit of a whole call over --exec, and the step a call in flight names.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Crash, callLimitMs, inFlight, isPeerTimed, markPeerTimed } from './crash.ts';
import type { TraceStep } from './commands.ts';
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

test('inFlight builds a lazy step only for an Undecided, and the innermost call named wins', () => {
  let built = 0;
  const step = () => {
    built++;
    return { op: 'map(0x0)', expected: 'an errno', req: ['MAP-1'] };
  };
  const other = new Error('a kit bug');
  assert.throws(
    () => inFlight(step)(other),
    (e: unknown) => e === other,
  );
  assert.is(built, 0);
  const crash = new Crash('died', { how: 'signal', status: 'signal SIGSEGV', call: { op: 'smmu-driver.map', args: '{}' }, diagnostics: '', stderr: '' }, async () => {});
  assert.throws(() => inFlight(step)(crash));
  assert.throws(() => inFlight({ op: 'outer', expected: '-', req: ['X-1'] })(crash));
  assert.is(built, 1);
  assert.equal(crash.step, { op: 'map(0x0)', expected: 'an errno', req: ['MAP-1'] });
  assert.ok(crash.covered);
});

test('an Undecided that is not a crash ends the trace with the call that gave no answer (once, the innermost), where a trace is given', () => {
  const trace: TraceStep[] = [{ op: 'earlier', answer: '0', expected: '0', req: [] }];
  const plain = new Undecided('vm writeWithoutVcpu threw: TypeError: vcpu is null\n    at stack');
  assert.throws(() => inFlight({ op: 'KVM writes 0x10000:3 without a vCPU', expected: 'done', req: ['KVM-RING-21'] }, trace)(plain));
  assert.throws(() => inFlight({ op: 'outer', expected: '-', req: [] }, trace)(plain));
  assert.equal(trace.slice(1), [{ op: 'KVM writes 0x10000:3 without a vCPU', answer: 'no answer: vm writeWithoutVcpu threw: TypeError: vcpu is null', expected: 'done', req: [] }]);
  const crash = new Crash('died', { how: 'exit', status: 'exit status 1', call: { op: 'x', args: '{}' }, diagnostics: '', stderr: '' }, async () => {});
  assert.throws(() => inFlight({ op: 'crashing call', expected: '-', req: ['X-1'] }, trace)(crash));
  assert.is(trace.length, 2, 'a crash adds its step where it is judged, not here');
});

test.run();
