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
const PAGE = 4096;

/** Pages (their IOVAs) as a report or a walk gives them: a Set, or runs (`PageRuns`). */
export interface PageSet extends Iterable<number> {
  /** The number of pages. */
  readonly size: number;
  has(page: number): boolean;
}

/**
 * A set of pages as sorted, disjoint runs [start, end) of page addresses: a dirty 1 GiB
 * leaf is one run, not 262,144 numbers, so a report over it costs what the leaves cost.
 */
export class PageRuns implements PageSet {
  /** Starts and ends (exclusive), sorted; no two runs touch. */
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private count = 0;

  /**
   * The pages set in `bitmap`, bit i being the page `base + i * 4096`. Four bytes at a time
   * where they are all clear outside a run or all set inside one (a report over an 8 GiB range
   * is 262,144 bytes, mostly clear; a dirty 1 GiB block is 32,768 bytes of 0xff and one run),
   * else a byte, then a bit, at a time.
   */
  static fromBitmap(bitmap: Uint8Array, base: number): PageRuns {
    const out = new PageRuns();
    let from = -1; // the page index where the current run started, or -1
    const n = bitmap.length;
    // Whole 32-bit words where the view allows one (its offset a multiple of 4); only their being all clear or all set is read, so byte order does not matter.
    const words = bitmap.byteOffset % 4 === 0 ? new Uint32Array(bitmap.buffer, bitmap.byteOffset, n >>> 2) : undefined;
    let byte = 0;
    while (byte < n) {
      if (words !== undefined && byte % 4 === 0 && byte + 4 <= n) {
        const w = words[byte >>> 2]!;
        if (from < 0 ? w === 0 : w === 0xffffffff) {
          byte += 4;
          continue;
        }
      }
      const b = bitmap[byte]!;
      if (b === 0xff) {
        if (from < 0) from = byte * 8;
      } else if (b !== 0 || from >= 0) {
        for (let bit = 0; bit < 8; bit++) {
          if ((b & (1 << bit)) !== 0) {
            if (from < 0) from = byte * 8 + bit;
          } else if (from >= 0) {
            out.append(base + from * PAGE, base + (byte * 8 + bit) * PAGE);
            from = -1;
          }
        }
      }
      byte++;
    }
    if (from >= 0) out.append(base + from * PAGE, base + n * 8 * PAGE);
    return out;
  }

  /** Adds a run that starts after every run held (the caller's runs come in order). */
  private append(start: number, end: number): void {
    const n = this.starts.length;
    if (n > 0 && start <= this.ends[n - 1]!) {
      const e = Math.max(end, this.ends[n - 1]!);
      this.count += (e - this.ends[n - 1]!) / PAGE;
      this.ends[n - 1] = e;
      return;
    }
    this.starts.push(start);
    this.ends.push(end);
    this.count += (end - start) / PAGE;
  }

  static of(pages: Iterable<number>): PageRuns {
    const out = new PageRuns();
    for (const p of [...pages].sort((a, b) => a - b)) out.add(p, p + PAGE);
    return out;
  }

  get size(): number {
    return this.count;
  }

  /** The runs, in order. */
  runs(): [number, number][] {
    return this.starts.map((s, i) => [s, this.ends[i]!]);
  }

  /** Adds the pages of [start, end) (page-aligned; cheapest in increasing order). */
  add(start: number, end: number): void {
    if (end <= start) return;
    const n = this.starts.length;
    if (n === 0 || start >= this.starts[n - 1]!) {
      this.append(start, end);
      return;
    }
    // The first run that ends at or after `start` (runs touching [start, end) merge with it).
    let i = n;
    while (i > 0 && this.ends[i - 1]! >= start) i--;
    let j = i;
    let s = start;
    let e = end;
    while (j < n && this.starts[j]! <= end) {
      s = Math.min(s, this.starts[j]!);
      e = Math.max(e, this.ends[j]!);
      this.count -= (this.ends[j]! - this.starts[j]!) / PAGE;
      j++;
    }
    this.starts.splice(i, j - i, s);
    this.ends.splice(i, j - i, e);
    this.count += (e - s) / PAGE;
  }

