// A campaign run: the blocks of the plan (plan.ts) on worker threads (pool.ts) or one
// after another in this thread, each block's result merged into its profile's
// (merge.ts). Both ways give the same results for the same plan: only the seconds differ.
import type { Adapter } from '../adapters/types.ts';
import type { Io } from '../cli/args.ts';
import type { ProfileResult } from '../engine/run-profile.ts';
import type { ReportContext } from '../report/common.ts';
import type { JsonBlocks, JsonCampaignInfo } from '../report/json.ts';
import { blockPart, mergeParts, type Part } from './merge.ts';
import { BLOCK_RUNS, type Plan, type Unit } from './plan.ts';
import { confirmHang } from './confirm-hang.ts';
import { eventLoopTurns } from './event-loop-turn.ts';
import { freeCoresNow } from './free-cores.ts';
import { runInWorkers } from './pool.ts';
import { runProfileSafely, unitOptions, type CampaignSettings } from './run-unit.ts';
import type { AdapterSource } from './worker.ts';

/** A watched worker still inside a call this long after the call's time limit is stopped (its own timer would have fired by then were the thread free). */
export const STOP_AFTER_MS = 1000;

/** By default a worker thread is started for at most every this many runs: starting one costs about a second. */
export const RUNS_PER_WORKER = 500;

/** Threads for `plan`: `requested`, or the free cores (`free`, else measured: free-cores.ts; at most one per RUNS_PER_WORKER runs); never more than its blocks. */
export async function workerCount(plan: Plan, requested: number | undefined, free?: number): Promise<number> {
  const runs = plan.units.reduce((a, u) => a + u.runs, 0);
  const most = Math.min(requested ?? Math.ceil(runs / RUNS_PER_WORKER), plan.units.length);
  // The free cores, when not given, are measured (about 0.1 s, on a timer) only where they could change the answer.
  const wanted = requested ?? (most > 1 ? Math.min(free ?? (await freeCoresNow()), most) : 1);
  return Math.max(1, Math.min(wanted, plan.units.length));
}

export interface CampaignRequest {
  readonly plan: Plan;
  /** This thread's adapters, one per profile of the plan, in report order. */
  readonly adapters: readonly Adapter[];
  /** How a worker thread finds the same adapters. */
  readonly source: AdapterSource;
  readonly settings: CampaignSettings;
  /** Threads running blocks: this one and workers - 1 worker threads (with --exec, workers worker threads, each with its own process); 1 runs them all here. */
  readonly workers: number;
  /** --record (this thread only): around each profile's blocks, and every sequence. */
  readonly record?: {
    start(adapter: Adapter, seed: number): void;
    end(adapter: Adapter): void;
    sequence(input: unknown): void;
  };
  /** This thread only: a block's result as the caller wants it reported (the --exec session's diagnostics). */
  readonly afterBlock?: (adapter: Adapter, result: ProfileResult) => ProfileResult;
  /** Progress text, when the caller draws it. */
  readonly onProgress?: (text: () => string) => void;
  readonly io: Io;
}

export interface CampaignOutcome {
  /** One merged result per adapter, in the adapters' order. */
  readonly results: ProfileResult[];
  readonly parts: Part[];
  /** The threads that ran it: 1 when in this thread. */
  readonly workers: number;
}

/** Runs every block of the plan and merges each profile's. */
export async function runCampaign(req: CampaignRequest): Promise<CampaignOutcome> {
  const { plan } = req;
  const total = plan.units.reduce((a, u) => a + u.runs, 0);
  let results: ProfileResult[] | undefined;
  let workers = req.workers;
  // An --adapter module runs in process: a call of it that never gives the thread back would
  // stop the kit for good. So its blocks run on watched worker threads (one at least), and
  // this thread only watches them (pool.ts, engine/call-watch.ts). Not with --record, whose
  // trace is written in order by this thread.
  const watched = req.source.kind === 'module' && req.record === undefined;
  if (workers > 1 || watched) {
    const done = plan.units.map(() => 0);
    const blocksDone = () => done.filter((d, i) => d >= plan.units[i]!.runs).length;
    // This thread runs blocks too, with the adapters it has (not with --exec: its process is the handshake's, and a failed session is not started again here; not a watched module's).
    const here = req.source.kind !== 'exec' && !watched;
    /** Blocks whose watched worker was stopped inside a call, or died (a module that ends its thread, or throws outside any call). */
    const lostBlocks: number[] = [];
    const byProfile = new Map(req.adapters.map((a) => [a.profile, a]));
    // This thread's blocks let the workers' messages in as they run, not only between blocks.
    const pause = eventLoopTurns();
    const pooled = await runInWorkers(plan.units, {
      workers: here ? workers - 1 : workers,
      source: req.source,
      settings: req.settings,
      ...(here ? { inThread: (unit: Unit, onProgress: (done: number) => void) => runProfileSafely(byProfile.get(unit.profile)!, unitOptions(unit, req.settings, { onProgress, pause }), req.io) } : {}),
      onProgress: (i, n) => {
        done[i] = n;
        req.onProgress?.(() => `${done.reduce((a, d, j) => a + Math.min(d, plan.units[j]!.runs), 0)}/${total} runs, ${blocksDone()} of ${plan.units.length} blocks, on ${workers} threads`);
      },
      onErr: (text) => req.io.err(text),
      ...(watched ? { stopAfterMs: STOP_AFTER_MS, onLost: (i: number) => lostBlocks.push(i) } : {}),
    });
    if ('unavailable' in pooled) {
      req.io.err(`dirtyspec run: the implementation cannot run in a worker thread (${pooled.unavailable.split('\n')[0]}); the blocks run in the main thread\n`);
      workers = 1;
    } else {
      results = pooled;
      // Each lost block again, and each block undecided by a call that did not answer in time
      // (a promise that never settles: the engine's own timer caught it), against the module
      // served by a process of its own (confirm-hang.ts): a hang that comes back there is a
      // failure, as over --exec.
      const source = req.source;
      if (source.kind === 'module') {
        const late = results.flatMap((r, i) => (r.verdict === 'undecided' && !lostBlocks.includes(i) && / did not answer within \d+ ms/.test(r.undecided?.message ?? '') ? [i] : []));
        for (const i of [...lostBlocks, ...late]) {
          req.onProgress?.(() => `${plan.units[i]!.profile} block ${plan.units[i]!.block}: a call did not come back; confirming it against the module served by a process of its own`);
          const adapter = req.adapters.find((a) => a.profile === plan.units[i]!.profile);
          const declared = adapter !== undefined && 'contract' in adapter ? adapter.contract : undefined;
          results[i] = confirmed(results[i]!, await confirmHang(source.path, plan.units[i]!, req.settings, declared), lostBlocks.includes(i));
        }
      }
    }
  }
  if (results === undefined) results = await inThisThread(req, total);
  const parts = req.adapters.map((adapter) => {
    const blocks = plan.units.flatMap((u, i) => (u.profile === adapter.profile ? [blockPart(u.block, annotate(plan, u, named(results[i]!, adapter)))] : []));
    return mergeParts(blocks, plan.seed);
  });
  return { results: parts.map((p) => p.result), parts, workers };
}

