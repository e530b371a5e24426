// Short sequences aimed at what a rule forbids, where the random ops seldom go (one run in
// four ends with one, as smmu-driver's: conformance/engine/aimed.ts):
// - a run whose last write takes the ring to the soft limit (KVM_EXIT_DIRTY_RING_FULL, not
//   KVM_EXIT_HLT), then the ring harvested and reset below the limit and run again: the
//   vCPU must enter the guest and make its writes (KVM-RING-12); or, with a never-pushed
//   entry reset in between (used wraps past the limit), exit at once (KVM-RING-14);
// - writes without a vCPU (page 0 among them) and KVM_GET_DIRTY_LOG of their slot, then
//   vCPU writes to the pages it reported and to one it did not (KVM-RING-21: the bitmap
//   where it is readable, arm64 WITH_BITMAP or the ring off; KVM-RING-11, -22: the
//   reported pages write-protected again, the others not);
// - a few fresh entries harvested, rewritten by the hostile collector (each kind) and
//   reset, and the pair that makes an entry repeat its predecessor's offset in front of
//   one past the memslot's end (KVM-RING-17, -18);
// - pushes at the edges of the reset's coalescing (a page 64 past a batch's base, one 64
//   before it), and both rings filled to their soft limit and reset at once (KVM-RING-15..17);
// - with a CPU dirty log (PML), a ring filled three times, the last past its soft limit
//   through pages all mapped: no write faults, only the log's full exits check the request
//   (KVM-RING-12);
// - before any vCPU: the ring enabled at 2 MiB (-E2BIG), at exactly 1 MiB (accepted) and
//   again at its own size (-EINVAL, only once); once the ring is on, an unknown
//   capability enabled (-EINVAL, not WITH_BITMAP) and asked for (0) (KVM-RING-2..6).
// Each sequence is a list of ops the profile already checks; it computes nothing from the
// run's state, except 'fill' (the writes up to the soft limit), which the profile works out
// when it runs. Drawn after the rest of the scenario, so a seed's configurations, ops and
// delays are as before; shrinking drops its steps.
import fc from 'fast-check';
import { KVM_CAP_DIRTY_LOG_RING, KVM_CAP_DIRTY_LOG_RING_ACQ_REL } from '../../../spec/kvm/dirty-ring/uapi.ts';
import { Droppable } from '../../engine/aimed.ts';
import type { AimedStep, HostileKind, RingOp } from './profile.ts';

/** A capability number no Linux v6.18 capability has (include/uapi/linux/kvm.h: the last are in the 240s). */
export const UNKNOWN_CAP = 1000;
/** The kit's unknown capability for KVM_ENABLE_CAP, as the configuration's enables use it. */
const UNKNOWN_ENABLE_CAP = 7;

const end = (...ops: RingOp[]): AimedStep[] => ops.map((op) => ({ at: 'end', op }));
/** Every entry either vCPU's ring holds harvested, then reset: the rings start the sequence empty and their pages write-protected again (those a hostile rewrite of the ops left writable aside). */
const drain: RingOp[] = [{ k: 'harvest', vcpu: 0, max: 1 << 16 }, { k: 'harvest', vcpu: 1, max: 1 << 16 }, { k: 'reset' }];

/**
 * vCPU v's ring drained, then a run of exactly soft limit - used writes (+ `extra`) to
 * write-protected pages; the ring harvested and reset, and a short run that must make its
 * writes: a pending soft-full request is dropped once the ring is below the limit (Linux
 * v6.18 virt/kvm/dirty_ring.c kvm_dirty_ring_check_request). With `wrap`, before that run
 * the hostile collector sets RESET on the entry at dirty_index and a reset consumes it,
 * taking used past the limit: the request a reset does not drop makes the run exit at once
 * (kvmVcpuRing requestPending --RESET, KVM-RING-12 and -14).
 */
export function softLimitSequence(vcpu: number, extra: number, start: number, wrap = false): AimedStep[] {
  const wrapped: RingOp[] = wrap ? [{ k: 'hostile', vcpu, pick: start, kind: 'markInvalid' }, { k: 'reset' }] : [];
  // The run right after the fill: a request left pending by a vCPU that halted (PML) or exited must exit it at once.
  return end(...drain, { k: 'fill', vcpu, extra }, { k: 'run', vcpu, slot: 0, start, count: 1, stride: 1 }, { k: 'harvest', vcpu, max: 1 << 16 }, { k: 'reset' }, ...wrapped, { k: 'run', vcpu, slot: 0, start, count: 3, stride: 1 });
}

/**
 * vCPU writes to page 0, `a` and `c` of a slot; KVM writes 0, `a` and `b` without a vCPU;
 * KVM_GET_DIRTY_LOG of the slot; vCPU writes to 0, `a`, `b` and `c` (the reported pages
 * are write-protected again and push, `c` does not), and the ring harvested.
 */
