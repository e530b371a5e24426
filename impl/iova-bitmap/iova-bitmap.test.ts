// The reference IOVA bitmap window against the spec (spec/iova-bitmap/): argument checks,
// bit layout, user bitmaps at any offset, windows over several pin budgets, recordings
// across pinned pages and windows, nothing written outside the bitmap; then a model-based
// property comparing every byte of user memory with a set of dirty pages.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { iovaBitmapBytes, U64_MAX } from '../../spec/iova-bitmap/index-math.ts';
import { iovaBitmapCheckArgs, iovaBitmapSetBits, iovaBitmapWindows } from '../../spec/iova-bitmap/rules.ts';
import { EFAULT, EINVAL, EOVERFLOW } from '../errno.ts';
import { IovaBitmap, iovaBitmapAlloc, iovaBitmapForEach, iovaBitmapFree, iovaBitmapSet, type IovaBitmapOptions } from './iova-bitmap.ts';
import { UserBuffer, UserBufferError } from './user-buffer.ts';

const KiB4 = 4096n;
const MiB2 = 0x20_0000n;
const GUARD = 0xa5;
const GUARD_BYTES = 64;
const NUM_RUNS = Number(process.env.IOVA_BITMAP_RUNS ?? 200);

interface Setup {
  readonly buf: UserBuffer;
  readonly bm: IovaBitmap;
  readonly offset: number;
  /** Bytes of bitmap the caller provides: ALIGN(npages, 64) / 8. */
  readonly need: number;
}

/** A bitmap `offset` bytes into user memory that is guard bytes everywhere else (and GUARD_BYTES past its end). */
function setup(iova: bigint, length: bigint, pageSize: bigint, offset: number, options: IovaBitmapOptions = {}): Setup {
  const need = iovaBitmapBytes(length, Number(pageSize.toString(2).length - 1));
  const buf = new UserBuffer(offset + need + GUARD_BYTES, { fill: GUARD });
  buf.bytes.fill(0, offset, offset + need);
  const bm = iovaBitmapAlloc(iova, length, pageSize, buf, offset, options);
  if (!(bm instanceof IovaBitmap)) throw new Error(`alloc failed: ${bm.message}`);
  return { buf, bm, offset, need };
}

/** The set bits of the bitmap, in order. */
function setBits(s: Setup): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.need; i++) {
    const b = s.buf.bytes[s.offset + i]!;
    for (let bit = 0; bit < 8; bit++) if (b & (1 << bit)) out.push(i * 8 + bit);
  }
  return out;
}

/** Every byte outside the bitmap still holds the guard value. */
function guardsIntact(s: Setup): boolean {
  const b = s.buf.bytes;
  for (let i = 0; i < b.length; i++) if ((i < s.offset || i >= s.offset + s.need) && b[i] !== GUARD) return false;
  return true;
}

const range = (first: number, last: number) => Array.from({ length: last - first + 1 }, (_, i) => first + i);

test('[IOVA-BITMAP-2] bit n is bit n % 64 of little-endian u64 word n / 64: page 65 is word 1 bit 1, byte 8 bit 1', () => {
  const s = setup(0x10_0000n, 128n * KiB4, KiB4, 0);
  assert.is(iovaBitmapSet(s.bm, 0x10_0000n + 65n * KiB4, KiB4), 0);
  assert.is(s.buf.bytes[8], 0b10);
  assert.is(new DataView(s.buf.bytes.buffer).getBigUint64(8, true), 1n << 1n);
  assert.equal(setBits(s), [65]);
  assert.is(iovaBitmapSet(s.bm, 0x10_0000n + 3n * KiB4 + 4095n, 2n), 0, 'two bytes across pages 3 and 4');
  assert.equal(setBits(s), [3, 4, 65]);
  assert.ok(guardsIntact(s));
});

test('[IOVA-BITMAP-2] a covered range is written whole bytes at a time: one fill per pinned page, single bytes only at the ends', () => {
  const s = setup(0n, 1024n * KiB4, KiB4, 0);
  const writes = () => s.buf.writeCalls;
  iovaBitmapSet(s.bm, 0n, 512n * KiB4);
  assert.is(writes(), 1, '512 aligned pages: one fill of 64 bytes');
  iovaBitmapSet(s.bm, 515n * KiB4, 18n * KiB4); // bits 515..532: 5 bits, a byte, 5 bits
  assert.is(writes(), 4);
  iovaBitmapSet(s.bm, 600n * KiB4, KiB4);
  assert.is(writes(), 5);
  assert.equal(setBits(s), [...range(0, 511), ...range(515, 532), 600]);
});

