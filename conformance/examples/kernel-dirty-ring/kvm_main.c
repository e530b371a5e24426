// SPDX-License-Identifier: MIT
/*
 * The VM ioctls the dirty ring goes through, in the manner of Linux v6.18
 * virt/kvm/kvm_main.c: the ring's capabilities (kvm_vm_ioctl_check_extension_generic,
 * kvm_vm_ioctl_enable_cap_generic, kvm_vm_ioctl_enable_dirty_log_ring), KVM_CREATE_VCPU's
 * ring (kvm_vm_ioctl_create_vcpu), a new memslot's dirty bitmap
 * (kvm_prepare_memory_region), mark_page_dirty_in_slot, KVM_RESET_DIRTY_RINGS
 * (kvm_vm_ioctl_reset_dirty_pages) and KVM_GET_DIRTY_LOG (kvm_get_dirty_log_protect
 * without manual protect), each with the kernel's checks in the kernel's order and its
 * errno. An example written for dirtyspec, not the kernel's file; where it departs on
 * purpose it says "dirtyspec:".
 */
#include "kvm_host.h"

struct kvm_vcpu *kvm_running_vcpu;

/* arch/x86/include/uapi/asm/kvm.h and arch/arm64/include/uapi/asm/kvm.h: both 64. */
#define KVM_DIRTY_LOG_PAGE_OFFSET 64
/* include/linux/kvm_host.h */
#define KVM_MEM_MAX_NR_PAGES ((1UL << 31) - 1)

long kvm_vm_ioctl_check_extension_generic(struct kvm *kvm, long arg)
{
	switch (arg) {
	case KVM_CAP_DIRTY_LOG_RING:
		/* CONFIG_HAVE_KVM_DIRTY_RING_TSO */
		if (kvm_config_have_dirty_ring_tso(kvm))
			return KVM_DIRTY_RING_MAX_ENTRIES * sizeof(struct kvm_dirty_gfn);
		return 0;
	case KVM_CAP_DIRTY_LOG_RING_ACQ_REL:
		/* CONFIG_HAVE_KVM_DIRTY_RING_ACQ_REL */
		if (kvm_config_have_dirty_ring_acq_rel(kvm))
			return KVM_DIRTY_RING_MAX_ENTRIES * sizeof(struct kvm_dirty_gfn);
		return 0;
	case KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP:
		/* CONFIG_NEED_KVM_DIRTY_RING_WITH_BITMAP: 1, else the arch's answer. */
		if (kvm_config_need_dirty_ring_with_bitmap(kvm))
			return 1;
		break;
	default:
		break;
	}
	return kvm_vm_ioctl_check_extension(kvm, arg);
}

/* KVM_ENABLE_CAP of the ring: args[0] is its size in bytes, for every vCPU to come. */
static int kvm_vm_ioctl_enable_dirty_log_ring(struct kvm *kvm, u32 size)
{
	const u32 gfn_size = sizeof(struct kvm_dirty_gfn);
	int ret = -EINVAL;

	if (KVM_DIRTY_LOG_PAGE_OFFSET == 0)
		return -EINVAL; /* no place to map a ring */
	if (size == 0 || (size & (size - 1)) != 0)
		return -EINVAL; /* a power of two */
	if (size < PAGE_SIZE || size < kvm_dirty_ring_get_rsvd_entries(kvm) * gfn_size)
		return -EINVAL; /* a page at least, and more than the reserve */
	if (size > KVM_DIRTY_RING_MAX_ENTRIES * gfn_size)
		return -E2BIG;
	if (kvm->dirty_ring_size != 0)
		return -EINVAL; /* once only */

	mutex_lock(&kvm->lock);
	if (kvm->created_vcpus == 0) { /* the vCPUs made so far have no ring */
		kvm->dirty_ring_size = size;
		ret = 0;
	}
	mutex_unlock(&kvm->lock);
	return ret;
}

static bool kvm_are_all_memslots_empty(struct kvm *kvm)
{
	for (int i = 0; i < kvm_arch_nr_memslot_as_ids(kvm); i++)
		if (__kvm_memslots(kvm, i)->nr)
			return false;
	return true;
}

