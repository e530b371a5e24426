// One profile's model-based run: fast-check generates a configuration and a sequence of
// commands, runs them against the system and the spec model, shrinks a failure to the
// shortest sequence that still fails, and replays it to record the trace.
import fc from 'fast-check';
import { droppable } from './droppable.ts';
import { machineTransitions, specMachines } from '../../spec/machines.ts';
import { DescriptorChecker } from '../../model/check-descriptors.ts';
import { DescriptorModel } from '../../model/descriptor-model.ts';
import { RunContext, type CoverageFigure, type SmmuTables } from '../../model/run-context.ts';
import { DirtyGhost } from '../../model/ghost.ts';
import { Violation, type ViolationKind } from '../../model/violation.ts';
import type { Adapter, ProfileName, SmmuDriverAdapter, SmmuHwAdapter } from '../adapters/types.ts';

type SmmuAdapter = SmmuHwAdapter | SmmuDriverAdapter;
import {
  AttachCommand,
  DmaCommand,
  InvalidateCommand,
  MapCommand,
  MergeCommand,
  ReadAndClearCommand,
  RefillCommand,
  SplitCommand,
  TrackingCommand,
  UnmapCommand,
  WINDOW,
  PAGE,
  GiB,
  HIGH,
  MiB2,
  SPAN,
  finalSync,
  type Injection,
  type RunCommand,
  type RunModel,
  type RunReal,
  type SoftwareChange,
  type TraceStep,
} from './commands.ts';
import { KitClearAccessFlagCommand, KitClearWithoutTlbiCommand, KitPgtableCommand, KitSetCdCommand, KitUnmapWithoutTlbiCommand } from './kit-commands.ts';
import { directedTests } from './directed.ts';
import { argumentArbitrary } from './argument-commands.ts';
import { aimedArbitrary } from './aimed.ts';
import { profiles, type ProfileModule } from '../profiles/index.ts';
import { type CallLimits, Undecided, engineError, notReproduced } from './limits.ts';
import type { CallWatch } from './call-watch.ts';
import { FirstFailure } from './first-failure.ts';
import { callLimitMs } from './crash.ts';
import { CreateRefused, createSystem, type SystemConfig } from './system.ts';
import { type Capabilities, type Contract, type ContractName, contracts, effectiveRules } from '../../spec/contracts/index.ts';
import { type ContractResult, contractConfig, contractResult, judgeRefusal, refusalOf, runContract, runHazards } from './contract-run.ts';

export interface RunOptions {
  readonly runs: number;
  readonly seed?: number;
  /**
   * Replays one counterexample: fast-check's `path` (with `seed`), then `@` and the
   * commands' own `replayPath`, as `ProfileResult.replay.path` prints it; or
   * `directed:<name>` for a directed test.
   */
  readonly path?: string;
  readonly timeoutMs: number;
  readonly maxCommands: number;
  /** Races: DMA between the driver's memory accesses, software changes between the hardware's (default on). */
  readonly interleave?: boolean;
  readonly onProgress?: (done: number) => void;
  /**
   * Called as each sequence starts; where it returns a promise, the run waits for it. A
   * campaign gives its thread's event loop a turn this way (campaign/event-loop-turn.ts),
   * so that a worker's message is not held up behind a block running on promises alone.
   * Scheduling only: nothing a run decides depends on it.
   */
  readonly pause?: () => Promise<void> | undefined;
  /**
   * Called as each sequence starts, with what the kit generated for it: the scenario
   * (iova-bitmap, vfio-type1) or `{ config, commands }` (smmu profiles). --record writes it.
   */
  readonly onSequence?: (input: unknown) => void;
  /** Run the directed tests after the random sequences, where the profile has them (default true; a campaign runs them in its first block only). */
  readonly directed?: boolean;
  /** Compare the whole page table with the model after every operation, not just what changed (a debug option: the verdicts are the same, a test shows it). */
  readonly fullCheck?: boolean;
  /** The smmu profiles' compiled spec tables, when not the spec's own (a test runs a changed machine to show the spec is load-bearing). */
  readonly tables?: SmmuTables;
  /** smmu profiles: the driver contract to check (spec/contracts/); default: the one the adapter declares, else strict. */
  readonly contract?: ContractName;
  /**
   * How long shrinking a failure may take, in ms (FirstFailure): a slow implementation
   * replays a long prefix for every candidate. Undefined: no limit. The CLI's default is
   * DEFAULT_SHRINK_SECONDS.
   */
  readonly shrinkMs?: number;
  /**
   * Where this run publishes each adapter call in flight, for another thread to stop it
   * (call-watch.ts): a watched worker thread's (campaign/worker.ts). Every call the run
   * times goes to it; no check reads it. Undefined: not watched.
   */
  readonly watch?: CallWatch;
}

/** The CLI's limit on shrinking one failure (`--shrink-time`), in seconds. */
export const DEFAULT_SHRINK_SECONDS = 120;

