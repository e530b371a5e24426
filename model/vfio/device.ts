// What the container's device may write: a DMA write goes through exactly where a mapping
// with VFIO_DMA_MAP_FLAG_WRITE translates it, and faults elsewhere (no mapping, or a
// read-only one): the IOMMU translates what MAP_DMA mapped, with its permissions, and
// nothing once UNMAP_DMA removed it.
//
// Requirements: VFIO-MAP-9, VFIO-UNMAP-11.
// Sources: Linux v6.12.117 drivers/vfio/vfio_iommu_type1.c vfio_dma_do_map (prot from
//          VFIO_DMA_MAP_FLAG_READ / _WRITE, vfio_pin_map_dma), vfio_dma_do_unmap
//          (vfio_remove_dma: vfio_unmap_unpin).
import { VFIO_DMA_MAP_FLAG_WRITE } from '../../spec/vfio/args.ts';
import { Violation } from '../violation.ts';
import type { Mapping } from './container.ts';

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

/** Whether a write through `m` (the mapping holding the page, if any) goes through. */
export function writeGoesThrough(m: Mapping | undefined): boolean {
  return m !== undefined && (m.flags & VFIO_DMA_MAP_FLAG_WRITE) !== 0;
}

/** The device's write at `iova`, translated by `m`, went through (`ok`) or faulted: as the spec says, or a violation. */
export function checkDeviceWrite(iova: bigint, m: Mapping | undefined, ok: boolean): void {
  const writable = writeGoesThrough(m);
  if (ok && !writable) throw new Violation('spec', m === undefined ? ['VFIO-UNMAP-11'] : ['VFIO-MAP-9'], `the device's write at ${hex(iova)} faults (${m === undefined ? 'no mapping' : 'read-only mapping'})`, 'it went through');
  if (!ok && writable) throw new Violation('spec', ['VFIO-MAP-9'], `the device's write at ${hex(iova)} goes through (mapping ${hex(m!.iova)}+${hex(m!.size)}, flags ${m!.flags})`, 'a fault');
}
