/* SPDX-License-Identifier: MIT */
/*
 * What Linux drivers/iommu/io-pgtable-arm.c (v7.0) needs from the kernel's headers
 * beyond the kit's shim (conformance/lib/linux.h), for this directory only: the stub
 * headers under include/ (<linux/atomic.h>, <linux/slab.h>, <asm/barrier.h>, ...) all
 * include this file. Each definition names the kernel header it stands for.
 */
#ifndef KERNEL_UPSTREAM_H
#define KERNEL_UPSTREAM_H

#include <dirtyspec/linux.h>

/* include/linux/container_of.h */
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* include/linux/sizes.h: the sizes linux.h does not have. */
#define SZ_16K 0x4000UL
#define SZ_64K 0x10000UL
#define SZ_32M 0x2000000UL
#define SZ_512M 0x20000000UL

/* arch/arm64/include/asm/page-def.h with 4 KiB pages (the kit's granule). */
#define PAGE_SHIFT 12
#define PAGE_SIZE (1UL << PAGE_SHIFT)
#define PAGE_MASK (~(PAGE_SIZE - 1))

/* include/linux/log2.h, include/asm-generic/bitops/{__ffs,__fls}.h */
#define ilog2(n) ((int)(63 - __builtin_clzll((unsigned long long)(n))))
static inline unsigned long __ffs(unsigned long word) { return __builtin_ctzl(word); }
static inline unsigned long __fls(unsigned long word) { return 63 - __builtin_clzl(word); }

/* include/asm-generic/bug.h */
#define WARN_ONCE(cond, ...) ({ bool __c = !!(cond); if (unlikely(__c)) { fprintf(stderr, "WARNING: %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); } __c; })

/* include/linux/slab.h (v7.0): kmalloc_obj(*p) allocates one object of p's type. */
#define kmalloc_obj(obj) kmalloc(sizeof(obj), GFP_KERNEL)

/*
 * include/linux/iommu.h: iommufd's unmaps use no flush queue (the domain is strict), so
 * no gather is queued. The kit's gather (linux.h) has no `queued` member.
 */
static inline bool iommu_iotlb_gather_queued(struct iommu_iotlb_gather *gather)
{
	(void)gather;
	return false;
}

#define IOMMU_CACHE (1 << 2)
#define IOMMU_NOEXEC (1 << 3)
#define IOMMU_MMIO (1 << 4)
#define IOMMU_PRIV (1 << 5)

/*
 * The device and the DMA API. The kit's SMMU walks coherently (cfg->coherent_walk is
 * true), so io-pgtable-arm.c never maps, unmaps or syncs its tables for the device;
 * these are here for the code paths it compiles, and complain if ever reached.
 */
struct device;
enum dma_data_direction { DMA_BIDIRECTIONAL = 0, DMA_TO_DEVICE = 1, DMA_FROM_DEVICE = 2 };
#define dev_to_node(dev) ((void)(dev), 0)
#define dev_err(dev, ...) ((void)(dev), fprintf(stderr, __VA_ARGS__))
static inline dma_addr_t dma_map_single(struct device *, void *p, size_t, enum dma_data_direction)
{
	fprintf(stderr, "kernel-upstream: dma_map_single on a coherent SMMU\n");
	return __pa(p);
}
static inline int dma_mapping_error(struct device *, dma_addr_t) { return 0; }
static inline void dma_unmap_single(struct device *, dma_addr_t, size_t, enum dma_data_direction)
{
	fprintf(stderr, "kernel-upstream: dma_unmap_single on a coherent SMMU\n");
}
static inline void dma_sync_single_for_device(struct device *, dma_addr_t, size_t, enum dma_data_direction)
{
	fprintf(stderr, "kernel-upstream: dma_sync_single_for_device on a coherent SMMU\n");
}

#endif /* KERNEL_UPSTREAM_H */
