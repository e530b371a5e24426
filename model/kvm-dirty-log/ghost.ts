// The ghost state of one logging memslot: which of its pages the guest wrote since their
// bits were last fetched-and-cleared (KVM_GET_DIRTY_LOG without manual protect) or
// cleared (KVM_CLEAR_DIRTY_LOG), page by page of the slot.
//
// Requirements: NOLOSS-1, NOLOSS-2, PRECISION-1 as KVM-LOG-5, KVM-LOG-6, KVM-LOG-7,
//               KVM-CLEAR-7 and KVM-SLOT-11 / KVM-SLOT-14 (INITIALLY_SET) state them.
//
// - A report includes every page owed when the call started (NOLOSS-1); a page written
//   while the call runs is owed by it or a later one (NOLOSS-2): a later loss of such a page
//   names NOLOSS-2 too.
// - A report that clears (no manual protect) discharges what it reports; CLEAR discharges
//   the pages whose bits it was given (clearedPages). A page written during that call and
//   discharged by it may be reported once more (its bit set again by a write after its
//   bit was taken): allowed, not owed.
// - A bitmap allocated all set (INITIALLY_SET) owes every page until each is cleared.
// - Without manual protect, -EFAULT discharges every page owed (KVM-LOG-7).
// - A reported page neither written since its last discharge, nor allowed as above, nor
//   still set from the initial state, is a false dirty (PRECISION-1), charged first to the
//   call that discharged it (clearedBy): its bit should have been cleared there.
import { Violation } from '../violation.ts';

export class SlotGhost {
  /** Pages written (or initially set) and not discharged since. */
  readonly owed = new Set<number>();
  /** Pages that may be reported without a new write (see above), until their next discharge. */
  readonly maybe = new Set<number>();
  private owedAtStart: Set<number> | undefined;
  private during = new Set<number>();
  /**
   * Pages written while a clearing call over the slot ran (a report without manual protect,
   * CLEAR) that the call left owed: a later report must hold them (NOLOSS-2: in that report
   * or a later one; a clear never forgets pages it was not asked to clear), and its loss of
   * one names NOLOSS-2 beside NOLOSS-1.
   */
  private readonly raced = new Set<number>();
  /**
   * Pages owed when a CLEAR began that it was not asked to clear, so kept owed by it (KVM-CLEAR-7:
   * pages whose bits are clear keep their dirty state; NOLOSS-2: a clear never forgets pages it
   * was not asked to clear), by the clear: a later report missing one names the clear's rules
   * before its own (as model/ghost.ts keptBy). Forgotten once a report holds the page or a call
   * discharges it.
   */
  private readonly keptBy = new Map<number, { readonly op: string; readonly req: readonly string[] }>();
  /**
   * Pages discharged by a call that was to clear their bits (a read-and-clear report, a CLEAR)
   * and not written since, by that call: a later report of one is a false dirty charged to it
   * first (the bit it left set), then to the report. Forgotten on the page's next write.
   */
  private readonly clearedBy = new Map<number, { readonly op: string; readonly req: readonly string[] }>();

  constructor(
    readonly npages: number,
    initiallySet: boolean,
  ) {
    if (initiallySet) for (let i = 0; i < npages; i++) this.owed.add(i);
  }

  write(rel: number): void {
    this.owed.add(rel);
    this.clearedBy.delete(rel);
    if (this.owedAtStart !== undefined) this.during.add(rel);
  }

  begin(): void {
    this.owedAtStart = new Set(this.owed);
    this.during = new Set();
  }

  /** The call returned without reporting or discharging anything. */
  endNothing(): void {
    this.fold(new Set(), false);
  }

  /**
   * A report returned `reported` (page indices). Throws a loss or precision Violation
   * charged to `req`; with `clear`, discharges what was reported.
   */
  endReport(reported: ReadonlySet<number>, clear: boolean, req: readonly string[], call?: { readonly op: string }): void {
    const before = this.owedAtStart ?? new Set<number>();
    const missing = [...before].filter((p) => !reported.has(p)).sort((a, b) => a - b);
    if (missing.length > 0) {
      this.owedAtStart = undefined;
      // Blame the clear that was to keep a missing page, where there is one: the loss may have happened there.
      const culprit = missing.map((p) => this.keptBy.get(p)).find((k) => k !== undefined);
      if (culprit !== undefined) {
        const lost = missing.filter((p) => this.keptBy.get(p) === culprit);
        throw new Violation(
          'loss',
          [...new Set([...culprit.req, ...req, 'NOLOSS-1'])],
          `pages ${list(lost)} of the slot, kept dirty by ${culprit.op} (not selected by it), in the report`,
          'missing from the report: the earlier clear cleared what it had to keep, or the report lost it',
        );
      }
      // A page a write raced an earlier clearing call with, left owed by it, was due here (NOLOSS-2).
      const raced = missing.some((p) => this.raced.has(p)) ? ['NOLOSS-2'] : [];
      throw new Violation('loss', [...req, 'NOLOSS-1', ...raced], `pages ${list(missing)} of the slot in the report (written, or set, and not cleared since)`, 'missing from the report');
    }
    const falseDirty = [...reported].filter((p) => !this.owed.has(p) && !this.maybe.has(p) && !this.during.has(p)).sort((a, b) => a - b);
    if (falseDirty.length > 0) {
      this.owedAtStart = undefined;
      const culprit = falseDirty.map((p) => this.clearedBy.get(p)).find((c) => c !== undefined);
      if (culprit !== undefined) {
        const stale = falseDirty.filter((p) => this.clearedBy.get(p) === culprit);
        throw new Violation(
          'precision',
          [...new Set([...culprit.req, ...req, 'PRECISION-1'])],
          `no report of pages ${list(stale)} (cleared by ${culprit.op}, not written since)`,
          'reported dirty: the earlier call left their bits set, or the report set them',
        );
      }
      throw new Violation('precision', [...req, 'PRECISION-1'], `no report of pages ${list(falseDirty)} (not written since their bits were cleared)`, 'reported dirty');
    }
    // A report that holds a page a clear kept shows the clear kept it.
    for (const p of reported) this.keptBy.delete(p);
    this.fold(clear ? reported : new Set(), clear, clear && call !== undefined ? () => ({ op: call.op, req }) : undefined);
  }