export function bitmapSequence(vcpu: number, slot: 0 | 1, a: number, b: number, c: number): AimedStep[] {
  const run = (pages: number[]): RingOp => ({ k: 'run', vcpu, slot, start: 0, count: pages.length, stride: 1, pages });
  return end(run([0, a, c]), { k: 'noVcpu', slot, offset: 0 }, { k: 'noVcpu', slot, offset: a }, { k: 'noVcpu', slot, offset: b }, { k: 'getLog', slot }, run([0, a, b, c]), { k: 'harvest', vcpu, max: 1024 });
}

export const HOSTILE_KINDS: readonly HostileKind[] = ['wrap', 'badAs', 'badId', 'noSlot', 'pastEnd', 'otherPage', 'otherSlot', 'remark', 'markInvalid'];

/** vCPU v's ring drained; a few fresh entries pushed and harvested; the hostile collector rewrites one or two of them; a reset consumes them. */
export function hostileSequence(vcpu: number, slot: 0 | 1, start: number, count: number, stride: 1 | 2 | -1, rewrites: readonly { readonly pick: number; readonly kind: HostileKind }[]): AimedStep[] {
  return end(...drain, { k: 'run', vcpu, slot, start, count, stride }, { k: 'harvest', vcpu, max: 1024 }, ...rewrites.map((r): RingOp => ({ k: 'hostile', vcpu, pick: r.pick, kind: r.kind })), { k: 'reset' });
}

/**
 * Pages x, x - 1, x - 2 of slot 1 (64 pages) pushed in that order; the second entry
 * rewritten to x + 1 - 1 = x, its predecessor's offset ('otherPage'), the third to page 64
 * ('pastEnd'). The reset's coalescing puts all three in one batch (delta 0 joins it,
 * 64 - x < 64 too), which ends past the memslot: the batch is skipped whole and page x stays
 * writable (Linux v6.18 virt/kvm/dirty_ring.c kvm_dirty_ring_reset, kvm_reset_dirty_gfn).
 */
export function samePageSequence(vcpu: number, x: number): AimedStep[] {
  return hostileSequence(vcpu, 1, x, 3, -1, [
    { pick: 1, kind: 'otherPage' },
    { pick: 2, kind: 'pastEnd' },
  ]);
}

/**
 * The edges of the reset's coalescing (KVM-RING-17): pages b and b + 64 of slot 0 pushed in
 * that order, then b + 200 and b + 136, harvested and reset. b + 64 is one past what a batch
 * based at b can hold (delta 64: forward only while delta < BITS_PER_LONG), b + 136 one
 * before what a batch based at b + 200 can take backwards (delta -64: only while
 * delta > -BITS_PER_LONG); each starts a batch of its own. A reset that lets either join
 * shifts a bit out of the 64-bit mask and never write-protects that page again (Linux v6.12
 * virt/kvm/dirty_ring.c kvm_dirty_ring_reset; the same tests in v6.17's, 530a8ba71b4c on).
 */
export function coalesceEdgeSequence(vcpu: number, b: number): AimedStep[] {
  return end(...drain, { k: 'run', vcpu, slot: 0, start: 0, count: 4, stride: 1, pages: [b, b + 64, b + 200, b + 136] }, { k: 'harvest', vcpu, max: 1024 }, { k: 'reset' });
}

/**
 * Both vCPUs' rings filled to their soft limit, harvested whole, and one KVM_RESET_DIRTY_RINGS:
 * it returns the entries of both rings and write-protects every page again. From v6.17
 * (530a8ba71b4c) one counter of the entries reset runs across the rings of a reset, bounded
 * at INT_MAX, not at a ring's size: a bound of one ring's size stops the second ring part way.
 */
export function bothRingsSequence(): AimedStep[] {
  return end(...drain, { k: 'fill', vcpu: 0, extra: 0 }, { k: 'fill', vcpu: 1, extra: 0 }, { k: 'harvest', vcpu: 0, max: 1 << 16 }, { k: 'harvest', vcpu: 1, max: 1 << 16 }, { k: 'reset' });
}

/**
 * A CPU dirty log's full exit (PML: every kvm_cpu_dirty_log_size() logged writes) must check
 * the soft-full request too (KVM-RING-12): vCPU v's ring filled to its soft limit three times,
 * harvested and reset after each, where the adapter declares a CPU dirty log. The first fill
 * maps pages, the second maps the rest of the memslots first, and the third, 513 writes past
 * the limit, goes to pages all mapped with their dirty bits cleared by the reset: none
 * faults, so only the log's full exits, every 512 writes, can stop the vCPU at the limit
 * (Linux v6.12.117 arch/x86/kvm/vmx/vmx.c handle_pml_full, vmx_flush_pml_buffer; x86.c
 * vcpu_enter_guest's kvm_dirty_ring_check_request).
 */
