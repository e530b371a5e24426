// SPDX-License-Identifier: MIT
/*
 * The dirtyspec C ABI (conformance/lib/dirtyspec.h) for the smmu-driver profile over
 * the upstream page table and the iommufd / SMMUv3 domain of arm-smmu-upstream.c.
 */
#include "arm-smmu-upstream.h"

struct glue_domain {
	const struct dirtyspec_kit *kit;
	struct arm_smmu_domain *domain;
};

static struct arm_smmu_domain *enter(void *instance)
{
	struct glue_domain *g = (struct glue_domain *)instance;

	dirtyspec_current = g->kit;
	return g->domain;
}

extern "C" {

int dirtyspec_hello(uint32_t kit_abi, struct dirtyspec_hello *hello)
{
	if (kit_abi != DIRTYSPEC_ABI_VERSION)
		return -EPROTO;
	hello->abi = DIRTYSPEC_ABI_VERSION;
	hello->profiles = DIRTYSPEC_PROFILE_SMMU_DRIVER;
	hello->name = "kernel-upstream (Linux io-pgtable-arm.c, iommufd + arm-smmu-v3 domain)";
	return dirtyspec_linux_init();
}

/*
 * IOMMU_HWPT_ALLOC. `page_granular` has no counterpart in Linux and is ignored. A
 * refusal (-EOPNOTSUPP: dirty tracking asked of an SMMU without HTTU = 2) is returned
 * as Linux returns it.
 */
int dirtyspec_smmu_driver_create(const struct dirtyspec_kit *kit, const struct dirtyspec_smmu_driver_config *config, void **instance)
{
	struct glue_domain *g = kzalloc(sizeof(*g), GFP_KERNEL);
	int ret;

	if (!g)
		return -ENOMEM;
	g->kit = kit;
	dirtyspec_current = kit;
	ret = iommufd_hwpt_alloc(config->asid, config->idr0, config->dirty_capable, &g->domain);
	if (ret) {
		kfree(g);
		return ret;
	}
	*instance = g;
	return 0;
}

int dirtyspec_smmu_driver_map(void *d, uint64_t iova, uint64_t paddr, uint64_t size, uint32_t prot)
{
	return iommufd_ioas_map(enter(d), iova, paddr, size, (int)prot);
}

/* iommufd returns no dirty state on unmap: the bitmap stays all zero. */
uint64_t dirtyspec_smmu_driver_unmap(void *d, uint64_t iova, uint64_t size, struct dirtyspec_bitmap *bitmap)
{
	size_t unmapped = iommufd_ioas_unmap(enter(d), iova, size);

	bitmap->len = bitmap->cap;
	return unmapped;
}

/* Linux has neither operation (io_pgtable_ops: map, unmap, iova_to_phys, read_and_clear_dirty, walk). */
int dirtyspec_smmu_driver_split_block(void *d, uint64_t iova)
{
	(void)enter(d);
	(void)iova;
	return -EOPNOTSUPP;
}

int dirtyspec_smmu_driver_merge_pages(void *d, uint64_t iova, uint32_t level)
{
	(void)enter(d);
	(void)iova;
	(void)level;
	return -EOPNOTSUPP;
}

int dirtyspec_smmu_driver_read_and_clear_dirty(void *d, uint64_t iova, uint64_t size, uint32_t flags, struct dirtyspec_bitmap *bitmap)
{
	int ret = iommufd_hwpt_get_dirty_bitmap(enter(d), iova, size, flags, bitmap);

	bitmap->len = bitmap->cap;
	return ret;
}

int dirtyspec_smmu_driver_set_dirty_tracking(void *d, bool enable)
{
	return iommufd_hwpt_set_dirty_tracking(enter(d), enable);
}

int dirtyspec_smmu_driver_attach(void *d, uint32_t stream_id)
{
	return iommufd_device_attach(enter(d), stream_id);
}

void dirtyspec_smmu_driver_destroy(void *d)
{
	struct glue_domain *g = (struct glue_domain *)d;

	iommufd_hwpt_destroy(g->domain);
	kfree(g);
}

} /* extern "C" */
