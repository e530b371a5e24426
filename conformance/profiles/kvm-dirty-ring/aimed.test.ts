// The aimed sequences of kvm-dirty-ring (aimed.ts) on the reference: each reaches the case
// its rule forbids and the reference passes it; a VM with the fault the sequence aims at
// (the mutant of impl/kvm/dirty-ring/kvm-ring.ts it was written for) fails it; and the
// generator draws every kind of them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Violation } from '../../../model/violation.ts';
import { KVM_CAP_DIRTY_LOG_RING_ACQ_REL } from '../../../spec/kvm/dirty-ring/uapi.ts';
import { referenceKvmDirtyRingAdapter } from '../../adapters/reference.ts';
import { RingEnableTwiceVm } from '../../mutants/ring-matrix-mutants.ts';
import {
  KvmDirtyRingVm,
  AnswersBitmapForAnyCapVm,
  EnablesAnyCapAsBitmapVm,
  ExitsWhileRequestVm,
  GetLeavesWritableVm,
  HaltsAtLimitVm,
  NoBitWithoutVcpuVm,
  RefusesMaxRingVm,
  ResetDropsRequestVm,
} from '../../mutants/kvm-ring-aimed-variants.ts';
import type { TraceStep } from '../../engine/commands.ts';
import { HOSTILE_KINDS, UNKNOWN_CAP, bitmapSequence, enableSequence, hostileSequence, samePageSequence, softLimitSequence } from './aimed.ts';
import { ringMemslots, slotCode } from './kit.ts';
import { type AimedStep, type RingOp, type RingScenario, type RingScenarioConfig, replayKvmDirtyRingScenario, runKvmDirtyRingProfile } from './profile.ts';
import type { KvmDirtyRingAdapter, KvmDirtyRingInstance } from './types.ts';

const X86: RingScenarioConfig = { arch: 'x86', ringBytes: 4096, vcpus: 1, withBitmap: false, late: false, enables: [] };
const ARM_BITMAP: RingScenarioConfig = { ...X86, arch: 'arm64', withBitmap: true };
const A_RUN: RingOp = { k: 'run', vcpu: 0, slot: 0, start: 10, count: 4, stride: 1 };

/** The reference, or a VM class with one fault; the instance the run made, to ask it afterwards. */
function adapterOf(Vm: typeof KvmDirtyRingVm = KvmDirtyRingVm): { adapter: KvmDirtyRingAdapter; made: KvmDirtyRingInstance[] } {
  const inner = referenceKvmDirtyRingAdapter(Vm === KvmDirtyRingVm ? 'reference' : Vm.name, Vm);
  const made: KvmDirtyRingInstance[] = [];
  return {
    made,
    adapter: {
      ...inner,
      async create(memory, config, task) {
        const inst = await inner.create(memory, config, task);
        made.push(inst);
        return inst;
      },
    },
  };
}

async function replay(config: RingScenarioConfig, aimed: readonly AimedStep[], Vm?: typeof KvmDirtyRingVm, ops: readonly RingOp[] = [A_RUN]) {
  const { adapter, made } = adapterOf(Vm);
  const trace: TraceStep[] = [];
  const sc: RingScenario = { config, ops, delays: [], aimed };
  await replayKvmDirtyRingScenario(adapter, sc, 5000, trace);
  return { trace, inst: made[0]! };
}

/** The violation a faulty VM's replay throws. */
async function violation(config: RingScenarioConfig, aimed: readonly AimedStep[], Vm: typeof KvmDirtyRingVm, ops?: readonly RingOp[]): Promise<Violation> {
  try {
    await replay(config, aimed, Vm, ops);
  } catch (e) {
    if (e instanceof Violation) return e;
    throw e;
  }
  throw new Error(`${Vm.name} passed the aimed sequence`);
}

