import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AnyStateMachine, AnyTransitionDefinition } from 'xstate';
import { machineTransitions } from '../../machines.ts';
import type { RuleMeta } from '../../rule.ts';
import { run, step } from '../../step.ts';
import {
  KVM_DIRTY_GFN_EVENTS,
  KVM_DIRTY_RING_VM_EVENTS,
  KVM_VCPU_RING_EVENTS,
  RING_VM_EFFECT_POSTCONDITIONS,
  RING_VM_EFFECTS,
  GFN_OUTCOME_MEANING,
  GFN_OUTCOMES,
  kvmDirtyGfnMachine as gfn,
  kvmDirtyRingVmMachine as vm,
  kvmVcpuRingMachine as vcpu,
  PUSH_ONTO_DIRTY,
  ringVmStateOf,
  type KvmDirtyGfnEvent,
  type KvmDirtyRingVmEvent,
  type KvmVcpuRingEvent,
} from './ring-machines.ts';

/** Runs `prefix`, then `event`: its outcomes, the state before and after, the requirements of the transitions taken. */
function take<M extends AnyStateMachine>(m: M, prefix: readonly unknown[], event: unknown) {
  const before = run(m, prefix as never)[0];
  const taken = m.getTransitionData(before as never, event as never) as AnyTransitionDefinition[];
  const [after, out] = step(m, before, event as never);
  return { out, before: (before as { value: unknown }).value, after: (after as { value: unknown }).value, req: taken.flatMap((t) => (t.meta as RuleMeta | undefined)?.req ?? []) as string[] };
}

const ENABLE = (o: Partial<Extract<KvmDirtyRingVmEvent, { type: 'ENABLE_RING' }>> = {}): KvmDirtyRingVmEvent => ({ type: 'ENABLE_RING', supported: true, size: 'ok', ...o });
const VCPU: KvmDirtyRingVmEvent = { type: 'CREATE_VCPU' };
const SLOT: KvmDirtyRingVmEvent = { type: 'CREATE_MEMSLOT' };
const BITMAP = (allowed = true): KvmDirtyRingVmEvent => ({ type: 'ENABLE_WITH_BITMAP', allowed });

function refused(prefix: KvmDirtyRingVmEvent[], e: KvmDirtyRingVmEvent, outcome: string, id: string) {
  const r = take(vm, prefix, e);
  assert.equal(r.out, [outcome], JSON.stringify(e));
  assert.equal(r.after, r.before, 'a refusal changes nothing');
  assert.ok(r.req.includes(id), `charged to ${r.req.join(',')}, not ${id}`);
}

// ---------------------------------------------------------------------------------------
// kvmDirtyRingVm

