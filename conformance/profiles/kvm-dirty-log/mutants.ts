// The profile's mutants: faulty variants of the reference KVM VM, each killed by the
// profile (profile.test.ts). Defined in conformance/mutants/kvm-dirty-log-mutants.ts, the
// gate through which conformance/ reaches impl/.
export { kvmDirtyLogMutants, type KvmDirtyLogMutant } from '../../mutants/kvm-dirty-log-mutants.ts';
