// What the kvm-dirty-log mutants' directed probes share: a VM made as the kit makes one
// (one vCPU, no racing writes), the slot they start from, and the table of a mutant file's
// entries (`KvmLogSpec`) turned into zoo entries and probes.
import { KVM_MEM_LOG_DIRTY_PAGES, type KvmVm } from '../../impl/kvm/dirty-log/kvm-vm.ts';
import { referenceKvmDirtyLogAdapter } from '../adapters/reference.ts';
import type { Adapter } from '../adapters/types.ts';
import type { KvmDirtyLogAdapter, KvmDirtyLogConfig, KvmDirtyLogInstance } from '../profiles/kvm-dirty-log/adapter.ts';
import { type MutantSpec, type Probe, probeOf } from './probe.ts';
import type { BugClass, Mutant } from './types.ts';

export const CFG: KvmDirtyLogConfig = { hwDirty: false, eagerSplit: true, dirtyRingExclusive: false };
export const GPA = 0x1_0000_0000n;
export const UADDR = 0x1000_0000n;
/** Slot 0: 64 pages at 4 GiB, logging. */
export const SLOT0 = { slot: 0, flags: KVM_MEM_LOG_DIRTY_PAGES, guestPhysAddr: GPA, memorySize: 64n * 4096n, userspaceAddr: UADDR };

/** A VM of `adapter` with the probes' configuration (and `config` over it), no vCPU writes racing. */
export async function vmOf(adapter: Adapter, config: Partial<KvmDirtyLogConfig> = {}): Promise<KvmDirtyLogInstance> {
  return (adapter as KvmDirtyLogAdapter).create({ ...CFG, ...config }, { between: () => [] });
}

/** KVM_SET_USER_MEMORY_REGION of slot 0 with `r` changed: its errno. */
export const set = async (vm: KvmDirtyLogInstance, r: Partial<typeof SLOT0>) => (await vm.setUserMemoryRegion({ ...SLOT0, ...r })).errno;

/** One mutant of a table: the faulty VM class, its zoo entry and its directed probe. */
export interface KvmLogSpec extends MutantSpec<typeof KvmVm, KvmDirtyLogInstance> {
  readonly config?: Partial<KvmDirtyLogConfig>;
}

/** The zoo entries of a table, each description ending with its class's sentence from `why` (unless it says its class already). */
export function kvmLogZooOf(specs: readonly KvmLogSpec[], why: Partial<Record<BugClass, string>>): Mutant[] {
  return specs.map((s) => ({
    name: s.name,
    bugClass: s.bugClass,
    profile: 'kvm-dirty-log' as const,
    description: s.description.includes(`Class ${s.bugClass}: `) ? s.description : `${s.description} Class ${s.bugClass}: ${why[s.bugClass] ?? ''}`,
    targets: s.targets,
    adapter: referenceKvmDirtyLogAdapter(s.name, s.Impl),
  }));
}

/** The directed probes of a table. */
export function kvmLogProbesOf(specs: readonly KvmLogSpec[]): Probe[] {
  const reference = referenceKvmDirtyLogAdapter();
  return specs.map((s) => probeOf({ ...s, reference, run: async (a: Adapter) => s.run(await vmOf(a, s.config)) }));
}
