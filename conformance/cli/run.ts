// `dirtyspec run`: the conformance suite against the reference adapters or a third
// party's (--adapter), one profile after another, with the human report on stdout and
// optionally JSON and JUnit reports in files.
import { writeFile } from 'node:fs/promises';
import { loadAdapters, referenceAdapterFor, referenceAdapters } from '../adapters/registry.ts';
import { REFERENCE_CONTRACTS } from '../adapters/reference.ts';
import { CONTRACT_NAMES, type ContractName, coversProfile, isContractName } from '../../spec/contracts/index.ts';
import { IOVA_BITMAP_CONTRACT_NAMES, type IovaBitmapContractName, isIovaBitmapContractName } from '../../spec/iova-bitmap/contracts.ts';
import { capabilityMismatches } from '../engine/contract-run.ts';
import { execAdapters } from '../protocol/exec-adapters.ts';
import { LoopbackChannel } from '../protocol/channel.ts';
import { ExecPeer } from '../protocol/peer.ts';
import { RecordingChannel, TraceWriter, traceDeclared } from '../protocol/recorder.ts';
import { runLib } from '../lib/run-lib.ts';
import { MODULE_SERVE_ENV, serveModule } from '../campaign/confirm-hang.ts';
import { PROFILES, type Adapter, type ProfileName, type SmmuDriverAdapter, type SmmuHwAdapter } from '../adapters/types.ts';
import { profileOf, recordedContract } from '../profiles/index.ts';
import { DEFAULT_SHRINK_SECONDS, type ProfileResult } from '../engine/run-profile.ts';
import { exitStatus, overallVerdict, type ReportContext } from '../report/common.ts';
import { humanReport } from '../report/human.ts';
import { htmlRunReport } from '../report/html.ts';
import { jsonReport, type JsonCampaignInfo } from '../report/json.ts';
import { junitReport } from '../report/junit.ts';
import { RUNS_PER_WORKER, campaignInfo, runCampaign, workerCount } from '../campaign/campaign.ts';
import { freeCoresNow } from '../campaign/free-cores.ts';
import { BLOCK_RUNS, PlanError, parseShard, planCampaign, type Plan, type Shard } from '../campaign/plan.ts';
import { Progress, UsageError, choiceFlags, elapsed, intFlag, parseFlags, reportFileFlag, stringFlag, type Io } from './args.ts';

export { runProfileSafely } from '../campaign/run-unit.ts';

/** Sequences per profile when --runs is not given. */
export const DEFAULT_RUNS = 1000;
/** Time limit of one adapter call, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 2000;
/** Longest command sequence of one run. */
export const DEFAULT_MAX_COMMANDS = 30;

export const MAX_RUNS = 10_000_000;
export const MAX_TIMEOUT_MS = 3_600_000;
export const MAX_COMMANDS = 10_000;
export const MAX_WORKERS = 256;
/** --shrink-time's largest value, in seconds (a day). */
const MAX_SHRINK_SECONDS = 86_400;
const MAX_SEED = 0xffff_ffff;
const MIN_SEED = -0x8000_0000;
/** Runs of a non-strict contract in the reference's default run, per `--runs` of strict (see RUN_HELP, --contract). */
const CONTRACT_RUNS_DIVISOR = 10;
const MIN_CONTRACT_RUNS = 100;
/**
 * A contract campaign's runs beside strict's `runs`: `share` of them, at least
 * MIN_CONTRACT_RUNS, and never more than strict's own (so `--runs 1` runs one sequence of
 * each, and a requirement no sequence reached stays "not reached").
 */
const contractRuns = (runs: number, share: number) => Math.min(runs, Math.max(MIN_CONTRACT_RUNS, Math.round(runs * share)));

