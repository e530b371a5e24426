// The mutants written so that every requirement ID has one (the requirement matrix of
// `dirtyspec mutants --matrix`), with their directed probes; index.ts adds them to the zoo.
import type { Probe } from './probe.ts';
import { kvmIdMutants, kvmIdProbes } from './kvm-id-mutants.ts';
import { kvmMatrixMutants, kvmMatrixProbes } from './kvm-matrix-mutants.ts';
import { moreMatrixMutants, moreMatrixProbes } from './more-matrix-mutants.ts';
import { ringMatrixMutants, ringMatrixProbes } from './ring-matrix-mutants.ts';
import { smmuMatrixMutants, smmuMatrixProbes } from './smmu-matrix-mutants.ts';
import type { Mutant } from './types.ts';
import { vfioArgMutants, vfioArgProbes } from './vfio-arg-mutants.ts';

export const matrixMutants: readonly Mutant[] = [...smmuMatrixMutants, ...vfioArgMutants, ...moreMatrixMutants, ...kvmMatrixMutants, ...ringMatrixMutants, ...kvmIdMutants];

/** One directed probe per mutant of `matrixMutants`. */
export const matrixProbes: readonly Probe[] = [...smmuMatrixProbes, ...vfioArgProbes, ...moreMatrixProbes, ...kvmMatrixProbes, ...ringMatrixProbes, ...kvmIdProbes];
