// The container's dirty state as the spec has it: the ghost of the pages a device wrote
// and nobody has reported-and-cleared (model/ghost.ts), and what the spec lets a report
// hold besides them (PRECISION-1): without hardware tracking every mapped page
// (VFIO-DIRTY-14); with it, a new mapping's pages (mapped while tracking, not cleared since)
// and every page of a 2 MiB block leaf written while tracking (a block is dirty or clean
// whole) until a report clears the whole block.
//
// Without hardware tracking the scope follows the groups: every mapped page while the
// device's group is attached; once it is detached, the pages dirtied through the container
// and every page of every mapping the detach made dirty (VFIO-DETACH-1).
//
// Requirements: NOLOSS-1..3 (UNMAP-R1, UNMAP-U3 in NOLOSS-3's place under rfc-2021,
//               linux-upstream), PRECISION-1, VFIO-DIRTY-3, VFIO-DIRTY-5, VFIO-DIRTY-13,
//               VFIO-DIRTY-14, VFIO-DETACH-1, VFIO-CLEAR-4..6, VFIO-UNMAP-12.
// Sources: Linux v6.12.117 drivers/vfio/vfio_iommu_type1.c: vfio_iommu_type1_dirty_pages
//          (START: vfio_dma_bitmap_alloc_all; STOP: vfio_dma_bitmap_free_all, the state not
//          yet reported dropped), vfio_dma_do_map (a mapping made while tracking gets its
//          bitmap: vfio_dma_bitmap_alloc), vfio_iova_dirty_bitmap and update_user_bitmap
//          (a report; without pinned-page scope every page: num_non_pinned_groups),
//          vfio_iommu_type1_detach_group and vfio_iommu_populate_bitmap_full (the detach),
//          vfio_dma_do_unmap (VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP reports the range
//          unmapped); the manual clear of patch 11/11 "vfio/iommu_type1: Add support for
//          manual dirty log clear" v2, <20210310090614.26668-12-zhukeqian1@huawei.com>
//          (vfio_iova_dirty_log_clear); the block leaf dirty whole: Linux v6.12.117
//          drivers/iommu/io-pgtable-arm.c io_pgtable_visit_dirty (one DBM state per leaf).
//          vfio_dma_rw (VFIO-RW-3, VFIO-RW-4): Linux v6.12.117 vfio_iommu_type1_dma_rw_chunk
//          marks the pages a write copied to in dma->bitmap, which update_user_bitmap
//          reports and vfio_iova_dirty_bitmap clears; the pages of a refused access's earlier
//          chunks may or may not be written (neither owed nor false dirty). Under rfc-2021
//          (the container on the 2021 HTTU RFC's IOMMU): VFIO RFC v2 2/3
//          <20210507103608.39440-3-zhukeqian1@huawei.com> vfio_dma_do_unmap (sync, stop,
//          remove: UNMAP-R1) and RFC v4 <20210507102211.8836-1-zhukeqian1@huawei.com> (start
//          clears no stale dirty state: TRACK-R2). Under linux-upstream (the container as
//          the VMM over iommufd on Linux v6.18): the unmap reports nothing (UNMAP-U3:
//          io-pgtable-arm.c __arm_lpae_clear_pte), and no TLBI follows a read-and-clear or
//          enabling's clear (drivers/iommu/iommufd/io_pagetable.c iopt_read_and_clear_dirty_data,
//          iopt_clear_dirty_data; arm-smmu-v3.c arm_smmu_iotlb_sync returns for a gather without
//          page size), so an IOTLB entry cached writable-dirty absorbs later writes (H-U2, H-U3).
import { fallbackScope } from '../../spec/vfio/args.ts';
import { DirtyGhost } from '../ghost.ts';
import { Violation } from '../violation.ts';
import { type Mapping, followed } from './container.ts';

/** The rule UNMAP_DMA's bitmap answers to: NOLOSS-3 (strict), or the contract's rule in its place (rfc-2021: UNMAP-R1; linux-upstream: UNMAP-U3). */
export type UnmapRule = 'NOLOSS-3' | 'UNMAP-R1' | 'UNMAP-U3';

