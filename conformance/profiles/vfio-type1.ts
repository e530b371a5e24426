// Profile vfio-type1: a VFIO type1 container as a black box (MAP/UNMAP_DMA, DIRTY_PAGES
// with manual clear, its device's DMA) against the type1 machine; under `strict`, or under a
// driver contract that names the profile (rfc-2021: the container on the RFC's IOMMU;
// linux-upstream: the container as the VMM over iommufd on Linux v6.18's).
import { vfioType1Machine } from '../../spec/vfio/type1-machine.ts';
import { referenceVfioType1Adapter } from '../adapters/reference.ts';
import { replayVfioType1Scenario, runVfioType1Profile, vfioRunContract } from '../engine/vfio-type1-profile.ts';
import { vfioType1 } from '../protocol/exec-adapters.ts';
import { vfioType1InputProblem } from '../protocol/input-shape.ts';
import type { ContractName } from '../adapters/types.ts';
import type { ProfileModule } from './profile.ts';

export const vfioType1Profile: ProfileModule<'vfio-type1'> = {
  name: 'vfio-type1',
  underTest: "a VFIO type1 container as a black box (MAP/UNMAP_DMA, DIRTY_PAGES with manual clear, its device's DMA; where offered, vfio_dma_rw and the device's group leaving and rejoining)",
  kitSupplies: 'the calls, valid and invalid, and the checks: every errno from the type1 machine, no loss, no false dirty',
  machines: [vfioType1Machine],
  run: runVfioType1Profile,
  replay: replayVfioType1Scenario,
  contractOf: (adapter, asked) => vfioRunContract(adapter, asked as ContractName | undefined).contract.name,
  inputProblem: vfioType1InputProblem,
  overChannel: vfioType1,
  // The driver contracts whose `profiles` name vfio-type1: the IOMMU under the container follows it.
  contracts: 'driver',
  // Upstream Linux's uAPI from v5.12 (no manual clear; VFIO_UNMAP_ALL and VFIO_UPDATE_VADDR offered).
  referenceVariants: () => [referenceVfioType1Adapter('reference-linux-uapi', undefined, 'strict', { manualClear: false, updateVaddr: true })],
  reference: (contract) => referenceVfioType1Adapter('reference', undefined, (contract as ContractName | undefined) ?? 'strict'),
};
