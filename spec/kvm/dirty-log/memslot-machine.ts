// One KVM memslot id as userspace sees it, with the VM's manual-protect setting: the slot
// absent, present without a dirty bitmap, or logging (with one); manual protect off, on,
// or on with INITIALLY_SET. Every ioctl with its checks in the kernel's order: each
// refusal is a transition whose outcome names the errno (`einval`, `enoent`, `efault`,
// `enxio`, `eexist`) and changes nothing, except the one the kernel documents as
// changing state before it fails (KVM-LOG-7). A successful call returns `ok` (or, for
// KVM_CHECK_EXTENSION, `manualCaps`: 3) after its effects, in order.
//
// Requirements: KVM-SLOT-1..16, KVM-LOG-1..7, KVM-CLEAR-1..7, 9, KVM-CAP-1..5
//               (KVM-LOG-8 and KVM-CLEAR-8 are abstract operations in args.ts)
// Sources: Linux v6.14 virt/kvm/kvm_main.c, arch/x86/kvm/x86.c, Documentation/virt/kvm/api.rst.
//
// Events carry the classified facts of args.ts, never raw numbers. The VM-wide setting
// is a region of this machine, so a model keeps one instance per slot id and sends every
// KVM_ENABLE_CAP to each (the setting is the same in all).
import { and, not, setup, stateIn } from 'xstate';
import { guard, rule } from '../../rule.ts';
import type { CheckExtensionEvent, ClearDirtyLogEvent, EnableCapEvent, GetDirtyLogEvent, SetMemoryRegionEvent } from './args.ts';

export type KvmMemslotEvent = SetMemoryRegionEvent | GetDirtyLogEvent | ClearDirtyLogEvent | EnableCapEvent | CheckExtensionEvent;

/** What a call returns: 0, -errno, or KVM_CHECK_EXTENSION's 3. Always the last action. */
export const KVM_OUTCOMES = ['ok', 'einval', 'enoent', 'efault', 'enxio', 'eexist', 'manualCaps'] as const;
export type KvmOutcome = (typeof KVM_OUTCOMES)[number];

/** What a call does, in order, before its outcome. */
export const KVM_EFFECTS = [
  'createSlot',
  'allocBitmap',
  'allocBitmapAllSet',
  'freeBitmap',
  'deleteSlot',
  'moveSlot',
  'zapLeaves',
  'protectSlot',
  'syncDirtyLog',
  'takeBitmap',
  'protectTaken',
  'copyOut',
  'clearSelected',
  'splitCleared',
  'protectCleared',
  'flushTlb',
  'setProtectMode',
] as const;
export type KvmEffect = (typeof KVM_EFFECTS)[number];

/** What must hold once each effect has run (checked against an implementation). */
export const KVM_EFFECT_POSTCONDITIONS: Record<KvmEffect, string> = {
  createSlot: 'the slot exists with the given guest_phys_addr, size, address and flags; guest writes to it are translated',
  allocBitmap: 'the slot has a dirty bitmap of npages bits, all zero',
  allocBitmapAllSet: 'the slot has a dirty bitmap of npages bits, all set (every page reported until cleared)',
  freeBitmap: 'the slot has no dirty bitmap; its dirty state not yet fetched is gone',
  deleteSlot: 'the slot id holds no slot',
  moveSlot: 'the slot sits at the new guest_phys_addr; its bitmap, indexed by page of the slot, is unchanged',
  zapLeaves: 'no leaf of the slot (old placement) is present',
  protectSlot: 'every leaf of the slot is write-protected (or clean), huge leaves split or write-protected whole',
  syncDirtyLog: 'every write logged by hardware (PML buffers) before the call is in the bitmap',
  takeBitmap: 'each bitmap word was read and zeroed by one atomic exchange: no bit set concurrently is lost',
  protectTaken: 'every leaf of a page taken is write-protected (or clean)',
  copyOut: "the caller's buffer holds the snapshot: ALIGN(npages, 64) / 8 bytes, bit i for page i of the slot",
  clearSelected: "exactly the selected pages' bits were cleared, each word by one atomic fetch-and-not; other bits are untouched",
  splitCleared: 'the huge leaves over the pages cleared are split into 4 KiB leaves carrying their state',
  protectCleared: 'every leaf of a page whose bit was really cleared is write-protected (or clean)',
  flushTlb: 'no cached translation still lets a guest write a protected page without recording it',
  setProtectMode: "the VM's manual-protect setting is args[0]",
};

