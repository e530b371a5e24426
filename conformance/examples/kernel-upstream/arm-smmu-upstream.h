/* SPDX-License-Identifier: MIT */
/*
 * An SMMUv3 stage-1 paging domain as iommufd reaches it (arm-smmu-upstream.c): the
 * kit's smmu-driver operations are the iommufd calls a VMM makes.
 */
#ifndef KERNEL_UPSTREAM_ARM_SMMU_UPSTREAM_H
#define KERNEL_UPSTREAM_ARM_SMMU_UPSTREAM_H

#include <linux/io-pgtable.h>

struct arm_smmu_domain;

/* IOMMU_HWPT_ALLOC: 0 and *out, or a negative errno (-EOPNOTSUPP: dirty tracking without HTTU = 2). */
int iommufd_hwpt_alloc(u32 asid, u32 idr0, bool dirty_tracking, struct arm_smmu_domain **out);
/* Frees this process's memory only: no callback into the kit. */
void iommufd_hwpt_destroy(struct arm_smmu_domain *d);
int iommufd_ioas_map(struct arm_smmu_domain *d, unsigned long iova, phys_addr_t paddr, size_t size, int prot);
size_t iommufd_ioas_unmap(struct arm_smmu_domain *d, unsigned long iova, size_t size);
int iommufd_hwpt_set_dirty_tracking(struct arm_smmu_domain *d, bool enable);
int iommufd_hwpt_get_dirty_bitmap(struct arm_smmu_domain *d, unsigned long iova, size_t size, unsigned long flags, struct dirtyspec_bitmap *bitmap);
int iommufd_device_attach(struct arm_smmu_domain *d, u32 sid);

#endif
