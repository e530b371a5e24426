// Profile kvm-dirty-ring against the reference and its mutants, and every errno and limit
// of the spec through the adapter.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OrderedMemory } from '../../../model/kvm-dirty-ring/ordered-memory.ts';
import { KVM_CAP_DIRTY_LOG_RING, KVM_CAP_DIRTY_LOG_RING_ACQ_REL, KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP } from '../../../spec/kvm/dirty-ring/uapi.ts';
import { referenceKvmDirtyRingAdapter } from '../../adapters/reference.ts';
import { kvmDirtyRingMutants } from '../../mutants/kvm-dirty-ring-mutants.ts';
import { RunContext } from '../../../model/run-context.ts';
import { kvmDirtyGfnMachine } from '../../../spec/kvm/dirty-ring/ring-machines.ts';
import { ringTables, sideOf, takesForbidden } from './kit.ts';
import { replayKvmDirtyRingScenario, runKvmDirtyRingProfile, type RingScenario } from './profile.ts';

const OPTIONS = { seed: 1, timeoutMs: 2000, maxCommands: 20 };

async function vm(arch: 'x86' | 'arm64' = 'x86') {
  return referenceKvmDirtyRingAdapter().create(sideOf(new OrderedMemory(), 'kvm'), { arch });
}

test('[KVM-RING-2] through the adapter: an unreported ring capability is -EINVAL', async () => {
  const arm = await vm('arm64');
  assert.is(await arm.checkExtension(KVM_CAP_DIRTY_LOG_RING), 0);
  assert.is(await arm.enableCap(KVM_CAP_DIRTY_LOG_RING, 4096, 0), -22);
  const x86 = await vm();
  assert.is(await x86.enableCap(KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, 0, 0), -22);
});

test('[KVM-RING-3] [KVM-RING-4] [KVM-RING-5] through the adapter: size 0, not a power of two, below a page, above 1 MiB', async () => {
  const x = await vm();
  assert.is(await x.enableCap(KVM_CAP_DIRTY_LOG_RING_ACQ_REL, 0, 0), -22);
  assert.is(await x.enableCap(KVM_CAP_DIRTY_LOG_RING_ACQ_REL, 4112, 0), -22);
  assert.is(await x.enableCap(KVM_CAP_DIRTY_LOG_RING_ACQ_REL, 2048, 0), -22);
  assert.is(await x.enableCap(KVM_CAP_DIRTY_LOG_RING_ACQ_REL, 1 << 21, 0), -7);
  assert.is(await x.enableCap(KVM_CAP_DIRTY_LOG_RING_ACQ_REL, 1 << 20, 0), 0);
});

test('[KVM-RING-6] [KVM-RING-7] through the adapter: a second enable, and an enable after a vCPU, are -EINVAL', async () => {
  const x = await vm();
  assert.is(await x.enableCap(KVM_CAP_DIRTY_LOG_RING, 4096, 0), 0);
  assert.is(await x.enableCap(KVM_CAP_DIRTY_LOG_RING, 4096, 0), -22);
  const late = await vm();
  await late.createVcpu(0x10_0000);
  assert.is(await late.enableCap(KVM_CAP_DIRTY_LOG_RING, 4096, 0), -22);
  assert.is(await late.resetDirtyRings(), -22, 'KVM-RING-15: no ring, no reset');
});

test('[KVM-RING-9] [KVM-RING-10] through the adapter: -ENXIO for the dirty log; WITH_BITMAP refused after a memslot or with flags', async () => {
  const x = await vm();
  await x.enableCap(KVM_CAP_DIRTY_LOG_RING, 4096, 0);
  await x.setMemslot(0, 0, 64, true);
  assert.is((await x.getDirtyLog(0)).errno, -6);
  const arm = await vm('arm64');
  await arm.enableCap(KVM_CAP_DIRTY_LOG_RING_ACQ_REL, 4096, 0);
  assert.is(await arm.enableCap(KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, 0, 1), -22);
  await arm.setMemslot(0, 0, 64, true);
  assert.is(await arm.enableCap(KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, 0, 0), -22);
});

