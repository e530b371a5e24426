// Profile iova-bitmap: the window code writing a user bitmap the kit owns. fast-check
// generates the arguments (page sizes up to 2^63, a bitmap at any byte offset, small pin
// budgets so ranges cross pinned pages and windows) and a sequence of recordings; after
// every step the kit checks every byte of the buffer against the spec's bits
// (spec/iova-bitmap/rules.ts), the guard bytes around the bitmap, the pin budget, and
// that nothing was written while unpinned: the expectation is model/iova-bitmap/
// expected-buffer.ts; this file draws the arguments, drives the adapter and the buffer.
//
// Requirements: IOVA-BITMAP-1..9, BITMAP-1.
import fc from 'fast-check';
import { EFAULT as EFAULT_ERRNO, iovaBitmapCheckArgs, iovaBitmapSetBits } from '../../spec/iova-bitmap/rules.ts';
import { iovaBitmapPgshift } from '../../spec/iova-bitmap/index-math.ts';
import { type IovaBitmapContract, type IovaBitmapContractName, iovaBitmapContracts } from '../../spec/iova-bitmap/contracts.ts';
import { ExpectedBitmap, GUARD_BYTE, bitmapBits } from '../../model/iova-bitmap/expected-buffer.ts';
import { Violation } from '../../model/violation.ts';
import type { IovaBitmapAdapter, IovaBitmapArgs, IovaBitmapInstance, KitUserBuffer } from '../adapters/types.ts';
import type { TraceStep } from './commands.ts';
import { type CallLimits, Undecided, checkErrno, timed } from './limits.ts';
import { inFlight } from './crash.ts';
import type { ProfileResult, RunOptions } from './run-profile.ts';
import { runScenarioProfile } from './scenario-profile.ts';

const PAGE = 4096;
const U64_MAX = (1n << 64n) - 1n;

/** The user's memory as the kit keeps it: records pins and every write, never refuses one. */
export class KitBuffer implements KitUserBuffer {
  readonly bytes: Uint8Array;
  private readonly pins: Uint32Array;
  pinned = 0;
  maxPinned = 0;
  /** Stray accesses: writes (and reads) outside the buffer or to pages that were not pinned at the time (memory the window did not own). */
  readonly strayWrites: string[] = [];
  /**
   * The progress guard of one call (`startCall`): pins since the last write that changed a
   * byte, and the most allowed. Past it the call is making no progress (a window moved to
   * where it already was, again and again): the pin is refused so the call can return,
   * and `stalled` says so; the profile then fails the call instead of waiting for it.
   */
  private pinsSinceProgress = 0;
  private pinLimit = Number.POSITIVE_INFINITY;
  stalled: string | undefined;

  /** `unpinnable`: user pages not mapped in the user's address space, whose pin fails (IOVA-BITMAP-6's -EFAULT). */
  constructor(
    readonly size: number,
    readonly unpinnable: ReadonlySet<number> = new Set(),
  ) {
    this.bytes = new Uint8Array(size).fill(GUARD_BYTE);
    this.pins = new Uint32Array(Math.ceil(size / PAGE));
  }

  /** A call starts: at most `limit` pins between two writes that change a byte. */
  startCall(limit: number): void {
    this.pinsSinceProgress = 0;
    this.pinLimit = limit;
    this.stalled = undefined;
  }

  pin(page: number): boolean {
    if (++this.pinsSinceProgress > this.pinLimit) {
      this.stalled ??= `${this.pinsSinceProgress - 1} pins (the last of user page ${page}) with no byte of the buffer changed in between: the window does not progress`;
      return false;
    }
    if (!(Number.isInteger(page) && page >= 0 && page < this.pins.length) || this.unpinnable.has(page)) return false;
    if (this.pins[page]!++ === 0 && ++this.pinned > this.maxPinned) this.maxPinned = this.pinned;
    return true;
  }

  unpin(page: number): void {
    if (!(page >= 0 && page < this.pins.length) || this.pins[page] === 0) {
      this.strayWrites.push(`unpin of user page ${page}, which is not pinned`);
      return;
    }
    if (--this.pins[page]! === 0) this.pinned--;
  }

  private check(page: number, start: number, end: number, access = 'write'): boolean {
    const where = `user page ${page} bytes [${start}, ${end})`;
    if (!(Number.isInteger(page) && page >= 0 && page < this.pins.length && Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start < end && end <= PAGE)) {
      this.strayWrites.push(`stray ${access} outside the user buffer: ${where}`);
      return false;
    }
    if (this.pins[page] === 0) this.strayWrites.push(`stray ${access} to a page that is not pinned: ${where}`);
    return true;
  }

  readByte(page: number, offset: number): number {
    return this.check(page, offset, offset + 1, 'read') ? this.bytes[page * PAGE + offset]! : 0;
  }

  orByte(page: number, offset: number, mask: number): void {
    if (!this.check(page, offset, offset + 1)) return;
    const at = page * PAGE + offset;
    if ((this.bytes[at]! | mask) !== this.bytes[at]) this.pinsSinceProgress = 0;
    this.bytes[at]! |= mask;
  }

