// SPDX-License-Identifier: MIT
/*
 * The C ABI (conformance/lib/dirtyspec.h, version 4) over the port: each function is the
 * ioctl it names, with the kit's callbacks set for the VM's calls (dirtyspec_current) and
 * the vCPU loaded for KVM_RUN (kvm_running_vcpu).
 */
#include "kvm_host.h"

struct glue_vm {
	const struct dirtyspec_kit *kit;
	struct kvm *kvm;
};

static struct kvm *enter(void *vm)
{
	struct glue_vm *g = (struct glue_vm *)vm;

	dirtyspec_current = g->kit;
	return g->kvm;
}

static struct kvm_memory_slot *glue_memslot(struct kvm *kvm, u32 slot)
{
	int as_id = slot >> 16, id = (u16)slot;

	if (as_id >= kvm_arch_nr_memslot_as_ids(kvm))
		return NULL;
	return id_to_memslot(__kvm_memslots(kvm, as_id), id);
}

extern "C" {

int dirtyspec_hello(uint32_t kit_abi, struct dirtyspec_hello *hello)
{
	if (kit_abi != DIRTYSPEC_ABI_VERSION)
		return -EPROTO;
	hello->abi = DIRTYSPEC_ABI_VERSION;
	hello->profiles = DIRTYSPEC_PROFILE_KVM_DIRTY_RING;
	hello->name = kvm_dirty_ring_build;
	return dirtyspec_linux_init();
}

uint32_t dirtyspec_kvm_dirty_ring_cpu_dirty_log_size(void)
{
	return kvm_cpu_dirty_log_size(NULL);
}

int dirtyspec_kvm_dirty_ring_create(const struct dirtyspec_kit *kit, const struct dirtyspec_kvm_dirty_ring_config *config, void **instance)
{
	struct glue_vm *g;

	if (config->arch != DIRTYSPEC_KVM_ARCH_X86 && config->arch != DIRTYSPEC_KVM_ARCH_ARM64)
		return -EINVAL;
	g = (struct glue_vm *)kzalloc(sizeof(*g), GFP_KERNEL);
	if (!g)
		return -ENOMEM;
	g->kit = kit;
	g->kvm = kvm_create_vm(config->arch == DIRTYSPEC_KVM_ARCH_X86 ? KVM_ARCH_X86 : KVM_ARCH_ARM64);
	if (!g->kvm) {
		kfree(g);
		return -ENOMEM;
	}
	*instance = g;
	return 0;
}

int dirtyspec_kvm_dirty_ring_check_extension(void *vm, uint32_t cap)
{
	return kvm_vm_ioctl_check_extension_generic(enter(vm), cap);
}

int dirtyspec_kvm_dirty_ring_enable_cap(void *vm, uint32_t cap, uint32_t flags, uint64_t args0)
{
	struct kvm_enable_cap c = { cap, flags, { args0, 0, 0, 0 } };

	return kvm_vm_ioctl_enable_cap_generic(enter(vm), &c);
}

int dirtyspec_kvm_dirty_ring_create_vcpu(void *vm, uint64_t ring_base)
{
	struct kvm *kvm = enter(vm);

	kvm->next_ring_base = ring_base;
	return kvm_vm_ioctl_create_vcpu(kvm, kvm->created_vcpus);
}

int dirtyspec_kvm_dirty_ring_set_memslot(void *vm, uint32_t as_id, uint32_t id, uint32_t npages, bool log_dirty)
{
	/* The guest physical address is the glue's: memslot id at gfn (id + 1) << 20, with gaps between. */
	struct kvm_userspace_memory_region mem = {
		.slot = (as_id << 16) | (u16)id,
		.flags = log_dirty ? (u32)KVM_MEM_LOG_DIRTY_PAGES : 0,
		.guest_phys_addr = ((u64)(u16)id + 1) << (20 + PAGE_SHIFT),
		.memory_size = (u64)npages << PAGE_SHIFT,
		.userspace_addr = 0x7f0000000000ULL,
	};

	if (id > 0xffff || as_id > 0xffff)
		return -EINVAL;
	return kvm_vm_ioctl_set_memory_region(enter(vm), &mem);
}

int dirtyspec_kvm_dirty_ring_run(void *vm, uint32_t vcpu_index, const struct dirtyspec_kvm_guest_write *writes, uint32_t n, uint32_t *done)
{
	struct kvm *kvm = enter(vm);
	struct kvm_guest_program guest = { writes, n, 0 };
	struct kvm_vcpu *vcpu;
	int r;

	*done = 0;
	if (vcpu_index >= KVM_MAX_VCPUS || !kvm->vcpus[vcpu_index])
		return -EINVAL;
	vcpu = kvm->vcpus[vcpu_index];
	kvm_running_vcpu = vcpu; /* vcpu_load */
	r = kvm_arch_vcpu_ioctl_run(vcpu, &guest);
	kvm_running_vcpu = NULL; /* vcpu_put */
	*done = guest.done;
	return r ? r : (int)vcpu->run->exit_reason;
}

void dirtyspec_kvm_dirty_ring_write_without_vcpu(void *vm, uint32_t slot, uint64_t offset)
{
	/* kvm_write_guest from a VM ioctl: the page is written through its user mapping, then mark_page_dirty_in_slot with no vCPU. */
	struct kvm *kvm = enter(vm);
	struct kvm_memory_slot *memslot = glue_memslot(kvm, slot);

	if (memslot && offset < memslot->npages)
		mark_page_dirty_in_slot(kvm, memslot, memslot->base_gfn + offset);
}

int dirtyspec_kvm_dirty_ring_reset_dirty_rings(void *vm)
{
	return kvm_vm_ioctl_reset_dirty_pages(enter(vm));
}

int dirtyspec_kvm_dirty_ring_get_dirty_log(void *vm, uint32_t slot, uint8_t *bitmap, uint64_t bytes)
{
	struct kvm *kvm = enter(vm);
	struct kvm_memory_slot *memslot = glue_memslot(kvm, slot);
	struct kvm_dirty_log log = { slot, bitmap };

	/* copy_to_user of the slot's bitmap: -EFAULT where the user's buffer ends first. */
	if (memslot && memslot->dirty_bitmap && kvm_dirty_bitmap_bytes(memslot) > bytes)
		return -EFAULT;
	return kvm_vm_ioctl_get_dirty_log(kvm, &log);
}

int dirtyspec_kvm_dirty_ring_write_protected_pages(void *vm, uint32_t slot, uint8_t *bitmap, uint64_t bytes)
{
	struct kvm *kvm = enter(vm);
	struct kvm_memory_slot *memslot = glue_memslot(kvm, slot);

	if (!memslot)
		return -ENOENT;
	if (kvm_dirty_bitmap_bytes(memslot) > bytes)
		return -EINVAL;
	for (unsigned long i = 0; i < memslot->npages; i++)
		if (memslot->arch.write_protected[i])
			bitmap[i / 8] |= (u8)(1u << (i % 8));
	return 0;
}

void dirtyspec_kvm_dirty_ring_destroy(void *vm)
{
	struct glue_vm *g = (struct glue_vm *)vm;

	kvm_destroy_vm(g->kvm);
	kfree(g);
}

} /* extern "C" */
