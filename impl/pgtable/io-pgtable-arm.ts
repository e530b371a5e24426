// The page-table driver: an ARM LPAE stage-1 page table (4 KiB granule, 48-bit IOVA)
// in the manner of Linux io-pgtable-arm.c, with the dirty-tracking operations of the
// HTTU series (Keqian Zhu, RFC 28 Jan 2021, <20210128151742.18840-1-zhukeqian1@huawei.com>):
// split a block into pages, merge pages into a block, and read-and-clear dirty state.
// Sources: Linux v6.12.117 drivers/iommu/io-pgtable-arm.c (arm_lpae_map_pages,
//          __arm_lpae_unmap, arm_lpae_split_blk_unmap, arm_lpae_install_table,
//          arm_lpae_read_and_clear_dirty, io_pgtable_visit_dirty); carrying the dirty bit
//          through a split with atomics: Jason Gunthorpe, 12 Feb 2022,
//          <20220212000117.GS4160@nvidia.com>.
//
// Every access to a descriptor goes through PhysicalMemory, so DMA can happen between
// any two of them. Descriptors the hardware may update concurrently (live leaves) are
// only ever replaced with exchange or changed with fetch-or / fetch-and, never with a
// read followed by a plain store.
import { EEXIST, EINVAL, ENOENT, ERANGE } from '../errno.ts';
import { FRAME_SIZE, type PhysicalMemory } from '../memory/physical-memory.ts';
import {
  GRANULE,
  IOVA_LIMIT,
  PTE_AF,
  PTE_AP_RDONLY,
  PTE_AP_UNPRIV,
  PTE_NG,
  PTE_DBM,
  PTE_MERGE_ATTR_MASK,
  PTE_SH_IS,
  PTE_TYPE_BLOCK,
  PTE_TYPE_MASK,
  PTE_TYPE_PAGE,
  PTE_TYPE_TABLE,
  PTES_PER_TABLE,
  isTable,
  isValid,
  isWritableDirty,
  levelIndex,
  levelSize,
  pteAddress,
} from './pte.ts';

export const IOMMU_READ = 1 << 0;
export const IOMMU_WRITE = 1 << 1;
/** include/linux/iommu.h: report dirty state without clearing it. */
export const IOMMU_DIRTY_NO_CLEAR = 1 << 0;

export type DirtyRecord = (iova: number, size: number) => void;

export interface IoPgtableConfig {
  /** IO_PGTABLE_QUIRK_ARM_HD: writable leaves carry DBM (and start writable-dirty). */
  readonly hdQuirk: boolean;
  /** The SMMU supports changing block size without break-before-make (SMMU_IDR3.BBML != 0). */
  readonly bbml: boolean;
  /**
   * How read-and-clear and unmap walk (default 'reference', the methods' own comments).
   * 'linux-v6.13': as Linux v6.12 io_pgtable_visit_dirty with v6.13 commit 33729a5fc0ca's
   * unmap: read-and-clear walks from a cursor that starts at the range start and advances
   * by each leaf's size, records [cursor, cursor + leaf size) and clears the leaf whole,
   * fails with -EINVAL at a hole after the work before it, and is followed by no TLBI
   * (arm_smmu_iotlb_sync returns for a gather without page size); unmap stops at a hole or
   * at a block the range covers only in part (WARN_ONCE, no split), records no dirty
   * state, and invalidates what it removed.
   * 'rfc-v4': as the 2021 HTTU RFC v4 on Linux v5.12: unmap as 'linux-v6.13' but a block
   * a chunk cuts is split (arm_lpae_split_blk_unmap); read-and-clear is sync_dirty_log
   * then clear_dirty_log of what it synced (see readAndClearRfc).
   */
  readonly walk?: 'reference' | 'linux-v6.13' | 'rfc-v4';
}

/** io_pgtable flush_ops: invalidate [iova, iova + size) in every TLB of the domain and wait (TLBI + CMD_SYNC). */
export type TlbFlushRange = (iova: number, size: number) => void;

export interface LeafInfo {
  readonly iova: number;
  readonly level: number;
  readonly size: number;
  readonly ptep: number;
  readonly pte: bigint;
}

function isAligned(value: number, to: number): boolean {
  return value % to === 0;
}