  has(page: number): boolean {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (page < this.starts[mid]!) hi = mid - 1;
      else if (page >= this.ends[mid]!) lo = mid + 1;
      else return true;
    }
    return false;
  }

  /** The pages of this set that `other` holds too. */
  within(other: PageRuns): PageRuns {
    return this.minus(this.minus(other));
  }

  /** The pages of this set that `other` lacks. */
  minus(other: PageRuns): PageRuns {
    const out = new PageRuns();
    const os = other.runs();
    let k = 0;
    for (let i = 0; i < this.starts.length; i++) {
      let s = this.starts[i]!;
      const e = this.ends[i]!;
      while (k < os.length && os[k]![1] <= s) k++;
      for (let q = k; q < os.length && os[q]![0] < e; q++) {
        if (os[q]![0] > s) out.add(s, os[q]![0]);
        s = Math.max(s, os[q]![1]);
      }
      if (s < e) out.add(s, e);
    }
    return out;
  }

  equals(other: PageRuns): boolean {
    return this.starts.length === other.starts.length && this.starts.every((s, i) => s === other.starts[i] && this.ends[i] === other.ends[i]);
  }

  copy(): PageRuns {
    const out = new PageRuns();
    for (let i = 0; i < this.starts.length; i++) out.add(this.starts[i]!, this.ends[i]!);
    return out;
  }

  *[Symbol.iterator](): Iterator<number> {
    for (let i = 0; i < this.starts.length; i++) for (let p = this.starts[i]!; p < this.ends[i]!; p += PAGE) yield p;
  }

  /** As a trace prints pages: `[0x1000-0x3000 (3 pages), 0x8000]`. */
  text(): string {
    return `[${this.starts.map((s, i) => (this.ends[i]! - s === PAGE ? hex(s) : `${hex(s)}-${hex(this.ends[i]! - PAGE)} (${(this.ends[i]! - s) / PAGE} pages)`)).join(', ')}]`;
  }
}

export class DirtyGhost {
  /**
   * `reached`, when given, collects the requirements a report's check could have failed:
   * NOLOSS-1 or NOLOSS-3 when a page of its range was owed, NOLOSS-2 when a page of its
   * range was written while it ran, PRECISION-1 for any report over a non-empty range.
   */
  constructor(private readonly reached?: Set<string>) {}

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
  /** Pages written while a clearing report over them ran that it did not report: owed by a later report (NOLOSS-2). */
  private readonly raced = new Set<number>();
  /** For a written page a clearing call (clearedExactly) cleared and nothing has written since: that call. */
  private readonly clearedBy = new Map<number, { op: string; req: readonly string[] }>();

  get tracking(): boolean {
    return this.on;
  }

  /** setDirtyTracking(true) returned: from now on writes are owed. */
  trackingStarted(): void {
    this.on = true;
    this.owed.clear();
    this.written.clear();
    this.keptBy.clear();
    this.raced.clear();
    this.clearedBy.clear();
  }

  trackingStopped(): void {
    this.on = false;
    this.owed.clear();
    this.keptBy.clear();
    this.raced.clear();
    this.clearedBy.clear();
  }

  /** Whether a page in [from, to) is owed. */
  owesIn(from: number, to: number): boolean {
    for (const p of this.owed) if (p >= from && p < to) return true;
    return false;
  }

