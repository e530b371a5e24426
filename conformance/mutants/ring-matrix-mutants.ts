// More faulty dirty rings (profiles kvm-dirty-ring and dirty-ring-collector): the
// capability checks of Linux v6.12.117 virt/kvm/kvm_main.c (kvm_vm_ioctl_enable_dirty_log_ring,
// kvm_vm_ioctl_check_extension_generic, KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP in
// kvm_vm_ioctl_enable_cap_generic), mark_page_dirty_in_slot without a running vCPU, and
// the collector's loop of tools/testing/selftests/kvm/dirty_log_test.c
// (dirty_ring_collect_one), each done wrong in one place.
import { DirtyRingCollector } from '../../impl/kvm/dirty-ring/collector.ts';
import { KVM_CAP_DIRTY_LOG_RING, KVM_CAP_DIRTY_LOG_RING_ACQ_REL, KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, KvmDirtyRingVm } from '../../impl/kvm/dirty-ring/kvm-ring.ts';
import { FlatRingMemory } from '../../impl/kvm/dirty-ring/ring-memory.ts';
import { referenceDirtyRingCollectorAdapter, referenceKvmDirtyRingAdapter } from '../adapters/reference.ts';
import type { Adapter } from '../adapters/types.ts';
import type { CollectorScenario } from '../profiles/dirty-ring-collector/profile.ts';
import { replayDirtyRingCollectorScenario } from '../profiles/dirty-ring-collector/profile.ts';
import type { DirtyRingCollectorAdapter } from '../profiles/dirty-ring-collector/types.ts';
import { NO_SIGNALS } from '../profiles/kvm-dirty-ring/signals.ts';
import type { KvmDirtyRingAdapter, KvmDirtyRingInstance } from '../profiles/kvm-dirty-ring/types.ts';
import { type Probe, type ProbedMutant, probeOf } from './probe.ts';
import type { Mutant } from './types.ts';

const EINVAL = -22;
const E2BIG = -7;
const ENXIO = -6;
const ENOENT = -2;
const MAX_BYTES = 65536 * 16; // KVM_DIRTY_RING_MAX_ENTRIES * sizeof(struct kvm_dirty_gfn)

// ---- KVM's side ---------------------------------------------------------------------------

export class PlainRingOnArm64Vm extends KvmDirtyRingVm {
  // FAULT (class bad-input-accepted): KVM_CAP_DIRTY_LOG_RING is offered whatever the memory model
  // (the CONFIG_HAVE_KVM_DIRTY_RING_TSO test dropped): on arm64 a collector that relies on TSO
  // reads entries whose fields are not yet visible.
  override checkExtension(cap: number): number {
    return cap === KVM_CAP_DIRTY_LOG_RING ? super.checkExtension(KVM_CAP_DIRTY_LOG_RING_ACQ_REL) : super.checkExtension(cap);
  }
}

export class RingSizePow2UncheckedVm extends KvmDirtyRingVm {
  // FAULT (class bad-input-accepted): `!is_power_of_2(size)` is not checked (only 0 is): the entry
  // index, masked with entries - 1, skips entries.
  protected override enableDirtyLogRing(size: number): number {
    if (size === 0 || (size & (size - 1)) === 0) return super.enableDirtyLogRing(size);
    const pow2 = 2 ** Math.floor(Math.log2(size));
    return super.enableDirtyLogRing(pow2);
  }
}

export class RingBelowPageVm extends KvmDirtyRingVm {
  // FAULT (class bad-input-accepted): `size < PAGE_SIZE` is not checked (only the reserved
  // entries are): a ring smaller than the page KVM maps for it is taken.
  protected override enableDirtyLogRing(size: number): number {
    if (size > 0 && size < 4096 && (size & (size - 1)) === 0 && size >= this.rsvdEntries * 16 && this.ringSize === 0 && this.vcpus.length === 0) {
      this.ringSize = size;
      return 0;
    }
    return super.enableDirtyLogRing(size);
  }
}