function validRange(iova: number, size: number): boolean {
  return Number.isSafeInteger(iova) && Number.isSafeInteger(size) && iova >= 0 && size > 0 && iova + size <= IOVA_LIMIT;
}

export class ArmLpaeIoPgtable {
  /** Physical address of the L0 table (TTB0). */
  readonly pgd: number;

  constructor(
    readonly memory: PhysicalMemory,
    readonly config: IoPgtableConfig,
    protected readonly flushRange: TlbFlushRange,
  ) {
    this.pgd = memory.allocFrame();
  }

  /** Linux `arm_lpae_prot_to_pte` + `arm_lpae_init_pte` for a leaf at `level`. */
  protToPte(prot: number, level: number, paddr: number): bigint {
    let pte = level === 3 ? PTE_TYPE_PAGE : PTE_TYPE_BLOCK;
    // Linux arm_lpae_prot_to_pte: every stage-1 leaf is non-global (ARM_LPAE_PTE_nG), so a TLBI by ASID reaches its entries.
    pte |= PTE_NG | PTE_AP_UNPRIV | PTE_SH_IS | PTE_AF;
    if ((prot & IOMMU_WRITE) === 0) pte |= PTE_AP_RDONLY;
    else if (this.config.hdQuirk) pte |= PTE_DBM; // starts writable-dirty
    return pte | BigInt(paddr);
  }

  /**
   * Maps [iova, iova + size) to [paddr, paddr + size), with blocks where size and
   * alignment allow. Returns 0, -EEXIST if any part is already mapped (then nothing of this
   * call stays mapped), or for bad arguments, checked in Linux's order (__iommu_map,
   * then arm_lpae_map_pages): -EINVAL for an iova, paddr or size that is not a multiple of
   * 4 KiB or a size of 0; -ERANGE for an iova or paddr at or past 2^48; -EINVAL for a prot
   * with neither IOMMU_READ nor IOMMU_WRITE (Linux v6.11 on) or with bits other than those
   * two (Linux takes IOMMU_CACHE, IOMMU_NOEXEC, IOMMU_MMIO and IOMMU_PRIV; this page table
   * has no memory attributes to give them); -ERANGE for a range that crosses 2^48 (Linux
   * checks the first address of each chunk). Numbers that are not u64 values are -EINVAL.
   */
  map(iova: number, paddr: number, size: number, prot: number): number {
    if (![iova, paddr, size].every((n) => Number.isSafeInteger(n) && n >= 0)) return -EINVAL;
    if (!isAligned(iova, GRANULE) || !isAligned(paddr, GRANULE) || !isAligned(size, GRANULE) || size === 0) return -EINVAL;
    if (iova >= IOVA_LIMIT || paddr >= IOVA_LIMIT) return -ERANGE;
    if ((prot & (IOMMU_READ | IOMMU_WRITE)) === 0 || (prot & ~(IOMMU_READ | IOMMU_WRITE)) !== 0) return -EINVAL;
    // A range crossing 2^48: Linux maps the chunks below it, refuses the first one past it and unmaps the others again.
    if (iova + size > IOVA_LIMIT || paddr + size > IOVA_LIMIT) return -ERANGE;
    let done = 0;
    while (done < size) {
      const at = iova + done;
      const pa = paddr + done;
      let level = 3;
      for (const l of [1, 2]) {
        const bsz = levelSize(l);
        if (isAligned(at, bsz) && isAligned(pa, bsz) && size - done >= bsz) {
          level = l;
          break;
        }
      }
      const ret = this.installLeaf(at, level, this.protToPte(prot, level, pa));
      if (ret !== 0) {
        if (done > 0) this.unmap(iova, done);
        return ret;
      }
      done += levelSize(level);
    }
    return 0;
  }