type ReqParams = { req: string };
type E = KvmMemslotEvent;
const noop = () => {};
const does = (...actions: (KvmOutcome | KvmEffect)[]) => actions;
const is =
  <T extends E['type']>(type: T, test: (e: Extract<E, { type: T }>) => boolean) =>
  (args: { event: E }, _params: ReqParams): boolean =>
    args.event.type === type && test(args.event as Extract<E, { type: T }>);
const set = (test: (e: SetMemoryRegionEvent) => boolean) => is('SET_MEMORY_REGION', test);
const get = (test: (e: GetDirtyLogEvent) => boolean) => is('GET_DIRTY_LOG', test);
const clr = (test: (e: ClearDirtyLogEvent) => boolean) => is('CLEAR_DIRTY_LOG', test);
const cap = (test: (e: Extract<EnableCapEvent, { cap: 'manualProtect2' }>) => boolean) => is('ENABLE_CAP', (e) => e.cap === 'manualProtect2' && test(e as Extract<EnableCapEvent, { cap: 'manualProtect2' }>));

const OFF = '#kvmMemslot.protect.off';
const INIT_SET = '#kvmMemslot.protect.manualInitSet';

// ---------------------------------------------------------------------------------------
// KVM_SET_USER_MEMORY_REGION

/**
 * The checks that do not depend on the slot, in the kernel's order. The slot-id checks
 * come first (KVM-SLOT-1) and fifth (KVM-SLOT-5); a slot that exists has a valid id, so
 * only the absent state meets them.
 */
const idChecks = {
  first: { guard: guard('slotIdInvalid', 'KVM-SLOT-1'), actions: does('einval'), ...rule('KVM-SLOT-1') },
  asId: { guard: guard('asIdInvalid', 'KVM-SLOT-5'), actions: does('einval'), ...rule('KVM-SLOT-5') },
};
function slotSanity(absent: boolean) {
  return [
    ...(absent ? [idChecks.first] : []),
    { guard: guard('flagsInvalid', 'KVM-SLOT-2'), actions: does('einval'), ...rule('KVM-SLOT-2') },
    { guard: guard('unaligned', 'KVM-SLOT-3'), actions: does('einval'), ...rule('KVM-SLOT-3') },
    { guard: guard('userAddrInvalid', 'KVM-SLOT-4'), actions: does('einval'), ...rule('KVM-SLOT-4') },
    ...(absent ? [idChecks.asId] : []),
    { guard: guard('gpaWraps', 'KVM-SLOT-6'), actions: does('einval'), ...rule('KVM-SLOT-6') },
    { guard: guard('tooManyPages', 'KVM-SLOT-7'), actions: does('einval'), ...rule('KVM-SLOT-7') },
  ];
}

const setAbsent = [
  ...slotSanity(true),
  { guard: guard('sizeZero', 'KVM-SLOT-8'), actions: does('einval'), ...rule('KVM-SLOT-8') },
  { guard: guard('overlaps', 'KVM-SLOT-10'), actions: does('eexist'), ...rule('KVM-SLOT-10') },
  { guard: and([guard('logDirty', 'KVM-SLOT-11'), stateIn(INIT_SET)]), target: 'logging', actions: does('createSlot', 'allocBitmapAllSet', 'ok'), ...rule('KVM-SLOT-11', 'KVM-CAP-3') },
  { guard: guard('logDirty', 'KVM-SLOT-11'), target: 'logging', actions: does('createSlot', 'allocBitmap', 'ok'), ...rule('KVM-SLOT-11') },
  { target: 'noLog', actions: does('createSlot', 'ok'), ...rule('KVM-SLOT-11') },
];

