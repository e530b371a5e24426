// The container as the spec has it after each call: the type1 machine's state (tracking,
// manual clear), the DMA mappings, the free mapping slots and what GET_INFO reported of
// the IOMMU (page sizes, IOVA ranges). The classifiers of spec/vfio/args.ts read it as a
// `Type1ContainerView`; the machine's prediction (./prediction.ts) is taken from it.
//
// Requirements: VFIO-MAP-5 (dma_avail), VFIO-MAP-9 (a mapping made), VFIO-UNMAP-11 (the
//               mappings an unmap removes and the bytes it returns).
// Sources: Linux v6.12.117 drivers/vfio/vfio_iommu_type1.c: vfio_iommu_type1_open
//          (dma_avail = dma_entry_limit), vfio_dma_do_map (dma_avail--, vfio_link_dma),
//          vfio_dma_do_unmap (every vfio_dma inside [iova, iova + size), or all of them with
//          VFIO_DMA_UNMAP_FLAG_ALL; `unmapped` is the sum of their sizes), vfio_remove_dma
//          (dma_avail++).
import { VFIO_DMA_UNMAP_FLAG_ALL, type Type1ContainerView } from '../../spec/vfio/args.ts';
import { vfioType1StateOf, type VfioType1Event } from '../../spec/vfio/type1-machine.ts';
import type { RunContext } from '../run-context.ts';
import { type Prediction, type VfioType1Snapshot, predict, vfioType1Table } from './prediction.ts';

/** The page size the kit drives containers at (the smallest of VFIO_IOMMU_GET_INFO's iova_pgsizes). */
export const PAGE = 4096n;

export interface Mapping {
  readonly iova: bigint;
  readonly size: bigint;
  /** VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE as mapped. */
  readonly flags: number;
}

/**
 * The largest mapping whose pages the model follows one by one (1,024 pages): the kit's
 * INT_MAX-page mappings (VFIO-MAP-8, VFIO-DIRTY-4) are never written to nor reported over.
 */
export const FOLLOWED_SIZE_MAX = 1024n * PAGE;
export const followed = (m: Mapping): boolean => m.size <= FOLLOWED_SIZE_MAX;

export class ContainerModel {
  snapshot: VfioType1Snapshot = vfioType1Table().initial;
  /** The mappings, in IOVA order. */
  readonly mappings: Mapping[] = [];
  dmaAvail = 0;
  pgsizeBitmap = 0n;
  iovaRanges: readonly { start: bigint; end: bigint }[] = [];
  /** The followed mappings, in IOVA order, until the mappings change. */
  private followedCache: readonly Mapping[] | undefined;

  constructor(
    readonly ctx: RunContext,
    /** Process addresses below this can be pinned (VFIO-MAP-7). */
    readonly vaddrLimit: bigint,
  ) {}

  get tracking(): boolean {
    return vfioType1StateOf(this.snapshot).tracking === 'on';
  }

  get manualClear(): boolean {
    return vfioType1StateOf(this.snapshot).manualClear === 'negotiated';
  }

  view(): Type1ContainerView {
    return { pgsizeBitmap: this.pgsizeBitmap, mappings: this.mappings, dmaAvail: this.dmaAvail, iovaRanges: this.iovaRanges, vaddrLimit: this.vaddrLimit };
  }

  /** The machine's prediction for `event` in the container's state (its coverage recorded). */
  predict(event: VfioType1Event): Prediction {
    return predict(this.ctx, this.snapshot, event);
  }

  /** The call was made: the machine moves to the entry's next state (a refusal's is the same). */
  settle(x: Prediction): void {
    this.snapshot = x.entry.next;
  }

  /** The first GET_INFO: the IOMMU's page sizes and IOVA ranges, and the free mapping slots of a fresh container. */
  opened(info: { readonly iovaPgsizes: bigint; readonly iovaRanges: readonly { start: bigint; end: bigint }[]; readonly dmaAvail: number }): void {
    this.pgsizeBitmap = info.iovaPgsizes;
    this.iovaRanges = info.iovaRanges;
    this.dmaAvail = info.dmaAvail;
  }

  /** MAP_DMA succeeded (vfio_dma_do_map): one new mapping, one slot fewer. */
  mapped(m: Mapping): void {
    this.mappings.push(m);
    this.mappings.sort((a, b) => (a.iova < b.iova ? -1 : 1));
    this.followedCache = undefined;
    this.dmaAvail--;
  }

  /** The mappings a successful UNMAP_DMA over [iova, iova + size) removes (vfio_dma_do_unmap): those inside it, or all with VFIO_DMA_UNMAP_FLAG_ALL. */
  victims(flags: number, iova: bigint, size: bigint): Mapping[] {
    const all = (flags & VFIO_DMA_UNMAP_FLAG_ALL) !== 0;
    return this.mappings.filter((m) => all || (m.iova >= iova && m.iova + m.size <= iova + size));
  }

  /** `m` is gone (vfio_remove_dma): its slot is free again. */
  removed(m: Mapping): void {
    this.mappings.splice(this.mappings.indexOf(m), 1);
    this.followedCache = undefined;
    this.dmaAvail++;
  }

  /** The mappings the model follows page by page (`followed`), in IOVA order. */
  followedMappings(): readonly Mapping[] {
    this.followedCache ??= this.mappings.filter(followed);
    return this.followedCache;
  }

  /** The mapping holding `page`, if any. */
  mappingAt(page: bigint): Mapping | undefined {
    return this.mappings.find((d) => page >= d.iova && page < d.iova + d.size);
  }
}
