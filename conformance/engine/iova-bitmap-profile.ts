// Profile iova-bitmap: the window code writing a user bitmap the kit owns. fast-check
// generates the arguments (page sizes up to 2^63, a bitmap at any byte offset, small pin
// budgets so ranges cross pinned pages and windows) and a sequence of recordings; after
// every step the kit checks every byte of the buffer against the spec's bits
// (spec/iova-bitmap/rules.ts), the guard bytes around the bitmap, the pin budget, and
// that nothing was written while unpinned.
//
// Requirements: IOVA-BITMAP-1..9, BITMAP-1.
import fc from 'fast-check';
import { iovaBitmapCheckArgs, iovaBitmapSetBits } from '../../spec/iova-bitmap/rules.ts';
import { Violation } from '../../model/violation.ts';
import type { IovaBitmapAdapter, IovaBitmapArgs, IovaBitmapInstance, KitUserBuffer } from '../adapters/types.ts';
import type { TraceStep } from './commands.ts';
import { Undecided, checkErrno, timed } from './limits.ts';
import type { ProfileResult, RunOptions } from './run-profile.ts';
import { runScenarioProfile } from './scenario-profile.ts';

const PAGE = 4096;
const GUARD = 0xa5;
const U64_MAX = (1n << 64n) - 1n;

/** The user's memory as the kit keeps it: records pins and every write, never refuses one. */
export class KitBuffer implements KitUserBuffer {
  readonly bytes: Uint8Array;
  private readonly pins: Uint32Array;
  pinned = 0;
  maxPinned = 0;
  /** Writes to pages that were not pinned at the time (memory the window did not own). */
  readonly strayWrites: string[] = [];

  constructor(readonly size: number) {
    this.bytes = new Uint8Array(size).fill(GUARD);
    this.pins = new Uint32Array(Math.ceil(size / PAGE));
  }

  pin(page: number): boolean {
    if (!(Number.isInteger(page) && page >= 0 && page < this.pins.length)) return false;
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

  private check(page: number, start: number, end: number): boolean {
    const where = `user page ${page} bytes [${start}, ${end})`;
    if (!(Number.isInteger(page) && page >= 0 && page < this.pins.length && start >= 0 && start < end && end <= PAGE)) {
      this.strayWrites.push(`write outside the user buffer: ${where}`);
      return false;
    }
    if (this.pins[page] === 0) this.strayWrites.push(`write while not pinned: ${where}`);
    return true;
  }

  orByte(page: number, offset: number, mask: number): void {
    if (this.check(page, offset, offset + 1)) this.bytes[page * PAGE + offset]! |= mask;
  }

  fillBytes(page: number, start: number, end: number, value: number): void {
    if (this.check(page, start, end)) this.bytes.fill(value, page * PAGE + start, page * PAGE + end);
  }
}

export interface IovaBitmapScenario {
  readonly args: IovaBitmapArgs;
  /** Pages of user memory around the bitmap. */
  readonly bufferSize: number;
  readonly sets: readonly { iova: bigint; length: bigint }[];
}

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

function scenarioArbitrary(): fc.Arbitrary<IovaBitmapScenario> {
  return fc
    .record({
      pgshift: fc.oneof(fc.constantFrom(12, 21, 30, 63), fc.integer({ min: 12, max: 63 })),
      pages: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 40_000 }), fc.constantFrom(32768, 32769, 65536)),
      offset: fc.oneof(fc.constantFrom(0, 1, 7, 8, 4095, 4104), fc.nat(3 * PAGE)),
      maxPinnedPages: fc.integer({ min: 1, max: 3 }),
      base: fc.nat(1000),
      short: fc.constantFrom(0, 0, 0, 8),
      sets: fc.array(fc.record({ from: fc.integer({ min: -2, max: 40_002 }), pages: fc.integer({ min: 1, max: 40_000 }), sub: fc.nat(4095), partial: fc.boolean() }), { minLength: 1, maxLength: 6 }),
    })
    .map(({ pgshift, pages, offset, maxPinnedPages, base, short, sets }) => {
      const pageSize = 1n << BigInt(pgshift);
      // Keep the range inside the u64 space for most page sizes (2^63 leaves room for 2 pages).
      const room = (1n << 64n) / pageSize;
      const first = BigInt(base) % room;
      const npages = Math.max(1, Math.min(pages, Number(room - first)));
      const iova = first * pageSize;
      const length = BigInt(npages) * pageSize;
      const need = Math.ceil(npages / 64) * 8;
      const bitmapSize = need - short;
      const bufferSize = Math.ceil((offset + need + 16) / PAGE) * PAGE;
      return {
        args: { iova, length, pageSize, offset, bitmapSize, maxPinnedPages },
        bufferSize,
        sets: sets.map((s) => {
          const first = BigInt(Math.min(Math.max(s.from, -2), npages + 2));
          const at = iova + first * pageSize + (s.partial ? BigInt(s.sub) : 0n);
          const len = BigInt(Math.min(s.pages, npages + 4)) * pageSize - (s.partial ? BigInt(s.sub) : 0n);
          // Arguments are u64 in the kernel (and on the protocol's wire): clamp, never wrap.
          return { iova: at < 0n ? 0n : at > U64_MAX ? U64_MAX : at, length: len < 1n ? 1n : len > U64_MAX ? U64_MAX : len };
        }),
      };
    });
}