for (const offset of [0, 1, 7, 8, 4095, 4104]) {
  test(`[IOVA-BITMAP-6] [IOVA-BITMAP-7] user bitmap at offset ${offset}: first, last, crossing and all pages recorded, nothing else touched`, () => {
    const pages = 70_000; // 8,750 bytes of bitmap: three user pages at most offsets
    const s = setup(0x8000_0000n, BigInt(pages) * KiB4, KiB4, offset, { maxPinnedPages: 2 });
    const at = (page: number) => 0x8000_0000n + BigInt(page) * KiB4;
    const crossing = (4096 - (offset % 4096)) * 8; // first bit on the second user page
    assert.is(iovaBitmapSet(s.bm, at(0), KiB4), 0);
    assert.is(iovaBitmapSet(s.bm, at(pages - 1), KiB4), 0);
    assert.is(iovaBitmapSet(s.bm, at(crossing - 3), 6n * KiB4), 0);
    assert.equal(setBits(s), [0, ...range(crossing - 3, crossing + 2), pages - 1]);
    assert.ok(guardsIntact(s));
    assert.is(iovaBitmapSet(s.bm, at(0), BigInt(pages) * KiB4), 0);
    assert.equal(setBits(s), range(0, pages - 1));
    assert.ok(guardsIntact(s), 'the padding of the last u64 word and the bytes after it are untouched');
    assert.ok(s.buf.maxPinned <= 2);
    iovaBitmapFree(s.bm);
    assert.is(s.buf.pinned, 0);
  });
}

test('[IOVA-BITMAP-7] a recording crossing a pinned page goes on at offset 0 of the next page, not pgoff', () => {
  const s = setup(0n, 100_000n * KiB4, KiB4, 4095, { maxPinnedPages: 3 });
  assert.is(iovaBitmapSet(s.bm, 0n, 16n * KiB4), 0); // 8 bits on the first page's last byte, 8 on the next page's first
  assert.is(s.buf.bytes[4095], 0xff);
  assert.is(s.buf.bytes[4096], 0xff);
  assert.is(s.buf.bytes[4097], 0);
  assert.is(s.bm.pinnedPages, 3, 'the window holds the budget: the pages from the first bitmap byte on');
  assert.ok(guardsIntact(s));
});

test('[IOVA-BITMAP-6] [IOVA-BITMAP-10] a walk over several pin budgets visits the spec windows in order, pinning at most the budget', () => {
  for (const offset of [0, 1, 7, 8, 4095, 4104]) {
    for (const budget of [1, 2, 3]) {
      const iova = 0x1_0000_0000n;
      const length = 250_000n * KiB4;
      const s = setup(iova, length, KiB4, offset, { maxPinnedPages: budget });
      const seen: [bigint, bigint][] = [];
      const ret = iovaBitmapForEach(s.bm, (bm, wIova, wLength) => {
        assert.ok(bm.pinnedPages >= 1 && bm.pinnedPages <= budget);
        seen.push([wIova, wLength]);
        return iovaBitmapSet(bm, wIova, wLength);
      });
      assert.is(ret, 0);
      assert.equal(
        seen,
        [...iovaBitmapWindows(iova, length, 12, offset, budget)].map((w) => [w.iova, w.length]),
        `offset ${offset} budget ${budget}`,
      );
      assert.ok(seen.length >= Math.floor(31_250 / (4096 * budget)), 'several windows');
      assert.ok(s.buf.maxPinned <= budget);
      assert.is(s.buf.pinned, 0, 'nothing pinned after the walk');
      assert.is(setBits(s).length, 250_000);
      assert.ok(guardsIntact(s));
    }
  }
});

