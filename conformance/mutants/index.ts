// The mutant zoo: every faulty variant of the reference the suite must reject.
import { dirtyRingCollectorMutants } from './dirty-ring-collector-mutants.ts';
import { domainMutants } from './domain-mutants.ts';
import { iovaBitmapMutants } from './iova-bitmap-mutants.ts';
import { kvmDirtyLogMutants } from './kvm-dirty-log-mutants.ts';
import { kvmDirtyRingMutants } from './kvm-dirty-ring-mutants.ts';
import { pgtableMutants } from './pgtable-mutants.ts';
import { smmuMutants } from './smmu-mutants.ts';
import { vfioMutants } from './vfio-mutants.ts';
import { matrixMutants } from './matrix-mutants.ts';
import { contractMutants } from './contract-mutants.ts';
import { smmuIdMutants } from './smmu-id-mutants.ts';
import { smmuTlbMutants } from './smmu-tlb-mutants.ts';
import { level1Mutants } from './level1-mutants.ts';
import { argumentMutants } from './argument-mutants.ts';
import type { Mutant } from './types.ts';

export { BUG_CLASSES, type BugClass, type Mutant } from './types.ts';

export const mutants: readonly Mutant[] = [
  ...pgtableMutants,
  ...smmuMutants,
  ...domainMutants,
  ...iovaBitmapMutants,
  ...vfioMutants,
  ...kvmDirtyLogMutants,
  ...kvmDirtyRingMutants,
  ...dirtyRingCollectorMutants,
  ...matrixMutants,
  ...contractMutants,
  ...smmuIdMutants,
  ...smmuTlbMutants,
  ...level1Mutants,
  ...argumentMutants,
];

export function findMutant(name: string): Mutant | undefined {
  return mutants.find((m) => m.name === name);
}