/** What the spec says the buffer holds: the bitmap's bits set so far, guard bytes elsewhere. */
function checkBuffer(buf: KitBuffer, args: IovaBitmapArgs, bits: Set<number>, what: string): void {
  if (buf.strayWrites.length > 0) throw new Violation('spec', ['IOVA-BITMAP-6', 'IOVA-BITMAP-7', 'IOVA-BITMAP-9'], `${what}: writes only to pinned pages of the bitmap`, buf.strayWrites[0]!);
  if (buf.maxPinned > args.maxPinnedPages) throw new Violation('spec', ['IOVA-BITMAP-6'], `${what}: at most ${args.maxPinnedPages} user pages pinned at once`, `${buf.maxPinned} pinned`);
  const npagesBytes = Math.ceil(bitsCount(args) / 8);
  for (let i = 0; i < buf.bytes.length; i++) {
    const inBitmap = i >= args.offset && i < args.offset + npagesBytes;
    // The bitmap's bytes start zeroed (runScenario), everything else holds the guard pattern.
    let want = GUARD;
    if (inBitmap) {
      const byte = i - args.offset;
      want = 0;
      for (let b = 0; b < 8; b++) if (bits.has(byte * 8 + b)) want |= 1 << b;
    }
    if (buf.bytes[i] !== want) {
      const missing = inBitmap && (want & ~buf.bytes[i]!) !== 0;
      const kind = !inBitmap ? 'spec' : missing ? 'loss' : 'precision';
      const req = !inBitmap ? ['IOVA-BITMAP-9'] : ['IOVA-BITMAP-2', 'IOVA-BITMAP-7', 'IOVA-BITMAP-8'];
      throw new Violation(kind, req, `${what}: user byte ${i}${inBitmap ? ` (bitmap byte ${i - args.offset})` : ' (outside the bitmap)'} = ${hex(want)}`, hex(buf.bytes[i]!));
    }
  }
}

function bitsCount(args: IovaBitmapArgs): number {
  return Number(((args.length - 1n) >> BigInt(log2(args.pageSize))) + 1n);
}

function log2(v: bigint): number {
  let n = 0;
  while (v > 1n) {
    v >>= 1n;
    n++;
  }
  return n;
}

