// The ghost state of one domain's page table and IOTLB as the spec machines predict it:
// a leaf descriptor machine per leaf and an IOTLB entry machine per cached leaf, stepped
// through the run's compiled tables (model/run-context.ts). The domain tracking machine
// decides what enabling and disabling tracking do, step by step.
//
// The leaf layout (which ranges are blocks) is the implementation's choice: `map` and
// `split` take the leaves the implementation created; everything else is predicted.
//
// Leaves are immutable values (a change replaces the leaf), held by place in a store laid
// out as the page table is (model/leaf-store.ts); a copy of the model for an alternative
// explanation (model/explain.ts) shares the store's regions until one side writes, not
// every leaf. The model remembers which leaves changed since the last check
// (`takeTouched`), so a check can compare just those with memory.
import type { AnyStateMachine, SnapshotFrom } from 'xstate';
import { type Capabilities, type Contract, ERRNO, contracts } from '../spec/contracts/index.ts';
import { clearsLeaf } from '../spec/descriptor/clear-range.ts';
import { armLpaeBlockSize, type Level } from '../spec/descriptor/encoding.ts';
import { type leafDescriptorMachine, leafStateOf, type LeafEvent } from '../spec/descriptor/leaf-machine.ts';
import type { TrackingStep } from '../spec/domain/tracking-machine.ts';
import type { iotlbEntryMachine, IotlbEvent } from '../spec/iotlb/iotlb-entry-machine.ts';
import { PageRuns } from './ghost.ts';
import { LeafStore, leafKey, leafPlace } from './leaf-store.ts';
import type { RunContext } from './run-context.ts';
import type { TableEntry, TakenTransition } from './transition-table.ts';

type Snap<M extends AnyStateMachine> = SnapshotFrom<M>;

export interface ModelLeaf {
  readonly iova: number;
  readonly level: Level;
  readonly size: number;
  /** Output address and write permission, as mapped: what a merge needs to agree on. */
  readonly oa: number;
  readonly write: boolean;
  readonly snap: Snap<typeof leafDescriptorMachine>;
}

export interface ModelTlbEntry {
  readonly iova: number;
  readonly level: Level;
  readonly size: number;
  snap: Snap<typeof iotlbEntryMachine>;
  /** The HA/HD the walk that filled it acted on: CD fields a TLB entry may cache (ARM IHI 0070 G.b §5.4.1). */
  readonly cd: { readonly ha: boolean; readonly hd: boolean };
}

/**
 * What an SMMU may choose for one access where the architecture leaves it open. Where the
 * walk's access takes a permission fault: set AF on the way (`setAccessFlag`; HTTU-1:
 * UNKNOWN, ARM IHI 0070 G.b §3.13.2), and keep the leaf in its IOTLB once its AF is 1
 * (`cache`; IOTLB-2: ARM DDI 0487 M.a.a D8.15 RJVXRH, D8.5.1.2 IRGQLZ). Through a cached
 * entry: act on the HA/HD the entry was filled with rather than the CD's now (`entryCd`;
 * IHI 0070 G.b §5.4.1 lets a TLB entry cache them until a TLB invalidation). The kit's own
 * SMMU takes none of them (QEMU's order).
 */
export interface SmmuChoice {
  readonly setAccessFlag: boolean;
  readonly cache: boolean;
  readonly entryCd: boolean;
}

/** The kit's SMMU: a permission-faulting access changes nothing and caches nothing; a cached entry acts on the CD as it is. */
export const KIT_SMMU_CHOICE: SmmuChoice = Object.freeze({ setAccessFlag: false, cache: false, entryCd: false });

export type ExpectedDma =
  | { ok: true; level: Level /** IOTLB-7 / IOTLB-8: the access went through a stale entry (the spec's hazard). */; hazard?: 'dirtyNotRecorded' | 'staleTranslation' }
  | { ok: false; fault: 'translation' | 'permission' | 'accessFlag' };

const key = leafKey;
/** Events without fields, one object each (stepping many leaves with one event object is cheaper). */
const UNMAP: LeafEvent = { type: 'UNMAP' };
const NO_TLB_ENTRIES: readonly ModelTlbEntry[] = Object.freeze([]);
const CLEAR_DIRTY: LeafEvent = { type: 'CLEAR_DIRTY' };
const SET_DIRTY: LeafEvent = { type: 'SET_DIRTY' };
/** IOTLB entries are keyed `level:iova`, as the implementation's IOTLB view names them (checkTlb). */
/** The key of the IOTLB entry for the leaf at (iova, level): its leafKey (a number: no string built per lookup). */
export const tlbKey = (iova: number, level: number): number => leafKey(iova, level);
const overlaps = (a: number, asz: number, b: number, bsz: number) => a < b + bsz && b < a + asz;
const PAGE_SIZE = armLpaeBlockSize(3);
/** The span of a level-2 block: the unit of `regions`. */
const REGION = armLpaeBlockSize(2);
const GIB = armLpaeBlockSize(1);

/**
 * What a contract's read-and-clear walk does (`readAndClearWalk`): its errno, the pages it
 * must report, those it may report besides, those it visits, those it clears without reporting.
 */
export interface ReadAndClearWalk {
  readonly errno: number;
  /**
   * What must be in the bitmap: the pages of each writable-dirty leaf the walk meets, from
   * the cursor to the range's end; and, of what Linux records from the cursor (CLEAR-U2),
   * the pages in range of a writable-dirty block (that record is their only report).
   */
  readonly pages: PageRuns;
  /**
   * What may be in the bitmap besides: what Linux's [cursor, cursor + leaf size) records set
   * (a hole, a clean or read-only leaf, past the range's end), and any page in range of a
   * leaf that was writable-dirty. Permitted, not required.
   */
  readonly mayAlsoReport: PageRuns;
  readonly visited: PageRuns;
  readonly clearedUnreported: PageRuns;
}

/** A sync-then-clear between its parts (`beginSync`): its range, the pages read so far, and the places of the leaves they came from. */
export interface SyncInProgress {
  readonly iova: number;
  readonly size: number;
  readonly pages: PageRuns;
  readonly reported: Map<number, { readonly iova: number; readonly level: Level; readonly size: number }>;
}

/** The end of the last page that holds byte `end - 1`. */
const pageEnd = (end: number) => end + ((4096 - (end % 4096)) % 4096);

/** An unmap as planned (DescriptorModel.unmapPlan): the blocks split, where it ends and the bytes it returns, and what stopped it early. */
export interface UnmapPlan {
  readonly splits: readonly number[];
  readonly end: number;
  readonly bytes: number;
  readonly stop?: 'hole' | 'cut';
  /** The level of the cut block it stopped at. */
  readonly cutLevel?: Level;
}