  /**
   * A CLEAR returned 0 having discharged `selected` (clearedPages); every page of its range
   * [from, to) owed when it began that it was not asked to clear is kept by `call` (see
   * keptBy). A page outside the range was not the clear's to keep.
   */
  endClear(
    selected: Iterable<number>,
    call: { readonly op: string; readonly req: readonly string[] },
    range: { readonly from: number; readonly to: number } = { from: 0, to: Number.POSITIVE_INFINITY },
    /** The rules a page's later false dirty charges to this clear (clearedBy); none: not charged. */
    clearedReq?: (page: number) => readonly string[],
  ): void {
    const chosen = new Set(selected);
    const before = this.owedAtStart ?? new Set<number>();
    this.fold(chosen, true, clearedReq === undefined ? undefined : (p) => ({ op: call.op, req: clearedReq(p) }));
    for (const p of before) if (p >= range.from && p < range.to && !chosen.has(p) && this.owed.has(p)) this.keptBy.set(p, call);
  }

  /** A call that discharged `pages` (CLEAR's selection, or every owed page for KVM-LOG-7) without a report to check. */
  endDischarge(pages: Iterable<number>): void {
    this.fold(new Set(pages), true);
  }

  /**
   * KVM-LOG-7: the snapshot was taken and the call failed after: every page owed when it
   * began is gone; a page written during it may or may not have been in the snapshot
   * (allowed, not owed).
   */
  endTakenWithoutReport(): void {
    this.fold(new Set([...(this.owedAtStart ?? []), ...this.during]), true);
  }

  /** Every page owed when the call began. */
  get owedBefore(): ReadonlySet<number> {
    return this.owedAtStart ?? this.owed;
  }

  /**
   * Whether a bit of the slot was set or maybe set for the call that began: a page owed when it
   * began, one that may be reported again without a write, or one written during it. Without,
   * a report has nothing to report or take (KVM-LOG-5, -6): a bit set is a false dirty.
   */
  get bitsAtStake(): boolean {
    return this.owedBefore.size > 0 || this.maybe.size > 0 || this.during.size > 0;
  }

  /** Whether a page owed when the call began was kept by an earlier CLEAR (keptBy): the report could lose it, charged to the clear (KVM-CLEAR-7, NOLOSS-2). */
  get keptOwed(): boolean {
    for (const p of this.keptBy.keys()) if (this.owedBefore.has(p)) return true;
    return false;
  }

  /** Whether a page owed when the call began was left owed by an earlier clearing call a write to it raced: the report could lose it (NOLOSS-2). */
  get racedOwed(): boolean {
    for (const p of this.raced) if (this.owedBefore.has(p)) return true;
    return false;
  }

  /**
   * The call returned having discharged `discharged`; `clearing`: it was to clear (a read-and-clear
   * report, CLEAR), so a page written during it that it left owed is raced. `by`: the call a
   * later false dirty of a discharged page not written during it is charged to (clearedBy).
   */
  private fold(discharged: ReadonlySet<number>, clearing: boolean, by?: (page: number) => { readonly op: string; readonly req: readonly string[] }): void {
    for (const p of discharged) {
      this.owed.delete(p);
      this.maybe.delete(p);
      this.raced.delete(p);
      this.keptBy.delete(p);
      this.clearedBy.delete(p);
      if (this.during.has(p)) this.maybe.add(p);
      else if (by !== undefined) this.clearedBy.set(p, by(p));
    }
    if (clearing) for (const p of this.during) if (this.owed.has(p)) this.raced.add(p);
    this.owedAtStart = undefined;
    this.during = new Set();
  }
}

function list(pages: readonly number[]): string {
  return pages.length <= 8 ? pages.join(', ') : `${pages.slice(0, 8).join(', ')}, ... (${pages.length})`;
}