/** What the IOMMU's driver contract (spec/contracts/) changes in the container's dirty state. */
export interface VfioDirtyContract {
  /** The rule UNMAP_DMA's bitmap is judged by. */
  readonly unmapRule: UnmapRule;
  /** START clears the dirty state left from before it (strict TRACK-3); false: rfc-2021's TRACK-R2. */
  readonly startClearsStale: boolean;
  /**
   * The clears that leave the IOTLB as it was (linux-upstream on SMMUv3: no TLBI after a
   * read-and-clear, CLEAR-U4, hazard H-U2, nor after START's clear, TRACK-U2, hazard H-U3):
   * an entry cached writable-dirty then absorbs the device's next writes to its leaf.
   */
  readonly clearsWithoutTlbi?: { readonly start: boolean; readonly report: boolean };
}

export const STRICT_VFIO_DIRTY: VfioDirtyContract = { unmapRule: 'NOLOSS-3', startClearsStale: true };

/** VFIO_DMA_MAP_FLAG_WRITE (include/uapi/linux/vfio.h). */
const VFIO_DMA_MAP_FLAG_WRITE = 1 << 1;

/** A 2 MiB block leaf (the block mappings the kit makes: 2 MiB-aligned IOVA and vaddr). */
export const BLOCK_SIZE = 0x20_0000;
const PAGE = 4096;
const PAGES_PER_BLOCK = BLOCK_SIZE / PAGE;
const hex = (v: number) => `0x${v.toString(16)}`;

export class DirtyState {
  readonly ghost = new DirtyGhost();
  /** Pages mapped while hardware tracking was on and not cleared since: a new mapping may start dirty. */
  readonly newlyMapped = new Set<number>();
  /** The 2 MiB block mappings (their leaf is one block), and those written while tracking and not cleared whole since: every page of such a block may be reported. */
  readonly blocks = new Set<number>();
  readonly dirtyBlocks = new Set<number>();
  /** Pages owed because a vfio_dma_rw write dirtied them (the call's text): a report lacking one breaks VFIO-RW-3. */
  private readonly rwOwed = new Map<number, string>();
  /**
   * Leaves (a page, or the base of a block mapping) the device wrote since they were mapped:
   * their IOTLB entry may be cached writable-dirty. Followed only where a clear leaves the
   * IOTLB as it was (VfioDirtyContract.clearsWithoutTlbi).
   */
  private readonly cachedDirty = new Set<number>();
  /**
   * Leaves cleared without a TLBI since such a write: a device write there may go through
   * the stale entry and set no dirty state (H-U2, H-U3, the contract's defects), so it is
   * written (a report may hold it) but not owed, until the leaf is unmapped.
   */
  private readonly staleEntry = new Set<number>();
  /**
   * Whether the group of the container's device (IOMMU-backed, pinning no pages) is attached:
   * without hardware tracking every mapped page may then be reported (VFIO-DIRTY-14).
   */
  private deviceAttached = true;
  /**
   * The mappings (by IOVA) a detach while tracking made dirty whole, until a clearing report
   * over them (VFIO-DETACH-1), each with the pages CLEAR_BITMAP has cleared since.
   */
  private readonly fullAfterDetach = new Map<bigint, Set<number>>();
  /** Pages the device wrote that were owed when its group was detached: a report lacking one is charged to VFIO-DETACH-1. */
  private readonly owedAtDetach = new Set<number>();
  /** Pages a vfio_dma_rw access touched without dirtying them (a read; at or past a refusal): a report holding one, not written since, breaks `req`. */
  private readonly rwClean = new Map<number, { readonly op: string; readonly req: readonly string[] }>();

  constructor(
    /** The IOMMU records dirty state in hardware; false: the all-dirty fallback (VFIO-DIRTY-14). */
    readonly hwDirty: boolean,
    /** The container's mappings (ContainerModel's own array, kept in step by it). */
    private readonly mappings: readonly Mapping[],
    /** What the IOMMU's driver contract changes here (default strict's). */
    readonly contract: VfioDirtyContract = STRICT_VFIO_DIRTY,
  ) {}