export function logFullSequence(vcpu: number): AimedStep[] {
  const reset: RingOp[] = [{ k: 'harvest', vcpu, max: 1 << 16 }, { k: 'reset' }];
  return end(...drain, { k: 'fill', vcpu, extra: 0, pmlOnly: true }, ...reset, { k: 'fill', vcpu, extra: 0, fresh: true, pmlOnly: true }, ...reset, { k: 'fill', vcpu, extra: 513, pmlOnly: true }, ...reset);
}

/**
 * Before the kit enables the ring: `cap` at 2 MiB (-E2BIG), at 1 MiB, KVM_DIRTY_RING_MAX_ENTRIES
 * entries (0 on a VM with neither ring nor vCPU: Linux v6.18 virt/kvm/kvm_main.c
 * kvm_vm_ioctl_enable_dirty_log_ring refuses only `size > KVM_DIRTY_RING_MAX_ENTRIES *
 * sizeof(struct kvm_dirty_gfn)`), then at the configuration's size (-EINVAL: only once).
 * Once the ring is on, before the memslots: an unknown capability enabled (-EINVAL) and
 * asked for (0).
 */
export function enableSequence(cap: number): AimedStep[] {
  return [
    { at: 'enable', op: { k: 'enable', cap, size: 'big' } },
    { at: 'enable', op: { k: 'enable', cap, size: 'max' } },
    { at: 'enable', op: { k: 'enable', cap, size: 'ok' } },
    { at: 'ring', op: { k: 'enable', cap: UNKNOWN_ENABLE_CAP, size: 'ok' } },
    { at: 'ring', op: { k: 'checkExt', cap: UNKNOWN_CAP } },
  ];
}

/** The aimed sequence of a run: none in about five runs of eight, else one of the sequences above. */
export function aimedRingArbitrary(): fc.Arbitrary<readonly AimedStep[]> {
  const vcpu = fc.nat(1);
  const page = fc.nat(63);
  // 513: one past the CPU dirty log a PML host declares (kvm_cpu_dirty_log_size(): PML_ENTITY_NUM = 512, Linux v6.12.117 arch/x86/kvm/vmx/vmx.h, on every x86 host with PML), the last write KVM-RING-12 lets such a vCPU make past the soft limit.
  const soft = fc.tuple(vcpu, fc.constantFrom(0, 0, 0, 1, -1, 513), fc.nat(60), fc.boolean()).map(([v, extra, start, wrap]) => softLimitSequence(v, extra, start, wrap));
  const bitmap = fc.tuple(vcpu, fc.constantFrom<0 | 1>(0, 1), page, page, page).map(([v, s, a, b, c]) => bitmapSequence(v, s, a, b, c));
  const rewrite = fc.record({ pick: fc.nat(3), kind: fc.constantFrom(...HOSTILE_KINDS) });
  const hostile = fc
    .tuple(vcpu, fc.constantFrom<0 | 1>(0, 1), page, fc.integer({ min: 1, max: 4 }), fc.constantFrom<1 | 2 | -1>(1, 1, -1, 2), fc.array(rewrite, { minLength: 1, maxLength: 2 }))
    .map(([v, s, start, n, stride, rw]) => hostileSequence(v, s, start, n, stride, rw));
  const same = fc.tuple(vcpu, fc.integer({ min: 2, max: 62 })).map(([v, x]) => samePageSequence(v, x));
  const enables = fc.constantFrom(KVM_CAP_DIRTY_LOG_RING_ACQ_REL, KVM_CAP_DIRTY_LOG_RING_ACQ_REL, KVM_CAP_DIRTY_LOG_RING).map(enableSequence);
  const aimed = fc.oneof({ arbitrary: soft, weight: 2 }, { arbitrary: bitmap, weight: 3 }, { arbitrary: hostile, weight: 3 }, { arbitrary: same, weight: 1 }, { arbitrary: enables, weight: 2 });
  // The coalescing edges (in about one run of twelve), both rings in one reset and, with a
  // CPU dirty log, a ring filled three times (each one run of twenty-four: they fill rings),
  // drawn where no sequence above is: the runs that have one draw it as before.
  const coalesce = fc.tuple(vcpu, fc.nat(55)).map(([v, b]) => coalesceEdgeSequence(v, b));
  const none = fc.oneof({ arbitrary: fc.constant<readonly AimedStep[]>([]), weight: 14 }, { arbitrary: coalesce, weight: 2 }, { arbitrary: fc.constant(bothRingsSequence()), weight: 1 }, { arbitrary: vcpu.map(logFullSequence), weight: 1 });
  return new Droppable(fc.oneof({ arbitrary: none, weight: 3 }, { arbitrary: aimed, weight: 1 }));
}
