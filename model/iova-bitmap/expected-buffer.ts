// What the user's memory must hold while an IOVA bitmap records into it: the bitmap's bits
// as the rules set them (spec/iova-bitmap/rules.ts iovaBitmapSetBits: every page a
// recording touches, none other), bits a failed recording may or may not have set, the
// bitmap's bytes past its last bit untouched (zero), and every byte outside the bitmap as
// the kit filled it (no STRAY WRITE); every access to a pinned page of the buffer, at most
// the pin budget pinned at once.
//
// Requirements: IOVA-BITMAP-2, IOVA-BITMAP-6..9.
// Sources: Linux v6.12.117 drivers/iommu/iommufd/iova_bitmap.c (iova_bitmap_set,
//          iova_bitmap_get, iova_bitmap_put); Linux fixes a4ab7dedaee0 "iommufd/iova_bitmap:
//          Bounds check mapped::pages access", 2780025e01e2 "Handle recording beyond the
//          mapped pages", f38044e5ef58 "vfio/iova_bitmap: Fix PAGE_SIZE unaligned bitmaps".
import { iovaBitmapPages, iovaBitmapPgshift } from '../../spec/iova-bitmap/index-math.ts';
import { Violation } from '../violation.ts';

/** The byte the kit fills the user's memory with outside the bitmap. */
export const GUARD_BYTE = 0xa5;

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

/** The user's memory as the kit keeps it: its bytes, the accesses it refused to count as the window's, the most pages pinned at once. */
export interface ObservedBuffer {
  readonly bytes: Uint8Array;
  readonly strayWrites: readonly string[];
  readonly maxPinned: number;
}

/** Where the bitmap lies and what it stands for: the arguments of iova_bitmap_alloc. */
export interface BitmapPlacement {
  readonly length: bigint;
  readonly pageSize: bigint;
  /** Byte offset of the bitmap's first byte in the user's memory. */
  readonly offset: number;
  readonly maxPinnedPages: number;
}

/** Bits of the bitmap of a valid allocation: one per page of [iova, iova + length) (IOVA-BITMAP-4). */
export function bitmapBits(p: Pick<BitmapPlacement, 'length' | 'pageSize'>): number {
  return Number(iovaBitmapPages(p.length, iovaBitmapPgshift(p.pageSize)));
}

/** The spec's bitmap bytes: `want` the bits that must be set, `either` the bits that may be set or not. */
export class ExpectedBitmap {
  readonly want: Uint8Array;
  readonly either: Uint8Array;

  constructor(bits: number) {
    this.want = new Uint8Array(Math.ceil(bits / 8));
    this.either = new Uint8Array(Math.ceil(bits / 8));
  }

  /** A recording set bits [first, last] (`surely`), or may have (it failed with -EFAULT part way). */
  recorded(first: number, last: number, surely: boolean): void {
    setRange(surely ? this.want : this.either, first, last);
  }

  /**
   * Every byte of `buf` against the spec: no stray access and the pin budget kept
   * (IOVA-BITMAP-6, -7, -9), the bitmap's bytes as expected (IOVA-BITMAP-2, -7, -8: a
   * missing bit is a loss, an extra one a false dirty), the guard pattern elsewhere
   * (IOVA-BITMAP-9). `what` names the step for the violation; `bitRules` the rules a wrong
   * bitmap byte fails (default: every rule of the bits; a step names those its recording
   * could fail: IOVA-BITMAP-7 only across a user page, -8 only across a window).
   */
  check(buf: ObservedBuffer, p: BitmapPlacement, what: string, bitRules: readonly string[] = ['IOVA-BITMAP-2', 'IOVA-BITMAP-7', 'IOVA-BITMAP-8']): void {
    if (buf.strayWrites.length > 0) throw new Violation('spec', ['IOVA-BITMAP-6', 'IOVA-BITMAP-7', 'IOVA-BITMAP-9'], `${what}: no STRAY WRITE: every access lands on a pinned page of the user buffer`, buf.strayWrites[0]!);
    if (buf.maxPinned > p.maxPinnedPages) throw new Violation('spec', ['IOVA-BITMAP-6'], `${what}: at most ${p.maxPinnedPages} user pages pinned at once`, `${buf.maxPinned} pinned`);
    const npagesBytes = this.want.length;
    const { bytes } = buf;
    for (let i = 0; i < bytes.length; i++) {
      const inBitmap = i >= p.offset && i < p.offset + npagesBytes;
      // The bitmap's bytes start zeroed, everything else holds the guard pattern.
      const want = inBitmap ? this.want[i - p.offset]! : GUARD_BYTE;
      const either = inBitmap ? this.either[i - p.offset]! & ~want : 0;
      if ((bytes[i]! & ~either) !== want) {
        const missing = inBitmap && (want & ~bytes[i]!) !== 0;
        const kind = !inBitmap ? 'spec' : missing ? 'loss' : 'precision';
        const req = !inBitmap ? ['IOVA-BITMAP-9'] : [...bitRules];
        throw new Violation(
          kind,
          req,
          `${what}: user byte ${i}${inBitmap ? ` (bitmap byte ${i - p.offset})` : ' (outside the bitmap: a STRAY WRITE changed it)'} = ${hex(want)}${either === 0 ? '' : ` (bits ${hex(either)} either way)`}`,
          hex(bytes[i]!),
        );
      }
    }
  }
}

/** Sets bits [first, last] in `bytes`. */
function setRange(bytes: Uint8Array, first: number, last: number): void {
  for (let b = first; b <= last; ) {
    if ((b & 7) === 0 && last - b >= 7) {
      const end = Math.min((last + 1) >> 3, bytes.length);
      bytes.fill(0xff, b >> 3, end);
      b = end * 8;
      continue;
    }
    bytes[b >> 3]! |= 1 << (b & 7);
    b++;
  }
}
