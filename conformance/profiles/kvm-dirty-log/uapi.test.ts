// The kvm-dirty-log uAPI a VM offers, as its KVM_CHECK_EXTENSION answers say. Each VM here
// wraps the reference, changed as one Linux version differs (read in its virt/kvm/kvm_main.c):
// - v5.2..v5.7: KVM_CHECK_EXTENSION(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) answers 1 and
//   kvm_vm_ioctl_enable_cap_generic refuses args[0] & ~1 (d7547c55cbe7; v5.4 read);
// - v5.0, v5.1: 168 unknown (manual protect was capability 166);
// - before v5.11: no dirty ring (KVM_CHECK_EXTENSION(192) and (223) answer 0, fb04a1eddb1a).
// Before the kit asked KVM_CHECK_EXTENSION, all three failed (KVM-CAP-3, KVM-LOG-1).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Violation } from '../../../model/violation.ts';
import { KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 } from '../../../spec/kvm/dirty-log/args.ts';
import { KVM_CAP_DIRTY_LOG_RING, KVM_CAP_DIRTY_LOG_RING_ACQ_REL } from '../../../spec/kvm/dirty-ring/uapi.ts';
import { referenceKvmDirtyLogAdapter } from '../../adapters/reference.ts';
import type { KvmDirtyLogAdapter, KvmDirtyLogConfig, KvmDirtyLogInstance } from './adapter.ts';
import { replayKvmDirtyLogScenario, runKvmDirtyLogProfile } from './profile.ts';

const EINVAL = -22;
const OPTIONS = { timeoutMs: 5000, maxCommands: 30 };
const CONFIG: KvmDirtyLogConfig = { hwDirty: false, eagerSplit: true, dirtyRingExclusive: false };

/** The reference with some of its instance's methods replaced (`change` gets the reference's instance). */
function variant(name: string, change: (ref: KvmDirtyLogInstance) => Partial<KvmDirtyLogInstance>, config: (c: KvmDirtyLogConfig) => KvmDirtyLogConfig = (c) => c): KvmDirtyLogAdapter {
  const ref = referenceKvmDirtyLogAdapter();
  return {
    profile: 'kvm-dirty-log',
    name,
    create: async (c, hooks) => {
      const inst = await ref.create(config(c), hooks);
      const over = change(inst);
      return Object.assign(Object.create(inst) as KvmDirtyLogInstance, over);
    },
  };
}

/** v5.2..v5.7: manual protect without INITIALLY_SET. */
const v54 = variant('manual protect 1 (v5.4)', (ref) => ({
  checkExtension: async (cap) => (cap === KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 ? 1 : ref.checkExtension(cap)),
  enableCap: async (cap, flags, args0) => (cap === KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 && (flags !== 0 || (args0 & ~1n) !== 0n) ? { errno: EINVAL } : ref.enableCap(cap, flags, args0)),
}));
/** v5.0, v5.1: capability 168 unknown. */
const no168 = variant('no capability 168 (v5.1)', (ref) => ({
  checkExtension: async (cap) => (cap === KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 ? 0 : ref.checkExtension(cap)),
  enableCap: async (cap, flags, args0) => (cap === KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 ? { errno: EINVAL } : ref.enableCap(cap, flags, args0)),
}));
/** Before v5.11: no dirty ring, whatever the configuration asks. */
const noRing = variant(
  'no dirty ring (v5.10)',
  (ref) => ({ checkExtension: async (cap) => (cap === KVM_CAP_DIRTY_LOG_RING || cap === KVM_CAP_DIRTY_LOG_RING_ACQ_REL ? 0 : ref.checkExtension(cap)) }),
  (c) => ({ ...c, dirtyRingExclusive: false }),
);

test('[KVM-CAP-5] [KVM-CAP-1] a VM offering manual protect without INITIALLY_SET (168 answered 1, as v5.2..v5.7) conforms', async () => {
  const r = await runKvmDirtyLogProfile(v54, { ...OPTIONS, runs: 300, seed: 1 });
  assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation ?? r.undecided?.message));
  assert.ok(r.requirements.some((q) => q.id === 'KVM-CAP-1' && q.verdict === 'pass'));
});

