// The deadline of the adapter call in flight in this thread, where another thread can read
// it. An implementation in process (an --adapter module) that loops without end inside a
// call never gives the thread back, so the engine's own time limit (limits.ts: a timer of
// this thread) never fires and the kit would wait for ever. Such a module's blocks run on
// worker threads (conformance/campaign/pool.ts); each worker's calls publish their deadline
// here, and the pool's thread stops a worker that is still inside a call well past it.
//
// The one piece of per-thread state in the engine: set once, when a worker thread starts
// (conformance/campaign/worker.ts), never by a run; no check reads it (a stopped block's
// verdict is that of its run against the served module, campaign/confirm-hang.ts). A thread that
// never installs it (the main thread, the reference's workers) pays one comparison a call.

/** The Int32 slot of a watch buffer: the deadline, in ms after the buffer's base time; 0 when no call is in flight. */
const DEADLINE = 0;
export const CALL_WATCH_BYTES = 4;

/** The watch this thread publishes to, and the base time its deadlines count from. */
let published: { readonly slots: Int32Array; readonly base: number } | undefined;

/** Publishes this thread's call deadlines to `buffer` (CALL_WATCH_BYTES, shared), counted in ms from `base` (Date.now() when the buffer was made). */
export function publishCallDeadlines(buffer: SharedArrayBuffer, base: number): void {
  published = { slots: new Int32Array(buffer), base };
}

/** A call with a limit of `limitMs` starts now. */
export function callStarted(limitMs: number): void {
  if (published === undefined) return;
  Atomics.store(published.slots, DEADLINE, Math.max(1, Math.ceil(Date.now() - published.base + limitMs)));
}

/** The call in flight answered, threw, or ran out of its time (the engine's own timer fired: the thread is free). */
export function callEnded(): void {
  if (published === undefined) return;
  Atomics.store(published.slots, DEADLINE, 0);
}

/**
 * For the watching thread: how many ms the thread publishing to `buffer` is past the
 * deadline of the call it is in (0 when it is in none, or within it).
 */
export function overdueMs(buffer: SharedArrayBuffer, base: number, now = Date.now()): number {
  const deadline = Atomics.load(new Int32Array(buffer), DEADLINE);
  return deadline === 0 ? 0 : Math.max(0, now - base - deadline);
}