export type { CoverageFigure };

/** A profile's configuration of one sequence, as reports print it: field = value. */
export type ProfileConfig = Readonly<Record<string, string | number | boolean>>;

export type Verdict = 'conforms' | 'does-not-conform' | 'undecided';

export interface ProfileResult {
  readonly name: ProfileName;
  readonly adapter: string;
  readonly verdict: Verdict;
  /** Every sequence run: the random ones and the directed tests. */
  readonly runs: number;
  /** Of `runs`, the directed tests (smmu-hw); absent when none ran. */
  readonly directedRuns?: number;
  readonly commands: number;
  readonly seconds: number;
  readonly seed: number;
  readonly transitionCoverage: Record<string, CoverageFigure>;
  /** The requirements the run checked (or would have, when undecided), each with its verdict. */
  readonly requirements: { id: string; verdict: 'pass' | 'fail' | 'undecided' }[];
  /** The profile's requirements no step of this run checked: neither passed nor failed. */
  readonly unreached?: readonly string[];
  readonly counterexample?: {
    /** The configuration the counterexample ran with, in the profile's own terms (u64 values as hex strings). */
    readonly config: ProfileConfig;
    readonly steps: readonly TraceStep[];
    readonly violation: { kind: ViolationKind; req: readonly string[]; expected: string; actual: string };
    /** The process under test died or hung in the last step's call (engine/crash.ts), in a fresh process each time: how it ended, the call as sent, the tail of its standard error. */
    readonly crash?: { readonly status: string; readonly call: string; readonly stderr: string };
  };
  /** `path` is `<fast-check path>@<commands replayPath>`, or `directed:<name>`. */
  readonly replay?: { seed: number; path: string };
  readonly undecided?: { message: string; steps: readonly TraceStep[] };
  /** smmu profiles: the contract checked, the configurations create refused, the pages excused, the hazards (conformance/engine/contract-run.ts). */
  readonly contract?: ContractResult;
  /** Present when shrinking ran out of its time (RunOptions.shrinkMs): the counterexample is the shortest found in `seconds`, over `attempts` candidates, and a shorter one may exist. */
  readonly shrinkStopped?: { readonly seconds: number; readonly attempts: number };
}

type RunConfig = SystemConfig & { startTracking: boolean };

/** One sequence of an smmu profile: the configuration and the commands, as generated. */
export interface SmmuSequenceInput {
  readonly config: RunConfig;
  readonly commands: readonly RunCommand[];
}

/** Runs one recorded sequence again (dirtyspec check-trace). Throws Violation or Undecided. */
export function replaySmmuSequence(adapter: SmmuAdapter, input: SmmuSequenceInput, timeoutMs: number, trace: TraceStep[], contract: Contract = contracts.strict): Promise<number> {
  const ctx = new RunContext();
  ctx.contract = contract;
  return runSequence(ctx, adapter, input.config, input.commands, { timeoutMs }, trace);
}

function configArbitrary(): fc.Arbitrary<RunConfig> {
  return fc.record({
    httu: fc.constantFrom<0 | 1 | 2>(2, 2, 2, 2, 1, 0),
    bbml: fc.constantFrom<0 | 2>(2, 0),
    iotlbCapacity: fc.integer({ min: 1, max: 8 }),
    dirtyCapable: fc.constantFrom(true, true, true, false),
    pageGranular: fc.boolean(),
    startTracking: fc.constantFrom(true, true, false),
  });
}

/**
 * Which side the kit plays in the smmu engine, as the profile's module says (kitPlays): the
 * driver (smmu-hw: its adapter is an SMMU, so the kit can also leave the hardware in hazard
 * states and change tables between the hardware's accesses) or the hardware (smmu-driver:
 * DMA between the driver's accesses).
 */
function kitDrives(adapter: SmmuAdapter): adapter is SmmuHwAdapter {
  return profiles[adapter.profile].kitPlays === 'driver';
}

