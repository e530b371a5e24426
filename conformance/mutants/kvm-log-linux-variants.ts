// VMs that do what Linux does where the spec asks more (docs/CONTRACTS.md departures), for
// the kvm-dirty-log profile's directed tests: a subclass of the reference VM each. Here
// because conformance/ reaches impl/ only through the reference adapter and this folder.
// None is in the zoo: each is upstream's behaviour, not a fault the kit seeded.
import { EPT_PS, EPT_R, KVM_DIRTY_LOG_INITIALLY_SET, KvmVm, type Memslot } from '../../impl/kvm/dirty-log/kvm-vm.ts';
import { referenceKvmDirtyLogAdapter } from '../adapters/reference.ts';
import type { KvmDirtyLogAdapter } from '../profiles/kvm-dirty-log/adapter.ts';

const HUGE = 512;

/**
 * Departure 39: x86's INITIALLY_SET protection of huge leaves in Linux v6.18
 * arch/x86/kvm/mmu/mmu.c kvm_arch_mmu_enable_log_dirty_pt_masked, with eager splitting off:
 * the 2 MiB page of the word's first set page (start), and that of its last (end) only
 * when ALIGN(start, 2 MiB) != ALIGN(end, 2 MiB); then the 4 KiB leaves of the set bits.
 */
export class AlignCheckedInitSetVm extends KvmVm {
  protected override protectMask(slot: Memslot, base: number, mask: bigint, split: boolean): void {
    if ((this.manualDirtyLogProtect & KVM_DIRTY_LOG_INITIALLY_SET) === 0 || split || mask === 0n) return super.protectMask(slot, base, mask, split);
    const set = Array.from({ length: 64 }, (_, i) => i).filter((i) => ((mask >> BigInt(i)) & 1n) !== 0n);
    const start = slot.baseGfn + base + set[0]!;
    const end = slot.baseGfn + base + set.at(-1)!;
    const up = (gfn: number) => Math.ceil(gfn / HUGE) * HUGE;
    const huge = new Set([Math.floor(start / HUGE), ...(up(start) !== up(end) ? [Math.floor(end / HUGE)] : [])]);
    const pages = set
      .map((i) => base + i)
      .filter((rel) => {
        const pde = this.pdeAddress(slot.asId, slot.baseGfn + rel, false);
        const isHuge = pde !== undefined && (this.memory.load(pde) & (EPT_R | EPT_PS)) === (EPT_R | EPT_PS);
        return !isHuge || huge.has(Math.floor((slot.baseGfn + rel) / HUGE));
      });
    this.protectPages(slot, pages, false);
  }
}

/** The reference adapter over AlignCheckedInitSetVm. */
export const alignCheckedInitSetAdapter = (): KvmDirtyLogAdapter => referenceKvmDirtyLogAdapter('linux-x86-initset-align', AlignCheckedInitSetVm);
