/*
 * A VMM's dirty-ring collector (profile dirty-ring-collector, conformance/protocol/PROTOCOL.md):
 * per vCPU ring a fetch index; a sync harvests every ring in order (the flags with a
 * load-acquire, then slot and offset; RESET set with a store-release), calls
 * KVM_RESET_DIRTY_RINGS, and only then copies the harvested pages. The final sync (the
 * vCPUs stopped) does the same and, with KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, collects
 * the memslots' bitmaps too.
 *
 * Sources: Linux v6.18 Documentation/virt/kvm/api.rst, section
 * "KVM_CAP_DIRTY_LOG_RING/KVM_CAP_DIRTY_LOG_RING_ACQ_REL" ("must collect the dirty GFNs
 * in sequence"; "userspace accesses to the ring buffer (and more specifically the 'flags'
 * field) must be ordered, using load-acquire/store-release accessors"; KVM_RESET_DIRTY_RINGS
 * "must be called *before* reading the content of the dirty pages"; with WITH_BITMAP,
 * collecting the bitmap is "the very last thing"); include/uapi/linux/kvm.h
 * struct kvm_dirty_gfn; QEMU accel/kvm/kvm-all.c kvm_dirty_ring_reap_one.
 */
#ifndef DIRTYSPEC_DIRTY_RING_COLLECTOR_H
#define DIRTYSPEC_DIRTY_RING_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* struct kvm_dirty_gfn (include/uapi/linux/kvm.h): flags u32 at +0, slot u32 at +4, offset u64 at +8. */
#define KVM_DIRTY_GFN_F_DIRTY (1u << 0)
#define KVM_DIRTY_GFN_F_RESET (1u << 1)
#define KVM_DIRTY_GFN_SIZE 16u

/* The ordering of one access to the ring (C11 memory_order_relaxed, _acquire, _release). */
enum ring_order { RING_RELAXED, RING_ACQUIRE, RING_RELEASE };

/* The ring memory (the kit's): every access is one naturally aligned field with its ordering. */
struct ring_memory {
	void *ctx;
	uint32_t (*load32)(void *ctx, uint64_t addr, enum ring_order order);
	uint64_t (*load64)(void *ctx, uint64_t addr, enum ring_order order);
	void (*store32)(void *ctx, uint64_t addr, uint32_t value, enum ring_order order);
};

/* KVM and the migration stream, as the collector calls them. */
struct collector_host {
	void *ctx;
	/* KVM_RESET_DIRTY_RINGS: the entries reset, or a negative errno. */
	int (*reset_dirty_rings)(void *ctx);
	/* Sends the page's current contents to the destination. */
	void (*copy_page)(void *ctx, uint32_t slot, uint64_t offset);
	/* KVM_GET_DIRTY_LOG (WITH_BITMAP only): the slot's bitmap, read and cleared, into `bytes` bytes; false if it failed. */
	bool (*get_dirty_log)(void *ctx, uint32_t slot, uint8_t *bitmap, size_t bytes);
};

struct collector_memslot {
	uint32_t slot; /* as_id << 16 | id */
	uint32_t npages;
};

struct dirty_ring_collector;

/* NULL when out of memory. `memslots` is copied. */
struct dirty_ring_collector *collector_create(const struct ring_memory *memory, const struct collector_host *host, bool with_bitmap, const struct collector_memslot *memslots, size_t n);
/* A vCPU's ring of `entries` (a power of two) at `base`; its first harvest starts at entry 0. 0 or -EINVAL, -ENOMEM. */
int collector_add_ring(struct dirty_ring_collector *c, uint64_t base, uint32_t entries);
/* One sync (harvest, reset, copy); `final`: also the WITH_BITMAP bitmaps. 0, or the negative errno of a call that failed. */
int collector_sync(struct dirty_ring_collector *c, bool final);
void collector_free(struct dirty_ring_collector *c);

#endif
