import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FRAME_SIZE, MemoryError, PhysicalMemory, type MemoryAccessKind } from './physical-memory.ts';

const U64_MAX = (1n << 64n) - 1n;
const BIT63 = 1n << 63n;
// A leaf-like value with bits in every field of interest: valid page, AP[2], AF, OA, DBM, XN, bit 63.
const SAMPLE = BIT63 | (3n << 53n) | (1n << 51n) | 0x0000_1234_5678_9000n | (1n << 10n) | (1n << 7n) | 0b11n;

/** Runs `fn`, expects a MemoryError, and returns its message. */
function memoryError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.instance(e, MemoryError);
    assert.is((e as MemoryError).name, 'MemoryError');
    return (e as MemoryError).message;
  }
  assert.unreachable('expected a MemoryError');
  return '';
}

test('allocFrame returns 4 KiB-aligned frames at and above the base, each zeroed', () => {
  const mem = new PhysicalMemory();
  const a = mem.allocFrame();
  const b = mem.allocFrame();
  assert.is(a, 0x4000_0000);
  assert.is(b, 0x4000_1000);
  assert.is(a % FRAME_SIZE, 0);
  assert.is(b % FRAME_SIZE, 0);
  for (let off = 0; off < FRAME_SIZE; off += 8) {
    assert.is(mem.load(a + off), 0n);
    assert.is(mem.load(b + off), 0n);
  }
  const words = mem.frameWords(a);
  assert.is(words.length, 512);
  assert.ok(words.every((w) => w === 0n));
});

test('a custom base is honoured and a misaligned base is rejected with MemoryError', () => {
  const mem = new PhysicalMemory({ base: 0x1_0000_0000 });
  assert.is(mem.allocFrame(), 0x1_0000_0000);
  const msg = memoryError(() => new PhysicalMemory({ base: 0x1234 }));
  assert.match(msg, '0x1234');
  assert.match(msg, 'base must be a non-negative multiple of 4096');
});

test('load/store round-trip 64-bit values including bit 63 in every word of a frame', () => {
  const mem = new PhysicalMemory();
  const f = mem.allocFrame();
  mem.store(f, SAMPLE);
  mem.store(f + 8, U64_MAX);
  mem.store(f + 16, BIT63);
  mem.store(f + FRAME_SIZE - 8, 0x8000_0000_0000_0001n);
  assert.is(mem.load(f), SAMPLE);
  assert.is(mem.load(f + 8), U64_MAX);
  assert.is(mem.load(f + 16), BIT63);
  assert.is(mem.load(f + 24), 0n); // neighbours untouched
  assert.is(mem.load(f + FRAME_SIZE - 8), 0x8000_0000_0000_0001n);
  assert.is((mem.load(f) >> 63n) & 1n, 1n);
});

test("store masks the value to 64 bits (bits above 63 dropped, negatives two's complement)", () => {
  const mem = new PhysicalMemory();
  const f = mem.allocFrame();
  mem.store(f, (1n << 64n) | (1n << 70n) | 5n);
  assert.is(mem.load(f), 5n);
  mem.store(f, -1n);
  assert.is(mem.load(f), U64_MAX);
  mem.store(f, -2n);
  assert.is(mem.load(f), U64_MAX - 1n);
});

test('exchange writes the new value and returns the old one, masked to 64 bits', () => {
  const mem = new PhysicalMemory();
  const f = mem.allocFrame();
  mem.store(f, SAMPLE);
  assert.is(mem.exchange(f, 0n), SAMPLE);
  assert.is(mem.load(f), 0n);
  assert.is(mem.exchange(f, (1n << 64n) | BIT63), 0n);
  assert.is(mem.load(f), BIT63);
  assert.is(mem.exchange(f, -1n), BIT63);
  assert.is(mem.load(f), U64_MAX);
});

test('compareExchange on a match writes the replacement and returns the old value', () => {
  const mem = new PhysicalMemory();
  const f = mem.allocFrame();
  mem.store(f, SAMPLE);
  const dirty = SAMPLE & ~(1n << 7n);
  assert.is(mem.compareExchange(f, SAMPLE, dirty), SAMPLE);
  assert.is(mem.load(f), dirty);
  assert.is((mem.load(f) >> 7n) & 1n, 0n);
  assert.is((mem.load(f) >> 63n) & 1n, 1n);
});

test('compareExchange on a mismatch leaves memory unchanged and still returns the old value', () => {
  const mem = new PhysicalMemory();
  const f = mem.allocFrame();
  mem.store(f, SAMPLE);
  assert.is(mem.compareExchange(f, SAMPLE ^ (1n << 10n), 0n), SAMPLE);
  assert.is(mem.load(f), SAMPLE);
  // Bit 63 takes part in the comparison.
  assert.is(mem.compareExchange(f, SAMPLE & ~BIT63, 0n), SAMPLE);
  assert.is(mem.load(f), SAMPLE);
});

