/* SPDX-License-Identifier: MIT */
/*
 * kvm_host.h: the types and constants dirty_ring.c, kvm_main.c and arch.c use, named and
 * valued as Linux v6.18's include/uapi/linux/kvm.h, include/linux/kvm_host.h,
 * include/linux/kvm_dirty_ring.h and the x86 and arm64 arch headers have them, declared
 * for this example with only the dirty ring's part of a VM. One VM
 * plays x86 or arm64, chosen when it is created (kvm->arch.kind): the CONFIG_ options
 * that differ between the two are predicates on the VM here (kvm_config_*).
 *
 * Under dirtyspec the ring's memory is the kit's: the fields of struct kvm_dirty_gfn are
 * dirtyspec_ring_u32 / _u64 (dirtyspec/linux.h), so every access to them is one callback
 * with the order its kernel accessor has. That, and `kit_base` in struct kvm_dirty_ring,
 * are the only changes to the kernel's types.
 */
#ifndef KERNEL_DIRTY_RING_KVM_HOST_H
#define KERNEL_DIRTY_RING_KVM_HOST_H

#include <dirtyspec/linux.h>
#include <limits.h>

/* ---- include/uapi/linux/kvm.h ------------------------------------------------------- */

#define KVM_EXIT_HLT 5
#define KVM_EXIT_DIRTY_RING_FULL 31

#define KVM_CAP_DIRTY_LOG_RING 192
#define KVM_CAP_DIRTY_LOG_RING_ACQ_REL 223
#define KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP 225

#define KVM_MEM_LOG_DIRTY_PAGES (1UL << 0)

#define KVM_DIRTY_GFN_F_DIRTY BIT(0)
#define KVM_DIRTY_GFN_F_RESET BIT(1)
#define KVM_DIRTY_GFN_F_MASK 0x3

/* The uAPI's fields are __u32, __u32, __u64: here each access reaches the kit's ring memory. */
struct kvm_dirty_gfn {
	dirtyspec_ring_u32 flags;
	dirtyspec_ring_u32 slot; /* as_id << 16 | id */
	dirtyspec_ring_u64 offset;
};
static_assert(sizeof(struct kvm_dirty_gfn) == 16, "struct kvm_dirty_gfn is 16 bytes");

struct kvm_enable_cap {
	u32 cap;
	u32 flags;
	u64 args[4];
};

struct kvm_dirty_log {
	u32 slot;
	void *dirty_bitmap;
};

struct kvm_userspace_memory_region {
	u32 slot; /* as_id << 16 | id */
	u32 flags;
	u64 guest_phys_addr;
	u64 memory_size;
	u64 userspace_addr;
};

struct kvm_run {
	u32 exit_reason;
};

/* ---- include/linux/kvm_dirty_ring.h ------------------------------------------------- */

/* The entries always kept free: the vCPU's pushes between the soft limit and its exit. */
#define KVM_DIRTY_RING_RSVD_ENTRIES 64
/* The largest ring: 65536 entries, 1 MiB. */
#define KVM_DIRTY_RING_MAX_ENTRIES 65536

struct kvm_dirty_ring {
	u32 dirty_index;
	u32 reset_index;
	u32 size;
	u32 soft_limit;
	struct kvm_dirty_gfn *dirty_gfns;
	int index;
	/* dirtyspec: the kit's address of the ring (what userspace mmaps), from KVM_CREATE_VCPU. */
	u64 kit_base;
};

struct kvm;
struct kvm_vcpu;

/* dirtyspec: which build of dirty_ring.c this is (its -D flag), for the library's hello. */
extern const char kvm_dirty_ring_build[];
int kvm_cpu_dirty_log_size(struct kvm *kvm);
u32 kvm_dirty_ring_get_rsvd_entries(struct kvm *kvm);
bool kvm_use_dirty_bitmap(struct kvm *kvm);
bool kvm_arch_allow_write_without_running_vcpu(struct kvm *kvm);
int kvm_dirty_ring_alloc(struct kvm *kvm, struct kvm_dirty_ring *ring, int index, u32 size);
int kvm_dirty_ring_reset(struct kvm *kvm, struct kvm_dirty_ring *ring, int *nr_entries_reset);
void kvm_dirty_ring_push(struct kvm_vcpu *vcpu, u32 slot, u64 offset);
bool kvm_dirty_ring_check_request(struct kvm_vcpu *vcpu);
void kvm_dirty_ring_free(struct kvm_dirty_ring *ring);