  private installLeaf(iova: number, target: number, leaf: bigint): number {
    let table = this.pgd;
    for (let level = 0; level < target; level++) {
      const ptep = table + levelIndex(iova, level) * 8;
      let pte = this.memory.load(ptep);
      if (!isValid(pte)) {
        // Linux arm_lpae_install_table: cmpxchg a new table in over the invalid entry.
        const frame = this.memory.allocFrame();
        const tablePte = BigInt(frame) | PTE_TYPE_TABLE;
        const old = this.memory.compareExchange(ptep, 0n, tablePte);
        if (old !== 0n) {
          this.memory.freeFrame(frame);
          pte = old;
        } else pte = tablePte;
      }
      if (!isTable(pte, level)) return -EEXIST; // a block already covers this range
      table = pteAddress(pte);
    }
    const ptep = table + levelIndex(iova, target) * 8;
    const old = this.memory.load(ptep);
    if (isTable(old, target)) {
      // Linux arm_lpae_init_pte frees a table before a block replaces it. Only an empty
      // one here: a table with live leaves under it is -EEXIST (MAP-4).
      if (!this.tableEmpty(pteAddress(old), target + 1)) return -EEXIST;
      this.memory.store(ptep, leaf);
      this.freeUnlinkedTable(iova - (iova % levelSize(target)), levelSize(target), pteAddress(old), target + 1);
      return 0;
    }
    if (isValid(old)) return -EEXIST;
    this.memory.store(ptep, leaf); // the entry is invalid: the hardware cannot be updating it
    return 0;
  }

  private tableEmpty(table: number, level: number): boolean {
    for (let i = 0; i < PTES_PER_TABLE; i++) {
      const pte = this.memory.load(table + i * 8);
      if (isValid(pte) && !(isTable(pte, level) && this.tableEmpty(pteAddress(pte), level + 1))) return false;
    }
    return true;
  }

  /**
   * A table just unlinked from [iova, iova + size), freed with the tables below it once that
   * range is invalidated (TLBI, which also drops walk caches, then CMD_SYNC): Linux's
   * __arm_lpae_unmap calls io_pgtable_tlb_flush_walk before __arm_lpae_free_pgtable, so no
   * walk cache points at the page when it is freed (IOTLB-12).
   */
  protected freeUnlinkedTable(iova: number, size: number, table: number, level: number): void {
    this.flushRange(iova, size);
    this.freeTable(table, level);
  }

  protected freeTable(table: number, level: number): void {
    for (let i = 0; i < PTES_PER_TABLE && level < 3; i++) {
      const pte = this.memory.load(table + i * 8);
      if (isTable(pte, level)) this.freeTable(pteAddress(pte), level + 1);
    }
    this.memory.freeFrame(table);
  }

  /** The entry for `iova` at the deepest level reached: a leaf, an invalid entry, or undefined if a table is missing. */
  private lookup(iova: number): { level: number; ptep: number; pte: bigint } {
    let table = this.pgd;
    for (let level = 0; ; level++) {
      const ptep = table + levelIndex(iova, level) * 8;
      const pte = this.memory.load(ptep);
      if (!isValid(pte) || !isTable(pte, level)) return { level, ptep, pte };
      table = pteAddress(pte);
    }
  }

  /**
   * Unmaps [iova, iova + size). A range that covers part of a block splits the block
   * first. Leaves are removed with an exchange so that dirty state the hardware set up
   * to the last moment is seen: `record`, if given, receives each writable-dirty leaf
   * removed. Then the range is invalidated in the TLB. Returns the bytes unmapped
   * (0 for bad arguments), as Linux's unmap does.
   */
  /**
   * Takes a live leaf out of the table and returns its last value, dirty state included: an
   * exchange, since the hardware may set the dirty state between the walk's read (`read`)
   * and this write (__arm_lpae_clear_pte in Linux writes 0 and the caller keeps what the
   * walk read; with HTTU the exchange is what keeps a concurrent dirty update).
   */
  protected removeLeaf(ptep: number, read: bigint): bigint {
    void read;
    return this.memory.exchange(ptep, 0n);
  }

  unmap(iova: number, size: number, record?: DirtyRecord): number {
    if (!validRange(iova, size) || !isAligned(iova, GRANULE) || !isAligned(size, GRANULE)) return 0;
    if (this.config.walk === 'linux-v6.13' || this.config.walk === 'rfc-v4') return this.unmapLinux(iova, size);
    let at = iova;
    let unmapped = 0;
    const end = iova + size;
    while (at < end) {
      const { level, ptep, pte } = this.lookup(at);
      const lsz = levelSize(level);
      if (!isValid(pte)) {
        at = at - (at % lsz) + lsz; // hole: skip to the next entry at this level
        continue;
      }
      if (!isAligned(at, lsz) || end - at < lsz) {
        if (this.splitBlock(at) !== 0) return unmapped;
        continue;
      }
      const old = this.removeLeaf(ptep, pte);
      if (record !== undefined && isWritableDirty(old)) this.recordUnmappedDirty(record, at, lsz);
      unmapped += lsz;
      at += lsz;
    }
    this.flushRange(iova, size);
    return unmapped;
  }

