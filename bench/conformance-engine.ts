// The conformance engine's speed: commands per second of model-based runs against the
// reference, with and without races (DMA between driver accesses, software changes
// between hardware accesses), and for each mutant the seconds to kill it and the length
// of its shrunk counterexample.
//
// Two figures per profile and races: one thread's (runProfile in this process, after a
// warm-up: the engine's own speed), and a campaign's on two threads (the blocks of 100
// runs on this thread and a worker, as `dirtyspec run --workers 2` runs them on these
// 2-core machines), counted from the campaign's start, the worker's start-up included.
// The target (30,000 commands/s without races, 20,000 with) is printed against
// the campaign figure; the one-thread figure is printed beside it, without a target, so
// that neither hides the other.
//
// First, what two threads can give on this machine at all: the same one-thread run on one
// worker, then on two at once (threadsRate). On these 2-core virtual machines it has varied
// from 1.27 to 1.89 times one thread's rate within an hour (2026-12-02): the campaign figure
// is bounded by the one-thread figure times that factor, whatever the kit does.
//
// The kit measured is the one the command runs: dist/'s compiled modules while dist/ was
// built from the sources as they are (bin/dirtyspec.js's rule, scripts/source-stamp.js),
// else the sources through tsx, which start slower and run about a tenth slower (the log says which).
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Adapter } from '../conformance/adapters/types.ts';
import type { Figure, Scenario } from './index.ts';

type Kit = typeof import('../conformance/adapters/registry.ts') &
  typeof import('../conformance/campaign/campaign.ts') &
  typeof import('../conformance/campaign/plan.ts') &
  typeof import('../conformance/engine/run-profile.ts') &
  typeof import('../conformance/mutants/index.ts');

const root = fileURLToPath(new URL('..', import.meta.url));

/** Whether dist/ was built from the sources as they are now. */
async function distIsCurrent(): Promise<boolean> {
  const stampFile = `${root}dist/.source-stamp`;
  if (!existsSync(stampFile)) return false;
  const { sourceStamp } = (await import(new URL('../scripts/source-stamp.js', import.meta.url).href)) as { sourceStamp(root: string): string };
  return readFileSync(stampFile, 'utf8').trim() === sourceStamp(root);
}

async function loadKit(log: (message: string) => void): Promise<Kit> {
  const compiled = await distIsCurrent();
  log(compiled ? "the kit as dist/'s compiled modules (built from these sources)" : 'the kit as its TypeScript sources through tsx (dist/ is missing or was built from other sources: npm run build)');
  const at = (path: string) => (compiled ? new URL(`../dist/${path}.js`, import.meta.url).href : new URL(`../${path}.ts`, import.meta.url).href);
  const parts = await Promise.all(['conformance/adapters/registry', 'conformance/campaign/campaign', 'conformance/campaign/plan', 'conformance/engine/run-profile', 'conformance/mutants/index'].map((p) => import(at(p))));
  return Object.assign({}, ...parts) as Kit;
}

const RUNS = 1000;
/** The two-thread campaign's runs: 40 blocks, so that the worker's start-up (a fraction of a second) is part of the figure without being most of it. */
const CAMPAIGN_RUNS = 4000;
const CAMPAIGN_WORKERS = 2;

/** Commands per second of a campaign of CAMPAIGN_RUNS runs on CAMPAIGN_WORKERS threads (this one and a worker), from its start to its merged result. */
async function campaignRate(kit: Kit, profile: 'smmu-hw' | 'smmu-driver', interleave: boolean, fullCheck = false): Promise<number> {
  const { planCampaign, runCampaign, referenceAdapters } = kit;
  const plan = planCampaign([profile], CAMPAIGN_RUNS, 1);
  const started = performance.now();
  const outcome = await runCampaign({
    plan,
    adapters: [referenceAdapters[profile]],
    source: { kind: 'reference' },
    settings: { timeoutMs: 2000, maxCommands: 30, interleave, ...(fullCheck ? { fullCheck } : {}) },
    workers: CAMPAIGN_WORKERS,
    io: { out: () => undefined, err: (text) => void process.stderr.write(text), errIsTTY: false },
  });
  const seconds = (performance.now() - started) / 1000;
  const r = outcome.results[0]!;
  if (outcome.workers !== CAMPAIGN_WORKERS) throw new Error(`the campaign ran on ${outcome.workers} threads, not ${CAMPAIGN_WORKERS}`);
  if (r.verdict !== 'conforms') throw new Error(`the reference did not conform on ${profile}: ${JSON.stringify(r.counterexample?.violation ?? r.undecided)}`);
  return r.commands / seconds;
}