/* ---- include/linux/kvm_host.h ------------------------------------------------------- */

typedef u64 gfn_t;

/* include/asm-generic/bitops/__fls.h, __ffs.h: the highest and the lowest set bit (undefined for 0, as there). */
static inline unsigned long __fls(unsigned long word) { return BITS_PER_LONG - 1 - __builtin_clzl(word); }
static inline unsigned long __ffs(unsigned long word) { return __builtin_ctzl(word); }

#define PAGE_SHIFT 12
#define PAGE_SIZE (1UL << PAGE_SHIFT)

/* KVM_MEM_SLOTS_NUM (SHRT_MAX) less the arch's internal ones: x86 has 3, arm64 none. */
#define KVM_MEM_SLOTS_NUM SHRT_MAX
#define KVM_X86_INTERNAL_MEM_SLOTS 3
/* x86's SMM address space: the most any arch has. */
#define KVM_MAX_NR_ADDRESS_SPACES 2
#define KVM_MAX_VCPUS 8
/* dirtyspec: the memslots one address space holds here (the kit makes two). */
#define DIRTYSPEC_MAX_MEMSLOTS 8

/* The page tables' write permission of each page of a memslot (x86 TDP MMU, arm64 stage 2): 1 write-protected. */
struct kvm_arch_memory_slot {
	u8 *write_protected;
};

struct kvm_memory_slot {
	gfn_t base_gfn;
	unsigned long npages;
	unsigned long *dirty_bitmap;
	struct kvm_arch_memory_slot arch;
	u32 flags;
	short id;
	u16 as_id;
};

struct kvm_memslots {
	struct kvm_memory_slot *slots[DIRTYSPEC_MAX_MEMSLOTS];
	int nr;
};

enum kvm_arch_kind { KVM_ARCH_X86 = 1, KVM_ARCH_ARM64 = 2 };

struct kvm_arch {
	enum kvm_arch_kind kind;
};

/* Single-threaded here (the kit calls one function at a time): the locks have nothing to exclude. */
struct mutex {
	int unused;
};

struct kvm {
	struct mutex lock;
	struct mutex slots_lock;
	struct kvm_arch arch;
	struct kvm_memslots memslots[KVM_MAX_NR_ADDRESS_SPACES];
	struct kvm_vcpu *vcpus[KVM_MAX_VCPUS];
	int created_vcpus;
	u32 dirty_ring_size;
	bool dirty_ring_with_bitmap;
	/* dirtyspec: the ring address KVM_CREATE_VCPU was given, for kvm_dirty_ring_alloc. */
	u64 next_ring_base;
};

#define KVM_REQ_DIRTY_RING_SOFT_FULL 0

struct kvm_vcpu {
	struct kvm *kvm;
	int vcpu_id;
	unsigned long requests;
	struct kvm_run *run;
	struct kvm_dirty_ring dirty_ring;
};

/* The CONFIG_ options that differ between the two arches (arch/x86/kvm/Kconfig, arch/arm64/kvm/Kconfig). */
static inline bool kvm_config_have_dirty_ring_tso(struct kvm *kvm) { return kvm->arch.kind == KVM_ARCH_X86; }
static inline bool kvm_config_have_dirty_ring_acq_rel(struct kvm *) { return true; }
static inline bool kvm_config_need_dirty_ring_with_bitmap(struct kvm *kvm) { return kvm->arch.kind == KVM_ARCH_ARM64; }

static inline int kvm_user_mem_slots(struct kvm *kvm)
{
	return KVM_MEM_SLOTS_NUM - (kvm->arch.kind == KVM_ARCH_X86 ? KVM_X86_INTERNAL_MEM_SLOTS : 0);
}
#define KVM_USER_MEM_SLOTS kvm_user_mem_slots(kvm)

int kvm_arch_nr_memslot_as_ids(struct kvm *kvm);

static inline struct kvm_memslots *__kvm_memslots(struct kvm *kvm, int as_id)
{
	return &kvm->memslots[as_id];
}

static inline struct kvm_memory_slot *id_to_memslot(struct kvm_memslots *slots, int id)
{
	for (int i = 0; i < slots->nr; i++)
		if (slots->slots[i]->id == id)
			return slots->slots[i];
	return NULL;
}