  blockOf(page: number): number | undefined {
    const base = page - (page % BLOCK_SIZE);
    return this.blocks.has(base) ? base : undefined;
  }

  /** PRECISION-1: whether the spec lets a report hold `page` though it was not written since its last clear. */
  readonly allowed = (page: number): boolean => {
    if (!this.hwDirty) {
      const p = BigInt(page);
      const m = this.mappings.find((m) => p >= m.iova && p < m.iova + m.size);
      // VFIO-DIRTY-14 while the device's group is attached; VFIO-DETACH-1 for a mapping its detach made dirty (less the pages cleared since).
      return m !== undefined && fallbackScope(this.deviceAttached ? 1 : 0, this.fullAfterDetach.get(m.iova)?.has(page) === false) === 'every-page';
    }
    const block = this.blockOf(page);
    return this.newlyMapped.has(page) || (block !== undefined && this.dirtyBlocks.has(block));
  };

  /**
   * START turned tracking on (VFIO-DIRTY-3): nothing is owed yet, no stale allowance is kept.
   * Where starting clears no stale state (rfc-2021, TRACK-R2), a report until the page is
   * next cleared may hold any page of a writable mapping (written, or mapped writable-dirty,
   * before START) and every page of a writable block.
   */
  trackingStarted(): void {
    this.ghost.trackingStarted();
    this.newlyMapped.clear();
    this.dirtyBlocks.clear();
    this.rwOwed.clear();
    this.rwClean.clear();
    this.fullAfterDetach.clear();
    this.owedAtDetach.clear();
    if (this.contract.clearsWithoutTlbi?.start === true) for (const leaf of this.cachedDirty) this.staleEntry.add(leaf);
    if (this.contract.startClearsStale || !this.hwDirty) return;
    for (const m of this.mappings) {
      if (!followed(m) || (m.flags & VFIO_DMA_MAP_FLAG_WRITE) === 0) continue;
      for (let p = Number(m.iova); p < Number(m.iova + m.size); p += PAGE) this.newlyMapped.add(p);
      if (this.blocks.has(Number(m.iova))) this.dirtyBlocks.add(Number(m.iova));
    }
  }

  /** STOP turned tracking off (VFIO-DIRTY-5): the dirty state not yet reported is dropped. */
  trackingStopped(): void {
    this.ghost.trackingStopped();
    this.newlyMapped.clear();
    this.dirtyBlocks.clear();
    this.rwOwed.clear();
    this.rwClean.clear();
    this.fullAfterDetach.clear();
    this.owedAtDetach.clear();
  }

  /** Whether the device's group is attached (the kit's device writes only then). */
  get device(): boolean {
    return this.deviceAttached;
  }

  /**
   * The device's group left the container (VFIO-DETACH-1): without hardware tracking, while
   * tracking, every mapping becomes dirty whole, and what the device wrote stays owed.
   */
  deviceDetached(tracking: boolean): void {
    this.deviceAttached = false;
    if (!tracking || this.hwDirty) return;
    for (const m of this.mappings) this.fullAfterDetach.set(m.iova, new Set());
    for (const p of this.ghost.owed) if (!this.rwOwed.has(p)) this.owedAtDetach.add(p);
  }

  /** The device's group joined the container again: every mapped page may be reported again (VFIO-DIRTY-14). */
  deviceReattached(): void {
    this.deviceAttached = true;
  }

  /** Whether a report over [iova, iova + size) answers for VFIO-DETACH-1: a mapping a detach made dirty lies in it. */
  reportsDetach(iova: number, size: number): boolean {
    for (const m of this.fullAfterDetach.keys()) if (m >= BigInt(iova) && m < BigInt(iova + size)) return true;
    return false;
  }

  /** A mapping was made: while hardware tracking is on, its pages may start dirty. */
  mapped(m: Mapping, tracking: boolean): void {
    if (tracking && this.hwDirty && followed(m)) for (let p = Number(m.iova); p < Number(m.iova + m.size); p += PAGE) this.newlyMapped.add(p);
  }

  /** The mapping at `iova` is one 2 MiB block leaf; made while tracking, it may start dirty (whole). */
  blockMapped(iova: number, tracking: boolean): void {
    this.blocks.add(iova);
    if (tracking && this.hwDirty) this.dirtyBlocks.add(iova);
  }