function setPresent(logging: boolean) {
  return [
    ...slotSanity(false),
    { guard: guard('sizeZero', 'KVM-SLOT-9'), target: 'absent', actions: does('zapLeaves', 'flushTlb', ...(logging ? (['freeBitmap'] as const) : []), 'deleteSlot', 'ok'), ...rule('KVM-SLOT-9', 'KVM-PT-15') },
    { guard: guard('immutableChange', 'KVM-SLOT-12'), actions: does('einval'), ...rule('KVM-SLOT-12') },
    { guard: and([not(guard('moves', 'KVM-SLOT-13')), not(guard('flagsChange', 'KVM-SLOT-13'))]), actions: does('ok'), ...rule('KVM-SLOT-13') },
    { guard: and([guard('moves', 'KVM-SLOT-16'), guard('overlaps', 'KVM-SLOT-10')]), actions: does('eexist'), ...rule('KVM-SLOT-10') },
    ...(logging
      ? [
          // A move that also switches logging off: zapped, moved, bitmap freed.
          { guard: and([guard('moves', 'KVM-SLOT-16'), not(guard('logDirty', 'KVM-SLOT-15'))]), target: 'noLog', actions: does('zapLeaves', 'flushTlb', 'moveSlot', 'freeBitmap', 'ok'), ...rule('KVM-SLOT-16', 'KVM-SLOT-15', 'KVM-PT-15') },
          { guard: guard('moves', 'KVM-SLOT-16'), actions: does('zapLeaves', 'flushTlb', 'moveSlot', 'ok'), ...rule('KVM-SLOT-16', 'KVM-PT-15') },
          { guard: not(guard('logDirty', 'KVM-SLOT-15')), target: 'noLog', actions: does('freeBitmap', 'ok'), ...rule('KVM-SLOT-15') },
        ]
      : [
          {
            guard: and([guard('moves', 'KVM-SLOT-16'), guard('logDirty', 'KVM-SLOT-14'), stateIn(INIT_SET)]),
            target: 'logging',
            actions: does('zapLeaves', 'flushTlb', 'moveSlot', 'allocBitmapAllSet', 'ok'),
            ...rule('KVM-SLOT-16', 'KVM-SLOT-14', 'KVM-PT-15'),
          },
          { guard: and([guard('moves', 'KVM-SLOT-16'), guard('logDirty', 'KVM-SLOT-14')]), target: 'logging', actions: does('zapLeaves', 'flushTlb', 'moveSlot', 'allocBitmap', 'ok'), ...rule('KVM-SLOT-16', 'KVM-SLOT-14', 'KVM-PT-15') },
          { guard: guard('moves', 'KVM-SLOT-16'), actions: does('zapLeaves', 'flushTlb', 'moveSlot', 'ok'), ...rule('KVM-SLOT-16', 'KVM-PT-15') },
          // Logging switched on: INITIALLY_SET protects nothing (every bit is set); otherwise every leaf is protected and the TLB flushed before returning.
          { guard: and([guard('logDirty', 'KVM-SLOT-14'), stateIn(INIT_SET)]), target: 'logging', actions: does('allocBitmapAllSet', 'ok'), ...rule('KVM-SLOT-14', 'KVM-PT-4') },
          { guard: guard('logDirty', 'KVM-SLOT-14'), target: 'logging', actions: does('allocBitmap', 'protectSlot', 'flushTlb', 'ok'), ...rule('KVM-SLOT-14', 'KVM-PT-10') },
        ]),
  ];
}

// ---------------------------------------------------------------------------------------
// KVM_GET_DIRTY_LOG, KVM_CLEAR_DIRTY_LOG

