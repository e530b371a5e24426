/*
 * A KVM VM's dirty log, after Linux v6.14 virt/kvm/kvm_main.c: kvm_set_memory_region's
 * checks in their order, kvm_get_dirty_log_protect, kvm_clear_dirty_log_protect and
 * kvm_vm_ioctl_enable_cap_generic (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2).
 *
 * The guest side is simplified where the black box cannot tell: every vCPU write to a
 * logging slot sets its page's bit (the kernel sets it on the write fault of a protected
 * page, then lets later writes through until the page is protected again by GET or
 * CLEAR; both report exactly the pages written since their bit was last cleared). What
 * the kit does see is kept: a bitmap word is taken by one exchange and cleared by one
 * and-not, with the vCPU's racing writes between two words; without manual protect a GET
 * whose buffer faults has already taken the bitmap (the dirty state is lost, KVM-LOG-7).
 *
 * -DDIRTYSPEC_FAULT builds a real way to get it wrong: GET without manual protect takes a
 * bitmap word with a plain load and a plain store, and the vCPU may run between them.
 */
#include "kvm_dirty_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_SIZE UINT64_C(4096)
/* KVM_MEM_MAX_NR_PAGES: (1UL << 31) - 1. */
#define KVM_MEM_MAX_NR_PAGES ((UINT64_C(1) << 31) - 1)
#define MAX_RACING_WRITES 64

struct memslot {
	uint32_t slot;
	uint32_t flags;
	uint64_t base_gfn, npages, userspace_addr;
	/* One bit per page while KVM_MEM_LOG_DIRTY_PAGES is set; NULL otherwise. */
	uint64_t *dirty_bitmap;
};

struct kvm_vm {
	bool dirty_ring_exclusive;
	struct kvm_vcpu_races races;
	/* kvm->manual_dirty_log_protect: args[0] of the last successful KVM_ENABLE_CAP. */
	uint64_t manual_dirty_log_protect;
	struct memslot *slots;
	size_t count, cap;
};

static uint64_t words_of(uint64_t npages)
{
	return (npages + 63) / 64;
}

struct kvm_vm *kvm_vm_create(bool dirty_ring_exclusive, const struct kvm_vcpu_races *races)
{
	struct kvm_vm *vm = calloc(1, sizeof(*vm));

	if (vm == NULL)
		return NULL;
	vm->dirty_ring_exclusive = dirty_ring_exclusive;
	if (races != NULL)
		vm->races = *races;
	return vm;
}

void kvm_vm_free(struct kvm_vm *vm)
{
	if (vm == NULL)
		return;
	for (size_t i = 0; i < vm->count; i++)
		free(vm->slots[i].dirty_bitmap);
	free(vm->slots);
	free(vm);
}

static struct memslot *find_slot(struct kvm_vm *vm, uint32_t slot)
{
	for (size_t i = 0; i < vm->count; i++)
		if (vm->slots[i].slot == slot)
			return &vm->slots[i];
	return NULL;
}

static bool slot_id_invalid(uint32_t slot)
{
	return (slot >> 16) >= KVM_ADDRESS_SPACE_NUM || (slot & 0xffff) >= KVM_USER_MEM_SLOTS;
}

/* A bitmap of npages bits: zero, or under KVM_DIRTY_LOG_INITIALLY_SET every page set (kvm_alloc_dirty_bitmap, then bitmap_set). */
static uint64_t *alloc_bitmap(const struct kvm_vm *vm, uint64_t npages)
{
	uint64_t words = words_of(npages);
	uint64_t *b = calloc(words == 0 ? 1 : words, sizeof(uint64_t));

	if (b != NULL && (vm->manual_dirty_log_protect & KVM_DIRTY_LOG_INITIALLY_SET) != 0)
		for (uint64_t p = 0; p < npages; p++)
			b[p / 64] |= UINT64_C(1) << (p % 64);
	return b;
}

static bool overlaps(const struct kvm_vm *vm, uint32_t slot, uint64_t gfn, uint64_t npages)
{
	for (size_t i = 0; i < vm->count; i++) {
		const struct memslot *s = &vm->slots[i];

		if (s->slot == slot || (s->slot >> 16) != (slot >> 16))
			continue;
		if (s->base_gfn < gfn + npages && gfn < s->base_gfn + s->npages)
			return true;
	}
	return false;
}

