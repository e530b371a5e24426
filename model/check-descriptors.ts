// Checks an implementation's page table (read from memory) and IOTLB against the
// model's prediction. A leaf dirty in memory but clean in the spec is a false dirty; a
// leaf clean in memory but dirty in the spec has lost dirty state; anything else that
// differs breaks the spec. The requirement named is that of the transitions the model
// took for the operation being checked.
import {
  ARM_LPAE_PTE_AF,
  ARM_LPAE_PTE_VALID,
  ARM_LPAE_PTE_AP_RDONLY,
  ARM_LPAE_PTE_DBM,
  ARM_LPAE_PTE_OA_MASK,
  ARM_LPAE_PTE_TYPE_BLOCK,
  ARM_LPAE_PTE_TYPE_MASK,
  ARM_LPAE_PTE_TYPE_PAGE,
  armLpaeBlockSize,
  armLpaeLvlIdx,
  decodeLeaf,
  isTableDescriptor,
  type LeafState,
  type Level,
} from '../spec/descriptor/encoding.ts';
import { leafStateOf } from '../spec/descriptor/leaf-machine.ts';
import { type TableWords, type WalkedLeaf, walkLeafWords } from '../spec/descriptor/walk.ts';
import { type DescriptorModel, type ModelLeaf, tlbKey } from './descriptor-model.ts';
import { leafKey, leafKeyIova, leafKeyLevel, leafPlace } from './leaf-store.ts';
import { Violation } from './violation.ts';

const hex = (n: number) => `0x${n.toString(16)}`;
const PAGE = armLpaeBlockSize(3);

/** The bits that carry a leaf's decoded state: valid, type, AP[2], AF, OA, DBM. */
const STATE_BITS = ARM_LPAE_PTE_TYPE_MASK | ARM_LPAE_PTE_AP_RDONLY | ARM_LPAE_PTE_AF | ARM_LPAE_PTE_OA_MASK | ARM_LPAE_PTE_DBM;

/** What those bits must be for the spec's state of `ml` (DBM and AP[2] per PTE-2). */
function expectedBits(state: LeafState, accessFlag: boolean, oa: number, level: number): bigint {
  let bits = (level === 3 ? ARM_LPAE_PTE_TYPE_PAGE : ARM_LPAE_PTE_TYPE_BLOCK) | (BigInt(oa) & ARM_LPAE_PTE_OA_MASK);
  if (accessFlag) bits |= ARM_LPAE_PTE_AF;
  if (state === 'readOnly' || state === 'writableClean') bits |= ARM_LPAE_PTE_AP_RDONLY;
  if (state === 'writableClean' || state === 'writableDirty') bits |= ARM_LPAE_PTE_DBM;
  return bits;
}

/**
 * The bits a model leaf must have in memory. The part that depends on its machine state is
 * computed once per (state, level) in a run (RunContext.leafBits): table snapshots are
 * shared per state, so there are few.
 */
function expectedBitsOf(model: DescriptorModel, ml: ModelLeaf): bigint {
  const memo = model.ctx.leafBits;
  let byLevel = memo.get(ml.snap);
  if (byLevel === undefined) {
    const want = leafStateOf(ml.snap);
    byLevel = [0, 1, 2, 3].map((level) => expectedBits(want.state, want.accessFlag, 0, level));
    memo.set(ml.snap, byLevel);
  }
  return byLevel[ml.level]! | (BigInt(ml.oa) & ARM_LPAE_PTE_OA_MASK);
}

/** STATE_BITS as the halves of a word read by halves (TableWords): bits 31:0, bits 63:32. */
const STATE_LOW = Number(STATE_BITS & 0xffff_ffffn);
const STATE_HIGH = Number(STATE_BITS >> 32n);
const TWO_32 = 2 ** 32;

/**
 * `expectedBitsOf` against a word read as its halves: whether `low` and `high` carry the
 * state bits and output address the model's leaf `ml` must have, with no BigInt made (a
 * check compares thousands of leaves). Memoized per (state, level) as expectedBitsOf is.
 */