test('[IOVA-BITMAP-8] a huge page reported in the first window across its edge is finished after the window moves', () => {
  // Budget 1 at offset 4095: the first window is one byte (8 pages of 4 KiB); a 2 MiB page
  // (512 bits, 64 bytes) reported there reaches 63 bytes into the next window.
  const s = setup(0x4000_0000n, 64n * MiB2, KiB4, 4095, { maxPinnedPages: 1 });
  let calls = 0;
  const ret = iovaBitmapForEach(s.bm, (bm, wIova) => {
    if (calls++ === 0) {
      assert.is(wIova, 0x4000_0000n);
      assert.is(iovaBitmapSet(bm, 0x4000_0000n + MiB2, MiB2), 0, 'a block starting past the first window');
      return iovaBitmapSet(bm, 0x4000_0000n, MiB2);
    }
    return 0;
  });
  assert.is(ret, 0);
  assert.equal(setBits(s), range(0, 1023));
  assert.ok(calls > 1, 'the walk still visits the later windows');
  assert.is(s.buf.maxPinned, 1);
  assert.ok(guardsIntact(s));
});

test('[IOVA-BITMAP-8] one recording over 1 GiB at budget 2 moves the window over every page of the bitmap', () => {
  const s = setup(0n, 1n << 30n, KiB4, 7, { maxPinnedPages: 2 });
  assert.is(iovaBitmapSet(s.bm, 0n, 1n << 30n), 0);
  assert.is(setBits(s).length, 262_144);
  assert.is(s.bm.windowMoves, 5, '32 KiB of bitmap from offset 7: windows of 8185, 8192, 8192, 8192 and 7 bytes');
  assert.ok(s.buf.maxPinned <= 2);
  assert.ok(guardsIntact(s));
});

test('[IOVA-BITMAP-1] [IOVA-BITMAP-3] page size 2^63: one bit per half of the address space, no division by zero', () => {
  const P63 = 1n << 63n;
  const low = setup(0n, P63, P63, 5);
  assert.is(iovaBitmapSet(low.bm, 0n, 1n), 0);
  assert.is(iovaBitmapSet(low.bm, P63 - 1n, 1n), 0);
  assert.equal(setBits(low), [0]);
  assert.is(iovaBitmapSet(low.bm, P63, 1n), -EINVAL, 'the top half is past this bitmap');
  const high = setup(P63, P63, P63, 0);
  assert.is(iovaBitmapSet(high.bm, U64_MAX, 1n), 0);
  assert.equal(setBits(high), [0]);
  const walked: bigint[] = [];
  assert.is(
    iovaBitmapForEach(high.bm, (_bm, iova, length) => {
      walked.push(iova, length);
      return 0;
    }),
    0,
  );
  assert.equal(walked, [P63, P63], 'one window for the whole range');
  assert.ok(guardsIntact(low) && guardsIntact(high));
  const both = iovaBitmapAlloc(0n, U64_MAX, P63, low.buf, 0);
  assert.is((both as { errno: number }).errno, -EINVAL, '2^64 - 1 bytes is not a multiple of 2^63');
});

test('[IOVA-BITMAP-9] an index past the bitmap is -EINVAL and never written; the part inside is still recorded', () => {
  const s = setup(0x20_0000n, 3n * KiB4, KiB4, 4093); // 3 pages: bits 0..2 of an 8-byte bitmap across two user pages
  const before = s.buf.bytes.slice();
  assert.is(iovaBitmapSet(s.bm, 0x20_0000n + 3n * KiB4, KiB4), -EINVAL, 'the page right after the range');
  assert.is(iovaBitmapSet(s.bm, 0x20_0000n + 100n * KiB4, 64n * KiB4), -EINVAL, 'far past it');
  assert.is(iovaBitmapSet(s.bm, 0x1f_f000n, KiB4), -EINVAL, 'the page before');
  assert.equal(s.buf.bytes, before, 'nothing written');
  assert.match(s.bm.error!.message, /\[0x200000, 0x203000\)/);
  assert.is(iovaBitmapSet(s.bm, 0n, 100n * MiB2), -EINVAL, 'a block covering the whole range and far beyond');
  assert.equal(setBits(s), [0, 1, 2]);
  assert.ok(guardsIntact(s), 'bits 3..63 of the word are padding: untouched; so is every byte after the bitmap');
});

test('[IOVA-BITMAP-9] at the top of the address space a recording whose iova + length wraps past 2^64 is cut at the end and reported', () => {
  const s = setup(U64_MAX - 64n * KiB4 + 1n, 64n * KiB4, KiB4, 1);
  assert.is(iovaBitmapSet(s.bm, U64_MAX - KiB4 + 1n, U64_MAX), -EINVAL, 'iova + length wraps past 2^64');
  assert.equal(setBits(s), [63]);
  assert.ok(guardsIntact(s));
});