async function runScenario(adapter: IovaBitmapAdapter, sc: IovaBitmapScenario, timeoutMs: number, trace: TraceStep[]): Promise<number> {
  const buf = new KitBuffer(sc.bufferSize);
  const { args } = sc;
  const check = iovaBitmapCheckArgs({ iova: args.iova, length: args.length, pageSize: args.pageSize, bitmapBytes: args.bitmapSize });
  const name = adapter.name;
  // The bitmap region starts zeroed, the rest is guard.
  const nbytes = check.errno === 0 ? Math.ceil(bitsCount(args) / 8) : 0;
  buf.bytes.fill(0, args.offset, args.offset + nbytes);
  const created = await timed(`${name} create`, timeoutMs, () => adapter.create(buf, args));
  const op = `iova_bitmap_alloc(iova ${hex(args.iova)}, length ${hex(args.length)}, page_size ${hex(args.pageSize)}, user offset ${args.offset}, bitmap ${args.bitmapSize} bytes, pin budget ${args.maxPinnedPages})`;
  const wantErrno = check.errno;
  if (typeof created === 'number') {
    const got = checkErrno(`${name} create`, created);
    trace.push({ op, answer: `${got}`, expected: `${wantErrno}`, req: ['IOVA-BITMAP-5'] });
    if (got !== wantErrno) throw new Violation('spec', ['IOVA-BITMAP-1', 'IOVA-BITMAP-4', 'IOVA-BITMAP-5'], `${op} returns ${wantErrno}${'message' in check ? ` (${check.message})` : ''}`, `${got}`);
    return 1;
  }
  if (typeof created !== 'object' || created === null || typeof (created as IovaBitmapInstance).set !== 'function') throw new Undecided(`${name} create answered ${String(created)}: expected an instance or a negative errno`);
  trace.push({ op, answer: 'a bitmap', expected: wantErrno === 0 ? 'a bitmap' : `${wantErrno}`, req: ['IOVA-BITMAP-5'] });
  if (wantErrno !== 0) throw new Violation('spec', ['IOVA-BITMAP-5', 'IOVA-BITMAP-1', 'IOVA-BITMAP-4'], `${op} is refused with ${wantErrno}${'message' in check ? ` (${check.message})` : ''}`, 'a bitmap');
  const bits = new Set<number>();
  const pgshift = log2(args.pageSize);
  let steps = 1;
  for (const s of sc.sets) {
    const out = iovaBitmapSetBits(args.iova, args.length, pgshift, s.iova, s.length);
    const got = checkErrno(`${name} set`, await timed(`${name} set`, timeoutMs, () => created.set(s.iova, s.length)));
    if (out.bits !== undefined) for (let b = out.bits.first; b <= out.bits.last; b++) bits.add(b);
    const what = `iova_bitmap_set(${hex(s.iova)}, ${hex(s.length)})`;
    trace.push({ op: what, answer: `${got}`, expected: `${out.errno}, bits ${out.bits === undefined ? 'none' : `${out.bits.first}..${out.bits.last}`}`, req: ['IOVA-BITMAP-2', 'IOVA-BITMAP-9'] });
    steps++;
    const wantSet = out.errno;
    if (got !== wantSet) throw new Violation('spec', ['IOVA-BITMAP-9'], `${what} returns ${wantSet}`, `${got}`);
    checkBuffer(buf, args, bits, what);
  }
  await timed(`${name} free`, timeoutMs, () => created.free());
  trace.push({ op: 'iova_bitmap_free', answer: `${buf.pinned} pages left pinned`, expected: '0 pages left pinned', req: ['IOVA-BITMAP-6'] });
  if (buf.pinned !== 0) throw new Violation('spec', ['IOVA-BITMAP-6'], 'no user page pinned after iova_bitmap_free', `${buf.pinned} pinned`);
  checkBuffer(buf, args, bits, 'after iova_bitmap_free');
  return steps + 1;
}

const IOVA_BITMAP_REQUIREMENTS = ['BITMAP-1', ...Array.from({ length: 9 }, (_, i) => `IOVA-BITMAP-${i + 1}`)];

export function runIovaBitmapProfile(adapter: IovaBitmapAdapter, options: RunOptions): Promise<ProfileResult> {
  return runScenarioProfile(
    {
      name: adapter.profile,
      adapter: adapter.name,
      arbitrary: scenarioArbitrary(),
      run: (sc, trace) => runScenario(adapter, sc, options.timeoutMs, trace),
      requirements: IOVA_BITMAP_REQUIREMENTS,
      // Every scenario is checked against all of them: its arguments by the alloc rules, every
      // byte of the buffer, the pins and the stray writes after every step.
      always: IOVA_BITMAP_REQUIREMENTS,
      coverage: () => ({}),
      configOf: (sc) => ({
        iova: hex(sc.args.iova),
        length: hex(sc.args.length),
        pageSize: hex(sc.args.pageSize),
        offset: sc.args.offset,
        bitmapSize: sc.args.bitmapSize,
        maxPinnedPages: sc.args.maxPinnedPages,
        bufferPages: sc.bufferSize,
      }),
    },
    options,
  );
}

/** Runs one recorded scenario again (dirtyspec check-trace). Throws Violation or Undecided. */
export function replayIovaBitmapScenario(adapter: IovaBitmapAdapter, sc: IovaBitmapScenario, timeoutMs: number, trace: TraceStep[]): Promise<number> {
  return runScenario(adapter, sc, timeoutMs, trace);
}