function matchesWords(model: DescriptorModel, ml: ModelLeaf, low: number, high: number): boolean {
  const memo = model.ctx.leafWords;
  let byLevel = memo.get(ml.snap);
  if (byLevel === undefined) {
    const want = leafStateOf(ml.snap);
    byLevel = new Int32Array(8);
    for (let level = 0; level < 4; level++) {
      const bits = expectedBits(want.state, want.accessFlag, 0, level);
      byLevel[2 * level] = Number(bits & 0xffff_ffffn);
      byLevel[2 * level + 1] = Number(bits >> 32n);
    }
    memo.set(ml.snap, byLevel);
  }
  // OA[47:12] of the leaf, split as the word is. A bit operation takes its operand modulo 2^32
  // (ToInt32), so `oa & mask` is the low half's bits with no division, and both sides of each
  // comparison are signed 32-bit.
  const oaLow = ml.oa & 0xffff_f000;
  const oaHigh = (ml.oa / TWO_32) & 0xffff;
  return (low & STATE_LOW) === (byLevel[2 * ml.level]! | oaLow) && (high & STATE_HIGH) === (byLevel[2 * ml.level + 1]! | oaHigh);
}

/** Whether `leaf`, as found in memory, is the model's leaf at the same place and level, state bits and output address alike. */
export function leafAsModelled(model: DescriptorModel, leaf: { readonly iova: number; readonly level: Level; readonly pte: bigint }): boolean {
  const ml = model.leaves.at(leaf.iova, leaf.level);
  return ml !== undefined && (leaf.pte & STATE_BITS) === expectedBitsOf(model, ml);
}

/** How one leaf found in memory differs from the model's leaf at the same place, or undefined. */
function leafDifference(model: DescriptorModel, l: WalkedLeaf, req: () => string[]): Violation | undefined {
  const ml = model.leaves.at(l.iova, l.level);
  if (ml !== undefined && (l.pte & STATE_BITS) === expectedBitsOf(model, ml)) return undefined;
  // A difference: decode it for the report.
  let got: ReturnType<typeof decodeLeaf>;
  try {
    got = decodeLeaf(l.pte, l.level);
  } catch (e) {
    // Only the type field (bits 1:0) fails to decode: a leaf type where the architecture puts none
    // (PTE-1: 0b01 is reserved at L3), or a block at L0 (PTE-4: blocks at L1 and L2 only).
    return new Violation('spec', [l.level === 0 ? 'PTE-4' : 'PTE-1', ...req()], `a leaf descriptor at ${hex(l.iova)} L${l.level}`, `0x${l.pte.toString(16).padStart(16, '0')}: ${(e as Error).message}`);
  }
  const actual = `leaf ${hex(l.iova)} L${l.level} = 0x${l.pte.toString(16).padStart(16, '0')} (${got.state}, AF=${got.accessFlag ? 1 : 0}, OA=${hex(got.outputAddress)})`;
  if (ml === undefined) return new Violation('spec', req(), `no leaf at ${hex(l.iova)} L${l.level}`, actual);
  const want = leafStateOf(ml.snap);
  const kind = want.state === 'writableClean' && got.state === 'writableDirty' ? 'precision' : want.state === 'writableDirty' && got.state === 'writableClean' ? 'loss' : 'spec';
  const rules = req();
  // A leaf this operation made from a protection (MAP-1..3 for the state the spec gives it)
  // whose AF, AP[2] or DBM differ at the right output address: the encoding of the
  // protection is wrong (PTE-3, arm_lpae_prot_to_pte).
  const mapRule = MAPPED_AS[want.state];
  const badEncoding = mapRule !== undefined && rules.includes(mapRule) && got.outputAddress === ml.oa && (got.state !== want.state || got.accessFlag !== want.accessFlag);
  if (badEncoding) rules.push('PTE-3');
  // DBM where the spec's leaf has none, or none where it has: the leaf decodes to another kind
  // of permission, a fixed one instead of dirty state or the reverse (PTE-2: with DBM, AP[2]
  // is the dirty state; without, the permission), whatever the operation meant to write.
  if (dbmManaged(want.state) !== dbmManaged(got.state)) rules.push('PTE-2');
  // A leaf this operation's map created, clean where the spec makes it dirty (MAP-2: the HD
  // quirk), loses nothing yet, since no write has gone through it: a wrong encoding, not a
  // lost page. (A merge or split that makes a leaf from the protection is not a map: the
  // pages it covers may have been written.)
  const fresh = badEncoding && kind === 'loss' && model.mappedThisOp.has(leafKey(ml.iova, ml.level));
  return new Violation(fresh ? 'spec' : kind, rules, `leaf ${hex(l.iova)} L${l.level} ${want.state}, AF=${want.accessFlag ? 1 : 0}, OA=${hex(ml.oa)}`, actual);
}

