// The reference run behind the status column of the spec document's requirement
// catalogue: every profile of the built-in reference implementation, with a fixed seed
// and a modest number of runs, the default time limit and command length. `dirtyspec
// spec` runs it itself (about two seconds), so the column always comes from a real run,
// the same one on every machine, and `dirtyspec spec --check` fails when a change to the
// machines, the engine or the reference changes a status. The same verdicts come out of
// `dirtyspec run --seed STATUS_SEED --runs STATUS_RUNS`.
import { referenceAdapters } from '../adapters/registry.ts';
import { PROFILES } from '../adapters/types.ts';
import { runProfile, type ProfileResult } from '../engine/run-profile.ts';
import type { StatusRun } from '../report/spec-doc.ts';
import { DEFAULT_MAX_COMMANDS, DEFAULT_TIMEOUT_MS } from './run.ts';

export const STATUS_SEED = 1;
/** Sequences per profile: decides the same requirements as 1,000 (checked when chosen), in a fraction of the time. */
export const STATUS_RUNS = 100;

let memo: Promise<StatusRun> | undefined;

/** The reference run, once per process. */
export function referenceStatusRun(): Promise<StatusRun> {
  return (memo ??= (async () => {
    const results: ProfileResult[] = [];
    for (const profile of PROFILES) {
      results.push(await runProfile(referenceAdapters[profile], { runs: STATUS_RUNS, seed: STATUS_SEED, timeoutMs: DEFAULT_TIMEOUT_MS, maxCommands: DEFAULT_MAX_COMMANDS }));
    }
    return { seed: STATUS_SEED, runs: STATUS_RUNS, results };
  })());
}