test('[KVM-RING-18] a directed hostile pair: the wrapped offset is consumed and re-protects nothing', async () => {
  const sc: RingScenario = {
    config: { arch: 'x86', ringBytes: 4096, vcpus: 1, withBitmap: false, late: false, enables: [] },
    ops: [{ k: 'run', vcpu: 0, slot: 0, start: 5, count: 2, stride: 1 }, { k: 'harvest', vcpu: 0, max: 1024 }, { k: 'hostile', vcpu: 0, pick: 0, kind: 'wrap' }, { k: 'reset' }],
    delays: [],
  };
  const trace: { op: string }[] = [];
  await replayKvmDirtyRingScenario(referenceKvmDirtyRingAdapter(), sc, 2000, trace as never);
  assert.ok(trace.some((s) => /hostile collector rewrites entry 0/.test(s.op)));
  const wraps = kvmDirtyRingMutants.find((m) => m.name === 'ring-reset-offset-wraps')!;
  try {
    await replayKvmDirtyRingScenario(wraps.adapter, sc, 2000, []);
    assert.unreachable('the pre-fix check survived the hostile pair');
  } catch (e) {
    assert.match(String(e), /KVM-RING-18/);
  }
});

test('[KVM-RING-12] coverage leaves the forbidden push onto a DIRTY entry out: unchecked until a push is stepped, checked after, taken when a push lands on a DIRTY entry', () => {
  const ctx = new RunContext();
  const t = ringTables(ctx);
  assert.equal(ctx.coverage(kvmDirtyGfnMachine).forbidden, { 'dirty --PUSH#0': 'unchecked' });
  assert.is(ctx.coverage(kvmDirtyGfnMachine).total, 13);
  const dirty = t.gfn.step(t.gfn.initial, { type: 'PUSH' });
  assert.not.ok(takesForbidden(dirty));
  assert.equal(ctx.coverage(kvmDirtyGfnMachine).forbidden, { 'dirty --PUSH#0': 'checked' });
  const over = t.gfn.step(dirty.next, { type: 'PUSH' });
  assert.ok(takesForbidden(over));
  const c = ctx.coverage(kvmDirtyGfnMachine);
  assert.equal(c.forbidden, { 'dirty --PUSH#0': 'taken' });
  assert.is(c.covered, 1);
  assert.not.ok(c.missing.includes('dirty --PUSH#0'));
});

test('the reference conforms, with every requirement of the profile reached', async () => {
  const r = await runKvmDirtyRingProfile(referenceKvmDirtyRingAdapter(), { ...OPTIONS, runs: 300 });
  assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation ?? r.undecided));
  assert.equal(r.unreached, []);
});

for (const m of kvmDirtyRingMutants) {
  test(`mutant ${m.name} is killed in under 10 s with at most 12 steps`, async () => {
    const t = performance.now();
    const r = await runKvmDirtyRingProfile(m.adapter, { ...OPTIONS, runs: 2000 });
    const s = (performance.now() - t) / 1000;
    assert.is(r.verdict, 'does-not-conform', `${m.name}: ${r.verdict} ${r.undecided?.message ?? ''}`);
    assert.ok(r.counterexample!.steps.length <= 12, `${m.name}: ${r.counterexample!.steps.length} steps`);
    assert.ok(s < 10, `${m.name}: ${s.toFixed(1)} s`);
  });
}

for (const m of kvmDirtyRingMutants.filter((x) => x.ordering)) {
  test(`ordering mutant ${m.name} survives with delays off: only the delayed relaxed stores kill it`, async () => {
    const r = await runKvmDirtyRingProfile(m.adapter, { ...OPTIONS, runs: 300, delays: false });
    assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation));
  });
}

test.run();
