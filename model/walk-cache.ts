// The SMMU's walk caches as the rule on freeing page-table pages sees them (IOTLB-12).
//
// Requirements: IOTLB-12
//
// A walk may keep the table descriptors it read (the pointer to each next-level table) in a
// walk cache, beside the leaf the IOTLB keeps. The kit's SMMU uses no such cache, but any
// SMMU may: so the kit keeps, per table page, the spans through which its walks reached it,
// until an invalidation meeting the span completes (CMD_TLBI_NH_VA, which the kit's driver
// interface sends with Leaf = 0, or CMD_TLBI_NH_ASID, then CMD_SYNC). A driver that frees a
// table page while a walk through it may still be cached lets the SMMU walk a page that may
// already hold something else. DEPARTS: with no Leaf field, a TLBI with Leaf = 1 (which
// keeps walk caches) is taken as Leaf = 0, so a driver that frees a table after only a
// leaf invalidation is not caught.
import { ARM_LPAE_PTE_OA_MASK, ARM_LPAE_PTE_VALID, armLpaeBlockSize, armLpaeLvlIdx, isTableDescriptor, type Level } from '../spec/descriptor/encoding.ts';
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
  /**
   * Per table page: its level, and the bases of the spans (what the entry pointing at it
   * translates) through which walks reached it, not yet invalidated. A table linked from one
   * entry has one span; one linked from several (a driver that reuses a table) has several.
   */
  private readonly held = new Map<number, { readonly level: number; readonly spans: Set<number> }>();
  /** Invalidations submitted and not yet completed by a CMD_SYNC. */
  private pending: ({ readonly iova: number; readonly size: number } | 'all')[] = [];
  private found: Violation | undefined;

  /** A walk for `iova` read the table pages `tables` (each with the level of the table), from the top. */
  walked(iova: number, tables: readonly { readonly table: number; readonly level: number }[]): void {
    for (const { table, level } of tables) {
      const span = armLpaeBlockSize((level - 1) as Level);
      let h = this.held.get(table);
      if (h === undefined || h.level !== level) {
        h = { level, spans: new Set() };
        this.held.set(table, h);
      }
      h.spans.add(iova - (iova % span));
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

  /**
   * The invalidations complete. CMD_TLBI_NH_VA with Leaf = 0 drops every walk-cache entry used
   * to translate an address in its range: the entry pointing at a table is used for every
   * address of the table's span, so a range meeting the span drops it.
   */
  private complete(): void {
    const done = this.pending;
    this.pending = [];
    for (const inv of done) {
      if (inv === 'all') {
        this.held.clear();
        return;
      }
      for (const [table, h] of this.held) {
        const span = armLpaeBlockSize((h.level - 1) as Level);
        for (const base of h.spans) if (base < inv.iova + inv.size && inv.iova < base + span) h.spans.delete(base);
        if (h.spans.size === 0) this.held.delete(table);
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
    const first = Math.min(...h.spans);
    const span = armLpaeBlockSize((h.level - 1) as Level);
    this.found = new Violation(
      'spec',
      ['IOTLB-12'],
      `the L${h.level} table page at ${hex(address)} freed only after the walks through it are invalidated (a TLBI meeting the ${hex(span)} bytes it translates, then CMD_SYNC)`,
      `freed while a walk through it for [${hex(first)}, ${hex(first + span)}) may still be cached`,
    );
  }

  /** The table page freed too early, if any (once). */
  take(): Violation | undefined {
    const v = this.found;
    this.found = undefined;
    return v;
  }
}
