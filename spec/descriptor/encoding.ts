// VMSAv8-64 stage-1 long-descriptor encoding, 4 KiB granule, 48-bit input address, as
// used by the ARM SMMUv3 with HTTU. Abstract operations only: no state lives here.
//
// Requirements: PTE-1 (bit positions), PTE-2 (leaf states), PTE-3 (prot to pte),
//               PTE-4 (levels and sizes), PTE-5 (iopte_writeable_dirty)
// Sources: ARM DDI 0487 I.a D8.3 (VMSAv8-64 descriptor formats); ARM IHI 0070 E.a §3.13
//          (HTTU); Linux v6.12.117 drivers/iommu/io-pgtable-arm.c (ARM_LPAE_PTE_*,
//          arm_lpae_prot_to_pte, iopte_writeable_dirty).

// PTE-1: bit positions.
export const ARM_LPAE_PTE_TYPE_MASK = 0b11n;
export const ARM_LPAE_PTE_TYPE_BLOCK = 0b01n;
export const ARM_LPAE_PTE_TYPE_TABLE = 0b11n;
export const ARM_LPAE_PTE_TYPE_PAGE = 0b11n;
export const ARM_LPAE_PTE_VALID = 1n << 0n;
export const ARM_LPAE_PTE_NS = 1n << 5n;
export const ARM_LPAE_PTE_AP_UNPRIV = 1n << 6n; // AP[1]
export const ARM_LPAE_PTE_AP_RDONLY = 1n << 7n; // AP[2]; with DBM=1 the "clean" marker
export const ARM_LPAE_PTE_AP_RDONLY_BIT = 7;
export const ARM_LPAE_PTE_SH_SHIFT = 8n;
export const ARM_LPAE_PTE_SH_MASK = 0b11n << ARM_LPAE_PTE_SH_SHIFT;
export const ARM_LPAE_PTE_SH_OS = 2n << ARM_LPAE_PTE_SH_SHIFT;
export const ARM_LPAE_PTE_SH_IS = 3n << ARM_LPAE_PTE_SH_SHIFT;
export const ARM_LPAE_PTE_AF = 1n << 10n;
export const ARM_LPAE_PTE_NG = 1n << 11n;
export const ARM_LPAE_PTE_OA_MASK = ((1n << 48n) - 1n) & ~((1n << 12n) - 1n); // OA[47:12]
export const ARM_LPAE_PTE_DBM = 1n << 51n;
export const ARM_LPAE_PTE_DBM_BIT = 51;
export const ARM_LPAE_PTE_XN = 3n << 53n;

// PTE-4: levels and the size a leaf covers at each level (4 KiB granule).
export const ARM_LPAE_GRANULE = 4096;
export const ARM_LPAE_IAS = 48;
export const ARM_LPAE_START_LEVEL = 0;
export const ARM_LPAE_MAX_LEVELS = 4;
export const ARM_LPAE_PTES_PER_TABLE = 512;
export type Level = 0 | 1 | 2 | 3;

/**
 * Bytes translated by one entry at `level`: L0 512 GiB, L1 1 GiB (block), L2 2 MiB (block), L3 4 KiB (page).
 * @req PTE-4
 * @source ARM DDI 0487 I.a D8.2; Linux v6.12.117 drivers/iommu/io-pgtable-arm.c ARM_LPAE_BLOCK_SIZE
 */
export function armLpaeBlockSize(level: Level): number {
  return BLOCK_SIZES[level]!;
}
/** 2^(12 + 9 * (3 - level)) for levels 0..3. */
const BLOCK_SIZES = [2 ** 39, 2 ** 30, 2 ** 21, 2 ** 12] as const;

/**
 * Index of `iova` in the table at `level`.
 * @req PTE-4
 * @source Linux v6.12.117 drivers/iommu/io-pgtable-arm.c ARM_LPAE_LVL_IDX
 */
export function armLpaeLvlIdx(iova: number, level: Level): number {
  return Math.floor(iova / armLpaeBlockSize(level)) % ARM_LPAE_PTES_PER_TABLE;
}

/**
 * Whether a leaf may sit at `level`: blocks at L1 and L2, pages at L3 (PTE-4).
 * @req PTE-4
 * @source ARM DDI 0487 I.a D8.2; Linux v6.12.117 drivers/iommu/io-pgtable-arm.c iopte_leaf
 */
export function armLpaeLeafAllowed(level: Level): boolean {
  return level >= 1;
}

// PTE-2: the leaf states that matter for dirty tracking.
export const LEAF_STATES = ['invalid', 'readOnly', 'writable', 'writableClean', 'writableDirty'] as const;
export type LeafState = (typeof LEAF_STATES)[number];

export interface DecodedLeaf {
  readonly state: LeafState;
  /** AF, bit 10. Meaningless for an invalid entry (reported false). */
  readonly accessFlag: boolean;
  /** Output address, bits 47:12 (a multiple of 4 KiB). */
  readonly outputAddress: number;
}

export class DescriptorDecodeError extends Error {
  constructor(field: string, rule: string) {
    super(`descriptor ${field}: ${rule}`);
    this.name = 'DescriptorDecodeError';
  }
}

function checkRaw(pte: bigint): void {
  if (typeof pte !== 'bigint') throw new DescriptorDecodeError('pte', 'must be a bigint');
  if (pte < 0n || pte >= 1n << 64n) throw new DescriptorDecodeError('pte', 'must be an unsigned 64-bit value');
}

