// `dirtyspec merge`: the --json reports of a campaign's shards (`dirtyspec run --shard
// I/N --seed S --json FILE`) combined into the report of the whole campaign, with the
// text report, exit status and report files that `dirtyspec run` gives for it unsharded.
import { readFile } from 'node:fs/promises';
import { PROFILES, type ProfileName } from '../adapters/types.ts';
import { UsageError, parseFlags, reportFileFlag, type Io } from '../cli/args.ts';
import { writeReports } from '../cli/run.ts';
import type { ProfileResult } from '../engine/run-profile.ts';
import type { ReportContext } from '../report/common.ts';
import type { JsonCampaign, JsonProfile, JsonReport } from '../report/json.ts';
import { campaignInfo } from './campaign.ts';
import { mergeParts, type Part } from './merge.ts';
import { BLOCK_RUNS } from './plan.ts';

export const MERGE_HELP = `usage: dirtyspec merge REPORT.json... [--json FILE] [--junit FILE] [--html FILE]

Combines the --json reports of the shards of one campaign (each from
\`dirtyspec run --seed S --shard I/N --json FILE\`, same seed, runs and implementation)
into the report of the whole campaign: the same verdict, coverage, counts and
counterexample as \`dirtyspec run --seed S\` without --shard. Prints the text report and
exits as dirtyspec run does; every block of the campaign must be in exactly one report.

  --json FILE        also write the merged report as JSON
  --junit FILE       also write it as JUnit XML
  --html FILE        also write it as one self-contained HTML file
  -h, --help         this text

exit status: 0 every profile conforms, 1 a profile does not conform,
             2 a profile is undecided, or a report is missing, unreadable or of another campaign`;

const FLAGS = {
  json: { type: 'string' },
  junit: { type: 'string' },
  html: { type: 'string' },
} as const;

/** The reports named on the command line, and the flags (parsed as every command's are). */
function splitArgs(argv: readonly string[]): { files: string[]; flags: string[] } {
  const files: string[] = [];
  const flags: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      files.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      files.push(a);
      continue;
    }
    flags.push(a);
    if (Object.hasOwn(FLAGS, a.slice(2)) && i + 1 < argv.length) flags.push(argv[++i]!);
  }
  return { files, flags };
}

/** A report of one shard, checked as far as the merge relies on it. */
interface ShardReport {
  readonly file: string;
  readonly campaign: JsonCampaign;
  readonly profiles: readonly JsonProfile[];
}

const isInt = (v: unknown): v is number => Number.isSafeInteger(v);

async function readReport(file: string): Promise<ShardReport> {
  let doc: Partial<JsonReport>;
  try {
    doc = JSON.parse(await readFile(file, 'utf8')) as Partial<JsonReport>;
  } catch (e) {
    throw new UsageError(`${file}: cannot read it as JSON: ${(e as Error).message}`);
  }
  const bad = (what: string) => new UsageError(`${file}: ${what}`);
  if (typeof doc !== 'object' || doc === null || !Array.isArray(doc.profiles)) throw bad('not a dirtyspec --json report (no "profiles" list)');
  const c = doc.campaign;
  if (c === undefined) throw bad('has no "campaign": it is not the report of a campaign or a shard (a --replay, or from a kit without dirtyspec merge)');
  if (!isInt(c.seed) || !isInt(c.runs) || !isInt(c.blockRuns) || !isInt(c.blockCount) || typeof c.context !== 'object' || c.context === null) {
    throw bad('"campaign" needs the integers seed, runs, blockRuns, blockCount and the object context');
  }
  if (c.blockRuns !== BLOCK_RUNS) throw bad(`its campaign has blocks of ${c.blockRuns} runs; this kit's have ${BLOCK_RUNS}, so their sequences differ`);
  for (const [i, p] of doc.profiles.entries()) {
    const at = `profiles[${i}]`;
    if (!PROFILES.includes(p.name as ProfileName)) throw bad(`${at}.name ${JSON.stringify(p.name)} is not one of ${PROFILES.join(', ')}`);
    if (!['conforms', 'does-not-conform', 'undecided'].includes(p.verdict)) throw bad(`${at}.verdict ${JSON.stringify(p.verdict)} is not conforms, does-not-conform or undecided`);
    if (!isInt(p.runs) || !isInt(p.commands) || typeof p.seconds !== 'number') throw bad(`${at} needs the integers runs and commands and the number seconds`);
    if (typeof p.transitionCoverage !== 'object' || p.transitionCoverage === null || !Array.isArray(p.requirements)) throw bad(`${at} needs transitionCoverage and requirements`);
    const b = p.blocks;
    if (b === undefined || !Array.isArray(b.ran) || !b.ran.every((x: unknown) => isInt(x) && x >= 0 && x < c.blockCount)) throw bad(`${at}.blocks.ran must list the blocks it ran (integers from 0 to ${c.blockCount - 1})`);
    if (p.verdict === 'does-not-conform' && !(isInt(b.counterexample) && b.ran.includes(b.counterexample))) throw bad(`${at}.blocks.counterexample must name the failing block, one of blocks.ran`);
    if (p.verdict === 'undecided' && !(isInt(b.undecided) && b.ran.includes(b.undecided))) throw bad(`${at}.blocks.undecided must name the undecided block, one of blocks.ran`);
  }
  return { file, campaign: c, profiles: doc.profiles };
}