test('[IOVA-BITMAP-9] a recording with length 0 or a value that is not a u64 records nothing and is -EINVAL', () => {
  const s = setup(0n, 64n * KiB4, KiB4, 0);
  assert.is(iovaBitmapSet(s.bm, 0n, 0n), -EINVAL);
  assert.is(iovaBitmapSet(s.bm, -4096n, 8192n), -EINVAL);
  assert.is(iovaBitmapSet(s.bm, 0n, 1n << 64n), -EINVAL);
  assert.is(iovaBitmapSet(s.bm, 1 as unknown as bigint, 1n), -EINVAL);
  assert.equal(setBits(s), []);
  assert.match(s.bm.error!.message, /length not 0/);
});

test('[IOVA-BITMAP-5] [IOVA-BITMAP-1] [IOVA-BITMAP-4] alloc refuses what the spec refuses, with its errno, naming the field', () => {
  const buf = new UserBuffer(64 * 1024);
  const cases: [iova: bigint, length: bigint, pageSize: bigint, bitmapSize: number, field: string][] = [
    [0n, KiB4, 0n, 8, 'page_size'],
    [0n, KiB4, 2048n, 8, 'page_size'],
    [0n, 3n * KiB4, 3n * KiB4, 8, 'page_size'],
    [0n, KiB4, 1n << 64n, 8, 'page_size'],
    [-1n, KiB4, KiB4, 8, 'iova'],
    [0n, 1n << 64n, KiB4, 8, 'length'],
    [0n, 0n, KiB4, 8, 'length'],
    [U64_MAX - KiB4 + 1n, 2n * KiB4, KiB4, 8, 'length'],
    [0x800n, KiB4, KiB4, 8, 'iova'],
    [0n, 0x1800n, KiB4, 8, 'length'],
    [0n, 65n * KiB4, KiB4, 15, 'bitmap.size'],
    [0n, U64_MAX - KiB4 + 1n, KiB4, 64 * 1024, 'bitmap.size'],
  ];
  for (const [iova, length, pageSize, bitmapSize, field] of cases) {
    const got = iovaBitmapAlloc(iova, length, pageSize, buf, 0, { bitmapSize });
    const want = iovaBitmapCheckArgs({ iova, length, pageSize, bitmapBytes: bitmapSize });
    assert.ok(!(got instanceof IovaBitmap), `${field}: refused`);
    const e = got as { errno: number; message: string };
    assert.is(e.errno, want.errno, `${field}: ${e.message}`);
    assert.ok(e.message.startsWith(`${field}: `), e.message);
  }
  assert.is((iovaBitmapAlloc(U64_MAX - KiB4 + 1n, 2n * KiB4, KiB4, buf, 0) as { errno: number }).errno, -EOVERFLOW);
  assert.is((iovaBitmapAlloc(0n, KiB4, KiB4, buf, 65 * 1024) as { message: string }).message, 'data: offset 66560 is outside the 65536-byte buffer');
  assert.is((iovaBitmapAlloc(0n, 65n * KiB4, KiB4, buf, buf.size - 8) as { errno: number }).errno, -EINVAL, 'the buffer ends before the bitmap does');
  assert.throws(() => iovaBitmapAlloc(0n, KiB4, KiB4, buf, 0, { maxPinnedPages: 0 }), /maxPinnedPages must be a positive integer/);
});

test('[IOVA-BITMAP-5] alloc agrees with the spec on random arguments', () => {
  const buf = new UserBuffer(4096);
  const u64 = fc.oneof(fc.bigInt({ min: 0n, max: U64_MAX }), fc.constantFrom(0n, KiB4, MiB2, 1n << 63n, U64_MAX, U64_MAX - KiB4 + 1n, -1n, 1n << 64n));
  const pageSize = fc.oneof(
    fc.integer({ min: 0, max: 64 }).map((s) => 1n << BigInt(s)),
    fc.bigInt({ min: 0n, max: 1n << 20n }),
    fc.constantFrom(0n, 3n * KiB4),
  );
  fc.assert(
    fc.property(u64, u64, pageSize, fc.integer({ min: 0, max: 4096 }), (iova, length, ps, bitmapSize) => {
      const got = iovaBitmapAlloc(iova, length, ps, buf, 0, { bitmapSize });
      const want = iovaBitmapCheckArgs({ iova, length, pageSize: ps, bitmapBytes: bitmapSize });
      const errno = got instanceof IovaBitmap ? 0 : got.errno;
      if (errno !== want.errno) throw new Error(`alloc(${iova}, ${length}, ${ps}, size ${bitmapSize}): ${errno}, spec ${want.errno}`);
      if (want.errno !== 0 && !(got as { message: string }).message.startsWith(`${(want as { field: string }).field}: `)) throw new Error(`wrong field: ${(got as { message: string }).message}`);
    }),
    { numRuns: 2000 },
  );
});

