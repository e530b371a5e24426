// The areas of impl/ that `npm run mutation` mutates, each with the conformance profiles
// that exercise it (issue 11: automatic mutation testing with the conformance suite, not
// the unit tests, as the test). One entry per area; stryker/<area>.conf.mjs builds the
// Stryker config of one area from it (stryker/base.mjs), scripts/mutation.js runs them.
//
// `mutate` names the dirty-tracking code of the area. Left out, with the reason:
// - impl/iova-bitmap/user-buffer.ts: the unit tests' user memory; the conformance kit hands
//   the window code its own buffer (conformance/adapters/reference.ts imports only the type).
// - impl/memory/physical-memory.ts: memory is what the kit supplies in every profile, not
//   an implementation under test.
// - impl/errno.ts (errno constants) and impl/testbed.ts (wiring of memory, SMMU and
//   domain for the containers). pte.ts and registers.ts (bit layouts) are mutated, in the
//   smmu-driver and smmu-hw areas.
// - *.test.ts: unit tests.
// Runs: 300 sequences per profile with a fixed seed, so that a mutant costs seconds.
// `contracts`: the other contracts the reference plays on the area's profiles, each run
// after the default one (`--contract NAME`): the code only a contract reaches (the
// linux-v6.13 and rfc-v4 walks of io-pgtable-arm.ts, the lifecycles of domain.ts, the
// kit's driver under them in smmu-hw, iova_bitmap_set as Linux has it, the type1
// container's unmap on an rfc-v4 or linux-v6.18 domain) is tested too.
export const AREAS = {
  'iova-bitmap': {
    mutate: ['impl/iova-bitmap/iova-bitmap.ts'],
    profiles: ['iova-bitmap'],
    contracts: ['linux'],
  },
  vfio: {
    mutate: ['impl/vfio/type1-container.ts'],
    profiles: ['vfio-type1'],
    contracts: ['linux-upstream', 'rfc-2021'],
  },
  'smmu-driver': {
    mutate: ['impl/pgtable/io-pgtable-arm.ts', 'impl/pgtable/pte.ts', 'impl/domain.ts'],
    profiles: ['smmu-driver'],
    contracts: ['linux-upstream', 'rfc-2021'],
  },
  'smmu-hw': {
    mutate: ['impl/smmu/smmu.ts', 'impl/smmu/iotlb.ts', 'impl/smmu/registers.ts'],
    profiles: ['smmu-hw'],
    contracts: ['linux-upstream', 'rfc-2021'],
  },
  'kvm-dirty-log': {
    mutate: ['impl/kvm/dirty-log/kvm-vm.ts'],
    profiles: ['kvm-dirty-log'],
  },
  'kvm-dirty-ring': {
    mutate: ['impl/kvm/dirty-ring/kvm-ring.ts', 'impl/kvm/dirty-ring/collector.ts', 'impl/kvm/dirty-ring/ring-memory.ts'],
    profiles: ['kvm-dirty-ring', 'dirty-ring-collector'],
  },
};

export const SEED = 1;
export const RUNS = 300;
