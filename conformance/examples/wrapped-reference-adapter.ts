// An adapter module as a third party would write one, for `dirtyspec run --adapter`:
// here the reference SMMU with one twist, a tiny 2-entry IOTLB, to show the shape. A
// real adapter wraps your own SMMU model or driver the same way.
import { referenceSmmuHwAdapter } from '../adapters/reference.ts';
import type { SmmuHwAdapter } from '../adapters/types.ts';

const reference = referenceSmmuHwAdapter();

const adapter: SmmuHwAdapter = {
  profile: 'smmu-hw',
  name: 'reference with a 2-entry IOTLB',
  create: (memory, config) => reference.create(memory, { ...config, iotlbCapacity: 2 }),
};

export default [adapter];