test('[KVM-RING-2] enabling a capability the arch does not report is -EINVAL, before any size check', () => {
  refused([], ENABLE({ supported: false }), 'einval', 'KVM-RING-2');
  refused([], ENABLE({ supported: false, size: 'tooLarge' }), 'einval', 'KVM-RING-2');
});
test('[KVM-RING-3] a size of 0 or not a power of two is -EINVAL', () => {
  refused([], ENABLE({ size: 'notPowerOfTwo' }), 'einval', 'KVM-RING-3');
});
test('[KVM-RING-4] a size below a page or the reserved entries is -EINVAL', () => {
  refused([], ENABLE({ size: 'tooSmall' }), 'einval', 'KVM-RING-4');
});
test('[KVM-RING-5] a size above 1 MiB is -E2BIG, even once enabled', () => {
  refused([], ENABLE({ size: 'tooLarge' }), 'e2big', 'KVM-RING-5');
  refused([ENABLE()], ENABLE({ size: 'tooLarge' }), 'e2big', 'KVM-RING-5');
});
test('[KVM-RING-6] enabling twice is -EINVAL', () => {
  refused([ENABLE()], ENABLE(), 'einval', 'KVM-RING-6');
});
test('[KVM-RING-7] enabling after a vCPU exists is -EINVAL; that vCPU got no ring', () => {
  refused([VCPU], ENABLE(), 'einval', 'KVM-RING-7');
  const r = take(vm, [], VCPU);
  assert.equal(r.out, ['ok']);
  assert.ok(r.req.includes('KVM-RING-7'));
});
test('[KVM-RING-8] a valid enable turns the ring on and vCPUs created after get a ring', () => {
  const r = take(vm, [], ENABLE());
  assert.equal(r.out, ['enableRing', 'ok']);
  assert.is(ringVmStateOf({ value: r.after }).ring, 'on');
  const v = take(vm, [ENABLE()], VCPU);
  assert.equal(v.out, ['allocRing', 'ok']);
  assert.is(ringVmStateOf({ value: v.after }).vcpus, 'some');
  assert.equal(take(vm, [ENABLE(), VCPU], VCPU).out, ['allocRing', 'ok']);
});
test('[KVM-RING-9] with the ring and no WITH_BITMAP: memslots get no bitmap and KVM_GET_DIRTY_LOG is -ENXIO', () => {
  assert.equal(take(vm, [ENABLE()], SLOT).out, ['ok']);
  refused([ENABLE(), SLOT], { type: 'GET_DIRTY_LOG' }, 'enxio', 'KVM-RING-9');
  assert.equal(take(vm, [], SLOT).out, ['allocBitmap', 'ok'], 'without the ring: the dirty log as before');
  assert.equal(take(vm, [SLOT], { type: 'GET_DIRTY_LOG' }).out, ['reportBitmap', 'ok']);
});
test('[KVM-RING-10] WITH_BITMAP needs the arch, the ring, and no memslot; then memslots get a bitmap', () => {
  refused([ENABLE()], BITMAP(false), 'einval', 'KVM-RING-10');
  refused([], BITMAP(), 'einval', 'KVM-RING-10');
  refused([ENABLE(), SLOT], BITMAP(), 'einval', 'KVM-RING-10');
  const r = take(vm, [ENABLE()], BITMAP());
  assert.equal(r.out, ['enableBitmap', 'ok']);
  assert.is(ringVmStateOf({ value: r.after }).withBitmap, 'on');
  assert.equal(take(vm, [ENABLE(), BITMAP()], SLOT).out, ['allocBitmap', 'ok']);
  assert.equal(take(vm, [ENABLE(), BITMAP()], BITMAP()).out, ['enableBitmap', 'ok'], 'again while no memslot: 0');
  refused([ENABLE(), BITMAP(), SLOT], BITMAP(), 'einval', 'KVM-RING-10');
});
test('[KVM-RING-15] KVM_RESET_DIRTY_RINGS is -EINVAL without the ring, else resets every ring', () => {
  refused([], { type: 'RESET_RINGS' }, 'einval', 'KVM-RING-15');
  assert.equal(take(vm, [ENABLE()], { type: 'RESET_RINGS' }).out, ['resetRings', 'ok']);
});
test('[KVM-RING-21] a write without a running vCPU: the bitmap with WITH_BITMAP, nothing without it', () => {
  assert.equal(take(vm, [ENABLE(), BITMAP()], { type: 'WRITE_NO_VCPU' }).out, ['setBitmap']);
  assert.equal(take(vm, [ENABLE(), BITMAP(), SLOT], { type: 'GET_DIRTY_LOG' }).out, ['reportBitmap', 'ok']);
  assert.equal(take(vm, [ENABLE()], { type: 'WRITE_NO_VCPU' }).out, ['unrecorded']);
  assert.equal(take(vm, [], { type: 'WRITE_NO_VCPU' }).out, ['setBitmap']);
});
test('[KVM-RING-8] every effect of the VM machine has a postcondition', () => {
  for (const e of RING_VM_EFFECTS) assert.ok(RING_VM_EFFECT_POSTCONDITIONS[e].length > 20, e);
});

// ---------------------------------------------------------------------------------------
// kvmDirtyGfn

const G = (type: KvmDirtyGfnEvent['type'], valid = true): KvmDirtyGfnEvent => (type === 'RESET' ? { type, valid } : ({ type } as KvmDirtyGfnEvent));

