/* SPDX-License-Identifier: MIT */
/*
 * The page table of io-pgtable-arm.c and what the domain (arm-smmu-domain.c) calls,
 * in the manner of Linux include/linux/io-pgtable.h.
 */
#ifndef KERNEL_C_IO_PGTABLE_ARM_H
#define KERNEL_C_IO_PGTABLE_ARM_H

#include <dirtyspec/linux.h>

/* include/linux/io-pgtable.h: writable leaves carry DBM (hardware dirty state). */
#define IO_PGTABLE_QUIRK_ARM_HD BIT(7)

/* include/linux/io-pgtable.h struct iommu_flush_ops: invalidate a range and wait. */
struct iommu_flush_ops {
	void (*tlb_flush_walk)(unsigned long iova, size_t size, void *cookie);
};

struct io_pgtable_cfg {
	unsigned long quirks;
	/* SMMU_IDR3.BBML != 0: a block may change size without break-before-make. */
	bool bbml;
	const struct iommu_flush_ops *tlb;
	void *cookie;
};

struct arm_lpae_io_pgtable;

/* A block split when tracking started: merged back, in reverse, when it stops. */
struct arm_lpae_split {
	unsigned long iova;
	int level;
};

struct arm_lpae_split_list {
	struct arm_lpae_split *v;
	int n, cap;
};

struct arm_lpae_io_pgtable *arm_lpae_alloc_pgtable(const struct io_pgtable_cfg *cfg);
void arm_lpae_free_pgtable(struct arm_lpae_io_pgtable *data);
phys_addr_t arm_lpae_pgd(struct arm_lpae_io_pgtable *data);
int arm_lpae_map(struct arm_lpae_io_pgtable *data, unsigned long iova, phys_addr_t paddr, size_t size, int prot);
size_t arm_lpae_unmap(struct arm_lpae_io_pgtable *data, unsigned long iova, size_t size, struct iommu_dirty_bitmap *dirty);
int arm_lpae_split_block(struct arm_lpae_io_pgtable *data, unsigned long iova);
int arm_lpae_merge_pages(struct arm_lpae_io_pgtable *data, unsigned long iova, int level);
int arm_lpae_read_and_clear_dirty(struct arm_lpae_io_pgtable *data, unsigned long iova, size_t size, unsigned long flags, struct iommu_dirty_bitmap *dirty);
int arm_lpae_split_all_blocks(struct arm_lpae_io_pgtable *data, struct arm_lpae_split_list *list);
void arm_lpae_mark_all_writeable_dirty(struct arm_lpae_io_pgtable *data);

#endif