test('compareExchange masks the replacement to 64 bits', () => {
  const mem = new PhysicalMemory();
  const f = mem.allocFrame();
  assert.is(mem.compareExchange(f, 0n, (1n << 64n) | 7n), 0n);
  assert.is(mem.load(f), 7n);
});

test('fetchOr sets bits and returns the old value', () => {
  const mem = new PhysicalMemory();
  const f = mem.allocFrame();
  const dirty = SAMPLE & ~(1n << 7n);
  mem.store(f, dirty);
  assert.is(mem.fetchOr(f, 1n << 7n), dirty);
  assert.is(mem.load(f), SAMPLE);
  assert.is(mem.fetchOr(f, BIT63 | 1n), SAMPLE); // already set: no change
  assert.is(mem.load(f), SAMPLE);
  assert.is(mem.fetchOr(f, (1n << 64n) | 4n), SAMPLE); // masked to 64 bits
  assert.is(mem.load(f), SAMPLE | 4n);
});

test('fetchAnd clears bits (with a complemented mask) and returns the old value', () => {
  const mem = new PhysicalMemory();
  const f = mem.allocFrame();
  mem.store(f, SAMPLE);
  assert.is(mem.fetchAnd(f, ~(1n << 7n)), SAMPLE);
  assert.is(mem.load(f), SAMPLE & ~(1n << 7n));
  assert.is(mem.fetchAnd(f, ~BIT63), SAMPLE & ~(1n << 7n));
  assert.is(mem.load(f), SAMPLE & ~(1n << 7n) & ~BIT63);
  assert.is(mem.fetchAnd(f, 0n), SAMPLE & ~(1n << 7n) & ~BIT63);
  assert.is(mem.load(f), 0n);
});

test('a misaligned access throws MemoryError naming the address and the alignment rule', () => {
  const mem = new PhysicalMemory();
  const f = mem.allocFrame();
  const msg = memoryError(() => mem.load(f + 4));
  assert.match(msg, '0x40000004');
  assert.match(msg, 'a 64-bit access must be 8-byte aligned');
  assert.match(
    memoryError(() => mem.store(f + 1, 1n)),
    '0x40000001',
  );
  assert.match(
    memoryError(() => mem.exchange(f + 2, 1n)),
    'must be 8-byte aligned',
  );
  assert.match(
    memoryError(() => mem.compareExchange(f + 3, 0n, 1n)),
    'must be 8-byte aligned',
  );
  assert.match(
    memoryError(() => mem.fetchOr(f + 5, 1n)),
    'must be 8-byte aligned',
  );
  assert.match(
    memoryError(() => mem.fetchAnd(f + 6, 1n)),
    'must be 8-byte aligned',
  );
  assert.match(
    memoryError(() => mem.load(1.5)),
    'must be 8-byte aligned',
  );
  assert.is(mem.load(f), 0n); // nothing was written
});

test('an access to an unallocated address throws MemoryError naming the address and rule', () => {
  const mem = new PhysicalMemory();
  const f = mem.allocFrame();
  const beyond = memoryError(() => mem.load(f + FRAME_SIZE));
  assert.match(beyond, '0x40001000');
  assert.match(beyond, 'not backed by an allocated frame');
  const below = memoryError(() => mem.store(f - 8, 1n));
  assert.match(below, '0x3ffffff8');
  assert.match(below, 'not backed by an allocated frame');
  assert.match(
    memoryError(() => mem.fetchOr(0, 1n)),
    'physical address 0x0: not backed by an allocated frame',
  );
});

test('after freeFrame every kind of access to the frame throws', () => {
  const mem = new PhysicalMemory();
  const f = mem.allocFrame();
  mem.store(f + 8, 9n);
  mem.freeFrame(f);
  for (const access of [() => mem.load(f + 8), () => mem.store(f, 1n), () => mem.exchange(f, 1n), () => mem.compareExchange(f, 0n, 1n), () => mem.fetchOr(f, 1n), () => mem.fetchAnd(f, 1n), () => mem.frameWords(f)]) {
    assert.match(memoryError(access), 'not backed by an allocated frame');
  }
});

test('freeing a frame twice throws MemoryError', () => {
  const mem = new PhysicalMemory();
  const f = mem.allocFrame();
  mem.freeFrame(f);
  const msg = memoryError(() => mem.freeFrame(f));
  assert.match(msg, '0x40000000');
  assert.match(msg, 'freeFrame of a frame that is not allocated');
  assert.is(mem.frameCount, 0);
});

