// One 4 KiB guest page as the vCPU's MMU and KVM's stage-2 / EPT see it, while a slot
// logs dirty pages or not: its leaf (none, part of a writable huge leaf, a huge leaf
// write-protected whole, a writable 4 KiB leaf, a writable-clean one where the hardware
// has a dirty bit, a write-protected one), the TLB's translation of it (none, valid, or
// stale: caching a write permission the leaf no longer gives), and the hardware log
// (the PML buffer) holding the page or not.
//
// Requirements: KVM-PT-1..16
// Sources: Linux v6.14 arch/x86/kvm/mmu/mmu.c, arch/x86/kvm/x86.c, virt/kvm/kvm_main.c;
//          Intel SDM Vol. 3C (EPT A/D flags, page-modification logging); ARM DDI 0487
//          (stage 2 DBM).
//
// `logging`: the page's slot has a dirty bitmap. `hwDirty`: the platform protects for
// logging by clearing a hardware dirty bit (x86 EPT A/D with PML, arm64 stage-2 DBM)
// instead of the write permission. `split`: protecting a huge leaf splits it (eager page
// split, or lazily on KVM_CLEAR_DIRTY_LOG under INITIALLY_SET); without it the huge leaf
// is write-protected whole and split by the next write fault.
//
// The hazard the machine names (KVM-PT-13): between protecting a leaf and the TLB flush,
// a write through the stale translation is not recorded. That is the kernel's documented
// window inside GET/CLEAR (the page is in the snapshot being reported); after the ioctl
// returns it is a lost dirty page.
import { and, not, setup, stateIn } from 'xstate';
import { guard, rule } from '../../rule.ts';

export type KvmGuestPageEvent =
  | { readonly type: 'WRITE'; readonly logging: boolean; readonly readonlySlot: boolean; readonly hugeBacked: boolean }
  | { readonly type: 'PROTECT'; readonly hwDirty: boolean; readonly split: boolean }
  | { readonly type: 'FLUSH' }
  | { readonly type: 'ZAP' }
  | { readonly type: 'SYNC' };

/** What the vCPU, the hardware or KVM does to the page, in order. */
export const KVM_PAGE_ACTIONS = [
  'mmioExit',
  'writeCached',
  'writeUnrecorded',
  'walk',
  'fault',
  'mapPage',
  'mapHuge',
  'markDirty',
  'makeWritable',
  'splitOnFault',
  'setDirtyBit',
  'logPml',
  'clearWritable',
  'clearDirtyBit',
  'splitHuge',
  'invalidate',
  'zapLeaf',
  'drainPml',
] as const;
export type KvmPageAction = (typeof KVM_PAGE_ACTIONS)[number];

type ReqParams = { req: string };
type E = KvmGuestPageEvent;
const noop = () => {};
const does = (...actions: KvmPageAction[]) => actions;
const is =
  <T extends E['type']>(type: T, test: (e: Extract<E, { type: T }>) => boolean) =>
  (args: { event: E }, _params: ReqParams): boolean =>
    args.event.type === type && test(args.event as Extract<E, { type: T }>);

const L = '#kvmGuestPage.leaf';
const T = '#kvmGuestPage.tlb';
const P = '#kvmGuestPage.pml';

// A write, as the leaf sees it: refused by a read-only slot (whose pages are never mapped
// writable, so only an absent leaf sees it), through a cached translation (no walk; a
// valid one caches a writable or huge leaf, a stale one a leaf since protected), or a
// walk of the leaf. The TLB and the hardware log follow in their own regions.
const readonly = { guard: guard('readonlySlot', 'KVM-PT-16'), actions: does('mmioExit'), ...rule('KVM-PT-16') };
const throughValid = { guard: stateIn(`${T}.valid`), actions: does('writeCached'), ...rule('KVM-PT-14', 'KVM-PT-3') };
const throughStale = { guard: stateIn(`${T}.stale`), actions: does('writeUnrecorded'), ...rule('KVM-PT-13') };
const writeLeaf = {
  none: [
    readonly,
    { guard: guard('logging', 'KVM-PT-1'), target: 'writable', actions: does('fault', 'mapPage', 'markDirty'), ...rule('KVM-PT-1') },
    { guard: guard('hugeBacked', 'KVM-PT-2'), target: 'huge', actions: does('fault', 'mapHuge'), ...rule('KVM-PT-2') },
    { target: 'writable', actions: does('fault', 'mapPage'), ...rule('KVM-PT-2') },
  ],
  huge: [throughValid, { actions: does('walk'), ...rule('KVM-PT-3', 'KVM-PT-4', 'KVM-PT-14') }],
  writable: [throughValid, { actions: does('walk'), ...rule('KVM-PT-3', 'KVM-PT-14') }],
  clean: [throughStale, { target: 'writable', actions: does('walk', 'setDirtyBit', 'logPml'), ...rule('KVM-PT-7', 'KVM-PT-14') }],
  hugeProtected: [
    throughStale,
    { guard: guard('logging', 'KVM-PT-5'), target: 'writable', actions: does('fault', 'splitOnFault', 'markDirty', 'makeWritable'), ...rule('KVM-PT-5') },
    { target: 'huge', actions: does('fault', 'makeWritable'), ...rule('KVM-PT-6') },
  ],
  protected: [
    throughStale,
    { guard: guard('logging', 'KVM-PT-8'), target: 'writable', actions: does('fault', 'markDirty', 'makeWritable'), ...rule('KVM-PT-8') },
    { target: 'writable', actions: does('fault', 'makeWritable'), ...rule('KVM-PT-6') },
  ],
};