// A slot id out of range never holds a slot: only the absent state meets KVM-LOG-2 / KVM-CLEAR-1.
const getRing = { guard: guard('getRingExclusive', 'KVM-LOG-1'), actions: does('enxio'), ...rule('KVM-LOG-1') };
const getAbsent = [getRing, { guard: guard('getSlotIdInvalid', 'KVM-LOG-2'), actions: does('einval'), ...rule('KVM-LOG-2') }, { actions: does('enoent'), ...rule('KVM-LOG-3') }];
const getNoBitmap = [getRing, { actions: does('enoent'), ...rule('KVM-LOG-3') }];
const getLogging = [
  getRing,
  { guard: and([guard('getBitmapFault', 'KVM-LOG-7'), stateIn(OFF)]), actions: does('syncDirtyLog', 'takeBitmap', 'protectTaken', 'flushTlb', 'efault'), ...rule('KVM-LOG-7', 'KVM-PT-9', 'KVM-PT-13') },
  { guard: guard('getBitmapFault', 'KVM-LOG-4'), actions: does('syncDirtyLog', 'efault'), ...rule('KVM-LOG-4') },
  { guard: stateIn(OFF), actions: does('syncDirtyLog', 'takeBitmap', 'protectTaken', 'flushTlb', 'copyOut', 'ok'), ...rule('KVM-LOG-5', 'KVM-PT-9', 'KVM-PT-13') },
  { actions: does('syncDirtyLog', 'copyOut', 'ok'), ...rule('KVM-LOG-6', 'KVM-PT-7') },
];

const clearRing = { guard: guard('clearRingExclusive', 'KVM-LOG-1'), actions: does('enxio'), ...rule('KVM-LOG-1') };
const firstPage = { guard: guard('firstPageUnaligned', 'KVM-CLEAR-2'), actions: does('einval'), ...rule('KVM-CLEAR-2') };
const clearAbsent = [clearRing, { guard: guard('clearSlotIdInvalid', 'KVM-CLEAR-1'), actions: does('einval'), ...rule('KVM-CLEAR-1') }, firstPage, { actions: does('enoent'), ...rule('KVM-CLEAR-3') }];
const clearNoBitmap = [clearRing, firstPage, { actions: does('enoent'), ...rule('KVM-CLEAR-3') }];
const clearLogging = [
  clearRing,
  firstPage,
  { guard: guard('rangeOutside', 'KVM-CLEAR-4'), actions: does('einval'), ...rule('KVM-CLEAR-4') },
  { guard: guard('numPagesUnaligned', 'KVM-CLEAR-5'), actions: does('einval'), ...rule('KVM-CLEAR-5') },
  { guard: guard('clearBitmapFault', 'KVM-CLEAR-6'), actions: does('syncDirtyLog', 'efault'), ...rule('KVM-CLEAR-6') },
  { guard: stateIn(INIT_SET), actions: does('syncDirtyLog', 'clearSelected', 'splitCleared', 'protectCleared', 'flushTlb', 'ok'), ...rule('KVM-CLEAR-7', 'KVM-CLEAR-9', 'KVM-PT-10', 'KVM-PT-13') },
  { actions: does('syncDirtyLog', 'clearSelected', 'protectCleared', 'flushTlb', 'ok'), ...rule('KVM-CLEAR-7', 'KVM-CLEAR-9', 'KVM-PT-9', 'KVM-PT-13') },
];

