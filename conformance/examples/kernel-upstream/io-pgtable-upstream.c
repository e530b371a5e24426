// SPDX-License-Identifier: MIT
/*
 * The upstream page table compiled in this translation unit: <io-pgtable-arm.c> is
 * Linux's drivers/iommu/io-pgtable-arm.c as port.awk makes it (one line changed, the
 * rest of the file after the stage-1 allocator left out), found in the build directory
 * (Makefile). Below it, the two entry points of Linux drivers/iommu/io-pgtable.c (v7.0)
 * the SMMUv3 domain calls, for the one format it asks for (ARM_64_LPAE_S1).
 */
#include <io-pgtable-arm.c>
#undef new

/* alloc_io_pgtable_ops: io_pgtable_arm_64_lpae_s1_init_fns.alloc, then fmt, cookie and cfg. */
struct io_pgtable_ops *alloc_io_pgtable_ops(enum io_pgtable_fmt fmt, struct io_pgtable_cfg *cfg, void *cookie)
{
	struct io_pgtable *iop;

	if (fmt != ARM_64_LPAE_S1)
		return NULL;
	iop = arm_64_lpae_alloc_pgtable_s1(cfg, cookie);
	if (!iop)
		return NULL;
	iop->fmt = fmt;
	iop->cookie = cookie;
	iop->cfg = *cfg;
	return &iop->ops;
}

/*
 * free_io_pgtable_ops would flush the TLB (tlb_flush_all) and free the tables
 * (arm_lpae_free_pgtable walks them). The kit destroys an instance with no callback
 * allowed (C-ABI.md "Lifecycle"): its tables and frames end with the sequence. So only
 * this process's memory is freed here.
 */
void free_io_pgtable_ops(struct io_pgtable_ops *ops)
{
	if (ops)
		kfree(io_pgtable_ops_to_data(ops));
}