test('[KVM-RING-11] a push turns an invalid entry dirty', () => {
  const r = take(gfn, [], G('PUSH'));
  assert.equal(r.out, ['published']);
  assert.is(r.after, 'dirty');
});
test('[KVM-RING-12] HAZARD: a push over an entry not yet reset overwrites it', () => {
  assert.equal(take(gfn, [G('PUSH')], G('PUSH')).out, ['overwritten']);
  assert.equal(take(gfn, [G('PUSH'), G('MARK_RESET')], G('PUSH')).out, ['overwritten']);
});
test("[KVM-RING-12] the ring machines' forbidden transitions are the push onto a DIRTY entry and a push while a request is pending below the limit, each saying why", () => {
  const forbidden = [vm, gfn, vcpu].flatMap((m) =>
    machineTransitions(m)
      .filter((t) => t.meta?.forbidden !== undefined)
      .map((t) => `${m.id}: ${t.key}`),
  );
  assert.equal(forbidden, ['kvmDirtyGfn: dirty --PUSH#0', 'kvmVcpuRing: requestPending --PUSH#0']);
  const t = machineTransitions(gfn).find((x) => x.key === 'dirty --PUSH#0')!;
  assert.is(t.meta?.forbidden, PUSH_ONTO_DIRTY);
  assert.equal(t.meta?.req, ['KVM-RING-12']);
  // The push onto a harvested entry (one a collector marked RESET without a push) is no violation of the producer: not forbidden.
  assert.is(machineTransitions(gfn).find((x) => x.key === 'harvested --PUSH#0')!.meta?.forbidden, undefined);
});
test('[KVM-RING-13] the collector sees dirty only between push and mark', () => {
  assert.equal(take(gfn, [], G('READ')).out, ['notDirty']);
  assert.equal(take(gfn, [G('PUSH')], G('READ')).out, ['isDirty']);
  assert.equal(take(gfn, [G('PUSH'), G('MARK_RESET')], G('READ')).out, ['notDirty']);
});
test('[KVM-RING-14] marking RESET harvests a dirty entry; on an invalid one it is a collector error', () => {
  const r = take(gfn, [G('PUSH')], G('MARK_RESET'));
  assert.equal(r.out, ['marked']);
  assert.is(r.after, 'harvested');
  assert.equal(take(gfn, [], G('MARK_RESET')).out, ['markedInvalid']);
  assert.equal(take(gfn, [G('PUSH'), G('MARK_RESET')], G('MARK_RESET')).out, ['marked']);
});
test('[KVM-RING-15] [KVM-RING-16] reset consumes a harvested entry and re-protects its page', () => {
  const r = take(gfn, [G('PUSH'), G('MARK_RESET')], G('RESET'));
  assert.equal(r.out, ['reprotected']);
  assert.is(r.after, 'invalid');
  assert.ok(r.req.includes('KVM-RING-17'));
});
test('[KVM-RING-18] a rewritten entry outside its slot is consumed and re-protects nothing', () => {
  assert.equal(take(gfn, [G('PUSH'), G('MARK_RESET')], G('REWRITE')).out, ['rewritten']);
  const r = take(gfn, [G('PUSH'), G('MARK_RESET'), G('REWRITE')], G('RESET', false));
  assert.equal(r.out, ['ignored']);
  assert.is(r.after, 'invalid');
});
test('[KVM-RING-19] reset stops at an entry without RESET', () => {
  assert.equal(take(gfn, [G('PUSH')], G('RESET')).out, ['stopped']);
  assert.equal(take(gfn, [], G('RESET')).out, ['stopped']);
});
test('[KVM-RING-13] every entry outcome has a meaning', () => {
  for (const o of GFN_OUTCOMES) assert.ok(GFN_OUTCOME_MEANING[o].length > 10, o);
});

// ---------------------------------------------------------------------------------------
// kvmVcpuRing

const PUSH = (reachesSoftLimit: boolean): KvmVcpuRingEvent => ({ type: 'PUSH', reachesSoftLimit });
const RESET = (belowSoftLimit: boolean): KvmVcpuRingEvent => ({ type: 'RESET', belowSoftLimit });
const RUN: KvmVcpuRingEvent = { type: 'RUN' };

