// Detection rate: how reliably the default run finds each zoo mutant, and how reliably the
// reference passes. Every zoo mutant runs at the default run count (1000 sequences, as
// `dirtyspec mutants`) on seeds 1..20, and prints the fraction of seeds that kill it
// (target: 19 of 20). `npm start` on the reference (every profile, the default run count)
// runs on seeds 1..20 and prints, per seed, whether it conforms and the transition
// coverage over all profiles (a transition counts when some profile takes it; target 100%).
// The jobs run in two child processes (bench/detection-rate-worker.ts), a queue shared
// between them: about 10 minutes on an idle 2-core machine.
//   npm run bench -- --only detection-rate [--seeds N] [--mutant NAME]... [--no-reference | --reference-only]
import { type ChildProcess, fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { mutants } from '../conformance/mutants/index.ts';
import type { Job, Outcome } from './detection-rate-worker.ts';
import type { Figure, Scenario } from './index.ts';

const argv = process.argv.slice(2);
const flagValues = (flag: string) => argv.flatMap((a, i) => (argv[i - 1] === flag ? [a] : []));
const SEEDS = Number(flagValues('--seeds')[0] ?? 20);
/** Kills needed per 20 seeds (scaled to --seeds): 19 of 20. */
const TARGET = 0.95;

/** Runs `jobs` on `n` forked workers, longest first as given; calls `done` with each outcome. */
function runJobs(jobs: readonly Job[], n: number, done: (o: Outcome) => void): Promise<void> {
  const queue = [...jobs];
  return new Promise((resolve, reject) => {
    let live = 0;
    const start = () => {
      const child: ChildProcess = fork(new URL('./detection-rate-worker.ts', import.meta.url), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      live++;
      const next = () => {
        const job = queue.shift();
        child.send(job ?? 'close');
      };
      child.on('message', (m: Outcome | 'ready') => {
        if (m !== 'ready') done(m);
        next();
      });
      child.on('exit', (code) => {
        live--;
        if (code !== 0) reject(new Error(`a detection-rate worker exited with ${code}`));
        else if (live === 0) resolve();
      });
    };
    for (let i = 0; i < Math.max(1, Math.min(n, jobs.length)); i++) start();
  });
}

export const detectionRate: Scenario = {
  name: 'detection-rate',
  async run(log) {
    const names = flagValues('--mutant');
    const zoo = argv.includes('--reference-only') ? [] : mutants.filter((m) => names.length === 0 || names.includes(m.name));
    const seeds = Array.from({ length: SEEDS }, (_, i) => i + 1);
    const reference = !argv.includes('--no-reference') && names.length === 0;
    const jobs: Job[] = [...(reference ? seeds.map((seed): Job => ({ kind: 'reference', seed })) : []), ...zoo.flatMap((m) => seeds.map((seed): Job => ({ kind: 'mutant', name: m.name, seed })))];
    const outcomes: Outcome[] = [];
    const started = performance.now();
    await runJobs(jobs, Math.min(2, availableParallelism()), (o) => {
      outcomes.push(o);
      if (o.kind === 'reference')
        log(`reference seed ${o.seed}: ${o.verdict}, coverage ${o.covered}/${o.total}${o.missing.length > 0 ? ` (missing ${o.missing.join(', ')})` : ''}${o.failure === undefined ? '' : ` (${o.failure})`}, ${o.seconds} s`);
      else if (!o.killed) log(`mutant ${o.name} survived seed ${o.seed} (${o.verdict})`);
    });
    const figures: Figure[] = [];
    if (reference) {
      const refs = outcomes.flatMap((o) => (o.kind === 'reference' ? [o] : [])).sort((a, b) => a.seed - b.seed);
      for (const r of refs) {
        figures.push({ name: `reference seed ${r.seed} conforms`, value: r.verdict === 'conforms' ? 1 : 0, unit: '(1 yes, 0 no)', target: { atLeast: 1 } });
        figures.push({ name: `reference seed ${r.seed} transition coverage over all profiles`, value: Math.floor((1000 * r.covered) / r.total) / 10, unit: `% (${r.covered}/${r.total})`, target: { atLeast: 100 } });
      }
      figures.push({ name: 'reference seeds conforming', value: refs.filter((r) => r.verdict === 'conforms').length, unit: `of ${SEEDS}`, target: { atLeast: SEEDS } });
      figures.push({ name: 'reference seeds with 100% transition coverage', value: refs.filter((r) => r.covered === r.total).length, unit: `of ${SEEDS}`, target: { atLeast: SEEDS } });
    }
    const needed = Math.ceil(TARGET * SEEDS);
    let reliable = 0;
    for (const m of zoo) {
      const runs = outcomes.flatMap((o) => (o.kind === 'mutant' && o.name === m.name ? [o] : []));
      const kills = runs.filter((o) => o.killed).length;
      if (kills >= needed) reliable++;
      const survived = runs
        .filter((o) => !o.killed)
        .map((o) => o.seed)
        .sort((a, b) => a - b);
      figures.push({ name: `mutant ${m.name} killed on ${kills}/${SEEDS} seeds${survived.length > 0 ? ` (survived ${survived.join(' ')})` : ''}`, value: kills / SEEDS, unit: 'of seeds', target: { atLeast: needed / SEEDS } });
    }
    figures.push({ name: `mutants killed on at least ${needed} of ${SEEDS} seeds`, value: reliable, unit: `of ${zoo.length}`, target: { atLeast: zoo.length } });
    figures.push({ name: 'detection-rate wall time', value: Math.round(performance.now() - started) / 1000, unit: 's', target: { atMost: 900 } });
    return figures;
  },
};
