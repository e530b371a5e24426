// The detection rate of zoo mutants: each run at the default run count over seeds 1..20,
// printing the seeds that kill it (a crash mutant is killed by the crash it causes).
//   node --import tsx conformance/mutants/kill-rate.ts [--profile NAME]... [--mutant NAME]... [--seeds N] [--runs N]
import { profileOf } from '../profiles/index.ts';
import { mutants } from './index.ts';

const argv = process.argv.slice(2);
const many = (flag: string) => argv.flatMap((a, i) => (argv[i - 1] === flag ? [a] : []));
const one = (flag: string, dflt: number) => Number(many(flag)[0] ?? dflt);
const profileNames = many('--profile');
const names = many('--mutant');
const seeds = one('--seeds', 20);
const runs = one('--runs', 1000);

for (const m of mutants) {
  if (profileNames.length > 0 && !profileNames.includes(m.profile)) continue;
  if (names.length > 0 && !names.includes(m.name)) continue;
  const started = performance.now();
  const survived: number[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const r = await profileOf(m.profile).run(m.adapter as never, { runs, seed, timeoutMs: 2000, maxCommands: 30 });
    const crashed = m.fault === 'crash' && r.verdict === 'undecided' && / threw: /.test(r.undecided?.message ?? '');
    if (!(r.verdict === 'does-not-conform' || crashed)) survived.push(seed);
  }
  const s = Math.round((performance.now() - started) / 100) / 10;
  console.log(`${m.name.padEnd(36)} killed on ${seeds - survived.length}/${seeds} seeds${survived.length > 0 ? ` (survived seeds ${survived.join(' ')})` : ''}  ${s} s`);
}
