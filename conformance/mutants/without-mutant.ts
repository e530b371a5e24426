// The ratchet of the requirement matrix: requirement IDs that no zoo mutant's kill names
// yet. The matrix test (matrix.test.ts) runs the whole zoo and fails when an ID is
// neither killed by some mutant nor listed here, and when a listed ID is killed (take it
// off the list): the list only shrinks. An ID comes off by a new mutant, a real way to
// get that rule wrong, whose counterexample names it.
//
// Why each one left has none yet (what a mutant would break, and why no run can see it):
// - UNMAP-U3 (linux-upstream: the unmap reports no dirty state; the caller read-and-clears
//   first). For a driver the rule only permits (an unmap reporting more loses nothing);
//   in smmu-driver and smmu-hw the kit is the caller, and the unmap path's own faults are
//   other rules' (upstream-unmap-splits-block, upstream-unmap-skips-hole: UNMAP-1 with
//   UNMAP-U1, UNMAP-U2). The caller that can break it is the VMM over iommufd (upstream
//   type1 has no hardware dirty tracking; Linux v6.18 iommufd_vfio_unmap_dma refuses
//   GET_DIRTY_BITMAP): IOMMU_HWPT_GET_DIRTY_BITMAP over a range before IOMMU_IOAS_UNMAP.
//   QEMU's iommufd backend missed it (hw/vfio/iommufd.c iommufd_cdev_unmap: "TODO: Handle
//   dma_unmap_bitmap with iotlb args (migration)") until "vfio/iommufd: Query dirty bitmap
//   before DMA unmap" <20250910023701.244356-3-zhenzhong.duan@intel.com>. The mutant would
//   be that pre-fix caller, played as vfio-type1's UNMAP_DMA with GET_DIRTY_BITMAP on a
//   'linux-v6.18' domain (read-and-clear, then unmap; the mutant unmaps alone), as UNMAP-R1
//   is on 'rfc-v4'. Not sound yet: the 'linux-v6.18' domain keeps the contract's defects
//   H-U2 and H-U3 (no TLBI after read-and-clear, nor after enabling's clear: SMMUv3
//   arm_smmu_iotlb_sync skips a gather without page size), so a device write through an
//   IOTLB entry cached writable-dirty is lost at the next report. vfio-type1 sees the
//   container as a black box, not the IOTLB: its judge would either fail the reference on
//   those losses or excuse every page written after a clear of a cached entry, which
//   includes the page the mutant loses (written after the last read, missing at the
//   unmap), so the mutant would survive. It needs the IOTLB's state across the vfio
//   adapter (or a vfio-type1 run on the smmu engine's model of it), and the manual-clear
//   ioctls the profile draws refused (iommufd has no clear by bitmap).
export const WITHOUT_MUTANT: readonly string[] = ['UNMAP-U3'];

/** The list's length may not grow past this; lower it as IDs come off. */
export const WITHOUT_MUTANT_MAX = 1;
