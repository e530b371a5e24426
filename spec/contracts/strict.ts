// The strict contract: the kit's own rules for the SMMU profiles, the machines in spec/
// exactly (spec/descriptor/leaf-machine.ts, spec/iotlb/iotlb-entry-machine.ts,
// spec/domain/tracking-machine.ts) plus the abstract operations and properties beside
// them (encoding, clear range, bitmaps, the ghost's verdicts). It is stricter than any
// real driver: dirty tracking toggles HA/HD, every block splits while tracking, unmap
// reports dirty state, a clear never forgets pages it was not asked to clear.
import type { RequirementId } from '../requirements.ts';
import type { Contract } from './types.ts';

/** Every requirement the strict contract applies (spec/contracts/contracts.test.ts derives it from the machines). */
export const STRICT_RULES = [
  // spec/descriptor/encoding.ts, spec/descriptor/walk.ts
  'PTE-1',
  'PTE-2',
  'PTE-3',
  'PTE-4',
  'PTE-5',
  // the leaf descriptor machine
  'MAP-1',
  'MAP-2',
  'MAP-3',
  'MAP-4',
  'MAP-5',
  'UNMAP-1',
  'FAULT-1',
  'FAULT-2',
  'FAULT-3',
  'FAULT-4',
  'HTTU-1',
  'HTTU-2',
  'HTTU-3',
  'HTTU-4',
  'HTTU-5',
  'CLEAR-1',
  'CLEAR-2',
  'CLEAR-3',
  'SPLIT-1',
  'SPLIT-2',
  'MERGE-1',
  'MERGE-2',
  // spec/descriptor/clear-range.ts
  'CLEAR-4',
  // spec/descriptor/arguments.ts
  'MAP-6',
  'MAP-7',
  'MAP-8',
  'UNMAP-2',
  'CLEAR-5',
  'SPLIT-3',
  'MERGE-3',
  // the IOTLB entry machine
  'IOTLB-1',
  'IOTLB-2',
  'IOTLB-3',
  'IOTLB-4',
  'IOTLB-5',
  'IOTLB-6',
  'IOTLB-7',
  'IOTLB-8',
  'IOTLB-9',
  'IOTLB-10',
  'IOTLB-11',
  // the domain tracking machine
  'TRACK-1',
  'TRACK-2',
  'TRACK-3',
  'TRACK-4',
  'TRACK-5',
  'TRACK-6',
  'TRACK-7',
  // spec/bitmap/dirty-bitmap.ts
  'BITMAP-1',
  'BITMAP-2',
  // model/walk-cache.ts
  'IOTLB-12',
  // model/ghost.ts
  'NOLOSS-1',
  'NOLOSS-2',
  'NOLOSS-3',
  'PRECISION-1',
] as const satisfies readonly RequirementId[];

export const strict: Contract = {
  name: 'strict',
  title: "The kit's strict contract",
  summary:
    'Dirty tracking is a state of the domain: enabling sets HA/HD in every CD, clears stale dirty state and invalidates; ' +
    'with the page-granular policy every block is split (and merged back on disable); unmap reports the dirty state it removes; ' +
    'read-and-clear reports every writable-dirty leaf in range, clears only leaves wholly inside it, invalidates them, and is -EINVAL while tracking is off.',
  basis: 'the spec machines and abstract operations of this repository (conformance/ADAPTERS.md, profile smmu-driver)',
  profiles: ['smmu-driver', 'smmu-hw', 'vfio-type1'],
  rules: { replaced: [], dropped: [], added: [] },
  capabilities: {
    operations: { splitBlock: true, mergePages: true, clearDirtyByBitmap: false },
    create: { hdQuirkFrom: 'config', refuses: [], pageGranular: 'optional' },
    cdHaHd: 'while-tracking',
    setDirtyTracking: {
      refusal: 'EOPNOTSUPP',
      enable: { setsHaHd: true, clearsStale: true, invalidates: true, splits: 'every-block', ignoresSplitFailure: false },
      disable: { merges: 'what-enable-split', marksWritableDirty: true, invalidates: true, clearsHaHd: true },
      enableWhileOn: 'no-op',
      disableWhileOff: 'no-op',
    },
    readAndClear: {
      whenTrackingOff: 'einval',
      partialLeaf: 'report-in-range-keep-dirty',
      hole: 'skip',
      invalidatesCleared: 'range',
      atomicClear: true,
      reportsPlainWritable: false,
      noClearFlag: true,
    },
    unmap: { reportsDirty: true, partialBlock: 'split', hole: 'skip' },
    split: { needsBbml: undefined, applies: 'every-block', told: 'iova', swap: 'exchange-and-carry-late-updates' },
    merge: { needsBbml: undefined, told: 'iova-and-level', ofLeaf: 'error', ofNothing: { errno: 'any' }, result: 'carry-pages', checksPages: true },
  },
  hazards: [],
};
