// The deadline of the adapter call in flight in one thread, where another thread can read
// it. An implementation in process (an --adapter module) that loops without end inside a
// call never gives the thread back, so the engine's own time limit (limits.ts: a timer of
// this thread) never fires and the kit would wait for ever. Such a module's blocks run on
// worker threads (conformance/campaign/pool.ts); each worker's calls publish their deadline
// to a shared buffer, and the pool's thread stops a worker that is still inside a call
// well past it.
//
// A CallWatch is a value, not state of this module: a watched worker makes one when it
// starts (conformance/campaign/worker.ts) and hands it to each run in its options
// (RunOptions.watch), which pass it to whatever times a call (limits.ts: `timed`,
// CallTimer; system.ts: smmu-hw's synchronous iotlbEntries). A run without one (the main
// thread, the reference's workers, tests) pays one comparison a call. No check reads it
// (a stopped block's verdict is that of its run against the served module,
// campaign/confirm-hang.ts), so two runs in one thread, watched or not, report the same.

/** The Int32 slot of a watch buffer: the deadline, in ms after the buffer's base time; 0 when no call is in flight. */
const DEADLINE = 0;
export const CALL_WATCH_BYTES = 4;

/** Where one thread publishes the deadlines of its adapter calls: a buffer of CALL_WATCH_BYTES, shared with the watching thread. */
export class CallWatch {
  private readonly slots: Int32Array;

  /** `base`: Date.now() when the buffer was made; deadlines count in ms from it. */
  constructor(
    buffer: SharedArrayBuffer,
    private readonly base: number,
  ) {
    this.slots = new Int32Array(buffer);
  }

  /** A call with a limit of `limitMs` starts now. */
  started(limitMs: number): void {
    Atomics.store(this.slots, DEADLINE, Math.max(1, Math.ceil(Date.now() - this.base + limitMs)));
  }

  /** The call in flight answered, threw, or ran out of its time (the engine's own timer fired: the thread is free). */
  ended(): void {
    Atomics.store(this.slots, DEADLINE, 0);
  }
}

/**
 * For the watching thread: how many ms the thread publishing to `buffer` is past the
 * deadline of the call it is in (0 when it is in none, or within it).
 */
export function overdueMs(buffer: SharedArrayBuffer, base: number, now = Date.now()): number {
  const deadline = Atomics.load(new Int32Array(buffer), DEADLINE);
  return deadline === 0 ? 0 : Math.max(0, now - base - deadline);
}
