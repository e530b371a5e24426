// The entry of a campaign's worker thread (pool.ts starts it). It names its adapters
// rather than receiving them, since functions do not cross threads: the reference
// adapters by profile, an --adapter module loaded again here, or an --exec command this
// worker starts a process of its own for. It says 'ready' (or why it cannot run the
// adapters), then runs one block at a time as the pool sends them and posts each
// block's ProfileResult back. A watched worker makes its CallWatch here, once, and hands it
// to each block's run (RunOptions.watch): the engine keeps no per-thread state of its own.
import { parentPort, workerData } from 'node:worker_threads';
import type { Adapter, ProfileName } from '../adapters/types.ts';
import { CallWatch } from '../engine/call-watch.ts';
import type { ProfileResult } from '../engine/run-profile.ts';
import type { ExecPeer } from '../protocol/peer.ts';
import type { Unit } from './plan.ts';
import { runProfileSafely, unitOptions, type CampaignSettings } from './run-unit.ts';

/** How a worker finds the adapters of the run. */
export type AdapterSource = { readonly kind: 'reference' } | { readonly kind: 'module'; readonly path: string } | { readonly kind: 'exec'; readonly command: string };

export interface WorkerInit {
  readonly dirtyspecCampaign: true;
  readonly source: AdapterSource;
  readonly settings: CampaignSettings;
  /** Where this worker publishes the deadline of its call in flight, for the pool to stop it when it does not come back (engine/call-watch.ts). */
  readonly watch?: { readonly buffer: SharedArrayBuffer; readonly base: number };
}

/** The pool to a worker. */
export type ToWorker = { readonly type: 'unit'; readonly index: number; readonly unit: Unit } | { readonly type: 'close' };

/** A worker to the pool. */
export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'load-error'; readonly message: string }
  | { readonly type: 'progress'; readonly index: number; readonly done: number }
  | { readonly type: 'result'; readonly index: number; readonly result: ProfileResult }
  /** An --exec process this worker started (running) or ended: the main thread kills its group if the kit is interrupted. */
  | { readonly type: 'peer'; readonly pid: number; readonly running: boolean }
  | { readonly type: 'err'; readonly text: string }
  | { readonly type: 'closed' };

const PROGRESS_EVERY_MS = 100;

/** A block that did not get to run. */
function undecided(unit: Unit, message: string): ProfileResult {
  return { name: unit.profile, adapter: '', verdict: 'undecided', runs: 0, commands: 0, seconds: 0, seed: unit.seed, transitionCoverage: {}, requirements: [], undecided: { message, steps: [] } };
}

class Worker {
  private module: Map<ProfileName, Adapter> | undefined;
  private peer: ExecPeer | undefined;
  /** Where every block's calls are published, when the pool watches this worker (engine/call-watch.ts). */
  private readonly watch: CallWatch | undefined;

  constructor(
    private readonly init: WorkerInit,
    private readonly post: (m: FromWorker) => void,
  ) {
    this.watch = init.watch === undefined ? undefined : new CallWatch(init.watch.buffer, init.watch.base);
  }

  /** Loads what the source names; throws when this thread cannot. */
  async load(): Promise<void> {
    const s = this.init.source;
    if (s.kind === 'reference') await import('../adapters/registry.ts');
    else if (s.kind === 'module') this.module = await (await import('../adapters/registry.ts')).loadAdapters(s.path);
    else await this.startPeer();
  }

  private async startPeer(): Promise<ExecPeer> {
    const s = this.init.source as Extract<AdapterSource, { kind: 'exec' }>;
    const { ExecPeer } = await import('../protocol/peer.ts');
    // A crash being shrunk renews the process (peer.ts): the main thread must know the new group, to kill it on an interrupt.
    const onRenew = (ended: number | undefined, started: number | undefined) => {
      if (ended !== undefined) this.post({ type: 'peer', pid: ended, running: false });
      if (started !== undefined) this.post({ type: 'peer', pid: started, running: true });
    };
    const peer = await ExecPeer.start(s.command, { timeoutMs: this.init.settings.timeoutMs, onRenew });
    if (peer.pid !== undefined) this.post({ type: 'peer', pid: peer.pid, running: true });
    this.peer = peer;
    return peer;
  }

