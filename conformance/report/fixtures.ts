// Fabricated ProfileResults for the report tests: one conforming, one failing with a
// trace, one undecided. Hand-written, so the tests do not depend on the engine.
import type { ProfileResult } from '../engine/run-profile.ts';

const coverage = {
  leafDescriptor: { covered: 49, total: 49, missing: [] },
  iotlbEntry: { covered: 34, total: 36, missing: ['staleDirty --EVICT#0', 'staleUnmapped --EVICT#0'] },
  domainTracking: { covered: 9, total: 9, missing: [] },
};

export const conforming: ProfileResult = {
  name: 'smmu-hw',
  adapter: 'reference',
  verdict: 'conforms',
  runs: 200,
  commands: 4321,
  seconds: 3.25,
  seed: 42,
  transitionCoverage: coverage,
  requirements: [
    { id: 'HTTU-2', verdict: 'pass' },
    { id: 'IOTLB-10', verdict: 'pass' },
    { id: 'IOTLB-9', verdict: 'pass' },
    { id: 'NOLOSS-1', verdict: 'pass' },
  ],
};

export const failing: ProfileResult = {
  name: 'smmu-driver',
  adapter: 'acme <driver> & "co"',
  verdict: 'does-not-conform',
  runs: 67,
  commands: 506,
  seconds: 0.57,
  seed: 7,
  transitionCoverage: coverage,
  requirements: [
    { id: 'CLEAR-1', verdict: 'fail' },
    { id: 'NOLOSS-1', verdict: 'fail' },
    { id: 'SPLIT-1', verdict: 'pass' },
  ],
  counterexample: {
    config: { httu: 2, bbml: 2, iotlbCapacity: 1, dirtyCapable: true, pageGranular: false, startTracking: true },
    steps: [
      { op: 'map(0x0, 512 pages, rw, pa block-aligned)', answer: '0', expected: '0', req: ['MAP-2'] },
      { op: 'splitBlock(0x0)', answer: '0', expected: '0', req: ['SPLIT-1', 'SPLIT-2'] },
      { op: 'dmaWrite(stream #0, pick 0, +0 pages) -> 0x0', answer: 'ok pa=0x100000000', expected: 'ok pa=0x100000000', req: ['HTTU-2'] },
      { op: 'readAndClearDirty(0x0, 2048 pages)', answer: '0, dirty []', expected: '0, dirty [0x0]', req: ['CLEAR-1', 'NOLOSS-1', 'NOLOSS-1'] },
    ],
    violation: { kind: 'loss', req: ['CLEAR-1', 'NOLOSS-1', 'NOLOSS-1'], expected: 'dirty [0x0] <page & "quoted">', actual: 'dirty []' },
  },
  replay: { seed: 7, path: '12:0:0:3:4' },
};

export const undecided: ProfileResult = {
  name: 'smmu-driver',
  adapter: 'slow',
  verdict: 'undecided',
  runs: 3,
  commands: 12,
  seconds: 2.1,
  seed: 9,
  transitionCoverage: coverage,
  requirements: [
    { id: 'MAP-2', verdict: 'undecided' },
    { id: 'NOLOSS-1', verdict: 'undecided' },
  ],
  undecided: {
    message: 'slow (smmu-driver) unmap did not answer within 2000 ms',
    steps: [{ op: 'map(0x200000, 1 pages, rw, pa page-aligned)', answer: '0', expected: '0', req: ['MAP-2'] }],
  },
};