  /** `m` was unmapped: nothing is owed or allowed for its pages any more. */
  unmapped(m: Mapping): void {
    const iova = Number(m.iova);
    this.ghost.forget(iova, Number(m.size));
    if (this.newlyMapped.size > 0) {
      if (followed(m)) for (let p = iova; p < Number(m.iova + m.size); p += PAGE) this.newlyMapped.delete(p);
      else for (const p of [...this.newlyMapped]) if (BigInt(p) >= m.iova && BigInt(p) < m.iova + m.size) this.newlyMapped.delete(p);
    }
    this.blocks.delete(iova);
    this.dirtyBlocks.delete(iova);
    for (const set of [this.cachedDirty, this.staleEntry]) for (const leaf of [...set]) if (BigInt(leaf) >= m.iova && BigInt(leaf) < m.iova + m.size) set.delete(leaf);
    for (const map of [this.rwOwed, this.rwClean]) for (const p of [...map.keys()]) if (BigInt(p) >= m.iova && BigInt(p) < m.iova + m.size) map.delete(p);
    this.fullAfterDetach.delete(m.iova);
    for (const p of [...this.owedAtDetach]) if (BigInt(p) >= m.iova && BigInt(p) < m.iova + m.size) this.owedAtDetach.delete(p);
  }

  /** The device's write to `page` went through: owed while tracking; a block leaf becomes dirty whole (hardware tracking). */
  written(page: number, tracking: boolean): void {
    this.rwOwed.delete(page);
    this.rwClean.delete(page);
    const block = this.blockOf(page);
    const leaf = block ?? page;
    // Through an entry a clear left stale (H-U2, H-U3): written, maybe dirty, not owed.
    if (this.staleEntry.has(leaf)) this.ghost.written.add(page);
    else this.ghost.dmaWrite(page);
    if (this.contract.clearsWithoutTlbi !== undefined) this.cachedDirty.add(leaf);
    if (block !== undefined && tracking && this.hwDirty) this.dirtyBlocks.add(block);
  }

  /** A clear without a TLBI over the leaves of [iova, iova + size) (`pages`: those of them it selected, else all): the ones written since mapped may be cached writable-dirty. */
  private clearedWithoutTlbi(iova: number, size: number, pages?: ReadonlySet<number>): void {
    if (this.contract.clearsWithoutTlbi?.report !== true) return;
    for (const leaf of this.cachedDirty) {
      const end = leaf + (this.blocks.has(leaf) ? BLOCK_SIZE : PAGE);
      if (leaf >= iova + size || end <= iova) continue;
      if (pages === undefined || [...pages].some((p) => p >= leaf && p < end)) this.staleEntry.add(leaf);
    }
  }

  /**
   * GET_BITMAP or GET_BITMAP_NOCLEAR over [iova, iova + size) returned `pages` (NOLOSS-1,
   * NOLOSS-2, PRECISION-1, through the ghost); a clearing one (GET_BITMAP) clears the new
   * mappings' pages and the blocks wholly inside the range.
   */
  reported(iova: number, size: number, pages: ReadonlySet<number>, clear: boolean): void {
    this.blameRw(iova, size, pages, 'NOLOSS-1');
    this.blameDetach(iova, size, pages, 'NOLOSS-1');
    this.blameScope(pages);
    this.ghost.endReport(iova, size, pages, clear, this.allowed, 'NOLOSS-1');
    // A page a report has shown was recorded: a later loss of it is not the access's. The
    // detach's pages stay the detach's until a report clears them: after a NO_CLEAR read, the
    // container's record of them is still the detach's whole-dirty mapping.
    for (const p of pages) this.rwOwed.delete(p);
    if (!clear) return;
    for (const p of pages) this.owedAtDetach.delete(p);
    for (const m of [...this.fullAfterDetach.keys()]) if (m >= BigInt(iova) && m < BigInt(iova + size)) this.fullAfterDetach.delete(m);
    this.clearedWithoutTlbi(iova, size);
    // The range's pages leave newlyMapped: walked from the smaller side (a report covers up to the whole window).
    if (this.newlyMapped.size > size / PAGE) {
      for (let p = iova; p < iova + size; p += PAGE) this.newlyMapped.delete(p);
    } else for (const p of [...this.newlyMapped]) if (p >= iova && p < iova + size && (p - iova) % PAGE === 0) this.newlyMapped.delete(p);
    for (const b of [...this.dirtyBlocks]) if (b >= iova && b + BLOCK_SIZE <= iova + size) this.dirtyBlocks.delete(b);
  }

