// VMs with one fault each, for the aimed sequences' tests of kvm-dirty-ring
// (conformance/profiles/kvm-dirty-ring/aimed.test.ts): each is the mutant of
// impl/kvm/dirty-ring/kvm-ring.ts (Stryker's, as docs/MUTATION.md names it) that an aimed
// sequence was written to kill, as a subclass of the reference VM. Here because conformance/
// reaches impl/ only through the reference adapter and this folder. None is in the zoo.
import { KvmDirtyRingVm, type GuestWrite } from '../../impl/kvm/dirty-ring/kvm-ring.ts';

export { KvmDirtyRingVm };

/** Line 230's check after the last write dropped: the vCPU halts though that write reached the soft limit. */
export class HaltsAtLimitVm extends KvmDirtyRingVm {
  override run(vcpu: number, writes: readonly GuestWrite[]) {
    const r = super.run(vcpu, writes);
    return r.exitReason === 31 && r.done === writes.length && r.done > 0 ? { exitReason: 5, done: r.done } : r;
  }
}

/** Line 211 made true: a pending request exits even once a reset took the ring below the limit. */
export class ExitsWhileRequestVm extends KvmDirtyRingVm {
  protected override mustExit(r: Parameters<KvmDirtyRingVm['mustExit']>[0]): boolean {
    return r.softFullRequest;
  }
}

/** The pending soft-full request dropped by a reset that takes the ring below the limit, not by the vCPU's next entry. */
export class ResetDropsRequestVm extends KvmDirtyRingVm {
  override resetDirtyRings(): number {
    const n = super.resetDirtyRings();
    for (const r of this.vcpus) if (r !== undefined && this.used(r) < r.softLimit) r.softFullRequest = false;
    return n;
  }
}

/** Line 239's block emptied: a write without a vCPU sets no bit. */
export class NoBitWithoutVcpuVm extends KvmDirtyRingVm {
  override writeWithoutVcpu(): void {}
}

/** Line 251 made false: KVM_GET_DIRTY_LOG reports pages without write-protecting them. */
export class GetLeavesWritableVm extends KvmDirtyRingVm {
  override getDirtyLog(slot: number) {
    const m = this.memslots.get(slot >>> 0);
    const before = m?.protectedPages.slice();
    const r = super.getDirtyLog(slot);
    if (m !== undefined && before !== undefined) m.protectedPages.set(before);
    return r;
  }
}

/** Line 139's `>` as `>=`: the largest ring, 1 MiB, is -E2BIG. */
export class RefusesMaxRingVm extends KvmDirtyRingVm {
  protected override enableDirtyLogRing(size: number): number {
    return size === 1 << 20 ? -7 : super.enableDirtyLogRing(size);
  }
}

/** Line 107 made true: every capability but the two ring ones answers WITH_BITMAP's value. */
export class AnswersBitmapForAnyCapVm extends KvmDirtyRingVm {
  override checkExtension(cap: number): number {
    return cap === 192 || cap === 223 ? super.checkExtension(cap) : this.arch === 'arm64' ? 1 : 0;
  }
}

/** Line 117 made true: KVM_ENABLE_CAP of any other capability is taken for WITH_BITMAP. */
export class EnablesAnyCapAsBitmapVm extends KvmDirtyRingVm {
  override enableCap(cap: number, arg0: number, flags = 0): number {
    return super.enableCap(cap === 192 || cap === 223 ? cap : 225, arg0, flags);
  }
}

/**
 * Re-protection as the arch does it, both ways (KVM-RING-16): `exact` protects the named
 * pages only (x86's kvm_mmu_write_protect_pt_masked; on arm64 the HDBSS RFC's per-range
 * walk); `span` the range from the lowest named page to the highest (arm64 upstream);
 * `word` every page of the 64-page word (a walk of the whole mask's word, a bug).
 */
export function protectsAs(how: 'exact' | 'span' | 'word'): typeof KvmDirtyRingVm {
  return class extends KvmDirtyRingVm {
    protected override enableLogDirtyPtMasked(m: Parameters<KvmDirtyRingVm['enableLogDirtyPtMasked']>[0], base: number, mask: bigint): void {
      const low = (mask & -mask).toString(2).length - 1;
      const high = mask.toString(2).length - 1;
      const [from, to] = how === 'word' ? [0, 63] : [low, high];
      for (let i = from; i <= to; i++) {
        if (how === 'exact' && ((mask >> BigInt(i)) & 1n) === 0n) continue;
        if (base + i < m.npages) m.protectedPages[base + i] = 1;
      }
    }
  };
}