  private async closePeer(): Promise<void> {
    const peer = this.peer;
    if (peer === undefined) return;
    this.peer = undefined;
    const ending = await peer.close();
    if (peer.pid !== undefined) this.post({ type: 'peer', pid: peer.pid, running: false });
    if (ending !== undefined) this.post({ type: 'err', text: `dirtyspec run: warning: ${peer.command}: ${ending} (the verdict above stands; PROTOCOL.md, "Lifecycle")\n` });
  }

  private async adapter(profile: ProfileName): Promise<Adapter> {
    const s = this.init.source;
    if (s.kind === 'reference') return (await import('../adapters/registry.ts')).referenceAdapterFor(profile, this.init.settings.contract, this.init.settings.iovaBitmapContract);
    if (s.kind === 'module') {
      const a = this.module?.get(profile);
      if (a === undefined) throw new Error(`--adapter ${s.path} has no adapter for profile ${profile} in a worker thread`);
      return a;
    }
    // A session that ended (an undecided block) is not reused: the next block gets a fresh process.
    if (this.peer === undefined || this.peer.failed) {
      await this.closePeer();
      await this.startPeer();
    }
    const a = (await import('../protocol/exec-adapters.ts')).execAdapters(this.peer!).get(profile);
    if (a === undefined) throw new Error(`--exec ${s.command}: its hello in a worker thread does not name profile ${profile}`);
    return a;
  }

  async run(index: number, unit: Unit): Promise<ProfileResult> {
    let adapter: Adapter;
    try {
      adapter = await this.adapter(unit.profile);
    } catch (e) {
      return undecided(unit, `a worker thread could not start the implementation for block ${unit.block}: ${(e as Error).message}`);
    }
    let last = 0;
    const onProgress = (done: number) => {
      const now = performance.now();
      if (now - last < PROGRESS_EVERY_MS) return;
      last = now;
      this.post({ type: 'progress', index, done });
    };
    const options = unitOptions(unit, this.init.settings, this.watch === undefined ? { onProgress } : { onProgress, watch: this.watch });
    let result = await runProfileSafely(adapter, options, { err: (text) => this.post({ type: 'err', text }) });
    const peer = this.peer;
    if (result.verdict === 'undecided' && peer !== undefined && !peer.failed) {
      // As `dirtyspec run` in one thread: the engine gave up on an operation while the
      // process kept talking; show what it said, and end the session.
      const u = result.undecided!;
      result = { ...result, undecided: { ...u, message: `${u.message}\n${peer.diagnostics()}` } };
      peer.fail(`the run of profile ${unit.profile} was undecided, so the session ended`);
    }
    return result;
  }

  async close(): Promise<void> {
    await this.closePeer();
  }
}

async function serve(): Promise<void> {
  const port = parentPort!;
  const post = (m: FromWorker) => port.postMessage(m);
  const init = workerData as WorkerInit;
  const worker = new Worker(init, post);
  try {
    await worker.load();
  } catch (e) {
    post({ type: 'load-error', message: e instanceof Error ? e.message : String(e) });
    await worker.close();
    port.close();
    return;
  }
  // One block at a time, in the order sent: the pool may send the next before this one ends.
  let queue = Promise.resolve();
  port.on('message', (m: ToWorker) => {
    if (m.type === 'unit') {
      queue = queue.then(async () => {
        const result = await worker.run(m.index, m.unit).catch((e: unknown): ProfileResult => undecided(m.unit, `a worker thread failed running block ${m.unit.block}: ${e instanceof Error ? e.message : String(e)}`));
        try {
          post({ type: 'result', index: m.index, result });
        } catch {
          // Something in the result does not cross threads (a function in an adapter's answer, say): its JSON form does.
          post({ type: 'result', index: m.index, result: JSON.parse(JSON.stringify(result, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) as ProfileResult });
        }
      });
    } else {
      queue = queue.then(async () => {
        await worker.close();
        post({ type: 'closed' });
        port.close();
      });
    }
  });
  post({ type: 'ready' });
}

if (parentPort !== null && (workerData as Partial<WorkerInit> | null)?.dirtyspecCampaign === true) await serve();
