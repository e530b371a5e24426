// The profile registry: every profile the kit runs, by name. The engine, the command line,
// the reports, --exec, check-trace and the mutant zoo look profiles up here.
//
// Adding a profile: its adapter interface (conformance/adapters/types.ts, and its name in
// PROFILES), its module (a ProfileModule: ./profile.ts), and one line below.
import type { ProfileName } from '../adapters/types.ts';
import { iovaBitmapProfile } from './iova-bitmap.ts';
import { kvmDirtyLogProfile } from './kvm-dirty-log/module.ts';
import { kvmDirtyRingProfile } from './kvm-dirty-ring/module.ts';
import { dirtyRingCollectorProfile } from './dirty-ring-collector/module.ts';
import type { ProfileModule } from './profile.ts';
import { smmuDriverProfile, smmuHwProfile } from './smmu.ts';
import { vfioType1Profile } from './vfio-type1.ts';

export type { ProfileModule } from './profile.ts';

export const profiles: { readonly [P in ProfileName]: ProfileModule<P> } = {
  'smmu-hw': smmuHwProfile,
  'smmu-driver': smmuDriverProfile,
  'iova-bitmap': iovaBitmapProfile,
  'vfio-type1': vfioType1Profile,
  'kvm-dirty-log': kvmDirtyLogProfile,
  'kvm-dirty-ring': kvmDirtyRingProfile,
  'dirty-ring-collector': dirtyRingCollectorProfile,
};

/** The module of `name`: typed for the adapter it takes. */
export function profileOf<P extends ProfileName>(name: P): ProfileModule<P> {
  return profiles[name] as ProfileModule<P>;
}
