// The programmatic API (`import { run } from 'dirtyspec'`): runs profiles against an
// implementation and returns the report object that `dirtyspec run --json` writes. A thin
// facade over what `dirtyspec run` calls: the campaign (its blocks of runs, on worker
// threads when the adapters can be loaded there) and the JSON report builder.
import { loadAdapters, referenceAdapterFor, referenceAdapters } from './adapters/registry.ts';
import { CONTRACT_NAMES, type ContractName, isContractName } from '../spec/contracts/index.ts';
import { PROFILES, type Adapter, type ProfileName } from './adapters/types.ts';
import { campaignInfo, runCampaign, workerCount } from './campaign/campaign.ts';
import { planCampaign } from './campaign/plan.ts';
import type { AdapterSource } from './campaign/worker.ts';
import type { Io } from './cli/args.ts';
import { DEFAULT_MAX_COMMANDS, DEFAULT_RUNS, DEFAULT_TIMEOUT_MS, freshSeed } from './cli/run.ts';
import type { ReportContext } from './report/common.ts';
import { jsonReportObject, type JsonReport } from './report/json.ts';

export type { Adapter, ProfileName } from './adapters/types.ts';
export type { JsonProfile, JsonReport } from './report/json.ts';
export { PROFILES } from './adapters/types.ts';
export { CONTRACT_NAMES, contracts } from '../spec/contracts/index.ts';
export type { Capabilities, Contract, ContractName } from '../spec/contracts/index.ts';
export { AdapterLoadError } from './adapters/registry.ts';

export interface RunApiOptions {
  /** The profiles to run; default every profile the implementation has. */
  readonly profiles?: readonly ProfileName[];
  /**
   * The implementation: adapter objects, or the path of an adapter module as `--adapter`
   * takes it (resolved against the working directory). Default: the built-in reference.
   */
  readonly adapters?: readonly Adapter[] | string;
  /** Sequences per profile (default 1000, as the CLI). */
  readonly runs?: number;
  /** The random seed (default: a fresh one, which the report names). */
  readonly seed?: number;
  /** A replay path from a report's `replay.path`; needs `seed` and exactly one profile. */
  readonly replay?: string;
  /** Time limit of one adapter call in milliseconds (default 2000). */
  readonly timeoutMs?: number;
  /** Longest command sequence of one run (default 30). */
  readonly maxCommands?: number;
  /**
   * Worker threads for the campaign's blocks, as `--workers` (default: the cores, at most
   * one per 200 runs). Adapter objects run in this thread: a worker cannot be handed them.
   */
  readonly workers?: number;
  /** The driver contract the smmu profiles check, as `--contract` (default: the one each adapter declares, else strict; with the built-in reference, the reference playing it). */
  readonly contract?: ContractName;
}

/** The engine keeps coverage per process: runs are queued, one at a time. */
let queue: Promise<unknown> = Promise.resolve();

/**
 * Runs the conformance suite and returns the `--json` report: `verdict` ('conforms',
 * 'does-not-conform' or 'undecided') and one entry per profile with its requirements,
 * coverage, and a failure's counterexample and replay command. An implementation that
 * misbehaves is a verdict in the report; a bad option, an adapter module that cannot be
 * loaded (AdapterLoadError) or a fault in dirtyspec itself is a rejected promise.
 */
export function run(options: RunApiOptions = {}): Promise<JsonReport> {
  const next = queue.then(() => runNow(options));
  queue = next.catch(() => undefined);
  return next;
}

async function runNow(options: RunApiOptions): Promise<JsonReport> {
  const available = await implementation(options.adapters);
  const wanted = options.profiles ?? PROFILES.filter((p) => available.has(p));
  for (const p of wanted) {
    if (!PROFILES.includes(p)) throw new RangeError(`profiles: ${JSON.stringify(p)} is not one of ${PROFILES.join(', ')}`);
    if (!available.has(p)) throw new RangeError(`profiles: ${p} is not implemented by ${typeof options.adapters === 'string' ? options.adapters : 'the adapters given'} (it implements: ${[...available.keys()].join(', ') || 'none'})`);
  }
  if (options.replay !== undefined && (options.seed === undefined || wanted.length !== 1)) throw new RangeError('replay needs seed and exactly one profile');
  const seed = options.seed ?? freshSeed();
  const runs = options.runs ?? DEFAULT_RUNS;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxCommands = options.maxCommands ?? DEFAULT_MAX_COMMANDS;
  if (options.contract !== undefined && !isContractName(options.contract)) throw new RangeError(`contract: must be one of ${CONTRACT_NAMES.join(', ')}, got ${JSON.stringify(options.contract)}`);
  const contract = options.contract;
  const byReference = options.adapters === undefined && contract !== undefined;
  const adapters = PROFILES.filter((q) => wanted.includes(q)).map((p) => (byReference ? referenceAdapterFor(p, contract) : available.get(p)!));
  // A replay is of one block, block 0, as the CLI's without --block.
  const plan = planCampaign(
    adapters.map((a) => a.profile),
    runs,
    seed,
    options.replay === undefined ? {} : { block: 0 },
  );
  const source: AdapterSource | undefined = typeof options.adapters === 'string' ? { kind: 'module', path: options.adapters } : options.adapters === undefined ? { kind: 'reference' } : undefined;
  const outcome = await runCampaign({
    plan,
    adapters,
    workers: source === undefined ? 1 : await workerCount(plan, options.workers),
    source: source ?? { kind: 'reference' },
    settings: { timeoutMs, maxCommands, ...(options.replay === undefined ? {} : { path: options.replay }), ...(contract === undefined ? {} : { contract }) },
    io: quietIo,
  });
  const ctx: ReportContext = {
    ...(typeof options.adapters === 'string' ? { adapterModule: options.adapters } : {}),
    ...(maxCommands === DEFAULT_MAX_COMMANDS ? {} : { maxCommands }),
    ...(timeoutMs === DEFAULT_TIMEOUT_MS ? {} : { timeoutMs }),
    runs,
  };
  return jsonReportObject(outcome.results, ctx, options.replay === undefined ? campaignInfo(plan, outcome.parts, ctx) : undefined);
}

/** The campaign's notes (a worker that could not load the adapters) go to stderr; nothing else is printed. */
const quietIo: Io = { out: () => undefined, err: (text) => void process.stderr.write(text), errIsTTY: false };

async function implementation(adapters: RunApiOptions['adapters']): Promise<Map<ProfileName, Adapter>> {
  if (adapters === undefined) return new Map(Object.entries(referenceAdapters) as [ProfileName, Adapter][]);
  if (typeof adapters === 'string') return loadAdapters(adapters);
  const out = new Map<ProfileName, Adapter>();
  for (const a of adapters) {
    if (out.has(a.profile)) throw new RangeError(`adapters: two adapters for profile ${a.profile}`);
    out.set(a.profile, a);
  }
  return out;
}