/** Whether a leaf state is dirty state managed through DBM (PTE-2: DBM = 1). */
const dbmManaged = (state: LeafState) => state === 'writableClean' || state === 'writableDirty';

/** The map rule that gives a new leaf each state (spec/descriptor/leaf-machine.ts, MAP). */
const MAPPED_AS: Partial<Record<LeafState, string>> = { readOnly: 'MAP-1', writableDirty: 'MAP-2', writable: 'MAP-3' };

const requirementsOf = (model: DescriptorModel) => () => (model.opReq.size > 0 ? [...model.opReq] : ['PTE-2']);

/**
 * The differences a check found, reported as the full walk reports them whatever order they
 * were found in: a leaf in memory that differs, the lowest IOVA first; else a model leaf
 * missing from memory, the lowest IOVA first. So the full and the incremental check name
 * the same difference.
 */
class Differences {
  private inMemory: { iova: number; violation: Violation } | undefined;
  private missing: ModelLeaf | undefined;
  constructor(private readonly req: () => string[]) {}
  leaf(model: DescriptorModel, l: WalkedLeaf): void {
    if (this.inMemory !== undefined && this.inMemory.iova <= l.iova) return;
    const v = leafDifference(model, l, this.req);
    if (v !== undefined) this.inMemory = { iova: l.iova, violation: v };
  }
  /** `leaf` for a leaf read as the halves of its descriptor: the walked leaf (and its 64-bit descriptor) is built only when it differs. */
  leafWords(model: DescriptorModel, memory: CheckedMemory, iova: number, level: Level, ptep: number, low: number, high: number): void {
    if (this.inMemory !== undefined && this.inMemory.iova <= iova) return;
    const ml = model.leaves.at(iova, level);
    if (ml !== undefined && matchesWords(model, ml, low, high)) return;
    this.leaf(model, { iova, level, size: armLpaeBlockSize(level), ptep, pte: memory.load(ptep) });
  }
  missingLeaf(ml: ModelLeaf): void {
    if (this.missing === undefined || ml.iova < this.missing.iova) this.missing = ml;
  }
  throwAny(): void {
    if (this.inMemory !== undefined) throw this.inMemory.violation;
    if (this.missing !== undefined) throw new Violation('spec', this.req(), `leaf ${hex(this.missing.iova)} L${this.missing.level} ${leafStateOf(this.missing.snap).state}`, 'no such leaf in the page table');
  }
}

/**
 * Every leaf in memory in [iova, iova + size) matches the model's leaf there, and every
 * model leaf in the range is in memory (PTE-1..5 against the leaf machine's state).
 */
function checkRange(model: DescriptorModel, memory: CheckedMemory, ttb0: number, iova: number, size: number, diffs: Differences, wholeModel = false): void {
  let walked = 0;
  if (ttb0 !== 0)
    walkLeafWords(memory, ttb0, iova, size, (at, level, ptep, low, high) => {
      walked++;
      diffs.leafWords(model, memory, at, level, ptep, low, high);
    });
  // Every leaf walked matched a distinct model leaf, or differed: any model leaf not walked is missing.
  const expected = wholeModel ? model.leaves.size : model.countLeavesIn(iova, size);
  if (walked !== expected) {
    const present = new Set<number>();
    if (ttb0 !== 0) walkLeafWords(memory, ttb0, iova, size, (at, level) => void present.add(leafKey(at, level)));
    for (const ml of model.leavesIn(iova, size)) if (!present.has(leafKey(ml.iova, ml.level))) diffs.missingLeaf(ml);
  }
}

/** The full check: walks the whole window. The incremental checker below gives the same verdicts; this is its reference and a debug option. */
export function checkDescriptors(model: DescriptorModel, memory: CheckedMemory, ttb0: number, window: number): void {
  const diffs = new Differences(requirementsOf(model));
  checkRange(model, memory, ttb0, 0, window, diffs, true);
  diffs.throwAny();
}

