// The KVM dirty ring as three machines:
// - kvmDirtyRingVm: the VM's ring and bitmap configuration as userspace sees it: enabling
//   (KVM_CAP_DIRTY_LOG_RING / _ACQ_REL, _WITH_BITMAP), vCPUs and memslots created after,
//   KVM_GET_DIRTY_LOG excluded, KVM_RESET_DIRTY_RINGS, writes without a running vCPU;
// - kvmDirtyGfn: one struct kvm_dirty_gfn's life: invalid (00), dirty (01) pushed by KVM,
//   harvested (1X) marked by the collector, invalid again when a reset consumes it; with
//   the hazards (a push over an entry not yet reset, RESET set on an invalid entry). A
//   push over a DIRTY entry is a forbidden transition (PUSH_ONTO_DIRTY): no conforming
//   run takes it, coverage reports it apart as checked, never taken;
// - kvmVcpuRing: a vCPU's soft-full state: running, or soft full with every KVM_RUN
//   exiting KVM_EXIT_DIRTY_RING_FULL until a reset, or reset below the limit with the
//   request still pending until the vCPU next enters the guest.
// Every refusal names the errno; outcomes are the last action. Events carry classified
// facts (rules.ts), so each machine is finite and compiles into a table over its alphabet.
//
// Requirements: KVM-RING-2..21 (KVM-RING-1 in uapi.ts, KVM-RING-22/23 in model/).
// Sources: Linux v6.18 virt/kvm/kvm_main.c, virt/kvm/dirty_ring.c,
//          Documentation/virt/kvm/api.rst; <20200109145729.32898-1-peterx@redhat.com>.
import { and, not, setup, stateIn } from 'xstate';
import { forbidden, guard, rule } from '../../rule.ts';
import type { EnableRingEvent, EnableWithBitmapEvent, RingSizeClass } from './rules.ts';

type ReqParams = { req: string };
const noop = () => {};
const actionsOf = <T extends string>(names: readonly T[]) => Object.fromEntries(names.map((a) => [a, noop])) as Record<T, () => void>;

// ---------------------------------------------------------------------------------------
// kvmDirtyRingVm

export type KvmDirtyRingVmEvent =
  | EnableRingEvent
  | EnableWithBitmapEvent
  | { readonly type: 'CREATE_VCPU' }
  | { readonly type: 'CREATE_MEMSLOT' }
  | { readonly type: 'GET_DIRTY_LOG' }
  | { readonly type: 'RESET_RINGS' }
  | { readonly type: 'WRITE_NO_VCPU' };

export const RING_VM_OUTCOMES = ['ok', 'einval', 'e2big', 'enxio'] as const;
export type RingVmOutcome = (typeof RING_VM_OUTCOMES)[number];
export const RING_VM_EFFECTS = ['enableRing', 'enableBitmap', 'allocRing', 'allocBitmap', 'reportBitmap', 'resetRings', 'setBitmap', 'unrecorded'] as const;
export type RingVmEffect = (typeof RING_VM_EFFECTS)[number];

/** What must hold once each effect has run (checked against an implementation). */
export const RING_VM_EFFECT_POSTCONDITIONS: Record<RingVmEffect, string> = {
  enableRing: 'the VM has the ring size; vCPUs created from now on each get a ring',
  enableBitmap: 'memslots created from now on with KVM_MEM_LOG_DIRTY_PAGES have a dirty bitmap beside the ring',
  allocRing: 'the new vCPU has a zeroed ring of size / 16 entries at KVM_DIRTY_LOG_PAGE_OFFSET of its mmap, indexes 0',
  allocBitmap: 'the new memslot has a dirty bitmap (KVM_GET_DIRTY_LOG works on it)',
  reportBitmap: 'the dirty bitmap of the slot is returned (and cleared, without manual protect)',
  resetRings: 'every vCPU ring is reset (kvmDirtyGfn RESET on each entry from reset_index), the TLBs flushed, the count returned',
  setBitmap: "the page's bit in the memslot dirty bitmap is set",
  unrecorded: 'nothing records the write (KVM WARNs): a VMM on an arch that needs it must enable WITH_BITMAP',
};

type VmE = KvmDirtyRingVmEvent;
const vmIs =
  <T extends VmE['type']>(type: T, test: (e: Extract<VmE, { type: T }>) => boolean = () => true) =>
  (args: { event: VmE }, _params: ReqParams): boolean =>
    args.event.type === type && test(args.event as Extract<VmE, { type: T }>);