const shown = (trace: readonly TraceStep[]) => trace.map((s) => `${s.op} -> ${s.answer}`).join('\n');
function steps(trace: readonly TraceStep[], prefix: string): TraceStep[] {
  const s = trace.filter((x) => x.op.startsWith(prefix));
  if (s.length === 0) throw new Error(`no step ${prefix} in\n${shown(trace)}`);
  return s;
}
const pageProtected = (bits: Uint8Array, p: number) => ((bits[p >> 3]! >> (p & 7)) & 1) === 1;

// The faults, each as Stryker mutated kvm-ring.ts (docs/MUTATION.md names them by line).

test('[KVM-RING-12] a run of exactly soft limit - used writes to protected pages exits KVM_EXIT_DIRTY_RING_FULL after its last write', async () => {
  const { trace } = await replay(X86, softLimitSequence(0, 0, 3));
  const fill = steps(trace, 'KVM_RUN(vCPU 0): 192 writes to write-protected pages (used 0, soft limit 192, +0)')[0]!;
  assert.is(fill.answer, 'exit 31 after 192 writes', shown(trace));
});

test('[KVM-RING-12] a vCPU whose last write reached the soft limit and that halts instead fails the run', async () => {
  const v = await violation(X86, softLimitSequence(0, 0, 3), HaltsAtLimitVm);
  assert.equal(v.req, ['KVM-RING-12']);
  assert.match(v.expected, /KVM_EXIT_DIRTY_RING_FULL \(31\) after 192 writes/);
});

test('[KVM-RING-12] one write short of the soft limit, the vCPU halts', async () => {
  const { trace } = await replay(X86, softLimitSequence(0, -1, 3));
  assert.is(steps(trace, 'KVM_RUN(vCPU 0): 191 writes')[0]!.answer, 'exit 5 after 191 writes', shown(trace));
});

test('[KVM-RING-12] a soft-full ring harvested and reset below the limit runs again: the pending request is dropped', async () => {
  const { trace } = await replay(X86, softLimitSequence(0, 0, 3));
  assert.is(steps(trace, 'KVM_RUN(vCPU 0): 3 writes to slot 0x0 from page 3')[0]!.answer, 'exit 5 after 3 writes', shown(trace));
  const v = await violation(X86, softLimitSequence(0, 0, 3), ExitsWhileRequestVm);
  assert.match(v.actual, /^exit 31 after 0 writes/);
});

test('[KVM-RING-12] a request left pending by a reset below the limit exits once an entry set RESET and never pushed wraps used (kvmVcpuRing requestPending)', async () => {
  const ops: RingOp[] = [
    { k: 'run', vcpu: 0, slot: 0, start: 0, count: 192, stride: 1 },
    { k: 'harvest', vcpu: 0, max: 1024 },
    { k: 'reset' },
    { k: 'hostile', vcpu: 0, pick: 0, kind: 'markInvalid' },
    { k: 'reset' },
    { k: 'run', vcpu: 0, slot: 1, start: 0, count: 4, stride: 1 },
  ];
  const { trace } = await replay(X86, [], undefined, ops);
  assert.is(steps(trace, 'KVM_RUN(vCPU 0): 4 writes')[0]!.answer, 'exit 31 after 0 writes', shown(trace));
});

test('[KVM-RING-12] [KVM-RING-14] the aimed wrap: after the reset below the limit, a never-pushed entry reset takes used past it, and the next run exits at once', async () => {
  const { trace } = await replay(X86, softLimitSequence(0, 0, 3, true));
  assert.is(steps(trace, 'KVM_RUN(vCPU 0): 3 writes to slot 0x0 from page 3')[0]!.answer, 'exit 31 after 0 writes', shown(trace));
  const v = await violation(X86, softLimitSequence(0, 0, 3, true), ResetDropsRequestVm);
  assert.equal(v.req, ['KVM-RING-12']);
  assert.match(v.actual, /^exit 5 after 3 writes/);
});

test('[KVM-RING-21] arm64 WITH_BITMAP: GET reports the pages written without a vCPU, page 0 among them', async () => {
  const { trace } = await replay(ARM_BITMAP, bitmapSequence(0, 1, 5, 9, 20));
  const get = steps(trace, 'KVM_GET_DIRTY_LOG(slot 0x1)')[0]!;
  assert.is(get.expected, '0 with pages [0, 5, 9]', shown(trace));
});

