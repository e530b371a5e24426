import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  iovaBitmapBytes,
  iovaBitmapIndexToOffset,
  iovaBitmapOffsetToBit,
  iovaBitmapOffsetToByte,
  iovaBitmapOffsetToIndex,
  iovaBitmapPages,
  iovaBitmapPgshift,
  iovaBitmapWindowBytes,
  iovaBitmapWindowLength,
  iovaBitmapWindowPages,
  IovaBitmapArgumentError,
  IOVA_BITMAP_MAX_PINNED_PAGES,
  U64_MAX,
} from './index-math.ts';

const KiB4 = 4096n;
const P63 = 1n << 63n;
const GiB = 1n << 30n;
const MiB2 = 2 * 1024 * 1024;

test('[IOVA-BITMAP-1] pgshift is log2(page_size) for every power of two from 4 KiB to 2^63', () => {
  for (let s = 12; s <= 63; s++) assert.is(iovaBitmapPgshift(1n << BigInt(s)), s);
});

test('[IOVA-BITMAP-1] other page sizes are refused with an error naming page_size', () => {
  for (const bad of [0n, 1n, 2048n, 4095n, 4097n, 12288n, 1n << 64n, -4096n, (1n << 63n) + (1n << 62n)]) {
    assert.throws(
      () => iovaBitmapPgshift(bad),
      (e: unknown) => e instanceof IovaBitmapArgumentError && e.field === 'page_size' && /^page_size: must be a power of two/.test(e.message),
      String(bad),
    );
  }
  assert.throws(() => iovaBitmapPgshift(4096 as unknown as bigint), /page_size: .*got 4096/, 'a number is not a u64');
});

test('[IOVA-BITMAP-2] bit n = offset >> pgshift sits in u64 word n / 64, bit n % 64, byte n / 8 bit n % 8', () => {
  const off = 65n * KiB4 + 123n; // inside page 65
  assert.is(iovaBitmapOffsetToIndex(off, 12), 1n);
  assert.is(iovaBitmapOffsetToBit(off, 12), 1);
  assert.equal(iovaBitmapOffsetToByte(off, 12), { byte: 8, bit: 1 });
  assert.equal(iovaBitmapOffsetToByte(63n * GiB * 8n, 30), { byte: 63, bit: 0 }, 'page 504 at 1 GiB pages');
  assert.is(iovaBitmapIndexToOffset(1n, 12), 64n * KiB4);
  for (const n of [0n, 1n, 63n, 64n, 4095n, 1n << 40n]) {
    const o = n << 12n;
    assert.is(iovaBitmapOffsetToIndex(o, 12) * 64n + BigInt(iovaBitmapOffsetToBit(o, 12)), n);
    assert.is(iovaBitmapIndexToOffset(iovaBitmapOffsetToIndex(o, 12), 12) <= o, true);
  }
});

test('[IOVA-BITMAP-3] page size 2^63: the index never divides by 64 * page_size, which wraps to 0 in u64', () => {
  const naiveIndex = (offset: bigint, pageSize: bigint) => offset / ((64n * pageSize) & U64_MAX); // Linux before the fix
  assert.throws(() => naiveIndex(0n, P63), RangeError, 'the old formula divides by zero');
  const shift = iovaBitmapPgshift(P63);
  assert.is(shift, 63);
  assert.is(iovaBitmapOffsetToIndex(0n, shift), 0n);
  assert.is(iovaBitmapOffsetToIndex(U64_MAX, shift), 0n, 'the last byte of the address space is page 1, word 0');
  assert.is(iovaBitmapOffsetToBit(U64_MAX, shift), 1);
  assert.is(iovaBitmapOffsetToBit(P63 - 1n, shift), 0);
  assert.is(iovaBitmapBytes(P63, shift), 8);
  assert.is(iovaBitmapBytes(U64_MAX, shift), 8, 'two pages, one word');
  assert.is(iovaBitmapOffsetToIndex(U64_MAX, 12), (1n << 46n) - 1n, 'the last word at 4 KiB');
});