export class DescriptorModel {
  /** The leaves by place (model/leaf-store.ts). Replaced, not copied, when the model adopts a copy's state: hold no reference across `adopt`. */
  leaves = new LeafStore<ModelLeaf>();
  /**
   * Keys (`leafKey`) of the level-1 and level-2 entries that point to a table, empty or
   * not. Only a contract whose unmap goes by iommu_unmap's chunks sees them: a table at a
   * chunk's size is freed whole and counts its span, an invalid entry stops the unmap
   * (Linux v6.12 drivers/iommu/io-pgtable-arm.c __arm_lpae_unmap). Replaced by `adopt`.
   */
  tables = new Set<number>();
  /**
   * Those of `tables` only a refused map made (tablesOfRefusedMap): raw iommu_map installs
   * them before it meets the leaf that refuses it, iommufd refuses an overlapping area before
   * touching the page table (Linux v6.12.117 iommufd/io_pagetable.c iopt_alloc_area_pages,
   * -EEXIST): an implementation may or may not have them. A leaf installed under one, or a
   * split making it, settles it. Replaced by `adopt`.
   */
  maybeTables = new Set<number>();
  /** The cached IOTLB entries by `level:iova`; replaced by `adopt` as `leaves` is. */
  tlb = new Map<number, ModelTlbEntry>();
  tracking: Snap<RunContext['smmu']['tracking']['machine']>;
  /** Keys (`leafKey`) of leaves added, changed or removed since the last `takeTouched`, in order; a leaf changed twice is there twice (the checker takes each place once). */
  private touched: number[] = [];
  /** Keys (`leafKey`) of the leaves this operation's map created (`map`): a leaf no write has gone through yet. */
  mappedThisOp = new Set<number>();
  /** Requirement IDs of every transition taken since `beginOp` (what a violation of this operation breaks). */
  opReq = new Set<string>();
  /** The transitions taken since `beginOp` (what a trace step shows on the machine diagrams). */
  opTransitions = new Set<TakenTransition>();
  /** Whether the model tracks IOTLB entries (only when the implementation's IOTLB can be inspected). */
  trackTlb = true;
  /**
   * Whether the SMMU is one under test (smmu-hw), which may fill its IOTLB by prefetch or
   * speculation with any valid leaf that has AF=1 (IOTLB-1): an entry the implementation shows
   * for such a leaf, in its state, is taken as filled so (`prefetched`). The kit's own SMMU
   * fills entries only from the walks accesses make.
   */
  hwMayPrefetch = false;
  /** HA and HD as written in each attached stream's context descriptor. */
  streams = new Map<number, { ha: boolean; hd: boolean }>();
  /** SMMU_IDR0.HTTU: limits which CD bits the hardware acts on. */
  httu = 2;
  /** SMMU_IDR3.BBML: whether a contract's split and merge that need BBML1/2 can run. */
  bbml = 2;
  private attaching: number | undefined;
  private splitForTracking: { iova: number; level: Level }[] = [];
  /**
   * The ranges of the map calls, less what was unmapped since ([iova, end); an unmap inside
   * one leaves two): the mappings, as VFIO's vfio_dmas or iommufd's areas. A contract that
   * switches tracking per mapping (`setDirtyTracking.perMapping`) splits and merges only
   * inside one of them.
   */
  private mappings: readonly { readonly iova: number; readonly end: number }[] = [];
  /** Tracking on, where the contract's capabilities decide it instead of the tracking machine (`byMachine` false). */
  private on = false;
  /** The errno the last setDirtyTracking must return (0 or negative). */
  trackingErrno = 0;
  /** The driver contract's capabilities (spec/contracts/): what the model predicts by where a contract departs from the machines. */
  readonly caps: Capabilities;

  constructor(
    readonly ctx: RunContext,
    readonly hdQuirk: boolean,
    readonly pageGranular: boolean,
    readonly hwDirty: boolean,
    /** The driver contract (default strict: the machines alone). */
    readonly contract: Contract = contracts.strict,
  ) {
    this.tracking = ctx.smmu.tracking.initial;
    this.caps = contract.capabilities;
  }

  /** Whether the domain tracking machine decides tracking (HA/HD follow it: the strict lifecycle), or the contract's capabilities do. */
  get byMachine(): boolean {
    return this.caps.cdHaHd === 'while-tracking';
  }

  /** Notes strict rule `id` as the contract applies it: the variant rules replacing it, nothing if dropped, else `id`. */
  noteRule(id: string): void {
    const r = this.contract.rules;
    const replaced = r.replaced.find((x) => x.id === id);
    if (replaced !== undefined) this.note(replaced.by);
    else if (!r.dropped.some((x) => x.id === id)) this.note([id]);
  }

  private get t() {
    return this.ctx.smmu;
  }

  /** An independent copy (to try both orders of an operation and a DMA that raced with it). */
  clone(): DescriptorModel {
    const c = new DescriptorModel(this.ctx, this.hdQuirk, this.pageGranular, this.hwDirty, this.contract);
    c.on = this.on;
    c.trackingErrno = this.trackingErrno;
    c.leaves = this.leaves.copy();
    c.tables = new Set(this.tables);
    c.maybeTables = new Set(this.maybeTables);
    for (const [k, e] of this.tlb) c.tlb.set(k, { ...e });
    c.touched = this.touched.slice();
    c.tracking = this.tracking;
    c.streams = new Map(this.streams);
    c.httu = this.httu;
    c.bbml = this.bbml;
    c.trackTlb = this.trackTlb;
    c.hwMayPrefetch = this.hwMayPrefetch;
    c.splitForTracking = [...this.splitForTracking];
    c.mappings = this.mappings;
    c.opReq = new Set(this.opReq);
    c.opTransitions = new Set(this.opTransitions);
    c.mappedThisOp = new Set(this.mappedThisOp);
    return c;
  }

  /** Takes over the state of `other` (the order that matched the implementation). */
  adopt(other: DescriptorModel): void {
    // The copy is discarded: its maps become this model's (copying thousands of leaves back was most of a racing DMA's cost).
    this.leaves = other.leaves;
    this.tables = other.tables;
    this.maybeTables = other.maybeTables;
    this.tlb = other.tlb;
    this.tracking = other.tracking;
    this.on = other.on;
    this.trackingErrno = other.trackingErrno;
    this.streams = other.streams;
    this.splitForTracking = other.splitForTracking;
    this.mappings = other.mappings;
    this.opReq = other.opReq;
    this.opTransitions = other.opTransitions;
    this.mappedThisOp = other.mappedThisOp;
    this.lastTook = undefined;
    this.touched = other.touched;
  }

  /** The keys (`leafKey`) of leaves that changed since the last `takeTouched`. */
  touchedKeys(): readonly number[] {
    return this.touched;
  }

  /** The keys (`leafKey`) of leaves that changed since the last call; starts a new record. */
  takeTouched(): number[] {
    const t = this.touched;
    this.touched = [];
    return t;
  }

  private setLeaf(leaf: ModelLeaf): void {
    this.leaves.set(leaf);
    this.touched.push(key(leaf.iova, leaf.level));
  }

  private deleteLeaf(leaf: ModelLeaf): void {
    this.leaves.delete(leaf.iova, leaf.level);
    this.touched.push(key(leaf.iova, leaf.level));
  }

  leafAt(iova: number): ModelLeaf | undefined {
    return this.leaves.at(iova - (iova % PAGE_SIZE), 3) ?? this.leaves.at(iova - (iova % REGION), 2) ?? this.leaves.at(iova - (iova % GIB), 1);
  }

  /** The leaves overlapping [iova, iova + size), in IOVA order. */
  leavesIn(iova: number, size: number): ModelLeaf[] {
    const out: ModelLeaf[] = [];
    this.visitLeavesIn(iova, size, out);
    return out;
  }

  /** Whether any leaf overlaps [iova, iova + size). */
  hasLeafIn(iova: number, size: number): boolean {
    return this.visitLeavesIn(iova, size, undefined, 1) > 0;
  }

  /** How many leaves overlap [iova, iova + size). */
  countLeavesIn(iova: number, size: number): number {
    return this.leaves.countIn(iova, size);
  }

  /** The blocks (levels 1 and 2) overlapping [iova, iova + size), in IOVA order. */
  blocksIn(iova: number, size: number): ModelLeaf[] {
    const out: ModelLeaf[] = [];
    this.leaves.visit(
      iova,
      size,
      (l) => {
        out.push(l);
        return false;
      },
      false,
    );
    return out;
  }

  /** The `n`-th (from 0) of the leaves overlapping [iova, iova + size), in IOVA order. */
  nthLeafIn(iova: number, size: number, n: number): ModelLeaf | undefined {
    let found: ModelLeaf | undefined;
    let i = 0;
    this.leaves.visit(iova, size, (l) => {
      if (i++ < n) return false;
      found = l;
      return true;
    });
    return found;
  }

  /** The leaves overlapping [iova, iova + size) in IOVA order (blocks before pages at one address), pushed to `out` when given, up to `limit`; returns how many. */
  private visitLeavesIn(iova: number, size: number, out: ModelLeaf[] | undefined, limit = Number.POSITIVE_INFINITY): number {
    let found = 0;
    return this.leaves.visit(iova, size, (l) => {
      out?.push(l);
      return ++found >= limit;
    });
  }