export const RUN_HELP = `usage: dirtyspec run [--profile NAME]... [--adapter MODULE | --exec COMMAND | --lib LIBRARY] [--runs N] [--seed N]
                     [--replay PATH] [--timeout MS] [--max-commands N]
                     [--workers N] [--shard I/N | --block B] [--contract NAME]
                     [--json FILE] [--junit FILE] [--html FILE]

Runs the conformance suite: random configurations and command sequences checked
against the spec, a failure shrunk to the shortest sequence that still fails.

  --profile NAME     a profile to run (${PROFILES.join(', ')}); repeatable.
                     Default: every profile (with --adapter, every profile the module implements)
  --adapter MODULE   a module whose default export (or export \`adapters\`) is an adapter
                     or an array of adapters; default: the built-in reference implementation
  --exec COMMAND     start COMMAND (through /bin/sh) and check the implementation it runs over
                     the JSON-lines protocol (conformance/protocol/PROTOCOL.md), every profile
                     its hello names unless --profile says which
  --lib LIBRARY      load the shared library LIBRARY (the C ABI of conformance/lib/dirtyspec.h)
                     in a child process and check it in process; a crash or a hang is undecided
  --record FILE      also write every operation of the run with its results as a trace,
                     for dirtyspec check-trace
  --runs N           sequences per profile (default ${DEFAULT_RUNS})
  --seed N           the random seed (default: a fresh one, printed in the report)
  --replay PATH      replay one counterexample (a path like 12:0:3@Gb:F, or directed:NAME): needs
                     --seed and exactly one --profile; the report of a failure prints the command
  --workers N        threads running the campaign's blocks of ${BLOCK_RUNS} runs: this one and N-1 worker
                     threads (default: the cores other processes leave free, measured over a tenth
                     of a second as the command starts; at most one per ${RUNS_PER_WORKER} runs). An --adapter module runs on N worker threads
                     that this one watches: a call that never returns stops its thread, and
                     the block is confirmed against the module served by a process of its own
  --shard I/N        run the I-th of N disjoint parts of the campaign (needs --seed); dirtyspec merge
                     combines the parts' --json reports into the report of the whole campaign
  --block B          run only block B (from 0) of the campaign (needs --seed)
  --timeout MS       time limit of one adapter call (default ${DEFAULT_TIMEOUT_MS})
  --max-commands N   longest command sequence of one run (default ${DEFAULT_MAX_COMMANDS})
  --contract NAME    smmu profiles: the driver contract to check (${CONTRACT_NAMES.join(', ')}; docs/CONTRACTS.md);
                     vfio-type1: the container on that contract's IOMMU (rfc-2021: the RFC's VFIO;
                     linux-upstream: a VMM over iommufd).
                     Default: the one the adapter declares, else strict; the built-in reference
                     without --contract and --profile runs strict, then each other contract it plays on the
                     profiles it names (smmu, vfio-type1) with a tenth of the runs (at least
                     ${MIN_CONTRACT_RUNS}, at most --runs): those contracts change tracking, split, merge,
                     read-and-clear and unmap; the rest is strict's, run in full.
                     iova-bitmap: ${IOVA_BITMAP_CONTRACT_NAMES.join(' or ')} (the window code checks its arguments and
                     answers set with an errno, or Linux's: the caller checks, set has no result). Default:
                     the adapter's declared one, else hardened; the built-in reference without --contract and
                     --profile runs hardened, then linux with 3/10 of the runs (at least ${MIN_CONTRACT_RUNS}, at most --runs)
  --shrink-time S    stop shrinking a failure after S seconds (default ${DEFAULT_SHRINK_SECONDS}; 0: no limit) and
                     report the shortest failing sequence found by then, saying so: each attempt
                     replays a prefix, which a slow implementation makes long
  --full-check       smmu profiles: compare the whole page table with the spec after every
                     operation, not only the words written and the leaves changed (slower;
                     the same verdicts, a debug option)
  --json FILE        also write the report as JSON
  --junit FILE       also write the report as JUnit XML
  --html FILE        also write the report as one self-contained HTML file: verdicts,
                     coverage, and a failure's steps beside the machine diagrams
  --verbose          print the requirement texts whole (by default cut to one line)
  -h, --help         this text

exit status: 0 every profile conforms, 1 a profile does not conform,
             2 a profile is undecided, or a usage or adapter-load error`;

const FLAGS = {
  profile: { type: 'string', multiple: true },
  adapter: { type: 'string' },
  exec: { type: 'string' },
  lib: { type: 'string' },
  record: { type: 'string' },
  runs: { type: 'string' },
  seed: { type: 'string' },
  replay: { type: 'string' },
  timeout: { type: 'string' },
  'max-commands': { type: 'string' },
  'full-check': { type: 'boolean' },
  'shrink-time': { type: 'string' },
  contract: { type: 'string' },
  workers: { type: 'string' },
  shard: { type: 'string' },
  block: { type: 'string' },
  json: { type: 'string' },
  junit: { type: 'string' },
  html: { type: 'string' },
  verbose: { type: 'boolean' },
} as const;

