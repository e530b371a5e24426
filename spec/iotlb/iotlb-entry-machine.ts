// One IOTLB entry: the cached translation of one leaf for one context (ASID), with the
// dirty state it was loaded with. The two `stale*` states are the hazards: the cached
// state no longer matches memory and the next DMA through the entry misbehaves.
//
// Requirements: IOTLB-1..11
// Sources: ARM IHI 0070 E.a §3.13.3 (HTTU and caching), §4.4 / §4.7 (TLBI, CMD_SYNC),
//          §16.2; the flush after clearing the D bit: Jason Gunthorpe, "Re: [RFC v2 0/4]
//          vfio/hisilicon: add acc live migration driver", 12 Feb 2022,
//          <20220212000117.GS4160@nvidia.com>.
//
// Outcomes (actions): `miss` (no entry: the SMMU walks; the leaf machine decides),
// `hit` (translated from the entry, memory untouched), `hwUpdateDescriptor` (the SMMU
// must re-walk and atomically update the in-memory descriptor, HTTU-2), `permissionFault`,
// `dirtyNotRecorded` (HAZARD: a write completed but memory stays clean),
// `staleTranslation` (HAZARD: a DMA translated by an entry whose leaf is gone).
import { setup } from 'xstate';
import type { LeafState } from '../descriptor/encoding.ts';
import { guard, rule } from '../rule.ts';

export type CachedLeafState = Exclude<LeafState, 'invalid'>;

export type IotlbEvent =
  | { type: 'WALK'; leaf: LeafState }
  | { type: 'DMA_READ' }
  | { type: 'DMA_WRITE'; hd: boolean }
  | { type: 'SW_CLEAR_DIRTY' }
  | { type: 'SW_UNMAP' }
  | { type: 'SW_KEEP_STATE' }
  | { type: 'INVALIDATE' }
  | { type: 'EVICT' };

export const IOTLB_OUTCOMES = ['miss', 'hit', 'hwUpdateDescriptor', 'permissionFault', 'dirtyNotRecorded', 'staleTranslation'] as const;
export type IotlbOutcome = (typeof IOTLB_OUTCOMES)[number];

type ReqParams = { req: string };
const outcome = () => {};
const walked = (state: LeafState) => (args: { event: IotlbEvent }, _params: ReqParams) => args.event.type === 'WALK' && args.event.leaf === state;

const invalidate = {
  INVALIDATE: { target: '#iotlbEntry.absent', ...rule('IOTLB-9') },
  EVICT: { target: '#iotlbEntry.absent', ...rule('IOTLB-11') },
} as const;

