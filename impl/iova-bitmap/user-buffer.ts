// User memory as the kernel reaches it: 4 KiB pages that must be pinned
// (pin_user_pages_fast) before they are written and are unpinned afterwards. The bitmap
// may start at any byte offset. Every pin, unpin and write is counted, and a write to a
// page that is not pinned, or an unpin of one, throws: that is a bug in the caller, not
// an outcome. The user side reads and writes its own memory freely through `bytes`.

export const USER_PAGE_SIZE = 4096;

export class UserBufferError extends Error {
  constructor(page: number, rule: string) {
    super(`user page ${page}: ${rule}`);
    this.name = 'UserBufferError';
  }
}

export interface UserBufferOptions {
  /** Value every byte starts with (guard bytes around a bitmap); 0 by default. */
  readonly fill?: number;
  /** Pages that cannot be pinned (not mapped in the user's address space): pinning them fails. */
  readonly unmapped?: Iterable<number>;
}

export class UserBuffer {
  /** The user's own view of the memory. */
  readonly bytes: Uint8Array;
  readonly pageCount: number;
  private readonly pins: Uint32Array;
  private readonly unmapped: ReadonlySet<number>;
  /** Pages pinned now, the most ever pinned at once, and the calls made. */
  pinned = 0;
  maxPinned = 0;
  pinCalls = 0;
  unpinCalls = 0;
  /** Calls to orByte and fillBytes: a range written a byte at a time costs one call per byte. */
  writeCalls = 0;

  /** `size` bytes, rounded up to whole pages. */
  constructor(size: number, options: UserBufferOptions = {}) {
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`UserBuffer size must be a non-negative integer, got ${size}`);
    this.pageCount = Math.ceil(size / USER_PAGE_SIZE);
    this.bytes = new Uint8Array(this.pageCount * USER_PAGE_SIZE);
    if (options.fill !== undefined) this.bytes.fill(options.fill);
    this.pins = new Uint32Array(this.pageCount);
    this.unmapped = new Set(options.unmapped ?? []);
  }

  get size(): number {
    return this.bytes.length;
  }

  /** Pins one page; false (nothing pinned) if the page is outside the buffer or unmapped. */
  pin(page: number): boolean {
    this.pinCalls++;
    if (!(page >= 0 && page < this.pageCount) || this.unmapped.has(page)) return false;
    if (this.pins[page]!++ === 0) {
      this.pinned++;
      if (this.pinned > this.maxPinned) this.maxPinned = this.pinned;
    }
    return true;
  }

  unpin(page: number): void {
    this.unpinCalls++;
    if (!this.isPinned(page)) throw new UserBufferError(page, 'unpinned but not pinned');
    if (--this.pins[page]! === 0) this.pinned--;
  }

  isPinned(page: number): boolean {
    return page >= 0 && page < this.pageCount && this.pins[page]! > 0;
  }

  /** ORs `mask` into byte `offset` of a pinned page. */
  orByte(page: number, offset: number, mask: number): void {
    this.checkWrite(page, offset, offset + 1);
    this.bytes[page * USER_PAGE_SIZE + offset]! |= mask;
  }

  /** Sets bytes [start, end) of a pinned page to `value`. */
  fillBytes(page: number, start: number, end: number, value: number): void {
    this.checkWrite(page, start, end);
    const at = page * USER_PAGE_SIZE;
    this.bytes.fill(value, at + start, at + end);
  }

  /** Reads byte `offset` of a pinned page. */
  readByte(page: number, offset: number): number {
    if (!this.isPinned(page)) throw new UserBufferError(page, 'read while not pinned');
    if (!(offset >= 0 && offset < USER_PAGE_SIZE)) throw new UserBufferError(page, `read of byte ${offset} is not inside the page`);
    return this.bytes[page * USER_PAGE_SIZE + offset]!;
  }

  private checkWrite(page: number, start: number, end: number): void {
    this.writeCalls++;
    if (!this.isPinned(page)) throw new UserBufferError(page, 'written while not pinned');
    if (!(start >= 0 && start < end && end <= USER_PAGE_SIZE)) throw new UserBufferError(page, `write of bytes [${start}, ${end}) is not inside the page`);
  }
}
