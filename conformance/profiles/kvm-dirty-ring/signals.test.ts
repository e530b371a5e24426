// KVM-RING-24: signals in KVM_RESET_DIRTY_RINGS; and KVM-RING-16's vCPU racing the reset. The kit's task answers signal_pending()
// only inside a reset it signals, only to an adapter that declares checksSignals; a reset
// that stops there and re-protects the batch it holds conforms, in process and across the
// protocol; one that drops the batch (Linux v6.17) loses its pages.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KvmDirtyRingVm } from '../../mutants/kvm-ring-aimed-variants.ts';
import { Violation } from '../../../model/violation.ts';
import { referenceKvmDirtyRingAdapter } from '../../adapters/reference.ts';
import type { TraceStep } from '../../engine/commands.ts';
import { findMutant } from '../../mutants/index.ts';
import { TlbVm } from '../../mutants/kvm-dirty-ring-mutants.ts';
import { LoopbackChannel } from '../../protocol/channel.ts';
import { kvmDirtyRingProfile } from './module.ts';
import { type RingScenario, replayKvmDirtyRingScenario, runKvmDirtyRingProfile } from './profile.ts';
import { KitSignals } from './signals.ts';
import type { KvmDirtyRingAdapter } from './types.ts';

const OPTIONS = { runs: 200, timeoutMs: 5000, maxCommands: 30 };
const X86 = { arch: 'x86', ringBytes: 4096, vcpus: 1, withBitmap: false, late: false, enables: [] } as const;
const withSignals = () => referenceKvmDirtyRingAdapter('reference-signals', KvmDirtyRingVm, 0, true);

/** Mutant `name` run across the protocol (a loopback channel) and in process, on one seed. */
async function bothWays(name: string, runs: number, seed: number) {
  const mutant = findMutant(name)!.adapter as KvmDirtyRingAdapter;
  const served = kvmDirtyRingProfile.overChannel(new LoopbackChannel([mutant as never], mutant.name), `${mutant.name} (loopback)`);
  return { across: await runKvmDirtyRingProfile(served, { ...OPTIONS, runs, seed }), inProcess: await runKvmDirtyRingProfile(mutant, { ...OPTIONS, runs, seed }) };
}

test('[KVM-RING-24] the task answers false before the drawn check of a reset, true from it on, and false outside a reset or without a draw', () => {
  const t = new KitSignals();
  assert.is(t.signalPending(), false, 'outside a reset');
  t.begin(2);
  assert.equal([t.signalPending(), t.signalPending(), t.signalPending(), t.signalPending()], [false, false, true, true]);
  assert.ok(t.delivered);
  t.end();
  assert.is(t.signalPending(), false, 'after the reset returned');
  t.begin(-1);
  assert.equal([t.signalPending(), t.signalPending()], [false, false]);
  assert.not.ok(t.delivered);
  t.end();
});

test('[KVM-RING-24] a reset that checks signals and re-protects the batch it holds when one stops it conforms (seeds 1-3)', async () => {
  for (const seed of [1, 2, 3]) {
    const r = await runKvmDirtyRingProfile(withSignals(), { ...OPTIONS, seed });
    assert.is(r.verdict, 'conforms', `seed ${seed}: ${JSON.stringify(r.counterexample?.violation ?? r.undecided)}`);
    assert.is(r.requirements.find((q) => q.id === 'KVM-RING-24')?.verdict, 'pass', `seed ${seed}: a stopped reset was compared`);
  }
});