const vmDoes = (...a: (RingVmOutcome | RingVmEffect)[]) => a;
const RING_ON = stateIn('#kvmDirtyRingVm.ring.on');
const RING_OFF = stateIn('#kvmDirtyRingVm.ring.off');
const BITMAP_ON = stateIn('#kvmDirtyRingVm.withBitmap.on');
const VCPUS = stateIn('#kvmDirtyRingVm.vcpus.some');
const MEMSLOTS = stateIn('#kvmDirtyRingVm.memslots.some');

/** The checks of kvm_vm_ioctl_enable_cap_generic and kvm_vm_ioctl_enable_dirty_log_ring, in order. */
function enableRing(on: boolean) {
  return [
    { guard: guard('capUnsupported', 'KVM-RING-2'), actions: vmDoes('einval'), ...rule('KVM-RING-2') },
    { guard: guard('sizeNotPowerOfTwo', 'KVM-RING-3'), actions: vmDoes('einval'), ...rule('KVM-RING-3') },
    { guard: guard('sizeTooSmall', 'KVM-RING-4'), actions: vmDoes('einval'), ...rule('KVM-RING-4') },
    { guard: guard('sizeTooLarge', 'KVM-RING-5'), actions: vmDoes('e2big'), ...rule('KVM-RING-5') },
    ...(on
      ? [{ actions: vmDoes('einval'), ...rule('KVM-RING-6') }]
      : [
          { guard: VCPUS, actions: vmDoes('einval'), ...rule('KVM-RING-7') },
          { target: 'on', actions: vmDoes('enableRing', 'ok'), ...rule('KVM-RING-8') },
        ]),
  ];
}

function enableWithBitmap(target: string | undefined) {
  return [
    { guard: guard('bitmapNotAllowed', 'KVM-RING-10'), actions: vmDoes('einval'), ...rule('KVM-RING-10') },
    // Once on, the ring is on too: only the first enable can find it off.
    ...(target === undefined ? [] : [{ guard: RING_OFF, actions: vmDoes('einval'), ...rule('KVM-RING-10') }]),
    { guard: MEMSLOTS, actions: vmDoes('einval'), ...rule('KVM-RING-10') },
    { ...(target === undefined ? {} : { target }), actions: vmDoes('enableBitmap', 'ok'), ...rule('KVM-RING-10') },
  ];
}

function createVcpu(target: string | undefined) {
  const t = target === undefined ? {} : { target };
  return [
    { guard: RING_ON, ...t, actions: vmDoes('allocRing', 'ok'), ...rule('KVM-RING-8') },
    { ...t, actions: vmDoes('ok'), ...rule('KVM-RING-7') },
  ];
}

function createMemslot(target: string | undefined) {
  const t = target === undefined ? {} : { target };
  return [
    { guard: and([RING_ON, not(BITMAP_ON)]), ...t, actions: vmDoes('ok'), ...rule('KVM-RING-9') },
    { guard: BITMAP_ON, ...t, actions: vmDoes('allocBitmap', 'ok'), ...rule('KVM-RING-10') },
    { ...t, actions: vmDoes('allocBitmap', 'ok'), ...rule('KVM-RING-9') },
  ];
}

