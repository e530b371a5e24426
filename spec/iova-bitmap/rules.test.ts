import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IovaBitmapArgumentError, U64_MAX } from './index-math.ts';
import { EINVAL, EOVERFLOW, iovaBitmapCheckArgs, iovaBitmapSetBits, iovaBitmapWindows } from './rules.ts';

const KiB4 = 4096n;
const P63 = 1n << 63n;
const ok = { iova: 0x10_0000n, length: 64n * KiB4, pageSize: KiB4, bitmapBytes: 8 };
const errnoOf = (over: Partial<typeof ok>) => iovaBitmapCheckArgs({ ...ok, ...over }).errno;
const fieldOf = (over: Partial<typeof ok>) => {
  const r = iovaBitmapCheckArgs({ ...ok, ...over });
  return r.errno === 0 ? undefined : (r as { field: string }).field;
};

test('[IOVA-BITMAP-5] [IOVA-BITMAP-1] arguments: page_size, u64 values, length 0 and alignment are -EINVAL naming the field', () => {
  assert.is(errnoOf({}), 0);
  assert.is(errnoOf({ pageSize: 0n }), -EINVAL);
  assert.is(fieldOf({ pageSize: 12288n }), 'page_size');
  assert.match((iovaBitmapCheckArgs({ ...ok, pageSize: 2048n }) as { message: string }).message, /^page_size: must be a power of two from 4096 to 2\^63, got 0x800$/);
  assert.is(fieldOf({ iova: -1n }), 'iova');
  assert.is(fieldOf({ length: 1n << 64n }), 'length');
  assert.is(errnoOf({ length: 0n }), -EINVAL);
  assert.is(fieldOf({ iova: 0x10_0800n }), 'iova');
  assert.is(fieldOf({ length: 0x1800n }), 'length');
  assert.is(errnoOf({ iova: 0n, length: P63, pageSize: P63 }), 0, 'one 2^63 page');
  assert.is(errnoOf({ iova: P63, length: P63, pageSize: P63 }), 0, 'the top half of the address space');
});

test('[IOVA-BITMAP-5] iova + length past 2^64 is -EOVERFLOW; ending exactly at 2^64 is allowed', () => {
  assert.is(errnoOf({ iova: U64_MAX - KiB4 + 1n, length: KiB4 }), 0);
  assert.is(errnoOf({ iova: U64_MAX - KiB4 + 1n, length: 2n * KiB4 }), -EOVERFLOW);
  assert.is(fieldOf({ iova: P63 + P63 / 2n, length: P63, pageSize: 1n << 62n }), 'length');
  assert.is(errnoOf({ iova: 0x1000n, length: U64_MAX }), -EOVERFLOW, 'checked before alignment');
});

test('[IOVA-BITMAP-4] a bitmap smaller than ALIGN(npages, 64) / 8 bytes is -EINVAL naming bitmap.size', () => {
  assert.is(errnoOf({ length: 65n * KiB4, bitmapBytes: 8 }), -EINVAL);
  assert.is(fieldOf({ length: 65n * KiB4, bitmapBytes: 15 }), 'bitmap.size');
  assert.is(errnoOf({ length: 65n * KiB4, bitmapBytes: 16 }), 0);
  assert.is(errnoOf({ iova: 0n, length: U64_MAX - KiB4 + 1n, bitmapBytes: 2 ** 49 - 1 }), -EINVAL, 'a whole 64-bit space at 4 KiB needs 2^49 bytes');
  assert.is(errnoOf({ bitmapBytes: Number.NaN }), -EINVAL);
});

