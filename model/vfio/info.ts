// What VFIO_IOMMU_GET_INFO must answer: the flags VFIO_IOMMU_INFO_PGSIZES | _CAPS, and the
// migration capability with flags 0, the smallest IOMMU page size as its only dirty page
// size and DIRTY_BITMAP_SIZE_MAX as the largest bitmap (dma_avail is the container's
// ContainerModel.dmaAvail).
//
// Requirements: VFIO-INFO-1.
// Sources: Linux v6.12.117 drivers/vfio/vfio_iommu_type1.c vfio_iommu_type1_get_info,
//          vfio_iommu_migration_build_caps, vfio_iommu_dma_avail_build_caps.
import { DIRTY_BITMAP_SIZE_MAX, VFIO_IOMMU_INFO_CAPS, VFIO_IOMMU_INFO_PGSIZES, minPgsize } from '../../spec/vfio/args.ts';

/** The flags hold PGSIZES and CAPS. */
export function infoFlagsOk(flags: number): boolean {
  return (flags & (VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS)) === (VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
}

/** The migration capability is the one vfio_iommu_migration_build_caps builds for `iovaPgsizes`. */
export function migrationCapabilityOk(iovaPgsizes: bigint, migration: { readonly flags: number; readonly pgsizeBitmap: bigint; readonly maxDirtyBitmapSize: bigint }): boolean {
  return iovaPgsizes !== 0n && migration.pgsizeBitmap === minPgsize(iovaPgsizes) && migration.maxDirtyBitmapSize === BigInt(DIRTY_BITMAP_SIZE_MAX) && migration.flags === 0;
}