  /**
   * unmap under walk 'linux-v6.13': iommu_unmap's chunks (iommu_pgsize: 2 MiB where the
   * cursor is 2 MiB-aligned and 2 MiB remain, else 4 KiB), each __arm_lpae_unmap: a leaf
   * of the chunk's size is removed, a table at the chunk's size is freed whole (holes
   * included) and counts its span, an invalid entry or a block the chunk cuts stops the
   * unmap (WARN, 0 bytes). No dirty state is read.
   */
  private unmapLinux(iova: number, size: number): number {
    const end = iova + size;
    let at = iova;
    while (at < end) {
      const fits = (level: number) => isAligned(at, levelSize(level)) && end - at >= levelSize(level);
      const chunkLevel = fits(1) ? 1 : fits(2) ? 2 : 3;
      let table = this.pgd;
      let outcome: 'removed' | 'stop' | 'split' = 'stop';
      for (let level = 0; level <= chunkLevel; level++) {
        const ptep = table + levelIndex(at, level) * 8;
        const pte = this.memory.load(ptep);
        if (!isValid(pte)) break;
        if (level === chunkLevel) {
          this.removeLeaf(ptep, pte);
          // io_pgtable_tlb_flush_walk, then __arm_lpae_free_pgtable (Linux v6.12.117 __arm_lpae_unmap).
          if (isTable(pte, level)) this.freeUnlinkedTable(at, levelSize(chunkLevel), pteAddress(pte), level + 1);
          outcome = 'removed';
          break;
        }
        if (!isTable(pte, level)) {
          // A block the chunk cuts: refused since v6.13; split on the RFC's v5.12 base, then the chunk again.
          if (this.config.walk === 'rfc-v4' && this.splitBlock(at) === 0) outcome = 'split';
          break;
        }
        table = pteAddress(pte);
      }
      if (outcome === 'split') continue;
      if (outcome === 'stop') break;
      at += levelSize(chunkLevel);
    }
    if (at > iova) this.flushRange(iova, at - iova);
    return at - iova;
  }

  /** Output address for `iova`, or undefined. */
  iovaToPhys(iova: number): number | undefined {
    if (!Number.isSafeInteger(iova) || iova < 0 || iova >= IOVA_LIMIT) return undefined;
    const { level, pte } = this.lookup(iova);
    if (!isValid(pte)) return undefined;
    return pteAddress(pte) + (iova % levelSize(level));
  }

  /**
   * Splits the block leaf covering `iova` into a table of 512 leaves one level down,
   * each carrying the block's attributes and dirty state (SPLIT-1).
   * Returns 0, -ENOENT if nothing is mapped there, -EINVAL if the leaf is a page.
   */
  splitBlock(iova: number): number {
    if (!Number.isSafeInteger(iova) || iova < 0 || iova >= IOVA_LIMIT) return -EINVAL;
    const { level, ptep, pte } = this.lookup(iova);
    if (!isValid(pte)) return -ENOENT;
    if (level === 3) return -EINVAL;
    const size = levelSize(level);
    const base = iova - (iova % size);
    const table = this.memory.allocFrame();
    const tablePte = BigInt(table) | PTE_TYPE_TABLE;
    if (this.config.bbml) {
      // 1. Fill the new table from the block as read (the table is not live yet).
      this.fillChildren(table, pte, level + 1);
      // 2. Swap it in atomically and look at what was really there (SPLIT-2).
      const old = this.swapBlockForTable(ptep, pte, tablePte);
      // 3. The hardware may have set AF or dirtied the block between the read and the swap.
      if (old !== pte) this.carryLateUpdates(table, pte, old);
      // 4. Drop any cached translation of the block.
      this.flushRange(base, size);
    } else {
      // Break-before-make: 1. invalidate the entry, 2. flush, 3. build from the now
      // stable value, 4. install the table. DMA in between takes a translation fault.
      const old = this.memory.exchange(ptep, 0n);
      this.flushRange(base, size);
      this.fillChildren(table, old, level + 1);
      this.memory.store(ptep, tablePte);
    }
    return 0;
  }