  fillBytes(page: number, start: number, end: number, value: number): void {
    if (!this.check(page, start, end)) return;
    for (let i = page * PAGE + start; i < page * PAGE + end; i++)
      if (this.bytes[i] !== value) {
        this.pinsSinceProgress = 0;
        break;
      }
    this.bytes.fill(value, page * PAGE + start, page * PAGE + end);
  }
}

export interface IovaBitmapScenario {
  readonly args: IovaBitmapArgs;
  /** Bytes of user memory around the bitmap (whole pages). */
  readonly bufferSize: number;
  readonly sets: readonly { iova: bigint; length: bigint }[];
  /** User pages of the buffer that cannot be pinned (not mapped): pinning them fails. */
  readonly unpinnable?: readonly number[];
  /**
   * An iova_bitmap_for_each walk after the recordings: the callback records in each window
   * (`record`: 0 nothing, 1 the whole window, 2 its first byte, 3 its last byte, 4 its last
   * page and the page after it, which lies in the next window) and
   * returns -EIO (-5) at window `stopAt` (never, if the walk has fewer windows).
   */
  readonly walk?: { readonly stopAt: number; readonly record: number };
}

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

/** The invalid-argument classes, in the order the rules check them (IOVA-BITMAP-1, -5, -4). */
export const IOVA_BITMAP_FAULTS = ['pageSize', 'lengthZero', 'overflow', 'iovaUnaligned', 'lengthUnaligned', 'bitmapShort'] as const;
export type IovaBitmapFault = (typeof IOVA_BITMAP_FAULTS)[number];
/** Pairs of faults in one call whose refusals differ in errno or rule, so the order of the checks shows. */
const FAULT_PAIRS: readonly (readonly [IovaBitmapFault, IovaBitmapFault])[] = [
  ['pageSize', 'overflow'],
  ['overflow', 'iovaUnaligned'],
  ['overflow', 'lengthUnaligned'],
  ['overflow', 'bitmapShort'],
  ['lengthZero', 'bitmapShort'],
  ['iovaUnaligned', 'bitmapShort'],
];

/** Where a recording's start or end lies relative to a page edge. */
type EdgeKind = 'edge' | 'inside' | 'plus1' | 'minus1';
/** Which bit a recording starts or ends at: any bit (a little past the range too), or one at a user-page (window) edge. */
type BitPick = { at: 'any'; bit: number } | { at: 'userPageEdge'; k: number; before: boolean } | { at: 'windowEdge'; k: number; before: boolean } | { at: 'first' } | { at: 'last' };

const edgeKind = fc.constantFrom<EdgeKind>('edge', 'edge', 'inside', 'plus1', 'minus1');
const bitPick: fc.Arbitrary<BitPick> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ at: fc.constant('any' as const), bit: fc.integer({ min: -2, max: 40_002 }) }) },
  { weight: 2, arbitrary: fc.record({ at: fc.constant('userPageEdge' as const), k: fc.nat(2), before: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ at: fc.constant('windowEdge' as const), k: fc.nat(2), before: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ at: 'first' as const }) },
  { weight: 1, arbitrary: fc.constant({ at: 'last' as const }) },
);

/** Page sizes mostly 4 KiB to 2 MiB, a tail of huge ones (the 2^58..2^63 edge where 64 * page_size wraps); shrinks toward 4 KiB. */
const pgshiftArb = fc.oneof({ withCrossShrink: true }, { weight: 16, arbitrary: fc.integer({ min: 12, max: 21 }) }, { weight: 2, arbitrary: fc.integer({ min: 22, max: 63 }) }, { weight: 1, arbitrary: fc.constantFrom(30, 57, 58, 62, 63) });

const INVALID_PAGE_SIZES = [0n, 1n, 2048n, 4097n, 3n * 4096n, (1n << 63n) + 4096n, U64_MAX];

/**
 * The scenarios of `contract` (default hardened): under `linux` only what Linux's callers
 * may send (spec/iova-bitmap/contracts.ts callerObligations): valid alloc arguments, every
 * recording inside [iova, iova + length), every user page pinnable.
 */