/**
 * The full check over [iova, iova + size) only: every leaf in memory there matches the
 * model's, and every model leaf there is in memory. For a range outside the window the
 * checker compares (the last pages below 2^48).
 */
export function checkDescriptorsIn(model: DescriptorModel, memory: CheckedMemory, ttb0: number, iova: number, size: number): void {
  const diffs = new Differences(requirementsOf(model));
  checkRange(model, memory, ttb0, iova, size, diffs);
  diffs.throwAny();
}

/** The kit's memory as the checker reads it: loads (whole words, or as halves where only bits are tested), and the addresses written since the last commit. */
export interface CheckedMemory extends TableWords {
  load(address: number): bigint;
  writeLog: number[] | undefined;
}

interface TableFrame {
  readonly base: number;
  readonly level: Level;
}

/**
 * Checks the page table against the model where either may have changed since the last
 * committed check, with the same power as walking the whole window: the kit owns the
 * memory and logs every word written; the model knows every leaf it changed. It keeps a
 * map of the table frames reachable from TTB0 (each with the IOVA and level it
 * translates, or several where one table is linked from several entries) so that a
 * written word names the places it describes. A written table
 * entry that links, unlinks or relinks a table has its whole range checked both ways.
 *
 * `check(model, commit = false)` may be called for several alternative models (it reads
 * only); `check(model, true)` for the one adopted starts a new record.
 */
export class DescriptorChecker {
  /**
   * The places each table frame translates, by its address: one, unless the table is linked
   * from several entries (a driver that reuses a table still linked, say), when a word
   * written there changes every place.
   */
  private frames = new Map<number, TableFrame[]>();
  /** How many of `frames` sit below each table entry, by the entry's leafKey (base, level - 1): linksBelow without a scan of every frame. */
  private below = new Map<number, number>();
  private ttb0 = -1;
  /**
   * What the last check that passed without committing compared (the model's leaves and
   * its log of changed leaves, how much memory was written) and the table entries it found
   * relinked. A command checks the explanation it adopts, then commits it: a commit of that
   * same state needs no second comparison. Both logs only grow between commits, so equal
   * lengths of the same logs mean the same contents. Any other check forgets it.
   */
  private passed: { leaves: object; touched: readonly number[]; touchedLength: number; writes: number; ttb0: number; relinked: readonly { iova: number; level: Level }[] } | undefined;

  constructor(
    private readonly memory: CheckedMemory,
    private readonly window: number,
    /** Walk the whole window every time (the reference the incremental check must agree with). */
    private readonly full = false,
  ) {
    memory.writeLog = [];
  }