test('[KVM-RING-21] a write without a vCPU that sets no bit fails the GET', async () => {
  const v = await violation(ARM_BITMAP, bitmapSequence(0, 1, 5, 9, 20), NoBitWithoutVcpuVm);
  assert.equal(v.req, ['KVM-RING-21']);
  assert.is(v.kind, 'loss');
});

test('[KVM-RING-21] the ring off (a vCPU first): GET reports the vCPU writes and the writes without one', async () => {
  const { trace } = await replay({ ...X86, late: true }, bitmapSequence(0, 0, 5, 9, 20), undefined, []);
  assert.is(steps(trace, 'KVM_GET_DIRTY_LOG(slot 0x0)')[0]!.expected, '0 with pages [0, 5, 9, 20]', shown(trace));
});

test('[KVM-RING-11] after GET, the reported pages push again and the page it did not report does not', async () => {
  const { trace } = await replay(ARM_BITMAP, bitmapSequence(0, 1, 5, 9, 20), undefined, []);
  const harvest = steps(trace, 'kit collector harvests vCPU 0 (up to 1024)');
  // The first run pushed 0, 5, 20; the second 0, 5 (protected again by GET) and 9 (never written by the vCPU), not 20.
  assert.is(harvest[harvest.length - 1]!.answer, '6 entries (0x1:0, 0x1:5, 0x1:20, 0x1:0, ...)', shown(trace));
});

test('[KVM-RING-21] a GET that leaves the reported pages writable fails at the GET: their next writes would be lost', async () => {
  const v = await violation(ARM_BITMAP, bitmapSequence(0, 1, 5, 9, 20), GetLeavesWritableVm);
  assert.ok(v.req.includes('KVM-RING-21'), v.message);
  assert.match(v.message, /after KVM_GET_DIRTY_LOG/);
  assert.is(v.kind, 'loss');
});

for (const kind of HOSTILE_KINDS) {
  test(`[KVM-RING-18] fresh entries rewritten by the hostile collector (${kind}) and reset: the reference passes`, async () => {
    const { trace } = await replay(X86, hostileSequence(0, 1, 10, 3, 1, [{ pick: 1, kind }]));
    assert.ok(
      trace.some((s) => s.op.includes(`(${kind})`) || (kind === 'markInvalid' && s.op.includes('never pushed'))),
      shown(trace),
    );
    assert.is(steps(trace, 'KVM_RESET_DIRTY_RINGS').pop()!.answer, kind === 'markInvalid' ? '4' : '3', shown(trace));
  });
}

test('[KVM-RING-17, KVM-RING-18] an entry repeating its predecessor offset joins its batch, which ends past the slot: page x stays writable', async () => {
  const { trace, inst } = await replay(X86, samePageSequence(0, 20));
  assert.ok(
    trace.some((s) => s.op.includes('(otherPage)')),
    shown(trace),
  );
  assert.ok(
    trace.some((s) => s.op.includes('(pastEnd)')),
    shown(trace),
  );
  assert.is(steps(trace, 'KVM_RESET_DIRTY_RINGS').pop()!.answer, '3', shown(trace));
  // The final reset consumes nothing of slot 1, so the page stays as the aimed reset left it.
  assert.not.ok(pageProtected(await inst.writeProtectedPages(slotCode(1, ringMemslots('x86'))), 20));
  assert.ok(pageProtected(await inst.writeProtectedPages(slotCode(1, ringMemslots('x86'))), 21), 'a page no entry named is still protected');
});

test('[KVM-RING-5, KVM-RING-8] before any vCPU: 2 MiB is -E2BIG, exactly 1 MiB is accepted, and the vCPU gets a 1 MiB ring', async () => {
  const { trace } = await replay(X86, enableSequence(KVM_CAP_DIRTY_LOG_RING_ACQ_REL));
  assert.is(steps(trace, 'KVM_ENABLE_CAP(223, args[0] 2097152)')[0]!.answer, '-7', shown(trace));
  assert.is(steps(trace, 'KVM_ENABLE_CAP(223, args[0] 1048576)')[0]!.answer, '0', shown(trace));
  const v = await violation(X86, enableSequence(KVM_CAP_DIRTY_LOG_RING_ACQ_REL), RefusesMaxRingVm);
  assert.is(v.actual, '-7');
});