test('[IOVA-BITMAP-6] a bitmap declared bigger than the user memory behind it fails to pin: -EFAULT, nothing left pinned', () => {
  const buf = new UserBuffer(4096);
  const bm = iovaBitmapAlloc(0n, 65_536n * KiB4, KiB4, buf, 4000, { bitmapSize: 8192, maxPinnedPages: 3 }) as IovaBitmap;
  assert.is(iovaBitmapSet(bm, 0n, KiB4), -EFAULT);
  assert.is(buf.pinned, 0);
  assert.is(bm.error!.errno, -EFAULT);
  assert.match(bm.error!.message, /user page 1 cannot be pinned/);
  assert.is(
    iovaBitmapForEach(bm, () => 0),
    -EFAULT,
  );
});

test('[IOVA-BITMAP-10] the walk stops at the first error of the callback and returns it; a recording error is returned at the end', () => {
  const s = setup(0n, 100_000n * KiB4, KiB4, 0, { maxPinnedPages: 1 });
  let calls = 0;
  assert.is(
    iovaBitmapForEach(s.bm, () => (++calls === 2 ? -EFAULT : 0)),
    -EFAULT,
  );
  assert.is(calls, 2);
  assert.is(s.buf.pinned, 0);
  calls = 0;
  const outside = (bm: IovaBitmap) => {
    if (++calls === 1) assert.is(iovaBitmapSet(bm, 1n << 40n, KiB4), -EINVAL);
    return 0;
  };
  assert.is(iovaBitmapForEach(s.bm, outside), -EINVAL);
  assert.is(calls, 4, 'a recording error does not stop the walk');
  assert.is(
    iovaBitmapForEach(s.bm, () => 0),
    0,
    'each walk starts with no error',
  );
});

test('[IOVA-BITMAP-6] user memory refuses writes to unpinned pages and unbalanced unpins', () => {
  const buf = new UserBuffer(5000, { fill: 1 });
  assert.is(buf.pageCount, 2);
  assert.is(buf.bytes[8191], 1);
  assert.throws(
    () => buf.orByte(0, 0, 1),
    (e: unknown) => e instanceof UserBufferError && /user page 0: written while not pinned/.test(e.message),
  );
  assert.throws(() => buf.unpin(1), /unpinned but not pinned/);
  assert.not.ok(buf.pin(2));
  assert.not.ok(buf.pin(-1));
  assert.ok(buf.pin(0) && buf.pin(0));
  assert.is(buf.pinned, 1);
  buf.unpin(0);
  assert.ok(buf.isPinned(0));
  assert.throws(() => buf.fillBytes(0, 10, 4097, 0xff), /write of bytes \[10, 4097\) is not inside the page/);
  buf.unpin(0);
  assert.is(buf.pinned, 0);
  assert.is(buf.maxPinned, 1);
  assert.throws(() => new UserBuffer(-1), /non-negative integer/);
});

// ---------------------------------------------------------------------------------------
// Model-based property: random page sizes, user-buffer offsets, pin budgets and ranges.
// The model is a set of dirty page indexes plus the spec's outcome of each recording;
// after every operation every byte of user memory must be what the model says: the
// bitmap's bits, and the guard value everywhere else.

interface RangeSpec {
  /** A bit index (negative: before the bitmap), or a distance from the first bit of the bitmap's n-th user page after the first. */
  readonly start: number | { readonly page: number; readonly delta: number };
  readonly bits: number;
  readonly headCut: bigint; // raw: reduced modulo the page size
  readonly tailCut: bigint;
}
type Op = { readonly kind: 'set'; readonly r: RangeSpec } | { readonly kind: 'forEach'; readonly rs: readonly RangeSpec[] };