function commandsArbitrary(kitIsDriver: boolean, maxCommands: number, replayPath: string | undefined, interleave: boolean, ops: Capabilities['operations'] = contracts.strict.capabilities.operations): fc.Arbitrary<Iterable<RunCommand>> {
  // No operation outside the contract's capabilities: without split (linux-upstream) no split, and no split as the kit's software change either.
  const split = <T>(xs: T[]): T[] => (ops.splitBlock ? xs : []);
  const merge = <T>(xs: T[]): T[] => (ops.mergePages ? xs : []);
  const changes: SoftwareChange[] = ops.splitBlock ? ['unmapLeaf', 'splitBlock', 'readAndClear'] : ['unmapLeaf', 'readAndClear'];
  const page = fc.nat(WINDOW / PAGE - 1);
  const pages = fc.oneof(fc.integer({ min: 1, max: 8 }), fc.constantFrom(512, 1024, 511, 513));
  const driverInject = driverInjection(kitIsDriver, interleave);
  const hwInterleave = interleave && kitIsDriver ? fc.option(fc.record({ at: fc.oneof(fc.constantFrom(4, 6), fc.nat(7)), change: fc.constantFrom<SoftwareChange>(...changes) }), { nil: undefined, freq: 3 }) : fc.constant(undefined);
  const blockMap = fc
    .tuple(
      page.map((p) => p - (p % 512)),
      fc.constantFrom(512, 1024),
      fc.boolean(),
    )
    .map(([p, n, w]) => new MapCommand(p, n, w, true));
  return fc.commands(
    [
      blockMap,
      blockMap,
      fc.tuple(page, pages, fc.boolean(), fc.boolean()).map(([p, n, w, a]) => new MapCommand(p, n, w, a)),
      fc.tuple(page, pages, driverInject).map(([p, n, i]) => new UnmapCommand(p, n, i)),
      // A region made whole again, mergeable or not (contiguous output addresses, equal permission).
      fc.tuple(fc.nat(3), fc.boolean(), fc.boolean()).map(([g, pa, w]) => new RefillCommand(g, pa, w)),
      fc.tuple(fc.boolean(), fc.nat(), fc.nat(1023), fc.nat(3), hwInterleave).map(([w, p, o, s, i]) => new DmaCommand(w, p, o, s, i)),
      fc.tuple(fc.nat(), fc.nat(1023), fc.nat(3), hwInterleave).map(([p, o, s, i]) => new DmaCommand(true, p, o, s, i)),
      fc.tuple(fc.nat(), fc.nat(1023), fc.nat(3)).map(([p, o, s]) => new DmaCommand(true, p, o, s, undefined)),
      ...(interleave && kitIsDriver
        ? [fc.tuple(fc.nat(), fc.nat(3), fc.constantFrom(4, 6), fc.constantFrom<SoftwareChange>(...changes.filter((c) => c !== 'readAndClear'))).map(([p, s, at, change]) => new DmaCommand(true, p, 0, s, { at, change }))]
        : []),
      // the page of the last access again (pick % 3 === 2): a write through what the last access cached
      fc.nat(3).map((s) => new DmaCommand(true, 2, 0, s, undefined)),
      ...split([fc.tuple(fc.nat(), driverInject).map(([p, i]) => new SplitCommand(p, i))]),
      ...split(interleave && !kitIsDriver ? [fc.tuple(fc.nat(), fc.nat(600), fc.nat(511)).map(([p, at, offset]) => new SplitCommand(p, { at, offset, aimed: false }))] : []),
      ...merge([fc.tuple(fc.nat(3), driverInject).map(([g, i]) => new MergeCommand(g, i))]),
      fc.tuple(page, fc.oneof(pages, fc.constant(WINDOW / PAGE)), fc.boolean(), driverInject).map(([p, n, nc, i]) => new ReadAndClearCommand(p, n, nc, i)),
      fc.constant(new ReadAndClearCommand(0, WINDOW / PAGE, false)),
      fc.constant(new ReadAndClearCommand(0, WINDOW / PAGE, false)),
      fc.tuple(fc.nat(), fc.nat(8), fc.boolean()).map(([pick, before, nc]) => new ReadAndClearCommand(0, 0, nc, undefined, { pick, before })),
      fc.tuple(page, pages, fc.boolean()).map(([p, n, a]) => new InvalidateCommand(p, n, a)),
      fc.boolean().map((e) => new TrackingCommand(e)),
      fc.constant(new TrackingCommand(true)),
      fc.constant(new AttachCommand()),
      ...(kitIsDriver
        ? [
            fc.nat().map((p) => new KitClearAccessFlagCommand(p)),
            fc.tuple(fc.boolean(), fc.boolean()).map(([ha, hd]) => new KitSetCdCommand(ha, hd)),
            fc.nat().map((p) => new KitClearWithoutTlbiCommand(p)),
            fc.nat().map((p) => new KitUnmapWithoutTlbiCommand(p)),
            fc.constantFrom<'readAndClear' | 'markAllDirty'>('readAndClear', 'markAllDirty').map((k) => new KitPgtableCommand(k)),
          ]
        : []),
    ],
    { maxCommands, size: 'large', ...(replayPath === undefined ? {} : { replayPath }) },
  );
}

/**
 * A DMA write injected in a driver operation (smmu-driver, with races): at a counted
 * access, or aimed at the target descriptor's first, second or third access (its read,
 * then its write). Access 1 of a descriptor is most often the write after the driver's
 * read: the window a plain store leaves open.
 */
function driverInjection(kitIsDriver: boolean, interleave: boolean): fc.Arbitrary<Injection | undefined> {
  return interleave && !kitIsDriver
    ? fc.option(
        fc.oneof(
          { arbitrary: fc.record({ at: fc.oneof(fc.nat(16), fc.nat(1100)), offset: fc.nat(511), aimed: fc.constant(false) }), weight: 1 },
          { arbitrary: fc.record({ at: fc.constantFrom(1, 1, 0, 2), offset: fc.nat(511), aimed: fc.constant(true) }), weight: 2 },
        ),
        { nil: undefined, freq: 3 },
      )
    : fc.constant(undefined);
}