  /** The cached entries as they are now (a list: stepping one may drop it from the map); no list is made while none is cached, as most of the time. */
  /**
   * The cached entries overlapping [iova, iova + size), listed once for a loop over many
   * leaves (a list per leaf made 512 lists for a 512-page clear); the loop skips one that an
   * earlier leaf's INVALIDATE dropped (stillCached). No entry is cached meanwhile.
   */
  private cachedOver(iova: number, size: number): readonly ModelTlbEntry[] {
    return this.tlb.size === 0 ? NO_TLB_ENTRIES : this.tlbEntries().filter((e) => overlaps(e.iova, e.size, iova, size));
  }

  private stillCached(e: ModelTlbEntry): boolean {
    return this.tlb.get(tlbKey(e.iova, e.level)) === e;
  }

  private tlbEntries(): readonly ModelTlbEntry[] {
    return this.tlb.size === 0 ? NO_TLB_ENTRIES : [...this.tlb.values()];
  }

  private tlbAt(iova: number): ModelTlbEntry | undefined {
    for (const e of this.tlb.values()) if (overlaps(e.iova, e.size, iova, 1)) return e;
    return undefined;
  }

  beginOp(): void {
    this.mappedThisOp = new Set();
    this.opReq = new Set();
    this.opTransitions = new Set();
    this.lastTook = undefined;
  }

  /** Adds requirement IDs to what the current operation is checked against. */
  note(req: readonly string[]): void {
    for (const id of req) this.opReq.add(id);
  }

  /** Records a table entry the operation went through: its requirements (unless `reqToo` is false) and its transitions. */
  private took(e: Pick<TableEntry<AnyStateMachine>, 'req' | 'taken'>, reqToo = true): void {
    // Many leaves in a row take one entry (a map, a split, a clear over a range): once is enough.
    if (e === this.lastTook && reqToo) return;
    if (reqToo) this.note(e.req);
    for (const t of e.taken) this.opTransitions.add(t);
    if (reqToo) this.lastTook = e;
  }
  /** The entry `took` recorded last since `beginOp` (its requirements and transitions are in opReq and opTransitions). */
  private lastTook: unknown;

  /** Steps the leaf machine of `leaf` (a leaf of the model, or a new one, which it then holds). */
  leafEvent(leaf: ModelLeaf, event: LeafEvent): readonly string[] {
    const e = this.ctx.step(this.t.leaf, leaf.snap, event);
    // Table snapshots are shared per state: the same object means the same state.
    // The new leaf spelt out, not spread: every ModelLeaf then has one shape (a spread made a
    // second one, and this runs for every leaf an operation steps).
    if (e.next !== leaf.snap || this.leaves.at(leaf.iova, leaf.level) !== leaf) this.setLeaf({ iova: leaf.iova, level: leaf.level, size: leaf.size, oa: leaf.oa, write: leaf.write, snap: e.next });
    this.took(e);
    return e.outcomes;
  }

  /** Steps the IOTLB entry machine of every cached entry overlapping [iova, iova + size). */
  tlbEventOver(iova: number, size: number, event: IotlbEvent): void {
    for (const e of this.tlbEntries()) if (overlaps(e.iova, e.size, iova, size)) this.tlbEvent(e, event);
  }

  /** Drops the leaf at `iova` from the model after its machine went to invalid. */
  removeLeaf(leaf: ModelLeaf): void {
    this.deleteLeaf(leaf);
  }

  private tlbEvent(entry: ModelTlbEntry, event: IotlbEvent): readonly string[] {
    const e = this.ctx.step(this.t.iotlb, entry.snap, event);
    entry.snap = e.next;
    this.took(e);
    if (e.next.value === 'absent') this.tlb.delete(tlbKey(entry.iova, entry.level));
    return e.outcomes;
  }

  /** A map over mapped leaves: each is told MAP and stays as it is (MAP-4). */
  mapOverMapped(iova: number, size: number, write: boolean, pa: number): void {
    const event: LeafEvent = { type: 'MAP', write, hdQuirk: this.hdQuirk, accessFlag: true };
    for (const leaf of this.leavesIn(iova, size)) this.leafEvent(leaf, event);
    this.tablesOfRefusedMap(iova, size, pa);
  }

  /**
   * The tables a refused map leaves (MAP-4): the leaves end as they were, not the tables.
   * iommu_map maps chunk by chunk (iommu_pgsize: the largest block size that the IOVA and
   * the output address are aligned to and that the rest of the range holds), each chunk
   * installing the tables on its path (__arm_lpae_map, arm_lpae_install_table; a block
   * chunk replaces an empty table, arm_lpae_init_pte). The first chunk that meets a valid
   * leaf is -EEXIST, after its path is installed; then iommu_unmap takes back what the
   * chunks before it mapped, by its own chunks, and a table at a chunk's size goes whole
   * (only where unmap goes by chunks: `caps.unmap.chunks`). Linux v6.12
   * drivers/iommu/iommu.c iommu_map / __iommu_map, io-pgtable-arm.c __arm_lpae_map.
   */
  private tablesOfRefusedMap(iova: number, size: number, pa: number): void {
    let done = 0;
    while (done < size) {
      const at = iova + done;
      const level: Level = ([1, 2] as const).find((l) => at % armLpaeBlockSize(l) === 0 && (pa + done) % armLpaeBlockSize(l) === 0 && size - done >= armLpaeBlockSize(l)) ?? 3;
      const span = armLpaeBlockSize(level);
      let refused = false;
      for (let lv = 1; lv < level && !refused; lv++) {
        const base = at - (at % armLpaeBlockSize(lv as Level));
        if (this.leaves.has(key(base, lv))) refused = true;
        else if (!this.tables.has(key(base, lv))) {
          this.tables.add(key(base, lv));
          this.maybeTables.add(key(base, lv));
        }
      }
      if (refused || this.hasLeafIn(at, span)) break;
      if (level < 3) this.dropTables(at, span, level);
      done += span;
    }
    if (this.caps.unmap.chunks !== 'iommu-pgsize') return;
    for (let at = iova; at < iova + done; ) at += this.freeChunkTable(at, iova + done);
  }

  /** Forgets the tables at `level` and below inside [iova, iova + size): a block or an unmap replaced them. */
  private dropTables(iova: number, size: number, level: Level): void {
    for (const k of this.tables) {
      const p = leafPlace(k);
      if (p.level >= level && p.iova >= iova && p.iova < iova + size) {
        this.tables.delete(k);
        this.maybeTables.delete(k);
      }
    }
  }

  /** One iommu_unmap chunk at `at` (the range ending at `end`): frees a table at the chunk's size (__arm_lpae_unmap); returns the chunk's size. */
  private freeChunkTable(at: number, end: number): number {
    const level: Level = ([1, 2] as const).find((l) => at % armLpaeBlockSize(l) === 0 && end - at >= armLpaeBlockSize(l)) ?? 3;
    const span = armLpaeBlockSize(level);
    if (level < 3 && this.tables.has(key(at, level))) this.dropTables(at, span, level);
    return span;
  }

  /** The leaf just installed at (iova, level): the tables on its path exist, and none at its place or below (a block replaced an empty one). */
  private installedLeaf(iova: number, level: Level): void {
    if (level < 3) this.dropTables(iova, armLpaeBlockSize(level), level);
    for (let lv = 1; lv < level; lv++) {
      const k = key(iova - (iova % armLpaeBlockSize(lv as Level)), lv);
      this.tables.add(k);
      this.maybeTables.delete(k);
    }
  }

  /** Whether a cached entry covers `iova`. */
  cachedAt(iova: number): boolean {
    return this.tlbAt(iova) !== undefined;
  }

  /** Whether the entry cached for `iova` was filled with other HA/HD than `streamId`'s CD gives now (a CD changed without a TLB invalidation). */
  cachedCdDiffers(iova: number, streamId: number): boolean {
    const e = this.tlbAt(iova);
    if (e === undefined) return false;
    const now = this.effective(streamId);
    return e.cd.ha !== now.ha || e.cd.hd !== now.hd;
  }

