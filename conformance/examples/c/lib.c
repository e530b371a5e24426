/*
 * The same implementation as a library for `dirtyspec run --lib` (the C ABI of
 * conformance/lib/dirtyspec.h, version 2): iova_bitmap.c, vfio_type1.c, kvm_dirty_log.c
 * and dirty_ring_collector.c unchanged, with the kit's callbacks in place of protocol.c's
 * JSON lines. `make` builds it as build/libdirtyspec-c.so (and
 * build/libdirtyspec-c-faulty.so).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dirty_ring_collector.h"
#include "dirtyspec.h"
#include "iova_bitmap.h"
#include "kvm_dirty_log.h"
#include "vfio_type1.h"

#if DIRTYSPEC_KVM_MAX_RACING_WRITES > 64
#error "kvm_dirty_log.c performs at most 64 racing writes per access"
#endif

/* ---- iova-bitmap: the kit's user buffer through its callbacks ---------------------- */

static bool lib_pin(void *ctx, uint64_t page)
{
	const struct dirtyspec_kit *kit = ctx;

	return kit->pin(kit->ctx, page);
}

static void lib_unpin(void *ctx, uint64_t page)
{
	const struct dirtyspec_kit *kit = ctx;

	kit->unpin(kit->ctx, page);
}

static void lib_or_byte(void *ctx, uint64_t page, unsigned offset, unsigned mask)
{
	const struct dirtyspec_kit *kit = ctx;

	kit->or_byte(kit->ctx, page, offset, mask);
}

static void lib_fill_bytes(void *ctx, uint64_t page, unsigned start, unsigned end, unsigned value)
{
	const struct dirtyspec_kit *kit = ctx;

	kit->fill_bytes(kit->ctx, page, start, end, value);
}

int dirtyspec_hello(uint32_t kit_abi, struct dirtyspec_hello *hello)
{
	if (kit_abi != DIRTYSPEC_ABI_VERSION)
		return -EPROTO;
	hello->abi = DIRTYSPEC_ABI_VERSION;
	hello->profiles = DIRTYSPEC_PROFILE_IOVA_BITMAP | DIRTYSPEC_PROFILE_VFIO_TYPE1 | DIRTYSPEC_PROFILE_KVM_DIRTY_LOG | DIRTYSPEC_PROFILE_DIRTY_RING_COLLECTOR;
	hello->name = "dirtyspec-c-example";
	return 0;
}

int dirtyspec_iova_bitmap_create(const struct dirtyspec_kit *kit, const struct dirtyspec_iova_bitmap_args *args, void **instance)
{
	/* No read_byte: the ABI has no read callback (version 2); the window ORs through or_byte. */
	const struct user_buffer buffer = { (void *)kit, lib_pin, lib_unpin, lib_or_byte, lib_fill_bytes, NULL };
	struct iova_bitmap_args a = {
		.iova = args->iova,
		.length = args->length,
		.page_size = args->page_size,
		.offset = args->offset,
		.bitmap_size = args->bitmap_size,
		.buffer_size = args->buffer_size,
		.max_pinned_pages = args->max_pinned_pages,
	};
	struct iova_bitmap *b = NULL;
	int ret;

	if (a.max_pinned_pages < 1)
		return -EINVAL;
	ret = iova_bitmap_alloc(&a, &buffer, &b);
	if (ret == 0)
		*instance = b;
	return ret;
}

int dirtyspec_iova_bitmap_set(void *bitmap, uint64_t iova, uint64_t length)
{
	return iova_bitmap_set(bitmap, iova, length);
}

void dirtyspec_iova_bitmap_free(void *bitmap)
{
	iova_bitmap_free(bitmap);
}

void dirtyspec_iova_bitmap_destroy(void *bitmap)
{
	iova_bitmap_abandon(bitmap);
}

/* ---- vfio-type1 ------------------------------------------------------------------ */

int dirtyspec_vfio_type1_create(const struct dirtyspec_kit *kit, const struct dirtyspec_vfio_type1_config *config, void **instance, uint64_t *vaddr_limit)
{
	struct vfio_container *c = vfio_container_create(config->hw_dirty, config->dma_entry_limit);

	(void)kit;
	if (c == NULL)
		return -ENOMEM;
	*instance = c;
	*vaddr_limit = vfio_vaddr_limit(c);
	return 0;
}

int dirtyspec_vfio_type1_check_extension(void *container, int64_t extension)
{
	return vfio_check_extension(container, extension);
}

