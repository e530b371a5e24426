// Physical memory of 64-bit words, as the SMMU and the page-table driver see it. Page
// tables live here; the driver and the hardware touch descriptors only through these
// operations, each a single-copy-atomic 64-bit access, so that a hook can run between
// any two of them (the conformance engine injects DMA there).
//
// Memory is handed out a 4 KiB frame at a time (`allocFrame`), on typed arrays
// allocated in chunks, so a sparse 48-bit address space costs only the frames in use.

export type MemoryAccessKind = 'load' | 'store' | 'exchange' | 'compareExchange' | 'fetchOr' | 'fetchAnd';

/** Called before every access while installed; accesses made by the hook itself do not call it again. */
export type MemoryHook = (kind: MemoryAccessKind, address: number) => void;

export class MemoryError extends Error {
  constructor(address: number, rule: string) {
    super(`physical address 0x${address.toString(16)}: ${rule}`);
    this.name = 'MemoryError';
  }
}

export const FRAME_SIZE = 4096;
const WORDS_PER_FRAME = FRAME_SIZE / 8;
const MAX_FRAMES_PER_CHUNK = 512; // chunks grow from 8 frames to 2 MiB of backing store

/**
 * Backing store handed from one memory to the next, by its length in words: a campaign
 * makes a small memory per run, thousands of them, and a chunk that is new to the process
 * is zero-filled by the allocator and faulted in page by page, which on the kit's virtual
 * machines cost more than the run's own page-table work (about 0.1 ms a run). A chunk
 * taken from it is zeroed first.
 */
export type ChunkPool = Map<number, BigUint64Array[]>;

/** Chunks of one length a pool keeps; more are left to the garbage collector. */
const POOLED_PER_LENGTH = 4;

export interface PhysicalMemoryOptions {
  /** First physical address handed out by `allocFrame` (4 KiB aligned). */
  readonly base?: number;
  /** Where chunks come from first, and go back to on `release`. */
  readonly chunks?: ChunkPool;
}

/**
 * The index of a word in its frame, from its offset from the base. A BigUint64Array keeps
 * a stored value modulo 2^64 (ECMA-262 ToBigUint64), so the stores below need no mask.
 */
const slot = (offset: number): number => (offset % FRAME_SIZE) / 8;

/** Which of a word's two 32-bit halves holds its bits 31:0 in a Uint32Array over the same bytes (the platform's byte order, as the BigUint64Array's). */
const LOW_HALF = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 0 : 1;

export class PhysicalMemory {
  /** The access hook; `undefined` costs one comparison per access. */
  hook: MemoryHook | undefined = undefined;
  /**
   * While set, the address of every write (store, exchange, a compare-exchange that wrote,
   * fetch-or, fetch-and) is appended to it, in order (a word written twice is there twice):
   * whoever owns the memory learns which words changed since it last looked, without
   * reading them all. An array, not a set: an append costs less than a hash, and the
   * reader takes each address once anyway.
   */
  writeLog: number[] | undefined = undefined;
  private inHook = false;
  private readonly base: number;
  /** Live frames by index; a freed frame's slot is `undefined` (its view waits in `pool`). */
  private readonly frames: (BigUint64Array | undefined)[] = [];
  private readonly pool: BigUint64Array[] = [];
  /** The same frames as 32-bit halves (`loadLow`, `loadHigh`), by index as `frames` and `pool`. */
  private readonly halves: (Uint32Array | undefined)[] = [];
  private readonly halvesPool: Uint32Array[] = [];
  private readonly freeList: number[] = [];
  private chunk: BigUint64Array | undefined;
  /** Every chunk this memory took, for `release`. */
  private readonly chunks: BigUint64Array[] = [];
  private readonly chunkPool: ChunkPool | undefined;
  private released = false;
  private chunkFrames = 4;
  private chunkUsed = 4;
  private backing = 0;
  private framesInUse = 0;

