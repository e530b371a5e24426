// The model's leaves by place, laid out as a page table is: each 2 MiB region keeps its
// 2 MiB block and its 512 page leaves in slots indexed by the page's place in the region
// (the level-3 table index, io-pgtable-arm.c ARM_LPAE_LVL_IDX), and 1 GiB blocks are kept by
// their 1 GiB index. Looking a leaf up costs a small-integer map lookup and an array index,
// where a map keyed by a 64-bit-wide place costs a hash of a double; visiting a range reads
// the regions it spans in order.
//
// A copy (`copy`, for an alternative explanation of an observation, model/explain.ts)
// shares every region with the original until either writes to it: the one that writes
// copies that region first. So a copy costs the regions held, not the leaves.
import { armLpaeBlockSize, type Level } from '../spec/descriptor/encoding.ts';

/** What the store needs of a leaf: its place. */
export interface PlacedLeaf {
  readonly iova: number;
  readonly level: Level;
}

const PAGE = armLpaeBlockSize(3);
const REGION = armLpaeBlockSize(2);
const GIB = armLpaeBlockSize(1);
const PAGES_PER_REGION = REGION / PAGE;
const REGIONS_PER_GIB = GIB / REGION;

/**
 * A leaf's place as one number: its page index times four, plus its level. Within the
 * first 2^41 bytes of IOVA space (the kit's windows) the key is a small integer, which maps
 * and sets hold without boxing; above, it is still exact (below 2^53).
 */
export const leafKey = (iova: number, level: number): number => (iova / PAGE) * 4 + level;
/** The level a leaf key names. */
export const leafKeyLevel = (k: number): Level => (k <= 0x7fff_ffff ? k & 3 : k % 4) as Level;
/** The IOVA a leaf key names. */
export const leafKeyIova = (k: number): number => ((k - leafKeyLevel(k)) / 4) * PAGE;
/** The place a leaf key names. */
export const leafPlace = (k: number): { iova: number; level: Level } => ({ level: leafKeyLevel(k), iova: leafKeyIova(k) });

interface Region<L> {
  /** The 2 MiB block at the region's base, if any. */
  block: L | undefined;
  /** The page leaves by index in the region; allocated with the first page. */
  pages: (L | undefined)[] | undefined;
  /** How many page leaves `pages` holds. */
  pageCount: number;
  /** The store allowed to write this region in place (any other copies it first). */
  owner: object;
}

export class LeafStore<L extends PlacedLeaf> {
  private regions = new Map<number, Region<L>>();
  private gibs = new Map<number, L>();
  private owner: object = {};
  private count = 0;

  /** How many leaves the store holds. */
  get size(): number {
    return this.count;
  }

  /** A copy sharing every region until one of the two writes to it. */
  copy(): LeafStore<L> {
    const c = new LeafStore<L>();
    c.regions = new Map(this.regions);
    c.gibs = new Map(this.gibs);
    c.count = this.count;
    // From now on neither store owns the regions they share.
    this.owner = {};
    return c;
  }

  /** The leaf at (iova, level), if the store holds one there. */
  at(iova: number, level: Level): L | undefined {
    if (level === 1) return this.gibs.get(iova / GIB);
    // Level 0 holds no leaf (4 KiB granule: blocks at levels 1 and 2 only).
    if (level === 0) return undefined;
    const r = this.regions.get(Math.floor(iova / REGION));
    if (r === undefined) return undefined;
    return level === 2 ? r.block : r.pages?.[(iova % REGION) / PAGE];
  }

  /** The leaf a key (`leafKey`) names. */
  get(k: number): L | undefined {
    return this.at(leafKeyIova(k), leafKeyLevel(k));
  }

  has(k: number): boolean {
    return this.get(k) !== undefined;
  }

  /** Holds `leaf` at its place, replacing any there; returns whether the place was empty. */
  set(leaf: L): boolean {
    if (leaf.level === 0 || leaf.iova % armLpaeBlockSize(leaf.level) !== 0) throw new RangeError(`a leaf at 0x${leaf.iova.toString(16)} L${leaf.level}: leaves are at levels 1 to 3, aligned to their size`);
    if (leaf.level === 1) {
      const g = leaf.iova / GIB;
      const added = !this.gibs.has(g);
      this.gibs.set(g, leaf);
      if (added) this.count++;
      return added;
    }
    const r = this.writable(Math.floor(leaf.iova / REGION), true)!;
    let added: boolean;
    if (leaf.level === 2) {
      added = r.block === undefined;
      r.block = leaf;
    } else {
      const i = (leaf.iova % REGION) / PAGE;
      r.pages ??= new Array<L | undefined>(PAGES_PER_REGION).fill(undefined);
      added = r.pages[i] === undefined;
      if (added) r.pageCount++;
      r.pages[i] = leaf;
    }
    if (added) this.count++;
    return added;
  }