int kvm_set_user_memory_region(struct kvm_vm *vm, const struct kvm_region *r)
{
	uint32_t valid = KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY;
	uint64_t size = r->memory_size, gpa = r->guest_phys_addr, uaddr = r->userspace_addr;
	uint64_t npages = size / PAGE_SIZE, gfn = gpa / PAGE_SIZE;
	struct memslot *old = find_slot(vm, r->slot);
	bool log = (r->flags & KVM_MEM_LOG_DIRTY_PAGES) != 0;
	bool moves;

	/* check_memory_region_flags, then kvm_set_memory_region's sanity checks, in order. */
	if ((r->slot & 0xffff) >= KVM_USER_MEM_SLOTS)
		return -EINVAL;
	if ((r->flags & ~valid) != 0)
		return -EINVAL;
	if (size % PAGE_SIZE != 0 || gpa % PAGE_SIZE != 0)
		return -EINVAL;
	if (uaddr % PAGE_SIZE != 0 || size > KVM_USER_ADDRESS_LIMIT || uaddr > KVM_USER_ADDRESS_LIMIT - size)
		return -EINVAL;
	if ((r->slot >> 16) >= KVM_ADDRESS_SPACE_NUM)
		return -EINVAL;
	if (size != 0 && gpa >= (uint64_t)0 - size)
		return -EINVAL;
	if (npages > KVM_MEM_MAX_NR_PAGES)
		return -EINVAL;
	if (size == 0) {
		if (old == NULL)
			return -EINVAL;
		free(old->dirty_bitmap);
		*old = vm->slots[--vm->count];
		return 0;
	}
	if (old == NULL) {
		struct memslot s = { r->slot, r->flags, gfn, npages, uaddr, NULL };

		if (overlaps(vm, r->slot, gfn, npages))
			return -EEXIST;
		if (log && (s.dirty_bitmap = alloc_bitmap(vm, npages)) == NULL)
			return -ENOMEM;
		if (vm->count == vm->cap) {
			size_t cap = vm->cap == 0 ? 8 : vm->cap * 2;
			struct memslot *slots = realloc(vm->slots, cap * sizeof(*slots));

			if (slots == NULL) {
				free(s.dirty_bitmap);
				return -ENOMEM;
			}
			vm->slots = slots;
			vm->cap = cap;
		}
		vm->slots[vm->count++] = s;
		return 0;
	}
	/* An existing slot: its address, size and READONLY flag are immutable. */
	if (old->userspace_addr != uaddr || old->npages != npages || ((old->flags ^ r->flags) & KVM_MEM_READONLY) != 0)
		return -EINVAL;
	moves = old->base_gfn != gfn;
	if (!moves && old->flags == r->flags)
		return 0;
	if (moves && overlaps(vm, r->slot, gfn, npages))
		return -EEXIST;
	/* A move keeps the bitmap (indexed by page of the slot); logging on allocates one, off frees it. */
	if (log && old->dirty_bitmap == NULL && (old->dirty_bitmap = alloc_bitmap(vm, npages)) == NULL)
		return -ENOMEM;
	if (!log) {
		free(old->dirty_bitmap);
		old->dirty_bitmap = NULL;
	}
	old->base_gfn = gfn;
	old->flags = r->flags;
	return 0;
}

int kvm_enable_cap(struct kvm_vm *vm, uint32_t cap, uint32_t flags, uint64_t args0)
{
	if (cap != KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 || flags != 0)
		return -EINVAL;
	if ((args0 & ~(uint64_t)KVM_DIRTY_LOG_MANUAL_CAPS) != 0)
		return -EINVAL;
	if (args0 == KVM_DIRTY_LOG_INITIALLY_SET)
		return -EINVAL;
	vm->manual_dirty_log_protect = args0;
	return 0;
}

int kvm_check_extension(const struct kvm_vm *vm, uint32_t cap)
{
	(void)vm;
	if (cap == KVM_CAP_DIRTY_LOG_RING || cap == KVM_CAP_DIRTY_LOG_RING_ACQ_REL)
		return KVM_DIRTY_RING_MAX_BYTES;
	return cap == KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 ? KVM_DIRTY_LOG_MANUAL_CAPS : 0;
}

bool kvm_vcpu_write(struct kvm_vm *vm, uint64_t gpa)
{
	uint64_t gfn = gpa / PAGE_SIZE;

	for (size_t i = 0; i < vm->count; i++) {
		struct memslot *s = &vm->slots[i];

		if ((s->slot >> 16) != 0 || gfn < s->base_gfn || gfn >= s->base_gfn + s->npages)
			continue;
		if ((s->flags & KVM_MEM_READONLY) != 0)
			return false;
		if (s->dirty_bitmap != NULL)
			s->dirty_bitmap[(gfn - s->base_gfn) / 64] |= UINT64_C(1) << ((gfn - s->base_gfn) % 64);
		return true;
	}
	return false;
}

