// The profile registry: every profile the kit runs, by name. The engine, the command line,
// the reports, --exec, check-trace and the mutant zoo look profiles up here.
//
// The registry is where profile names come from: `ProfileName` is its keys.
//
// Adding a profile: its adapter interface (conformance/adapters/types.ts: the `Adapter`
// union, and its name in PROFILES for the modules that cannot load the registry), its
// module (a ProfileModule: ./profile.ts), and one line below.
import type { Adapter } from '../adapters/types.ts';
import { iovaBitmapProfile } from './iova-bitmap.ts';
import { kvmDirtyLogProfile } from './kvm-dirty-log/module.ts';
import { kvmDirtyRingProfile } from './kvm-dirty-ring/module.ts';
import { dirtyRingCollectorProfile } from './dirty-ring-collector/module.ts';
import type { ProfileModule } from './profile.ts';
import { smmuDriverProfile, smmuHwProfile } from './smmu.ts';
import { vfioType1Profile } from './vfio-type1.ts';

export type { ProfileModule } from './profile.ts';

/** Every profile by name. `satisfies` checks both ways that each adapter of the `Adapter` union has its module here, typed for that adapter, and that nothing else is here. */
export const profiles = {
  'smmu-hw': smmuHwProfile,
  'smmu-driver': smmuDriverProfile,
  'iova-bitmap': iovaBitmapProfile,
  'vfio-type1': vfioType1Profile,
  'kvm-dirty-log': kvmDirtyLogProfile,
  'kvm-dirty-ring': kvmDirtyRingProfile,
  'dirty-ring-collector': dirtyRingCollectorProfile,
} as const satisfies { readonly [P in Adapter['profile']]: ProfileModule<P> };

/** A profile's name: a key of the registry. */
export type ProfileName = keyof typeof profiles;

/** The module of `name`: typed for the adapter it takes. */
export function profileOf<P extends ProfileName>(name: P): ProfileModule<P> {
  return profiles[name] as ProfileModule<P>;
}

/** The contract a run of `adapter` checks (`contract` and `iovaBitmapContract` as --contract gives them), as a --record trace's header records it for check-trace; undefined for a profile without contracts. */
export function recordedContract(adapter: Adapter, contract: string | undefined, iovaBitmapContract: string | undefined): string | undefined {
  const m = profiles[adapter.profile] as ProfileModule;
  return m.contractOf?.(adapter as never, m.contracts === 'iova-bitmap' ? iovaBitmapContract : contract);
}