/** A profile of a report as the ProfileResult it was written from (the replay command is made again from the context). */
function partOf(p: JsonProfile): Part {
  const result: ProfileResult = {
    name: p.name as ProfileName,
    adapter: p.adapter,
    verdict: p.verdict,
    runs: p.runs,
    ...(p.directedRuns === undefined ? {} : { directedRuns: p.directedRuns }),
    commands: p.commands,
    seconds: p.seconds,
    seed: p.seed,
    transitionCoverage: p.transitionCoverage,
    requirements: p.requirements.map((q) => ({ id: q.id, verdict: q.verdict })),
    unreached: p.unreached ?? [],
    ...(p.counterexample === undefined ? {} : { counterexample: p.counterexample }),
    ...(p.shrinkStopped === undefined ? {} : { shrinkStopped: p.shrinkStopped }),
    ...(p.replay === undefined ? {} : { replay: { seed: p.replay.seed, path: p.replay.path } }),
    ...(p.undecided === undefined ? {} : { undecided: p.undecided }),
    ...(p.contract === undefined ? {} : { contract: p.contract }),
  };
  const b = p.blocks!;
  return {
    result,
    blocks: [...b.ran],
    ...(p.verdict === 'does-not-conform' ? { failedBlock: b.counterexample! } : {}),
    ...(p.verdict === 'undecided' ? { undecidedBlock: b.undecided! } : {}),
  };
}

/** The campaign fields the shards must agree on, in a fixed order. */
function identity(c: JsonCampaign): string {
  const ctx: ReportContext = c.context;
  return JSON.stringify([c.seed, c.runs, c.blockRuns, c.blockCount, ctx.adapterModule ?? null, ctx.execCommand ?? null, ctx.libPath ?? null, ctx.maxCommands ?? null, ctx.timeoutMs ?? null]);
}

function describe(c: JsonCampaign): string {
  const ctx = c.context;
  return [
    `--seed ${c.seed}`,
    `--runs ${c.runs}`,
    ...(ctx.adapterModule === undefined ? [] : [`--adapter ${ctx.adapterModule}`]),
    ...(ctx.execCommand === undefined ? [] : [`--exec ${ctx.execCommand}`]),
    ...(ctx.maxCommands === undefined ? [] : [`--max-commands ${ctx.maxCommands}`]),
    ...(ctx.timeoutMs === undefined ? [] : [`--timeout ${ctx.timeoutMs}`]),
  ].join(' ');
}

/** The merged parts of `reports`, one per profile in PROFILES order; a UsageError when they are not the whole of one campaign. */
export function mergeReports(reports: readonly ShardReport[]): { campaign: JsonCampaign; parts: Part[] } {
  const first = reports[0]!;
  for (const r of reports.slice(1)) {
    if (identity(r.campaign) !== identity(first.campaign)) {
      throw new UsageError(`${r.file} is of another campaign than ${first.file}: ${describe(r.campaign)} against ${describe(first.campaign)}; the shards of one campaign share the seed, runs and implementation`);
    }
  }
  const count = first.campaign.blockCount;
  const parts: Part[] = [];
  for (const name of PROFILES) {
    const found: { file: string; part: Part }[] = [];
    for (const r of reports) for (const p of r.profiles) if (p.name === name) found.push({ file: r.file, part: partOf(p) });
    if (found.length === 0) continue;
    const owner = new Map<number, string>();
    for (const { file, part } of found) {
      for (const b of part.blocks) {
        const other = owner.get(b);
        if (other !== undefined) throw new UsageError(`${name}: block ${b} is in two reports, ${other} and ${file}: give each shard's report once`);
        owner.set(b, file);
      }
    }
    const missing = Array.from({ length: count }, (_, b) => b).filter((b) => !owner.has(b));
    if (missing.length > 0) {
      const of = reports.find((r) => r.campaign.shard !== undefined)?.campaign.shard?.of;
      const shards = of === undefined ? '' : ` (the report of shard ${[...new Set(missing.map((b) => (b % of) + 1))].map((i) => `${i}/${of}`).join(', ')} is missing)`;
      throw new UsageError(`${name}: block${missing.length === 1 ? '' : 's'} ${missing.join(', ')} of the campaign's ${count} ${missing.length === 1 ? 'is' : 'are'} in no report${shards}`);
    }
    parts.push(
      mergeParts(
        found.map((f) => f.part),
        first.campaign.seed,
      ),
    );
  }
  return { campaign: first.campaign, parts };
}

export async function mergeCommand(argv: readonly string[], io: Io): Promise<number> {
  const { files, flags: flagArgv } = splitArgs(argv);
  const flags = parseFlags(flagArgv, FLAGS);
  if (flags.booleans.has('help')) {
    io.out(`${MERGE_HELP}\n`);
    return 0;
  }
  if (files.length === 0) throw new UsageError('name the --json reports to merge: dirtyspec merge shard-1.json shard-2.json ...');
  const out = { json: reportFileFlag(flags, 'json'), junit: reportFileFlag(flags, 'junit'), html: reportFileFlag(flags, 'html') };
  const reports: ShardReport[] = [];
  for (const file of files) reports.push(await readReport(file));
  const { campaign, parts } = mergeReports(reports);
  const ctx = campaign.context;
  const info = campaignInfo({ seed: campaign.seed, runs: campaign.runs, blockCount: campaign.blockCount }, parts, ctx);
  return writeReports(
    'merge',
    parts.map((p) => p.result),
    ctx,
    { ...(out.json === undefined ? {} : { json: out.json }), ...(out.junit === undefined ? {} : { junit: out.junit }), ...(out.html === undefined ? {} : { html: out.html }) },
    io,
    info,
  );
}
