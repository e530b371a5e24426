// SPDX-License-Identifier: MIT
/*
 * The dirtyspec C ABI (conformance/lib/dirtyspec.h) for the smmu-driver profile: each
 * exported function sets the kit's callbacks for the shim and calls the domain. This is
 * all a kernel-style driver needs around it to run under `dirtyspec run --lib`.
 */
#include "arm-smmu-domain.h"

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
	hello->name = "kernel-c-io-pgtable-arm";
	return dirtyspec_linux_init();
}

int dirtyspec_smmu_driver_create(const struct dirtyspec_kit *kit, const struct dirtyspec_smmu_driver_config *config, void **instance)
{
	struct glue_domain *g = kzalloc(sizeof(*g), GFP_KERNEL);

	if (!g)
		return -ENOMEM;
	g->kit = kit;
	dirtyspec_current = kit;
	g->domain = arm_smmu_domain_alloc(config->asid, config->idr0, config->idr3, config->dirty_capable, config->page_granular);
	if (!g->domain) {
		kfree(g);
		return -ENOMEM;
	}
	*instance = g;
	return 0;
}

int dirtyspec_smmu_driver_map(void *d, uint64_t iova, uint64_t paddr, uint64_t size, uint32_t prot)
{
	return arm_smmu_map(enter(d), iova, paddr, size, (int)prot);
}

uint64_t dirtyspec_smmu_driver_unmap(void *d, uint64_t iova, uint64_t size, struct dirtyspec_bitmap *bitmap)
{
	struct iommu_dirty_bitmap dirty;
	size_t unmapped;

	iommu_dirty_bitmap_init(&dirty, bitmap, NULL);
	unmapped = arm_smmu_unmap(enter(d), iova, size, &dirty);
	bitmap->len = bitmap->cap;
	return unmapped;
}

int dirtyspec_smmu_driver_split_block(void *d, uint64_t iova)
{
	return arm_smmu_split_block(enter(d), iova);
}

int dirtyspec_smmu_driver_merge_pages(void *d, uint64_t iova, uint32_t level)
{
	return arm_smmu_merge_pages(enter(d), iova, (int)level);
}

int dirtyspec_smmu_driver_read_and_clear_dirty(void *d, uint64_t iova, uint64_t size, uint32_t flags, struct dirtyspec_bitmap *bitmap)
{
	struct iommu_dirty_bitmap dirty;
	int ret;

	iommu_dirty_bitmap_init(&dirty, bitmap, NULL);
	ret = arm_smmu_read_and_clear_dirty(enter(d), iova, size, flags, &dirty);
	bitmap->len = bitmap->cap;
	return ret;
}

int dirtyspec_smmu_driver_set_dirty_tracking(void *d, bool enable)
{
	return arm_smmu_set_dirty_tracking(enter(d), enable);
}

int dirtyspec_smmu_driver_attach(void *d, uint32_t stream_id)
{
	return arm_smmu_attach_dev(enter(d), stream_id);
}

void dirtyspec_smmu_driver_destroy(void *d)
{
	struct glue_domain *g = (struct glue_domain *)d;

	arm_smmu_domain_free(g->domain);
	kfree(g);
}

} /* extern "C" */