  /**
   * UNMAP_DMA's bitmap over [iova, iova + size) held `pages` (NOLOSS-3, or the contract's rule
   * in its place: rfc-2021's UNMAP-R1, the sync before the unmap; PRECISION-1): a clearing
   * report; the mappings it removed are forgotten next (`unmapped`).
   */
  reportedByUnmap(iova: number, size: number, pages: ReadonlySet<number>): void {
    this.blameRw(iova, size, pages, this.contract.unmapRule);
    this.blameDetach(iova, size, pages, this.contract.unmapRule);
    this.blameScope(pages);
    this.ghost.endReport(iova, size, pages, true, this.allowed, this.contract.unmapRule);
  }

  /**
   * A vfio_dma_rw write copied to `pages` (every page its copied chunks touched): written,
   * and owed while tracking (VFIO-RW-3), by the call `op`.
   */
  rwWritten(op: string, pages: readonly number[], tracking: boolean): void {
    for (const p of pages) {
      this.rwClean.delete(p);
      this.ghost.dmaWrite(p);
      if (tracking) this.rwOwed.set(p, op);
    }
  }

  /**
   * VFIO-RW-4: a refused write's chunks before the refusal may or may not have been copied:
   * their pages become allowed in a report (as written) but are not owed.
   */
  rwMaybeWritten(pages: readonly number[]): void {
    for (const p of pages) {
      this.rwClean.delete(p);
      this.ghost.written.add(p);
    }
  }

  /** Pages an access touched without dirtying them (VFIO-RW-3: a read; VFIO-RW-4: at or past a refusal): until written, a report holding one is blamed on `op`. */
  rwUntouched(op: string, req: readonly string[], pages: readonly number[]): void {
    for (const p of pages) if (!this.ghost.written.has(p) && !this.allowed(p)) this.rwClean.set(p, { op, req });
  }

  /**
   * Before the ghost's verdict on a report over [iova, iova + size) holding `pages`: a page a
   * vfio_dma_rw write made owed and the report lacks is a loss charged to VFIO-RW-3; a page
   * an access left clean and the report holds (not written since, not allowed) is a false
   * dirty charged to its rule.
   */
  private blameRw(iova: number, size: number, pages: ReadonlySet<number>, req: 'NOLOSS-1' | UnmapRule): void {
    if (this.rwOwed.size > 0) {
      const lost = [...this.rwOwed.keys()].filter((p) => p >= iova && p < iova + size && this.ghost.owed.has(p) && !pages.has(p)).sort((a, b) => a - b);
      if (lost.length > 0) {
        const by = this.rwOwed.get(lost[0]!)!;
        throw new Violation('loss', ['VFIO-RW-3', req], `pages ${lost.slice(0, 8).map(hex).join(', ')} in the report (dirtied by ${by}: every page its bytes touched)`, 'the report did not include them');
      }
    }
    if (this.rwClean.size > 0) {
      for (const p of pages) {
        const blame = this.rwClean.get(p);
        if (blame === undefined || this.ghost.written.has(p) || this.allowed(p)) continue;
        throw new Violation('precision', [...blame.req, 'PRECISION-1'], `no report of page ${hex(p)}: ${blame.op} did not dirty it, and nothing wrote it since`, 'reported dirty');
      }
    }
  }