async function inThisThread(req: CampaignRequest, total: number): Promise<ProfileResult[]> {
  const results: ProfileResult[] = [];
  // Beside another campaign (npm start's other contracts), the other's workers are served meanwhile.
  const pause = eventLoopTurns();
  let before = 0;
  for (const adapter of req.adapters) {
    req.record?.start(adapter, req.plan.seed);
    for (const unit of req.plan.units) {
      if (unit.profile !== adapter.profile) continue;
      const onProgress = (done: number) => req.onProgress?.(() => `${adapter.profile} block ${unit.block}, ${done > unit.runs ? `shrinking a failure (run ${done})` : `${before + done}/${total} runs`}`);
      const sequence = req.record?.sequence;
      let result = await runProfileSafely(adapter, unitOptions(unit, req.settings, { onProgress, pause, ...(sequence === undefined ? {} : { onSequence: (input: unknown) => sequence(input) }) }), req.io);
      if (req.afterBlock !== undefined) result = req.afterBlock(adapter, result);
      results[req.plan.units.indexOf(unit)] = result;
      before += unit.runs;
    }
    req.record?.end(adapter);
  }
  return results;
}

/**
 * A block's result after its confirmation: the served run's verdict when it failed. When
 * that was undecided too: a lost block takes the served run's steps (its own are none), a
 * block that had its own shrunk steps and replay keeps them; both say what the served run said.
 */
function confirmed(original: ProfileResult, served: ProfileResult | undefined, lost: boolean): ProfileResult {
  const u = original.undecided!;
  if (served === undefined) {
    const note = 'Against the module served by a process of its own, the block ran through (so this did not reproduce: is the implementation deterministic?)';
    return { ...original, undecided: { ...u, message: `${u.message}\n${note}` } };
  }
  if (served.verdict === 'does-not-conform' || served.undecided === undefined) return served;
  const message = `${u.message}\nAgainst the module served by a process of its own: ${served.undecided.message}`;
  return lost ? { ...served, undecided: { ...served.undecided, message } } : { ...original, undecided: { ...u, message } };
}

/** A block's result under the adapter's name (a worker that could not start it knows no name). */
function named(r: ProfileResult, adapter: Adapter): ProfileResult {
  return r.adapter === '' ? { ...r, adapter: adapter.name } : r;
}

/** An undecided block says which block it was, and how to run it alone (unless its replay command, with the block's seed, says it). */
function annotate(plan: Plan, unit: Unit, r: ProfileResult): ProfileResult {
  if (plan.blockCount === 1 || r.undecided === undefined || r.replay !== undefined) return r;
  const note = `(in block ${unit.block} of the campaign's ${plan.blockCount}: --seed ${plan.seed} --block ${unit.block} runs it alone)`;
  return { ...r, undecided: { ...r.undecided, message: `${r.undecided.message}\n${note}` } };
}

/** What the JSON report carries so that `dirtyspec merge` can combine it with the other shards' reports. */
export function campaignInfo(plan: Pick<Plan, 'seed' | 'runs' | 'blockCount' | 'shard'>, parts: readonly Part[], context: ReportContext): JsonCampaignInfo {
  const blocks: Record<string, JsonBlocks> = {};
  for (const p of parts) {
    blocks[p.result.name] = {
      ran: [...p.blocks],
      ...(p.failedBlock === undefined ? {} : { counterexample: p.failedBlock }),
      ...(p.undecidedBlock === undefined ? {} : { undecided: p.undecidedBlock }),
    };
  }
  return {
    campaign: { seed: plan.seed, runs: plan.runs, blockRuns: BLOCK_RUNS, blockCount: plan.blockCount, ...(plan.shard === undefined ? {} : { shard: plan.shard }), context },
    blocks,
  };
}