  constructor(options: PhysicalMemoryOptions = {}) {
    const base = options.base ?? 0x4000_0000;
    if (!Number.isSafeInteger(base) || base < 0 || base % FRAME_SIZE !== 0) {
      throw new MemoryError(base, 'base must be a non-negative multiple of 4096');
    }
    this.base = base;
    this.chunkPool = options.chunks;
  }

  /** A zeroed 4 KiB frame; returns its physical address. */
  allocFrame(): number {
    if (this.released) throw new MemoryError(this.base, 'allocFrame on a memory that was released');
    const reused = this.freeList.pop();
    if (reused !== undefined) {
      this.frames[reused] = this.pool[reused]!.fill(0n);
      this.halves[reused] = this.halvesPool[reused];
      this.framesInUse++;
      return this.base + reused * FRAME_SIZE;
    }
    if (this.chunkUsed === this.chunkFrames) {
      // Small systems (a conformance run makes thousands) stay small; big ones get 2 MiB chunks.
      this.chunkFrames = Math.min(MAX_FRAMES_PER_CHUNK, this.chunkFrames * 2);
      const words = this.chunkFrames * WORDS_PER_FRAME;
      this.chunk = this.chunkPool?.get(words)?.pop()?.fill(0n) ?? new BigUint64Array(words);
      this.chunks.push(this.chunk);
      this.backing += this.chunkFrames * FRAME_SIZE;
      this.chunkUsed = 0;
    }
    const start = this.chunkUsed++ * WORDS_PER_FRAME;
    const index = this.frames.length;
    const view = this.chunk!.subarray(start, start + WORDS_PER_FRAME);
    const halves = new Uint32Array(view.buffer, view.byteOffset, WORDS_PER_FRAME * 2);
    this.frames.push(view);
    this.pool.push(view);
    this.halves.push(halves);
    this.halvesPool.push(halves);
    this.framesInUse++;
    return this.base + index * FRAME_SIZE;
  }

  freeFrame(address: number): void {
    if (address % FRAME_SIZE !== 0) throw new MemoryError(address, 'freeFrame needs a frame-aligned address');
    const index = Math.floor((address - this.base) / FRAME_SIZE);
    if (this.frames[index] === undefined) throw new MemoryError(address, 'freeFrame of a frame that is not allocated');
    this.frames[index] = undefined;
    this.halves[index] = undefined;
    this.freeList.push(index);
    this.framesInUse--;
  }

  /**
   * Gives this memory's chunks back to its pool (PhysicalMemoryOptions.chunks), for the next
   * memory to take: every frame is gone from this one, so a later access through it throws
   * (not backed) instead of reaching what the next memory keeps there.
   */
  release(): void {
    this.released = true;
    this.frames.fill(undefined);
    this.halves.fill(undefined);
    this.pool.length = 0;
    this.halvesPool.length = 0;
    this.freeList.length = 0;
    this.framesInUse = 0;
    this.chunk = undefined;
    this.chunkUsed = this.chunkFrames;
    const pool = this.chunkPool;
    for (const c of this.chunks.splice(0)) {
      if (pool === undefined) continue;
      const same = pool.get(c.length);
      if (same === undefined) pool.set(c.length, [c]);
      else if (same.length < POOLED_PER_LENGTH) same.push(c);
    }
  }

  /** Frames currently allocated. */
  get frameCount(): number {
    return this.framesInUse;
  }

  /** Bytes of backing store allocated (all chunks). */
  get backingBytes(): number {
    return this.backing;
  }

  /** The frame holding the 64-bit word at `address` (its index there is `slot(address - base)`). */
  private frameOf(address: number): BigUint64Array {
    return this.backed(address, this.frames);
  }

