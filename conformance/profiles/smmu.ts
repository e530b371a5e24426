// Profiles smmu-hw and smmu-driver: one engine (conformance/engine/run-profile.ts) over
// the descriptor, IOTLB and tracking machines; the kit supplies the part not under test.
import { domainTrackingMachine } from '../../spec/domain/tracking-machine.ts';
import { iotlbEntryMachine } from '../../spec/iotlb/iotlb-entry-machine.ts';
import { leafDescriptorMachine } from '../../spec/descriptor/leaf-machine.ts';
import { referenceSmmuDriverAdapter, referenceSmmuHwAdapter } from '../adapters/reference.ts';
import { type SmmuSequenceInput, replaySmmuSequence, runSmmuProfile } from '../engine/run-profile.ts';
import { smmuDriver, smmuHw } from '../protocol/exec-adapters.ts';
import { smmuInputProblem } from '../protocol/input-shape.ts';
import type { ProfileModule } from './profile.ts';

const machines = [leafDescriptorMachine, iotlbEntryMachine, domainTrackingMachine];

export const smmuHwProfile: ProfileModule<'smmu-hw'> = {
  name: 'smmu-hw',
  underTest: 'the SMMU (walk, HTTU, IOTLB, commands)',
  kitSupplies: 'memory, the reference driver (which also leaves the hardware in hazard states on purpose), DMA traffic, software changes between the hardware\'s memory accesses',
  machines,
  run: runSmmuProfile,
  replay: (adapter, input, timeoutMs, trace) => replaySmmuSequence(adapter, input as SmmuSequenceInput, timeoutMs, trace),
  inputProblem: smmuInputProblem,
  overChannel: smmuHw,
  reference: () => referenceSmmuHwAdapter(),
};

export const smmuDriverProfile: ProfileModule<'smmu-driver'> = {
  name: 'smmu-driver',
  underTest: 'the page-table driver and domain ops',
  kitSupplies: 'memory, the reference SMMU (its IOTLB inspected), DMA writes between the driver\'s memory accesses',
  machines,
  run: runSmmuProfile,
  replay: (adapter, input, timeoutMs, trace) => replaySmmuSequence(adapter, input as SmmuSequenceInput, timeoutMs, trace),
  inputProblem: smmuInputProblem,
  overChannel: smmuDriver,
  reference: () => referenceSmmuDriverAdapter(),
};