async function rate(kit: Kit, profile: 'smmu-hw' | 'smmu-driver', interleave: boolean, fullCheck = false): Promise<{ rate: number; ceiling: number }> {
  const { referenceAdapters, runProfile } = kit;
  const { adapter, spent } = timed(referenceAdapters[profile]);
  // Warm up first (another seed, untimed): the first figure of the process would otherwise
  // carry the JIT's compilation of the engine and model, and the later ones would not.
  await runProfile(adapter, { runs: RUNS / 5, seed: 2, timeoutMs: 2000, maxCommands: 30, interleave, fullCheck });
  spent.ms = 0;
  const started = performance.now();
  const r = await runProfile(adapter, { runs: RUNS, seed: 1, timeoutMs: 2000, maxCommands: 30, interleave, fullCheck });
  if (r.verdict !== 'conforms') throw new Error(`the reference did not conform on ${profile}: ${JSON.stringify(r.counterexample?.violation ?? r.undecided)}`);
  return { rate: r.commands / ((performance.now() - started) / 1000), ceiling: r.commands / (spent.ms / 1000) };
}

/**
 * `adapter` with the time spent inside its instances' methods summed: the implementation's
 * own share of a run (its accesses to kit memory included), so the figure a kit that cost
 * nothing would reach. The reference's methods do their work before they return their
 * promise (nothing in them awaits), so the time of the call is the time of the work.
 */
function timed<A extends Adapter>(base: A): { adapter: A; spent: { ms: number } } {
  const spent = { ms: 0 };
  const wrap = (inst: Record<string, unknown>) =>
    Object.fromEntries(
      Object.entries(inst).map(([k, f]) => [
        k,
        typeof f !== 'function'
          ? f
          : (...args: unknown[]) => {
              const t = performance.now();
              try {
                return f.apply(inst, args);
              } finally {
                spent.ms += performance.now() - t;
              }
            },
      ]),
    );
  const create = base.create as unknown as (...args: unknown[]) => Promise<Record<string, unknown>>;
  return { adapter: { ...base, create: async (...args: unknown[]) => wrap(await create.apply(base, args)) }, spent };
}

/**
 * One thread's run of `profile` (the reference, without races, RUNS runs after a warm-up) on
 * each of `threads` worker threads at once; their commands per second summed. What two
 * threads can give on this machine whatever the kit does: 2.0 times one thread's rate
 * where its two cores do not slow each other down. Compiled kit only (a worker does not
 * load the sources without tsx).
 */
