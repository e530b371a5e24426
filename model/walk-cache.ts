// The SMMU's walk caches as the rule on freeing page-table pages sees them (IOTLB-12).
//
// Requirements: IOTLB-12
//
// A walk may keep the table descriptors it read (the pointer to each next-level table) in a
// walk cache, beside the leaf the IOTLB keeps. The kit's SMMU uses no such cache, but any
// SMMU may: so the kit keeps, per table page, the addresses whose walks went through it,
// until an invalidation covering the address completes (CMD_TLBI_NH_VA, which the kit's
// driver interface sends with Leaf = 0, or CMD_TLBI_NH_ASID, then CMD_SYNC). A driver that
// frees a table page while a walk through it may still be cached lets the SMMU walk a page
// that may already hold something else.
import { ARM_LPAE_PTE_OA_MASK, ARM_LPAE_PTE_VALID, armLpaeLvlIdx, isTableDescriptor, type Level } from '../spec/descriptor/encoding.ts';
import { Violation } from './violation.ts';

const hex = (n: number) => `0x${n.toString(16)}`;

/** A command as the walk caches see it: the invalidations and the sync that completes them. */
export type WalkCacheCommand = { readonly op: 'CMD_TLBI_NH_VA'; readonly iova: number; readonly size: number } | { readonly op: 'CMD_TLBI_NH_ASID' } | { readonly op: 'CMD_SYNC' } | { readonly op: string };

/**
 * The table pages a walk for `iova` from `ttb0` reads through, below the top one (which the
 * CD points at): each next-level table a table descriptor on the way names, with its level.
 */
export function tablesOnWalk(load: (address: number) => bigint, ttb0: number, iova: number): { table: number; level: number }[] {
  const out: { table: number; level: number }[] = [];
  let table = ttb0;
  for (let level = 0 as Level; level < 3; level = (level + 1) as Level) {
    const pte = load(table + armLpaeLvlIdx(iova, level) * 8);
    if ((pte & ARM_LPAE_PTE_VALID) === 0n || !isTableDescriptor(pte, level)) break;
    table = Number(pte & ARM_LPAE_PTE_OA_MASK);
    out.push({ table, level: level + 1 });
  }
  return out;
}

export class WalkCaches {
  /** Per table page: its level, and the addresses (their 4 KiB pages) of walks through it not yet invalidated. */
  private readonly held = new Map<number, { readonly level: number; readonly pages: Set<number> }>();
  /** Invalidations submitted and not yet completed by a CMD_SYNC. */
  private pending: ({ readonly iova: number; readonly size: number } | 'all')[] = [];
  private found: Violation | undefined;

  /** A walk for `iova` read the table pages `tables` (each with the level of the table), from the top. */
  walked(iova: number, tables: readonly { readonly table: number; readonly level: number }[]): void {
    const page = iova - (iova % 4096);
    for (const { table, level } of tables) {
      let h = this.held.get(table);
      if (h === undefined || h.level !== level) {
        h = { level, pages: new Set() };
        this.held.set(table, h);
      }
      h.pages.add(page);
    }
  }

  /** Commands the driver submitted, in order: an invalidation takes effect at the next CMD_SYNC. */
  submitted(commands: readonly WalkCacheCommand[]): void {
    for (const c of commands) {
      if (c.op === 'CMD_TLBI_NH_VA' && 'iova' in c) this.pending.push({ iova: c.iova, size: c.size });
      else if (c.op === 'CMD_TLBI_NH_ASID') this.pending.push('all');
      else if (c.op === 'CMD_SYNC') this.complete();
    }
  }

  private complete(): void {
    const done = this.pending;
    this.pending = [];
    for (const inv of done) {
      if (inv === 'all') {
        this.held.clear();
        return;
      }
      for (const [table, h] of this.held) {
        for (const p of h.pages) if (p >= inv.iova && p < inv.iova + inv.size) h.pages.delete(p);
        if (h.pages.size === 0) this.held.delete(table);
      }
    }
  }

  /**
   * The driver frees the page at `address`: a table page a walk went through must have had
   * every such walk invalidated first (unlinked, then TLBI + CMD_SYNC over what it
   * translates, then freed). The first one freed too early is kept for `take`.
   * @req IOTLB-12
   * @source Linux v6.12.117 drivers/iommu/io-pgtable-arm.c __arm_lpae_unmap
   *         (io_pgtable_tlb_flush_walk, then __arm_lpae_free_pgtable); ARM IHI 0070 E.a
   *         §4.4 (CMD_TLBI_NH_VA with Leaf = 0 also invalidates the walk caches of the
   *         address), §16.2 (caching)
   */
  freed(address: number): void {
    const h = this.held.get(address);
    if (h === undefined) return;
    this.held.delete(address);
    if (this.found !== undefined) return;
    const first = Math.min(...h.pages);
    this.found = new Violation(
      'spec',
      ['IOTLB-12'],
      `the L${h.level} table page at ${hex(address)} freed only after the walks through it are invalidated (TLBI covering them, then CMD_SYNC)`,
      `freed while the walk of ${hex(first)}${h.pages.size > 1 ? ` (and ${h.pages.size - 1} more pages)` : ''} through it may still be cached`,
    );
  }

  /** The table page freed too early, if any (once). */
  take(): Violation | undefined {
    const v = this.found;
    this.found = undefined;
    return v;
  }
}
