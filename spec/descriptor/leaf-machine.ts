// The leaf descriptor: what hardware and software may do to the dirty state of one
// stage-1 leaf (a 4 KiB page or a 1 GiB / 2 MiB block). One machine per descriptor.
//
// Requirements: MAP-1..5, UNMAP-1, FAULT-1..4, HTTU-1..4, CLEAR-1..3, SPLIT-1, MERGE-1..2
// Sources: ARM IHI 0070 §3.13 (HTTU), §7.3 (faults), G.b §3.13.2 (AF on a permission
// fault); Linux io-pgtable-arm.c; Keqian Zhu's HTTU RFC
// <20210128151742.18840-1-zhukeqian1@huawei.com>; Jason Gunthorpe,
// <20220212000117.GS4160@nvidia.com> (docs/SOURCES.md).
//
// The state is the decoded descriptor (spec/descriptor/encoding.ts `decodeLeaf`):
// `invalid`, or `valid` with two regions, `permission` (readOnly, writable,
// writableClean, writableDirty: DBM and AP[2]) and `access` (AF).
//
// Outcomes are the actions a transition returns from xstate's pure `transition()`:
// `translationFault`, `accessFlagFault`, `permissionFault` (the access is not performed),
// `hwSetAccessFlag`, `hwSetDirty` (the hardware's atomic update of the in-memory
// descriptor), `accessPerformed`, `eexist`.
//
// SPLIT and MERGE describe the state of the *new* descriptor: a page made by splitting a
// block in state S is `transition(S, SPLIT)`; a block made by merging pages is
// `transition(firstPage, MERGE { anyDirty })`.
import { and, not, or, setup, stateIn } from 'xstate';
import { guard, rule } from '../rule.ts';
import type { LeafState } from './encoding.ts';

export type LeafEvent =
  | { type: 'MAP'; write: boolean; hdQuirk: boolean; accessFlag: boolean }
  | { type: 'UNMAP' }
  | { type: 'DMA_READ'; ha: boolean; hd: boolean }
  /** `afOnFault`: a write the permission region rejects set AF anyway (HTTU-1: UNKNOWN whether it does); the SMMU's choice, as the kit learns it from memory. */
  | { type: 'DMA_WRITE'; ha: boolean; hd: boolean; afOnFault?: boolean }
  | { type: 'CLEAR_DIRTY' }
  | { type: 'SET_DIRTY' }
  | { type: 'SPLIT' }
  | { type: 'MERGE'; anyDirty: boolean };

export const LEAF_OUTCOMES = ['translationFault', 'accessFlagFault', 'permissionFault', 'hwSetAccessFlag', 'hwSetDirty', 'accessPerformed', 'eexist'] as const;
export type LeafOutcome = (typeof LEAF_OUTCOMES)[number];

type ReqParams = { req: string };
const outcome = () => {};
const flag =
  <K extends string>(key: K) =>
  ({ event }: { event: LeafEvent }) =>
    key in event && (event as Record<K, unknown>)[key] === true;

// FAULT-4: an access through a leaf with AF=0 while HA=0 faults before any permission check.
const afFaults = and([stateIn('#leafDescriptor.valid.access.notAccessed'), not(guard('ha', 'FAULT-4'))]);
// FAULT-2, FAULT-3: a write that the permission region rejects.
const writeFaults = or([stateIn('#leafDescriptor.valid.permission.readOnly'), and([stateIn('#leafDescriptor.valid.permission.writableClean'), not(guard('hd', 'FAULT-3'))])]);