  check(model: DescriptorModel, ttb0: number, commit = false): void {
    const load = (a: number) => this.memory.load(a);
    const diffs = new Differences(requirementsOf(model));
    if (this.full || ttb0 !== this.ttb0 || ttb0 === 0) {
      this.passed = undefined;
      checkRange(model, this.memory, ttb0, 0, this.window, diffs, true);
      diffs.throwAny();
      if (commit) this.rebuild(model, ttb0);
      return;
    }
    const written = this.memory.writeLog ?? [];
    const touched = model.touchedKeys();
    const passed = this.passed;
    this.passed = undefined;
    if (commit && passed !== undefined && passed.leaves === model.leaves && passed.touched === touched && passed.touchedLength === touched.length && passed.writes === written.length && passed.ttb0 === ttb0) {
      this.commit(model, ttb0, passed.relinked);
      return;
    }
    // The places to compare, as leaf keys (model/leaf-store.ts): the table entries and blocks
    // first, in key order, then the pages. A table entry comes before every place below it
    // (their IOVAs are not lower, and at its own IOVA its level is lower), so a relinked
    // table is checked whole before any page under it is looked at, and those pages are skipped.
    const relinked: { iova: number; size: number; level: Level }[] = [];
    const tables = new Map<number, number | undefined>();
    // 1. Written words in reachable table frames name places in the window; so do the leaves the model changed.
    const uppers: number[] = [];
    const writtenPages: number[] = [];
    // Indexed loops over the logs: a for-of here went through the array iterator's next()
    // and allocated a result object per word (a heap profile: 12% of all bytes of a run).
    for (let w = 0; w < written.length; w++) {
      const a = written[w]!;
      const places = this.frames.get(a - (a % 4096));
      if (places === undefined) continue;
      for (let f = 0; f < places.length; f++) {
        const frame = places[f]!;
        if (frame.level === 3) {
          writtenPages.push(frame.base + ((a % 4096) / 8) * PAGE);
          continue;
        }
        const iova = frame.base + ((a % 4096) / 8) * armLpaeBlockSize(frame.level);
        if (iova < this.window) uppers.push(leafKey(iova, frame.level));
      }
    }
    for (let t = 0; t < touched.length; t++) {
      const k = touched[t]!;
      if (leafKeyLevel(k) < 3 && leafKeyIova(k) < this.window) uppers.push(k);
    }
    // 2. Each upper place, read from the root: a table entry that changed which table it points
    //    to has its range checked whole; a block or an invalid entry is compared.
    uppers.sort((x, y) => x - y);
    for (let i = 0; i < uppers.length; i++) {
      const k = uppers[i]!;
      if (i > 0 && k === uppers[i - 1]) continue;
      const p = leafPlace(k);
      const size = armLpaeBlockSize(p.level);
      if (within(relinked, p.iova)) continue;
      const entry = readEntry(load, ttb0, p.iova, p.level, tables);
      const ml = model.leaves.at(p.iova, p.level);
      if (entry === undefined || !entry.valid) {
        if (ml !== undefined) diffs.missingLeaf(ml);
        if (entry !== undefined && this.linksBelow(p.iova, p.level)) {
          checkRange(model, this.memory, ttb0, p.iova, size, diffs);
          relinked.push({ ...p, size });
        }
        continue;
      }
      if (entry.table !== undefined) {
        if (ml !== undefined) diffs.missingLeaf(ml);
        const known = this.frames.get(entry.table);
        if (known === undefined || !known.some((f) => f.base === p.iova && f.level === p.level + 1)) {
          checkRange(model, this.memory, ttb0, p.iova, size, diffs);
          relinked.push({ ...p, size });
        }
        continue;
      }
      diffs.leaf(model, { iova: p.iova, level: p.level, size, ptep: entry.ptep, pte: entry.pte });
      if (this.linksBelow(p.iova, p.level)) {
        checkRange(model, this.memory, ttb0, p.iova, size, diffs);
        relinked.push({ ...p, size });
      }
    }
    // 3. Each page not under a relinked table, once, read where it is. At level 3 no valid
    //    entry is a table (isTableDescriptor); the leaf comparison judges its type.
    // Pages by leaf key (a small integer, hashed as one: an IOVA above 2^31 would be a double).
    const pages = new Set<number>();
    const page = (iova: number, k: number): void => {
      if (iova >= this.window || within(relinked, iova) || pages.has(k)) return;
      pages.add(k);
      const table = tableAbove(load, ttb0, iova, 3, tables);
      const ptep = table === undefined ? 0 : table + armLpaeLvlIdx(iova, 3) * 8;
      const low = table === undefined ? 0 : this.memory.loadLow(ptep);
      if ((low & 1) !== 0) diffs.leafWords(model, this.memory, iova, 3, ptep, low, this.memory.loadHigh(ptep));
      else {
        const ml = model.leaves.at(iova, 3);
        if (ml !== undefined) diffs.missingLeaf(ml);
      }
    };
    for (let w = 0; w < writtenPages.length; w++) page(writtenPages[w]!, leafKey(writtenPages[w]!, 3));
    for (let t = 0; t < touched.length; t++) if (leafKeyLevel(touched[t]!) === 3) page(leafKeyIova(touched[t]!), touched[t]!);
    diffs.throwAny();
    if (commit) this.commit(model, ttb0, relinked);
    else this.passed = { leaves: model.leaves, touched, touchedLength: touched.length, writes: written.length, ttb0, relinked };
  }

  /** Takes the checked state as the new reference: the tables under the relinked entries learnt again, both logs emptied. */
  private commit(model: DescriptorModel, ttb0: number, relinked: readonly { iova: number; level: Level }[]): void {
    const load = (a: number) => this.memory.load(a);
    for (const r of relinked) this.relink(load, ttb0, r.iova, r.level);
    if (this.memory.writeLog !== undefined) this.memory.writeLog.length = 0;
    model.takeTouched();
  }

