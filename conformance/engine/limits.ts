// Every adapter call has a time limit, and every answer is checked for shape before the
// spec looks at it. Breaking either makes the verdict "undecided", never a pass.
import { dirtyBitmapBytes } from '../../spec/bitmap/dirty-bitmap.ts';
import { FAULTS, type DmaOutcome } from '../adapters/types.ts';
import type { CallWatch } from './call-watch.ts';
import { Violation } from '../../model/violation.ts';

/** The step a call would have been, as the profile that made it names it: what it was and the requirements that say it must answer. */
export interface InFlightStep {
  readonly op: string;
  readonly expected: string;
  readonly req: readonly string[];
}

export class Undecided extends Error {
  /** Set by the profile that made the call it came from (crash.ts inFlight): the step in its own terms; the innermost call wins. */
  step: InFlightStep | undefined;

  constructor(message: string) {
    super(message);
    this.name = 'Undecided';
  }
}

/**
 * An exception from the kit's own code (not a Violation, not the adapter's answer, which
 * `timed` and the checks below turn into Undecided): an engine error, never charged to a
 * requirement. The run is undecided, with the stack, so it can be reported and fixed.
 */
export function engineError(e: unknown): Undecided {
  const what = e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e);
  return new Undecided(`the kit itself failed (an engine error, not a verdict on the implementation; please report it): ${what}`);
}

/** A failure the shrunk counterexample did not show again on replay: the implementation is not deterministic (or the kit is not). */
export function notReproduced(e: unknown): Undecided {
  return new Undecided(`a sequence failed but its shrunk counterexample passed on replay, so the failure cannot be reproduced (is the implementation deterministic?): ${e instanceof Error ? e.message : String(e)}`);
}

/** 4 KiB pages per extra time limit of a call over a huge range (callWeight). */
const PAGES_PER_LIMIT = 2 ** 27;

/**
 * How many time limits (--timeout) one call over `bytes` of IOVA may take: 1, and from 2^27
 * pages (512 GiB) on, one more per 2^27 pages. Linux's type1 walks a mapping page by page
 * when it unmaps it (drivers/vfio/vfio_iommu_type1.c vfio_unmap_unpin: iommu_iova_to_phys
 * per PAGE_SIZE, v5.8 through v6.12), so the mapping of INT_MAX pages the kit makes for
 * VFIO-MAP-8 and VFIO-DIRTY-4 takes seconds in a faithful port (about 7 s, v5.8.1 to
 * v6.12.19 through --lib): a slow call, not a hang. 17 limits for 2^31 pages (34 s at the
 * default 2000 ms). Every transport applies the same weight: the engine's timer, --exec's
 * per-message limit, --lib's own measure and the kill timer of its process.
 */
export function callWeight(bytes: bigint): number {
  const pages = Number(bytes / 4096n);
  return pages < PAGES_PER_LIMIT ? 1 : 1 + pages / PAGES_PER_LIMIT;
}

/**
 * What limits a run's adapter calls: the time each may take, and where the thread running
 * them publishes the call in flight, when a watching thread may stop it (call-watch.ts;
 * a watched worker's runs only: RunOptions.watch).
 */
export interface CallLimits {
  readonly timeoutMs: number;
  readonly watch?: CallWatch | undefined;
}