export const iotlbEntryMachine = setup({
  types: { events: {} as IotlbEvent },
  guards: {
    hd: (args: { event: IotlbEvent }, _params: ReqParams) => args.event.type === 'DMA_WRITE' && args.event.hd,
    walkedReadOnly: walked('readOnly'),
    walkedWritable: walked('writable'),
    walkedWritableClean: walked('writableClean'),
    walkedWritableDirty: walked('writableDirty'),
  },
  actions: {
    miss: outcome,
    hit: outcome,
    hwUpdateDescriptor: outcome,
    permissionFault: outcome,
    dirtyNotRecorded: outcome,
    staleTranslation: outcome,
  },
}).createMachine({
  id: 'iotlbEntry',
  initial: 'absent',
  states: {
    absent: {
      on: {
        WALK: [
          { guard: guard('walkedReadOnly', 'IOTLB-1'), target: 'cached.readOnly', ...rule('IOTLB-1') },
          { guard: guard('walkedWritable', 'IOTLB-1'), target: 'cached.writable', ...rule('IOTLB-1') },
          { guard: guard('walkedWritableClean', 'IOTLB-1'), target: 'cached.writableClean', ...rule('IOTLB-1') },
          { guard: guard('walkedWritableDirty', 'IOTLB-1'), target: 'cached.writableDirty', ...rule('IOTLB-1') },
          { ...rule('IOTLB-2') },
        ],
        DMA_READ: { actions: 'miss', ...rule('IOTLB-1') },
        DMA_WRITE: { actions: 'miss', ...rule('IOTLB-1') },
        INVALIDATE: { ...rule('IOTLB-9') },
      },
    },
    cached: {
      on: {
        ...invalidate,
        DMA_READ: { actions: 'hit', ...rule('IOTLB-3') },
        SW_KEEP_STATE: { ...rule('IOTLB-10') },
      },
      initial: 'readOnly',
      states: {
        readOnly: {
          on: {
            DMA_WRITE: { actions: 'permissionFault', ...rule('IOTLB-6') },
            SW_CLEAR_DIRTY: { ...rule('IOTLB-10') },
            SW_UNMAP: { target: '#iotlbEntry.staleUnmapped.readOnly', ...rule('IOTLB-8') },
          },
        },
        writable: {
          on: {
            DMA_WRITE: { actions: 'hit', ...rule('IOTLB-4') },
            SW_CLEAR_DIRTY: { ...rule('IOTLB-10') },
            SW_UNMAP: { target: '#iotlbEntry.staleUnmapped.writable', ...rule('IOTLB-8') },
          },
        },
        writableClean: {
          on: {
            DMA_WRITE: [
              { guard: guard('hd', 'IOTLB-5'), target: 'writableDirty', actions: 'hwUpdateDescriptor', ...rule('IOTLB-5') },
              { actions: 'permissionFault', ...rule('IOTLB-6') },
            ],
            SW_CLEAR_DIRTY: { ...rule('IOTLB-10') },
            SW_UNMAP: { target: '#iotlbEntry.staleUnmapped.writableClean', ...rule('IOTLB-8') },
          },
        },
        writableDirty: {
          on: {
            DMA_WRITE: { actions: 'hit', ...rule('IOTLB-4') },
            SW_CLEAR_DIRTY: { target: '#iotlbEntry.staleDirty', ...rule('IOTLB-7') },
            SW_UNMAP: { target: '#iotlbEntry.staleUnmapped.writableDirty', ...rule('IOTLB-8') },
          },
        },
      },
    },
    staleDirty: {
      on: {
        ...invalidate,
        DMA_READ: { actions: 'hit', ...rule('IOTLB-3') },
        DMA_WRITE: { actions: 'dirtyNotRecorded', ...rule('IOTLB-7') },
        SW_UNMAP: { target: 'staleUnmapped.writableDirty', ...rule('IOTLB-8') },
        SW_CLEAR_DIRTY: { ...rule('IOTLB-7') },
        SW_KEEP_STATE: { ...rule('IOTLB-7') },
      },
    },
    // The leaf is gone but the entry still translates with the permissions it cached.
    staleUnmapped: {
      initial: 'writableDirty',
      on: {
        ...invalidate,
        DMA_READ: { actions: 'staleTranslation', ...rule('IOTLB-8') },
        SW_UNMAP: { ...rule('IOTLB-8') },
        SW_CLEAR_DIRTY: { ...rule('IOTLB-8') },
        SW_KEEP_STATE: { ...rule('IOTLB-8') },
      },
      states: {
        readOnly: { on: { DMA_WRITE: { actions: 'permissionFault', ...rule('IOTLB-6', 'IOTLB-8') } } },
        writable: { on: { DMA_WRITE: { actions: 'staleTranslation', ...rule('IOTLB-8') } } },
        writableClean: {
          on: {
            // The write needs the descriptor updated: the SMMU drops the entry and walks, and finds nothing.
            DMA_WRITE: [
              { guard: guard('hd', 'IOTLB-5'), target: '#iotlbEntry.absent', actions: 'hwUpdateDescriptor', ...rule('IOTLB-5', 'IOTLB-8') },
              { actions: 'permissionFault', ...rule('IOTLB-6', 'IOTLB-8') },
            ],
          },
        },
        writableDirty: { on: { DMA_WRITE: { actions: 'staleTranslation', ...rule('IOTLB-8') } } },
      },
    },
  },
});

/** Every event the machine distinguishes: the alphabet for compiling it into a table. */
export const IOTLB_EVENTS: readonly IotlbEvent[] = [
  ...(['invalid', 'readOnly', 'writable', 'writableClean', 'writableDirty'] as const).map((leaf) => ({ type: 'WALK', leaf }) as const),
  { type: 'DMA_READ' },
  { type: 'DMA_WRITE', hd: false },
  { type: 'DMA_WRITE', hd: true },
  { type: 'SW_CLEAR_DIRTY' },
  { type: 'SW_UNMAP' },
  { type: 'SW_KEEP_STATE' },
  { type: 'INVALIDATE' },
  { type: 'EVICT' },
];
