// The kvm-dirty-log uAPI a VM offers, as its KVM_CHECK_EXTENSION answers say, and the rule a
// historical kernel's CLEAR defect is charged to. Each VM here wraps the reference, changed as
// one Linux version differs (read in its virt/kvm/kvm_main.c):
// - v5.2..v5.6 on x86 (..v5.7 on arm64): KVM_CHECK_EXTENSION(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) answers 1 and
//   kvm_vm_ioctl_enable_cap_generic refuses args[0] & ~1 (d7547c55cbe7; v5.4 read);
// - v5.0, v5.1: 168 unknown (manual protect was capability 166);
// - before v5.11: no dirty ring (KVM_CHECK_EXTENSION(192) and (223) answer 0, fb04a1eddb1a);
// - v5.0 kvm_clear_dirty_log_protect: (log->num_pages & 63) refused before the slot lookup
//   (fixed by 76d58e0f07ec); v5.0, v5.1: copy_from_user of kvm_dirty_bitmap_bytes(memslot)
//   (fixed by 4ddc9204572c); v5.1: the loop runs num_pages / BITS_PER_LONG words, so the
//   partial word ending the slot is not cleared (fixed by 53eac7a8f8cf).
// Before the kit asked KVM_CHECK_EXTENSION, the first three failed (KVM-CAP-3, KVM-LOG-1); before
// clearMisread and the ghost's clearedBy, the last three were charged to the rules of the
// expected transition or the later report alone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Violation } from '../../../model/violation.ts';
import { KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_MEM_LOG_DIRTY_PAGES, dirtyLogBytes } from '../../../spec/kvm/dirty-log/args.ts';
import { KVM_CAP_DIRTY_LOG_RING, KVM_CAP_DIRTY_LOG_RING_ACQ_REL } from '../../../spec/kvm/dirty-ring/uapi.ts';
import { referenceKvmDirtyLogAdapter } from '../../adapters/reference.ts';
import type { KvmDirtyLogAdapter, KvmDirtyLogConfig, KvmDirtyLogInstance } from './adapter.ts';
import { replayKvmDirtyLogScenario, runKvmDirtyLogProfile } from './profile.ts';

const EINVAL = -22;
const EFAULT = -14;
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

/** x86 v5.2..v5.6, arm64 v5.2..v5.7: manual protect without INITIALLY_SET. */
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

test('[KVM-CAP-5] [KVM-CAP-1] a VM offering manual protect without INITIALLY_SET (168 answered 1, as x86 v5.2..v5.6) conforms', async () => {
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
const create = (pages: number) => ({ k: 'region', pick: 0, kind: 'create', pages, flags: KVM_MEM_LOG_DIRTY_PAGES });
const write = (page: number) => ({ k: 'write', pick: 0, page, nowhere: false });
const get = { k: 'get', pick: 0, id: 'ok', short: false, races: [] };
const clear = (first: string, num: string, bytes = 'ok') => ({ k: 'clear', pick: 0, id: 'ok', first, num, bits: 'all', some: [], bytes, races: [] });

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

test("[KVM-CLEAR-5] v5.0: num_pages not a multiple of 64 refused at the slot's end, or before the slot lookup, is charged to KVM-CLEAR-5 first", async () => {
  const v50 = variant('num_pages & 63 refused', (ref) => ({ clearDirtyLog: async (s, f, n, b) => ((n & 63) !== 0 ? { errno: EINVAL } : ref.clearDirtyLog(s, f, n, b)) }));
  let v = await violation(v50, [create(100), clear('zero', 'toEnd')]);
  assert.is(v.req[0], 'KVM-CLEAR-5', v.req.join(','));
  v = await violation(v50, [{ ...create(100), flags: 0 }, clear('zero', 'toEnd')]);
  assert.equal(v.req, ['KVM-CLEAR-5', 'KVM-CLEAR-3']);
  // An unaligned num_pages short of the end is KVM-CLEAR-5's own refusal: the variant passes it.
  await replayKvmDirtyLogScenario(v50, { kind: 'ops', config: CONFIG, ops: [create(100), clear('zero', 'n36')] }, 5000, []);
});

test("[KVM-CLEAR-6] v5.0, v5.1: -EFAULT from a bitmap of ALIGN(num_pages, 64) / 8 readable bytes (the whole slot's bitmap read) is charged to KVM-CLEAR-6 first", async () => {
  const sizes = new Map<number, bigint>();
  const v51 = variant('copies the slot bitmap', (ref) => ({
    setUserMemoryRegion: async (r) => {
      const x = await ref.setUserMemoryRegion(r);
      if (x.errno === 0) sizes.set(r.slot, r.memorySize / 4096n);
      return x;
    },
    clearDirtyLog: async (s, f, n, b) => (b.length < dirtyLogBytes(Number(sizes.get(s) ?? 0n)) ? { errno: EFAULT } : ref.clearDirtyLog(s, f, n, b)),
  }));
  const v = await violation(v51, [create(128), clear('zero', 'n64')]);
  assert.is(v.req[0], 'KVM-CLEAR-6', v.req.join(','));
});

test('[KVM-CLEAR-5] [KVM-CLEAR-7] [PRECISION-1] v5.1: a CLEAR that leaves the partial word ending the slot set is charged the later false dirty', async () => {
  const loopFloor = variant('clears num_pages / 64 words', (ref) => ({ clearDirtyLog: async (s, f, n, b) => ref.clearDirtyLog(s, f, n - (n % 64), b) }));
  const ops = [create(1), write(0), clear('zero', 'toEnd'), get];
  const v = await violation(loopFloor, ops);
  assert.is(v.kind, 'precision');
  assert.equal(v.req, ['KVM-CLEAR-5', 'KVM-CLEAR-7', 'KVM-LOG-5', 'PRECISION-1']);
  await replayKvmDirtyLogScenario(referenceKvmDirtyLogAdapter(), { kind: 'ops', config: CONFIG, ops }, 5000, []);
});

test.run();