export class RingTooBigEinvalVm extends KvmDirtyRingVm {
  // FAULT (class bad-input-accepted): a size past KVM_DIRTY_RING_MAX_ENTRIES is -EINVAL, not -E2BIG.
  protected override enableDirtyLogRing(size: number): number {
    const r = super.enableDirtyLogRing(size);
    return r === E2BIG ? EINVAL : r;
  }
}

export class RingEnableTwiceVm extends KvmDirtyRingVm {
  // FAULT (class bad-input-accepted): `if (kvm->dirty_ring_size) return -EINVAL` is missing: a second
  // enable before any vCPU replaces the size.
  protected override enableDirtyLogRing(size: number): number {
    if (this.ringSize === 0) return super.enableDirtyLogRing(size);
    const old = this.ringSize;
    this.ringSize = 0;
    const r = super.enableDirtyLogRing(size);
    if (r !== 0) this.ringSize = old;
    return r;
  }
}

export class RingOnePageRefusedVm extends KvmDirtyRingVm {
  // FAULT (class valid-input-refused): `size <= PAGE_SIZE` instead of `<`: a ring of exactly one
  // page, the smallest valid one, is -EINVAL.
  protected override enableDirtyLogRing(size: number): number {
    return size === 4096 ? EINVAL : super.enableDirtyLogRing(size);
  }
}

export class RingGetLogNotExcludedVm extends KvmDirtyRingVm {
  // FAULT (class bad-input-accepted): KVM_GET_DIRTY_LOG does not test kvm_use_dirty_bitmap(): with
  // the ring on and no bitmap, it answers -ENOENT (no bitmap) instead of -ENXIO.
  override getDirtyLog(slot: number): { errno: number; bitmap?: Uint8Array } {
    const r = super.getDirtyLog(slot);
    return r.errno === ENXIO ? { errno: ENOENT } : r;
  }
}

export class WithBitmapAfterSlotVm extends KvmDirtyRingVm {
  // FAULT (class bad-input-accepted): KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP does not check that no
  // memslot exists: the slots created before have no bitmap, and their writes without a vCPU are lost.
  override enableCap(cap: number, arg0: number, flags = 0): number {
    if (cap !== KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP || this.arch !== 'arm64' || this.ringSize === 0 || flags !== 0) return super.enableCap(cap, arg0, flags);
    this.withBitmap = true;
    return 0;
  }
}

export class NoVcpuWriteDroppedVm extends KvmDirtyRingVm {
  // FAULT (class scope-change): mark_page_dirty_in_slot returns when kvm_get_running_vcpu() is NULL
  // (the WITH_BITMAP fallback left out): a write KVM makes for an ioctl is recorded nowhere.
  override writeWithoutVcpu(): void {}
}

// ---- the collector --------------------------------------------------------------------------

export class MarksBeforeTestCollector extends DirtyRingCollector {
  // FAULT (class racy-update): the loop marks an entry collected before testing that it is dirty
  // (`set_collected(i); if (!dirty(i)) break;`): the entry at dirty_index, never pushed, gets RESET
  // and the next KVM_RESET_DIRTY_RINGS consumes it.
  override harvest(): { slot: number; offset: number }[] {
    const pages = super.harvest();
    for (const ring of this.rings) if (pages.length > 0) this.markCollected(ring, this.index(ring));
    return pages;
  }
}

// ---- zoo entries and probes ----------------------------------------------------------

type Spec = ProbedMutant;

const refRing = referenceKvmDirtyRingAdapter();
const onVm = (arch: 'x86' | 'arm64', steps: (vm: KvmDirtyRingInstance) => Promise<unknown>) => async (a: Adapter) => steps(await (a as KvmDirtyRingAdapter).create(new FlatRingMemory(1 << 22), { arch }, NO_SIGNALS));
const ring = (name: string, Impl: typeof KvmDirtyRingVm) => referenceKvmDirtyRingAdapter(name, Impl);