/** `call` within `ms`: its answer, or Undecided when it throws or does not answer in time; published to `watch`, if any, while in flight. */
export async function timed<T>(what: string, ms: number, call: () => Promise<T>, watch?: CallWatch): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  watch?.started(ms);
  try {
    return await Promise.race([
      (async () => {
        try {
          return await call();
        } catch (e) {
          if (e instanceof Undecided) throw e;
          throw new Undecided(`${what} threw: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
        }
      })(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Undecided(`${what} did not answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    watch?.ended();
  }
}

/**
 * `timed` for the calls of one system, one after another: one timer for all of them
 * instead of one per call (a run makes tens of thousands of calls; arming and clearing a
 * timer each time was a measurable part of the engine's time). The timer is re-armed for
 * whatever is left of the call in flight when it fires, and does not keep the process
 * alive between calls. Each call in flight is published to `watch`, if any (call-watch.ts).
 */
export class CallTimer {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: { what: string | (() => string); deadline: number; fail: (e: Undecided) => void } | undefined;

  constructor(
    private readonly ms: number,
    private readonly watch?: CallWatch,
  ) {}

  /** `call` within the time limit (`weight` times it: callWeight); `what` names it in a report (a function: built only for one). */
  run<T>(what: string | (() => string), call: () => Promise<T>, weight = 1): Promise<T> {
    // A call made while another is in flight (not the engine's way, but possible), or with a limit of its own, gets its own timer.
    if (this.inFlight !== undefined || weight !== 1) return timed(typeof what === 'string' ? what : what(), Math.round(this.ms * weight), call, this.watch);
    return new Promise<T>((resolve, reject) => {
      const mine = { what, deadline: performance.now() + this.ms, fail: reject };
      this.inFlight = mine;
      this.watch?.started(this.ms);
      if (this.timer === undefined) this.timer = setTimeout(this.tick, this.ms);
      else this.timer.ref();
      const settle = () => {
        if (this.inFlight !== mine) return;
        this.watch?.ended();
        this.inFlight = undefined;
        this.timer?.unref();
      };
      let answer: Promise<T>;
      try {
        answer = call();
      } catch (e) {
        settle();
        reject(threw(mine.what, e));
        return;
      }
      Promise.resolve(answer).then(
        (v) => {
          settle();
          resolve(v);
        },
        (e) => {
          settle();
          reject(threw(mine.what, e));
        },
      );
    });
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    const f = this.inFlight;
    if (f === undefined) return;
    const left = f.deadline - performance.now();
    if (left > 0) {
      this.timer = setTimeout(this.tick, Math.ceil(left));
      return;
    }
    this.inFlight = undefined;
    this.watch?.ended();
    f.fail(new Undecided(`${nameOf(f.what)} did not answer within ${this.ms} ms`));
  };
}

const nameOf = (what: string | (() => string)) => (typeof what === 'string' ? what : what());
/** What a call that threw gives: undecided, but for a Violation the kit itself made of what the call did (a call's own throw is never a verdict). */
const threw = (what: string | (() => string), e: unknown): Undecided | Violation =>
  e instanceof Undecided || e instanceof Violation ? e : new Undecided(`${nameOf(what)} threw: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);

export function checkErrno(what: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value > 0 || value < -4095) {
    throw new Undecided(`${what} answered ${JSON.stringify(value)}: an errno result must be 0 or a negative errno (an integer in [-4095, 0])`);
  }
  return value;
}

/**
 * A byte count (an unmap's size_t): a non-negative integer. One past 2^53 is kept, inexact:
 * no range the kit asks about is that large, so the spec judges it a wrong count (a
 * negative errno returned as size_t, as Linux's __arm_lpae_unmap did before 374e7af67d9d).
 */
export function checkCount(what: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new Undecided(`${what} answered ${JSON.stringify(value)}: must be a non-negative integer`);
  }
  return value;
}

/** A dirty bitmap over `size` bytes of IOVA must be a Uint8Array of exactly ALIGN(pages, 64) / 8 bytes (BITMAP-1). */
export function checkBitmap(what: string, value: unknown, size: number): Uint8Array {
  const want = dirtyBitmapBytes(Math.ceil(size / 4096));
  if (!(value instanceof Uint8Array)) throw new Undecided(`${what} answered a dirty bitmap that is not a Uint8Array: ${Object.prototype.toString.call(value)}`);
  if (value.length !== want) throw new Undecided(`${what} answered a dirty bitmap of ${value.length} bytes; ${size / 4096} pages need exactly ${want} bytes (ALIGN(pages, 64) / 8)`);
  return value;
}

export function checkDma(what: string | (() => string), value: unknown): DmaOutcome {
  const v = value as { ok?: unknown; pa?: unknown; fault?: unknown } | null;
  if (typeof v !== 'object' || v === null || typeof v.ok !== 'boolean') throw new Undecided(`${nameOf(what)} answered ${JSON.stringify(value)}: expected { ok: true, pa } or { ok: false, fault }`);
  if (v.ok) {
    if (typeof v.pa !== 'number' || !Number.isSafeInteger(v.pa) || v.pa < 0) throw new Undecided(`${nameOf(what)} answered ok with pa ${JSON.stringify(v.pa)}: pa must be a non-negative integer`);
    return { ok: true, pa: v.pa };
  }
  if (!FAULTS.includes(v.fault as never)) throw new Undecided(`${nameOf(what)} answered fault ${JSON.stringify(v.fault)}: must be one of ${FAULTS.join(', ')}`);
  return { ok: false, fault: v.fault as DmaOutcome & { ok: false } extends { fault: infer F } ? F : never };
}