export interface RunRequest {
  readonly profiles: readonly ProfileName[];
  readonly adapterModule?: string;
  /** --exec: the command that starts an implementation speaking the protocol. */
  readonly execCommand?: string;
  /** --lib: the shared library implementing dirtyspec.h. */
  readonly libPath?: string;
  /** --record: where the trace goes. */
  readonly record?: string;
  readonly runs: number;
  readonly seed?: number;
  readonly replay?: string;
  readonly timeoutMs: number;
  readonly maxCommands: number;
  /** --shrink-time: how long shrinking one failure may take, in seconds (0: no limit). */
  readonly shrinkSeconds: number;
  /** --full-check: compare the whole page table after every operation (smmu profiles; a debug option, same verdicts). */
  readonly fullCheck?: boolean;
  /** --contract: the driver contract of the smmu profiles. */
  readonly contract?: ContractName;
  /** --contract linux|hardened: the iova-bitmap profile's contract. */
  readonly iovaBitmapContract?: IovaBitmapContractName;
  /** --workers: threads; absent for the default. */
  readonly workers?: number;
  readonly shard?: Shard;
  readonly block?: number;
  readonly json?: string;
  readonly junit?: string;
  readonly html?: string;
  /** --verbose: requirement texts whole in the text report. */
  readonly verbose?: boolean;
}

/** The request the flags describe, or a UsageError. `undefined` for --help. */
export function parseRunArgs(argv: readonly string[]): RunRequest | undefined {
  const flags = parseFlags(argv, FLAGS);
  if (flags.booleans.has('help')) return undefined;
  const profiles = choiceFlags(flags, 'profile', PROFILES);
  const seed = intFlag(flags, 'seed', MIN_SEED, MAX_SEED);
  const replay = stringFlag(flags, 'replay');
  if (replay !== undefined) {
    if (seed === undefined) throw new UsageError('--replay needs --seed (the seed the failure was found with)');
    if (profiles.length !== 1) throw new UsageError(`--replay needs exactly one --profile, got ${profiles.length === 0 ? 'none' : profiles.join(', ')}`);
    if (!/^\d+(:\d+)*@[A-Za-z0-9+/=:]*$|^directed:\S/.test(replay)) {
      throw new UsageError(`--replay must be a replay path as the report prints it (numbers separated by colons, then @ and the commands' replay path, like 12:0:3@Gb:F, or directed:NAME), got ${JSON.stringify(replay)}`);
    }
  }
  const adapterModule = stringFlag(flags, 'adapter');
  const execCommand = stringFlag(flags, 'exec');
  if (adapterModule !== undefined && execCommand !== undefined) throw new UsageError('--adapter and --exec each name the implementation to check: give one of them');
  const libPath = stringFlag(flags, 'lib');
  if (libPath !== undefined && (adapterModule ?? execCommand) !== undefined) throw new UsageError(`--lib and ${adapterModule !== undefined ? '--adapter' : '--exec'} each name the implementation to check: give one of them`);
  const record = stringFlag(flags, 'record');
  const workers = intFlag(flags, 'workers', 1, MAX_WORKERS);
  const shardText = stringFlag(flags, 'shard');
  const shard = shardText === undefined ? undefined : parseShard(shardText);
  if (typeof shard === 'string') throw new UsageError(shard);
  const block = intFlag(flags, 'block', 0, MAX_RUNS);
  if (shard !== undefined && block !== undefined) throw new UsageError('--shard and --block each say which blocks to run: give one of them');
  if (shard !== undefined && seed === undefined) throw new UsageError('--shard needs --seed: every shard of a campaign must run it with the same seed');
  if (shard !== undefined && replay !== undefined) throw new UsageError('--replay replays one block: give --block (as the replay command prints it), not --shard');
  if (block !== undefined && seed === undefined) throw new UsageError('--block needs --seed (the seed of the campaign the block belongs to)');
  if (libPath !== undefined && (shard ?? block) !== undefined) throw new UsageError(`--lib runs its own campaign in a child process, without blocks: --${shard !== undefined ? 'shard' : 'block'} does not apply to it yet`);
  const contractText = stringFlag(flags, 'contract');
  if (contractText !== undefined && !isContractName(contractText) && !isIovaBitmapContractName(contractText))
    throw new UsageError(`--contract must be one of ${CONTRACT_NAMES.join(', ')} (smmu profiles) or ${IOVA_BITMAP_CONTRACT_NAMES.join(', ')} (iova-bitmap), got ${JSON.stringify(contractText)}`);
  const contract = contractText !== undefined && isContractName(contractText) ? contractText : undefined;
  const iovaBitmapContract = contractText !== undefined && isIovaBitmapContractName(contractText) ? contractText : undefined;
  if (iovaBitmapContract !== undefined && profiles.length > 0 && !profiles.some((p) => profileOf(p).contracts === 'iova-bitmap'))
    throw new UsageError(
      `--contract must be one of ${CONTRACT_NAMES.join(', ')}, got ${JSON.stringify(contractText)} (${contractText} is a contract of profile ${PROFILES.filter((p) => profileOf(p).contracts === 'iova-bitmap').join(', ')}, which this run does not include)`,
    );
  const json = reportFileFlag(flags, 'json');
  const junit = reportFileFlag(flags, 'junit');
  const html = reportFileFlag(flags, 'html');
  return {
    profiles,
    runs: intFlag(flags, 'runs', 1, MAX_RUNS, DEFAULT_RUNS),
    timeoutMs: intFlag(flags, 'timeout', 1, MAX_TIMEOUT_MS, DEFAULT_TIMEOUT_MS),
    maxCommands: intFlag(flags, 'max-commands', 1, MAX_COMMANDS, DEFAULT_MAX_COMMANDS),
    ...(flags.booleans.has('full-check') ? { fullCheck: true } : {}),
    shrinkSeconds: intFlag(flags, 'shrink-time', 0, MAX_SHRINK_SECONDS, DEFAULT_SHRINK_SECONDS),
    ...(contract === undefined ? {} : { contract }),
    ...(iovaBitmapContract === undefined ? {} : { iovaBitmapContract }),
    ...(adapterModule === undefined ? {} : { adapterModule }),
    ...(execCommand === undefined ? {} : { execCommand }),
    ...(libPath === undefined ? {} : { libPath }),
    ...(record === undefined ? {} : { record }),
    ...(seed === undefined ? {} : { seed }),
    ...(replay === undefined ? {} : { replay }),
    ...(workers === undefined ? {} : { workers }),
    ...(shard === undefined ? {} : { shard }),
    ...(block === undefined ? {} : { block }),
    ...(json === undefined ? {} : { json }),
    ...(junit === undefined ? {} : { junit }),
    ...(html === undefined ? {} : { html }),
    ...(flags.booleans.has('verbose') ? { verbose: true } : {}),
  };
}

