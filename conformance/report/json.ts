// The machine-readable report (--json FILE):
//   {"verdict": "conforms"|"does-not-conform"|"undecided",
//    "profiles": [{"name", "adapter", "verdict", "runs", "commands", "seconds", "seed",
//                  "transitionCoverage": {machine: {covered, total, missing}},
//                  "requirements": [{"id", "verdict"}], "unreached": [ID],
//                  "counterexample"?: {config, steps, violation},
//                  "replay"?: {"seed", "path", "command"},
//                  "undecided"?: {message, steps}}]}
import type { ProfileResult, Verdict } from '../engine/run-profile.ts';
import { overallVerdict, replayCommand, sortedRequirements, type ReportContext } from './common.ts';

/** A profile's result as the engine gives it, with the unreached list always present and the replay command spelled out. */
export type JsonProfile = Omit<ProfileResult, 'name' | 'requirements' | 'unreached' | 'replay'> & {
  readonly name: string;
  readonly requirements: readonly { id: string; verdict: 'pass' | 'fail' | 'undecided' }[];
  /** The profile's requirements no step of the run checked. */
  readonly unreached: readonly string[];
  readonly replay?: { seed: number; path: string; command: string };
};

export interface JsonReport {
  readonly verdict: Verdict;
  readonly profiles: readonly JsonProfile[];
}

export function jsonProfile(r: ProfileResult, ctx: ReportContext = {}): JsonProfile {
  const command = replayCommand(r, ctx);
  return {
    name: r.name,
    adapter: r.adapter,
    verdict: r.verdict,
    runs: r.runs,
    commands: r.commands,
    seconds: r.seconds,
    seed: r.seed,
    transitionCoverage: Object.fromEntries(
      Object.entries(r.transitionCoverage).map(([m, c]) => [m, { covered: c.covered, total: c.total, missing: [...c.missing] }]),
    ),
    requirements: sortedRequirements(r).map((q) => ({ id: q.id, verdict: q.verdict })),
    unreached: [...(r.unreached ?? [])],
    ...(r.counterexample === undefined ? {} : { counterexample: r.counterexample }),
    ...(r.replay === undefined || command === undefined ? {} : { replay: { seed: r.replay.seed, path: r.replay.path, command } }),
    ...(r.undecided === undefined ? {} : { undecided: r.undecided }),
  };
}

export function jsonReportObject(results: readonly ProfileResult[], ctx: ReportContext = {}): JsonReport {
  return { verdict: overallVerdict(results), profiles: results.map((r) => jsonProfile(r, ctx)) };
}

export function jsonReport(results: readonly ProfileResult[], ctx: ReportContext = {}): string {
  return `${JSON.stringify(jsonReportObject(results, ctx), bigintAsString, 2)}\n`;
}

/** Configs hold numbers and booleans today; should one grow a 64-bit field, JSON.stringify must not throw. */
function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