test('[IOVA-BITMAP-2] a recording sets the bit of every page it touches, a partial page included', () => {
  assert.equal(iovaBitmapSetBits(0x1000n, 0x10_0000n, 12, 0x1fffn, 2n), { bits: { first: 0, last: 1 }, errno: 0 }, 'two bytes across a page boundary');
  assert.equal(iovaBitmapSetBits(0x1000n, 0x10_0000n, 12, 0x3000n, 0x1000n), { bits: { first: 2, last: 2 }, errno: 0 });
  assert.equal(iovaBitmapSetBits(0n, P63, 63, 0n, P63), { bits: { first: 0, last: 0 }, errno: 0 }, 'page size 2^63');
  assert.equal(iovaBitmapSetBits(0n, U64_MAX, 12, U64_MAX - 1n, 1n), { bits: { first: 2 ** 52 - 1, last: 2 ** 52 - 1 }, errno: 0 }, 'the last page of the address space');
});

test('[IOVA-BITMAP-9] [IOVA-BITMAP-7] [IOVA-BITMAP-8] the part outside the bitmap is -EINVAL and not written; the rest is set whatever the window', () => {
  assert.equal(iovaBitmapSetBits(0x20_0000n, 0x20_0000n, 12, 0n, 0x40_0000n), { bits: { first: 0, last: 511 }, errno: -EINVAL }, 'a 4 MiB block over a 2 MiB bitmap');
  assert.equal(iovaBitmapSetBits(0x20_0000n, 0x20_0000n, 12, 0x3f_f000n, 0x2000n), { bits: { first: 511, last: 511 }, errno: -EINVAL });
  assert.equal(iovaBitmapSetBits(0x20_0000n, 0x20_0000n, 12, 0x40_0000n, 0x1000n), { bits: undefined, errno: -EINVAL }, 'wholly past the end');
  assert.equal(iovaBitmapSetBits(0x20_0000n, 0x20_0000n, 12, 0x1f_f000n, 0x1000n), { bits: undefined, errno: -EINVAL }, 'wholly before');
  assert.equal(iovaBitmapSetBits(0n, 0x1000n, 12, 0n, 0n), { bits: undefined, errno: -EINVAL }, 'length 0');
  assert.equal(iovaBitmapSetBits(0n, 0x1000n, 12, -1n, 1n), { bits: undefined, errno: -EINVAL }, 'iova not a u64');
});

test('[IOVA-BITMAP-10] [IOVA-BITMAP-6] the windows of a walk are contiguous, in order, within budget, and exactly the range', () => {
  for (const offset of [0, 1, 7, 8, 4095, 4104]) {
    for (const budget of [1, 2, 3, 512]) {
      const iova = 0x4000_0000n;
      const length = 300_000n * 4096n; // 37,500 bytes of bitmap
      const ws = [...iovaBitmapWindows(iova, length, 12, offset, budget)];
      assert.is(ws[0]!.iova, iova);
      assert.is(ws[0]!.pgoff, offset % 4096);
      let next = iova;
      let byte = 0;
      for (const w of ws) {
        assert.is(w.iova, next, `offset ${offset} budget ${budget}: contiguous`);
        assert.is(w.firstByte, byte);
        assert.ok(w.pages >= 1 && w.pages <= budget);
        assert.is(w.pgoff, (offset + w.firstByte) % 4096);
        next = w.iova + w.length;
        byte += w.bytes;
      }
      assert.is(next, iova + length, `offset ${offset} budget ${budget}: ends at the end of the range`);
      assert.is(byte, 37_500);
      if (budget === 512) assert.is(ws.length, 1, '37,500 bytes fit one 2 MiB window');
      if (budget === 1 && offset === 4095) assert.is(ws[0]!.bytes, 1, 'one byte, then whole pages');
    }
  }
});

test('[IOVA-BITMAP-10] at 2^63 per bit the one window stands for the whole range; a bad offset throws', () => {
  assert.equal([...iovaBitmapWindows(0n, U64_MAX, 63, 5)], [{ iova: 0n, length: U64_MAX, firstByte: 0, bytes: 1, pgoff: 5, pages: 1 }]);
  assert.throws(
    () => [...iovaBitmapWindows(0n, 4096n, 12, -1)],
    (e: unknown) => e instanceof IovaBitmapArgumentError && e.field === 'offset',
  );
});

test.run();