async function threadsRate(profile: 'smmu-hw' | 'smmu-driver', threads: number): Promise<number> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    (async () => {
      const { referenceAdapters } = await import(workerData.registry);
      const { runProfile } = await import(workerData.runProfile);
      const run = (runs, seed) => runProfile(referenceAdapters[workerData.profile], { runs, seed, timeoutMs: 2000, maxCommands: 30, interleave: false });
      await run(workerData.runs / 5, 2);
      parentPort.postMessage('ready');
      parentPort.once('message', async () => {
        const started = performance.now();
        const r = await run(workerData.runs, 1);
        parentPort.postMessage({ commands: r.commands, ms: performance.now() - started });
      });
    })();`;
  const at = (path: string) => new URL(`../dist/${path}.js`, import.meta.url).href;
  const workerData = { registry: at('conformance/adapters/registry'), runProfile: at('conformance/engine/run-profile'), profile, runs: RUNS };
  const workers = Array.from({ length: threads }, () => new Worker(code, { eval: true, workerData }));
  try {
    const next = (w: Worker) =>
      new Promise<unknown>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      });
    await Promise.all(workers.map(next));
    const results = workers.map(next);
    for (const w of workers) w.postMessage('go');
    const done = (await Promise.all(results)) as { commands: number; ms: number }[];
    return done.reduce((sum, d) => sum + d.commands / (d.ms / 1000), 0);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

export const conformanceEngine: Scenario = {
  name: 'conformance-engine',
  async run(log) {
    const kit = await loadKit(log);
    const figures: Figure[] = [];
    if (await distIsCurrent()) {
      // How far two threads can go on this machine: the same one-thread run on one worker, then on two at once.
      log('smmu-driver without races, one thread on one worker, then on two workers at once');
      const one = await threadsRate('smmu-driver', 1);
      const two = await threadsRate('smmu-driver', 2);
      figures.push({ name: 'this machine: two threads running the engine at once, their commands/s over one thread alone', value: two / one, unit: '× (2.0 where the cores do not slow each other)' });
    }
    for (const profile of ['smmu-driver', 'smmu-hw'] as const) {
      for (const interleave of [false, true]) {
        const races = interleave ? 'with races' : 'without races';
        log(`${profile} ${races}, a campaign of ${CAMPAIGN_RUNS} runs on ${CAMPAIGN_WORKERS} threads`);
        const campaign = await campaignRate(kit, profile, interleave);
        figures.push({ name: `${profile} commands/s ${races}, campaign on ${CAMPAIGN_WORKERS} threads`, value: campaign, unit: 'commands/s', target: { atLeast: interleave ? 20_000 : 30_000 } });
        log(`${profile} ${races}, the same campaign with the full check after every command`);
        figures.push({ name: `${profile} commands/s ${races}, campaign on ${CAMPAIGN_WORKERS} threads, full check (--full-check)`, value: await campaignRate(kit, profile, interleave, true), unit: 'commands/s' });
        log(`${profile} ${races}, ${RUNS} runs on one thread`);
        const { rate: value, ceiling } = await rate(kit, profile, interleave);
        figures.push({ name: `${profile} commands/s ${races}, one thread`, value, unit: 'commands/s' });
        // What bounds the figure above from outside the kit: the commands over the seconds spent inside the reference itself.
        figures.push({ name: `${profile} commands/s ${races}, one thread, the reference's own time alone (no kit cost)`, value: ceiling, unit: 'commands/s' });
        log(`${profile} ${races}, ${RUNS} runs on one thread, full check after every command`);
        const full = await rate(kit, profile, interleave, true);
        figures.push({ name: `${profile} commands/s ${races}, one thread, full check (--full-check)`, value: full.rate, unit: 'commands/s' });
      }
    }
    const seconds: number[] = [];
    for (const m of kit.mutants) {
      log(`mutant ${m.name}`);
      let seed = 0;
      for (const ch of m.name) seed = (seed * 31 + ch.charCodeAt(0)) >>> 0;
      const r = await kit.runProfile(m.adapter, { runs: RUNS, seed, timeoutMs: 2000, maxCommands: 30 });
      const crashed = m.fault === 'crash' && r.verdict === 'undecided';
      if (r.verdict !== 'does-not-conform' && !crashed) throw new Error(`mutant ${m.name} survived (${r.verdict})`);
      seconds.push(r.seconds);
      figures.push({ name: `mutant ${m.name} seconds to kill`, value: r.seconds, unit: 's', target: { atMost: 10 } });
      const steps = (crashed ? r.undecided?.steps.length : r.counterexample?.steps.length) ?? 0;
      figures.push({ name: `mutant ${m.name} counterexample length`, value: steps, unit: 'steps', target: { atMost: 12 } });
    }
    seconds.sort((a, b) => a - b);
    figures.push({ name: 'mutants median seconds to kill', value: seconds[Math.floor(seconds.length / 2)]!, unit: 's', target: { atMost: 1 } });
    return figures;
  },
};
