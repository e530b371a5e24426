// A child process of the detection-rate scenario (detection-rate.ts forks two): it takes
// one job at a time over IPC and answers with the outcome. A job is a zoo mutant at one
// seed (the default run count, as `dirtyspec mutants` runs it) or `npm start` on the
// reference at one seed (what npm start runs: every profile, the default run count, then the
// contract campaigns; in this process).
import { mutantRow } from '../conformance/cli/mutants.ts';
import { DEFAULT_MAX_COMMANDS, DEFAULT_RUNS, DEFAULT_TIMEOUT_MS, runProfileSafely } from '../conformance/cli/run.ts';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { main } from '../conformance/cli/main.ts';
import { findMutant } from '../conformance/mutants/index.ts';

export type Job = { readonly kind: 'mutant'; readonly name: string; readonly seed: number } | { readonly kind: 'reference'; readonly seed: number };

export type Outcome =
  | { readonly kind: 'mutant'; readonly name: string; readonly seed: number; readonly killed: boolean; readonly seconds: number; readonly steps: number | null; readonly verdict: string }
  | {
      readonly kind: 'reference';
      readonly seed: number;
      readonly verdict: string;
      readonly seconds: number;
      /** Over all profiles: a machine's transition is covered when some profile covers it. */
      readonly covered: number;
      readonly total: number;
      readonly missing: readonly string[];
      readonly failure?: string;
    };

async function perform(job: Job): Promise<Outcome> {
  const started = performance.now();
  if (job.kind === 'mutant') {
    const mutant = findMutant(job.name);
    if (mutant === undefined) throw new Error(`no mutant ${job.name}`);
    const result = await runProfileSafely(mutant.adapter, { runs: DEFAULT_RUNS, seed: job.seed, timeoutMs: DEFAULT_TIMEOUT_MS, maxCommands: DEFAULT_MAX_COMMANDS }, { err: () => {} });
    const row = mutantRow({ mutant, result });
    return { kind: 'mutant', name: job.name, seed: job.seed, killed: row.killed, seconds: result.seconds, steps: row.counterexampleLength, verdict: result.verdict };
  }
  // What npm start runs, in this process: `dirtyspec run` with no profile named (every
  // profile under strict, then the contract campaigns), its JSON report read back.
  const json = join(mkdtempSync(join(tmpdir(), 'dirtyspec-detection-')), 'report.json');
  const status = await main(['run', '--seed', String(job.seed), '--workers', '1', '--json', json], { out: () => {}, err: () => {}, errIsTTY: false });
  const report = JSON.parse(readFileSync(json, 'utf8')) as { verdict: string; profiles: { name: string; verdict: string; replay?: { command: string }; transitionCoverage: Record<string, { total: number; missing: string[] }> }[] };
  rmSync(dirname(json), { recursive: true, force: true });
  if (status === 2 && report.profiles.every((p) => p.verdict === 'conforms')) throw new Error(`dirtyspec run --seed ${job.seed} exited 2`);
  const union = new Map<string, { total: number; missing: Set<string> }>();
  for (const p of report.profiles) {
    for (const [machine, c] of Object.entries(p.transitionCoverage)) {
      const prev = union.get(machine);
      union.set(machine, { total: c.total, missing: prev === undefined ? new Set(c.missing) : new Set([...prev.missing].filter((k) => c.missing.includes(k))) });
    }
  }
  const total = [...union.values()].reduce((n, c) => n + c.total, 0);
  const missing = [...union].flatMap(([machine, c]) => [...c.missing].map((k) => `${machine} ${k}`));
  const failed = report.profiles.find((p) => p.verdict !== 'conforms');
  return {
    kind: 'reference',
    seed: job.seed,
    verdict: report.verdict,
    seconds: Math.round(performance.now() - started) / 1000,
    covered: total - missing.length,
    total,
    missing,
    ...(failed === undefined ? {} : { failure: `${failed.name} ${failed.verdict}${failed.replay === undefined ? '' : `: ${failed.replay.command}`}` }),
  };
}

process.on('message', (job: Job | 'close') => {
  if (job === 'close') process.exit(0);
  perform(job).then(
    (outcome) => process.send!(outcome),
    (e: unknown) => {
      process.stderr.write(`detection-rate worker: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
});
process.send!('ready');
