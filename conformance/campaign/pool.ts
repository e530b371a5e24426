// A pool of threads running a campaign's blocks: worker threads (worker.ts), and
// optionally this thread too, since it would otherwise only wait (and has the adapters
// loaded already, where a worker takes about a second to load them). Each block's result
// lands at the block's index, so the results do not depend on which thread ran what;
// a thread keeps to the profiles it has started (BlockQueue) as far as the balance allows.
// A worker holds up to two blocks, so that it has the next one at hand while this
// thread, busy with a block of its own, cannot hand it out. The compiled kit starts
// worker.bundle.js (or worker.js as it is); the kit run from the sources starts dist/'s
// worker.bundle.js while dist/ was built from the sources as they are, and worker.ts through tsx
// otherwise (workerEntry: the rule bin/dirtyspec.js follows for the command).
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CALL_WATCH_BYTES, overdueMs } from '../engine/call-watch.ts';
import type { ProfileResult } from '../engine/run-profile.ts';
import { installKillHandlers, live } from '../protocol/process-group.ts';
import type { Unit } from './plan.ts';
import type { CampaignSettings } from './run-unit.ts';
import type { AdapterSource, FromWorker, ToWorker, WorkerInit } from './worker.ts';

/** Blocks a worker holds at once: the one it runs and the next. */
const QUEUE = 2;
/** How often a watched pool looks at its workers' call deadlines. */
const WATCH_EVERY_MS = 100;

/** Why a watched worker was stopped: `over` ms past its call's limit, `done` runs into its block. */
function stoppedReason(over: number, done: number): string {
  return (
    `a call into the implementation did not return: the thread running it was still inside it ${over} ms after the call's time limit (--timeout), ` +
    `so it was stopped (${done} run${done === 1 ? '' : 's'} of the block had ended when it last said). In process the kit's own timer cannot interrupt a call that never gives the thread back ` +
    '(a loop that does not end)'
  );
}

export interface PoolOptions {
  /** Worker threads to start. */
  readonly workers: number;
  readonly source: AdapterSource;
  readonly settings: CampaignSettings;
  /** Runs a block in this thread too, when given. */
  readonly inThread?: (unit: Unit, onProgress: (done: number) => void) => Promise<ProfileResult>;
  /** A block's runs so far (as its thread last reported them), by the block's index in `units`. */
  readonly onProgress?: (unit: number, done: number) => void;
  /** Text for the kit's standard error: a worker's warnings and DIRTYSPEC_DEBUG stacks, and why a worker could not load the adapters. */
  readonly onErr?: (text: string) => void;
  /**
   * Stop a worker that stays inside a call into the implementation this long past the
   * call's time limit (engine/call-watch.ts): an implementation in process that loops
   * without end never lets the worker's own timer fire. Its block is undecided, saying so,
   * and a new worker takes the blocks left. Undefined: workers are not watched.
   */
  readonly stopAfterMs?: number;
  /** A worker was stopped (the watch) or died while it ran the block at this index: its result is undecided. */
  readonly onLost?: (unit: number) => void;
}

/** No thread could load the adapters: the reason, for the note that the run falls back to one thread. */
export interface PoolUnavailable {
  readonly unavailable: string;
}

/** The resolve hook of bin/dirtyspec.js: the "dirtyspec-source" export condition (package.json "exports"). */
const SOURCE_CONDITION = `export async function resolve(specifier, context, next) {
  const conditions = context.conditions ?? [];
  return next(specifier, conditions.includes('dirtyspec-source') ? context : { ...context, conditions: [...conditions, 'dirtyspec-source'] });
}`;

/**
 * The worker entry for the pool module at `here`. Compiled: worker.bundle.js (one file,
 * scripts/bundle.js) where the build made it, else worker.js. From the sources (a
 * checkout): as bin/dirtyspec.js chooses for the command, dist/'s compiled worker while
 * dist/.source-stamp matches the sources (scripts/source-stamp.js) and DIRTYSPEC_SOURCES
 * is not set, else worker.ts, so a stale dist/ never runs. A worker loading the sources
 * through tsx takes about 1.5 s of CPU more to start (tsx transforms every module it loads).
 */
export async function workerEntry(here: string = import.meta.url): Promise<URL> {
  const compiled = (dir: URL) => {
    const bundle = new URL('worker.bundle.js', dir);
    return existsSync(bundle) ? bundle : new URL('worker.js', dir);
  };
  if (!here.endsWith('.ts')) return compiled(new URL('./', here));
  const source = new URL('./worker.ts', here);
  if (process.env.DIRTYSPEC_SOURCES) return source;
  const root = new URL('../../', here);
  const stampFile = new URL('dist/.source-stamp', root);
  const built = compiled(new URL('dist/conformance/campaign/', root));
  if (!existsSync(stampFile) || !existsSync(built)) return source;
  // Read at run time, not imported: scripts/ is the checkout's, not part of what is compiled or bundled.
  const { sourceStamp } = (await import(new URL('../../scripts/source-stamp.js', import.meta.url).href)) as { sourceStamp(root: string): string };
  return readFileSync(stampFile, 'utf8').trim() === sourceStamp(fileURLToPath(root)) ? built : source;
}

