// The programmatic API (`import { run } from 'dirtyspec'`): runs profiles against an
// implementation and returns the report object that `dirtyspec run --json` writes. A thin
// facade over the engine (runProfile) and the JSON report builder; the CLI is the same
// engine with flags.
import { loadAdapters, referenceAdapters } from './adapters/registry.ts';
import { PROFILES, type Adapter, type ProfileName } from './adapters/types.ts';
import { DEFAULT_MAX_COMMANDS, DEFAULT_RUNS, DEFAULT_TIMEOUT_MS, freshSeed } from './cli/run.ts';
import { runProfile } from './engine/run-profile.ts';
import type { ReportContext } from './report/common.ts';
import { jsonReportObject, type JsonReport } from './report/json.ts';

export type { Adapter, ProfileName } from './adapters/types.ts';
export type { JsonProfile, JsonReport } from './report/json.ts';
export { PROFILES } from './adapters/types.ts';
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
  const results = [];
  for (const p of PROFILES.filter((q) => wanted.includes(q))) {
    results.push(await runProfile(available.get(p)!, { runs, seed, timeoutMs, maxCommands, ...(options.replay === undefined ? {} : { path: options.replay }) }));
  }
  const ctx: ReportContext = {
    runs,
    ...(typeof options.adapters === 'string' ? { adapterModule: options.adapters } : {}),
    ...(maxCommands === DEFAULT_MAX_COMMANDS ? {} : { maxCommands }),
    ...(timeoutMs === DEFAULT_TIMEOUT_MS ? {} : { timeoutMs }),
  };
  return jsonReportObject(results, ctx);
}

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
