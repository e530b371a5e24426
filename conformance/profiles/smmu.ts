// Profiles smmu-hw and smmu-driver: one engine (conformance/engine/run-profile.ts) over
// the descriptor, IOTLB and tracking machines; the kit supplies the part not under test.
import { domainTrackingMachine } from '../../spec/domain/tracking-machine.ts';
import { iotlbEntryMachine } from '../../spec/iotlb/iotlb-entry-machine.ts';
import { leafDescriptorMachine } from '../../spec/descriptor/leaf-machine.ts';
import { referenceContractDriverAdapter, referenceSmmuDriverAdapter, referenceSmmuHwAdapter } from '../adapters/reference.ts';
import type { ContractName } from '../adapters/types.ts';
import { runContract } from '../engine/contract-run.ts';
import { type SmmuSequenceInput, replaySmmuSequence, runSmmuProfile } from '../engine/run-profile.ts';
import { smmuDriver, smmuHw } from '../protocol/exec-adapters.ts';
import { smmuInputProblem } from '../protocol/input-shape.ts';
import type { ProfileModule } from './profile.ts';

const machines = [leafDescriptorMachine, iotlbEntryMachine, domainTrackingMachine];

/** Both smmu profiles run one engine; they differ in the side under test, so in their protocol mapping and reference. */
function smmuProfile<P extends 'smmu-hw' | 'smmu-driver'>(
  name: P,
  kitPlays: 'driver' | 'smmu',
  underTest: string,
  kitSupplies: string,
  overChannel: ProfileModule<P>['overChannel'],
  reference: ProfileModule<P>['reference'],
): ProfileModule<P> {
  return {
    name,
    kitPlays,
    underTest,
    kitSupplies,
    machines,
    run: runSmmuProfile,
    replay: (adapter, input, timeoutMs, trace, contract) => replaySmmuSequence(adapter, input as SmmuSequenceInput, timeoutMs, trace, runContract(adapter, contract as ContractName | undefined).contract),
    contractOf: (adapter, asked) => runContract(adapter, asked as ContractName | undefined).contract.name,
    inputProblem: smmuInputProblem,
    overChannel,
    contracts: 'driver',
    reference,
  };
}

export const smmuHwProfile = smmuProfile(
  'smmu-hw',
  'driver',
  'the SMMU (walk, HTTU, IOTLB, commands)',
  "memory, the reference driver (which also leaves the hardware in hazard states on purpose), DMA traffic, software changes between the hardware's memory accesses",
  smmuHw,
  (contract) => referenceSmmuHwAdapter('reference', undefined, (contract as ContractName | undefined) ?? 'strict'),
);

export const smmuDriverProfile = smmuProfile('smmu-driver', 'smmu', 'the page-table driver and domain ops', "memory, the reference SMMU (its IOTLB inspected), DMA writes between the driver's memory accesses", smmuDriver, (contract) =>
  contract === undefined || contract === 'strict' ? referenceSmmuDriverAdapter() : referenceContractDriverAdapter(contract as ContractName),
);