  /** Whether the last committed tables had a table below the entry at (iova, level). */
  private linksBelow(iova: number, level: Level): boolean {
    return this.below.has(leafKey(iova, level));
  }

  private addFrame(table: number, frame: TableFrame): void {
    const places = this.frames.get(table);
    if (places === undefined) this.frames.set(table, [frame]);
    else if (places.some((f) => f.base === frame.base && f.level === frame.level)) return;
    else places.push(frame);
    if (frame.level === 0) return;
    const k = leafKey(frame.base, (frame.level - 1) as Level);
    this.below.set(k, (this.below.get(k) ?? 0) + 1);
  }

  /** Forgets one place of the table at `table` (the frame itself with its last place). */
  private deleteFrame(table: number, frame: TableFrame): void {
    const places = this.frames.get(table)!.filter((f) => f !== frame);
    if (places.length === 0) this.frames.delete(table);
    else this.frames.set(table, places);
    if (frame.level === 0) return;
    const k = leafKey(frame.base, (frame.level - 1) as Level);
    const n = this.below.get(k)! - 1;
    if (n === 0) this.below.delete(k);
    else this.below.set(k, n);
  }

  private rebuild(model: DescriptorModel, ttb0: number): void {
    this.passed = undefined;
    this.frames = new Map();
    this.below = new Map();
    this.ttb0 = ttb0;
    if (ttb0 !== 0) this.collect((a) => this.memory.load(a), ttb0, 0, 0);
    if (this.memory.writeLog !== undefined) this.memory.writeLog.length = 0;
    model.takeTouched();
  }

  /** Forgets the tables under the entry at (iova, level) and learns the ones there now. */
  private relink(load: (address: number) => bigint, ttb0: number, iova: number, level: Level): void {
    const size = armLpaeBlockSize(level);
    // forEach, not for-of: no [address, places] pair per frame (a Map may be changed as it is walked).
    this.frames.forEach((places, a) => {
      for (const f of places) if (f.level > level && f.base >= iova && f.base < iova + size) this.deleteFrame(a, f);
    });
    const entry = readEntry(load, ttb0, iova, level);
    if (entry?.table !== undefined) this.collect(load, entry.table, iova, (level + 1) as Level);
  }

  /** Records the table at `table` (translating from `base` at `level`) and every table below it within the window. */
  private collect(load: (address: number) => bigint, table: number, base: number, level: Level): void {
    this.addFrame(table, { base, level });
    if (level === 3) return;
    const size = armLpaeBlockSize(level);
    for (let i = 0; i < 512 && base + i * size < this.window; i++) {
      const pte = load(table + i * 8);
      if ((pte & ARM_LPAE_PTE_VALID) !== 0n && isTableDescriptor(pte, level)) this.collect(load, Number(pte & ARM_LPAE_PTE_OA_MASK), base + i * size, (level + 1) as Level);
    }
  }
}

/** Whether `iova` is inside one of `ranges` (a loop, not `some`: this runs for every page a check reads, and a closure per call showed in profiles). */
function within(ranges: readonly { readonly iova: number; readonly size: number }[], iova: number): boolean {
  for (let i = 0; i < ranges.length; i++) if (iova >= ranges[i]!.iova && iova < ranges[i]!.iova + ranges[i]!.size) return true;
  return false;
}

/**
 * The entry translating `iova` at `level`, read from the root; undefined when a level above
 * holds no table. `tables` remembers, for one check, the table found for each region (a
 * check reads many neighbouring places, and their path from the root is the same).
 */
function readEntry(load: (address: number) => bigint, ttb0: number, iova: number, level: Level, tables?: Map<number, number | undefined>): { valid: boolean; ptep: number; pte: bigint; table?: number } | undefined {
  let table: number | undefined = ttb0;
  let l = 0 as Level;
  if (tables !== undefined && level > 0) {
    table = tableAbove(load, ttb0, iova, level, tables);
    if (table === undefined) return undefined;
    l = level;
  }
  for (; ; l = (l + 1) as Level) {
    const ptep = table + armLpaeLvlIdx(iova, l) * 8;
    const pte = load(ptep);
    const valid = (pte & ARM_LPAE_PTE_VALID) !== 0n;
    const isTable = valid && isTableDescriptor(pte, l);
    if (l === level) return isTable ? { valid, ptep, pte, table: Number(pte & ARM_LPAE_PTE_OA_MASK) } : { valid, ptep, pte };
    if (!isTable) return undefined;
    table = Number(pte & ARM_LPAE_PTE_OA_MASK);
  }
}

