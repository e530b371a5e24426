// The IOVA bitmap window, in the manner of Linux drivers/iommu/iommufd/iova_bitmap.c: the
// kernel records dirty IOVA ranges straight into the user's bitmap without mapping all of
// it, pinning at most `maxPinnedPages` (512) user pages of bitmap at a time and moving
// that window as recordings need. Bit n of the bitmap is the page iova + (n << pgshift):
// bit n % 64 of u64 word n / 64, little-endian, i.e. bit n % 8 of byte n / 8.
//
// The bitmap may start at any byte of user memory. Recordings write whole bytes where a
// range covers them (one fill per pinned page), and single bytes only at the ragged ends.
// Outcomes are data: alloc returns the bitmap or {errno, message}; set and for_each
// return 0 or a negative errno and keep the first error's message in `error`.
import { EFAULT, EINVAL, EOVERFLOW } from '../errno.ts';
import { USER_PAGE_SIZE, type UserBuffer } from './user-buffer.ts';

/** PAGE_SIZE / sizeof(struct page *): the pointers one page holds. */
export const IOVA_BITMAP_MAX_PINNED_PAGES = 512;
const BITS_PER_PAGE = USER_PAGE_SIZE * 8;
const U64_MAX = (1n << 64n) - 1n;
const MIN_PAGE_SIZE = 1n << 12n;
const MAX_PAGE_SIZE = 1n << 63n;

export interface IovaBitmapError {
  /** A negative errno. */
  readonly errno: number;
  readonly message: string;
}

export interface IovaBitmapOptions {
  /** Most user pages pinned at once (default 512). */
  readonly maxPinnedPages?: number;
  /** Bytes the caller says the bitmap has (VFIO's bitmap.size); by default the rest of the buffer. */
  readonly bitmapSize?: number;
  /**
   * How set behaves: 'hardened' (default) checks its range, records only the part inside
   * the bitmap and answers 0 or a negative errno; 'linux-v6.18' is Linux v6.18's
   * iova_bitmap_set: no checks, no result (always 0), no clipping at the range's end (bits
   * are set up to the end of the pinned pages), a start outside the range or a failed pin
   * silently records nothing more. alloc's checks are the same in both.
   */
  readonly semantics?: IovaBitmapSemantics;
}

export type IovaBitmapSemantics = 'hardened' | 'linux-v6.18';

/** Called per window with the IOVA range it covers; returns 0 or a negative errno that stops the walk. */
export type IovaBitmapFn = (bitmap: IovaBitmap, iova: bigint, length: bigint) => number;

const hex = (v: bigint | number) => `0x${v.toString(16)}`;
/** A moveWindow result that ends a recording without an error (only a faulty override returns it). */
export const WINDOW_STOP = 1;
const isU64 = (v: unknown): v is bigint => typeof v === 'bigint' && v >= 0n && v <= U64_MAX;

export class IovaBitmap {
  /** First error since alloc or since the current iovaBitmapForEach started. */
  error: IovaBitmapError | undefined = undefined;
  /** Times the window was pinned (its first pin included). */
  windowMoves = 0;

  private readonly shift: bigint;
  /** Bytes of bitmap holding bits of the range: ceil(npages / 8). */
  private readonly totalBytes: number;
  // The window: bitmap bytes [mappedByte, mappedByte + mappedBytes), on user pages
  // [mappedPage, mappedPage + mappedPages), the first byte pgoff bytes into the first page.
  private mappedByte = 0;
  private mappedBytes = 0;
  private mappedPage = 0;
  private mappedPages = 0;
  private pgoff = 0;

  /** Use iovaBitmapAlloc, which checks the arguments. */
  constructor(
    readonly iova: bigint,
    readonly length: bigint,
    readonly pgshift: number,
    protected readonly buffer: UserBuffer,
    protected readonly offset: number,
    readonly maxPinnedPages: number,
    readonly semantics: IovaBitmapSemantics = 'hardened',
  ) {
    this.shift = BigInt(pgshift);
    const pages = ((length - 1n) >> this.shift) + 1n;
    this.totalBytes = Number((pages + 7n) / 8n);
  }

  /** User pages pinned by the window now. */
  get pinnedPages(): number {
    return this.mappedPages;
  }

  private fail(errno: number, message: string): number {
    this.error ??= { errno: -errno, message };
    return -errno;
  }