export function scenarioArbitrary(contract: IovaBitmapContract = iovaBitmapContracts.hardened): fc.Arbitrary<IovaBitmapScenario> {
  return fc
    .record({
      pgshift: pgshiftArb,
      pages: fc.oneof({ withCrossShrink: true }, fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 40_000 }), fc.constantFrom(32768, 32769, 65536)),
      offset: fc.oneof({ withCrossShrink: true }, fc.constantFrom(0, 1, 7, 8, 4095, 4104), fc.nat(3 * PAGE)),
      maxPinnedPages: fc.constantFrom(1, 1, 2, 2, 3, 512),
      base: fc.oneof({ withCrossShrink: true }, { weight: 6, arbitrary: fc.nat(1000) }, { weight: 1, arbitrary: fc.constant(-1) }),
      // Steady rates: a valid call most of the time, each invalid class about 2.5%, a pair about 6%.
      fault: fc.oneof({ weight: 30, arbitrary: fc.constant(undefined) }, { weight: 5, arbitrary: fc.constantFrom(...IOVA_BITMAP_FAULTS.map((f) => [f] as const)) }, { weight: 3, arbitrary: fc.constantFrom(...FAULT_PAIRS) }),
      faultPick: fc.nat(1 << 20),
      spare: fc.constantFrom(0, 0, 0, 8, 1),
      sets: fc.array(fc.record({ from: bitPick, to: bitPick, startAt: edgeKind, endAt: edgeKind, sub: fc.bigInt({ min: 0n, max: U64_MAX }) }), { minLength: 1, maxLength: 6 }),
      unpinnable: fc.option(fc.uniqueArray(fc.nat(3), { minLength: 1, maxLength: 2 }), { freq: 8, nil: undefined }),
      walk: fc.option(fc.record({ stopAt: fc.oneof(fc.nat(3), fc.constant(1 << 20)), record: fc.oneof({ arbitrary: fc.nat(4), weight: 3 }, { arbitrary: fc.constant(4), weight: 1 }) }), { freq: 3, nil: undefined }),
    })
    .map(({ pgshift, pages, offset, maxPinnedPages, base, fault, faultPick, spare, sets, unpinnable, walk }) => {
      const pageSize = 1n << BigInt(pgshift);
      // Pages in the u64 space; a length is at most room - 1 pages (a u64).
      const room = (1n << 64n) >> BigInt(pgshift);
      let npages = Math.max(1, Math.min(pages, Number(room - 1n)));
      const faults: readonly IovaBitmapFault[] = contract.allocChecks ? (fault ?? []) : [];
      if (faults.includes('overflow') && npages < 2 && room > 2n) npages = 2;
      // Half the short bitmaps are for one or two pages past a u64 word (65, 66, 129, ...): there a size check that counts a page or two too few still takes a bitmap one word short (IOVA-BITMAP-4).
      if (faults.includes('bitmapShort') && (faultPick >> 2) % 2 === 0 && room > 1024n) npages = Math.min(64 * Math.max(1, Math.floor(npages / 64)), 512) + 1 + ((faultPick >> 3) % 2);
      // base -1: the range ends on the last byte of the u64 space (iova + length - 1 = 2^64 - 1, valid).
      let first = base < 0 ? room - BigInt(npages) : BigInt(base) % (room - BigInt(npages) + 1n);
      let iova = first * pageSize;
      const length0 = BigInt(npages) * pageSize;
      if (faults.includes('overflow')) {
        // Past 2^64 by 1..npages-1 pages; at page size 2^63 no aligned range can, so an unaligned one does (overflow is checked first).
        first = room - BigInt(npages) + 1n + BigInt(faultPick % Math.max(1, npages - 1));
        iova = npages >= 2 ? first * pageSize : U64_MAX - 10n;
      }
      let length = length0;
      const need = Math.ceil(npages / 64) * 8;
      let bitmapSize = need + spare;
      const delta = [1n, pageSize / 2n, pageSize - 1n, 4096n][faultPick % 4]! % pageSize || 1n;
      let ps = pageSize;
      for (const f of faults) {
        if (f === 'pageSize') ps = INVALID_PAGE_SIZES[faultPick % INVALID_PAGE_SIZES.length]!;
        if (f === 'lengthZero') length = 0n;
        if (f === 'iovaUnaligned') iova = iova + delta <= U64_MAX ? iova + delta : iova - (pageSize - delta);
        if (f === 'lengthUnaligned') length = length > delta && faultPick % 2 === 0 ? length - delta : length + delta;
        if (f === 'bitmapShort') bitmapSize = [need - 8, 0, need - 1][faultPick % 3]!;
      }
      const bufferSize = Math.ceil((offset + Math.max(need, bitmapSize) + 16) / PAGE) * PAGE;
      const firstUserPage = Math.floor(offset / PAGE);
      const userEdgeByte = (PAGE - (offset % PAGE)) % PAGE;
      const bitOf = (p: BitPick): number => {
        switch (p.at) {
          case 'any':
            return Math.min(p.bit, npages + 2);
          case 'first':
            return 0;
          case 'last':
            return npages - 1;
          case 'userPageEdge':
            return (userEdgeByte + p.k * PAGE) * 8 - (p.before ? 1 : 0);
          case 'windowEdge':
            return (userEdgeByte + (p.k + 1) * maxPinnedPages * PAGE - (userEdgeByte === 0 ? 0 : PAGE)) * 8 - (p.before ? 1 : 0);
        }
      };
      const at = (bit: number, kind: EdgeKind, sub: bigint): bigint => {
        const edge = iova + BigInt(bit) * pageSize;
        switch (kind) {
          case 'edge':
            return edge;
          case 'inside':
            return edge + (pageSize > 2n ? 1n + (sub % (pageSize - 2n)) : 0n);
          case 'plus1':
            return edge + 1n;
          case 'minus1':
            return edge - 1n;
        }
      };
      // Arguments are u64 in the kernel (and on the protocol's wire): clamp, never wrap.
      const u64 = (v: bigint) => (v < 0n ? 0n : v > U64_MAX ? U64_MAX : v);
      return {
        args: { iova, length, pageSize: ps, offset, bitmapSize, maxPinnedPages },
        bufferSize,
        sets: sets.map((s) => {
          let [a, b] = [bitOf(s.from), bitOf(s.to)];
          if (b < a) [a, b] = [b, a];
          const start = u64(at(a, s.startAt, s.sub));
          // The end is exclusive: 'edge' ends on the edge after page b, the others end inside page b or just past it.
          const end = u64(at(b + (s.endAt === 'edge' || s.endAt === 'minus1' ? 1 : 0), s.endAt === 'inside' ? 'inside' : s.endAt, s.sub >> 7n));
          if (!contract.setOutsideRange) {
            // The caller's obligation (IOVA-BITMAP-9 under linux): a non-empty recording inside the range.
            const last = iova + length - 1n;
            let lo = start < iova ? iova : start > last ? last : start;
            let hi = end > last + 1n ? last + 1n : end > lo ? end : lo + 1n;
            // And (IOVA-BITMAP-5 under linux) one that spans more than one page starts and
            // ends on page boundaries: Linux's callers record whole naturally aligned IOPTEs
            // or tracked pages, which lie inside one page or cover whole pages.
            if ((lo - iova) / pageSize !== (hi - 1n - iova) / pageSize) {
              lo -= (lo - iova) % pageSize;
              hi += (pageSize - ((hi - iova) % pageSize)) % pageSize;
            }
            return { iova: lo, length: hi - lo };
          }
          return { iova: start, length: end > start ? end - start : 1n };
        }),
        ...(unpinnable === undefined || !contract.unpinnablePages ? {} : { unpinnable: unpinnable.map((k) => firstUserPage + k).filter((p) => p * PAGE < bufferSize) }),
        ...(walk === undefined || (unpinnable !== undefined && contract.unpinnablePages) ? {} : { walk }),
      };
    });
}