  /** The implementation created these leaves for one map call (MAP-1..5). */
  map(created: readonly { iova: number; level: Level; oa: number }[], write: boolean): void {
    const event: LeafEvent = { type: 'MAP', write, hdQuirk: this.hdQuirk, accessFlag: true };
    for (const { iova, level } of created) this.mappedThisOp.add(leafKey(iova, level));
    // Pages of one 2 MiB region share the tables on their path: noted once per region.
    let region = -1;
    if (created.length > 0) {
      // A loop, not Math.min(...list): a driver may map 2^21 pages in one call (8 GiB page by page), past what a spread passes as arguments.
      let from = Number.POSITIVE_INFINITY;
      let to = 0;
      for (const l of created) {
        if (l.iova < from) from = l.iova;
        if (l.iova + armLpaeBlockSize(l.level) > to) to = l.iova + armLpaeBlockSize(l.level);
      }
      this.mappings = [...this.mappings, { iova: from, end: to }];
    }
    for (const { iova, level, oa } of created) {
      // The new leaf stepped from the machine's initial state and stored once, in its mapped state.
      const e = this.ctx.step(this.t.leaf, this.t.leaf.initial, event);
      this.setLeaf({ iova, level, size: armLpaeBlockSize(level), oa, write, snap: e.next });
      this.took(e);
      if (level === 3 && Math.floor(iova / REGION) === region) continue;
      this.installedLeaf(iova, level);
      region = level === 3 ? Math.floor(iova / REGION) : -1;
    }
  }

  /** Unmap of whole leaves (a partial block is split by the caller first); the driver flushes the range (UNMAP-1, IOTLB-8, IOTLB-9). `mappingStays`: the kit replaced the leaf behind the driver's back, which still maps it. */
  unmap(iova: number, size: number, mappingStays = false): { iova: number; size: number }[] {
    const dirty: { iova: number; size: number }[] = [];
    const end = iova + size;
    // The driver's unmap takes the range out of the mappings; the kit's own replant (mappingStays) does not.
    if (!mappingStays) this.mappings = this.mappings.flatMap((a) => (a.end <= iova || a.iova >= end ? [a] : [...(a.iova < iova ? [{ iova: a.iova, end: iova }] : []), ...(a.end > end ? [{ iova: end, end: a.end }] : [])]));
    for (const leaf of this.leavesIn(iova, size)) {
      if (leafStateOf(leaf.snap).state === 'writableDirty') dirty.push({ iova: leaf.iova, size: leaf.size });
      // UNMAP takes every leaf to invalid: stepped and noted, then dropped, never stored in between.
      this.took(this.ctx.step(this.t.leaf, leaf.snap, UNMAP));
      this.deleteLeaf(leaf);
    }
    if (this.caps.unmap.chunks === 'iommu-pgsize') for (let at = iova; at < iova + size; ) at += this.freeChunkTable(at, iova + size);
    for (const e of this.tlbEntries()) {
      if (!overlaps(e.iova, e.size, iova, size)) continue;
      this.tlbEvent(e, { type: 'SW_UNMAP' });
      this.tlbEvent(e, { type: 'INVALIDATE' });
    }
    return dirty;
  }

  /** The HA/HD the hardware acts on for `streamId`: the CD's bits limited by SMMU_IDR0.HTTU. */
  effective(streamId: number): { ha: boolean; hd: boolean } {
    const cd = this.streams.get(streamId) ?? { ha: false, hd: false };
    const ha = cd.ha && this.httu >= 1;
    return { ha, hd: ha && cd.hd && this.httu === 2 };
  }

  /**
   * One DMA access: through a cached entry if there is one (IOTLB machine), else a walk (leaf
   * machine). `choice`: what the SMMU chose where the architecture leaves it open (SmmuChoice);
   * by default none, as the kit's own SMMU.
   */
  dma(iova: number, write: boolean, streamId: number, choice: SmmuChoice = KIT_SMMU_CHOICE): ExpectedDma {
    const entry = this.tlbAt(iova);
    const { ha, hd } = entry !== undefined && choice.entryCd ? entry.cd : this.effective(streamId);
    const dmaEvent: IotlbEvent = write ? { type: 'DMA_WRITE', hd } : { type: 'DMA_READ' };
    if (entry !== undefined) {
      const out = this.tlbEvent(entry, dmaEvent);
      // An access served from the entry, stale or not, touches no memory: IOTLB-3 for a read,
      // IOTLB-4 for a write through an entry cached writable or writable-dirty.
      if (!write) this.note(['IOTLB-3']);
      else if (!out.includes('permissionFault') && !out.includes('hwUpdateDescriptor')) this.note(['IOTLB-4']);
      if (out.includes('permissionFault')) return { ok: false, fault: 'permission' };
      if (out.includes('dirtyNotRecorded')) return { ok: true, level: entry.level, hazard: 'dirtyNotRecorded' };
      if (out.includes('staleTranslation')) return { ok: true, level: entry.level, hazard: 'staleTranslation' };
      if (!out.includes('hwUpdateDescriptor')) return { ok: true, level: entry.level };
      // IOTLB-5: the entry is dropped and the SMMU re-walks.
      this.tlb.delete(tlbKey(entry.iova, entry.level));
    } else if (this.trackTlb) this.took(this.ctx.step(this.t.iotlb, this.t.iotlb.initial, dmaEvent)); // IOTLB-1: a miss
    const leaf = this.leafAt(iova);
    if (leaf === undefined) {
      // FAULT-1 on the invalid entry; IOTLB-2: nothing is cached.
      this.took(this.ctx.step(this.t.leaf, this.t.leaf.initial, { type: write ? 'DMA_WRITE' : 'DMA_READ', ha, hd }));
      if (this.trackTlb) this.took(this.ctx.step(this.t.iotlb, this.t.iotlb.initial, { type: 'WALK', leaf: 'invalid' }));
      return { ok: false, fault: 'translation' };
    }
    const event: LeafEvent = !write ? { type: 'DMA_READ', ha, hd } : ha && choice.setAccessFlag ? { type: 'DMA_WRITE', ha, hd, afOnFault: true } : { type: 'DMA_WRITE', ha, hd };
    const out = this.leafEvent(leaf, event);
    if (out.includes('accessFlagFault')) return { ok: false, fault: 'accessFlag' };
    if (out.includes('permissionFault')) {
      // IOTLB-2: the leaf may stay cached once it has AF=1 (set now or before), never while AF is 0.
      const walked = this.leaves.at(leaf.iova, leaf.level)!;
      if (choice.cache && leafStateOf(walked.snap).accessFlag) {
        this.note(['IOTLB-2']);
        this.cacheWalked(walked, { ha, hd });
      }
      return { ok: false, fault: 'permission' };
    }
    this.cacheWalked(this.leaves.at(leaf.iova, leaf.level)!, { ha, hd });
    return { ok: true, level: leaf.level };
  }

  /**
   * IOTLB-1: the SMMU filled an entry for `leaf` without an access (prefetch, speculation),
   * with the HA/HD its first stream's CD gives now. Only a valid leaf with AF=1 may be so
   * filled: no walk may cache a leaf whose AF is 0 (IOTLB-2).
   * @req IOTLB-1
   * @source ARM IHI 0070 G.b §3.21.1 (TLB caching follows Armv8-A, prefetch included), §4.2.2 CMD_PREFETCH_ADDR; ARM DDI 0487 M.a.a D8.16 RSQBCS (an entry that causes no translation, address size or access flag fault may be cached as the result of an explicit or speculative access)
   */
  prefetched(leaf: ModelLeaf): void {
    const first = this.streams.keys().next();
    this.note(['IOTLB-1']);
    this.cacheWalked(leaf, first.done === true ? { ha: false, hd: false } : this.effective(first.value));
  }