/**
 * The high region's commands of a sequence (commands.ts HIGH): its 1 GiB block mapped whole,
 * written, split to 2 MiB blocks and one of those to pages, read and cleared over part and
 * whole, unmapped in part and whole, merged back, with tracking turned on and off between.
 * None in three sequences of four; in the fourth, a report over the low window, the whole
 * block mapped, and 1 to 12 more steps. They run after the low window's commands, which are
 * drawn first and come out as they always have for a seed, and run as they always have: a
 * failure of the low window is found at the same step of the same sequence as before the high
 * region existed, and shrinks the same.
 */
function highArbitrary(kitIsDriver: boolean, interleave: boolean, ops: Capabilities['operations'] = contracts.strict.capabilities.operations): fc.Arbitrary<readonly RunCommand[]> {
  const split = <T>(xs: T[]): T[] => (ops.splitBlock ? xs : []);
  const merge = <T>(xs: T[]): T[] => (ops.mergePages ? xs : []);
  const driverInject = driverInjection(kitIsDriver, interleave);
  const highPage = fc.oneof(
    { arbitrary: fc.constant(HIGH / PAGE), weight: 3 },
    { arbitrary: fc.nat(GiB / MiB2 - 1).map((i) => (HIGH + i * MiB2) / PAGE), weight: 2 },
    { arbitrary: fc.nat(GiB / PAGE - 1).map((p) => HIGH / PAGE + p), weight: 1 },
  );
  const highPages = fc.oneof({ arbitrary: fc.constant(GiB / PAGE), weight: 3 }, { arbitrary: fc.constantFrom(512, 1024, 511, 513), weight: 2 }, { arbitrary: fc.integer({ min: 1, max: 8 }), weight: 1 });
  // The whole block: mostly writable and at a 1 GiB-aligned output address (a 1 GiB block), else 512 2 MiB blocks or read-only.
  const wholeMap = fc.constantFrom([true, true], [true, true], [true, false], [false, true]).map(([w, a]) => new MapCommand(HIGH / PAGE, GiB / PAGE, w, a));
  const high = fc.oneof(
    { arbitrary: wholeMap, weight: 3 },
    { arbitrary: fc.tuple(highPage, highPages, fc.boolean(), fc.boolean()).map(([p, n, w, a]) => new MapCommand(p, n, w, a)), weight: 1 },
    { arbitrary: fc.tuple(fc.constantFrom(true, true, true, false), fc.nat(), fc.nat(GiB / PAGE - 1), fc.nat(3)).map(([w, p, o, s]) => new DmaCommand(w, p, o, s, undefined, undefined, true)), weight: 4 },
    { arbitrary: fc.tuple(highPage, highPages, fc.boolean(), driverInject).map(([p, n, nc, i]) => new ReadAndClearCommand(p, n, nc, i)), weight: 3 },
    { arbitrary: fc.tuple(highPage, highPages, driverInject).map(([p, n, i]) => new UnmapCommand(p, n, i)), weight: 2 },
    ...split([{ arbitrary: fc.tuple(fc.nat(), driverInject).map(([p, i]) => new SplitCommand(p, i, true)), weight: 3 }]),
    ...merge([{ arbitrary: fc.tuple(fc.constantFrom<1 | 2>(1, 2), fc.nat(), driverInject).map(([level, g, i]) => new MergeCommand(g, i, { level })), weight: 2 }]),
    { arbitrary: fc.boolean().map((e) => new TrackingCommand(e)), weight: 1 },
  );
  // First the report over the low window the sequence would have ended with (so the high region's steps,
  // tracking turned off among them, cannot hide what the low window owes), then the block mapped whole,
  // so that most of what follows acts on it.
  const steps = fc.tuple(wholeMap, droppable(fc.array(high, { minLength: 1, maxLength: 12 }))).map(([map, rest]): RunCommand[] => [new ReadAndClearCommand(0, WINDOW / PAGE, false), map, ...rest]);
  return fc.oneof({ arbitrary: fc.constant([]), weight: 3 }, { arbitrary: steps, weight: 1 });
}

/**
 * The low window's commands, then the high region's and the aimed sequence's (aimed.ts: drawn
 * last, so the others come out as they did before it existed); iterable again and again (a
 * failure runs its sequence again).
 */
function withHigh(low: Iterable<RunCommand>, high: readonly RunCommand[], tail: { started: boolean } = { started: false }): Iterable<RunCommand> {
  if (high.length === 0) return low;
  const marked = high.map((c) => new TailCommand(c, tail));
  return {
    *[Symbol.iterator]() {
      yield* low;
      yield* marked;
    },
  };
}

/**
 * A command after the low window, marking that the sequence got past it once it starts.
 * `cmd` is the command itself, as in fast-check's own wrapper (a recording unwraps it).
 */
