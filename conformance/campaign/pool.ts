// A pool of worker threads running a campaign's blocks (worker.ts): each worker takes
// the next block when it is idle, and each block's result lands at the block's index,
// so the results do not depend on which worker ran what. Workers load TypeScript through
// tsx when the kit runs from source (the compiled kit starts worker.js as it is).
import { Worker } from 'node:worker_threads';
import type { ProfileResult } from '../engine/run-profile.ts';
import { installKillHandlers, live } from '../protocol/process-group.ts';
import type { Unit } from './plan.ts';
import type { CampaignSettings } from './run-unit.ts';
import type { AdapterSource, FromWorker, ToWorker, WorkerInit } from './worker.ts';

export interface PoolOptions {
  readonly workers: number;
  readonly source: AdapterSource;
  readonly settings: CampaignSettings;
  /** A block's runs so far (as its worker last reported them). */
  readonly onProgress?: (unit: number, done: number) => void;
  /** Text a worker writes to the kit's standard error (warnings, DIRTYSPEC_DEBUG stacks). */
  readonly onErr?: (text: string) => void;
}

/** The workers could not load the adapters: the reason, for the note that the run falls back to one thread. */
export interface PoolUnavailable {
  readonly unavailable: string;
}

/** The resolve hook of bin/dirtyspec.js: the "dirtyspec-source" export condition (package.json "exports"). */
const SOURCE_CONDITION = `export async function resolve(specifier, context, next) {
  const conditions = context.conditions ?? [];
  return next(specifier, conditions.includes('dirtyspec-source') ? context : { ...context, conditions: [...conditions, 'dirtyspec-source'] });
}`;

/** Starts the worker entry: worker.ts through tsx, or worker.js when compiled. */
function startWorker(init: WorkerInit): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./worker.js', here), { workerData: init });
  // Module hooks do not reach worker threads: the worker registers tsx's, and the export
  // condition that resolves the package's self-references to the sources (as
  // bin/dirtyspec.js does in a checkout), before it loads its entry.
  const entry = new URL('./worker.ts', here).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = [
    `const condition = ${JSON.stringify(`data:text/javascript,${encodeURIComponent(SOURCE_CONDITION)}`)};`,
    `import(${JSON.stringify(tsx)})`,
    `  .then(({ register }) => { register(); return import('node:module'); })`,
    `  .then(({ register }) => { register(condition); return import(${JSON.stringify(entry)}); });`,
  ].join('\n');
  return new Worker(code, { eval: true, workerData: init });
}

interface Slot {
  readonly worker: Worker;
  /** The unit it runs, by index. */
  unit: number | undefined;
  ready: boolean;
  closed: boolean;
}

/**
 * Runs `units` on `options.workers` threads and returns their results in the order of
 * `units`; or, when a worker cannot load the adapters, stops every worker and says why.
 * A worker that dies takes its block with it (undecided, with the reason) and is replaced.
 */
export function runInWorkers(units: readonly Unit[], options: PoolOptions): Promise<ProfileResult[] | PoolUnavailable> {
  const init: WorkerInit = { dirtyspecCampaign: true, source: options.source, settings: options.settings };
  const results: (ProfileResult | undefined)[] = units.map(() => undefined);
  const slots = new Set<Slot>();
  // The --exec processes of the workers, killed with the kit (process-group.ts).
  const peers = new Map<number, { killNow(): void }>();
  if (options.source.kind === 'exec') installKillHandlers();
  let next = 0;
  let started = false;
  let failure: string | undefined;

  return new Promise((resolve) => {
    const done = () => {
      for (const p of peers.values()) {
        p.killNow();
        live.delete(p);
      }
      resolve(failure !== undefined ? { unavailable: failure } : (results as ProfileResult[]));
    };
    const stopAll = () => {
      for (const s of slots) void s.worker.terminate();
    };
    const dispatch = (slot: Slot) => {
      if (next >= units.length) {
        if (!slot.closed) {
          slot.closed = true;
          slot.worker.postMessage({ type: 'close' } satisfies ToWorker);
        }
        return;
      }
      slot.unit = next++;
      slot.worker.postMessage({ type: 'unit', unit: units[slot.unit]! } satisfies ToWorker);
    };
    // Blocks go out once every worker is ready, so a worker that cannot load the adapters stops the pool before any block ran.
    const maybeStart = () => {
      if (started || failure !== undefined || [...slots].some((s) => !s.ready)) return;
      started = true;
      for (const s of slots) dispatch(s);
    };
    const lost = (slot: Slot, why: string) => {
      slots.delete(slot);
      if (failure === undefined && !started) {
        failure = `a worker thread stopped while loading: ${why}`;
        stopAll();
      }
      if (slot.unit !== undefined && results[slot.unit] === undefined) {
        const u = units[slot.unit]!;
        results[slot.unit] = {
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
        if (next < units.length) spawn();
      }
      if (slots.size === 0) done();
    };
    const spawn = () => {
      const slot: Slot = { worker: startWorker(init), unit: undefined, ready: false, closed: false };
      slots.add(slot);
      slot.worker.on('message', (m: FromWorker) => {
        switch (m.type) {
          case 'ready':
            slot.ready = true;
            if (started) dispatch(slot);
            else maybeStart();
            return;
          case 'load-error':
            if (failure === undefined) failure = m.message;
            stopAll();
            return;
          case 'progress':
            if (slot.unit !== undefined) options.onProgress?.(slot.unit, m.done);
            return;
          case 'result':
            results[slot.unit!] = m.result;
            slot.unit = undefined;
            dispatch(slot);
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
      slot.worker.on('exit', (code) => {
        if (slots.has(slot)) lost(slot, `exit code ${code}`);
      });
    };
    for (let i = 0; i < Math.max(1, Math.min(options.workers, units.length)); i++) spawn();
  });
}