/** The adapters to run, in PROFILES order. AdapterLoadError and UsageError propagate. */
export async function selectAdapters(req: Pick<RunRequest, 'profiles' | 'adapterModule'>, peer?: ExecPeer): Promise<Adapter[]> {
  const available: Map<ProfileName, Adapter> = peer !== undefined ? execAdapters(peer) : req.adapterModule === undefined ? new Map(Object.entries(referenceAdapters) as [ProfileName, Adapter][]) : await loadAdapters(req.adapterModule);
  const implemented = PROFILES.filter((p) => available.has(p));
  for (const p of req.profiles) {
    if (!available.has(p)) {
      const source = peer !== undefined ? `--exec ${peer.command} (its hello names: ${peer.hello.profiles.join(', ')})` : req.adapterModule === undefined ? 'the reference implementation' : `--adapter ${req.adapterModule}`;
      throw new UsageError(`profile ${p} is not implemented by ${source} (it implements: ${implemented.join(', ') || 'none'})`);
    }
  }
  const wanted = req.profiles.length === 0 ? implemented : req.profiles;
  return PROFILES.filter((p) => wanted.includes(p)).map((p) => available.get(p)!);
}

/** A fresh 32-bit seed, chosen here so that the report can always name it. */
export function freshSeed(): number {
  return (Date.now() ^ Math.floor(Math.random() * 0x1_0000_0000)) >>> 0;
}

async function writeReport(io: Io, command: string, flag: string, file: string, text: string): Promise<boolean> {
  try {
    // No folder is created: the flags were checked (reportFileFlag), and a folder gone since is an error too.
    await writeFile(file, text);
    return true;
  } catch (e) {
    io.err(`dirtyspec ${command}: could not write the ${flag} report to ${file}: ${(e as Error).message}\n`);
    return false;
  }
}