class TailCommand implements RunCommand {
  constructor(
    readonly cmd: RunCommand,
    private readonly tail: { started: boolean },
  ) {}
  check(m: Readonly<RunModel>): boolean {
    return this.cmd.check(m);
  }
  run(m: RunModel, r: RunReal): Promise<void> {
    this.tail.started = true;
    return this.cmd.run(m, r);
  }
  toString(): string {
    return this.cmd.toString();
  }
}

/** Runs one sequence from scratch; returns the trace and the number of commands run. */
async function runSequence(ctx: RunContext, adapter: SmmuAdapter, cfg: RunConfig, cmds: Iterable<RunCommand>, limits: CallLimits, trace: TraceStep[], onSequence?: (input: SmmuSequenceInput) => void): Promise<number> {
  // fast-check's commands iterate as wrappers around the commands.
  const contract = ctx.contract;
  cfg = contractConfig(contract.capabilities, cfg, kitDrives(adapter), contract.name);
  onSequence?.({ config: cfg, commands: [...cmds].map((c) => ('cmd' in c ? (c as { cmd: RunCommand }).cmd : c)) });
  const { startTracking, ...asked } = cfg;
  let config = asked;
  let sys: Awaited<ReturnType<typeof createSystem>>;
  // smmu-hw: the configuration with the registers the SMMU presents, by the contract's create rules (see below).
  const configFor = (p: { readonly httu: 0 | 1 | 2; readonly bbml: 0 | 1 | 2 }) => {
    const { startTracking: _s, ...c } = contractConfig(contract.capabilities, { ...cfg, httu: p.httu, bbml: p.bbml === 0 ? 0 : 2 }, kitDrives(adapter), contract.name);
    return c;
  };
  try {
    sys = await createSystem(adapter, config, { timeoutMs: limits.timeoutMs, watch: limits.watch, contract: contract.name, configFor, chunks: ctx.memoryChunks });
  } catch (e) {
    if (!(e instanceof CreateRefused)) throw e;
    trace.push({
      op: `create(${Object.entries(config)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')})`,
      answer: String(e.errno),
      expected: `0${refusalOf(contract.name, config.httu, config.dirtyCapable) === 0 ? '' : ` or ${refusalOf(contract.name, config.httu, config.dirtyCapable)}`}`,
      req: [],
    });
    judgeRefusal(ctx, config, e.errno);
    return 0;
  }
  // smmu-hw: an SMMU that presents another HTTU or BBML than create was asked for (a model without HTTU) is run as it presents itself, as the kit's driver reads it.
  const presents = sys.presents;
  if (presents !== undefined) {
    // A contract whose driver writes HA/HD into every CD (rfc-2021's cdHaHd 'always') has no
    // domain on an SMMU without HTTU 2 to judge: the kit would write bits the SMMU does not
    // advertise. Such a run is not run, and says so.
    const unfit = contract.capabilities.cdHaHd === 'always' && presents.httu !== 2;
    trace.push({
      op: `create(httu=${config.httu}, bbml=${config.bbml})`,
      answer: `an SMMU presenting SMMU_IDR0.HTTU=${presents.httu}, SMMU_IDR3.BBML=${presents.bbml}`,
      expected: unfit ? `HTTU 2: the ${contract.name} driver sets HA/HD in every CD (not run)` : 'any configuration: the run follows the registers',
      req: [],
    });
    if (unfit) {
      sys.memory.release();
      return 0;
    }
    config = presents.config;
  }
  const hdQuirk = contract.capabilities.create.hdQuirkFrom === 'hardware' ? config.httu === 2 : config.dirtyCapable;
  const model = new DescriptorModel(ctx, hdQuirk, config.pageGranular, hdQuirk && config.httu === 2, contract);
  model.httu = config.httu;
  // smmu-hw: the SMMU is the implementation's, which may prefetch (IOTLB-1).
  model.hwMayPrefetch = kitDrives(adapter);
  model.bbml = config.bbml;
  const m: RunModel = { model, ghost: new DirtyGhost(ctx.checked), config, nextPa: 0x1_0000_0000 };
  const r: RunReal = { sys, trace, commands: 0, checker: new DescriptorChecker(sys.memory, SPAN, ctx.fullCheck) };
  await new AttachCommand().run(m, r);
  if (startTracking) await new TrackingCommand(true).run(m, r);
  try {
    await fc.asyncModelRun(() => ({ model: m, real: r }), cmds);
    await finalSync(m, r);
    // The sequence passed: its memory's backing store goes to the next sequence's (a failed one is not given back: nothing waits on it, and a replay builds its own).
    sys.memory.release();
  } finally {
    for (const step of trace) for (const id of step.req) ctx.checked.add(id);
  }
  return r.commands;
}