const rangeArb = fc.record({
  start: fc.oneof(fc.record({ page: fc.integer({ min: 0, max: 4 }), delta: fc.integer({ min: -24, max: 24 }) }), fc.integer({ min: -16, max: 120_000 })),
  bits: fc.oneof(fc.integer({ min: 1, max: 80 }), fc.integer({ min: 1, max: 120_000 })),
  headCut: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: U64_MAX })),
  tailCut: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: U64_MAX })),
});
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: rangeArb.map((r) => ({ kind: 'set' as const, r })) },
  { weight: 1, arbitrary: fc.array(rangeArb, { minLength: 1, maxLength: 4 }).map((rs) => ({ kind: 'forEach' as const, rs })) },
);
const configArb = fc.record({
  pgshift: fc.oneof({ weight: 3, arbitrary: fc.constant(12) }, { weight: 2, arbitrary: fc.integer({ min: 12, max: 63 }) }),
  pages: fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 110_000 })),
  basePick: fc.oneof(fc.constant(0n), fc.constant(U64_MAX), fc.bigInt({ min: 0n, max: U64_MAX })),
  offset: fc.oneof(fc.constantFrom(0, 1, 7, 8, 4095, 4104), fc.integer({ min: 0, max: 8200 })),
  budget: fc.integer({ min: 1, max: 3 }),
});

test('[IOVA-BITMAP-2] [IOVA-BITMAP-6] [IOVA-BITMAP-7] [IOVA-BITMAP-8] [IOVA-BITMAP-9] [IOVA-BITMAP-10] every byte of user memory matches a set of dirty pages, for random sizes, offsets, budgets and ranges', () => {
  fc.assert(
    fc.property(configArb, fc.array(opArb, { minLength: 1, maxLength: 10 }), (cfg, ops) => {
      // The range: `pages` pages (fewer if the address space is smaller), placed by basePick.
      const shift = BigInt(cfg.pgshift);
      const ps = 1n << shift;
      const space = 1n << (64n - shift); // pages in the address space
      const pages = BigInt(cfg.pages) < space - 1n ? BigInt(cfg.pages) : space - 1n;
      const base = (cfg.basePick % (space - pages + 1n)) << shift;
      const length = pages << shift;
      const s = setup(base, length, ps, cfg.offset, { maxPinnedPages: cfg.budget });
      const totalBits = Number(pages);
      const pgoff = cfg.offset % 4096;
      const model = new Set<number>();

      const toIova = (r: RangeSpec): [bigint, bigint] => {
        // Near a user page boundary of the bitmap: where a recording must go on at offset 0 of the next page.
        const start = typeof r.start === 'number' ? r.start : ((r.start.page + 1) * 4096 - pgoff) * 8 + r.start.delta;
        const head = r.headCut % ps;
        const tail = r.tailCut % ps;
        const iova = base + BigInt(start) * ps + head;
        const len = BigInt(r.bits) * ps - head - tail;
        return [iova, len > 0n ? len : 1n];
      };
      const record = (bm: IovaBitmap, r: RangeSpec): number => {
        const [iova, len] = toIova(r);
        const want = iovaBitmapSetBits(base, length, cfg.pgshift, iova, len);
        const got = iovaBitmapSet(bm, iova, len);
        if (got !== want.errno) throw new Error(`iovaBitmapSet(${iova}, ${len}) returned ${got}, spec ${want.errno}`);
        if (want.bits) for (let b = want.bits.first; b <= want.bits.last; b++) model.add(b);
        if (bm.pinnedPages > cfg.budget) throw new Error(`${bm.pinnedPages} pages pinned, budget ${cfg.budget}`);
        return got;
      };
      const compare = (what: string) => {
        const want = new Uint8Array(s.need);
        for (const b of model) want[b >> 3]! |= 1 << (b & 7);
        const bytes = s.buf.bytes;
        for (let i = 0; i < bytes.length; i++) {
          const expected = i >= s.offset && i < s.offset + s.need ? want[i - s.offset]! : GUARD;
          if (bytes[i] !== expected) throw new Error(`${what}: user byte ${i} (bitmap byte ${i - s.offset}) is 0x${bytes[i]!.toString(16)}, model 0x${expected.toString(16)}`);
        }
        if (s.buf.maxPinned > cfg.budget) throw new Error(`${s.buf.maxPinned} pages were pinned at once, budget ${cfg.budget}`);
      };

      ops.forEach((op, n) => {
        if (op.kind === 'set') record(s.bm, op.r);
        else {
          // Each range is recorded in the window holding its first page (whole: it may reach
          // past the window); ranges starting outside the bitmap in the first window.
          const windows = [...iovaBitmapWindows(base, length, cfg.pgshift, cfg.offset, cfg.budget)];
          let k = 0;
          let firstError = 0;
          const ret = iovaBitmapForEach(s.bm, (bm, wIova, wLength) => {
            const w = windows[k]!;
            if (w.iova !== wIova || w.length !== wLength) throw new Error(`window ${k}: [${wIova}, +${wLength}), spec [${w.iova}, +${w.length})`);
            for (const r of op.rs) {
              const [iova] = toIova(r);
              const inside = iova >= wIova && iova - wIova < wLength;
              if (inside || (k === 0 && (iova < base || iova - base >= length))) {
                const e = record(bm, r);
                if (firstError === 0) firstError = e;
              }
            }
            k++;
            return 0;
          });
          if (k !== windows.length) throw new Error(`${k} windows walked, spec ${windows.length}`);
          if (ret !== firstError) throw new Error(`iovaBitmapForEach returned ${ret}, expected ${firstError}`);
          if (s.buf.pinned !== 0) throw new Error('pages left pinned after the walk');
        }
        compare(`after op ${n} (${op.kind})`);
      });
      iovaBitmapFree(s.bm);
      if (s.buf.pinned !== 0) throw new Error('pages left pinned after free');
      return totalBits > 0;
    }),
    { numRuns: NUM_RUNS },
  );
});