/** The rule that refuses each field the spec names (iovaBitmapCheckArgs' `field`). */
const FIELD_RULE: Record<string, string> = { page_size: 'IOVA-BITMAP-1', iova: 'IOVA-BITMAP-5', length: 'IOVA-BITMAP-5', 'bitmap.size': 'IOVA-BITMAP-4' };

/**
 * The requirements whose check a call to iova_bitmap_alloc could fail: a refused call's
 * rules, where the errno tells them apart: one rule alone, or, of two faults, the one
 * checked first where the other refuses with another errno (a VM without the first check
 * answers the second's). The later check is not decided: a VM without it still answers
 * the first's errno. Two faults refused with the same errno (an unaligned iova and a short
 * bitmap: -EINVAL either way) say nothing of either check. A valid range ending on the
 * last byte of the u64 space is IOVA-BITMAP-5's edge.
 */
function allocChecks(args: IovaBitmapArgs, check: ReturnType<typeof iovaBitmapCheckArgs>): string[] {
  if (check.errno === 0) return args.iova + args.length - 1n === U64_MAX ? ['IOVA-BITMAP-5'] : [];
  const { ids, errnos, firstDecides } = allocFaults(args, check);
  if (ids.length === 1) return ids;
  return errnos > 1 && firstDecides !== undefined ? [firstDecides] : [];
}

/** The rules a refused call breaks (those a wrong answer fails), and how many distinct errnos they refuse with. */
function allocFaults(args: IovaBitmapArgs, check: ReturnType<typeof iovaBitmapCheckArgs>): { ids: string[]; errnos: number; firstDecides?: string } {
  const validSize = args.pageSize >= 4096n && args.pageSize <= 1n << 63n && (args.pageSize & (args.pageSize - 1n)) === 0n;
  // Each fault of the call with its rule and errno, in the order the rules check them (iovaBitmapCheckArgs).
  const faults: { id: string; errno: 'EINVAL' | 'EOVERFLOW' }[] = [];
  if (!validSize) faults.push({ id: 'IOVA-BITMAP-1', errno: 'EINVAL' });
  if (args.length === 0n) faults.push({ id: 'IOVA-BITMAP-5', errno: 'EINVAL' });
  if (args.length > 0n && args.iova + args.length - 1n > U64_MAX) faults.push({ id: 'IOVA-BITMAP-5', errno: 'EOVERFLOW' });
  if (validSize && args.length > 0n && (args.iova % args.pageSize !== 0n || args.length % args.pageSize !== 0n)) faults.push({ id: 'IOVA-BITMAP-5', errno: 'EINVAL' });
  if (validSize && args.length > 0n && args.length % args.pageSize === 0n && args.bitmapSize < Math.ceil(bitmapBits(args) / 64) * 8) faults.push({ id: 'IOVA-BITMAP-4', errno: 'EINVAL' });
  const ids = new Set(faults.map((f) => f.id));
  if (ids.size === 0) return { ids: 'field' in check ? [FIELD_RULE[check.field] ?? 'IOVA-BITMAP-5'] : [], errnos: 1 };
  // The first fault's rule is decided where the next fault (a VM without the first check would answer its errno) refuses otherwise.
  const [first, next] = faults;
  return { ids: [...ids], errnos: new Set(faults.map((f) => f.errno)).size, ...(first !== undefined && next !== undefined && next.errno !== first.errno ? { firstDecides: first.id } : {}) };
}