  /** Split step 2 (SPLIT-2): install the table over the live block; returns what was really there. */
  protected swapBlockForTable(ptep: number, _read: bigint, tablePte: bigint): bigint {
    return this.memory.exchange(ptep, tablePte);
  }

  /** Unmap: a writable-dirty leaf removed is reported (UNMAP-1). */
  protected recordUnmappedDirty(record: DirtyRecord, iova: number, size: number): void {
    record(iova, size);
  }

  protected fillChildren(table: number, block: bigint, childLevel: number): void {
    const childSize = levelSize(childLevel);
    const attrs = block & ~PTE_TYPE_MASK & ~BigInt(pteAddress(block));
    const type = childLevel === 3 ? PTE_TYPE_PAGE : PTE_TYPE_BLOCK;
    const oa = pteAddress(block);
    for (let i = 0; i < PTES_PER_TABLE; i++) {
      this.memory.store(table + i * 8, attrs | type | BigInt(oa + i * childSize));
    }
  }

  /** After a split's exchange: apply to every child what the hardware did to the block meanwhile. */
  private carryLateUpdates(table: number, read: bigint, old: bigint): void {
    const setAf = (old & PTE_AF) !== 0n && (read & PTE_AF) === 0n;
    const setDirty = isWritableDirty(old) && !isWritableDirty(read);
    if (!setAf && !setDirty) return;
    for (let i = 0; i < PTES_PER_TABLE; i++) {
      const ptep = table + i * 8;
      if (setAf) this.memory.fetchOr(ptep, PTE_AF);
      if (setDirty) this.memory.fetchAnd(ptep, ~PTE_AP_RDONLY);
    }
  }

  /**
   * Merges the table at `level` covering `iova` into one block leaf at `level` (1 or 2).
   * The 512 children must be valid leaves with contiguous, aligned output addresses and
   * equal attributes. The block is writable-dirty if any child was (MERGE-1).
   * Returns 0, -ENOENT if there is no table there, -EINVAL if it cannot be merged.
   */
  mergePages(iova: number, level: number): number {
    if (level !== 1 && level !== 2) return -EINVAL;
    if (!Number.isSafeInteger(iova) || iova < 0 || iova >= IOVA_LIMIT) return -EINVAL;
    let table = this.pgd;
    let ptep = 0;
    let pte = 0n;
    for (let l = 0; l <= level; l++) {
      ptep = table + levelIndex(iova, l) * 8;
      pte = this.memory.load(ptep);
      if (!isValid(pte)) return -ENOENT;
      if (!isTable(pte, l)) return l === level ? -EINVAL : -ENOENT;
      table = pteAddress(pte);
    }
    const size = levelSize(level);
    const base = iova - (iova % size);
    const child0 = this.memory.load(table);
    const block = this.mergedBlock(table, child0, level);
    if (block === undefined) return -EINVAL;
    if (this.config.bbml) {
      // 1. Swap the block in atomically, dirty already if a child is (a clean block for a
      // moment would fault a write where HD is off: the children were writable, MERGE-1);
      // 2. flush the children's translations; 3. fold in dirty state the children gathered
      // up to the swap; 4. free.
      const dirtyBefore = this.anyChildDirty(table);
      this.memory.exchange(ptep, dirtyBefore ? block & ~PTE_AP_RDONLY : block);
      this.flushRange(base, size);
      if (!dirtyBefore && this.anyChildDirty(table)) this.memory.fetchAnd(ptep, ~PTE_AP_RDONLY);
    } else {
      // Break-before-make: invalidate, flush, then build from the stable children.
      this.memory.exchange(ptep, 0n);
      this.flushRange(base, size);
      this.memory.store(ptep, this.anyChildDirty(table) ? block & ~PTE_AP_RDONLY : block);
    }
    this.memory.freeFrame(table);
    return 0;
  }

