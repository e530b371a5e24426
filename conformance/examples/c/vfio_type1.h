/*
 * Profile vfio-type1: a VFIO type1 IOMMU container (drivers/vfio/vfio_iommu_type1.c)
 * with one device attached, behind its ioctls with their raw uAPI numbers
 * (include/uapi/linux/vfio.h). Results are 0 or a negative errno; a refused call
 * changes nothing.
 *
 * The device's IOMMU is modelled here too, at 4 KiB pages: a DMA write through a
 * writable mapping succeeds and, while hardware dirty tracking is on, marks its page
 * dirty (what SMMUv3 HTTU does to the leaf descriptor).
 */
#ifndef DIRTYSPEC_VFIO_TYPE1_H
#define DIRTYSPEC_VFIO_TYPE1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* include/uapi/linux/vfio.h */
#define VFIO_TYPE1_IOMMU 1
#define VFIO_TYPE1v2_IOMMU 3
#define VFIO_UNMAP_ALL 9
/* The manual-clear extension as the spec fixes it (spec/vfio/args.ts; the RFC was never merged). */
#define VFIO_DIRTY_LOG_MANUAL_CLEAR 11

#define VFIO_DMA_MAP_FLAG_READ (1u << 0)
#define VFIO_DMA_MAP_FLAG_WRITE (1u << 1)
#define VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP (1u << 0)
#define VFIO_DMA_UNMAP_FLAG_ALL (1u << 1)
#define VFIO_DMA_UNMAP_FLAG_VADDR (1u << 2)
#define VFIO_IOMMU_DIRTY_PAGES_FLAG_START (1u << 0)
#define VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP (1u << 1)
#define VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP (1u << 2)
#define VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP_NOCLEAR (1u << 3)
#define VFIO_IOMMU_DIRTY_PAGES_FLAG_CLEAR_BITMAP (1u << 4)
#define VFIO_IOMMU_INFO_PGSIZES (1u << 0)
#define VFIO_IOMMU_INFO_CAPS (1u << 1)

struct vfio_container;

/* vfio_dirty_pages: a bitmap operation came without its range (a caller error, not an errno). */
#define VFIO_NEEDS_RANGE 1

/* struct vfio_bitmap: bytes per bit, bytes of the user's buffer, and (CLEAR_BITMAP) its contents. */
struct vfio_bitmap {
	uint64_t pgsize;
	uint64_t size;
	const uint8_t *data;
	size_t data_len;
};

/* VFIO_IOMMU_GET_INFO with its capability chain. */
struct vfio_info {
	int ret; /* 0 */
	uint32_t flags;
	uint64_t iova_pgsizes;
	/* VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION */
	uint32_t migration_flags;
	uint64_t migration_pgsize_bitmap;
	uint64_t max_dirty_bitmap_size;
	/* VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL */
	uint32_t dma_avail;
	/* VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE: one range, inclusive end. */
	uint64_t iova_start, iova_end;
};

/*
 * A dirty bitmap returned to the user: bit i (bit i % 8 of byte i / 8) is the page
 * iova + i * 4096; ALIGN(npages, 64) / 8 bytes. `bytes` is malloc'd (free it).
 */
struct dirty_report {
	uint8_t *bytes;
	size_t len;
};

/*
 * A container with one device. hw_dirty: the IOMMU records dirty state in hardware;
 * otherwise every mapped page is reported dirty (VFIO-DIRTY-14). dma_entry_limit: the
 * most mappings it holds (the module parameter, 65535 by default).
 */
struct vfio_container *vfio_container_create(bool hw_dirty, uint32_t dma_entry_limit);
void vfio_container_free(struct vfio_container *c);

/* Process addresses below this can be pinned (MAP_DMA's vaddr). */
uint64_t vfio_vaddr_limit(const struct vfio_container *c);

/* VFIO_CHECK_EXTENSION: 1 or 0; asking for VFIO_DIRTY_LOG_MANUAL_CLEAR negotiates it. */
int vfio_check_extension(struct vfio_container *c, int64_t extension);
void vfio_get_info(const struct vfio_container *c, struct vfio_info *info);
int vfio_map_dma(struct vfio_container *c, uint32_t flags, uint64_t vaddr, uint64_t iova, uint64_t size);
/*
 * VFIO_IOMMU_UNMAP_DMA: `bitmap` NULL when the call has none. On success *unmapped is the
 * bytes unmapped and, with GET_DIRTY_BITMAP, *report the dirty pages of what went.
 */
int vfio_unmap_dma(struct vfio_container *c, uint32_t flags, uint64_t iova, uint64_t size, const struct vfio_bitmap *bitmap, uint64_t *unmapped, struct dirty_report *report);
/*
 * VFIO_IOMMU_DIRTY_PAGES. `has_range`: the struct vfio_iommu_type1_dirty_bitmap_get
 * follows (iova, size, bitmap). GET_BITMAP and GET_BITMAP_NOCLEAR fill *report on success.
 * Returns VFIO_NEEDS_RANGE (not an errno) when a bitmap operation comes without its range.
 */
int vfio_dirty_pages(struct vfio_container *c, uint32_t flags, bool has_range, uint64_t iova, uint64_t size, const struct vfio_bitmap *bitmap, struct dirty_report *report);
/* The attached device writes 4 bytes at `iova`: true if the IOMMU let it through. */
bool vfio_device_dma_write(struct vfio_container *c, uint64_t iova);
/*
 * vfio_dma_rw (vfio_iommu_type1_dma_rw): an emulated device's CPU-side access of `length`
 * bytes at `iova`, chunk by chunk, each in the mapping holding its first byte and clipped
 * to its end. 0, -EINVAL (length 0, a chunk in no mapping) or -EPERM (a mapping without
 * READ, or a write into one without WRITE); while tracking, a write dirties every page
 * its bytes touch. The chunks before a refused one stay copied and dirty, as in Linux.
 */
int vfio_dma_rw(struct vfio_container *c, uint64_t iova, uint64_t length, bool write);
/*
 * The device's group leaves the container, an emulated group keeping it and its mappings
 * (VFIO_GROUP_UNSET_CONTAINER), and joins it again (VFIO_GROUP_SET_CONTAINER). 0, or
 * -EINVAL if it is already out (in). Without hardware tracking a detach while tracking
 * makes every page of every mapping dirty (VFIO-DETACH-1).
 */
int vfio_detach_device(struct vfio_container *c);
int vfio_attach_device(struct vfio_container *c);

#endif