async function runScenario(adapter: IovaBitmapAdapter, sc: IovaBitmapScenario, limits: CallLimits, trace: TraceStep[], contract: IovaBitmapContract): Promise<number> {
  const buf = new KitBuffer(sc.bufferSize, new Set(sc.unpinnable ?? []));
  const { args } = sc;
  const check = iovaBitmapCheckArgs({ iova: args.iova, length: args.length, pageSize: args.pageSize, bitmapBytes: args.bitmapSize });
  const name = adapter.name;
  // The bitmap region starts zeroed, the rest is guard.
  const nbytes = check.errno === 0 ? Math.ceil(bitmapBits(args) / 8) : 0;
  buf.bytes.fill(0, args.offset, args.offset + nbytes);
  const op = `iova_bitmap_alloc(iova ${hex(args.iova)}, length ${hex(args.length)}, page_size ${hex(args.pageSize)}, user offset ${args.offset}, bitmap ${args.bitmapSize} bytes, pin budget ${args.maxPinnedPages}${buf.unpinnable.size === 0 ? '' : `, user pages ${[...buf.unpinnable].join(', ')} unpinnable`})`;
  const wantErrno = check.errno;
  const allocReq = allocChecks(args, check);
  // What a wrong answer fails: every rule the call breaks, whether or not the errno tells them apart.
  const allocBroken = wantErrno === 0 ? allocReq : allocFaults(args, check).ids;
  // A crash in the call (engine/crash.ts) fails the rules that say what it returns; from 2^58 on, -3's too.
  const allocCrashReq = [...(allocBroken.length > 0 ? allocBroken : ['IOVA-BITMAP-1', 'IOVA-BITMAP-4', 'IOVA-BITMAP-5']), ...(wantErrno === 0 && args.pageSize >= 1n << 58n ? ['IOVA-BITMAP-3'] : [])];
  const created = await timed(`${name} create`, limits.timeoutMs, () => adapter.create(buf, args), limits.watch).catch(inFlight({ op, expected: wantErrno === 0 ? 'a bitmap' : `${wantErrno}`, req: allocCrashReq }, trace));
  if (typeof created === 'number') {
    const got = checkErrno(`${name} create`, created);
    trace.push({ op, answer: `${got}`, expected: `${wantErrno}`, req: allocReq });
    if (got !== wantErrno) throw new Violation('spec', allocBroken.length > 0 ? allocBroken : ['IOVA-BITMAP-1', 'IOVA-BITMAP-4', 'IOVA-BITMAP-5'], `${op} returns ${wantErrno}${'message' in check ? ` (${check.message})` : ''}`, `${got}`);
    return 1;
  }
  if (typeof created !== 'object' || created === null || typeof (created as IovaBitmapInstance).set !== 'function') throw new Undecided(`${name} create answered ${String(created)}: expected an instance or a negative errno`);
  trace.push({ op, answer: 'a bitmap', expected: wantErrno === 0 ? 'a bitmap' : `${wantErrno}`, req: allocReq });
  if (wantErrno !== 0) throw new Violation('spec', allocBroken, `${op} is refused with ${wantErrno}${'message' in check ? ` (${check.message})` : ''}`, 'a bitmap');
  const pgshift = iovaBitmapPgshift(args.pageSize);
  const npages = bitmapBits(args);
  const exp = new ExpectedBitmap(npages);
  /** The user page holding bit `bit` of the bitmap. */
  const userPage = (bit: number) => Math.floor((args.offset + (bit >> 3)) / PAGE);
  const bitmapPages = userPage(npages - 1) - userPage(0) + 1;
  // A call that pins more than this with no byte changed in between makes no progress: a
  // window pins each of its pages once and a recording moves it forward (IOVA-BITMAP-8).
  const pinLimit = 4 * bitmapPages + 16;
  let steps = 1;
  let recordedBefore = false;
  for (const s of sc.sets) {
    const out = iovaBitmapSetBits(args.iova, args.length, pgshift, s.iova, s.length);
    const what = `iova_bitmap_set(${hex(s.iova)}, ${hex(s.length)})`;
    // The checks this step could fail: IOVA-BITMAP-2 and BITMAP-1 where bits are recorded;
    // -3 from page size 2^31, where the int 1 << pgshift of the index before e24c15510592
    // (CVE-2025-21724) goes wrong, and the bits * page_size divisor before cb30dfa75d55
    // wraps further up; -7 across a user page; -8 across more
    // user pages than the budget (a window edge); -6 where the window moves or a pin fails;
    // -9 where the range reaches outside the bitmap.
    const req = new Set<string>();
    let unpinnableTouched = false;
    if (out.bits !== undefined) {
      req.add('IOVA-BITMAP-2').add('BITMAP-1');
      if (pgshift >= 31) req.add('IOVA-BITMAP-3');
      const span = userPage(out.bits.last) - userPage(out.bits.first) + 1;
      // -7 also for any recording of a bitmap that starts at pgoff (only its first page starts there).
      if (span > 1 || args.offset % PAGE !== 0) req.add('IOVA-BITMAP-7');
      if (span > args.maxPinnedPages) req.add('IOVA-BITMAP-8');
      if (bitmapPages > args.maxPinnedPages) req.add('IOVA-BITMAP-6');
      for (let p = userPage(out.bits.first); p <= userPage(out.bits.last); p++) if (buf.unpinnable.has(p)) unpinnableTouched = true;
    }
    if (unpinnableTouched) req.add('IOVA-BITMAP-6');
    if (out.errno !== 0) req.add('IOVA-BITMAP-9');
    if (!(s.length > 0n && s.length <= U64_MAX && s.iova >= 0n && s.iova <= U64_MAX)) req.add('IOVA-BITMAP-5');
    // A pin that fails is -EFAULT where the recording needs that page; a window that pins
    // ahead may fail on an unpinnable page the recording does not need. After -EFAULT the
    // recording's bits may or may not be set; after 0 all of them must be.
    const allowed = unpinnableTouched ? [-EFAULT_ERRNO, ...(out.errno === 0 ? [] : [out.errno])] : buf.unpinnable.size > 0 ? [out.errno, -EFAULT_ERRNO] : [out.errno];
    buf.startCall(pinLimit);
    const answer = await timed(`${name} set`, limits.timeoutMs, () => created.set(s.iova, s.length), limits.watch).catch(
      inFlight({ op: what, expected: `${allowed.join(' or ')}`, req: pgshift >= 58 ? ['IOVA-BITMAP-3'] : req.size > 0 ? [...req] : ['IOVA-BITMAP-2'] }, trace),
    );
    // Under linux set has no result (Linux's iova_bitmap_set is void): 0 or nothing.
    const got = contract.setResult === 'none' && answer === undefined ? 0 : checkErrno(`${name} set`, answer);
    trace.push({
      op: what,
      answer: `${got}`,
      expected: `${allowed.join(' or ')}${contract.setResult === 'none' ? ' (no result: contract linux)' : ''}, bits ${out.bits === undefined ? 'none' : `${out.bits.first}..${out.bits.last}`}`,
      req: [...req],
    });
    steps++;
    if (buf.stalled !== undefined)
      throw new Violation('spec', ['IOVA-BITMAP-8', 'IOVA-BITMAP-6', ...(req.has('IOVA-BITMAP-3') ? ['IOVA-BITMAP-3'] : [])], `${what} records and returns: each window it pins moves the recording on`, buf.stalled);
    if (!allowed.includes(got))
      throw new Violation(
        'spec',
        [
          ...(unpinnableTouched || got === -EFAULT_ERRNO ? ['IOVA-BITMAP-6'] : contract.setResult === 'none' ? ['IOVA-BITMAP-2'] : req.has('IOVA-BITMAP-5') ? ['IOVA-BITMAP-5', 'IOVA-BITMAP-9'] : ['IOVA-BITMAP-9']),
          // From 2^31 a wrong answer may be the index's (an int 1 << pgshift pins a window off the bitmap).
          ...(req.has('IOVA-BITMAP-3') ? ['IOVA-BITMAP-3'] : []),
        ],
        `${what} returns ${allowed.join(' or ')}${unpinnableTouched ? ' (a bitmap page it needs cannot be pinned)' : ''}`,
        `${got}`,
      );
    if (out.bits !== undefined) exp.recorded(out.bits.first, out.bits.last, got !== -EFAULT_ERRNO);
    // A wrong bit fails IOVA-BITMAP-2 and those of -3, -6, -7, -8 this recording could fail;
    // -8 also after an earlier recording, which may have left the window anywhere (a window
    // starts at the byte a recording moved it to: v6.18 iova_bitmap_advance_to).
    const bitRules = ['IOVA-BITMAP-2', ...['IOVA-BITMAP-3', 'IOVA-BITMAP-6', 'IOVA-BITMAP-7'].filter((id) => req.has(id))];
    if (req.has('IOVA-BITMAP-8') || recordedBefore) bitRules.push('IOVA-BITMAP-8');
    exp.check(buf, args, what, bitRules);
    if (out.bits !== undefined) recordedBefore = true;
  }
  if (sc.walk !== undefined && typeof created.forEach === 'function') {
    buf.startCall(pinLimit);
    steps += await walk(created, sc.walk, args, exp, buf, name, limits, trace, contract);
  }
  buf.startCall(pinLimit);
  await timed(`${name} free`, limits.timeoutMs, () => created.free(), limits.watch).catch(inFlight({ op: 'iova_bitmap_free', expected: 'nothing left pinned', req: ['IOVA-BITMAP-6'] }, trace));
  // Nothing left pinned can only fail where something was pinned.
  trace.push({ op: 'iova_bitmap_free', answer: `${buf.pinned} pages left pinned`, expected: '0 pages left pinned', req: buf.maxPinned > 0 ? ['IOVA-BITMAP-6'] : [] });
  if (buf.pinned !== 0) throw new Violation('spec', ['IOVA-BITMAP-6'], 'no user page pinned after iova_bitmap_free', `${buf.pinned} pinned`);
  exp.check(buf, args, 'after iova_bitmap_free');
  return steps + 1;
}