  /** The clean block the children would merge into, or undefined if they cannot merge. */
  private mergedBlock(table: number, child0: bigint, level: number): bigint | undefined {
    const childLevel = level + 1;
    const childSize = levelSize(childLevel);
    const oa = pteAddress(child0);
    if (!isValid(child0) || isTable(child0, childLevel) || !isAligned(oa, levelSize(level))) return undefined;
    for (let i = 1; i < PTES_PER_TABLE; i++) {
      const c = this.memory.load(table + i * 8);
      if (!isValid(c) || isTable(c, childLevel) || !this.childMerges(c, child0, i * childSize)) return undefined;
    }
    const attrs = child0 & PTE_MERGE_ATTR_MASK;
    let block = attrs | (child0 & PTE_AF) | PTE_TYPE_BLOCK | BigInt(oa);
    // A DBM leaf starts clean; a read-only one keeps AP[2]; a plain writable one has none.
    if ((child0 & PTE_DBM) !== 0n || (child0 & PTE_AP_RDONLY) !== 0n) block |= PTE_AP_RDONLY;
    return block;
  }

  /**
   * Merge: whether a valid child leaf `offset` bytes into the block fits it: the same
   * attributes as the first child, and the output address the block maps there.
   */
  protected childMerges(child: bigint, child0: bigint, offset: number): boolean {
    // Without DBM, AP[2] is the permission (read-only or writable), not dirty state: it must agree too.
    const permission = (child0 & PTE_DBM) === 0n ? PTE_AP_RDONLY : 0n;
    return (child & (PTE_MERGE_ATTR_MASK | permission)) === (child0 & (PTE_MERGE_ATTR_MASK | permission)) && pteAddress(child) === pteAddress(child0) + offset;
  }

  /** Merge: whether any child is writable-dirty, so the block must be (MERGE-1). */
  protected anyChildDirty(table: number): boolean {
    for (let i = 0; i < PTES_PER_TABLE; i++) if (isWritableDirty(this.memory.load(table + i * 8))) return true;
    return false;
  }

  /**
   * Linux `arm_lpae_read_and_clear_dirty`: for each writable-dirty leaf overlapping
   * [iova, iova + size), records the whole leaf and, unless IOMMU_DIRTY_NO_CLEAR, makes
   * it writable-clean with an atomic set of AP[2] if it lies wholly inside the range.
   * DEPARTS (CLEAR-4): Linux clears a leaf that reaches outside the range too, which
   * forgets the dirty state of its pages outside the range. The cleared range is gathered and
   * invalidated in the TLB (TLBI + CMD_SYNC) once, before returning.
   * Returns 0 or -EINVAL (size 0, range past the 48-bit input address size, unknown flags).
   *
   * DEPARTS: Linux SMMUv3 gathers the range without a page size, and
   * arm_smmu_iotlb_sync returns early when gather->pgsize is 0, so the invalidation is
   * skipped there. The reference always invalidates what it cleared.
   */
  readAndClearDirty(iova: number, size: number, flags: number, record?: DirtyRecord): number {
    if (!validRange(iova, size)) return -EINVAL;
    if ((flags & ~IOMMU_DIRTY_NO_CLEAR) !== 0) return -EINVAL;
    const clear = this.clearRequested(flags);
    if (this.config.walk === 'linux-v6.13') return this.readAndClearLinux(iova, iova + size, clear, record);
    if (this.config.walk === 'rfc-v4') return this.readAndClearRfc(iova, iova + size, clear, record);
    const gather = { start: Infinity, end: -Infinity };
    this.walkDirty(this.pgd, 0, 0, iova, iova + size, clear, record, gather);
    this.syncGathered(gather.start, gather.end);
    return 0;
  }

  /** read_and_clear_dirty under walk 'linux-v6.13' (see IoPgtableConfig.walk): a cursor, whole leaves, -EINVAL at a hole, no TLBI. */
  private readAndClearLinux(start: number, end: number, clear: boolean, record: DirtyRecord | undefined): number {
    for (let cursor = start; cursor < end; ) {
      const { level, ptep, pte } = this.lookup(cursor);
      if (!isValid(pte)) return -EINVAL;
      const lsz = levelSize(level);
      if (isWritableDirty(pte)) {
        if (record !== undefined) record(cursor, Math.min(lsz, end - cursor));
        if (clear) this.memory.fetchOr(ptep, PTE_AP_RDONLY);
      }
      cursor += lsz;
    }
    return 0;
  }

