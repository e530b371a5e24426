/*
 * A KVM VM's dirty log (profile kvm-dirty-log, conformance/protocol/PROTOCOL.md): memslots
 * (KVM_SET_USER_MEMORY_REGION), KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2),
 * KVM_GET_DIRTY_LOG, KVM_CLEAR_DIRTY_LOG and a vCPU writing guest pages, after Linux v6.14
 * virt/kvm/kvm_main.c. Every function returns 0 or the kernel's negative errno.
 */
#ifndef DIRTYSPEC_KVM_DIRTY_LOG_H
#define DIRTYSPEC_KVM_DIRTY_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KVM_MEM_LOG_DIRTY_PAGES (1u << 0)
#define KVM_MEM_READONLY (1u << 1)
#define KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 168
#define KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE (1u << 0)
#define KVM_DIRTY_LOG_INITIALLY_SET (1u << 1)
/* What KVM_CHECK_EXTENSION(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) returns. */
#define KVM_DIRTY_LOG_MANUAL_CAPS (KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET)
/*
 * The dirty ring's capabilities: x86 (v6.1 on) answers both with KVM_DIRTY_RING_MAX_ENTRIES *
 * sizeof(struct kvm_dirty_gfn). The kit puts the VM in the ring's exclusive mode (GET and
 * CLEAR -ENXIO) only where one of them is non-zero.
 */
#define KVM_CAP_DIRTY_LOG_RING 192
#define KVM_CAP_DIRTY_LOG_RING_ACQ_REL 223
#define KVM_DIRTY_RING_MAX_BYTES (65536 * 16)
/* x86: KVM_MEM_SLOTS_NUM (SHRT_MAX) - KVM_INTERNAL_MEM_SLOTS (3). */
#define KVM_USER_MEM_SLOTS 32764
/* x86 with SMM: two address spaces. */
#define KVM_ADDRESS_SPACE_NUM 2
/* x86-64 TASK_SIZE_MAX: user addresses at or past it fail access_ok. */
#define KVM_USER_ADDRESS_LIMIT UINT64_C(0x7ffffffff000)

/*
 * The race: `between` is called between two of the VM's memory accesses inside an ioctl
 * (a word of a dirty bitmap); it stores up to `max` guest physical addresses the vCPU
 * writes now in `gpas` and returns how many. The VM performs them before going on.
 */
struct kvm_vcpu_races {
	void *ctx;
	size_t (*between)(void *ctx, uint64_t *gpas, size_t max);
};

struct kvm_region {
	uint32_t slot; /* as_id << 16 | id */
	uint32_t flags;
	uint64_t guest_phys_addr, memory_size, userspace_addr;
};

struct kvm_vm;

/* NULL when out of memory. `dirty_ring_exclusive`: GET and CLEAR are -ENXIO. */
struct kvm_vm *kvm_vm_create(bool dirty_ring_exclusive, const struct kvm_vcpu_races *races);
void kvm_vm_free(struct kvm_vm *vm);
int kvm_set_user_memory_region(struct kvm_vm *vm, const struct kvm_region *r);
int kvm_enable_cap(struct kvm_vm *vm, uint32_t cap, uint32_t flags, uint64_t args0);
int kvm_check_extension(const struct kvm_vm *vm, uint32_t cap);
/* `out` holds `out_bytes` writable bytes; on 0 the first ALIGN(npages, 64) / 8 are the bitmap, *bitmap_bytes that size. */
int kvm_get_dirty_log(struct kvm_vm *vm, uint32_t slot, uint8_t *out, size_t out_bytes, size_t *bitmap_bytes);
/* `bitmap` is the `bitmap_bytes` bytes the kernel can read at dirty_bitmap. */
int kvm_clear_dirty_log(struct kvm_vm *vm, uint32_t slot, uint64_t first_page, uint32_t num_pages, const uint8_t *bitmap, size_t bitmap_bytes);
/* The vCPU writes the page at `gpa` (address space 0): true when it went through, false for an MMIO exit. */
bool kvm_vcpu_write(struct kvm_vm *vm, uint64_t gpa);
void kvm_write_without_vcpu(struct kvm_vm *vm, uint64_t gpa);

#endif
