// A profile whose every run is one generated scenario (iova-bitmap, vfio-type1): run the
// property, shrink the first failure (a violation, or an undecided answer: first-failure.ts),
// replay the shrunk counterexample to record its trace, and build the ProfileResult. The smmu profiles, with their command
// sequences and directed tests, have their own runner (run-profile.ts).
import fc from 'fast-check';
import { Violation } from '../../model/violation.ts';
import type { TraceStep } from './commands.ts';
import { Undecided, engineError, notReproduced } from './limits.ts';
import { FirstFailure } from './first-failure.ts';
import type { CoverageFigure, ProfileResult, RunOptions } from './run-profile.ts';

type Config = NonNullable<ProfileResult['counterexample']>['config'];

export interface ScenarioProfile<S> {
  readonly name: ProfileResult['name'];
  readonly adapter: string;
  readonly arbitrary: fc.Arbitrary<S>;
  /** Runs one scenario, appending to `trace`; returns the steps run. Throws Violation or Undecided. */
  run(scenario: S, trace: TraceStep[]): Promise<number>;
  /** The requirements a run of this profile can decide; those no step checked are reported as not reached. */
  readonly requirements: readonly string[];
  /** Requirements every run decides whatever its steps name (the no-loss property over the whole run, say). */
  readonly always?: readonly string[];
  coverage(): Record<string, CoverageFigure>;
  /** The configuration line a counterexample is reported with. */
  configOf(scenario: S): Config;
}

export async function runScenarioProfile<S>(p: ScenarioProfile<S>, options: RunOptions): Promise<ProfileResult> {
  const started = performance.now();
  const seed = options.seed ?? (Date.now() ^ (Math.random() * 0x1_0000_0000)) >>> 0;
  // Steps of each run in order; the runs after the first failure are fast-check's shrinking, not counted.
  const perRun: number[] = [];
  const first = new FirstFailure(options.timeoutMs, options.shrinkMs);
  // Every requirement a step checked: only those can pass; the others were not reached.
  const checked = new Set<string>();
  const run = async (sc: S, trace: TraceStep[]) => {
    options.onSequence?.(sc);
    try {
      return await p.run(sc, trace);
    } finally {
      for (const step of trace) for (const id of step.req) checked.add(id);
    }
  };
  const property = fc.asyncProperty(p.arbitrary, async (sc) => {
    if (first.skipRun()) return;
    const turn = options.pause?.();
    if (turn !== undefined) await turn;
    const trace: TraceStep[] = [];
    try {
      await first.fresh();
      perRun.push(await run(sc, trace));
    } catch (e) {
      perRun.push(trace.length);
      await first.judge(e, trace, (again) => run(sc, again));
    } finally {
      options.onProgress?.(perRun.length);
    }
  });
  const path = options.path?.split('@')[0];
  const details = await fc.check(property, { numRuns: options.runs, seed, ...(path === undefined ? {} : { path, endOnFailure: true }) });
  const seconds = () => Math.round((performance.now() - started) / 10) / 100;
  const reached = () => p.requirements.filter((id) => checked.has(id) || (p.always ?? []).includes(id));
  const unreached = () => p.requirements.filter((id) => !reached().includes(id));
  const all = (verdict: 'pass' | 'undecided') => (verdict === 'undecided' ? p.requirements : reached()).map((id) => ({ id, verdict }));
  const runs = details.failed ? details.numRuns : perRun.length;
  const base = {
    name: p.name,
    adapter: p.adapter,
    runs,
    commands: perRun.slice(0, runs).reduce((a, n) => a + n, 0),
    seed,
    transitionCoverage: p.coverage(),
    ...(first.shrinkStopped === undefined ? {} : { shrinkStopped: first.shrinkStopped }),
  };
  const undecidedResult = (message: string, steps: readonly TraceStep[], replay?: ProfileResult['replay']): ProfileResult => ({
    ...base,
    seconds: seconds(),
    verdict: 'undecided',
    requirements: all('undecided'),
    undecided: { message, steps },
    ...(replay === undefined ? {} : { replay }),
  });
  if (!details.failed || details.counterexample === null) {
    if (details.failed) throw details.errorInstance ?? new Error('fast-check failed without a counterexample');
    return { ...base, seconds: seconds(), verdict: 'conforms', requirements: all('pass'), unreached: unreached() };
  }
  const [sc] = details.counterexample;
  const steps: TraceStep[] = [];
  const replay = { seed, path: `${details.counterexamplePath ?? ''}@` };
  let violation: Violation;
  let replayed: unknown;
  try {
    await first.fresh();
    await run(sc, steps);
  } catch (e) {
    replayed = e;
  }
  const crashed = first.crashOutcome(replayed, steps);
  if (crashed?.verdict === 'undecided') return undecidedResult(crashed.message, crashed.steps, crashed.replayable ? replay : undefined);
  if (crashed !== undefined) {
    const failed = new Set(crashed.req);
    const c = crashed.crash.info;
    return {
      ...base,
      seconds: seconds(),
      verdict: 'does-not-conform',
      requirements: p.requirements.filter((id) => failed.has(id) || reached().includes(id)).map((id) => ({ id, verdict: failed.has(id) ? ('fail' as const) : ('pass' as const) })),
      unreached: unreached().filter((id) => !failed.has(id)),
      counterexample: {
        config: p.configOf(sc),
        steps: crashed.steps,
        violation: { kind: 'spec', req: crashed.req, expected: crashed.expected, actual: crashed.actual },
        crash: { status: c.status, call: `${c.call.op} ${c.call.args}`, stderr: c.stderr },
      },
      replay,
    };
  }
  try {
    if (replayed !== undefined) throw replayed;
    const u = first.undecided;
    if (u !== undefined) return undecidedResult(u.error.message, u.steps);
    return undecidedResult((details.errorInstance instanceof Violation ? notReproduced(details.errorInstance) : engineError(details.errorInstance)).message, steps);
  } catch (e) {
    // Undecided again for the same kind of reason: the shrunk scenario is the one to replay.
    if (first.replayedAlike(e)) return undecidedResult(e.message, steps, replay);
    const u = first.undecided;
    if (u !== undefined) return undecidedResult(u.error.message, u.steps);
    if (!(e instanceof Violation)) return undecidedResult((e instanceof Undecided ? e : engineError(e)).message, steps);
    violation = e;
  }
  const failed = new Set(violation.req);
  return {
    ...base,
    seconds: seconds(),
    verdict: 'does-not-conform',
    requirements: p.requirements.filter((id) => failed.has(id) || reached().includes(id)).map((id) => ({ id, verdict: failed.has(id) ? ('fail' as const) : ('pass' as const) })),
    unreached: unreached().filter((id) => !failed.has(id)),
    counterexample: { config: p.configOf(sc), steps, violation: { kind: violation.kind, req: violation.req, expected: violation.expected, actual: violation.actual } },
    replay,
  };
}