export const kvmDirtyRingVmMachine = setup({
  types: { events: {} as KvmDirtyRingVmEvent },
  guards: {
    capUnsupported: vmIs('ENABLE_RING', (e) => !e.supported),
    sizeNotPowerOfTwo: vmIs('ENABLE_RING', (e) => e.size === 'notPowerOfTwo'),
    sizeTooSmall: vmIs('ENABLE_RING', (e) => e.size === 'tooSmall'),
    sizeTooLarge: vmIs('ENABLE_RING', (e) => e.size === 'tooLarge'),
    bitmapNotAllowed: vmIs('ENABLE_WITH_BITMAP', (e) => !e.allowed),
  },
  actions: actionsOf([...RING_VM_OUTCOMES, ...RING_VM_EFFECTS]),
}).createMachine({
  id: 'kvmDirtyRingVm',
  type: 'parallel',
  states: {
    ring: {
      initial: 'off',
      states: {
        off: {
          on: {
            ENABLE_RING: enableRing(false),
            RESET_RINGS: { actions: vmDoes('einval'), ...rule('KVM-RING-15') },
            GET_DIRTY_LOG: { actions: vmDoes('reportBitmap', 'ok'), ...rule('KVM-RING-9') },
            WRITE_NO_VCPU: { actions: vmDoes('setBitmap'), ...rule('KVM-RING-21') },
          },
        },
        on: {
          on: {
            ENABLE_RING: enableRing(true),
            RESET_RINGS: { actions: vmDoes('resetRings', 'ok'), ...rule('KVM-RING-15', 'KVM-RING-16') },
            GET_DIRTY_LOG: [
              { guard: BITMAP_ON, actions: vmDoes('reportBitmap', 'ok'), ...rule('KVM-RING-21') },
              { actions: vmDoes('enxio'), ...rule('KVM-RING-9') },
            ],
            WRITE_NO_VCPU: [
              { guard: BITMAP_ON, actions: vmDoes('setBitmap'), ...rule('KVM-RING-21') },
              { actions: vmDoes('unrecorded'), ...rule('KVM-RING-21') },
            ],
          },
        },
      },
    },
    withBitmap: {
      initial: 'off',
      states: {
        off: { on: { ENABLE_WITH_BITMAP: enableWithBitmap('on') } },
        on: { on: { ENABLE_WITH_BITMAP: enableWithBitmap(undefined) } },
      },
    },
    vcpus: {
      initial: 'none',
      states: {
        none: { on: { CREATE_VCPU: createVcpu('some') } },
        some: { on: { CREATE_VCPU: createVcpu(undefined) } },
      },
    },
    memslots: {
      initial: 'none',
      states: {
        none: { on: { CREATE_MEMSLOT: createMemslot('some') } },
        some: { on: { CREATE_MEMSLOT: createMemslot(undefined) } },
      },
    },
  },
});

export interface RingVmState {
  readonly ring: 'off' | 'on';
  readonly withBitmap: 'off' | 'on';
  readonly vcpus: 'none' | 'some';
  readonly memslots: 'none' | 'some';
}

export function ringVmStateOf(snapshot: { value: unknown }): RingVmState {
  return snapshot.value as RingVmState;
}

const SIZES: readonly RingSizeClass[] = ['ok', 'notPowerOfTwo', 'tooSmall', 'tooLarge'];

/** Every event kvmDirtyRingVm distinguishes: its alphabet. */
export const KVM_DIRTY_RING_VM_EVENTS: readonly KvmDirtyRingVmEvent[] = [
  ...[true, false].flatMap((supported) => SIZES.map((size): KvmDirtyRingVmEvent => ({ type: 'ENABLE_RING', supported, size }))),
  { type: 'ENABLE_WITH_BITMAP', allowed: true },
  { type: 'ENABLE_WITH_BITMAP', allowed: false },
  { type: 'CREATE_VCPU' },
  { type: 'CREATE_MEMSLOT' },
  { type: 'GET_DIRTY_LOG' },
  { type: 'RESET_RINGS' },
  { type: 'WRITE_NO_VCPU' },
];

// ---------------------------------------------------------------------------------------
// kvmDirtyGfn: one ring entry

export type KvmDirtyGfnEvent =
  /** KVM pushes into this entry (it is the one at dirty_index). */
  | { readonly type: 'PUSH' }
  /** The collector loads the flags (acquire) to see whether the entry is dirty. */
  | { readonly type: 'READ' }
  /** The collector sets RESET (store-release). */
  | { readonly type: 'MARK_RESET' }
  /** Userspace writes slot or offset of the entry (a hostile collector). */
  | { readonly type: 'REWRITE' }
  /** KVM_RESET_DIRTY_RINGS reaches the entry; `valid`: the batch it ends up in passes KVM-RING-18. */
  | { readonly type: 'RESET'; readonly valid: boolean };

export const GFN_OUTCOMES = ['published', 'overwritten', 'isDirty', 'notDirty', 'marked', 'markedInvalid', 'rewritten', 'reprotected', 'ignored', 'stopped'] as const;
export type GfnOutcome = (typeof GFN_OUTCOMES)[number];

export const GFN_OUTCOME_MEANING: Record<GfnOutcome, string> = {
  published: 'slot and offset, then flags = DIRTY (release): the collector that acquires DIRTY sees them',
  overwritten: 'HAZARD: an entry not yet reset is overwritten; its page is lost (KVM WARNs: the ring is full)',
  isDirty: 'the collector harvests (slot, offset), read after the flags',
  notDirty: 'the collector stops here: every later entry waits for the next harvest',
  marked: 'RESET set: the next KVM_RESET_DIRTY_RINGS consumes the entry',
  markedInvalid: 'COLLECTOR ERROR: RESET on an entry never pushed; a reset consumes it and reset_index runs past dirty_index',
  rewritten: 'userspace changed slot or offset: a reset must validate them (KVM-RING-18)',
  reprotected: 'flags = 0 (release), reset_index++, the page write-protected again',
  ignored: 'flags = 0 (release), reset_index++, nothing re-protected (the slot or offset is outside any memslot)',
  stopped: 'the reset stops here and changes nothing',
};