/** Starts a worker on `entry`: a compiled entry as it is, worker.ts through tsx. */
function startWorker(entry: URL, init: WorkerInit): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData: init });
  // Module hooks do not reach worker threads: the worker registers tsx's, and the export
  // condition that resolves the package's self-references to the sources (as
  // bin/dirtyspec.js does in a checkout), before it loads its entry.
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = [
    `const condition = ${JSON.stringify(`data:text/javascript,${encodeURIComponent(SOURCE_CONDITION)}`)};`,
    `import(${JSON.stringify(tsx)})`,
    `  .then(({ register }) => { register(); return import('node:module'); })`,
    `  .then(({ register }) => { register(condition); return import(${JSON.stringify(entry.href)}); });`,
  ].join('\n');
  return new Worker(code, { eval: true, workerData: init });
}

/**
 * The blocks not yet handed out. A thread is given blocks of the profiles it has run
 * already, then of a profile no thread has started, and only then some of another
 * thread's profile (the one with the most blocks left): the first blocks of a profile in
 * a thread cost more (compiling its code and tables), so each profile warms up in as few
 * threads as keep them all busy.
 */
export class BlockQueue {
  private readonly pending: number[];
  private readonly warm = new Map<object, Set<string>>();
  private readonly started = new Set<string>();

  constructor(private readonly units: readonly Unit[]) {
    this.pending = units.map((_, i) => i);
  }

  get size(): number {
    return this.pending.length;
  }

  /** The next block for `thread` (any object that stands for it), by index; undefined when none is left. */
  take(thread: object): number | undefined {
    if (this.pending.length === 0) return undefined;
    const warm = this.warm.get(thread) ?? new Set<string>();
    this.warm.set(thread, warm);
    const profile = (i: number) => this.units[i]!.profile;
    let at = this.pending.findIndex((i) => warm.has(profile(i)));
    if (at < 0) at = this.pending.findIndex((i) => !this.started.has(profile(i)));
    if (at < 0) {
      const left = new Map<string, number>();
      for (const i of this.pending) left.set(profile(i), (left.get(profile(i)) ?? 0) + 1);
      const most = [...left].reduce((a, b) => (b[1] > a[1] ? b : a))[0];
      at = this.pending.findIndex((i) => profile(i) === most);
    }
    const [index] = this.pending.splice(at, 1);
    warm.add(profile(index!));
    this.started.add(profile(index!));
    return index;
  }

  /** Blocks handed out but not run (their worker died first): handed out again. */
  giveBack(indices: readonly number[]): void {
    this.pending.push(...indices);
    this.pending.sort((a, b) => a - b);
  }
}

interface Slot {
  readonly worker: Worker;
  /** The blocks it holds, by index, in the order sent. */
  readonly held: number[];
  ready: boolean;
  closed: boolean;
  /** Where it publishes its call deadlines, when watched. */
  readonly watch?: { readonly buffer: SharedArrayBuffer; readonly base: number };
  /** Why the pool stopped it (a call that did not come back). */
  stopped?: string;
  /** The runs its current block had done when it last said. */
  done: number;
}

function lostBlock(u: Unit, why: string): ProfileResult {
  return {
    name: u.profile,
    adapter: '',
    verdict: 'undecided',
    runs: 0,
    commands: 0,
    seconds: 0,
    seed: u.seed,
    transitionCoverage: {},
    requirements: [],
    undecided: { message: `the worker thread running block ${u.block} stopped: ${why}`, steps: [] },
  };
}

/**
 * Runs `units` on `options.workers` worker threads (and this thread, with `inThread`) and
 * returns their results in the order of `units`. A worker that cannot load the adapters
 * is dropped with a note, the others carry on; when no thread is left to run the blocks,
 * the pool stops and says why. A worker that dies takes the block it ran with it
 * (undecided, with the reason), and is replaced.
 */