/**
 * Decodes a raw leaf descriptor found at `level` (PTE-2). A table descriptor (type 0b11
 * at L0-L2) is not a leaf and is rejected, as is a block at L0.
 *
 * | state         | valid | DBM | AP[2] |
 * | invalid       | 0     |  -  |  -    |
 * | readOnly      | 1     |  0  |  1    |
 * | writable      | 1     |  0  |  0    |
 * | writableClean | 1     |  1  |  1    |
 * | writableDirty | 1     |  1  |  0    |
 * @req PTE-1 PTE-2
 * @source ARM IHI 0070 E.a §3.13.3; Linux v6.12.117 drivers/iommu/io-pgtable-arm.c ARM_LPAE_PTE_*, iopte_writeable_dirty
 */
export function decodeLeaf(pte: bigint, level: Level): DecodedLeaf {
  checkRaw(pte);
  if ((pte & ARM_LPAE_PTE_VALID) === 0n) return { state: 'invalid', accessFlag: false, outputAddress: 0 };
  const type = pte & ARM_LPAE_PTE_TYPE_MASK;
  if (level === 3 && type !== ARM_LPAE_PTE_TYPE_PAGE) {
    throw new DescriptorDecodeError('type', 'bits 1:0 of a valid L3 entry must be 0b11 (page); 0b01 is reserved at L3');
  }
  if (level < 3 && type !== ARM_LPAE_PTE_TYPE_BLOCK) {
    throw new DescriptorDecodeError('type', `bits 1:0 = 0b11 at L${level} is a table descriptor, not a leaf`);
  }
  if (level === 0) throw new DescriptorDecodeError('type', 'no block descriptor at L0 with a 4 KiB granule');
  const dbm = (pte & ARM_LPAE_PTE_DBM) !== 0n;
  const rdonly = (pte & ARM_LPAE_PTE_AP_RDONLY) !== 0n;
  const state: LeafState = dbm ? (rdonly ? 'writableClean' : 'writableDirty') : rdonly ? 'readOnly' : 'writable';
  return {
    state,
    accessFlag: (pte & ARM_LPAE_PTE_AF) !== 0n,
    outputAddress: Number(pte & ARM_LPAE_PTE_OA_MASK),
  };
}

/**
 * Whether the raw entry at `level` is a table descriptor (a pointer to the next level).
 * @req PTE-1
 * @source Linux v6.12.117 drivers/iommu/io-pgtable-arm.c iopte_table
 */
export function isTableDescriptor(pte: bigint, level: Level): boolean {
  return level < 3 && (pte & ARM_LPAE_PTE_TYPE_MASK) === ARM_LPAE_PTE_TYPE_TABLE;
}

/**
 * PTE-5: Linux `iopte_writeable_dirty(pte)`: `(pte & (AP_RDONLY | DBM)) == DBM`.
 * @req PTE-5
 * @source Linux v6.12.117 drivers/iommu/io-pgtable-arm.c iopte_writeable_dirty
 */
export function iopteWriteableDirty(pte: bigint): boolean {
  return (pte & (ARM_LPAE_PTE_AP_RDONLY | ARM_LPAE_PTE_DBM)) === ARM_LPAE_PTE_DBM;
}

export const IOMMU_READ = 1 << 0;
export const IOMMU_WRITE = 1 << 1;

export interface ProtToPteOptions {
  /** io-pgtable quirk IO_PGTABLE_QUIRK_ARM_HD: writable leaves carry DBM. */
  readonly hd: boolean;
  /** AF at map time; Linux always sets it. */
  readonly accessFlag?: boolean;
}

/**
 * PTE-3: Linux `arm_lpae_prot_to_pte` + `arm_lpae_init_pte` for a stage-1 leaf at `level`
 * mapping `paddr`. nG set (non-global: the leaf belongs to the CD's ASID, so a TLBI by ASID
 * reaches its IOTLB entries), AP[1] set (unprivileged), SH inner shareable, AF set.
 * A writable mapping made while the HD quirk is on carries DBM and starts writable-dirty
 * (AP[2] = 0); without the quirk it is plain writable. A read-only mapping has AP[2] = 1.
 * @req PTE-1 PTE-3
 * @source Linux v6.12.117 drivers/iommu/io-pgtable-arm.c arm_lpae_prot_to_pte, __arm_lpae_init_pte
 */
export function armLpaeProtToPte(prot: number, level: Level, paddr: number, options: ProtToPteOptions): bigint {
  if (!Number.isSafeInteger(paddr) || paddr < 0 || paddr >= 2 ** 48) {
    throw new DescriptorDecodeError('paddr', 'must be an integer in [0, 2^48)');
  }
  if (!armLpaeLeafAllowed(level)) throw new DescriptorDecodeError('level', 'leaves exist at L1, L2 and L3 only');
  if (paddr % armLpaeBlockSize(level) !== 0) {
    throw new DescriptorDecodeError('paddr', `must be aligned to the L${level} leaf size ${armLpaeBlockSize(level)}`);
  }
  if ((prot & IOMMU_READ) === 0 && (prot & IOMMU_WRITE) === 0) {
    throw new DescriptorDecodeError('prot', 'must include IOMMU_READ or IOMMU_WRITE');
  }
  let pte = level === 3 ? ARM_LPAE_PTE_TYPE_PAGE : ARM_LPAE_PTE_TYPE_BLOCK;
  pte |= ARM_LPAE_PTE_NG | ARM_LPAE_PTE_AP_UNPRIV | ARM_LPAE_PTE_SH_IS;
  if (options.accessFlag ?? true) pte |= ARM_LPAE_PTE_AF;
  if ((prot & IOMMU_WRITE) === 0) pte |= ARM_LPAE_PTE_AP_RDONLY;
  else if (options.hd) pte |= ARM_LPAE_PTE_DBM;
  pte |= BigInt(paddr) & ARM_LPAE_PTE_OA_MASK;
  return pte;
}