void dirtyspec_vfio_type1_get_info(void *container, struct dirtyspec_vfio_info *out)
{
	struct vfio_info info;

	vfio_get_info(container, &info);
	memset(out, 0, sizeof(*out));
	out->errno_value = info.ret;
	out->flags = info.flags;
	out->iova_pgsizes = info.iova_pgsizes;
	out->migration_flags = info.migration_flags;
	out->migration_pgsize_bitmap = info.migration_pgsize_bitmap;
	out->max_dirty_bitmap_size = info.max_dirty_bitmap_size;
	out->dma_avail = info.dma_avail;
	out->n_iova_ranges = 1;
	out->iova_ranges[0].start = info.iova_start;
	out->iova_ranges[0].end = info.iova_end;
}

int dirtyspec_vfio_type1_map_dma(void *container, uint32_t flags, uint64_t vaddr, uint64_t iova, uint64_t size)
{
	return vfio_map_dma(container, flags, vaddr, iova, size);
}

static void to_vfio_bitmap(const struct dirtyspec_vfio_bitmap *from, struct vfio_bitmap *to)
{
	to->pgsize = from->pgsize;
	to->size = from->size;
	to->data = from->data;
	to->data_len = (size_t)from->data_len;
}

/* The implementation's report into the kit's bitmap: len says how many bytes it has, at most cap are copied. */
static void answer(struct dirty_report *report, struct dirtyspec_bitmap *out)
{
	out->len = 0;
	if (report->bytes == NULL)
		return;
	memcpy(out->bytes, report->bytes, report->len < out->cap ? report->len : out->cap);
	out->len = report->len;
	free(report->bytes);
}

int dirtyspec_vfio_type1_unmap_dma(void *container, uint32_t flags, uint64_t iova, uint64_t size, const struct dirtyspec_vfio_bitmap *bitmap, uint64_t *unmapped,
				   struct dirtyspec_bitmap *out)
{
	struct vfio_bitmap b;
	struct dirty_report report = { NULL, 0 };
	int ret;

	if (bitmap != NULL)
		to_vfio_bitmap(bitmap, &b);
	ret = vfio_unmap_dma(container, flags, iova, size, bitmap != NULL ? &b : NULL, unmapped, &report);
	answer(&report, out);
	return ret;
}

int dirtyspec_vfio_type1_dirty_pages(void *container, uint32_t flags, const struct dirtyspec_vfio_range *range, struct dirtyspec_bitmap *out)
{
	struct vfio_bitmap b;
	struct dirty_report report = { NULL, 0 };
	int ret;

	if (range != NULL)
		to_vfio_bitmap(&range->bitmap, &b);
	ret = vfio_dirty_pages(container, flags, range != NULL, range != NULL ? range->iova : 0, range != NULL ? range->size : 0, range != NULL ? &b : NULL, &report);
	answer(&report, out);
	/* A bitmap operation without its range: the kit never asks that (protocol.c answers it with an error). */
	return ret == VFIO_NEEDS_RANGE ? -EINVAL : ret;
}

int dirtyspec_vfio_type1_device_dma_write(void *container, uint64_t iova)
{
	return vfio_device_dma_write(container, iova) ? 1 : 0;
}

int dirtyspec_vfio_type1_dma_rw(void *container, uint64_t iova, uint64_t length, bool write)
{
	return vfio_dma_rw(container, iova, length, write);
}

int dirtyspec_vfio_type1_detach_device(void *container)
{
	return vfio_detach_device(container);
}

int dirtyspec_vfio_type1_attach_device(void *container)
{
	return vfio_attach_device(container);
}

void dirtyspec_vfio_type1_destroy(void *container)
{
	vfio_container_free(container);
}

/* ---- kvm-dirty-log: the racing vCPU through vcpu_between ---------------------------- */

static size_t lib_between(void *ctx, uint64_t *gpas, size_t max)
{
	const struct dirtyspec_kit *kit = ctx;

	return kit->vcpu_between(kit->ctx, gpas, (uint32_t)max);
}

int dirtyspec_kvm_dirty_log_create(const struct dirtyspec_kit *kit, const struct dirtyspec_kvm_dirty_log_config *config, void **instance, struct dirtyspec_kvm_vm_info *info)
{
	/* hw_dirty and eager_split choose how a real VM protects and splits; this one logs every write, so it needs neither. */
	const struct kvm_vcpu_races races = { (void *)kit, lib_between };
	struct kvm_vm *vm = kvm_vm_create(config->dirty_ring_exclusive, &races);

	if (vm == NULL)
		return -ENOMEM;
	*instance = vm;
	info->user_mem_slots = KVM_USER_MEM_SLOTS;
	info->address_spaces = KVM_ADDRESS_SPACE_NUM;
	info->readonly_mem = true;
	info->user_address_limit = KVM_USER_ADDRESS_LIMIT;
	return 0;
}

int dirtyspec_kvm_dirty_log_set_user_memory_region(void *vm, const struct dirtyspec_kvm_memory_region *region)
{
	const struct kvm_region r = { region->slot, region->flags, region->guest_phys_addr, region->memory_size, region->userspace_addr };

	return kvm_set_user_memory_region(vm, &r);
}