  /** Pins the window whose first bitmap byte is `byte` (iova_bitmap_get), after unpinning the old one. */
  private get(byte: number): number {
    this.put();
    // 1. Where the byte lies in user memory: its page and the offset in it (pgoff).
    const addr = this.offset + byte;
    const first = Math.floor(addr / USER_PAGE_SIZE);
    const pgoff = addr - first * USER_PAGE_SIZE;
    // 2. Pin the pages holding the rest of the bitmap, at most the budget.
    const remaining = this.totalBytes - byte;
    const pages = Math.min(Math.ceil((pgoff + remaining) / USER_PAGE_SIZE), this.maxPinnedPages);
    for (let i = 0; i < pages; i++) {
      if (!this.buffer.pin(first + i)) {
        for (let j = 0; j < i; j++) this.buffer.unpin(first + j);
        return this.fail(EFAULT, `bitmap byte ${byte} onwards: user page ${first + i} cannot be pinned`);
      }
    }
    // 3. The window covers the pinned bytes from pgoff on, or what is left of the bitmap.
    this.mappedByte = byte;
    this.mappedBytes = Math.min(pages * USER_PAGE_SIZE - pgoff, remaining);
    this.mappedPage = first;
    this.mappedPages = pages;
    this.pgoff = pgoff;
    this.windowMoves++;
    return 0;
  }

  /** Unpins the window (iova_bitmap_put). */
  put(): void {
    for (let i = 0; i < this.mappedPages; i++) this.buffer.unpin(this.mappedPage + i);
    this.mappedPages = 0;
  }

  /** See iovaBitmapSet. */
  set(iova: bigint, length: bigint): number {
    if (this.semantics === 'linux-v6.18') {
      // Linux's iova_bitmap_set is void: 0 stands for "no result", whatever happened.
      this.setLinux(iova, length);
      return 0;
    }
    // 1. A length that is 0 or not a u64 records nothing.
    if (!isU64(iova) || !isU64(length) || length === 0n) return this.fail(EINVAL, `iova_bitmap_set(${String(iova)}, ${String(length)}): iova and length must be u64 values, length not 0`);
    // 2. Cut the range to the bitmap's; what lies outside is an error, never a write.
    const end = this.iova + this.length;
    const setEnd = iova + length;
    const start = iova > this.iova ? iova : this.iova;
    const stop = setEnd < end ? setEnd : end;
    const outside = iova < this.iova || setEnd > end;
    const range = `[${hex(iova)}, ${hex(setEnd)})`;
    const mine = `[${hex(this.iova)}, ${hex(end)})`;
    if (start >= stop) return this.fail(EINVAL, `iova_bitmap_set ${range} lies outside the bitmap's range ${mine}`);
    // 3. The bits of the first and last page touched.
    let bit = this.bitIndex(start - this.iova);
    const last = this.lastBit(stop);
    while (bit <= last) {
      // 4. A bit outside the window moves the window there first.
      const windowBit = this.mappedByte * 8;
      if (this.mappedPages === 0 || bit < windowBit || bit >= windowBit + this.mappedBytes * 8) {
        const ret = this.moveWindow(bit);
        if (ret === WINDOW_STOP) break;
        if (ret !== 0) return ret;
        continue;
      }
      // 5. Its place among the pinned pages: the first page starts pgoff bytes in, the
      //    next ones at offset 0. Write up to the end of that page, of the range or of the window.
      const pos = this.windowPosition(bit, windowBit);
      const page = Math.floor(pos / BITS_PER_PAGE);
      const inPage = pos - page * BITS_PER_PAGE;
      const count = Math.min(BITS_PER_PAGE - inPage, last - bit + 1, windowBit + this.mappedBytes * 8 - bit);
      this.setBits(this.mappedPage + page, inPage, count);
      bit += count;
    }
    return outside ? this.fail(EINVAL, `iova_bitmap_set ${range} reaches outside the bitmap's range ${mine}; only the part inside was recorded`) : 0;
  }

