// A domain's dirty-tracking lifecycle: off or on, and the ordered steps that enabling,
// disabling and attaching a stream must take. The steps are the actions of each
// transition, in order; an implementation is checked against each step's postcondition
// (see `TRACKING_STEP_POSTCONDITIONS`).
//
// Requirements: TRACK-1..7
// Sources: Linux v6.12.117 drivers/iommu/iommufd/io_pagetable.c (iopt_set_dirty_tracking,
//          iopt_clear_dirty_data); drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
//          (arm_smmu_dbm_capable, arm_smmu_make_s1_cd); split on start and merge on stop:
//          patches 04/11 and 05/11 of "vfio/iommu_type1: Implement dirty log tracking based
//          on smmuv3 HTTU" v2 (Keqian Zhu, 10 Mar 2021, <20210310090614.26668-1-zhukeqian1@huawei.com>).
import { setup } from 'xstate';
import { guard, rule } from '../rule.ts';

export type TrackingEvent = { type: 'SET_DIRTY_TRACKING'; enable: boolean; hwDirty: boolean; pageGranular: boolean } | { type: 'ATTACH_STREAM' };

export const TRACKING_STEPS = ['rejectEopnotsupp', 'setHaHdAllStreams', 'clearStaleDirty', 'invalidateAll', 'splitBlocks', 'mergeBlocks', 'markWritableDirty', 'clearHaHdAllStreams', 'setHaHdOnStream'] as const;
export type TrackingStep = (typeof TRACKING_STEPS)[number];

/** What must hold of the domain once each step has run (checked by the refinement tests). */
export const TRACKING_STEP_POSTCONDITIONS: Record<TrackingStep, string> = {
  rejectEopnotsupp: 'the call returned -EOPNOTSUPP and no context descriptor or leaf changed',
  setHaHdAllStreams: 'every context descriptor of the domain has HA and HD set',
  clearStaleDirty: 'no leaf was left writable-dirty by writes made before the call',
  invalidateAll: 'no IOTLB entry of the domain survives from before the call',
  splitBlocks: 'no block leaf remains in the domain',
  mergeBlocks: 'every block split when tracking was enabled is one block leaf again, if its pages can still merge',
  markWritableDirty: 'no writable-clean leaf remains',
  clearHaHdAllStreams: 'no context descriptor of the domain has HD set',
  setHaHdOnStream: "the attached stream's context descriptor has HA and HD set",
};

type ReqParams = { req: string };
const step = () => {};
const flag = (key: 'enable' | 'hwDirty' | 'pageGranular') => (args: { event: TrackingEvent }, _params: ReqParams) => args.event.type === 'SET_DIRTY_TRACKING' && args.event[key];
const notFlag = (key: 'enable' | 'hwDirty') => (args: { event: TrackingEvent }, _params: ReqParams) => args.event.type === 'SET_DIRTY_TRACKING' && !args.event[key];

export const domainTrackingMachine = setup({
  types: { events: {} as TrackingEvent },
  guards: {
    enable: flag('enable'),
    disable: notFlag('enable'),
    noHwDirty: notFlag('hwDirty'),
    pageGranular: flag('pageGranular'),
  },
  actions: Object.fromEntries(TRACKING_STEPS.map((s) => [s, step])) as Record<TrackingStep, () => void>,
}).createMachine({
  id: 'domainTracking',
  initial: 'off',
  states: {
    off: {
      on: {
        SET_DIRTY_TRACKING: [
          { guard: guard('disable', 'TRACK-5'), ...rule('TRACK-5') },
          { guard: guard('noHwDirty', 'TRACK-1'), actions: 'rejectEopnotsupp', ...rule('TRACK-1') },
          {
            guard: guard('pageGranular', 'TRACK-4'),
            target: 'on',
            actions: ['setHaHdAllStreams', 'clearStaleDirty', 'invalidateAll', 'splitBlocks'],
            ...rule('TRACK-2', 'TRACK-3', 'TRACK-4'),
          },
          { target: 'on', actions: ['setHaHdAllStreams', 'clearStaleDirty', 'invalidateAll'], ...rule('TRACK-2', 'TRACK-3') },
        ],
        ATTACH_STREAM: { ...rule('TRACK-7') },
      },
    },
    on: {
      on: {
        SET_DIRTY_TRACKING: [
          { guard: guard('enable', 'TRACK-5'), ...rule('TRACK-5') },
          {
            guard: guard('pageGranular', 'TRACK-6'),
            target: 'off',
            actions: ['mergeBlocks', 'markWritableDirty', 'invalidateAll', 'clearHaHdAllStreams'],
            ...rule('TRACK-6'),
          },
          { target: 'off', actions: ['markWritableDirty', 'invalidateAll', 'clearHaHdAllStreams'], ...rule('TRACK-6') },
        ],
        ATTACH_STREAM: { actions: 'setHaHdOnStream', ...rule('TRACK-7') },
      },
    },
  },
});

/** Every event the machine distinguishes: the alphabet for compiling it into a table. */
export const TRACKING_EVENTS: readonly TrackingEvent[] = (() => {
  const b = [false, true];
  const out: TrackingEvent[] = [{ type: 'ATTACH_STREAM' }];
  for (const enable of b) for (const hwDirty of b) for (const pageGranular of b) out.push({ type: 'SET_DIRTY_TRACKING', enable, hwDirty, pageGranular });
  return out;
})();