int dirtyspec_kvm_dirty_log_enable_cap(void *vm, uint32_t cap, uint32_t flags, uint64_t args0)
{
	return kvm_enable_cap(vm, cap, flags, args0);
}

int dirtyspec_kvm_dirty_log_check_extension(void *vm, uint32_t cap)
{
	return kvm_check_extension(vm, cap);
}

int dirtyspec_kvm_dirty_log_get_dirty_log(void *vm, uint32_t slot, uint8_t *bitmap, uint64_t bitmap_bytes, uint64_t *len)
{
	size_t size = 0;
	int ret = kvm_get_dirty_log(vm, slot, bitmap, (size_t)bitmap_bytes, &size);

	*len = ret == 0 ? size : 0;
	return ret;
}

int dirtyspec_kvm_dirty_log_clear_dirty_log(void *vm, uint32_t slot, uint64_t first_page, uint32_t num_pages, const uint8_t *bitmap, uint64_t bitmap_bytes)
{
	return kvm_clear_dirty_log(vm, slot, first_page, num_pages, bitmap, (size_t)bitmap_bytes);
}

int dirtyspec_kvm_dirty_log_vcpu_write(void *vm, uint64_t gpa)
{
	return kvm_vcpu_write(vm, gpa) ? 0 : 1;
}

void dirtyspec_kvm_dirty_log_kvm_write(void *vm, uint64_t gpa)
{
	kvm_write_without_vcpu(vm, gpa);
}

void dirtyspec_kvm_dirty_log_destroy(void *vm)
{
	kvm_vm_free(vm);
}

/* ---- dirty-ring-collector: the kit's rings and KVM through its callbacks ------------ */

static const int orders[] = { [RING_RELAXED] = DIRTYSPEC_ORDER_RELAXED, [RING_ACQUIRE] = DIRTYSPEC_ORDER_ACQUIRE, [RING_RELEASE] = DIRTYSPEC_ORDER_RELEASE };

static uint32_t lib_ring_load32(void *ctx, uint64_t addr, enum ring_order order)
{
	const struct dirtyspec_kit *kit = ctx;

	return kit->ring_load32(kit->ctx, addr, orders[order]);
}

static uint64_t lib_ring_load64(void *ctx, uint64_t addr, enum ring_order order)
{
	const struct dirtyspec_kit *kit = ctx;

	return kit->ring_load64(kit->ctx, addr, orders[order]);
}

static void lib_ring_store32(void *ctx, uint64_t addr, uint32_t value, enum ring_order order)
{
	const struct dirtyspec_kit *kit = ctx;

	kit->ring_store32(kit->ctx, addr, value, orders[order]);
}

static int lib_reset_dirty_rings(void *ctx)
{
	const struct dirtyspec_kit *kit = ctx;

	return kit->reset_dirty_rings(kit->ctx);
}

static void lib_copy_page(void *ctx, uint32_t slot, uint64_t offset)
{
	const struct dirtyspec_kit *kit = ctx;

	kit->copy_page(kit->ctx, slot, offset);
}

static bool lib_get_dirty_log(void *ctx, uint32_t slot, uint8_t *bitmap, size_t bytes)
{
	const struct dirtyspec_kit *kit = ctx;

	return kit->get_dirty_log(kit->ctx, slot, bitmap, bytes) == bytes;
}

int dirtyspec_dirty_ring_collector_create(const struct dirtyspec_kit *kit, const struct dirtyspec_dirty_ring_collector_config *config, void **instance)
{
	const struct ring_memory memory = { (void *)kit, lib_ring_load32, lib_ring_load64, lib_ring_store32 };
	const struct collector_host host = { (void *)kit, lib_reset_dirty_rings, lib_copy_page, lib_get_dirty_log };
	struct collector_memslot *memslots = calloc(config->n_memslots + 1, sizeof(*memslots));
	struct dirty_ring_collector *c;

	if (memslots == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < config->n_memslots; i++)
		memslots[i] = (struct collector_memslot){ config->memslots[i].slot, config->memslots[i].npages };
	c = collector_create(&memory, &host, config->with_bitmap, memslots, config->n_memslots);
	free(memslots);
	if (c == NULL)
		return -ENOMEM;
	*instance = c;
	return 0;
}

int dirtyspec_dirty_ring_collector_add_ring(void *collector, uint64_t base, uint32_t entries)
{
	return collector_add_ring(collector, base, entries);
}

int dirtyspec_dirty_ring_collector_sync(void *collector, bool final)
{
	return collector_sync(collector, final);
}

void dirtyspec_dirty_ring_collector_destroy(void *collector)
{
	collector_free(collector);
}