export const leafDescriptorMachine = setup({
  types: { events: {} as LeafEvent },
  guards: {
    ha: (args: { event: LeafEvent }, _params: ReqParams) => flag('ha')(args),
    hd: (args: { event: LeafEvent }, _params: ReqParams) => flag('hd')(args),
    write: (args: { event: LeafEvent }, _params: ReqParams) => flag('write')(args),
    hdQuirk: (args: { event: LeafEvent }, _params: ReqParams) => flag('hdQuirk')(args),
    accessFlag: (args: { event: LeafEvent }, _params: ReqParams) => flag('accessFlag')(args),
    anyDirty: (args: { event: LeafEvent }, _params: ReqParams) => flag('anyDirty')(args),
    afOnFault: (args: { event: LeafEvent }, _params: ReqParams) => flag('afOnFault')(args),
  },
  actions: {
    translationFault: outcome,
    accessFlagFault: outcome,
    permissionFault: outcome,
    hwSetAccessFlag: outcome,
    hwSetDirty: outcome,
    accessPerformed: outcome,
    eexist: outcome,
  },
}).createMachine({
  id: 'leafDescriptor',
  initial: 'invalid',
  states: {
    invalid: {
      on: {
        MAP: [
          // MAP-5: AF as mapped. Each target pair names both regions.
          { guard: and([guard('write', 'MAP-2'), guard('hdQuirk', 'MAP-2'), guard('accessFlag', 'MAP-5')]), target: ['valid.permission.writableDirty', 'valid.access.accessed'], ...rule('MAP-2', 'MAP-5') },
          { guard: and([guard('write', 'MAP-2'), guard('hdQuirk', 'MAP-2')]), target: ['valid.permission.writableDirty', 'valid.access.notAccessed'], ...rule('MAP-2', 'MAP-5') },
          { guard: and([guard('write', 'MAP-3'), guard('accessFlag', 'MAP-5')]), target: ['valid.permission.writable', 'valid.access.accessed'], ...rule('MAP-3', 'MAP-5') },
          { guard: guard('write', 'MAP-3'), target: ['valid.permission.writable', 'valid.access.notAccessed'], ...rule('MAP-3', 'MAP-5') },
          { guard: guard('accessFlag', 'MAP-5'), target: ['valid.permission.readOnly', 'valid.access.accessed'], ...rule('MAP-1', 'MAP-5') },
          { target: ['valid.permission.readOnly', 'valid.access.notAccessed'], ...rule('MAP-1', 'MAP-5') },
        ],
        DMA_READ: { actions: 'translationFault', ...rule('FAULT-1') },
        DMA_WRITE: { actions: 'translationFault', ...rule('FAULT-1') },
      },
    },
    valid: {
      type: 'parallel',
      on: {
        MAP: { actions: 'eexist', ...rule('MAP-4') },
        UNMAP: { target: 'invalid', ...rule('UNMAP-1') },
      },
      states: {
        access: {
          initial: 'accessed',
          states: {
            accessed: {},
            notAccessed: {
              on: {
                DMA_READ: [
                  { guard: guard('ha', 'HTTU-1'), target: 'accessed', actions: 'hwSetAccessFlag', ...rule('HTTU-1') },
                  { actions: 'accessFlagFault', ...rule('FAULT-4') },
                ],
                DMA_WRITE: [
                  { guard: and([guard('ha', 'HTTU-1'), not(writeFaults)]), target: 'accessed', actions: 'hwSetAccessFlag', ...rule('HTTU-1') },
                  // The permission region raises the fault. Whether AF is set for such an access is
                  // UNKNOWN (IHI 0070 G.b §3.13.2): the event says which the SMMU did; either way no
                  // dirty state changes.
                  { guard: and([guard('ha', 'HTTU-1'), guard('afOnFault', 'HTTU-1')]), target: 'accessed', actions: 'hwSetAccessFlag', ...rule('HTTU-1', 'FAULT-2', 'FAULT-3') },
                  { guard: guard('ha', 'HTTU-1'), ...rule('HTTU-1', 'FAULT-2', 'FAULT-3') },
                  { actions: 'accessFlagFault', ...rule('FAULT-4') },
                ],
              },
            },
          },
        },
        permission: {
          initial: 'readOnly',
          states: {
            readOnly: {
              on: {
                DMA_READ: [
                  { guard: afFaults, ...rule('FAULT-4') },
                  { actions: 'accessPerformed', ...rule('HTTU-3') },
                ],
                DMA_WRITE: [
                  { guard: afFaults, ...rule('FAULT-4') },
                  { actions: 'permissionFault', ...rule('FAULT-2') },
                ],
                CLEAR_DIRTY: { ...rule('CLEAR-2') },
                SET_DIRTY: { ...rule('CLEAR-3') },
                SPLIT: { target: 'readOnly', ...rule('SPLIT-1') },
                MERGE: { target: 'readOnly', ...rule('MERGE-2') },
              },
            },
            writable: {
              on: {
                DMA_READ: [
                  { guard: afFaults, ...rule('FAULT-4') },
                  { actions: 'accessPerformed', ...rule('HTTU-3') },
                ],
                DMA_WRITE: [
                  { guard: afFaults, ...rule('FAULT-4') },
                  { actions: 'accessPerformed', ...rule('HTTU-4') },
                ],
                CLEAR_DIRTY: { ...rule('CLEAR-2') },
                SET_DIRTY: { ...rule('CLEAR-3') },
                SPLIT: { target: 'writable', ...rule('SPLIT-1') },
                MERGE: { target: 'writable', ...rule('MERGE-2') },
              },
            },
            writableClean: {
              on: {
                DMA_READ: [
                  { guard: afFaults, ...rule('FAULT-4') },
                  { actions: 'accessPerformed', ...rule('HTTU-3') },
                ],
                DMA_WRITE: [
                  { guard: afFaults, ...rule('FAULT-4') },
                  { guard: guard('hd', 'HTTU-2'), target: 'writableDirty', actions: ['hwSetDirty', 'accessPerformed'], ...rule('HTTU-2', 'HTTU-5') },
                  { actions: 'permissionFault', ...rule('FAULT-3') },
                ],
                CLEAR_DIRTY: { ...rule('CLEAR-2') },
                SET_DIRTY: { target: 'writableDirty', ...rule('CLEAR-3') },
                SPLIT: { target: 'writableClean', ...rule('SPLIT-1', 'SPLIT-2') },
                MERGE: [
                  { guard: guard('anyDirty', 'MERGE-1'), target: 'writableDirty', ...rule('MERGE-1') },
                  { target: 'writableClean', ...rule('MERGE-2') },
                ],
              },
            },
            writableDirty: {
              on: {
                DMA_READ: [
                  { guard: afFaults, ...rule('FAULT-4') },
                  { actions: 'accessPerformed', ...rule('HTTU-3') },
                ],
                DMA_WRITE: [
                  { guard: afFaults, ...rule('FAULT-4') },
                  { actions: 'accessPerformed', ...rule('HTTU-4') },
                ],
                CLEAR_DIRTY: { target: 'writableClean', ...rule('CLEAR-1') },
                SET_DIRTY: { ...rule('CLEAR-3') },
                SPLIT: { target: 'writableDirty', ...rule('SPLIT-1', 'SPLIT-2') },
                MERGE: { target: 'writableDirty', ...rule('MERGE-1') },
              },
            },
          },
        },
      },
    },
  },
});

