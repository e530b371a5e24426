import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ARM_LPAE_PTE_AF,
  ARM_LPAE_PTE_AP_RDONLY,
  ARM_LPAE_PTE_AP_UNPRIV,
  ARM_LPAE_PTE_DBM,
  ARM_LPAE_PTE_NG,
  ARM_LPAE_PTE_OA_MASK,
  ARM_LPAE_PTE_SH_IS,
  ARM_LPAE_PTE_XN,
  DescriptorDecodeError,
  IOMMU_READ,
  IOMMU_WRITE,
  armLpaeBlockSize,
  armLpaeLvlIdx,
  armLpaeProtToPte,
  decodeLeaf,
  iopteWriteableDirty,
  isTableDescriptor,
} from './encoding.ts';

test("[PTE-1] bit positions are the architecture's", () => {
  assert.is(ARM_LPAE_PTE_AP_UNPRIV, 1n << 6n);
  assert.is(ARM_LPAE_PTE_AP_RDONLY, 0x80n);
  assert.is(ARM_LPAE_PTE_SH_IS, 0x300n);
  assert.is(ARM_LPAE_PTE_AF, 0x400n);
  assert.is(ARM_LPAE_PTE_NG, 0x800n);
  assert.is(ARM_LPAE_PTE_OA_MASK, 0x0000_ffff_ffff_f000n);
  assert.is(ARM_LPAE_PTE_DBM, 0x0008_0000_0000_0000n);
  assert.is(ARM_LPAE_PTE_XN, 0x0060_0000_0000_0000n);
});

test('[PTE-4] levels: 512 GiB, 1 GiB, 2 MiB, 4 KiB; 9 index bits per level', () => {
  assert.equal(
    [0, 1, 2, 3].map((l) => armLpaeBlockSize(l as 0 | 1 | 2 | 3)),
    [2 ** 39, 2 ** 30, 2 ** 21, 2 ** 12],
  );
  const iova = 0x0000_8040_2010_0000 + 0x3000;
  assert.equal(
    [0, 1, 2, 3].map((l) => armLpaeLvlIdx(iova, l as 0 | 1 | 2 | 3)),
    [((iova / 2 ** 39) % 512) | 0, Math.floor(iova / 2 ** 30) % 512, Math.floor(iova / 2 ** 21) % 512, Math.floor(iova / 2 ** 12) % 512],
  );
  assert.is(armLpaeLvlIdx(2 ** 48 - 1, 0), 511);
});

test('[PTE-2] decodeLeaf: the four valid states by DBM and AP[2]', () => {
  const page = 0x3n | ARM_LPAE_PTE_AF;
  assert.is(decodeLeaf(page | ARM_LPAE_PTE_AP_RDONLY, 3).state, 'readOnly');
  assert.is(decodeLeaf(page, 3).state, 'writable');
  assert.is(decodeLeaf(page | ARM_LPAE_PTE_DBM | ARM_LPAE_PTE_AP_RDONLY, 3).state, 'writableClean');
  assert.is(decodeLeaf(page | ARM_LPAE_PTE_DBM, 3).state, 'writableDirty');
  assert.is(decodeLeaf(0n, 3).state, 'invalid');
  assert.is(decodeLeaf(ARM_LPAE_PTE_DBM, 2).state, 'invalid', 'valid bit clear: invalid whatever else is set');
});

test('[PTE-2] decodeLeaf: AF and output address', () => {
  const d = decodeLeaf(0x1n | 0x0000_0001_2340_0000n, 2);
  assert.is(d.accessFlag, false);
  assert.is(d.outputAddress, 0x1_2340_0000);
  assert.is(decodeLeaf(0x3n | ARM_LPAE_PTE_AF | 0xabcd_e000n, 3).accessFlag, true);
});

test('[PTE-2] decodeLeaf rejects a table descriptor, an L3 block and an L0 block, naming the field', () => {
  assert.throws(
    () => decodeLeaf(0x3n, 1),
    (e: unknown) => e instanceof DescriptorDecodeError && /type/.test((e as Error).message) && /table/.test((e as Error).message),
  );
  assert.throws(() => decodeLeaf(0x1n, 3), /reserved at L3/);
  assert.throws(() => decodeLeaf(0x1n, 0), /L0/);
  assert.ok(isTableDescriptor(0x3n, 2));
  assert.not.ok(isTableDescriptor(0x3n, 3));
});

test('[PTE-2] decodeLeaf rejects values that are not unsigned 64-bit', () => {
  assert.throws(() => decodeLeaf(-1n, 3), /unsigned 64-bit/);
  assert.throws(() => decodeLeaf(1n << 64n, 3), /unsigned 64-bit/);
});

test('[PTE-5] iopteWriteableDirty is (pte & (AP_RDONLY|DBM)) == DBM', () => {
  assert.ok(iopteWriteableDirty(ARM_LPAE_PTE_DBM | 0x3n));
  assert.not.ok(iopteWriteableDirty(ARM_LPAE_PTE_DBM | ARM_LPAE_PTE_AP_RDONLY | 0x3n));
  assert.not.ok(iopteWriteableDirty(0x3n));
});

test('[PTE-3] read-only mapping: AP[2] set, no DBM, AF set, nG, AP[1] and SH inner', () => {
  const pte = armLpaeProtToPte(IOMMU_READ, 3, 0x8000_1000, { hd: true });
  assert.is(pte, 0x3n | ARM_LPAE_PTE_NG | ARM_LPAE_PTE_AP_UNPRIV | ARM_LPAE_PTE_AP_RDONLY | ARM_LPAE_PTE_SH_IS | ARM_LPAE_PTE_AF | 0x8000_1000n);
  assert.is(decodeLeaf(pte, 3).state, 'readOnly');
});

test('[PTE-3] writable mapping with the HD quirk starts writable-dirty', () => {
  const pte = armLpaeProtToPte(IOMMU_READ | IOMMU_WRITE, 2, 0x4020_0000, { hd: true });
  assert.is(pte & 0x3n, 0x1n, 'block type at L2');
  assert.is(decodeLeaf(pte, 2).state, 'writableDirty');
});

test('[PTE-3] writable mapping without the quirk is plain writable', () => {
  assert.is(decodeLeaf(armLpaeProtToPte(IOMMU_WRITE, 3, 0, { hd: false }), 3).state, 'writable');
});

test('[PTE-3] bad arguments name the field and rule', () => {
  assert.throws(() => armLpaeProtToPte(IOMMU_READ, 2, 0x1000, { hd: false }), /paddr.*aligned/);
  assert.throws(() => armLpaeProtToPte(0, 3, 0, { hd: false }), /prot/);
  assert.throws(() => armLpaeProtToPte(IOMMU_READ, 0, 0, { hd: false }), /level/);
  assert.throws(() => armLpaeProtToPte(IOMMU_READ, 3, 2 ** 48, { hd: false }), /paddr/);
});

test.run();