test('[KVM-RING-12] the push that reaches soft_limit makes every KVM_RUN exit DIRTY_RING_FULL until a reset', () => {
  assert.equal(take(vcpu, [], PUSH(false)).out, ['pushed']);
  assert.equal(take(vcpu, [], RUN).out, ['entersGuest']);
  const r = take(vcpu, [], PUSH(true));
  assert.equal(r.out, ['requestExit']);
  assert.is(r.after, 'softFull');
  assert.equal(take(vcpu, [PUSH(true)], RUN).out, ['exitDirtyRingFull']);
  assert.equal(take(vcpu, [PUSH(true), RUN], RUN).out, ['exitDirtyRingFull']);
  assert.equal(take(vcpu, [PUSH(true)], PUSH(true)).out, ['pushed'], 'the reserved entries take the pushes before the exit');
  assert.equal(take(vcpu, [PUSH(true)], RESET(false)).out, ['stillFull']);
  const back = take(vcpu, [PUSH(true)], RESET(true));
  assert.equal(back.out, ['resumable']);
  assert.is(back.after, 'requestPending');
  const enters = take(vcpu, [PUSH(true), RESET(true)], RUN);
  assert.equal(enters.out, ['entersGuest']);
  assert.is(enters.after, 'running', 'the entry below the limit drops the request');
  assert.equal(take(vcpu, [], RESET(true)).out, ['resumable']);
});

test('[KVM-RING-12] [KVM-RING-14] a reset does not drop the pending request: one that takes used back to the limit before the next entry leaves the vCPU exiting', () => {
  const again = take(vcpu, [PUSH(true), RESET(true)], RESET(true));
  assert.equal(again.out, ['resumable']);
  assert.is(again.after, 'requestPending');
  const wrapped = take(vcpu, [PUSH(true), RESET(true)], RESET(false));
  assert.equal(wrapped.out, ['stillFull']);
  assert.is(wrapped.after, 'softFull');
  assert.ok(wrapped.req.includes('KVM-RING-14'));
  assert.equal(take(vcpu, [PUSH(true), RESET(true), RESET(false)], RUN).out, ['exitDirtyRingFull']);
  // Without a pending request the same wrap lets the vCPU in; its next push makes the request.
  assert.equal(take(vcpu, [RESET(false)], RUN).out, ['entersGuest']);
});

test('[KVM-RING-12] a push with the request pending below the limit is forbidden: the vCPU enters the guest (RUN) before it writes', () => {
  const t = machineTransitions(vcpu).find((x) => x.key === 'requestPending --PUSH#0');
  assert.ok(t?.meta?.forbidden !== undefined);
});

// ---------------------------------------------------------------------------------------
// All three: every transition is reachable from the alphabets the tables compile over.

test('[KVM-RING-8] [KVM-RING-11] [KVM-RING-12] every transition of the ring machines is taken by some event of its alphabet', () => {
  for (const [m, events] of [
    [vm, KVM_DIRTY_RING_VM_EVENTS],
    [gfn, KVM_DIRTY_GFN_EVENTS],
    [vcpu, KVM_VCPU_RING_EVENTS],
  ] as const) {
    const keys = new Set(machineTransitions(m).map((t) => t.key));
    const seen = new Set<string>();
    const states = [run(m as AnyStateMachine, [])[0]];
    const visited = new Set<string>();
    while (states.length > 0) {
      const s = states.pop()!;
      const k = JSON.stringify(s.value);
      if (visited.has(k)) continue;
      visited.add(k);
      for (const e of events as readonly unknown[]) {
        for (const t of (m as AnyStateMachine).getTransitionData(s as never, e as never) as AnyTransitionDefinition[]) {
          const list = t.source.transitions.get(t.eventType) ?? [];
          seen.add(`${t.source.path.join('.') || '(root)'} --${t.eventType}#${list.indexOf(t)}`);
        }
        states.push(step(m as AnyStateMachine, s, e as never)[0]);
      }
    }
    assert.equal(
      [...keys].filter((k) => !seen.has(k)),
      [],
      `${(m as AnyStateMachine).id}: transitions no event reaches`,
    );
  }
});

test.run();