test('freeFrame of a misaligned or never-allocated address throws', () => {
  const mem = new PhysicalMemory();
  const f = mem.allocFrame();
  assert.match(
    memoryError(() => mem.freeFrame(f + 8)),
    'freeFrame needs a frame-aligned address',
  );
  assert.match(
    memoryError(() => mem.freeFrame(f + FRAME_SIZE)),
    'freeFrame of a frame that is not allocated',
  );
  assert.match(
    memoryError(() => mem.freeFrame(f - FRAME_SIZE)),
    'freeFrame of a frame that is not allocated',
  );
  assert.is(mem.frameCount, 1);
});

test('a freed frame is reused, and comes back zeroed', () => {
  const mem = new PhysicalMemory();
  const f = mem.allocFrame();
  for (let off = 0; off < FRAME_SIZE; off += 8) mem.store(f + off, SAMPLE);
  mem.freeFrame(f);
  const g = mem.allocFrame();
  assert.is(g, f);
  for (let off = 0; off < FRAME_SIZE; off += 8) assert.is(mem.load(g + off), 0n);
});

test('the hook is called before each kind of access with the kind and address', () => {
  const mem = new PhysicalMemory();
  const f = mem.allocFrame();
  const seen: [MemoryAccessKind, number, bigint][] = [];
  // The hook sees memory as it is *before* the access.
  // The load inside the hook does not re-enter it.
  mem.hook = (kind, address) => seen.push([kind, address, mem.load(address)]);
  mem.store(f, 1n);
  mem.load(f + 8);
  mem.exchange(f, 2n);
  mem.compareExchange(f + 16, 0n, 3n);
  mem.fetchOr(f + 24, 4n);
  mem.fetchAnd(f, 0n);
  assert.equal(seen, [
    ['store', f, 0n],
    ['load', f + 8, 0n],
    ['exchange', f, 1n],
    ['compareExchange', f + 16, 0n],
    ['fetchOr', f + 24, 0n],
    ['fetchAnd', f, 2n],
  ]);
});

test('a change the hook makes lands before the access, so a compareExchange sees it and fails', () => {
  const mem = new PhysicalMemory();
  const f = mem.allocFrame();
  mem.store(f, SAMPLE);
  mem.hook = (kind, address) => {
    if (kind === 'compareExchange') mem.fetchOr(address, 1n << 11n);
  };
  const old = mem.compareExchange(f, SAMPLE, SAMPLE & ~(1n << 7n));
  mem.hook = undefined;
  assert.is(old, SAMPLE | (1n << 11n));
  assert.is(mem.load(f), SAMPLE | (1n << 11n));
});

test('the hook is not re-entered for accesses made inside it', () => {
  const mem = new PhysicalMemory();
  const f = mem.allocFrame();
  const calls: [MemoryAccessKind, number][] = [];
  mem.hook = (kind, address) => {
    calls.push([kind, address]);
    mem.load(f + 8);
    mem.store(f + 16, 7n);
    mem.fetchOr(f + 24, 1n);
  };
  mem.load(f);
  mem.store(f, 5n);
  assert.equal(calls, [
    ['load', f],
    ['store', f],
  ]);
  mem.hook = undefined;
  assert.is(mem.load(f), 5n);
  assert.is(mem.load(f + 16), 7n);
  assert.is(mem.load(f + 24), 1n);
});

test('a hook that throws stops the access before it happens, and the hook works again afterwards', () => {
  const mem = new PhysicalMemory();
  const f = mem.allocFrame();
  let calls = 0;
  mem.hook = () => {
    calls++;
    if (calls === 1) throw new Error('injected');
  };
  assert.throws(() => mem.store(f, 1n), /injected/);
  mem.store(f + 8, 2n); // the re-entrancy guard was reset
  assert.is(calls, 2);
  mem.hook = undefined;
  assert.is(mem.load(f), 0n);
  assert.is(mem.load(f + 8), 2n);
});

test('the hook is called even for an access that then fails', () => {
  const mem = new PhysicalMemory();
  const f = mem.allocFrame();
  const calls: [MemoryAccessKind, number][] = [];
  mem.hook = (kind, address) => calls.push([kind, address]);
  assert.throws(() => mem.load(f + 4), /8-byte aligned/);
  assert.equal(calls, [['load', f + 4]]);
});

