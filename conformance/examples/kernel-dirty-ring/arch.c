// SPDX-License-Identifier: MIT
/*
 * The arch side the dirty ring reaches, in the manner of Linux v6.18's x86 and arm64 KVM
 * (an example written for dirtyspec, not the kernel's files), for the two arches a VM
 * may play:
 *   x86   Linux v6.18 arch/x86/kvm/x86.c (kvm_vm_ioctl_check_extension,
 *         kvm_vm_ioctl_enable_cap, vcpu_enter_guest's request check, vcpu_run),
 *         arch/x86/kvm/mmu/mmu.c (kvm_arch_mmu_enable_log_dirty_pt_masked,
 *         kvm_mmu_write_protect_pt_masked, kvm_mmu_slot_apply_flags) and the TDP MMU
 *         (arch/x86/kvm/mmu/tdp_mmu.c kvm_tdp_mmu_clear_dirty_pt_masked: the set bits of
 *         the mask, on the gfns slot->base_gfn + gfn_offset + bit). No PML.
 *   arm64 Linux v6.18 arch/arm64/kvm/arm.c (kvm_vm_ioctl_check_extension,
 *         kvm_vm_ioctl_enable_cap, check_vcpu_requests, kvm_arch_vcpu_ioctl_run) and
 *         arch/arm64/kvm/mmu.c (kvm_arch_mmu_enable_log_dirty_pt_masked,
 *         kvm_mmu_write_protect_pt_masked: kvm_stage2_wp_range from __ffs(mask) to
 *         __fls(mask) + 1; kvm_arch_commit_memory_region; user_mem_abort's
 *         mark_page_dirty_in_slot).
 * dirtyspec: the page tables are modelled by their write permission only, one byte per
 * page of each memslot (kvm_arch_memory_slot.write_protected), found by absolute gfn as a
 * page-table walk finds a leaf: a gfn in no memslot has no leaf, and nothing happens to
 * it. A guest write to a write-protected page faults: the page is made writable and
 * marked dirty. A memslot's guest physical address is the glue's (the kit gives none).
 */
#include "kvm_host.h"

int kvm_arch_nr_memslot_as_ids(struct kvm *kvm)
{
	/* x86: KVM_MAX_NR_ADDRESS_SPACES (2, SMM's second) for a VM without protected state; arm64: 1. */
	return kvm->arch.kind == KVM_ARCH_X86 ? KVM_MAX_NR_ADDRESS_SPACES : 1;
}

int kvm_vm_ioctl_check_extension(struct kvm *kvm, long ext)
{
	/* Neither arch answers anything but 0 for a capability the dirty ring's profile asks about (WITH_BITMAP on x86, a number no capability has). */
	(void)kvm;
	(void)ext;
	return 0;
}

int kvm_vm_ioctl_enable_cap(struct kvm *kvm, struct kvm_enable_cap *cap)
{
	(void)kvm;
	if (cap->flags)
		return -EINVAL;
	/* No capability of either arch the profile enables: the switch's default. */
	return -EINVAL;
}

bool kvm_arch_allow_write_without_running_vcpu(struct kvm *kvm)
{
	/* x86: the generic false (no CONFIG_NEED_KVM_DIRTY_RING_WITH_BITMAP); arm64: vgic ITS table saves only, and this VM has no ITS. */
	(void)kvm;
	return false;
}

void kvm_arch_flush_remote_tlbs(struct kvm *kvm)
{
	/* dirtyspec: the modelled permission is the TLB's too. */
	(void)kvm;
}

/* The leaf that maps `gfn` in address space `as_id`: its write permission, or NULL when no memslot maps it. */
static u8 *kvm_pgtable_leaf(struct kvm *kvm, int as_id, gfn_t gfn)
{
	struct kvm_memslots *slots = __kvm_memslots(kvm, as_id);

	for (int i = 0; i < slots->nr; i++) {
		struct kvm_memory_slot *s = slots->slots[i];

		if (gfn >= s->base_gfn && gfn - s->base_gfn < s->npages)
			return &s->arch.write_protected[gfn - s->base_gfn];
	}
	return NULL;
}

static void kvm_pgtable_wrprot(struct kvm *kvm, int as_id, gfn_t gfn)
{
	u8 *leaf = kvm_pgtable_leaf(kvm, as_id, gfn);

	if (leaf)
		*leaf = 1;
}