/**
 * IOVA-BITMAP-10: an iova_bitmap_for_each walk. Its windows must be non-empty, in order,
 * contiguous from iova, and together exactly [iova, iova + length) unless the callback
 * stopped the walk (then the walk returns the callback's errno at once); a window may
 * start past the previous one's end only over pages a recording of the walk already set
 * (Linux v6.8..v6.10 skip what iova_bitmap_set_ahead set). Any partition
 * conforms: Linux v6.1 drivers/vfio/iova_bitmap.c iova_bitmap_for_each calls the callback
 * once per pinned window; since 53e6b65693b6 "iommufd/iova_bitmap: Remove iterator logic"
 * (Linux v6.11, drivers/iommu/iommufd/iova_bitmap.c) once with the whole range, the
 * recordings inside moving the window. Recordings inside the windows are checked as
 * iova_bitmap_set's, and nothing stays pinned once the walk returns (hardened; under linux
 * the window may stay pinned until iova_bitmap_free, as v6.18's does: walkUnpins).
 */
async function walk(
  bitmap: IovaBitmapInstance,
  plan: NonNullable<IovaBitmapScenario['walk']>,
  args: IovaBitmapArgs,
  exp: ExpectedBitmap,
  buf: KitBuffer,
  name: string,
  limits: CallLimits,
  trace: TraceStep[],
  contract: IovaBitmapContract,
): Promise<number> {
  const EIO = -5;
  const windows: { iova: bigint; length: bigint }[] = [];
  const recorded: { iova: bigint; length: bigint }[] = [];
  /** The recording of the window whose callback stopped the walk: only its part inside that window must be set. */
  let unsure: { iova: bigint; length: bigint } | undefined;
  let problem: string | undefined;
  /** A part of the range the walk skipped that no recording of the walk had set (IOVA-BITMAP-10: a loss). */
  let gap: string | undefined;
  const end = args.iova + args.length;
  /**
   * Record mode 4: the block that holds the window's last byte and reaches past the window's
   * end, as a page-table walk over the window meets it (2 MiB or larger, naturally aligned in
   * IOVA, at least two bitmap pages), recorded from the window's start at the latest to the
   * block's end, cut at the range's end. Linux v6.8..v6.10 iova_bitmap_set carries the part
   * past the pinned pages over to the next window (set_ahead_length, 2780025e01e2), and the
   * walk then skips what it set (iova_bitmap_set_ahead moves mapped_base_index past it).
   */
  const acrossEnd = (iova: bigint, length: bigint) => {
    const windowEnd = iova + length;
    const last = windowEnd - 1n;
    let block = 1n << 21n;
    while (block < 2n * args.pageSize) block <<= 1n;
    while (block < 1n << 63n && last - (last % block) + block <= windowEnd) block <<= 1n;
    const start = last - (last % block);
    const from = start > iova ? start : iova;
    const to = start + block < end ? start + block : end;
    return { iova: from, length: to - from };
  };
  const got = checkErrno(
    `${name} forEach`,
    await timed(
      `${name} forEach`,
      limits.timeoutMs,
      () =>
        bitmap.forEach!((iova, length) => {
          const at = windows.length === 0 ? args.iova : windows[windows.length - 1]!.iova + windows[windows.length - 1]!.length;
          windows.push({ iova, length });
          if (problem === undefined && (typeof iova !== 'bigint' || typeof length !== 'bigint' || iova < at || length <= 0n || iova + length > end))
            problem = `window ${windows.length} is [${hex(iova)}, +${hex(length)}): expected a non-empty range from ${hex(at)} (or past pages the walk's recordings set) inside [${hex(args.iova)}, ${hex(end)})`;
          if (problem === undefined && gap === undefined && iova > at && !coveredBy(at, iova, recorded)) gap = `window ${windows.length} starts at ${hex(iova)}: [${hex(at)}, ${hex(iova)}) was neither in a window nor set by a recording`;
          if (problem !== undefined || gap !== undefined || windows.length > plan.stopAt + 1) return { set: [], ret: EIO };
          const set = plan.record === 1 ? [{ iova, length }] : plan.record === 2 ? [{ iova, length: 1n }] : plan.record === 3 ? [{ iova: iova + length - 1n, length: 1n }] : plan.record === 4 ? [acrossEnd(iova, length)] : [];
          recorded.push(...set);
          // A window whose callback fails: the part of its recording past the window may be
          // dropped with the walk (Linux v6.8..v6.10 set it ahead only when the walk advances).
          if (plan.record === 4 && windows.length === plan.stopAt + 1) unsure = set[0]!;
          return { set, ret: windows.length === plan.stopAt + 1 ? EIO : 0 };
        }),
      limits.watch,
    ).catch(inFlight({ op: 'iova_bitmap_for_each', expected: 'the walk', req: ['IOVA-BITMAP-10'] }, trace)),
  );
  const stopped = windows.length === plan.stopAt + 1;
  const last = windows[windows.length - 1];
  const covered = last !== undefined && (last.iova + last.length === end || coveredBy(last.iova + last.length, end, recorded));
  const want = stopped ? EIO : 0;
  const op = `iova_bitmap_for_each(callback recording ${['nothing', 'each window', "each window's first byte", "each window's last byte", "each window's last page and the page after it"][plan.record]}, -EIO at window ${plan.stopAt + 1})`;
  trace.push({
    op,
    answer: `${got} after ${windows.length} windows`,
    expected: `${want}${stopped ? '' : ', windows covering the range'}`,
    req: ['IOVA-BITMAP-10', ...(args.maxPinnedPages < Math.ceil(((args.offset % PAGE) + Math.ceil(bitmapBits(args) / 8)) / PAGE) ? ['IOVA-BITMAP-6'] : [])],
  });
  if (buf.stalled !== undefined) throw new Violation('spec', ['IOVA-BITMAP-10', 'IOVA-BITMAP-8'], `${op} returns: each window it pins moves the walk on`, buf.stalled);
  if (problem !== undefined) throw new Violation('spec', ['IOVA-BITMAP-10'], `${op}: windows in order, contiguous, inside the range`, problem);
  if (gap !== undefined) throw new Violation('loss', ['IOVA-BITMAP-10'], `${op}: the windows, with what the walk's recordings set past them, are [${hex(args.iova)}, ${hex(end)})`, gap);
  if (!stopped && !covered) throw new Violation('loss', ['IOVA-BITMAP-10'], `${op}: the windows together are [${hex(args.iova)}, ${hex(end)})`, `they end at ${last === undefined ? 'no window' : hex(last.iova + last.length)}`);
  if (got !== want) throw new Violation('spec', ['IOVA-BITMAP-10'], `${op} returns ${want}`, `${got}`);
  // Under linux the window may stay pinned until iova_bitmap_free (checked there), as Linux's does.
  if (contract.walkUnpins && buf.pinned !== 0) throw new Violation('spec', ['IOVA-BITMAP-10', 'IOVA-BITMAP-6'], `${op}: nothing stays pinned after the walk`, `${buf.pinned} pages pinned`);
  const pgshift = iovaBitmapPgshift(args.pageSize);
  for (const r of recorded) {
    const inside = r === unsure ? last!.iova + last!.length - r.iova : r.length;
    const out = iovaBitmapSetBits(args.iova, args.length, pgshift, r.iova, inside < r.length ? inside : r.length);
    if (out.bits !== undefined) exp.recorded(out.bits.first, out.bits.last, true);
    if (inside >= r.length) continue;
    const past = iovaBitmapSetBits(args.iova, args.length, pgshift, r.iova + inside, r.length - inside);
    if (past.bits !== undefined) exp.recorded(past.bits.first, past.bits.last, false);
  }
  exp.check(buf, args, op);
  return 1;
}

