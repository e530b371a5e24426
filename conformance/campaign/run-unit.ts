// One block of a campaign as a runProfile call, in the main thread or a worker's: the
// options a block runs with, and runProfile with the engine's own exceptions turned
// into an undecided result. Light on imports, so a worker thread starts quickly.
import type { Adapter, ContractName, IovaBitmapContractName } from '../adapters/types.ts';
import type { Io } from '../cli/args.ts';
import { runProfile, type ProfileResult, type RunOptions } from '../engine/run-profile.ts';
import type { Unit } from './plan.ts';

/** RunOptions of a block: its runs and seed, and the directed tests (smmu-hw) in block 0 only. */
export type UnitOptions = RunOptions & { readonly seed: number; readonly iovaBitmapContract?: IovaBitmapContractName };

/** What every block of a campaign shares. */
export interface CampaignSettings {
  readonly timeoutMs: number;
  readonly maxCommands: number;
  /** --full-check. */
  readonly fullCheck?: boolean;
  /** --shrink-time, in ms: how long shrinking one failure may take (absent: no limit). */
  readonly shrinkMs?: number;
  /** --replay: the path to replay in the (one) block. */
  readonly path?: string;
  /** --contract: the driver contract the smmu profiles check. */
  readonly contract?: ContractName;
  /** --contract linux|hardened: the iova-bitmap profile's contract (engine/iova-bitmap-profile.ts). */
  readonly iovaBitmapContract?: IovaBitmapContractName;
  /** smmu profiles: false runs without races (no DMA injected into driver calls, no software change between hardware accesses). Not a command-line option: npm run bench measures both ways. Default true. */
  readonly interleave?: boolean;
}

/** `hooks`: what this thread adds, for its block (progress, --record, a watched worker's CallWatch, and turns of the event loop). */
export function unitOptions(unit: Unit, settings: CampaignSettings, hooks: Pick<RunOptions, 'onProgress' | 'onSequence' | 'watch' | 'pause'> = {}): UnitOptions {
  return {
    runs: unit.runs,
    seed: unit.seed,
    timeoutMs: settings.timeoutMs,
    maxCommands: settings.maxCommands,
    directed: unit.directed,
    ...(settings.fullCheck === true ? { fullCheck: true } : {}),
    ...(settings.shrinkMs === undefined ? {} : { shrinkMs: settings.shrinkMs }),
    ...(settings.path === undefined ? {} : { path: settings.path }),
    ...(settings.contract === undefined ? {} : { contract: settings.contract }),
    ...(settings.iovaBitmapContract === undefined ? {} : { iovaBitmapContract: settings.iovaBitmapContract }),
    ...(settings.interleave === false ? { interleave: false } : {}),
    ...(hooks.onProgress === undefined ? {} : { onProgress: hooks.onProgress }),
    ...(hooks.onSequence === undefined ? {} : { onSequence: hooks.onSequence }),
    ...(hooks.watch === undefined ? {} : { watch: hooks.watch }),
    ...(hooks.pause === undefined ? {} : { pause: hooks.pause }),
  };
}

/**
 * runProfile, with an exception from the engine itself (not from the adapter: the engine
 * turns those into "undecided") reported as an undecided profile rather than a crash.
 */
export async function runProfileSafely(adapter: Adapter, options: RunOptions & { seed: number }, io: Pick<Io, 'err'>): Promise<ProfileResult> {
  const started = performance.now();
  try {
    return await runProfile(adapter, options);
  } catch (e) {
    const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    if (process.env.DIRTYSPEC_DEBUG && e instanceof Error && e.stack !== undefined) io.err(`${e.stack}\n`);
    // fast-check's own complaint about a path that leads nowhere.
    const badPath = options.path !== undefined && /Unable to replay|no directed test/.test(message);
    const why = badPath
      ? `--replay ${options.path} could not be replayed (${message}): a replay path fits only the seed, profile, adapter and --max-commands it was found with`
      : `the conformance engine failed (${message}); this is a bug in dirtyspec, not a verdict on the implementation${process.env.DIRTYSPEC_DEBUG ? '' : ' (DIRTYSPEC_DEBUG=1 prints the stack)'}`;
    return {
      name: adapter.profile,
      adapter: adapter.name,
      verdict: 'undecided',
      runs: 0,
      commands: 0,
      seconds: Math.round((performance.now() - started) / 10) / 100,
      seed: options.seed,
      transitionCoverage: {},
      requirements: [],
      undecided: { message: why, steps: [] },
    };
  }
}