/**
 * Why `dirty --PUSH` is forbidden, and where the kit checks it. A push lands on an entry
 * still DIRTY only when used = dirty_index - reset_index has reached the ring's size:
 * KVM WARNs (Linux v6.18 virt/kvm/dirty_ring.c kvm_dirty_ring_push,
 * WARN_ON_ONCE(kvm_dirty_ring_full(ring))) and the overwritten entry's page is lost.
 * A producer that honours the soft limit (KVM-RING-12: the vCPU exits at soft_limit =
 * size - reserved, and the reserve takes the pushes between the request and the exit)
 * never gets there, so no conforming run takes this transition: coverage leaves it out of
 * the denominator and reports it as checked, never taken. The kit steps every push from
 * the state of the entry it lands on (kvm-dirty-ring: the entry the producer's dirty_index
 * names, after its KVM_RUN's exit and count were compared with the soft limit;
 * dirty-ring-collector: the entry the kit's own KVM pushes to) and fails the run if the
 * push would take it; a producer that overwrote anyway is also caught by the harvest,
 * which finds each owed push in order and, with every store visible, every one in the ring.
 */
export const PUSH_ONTO_DIRTY =
  'a push onto an entry not yet harvested and reset (the ring full, used = size): its page is lost; a producer that exits at the soft limit never gets here. Checked on every push (the entry it lands on is not DIRTY), never taken by a conforming run.';

type GE = KvmDirtyGfnEvent;
const gfnDoes = (o: GfnOutcome) => [o];

export const kvmDirtyGfnMachine = setup({
  types: { events: {} as KvmDirtyGfnEvent },
  guards: {
    batchValid: (args: { event: GE }, _params: ReqParams) => args.event.type === 'RESET' && args.event.valid,
  },
  actions: actionsOf(GFN_OUTCOMES),
}).createMachine({
  id: 'kvmDirtyGfn',
  initial: 'invalid',
  on: {
    REWRITE: { actions: gfnDoes('rewritten'), ...rule('KVM-RING-18') },
  },
  states: {
    invalid: {
      on: {
        PUSH: { target: 'dirty', actions: gfnDoes('published'), ...rule('KVM-RING-11') },
        READ: { actions: gfnDoes('notDirty'), ...rule('KVM-RING-13') },
        MARK_RESET: { target: 'harvested', actions: gfnDoes('markedInvalid'), ...rule('KVM-RING-14') },
        RESET: { actions: gfnDoes('stopped'), ...rule('KVM-RING-19') },
      },
    },
    dirty: {
      on: {
        // FORBIDDEN (RuleMeta.forbidden): see PUSH_ONTO_DIRTY.
        PUSH: { actions: gfnDoes('overwritten'), ...forbidden(PUSH_ONTO_DIRTY, 'KVM-RING-12') },
        READ: { actions: gfnDoes('isDirty'), ...rule('KVM-RING-13') },
        MARK_RESET: { target: 'harvested', actions: gfnDoes('marked'), ...rule('KVM-RING-14') },
        RESET: { actions: gfnDoes('stopped'), ...rule('KVM-RING-19') },
      },
    },
    harvested: {
      on: {
        PUSH: { target: 'dirty', actions: gfnDoes('overwritten'), ...rule('KVM-RING-12') },
        READ: { actions: gfnDoes('notDirty'), ...rule('KVM-RING-13') },
        MARK_RESET: { actions: gfnDoes('marked'), ...rule('KVM-RING-14') },
        RESET: [
          { guard: guard('batchValid', 'KVM-RING-16'), target: 'invalid', actions: gfnDoes('reprotected'), ...rule('KVM-RING-15', 'KVM-RING-16', 'KVM-RING-17') },
          { target: 'invalid', actions: gfnDoes('ignored'), ...rule('KVM-RING-15', 'KVM-RING-18') },
        ],
      },
    },
  },
});

export const KVM_DIRTY_GFN_EVENTS: readonly KvmDirtyGfnEvent[] = [{ type: 'PUSH' }, { type: 'READ' }, { type: 'MARK_RESET' }, { type: 'REWRITE' }, { type: 'RESET', valid: true }, { type: 'RESET', valid: false }];

