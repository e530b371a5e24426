/* SPDX-License-Identifier: MIT */
/*
 * Linux drivers/iommu/iommu-pages.h (v7.0): page-table memory. Here a frame of the
 * kit's memory (linux.h iommu_alloc_pages_sz, which also gives iommu_free_pages).
 */
#ifndef KERNEL_UPSTREAM_IOMMU_PAGES_H
#define KERNEL_UPSTREAM_IOMMU_PAGES_H

#include <kernel-upstream.h>

static inline void *iommu_alloc_pages_node_sz(int nid, gfp_t gfp, size_t size)
{
	(void)nid;
	return iommu_alloc_pages_sz(gfp, size);
}

#endif /* KERNEL_UPSTREAM_IOMMU_PAGES_H */
