// The guest pages of a kvm-dirty-log run, each stepped through the kvmGuestPage machine
// (spec/kvm/dirty-log/guest-page-machine.ts, compiled into a table) as the kit drives
// the VM: a vCPU write is WRITE; a call's effects in the memslot machine are the page
// events (syncDirtyLog: SYNC of every page, PML drains are VM-wide; protectSlot,
// protectTaken, protectCleared: PROTECT of those pages, split when the VM splits eagerly;
// flushTlb: FLUSH of every page, when the call protected a page; zapLeaves: ZAP of the
// slot's pages).
//
// Coverage is earned by observation only. When the implementation shows its pages (the
// adapter's optional inspectPage), the kit compares each page it stepped with the state
// the machine predicts (leaf, TLB, hardware log), and a transition counts once a page
// that took it was seen in the state it leads to. A page seen elsewhere is not a verdict:
// the machine speaks of one page, while an implementation shares a huge leaf among 512
// pages (a write to one maps all; protecting one write-protects all) and may drain its
// hardware log at other times; the page is set aside (its transitions no longer count)
// until a ZAP puts it back in the initial state. Nothing here is a verdict, and what is
// looked at depends on what the campaign has already counted, so it never decides one:
// the profile's verdicts (the dirty log against the ghost, and no stale translation once
// a protecting call has returned) come from checks made the same way in every run.
//
// A racing write (one the kit makes between two of the implementation's memory accesses)
// is placed by observation too: just before it, the page's state says how far the call
// has gone with that page (synced, protected, flushed), so a write through a translation
// the call has protected but not yet flushed takes the machine's KVM-PT-13 transition.
//
// Requirements: KVM-PT-1..16 (the machine decides).
import { KVM_GUEST_PAGE_EVENTS, type KvmGuestPageEvent, type KvmGuestPageSnapshot, kvmGuestPageMachine, kvmGuestPageStateOf } from '../../spec/kvm/dirty-log/guest-page-machine.ts';
import { machineTransitions } from '../../spec/machines.ts';
import { compiledTable } from '../run-context.ts';
import type { TransitionTable } from '../transition-table.ts';

export interface PageObservation {
  readonly leaf: 'none' | 'huge' | 'hugeProtected' | 'writable' | 'clean' | 'protected';
  readonly tlb: boolean;
  readonly pml: boolean;
  /** The page's bit in its slot's dirty bitmap, when the implementation shows it (not part of the machine's state). */
  readonly dirty?: boolean;
}

type Table = TransitionTable<typeof kvmGuestPageMachine>;

interface Page {
  readonly slot: number;
  readonly rel: number;
  snap: KvmGuestPageSnapshot;
  /** Transitions taken since the page was last seen, not yet counted. */
  pending: string[];
  /** Seen in another state than the machine's: its transitions no longer count, until a ZAP. */
  setAside: boolean;
  /** How far the current call has gone with this page: 0 nothing, 1 synced, 2 protected, 3 flushed (2 skipped when the call does not protect it). */
  progress: number;
  protectedInCall: boolean;
}

/** The alphabet's events, looked up by their fields (the table keys an event by its fields in the alphabet's order). */
function events() {
  const find = (f: (e: KvmGuestPageEvent) => boolean) => KVM_GUEST_PAGE_EVENTS.find(f)!;
  const write = (logging: boolean, readonlySlot: boolean, hugeBacked: boolean) => find((e) => e.type === 'WRITE' && e.logging === logging && e.readonlySlot === readonlySlot && e.hugeBacked === hugeBacked);
  const protect = (hwDirty: boolean, split: boolean) => find((e) => e.type === 'PROTECT' && e.hwDirty === hwDirty && e.split === split);
  return { write, protect, flush: find((e) => e.type === 'FLUSH'), zap: find((e) => e.type === 'ZAP'), sync: find((e) => e.type === 'SYNC') };
}

const key = (slot: number, rel: number) => `${slot >>> 0}:${rel}`;

/** The state the machine predicts, as inspectPage shows it. */
function predicted(snap: KvmGuestPageSnapshot): PageObservation {
  const s = kvmGuestPageStateOf(snap);
  return { leaf: s.leaf, tlb: s.tlb !== 'empty', pml: s.pml === 'pending' };
}

const same = (a: PageObservation, b: PageObservation) => a.leaf === b.leaf && a.tlb === b.tlb && a.pml === b.pml;

export class GuestPages {
  private readonly table: Table = compiledTable(kvmGuestPageMachine, KVM_GUEST_PAGE_EVENTS);
  private readonly ev = events();
  private readonly pages = new Map<string, Page>();
  /** Pages stepped by the current operation (seen when it returns). */
  private readonly touched = new Set<Page>();
  private protectEvent: KvmGuestPageEvent;

  constructor(
    /** The campaign's coverage of the machine: transitions seen taken. */
    readonly covered: Set<string>,
    readonly config: { readonly hwDirty: boolean; readonly eagerSplit: boolean },
  ) {
    this.protectEvent = this.ev.protect(config.hwDirty, config.eagerSplit);
  }

  /** Every transition of the machine counted: the run need not step pages any more. */
  get saturated(): boolean {
    return this.covered.size >= TOTAL;
  }

  /** Eager page splitting switched (the VM's configuration changed while it runs). */
  setSplit(on: boolean): void {
    this.protectEvent = this.ev.protect(this.config.hwDirty, on);
  }

  /** A call begins: `sync`, it drains the hardware log first (racing writes are placed after that, or before). */
  begin(sync: boolean): void {
    this.syncing = sync;
  }
  private syncing = false;

