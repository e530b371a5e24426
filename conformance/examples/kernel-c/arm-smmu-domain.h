/* SPDX-License-Identifier: MIT */
/* An IOMMU domain on the SMMU (arm-smmu-domain.c): one page table, one ASID, its streams. */
#ifndef KERNEL_C_ARM_SMMU_DOMAIN_H
#define KERNEL_C_ARM_SMMU_DOMAIN_H

#include "io-pgtable-arm.h"

struct arm_smmu_domain;

struct arm_smmu_domain *arm_smmu_domain_alloc(u32 asid, u32 idr0, u32 idr3, bool dirty_capable, bool page_granular);
void arm_smmu_domain_free(struct arm_smmu_domain *d);
int arm_smmu_map(struct arm_smmu_domain *d, unsigned long iova, phys_addr_t paddr, size_t size, int prot);
size_t arm_smmu_unmap(struct arm_smmu_domain *d, unsigned long iova, size_t size, struct iommu_dirty_bitmap *dirty);
int arm_smmu_split_block(struct arm_smmu_domain *d, unsigned long iova);
int arm_smmu_merge_pages(struct arm_smmu_domain *d, unsigned long iova, int level);
int arm_smmu_read_and_clear_dirty(struct arm_smmu_domain *d, unsigned long iova, size_t size, unsigned long flags, struct iommu_dirty_bitmap *dirty);
int arm_smmu_set_dirty_tracking(struct arm_smmu_domain *d, bool enable);
int arm_smmu_attach_dev(struct arm_smmu_domain *d, u32 sid);

#endif
