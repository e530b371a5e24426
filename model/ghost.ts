// The ghost state behind the no-loss and precision verdicts (NOLOSS-1..3, PRECISION-1):
// which pages a device wrote while tracking was on and nobody has yet reported-and-cleared.
//
// Requirements: NOLOSS-1, NOLOSS-2, NOLOSS-3, PRECISION-1
//
// - A report over R must include every page of R owed when the call started
//   (NOLOSS-1). A page written while the call runs is owed by this report or a later one
//   (NOLOSS-2): if this report has it, it is discharged; if not, it stays owed.
// - A clearing report discharges exactly the pages it reports; pages outside R, or in R
//   but not reported, stay owed (a clear must not forget what it was not asked to).
// - Unmap with a dirty bitmap is a clearing report over the unmapped range (NOLOSS-3).
// - A reported page that was not written since its last clear is a false dirty unless
//   the spec made its leaf dirty (`allowed`) (PRECISION-1).
import { Violation } from './violation.ts';

const hex = (n: number) => `0x${n.toString(16)}`;

export class DirtyGhost {
  private on = false;
  /** Pages written while tracking and not reported-and-cleared since. */
  readonly owed = new Set<number>();
  /** Pages written (tracking or not) since their last report-and-clear. */
  readonly written = new Set<number>();
  private owedAtStart: Set<number> | undefined;
  private writtenDuring = new Set<number>();
  /**
   * For an owed page, the last clearing call whose range held it but which had to keep it
   * (it did not select or report it): if a later report lacks the page, that call is where
   * the implementation most likely forgot it, and the loss is charged to its rule.
   */
  private readonly keptBy = new Map<number, { op: string; req: readonly string[] }>();

  get tracking(): boolean {
    return this.on;
  }

  /** setDirtyTracking(true) returned: from now on writes are owed. */
  trackingStarted(): void {
    this.on = true;
    this.owed.clear();
    this.written.clear();
    this.keptBy.clear();
  }

  trackingStopped(): void {
    this.on = false;
    this.owed.clear();
    this.keptBy.clear();
  }

  /** A DMA write to `page` completed. */
  dmaWrite(page: number): void {
    if (this.on) this.owed.add(page);
    this.written.add(page);
    if (this.owedAtStart !== undefined) this.writtenDuring.add(page);
  }

  /** A reporting call is about to start. */
  beginReport(): void {
    this.owedAtStart = new Set(this.owed);
    this.writtenDuring = new Set();
  }

  /**
   * The call over [iova, iova + size) returned `reported` (page IOVAs). `allowed(page)`
   * says whether the spec made the page's leaf dirty when the call started.
   * @req NOLOSS-1 NOLOSS-2 NOLOSS-3 PRECISION-1
   * @source dirtyspec design: the no-loss and precision properties (docs/SOURCES.md); NOLOSS-3 from Linux v6.12.117 include/uapi/linux/vfio.h VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP
   */
  endReport(iova: number, size: number, reported: ReadonlySet<number>, clear: boolean, allowed: (page: number) => boolean, req: 'NOLOSS-1' | 'NOLOSS-3', notDue?: (page: number) => boolean): void {
    const before = this.owedAtStart ?? new Set<number>();
    this.owedAtStart = undefined;
    // `notDue`: pages of the range the contract's walk does not visit (a cursor past them, a hole before them): they stay owed, for a later report.
    const missing = [...before].filter((p) => p >= iova && p < iova + size && !reported.has(p) && !(notDue?.(p) ?? false)).sort((a, b) => a - b);
    if (missing.length > 0) {
      // Blame the call that was to keep a missing page, where there is one: the loss happened there.
      const culprit = missing.map((p) => this.keptBy.get(p)).find((k) => k !== undefined);
      if (culprit !== undefined) {
        const lost = missing.filter((p) => this.keptBy.get(p) === culprit);
        throw new Violation(
          'loss',
          [...culprit.req, req],
          `pages ${lost.map(hex).join(', ')} kept dirty by ${culprit.op} (inside its range, not cleared by it), so in this report`,
          'the report did not include them: the earlier call cleared what it had to keep',
        );
      }
      throw new Violation('loss', [req], `pages ${missing.map(hex).join(', ')} in the report (written while tracking, not yet reported)`, `the report did not include them`);
    }
    const falseDirty = [...reported].filter((p) => !this.written.has(p) && !this.writtenDuring.has(p) && !allowed(p)).sort((a, b) => a - b);
    if (falseDirty.length > 0) {
      throw new Violation(
        'precision',
        ['PRECISION-1'],
        `no report of pages ${falseDirty.slice(0, 8).map(hex).join(', ')}${falseDirty.length > 8 ? ', ...' : ''} (not written since their last clear, and clean in the spec)`,
        `reported dirty`,
      );
    }
    if (clear) {
      for (const p of reported) {
        this.owed.delete(p);
        this.written.delete(p);
        this.keptBy.delete(p);
      }
    }
  }

  /**
   * A clearing call over [iova, iova + size) that must clear exactly `discharged` (its
   * selected pages): those are no longer owed; every other owed page of the range must be
   * kept, and is remembered as kept by `call` (see `keptBy`).
   */
  clearedExactly(iova: number, size: number, discharged: Iterable<number>, call: { op: string; req: readonly string[] }): void {
    const gone = new Set(discharged);
    this.discharge(gone);
    for (const p of this.owed) if (p >= iova && p < iova + size && !gone.has(p)) this.keptBy.set(p, call);
  }

  /** Pages a report consumed outside the checked calls (the kit's own clears in smmu-hw). */
  discharge(pages: Iterable<number>): void {
    for (const p of pages) {
      this.owed.delete(p);
      this.written.delete(p);
      this.keptBy.delete(p);
    }
  }

  /** Pages of [iova, iova + size) are gone (unmapped): nothing more is owed for them. */
  forget(iova: number, size: number): void {
    for (const p of [...this.owed]) if (p >= iova && p < iova + size) this.owed.delete(p);
    for (const p of [...this.keptBy.keys()]) if (p >= iova && p < iova + size) this.keptBy.delete(p);
    for (const p of [...this.written]) if (p >= iova && p < iova + size) this.written.delete(p);
  }
}