/** Whether [from, to) lies inside the union of `ranges`. */
function coveredBy(from: bigint, to: bigint, ranges: readonly { iova: bigint; length: bigint }[]): boolean {
  let reach = from;
  for (const r of [...ranges].sort((a, b) => (a.iova < b.iova ? -1 : a.iova > b.iova ? 1 : 0))) {
    if (reach >= to || r.iova > reach) break;
    if (r.iova + r.length > reach) reach = r.iova + r.length;
  }
  return reach >= to;
}

const IOVA_BITMAP_REQUIREMENTS = ['BITMAP-1', ...Array.from({ length: 10 }, (_, i) => `IOVA-BITMAP-${i + 1}`)];

/** RunOptions with the iova-bitmap contract asked for (`--contract linux|hardened`; the campaign settings carry it). */
export type IovaBitmapRunOptions = RunOptions & { readonly iovaBitmapContract?: IovaBitmapContractName };

/** The contract a run checks: the one asked for, else the one the adapter declares, else hardened. */
export function iovaBitmapRunContract(adapter: Pick<IovaBitmapAdapter, 'contract'>, asked: IovaBitmapContractName | undefined): { contract: IovaBitmapContract; declared?: IovaBitmapContractName } {
  const declared = adapter.contract;
  const contract = iovaBitmapContracts[asked ?? declared ?? 'hardened'];
  return { contract, ...(declared !== undefined && declared !== contract.name ? { declared } : {}) };
}