test('[KVM-CAP-5] [KVM-CAP-4] a VM without capability 168 (answered 0, as v5.0 and v5.1) conforms; its migrations run read-and-clear', async () => {
  const r = await runKvmDirtyLogProfile(no168, { ...OPTIONS, runs: 300, seed: 1 });
  assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation ?? r.undecided?.message));
  const m = await runKvmDirtyLogProfile(no168, { ...OPTIONS, runs: 20, seed: 3, only: 'migration' });
  assert.is(m.verdict, 'conforms', JSON.stringify(m.counterexample?.violation));
  assert.not.ok(
    m.requirements.some((q) => q.id === 'KVM-LOG-6' && q.verdict === 'pass'),
    'no manual-protect report',
  );
});

test('[KVM-LOG-1] a VM without a dirty ring (192 and 223 answered 0, as before v5.11) conforms; the reference, which answers them, still reaches KVM-LOG-1', async () => {
  const r = await runKvmDirtyLogProfile(noRing, { ...OPTIONS, runs: 300, seed: 1 });
  assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation ?? r.undecided?.message));
  assert.ok(!r.requirements.some((q) => q.id === 'KVM-LOG-1' && q.verdict === 'pass'), 'KVM-LOG-1 is not reached without a ring');
  const ref = await runKvmDirtyLogProfile(referenceKvmDirtyLogAdapter(), { ...OPTIONS, runs: 300, seed: 1 });
  assert.ok(ref.requirements.some((q) => q.id === 'KVM-LOG-1' && q.verdict === 'pass'));
});

test('[KVM-LOG-1] a VM that answers 192 must honour the ring configuration', async () => {
  const ignores = variant(
    'answers 192, keeps the bitmap',
    () => ({}),
    (c) => ({ ...c, dirtyRingExclusive: false }),
  );
  const r = await runKvmDirtyLogProfile(ignores, { ...OPTIONS, runs: 300, seed: 1 });
  assert.is(r.verdict, 'does-not-conform');
  assert.ok(r.counterexample!.violation.req.includes('KVM-LOG-1'), r.counterexample!.violation.req.join(','));
});

/** Replays `ops` on `adapter`; returns the violation it must throw. */
async function violation(adapter: KvmDirtyLogAdapter, ops: readonly object[]): Promise<Violation> {
  try {
    await replayKvmDirtyLogScenario(adapter, { kind: 'ops', config: CONFIG, ops }, 5000, []);
  } catch (e) {
    if (e instanceof Violation) return e;
    throw e;
  }
  assert.unreachable('no violation');
  throw new Error('unreachable');
}
const cap = (args0: bigint) => ({ k: 'cap', cap: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, flags: 0, args0 });

test('[KVM-CAP-5] a VM that answers 1 but takes INITIALLY_SET, answers 2, or changes its answer fails KVM-CAP-5', async () => {
  const takes3 = variant('answers 1, takes 3', (ref) => ({ checkExtension: async (c) => (c === KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 ? 1 : ref.checkExtension(c)) }));
  let v = await violation(takes3, [cap(3n)]);
  assert.equal(v.req.slice(0, 2), ['KVM-CAP-5', 'KVM-CAP-1'], v.req.join(','));
  const two = variant('answers 2', (ref) => ({ checkExtension: async (c) => (c === KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 ? 2 : ref.checkExtension(c)) }));
  v = await violation(two, [cap(1n)]);
  assert.equal(v.req, ['KVM-CAP-5']);
  let n = 0;
  const fickle = variant('answers 3, then 1', (ref) => ({ checkExtension: async (c) => (c === KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 ? (n++ === 0 ? 3 : 1) : ref.checkExtension(c)) }));
  v = await violation(fickle, [cap(1n), { k: 'ext' }]);
  assert.equal(v.req, ['KVM-CAP-5']);
  // The reference passes the same sequences.
  await replayKvmDirtyLogScenario(referenceKvmDirtyLogAdapter(), { kind: 'ops', config: CONFIG, ops: [cap(3n), { k: 'ext' }] }, 5000, []);
});

test.run();