  /** A DMA write to `page` completed. */
  dmaWrite(page: number): void {
    this.clearedBy.delete(page);
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
  endReport(iova: number, size: number, reported: PageSet, clear: boolean, allowed: ((page: number) => boolean) | 'any', req: 'NOLOSS-1' | 'NOLOSS-3' | 'UNMAP-R1' | 'UNMAP-U3', notDue?: (page: number) => boolean): void {
    const before = this.owedAtStart ?? new Set<number>();
    this.owedAtStart = undefined;
    // `notDue`: pages of the range the contract's walk does not visit (a cursor past them, a hole before them): they stay owed, for a later report.
    const inRange = (p: number) => p >= iova && p < iova + size;
    const due = [...before].filter((p) => inRange(p) && !(notDue?.(p) ?? false));
    const during = [...this.writtenDuring].filter(inRange);
    if (due.length > 0) this.reached?.add(req);
    if (this.on && during.length > 0) this.reached?.add('NOLOSS-2');
    if (size > 0) this.reached?.add('PRECISION-1');
    const missing = due.filter((p) => !reported.has(p)).sort((a, b) => a - b);
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
      // A page an earlier report raced with and did not report was due here (NOLOSS-2).
      throw new Violation('loss', missing.some((p) => this.raced.has(p)) ? [req, 'NOLOSS-2'] : [req], `pages ${missing.map(hex).join(', ')} in the report (written while tracking, not yet reported)`, `the report did not include them`);
    }
    // 'any': the caller has checked every reported page against the spec's leaves already.
    const falseDirty = allowed === 'any' ? [] : [...reported].filter((p) => !this.written.has(p) && !this.writtenDuring.has(p) && !allowed(p)).sort((a, b) => a - b);
    if (falseDirty.length > 0) {
      // Blame the call that cleared a falsely reported page, where there is one: it did not clear it.
      const culprit = falseDirty.map((p) => this.clearedBy.get(p)).find((c) => c !== undefined);
      throw new Violation(
        'precision',
        [...(culprit?.req ?? []), 'PRECISION-1'],
        `no report of pages ${falseDirty.slice(0, 8).map(hex).join(', ')}${falseDirty.length > 8 ? ', ...' : ''} (not written since their last clear, and clean in the spec)`,
        `reported dirty`,
      );
    }
    if (clear) {
      this.discharge(reported);
      for (const p of during) if (this.owed.has(p)) this.raced.add(p);
    }
  }

  /**
   * A clearing call over [iova, iova + size) that must clear exactly `discharged` (its
   * selected pages): those are no longer owed; every other owed page of the range must be
   * kept, and is remembered as kept by `call` (see `keptBy`).
   */
  clearedExactly(iova: number, size: number, discharged: Iterable<number>, call: { op: string; req: readonly string[] }): void {
    const gone = new Set(discharged);
    const dirtied = [...gone].filter((p) => this.owed.has(p) || this.written.has(p));
    this.discharge(gone);
    // A written page the call cleared, reported again before anything writes it, is the call's false dirty: it did not clear it.
    for (const p of dirtied) this.clearedBy.set(p, call);
    for (const p of this.owed) if (p >= iova && p < iova + size && !gone.has(p)) this.keptBy.set(p, call);
  }

  /** Pages a report consumed outside the checked calls (the kit's own clears in smmu-hw). */
  discharge(pages: Iterable<number> | PageSet): void {
    // A large set (a 1 GiB leaf's pages) is looked up from the ghost's pages, which are the ones written: far fewer.
    if ('has' in pages && 'size' in pages && pages.size > this.written.size + this.owed.size + this.keptBy.size) {
      for (const p of [...this.owed]) if (pages.has(p)) this.owed.delete(p);
      for (const p of [...this.written]) if (pages.has(p)) this.written.delete(p);
      for (const p of [...this.keptBy.keys()]) if (pages.has(p)) this.keptBy.delete(p);
      for (const p of [...this.raced]) if (pages.has(p)) this.raced.delete(p);
      return;
    }
    for (const p of pages) {
      this.owed.delete(p);
      this.written.delete(p);
      this.keptBy.delete(p);
      this.raced.delete(p);
    }
  }

  /** Pages of [iova, iova + size) are gone (unmapped): nothing more is owed for them. */
  forget(iova: number, size: number): void {
    for (const p of [...this.owed]) if (p >= iova && p < iova + size) this.owed.delete(p);
    for (const p of [...this.keptBy.keys()]) if (p >= iova && p < iova + size) this.keptBy.delete(p);
    for (const p of [...this.written]) if (p >= iova && p < iova + size) this.written.delete(p);
    for (const p of [...this.raced]) if (p >= iova && p < iova + size) this.raced.delete(p);
    for (const p of [...this.clearedBy.keys()]) if (p >= iova && p < iova + size) this.clearedBy.delete(p);
  }
}