int kvm_vm_ioctl_enable_cap_generic(struct kvm *kvm, struct kvm_enable_cap *cap)
{
	switch (cap->cap) {
	case KVM_CAP_DIRTY_LOG_RING:
	case KVM_CAP_DIRTY_LOG_RING_ACQ_REL:
		if (!kvm_vm_ioctl_check_extension_generic(kvm, cap->cap))
			return -EINVAL;

		return kvm_vm_ioctl_enable_dirty_log_ring(kvm, cap->args[0]);
	case KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP: {
		int ret = -EINVAL;

		/* The arch must need it, the ring be on, and no flags. */
		if (!kvm_config_need_dirty_ring_with_bitmap(kvm))
			return -EINVAL;
		if (kvm->dirty_ring_size == 0 || cap->flags != 0)
			return -EINVAL;

		/* Only while no memslot exists: each one made after gets its bitmap. */
		mutex_lock(&kvm->slots_lock);
		if (kvm_are_all_memslots_empty(kvm)) {
			kvm->dirty_ring_with_bitmap = true;
			ret = 0;
		}
		mutex_unlock(&kvm->slots_lock);
		return ret;
	}
	default:
		return kvm_vm_ioctl_enable_cap(kvm, cap);
	}
}

/* kvm_vm_ioctl_create_vcpu, the ring's part. dirtyspec: returns the vCPU's index, not an fd. */
int kvm_vm_ioctl_create_vcpu(struct kvm *kvm, unsigned long id)
{
	struct kvm_vcpu *vcpu;
	int r;

	if (id >= KVM_MAX_VCPUS)
		return -EINVAL;

	mutex_lock(&kvm->lock);
	if (kvm->created_vcpus >= KVM_MAX_VCPUS) {
		mutex_unlock(&kvm->lock);
		return -EINVAL;
	}
	kvm->created_vcpus++;
	mutex_unlock(&kvm->lock);

	vcpu = (struct kvm_vcpu *)kzalloc(sizeof(*vcpu), GFP_KERNEL);
	if (!vcpu) {
		r = -ENOMEM;
		goto vcpu_decrement;
	}
	vcpu->run = (struct kvm_run *)kzalloc(sizeof(*vcpu->run), GFP_KERNEL);
	if (!vcpu->run) {
		r = -ENOMEM;
		goto vcpu_free;
	}
	vcpu->kvm = kvm;
	vcpu->vcpu_id = id;

	if (kvm->dirty_ring_size) {
		/* dirtyspec: the kit's memory for this vCPU's ring. */
		vcpu->dirty_ring.kit_base = kvm->next_ring_base;
		r = kvm_dirty_ring_alloc(kvm, &vcpu->dirty_ring,
					 id, kvm->dirty_ring_size);
		if (r)
			goto vcpu_free_run;
	}

	kvm->vcpus[id] = vcpu;
	return id;

vcpu_free_run:
	kfree(vcpu->run);
vcpu_free:
	kfree(vcpu);
vcpu_decrement:
	mutex_lock(&kvm->lock);
	kvm->created_vcpus--;
	mutex_unlock(&kvm->lock);
	return r;
}

static int kvm_alloc_dirty_bitmap(struct kvm_memory_slot *memslot)
{
	unsigned long dirty_bytes = kvm_dirty_bitmap_bytes(memslot);

	/* Two bitmaps: the second is KVM_GET_DIRTY_LOG's buffer (kvm_second_dirty_bitmap). */
	memslot->dirty_bitmap = (unsigned long *)kcalloc(2, dirty_bytes, GFP_KERNEL);
	if (!memslot->dirty_bitmap)
		return -ENOMEM;

	return 0;
}

static void kvm_free_memslot(struct kvm_memory_slot *slot)
{
	kfree(slot->dirty_bitmap);
	kfree(slot->arch.write_protected);
	kfree(slot);
}

/*
 * KVM_SET_USER_MEMORY_REGION of a new memslot (kvm_vm_ioctl_set_memory_region,
 * __kvm_set_memory_region, kvm_prepare_memory_region, kvm_commit_memory_region).
 * dirtyspec: creation only; a memslot that exists already (a move, a flags change, a
 * deletion) is refused with -EINVAL, as the kit makes each memslot once.
 */
