// Profile iova-bitmap: the IOVA bitmap window code (iova_bitmap_alloc/set/free) over a
// user buffer the kit owns, every byte checked.
import { referenceIovaBitmapAdapter } from '../adapters/reference.ts';
import type { IovaBitmapContractName } from '../adapters/types.ts';
import { type IovaBitmapScenario, iovaBitmapRunContract, replayIovaBitmapScenario, runIovaBitmapProfile } from '../engine/iova-bitmap-profile.ts';
import { iovaBitmap } from '../protocol/exec-adapters.ts';
import { iovaBitmapInputProblem } from '../protocol/input-shape.ts';
import type { ProfileModule } from './profile.ts';

export const iovaBitmapProfile: ProfileModule<'iova-bitmap'> = {
  name: 'iova-bitmap',
  underTest: 'the IOVA bitmap window code (iova_bitmap_alloc/set/free)',
  kitSupplies: "the user's bitmap memory at any byte offset, guard bytes around it, page pinning; every byte checked",
  machines: [],
  run: runIovaBitmapProfile,
  replay: (adapter, input, timeoutMs, trace, contract) => replayIovaBitmapScenario(adapter, input as IovaBitmapScenario, timeoutMs, trace, iovaBitmapRunContract(adapter, contract as IovaBitmapContractName | undefined).contract.name),
  contractOf: (adapter, asked) => iovaBitmapRunContract(adapter, asked as IovaBitmapContractName | undefined).contract.name,
  inputProblem: iovaBitmapInputProblem,
  overChannel: iovaBitmap,
  contracts: 'iova-bitmap',
  reference: (contract) => (contract === undefined ? referenceIovaBitmapAdapter() : referenceIovaBitmapAdapter('reference', undefined, contract as IovaBitmapContractName)),
};
