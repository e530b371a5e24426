// The conformance engine's speed: commands per second of model-based runs against the
// reference, with and without races (DMA between driver accesses, software changes
// between hardware accesses), and for each mutant the seconds to kill it and the length
// of its shrunk counterexample.
import { referenceAdapters } from '../conformance/adapters/registry.ts';
import type { Adapter } from '../conformance/adapters/types.ts';
import { runProfile } from '../conformance/engine/run-profile.ts';
import { mutants } from '../conformance/mutants/index.ts';
import type { Figure, Scenario } from './index.ts';

const RUNS = 1000;

async function rate(profile: 'smmu-hw' | 'smmu-driver', interleave: boolean, fullCheck = false): Promise<{ rate: number; ceiling: number }> {
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

export const conformanceEngine: Scenario = {
  name: 'conformance-engine',
  async run(log) {
    const figures: Figure[] = [];
    for (const profile of ['smmu-driver', 'smmu-hw'] as const) {
      for (const interleave of [false, true]) {
        log(`${profile} ${interleave ? 'with' : 'without'} races, ${RUNS} runs`);
        const { rate: value, ceiling } = await rate(profile, interleave);
        const races = interleave ? 'with races' : 'without races';
        figures.push({ name: `${profile} commands/s ${races}`, value, unit: 'commands/s', target: { atLeast: interleave ? 20_000 : 30_000 } });
        // What bounds the figure above from outside the kit: the commands over the seconds spent inside the reference itself.
        figures.push({ name: `${profile} commands/s ${races}, the reference's own time alone (no kit cost)`, value: ceiling, unit: 'commands/s' });
        log(`${profile} ${interleave ? 'with' : 'without'} races, ${RUNS} runs, full check after every command`);
        const full = await rate(profile, interleave, true);
        figures.push({ name: `${profile} commands/s ${races}, full check (--full-check)`, value: full.rate, unit: 'commands/s' });
      }
    }
    const seconds: number[] = [];
    for (const m of mutants) {
      log(`mutant ${m.name}`);
      let seed = 0;
      for (const ch of m.name) seed = (seed * 31 + ch.charCodeAt(0)) >>> 0;
      const r = await runProfile(m.adapter, { runs: RUNS, seed, timeoutMs: 2000, maxCommands: 30 });
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