  /** IOTLB-1: the leaf a walk ended at, cached in the state the walk left it, with the HA/HD the walk acted on. */
  private cacheWalked(walked: ModelLeaf, cd: { ha: boolean; hd: boolean }): void {
    if (!this.trackTlb) return;
    const cached: ModelTlbEntry = { iova: walked.iova, level: walked.level, size: walked.size, snap: this.t.iotlb.initial, cd };
    this.tlbEvent(cached, { type: 'WALK', leaf: leafStateOf(walked.snap).state });
    this.tlb.set(tlbKey(walked.iova, walked.level), cached);
  }

  /** The block at `iova` became 512 leaves one level down, each `transition(block, SPLIT)` (SPLIT-1). */
  split(iova: number): boolean {
    const block = this.leafAt(iova);
    if (block === undefined || block.level === 3) return false;
    const splitEntry = this.ctx.step(this.t.leaf, block.snap, { type: 'SPLIT' });
    this.took(splitEntry, false);
    const child = splitEntry.next;
    const level = (block.level + 1) as Level;
    const size = armLpaeBlockSize(level);
    this.deleteLeaf(block);
    for (let i = 0; i < 512; i++) this.setLeaf({ iova: block.iova + i * size, level, size, oa: block.oa + i * size, write: block.write, snap: child });
    this.tables.add(key(block.iova, block.level));
    this.maybeTables.delete(key(block.iova, block.level));
    // The split keeps every page's state (IOTLB-10), then invalidates the block's range (SPLIT-2, step 4).
    for (const e of this.tlbEntries()) {
      if (!overlaps(e.iova, e.size, block.iova, block.size)) continue;
      this.tlbEvent(e, { type: 'SW_KEEP_STATE' });
      this.tlbEvent(e, { type: 'INVALIDATE' });
    }
    return true;
  }

  /** The 512 leaves under `iova` at `level` + 1 became one block: `transition(first, MERGE { anyDirty })` (MERGE-1, MERGE-2). */
  merge(iova: number, level: Level, dryRun = false): boolean {
    const size = armLpaeBlockSize(level);
    const base = iova - (iova % size);
    const children = this.leavesIn(base, size);
    const first = children[0];
    if (first === undefined || children.length !== 512 || first.oa % size !== 0) return false;
    const childSize = armLpaeBlockSize((level + 1) as Level);
    if (children.some((c, i) => c.level !== level + 1 || c.write !== first.write || c.oa !== first.oa + i * childSize)) return false;
    const anyDirty = children.some((c) => leafStateOf(c.snap).state === 'writableDirty');
    if (dryRun) return true;
    if (this.caps.merge?.result === 'from-prot') {
      // MERGE-R2: the block is built from the mapping's prot, whatever its pages were (a new leaf's state).
      this.note(['MERGE-R2']);
      for (const c of children) this.deleteLeaf(c);
      this.leafEvent({ iova: base, level, size, oa: first.oa, write: first.write, snap: this.t.leaf.initial }, { type: 'MAP', write: first.write, hdQuirk: this.hdQuirk, accessFlag: true });
      this.dropTables(base, size, level);
      for (const e of this.tlbEntries()) if (overlaps(e.iova, e.size, base, size)) this.tlbEvent(e, { type: 'INVALIDATE' });
      return true;
    }
    const mergeEntry = this.ctx.step(this.t.leaf, first.snap, { type: 'MERGE', anyDirty });
    this.took(mergeEntry);
    for (const c of children) this.deleteLeaf(c);
    this.setLeaf({ iova: base, level, size, oa: first.oa, write: first.write, snap: mergeEntry.next });
    this.dropTables(base, size, level);
    for (const e of this.tlbEntries()) if (overlaps(e.iova, e.size, base, size)) this.tlbEvent(e, { type: 'INVALIDATE' });
    return true;
  }

  /** readAndClearDirty: the whole leaves expected in the record; clears and invalidates unless noClear (CLEAR-1, CLEAR-2, IOTLB-7, IOTLB-9). */
  readAndClearDirty(iova: number, size: number, noClear: boolean): { iova: number; size: number }[] {
    const recorded: { iova: number; size: number }[] = [];
    const leaves = this.leavesIn(iova, size);
    const first = leaves[0];
    const last = leaves[leaves.length - 1];
    const cached = first === undefined || last === undefined ? NO_TLB_ENTRIES : this.cachedOver(first.iova, last.iova + last.size - first.iova);
    for (const leaf of leaves) {
      const dirty = leafStateOf(leaf.snap).state === 'writableDirty';
      if (dirty) recorded.push({ iova: leaf.iova, size: leaf.size });
      if (noClear) continue;
      if (!clearsLeaf(leaf.iova, leaf.size, iova, size)) {
        if (dirty) this.note(['CLEAR-4']); // reported, kept dirty
        continue;
      }
      // CLEAR-1 on a dirty leaf, CLEAR-2 on any other: the machine decides.
      this.leafEvent(leaf, CLEAR_DIRTY);
      for (const e of cached) {
        if (!overlaps(e.iova, e.size, leaf.iova, leaf.size) || !this.stillCached(e)) continue;
        this.tlbEvent(e, { type: 'SW_CLEAR_DIRTY' });
        if (dirty) this.tlbEvent(e, { type: 'INVALIDATE' });
      }
    }
    // Entries in range whose leaf is gone saw software clear around them (a no-op for them).
    if (!noClear) {
      for (const e of this.tlbEntries()) if (overlaps(e.iova, e.size, iova, size) && this.leafAt(e.iova) === undefined) this.tlbEvent(e, { type: 'SW_CLEAR_DIRTY' });
    }
    return recorded;
  }

  /** TLBI + CMD_SYNC issued directly (IOTLB-9). */
  invalidate(iova: number, size: number): void {
    if (this.trackTlb) this.took(this.ctx.step(this.t.iotlb, this.t.iotlb.initial, { type: 'INVALIDATE' }));
    for (const e of this.tlbEntries()) if (overlaps(e.iova, e.size, iova, size)) this.tlbEvent(e, { type: 'INVALIDATE' });
  }

  /** The implementation's TLB dropped an entry the model still holds: eviction (IOTLB-11). */
  evict(iova: number, level: Level): void {
    const e = this.tlb.get(tlbKey(iova, level));
    if (e !== undefined) this.tlbEvent(e, { type: 'EVICT' });
  }

  /** Evicts whatever entry covers `iova` (IOTLB-11). */
  evictAt(iova: number): void {
    const e = this.tlbAt(iova);
    if (e !== undefined) this.tlbEvent(e, { type: 'EVICT' });
  }

  /** setDirtyTracking, step by step as the domain tracking machine orders it (TRACK-1..7). */
  setDirtyTracking(enable: boolean): readonly string[] {
    if (!this.byMachine) return this.setDirtyTrackingByContract(enable);
    const steps = this.beginSetDirtyTracking(enable);
    for (const s of steps) this.trackingStep(s);
    return steps;
  }

  /**
   * setDirtyTracking's transition of the tracking machine (state, errno, coverage) without
   * its effects: the steps it takes, in order, each for `trackingStep`. A caller that races
   * a DMA write with the call runs them as stages, the write between two of them.
   */
  beginSetDirtyTracking(enable: boolean): readonly TrackingStep[] {
    const e = this.ctx.step(this.t.tracking, this.tracking, { type: 'SET_DIRTY_TRACKING', enable, hwDirty: this.hwDirty, pageGranular: this.pageGranular });
    this.tracking = e.next;
    this.took(e);
    this.trackingErrno = (e.outcomes as TrackingStep[]).includes('rejectEopnotsupp') ? -ERRNO.EOPNOTSUPP : 0;
    return e.outcomes as TrackingStep[];
  }

