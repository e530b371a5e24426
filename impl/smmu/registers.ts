// SMMUv3 register fields and context-descriptor layout used by the model.
// Sources: ARM IHI 0070 §6.3.1 (SMMU_IDR0), §6.3.4 (SMMU_IDR3), §5.4 (CD);
//          Linux drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h (IDR0_HTTU, IDR3_BBML,
//          CTXDESC_CD_0_*).

/** SMMU_IDR0.HTTU, bits 7:6. */
export const IDR0_HTTU_SHIFT = 6;
export const IDR0_HTTU_MASK = 0b11 << IDR0_HTTU_SHIFT;
export const IDR0_HTTU_NONE = 0;
export const IDR0_HTTU_ACCESS = 1;
export const IDR0_HTTU_ACCESS_DIRTY = 2;
export type Httu = typeof IDR0_HTTU_NONE | typeof IDR0_HTTU_ACCESS | typeof IDR0_HTTU_ACCESS_DIRTY;

/** SMMU_IDR0.COHACC, bit 4: coherent access to tables and queues (Linux ARM_SMMU_FEAT_COHERENCY, which arm_smmu_dbm_capable requires with HTTU = 2). */
export const IDR0_COHACC = 1 << 4;

/** SMMU_IDR3.BBML, bits 12:11. */
export const IDR3_BBML_SHIFT = 11;
export const IDR3_BBML_MASK = 0b11 << IDR3_BBML_SHIFT;
export const IDR3_BBML0 = 0;
export const IDR3_BBML1 = 1;
export const IDR3_BBML2 = 2;
export type Bbml = typeof IDR3_BBML0 | typeof IDR3_BBML1 | typeof IDR3_BBML2;

export function idr0Httu(idr0: number): Httu {
  return ((idr0 & IDR0_HTTU_MASK) >>> IDR0_HTTU_SHIFT) as Httu;
}

export function idr3Bbml(idr3: number): Bbml {
  return ((idr3 & IDR3_BBML_MASK) >>> IDR3_BBML_SHIFT) as Bbml;
}

// Context descriptor word 0 and word 1 (64 bytes; the model uses the first two words).
export const CTXDESC_CD_DWORDS = 8;
export const CTXDESC_CD_0_TCR_T0SZ_MASK = 0x3fn; // 5:0
export const CTXDESC_CD_0_TCR_TG0_SHIFT = 6n; // 7:6, 0 = 4 KiB
export const CTXDESC_CD_0_TCR_IRGN0_SHIFT = 8n; // 9:8
export const CTXDESC_CD_0_TCR_ORGN0_SHIFT = 10n; // 11:10
export const CTXDESC_CD_0_TCR_SH0_SHIFT = 12n; // 13:12
export const CTXDESC_CD_0_TCR_EPD1 = 1n << 30n;
export const CTXDESC_CD_0_V = 1n << 31n;
export const CTXDESC_CD_0_TCR_IPS_SHIFT = 32n; // 34:32
export const CTXDESC_CD_0_AA64 = 1n << 41n;
export const CTXDESC_CD_0_TCR_HD = 1n << 42n;
export const CTXDESC_CD_0_TCR_HA = 1n << 43n;
export const CTXDESC_CD_0_R = 1n << 45n;
export const CTXDESC_CD_0_A = 1n << 46n;
export const CTXDESC_CD_0_ASET = 1n << 47n;
export const CTXDESC_CD_0_ASID_SHIFT = 48n; // 63:48
/** io-pgtable-arm's TCR for a coherent walk: inner and outer write-back write-allocate, inner shareable (ARM_LPAE_TCR_RGN_WBWA, ARM_LPAE_TCR_SH_IS). */
const TCR_RGN_WBWA = 1n;
const TCR_SH_IS = 3n;
export const CTXDESC_CD_1_TTB0_MASK = ((1n << 52n) - 1n) & ~0xfn; // 51:4

export interface ContextDescriptor {
  readonly valid: boolean;
  readonly asid: number;
  readonly ttb0: number;
  readonly ha: boolean;
  readonly hd: boolean;
  readonly t0sz: number;
}

/**
 * Word 0 and word 1 of a stage-1 CD for a 48-bit, 4 KiB-granule table, with the fields
 * Linux's CD has: T0SZ, TG0, the walk's cacheability and shareability, EPD1 (no TTB1
 * walk), V, IPS, AA64, R (record faults), A (abort on a fault: terminate, not stall), ASET
 * (a private ASID) and the ASID; HA and HD as asked. An SMMU model may refuse a CD without
 * EPD1 or A (QEMU's decode_cd does).
 * @source Linux v6.12.117 drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c arm_smmu_make_s1_cd; arm-smmu-v3.h CTXDESC_CD_0_*
 */
export function encodeCd(asid: number, ttb0: number, ha: boolean, hd: boolean): [bigint, bigint] {
  let w0 =
    BigInt(64 - 48) |
    (TCR_RGN_WBWA << CTXDESC_CD_0_TCR_IRGN0_SHIFT) |
    (TCR_RGN_WBWA << CTXDESC_CD_0_TCR_ORGN0_SHIFT) |
    (TCR_SH_IS << CTXDESC_CD_0_TCR_SH0_SHIFT) |
    CTXDESC_CD_0_TCR_EPD1 |
    CTXDESC_CD_0_V |
    (5n << CTXDESC_CD_0_TCR_IPS_SHIFT) |
    CTXDESC_CD_0_AA64 |
    CTXDESC_CD_0_R |
    CTXDESC_CD_0_A |
    CTXDESC_CD_0_ASET;
  w0 |= BigInt(asid & 0xffff) << CTXDESC_CD_0_ASID_SHIFT;
  if (ha) w0 |= CTXDESC_CD_0_TCR_HA;
  if (hd) w0 |= CTXDESC_CD_0_TCR_HD;
  return [w0, BigInt(ttb0) & CTXDESC_CD_1_TTB0_MASK];
}

export function decodeCd(w0: bigint, w1: bigint): ContextDescriptor {
  return {
    valid: (w0 & CTXDESC_CD_0_V) !== 0n,
    asid: Number((w0 >> CTXDESC_CD_0_ASID_SHIFT) & 0xffffn),
    ttb0: Number(w1 & CTXDESC_CD_1_TTB0_MASK),
    ha: (w0 & CTXDESC_CD_0_TCR_HA) !== 0n,
    hd: (w0 & CTXDESC_CD_0_TCR_HD) !== 0n,
    t0sz: Number(w0 & CTXDESC_CD_0_TCR_T0SZ_MASK),
  };
}