const specs: readonly Spec[] = [
  {
    name: 'ring-plain-on-arm64',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-RING-2'],
    description: 'KVM_CAP_DIRTY_LOG_RING is offered on arm64, a weakly ordered architecture, where only _ACQ_REL may be: a collector written for TSO reads entries whose fields are not yet visible.',
    adapter: ring('ring-plain-on-arm64', PlainRingOnArm64Vm),
    reference: refRing,
    what: 'KVM_CHECK_EXTENSION(KVM_CAP_DIRTY_LOG_RING) on arm64 is not 0',
    run: onVm('arm64', async (vm) => (await vm.checkExtension(KVM_CAP_DIRTY_LOG_RING)) > 0),
    want: { reference: false, mutant: true },
  },
  {
    name: 'ring-size-pow2-unchecked',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-RING-3'],
    description: 'The ring size is not checked to be a power of two (only 0 is refused).',
    adapter: ring('ring-size-pow2-unchecked', RingSizePow2UncheckedVm),
    reference: refRing,
    what: 'a ring of 12288 bytes is taken',
    run: onVm('x86', async (vm) => vm.enableCap(KVM_CAP_DIRTY_LOG_RING, 12288, 0)),
    want: { reference: EINVAL, mutant: 0 },
  },
  {
    name: 'ring-below-page',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-RING-4'],
    description: 'A ring smaller than PAGE_SIZE is taken (only the reserved entries are checked).',
    adapter: ring('ring-below-page', RingBelowPageVm),
    reference: refRing,
    what: 'a ring of 2048 bytes is taken',
    run: onVm('x86', async (vm) => vm.enableCap(KVM_CAP_DIRTY_LOG_RING, 2048, 0)),
    want: { reference: EINVAL, mutant: 0 },
  },
  {
    name: 'ring-too-big-einval',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-RING-5'],
    description: 'A ring larger than KVM_DIRTY_RING_MAX_ENTRIES * 16 bytes is -EINVAL instead of -E2BIG.',
    adapter: ring('ring-too-big-einval', RingTooBigEinvalVm),
    reference: refRing,
    what: 'a 2 MiB ring is -EINVAL',
    run: onVm('x86', async (vm) => vm.enableCap(KVM_CAP_DIRTY_LOG_RING, 2 * MAX_BYTES, 0)),
    want: { reference: E2BIG, mutant: EINVAL },
  },
  {
    name: 'ring-enable-twice',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-RING-6'],
    description: 'Enabling the ring a second time (before any vCPU) replaces its size instead of -EINVAL.',
    adapter: ring('ring-enable-twice', RingEnableTwiceVm),
    reference: refRing,
    what: 'a second enable returns 0',
    run: onVm('x86', async (vm) => {
      await vm.enableCap(KVM_CAP_DIRTY_LOG_RING, 4096, 0);
      return vm.enableCap(KVM_CAP_DIRTY_LOG_RING, 8192, 0);
    }),
    want: { reference: EINVAL, mutant: 0 },
  },

  {
    name: 'ring-one-page-refused',
    bugClass: 'valid-input-refused',
    targets: ['KVM-RING-8'],
    description: 'The page-size test is `<=` PAGE_SIZE: a ring of exactly one page, the smallest valid one, is -EINVAL.',
    adapter: ring('ring-one-page-refused', RingOnePageRefusedVm),
    reference: refRing,
    what: 'a 4096-byte ring is -EINVAL',
    run: onVm('x86', async (vm) => vm.enableCap(KVM_CAP_DIRTY_LOG_RING, 4096, 0)),
    want: { reference: 0, mutant: EINVAL },
  },
  {
    name: 'ring-get-log-not-excluded',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-RING-9'],
    description: 'KVM_GET_DIRTY_LOG with the ring on and no bitmap answers -ENOENT, not -ENXIO: the VMM is told the slot is missing, not that the ring excludes the bitmap.',
    adapter: ring('ring-get-log-not-excluded', RingGetLogNotExcludedVm),
    reference: refRing,
    what: 'GET with the ring on is -ENOENT',
    run: onVm('x86', async (vm) => {
      await vm.enableCap(KVM_CAP_DIRTY_LOG_RING, 4096, 0);
      await vm.setMemslot(0, 0, 64, true);
      return (await vm.getDirtyLog(0)).errno;
    }),
    want: { reference: ENXIO, mutant: ENOENT },
  },
  {
    name: 'ring-with-bitmap-after-slot',
    bugClass: 'bad-input-accepted',
    targets: ['KVM-RING-10'],
    description: 'KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP is taken after a memslot exists: that slot has no bitmap, and writes to it without a vCPU are lost.',
    adapter: ring('ring-with-bitmap-after-slot', WithBitmapAfterSlotVm),
    reference: refRing,
    what: 'WITH_BITMAP after a memslot returns 0',
    run: onVm('arm64', async (vm) => {
      await vm.enableCap(KVM_CAP_DIRTY_LOG_RING_ACQ_REL, 4096, 0);
      await vm.setMemslot(0, 0, 64, true);
      return vm.enableCap(KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, 0, 0);
    }),
    want: { reference: EINVAL, mutant: 0 },
  },
  {
    name: 'ring-no-vcpu-write-dropped',
    bugClass: 'scope-change',
    targets: ['KVM-RING-21'],
    description: 'A write KVM makes without a running vCPU is recorded nowhere, the WITH_BITMAP bitmap included.',
    adapter: ring('ring-no-vcpu-write-dropped', NoVcpuWriteDroppedVm),
    reference: refRing,
    what: 'a write without a vCPU is not in the bitmap',
    run: onVm('arm64', async (vm) => {
      await vm.enableCap(KVM_CAP_DIRTY_LOG_RING_ACQ_REL, 4096, 0);
      await vm.enableCap(KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, 0, 0);
      await vm.setMemslot(0, 0, 64, true);
      await vm.writeWithoutVcpu({ slot: 0, offset: 3 });
      return (await vm.getDirtyLog(0)).bitmap?.[0];
    }),
    want: { reference: 0b1000, mutant: 0 },
  },
  {
    name: 'collector-marks-before-test',
    bugClass: 'racy-update',
    targets: ['KVM-RING-14'],
    description: "The collector marks an entry collected before testing that it is dirty: the entry at dirty_index, never pushed, gets RESET, and KVM's next reset consumes it and runs reset_index past dirty_index.",
    adapter: referenceDirtyRingCollectorAdapter('collector-marks-before-test', MarksBeforeTestCollector),
    reference: referenceDirtyRingCollectorAdapter(),
    what: 'a sync after one push marks entry 1 RESET',
    run: async (a) => {
      const sc: CollectorScenario = {
        config: { vcpus: 1, withBitmap: false, pml: false },
        ops: [
          { k: 'guest', vcpu: 0, slot: 0, start: 0, count: 1, stride: 1 },
          { k: 'sync', injects: [] },
        ],
        delays: [],
      };
      try {
        await replayDirtyRingCollectorScenario(a as DirtyRingCollectorAdapter, sc, 2000, []);
        return 'conforms';
      } catch (e) {
        return (e as { req?: readonly string[] }).req ?? String(e);
      }
    },
    want: { reference: 'conforms', mutant: ['KVM-RING-14'] },
  },
];

export const ringMatrixMutants: readonly Mutant[] = specs.map((s) => ({
  name: s.name,
  bugClass: s.bugClass,
  profile: s.adapter.profile,
  description: `${s.description} Class ${s.bugClass}: ${s.bugClass === 'valid-input-refused' ? 'a request the uAPI allows answered with an error.' : s.bugClass === 'scope-change' ? 'writes outside what is recorded.' : s.bugClass === 'racy-update' ? 'a mark made before the test that must guard it.' : 'input the uAPI refuses let through, or refused under the wrong errno.'}`,
  targets: s.targets,
  adapter: s.adapter,
}));

export const ringMatrixProbes: readonly Probe[] = specs.map(probeOf);