int kvm_vm_ioctl_set_memory_region(struct kvm *kvm, const struct kvm_userspace_memory_region *mem)
{
	struct kvm_memslots *slots;
	struct kvm_memory_slot *new_slot;
	int as_id, id, r;
	gfn_t base_gfn;
	unsigned long npages;

	if ((u16)mem->slot >= KVM_USER_MEM_SLOTS)
		return -EINVAL;
	if (mem->flags & ~KVM_MEM_LOG_DIRTY_PAGES)
		return -EINVAL;

	as_id = mem->slot >> 16;
	id = (u16)mem->slot;

	/* General sanity checks */
	if ((mem->memory_size & (PAGE_SIZE - 1)) ||
	    (mem->memory_size != (unsigned long)mem->memory_size))
		return -EINVAL;
	if (mem->guest_phys_addr & (PAGE_SIZE - 1))
		return -EINVAL;
	if (as_id >= kvm_arch_nr_memslot_as_ids(kvm) || id >= KVM_MEM_SLOTS_NUM)
		return -EINVAL;
	if (mem->guest_phys_addr + mem->memory_size < mem->guest_phys_addr)
		return -EINVAL;
	if ((mem->memory_size >> PAGE_SHIFT) > KVM_MEM_MAX_NR_PAGES)
		return -EINVAL;

	slots = __kvm_memslots(kvm, as_id);
	if (id_to_memslot(slots, id) || !mem->memory_size)
		return -EINVAL;
	if (slots->nr >= DIRTYSPEC_MAX_MEMSLOTS)
		return -ENOSPC;

	base_gfn = (mem->guest_phys_addr >> PAGE_SHIFT);
	npages = (mem->memory_size >> PAGE_SHIFT);

	/* No overlap with another memslot of the address space. */
	for (int i = 0; i < slots->nr; i++) {
		struct kvm_memory_slot *s = slots->slots[i];

		if (base_gfn < s->base_gfn + s->npages && s->base_gfn < base_gfn + npages)
			return -EEXIST;
	}

	new_slot = (struct kvm_memory_slot *)kzalloc(sizeof(*new_slot), GFP_KERNEL);
	if (!new_slot)
		return -ENOMEM;
	new_slot->as_id = as_id;
	new_slot->id = id;
	new_slot->base_gfn = base_gfn;
	new_slot->npages = npages;
	new_slot->flags = mem->flags;

	/* kvm_prepare_memory_region: a bitmap for dirty logging, unless the ring alone tracks. */
	if (new_slot->flags & KVM_MEM_LOG_DIRTY_PAGES && kvm_use_dirty_bitmap(kvm)) {
		r = kvm_alloc_dirty_bitmap(new_slot);
		if (r) {
			kfree(new_slot);
			return r;
		}
	}
	new_slot->arch.write_protected = (u8 *)kcalloc(npages, 1, GFP_KERNEL);
	if (!new_slot->arch.write_protected) {
		kvm_free_memslot(new_slot);
		return -ENOMEM;
	}

	slots->slots[slots->nr++] = new_slot;
	kvm_arch_commit_memory_region(kvm, new_slot);
	return 0;
}

/*
 * Record a write to `gfn`: in the running vCPU's ring when the ring is on, else in the
 * memslot's bitmap if it has one. A write with no running vCPU (an ioctl's
 * kvm_write_guest) never goes to a ring; with the ring on and no bitmap nothing records
 * it, and the kernel warns unless the arch expects such writes.
 */
void mark_page_dirty_in_slot(struct kvm *kvm, const struct kvm_memory_slot *memslot, gfn_t gfn)
{
	struct kvm_vcpu *vcpu = kvm_get_running_vcpu();
	unsigned long page;

	if (WARN_ON_ONCE(vcpu != NULL && vcpu->kvm != kvm))
		return;
	WARN_ON_ONCE(vcpu == NULL && !kvm_arch_allow_write_without_running_vcpu(kvm));

	if (memslot == NULL || !kvm_slot_dirty_track_enabled(memslot))
		return;
	page = gfn - memslot->base_gfn;
	if (vcpu != NULL && kvm->dirty_ring_size != 0)
		kvm_dirty_ring_push(vcpu, ((u32)memslot->as_id << 16) | (u16)memslot->id, page);
	else if (memslot->dirty_bitmap != NULL)
		set_bit_le(page, memslot->dirty_bitmap);
}

