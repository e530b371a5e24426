import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeContextDescriptor, smmuIdr0Httu, smmuIdr3Bbml } from '../smmu/context-descriptor.ts';
import { ARM_LPAE_PTE_TYPE_TABLE, IOMMU_READ, armLpaeProtToPte } from './encoding.ts';
import { walkLeafWords, walkLeaves } from './walk.ts';

test('[PTE-4] walkLeaves finds a page under three table levels and a block at L2, in IOVA order', () => {
  const mem = new Map<number, bigint>();
  const load = (a: number) => mem.get(a) ?? 0n;
  // L0 @0x1000 -> L1 @0x2000 -> L2 @0x3000 -> L3 @0x4000
  mem.set(0x1000, 0x2000n | ARM_LPAE_PTE_TYPE_TABLE);
  mem.set(0x2000, 0x3000n | ARM_LPAE_PTE_TYPE_TABLE);
  mem.set(0x3000, 0x4000n | ARM_LPAE_PTE_TYPE_TABLE);
  mem.set(0x4000 + 5 * 8, armLpaeProtToPte(IOMMU_READ, 3, 0x9000_5000, { hd: false }));
  mem.set(0x3000 + 8, armLpaeProtToPte(IOMMU_READ, 2, 0x9020_0000, { hd: false }));
  const leaves = walkLeaves(load, 0x1000, 0, 0x40_0000);
  assert.equal(
    leaves.map((l) => [l.iova, l.level, l.ptep]),
    [
      [0x5000, 3, 0x4028],
      [0x20_0000, 2, 0x3008],
    ],
  );
  assert.equal(walkLeaves(load, 0x1000, 0x6000, 0x1000), []);
  assert.equal(walkLeaves(load, 0x1000, 0, 0), []);
});

test('[PTE-4] walkLeafWords visits the leaves walkLeaves finds, with the halves of their descriptors', () => {
  const mem = new Map<number, bigint>();
  const load = (a: number) => mem.get(a) ?? 0n;
  const words = { loadLow: (a: number) => Number(load(a) & 0xffff_ffffn), loadHigh: (a: number) => Number(load(a) >> 32n) };
  // L0 @0x1000 -> L1 @0x2000 -> L2 @0x3000 -> L3 @0x1_2345_6000 (a table above 4 GiB: its address needs the high half)
  mem.set(0x1000, 0x2000n | ARM_LPAE_PTE_TYPE_TABLE);
  mem.set(0x2000, 0x3000n | ARM_LPAE_PTE_TYPE_TABLE);
  mem.set(0x3000, 0x1_2345_6000n | ARM_LPAE_PTE_TYPE_TABLE);
  mem.set(0x1_2345_6000 + 5 * 8, armLpaeProtToPte(IOMMU_READ, 3, 0x8_9000_5000, { hd: true }) | (1n << 51n));
  mem.set(0x3000 + 8, armLpaeProtToPte(IOMMU_READ, 2, 0x9020_0000, { hd: false }));
  const seen: [number, number, number, bigint][] = [];
  walkLeafWords(words, 0x1000, 0, 0x40_0000, (iova, level, ptep, low, high) => seen.push([iova, level, ptep, (BigInt(high) << 32n) | BigInt(low)]));
  assert.equal(
    seen,
    walkLeaves(load, 0x1000, 0, 0x40_0000).map((l) => [l.iova, l.level, l.ptep, l.pte]),
  );
  assert.is(seen.length, 2);
  const none: unknown[] = [];
  walkLeafWords(words, 0x1000, 0x6000, 0x1000, () => none.push(1));
  walkLeafWords(words, 0x1000, 0, 0, () => none.push(1));
  assert.equal(none, []);
});

test('[TRACK-2] CD word 0 HA is bit 43, HD bit 42, ASID 63:48, V bit 31; TTB0 is word 1 bits 51:4', () => {
  const cd = decodeContextDescriptor((1n << 31n) | (1n << 43n) | (7n << 48n), 0x1234_5000n | 0xfn);
  assert.equal(cd, { valid: true, asid: 7, ttb0: 0x1234_5000, ha: true, hd: false });
  assert.is(decodeContextDescriptor(1n << 42n, 0n).hd, true);
});

test('[TRACK-1] SMMU_IDR0.HTTU is bits 7:6 and SMMU_IDR3.BBML bits 12:11', () => {
  assert.is(smmuIdr0Httu(2 << 6), 2);
  assert.is(smmuIdr0Httu(0x3f), 0);
  assert.is(smmuIdr3Bbml(2 << 11), 2);
});

test.run();