  /** Before the ghost's verdict: a page the device wrote before its group was detached, owed since, and missing from a report over it is a loss charged to VFIO-DETACH-1. */
  private blameDetach(iova: number, size: number, pages: ReadonlySet<number>, req: 'NOLOSS-1' | UnmapRule): void {
    if (this.owedAtDetach.size === 0) return;
    const lost = [...this.owedAtDetach].filter((p) => p >= iova && p < iova + size && this.ghost.owed.has(p) && !pages.has(p)).sort((a, b) => a - b);
    if (lost.length > 0)
      throw new Violation(
        'loss',
        ['VFIO-DETACH-1', req],
        `pages ${lost.slice(0, 8).map(hex).join(', ')} in the report (written by the device before its group was detached: a detach while tracking makes every mapped page dirty)`,
        'the report did not include them',
      );
  }

  /**
   * Before the ghost's verdict: without hardware tracking and with the device's group out, a
   * page the report holds that nothing wrote and no detach left dirty is a false dirty of the
   * narrowed scope: charged to VFIO-DETACH-1 beside PRECISION-1 (a container that kept
   * reporting every mapped page after the detach).
   */
  private blameScope(pages: ReadonlySet<number>): void {
    if (this.hwDirty || this.deviceAttached) return;
    for (const p of pages) {
      if (this.ghost.written.has(p) || this.allowed(p) || this.rwClean.has(p)) continue;
      if (!this.mappings.some((m) => BigInt(p) >= m.iova && BigInt(p) < m.iova + m.size)) continue; // a hole: the ghost's own false dirty
      throw new Violation(
        'precision',
        ['VFIO-DETACH-1', 'PRECISION-1'],
        `no report of page ${hex(p)}: the device's group is out, so the scope is the pages dirtied through the container and those its detach left, and nothing dirtied this one`,
        'reported dirty',
      );
    }
  }

  /** Every page of the block at `b` is in `chosen`. */
  private static whole(b: number, chosen: ReadonlySet<number>): boolean {
    for (let i = 0; i < PAGES_PER_BLOCK; i++) if (!chosen.has(b + i * PAGE)) return false;
    return true;
  }

  /** VFIO-CLEAR-6 applies to a CLEAR_BITMAP selecting `selected`: with hardware tracking, it selects part of a block leaf. */
  selectsPartOfBlock(selected: readonly number[], chosen: ReadonlySet<number>): boolean {
    if (!this.hwDirty || this.blocks.size === 0) return false;
    for (const b of this.blocks) if (selected.some((p) => p >= b && p < b + BLOCK_SIZE) && !DirtyState.whole(b, chosen)) return true;
    return false;
  }

  /**
   * CLEAR_BITMAP over [iova, iova + size) cleared `selected` (VFIO-CLEAR-5): exactly those are
   * discharged, the rest of the range stays owed, kept by this call; a block leaf is clean
   * only when all of it was selected (VFIO-CLEAR-6).
   */
  clearedSelected(iova: number, size: number, selected: readonly number[], chosen: ReadonlySet<number>, call: { op: string; req: readonly string[] }): void {
    // The clear now answers for the owed pages of its range it keeps, and the selected ones are gone.
    for (const p of [...this.rwOwed.keys()]) if (p >= iova && p < iova + size) this.rwOwed.delete(p);
    this.ghost.clearedExactly(iova, size, selected, call);
    // The selected pages of a mapping a detach made dirty whole are clean now (VFIO-DETACH-1).
    for (const p of selected) {
      this.owedAtDetach.delete(p);
      for (const [m, cleared] of this.fullAfterDetach) if (BigInt(p) >= m && BigInt(p) < m + (this.mappings.find((x) => x.iova === m)?.size ?? 0n)) cleared.add(p);
    }
    this.clearedWithoutTlbi(iova, size, chosen);
    for (const p of selected) this.newlyMapped.delete(p);
    for (const b of [...this.dirtyBlocks]) if (chosen.has(b) && DirtyState.whole(b, chosen)) this.dirtyBlocks.delete(b);
  }

  /** After the final reports (one GET_BITMAP per mapping): nothing written while tracking is still owed (NOLOSS-1). */
  checkAllReported(): void {
    const left = [...this.ghost.owed];
    if (left.length > 0) throw new Violation('loss', ['NOLOSS-1'], 'every page written while tracking is reported by the final reports', `${left.length} pages never reported (${left.slice(0, 4).map(hex).join(', ')})`);
  }
}