/** The table at `level` that translates `iova` (level > 0), read from the root once per region of the level above (`tables` remembers it for one check); undefined where a level above holds no table. */
function tableAbove(load: (address: number) => bigint, ttb0: number, iova: number, level: Level, tables: Map<number, number | undefined>): number | undefined {
  const region = leafKey(iova - (iova % armLpaeBlockSize((level - 1) as Level)), level);
  const known = tables.get(region);
  if (known !== undefined || tables.has(region)) return known;
  const table = readEntry(load, ttb0, iova, (level - 1) as Level, tables)?.table;
  tables.set(region, table);
  return table;
}

/** The entries the model caches and the implementation's IOTLB no longer holds were evicted (IOTLB-11): the model evicts them too. */
export function noteEvictions(model: DescriptorModel, entries: readonly { base: number; level: number }[]): void {
  if (model.tlb.size === 0) return;
  // A few entries each side (the IOTLB's capacity): compared pairwise, nothing built per call (this runs at every command).
  let gone: { iova: number; level: number }[] | undefined;
  for (const e of model.tlb.values()) {
    let held = false;
    for (let i = 0; i < entries.length && !held; i++) held = entries[i]!.base === e.iova && entries[i]!.level === e.level;
    if (!held) (gone ??= []).push(e);
  }
  if (gone !== undefined) for (const e of gone) model.evict(e.iova, e.level as Level);
}

/**
 * The implementation's IOTLB may have evicted entries (IOTLB-11) but may hold none the
 * spec has invalidated, and each entry it holds must have the state the spec caches.
 */
export function checkTlb(model: DescriptorModel, entries: readonly { base: number; level: number; state: string }[]): void {
  noteEvictions(model, entries);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    let me = model.tlb.get(tlbKey(e.base, e.level));
    if (me === undefined && model.hwMayPrefetch) {
      // IOTLB-1: an SMMU under test may have filled it without an access, from a valid leaf with AF=1, in its state.
      const leaf = model.leaves.at(e.base, e.level as Level);
      const now = leaf === undefined ? undefined : leafStateOf(leaf.snap);
      if (leaf !== undefined && now?.accessFlag === true && now.state === e.state) {
        model.prefetched(leaf);
        me = model.tlb.get(tlbKey(e.base, e.level));
      }
    }
    // An entry the spec invalidated (or never cached) is a missing invalidation: a spec
    // violation now, and a lost page only once a write goes through it unrecorded (the
    // descriptor check then sees the loss).
    if (me === undefined) {
      // IOTLB-2: a leaf whose AF is still 0 is one no walk may have cached (ARM DDI 0487 D8.5.1.2 IRGQLZ, D8.16 RXCLRD).
      const leaf = model.leaves.at(e.base, e.level as Level);
      if (leaf !== undefined && !leafStateOf(leaf.snap).accessFlag)
        throw new Violation('spec', ['IOTLB-2', ...model.opReq], `no IOTLB entry for ${hex(e.base)} L${e.level} (its leaf has AF=0: a walk that leaves AF clear caches nothing)`, tlbEntryText(e));
      throw new Violation('spec', ['IOTLB-9', ...model.opReq], `no IOTLB entry for ${hex(e.base)} L${e.level} (invalidated or never cached)`, tlbEntryText(e));
    }
    const v = me.snap.value as string | { cached: string } | { staleUnmapped: string };
    if (typeof v === 'object' && 'staleUnmapped' in v) continue;
    const want = typeof v === 'string' ? (v === 'staleDirty' ? 'writableDirty' : v) : v.cached;
    if (want !== e.state) throw new Violation('spec', ['IOTLB-1', ...model.opReq], `IOTLB entry ${hex(e.base)} L${e.level} ${JSON.stringify(v)}`, tlbEntryText(e));
  }
}

const tlbEntryText = (e: { base: number; level: number; state: string }) => `IOTLB entry ${hex(e.base)} L${e.level} ${e.state}`;