export async function runCommand(argv: readonly string[], io: Io): Promise<number> {
  const req = parseRunArgs(argv);
  if (req === undefined) {
    io.out(`${RUN_HELP}\n`);
    return 0;
  }
  if (req.libPath !== undefined) return runLib({ ...req, libPath: req.libPath }, argv, io);
  // The process that serves an --adapter module over the protocol, to confirm a call that did not return (campaign/confirm-hang.ts).
  if (req.adapterModule !== undefined && process.env[MODULE_SERVE_ENV] === '1') return serveModule(req.adapterModule);
  // AdapterLoadError and UsageError propagate to main: exit status 2.
  let peer: ExecPeer | undefined;
  if (req.execCommand !== undefined) {
    try {
      peer = await ExecPeer.start(req.execCommand, { timeoutMs: req.timeoutMs });
    } catch (e) {
      // Every profile asked for (all of them when none was) is undecided, and the reports
      // say so: a CI job that reads them must not find last run's files, or none. The text
      // report prints the reason once (the other profiles refer to it), so not on stderr too.
      const message = `the implementation did not complete the hello handshake\n${(e as Error).message}`;
      const seed = req.seed ?? 0;
      const results = (req.profiles.length > 0 ? req.profiles : PROFILES).map(
        (name): ProfileResult => ({ name, adapter: req.execCommand!, verdict: 'undecided', runs: 0, commands: 0, seconds: 0, seed, transitionCoverage: {}, requirements: [], undecided: { message, steps: [] } }),
      );
      await reportResults(req, results, io);
      return 2;
    }
  }
  let writer: TraceWriter | undefined;
  try {
    let adapters = await selectAdapters(req, peer);
    const reference = req.adapterModule === undefined && req.execCommand === undefined && peer === undefined;
    if (reference && req.contract !== undefined && !REFERENCE_CONTRACTS.includes(req.contract) && adapters.some(underDriverContracts)) {
      throw new UsageError(`--contract ${req.contract}: the built-in reference implementation does not play it (it plays ${REFERENCE_CONTRACTS.join(', ')}); check your own implementation with --adapter or --exec`);
    }
    // The reference plays the contract asked for (the same implementation with options), before
    // the recorder wraps it: a --record trace holds the calls of the implementation that ran.
    if (reference && (req.contract ?? req.iovaBitmapContract) !== undefined) adapters = adapters.map((a) => referenceAdapterFor(a.profile, req.contract, req.iovaBitmapContract));
    if (req.record !== undefined) {
      try {
        writer = new TraceWriter(req.record);
      } catch (e) {
        io.err(`dirtyspec run: cannot write the --record trace to ${req.record}: ${(e as Error).message}\n`);
        return 2;
      }
      // In-process adapters are recorded through the protocol's encoding too, so a trace reads the same whoever made it.
      const recorded = execAdapters(new RecordingChannel(peer ?? new LoopbackChannel(adapters, adapters[0]?.name ?? 'reference'), writer));
      adapters = adapters.map((a) => recorded.get(a.profile)!);
    }
    return await runAdapters(req, adapters, io, peer, writer);
  } finally {
    writer?.close();
    const ending = await peer?.close();
    if (ending !== undefined) io.err(`dirtyspec run: warning: ${peer!.command}: ${ending} (the verdict above stands; PROTOCOL.md, "Lifecycle")\n`);
  }
}

/** Whether `a`'s profile is checked under the driver contracts (its module's `contracts`: the smmu profiles). */
const underDriverContracts = (a: Adapter): boolean => profileOf(a.profile).contracts === 'driver';
/** Whether `a`'s profile is checked under the iova-bitmap contracts. */
const underIovaBitmapContracts = (a: Adapter): boolean => profileOf(a.profile).contracts === 'iova-bitmap';

/**
 * The campaigns of a run: one under `--contract` (or the adapters' declared contracts);
 * for the built-in reference without --contract, strict on every profile, then each other
 * contract the reference plays on the smmu profiles, with fewer runs.
 */