  /** The entry of `views` (frames or their halves) for the frame of the word at `address`, which must be 8-byte aligned and allocated. */
  private backed<V>(address: number, views: readonly (V | undefined)[]): V {
    if (!Number.isSafeInteger(address) || address % 8 !== 0) throw new MemoryError(address, 'a 64-bit access must be 8-byte aligned');
    const index = Math.floor((address - this.base) / FRAME_SIZE);
    const view = index >= 0 ? views[index] : undefined;
    if (view === undefined) throw new MemoryError(address, 'not backed by an allocated frame');
    return view;
  }

  private callHook(kind: MemoryAccessKind, address: number): void {
    if (this.inHook) return;
    this.inHook = true;
    try {
      this.hook!(kind, address);
    } finally {
      this.inHook = false;
    }
  }

  load(address: number): bigint {
    if (this.hook !== undefined) this.callHook('load', address);
    const f = this.frameOf(address);
    const i = slot(address - this.base);
    return f[i]!;
  }

  store(address: number, value: bigint): void {
    if (this.hook !== undefined) this.callHook('store', address);
    const f = this.frameOf(address);
    const i = slot(address - this.base);
    f[i] = value;
    this.writeLog?.push(address);
  }

  /** Atomically writes `value`; returns the old value. */
  exchange(address: number, value: bigint): bigint {
    if (this.hook !== undefined) this.callHook('exchange', address);
    const f = this.frameOf(address);
    const i = slot(address - this.base);
    const old = f[i]!;
    f[i] = value;
    this.writeLog?.push(address);
    return old;
  }

  /** Atomically writes `replacement` if the word equals `expected`; returns the old value either way. */
  compareExchange(address: number, expected: bigint, replacement: bigint): bigint {
    if (this.hook !== undefined) this.callHook('compareExchange', address);
    const f = this.frameOf(address);
    const i = slot(address - this.base);
    const old = f[i]!;
    if (old === expected) {
      f[i] = replacement;
      this.writeLog?.push(address);
    }
    return old;
  }

  /** Atomically ORs `mask` in; returns the old value. */
  fetchOr(address: number, mask: bigint): bigint {
    if (this.hook !== undefined) this.callHook('fetchOr', address);
    const f = this.frameOf(address);
    const i = slot(address - this.base);
    const old = f[i]!;
    f[i] = old | mask;
    this.writeLog?.push(address);
    return old;
  }

  /** Atomically ANDs `mask` in; returns the old value. */
  fetchAnd(address: number, mask: bigint): bigint {
    if (this.hook !== undefined) this.callHook('fetchAnd', address);
    const f = this.frameOf(address);
    const i = slot(address - this.base);
    const old = f[i]!;
    f[i] = old & mask;
    this.writeLog?.push(address);
    return old;
  }

  /**
   * Bits 31:0 of the word at `address`, as an unsigned number: a read by the kit that only
   * tests bits (model/check-descriptors.ts), without the BigInt a `load` makes. Like
   * `frameWords` it bypasses the hook, so it refuses while one is installed.
   */
  loadLow(address: number): number {
    return this.halvesOf(address)[slot(address - this.base) * 2 + LOW_HALF]!;
  }

  /** Bits 63:32 of the word at `address`, as an unsigned number (see `loadLow`). */
  loadHigh(address: number): number {
    return this.halvesOf(address)[slot(address - this.base) * 2 + 1 - LOW_HALF]!;
  }

  private halvesOf(address: number): Uint32Array {
    if (this.hook !== undefined) throw new MemoryError(address, 'loadLow and loadHigh bypass the hook; use load() while a hook is installed');
    return this.backed(address, this.halves);
  }

  /**
   * The words of the frame at `address`, for bulk scans by code that has checked
   * `hook === undefined` (no interleaving is possible then). Reads only; writes must
   * go through the operations above.
   */
  frameWords(address: number): BigUint64Array {
    if (this.hook !== undefined) throw new MemoryError(address, 'frameWords bypasses the hook; use load() while a hook is installed');
    const f = this.frameOf(address);
    return f;
  }
}