  /** Drops the leaf at (iova, level); returns whether there was one. */
  delete(iova: number, level: Level): boolean {
    if (level === 1) {
      const removed = this.gibs.delete(iova / GIB);
      if (removed) this.count--;
      return removed;
    }
    const index = Math.floor(iova / REGION);
    if (this.at(iova, level) === undefined) return false;
    const r = this.writable(index, false)!;
    if (level === 2) r.block = undefined;
    else {
      r.pages![(iova % REGION) / PAGE] = undefined;
      r.pageCount--;
    }
    this.count--;
    if (r.block === undefined && r.pageCount === 0) this.regions.delete(index);
    return true;
  }

  /** The region at `index`, this store's own (copied first if shared); created when `create`. */
  private writable(index: number, create: boolean): Region<L> | undefined {
    let r = this.regions.get(index);
    if (r === undefined) {
      if (!create) return undefined;
      r = { block: undefined, pages: undefined, pageCount: 0, owner: this.owner };
      this.regions.set(index, r);
    } else if (r.owner !== this.owner) {
      r = { block: r.block, pages: r.pages?.slice(), pageCount: r.pageCount, owner: this.owner };
      this.regions.set(index, r);
    }
    return r;
  }

  /**
   * The leaves overlapping [iova, iova + size) in IOVA order (a block before the pages at
   * its address), passed to `visit` until it returns true; returns how many were visited.
   * Without `pages`, the blocks only (no page slot is read).
   */
  visit(iova: number, size: number, visit: (leaf: L) => boolean | undefined, pages = true): number {
    const end = iova + size;
    if (!(end > iova) || this.count === 0) return 0;
    const start = iova - (iova % PAGE);
    let n = 0;
    const take = (l: L): boolean => {
      n++;
      return visit(l) === true;
    };
    // Blocks that start before the range and reach into it.
    if (start % GIB !== 0) {
      const g = this.gibs.get(Math.floor(start / GIB));
      if (g !== undefined && take(g)) return n;
    }
    if (start % REGION !== 0) {
      const b = this.regions.get(Math.floor(start / REGION))?.block;
      if (b !== undefined && take(b)) return n;
    }
    const first = Math.floor(start / REGION);
    const last = Math.floor((end - 1) / REGION);
    // Each region in the range, or (a range wider than the regions held) the held ones in it, in order.
    const held = last - first + 1 > this.regions.size + this.gibs.size ? this.heldBetween(first, last) : undefined;
    const regions = held?.length ?? last - first + 1;
    for (let k = 0; k < regions; k++) {
      const index = held === undefined ? first + k : held[k]!;
      const base = index * REGION;
      if (base >= start) {
        if (index % REGIONS_PER_GIB === 0) {
          const g = this.gibs.get(index / REGIONS_PER_GIB);
          if (g !== undefined && take(g)) return n;
        }
        const b = this.regions.get(index)?.block;
        if (b !== undefined && take(b)) return n;
      }
      const slots = pages ? this.regions.get(index)?.pages : undefined;
      if (slots === undefined) continue;
      const from = base >= start ? 0 : (start - base) / PAGE;
      const to = Math.min(PAGES_PER_REGION, Math.ceil((end - base) / PAGE));
      for (let i = from; i < to; i++) {
        const p = slots[i];
        if (p !== undefined && take(p)) return n;
      }
    }
    return n;
  }

  /** How many leaves overlap [iova, iova + size), as `visit` would count them: a region the range covers whole is counted without reading its slots. */
  countIn(iova: number, size: number): number {
    const end = iova + size;
    if (!(end > iova) || this.count === 0) return 0;
    const start = iova - (iova % PAGE);
    const first = Math.ceil(start / REGION);
    const last = Math.floor(end / REGION) - 1;
    if (last < first) return this.visit(iova, size, () => false);
    // The whole regions [first, last], and the partial ones at either end by visiting them.
    let n = 0;
    for (const [index, r] of this.regions) if (index >= first && index <= last) n += r.pageCount + (r.block === undefined ? 0 : 1);
    for (const g of this.gibs.keys()) {
      const index = g * REGIONS_PER_GIB;
      if (index >= first && index <= last) n++;
    }
    if (start < first * REGION) n += this.visit(start, first * REGION - start, () => false);
    else n += this.before(start);
    if (end > (last + 1) * REGION) n += this.visit((last + 1) * REGION, end - (last + 1) * REGION, () => false) - this.before((last + 1) * REGION);
    return n;
  }

  /** How many blocks start before `at` (region-aligned) and reach past it: those a visit from `at` counts first. */
  private before(at: number): number {
    return at % GIB !== 0 && this.gibs.has(Math.floor(at / GIB)) ? 1 : 0;
  }

  /** The indexes of the regions in [first, last] that hold a leaf or start a 1 GiB block, in order. */
  private heldBetween(first: number, last: number): number[] {
    const held: number[] = [];
    for (const index of this.regions.keys()) if (index >= first && index <= last) held.push(index);
    for (const g of this.gibs.keys()) {
      const index = g * REGIONS_PER_GIB;
      if (index >= first && index <= last && !this.regions.has(index)) held.push(index);
    }
    return held.sort((x, y) => x - y);
  }

  /** Every leaf, in IOVA order. */
  values(): L[] {
    const out: L[] = [];
    this.visit(0, 2 ** 52, (l) => {
      out.push(l);
      return false;
    });
    return out;
  }
}