static inline bool kvm_slot_dirty_track_enabled(const struct kvm_memory_slot *slot)
{
	return slot->flags & KVM_MEM_LOG_DIRTY_PAGES;
}

static inline unsigned long kvm_dirty_bitmap_bytes(struct kvm_memory_slot *memslot)
{
	return ALIGN(memslot->npages, BITS_PER_LONG) / 8;
}

static inline unsigned long *kvm_second_dirty_bitmap(struct kvm_memory_slot *memslot)
{
	unsigned long len = kvm_dirty_bitmap_bytes(memslot);

	return memslot->dirty_bitmap + len / sizeof(*memslot->dirty_bitmap);
}

static inline void kvm_make_request(int req, struct kvm_vcpu *vcpu)
{
	vcpu->requests |= BIT(req);
}

static inline bool kvm_request_pending(struct kvm_vcpu *vcpu)
{
	return READ_ONCE(vcpu->requests);
}

static inline bool kvm_check_request(int req, struct kvm_vcpu *vcpu)
{
	if (vcpu->requests & BIT(req)) {
		vcpu->requests &= ~BIT(req);
		return true;
	}
	return false;
}

/* The vCPU whose KVM_RUN is in progress on this CPU (vcpu_load), or NULL in a VM ioctl. */
extern struct kvm_vcpu *kvm_running_vcpu;
static inline struct kvm_vcpu *kvm_get_running_vcpu(void)
{
	return kvm_running_vcpu;
}

#define KVM_MMU_LOCK(kvm) ((void)(kvm))
#define KVM_MMU_UNLOCK(kvm) ((void)(kvm))
#define lockdep_assert_held(l) ((void)(l))
#define mutex_lock(l) ((void)(l))
#define mutex_unlock(l) ((void)(l))
#define cond_resched() ((void)0)
#ifdef DIRTYSPEC_SIGNALS
/* The task's signals are the kit's (ABI version 4): a signal the kit made pending in this ioctl. */
#define signal_pending(task) ((void)(task), dirtyspec_current->signal_pending(dirtyspec_current->ctx))
#else
#define signal_pending(task) ((void)(task), false)
#endif
#define current NULL
#define trace_kvm_dirty_ring_reset(ring) ((void)(ring))
#define trace_kvm_dirty_ring_push(ring, slot, offset) ((void)(ring))
#define trace_kvm_dirty_ring_exit(vcpu) ((void)(vcpu))

/* kvm_main.c */
long kvm_vm_ioctl_check_extension_generic(struct kvm *kvm, long arg);
int kvm_vm_ioctl_enable_cap_generic(struct kvm *kvm, struct kvm_enable_cap *cap);
int kvm_vm_ioctl_create_vcpu(struct kvm *kvm, unsigned long id);
int kvm_vm_ioctl_set_memory_region(struct kvm *kvm, const struct kvm_userspace_memory_region *mem);
int kvm_vm_ioctl_reset_dirty_pages(struct kvm *kvm);
int kvm_vm_ioctl_get_dirty_log(struct kvm *kvm, struct kvm_dirty_log *log);
void mark_page_dirty_in_slot(struct kvm *kvm, const struct kvm_memory_slot *memslot, gfn_t gfn);
struct kvm *kvm_create_vm(enum kvm_arch_kind kind);
void kvm_destroy_vm(struct kvm *kvm);

/* arch.c: the x86 and arm64 lines these call. */
int kvm_vm_ioctl_check_extension(struct kvm *kvm, long ext);
int kvm_vm_ioctl_enable_cap(struct kvm *kvm, struct kvm_enable_cap *cap);
void kvm_arch_mmu_enable_log_dirty_pt_masked(struct kvm *kvm, struct kvm_memory_slot *slot, gfn_t gfn_offset, unsigned long mask);
void kvm_arch_commit_memory_region(struct kvm *kvm, struct kvm_memory_slot *new_slot);
void kvm_arch_flush_remote_tlbs(struct kvm *kvm);

/*
 * dirtyspec: the guest's program for one KVM_RUN, the pages it writes in order, then HLT
 * (what the kit asks of the vCPU); `done` counts the writes made.
 */
struct kvm_guest_program {
	const struct dirtyspec_kvm_guest_write *writes;
	u32 n;
	u32 done;
};
int kvm_arch_vcpu_ioctl_run(struct kvm_vcpu *vcpu, struct kvm_guest_program *guest);

#endif /* KERNEL_DIRTY_RING_KVM_HOST_H */