/* x86, TDP MMU: the set bits of `mask`, each the gfn `gfn` + bit. */
static void kvm_tdp_mmu_clear_dirty_pt_masked(struct kvm *kvm, struct kvm_memory_slot *slot,
					      gfn_t gfn, unsigned long mask)
{
	while (mask) {
		kvm_pgtable_wrprot(kvm, slot->as_id, gfn + __ffs(mask));
		mask &= mask - 1;
	}
}

/* arm64: write-protect the stage-2 range [addr, end). */
static void kvm_stage2_wp_range(struct kvm *kvm, u64 addr, u64 end)
{
	for (; addr < end; addr += PAGE_SIZE)
		kvm_pgtable_wrprot(kvm, 0, addr >> PAGE_SHIFT);
}

void kvm_arch_mmu_enable_log_dirty_pt_masked(struct kvm *kvm,
					     struct kvm_memory_slot *slot,
					     gfn_t gfn_offset, unsigned long mask)
{
	if (kvm->arch.kind == KVM_ARCH_X86) {
		/* kvm_mmu_write_protect_pt_masked (no PML: not kvm_mmu_clear_dirty_pt_masked), TDP MMU only. */
		kvm_tdp_mmu_clear_dirty_pt_masked(kvm, slot, slot->base_gfn + gfn_offset, mask);
		return;
	}
	/* arm64 kvm_mmu_write_protect_pt_masked */
	u64 base_gfn = slot->base_gfn + gfn_offset;
	u64 start = (base_gfn + __ffs(mask)) << PAGE_SHIFT;
	u64 end = (base_gfn + __fls(mask) + 1) << PAGE_SHIFT;

	kvm_stage2_wp_range(kvm, start, end);
}

/* Dirty logging on for a new memslot: x86 kvm_mmu_slot_apply_flags, arm64 kvm_mmu_wp_memory_region. */
void kvm_arch_commit_memory_region(struct kvm *kvm, struct kvm_memory_slot *new_slot)
{
	(void)kvm;
	if (new_slot->flags & KVM_MEM_LOG_DIRTY_PAGES)
		memset(new_slot->arch.write_protected, 1, new_slot->npages);
}

/*
 * The guest writes page `offset` of memslot `slot`: a write fault if the page is
 * write-protected (x86 fast_page_fault / kvm_tdp_mmu_map, arm64 user_mem_abort), which
 * makes it writable and marks it dirty. A page outside the memslots would be MMIO; the
 * kit writes none.
 */
static void kvm_guest_write(struct kvm_vcpu *vcpu, u32 slot, u64 offset)
{
	struct kvm *kvm = vcpu->kvm;
	struct kvm_memory_slot *memslot;
	int as_id = slot >> 16, id = (u16)slot;

	if (as_id >= kvm_arch_nr_memslot_as_ids(kvm))
		return;
	memslot = id_to_memslot(__kvm_memslots(kvm, as_id), id);
	if (!memslot || offset >= memslot->npages || !memslot->arch.write_protected[offset])
		return;
	memslot->arch.write_protected[offset] = 0;
	mark_page_dirty_in_slot(kvm, memslot, memslot->base_gfn + offset);
}

/*
 * Before each guest entry: a pending request that ends KVM_RUN (x86 vcpu_enter_guest,
 * arm64 check_vcpu_requests: kvm_dirty_ring_check_request). 0: exit to userspace.
 */
static int vcpu_enter_guest(struct kvm_vcpu *vcpu)
{
	if (kvm_request_pending(vcpu)) {
		if (kvm_dirty_ring_check_request(vcpu))
			return 0;
	}
	return 1;
}

/*
 * KVM_RUN (x86 vcpu_run, arm64 kvm_arch_vcpu_ioctl_run): enter the guest until an exit to
 * userspace. dirtyspec: the guest runs its program one write per entry (each write to a
 * protected page is a fault, an exit to KVM and a new entry), then HLT, which exits to
 * userspace (no in-kernel irqchip).
 */
int kvm_arch_vcpu_ioctl_run(struct kvm_vcpu *vcpu, struct kvm_guest_program *guest)
{
	for (;;) {
		if (!vcpu_enter_guest(vcpu))
			return 0;
		if (guest->done == guest->n) {
			vcpu->run->exit_reason = KVM_EXIT_HLT;
			return 0;
		}
		kvm_guest_write(vcpu, guest->writes[guest->done].slot, guest->writes[guest->done].offset);
		guest->done++;
	}
}