export const kvmMemslotMachine = setup({
  types: { events: {} as KvmMemslotEvent },
  guards: {
    slotIdInvalid: set((e) => e.slotIdInvalid),
    flagsInvalid: set((e) => e.flagsInvalid),
    unaligned: set((e) => e.unaligned),
    userAddrInvalid: set((e) => e.userAddrInvalid),
    asIdInvalid: set((e) => e.asIdInvalid),
    gpaWraps: set((e) => e.gpaWraps),
    tooManyPages: set((e) => e.tooManyPages),
    sizeZero: set((e) => e.sizeZero),
    immutableChange: set((e) => e.immutableChange),
    overlaps: set((e) => e.overlaps),
    logDirty: set((e) => e.logDirty),
    moves: set((e) => e.moves),
    flagsChange: set((e) => e.flagsChange),
    getRingExclusive: get((e) => e.ringExclusive),
    getSlotIdInvalid: get((e) => e.slotIdInvalid),
    getBitmapFault: get((e) => e.bitmapFault),
    clearRingExclusive: clr((e) => e.ringExclusive),
    clearSlotIdInvalid: clr((e) => e.slotIdInvalid),
    firstPageUnaligned: clr((e) => e.firstPageUnaligned),
    rangeOutside: clr((e) => e.rangeOutside),
    numPagesUnaligned: clr((e) => e.numPagesUnaligned),
    clearBitmapFault: clr((e) => e.bitmapFault),
    otherCap: is('ENABLE_CAP', (e) => e.cap === 'other'),
    capFlags: cap((e) => e.flagsNonZero),
    capUnknownBits: cap((e) => e.unknownBits),
    capInitSetAlone: cap((e) => e.initSetAlone),
    modeOff: cap((e) => e.mode === 'off'),
    modeManual: cap((e) => e.mode === 'manual'),
  },
  actions: Object.fromEntries([...KVM_OUTCOMES, ...KVM_EFFECTS].map((a) => [a, noop])) as Record<KvmOutcome | KvmEffect, () => void>,
}).createMachine({
  id: 'kvmMemslot',
  type: 'parallel',
  states: {
    slot: {
      initial: 'absent',
      states: {
        absent: { on: { SET_MEMORY_REGION: setAbsent, GET_DIRTY_LOG: getAbsent, CLEAR_DIRTY_LOG: clearAbsent } },
        noLog: { on: { SET_MEMORY_REGION: setPresent(false), GET_DIRTY_LOG: getNoBitmap, CLEAR_DIRTY_LOG: clearNoBitmap } },
        logging: { on: { SET_MEMORY_REGION: setPresent(true), GET_DIRTY_LOG: getLogging, CLEAR_DIRTY_LOG: clearLogging } },
      },
    },
    protect: {
      initial: 'off',
      on: {
        ENABLE_CAP: [
          { guard: guard('otherCap', 'KVM-CAP-4'), actions: does('einval'), ...rule('KVM-CAP-4') },
          { guard: guard('capFlags', 'KVM-CAP-1'), actions: does('einval'), ...rule('KVM-CAP-1') },
          { guard: guard('capUnknownBits', 'KVM-CAP-1'), actions: does('einval'), ...rule('KVM-CAP-1') },
          { guard: guard('capInitSetAlone', 'KVM-CAP-2'), actions: does('einval'), ...rule('KVM-CAP-2') },
          { guard: guard('modeOff', 'KVM-CAP-3'), target: '.off', actions: does('setProtectMode', 'ok'), ...rule('KVM-CAP-3') },
          { guard: guard('modeManual', 'KVM-CAP-3'), target: '.manual', actions: does('setProtectMode', 'ok'), ...rule('KVM-CAP-3') },
          { target: '.manualInitSet', actions: does('setProtectMode', 'ok'), ...rule('KVM-CAP-3') },
        ],
        CHECK_EXTENSION: { actions: does('manualCaps'), ...rule('KVM-CAP-5') },
      },
      states: { off: {}, manual: {}, manualInitSet: {} },
    },
  },
});

export type KvmMemslotSnapshot = ReturnType<typeof kvmMemslotMachine.resolveState>;
export type SlotState = 'absent' | 'noLog' | 'logging';

/** The machine's state as two names, for tests and the model. */
export function kvmMemslotStateOf(snapshot: { value: unknown }): { slot: SlotState; protect: 'off' | 'manual' | 'manualInitSet' } {
  return snapshot.value as { slot: SlotState; protect: 'off' | 'manual' | 'manualInitSet' };
}
