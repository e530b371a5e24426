// The SMMUv3 stage-1 context descriptor fields dirty tracking depends on.
// Requirements: TRACK-2 (HA bit 43, HD bit 42 in CD word 0)
// Sources: ARM IHI 0070 §5.4; Linux arm-smmu-v3.h (CTXDESC_CD_0_TCR_HA/HD,
//          CTXDESC_CD_0_ASID, CTXDESC_CD_0_V, CTXDESC_CD_1_TTB0_MASK).
export const CTXDESC_CD_0_V = 1n << 31n;
export const CTXDESC_CD_0_TCR_HD = 1n << 42n;
export const CTXDESC_CD_0_TCR_HA = 1n << 43n;
export const CTXDESC_CD_0_ASID_SHIFT = 48n;
export const CTXDESC_CD_1_TTB0_MASK = ((1n << 52n) - 1n) & ~0xfn;

/**
 * SMMU_IDR0.HTTU, bits 7:6 (TRACK-1).
 * @req TRACK-1
 * @source ARM IHI 0070 E.a SMMU_IDR0.HTTU; Linux v6.12.117 drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h IDR0_HTTU
 */
export function smmuIdr0Httu(idr0: number): number {
  return (idr0 >>> 6) & 3;
}

/**
 * SMMU_IDR3.BBML, bits 12:11 (SPLIT-2).
 * @req SPLIT-2
 * @source ARM IHI 0070 E.a SMMU_IDR3.BBML
 */
export function smmuIdr3Bbml(idr3: number): number {
  return (idr3 >>> 11) & 3;
}

export interface DecodedCd {
  readonly valid: boolean;
  readonly asid: number;
  readonly ttb0: number;
  readonly ha: boolean;
  readonly hd: boolean;
}

/**
 * Decodes word 0 and 1 of a context descriptor: V, HA, HD, ASID and TTB0.
 * @req TRACK-2
 * @source ARM IHI 0070 E.a §5.4; Linux v6.12.117 drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h CTXDESC_CD_0_TCR_HA, CTXDESC_CD_0_TCR_HD
 */
export function decodeContextDescriptor(word0: bigint, word1: bigint): DecodedCd {
  return {
    valid: (word0 & CTXDESC_CD_0_V) !== 0n,
    asid: Number((word0 >> CTXDESC_CD_0_ASID_SHIFT) & 0xffffn),
    ttb0: Number(word1 & CTXDESC_CD_1_TTB0_MASK),
    ha: (word0 & CTXDESC_CD_0_TCR_HA) !== 0n,
    hd: (word0 & CTXDESC_CD_0_TCR_HD) !== 0n,
  };
}