test('[IOVA-BITMAP-4] a range needs ALIGN(npages, 64) / 8 bytes; npages never rounds through a wrapping sum', () => {
  assert.equal(
    [1n, 4096n, 4097n, 64n * KiB4, 65n * KiB4, 512n * KiB4].map((l) => iovaBitmapBytes(l, 12)),
    [8, 8, 8, 8, 16, 64],
  );
  assert.is(iovaBitmapPages(U64_MAX, 12), 1n << 52n, '2^64 - 1 bytes is 2^52 pages, no overflow');
  assert.is(iovaBitmapBytes(1n << 40n, 12), 32 * 1024 * 1024, '1 TiB at 4 KiB: 32 MiB of bitmap');
  assert.is(iovaBitmapBytes(2n << 21n, 21), 8, 'two 2 MiB pages');
  assert.throws(() => iovaBitmapPages(0n, 12), /length: must be at least one byte/);
});

test('[IOVA-BITMAP-6] a window pins the pages its bytes touch, at most 512, and covers npages * 4096 - pgoff bytes', () => {
  assert.is(IOVA_BITMAP_MAX_PINNED_PAGES, 512);
  const big = 32 * 1024 * 1024;
  const cases: [offset: number, pages: number, bytes: number][] = [
    [0, 512, MiB2],
    [1, 512, MiB2 - 1],
    [7, 512, MiB2 - 7],
    [8, 512, MiB2 - 8],
    [4095, 512, MiB2 - 4095],
    [4104, 512, MiB2 - 8], // 4096 + 8: the window starts 8 bytes into the second page
  ];
  for (const [offset, pages, bytes] of cases) {
    const pgoff = offset % 4096;
    assert.is(iovaBitmapWindowPages(pgoff, big), pages, `offset ${offset}`);
    assert.is(iovaBitmapWindowBytes(pgoff, big), bytes, `offset ${offset}`);
    assert.is(iovaBitmapWindowLength(bytes, 12), BigInt(bytes) * 8n * KiB4, `offset ${offset}`);
  }
  assert.is(iovaBitmapWindowLength(MiB2, 12), 64n * GiB, '2 MiB of bitmap is 64 GiB at 4 KiB');
});

test('[IOVA-BITMAP-6] a short bitmap pins only the pages it touches, and a small budget caps the window', () => {
  assert.is(iovaBitmapWindowPages(0, 8), 1);
  assert.is(iovaBitmapWindowPages(4095, 1), 1, 'one byte at the end of a page');
  assert.is(iovaBitmapWindowPages(4095, 2), 2, 'two bytes across a page boundary');
  assert.is(iovaBitmapWindowPages(100, 10), 1, 'Linux would pin two here (DIV_ROUND_UP + !!pgoff)');
  assert.is(iovaBitmapWindowBytes(100, 10), 10);
  assert.is(iovaBitmapWindowPages(7, 100_000, 2), 2);
  assert.is(iovaBitmapWindowBytes(7, 100_000, 2), 8192 - 7);
  assert.is(iovaBitmapWindowBytes(4095, 100_000, 1), 1, 'budget 1 at pgoff 4095: one byte per window');
  assert.is(iovaBitmapWindowLength(8189, 12, 1000n), 1000n, 'cut at the end of the range');
  assert.is(iovaBitmapWindowLength(1, 63), 8n << 63n, 'one byte at 2^63 per bit is 2^66 bytes before the cut');
  assert.throws(() => iovaBitmapWindowPages(4096, 1), /pgoff: must be in \[0, 4096\)/);
  assert.throws(() => iovaBitmapWindowPages(0, 0), /remainingBytes: must be a positive integer/);
  assert.throws(() => iovaBitmapWindowPages(0, 1, 0), /maxPinned: must be a positive integer/);
});

test.run();