async function runAdapters(req: RunRequest, adapters: readonly Adapter[], io: Io, peer: ExecPeer | undefined, writer: TraceWriter | undefined): Promise<number> {
  const seed = req.seed ?? freshSeed();
  for (const a of adapters) {
    if (!underDriverContracts(a)) continue;
    // Only the smmu adapters declare capabilities (vfio-type1's declare a contract alone): for the others there is nothing to compare.
    const smmu = a as SmmuHwAdapter | SmmuDriverAdapter;
    const wrong = capabilityMismatches(smmu);
    if (wrong.length > 0) throw new UsageError(`${a.name} (${a.profile}) declares capabilities that are not its contract's (${smmu.contract ?? 'strict'}):\n  ${wrong.join('\n  ')}`);
  }
  const reference = req.adapterModule === undefined && req.execCommand === undefined && peer === undefined;
  const oneCampaign = req.replay !== undefined || req.shard !== undefined || req.block !== undefined || writer !== undefined;
  // The default run (npm start): no --profile, no --contract. A run naming its profiles stays one campaign.
  const defaultRun = reference && req.contract === undefined && req.iovaBitmapContract === undefined && req.profiles.length === 0 && !oneCampaign;
  const extra = defaultRun ? REFERENCE_CONTRACTS.filter((c) => c !== 'strict') : [];
  // The other contracts' campaigns run in this thread while the first campaign runs here
  // and on its workers: the workers then take more of the first campaign's blocks, instead
  // of waiting while this thread runs the contracts after it. Each campaign's results are
  // the same either way (its own seeds, no state shared); only the seconds differ.
  const others = async (): Promise<ProfileResult[]> => {
    const out: ProfileResult[] = [];
    for (const contract of extra) {
      // Each profile the contract names (its `profiles`): the smmu ones, and vfio-type1 under rfc-2021.
      const smmu = adapters.filter((a) => underDriverContracts(a) && coversProfile(contract, a.profile)).map((a) => referenceAdapterFor(a.profile, contract));
      if (smmu.length === 0) continue;
      const runs = contractRuns(req.runs, 1 / CONTRACT_RUNS_DIVISOR);
      out.push(...(await runContractCampaign(req, smmu, io, peer, writer, seed, contract, runs, undefined, true)).results);
    }
    // iova-bitmap under Linux's contract (spec/iova-bitmap/contracts.ts): the reference plays it too, with 3/10 of the runs (about 0.1 s).
    for (const a of defaultRun ? adapters.filter(underIovaBitmapContracts) : []) {
      const runs = contractRuns(req.runs, 3 / 10);
      out.push(...(await runContractCampaign(req, [referenceAdapterFor(a.profile, undefined, 'linux')], io, peer, writer, seed, undefined, runs, 'linux', true)).results);
    }
    // The other interfaces the reference offers (ProfileModule.referenceVariants), with a contract campaign's runs.
    for (const a of defaultRun ? adapters : []) {
      for (const variant of profileOf(a.profile).referenceVariants?.() ?? []) {
        out.push(...(await runContractCampaign(req, [variant], io, peer, writer, seed, undefined, contractRuns(req.runs, 1 / 5), undefined, true)).results);
      }
    }
    return out;
  };
  // The free cores are measured before the contracts' campaigns start: measuring waits on a
  // timer, which those campaigns, running in this thread on promises alone, would hold off
  // until they end (the workers then started seconds late).
  const free = defaultRun && req.workers === undefined ? await freeCoresNow() : undefined;
  const [first, more] = await Promise.all([runContractCampaign(req, adapters, io, peer, writer, seed, req.contract, req.runs, req.iovaBitmapContract, false, free), others()]);
  const ctx = reportContext(req);
  return writeReports('run', [...first.results, ...more], ctx, req, io, first.info);
}