  /**
   * The RFC's GET_BITMAP (RFC v4 05/13 sync_dirty_log, 06/13 clear_dirty_log): -EINVAL over
   * a hole before anything; every leaf with AP[2] clear reported for its pages in range;
   * then each of them wholly inside the range made clean, -EINVAL at the first one the
   * range cuts; the whole IOTLB flushed once anything was cleared.
   */
  private readAndClearRfc(start: number, end: number, clear: boolean, record: DirtyRecord | undefined): number {
    const leaves = [...this.leaves(start, end - start)];
    let covered = start;
    for (const l of leaves) {
      if (l.iova > covered) return -EINVAL;
      covered = Math.max(covered, l.iova + l.size);
    }
    if (covered < end) return -EINVAL;
    const dirty = leaves.filter((l) => (l.pte & PTE_AP_RDONLY) === 0n);
    if (record !== undefined) for (const l of dirty) record(Math.max(l.iova, start), Math.min(l.iova + l.size, end) - Math.max(l.iova, start));
    if (!clear) return 0;
    let cleared = false;
    let ret = 0;
    for (const l of dirty) {
      if (l.iova < start || l.iova + l.size > end) {
        ret = -EINVAL;
        break;
      }
      this.memory.fetchOr(l.ptep, PTE_AP_RDONLY);
      cleared = true;
    }
    if (cleared) this.flushRange(0, IOVA_LIMIT);
    return ret;
  }

  /** read_and_clear_dirty: clear unless IOMMU_DIRTY_NO_CLEAR (CLEAR-1). */
  protected clearRequested(flags: number): boolean {
    return (flags & IOMMU_DIRTY_NO_CLEAR) === 0;
  }

  /** read_and_clear_dirty, last step: one TLBI over the gathered range + CMD_SYNC, after every clear (IOTLB-7, IOTLB-9). */
  protected syncGathered(start: number, end: number): void {
    if (end > start) this.flushRange(start, end - start);
  }

  /** Index of the last entry of a table (of entries `lsz` bytes from `tableBase`) that overlaps [.., end). */
  protected lastIndex(tableBase: number, lsz: number, end: number): number {
    return Math.min(PTES_PER_TABLE - 1, Math.floor((Math.min(end, tableBase + lsz * PTES_PER_TABLE) - 1 - tableBase) / lsz));
  }

  /** Records one writable-dirty leaf, whole (CLEAR-1). */
  protected recordLeaf(record: DirtyRecord, iova: number, size: number): void {
    record(iova, size);
  }

  private walkDirty(table: number, tableBase: number, level: number, start: number, end: number, clear: boolean, record: DirtyRecord | undefined, gather: { start: number; end: number }): void {
    const lsz = levelSize(level);
    const first = Math.max(0, Math.floor((start - tableBase) / lsz));
    const last = this.lastIndex(tableBase, lsz, end);
    if (level === 3 && this.memory.hook === undefined) {
      this.scanPages(table, tableBase, first, last, start, end, clear, record, gather);
      return;
    }
    for (let i = first; i <= last; i++) {
      const ptep = table + i * 8;
      const pte = this.memory.load(ptep);
      if (!isValid(pte)) continue;
      const at = tableBase + i * lsz;
      if (isTable(pte, level)) {
        this.walkDirty(pteAddress(pte), at, level + 1, start, end, clear, record, gather);
        continue;
      }
      if (!isWritableDirty(pte)) continue;
      if (record !== undefined) this.recordLeaf(record, at, lsz);
      // CLEAR-4: a leaf reaching outside the range is reported but kept dirty.
      if (clear && at >= start && at + lsz <= end) {
        this.memory.fetchOr(ptep, PTE_AP_RDONLY);
        if (at < gather.start) gather.start = at;
        if (at + lsz > gather.end) gather.end = at + lsz;
      }
    }
  }