  /**
   * setDirtyTracking as the contract's capabilities say (`setDirtyTracking`), for a
   * contract whose HA/HD do not follow tracking: the steps it takes, in order; the errno in
   * `trackingErrno`.
   */
  private setDirtyTrackingByContract(enable: boolean): string[] {
    const t = this.caps.setDirtyTracking;
    const steps: string[] = [];
    this.trackingErrno = 0;
    if (t.withoutHdQuirk !== undefined && !this.hdQuirk) {
      this.noteRule('TRACK-1');
      this.trackingErrno = -ERRNO[t.withoutHdQuirk];
      return [`reject ${t.withoutHdQuirk}`];
    }
    if (enable) {
      this.noteRule('TRACK-1');
      if (!this.hwDirty) {
        this.trackingErrno = -ERRNO[t.refusal];
        return [`reject ${t.refusal}`];
      }
      if (this.on) {
        this.noteRule('TRACK-5');
        if (t.enableWhileOn === 'no-op') return steps;
        if (t.enableWhileOn !== 'clears-again') {
          this.trackingErrno = -ERRNO[t.enableWhileOn.errno];
          return [`reject ${t.enableWhileOn.errno}`];
        }
        // The clear is the one enabling does (TRACK-3 as the contract has it: linux-upstream TRACK-U2).
        this.noteRule('TRACK-3');
        this.clearAllLeaves(t.enable.invalidates);
        return ['clearStaleDirty', ...(t.enable.invalidates ? ['invalidateAll'] : [])];
      }
      this.on = true;
      this.noteRule('TRACK-2');
      if (t.enable.setsHaHd) {
        for (const id of this.streams.keys()) this.streams.set(id, { ha: true, hd: true });
        steps.push('setHaHdAllStreams');
      }
      if (t.enable.clearsStale) {
        this.noteRule('TRACK-3');
        this.clearAllLeaves(false);
        steps.push('clearStaleDirty');
      }
      if (t.enable.invalidates) {
        this.invalidate(0, 2 ** 48);
        steps.push('invalidateAll');
      }
      if (this.pageGranular && t.enable.splits !== 'none') {
        this.noteRule('TRACK-4');
        for (const level of [1, 2] as const) {
          for (const b of [...this.leaves.values()].filter((l) => l.level === level).sort((x, y) => x.iova - y.iova)) {
            if (t.enable.splits === 'writable-dirty-blocks' && !this.splitApplies(b)) continue;
            // Per mapping: iommu_split_block over each mapping in iommu_pgsize chunks reaches a block's size only inside one.
            if (t.perMapping && !this.inOneMapping(b.iova, b.size)) continue;
            if (!this.splitCan()) continue; // SPLIT-R1: without BBML1/2 the split fails, and the failure is ignored
            this.noteRule('SPLIT-2'); // how the pages are filled (rfc-2021: SPLIT-R2)
            this.split(b.iova);
            this.splitForTracking.push({ iova: b.iova, level });
          }
        }
        steps.push('splitBlocks');
      }
      return steps;
    }
    this.noteRule('TRACK-6');
    if (!this.on) {
      this.noteRule('TRACK-5');
      if (t.disableWhileOff !== 'no-op') this.trackingErrno = -ERRNO[t.disableWhileOff.errno];
      return this.trackingErrno === 0 ? steps : [`reject ${t.disableWhileOff === 'no-op' ? '' : t.disableWhileOff.errno}`];
    }
    if (this.pageGranular && t.disable.merges === 'what-enable-split') {
      for (const b of [...this.splitForTracking].reverse()) this.merge(b.iova, b.level);
      steps.push('mergeBlocks');
    }
    if (this.pageGranular && t.disable.merges === 'every-contiguous-run' && this.mergeCan()) {
      // TRACK-R3: every 2 MiB region whose 512 pages are one contiguous run of equal permission becomes a block;
      // per mapping (the RFC's VFIO switches each vfio_dma on its own, finding runs with iova_to_phys inside it),
      // only inside one mapping: a region two map calls fill stays pages.
      // The caller merges whole runs, blocks among them, which the merge must take as merged already (MERGE-R1).
      this.noteRule('MERGE-R1');
      const bases = new Set([...this.leaves.values()].filter((l) => l.level === 3).map((l) => l.iova - (l.iova % armLpaeBlockSize(2))));
      for (const base of [...bases].sort((a, b) => a - b)) if (this.merge(base, 2, true) && (!t.perMapping || this.inOneMapping(base, armLpaeBlockSize(2)))) this.merge(base, 2);
      steps.push('mergeBlocks');
    }
    this.splitForTracking = [];
    if (t.disable.marksWritableDirty) {
      for (const leaf of this.leaves.values()) this.leafEvent(leaf, SET_DIRTY);
      steps.push('markWritableDirty');
    }
    if (t.disable.invalidates) {
      this.invalidate(0, 2 ** 48);
      steps.push('invalidateAll');
    }
    if (t.disable.clearsHaHd) {
      for (const id of this.streams.keys()) this.streams.set(id, { ha: false, hd: false });
      steps.push('clearHaHdAllStreams');
    }
    this.on = false;
    return steps;
  }

  /** Whether one mapping (`mappings`) holds all of [iova, iova + size). */
  inOneMapping(iova: number, size: number): boolean {
    return this.mappings.some((a) => a.iova <= iova && iova + size <= a.end);
  }

  /** Whether the contract's split can run (no BBML1/2 needed, or the SMMU has it). */
  splitCan(): boolean {
    return this.caps.split?.needsBbml === undefined || this.bbml !== 0;
  }

  /** Whether the contract's merge can run (no BBML1/2 needed, or the SMMU has it). */
  mergeCan(): boolean {
    return this.caps.merge?.needsBbml === undefined || this.bbml !== 0;
  }

  /** Whether a split under the contract changes the block (`split.applies`: the RFC splits only writable-dirty blocks). */
  splitApplies(block: ModelLeaf): boolean {
    if (this.caps.split?.applies !== 'writable-dirty-blocks') return true;
    const st = leafStateOf(block.snap).state;
    return st === 'writableDirty' || st === 'writable';
  }

  /** Every writable-dirty leaf made writable-clean (iommufd's clear on enable); the IOTLB told of the clear, invalidated only if `invalidate`. */
  private clearAllLeaves(invalidate: boolean): void {
    const cached = this.tlbEntries();
    for (const leaf of this.leaves.values()) {
      const dirty = leafStateOf(leaf.snap).state === 'writableDirty';
      this.leafEvent(leaf, CLEAR_DIRTY);
      for (const e of cached) {
        if (!overlaps(e.iova, e.size, leaf.iova, leaf.size) || !this.stillCached(e)) continue;
        this.tlbEvent(e, { type: 'SW_CLEAR_DIRTY' });
        if (dirty && invalidate) this.tlbEvent(e, { type: 'INVALIDATE' });
      }
    }
  }

