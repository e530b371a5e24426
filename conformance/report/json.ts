// The machine-readable report (--json FILE):
//   {"verdict": "conforms"|"does-not-conform"|"undecided",
//    "profiles": [{"name", "adapter", "verdict", "runs", "directedRuns"?, "commands", "seconds", "seed",
//                  "transitionCoverage": {machine: {covered, total, missing, forbidden?: {key: "checked"|"taken"|"unchecked"}}},
//                  "requirements": [{"id", "verdict"}], "unreached": [ID],
//                  "counterexample"?: {config, steps, violation},
//                  "shrinkStopped"?: {"seconds", "attempts"} (shrinking ran out of --shrink-time: a shorter counterexample may exist),
//                  "replay"?: {"seed", "path", "command"},
//                  "undecided"?: {message, steps},
//                  "blocks"?: {"ran": [b], "counterexample"?: b, "undecided"?: b}}],
//    "campaign"?: {"seed", "runs", "blockRuns", "blockCount", "shard"?: {"index", "of"},
//                  "context": {adapterModule?, execCommand?, maxCommands?, timeoutMs?, runs?}}}
// "campaign" and "blocks" say which blocks of which campaign the report covers
// (conformance/campaign/plan.ts), so that `dirtyspec merge` can combine the reports of
// a campaign's shards; a report without them (a --replay) cannot be merged.
import type { ProfileResult, Verdict } from '../engine/run-profile.ts';
import { overallVerdict, replayCommand, sortedRequirements, type ReportContext } from './common.ts';

/** A profile's result as the engine gives it, with the unreached list always present and the replay command spelled out. */
export type JsonProfile = Omit<ProfileResult, 'name' | 'requirements' | 'unreached' | 'replay'> & {
  readonly name: string;
  readonly requirements: readonly { id: string; verdict: 'pass' | 'fail' | 'undecided' }[];
  /** The profile's requirements no step of the run checked. */
  readonly unreached: readonly string[];
  readonly replay?: { seed: number; path: string; command: string };
  /** The campaign's blocks behind this result, and the block the counterexample or undecided reason comes from. */
  readonly blocks?: JsonBlocks;
};

export interface JsonBlocks {
  readonly ran: readonly number[];
  readonly counterexample?: number;
  readonly undecided?: number;
}

/** The campaign a report is (part of): what `dirtyspec merge` checks its inputs agree on. */
export interface JsonCampaign {
  readonly seed: number;
  /** Runs per profile of the whole campaign, every shard's together. */
  readonly runs: number;
  readonly blockRuns: number;
  readonly blockCount: number;
  readonly shard?: { readonly index: number; readonly of: number };
  /** How the run was invoked, for the replay commands of a merged report. */
  readonly context: ReportContext;
}

/** A report's campaign, and each profile's blocks by profile name. */
export interface JsonCampaignInfo {
  readonly campaign: JsonCampaign;
  readonly blocks: Readonly<Record<string, JsonBlocks>>;
}

export interface JsonReport {
  readonly verdict: Verdict;
  readonly profiles: readonly JsonProfile[];
  readonly campaign?: JsonCampaign;
}

export function jsonProfile(r: ProfileResult, ctx: ReportContext = {}, blocks?: JsonBlocks): JsonProfile {
  const command = replayCommand(r, ctx);
  return {
    name: r.name,
    adapter: r.adapter,
    verdict: r.verdict,
    runs: r.runs,
    ...(r.directedRuns === undefined ? {} : { directedRuns: r.directedRuns }),
    commands: r.commands,
    seconds: r.seconds,
    seed: r.seed,
    transitionCoverage: Object.fromEntries(Object.entries(r.transitionCoverage).map(([m, c]) => [m, { covered: c.covered, total: c.total, missing: [...c.missing], ...(c.forbidden === undefined ? {} : { forbidden: { ...c.forbidden } }) }])),
    requirements: sortedRequirements(r).map((q) => ({ id: q.id, verdict: q.verdict })),
    unreached: [...(r.unreached ?? [])],
    ...(r.counterexample === undefined ? {} : { counterexample: r.counterexample }),
    ...(r.shrinkStopped === undefined ? {} : { shrinkStopped: r.shrinkStopped }),
    ...(r.replay === undefined || command === undefined ? {} : { replay: { seed: r.replay.seed, path: r.replay.path, command } }),
    ...(r.undecided === undefined ? {} : { undecided: r.undecided }),
    ...(blocks === undefined ? {} : { blocks }),
    ...(r.contract === undefined ? {} : { contract: r.contract }),
  };
}

export function jsonReportObject(results: readonly ProfileResult[], ctx: ReportContext = {}, campaign?: JsonCampaignInfo): JsonReport {
  return {
    verdict: overallVerdict(results),
    // A profile's blocks are its first result's (a second result of the profile is another contract's campaign).
    profiles: results.map((r, i) => jsonProfile(r, ctx, results.findIndex((x) => x.name === r.name) === i ? campaign?.blocks[r.name] : undefined)),
    ...(campaign === undefined ? {} : { campaign: campaign.campaign }),
  };
}

export function jsonReport(results: readonly ProfileResult[], ctx: ReportContext = {}, campaign?: JsonCampaignInfo): string {
  return `${JSON.stringify(jsonReportObject(results, ctx, campaign), bigintAsString, 2)}\n`;
}

/** Configs hold numbers and booleans today; should one grow a 64-bit field, JSON.stringify must not throw. */
function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
