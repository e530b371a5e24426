// Profile kvm-dirty-ring against the reference and its mutants, and every errno and limit
// of the spec through the adapter.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OrderedMemory } from '../../../model/kvm-dirty-ring/ordered-memory.ts';
import { KVM_CAP_DIRTY_LOG_RING, KVM_CAP_DIRTY_LOG_RING_ACQ_REL, KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP } from '../../../spec/kvm/dirty-ring/uapi.ts';
import { referenceKvmDirtyRingAdapter } from '../../adapters/reference.ts';
import { NO_SIGNALS } from './signals.ts';
import type { KvmDirtyRingAdapter } from './types.ts';
import { softFullAtEveryEntryAdapter } from '../../mutants/kvm-ring-linux-variants.ts';
import { kvmDirtyRingMutants } from '../../mutants/kvm-dirty-ring-mutants.ts';
import { KvmDirtyRingVm, protectsAs } from '../../mutants/kvm-ring-aimed-variants.ts';
import { RunContext } from '../../../model/run-context.ts';
import { kvmDirtyGfnMachine } from '../../../spec/kvm/dirty-ring/ring-machines.ts';
import { ringTables, sideOf, takesForbidden } from './kit.ts';
import { replayKvmDirtyRingScenario, ringSizeScale, runKvmDirtyRingProfile, type RingScenario } from './profile.ts';

const OPTIONS = { seed: 1, timeoutMs: 2000, maxCommands: 20 };