test('[KVM-RING-24] an adapter that does not declare checksSignals is never signalled: its reset consumes every harvested entry', async () => {
  const sc: RingScenario = { config: X86, ops: [{ k: 'run', vcpu: 0, slot: 0, start: 0, count: 3, stride: 1 }, { k: 'harvest', vcpu: 0, max: 1024 }, { k: 'reset' }], delays: [], signals: [0] };
  const inner = withSignals();
  const undeclared: KvmDirtyRingAdapter = { profile: inner.profile, name: 'reference, checks undeclared', create: inner.create };
  const trace: TraceStep[] = [];
  await replayKvmDirtyRingScenario(undeclared, sc, 2000, trace);
  assert.is(trace.find((s) => s.op.startsWith('KVM_RESET_DIRTY_RINGS'))?.answer, '3');
  const r = await runKvmDirtyRingProfile(undeclared, { ...OPTIONS, runs: 50, seed: 1 });
  assert.not.ok(
    r.requirements.some((q) => q.id === 'KVM-RING-24'),
    'KVM-RING-24 is not among the verdicts',
  );
});

test('[KVM-RING-24] a stopped reset that counts an entry it left harvested fails KVM-RING-24', async () => {
  class CountsOneMore extends KvmDirtyRingVm {
    override resetDirtyRings(): number {
      const n = super.resetDirtyRings();
      return n >= 0 ? n + 1 : n;
    }
  }
  const sc: RingScenario = { config: X86, ops: [{ k: 'run', vcpu: 0, slot: 0, start: 0, count: 3, stride: 1 }, { k: 'harvest', vcpu: 0, max: 1024 }, { k: 'reset' }], delays: [], signals: [1] };
  try {
    await replayKvmDirtyRingScenario(referenceKvmDirtyRingAdapter('counts-one-more', CountsOneMore, 0, true), sc, 2000, []);
  } catch (e) {
    assert.instance(e, Violation, String(e));
    assert.ok((e as Violation).req.includes('KVM-RING-24'), String(e));
    return;
  }
  assert.unreachable('a count of 2 for one consumed entry passed');
});

test('[KVM-RING-24] across the protocol: the hello declares the signal checks, each check is a task.signalPending callback, and v6.17 drops the batch', async () => {
  const channel = new LoopbackChannel([withSignals() as never], 'reference-signals');
  assert.is(channel.hello.kvmChecksSignals, true);
  const adapter = kvmDirtyRingProfile.overChannel(channel, 'reference-signals (loopback)');
  assert.is(adapter.checksSignals, true);
  const ok = await runKvmDirtyRingProfile(adapter, { ...OPTIONS, runs: 60, seed: 2 });
  assert.is(ok.verdict, 'conforms', JSON.stringify(ok.counterexample?.violation ?? ok.undecided));
  const { across: bad, inProcess } = await bothWays('ring-reset-signal-drops-batch', 60, 2);
  assert.is(bad.verdict, 'does-not-conform');
  assert.equal(bad.counterexample?.violation, inProcess.counterexample?.violation);
  assert.equal(bad.counterexample?.violation?.req, ['KVM-RING-24', 'KVM-RING-16']);
});

test('[KVM-RING-16] the vCPU racing a reset: a KVM with a TLB that flushes after the protection conforms (seeds 1-3), and one that flushes first fails the same in process and across the protocol', async () => {
  for (const seed of [1, 2, 3]) {
    const r = await runKvmDirtyRingProfile(referenceKvmDirtyRingAdapter('tlb', TlbVm), { ...OPTIONS, seed });
    assert.is(r.verdict, 'conforms', `seed ${seed}: ${JSON.stringify(r.counterexample?.violation ?? r.undecided)}`);
  }
  const { across, inProcess } = await bothWays('ring-reset-flush-first', 100, 2);
  assert.is(across.verdict, 'does-not-conform');
  assert.equal(across.counterexample?.violation, inProcess.counterexample?.violation);
  assert.equal(across.counterexample?.violation?.req, ['KVM-RING-16', 'KVM-RING-11']);
  assert.ok(
    across.counterexample?.steps.some((st) => /vCPU 0 writes 0x[0-9a-f]+:\d+ while the reset runs/.test(st.op)),
    'the race is a step of the counterexample',
  );
});

test.run();
