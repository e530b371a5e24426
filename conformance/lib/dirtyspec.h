/*
 * dirtyspec.h: the C ABI of the dirtyspec conformance kit, version 4.
 *
 *   dirtyspec run --lib ./libimpl.so
 *
 * loads a shared library exporting the functions below and checks it, in process, with
 * the same engine, verdicts and replay as --adapter and --exec. The contract is
 * conformance/lib/C-ABI.md; what each operation must do is conformance/ADAPTERS.md.
 *
 * The kit passes, to each create, a table of callbacks (struct dirtyspec_kit): the
 * memory it owns (page tables, context descriptors), frames, the SMMU port, the user's
 * bitmap buffer, the dirty rings and KVM's side of them, and the vCPU that races KVM's
 * dirty log. The implementation touches kit memory only through them, and
 * every callback is a point where the kit may interleave (a DMA write, a software
 * change), exactly as a protocol callback is.
 *
 * Single-threaded: the kit calls one function at a time, from one thread, and the
 * implementation makes callbacks only from that thread, while a function of its
 * instance is running. Errors are negative Linux errno values.
 */
#ifndef DIRTYSPEC_H
#define DIRTYSPEC_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The ABI version. Version 2 adds profiles kvm-dirty-log and dirty-ring-collector and
 * appends their callbacks to struct dirtyspec_kit; version 3 adds profile kvm-dirty-ring
 * (its functions and structs; struct dirtyspec_kit is version 2's, 200 bytes); version 4
 * appends signal_pending to struct dirtyspec_kit (208 bytes) and adds the optional
 * dirtyspec_kvm_dirty_ring_checks_signals. Everything of an earlier version is unchanged.
 * The kit offers 4 first and, each time
 * dirtyspec_hello refuses with -EPROTO, the next older one: a library built against
 * version 1 or 2 still loads (C-ABI.md, "Loading and versioning").
 */
#define DIRTYSPEC_ABI_VERSION 4

/* Profiles, as a bit mask in struct dirtyspec_hello. */
#define DIRTYSPEC_PROFILE_SMMU_HW (1u << 0)
#define DIRTYSPEC_PROFILE_SMMU_DRIVER (1u << 1)
#define DIRTYSPEC_PROFILE_IOVA_BITMAP (1u << 2)
#define DIRTYSPEC_PROFILE_VFIO_TYPE1 (1u << 3)
/* ABI version 2. */
#define DIRTYSPEC_PROFILE_KVM_DIRTY_LOG (1u << 4)
#define DIRTYSPEC_PROFILE_DIRTY_RING_COLLECTOR (1u << 6)
/* ABI version 3 (the bit was kept for it in version 2). */
#define DIRTYSPEC_PROFILE_KVM_DIRTY_RING (1u << 5)

/*
 * Memory orders of an access, the values of GCC's __ATOMIC_* (so the shim passes them
 * through), plus DIRTYSPEC_ORDER_PLAIN for an ordinary C access (no READ_ONCE). The kit's
 * memory is sequentially consistent: every access is single-copy atomic and the order
 * is checked (an unknown value makes the run undecided) but does not change what the
 * access does.
 */
#define DIRTYSPEC_ORDER_RELAXED 0
#define DIRTYSPEC_ORDER_CONSUME 1
#define DIRTYSPEC_ORDER_ACQUIRE 2
#define DIRTYSPEC_ORDER_RELEASE 3
#define DIRTYSPEC_ORDER_ACQ_REL 4
#define DIRTYSPEC_ORDER_SEQ_CST 5
#define DIRTYSPEC_ORDER_PLAIN 6

/* SMMU commands (ARM IHI 0070 E.a §4.4, §4.7), as the kit's port takes them. */
#define DIRTYSPEC_CMD_TLBI_NH_VA 1   /* asid, iova, size */
#define DIRTYSPEC_CMD_TLBI_NH_ASID 2 /* asid */
#define DIRTYSPEC_CMD_CFGI_CD 3      /* stream_id */
#define DIRTYSPEC_CMD_SYNC 4

struct dirtyspec_cmd {
	uint32_t op; /* DIRTYSPEC_CMD_* */
	uint32_t stream_id;
	uint32_t asid;
	uint32_t reserved; /* 0 */
	uint64_t iova;
	uint64_t size;
};

/* DMA results of profile smmu-hw: 0 is success, the rest are the fault kinds. */
#define DIRTYSPEC_DMA_OK 0
#define DIRTYSPEC_FAULT_TRANSLATION 1
#define DIRTYSPEC_FAULT_PERMISSION 2
#define DIRTYSPEC_FAULT_ACCESS_FLAG 3
#define DIRTYSPEC_FAULT_ADDRESS_SIZE 4
#define DIRTYSPEC_FAULT_BAD_STREAM 5

/*
 * The callbacks. Every create gets a pointer to one; it stays valid until the instance
 * is destroyed or freed. Pass `ctx` back as the first argument. Only the callbacks of
 * the instance's profile are set; the others are NULL.
 *
 * Memory (smmu-hw, smmu-driver): physical addresses, 8-byte aligned, in frames the kit
 * handed out. An access anywhere else makes the run undecided (the callback returns 0).
 *
 * Version 2 appended the members from vcpu_between on; `size` tells a library which it
 * has (a version-1 library never reads past fill_bytes). Version 3 appended nothing: its
 * struct is version 2's (size 200), with `abi` 3. Version 4 appended signal_pending (size
 * 208).
 */
struct dirtyspec_kit {
	uint32_t abi;  /* DIRTYSPEC_ABI_VERSION */
	uint32_t size; /* sizeof(struct dirtyspec_kit) */
	void *ctx;

	uint64_t (*load)(void *ctx, uint64_t pa, int order);
	void (*store)(void *ctx, uint64_t pa, uint64_t value, int order);
	/* Returns the old value; writes `replacement` only if the old value is `expected`. */
	uint64_t (*cmpxchg)(void *ctx, uint64_t pa, uint64_t expected, uint64_t replacement, int order);
	uint64_t (*xchg)(void *ctx, uint64_t pa, uint64_t value, int order);
	uint64_t (*fetch_or)(void *ctx, uint64_t pa, uint64_t mask, int order);
	uint64_t (*fetch_and)(void *ctx, uint64_t pa, uint64_t mask, int order);
	/* A zeroed 4 KiB frame: its physical address (never 0). */
	uint64_t (*alloc_frame)(void *ctx);
	void (*free_frame)(void *ctx, uint64_t pa);

	/* The kit's SMMU (smmu-driver): synchronous, like MMIO and the command queue. */
	void (*attach_stream)(void *ctx, uint32_t stream_id, uint64_t cd_pa);
	void (*detach_stream)(void *ctx, uint32_t stream_id);
	/* Everything before a DIRTYSPEC_CMD_SYNC is complete when it returns. */
	void (*submit)(void *ctx, const struct dirtyspec_cmd *cmds, uint32_t n);

	/* The user's bitmap buffer (iova-bitmap): 4 KiB pages, pinned before written. */
	bool (*pin)(void *ctx, uint64_t page);
	void (*unpin)(void *ctx, uint64_t page);
	void (*or_byte)(void *ctx, uint64_t page, uint32_t offset, uint32_t mask);
	void (*fill_bytes)(void *ctx, uint64_t page, uint32_t start, uint32_t end, uint32_t value);

	/* ---- version 2 ---- */

	/*
	 * kvm-dirty-log: call it between any two of the VM's memory accesses inside an ioctl
	 * (a word of a dirty bitmap, a stage-2 entry). The kit stores the guest physical
	 * addresses the vCPU writes now (address space 0) in gpas[0..n) and returns n, at most
	 * `max` (pass DIRTYSPEC_KVM_MAX_RACING_WRITES); perform those writes with the vCPU
	 * before going on.
	 */
	uint32_t (*vcpu_between)(void *ctx, uint64_t *gpas, uint32_t max);

	/*
	 * dirty-ring-collector and (version 3) kvm-dirty-ring: the rings, in the kit's memory
	 * (struct kvm_dirty_gfn: flags u32 at +0, slot u32 at +4, offset u64 at +8), each
	 * access one naturally aligned field with its order: loads DIRTYSPEC_ORDER_RELAXED or
	 * _ACQUIRE, stores _RELAXED or _RELEASE. Unlike the SMMU memory above, this memory is
	 * not sequentially consistent: a relaxed store may become visible to the other side
	 * late, a store-release carries the stores before it to a load-acquire that reads it.
	 * In kvm-dirty-ring the library is KVM (the vCPU's pushes, KVM_RESET_DIRTY_RINGS) and
	 * the kit the collector; the other four callbacks below are the collector's only.
	 */
	uint32_t (*ring_load32)(void *ctx, uint64_t addr, int order);
	uint64_t (*ring_load64)(void *ctx, uint64_t addr, int order);
	void (*ring_store32)(void *ctx, uint64_t addr, uint32_t value, int order);
	void (*ring_store64)(void *ctx, uint64_t addr, uint64_t value, int order);
	/* KVM_RESET_DIRTY_RINGS: the entries reset, or a negative errno. */
	int32_t (*reset_dirty_rings)(void *ctx);
	/* Sends the page's current contents to the migration's destination. */
	void (*copy_page)(void *ctx, uint32_t slot, uint64_t offset);
	/*
	 * KVM_GET_DIRTY_LOG of a memslot (WITH_BITMAP only), read and cleared: writes its
	 * ALIGN(npages, 64) / 8 bytes to `bitmap` (`bytes` writable bytes) and returns that
	 * length. A `bytes` below it makes the run undecided.
	 */
	uint64_t (*get_dirty_log)(void *ctx, uint32_t slot, uint8_t *bitmap, uint64_t bytes);

	/* ---- version 4 ---- */

	/*
	 * kvm-dirty-ring: signal_pending(current) in the task making KVM_RESET_DIRTY_RINGS, which
	 * Linux v6.17+ checks before each entry (49005a2a3d2a). True once the kit has made a
	 * signal pending in that call, until it returns; false anywhere else, and always for a
	 * library whose dirtyspec_kvm_dirty_ring_checks_signals() is absent or false.
	 */
	bool (*signal_pending)(void *ctx);
};

/*
 * A dirty bitmap the implementation fills: bit i (bit i % 8 of byte i / 8) is the 4 KiB
 * page at iova + i * 4096. The kit owns `bytes` (cap bytes, zeroed) and sets iova, size
 * and cap; the implementation sets `len`, the bytes it answers (ALIGN(pages, 64) / 8 for
 * the range; 0 in vfio-type1 when the call returns no bitmap). A len above cap, or not
 * the length the range needs, makes the run undecided.
 */
struct dirtyspec_bitmap {
	uint8_t *bytes;
	uint64_t iova;
	uint64_t size;
	uint64_t cap;
	uint64_t len;
};

struct dirtyspec_hello {
	uint32_t abi;      /* DIRTYSPEC_ABI_VERSION */
	uint32_t profiles; /* DIRTYSPEC_PROFILE_* it implements */
	const char *name;  /* 1 to 200 characters, static */
};

/* ---- exported by every implementation -------------------------------------------- */

/* Fills *hello. `kit_abi` is the kit's DIRTYSPEC_ABI_VERSION; 0, or -EPROTO to refuse it. */
int dirtyspec_hello(uint32_t kit_abi, struct dirtyspec_hello *hello);

/* ---- profile smmu-hw: the implementation is the SMMU ----------------------------- */

struct dirtyspec_smmu_hw_config {
	uint32_t httu; /* SMMU_IDR0.HTTU to present: 0, 1 or 2 */
	uint32_t bbml; /* SMMU_IDR3.BBML to present: 0, 1 or 2 */
	uint32_t iotlb_capacity;
};

int dirtyspec_smmu_hw_create(const struct dirtyspec_kit *kit, const struct dirtyspec_smmu_hw_config *config, void **instance);
void dirtyspec_smmu_hw_read_registers(void *smmu, uint32_t *idr0, uint32_t *idr3);
void dirtyspec_smmu_hw_attach_stream(void *smmu, uint32_t stream_id, uint64_t cd_pa);
void dirtyspec_smmu_hw_detach_stream(void *smmu, uint32_t stream_id);
void dirtyspec_smmu_hw_submit(void *smmu, const struct dirtyspec_cmd *cmds, uint32_t n);
/* DIRTYSPEC_DMA_OK with *pa set, or a DIRTYSPEC_FAULT_*. */
int dirtyspec_smmu_hw_dma_read(void *smmu, uint32_t stream_id, uint64_t iova, uint64_t *pa);
int dirtyspec_smmu_hw_dma_write(void *smmu, uint32_t stream_id, uint64_t iova, uint64_t *pa);
void dirtyspec_smmu_hw_destroy(void *smmu);

/* ---- profile smmu-driver: the implementation is the page-table driver -------------- */

struct dirtyspec_smmu_driver_config {
	uint32_t asid;
	uint32_t idr0; /* the kit SMMU's SMMU_IDR0 (HTTU: bits 7:6) */
	uint32_t idr3; /* SMMU_IDR3 (BBML: bits 12:11) */
	bool dirty_capable;  /* IOMMU_HWPT_ALLOC_DIRTY_TRACKING */
	bool page_granular;  /* split blocks while tracking, merge after */
};

int dirtyspec_smmu_driver_create(const struct dirtyspec_kit *kit, const struct dirtyspec_smmu_driver_config *config, void **instance);
/* prot: IOMMU_READ (1) | IOMMU_WRITE (2). 0 or -errno. */
int dirtyspec_smmu_driver_map(void *domain, uint64_t iova, uint64_t paddr, uint64_t size, uint32_t prot);
/* Bytes unmapped; the dirty state of what was removed in *dirty (relative to iova). */
uint64_t dirtyspec_smmu_driver_unmap(void *domain, uint64_t iova, uint64_t size, struct dirtyspec_bitmap *dirty);
int dirtyspec_smmu_driver_split_block(void *domain, uint64_t iova);
int dirtyspec_smmu_driver_merge_pages(void *domain, uint64_t iova, uint32_t level);
/* flags: IOMMU_DIRTY_NO_CLEAR (1). 0 or -errno; the dirty pages in *dirty. */
int dirtyspec_smmu_driver_read_and_clear_dirty(void *domain, uint64_t iova, uint64_t size, uint32_t flags, struct dirtyspec_bitmap *dirty);
int dirtyspec_smmu_driver_set_dirty_tracking(void *domain, bool enable);
int dirtyspec_smmu_driver_attach(void *domain, uint32_t stream_id);
void dirtyspec_smmu_driver_destroy(void *domain);

/* ---- profile iova-bitmap: the implementation is the bitmap window code ------------ */

struct dirtyspec_iova_bitmap_args {
	uint64_t iova, length, page_size;
	int64_t offset;           /* of the bitmap in the user buffer: any alignment */
	int64_t bitmap_size;      /* bytes the user says the bitmap has */
	int64_t buffer_size;      /* bytes of the whole user buffer */
	int64_t max_pinned_pages; /* most user pages pinned at once */
};

/* iova_bitmap_alloc: 0 and *instance, or the negative errno it refused with (then no instance). */
int dirtyspec_iova_bitmap_create(const struct dirtyspec_kit *kit, const struct dirtyspec_iova_bitmap_args *args, void **instance);
int dirtyspec_iova_bitmap_set(void *bitmap, uint64_t iova, uint64_t length);
/* iova_bitmap_free: unpins everything (callbacks) and releases the instance. */
void dirtyspec_iova_bitmap_free(void *bitmap);
/* Releases an instance that was not freed, without callbacks: its buffer is gone. */
void dirtyspec_iova_bitmap_destroy(void *bitmap);

/* ---- profile vfio-type1: the implementation is a VFIO type1 container ------------ */

struct dirtyspec_vfio_type1_config {
	bool hw_dirty;
	uint32_t dma_entry_limit; /* 65535 unless the kit says otherwise */
};

/* struct vfio_bitmap: bytes per bit, bytes of the user buffer, its contents (CLEAR_BITMAP) or NULL. */
struct dirtyspec_vfio_bitmap {
	uint64_t pgsize;
	uint64_t size;
	const uint8_t *data;
	uint64_t data_len;
};

/* struct vfio_iommu_type1_dirty_bitmap_get. */
struct dirtyspec_vfio_range {
	uint64_t iova;
	uint64_t size;
	struct dirtyspec_vfio_bitmap bitmap;
};

#define DIRTYSPEC_MAX_IOVA_RANGES 16

/* VFIO_IOMMU_GET_INFO with its capabilities. */
struct dirtyspec_vfio_info {
	int32_t errno_value;
	uint32_t flags;
	uint64_t iova_pgsizes;
	uint32_t migration_flags;
	uint32_t dma_avail;
	uint64_t migration_pgsize_bitmap;
	uint64_t max_dirty_bitmap_size;
	uint32_t n_iova_ranges; /* 1 to DIRTYSPEC_MAX_IOVA_RANGES */
	uint32_t reserved;
	struct {
		uint64_t start, end; /* inclusive */
	} iova_ranges[DIRTYSPEC_MAX_IOVA_RANGES];
};

int dirtyspec_vfio_type1_create(const struct dirtyspec_kit *kit, const struct dirtyspec_vfio_type1_config *config, void **instance, uint64_t *vaddr_limit);
int dirtyspec_vfio_type1_check_extension(void *container, int64_t extension);
void dirtyspec_vfio_type1_get_info(void *container, struct dirtyspec_vfio_info *info);
int dirtyspec_vfio_type1_map_dma(void *container, uint32_t flags, uint64_t vaddr, uint64_t iova, uint64_t size);
/* `bitmap` NULL without VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP's struct; *unmapped bytes; the dirty bitmap in *out (len 0: none). */
int dirtyspec_vfio_type1_unmap_dma(void *container, uint32_t flags, uint64_t iova, uint64_t size, const struct dirtyspec_vfio_bitmap *bitmap, uint64_t *unmapped, struct dirtyspec_bitmap *out);
/* `range` NULL when the call has none; GET_BITMAP(_NOCLEAR) answer in *out (len 0: none). */
int dirtyspec_vfio_type1_dirty_pages(void *container, uint32_t flags, const struct dirtyspec_vfio_range *range, struct dirtyspec_bitmap *out);
/* 1 if the device's 4-byte write at iova went through the IOMMU, 0 if it faulted. */
int dirtyspec_vfio_type1_device_dma_write(void *container, uint64_t iova);
/* Optional (without it VFIO-RW-1..4 are not reached): vfio_dma_rw, the emulated device's
 * CPU-side access of `length` bytes at `iova` (bytes of its own), a write if `write`.
 * 0, or -EINVAL (length 0, a chunk in no mapping) or -EPERM (a mapping without READ, or
 * a write into one without WRITE); while tracking a write dirties every page it touches. */
int dirtyspec_vfio_type1_dma_rw(void *container, uint64_t iova, uint64_t length, bool write);
/* Optional, both or neither (without them VFIO-DETACH-1 is not reached): the group of the
 * container's device leaves the container (VFIO_GROUP_UNSET_CONTAINER) while an emulated
 * group keeps it and its mappings, and joins it again (VFIO_GROUP_SET_CONTAINER). 0, or a
 * negated errno. Without hardware dirty tracking a detach while tracking makes every page
 * of every mapping dirty (vfio_iommu_populate_bitmap_full). */
int dirtyspec_vfio_type1_detach_device(void *container);
int dirtyspec_vfio_type1_attach_device(void *container);
void dirtyspec_vfio_type1_destroy(void *container);

/* ---- profile kvm-dirty-log (ABI version 2): the implementation is a KVM VM's dirty log -- */

/* The most guest writes one vcpu_between answers. */
#define DIRTYSPEC_KVM_MAX_RACING_WRITES 64

struct dirtyspec_kvm_dirty_log_config {
	bool hw_dirty;             /* protect by clearing a hardware dirty bit (EPT A/D with PML, stage-2 DBM) */
	bool eager_split;          /* split huge leaves when logging starts, else on the next write fault */
	bool dirty_ring_exclusive; /* the dirty ring is on without WITH_BITMAP: GET and CLEAR are -ENXIO */
};

/* What the VM reports (KVM_CHECK_EXTENSION and access_ok), filled by create. */
struct dirtyspec_kvm_vm_info {
	uint32_t user_mem_slots;     /* KVM_CAP_NR_MEMSLOTS: KVM_USER_MEM_SLOTS */
	uint32_t address_spaces;     /* KVM_CAP_MULTI_ADDRESS_SPACE */
	bool readonly_mem;           /* KVM_MEM_READONLY accepted */
	uint64_t user_address_limit; /* the first user address access_ok refuses: on x86-64 TASK_SIZE_MAX before v6.4, 2^63 - 4096 in v6.4..v6.11, TASK_SIZE_MAX - 4096 from v6.12 (ADAPTERS.md) */
};

/* struct kvm_userspace_memory_region. */
struct dirtyspec_kvm_memory_region {
	uint32_t slot; /* as_id << 16 | id */
	uint32_t flags;
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
};

int dirtyspec_kvm_dirty_log_create(const struct dirtyspec_kit *kit, const struct dirtyspec_kvm_dirty_log_config *config, void **instance, struct dirtyspec_kvm_vm_info *info);
int dirtyspec_kvm_dirty_log_set_user_memory_region(void *vm, const struct dirtyspec_kvm_memory_region *region);
/* KVM_ENABLE_CAP: cap, flags, args[0]. */
int dirtyspec_kvm_dirty_log_enable_cap(void *vm, uint32_t cap, uint32_t flags, uint64_t args0);
/* KVM_CHECK_EXTENSION on the VM: the value it returns. */
int dirtyspec_kvm_dirty_log_check_extension(void *vm, uint32_t cap);
/*
 * KVM_GET_DIRTY_LOG: `bitmap` has `bitmap_bytes` writable bytes (zeroed; fewer than the
 * slot needs is the user's short buffer). On 0 set *len to ALIGN(npages, 64) / 8, the
 * bytes of the bitmap written there.
 */
int dirtyspec_kvm_dirty_log_get_dirty_log(void *vm, uint32_t slot, uint8_t *bitmap, uint64_t bitmap_bytes, uint64_t *len);
/* KVM_CLEAR_DIRTY_LOG: `bitmap` is every byte at dirty_bitmap the kernel can read (`bitmap_bytes`). */
int dirtyspec_kvm_dirty_log_clear_dirty_log(void *vm, uint32_t slot, uint64_t first_page, uint32_t num_pages, const uint8_t *bitmap, uint64_t bitmap_bytes);
/* The vCPU writes the guest page at `gpa` (address space 0): 0 it went through, 1 an MMIO exit. */
int dirtyspec_kvm_dirty_log_vcpu_write(void *vm, uint64_t gpa);
/*
 * Optional (version 4): KVM writes the guest page at `gpa` (address space 0, a writable
 * slot) itself, without a running vCPU, as kvm_write_guest from an ioctl does
 * (mark_page_dirty_in_slot with kvm_get_running_vcpu() NULL). Exported, the kit makes such
 * writes and checks that the next KVM_GET_DIRTY_LOG reports them (KVM-LOG-9).
 */
void dirtyspec_kvm_dirty_log_kvm_write(void *vm, uint64_t gpa);
void dirtyspec_kvm_dirty_log_destroy(void *vm);

/* ---- profile dirty-ring-collector (ABI version 2): the implementation is a VMM's collector -- */

struct dirtyspec_memslot {
	uint32_t slot; /* as_id << 16 | id */
	uint32_t npages;
};

struct dirtyspec_dirty_ring_collector_config {
	bool with_bitmap; /* KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP: the final sync collects the bitmaps too */
	uint32_t n_memslots;
	const struct dirtyspec_memslot *memslots; /* the logging memslots, valid during create */
};

int dirtyspec_dirty_ring_collector_create(const struct dirtyspec_kit *kit, const struct dirtyspec_dirty_ring_collector_config *config, void **instance);
/* A vCPU's ring: `entries` struct kvm_dirty_gfn at `base` in the kit's memory; its first harvest starts at entry 0. 0, or anything else: undecided. */
int dirtyspec_dirty_ring_collector_add_ring(void *collector, uint64_t base, uint32_t entries);
/* One sync of the migration (harvest, reset, copy); `final`: the vCPUs are stopped. 0, or anything else: undecided. */
int dirtyspec_dirty_ring_collector_sync(void *collector, bool final);
void dirtyspec_dirty_ring_collector_destroy(void *collector);

/* ---- profile kvm-dirty-ring (ABI version 3): the implementation is KVM's side of the dirty ring -- */

/* The arch a VM plays (struct dirtyspec_kvm_dirty_ring_config.arch). */
#define DIRTYSPEC_KVM_ARCH_X86 1
#define DIRTYSPEC_KVM_ARCH_ARM64 2

struct dirtyspec_kvm_dirty_ring_config {
	/*
	 * DIRTYSPEC_KVM_ARCH_*: the capabilities the VM answers, its address spaces (x86 has
	 * SMM's second) and how it re-protects a batch (x86: the pages of the set bits; arm64:
	 * the range from the lowest to the highest). On x86 the kit's ring memory gives KVM's
	 * side x86-TSO ordering (C-ABI.md).
	 */
	uint32_t arch;
};

/* One guest write of KVM_RUN: page `offset` of memslot `slot` (as_id << 16 | id), as struct kvm_dirty_gfn names it. */
struct dirtyspec_kvm_guest_write {
	uint32_t slot;
	uint32_t reserved; /* 0 */
	uint64_t offset;
};

/*
 * kvm_cpu_dirty_log_size(): the entries the ring reserves besides the 64 for the CPU's
 * dirty log (x86 with PML: 512), 0 without (and on arm64). Called once, when the library
 * is loaded; 0 to 65536.
 */
uint32_t dirtyspec_kvm_dirty_ring_cpu_dirty_log_size(void);
/*
 * Optional (version 4): true when KVM_RESET_DIRTY_RINGS calls the kit's signal_pending
 * before each entry and stops when it answers true (Linux v6.17+). The kit then makes a
 * signal pending in some resets and checks what the stopped reset leaves (KVM-RING-24).
 * Absent or false: signal_pending always answers false.
 */
bool dirtyspec_kvm_dirty_ring_checks_signals(void);
/* A VM; the ring callbacks of `kit` are its ring memory. 0 and *instance, or anything else: undecided. */
int dirtyspec_kvm_dirty_ring_create(const struct dirtyspec_kit *kit, const struct dirtyspec_kvm_dirty_ring_config *config, void **instance);
/* KVM_CHECK_EXTENSION on the VM: the value it returns. */
int dirtyspec_kvm_dirty_ring_check_extension(void *vm, uint32_t cap);
/* KVM_ENABLE_CAP: cap, flags, args[0] (the ring size in bytes). 0 or -errno. */
int dirtyspec_kvm_dirty_ring_enable_cap(void *vm, uint32_t cap, uint32_t flags, uint64_t args0);
/*
 * KVM_CREATE_VCPU: the vCPU's index (0 for the first, 1 for the second), or a negative
 * errno. With the ring on, its ring is the kit's zeroed memory at ring_base (entry i at
 * ring_base + 16 * i: the mmap of KVM_DIRTY_LOG_PAGE_OFFSET), reached through the ring
 * callbacks only.
 */
int dirtyspec_kvm_dirty_ring_create_vcpu(void *vm, uint64_t ring_base);
/* KVM_SET_USER_MEMORY_REGION of a new memslot of npages 4 KiB pages (KVM_MEM_LOG_DIRTY_PAGES if log_dirty); no GPA: the layout is the VM's. 0 or -errno. */
int dirtyspec_kvm_dirty_ring_set_memslot(void *vm, uint32_t as_id, uint32_t id, uint32_t npages, bool log_dirty);
/*
 * KVM_RUN of vCPU `vcpu`: the guest makes writes[0..n) in order, then halts. Returns the
 * exit reason (KVM_EXIT_DIRTY_RING_FULL 31, KVM_EXIT_HLT 5) with *done the writes made: at
 * a soft-full exit, the write whose push reached the limit counts, and the vCPU leaves
 * before the next one.
 */
int dirtyspec_kvm_dirty_ring_run(void *vm, uint32_t vcpu, const struct dirtyspec_kvm_guest_write *writes, uint32_t n, uint32_t *done);
/* KVM writes the page without a running vCPU (an ioctl's kvm_write_guest: mark_page_dirty_in_slot with no vCPU). */
void dirtyspec_kvm_dirty_ring_write_without_vcpu(void *vm, uint32_t slot, uint64_t offset);
/* KVM_RESET_DIRTY_RINGS: the entries reset, or a negative errno. */
int dirtyspec_kvm_dirty_ring_reset_dirty_rings(void *vm);
/*
 * KVM_GET_DIRTY_LOG of a memslot: 0 with its bitmap (read and cleared) written to
 * bitmap[0..bytes), bytes = ALIGN(npages, 64) / 8 of that memslot as the kit made it; or
 * a negative errno.
 */
int dirtyspec_kvm_dirty_ring_get_dirty_log(void *vm, uint32_t slot, uint8_t *bitmap, uint64_t bytes);
/*
 * Introspection for the kit: bit i (bit i % 8 of byte i / 8) of bitmap[0..bytes) set when
 * the next vCPU write to page i of the memslot is recorded (it is write-protected); bytes
 * as for get_dirty_log. 0, or anything else: undecided.
 */
int dirtyspec_kvm_dirty_ring_write_protected_pages(void *vm, uint32_t slot, uint8_t *bitmap, uint64_t bytes);
void dirtyspec_kvm_dirty_ring_destroy(void *vm);

#ifdef __cplusplus
}
#endif

#endif /* DIRTYSPEC_H */