  /** The L3 inner loop without a hook: reads the table's words directly, writes through fetchOr. */
  private scanPages(table: number, tableBase: number, first: number, last: number, start: number, end: number, clear: boolean, record: DirtyRecord | undefined, gather: { start: number; end: number }): void {
    const words = this.memory.frameWords(table);
    for (let i = first; i <= last; i++) {
      const pte = words[i]!;
      if ((pte & (PTE_AP_RDONLY | PTE_DBM | 1n)) !== (PTE_DBM | 1n)) continue;
      const at = tableBase + i * GRANULE;
      if (record !== undefined) this.recordLeaf(record, at, GRANULE);
      if (clear && at >= start && at + GRANULE <= end) {
        this.memory.fetchOr(table + i * 8, PTE_AP_RDONLY);
        if (at < gather.start) gather.start = at;
        if (at + GRANULE > gather.end) gather.end = at + GRANULE;
      }
    }
  }

  /** Every valid leaf overlapping [iova, iova + size), in IOVA order (for tests and tooling). */
  leaves(iova = 0, size = IOVA_LIMIT): LeafInfo[] {
    const out: LeafInfo[] = [];
    this.leavesIn(this.pgd, 0, 0, iova, iova + size, out);
    return out;
  }

  /**
   * Appends to `out` the valid leaves under `table` (translating from `tableBase` at `level`)
   * that overlap [start, end), in IOVA order. Recursion into an array, not nested generators:
   * a leaf four levels down passed through four generator frames, which made this walk the
   * largest part of a tracking toggle's time.
   */
  private leavesIn(table: number, tableBase: number, level: number, start: number, end: number, out: LeafInfo[]): void {
    const lsz = levelSize(level);
    const first = Math.max(0, Math.floor((start - tableBase) / lsz));
    const last = Math.min(PTES_PER_TABLE - 1, Math.ceil((end - tableBase) / lsz) - 1);
    for (let i = first; i <= last; i++) {
      const at = tableBase + i * lsz;
      const ptep = table + i * 8;
      const pte = this.memory.load(ptep);
      if (!isValid(pte)) continue;
      if (isTable(pte, level)) this.leavesIn(pteAddress(pte), at, level + 1, start, end, out);
      else out.push({ iova: at, level, size: lsz, ptep, pte });
    }
  }

  /** Splits every block leaf (to pages, repeatedly). Returns the IOVA and level of each block split. */
  splitAllBlocks(): { iova: number; level: number }[] {
    const split: { iova: number; level: number }[] = [];
    for (let level = 1; level <= 2; level++) {
      for (const leaf of [...this.leaves()]) {
        if (leaf.level !== level) continue;
        if (this.splitBlock(leaf.iova) === 0) split.push({ iova: leaf.iova, level });
      }
    }
    return split;
  }

  /** Makes the writable-clean leaf at `iova` writable-dirty (atomic clear of AP[2]); a leaf without DBM is left as it is. */
  markWritableDirty(iova: number): void {
    const leaf = [...this.leaves(iova, 1)][0];
    if (leaf !== undefined && (leaf.pte & PTE_DBM) !== 0n && (leaf.pte & PTE_AP_RDONLY) !== 0n) this.memory.fetchAnd(leaf.ptep, ~PTE_AP_RDONLY);
  }

  /** Sets the AF of the leaf translating `iova` (atomic OR), as a leaf built from a protection has it (arm_lpae_prot_to_pte always sets ARM_LPAE_PTE_AF). */
  setAccessFlag(iova: number): void {
    const leaf = [...this.leaves(iova, 1)][0];
    if (leaf !== undefined && (leaf.pte & PTE_AF) === 0n) this.memory.fetchOr(leaf.ptep, PTE_AF);
  }

  /** Makes every writable-dirty leaf writable-clean (atomic set of AP[2]), without recording or invalidating: iommufd's clear over each mapped area. */
  clearAllDirty(): void {
    for (const leaf of [...this.leaves()]) if (isWritableDirty(leaf.pte)) this.memory.fetchOr(leaf.ptep, PTE_AP_RDONLY);
  }

  /** Marks every writable-clean leaf writable-dirty (atomic clear of AP[2]). */
  markAllWritableDirty(): void {
    for (const leaf of [...this.leaves()]) {
      if ((leaf.pte & PTE_DBM) !== 0n && (leaf.pte & PTE_AP_RDONLY) !== 0n) this.memory.fetchAnd(leaf.ptep, ~PTE_AP_RDONLY);
    }
  }

  /** Bytes of page-table memory in use. */
  get tableBytes(): number {
    return this.memory.frameCount * FRAME_SIZE;
  }
}
