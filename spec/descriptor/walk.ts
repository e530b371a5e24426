// Reading a stage-1 page table out of memory: the leaves that translate a range. An
// abstract operation over any 64-bit load, so the kit can inspect the tables a driver
// under test built in kit memory. Requirements: PTE-4 (levels), PTE-2 (leaves).
// Source: ARM DDI 0487 D8.2 (translation table walk).
import { ARM_LPAE_PTE_OA_MASK, ARM_LPAE_PTE_VALID, armLpaeBlockSize, isTableDescriptor, type Level } from './encoding.ts';

export interface WalkedLeaf {
  readonly iova: number;
  readonly level: Level;
  readonly size: number;
  readonly ptep: number;
  readonly pte: bigint;
}

/** The first index of the entries of a table translating from `base`, `lsz` bytes each, that overlap [iova, ...). */
const firstEntry = (iova: number, base: number, lsz: number): number => Math.max(0, Math.floor((iova - base) / lsz));
/** The last index of the entries of such a table that overlap [..., end). */
const lastEntry = (end: number, base: number, lsz: number): number => Math.min(511, Math.floor((end - 1 - base) / lsz));

/**
 * Every valid leaf overlapping [iova, iova + size) under the L0 table at `ttb0`, in IOVA order.
 * @req PTE-4
 * @source Linux v6.12.117 drivers/iommu/io-pgtable-arm.c __arm_lpae_iopte_walk_dirty (a walk over a range, leaf by leaf)
 */
export function walkLeaves(load: (address: number) => bigint, ttb0: number, iova: number, size: number): WalkedLeaf[] {
  const out: WalkedLeaf[] = [];
  const end = iova + size;
  const visit = (table: number, base: number, level: Level): void => {
    const lsz = armLpaeBlockSize(level);
    const last = lastEntry(end, base, lsz);
    for (let i = firstEntry(iova, base, lsz); i <= last; i++) {
      const ptep = table + i * 8;
      const pte = load(ptep);
      if ((pte & ARM_LPAE_PTE_VALID) === 0n) continue;
      const at = base + i * lsz;
      if (isTableDescriptor(pte, level)) visit(Number(pte & ARM_LPAE_PTE_OA_MASK), at, (level + 1) as Level);
      else out.push({ iova: at, level, size: lsz, ptep, pte });
    }
  };
  if (size > 0) visit(ttb0, 0, 0);
  return out;
}

/**
 * A page table's words read as their two 32-bit halves (bits 31:0 and 63:32, unsigned), for
 * a reader that tests bits without making a BigInt per word (the kit's own memory:
 * impl/memory/physical-memory.ts loadLow, loadHigh).
 */
export interface TableWords {
  loadLow(address: number): number;
  loadHigh(address: number): number;
}

/** OA[47:12] of a descriptor read as halves: the table or output address it holds. */
export const outputAddressOfWords = (low: number, high: number): number => (high & 0xffff) * 2 ** 32 + ((low & 0xffff_f000) >>> 0);

/**
 * `walkLeaves` over words read as halves: each valid leaf overlapping [iova, iova + size)
 * under the L0 table at `ttb0`, in IOVA order, passed to `visit` with its descriptor's halves
 * (the same leaves, found the same way; nothing is built per leaf).
 * @req PTE-4
 * @source Linux v6.12.117 drivers/iommu/io-pgtable-arm.c __arm_lpae_iopte_walk_dirty (a walk over a range, leaf by leaf)
 */
export function walkLeafWords(words: TableWords, ttb0: number, iova: number, size: number, visit: (iova: number, level: Level, ptep: number, low: number, high: number) => void): void {
  const end = iova + size;
  const table = (at: number, base: number, level: Level): void => {
    const lsz = armLpaeBlockSize(level);
    const last = lastEntry(end, base, lsz);
    for (let i = firstEntry(iova, base, lsz); i <= last; i++) {
      const ptep = at + i * 8;
      const low = words.loadLow(ptep);
      // Bit 0: valid. Bits 1:0 = 0b11 above level 3: a table descriptor (isTableDescriptor).
      if ((low & 1) === 0) continue;
      const high = words.loadHigh(ptep);
      if (level < 3 && (low & 3) === 3) table(outputAddressOfWords(low, high), base + i * lsz, (level + 1) as Level);
      else visit(base + i * lsz, level, ptep, low, high);
    }
  };
  if (size > 0) table(ttb0, 0, 0);
}