async function vm(arch: 'x86' | 'arm64' = 'x86') {
  return referenceKvmDirtyRingAdapter().create(sideOf(new OrderedMemory(), 'kvm'), { arch }, NO_SIGNALS);
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

test("[KVM-RING-12] [KVM-RING-14] RESET on an entry never pushed wraps the ring's used count: a KVM_RUN with no write may exit 31 at once (Linux v5.11-v6.1) or halt (v6.2 on)", async () => {
  const sc: RingScenario = {
    config: { arch: 'x86', ringBytes: 4096, vcpus: 1, withBitmap: false, late: false, enables: [] },
    ops: [
      { k: 'run', vcpu: 0, slot: 0, start: 5, count: 2, stride: 1 },
      { k: 'harvest', vcpu: 0, max: 1024 },
      { k: 'hostile', vcpu: 0, pick: 0, kind: 'markInvalid' },
      { k: 'reset' },
      { k: 'run', vcpu: 0, slot: 0, start: 0, count: 0, stride: 1, pages: [] },
    ],
    delays: [],
  };
  for (const adapter of [referenceKvmDirtyRingAdapter(), softFullAtEveryEntryAdapter()]) {
    const trace: { op: string; answer: string }[] = [];
    await replayKvmDirtyRingScenario(adapter, sc, 2000, trace as never);
    const empty = trace.filter((s) => s.op.startsWith('KVM_RUN(vCPU 0): 0 writes')).at(-1);
    assert.is(empty?.answer, adapter.name === 'reference' ? 'exit 5 after 0 writes' : 'exit 31 after 0 writes', `${adapter.name}: ${trace.map((s) => `${s.op} -> ${s.answer}`).join('\n')}`);
  }
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

/**
 * vCPU 1 writes pages 6 and 10 of slot 0 (left unharvested: both stay writable); vCPU 0
 * writes 5 and 8, harvested and reset (one batch, mask 0b1001 at 5); then vCPU 0 writes 6,
 * between them, and both rings are harvested. On arm64 the reset may have protected page
 * 6 (then that write pushes) or not; page 10, past the batch, keeps its protection.
 */
function spanScenario(arch: 'x86' | 'arm64', withBitmap = false): RingScenario {
  return {
    config: { arch, ringBytes: 4096, vcpus: 2, withBitmap, late: false, enables: [] },
    ops: [
      { k: 'run', vcpu: 1, slot: 0, start: 6, count: 2, stride: 1, pages: [6, 10] },
      { k: 'run', vcpu: 0, slot: 0, start: 5, count: 2, stride: 1, pages: [5, 8] },
      { k: 'harvest', vcpu: 0, max: 1024 },
      { k: 'reset' },
      { k: 'run', vcpu: 0, slot: 0, start: 6, count: 1, stride: 1 },
      { k: 'harvest', vcpu: 0, max: 1024 },
    ],
    delays: [],
  };
}

async function spanVerdict(arch: 'x86' | 'arm64', how: 'exact' | 'span' | 'word'): Promise<string> {
  try {
    await replayKvmDirtyRingScenario(referenceKvmDirtyRingAdapter(how, protectsAs(how)), spanScenario(arch), 2000, []);
    return 'conforms';
  } catch (e) {
    return String(e);
  }
}

test('[KVM-RING-16] arm64: a reset that protects the range between the pages of one batch (upstream) conforms, and so does one that protects the named pages only', async () => {
  assert.is(await spanVerdict('arm64', 'span'), 'conforms');
  assert.is(await spanVerdict('arm64', 'exact'), 'conforms');
});

test("[KVM-RING-16] arm64: a reset that protects past the batch's highest page fails", async () => {
  assert.match(await spanVerdict('arm64', 'word'), /KVM-RING-16/);
});

test('[KVM-RING-16] x86: a reset that protects the pages between the named ones fails (x86 walks the set bits)', async () => {
  assert.is(await spanVerdict('x86', 'exact'), 'conforms');
  assert.match(await spanVerdict('x86', 'span'), /KVM-RING-16/);
});

test("[KVM-RING-16] the reference re-protects as each arch does: on arm64 the page between the batch's two pushes again, on x86 it does not", async () => {
  const pushesOf6 = async (arch: 'x86' | 'arm64') => {
    const trace: { op: string; answer: string }[] = [];
    await replayKvmDirtyRingScenario(referenceKvmDirtyRingAdapter(), spanScenario(arch), 2000, trace as never);
    return trace.filter((t) => /harvests vCPU 0/.test(t.op)).map((t) => t.answer);
  };
  assert.equal(await pushesOf6('arm64'), ['2 entries (0x0:5, 0x0:8)', '1 entries (0x0:6)']);
  assert.equal(await pushesOf6('x86'), ['2 entries (0x0:5, 0x0:8)', '0 entries']);
});

test('[KVM-RING-16] arm64 with WITH_BITMAP: KVM_GET_DIRTY_LOG re-protects a bitmap word as one range too; either way conforms, the word past it does not', async () => {
  const sc: RingScenario = {
    config: { arch: 'arm64', ringBytes: 4096, vcpus: 1, withBitmap: true, late: false, enables: [] },
    ops: [
      { k: 'run', vcpu: 0, slot: 0, start: 6, count: 2, stride: 1, pages: [6, 10] },
      { k: 'noVcpu', slot: 0, offset: 5 },
      { k: 'noVcpu', slot: 0, offset: 8 },
      { k: 'getLog', slot: 0 },
      { k: 'harvest', vcpu: 0, max: 1024 },
    ],
    delays: [],
  };
  const verdict = async (how: 'exact' | 'span' | 'word') => {
    try {
      await replayKvmDirtyRingScenario(referenceKvmDirtyRingAdapter(how, protectsAs(how)), sc, 2000, []);
      return 'conforms';
    } catch (e) {
      return String(e);
    }
  };
  assert.is(await verdict('span'), 'conforms');
  assert.is(await verdict('exact'), 'conforms');
  assert.match(await verdict('word'), /KVM-RING-16/);
});

/**
 * arm64, two vCPUs: vCPU 1 pushes pages 1 and 3 of slot 0, vCPU 0 pushes page 2; both rings
 * are harvested and reset, vCPU 0's first. vCPU 0 writes page 2 again at each point of the
 * reset (`at`): after its own batch re-protected page 2 the write pushes, and vCPU 1's batch
 * (mask 0b101 at 1) may then protect page 2 once more, as Linux's range protection does.
 * The page may end either way; found at `npx dirtyspec run --seed 16` (was SPEC VIOLATION
 * [KVM-RING-17, KVM-RING-16] on the reference).
 */
function twiceProtectedScenario(at: number): RingScenario {
  return {
    config: { arch: 'arm64', ringBytes: 4096, vcpus: 2, withBitmap: false, late: false, enables: [] },
    ops: [{ k: 'run', vcpu: 1, slot: 0, start: 1, count: 2, stride: 2 }, { k: 'run', vcpu: 0, slot: 0, start: 2, count: 1, stride: 1 }, { k: 'harvest', vcpu: 0, max: 1024 }, { k: 'harvest', vcpu: 1, max: 1024 }, { k: 'reset' }],
    delays: [],
    resetRaces: [{ at, pick: 0 }],
  };
}

test("[KVM-RING-16] [KVM-RING-11] arm64: a write racing a reset, pushed after one batch re-protected its page and before another batch's range protects it again, may leave the page protected", async () => {
  const answers: string[] = [];
  for (let at = 0; at <= 6; at++) {
    const trace: { op: string; answer: string }[] = [];
    await replayKvmDirtyRingScenario(referenceKvmDirtyRingAdapter(), twiceProtectedScenario(at), 2000, trace as never);
    answers.push(trace.find((t) => /while the reset runs/.test(t.op))?.answer ?? 'no race');
  }
  // The write lands before page 2's re-protection (no push) and after it (a push): both are reached.
  assert.ok(answers.includes('no push'), answers.join('; '));
  assert.ok(
    answers.some((a) => a.startsWith('a push')),
    answers.join('; '),
  );
});

test('[KVM-RING-8] x86 with PML: the rings the kit tries grow fourfold (16 KiB: 1,024 entries over a reserve of 576), and a declared VM conforms', async () => {
  assert.is(ringSizeScale(0), 1);
  assert.is(ringSizeScale(512), 4);
  const r = await runKvmDirtyRingProfile(referenceKvmDirtyRingAdapter('reference-pml', KvmDirtyRingVm, 512), { ...OPTIONS, runs: 200 });
  assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation ?? r.undecided));
});

test('[KVM-RING-8] x86 with PML undeclared: a 4 KiB ring is refused where the kit expects 0, naming KVM-RING-8', async () => {
  const played = referenceKvmDirtyRingAdapter('pml-undeclared', KvmDirtyRingVm, 512);
  const { cpuDirtyLogSize: _, ...undeclared } = played;
  const r = await runKvmDirtyRingProfile(undeclared, { ...OPTIONS, runs: 200 });
  assert.is(r.verdict, 'does-not-conform');
  assert.ok(r.counterexample!.violation.req.includes('KVM-RING-8'));
});

test('a declared CPU dirty log size that is not an integer from 0 to 65536 is undecided, naming the field', async () => {
  const r = await runKvmDirtyRingProfile({ ...referenceKvmDirtyRingAdapter(), cpuDirtyLogSize: -1 }, { ...OPTIONS, runs: 5 });
  assert.is(r.verdict, 'undecided');
  assert.match(r.undecided!.message, /cpuDirtyLogSize must be an integer from 0 to 65536/);
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

/**
 * The reference played as Linux v5.11 to v6.0 on x86: KVM_CHECK_EXTENSION answers
 * KVM_CAP_DIRTY_LOG_RING alone (no _ACQ_REL, no WITH_BITMAP, no ring on arm64), the reset
 * reads and clears the flags with plain accesses (kvm_dirty_gfn_harvested,
 * kvm_dirty_gfn_set_invalid), and the soft limit is checked at every guest entry
 * (vcpu_enter_guest, before KVM_REQ_DIRTY_RING_SOFT_FULL).
 */
class LinuxV511Vm extends KvmDirtyRingVm {
  override checkExtension(cap: number): number {
    return cap === KVM_CAP_DIRTY_LOG_RING && this.arch === 'x86' ? 1 << 20 : 0;
  }
  protected override mustExit(r: Parameters<KvmDirtyRingVm['mustExit']>[0]): boolean {
    return this.used(r) >= r.softLimit;
  }
}

function linuxV511Adapter(): KvmDirtyRingAdapter {
  const inner = referenceKvmDirtyRingAdapter('linux-v5.11-style', LinuxV511Vm);
  return {
    ...inner,
    // Plain accesses in the reset: its acquire of the flags and its release of the cleared flags become relaxed (the push keeps smp_wmb: a release).
    create: (m, config, task) =>
      inner.create(
        {
          load32: (a, o) => m.load32(a, o === 'acquire' ? 'relaxed' : o),
          load64: (a, o) => m.load64(a, o),
          store32: (a, v, o) => m.store32(a, v, v === 0 ? 'relaxed' : o),
          store64: (a, v, o) => m.store64(a, v, o),
        },
        config,
        task,
      ),
  };
}

test('[KVM-RING-2] [KVM-RING-12] [KVM-RING-22] a VM as Linux v5.11 to v6.0 has it (x86 only, KVM_CAP_DIRTY_LOG_RING alone, plain flags accesses on x86-TSO, the soft limit checked at each entry) conforms', async () => {
  for (const seed of [1, 2, 3]) {
    const r = await runKvmDirtyRingProfile(linuxV511Adapter(), { ...OPTIONS, seed, runs: 300 });
    assert.is(r.verdict, 'conforms', `seed ${seed}: ${JSON.stringify(r.counterexample?.violation ?? r.undecided)}`);
  }
});

test('[KVM-RING-2] a VM that answers a ring capability with another non-zero value, or KVM_CAP_DIRTY_LOG_RING on arm64, fails KVM-RING-2 at once', async () => {
  class Odd extends LinuxV511Vm {
    override checkExtension(cap: number): number {
      return cap === KVM_CAP_DIRTY_LOG_RING ? 4096 : 0;
    }
  }
  const r = await runKvmDirtyRingProfile(referenceKvmDirtyRingAdapter('odd', Odd), { ...OPTIONS, runs: 20 });
  assert.is(r.verdict, 'does-not-conform');
  assert.equal(r.counterexample!.violation.req, ['KVM-RING-2']);
});

test('[KVM-RING-18] [KVM-RING-22] a reset that loads the flags relaxed still fails, on arm64: x86-TSO orders the plain load, a weakly ordered arch does not', async () => {
  const r = await runKvmDirtyRingProfile(kvmDirtyRingMutants.find((m) => m.name === 'ring-reset-flags-relaxed')!.adapter, { ...OPTIONS, runs: 1000 });
  assert.is(r.verdict, 'does-not-conform');
  assert.is(r.counterexample!.config.arch, 'arm64');
});

test.run();