  /**
   * Linux v6.18 drivers/iommu/iommufd/iova_bitmap.c iova_bitmap_set, in unsigned long
   * arithmetic: bits cur_bit..last_bit of [iova, iova + length - 1], written over the
   * pinned pages to their end (not clipped at the bitmap's last bit); a bit past them
   * moves the window (iova_bitmap_advance_to), which ends the recording silently when its
   * byte is past the bitmap (-EINVAL) or a pin fails (-EFAULT).
   */
  private setLinux(iova: bigint, length: bigint): void {
    let cur = ((iova - this.iova) & U64_MAX) >> this.shift;
    const last = ((iova + length - 1n - this.iova) & U64_MAX) >> this.shift;
    while (cur <= last) {
      const windowBit = BigInt(this.mappedByte * 8);
      const pinnedBits = BigInt(this.mappedPages * BITS_PER_PAGE - this.pgoff * 8);
      if (this.mappedPages === 0 || cur < windowBit || cur >= windowBit + pinnedBits) {
        if (cur >> 3n >= BigInt(this.totalBytes)) return;
        if (this.get(Number(cur >> 3n)) !== 0) return;
        continue;
      }
      const pos = this.pgoff * 8 + Number(cur - windowBit);
      const page = Math.floor(pos / BITS_PER_PAGE);
      const inPage = pos - page * BITS_PER_PAGE;
      const left = last - cur + 1n;
      const count = Math.min(BITS_PER_PAGE - inPage, left > BigInt(BITS_PER_PAGE) ? BITS_PER_PAGE : Number(left));
      this.setBits(this.mappedPage + page, inPage, count);
      cur += BigInt(count);
    }
  }

  /** IOVA-BITMAP-3: the bit of byte offset `offset` from the base: (offset >> pgshift), never offset / (64 * page_size). */
  protected bitIndex(offset: bigint): number {
    return Number(offset >> this.shift);
  }

  /** IOVA-BITMAP-2: the bit of the page holding the last byte, stop - 1: a range ending inside a page sets that page's bit. */
  protected lastBit(stop: bigint): number {
    return this.bitIndex(stop - 1n - this.iova);
  }

  /** IOVA-BITMAP-8: a bit outside the window moves the window to it, so a range reaching past the window is finished, not dropped. */
  protected moveWindow(bit: number): number {
    return this.get(Math.floor(bit / 8));
  }

  /** IOVA-BITMAP-7: a window bit's position in its pinned pages, counted from the first page's start: pgoff bytes in. */
  protected windowPosition(bit: number, windowBit: number): number {
    return this.pgoff * 8 + (bit - windowBit);
  }

  /** IOVA-BITMAP-10: the walk's next window starts at the byte after this one's (`bytes` from `byte`), whatever the callback recorded past it. */
  protected nextWindowByte(byte: number, bytes: number): number {
    return byte + bytes;
  }

  /** Sets `count` bits from bit `bit` of a pinned page: ragged ends a byte at a time, whole bytes in one fill. */
  private setBits(page: number, bit: number, count: number): void {
    let byte = bit >>> 3;
    const lead = bit & 7;
    if (lead !== 0) {
      const take = Math.min(8 - lead, count);
      this.buffer.orByte(page, byte, ((1 << take) - 1) << lead);
      count -= take;
      byte++;
    }
    const whole = count >>> 3;
    if (whole > 0) {
      this.buffer.fillBytes(page, byte, byte + whole, 0xff);
      byte += whole;
    }
    const tail = count & 7;
    if (tail > 0) this.buffer.orByte(page, byte, (1 << tail) - 1);
  }

  /** See iovaBitmapForEach. */
  forEach(fn: IovaBitmapFn): number {
    this.error = undefined;
    let ret = 0;
    for (let byte = 0; byte < this.totalBytes; ) {
      ret = this.get(byte);
      if (ret !== 0) break;
      // The window's IOVA range; computed before fn, whose recordings may move the window.
      const bytes = this.mappedBytes;
      const iova = this.iova + (BigInt(byte * 8) << this.shift);
      const covered = BigInt(bytes * 8) << this.shift;
      const left = this.iova + this.length - iova;
      ret = fn(this, iova, covered < left ? covered : left);
      if (ret !== 0) break;
      byte = this.nextWindowByte(byte, bytes);
    }
    this.put();
    // `fn` may have set `error` through iovaBitmapSet; the compiler cannot see that.
    const error = this.error as IovaBitmapError | undefined;
    return ret !== 0 ? ret : (error?.errno ?? 0);
  }
}