/*
 * KVM's own write of the guest page at `gpa`, without a running vCPU (kvm_write_guest from
 * an ioctl): mark_page_dirty_in_slot sets the logging slot's bit, as for a vCPU's write.
 */
void kvm_write_without_vcpu(struct kvm_vm *vm, uint64_t gpa)
{
	(void)kvm_vcpu_write(vm, gpa);
}

/* Another CPU runs the guest now: its writes land before the VM's next access. */
static void vcpu_runs(struct kvm_vm *vm)
{
	uint64_t gpas[MAX_RACING_WRITES];
	size_t n;

	if (vm->races.between == NULL)
		return;
	n = vm->races.between(vm->races.ctx, gpas, MAX_RACING_WRITES);
	for (size_t i = 0; i < n && i < MAX_RACING_WRITES; i++)
		kvm_vcpu_write(vm, gpas[i]);
}

int kvm_get_dirty_log(struct kvm_vm *vm, uint32_t slot, uint8_t *out, size_t out_bytes, size_t *bitmap_bytes)
{
	struct memslot *s;
	uint64_t words, need;
	bool manual = (vm->manual_dirty_log_protect & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE) != 0;

	if (vm->dirty_ring_exclusive)
		return -ENXIO;
	if (slot_id_invalid(slot))
		return -EINVAL;
	s = find_slot(vm, slot);
	if (s == NULL || s->dirty_bitmap == NULL)
		return -ENOENT;
	words = words_of(s->npages);
	need = words * 8;
	*bitmap_bytes = (size_t)need;
	if (manual) {
		/* Manual protect: a snapshot, nothing cleared or protected. */
		if (out_bytes < need)
			return -EFAULT;
		for (uint64_t w = 0; w < words; w++) {
			vcpu_runs(vm);
			for (int b = 0; b < 8; b++)
				out[w * 8 + b] = (uint8_t)(s->dirty_bitmap[w] >> (8 * b));
		}
		return 0;
	}
	/* Each word taken by one exchange (xchg), before the copy to the user can fault. */
	for (uint64_t w = 0; w < words; w++) {
		uint64_t v;

		vcpu_runs(vm);
#ifdef DIRTYSPEC_FAULT
		/*
		 * FAULT: the word taken by a plain load and a plain store of 0 instead of one
		 * xchg (kvm_get_dirty_log_protect's `mask = xchg(&dirty_bitmap[i], 0)`): a vCPU
		 * that sets a bit of the word between the two loses it.
		 */
		v = s->dirty_bitmap[w];
		vcpu_runs(vm);
		s->dirty_bitmap[w] = 0;
#else
		v = s->dirty_bitmap[w];
		s->dirty_bitmap[w] = 0;
#endif
		if (out_bytes >= need)
			for (int b = 0; b < 8; b++)
				out[w * 8 + b] = (uint8_t)(v >> (8 * b));
	}
	return out_bytes < need ? -EFAULT : 0;
}

int kvm_clear_dirty_log(struct kvm_vm *vm, uint32_t slot, uint64_t first_page, uint32_t num_pages, const uint8_t *bitmap, size_t bitmap_bytes)
{
	struct memslot *s;
	uint64_t words = words_of(num_pages);

	if (vm->dirty_ring_exclusive)
		return -ENXIO;
	if (slot_id_invalid(slot))
		return -EINVAL;
	if ((first_page & 63) != 0)
		return -EINVAL;
	s = find_slot(vm, slot);
	if (s == NULL || s->dirty_bitmap == NULL)
		return -ENOENT;
	if (first_page > s->npages || num_pages > s->npages - first_page)
		return -EINVAL;
	if (num_pages < s->npages - first_page && (num_pages & 63) != 0)
		return -EINVAL;
	if (bitmap_bytes < words * 8)
		return -EFAULT;
	for (uint64_t w = 0; w < words; w++) {
		uint64_t mask = 0;
		uint64_t page = first_page + w * 64;

		for (int b = 0; b < 8; b++)
			mask |= (uint64_t)bitmap[w * 8 + b] << (8 * b);
		/* Bits for pages past the slot's end are ignored. */
		if (s->npages - page < 64)
			mask &= (UINT64_C(1) << (s->npages - page)) - 1;
		vcpu_runs(vm);
		s->dirty_bitmap[page / 64] &= ~mask;
	}
	return 0;
}