  private page(slot: number, rel: number): Page {
    const k = key(slot, rel);
    let p = this.pages.get(k);
    if (p === undefined) this.pages.set(k, (p = { slot: slot >>> 0, rel, snap: this.table.initial, pending: [], setAside: false, progress: 0, protectedInCall: false }));
    return p;
  }

  private step(p: Page, e: KvmGuestPageEvent): void {
    const entry = this.table.step(p.snap, e);
    p.snap = entry.next;
    if (!p.setAside) for (const t of entry.transitions) if (!this.covered.has(t)) p.pending.push(t);
    this.touched.add(p);
  }

  /** A vCPU write the kit makes between calls. */
  write(slot: number, rel: number, w: { logging: boolean; readonlySlot: boolean; hugeBacked: boolean }): void {
    this.step(this.page(slot, rel), this.ev.write(w.logging, w.readonlySlot, w.hugeBacked));
  }

  /**
   * A racing write inside the current call, `seen` the page's state just before it: the
   * page is first taken as far through the call's events (SYNC, PROTECT, FLUSH, in that
   * order; PROTECT skipped) as makes its state the one seen, the first such placement in
   * call order, then written; what the page shows once the call returned decides whether
   * its transitions count. Seen in no such state: set aside.
   */
  racingWrite(slot: number, rel: number, w: { logging: boolean; readonlySlot: boolean; hugeBacked: boolean }, seen: PageObservation | undefined): void {
    const sync = this.syncing;
    const p = this.page(slot, rel);
    if (seen !== undefined && !p.setAside) {
      const plans: number[][] = [[], [1], [1, 2], [1, 2, 3], [1, 3]].map((plan) => plan.filter((s) => s > p.progress && (s !== 1 || sync)));
      const found = plans.find((plan) => same(predicted(this.after(p.snap, plan)), seen));
      if (found === undefined) this.setAside(p);
      else for (const s of found) this.callStep(p, s);
    }
    this.step(p, this.ev.write(w.logging, w.readonlySlot, w.hugeBacked));
  }

  private after(snap: KvmGuestPageSnapshot, plan: readonly number[]): KvmGuestPageSnapshot {
    let s = snap;
    for (const n of plan) s = this.table.peek(s, this.callEvent(n))!.next;
    return s;
  }

  private callEvent(n: number): KvmGuestPageEvent {
    return n === 1 ? this.ev.sync : n === 2 ? this.protectEvent : this.ev.flush;
  }

  private callStep(p: Page, n: number): void {
    this.step(p, this.callEvent(n));
    p.progress = n;
    if (n === 2) p.protectedInCall = true;
  }

  private setAside(p: Page): void {
    p.setAside = true;
    p.pending = [];
  }

  /**
   * A call's effect on the pages, once it returned: SYNC every page (`sync`), PROTECT
   * `protect` (pages of `slot`), FLUSH every page when it protected any, each page from
   * where a racing write left it.
   */
  call(sync: boolean, slot: number, protect: Iterable<number>, flush: boolean): void {
    // A page the run never stepped is in the initial state, where PROTECT changes nothing: only stepped pages are protected.
    const toProtect = new Set<Page>();
    for (const rel of protect) {
      const p = this.pages.get(key(slot, rel));
      if (p !== undefined) toProtect.add(p);
    }
    for (const p of this.pages.values()) {
      if (sync && p.progress < 1) this.callStep(p, 1);
      if (toProtect.has(p) && !p.protectedInCall) {
        if (p.progress >= 3) this.setAside(p); // seen flushed before its protection
        this.callStep(p, 2);
      } else if (!toProtect.has(p) && p.protectedInCall) this.setAside(p);
      if (flush && p.progress < 3) this.callStep(p, 3);
      p.progress = 0;
      p.protectedInCall = false;
    }
    this.syncing = false;
  }

  /** Protects every page of `slot` (logging switched on), then the flush. */
  protectSlot(slot: number, npages: number, flush: boolean): void {
    const rels: number[] = [];
    for (const p of this.pages.values()) if (p.slot === slot >>> 0 && p.rel < npages) rels.push(p.rel);
    this.call(false, slot, rels, flush);
  }

  /** A memslot update that zaps `slot`'s leaves (delete, move): every page of it ZAPped, the TLB flushed; a deleted slot's pages are gone. */
  zapSlot(slot: number, deleted: boolean): void {
    for (const [k, p] of this.pages) {
      if (p.slot !== slot >>> 0) continue;
      if (p.setAside) {
        // Back in a state the machine knows whatever came before: no leaf, no translation (the PML is drained at the sync before).
        p.snap = this.table.initial;
        p.setAside = false;
        p.pending = [];
      } else this.step(p, this.ev.zap);
      if (deleted) this.pages.delete(k);
    }
    for (const p of this.pages.values()) this.step(p, this.ev.flush);
  }

  /** SYNC of every page (the PML drained at a memslot update). */
  syncAll(): void {
    for (const p of this.pages.values()) this.step(p, this.ev.sync);
  }

  /**
   * The operation returned: each page it stepped with a transition not yet counted is
   * looked at; seen as predicted, its transitions count; else set aside. `gpaOf` is
   * undefined for a page whose slot is gone.
   */
  settle(inspect: ((gpa: bigint) => PageObservation) | undefined, gpaOf: (slot: number, rel: number) => bigint | undefined): void {
    if (inspect === undefined) {
      this.touched.clear();
      return;
    }
    for (const p of this.touched) {
      if (p.pending.length === 0) continue;
      const gpa = gpaOf(p.slot, p.rel);
      if (gpa === undefined) continue;
      const seen = inspect(gpa);
      if (same(seen, predicted(p.snap))) for (const t of p.pending) this.covered.add(t);
      else this.setAside(p);
      p.pending = [];
    }
    this.touched.clear();
  }
}

const TOTAL = machineTransitions(kvmGuestPageMachine).length;
