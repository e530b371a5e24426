// The reference driver's own descriptor constants. DEPARTS: duplicates the spec's
// encoding on purpose: impl/ is one implementation among others and imports nothing
// from spec/ (the layering rule of README.md); the refinement tests check that the two
// agree bit for bit.
// Source: Linux v6.12.117 drivers/iommu/io-pgtable-arm.c.
export const PTE_TYPE_MASK = 0b11n;
export const PTE_TYPE_BLOCK = 0b01n;
export const PTE_TYPE_TABLE = 0b11n;
export const PTE_TYPE_PAGE = 0b11n;
export const PTE_VALID = 1n;
export const PTE_AP_UNPRIV = 1n << 6n;
export const PTE_AP_RDONLY = 1n << 7n;
export const PTE_SH_IS = 3n << 8n;
export const PTE_AF = 1n << 10n;
/** nG: the entry is non-global, tagged with the CD's ASID (Linux sets it on every stage-1 leaf). */
export const PTE_NG = 1n << 11n;
export const PTE_ADDR_MASK = ((1n << 48n) - 1n) & ~0xfffn;
export const PTE_DBM = 1n << 51n;
/** Attributes a merge requires equal across the pages (everything but OA, AF, AP[2]). */
export const PTE_MERGE_ATTR_MASK = ~(PTE_ADDR_MASK | PTE_AF | PTE_AP_RDONLY | PTE_TYPE_MASK) & ((1n << 64n) - 1n);

export const GRANULE = 4096;
export const IAS = 48;
export const IOVA_LIMIT = 2 ** IAS;
export const PTES_PER_TABLE = 512;

const LEVEL_SIZES = [2 ** 39, 2 ** 30, 2 ** 21, 2 ** 12];

export function levelSize(level: number): number {
  return LEVEL_SIZES[level]!;
}

export function levelIndex(iova: number, level: number): number {
  return Math.floor(iova / levelSize(level)) % PTES_PER_TABLE;
}

export function isValid(pte: bigint): boolean {
  return (pte & PTE_VALID) !== 0n;
}

export function isTable(pte: bigint, level: number): boolean {
  return level < 3 && (pte & PTE_TYPE_MASK) === PTE_TYPE_TABLE;
}

/** Linux `iopte_writeable_dirty`. */
export function isWritableDirty(pte: bigint): boolean {
  return (pte & (PTE_AP_RDONLY | PTE_DBM)) === PTE_DBM;
}

export function pteAddress(pte: bigint): number {
  return Number(pte & PTE_ADDR_MASK);
}