// ---------------------------------------------------------------------------------------
// kvmVcpuRing: soft full and KVM_EXIT_DIRTY_RING_FULL

export type KvmVcpuRingEvent =
  /** A push into this vCPU's ring; `reachesSoftLimit`: used >= soft_limit after it. */
  | { readonly type: 'PUSH'; readonly reachesSoftLimit: boolean }
  /** KVM_RUN on this vCPU. */
  | { readonly type: 'RUN' }
  /** KVM_RESET_DIRTY_RINGS returned; `belowSoftLimit`: used < soft_limit after it. */
  | { readonly type: 'RESET'; readonly belowSoftLimit: boolean };

export const VCPU_RING_OUTCOMES = ['pushed', 'requestExit', 'entersGuest', 'exitDirtyRingFull', 'resumable', 'stillFull'] as const;
export type VcpuRingOutcome = (typeof VCPU_RING_OUTCOMES)[number];

type VE = KvmVcpuRingEvent;
const vcpuDoes = (o: VcpuRingOutcome) => [o];

export const kvmVcpuRingMachine = setup({
  types: { events: {} as KvmVcpuRingEvent },
  guards: {
    reachesSoftLimit: (args: { event: VE }, _params: ReqParams) => args.event.type === 'PUSH' && args.event.reachesSoftLimit,
    belowSoftLimit: (args: { event: VE }, _params: ReqParams) => args.event.type === 'RESET' && args.event.belowSoftLimit,
  },
  actions: actionsOf(VCPU_RING_OUTCOMES),
}).createMachine({
  id: 'kvmVcpuRing',
  initial: 'running',
  states: {
    running: {
      on: {
        PUSH: [
          { guard: guard('reachesSoftLimit', 'KVM-RING-12'), target: 'softFull', actions: vcpuDoes('requestExit'), ...rule('KVM-RING-11', 'KVM-RING-12') },
          { actions: vcpuDoes('pushed'), ...rule('KVM-RING-11') },
        ],
        RUN: { actions: vcpuDoes('entersGuest'), ...rule('KVM-RING-12') },
        RESET: { actions: vcpuDoes('resumable'), ...rule('KVM-RING-15') },
      },
    },
    softFull: {
      on: {
        // The reserved entries take the pushes between the request and the exit.
        PUSH: { actions: vcpuDoes('pushed'), ...rule('KVM-RING-12') },
        RUN: { actions: vcpuDoes('exitDirtyRingFull'), ...rule('KVM-RING-12') },
        RESET: [
          { guard: guard('belowSoftLimit', 'KVM-RING-12'), target: 'requestPending', actions: vcpuDoes('resumable'), ...rule('KVM-RING-12', 'KVM-RING-15') },
          { actions: vcpuDoes('stillFull'), ...rule('KVM-RING-12') },
        ],
      },
    },
    // Below the limit with KVM_REQ_DIRTY_RING_SOFT_FULL still pending: a reset does not drop
    // it, the vCPU's next entry does ("will be cleared by the VCPU thread next time when it
    // enters the guest": kvm_dirty_ring_reset; kvm_dirty_ring_check_request). A reset before
    // that entry that takes used back to the limit (an entry set RESET and never pushed wraps
    // it, KVM-RING-14) leaves the request to exit on.
    requestPending: {
      on: {
        PUSH: { actions: vcpuDoes('pushed'), ...forbidden('a push needs the vCPU in the guest, and entering it (RUN) drops the pending request first', 'KVM-RING-12') },
        RUN: { target: 'running', actions: vcpuDoes('entersGuest'), ...rule('KVM-RING-12') },
        RESET: [
          { guard: guard('belowSoftLimit', 'KVM-RING-12'), actions: vcpuDoes('resumable'), ...rule('KVM-RING-12', 'KVM-RING-15') },
          { target: 'softFull', actions: vcpuDoes('stillFull'), ...rule('KVM-RING-12', 'KVM-RING-14') },
        ],
      },
    },
  },
});

export const KVM_VCPU_RING_EVENTS: readonly KvmVcpuRingEvent[] = [
  { type: 'PUSH', reachesSoftLimit: false },
  { type: 'PUSH', reachesSoftLimit: true },
  { type: 'RUN' },
  { type: 'RESET', belowSoftLimit: true },
  { type: 'RESET', belowSoftLimit: false },
];