  /**
   * A read-and-clear as the contract's `readAndClear` says, for a contract that walks
   * from a cursor (`partialLeaf` 'record-from-cursor-clear-whole'): the errno, the pages
   * it reports, the pages of the range it visits (an owed page it does not visit is not
   * due in this report), and the pages it clears without reporting (lost by the
   * contract's design). Steps the model.
   */
  readAndClearWalk(iova: number, size: number, noClear: boolean): ReadAndClearWalk {
    const rc = this.caps.readAndClear;
    if (rc.partialLeaf === 'einval') return this.syncThenClear(iova, size, noClear);
    const pages = new PageRuns();
    /** What Linux's records cover: inside the range, and past it. */
    const recorded = new PageRuns();
    const everRecorded = new PageRuns();
    const visited = new PageRuns();
    const cleared: ModelLeaf[] = [];
    const end = iova + size;
    let errno = 0;
    if (rc.withoutHdQuirk !== undefined && !this.hdQuirk) {
      this.note(['CLEAR-U1']);
      return { errno: -ERRNO[rc.withoutHdQuirk], pages, mayAlsoReport: new PageRuns(), visited, clearedUnreported: new PageRuns() };
    }
    if (!this.trackingOn && rc.whenTrackingOff === 'reports') this.note(['CLEAR-U1']); // reports while tracking is off
    // The rules at stake are those of what the walk meets (noted after it): a dirty leaf cut by the range (CLEAR-4), one cleared (CLEAR-1), pages recorded (BITMAP-2).
    let cutDirty = false;
    for (let cursor = iova; cursor < end; ) {
      const leaf = this.leafAt(cursor);
      if (leaf === undefined) {
        if (rc.hole === 'einval') {
          this.note(['CLEAR-U3']);
          errno = -ERRNO.EINVAL;
          break;
        }
        cursor += 4096 - (cursor % 4096);
        continue;
      }
      const to = Math.min(cursor + leaf.size, end);
      const from = cursor - (cursor % 4096);
      // Visited: the leaf's own pages the walk looked at (what it records from the cursor may run past the leaf, CLEAR-U2).
      visited.add(from, pageEnd(Math.min(to, leaf.iova + leaf.size)));
      const state = leafStateOf(leaf.snap).state;
      if (state === 'writableDirty' || (rc.reportsPlainWritable && state === 'writable')) {
        if (leaf.iova < iova || leaf.iova + leaf.size > end) cutDirty = true;
        // Linux records [cursor, cursor + leaf size) (iommu_dirty_bitmap_record), which runs
        // past the leaf's end where the range starts inside it, and past the range's end
        // (iova_bitmap_set stops only at the pinned bitmap pages). Owed: the leaf's own pages
        // from the cursor to the range's end, here; the other recorded pages in range that a
        // leaf this walk clears holds, after the walk (that record is the only report they
        // get: the walk enters that leaf past them and clears it whole).
        pages.add(from, pageEnd(Math.min(to, leaf.iova + leaf.size)));
        recorded.add(from, pageEnd(to));
        everRecorded.add(from, pageEnd(cursor + leaf.size));
        if (!noClear) {
          this.leafEvent(leaf, CLEAR_DIRTY);
          cleared.push(leaf);
          for (const e of this.tlbEntries()) {
            if (!overlaps(e.iova, e.size, leaf.iova, leaf.size)) continue;
            this.tlbEvent(e, { type: 'SW_CLEAR_DIRTY' });
            if (rc.invalidatesCleared === 'range') this.tlbEvent(e, { type: 'INVALIDATE' });
          }
        }
      }
      cursor += leaf.size;
    }
    if (cleared.length > 0 && rc.invalidatesCleared === 'whole-domain') this.invalidate(0, 2 ** 48);
    // CLEAR-U4: no invalidation follows any read-and-clear (the gather has no page size), whatever it cleared.
    if (rc.invalidatesCleared === 'no') this.note(['CLEAR-U4']);
    if (cleared.length > 0) this.noteRule('CLEAR-1');
    if (cutDirty) this.noteRule('CLEAR-4');
    const whole = new PageRuns();
    for (const l of cleared) whole.add(l.iova, l.iova + l.size);
    // Also owed: the recorded pages in range of a block the walk clears, or leaves dirty
    // (not reached, or IOMMU_DIRTY_NO_CLEAR): the record is their only report in this walk,
    // and a later walk that enters the block past them clears them unreported (CLEAR-U2's
    // design excuses that loss only for pages no record reported). A 4 KiB leaf is recorded
    // whole whenever it is visited. Every other recorded bit (a hole, a clean or read-only
    // leaf, past the range) is permitted, not required.
    const start = iova - (iova % 4096);
    const dirtyBlocks = new PageRuns();
    for (const [a, b] of whole.runs()) dirtyBlocks.add(a, b);
    const stillDirty = this.leavesIn(iova, size).filter((l) => leafStateOf(l.snap).state === 'writableDirty');
    for (const l of stillDirty) if (l.size > PAGE_SIZE) dirtyBlocks.add(l.iova, l.iova + l.size);
    for (const [a, b] of dirtyBlocks.within(recorded).runs()) pages.add(a, b);
    if (pages.size > 0) this.noteRule('BITMAP-2');
    // Permitted besides: any page in range of a leaf that was writable-dirty when the walk
    // began (a walk that reports the head Linux's cursor skips, hazard H-U5, is better, not false).
    const mayAlsoReport = everRecorded;
    for (const [a, b] of whole.runs()) mayAlsoReport.add(Math.max(a, start), Math.min(b, pageEnd(end)));
    for (const l of stillDirty) mayAlsoReport.add(Math.max(l.iova, start), Math.min(l.iova + l.size, pageEnd(end)));
    return { errno, pages, mayAlsoReport: mayAlsoReport.minus(pages), visited, clearedUnreported: whole.minus(recorded) };
  }

  /**
   * A read-and-clear as a sync followed by a clear of what it reported (the RFC's
   * GET_BITMAP: sync_dirty_log, then clear_dirty_log with the synced bitmap): -EINVAL while
   * off or over a hole, before anything; every page of a dirty leaf in range reported
   * (and of a plain writable one, where the contract reports those); then each reported
   * leaf wholly inside the range cleared, and -EINVAL at the first one it cuts (after the
   * clears before it); the whole IOTLB flushed after a clear.
   */
  private syncThenClear(iova: number, size: number, noClear: boolean): ReadAndClearWalk {
    const s = this.beginSync(iova, size);
    if (!('reported' in s)) return s;
    this.syncPart(s, iova, iova + size);
    return this.finishSync(s, noClear);
  }

  /**
   * The start of a sync-then-clear (`syncThenClear`): its refusals (-EINVAL while off or
   * over a hole, before anything is read), or the sync to run by parts (`syncPart`) and
   * finish (`finishSync`). A contract whose sync reads a cut block once per chunk
   * (`readAndClear.syncChunks`) is raced between two parts: the write lands between two reads.
   */
  beginSync(iova: number, size: number): SyncInProgress | ReadAndClearWalk {
    const rc = this.caps.readAndClear;
    const none = { pages: new PageRuns(), mayAlsoReport: new PageRuns(), visited: new PageRuns(), clearedUnreported: new PageRuns() };
    if (!this.trackingOn && rc.whenTrackingOff === 'einval') {
      this.note(['CLEAR-R1']); // the sync is -EINVAL while tracking is off
      return { errno: -ERRNO.EINVAL, ...none };
    }
    const end = iova + size;
    const start = iova - (iova % 4096);
    if (rc.hole === 'einval') {
      // A hole: a page of the range no leaf covers (the leaves in IOVA order, each starting where the one before ended).
      let covered = start;
      for (const l of this.leavesIn(iova, size)) {
        if (l.iova > covered) break;
        covered = Math.max(covered, l.iova + l.size);
      }
      if (covered < end) {
        this.note(['CLEAR-R1']);
        return { errno: -ERRNO.EINVAL, ...none };
      }
    }
    return { iova, size, pages: new PageRuns(), reported: new Map() };
  }

  /** The sync's read of [from, to) (inside the sync's range): every page there of a dirty leaf (or a plain writable one, where the contract reports those) (CLEAR-R1). */
  syncPart(s: SyncInProgress, from: number, to: number): void {
    const rc = this.caps.readAndClear;
    const lo = Math.max(from - (from % 4096), s.iova - (s.iova % 4096));
    const hi = Math.min(pageEnd(to), pageEnd(s.iova + s.size));
    if (hi <= lo) return;
    for (const leaf of this.leavesIn(lo, hi - lo)) {
      const st = leafStateOf(leaf.snap).state;
      if (st !== 'writableDirty' && !(rc.reportsPlainWritable && st === 'writable')) continue;
      s.reported.set(leafKey(leaf.iova, leaf.level), { iova: leaf.iova, level: leaf.level, size: leaf.size });
      s.pages.add(Math.max(leaf.iova, lo), Math.min(leaf.iova + leaf.size, hi));
    }
  }

