// An adapter module as a third party would write one, for `dirtyspec run --adapter`:
// here the reference SMMU with one twist, a tiny 2-entry IOTLB, to show the shape. A
// real adapter wraps your own SMMU model or driver the same way. It imports the kit as
// your project would, by its package name: copy it as it is. (In this repository the same
// names resolve to the TypeScript sources: package.json "exports", condition
// "dirtyspec-source".)
import { referenceSmmuHwAdapter } from 'dirtyspec/reference';
import type { SmmuHwAdapter } from 'dirtyspec/adapters';

const reference = referenceSmmuHwAdapter();

const adapter: SmmuHwAdapter = {
  profile: 'smmu-hw',
  name: 'reference with a 2-entry IOTLB',
  create: (memory, config) => reference.create(memory, { ...config, iotlbCapacity: 2 }),
};

export default [adapter];