export async function runInWorkers(units: readonly Unit[], options: PoolOptions): Promise<ProfileResult[] | PoolUnavailable> {
  const entry = await workerEntry();
  const init: WorkerInit = { dirtyspecCampaign: true, source: options.source, settings: options.settings };
  const results: (ProfileResult | undefined)[] = units.map(() => undefined);
  const slots = new Set<Slot>();
  // The --exec processes of the workers, killed with the kit (process-group.ts).
  const peers = new Map<number, { killNow(): void }>();
  if (options.source.kind === 'exec') installKillHandlers();
  const queue = new BlockQueue(units);
  /** This thread, as the queue knows it. */
  const here = {};
  const remaining = () => queue.size > 0;
  let failure: string | undefined;
  let mainBusy = false;
  let finished = false;

  return new Promise((resolve) => {
    // The watch: a worker inside one call well past its limit is stopped (its thread does not come back by itself).
    const stopAfterMs = options.stopAfterMs;
    const watching =
      stopAfterMs === undefined
        ? undefined
        : setInterval(() => {
            for (const s of slots) {
              if (s.watch === undefined || s.stopped !== undefined) continue;
              const over = overdueMs(s.watch.buffer, s.watch.base);
              if (over <= stopAfterMs) continue;
              s.stopped = stoppedReason(over, s.done);
              void s.worker.terminate();
            }
          }, WATCH_EVERY_MS);
    const finish = () => {
      if (finished || slots.size > 0 || mainBusy) return;
      finished = true;
      clearInterval(watching);
      for (const p of peers.values()) {
        p.killNow();
        live.delete(p);
      }
      resolve(results.every((r) => r !== undefined) ? (results as ProfileResult[]) : { unavailable: failure ?? 'no thread could run the blocks' });
    };
    const fill = (slot: Slot) => {
      if (slot.closed) return;
      if (!slot.ready) {
        // Still loading, and nothing left for it: not worth waiting for (an --exec worker may be starting its process, so it is left to finish).
        if (!remaining() && options.source.kind !== 'exec') {
          slot.closed = true;
          void slot.worker.terminate();
        }
        return;
      }
      for (let index = slot.held.length < QUEUE ? queue.take(slot) : undefined; index !== undefined; index = slot.held.length < QUEUE ? queue.take(slot) : undefined) {
        slot.held.push(index);
        slot.worker.postMessage({ type: 'unit', index, unit: units[index]! } satisfies ToWorker);
      }
      if (slot.held.length === 0 && !remaining()) {
        slot.closed = true;
        slot.worker.postMessage({ type: 'close' } satisfies ToWorker);
      }
    };
    const fillAll = () => {
      for (const s of slots) fill(s);
    };
    const lost = (slot: Slot, why: string) => {
      if (!slots.delete(slot)) return;
      const [running, ...waiting] = slot.held.filter((i) => results[i] === undefined);
      if (running !== undefined) {
        results[running] = lostBlock(units[running]!, why);
        options.onLost?.(running);
      }
      queue.giveBack(waiting);
      if (remaining()) {
        if (options.inThread !== undefined) {
          if (!mainBusy) void runHere(options.inThread);
        } else if (running !== undefined || slots.size === 0) {
          if (slot.ready) spawn(); // a worker that could not load is not started again
        }
        fillAll();
      }
      finish();
    };
    const spawn = () => {
      const watch = options.stopAfterMs === undefined ? undefined : { buffer: new SharedArrayBuffer(CALL_WATCH_BYTES), base: Date.now() };
      const slot: Slot = { worker: startWorker(entry, watch === undefined ? init : { ...init, watch }), held: [], ready: false, closed: false, done: 0, ...(watch === undefined ? {} : { watch }) };
      slots.add(slot);
      slot.worker.on('message', (m: FromWorker) => {
        switch (m.type) {
          case 'ready':
            slot.ready = true;
            fill(slot);
            return;
          case 'load-error':
            // The worker ends itself; its 'exit' drops it.
            if (failure === undefined) {
              failure = m.message;
              if (options.inThread !== undefined) options.onErr?.(`dirtyspec run: the implementation cannot run in a worker thread (${m.message.split('\n')[0]}); the blocks run in the main thread\n`);
            }
            slot.closed = true;
            return;
          case 'progress':
            slot.done = m.done;
            options.onProgress?.(m.index, m.done);
            return;
          case 'result':
            results[m.index] = m.result;
            slot.held.splice(slot.held.indexOf(m.index), 1);
            fill(slot);
            return;
          case 'peer':
            if (m.running) {
              const pid = m.pid;
              const proxy = {
                killNow: () => {
                  try {
                    process.kill(-pid, 'SIGKILL');
                  } catch {
                    /* already gone */
                  }
                },
              };
              peers.set(pid, proxy);
              live.add(proxy);
            } else {
              live.delete(peers.get(m.pid)!);
              peers.delete(m.pid);
            }
            return;
          case 'err':
            options.onErr?.(m.text);
            return;
          case 'closed':
            return;
        }
      });
      slot.worker.on('error', (e) => lost(slot, e.message));
      slot.worker.on('exit', (code) => lost(slot, slot.stopped ?? `exit code ${code}`));
    };
    const runHere = async (inThread: NonNullable<PoolOptions['inThread']>) => {
      mainBusy = true;
      for (let index = queue.take(here); index !== undefined; index = queue.take(here)) {
        const i = index;
        try {
          results[i] = await inThread(units[i]!, (done) => options.onProgress?.(i, done));
        } catch (e) {
          results[i] = lostBlock(units[i]!, e instanceof Error ? e.message : String(e));
        }
        // Let the workers' messages in: their results, and their requests for more.
        await new Promise((resolve) => setImmediate(resolve));
      }
      mainBusy = false;
      fillAll(); // the workers that wait for more learn there is none
      finish();
    };
    for (let i = 0; i < Math.min(options.workers, units.length); i++) spawn();
    if (options.inThread !== undefined) void runHere(options.inThread);
    else finish();
  });
}