type LeafSnapshot = ReturnType<typeof leafDescriptorMachine.resolveState>;

/** The decoded-descriptor view of a leaf machine snapshot, comparable with `decodeLeaf`. */
export function leafStateOf(snapshot: { value: unknown }): { state: LeafState; accessFlag: boolean } {
  const value = snapshot.value as 'invalid' | { valid: { permission: Exclude<LeafState, 'invalid'>; access: 'accessed' | 'notAccessed' } };
  if (value === 'invalid') return { state: 'invalid', accessFlag: false };
  return { state: value.valid.permission, accessFlag: value.valid.access === 'accessed' };
}

export type { LeafSnapshot };

/** Every event the machine distinguishes: the alphabet for compiling it into a table. */
export const LEAF_EVENTS: readonly LeafEvent[] = (() => {
  const b = [false, true];
  const out: LeafEvent[] = [{ type: 'UNMAP' }, { type: 'CLEAR_DIRTY' }, { type: 'SET_DIRTY' }, { type: 'SPLIT' }];
  for (const write of b) for (const hdQuirk of b) for (const accessFlag of b) out.push({ type: 'MAP', write, hdQuirk, accessFlag });
  for (const ha of b) for (const hd of b) out.push({ type: 'DMA_READ', ha, hd }, { type: 'DMA_WRITE', ha, hd });
  for (const hd of b) out.push({ type: 'DMA_WRITE', ha: true, hd, afOnFault: true });
  for (const anyDirty of b) out.push({ type: 'MERGE', anyDirty });
  return out;
})();