test('[KVM-RING-6] a second good enable before any vCPU is -EINVAL', async () => {
  const { trace } = await replay(X86, enableSequence(KVM_CAP_DIRTY_LOG_RING_ACQ_REL));
  assert.is(steps(trace, 'KVM_ENABLE_CAP(223, args[0] 4096)')[0]!.answer, '-22', shown(trace));
  const v = await violation(X86, enableSequence(KVM_CAP_DIRTY_LOG_RING_ACQ_REL), RingEnableTwiceVm);
  assert.equal(v.req, ['KVM-RING-6']);
});

test('[KVM-RING-2] arm64, the ring on, no memslot: an unknown capability is -EINVAL to enable (not WITH_BITMAP) and 0 to ask for', async () => {
  const { trace } = await replay(ARM_BITMAP, enableSequence(KVM_CAP_DIRTY_LOG_RING_ACQ_REL));
  assert.is(steps(trace, 'KVM_ENABLE_CAP(7,')[0]!.answer, '-22', shown(trace));
  assert.is(steps(trace, `KVM_CHECK_EXTENSION(${UNKNOWN_CAP})`)[0]!.answer, '0', shown(trace));
  const enable = await violation({ ...ARM_BITMAP, withBitmap: false }, enableSequence(KVM_CAP_DIRTY_LOG_RING_ACQ_REL), EnablesAnyCapAsBitmapVm);
  assert.equal(enable.req, ['KVM-RING-2']);
  const check = await violation(ARM_BITMAP, enableSequence(KVM_CAP_DIRTY_LOG_RING_ACQ_REL), AnswersBitmapForAnyCapVm);
  assert.is(check.actual, '1');
});

test('the generator draws every kind of aimed sequence in 1,000 runs (seed 1), in about three runs in eight, and the reference conforms', async () => {
  const aimed: (readonly AimedStep[])[] = [];
  const r = await runKvmDirtyRingProfile(referenceKvmDirtyRingAdapter(), {
    runs: 1000,
    seed: 1,
    timeoutMs: 5000,
    maxCommands: 20,
    onSequence: (input) => aimed.push((input as RingScenario).aimed ?? []),
  });
  assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation ?? r.undecided));
  const some = aimed.filter((a) => a.length > 0);
  assert.ok(some.length > 300 && some.length < 460, `${some.length} of ${aimed.length} runs with an aimed sequence`);
  const ops = some.flatMap((a) => a.map((s) => s.op));
  for (const [what, seen] of [
    ['a run to the soft limit', ops.some((o) => o.k === 'fill')],
    ['the 1 MiB enable', ops.some((o) => o.k === 'enable' && o.size === 'max')],
    ['an unknown capability asked for', ops.some((o) => o.k === 'checkExt')],
    ['GET after writes without a vCPU', some.some((a) => a.some((s) => s.op.k === 'noVcpu') && a.some((s) => s.op.k === 'getLog'))],
    ['pushes at the coalescing edges', ops.some((o) => o.k === 'run' && o.pages?.length === 4 && o.pages[1] === o.pages[0]! + 64 && o.pages[3] === o.pages[2]! - 64)],
    ['both rings filled and reset at once', some.some((a) => a.filter((s) => s.op.k === 'fill').length === 2)],
    ['a ring filled three times for a CPU dirty log', some.some((a) => a.filter((s) => s.op.k === 'fill' && s.op.pmlOnly === true).length === 3)],
    ...HOSTILE_KINDS.map((kind) => [`hostile ${kind}`, ops.some((o) => o.k === 'hostile' && o.kind === kind)] as const),
  ] as const) {
    assert.ok(seen, `no ${what}`);
  }
});

test.run();