test("[IOVA-BITMAP-9] semantics 'linux-v6.18': set answers nothing (0) and does not clip at the range's end: bits up to the pinned page's end, user memory after the bitmap changed", () => {
  const s = setup(0x10_0000n, 10n * KiB4, KiB4, 0, { semantics: 'linux-v6.18' });
  assert.is(iovaBitmapSet(s.bm, 0x10_0000n + 8n * KiB4, 100n * KiB4), 0);
  assert.equal(setBits(s), range(8, 63), 'bits past page 9 of a 10-page range are set');
  assert.equal([...s.buf.bytes.subarray(8, 14)], [0xff, 0xff, 0xff, 0xff, 0xff, GUARD | 0x0f], 'bits 64..107: the 6 bytes after the 8-byte bitmap');
  assert.is(s.buf.bytes[14], GUARD);
  iovaBitmapFree(s.bm);
  assert.is(s.buf.pinned, 0);
});

test("[IOVA-BITMAP-9] semantics 'linux-v6.18': a recording that starts outside the range records nothing and answers 0 (iova_bitmap_advance_to's -EINVAL is dropped)", () => {
  const s = setup(0x10_0000n, 10n * KiB4, KiB4, 0, { semantics: 'linux-v6.18' });
  assert.is(iovaBitmapSet(s.bm, 0x10_0000n - KiB4, 2n * KiB4), 0);
  assert.is(iovaBitmapSet(s.bm, 0x10_0000n + 0x1_0000_0000n, KiB4), 0);
  assert.equal(setBits(s), []);
  assert.ok(guardsIntact(s));
  assert.is(s.bm.error, undefined, 'no error kept: Linux has none to report');
});

test("[IOVA-BITMAP-7] [IOVA-BITMAP-8] semantics 'linux-v6.18': inside the range it records what the hardened set records, across pinned pages and windows", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 4095 }), fc.integer({ min: 0, max: 70_000 }), fc.integer({ min: 1, max: 70_000 }), (offset, from, n) => {
      const pages = 70_000n;
      const first = BigInt(Math.min(from, 69_999));
      const count = BigInt(Math.min(n, 70_000 - Number(first)));
      const a = setup(0n, pages * KiB4, KiB4, offset, { maxPinnedPages: 2 });
      const b = setup(0n, pages * KiB4, KiB4, offset, { maxPinnedPages: 2, semantics: 'linux-v6.18' });
      assert.is(iovaBitmapSet(a.bm, first * KiB4, count * KiB4), 0);
      assert.is(iovaBitmapSet(b.bm, first * KiB4, count * KiB4), 0);
      assert.equal(b.buf.bytes, a.buf.bytes);
      assert.ok(b.buf.maxPinned <= 2);
    }),
    { numRuns: 50 },
  );
});

test.run();