async function runContractCampaign(
  req: RunRequest,
  adapters: readonly Adapter[],
  io: Io,
  peer: ExecPeer | undefined,
  writer: TraceWriter | undefined,
  seed: number,
  contract: ContractName | undefined,
  runs: number,
  iovaBitmapContract?: IovaBitmapContractName,
  /** Beside another campaign: in this thread only, and without a progress line (the other one draws it). */
  beside = false,
  /** The free cores, measured already (workerCount measures them otherwise). */
  free?: number,
): Promise<{ results: readonly ProfileResult[]; info: JsonCampaignInfo | undefined }> {
  const profiles = adapters.map((a) => a.profile);
  let plan: Plan;
  try {
    // A replay is of one block: block 0 unless --block names another.
    plan = planCampaign(profiles, runs, seed, req.shard !== undefined ? { shard: req.shard } : { ...(req.block !== undefined || req.replay !== undefined ? { block: req.block ?? 0 } : {}) });
  } catch (e) {
    if (e instanceof PlanError) throw new UsageError(e.message);
    throw e;
  }
  let workers = beside ? 1 : await workerCount(plan, req.workers, free);
  if (writer !== undefined && workers > 1) {
    if (req.workers !== undefined) io.err(`dirtyspec run: --record writes one trace in order, so the blocks run in this thread, not on ${req.workers} workers\n`);
    workers = 1;
  }
  const progress = new Progress(io);
  const started = performance.now();
  const outcome = await runCampaign({
    plan,
    adapters,
    workers,
    source: req.execCommand !== undefined ? { kind: 'exec', command: req.execCommand } : req.adapterModule !== undefined ? { kind: 'module', path: req.adapterModule } : { kind: 'reference' },
    settings: {
      timeoutMs: req.timeoutMs,
      maxCommands: req.maxCommands,
      ...(req.fullCheck === true ? { fullCheck: true } : {}),
      ...shrinkOption(req),
      ...(req.replay === undefined ? {} : { path: req.replay }),
      ...(contract === undefined ? {} : { contract }),
      ...(iovaBitmapContract === undefined ? {} : { iovaBitmapContract }),
    },
    ...(writer === undefined
      ? {}
      : { record: { start: (a, s) => writer.header(a.profile, a.name, s, recordedContract(a, contract, iovaBitmapContract), traceDeclared(a)), end: () => writer.footer(), sequence: (input) => writer.sequence(input) } }),
    afterBlock: (adapter, result) => {
      if (result.verdict !== 'undecided' || peer === undefined || peer.failed) return result;
      // The engine gave up on an operation (its own limit on a whole call) while the process
      // kept talking: show what it said, and end the session, since it may still be busy.
      const u = result.undecided!;
      peer.fail(`the run of profile ${adapter.profile} was undecided, so the session ended`);
      return { ...result, undecided: { ...u, message: `${u.message}\n${peer.diagnostics()}` } };
    },
    ...(beside ? {} : { onProgress: (text: () => string) => progress.update(() => `dirtyspec run: ${req.replay !== undefined ? 'replaying' : text()}, ${elapsed(started)}`) }),
    io,
  });
  if (!beside) progress.clear();
  const ctx = reportContext(req);
  return { results: outcome.results, info: req.replay === undefined ? campaignInfo(plan, outcome.parts, ctx) : undefined };
}

/** --shrink-time as RunOptions.shrinkMs (absent for 0: no limit). */
export function shrinkOption(req: Pick<RunRequest, 'shrinkSeconds'>): { shrinkMs?: number } {
  return req.shrinkSeconds === 0 ? {} : { shrinkMs: req.shrinkSeconds * 1000 };
}

function reportContext(req: RunRequest): ReportContext {
  return {
    ...(req.adapterModule === undefined ? {} : { adapterModule: req.adapterModule }),
    ...(req.execCommand === undefined ? {} : { execCommand: req.execCommand }),
    ...(req.libPath === undefined ? {} : { libPath: req.libPath }),
    ...(req.maxCommands === DEFAULT_MAX_COMMANDS ? {} : { maxCommands: req.maxCommands }),
    ...(req.timeoutMs === DEFAULT_TIMEOUT_MS ? {} : { timeoutMs: req.timeoutMs }),
    runs: req.runs,
    ...(req.verbose === true ? { verbose: true } : {}),
  };
}

/** The human report on stdout and the report files asked for; the exit status. */
export async function reportResults(req: RunRequest, results: readonly ProfileResult[], io: Io): Promise<number> {
  return writeReports('run', results, reportContext(req), req, io);
}

/** The human report on stdout, the report files in `files`, and the exit status (2 when a file could not be written). */
export async function writeReports(
  command: string,
  results: readonly ProfileResult[],
  ctx: ReportContext,
  files: { readonly json?: string; readonly junit?: string; readonly html?: string },
  io: Io,
  campaign?: JsonCampaignInfo,
): Promise<number> {
  io.out(humanReport(results, ctx));
  let written = true;
  if (files.json !== undefined) written = (await writeReport(io, command, '--json', files.json, jsonReport(results, ctx, campaign))) && written;
  if (files.junit !== undefined) written = (await writeReport(io, command, '--junit', files.junit, junitReport(results, ctx))) && written;
  if (files.html !== undefined) written = (await writeReport(io, command, '--html', files.html, await htmlRunReport(results, ctx))) && written;
  const status = exitStatus(overallVerdict(results));
  return written ? status : 2;
}