  /** The end of a sync-then-clear: the clear by the synced bitmap, unless noClear (CLEAR-R2). */
  finishSync(s: SyncInProgress, noClear: boolean): ReadAndClearWalk {
    const rc = this.caps.readAndClear;
    const { iova, size, pages } = s;
    const end = iova + size;
    const visited = new PageRuns();
    visited.add(iova - (iova % 4096), pageEnd(end));
    if (pages.size > 0) this.noteRule('BITMAP-2');
    if (noClear) return { errno: 0, pages, mayAlsoReport: new PageRuns(), visited, clearedUnreported: new PageRuns() };
    // The clear by bitmap (CLEAR-R2 in CLEAR-4's place): whole leaves only, -EINVAL for a cut one, the IOTLB flushed: at stake where a bit is to be cleared.
    const reported = [...s.reported.values()].sort((a, b) => a.iova - b.iova);
    if (reported.length > 0) this.noteRule('CLEAR-4');
    let errno = 0;
    let cleared = 0;
    for (const place of reported) {
      if (place.iova < iova || place.iova + place.size > end) {
        this.note(['CLEAR-R2']);
        errno = -ERRNO.EINVAL;
        break;
      }
      // The leaf as it is now: a write between two parts of the sync made a new one at its place.
      const leaf = this.leaves.at(place.iova, place.level);
      if (leaf !== undefined) this.leafEvent(leaf, CLEAR_DIRTY);
      this.tlbEventOver(place.iova, place.size, { type: 'SW_CLEAR_DIRTY' });
      cleared++;
    }
    if (cleared > 0) this.noteRule('CLEAR-1');
    if (cleared > 0 && rc.invalidatesCleared === 'whole-domain') this.invalidate(0, 2 ** 48);
    if (cleared > 0 && rc.invalidatesCleared === 'range') for (const l of reported.slice(0, cleared)) this.tlbEventOver(l.iova, l.size, { type: 'INVALIDATE' });
    return { errno, pages, mayAlsoReport: new PageRuns(), visited, clearedUnreported: new PageRuns() };
  }

  /**
   * An unmap as the contract's `unmap` says, planned on a copy: the blocks it splits (a
   * block the range cuts, where the contract splits), and where it stops (a hole or a cut
   * block, where the contract stops or refuses, and which of the two: `stop`). Changes nothing.
   * `partialBlock` is how a cut block is taken: the contract's, or for a contract that allows
   * either ('refuse-or-split'), the one asked (refused unless asked otherwise). Splitting,
   * `maxSplits` of them succeed and the next cut block stops the unmap as a refusal would
   * (v6.12's split gives up when the hardware changed the block): `cutLevel` is the level of
   * the leaf it stopped at.
   */
  unmapPlan(iova: number, size: number, partialBlock: 'split' | 'refuse' = this.caps.unmap.partialBlock === 'split' ? 'split' : 'refuse', maxSplits = Number.POSITIVE_INFINITY, withMaybeTables = true): UnmapPlan {
    const u = this.caps.unmap;
    const probe = this.clone();
    const splits: number[] = [];
    const end = iova + size;
    let cursor = iova;
    let chunked = 0;
    let stopped: 'hole' | 'cut' | undefined;
    let cutLevel: Level = 1;
    while (cursor < end) {
      if (u.chunks === 'iommu-pgsize') {
        // A chunk of a block size over a table (empty or not): the table goes whole, holes included.
        const level = ([1, 2] as const).find((lv) => cursor % armLpaeBlockSize(lv) === 0 && end - cursor >= armLpaeBlockSize(lv));
        if (level !== undefined) {
          const span = armLpaeBlockSize(level);
          if (probe.tables.has(key(cursor, level)) && (withMaybeTables || !probe.maybeTables.has(key(cursor, level)))) {
            chunked += span - probe.leavesIn(cursor, span).reduce((a, l) => a + l.size, 0);
            cursor += span;
            continue;
          }
        }
      }
      const l = probe.leafAt(cursor);
      if (l === undefined) {
        if (u.hole === 'stop') {
          stopped = 'hole';
          break;
        }
        cursor += 4096;
        continue;
      }
      if (l.iova < iova || l.iova + l.size > end) {
        if (partialBlock === 'refuse' || splits.length >= maxSplits) {
          stopped = 'cut';
          cutLevel = l.level;
          break;
        }
        splits.push(cursor);
        probe.split(cursor);
        continue;
      }
      cursor = l.iova + l.size;
    }
    const stop = Math.min(cursor, end);
    // Bytes: the leaves removed, and the holes of the tables removed whole (which count their span).
    const bytes = chunked + (stop > iova ? probe.leavesIn(iova, stop - iova).reduce((a, l) => a + l.size, 0) : 0);
    return stopped === undefined ? { splits, end: stop, bytes } : stopped === 'hole' ? { splits, end: stop, bytes, stop: stopped } : { splits, end: stop, bytes, stop: stopped, cutLevel };
  }

  /**
   * Every way an unmap may go under a contract that refuses or splits a cut block
   * ('refuse-or-split'): refused at the first cut block, then with each of the splits that
   * the whole unmap would make succeeding in turn and the next one given up, then split
   * throughout. Linux v6.12.117 arm_lpae_split_blk_unmap returns 0 when its compare-exchange
   * finds the block changed, and __iommu_unmap stops there.
   */
  unmapPlans(iova: number, size: number, withMaybeTables = true): UnmapPlan[] {
    const whole = this.unmapPlan(iova, size, 'split', Number.POSITIVE_INFINITY, withMaybeTables);
    return Array.from({ length: whole.splits.length }, (_, k) => this.unmapPlan(iova, size, 'split', k, withMaybeTables)).concat(whole);
  }

  /** Whether a table only a refused map made (`maybeTables`) is in [iova, iova + size). */
  maybeTablesIn(iova: number, size: number): boolean {
    for (const k of this.maybeTables) {
      const p = leafPlace(k);
      if (p.iova < iova + size && p.iova + armLpaeBlockSize(p.level) > iova) return true;
    }
    return false;
  }

  /** A stream attached to the domain (TRACK-7). */
  attachStream(streamId: number): readonly string[] {
    if (!this.byMachine) {
      this.noteRule('TRACK-7');
      const on = this.caps.cdHaHd === 'always' || (this.caps.cdHaHd === 'always-if-hd-quirk' && this.hdQuirk);
      this.streams.set(streamId, { ha: on, hd: on });
      return on ? ['setHaHdOnStream'] : [];
    }
    const e = this.ctx.step(this.t.tracking, this.tracking, { type: 'ATTACH_STREAM' });
    this.tracking = e.next;
    this.took(e);
    this.streams.set(streamId, { ha: false, hd: false });
    this.attaching = streamId;
    for (const s of e.outcomes as TrackingStep[]) this.trackingStep(s);
    this.attaching = undefined;
    return e.outcomes as TrackingStep[];
  }

  get trackingOn(): boolean {
    return this.byMachine ? this.tracking.value === 'on' : this.on;
  }

  /** One effect of setDirtyTracking (the tracking machine's outcomes, TRACK-2..TRACK-6). */
  trackingStep(s: TrackingStep): void {
    switch (s) {
      case 'rejectEopnotsupp':
        return;
      case 'setHaHdAllStreams':
        for (const id of this.streams.keys()) this.streams.set(id, { ha: true, hd: true });
        return;
      case 'clearHaHdAllStreams':
        for (const id of this.streams.keys()) this.streams.set(id, { ha: false, hd: false });
        return;
      case 'setHaHdOnStream':
        if (this.attaching !== undefined) this.streams.set(this.attaching, { ha: true, hd: true });
        return;
      case 'clearStaleDirty':
        this.readAndClearDirty(0, 2 ** 48, false);
        return;
      case 'invalidateAll':
        this.invalidate(0, 2 ** 48);
        return;
      case 'splitBlocks':
        // Every block, 1 GiB ones down to 2 MiB and then to pages.
        for (const level of [1, 2] as const) {
          for (const b of [...this.leaves.values()].filter((l) => l.level === level).sort((x, y) => x.iova - y.iova)) {
            this.split(b.iova);
            this.splitForTracking.push({ iova: b.iova, level });
          }
        }
        return;
      case 'mergeBlocks':
        for (const b of [...this.splitForTracking].reverse()) this.merge(b.iova, b.level);
        this.splitForTracking = [];
        return;
      case 'markWritableDirty':
        for (const leaf of this.leaves.values()) this.leafEvent(leaf, SET_DIRTY);
        return;
    }
  }
}