test('frameWords throws while a hook is installed and works once it is removed', () => {
  const mem = new PhysicalMemory();
  const f = mem.allocFrame();
  mem.store(f + 8, SAMPLE);
  mem.hook = () => {};
  const msg = memoryError(() => mem.frameWords(f));
  assert.match(msg, '0x40000000');
  assert.match(msg, 'frameWords bypasses the hook');
  mem.hook = undefined;
  const words = mem.frameWords(f);
  assert.is(words[1], SAMPLE);
  assert.is(words[0], 0n);
});

test("frameWords of any address in a frame gives that frame's words", () => {
  const mem = new PhysicalMemory();
  mem.allocFrame();
  const g = mem.allocFrame();
  mem.store(g + 0x10, 42n);
  assert.is(mem.frameWords(g + 0x10)[2], 42n);
  assert.is(mem.frameWords(g + 0xff8)[2], 42n);
});

test('frameCount counts live frames; backing grows in chunks from 8 frames up to 2 MiB', () => {
  const mem = new PhysicalMemory();
  assert.is(mem.frameCount, 0);
  assert.is(mem.backingBytes, 0);
  const frames = [mem.allocFrame(), mem.allocFrame(), mem.allocFrame()];
  assert.is(mem.frameCount, 3);
  assert.is(mem.backingBytes, 8 * FRAME_SIZE);
  mem.freeFrame(frames[1]!);
  assert.is(mem.frameCount, 2);
  assert.is(mem.backingBytes, 8 * FRAME_SIZE, 'freed frames keep their backing');
  mem.allocFrame(); // reuses the freed frame
  assert.is(mem.backingBytes, 8 * FRAME_SIZE);
  // 8 + 16 + ... + 512 frames, then 2 MiB at a time.
  for (let i = 0; i < 2000; i++) mem.allocFrame();
  assert.is(mem.frameCount, 2003);
  const sizes = [8, 16, 32, 64, 128, 256, 512, 512, 512];
  assert.is(mem.backingBytes, sizes.reduce((a, b) => a + b, 0) * FRAME_SIZE);
  const next = mem.allocFrame();
  assert.is(next, 0x4000_0000 + 2003 * FRAME_SIZE);
  mem.store(next + 8, SAMPLE);
  assert.is(mem.load(next + 8), SAMPLE);
  assert.is(mem.load(next), 0n);
});

test('the write log names every word written, in order, each time (a compare-exchange only when it wrote), and nothing read', () => {
  const mem = new PhysicalMemory();
  const f = mem.allocFrame();
  mem.writeLog = [];
  mem.load(f);
  mem.store(f, 1n);
  mem.exchange(f + 8, 2n);
  mem.compareExchange(f + 16, 5n, 6n); // fails: 0 is there
  mem.compareExchange(f + 24, 0n, 7n);
  mem.fetchOr(f + 32, 1n);
  mem.fetchAnd(f + 40, 0n);
  mem.store(f, 4n);
  assert.equal(mem.writeLog, [f, f + 8, f + 24, f + 32, f + 40, f]);
  mem.writeLog = undefined;
  mem.store(f, 3n);
  assert.is(mem.load(f), 3n);
});

test('loadLow and loadHigh read bits 31:0 and 63:32 of a word as unsigned numbers', () => {
  const mem = new PhysicalMemory();
  const f = mem.allocFrame();
  mem.store(f + 16, 0x8008_ffff_f000_0783n);
  assert.is(mem.loadLow(f + 16), 0xf000_0783);
  assert.is(mem.loadHigh(f + 16), 0x8008_ffff);
  assert.is(mem.loadLow(f + 8), 0);
});

test('loadLow and loadHigh refuse while a hook is installed, and outside allocated frames', () => {
  const mem = new PhysicalMemory();
  const f = mem.allocFrame();
  mem.hook = () => undefined;
  assert.throws(() => mem.loadLow(f), /hook/);
  mem.hook = undefined;
  assert.throws(() => mem.loadHigh(f + FRAME_SIZE), /not backed/);
  assert.throws(() => mem.loadLow(f + 4), /aligned/);
});

test('release gives the chunks back to the pool: the next memory takes them zeroed, and the released one refuses every access', () => {
  const chunks = new Map<number, BigUint64Array[]>();
  const first = new PhysicalMemory({ chunks });
  const f = first.allocFrame();
  first.store(f + 8, SAMPLE);
  first.release();
  assert.is(chunks.get(8 * 512)?.length, 1);
  assert.throws(() => first.load(f + 8), /not backed/);
  assert.throws(() => first.allocFrame(), /released/);
  const second = new PhysicalMemory({ chunks });
  const g = second.allocFrame();
  assert.is(second.load(g + 8), 0n);
  assert.is(chunks.get(8 * 512)?.length, 0);
});

test.run();