export async function runIovaBitmapProfile(adapter: IovaBitmapAdapter, options: IovaBitmapRunOptions): Promise<ProfileResult> {
  const { contract, declared } = iovaBitmapRunContract(adapter, options.iovaBitmapContract);
  // A rule the contract leaves wholly to the caller is the kit's to keep: no step can check it.
  const obligations = new Set<string>(contract.callerObligations.map((o) => o.id).filter((id) => id === 'IOVA-BITMAP-1' || id === 'IOVA-BITMAP-4' || id === 'IOVA-BITMAP-9'));
  const result = await runScenarioProfile(
    {
      name: adapter.profile,
      adapter: adapter.name,
      arbitrary: scenarioArbitrary(contract),
      run: (sc, trace) => runScenario(adapter, sc, options, trace, contract),
      requirements: IOVA_BITMAP_REQUIREMENTS.filter((id) => !obligations.has(id)),
      // No requirement is decided by every run: each step names the checks it could have failed.
      coverage: () => ({}),
      configOf: (sc) => ({
        iova: hex(sc.args.iova),
        length: hex(sc.args.length),
        pageSize: hex(sc.args.pageSize),
        offset: sc.args.offset,
        bitmapSize: sc.args.bitmapSize,
        maxPinnedPages: sc.args.maxPinnedPages,
        bufferPages: sc.bufferSize,
        ...(sc.unpinnable === undefined || sc.unpinnable.length === 0 ? {} : { unpinnable: sc.unpinnable.join(',') }),
      }),
    },
    options,
  );
  // The report names the contract when it was asked for or is not the default (hardened).
  if (contract.name === 'hardened' && declared === undefined && options.iovaBitmapContract === undefined) return result;
  return { ...result, contract: { name: contract.name, ...(declared === undefined ? {} : { declared }), refused: [], excused: {}, hazards: [] } };
}

/** Runs one recorded scenario again (dirtyspec check-trace). Throws Violation or Undecided. */
export function replayIovaBitmapScenario(adapter: IovaBitmapAdapter, sc: IovaBitmapScenario, timeoutMs: number, trace: TraceStep[], contract: IovaBitmapContractName = adapter.contract ?? 'hardened'): Promise<number> {
  return runScenario(adapter, sc, { timeoutMs }, trace, iovaBitmapContracts[contract]);
}