const unchanged = { actions: [] as KvmPageAction[], ...rule('KVM-PT-11') };

export const kvmGuestPageMachine = setup({
  types: { events: {} as KvmGuestPageEvent },
  guards: {
    readonlySlot: is('WRITE', (e) => e.readonlySlot),
    logging: is('WRITE', (e) => e.logging),
    hugeBacked: is('WRITE', (e) => e.hugeBacked),
    hwDirty: is('PROTECT', (e) => e.hwDirty),
    split: is('PROTECT', (e) => e.split),
  },
  actions: Object.fromEntries(KVM_PAGE_ACTIONS.map((a) => [a, noop])) as Record<KvmPageAction, () => void>,
}).createMachine({
  id: 'kvmGuestPage',
  type: 'parallel',
  states: {
    leaf: {
      initial: 'none',
      on: { ZAP: { target: '.none', actions: does('zapLeaf'), ...rule('KVM-PT-15') } },
      states: {
        none: { on: { WRITE: writeLeaf.none, PROTECT: unchanged } },
        huge: {
          on: {
            WRITE: writeLeaf.huge,
            PROTECT: [
              { guard: and([guard('split', 'KVM-PT-10'), guard('hwDirty', 'KVM-PT-10')]), target: 'clean', actions: does('splitHuge', 'clearDirtyBit'), ...rule('KVM-PT-10') },
              { guard: guard('split', 'KVM-PT-10'), target: 'protected', actions: does('splitHuge', 'clearWritable'), ...rule('KVM-PT-10') },
              { target: 'hugeProtected', actions: does('clearWritable'), ...rule('KVM-PT-10') },
            ],
          },
        },
        hugeProtected: {
          on: {
            WRITE: writeLeaf.hugeProtected,
            // A split (eager, or lazy under INITIALLY_SET) splits a write-protected huge leaf too: its pages come out write-protected.
            PROTECT: [{ guard: guard('split', 'KVM-PT-10'), target: 'protected', actions: does('splitHuge'), ...rule('KVM-PT-10') }, unchanged],
          },
        },
        writable: {
          on: {
            WRITE: writeLeaf.writable,
            PROTECT: [
              { guard: guard('hwDirty', 'KVM-PT-9'), target: 'clean', actions: does('clearDirtyBit'), ...rule('KVM-PT-9') },
              { target: 'protected', actions: does('clearWritable'), ...rule('KVM-PT-9') },
            ],
          },
        },
        clean: { on: { WRITE: writeLeaf.clean, PROTECT: unchanged } },
        protected: { on: { WRITE: writeLeaf.protected, PROTECT: unchanged } },
      },
    },
    tlb: {
      initial: 'empty',
      on: {
        FLUSH: { target: '.empty', actions: does('invalidate'), ...rule('KVM-PT-12') },
        ZAP: { target: '.empty', actions: does('invalidate'), ...rule('KVM-PT-15') },
      },
      states: {
        // A write that walks (any but a read-only slot's) leaves its translation cached.
        empty: { on: { WRITE: { guard: not(guard('readonlySlot', 'KVM-PT-16')), target: 'valid', ...rule('KVM-PT-14') } } },
        // A valid translation always caches a write permission the leaf gives (writable or huge).
        valid: { on: { PROTECT: { target: 'stale', ...rule('KVM-PT-9', 'KVM-PT-13') } } },
        stale: {},
      },
    },
    pml: {
      initial: 'empty',
      on: { SYNC: [{ guard: stateIn(`${P}.pending`), target: '.empty', actions: does('drainPml', 'markDirty'), ...rule('KVM-PT-7') }, { ...rule('KVM-PT-7') }] },
      states: {
        // The hardware logs the page when it sets the dirty bit of a clean leaf on a walk.
        // (only while the page's slot logs: a drain drops what a slot without a bitmap logged)
        empty: { on: { WRITE: { guard: and([stateIn(`${L}.clean`), stateIn(`${T}.empty`), guard('logging', 'KVM-PT-7')]), target: 'pending', ...rule('KVM-PT-7') } } },
        pending: {},
      },
    },
  },
});

export type KvmGuestPageSnapshot = ReturnType<typeof kvmGuestPageMachine.resolveState>;
export type LeafState = 'none' | 'huge' | 'hugeProtected' | 'writable' | 'clean' | 'protected';

export function kvmGuestPageStateOf(snapshot: { value: unknown }): { leaf: LeafState; tlb: 'empty' | 'valid' | 'stale'; pml: 'empty' | 'pending' } {
  return snapshot.value as { leaf: LeafState; tlb: 'empty' | 'valid' | 'stale'; pml: 'empty' | 'pending' };
}

function bools<K extends string>(keys: readonly K[]): Record<K, boolean>[] {
  const out: Record<K, boolean>[] = [];
  for (let n = 0; n < 1 << keys.length; n++) out.push(Object.fromEntries(keys.map((k, i) => [k, (n & (1 << i)) !== 0])) as Record<K, boolean>);
  return out;
}

/** Every event the machine distinguishes: the alphabet for compiling it into a table. */
export const KVM_GUEST_PAGE_EVENTS: readonly KvmGuestPageEvent[] = [
  ...bools(['logging', 'readonlySlot', 'hugeBacked'] as const).map((f) => ({ type: 'WRITE' as const, ...f })),
  ...bools(['hwDirty', 'split'] as const).map((f) => ({ type: 'PROTECT' as const, ...f })),
  { type: 'FLUSH' },
  { type: 'ZAP' },
  { type: 'SYNC' },
];