/** Runs the campaign of the adapter's profile (found in the registry, conformance/profiles/). */
export function runProfile(adapter: Adapter, options: RunOptions): Promise<ProfileResult> {
  // Over --exec the peer's per-message limit decides a hang (crash.ts, callLimitMs); the engine's per-call limit is its backstop.
  const timeoutMs = callLimitMs(adapter, options.timeoutMs);
  return (profiles[adapter.profile] as ProfileModule).run(adapter as never, timeoutMs === options.timeoutMs ? options : { ...options, timeoutMs });
}

/** The campaign of smmu-hw or smmu-driver: random sequences, then (where the kit is the driver) the directed tests. */
export async function runSmmuProfile(adapter: SmmuAdapter, options: RunOptions): Promise<ProfileResult> {
  const ctx = new RunContext(options.tables, options.fullCheck);
  const { contract, declared } = runContract(adapter, options.contract);
  ctx.contract = contract;
  // The hazards run once per campaign, in its first block (where the directed tests run), and not in a replay, nor in
  // a recorded run (onSequence): they are not part of the verdict, and a trace holds sequences only (check-trace).
  const hazards = options.directed !== false && options.path === undefined && options.onSequence === undefined ? await runHazards(adapter, contract, options) : [];
  const withContract = (r: ProfileResult): ProfileResult => {
    if (contract === contracts.strict) return { ...r, contract: contractResult(ctx, declared, hazards) };
    // Another contract: its own rules are what a run can reach, and the tracking machine is not its lifecycle when HA/HD do not follow tracking.
    const reached = new Set(r.requirements.map((q) => q.id));
    const rules = new Set<string>(effectiveRules(contract));
    const unreached = [...rules].filter((id) => !reached.has(id)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    const { domainTracking, ...machinesUsed } = r.transitionCoverage;
    const coverage = contract.capabilities.cdHaHd === 'while-tracking' || domainTracking === undefined ? r.transitionCoverage : machinesUsed;
    return { ...r, transitionCoverage: coverage, unreached, contract: contractResult(ctx, declared, hazards) };
  };
  if (options.path?.startsWith('directed:')) return withContract(await runDirected(ctx, adapter, options, options.path.slice('directed:'.length)));
  const random = await runRandom(ctx, adapter, options);
  // The directed tests aim at the strict machines' transitions through the kit's strict driver: strict only.
  if (random.verdict !== 'conforms' || !kitDrives(adapter) || options.directed === false || contract !== contracts.strict) return withContract(random);
  const directed = await runDirected(ctx, adapter, options);
  return withContract({ ...directed, runs: random.runs + directed.runs, directedRuns: directed.runs, commands: random.commands + directed.commands, seconds: Math.round((random.seconds + directed.seconds) * 100) / 100, seed: random.seed });
}

/**
 * The directed tests (smmu-hw): each a fixed sequence aimed at one IOTLB transition; all
 * of them, or only the one named. Coverage accumulates over the random run before it.
 */
async function runDirected(ctx: RunContext, adapter: SmmuAdapter, options: RunOptions, only?: string): Promise<ProfileResult> {
  const started = performance.now();
  const tests = directedTests().filter((t) => only === undefined || t.id === only);
  if (only !== undefined && tests.length === 0) throw new Error(`no directed test ${only}; they are named leafDescriptor/<transition key> or iotlbEntry/<transition key>`);
  let commands = 0;
  let runs = 0;
  for (const test of tests) {
    const steps: TraceStep[] = [];
    runs++;
    try {
      commands += await runSequence(ctx, adapter, test.config, test.commands, options, steps, options.onSequence);
    } catch (e) {
      const coverage = transitionCoverage(ctx);
      const base = { name: adapter.profile, adapter: adapter.name, runs, directedRuns: runs, commands: commands + steps.length, seed: 0, transitionCoverage: coverage, seconds: seconds(started) };
      if (!(e instanceof Violation)) {
        const u = e instanceof Undecided ? e : engineError(e);
        return { ...base, verdict: 'undecided', ...verdicts(requirementVerdicts(ctx, coverage, undefined, true)), undecided: { message: u.message, steps } };
      }
      const violation = e;
      return {
        ...base,
        verdict: 'does-not-conform',
        ...verdicts(requirementVerdicts(ctx, coverage, violation, false)),
        counterexample: { config: { ...test.config }, steps, violation: { kind: violation.kind, req: violation.req, expected: violation.expected, actual: violation.actual } },
        replay: { seed: 0, path: `directed:${test.id}` },
      };
    }
  }
  const coverage = transitionCoverage(ctx);
  return {
    name: adapter.profile,
    adapter: adapter.name,
    verdict: 'conforms',
    runs,
    directedRuns: runs,
    commands,
    seed: 0,
    transitionCoverage: coverage,
    seconds: seconds(started),
    ...verdicts(requirementVerdicts(ctx, coverage, undefined, false)),
  };
}

async function runRandom(ctx: RunContext, adapter: SmmuAdapter, options: RunOptions): Promise<ProfileResult> {
  const started = performance.now();
  const seed = options.seed ?? (Date.now() ^ (Math.random() * 0x1_0000_0000)) >>> 0;
  // Commands of each run in order; the runs after the first failure are fast-check's shrinking, not counted.
  const perRun: number[] = [];
  const first = new FirstFailure(options.timeoutMs, options.shrinkMs);
  const [path, replayPath] = options.path === undefined ? [undefined, undefined] : options.path.split('@');
  const ops = ctx.contract.capabilities.operations;
  const kitIsDriver = kitDrives(adapter);
  const interleave = options.interleave ?? true;
  // Once a failure falls in the low window, the runs that shrink it further run the low window
  // alone: the commands after it (high region, aimed sequence, argument calls) run only after the
  // low window has passed, so they cannot make a shrunk candidate fail where it failed, only
  // cost a candidate that passes its whole length (thousands of memory accesses, a round trip
  // each over --exec). They shrink to nothing meanwhile, as nothing depends on them, and a
  // replay runs them again: empty.
  let lowOnly = false;
  const property = fc.asyncProperty(
    configArbitrary(),
    commandsArbitrary(kitIsDriver, options.maxCommands, replayPath, interleave, ops),
    highArbitrary(kitIsDriver, interleave, ops),
    aimedArbitrary(kitIsDriver, interleave, ops),
    argumentArbitrary(kitIsDriver),
    async (cfg, low, high, aimed, args) => {
      if (first.skipRun()) return;
      const turn = options.pause?.();
      if (turn !== undefined) await turn;
      const trace: TraceStep[] = [];
      const tail = { started: false };
      const cmds = withHigh(low, lowOnly ? [] : [...high, ...aimed, ...args], tail);
      try {
        await first.fresh();
        perRun.push(await runSequence(ctx, adapter, cfg, cmds, options, trace, options.onSequence));
      } catch (e) {
        perRun.push(trace.length);
        const inLow = !tail.started;
        try {
          await first.judge(e, trace, (again) => runSequence(ctx, adapter, cfg, cmds, options, again));
        } catch (failure) {
          if (inLow) lowOnly = true;
          throw failure;
        }
      } finally {
        options.onProgress?.(perRun.length);
      }
    },
  );
  const details = await fc.check(property, {
    numRuns: options.runs,
    seed,
    ...(path === undefined ? {} : { path, endOnFailure: true }),
  });
  const coverage = transitionCoverage(ctx);
  const runs = details.failed ? details.numRuns : perRun.length;
  const base = {
    name: adapter.profile,
    adapter: adapter.name,
    runs,
    commands: perRun.slice(0, runs).reduce((a, n) => a + n, 0),
    seed,
    transitionCoverage: coverage,
    ...(first.shrinkStopped === undefined ? {} : { shrinkStopped: first.shrinkStopped }),
  };
  const undecidedResult = (message: string, steps: readonly TraceStep[], replay?: ProfileResult['replay']): ProfileResult => ({
    ...base,
    verdict: 'undecided',
    seconds: seconds(started),
    ...verdicts(requirementVerdicts(ctx, coverage, undefined, true)),
    undecided: { message, steps },
    ...(replay === undefined ? {} : { replay }),
  });
  if (!details.failed || details.counterexample === null) {
    const err = details.errorInstance;
    if (details.failed) throw err ?? new Error('fast-check failed without a counterexample');
    return { ...base, verdict: 'conforms', seconds: seconds(started), ...verdicts(requirementVerdicts(ctx, coverage, undefined, false)) };
  }
  // Replay the shrunk counterexample to record its trace.
  const [cfg, lowCmds, highCmds, aimedCmds, argCmds] = details.counterexample;
  const cmds = withHigh(lowCmds, [...highCmds, ...aimedCmds, ...argCmds]);
  const steps: TraceStep[] = [];
  let violation: Violation | undefined;
  // The seed as given (fast-check reports it as a signed 32-bit number): the report prints one form. Read after
  // the replay below: the commands' replayPath records which of them ran, and shrinking's other candidates share them.
  const replay = () => ({ seed, path: `${details.counterexamplePath ?? ''}@${/replayPath="([^"]*)"/.exec(String(lowCmds))?.[1] ?? ''}` });
  let replayed: unknown;
  try {
    await first.fresh();
    await runSequence(ctx, adapter, cfg, cmds, options, steps, options.onSequence);
  } catch (e) {
    replayed = e;
  }
  const crashed = first.crashOutcome(replayed, steps);
  if (crashed?.verdict === 'undecided') return undecidedResult(crashed.message, crashed.steps, crashed.replayable ? replay() : undefined);
  if (crashed !== undefined) {
    const v = new Violation('spec', crashed.req, crashed.expected, crashed.actual);
    const c = crashed.crash.info;
    return {
      ...base,
      verdict: 'does-not-conform',
      seconds: seconds(started),
      ...verdicts(requirementVerdicts(ctx, coverage, v, false)),
      counterexample: { config: { ...cfg }, steps: crashed.steps, violation: { kind: v.kind, req: v.req, expected: v.expected, actual: v.actual }, crash: { status: c.status, call: `${c.call.op} ${c.call.args}`, stderr: c.stderr } },
      replay: replay(),
    };
  }
  try {
    if (replayed !== undefined) throw replayed;
  } catch (e) {
    // Undecided again for the same kind of reason: the shrunk sequence is the one to replay.
    if (first.replayedAlike(e)) return undecidedResult(e.message, steps, replay());
    const u = first.undecided;
    if (u !== undefined) return undecidedResult(u.error.message, u.steps);
    if (!(e instanceof Violation)) return undecidedResult((e instanceof Undecided ? e : engineError(e)).message, steps);
    violation = e;
  }
  if (violation === undefined) {
    const u = first.undecided;
    if (u !== undefined) return undecidedResult(u.error.message, u.steps);
    return undecidedResult((details.errorInstance instanceof Violation ? notReproduced(details.errorInstance) : engineError(details.errorInstance)).message, steps);
  }
  return {
    ...base,
    verdict: 'does-not-conform',
    seconds: seconds(started),
    ...verdicts(requirementVerdicts(ctx, coverage, violation, false)),
    // The configuration as the contract ran it (its HD quirk and page-granular policy).
    counterexample: {
      config: { ...contractConfig(ctx.contract.capabilities, cfg, kitDrives(adapter), ctx.contract.name) },
      steps,
      violation: { kind: violation.kind, req: violation.req, expected: violation.expected, actual: violation.actual },
    },
    replay: replay(),
  };
}

function seconds(started: number): number {
  return Math.round((performance.now() - started) / 10) / 100;
}

/** The machines the smmu profiles exercise, with the tables that record their coverage. */
const SMMU_MACHINES = { leafDescriptor: 'leaf', iotlbEntry: 'iotlb', domainTracking: 'tracking' } as const;

function transitionCoverage(ctx: RunContext): Record<string, CoverageFigure> {
  const out: Record<string, CoverageFigure> = {};
  for (const name of Object.keys(SMMU_MACHINES) as (keyof typeof SMMU_MACHINES)[]) out[name] = ctx.coverage(specMachines[name]);
  return out;
}

/**
 * Decided by every sequence of an smmu profile, whatever transitions it takes: the
 * descriptor encoding and layout, since every leaf in memory is decoded and compared with
 * the spec after every operation (PTE-1..5). The bits of a report (BITMAP-2) are reached
 * where a report had a leaf to record; the no-loss property and precision (NOLOSS-1..3,
 * PRECISION-1) only where the ghost compared a page that could have been missing
 * (DirtyGhost's `reached`), never by default.
 */
const PROPERTY_IDS = ['PTE-1', 'PTE-2', 'PTE-3', 'PTE-4', 'PTE-5'];
/** The property requirements reached only where a report could have failed them: by the ghost (NOLOSS-1..3, PRECISION-1) or a report's own note (BITMAP-2). */
const REPORT_IDS = ['NOLOSS-1', 'NOLOSS-2', 'NOLOSS-3', 'PRECISION-1', 'BITMAP-2'];

/** Every requirement an smmu profile can check: those of the three machines' transitions, and the property's. */
function smmuRequirements(): Set<string> {
  const ids = new Set<string>([...PROPERTY_IDS, ...REPORT_IDS]);
  for (const name of Object.keys(SMMU_MACHINES)) for (const t of machineTransitions(specMachines[name as keyof typeof SMMU_MACHINES])) t.meta?.req.forEach((id) => ids.add(id));
  return ids;
}

/** A result's requirement fields: the verdicts, and the profile's requirements they leave out. */
function verdicts(requirements: ProfileResult['requirements']): Pick<ProfileResult, 'requirements' | 'unreached'> {
  return { requirements, unreached: unreachedOf(requirements) };
}

/** The requirements of the profile that `requirements` does not list, in catalogue order. */
function unreachedOf(requirements: readonly { id: string }[]): string[] {
  const reached = new Set(requirements.map((q) => q.id));
  return [...smmuRequirements()].filter((id) => !reached.has(id)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

function requirementVerdicts(ctx: RunContext, coverage: Record<string, CoverageFigure>, violation: Violation | undefined, undecided: boolean) {
  const ids = new Set<string>([...PROPERTY_IDS, ...ctx.checked]);
  for (const name of Object.keys(SMMU_MACHINES)) {
    const machine = specMachines[name as keyof typeof SMMU_MACHINES];
    const missing = new Set(coverage[name]!.missing);
    for (const t of machineTransitions(machine)) if (!missing.has(t.key)) t.meta?.req.forEach((id) => ids.add(id));
  }
  violation?.req.forEach((id) => ids.add(id));
  const failed = new Set(violation?.req ?? []);
  return [...ids].sort().map((id) => ({ id, verdict: undecided ? ('undecided' as const) : failed.has(id) ? ('fail' as const) : ('pass' as const) }));
}