/* KVM_RESET_DIRTY_RINGS: every vCPU's ring in turn; the entries reset, or -EINVAL without the ring. */
int kvm_vm_ioctl_reset_dirty_pages(struct kvm *kvm)
{
	int cleared = 0;

	if (kvm->dirty_ring_size == 0)
		return -EINVAL;

	mutex_lock(&kvm->slots_lock);
	for (int i = 0; i < kvm->created_vcpus; i++) {
		struct kvm_vcpu *vcpu = kvm->vcpus[i];

		if (vcpu != NULL && kvm_dirty_ring_reset(kvm, &vcpu->dirty_ring, &cleared) != 0)
			break; /* a signal: what was reset so far counts */
	}
	mutex_unlock(&kvm->slots_lock);

	/* Pages were re-protected: no stale writable translation may stay. */
	if (cleared != 0)
		kvm_arch_flush_remote_tlbs(kvm);
	return cleared;
}

/*
 * KVM_GET_DIRTY_LOG without manual protect: take the memslot's bitmap word by word
 * (xchg with 0, as vCPUs may set bits meanwhile), re-protect each word's pages as one
 * batch, and copy the words taken to userspace.
 */
static int kvm_get_dirty_log_protect(struct kvm *kvm, struct kvm_dirty_log *log)
{
	int as_id = log->slot >> 16;
	int id = log->slot & 0xffff;
	struct kvm_memory_slot *memslot;
	unsigned long *taken, words;
	bool protected_any = false;

	if (!kvm_use_dirty_bitmap(kvm))
		return -ENXIO; /* the ring alone tracks this VM */
	if (as_id >= kvm_arch_nr_memslot_as_ids(kvm) || id >= KVM_USER_MEM_SLOTS)
		return -EINVAL;
	memslot = id_to_memslot(__kvm_memslots(kvm, as_id), id);
	if (memslot == NULL || memslot->dirty_bitmap == NULL)
		return -ENOENT;

	words = kvm_dirty_bitmap_bytes(memslot) / sizeof(unsigned long);
	taken = kvm_second_dirty_bitmap(memslot);
	KVM_MMU_LOCK(kvm);
	for (unsigned long w = 0; w < words; w++) {
		taken[w] = 0;
		if (memslot->dirty_bitmap[w] == 0)
			continue;
		taken[w] = xchg(&memslot->dirty_bitmap[w], 0);
		kvm_arch_mmu_enable_log_dirty_pt_masked(kvm, memslot, w * BITS_PER_LONG, taken[w]);
		protected_any = true;
	}
	KVM_MMU_UNLOCK(kvm);

	if (protected_any)
		kvm_arch_flush_remote_tlbs(kvm);

	/* copy_to_user: dirtyspec: into the kit's buffer, which the glue has checked holds them all. */
	memcpy(log->dirty_bitmap, taken, words * sizeof(unsigned long));
	return 0;
}

int kvm_vm_ioctl_get_dirty_log(struct kvm *kvm, struct kvm_dirty_log *log)
{
	int ret;

	mutex_lock(&kvm->slots_lock);
	ret = kvm_get_dirty_log_protect(kvm, log);
	mutex_unlock(&kvm->slots_lock);
	return ret;
}

struct kvm *kvm_create_vm(enum kvm_arch_kind kind)
{
	struct kvm *kvm = (struct kvm *)kzalloc(sizeof(*kvm), GFP_KERNEL);

	if (kvm)
		kvm->arch.kind = kind;
	return kvm;
}

/* No callback: the rings are the kit's memory, gone with its sequence. */
void kvm_destroy_vm(struct kvm *kvm)
{
	for (int i = 0; i < KVM_MAX_VCPUS; i++) {
		struct kvm_vcpu *vcpu = kvm->vcpus[i];

		if (!vcpu)
			continue;
		kvm_dirty_ring_free(&vcpu->dirty_ring);
		kfree(vcpu->run);
		kfree(vcpu);
	}
	for (int as = 0; as < KVM_MAX_NR_ADDRESS_SPACES; as++)
		for (int i = 0; i < kvm->memslots[as].nr; i++)
			kvm_free_memslot(kvm->memslots[as].slots[i]);
	kfree(kvm);
}