/**
 * iova_bitmap_alloc: a bitmap for [iova, iova + length) at `pageSize` per bit, stored
 * `offset` bytes into `buffer` (any alignment). Pins nothing yet. Refuses, in this order:
 *   1. pageSize not a power of two from 4 KiB to 2^63: -EINVAL;
 *   2. iova or length not a u64: -EINVAL; length 0: -EINVAL;
 *   3. iova + length - 1 past 2^64 - 1: -EOVERFLOW;
 *   4. iova or length not a multiple of pageSize: -EINVAL;
 *   5. offset outside the buffer, or a bitmap smaller than ALIGN(npages, 64) / 8 bytes: -EINVAL.
 * A maxPinnedPages below 1 is a configuration error and throws.
 */
export function iovaBitmapAlloc(iova: bigint, length: bigint, pageSize: bigint, buffer: UserBuffer, offset: number, options: IovaBitmapOptions = {}): IovaBitmap | IovaBitmapError {
  const maxPinned = options.maxPinnedPages ?? IOVA_BITMAP_MAX_PINNED_PAGES;
  if (!Number.isSafeInteger(maxPinned) || maxPinned < 1) throw new RangeError(`maxPinnedPages must be a positive integer, got ${maxPinned}`);
  const refuse = (errno: number, message: string): IovaBitmapError => ({ errno: -errno, message });
  // 1. page_size
  if (!isU64(pageSize) || pageSize < MIN_PAGE_SIZE || pageSize > MAX_PAGE_SIZE || (pageSize & (pageSize - 1n)) !== 0n) {
    return refuse(EINVAL, `page_size: must be a power of two from 4096 to 2^63, got ${typeof pageSize === 'bigint' ? hex(pageSize) : String(pageSize)}`);
  }
  let pgshift = 0;
  while (pageSize >> BigInt(pgshift) !== 1n) pgshift++;
  // 2. u64 values, length 0
  if (!isU64(iova)) return refuse(EINVAL, `iova: must be a u64, got ${String(iova)}`);
  if (!isU64(length)) return refuse(EINVAL, `length: must be a u64, got ${String(length)}`);
  if (length === 0n) return refuse(EINVAL, 'length: must not be 0');
  // 3. the last byte must be a u64
  if (iova + length - 1n > U64_MAX) return refuse(EOVERFLOW, `length: iova ${hex(iova)} + length ${hex(length)} wraps past 2^64`);
  // 4. alignment
  if ((iova & (pageSize - 1n)) !== 0n) return refuse(EINVAL, `iova: ${hex(iova)} is not a multiple of page_size ${hex(pageSize)}`);
  if ((length & (pageSize - 1n)) !== 0n) return refuse(EINVAL, `length: ${hex(length)} is not a multiple of page_size ${hex(pageSize)}`);
  // 5. the bitmap
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > buffer.size) return refuse(EINVAL, `data: offset ${offset} is outside the ${buffer.size}-byte buffer`);
  const pages = ((length - 1n) >> BigInt(pgshift)) + 1n;
  const need = Number(((pages + 63n) / 64n) * 8n);
  const have = options.bitmapSize ?? buffer.size - offset;
  if (!(have >= need)) return refuse(EINVAL, `bitmap.size: ${need} bytes needed for ${hex(length)} bytes at page_size ${hex(pageSize)}, ${have} given`);
  return new IovaBitmap(iova, length, pgshift, buffer, offset, maxPinned, options.semantics);
}

/** iova_bitmap_free: unpins whatever the window holds. */
export function iovaBitmapFree(bitmap: IovaBitmap): void {
  bitmap.put();
}

/**
 * iova_bitmap_set: records [iova, iova + length) as dirty: sets the bit of every page it
 * touches (a partial page counts), moving the window as needed, so a range that crosses
 * pinned pages or windows is recorded whole. The part outside the bitmap's range is not
 * written and makes the result -EINVAL (the part inside is still recorded). -EFAULT if a
 * page of the bitmap cannot be pinned. Bits are only ever set.
 */
export function iovaBitmapSet(bitmap: IovaBitmap, iova: bigint, length: bigint): number {
  return bitmap.set(iova, length);
}

/**
 * iova_bitmap_for_each: walks the whole range window by window, in order: pins a window,
 * calls `fn` with the IOVA range it covers, and goes on with the next bitmap byte after
 * it. Stops at the first non-zero result of `fn` and returns it; otherwise returns the
 * first error of a recording made during the walk, or 0. Nothing is pinned afterwards.
 */
export function iovaBitmapForEach(bitmap: IovaBitmap, fn: IovaBitmapFn): number {
  return bitmap.forEach(fn);
}
