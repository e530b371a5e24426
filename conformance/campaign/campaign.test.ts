// Campaigns through the command line: a campaign run whole and as shards merged with
// `dirtyspec merge` gives the same report, and so do one thread and two workers.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, type CliResult } from '../cli/capture.ts';
import { SERVE_REFERENCE_COMMAND } from '../protocol/serve.ts';
import { planCampaign } from './plan.ts';
import { runInWorkers } from './pool.ts';

const dir = mkdtempSync(join(tmpdir(), 'dirtyspec-campaign-'));
const fixture = (name: string) => new URL(`./fixtures/${name}.ts`, import.meta.url).pathname;
/** A mutant of the reference whose fault some blocks of a campaign find and others do not. */
const mutant = fixture('vfio-clear-whole-range');
let files = 0;
const file = (ext: string) => join(dir, `${++files}.${ext}`);

/** The report without what differs between equal runs: the seconds. */
function withoutTime(text: string): string {
  return text.replace(/, [\d.]+ s, seed/g, ', X s, seed');
}

function jsonWithoutTime(path: string): Record<string, unknown> {
  const doc = JSON.parse(readFileSync(path, 'utf8')) as { profiles: { seconds?: number }[] };
  for (const p of doc.profiles) delete p.seconds;
  return doc;
}

function junitWithoutTime(path: string): string {
  return readFileSync(path, 'utf8').replace(/ time="[\d.]+"/g, '');
}

async function run(...argv: string[]): Promise<CliResult & { json: string; junit: string }> {
  const json = file('json');
  const junit = file('xml');
  const r = await runCli('run', ...argv, '--json', json, '--junit', junit);
  return { ...r, json, junit };
}

/** The campaign whole and as three shards merged: the same text, JSON (but the seconds and the shard) and JUnit; returns the whole run's JSON. */
async function sameWholeAndSharded(argv: string[], status: number): Promise<Record<string, unknown>> {
  const whole = await run(...argv, '--workers', '2');
  assert.is(whole.status, status, whole.err);
  const shards = [];
  for (const i of [1, 2, 3]) {
    const s = await run(...argv, '--shard', `${i}/3`, '--workers', '1');
    assert.ok(s.status === 0 || s.status === status, `shard ${i}/3: ${s.err}`);
    shards.push(s.json);
  }
  const mergedJson = file('json');
  const mergedJunit = file('xml');
  const merged = await runCli('merge', shards[2]!, shards[0]!, shards[1]!, '--json', mergedJson, '--junit', mergedJunit);
  assert.is(merged.status, status, merged.err);
  assert.is(withoutTime(merged.out), withoutTime(whole.out));
  const w = jsonWithoutTime(whole.json);
  assert.equal(jsonWithoutTime(mergedJson), w);
  assert.is(junitWithoutTime(mergedJunit), junitWithoutTime(whole.junit));
  return w;
}

test('a campaign run whole and as --shard 1/3, 2/3, 3/3 merged by dirtyspec merge: the same verdict, coverage and counts', async () => {
  // smmu-hw for its directed tests (block 0 only) and a scenario profile: two runners.
  const w = (await sameWholeAndSharded(['--seed', '11', '--runs', '201', '--profile', 'smmu-hw', '--profile', 'vfio-type1'], 0)) as {
    verdict: string;
    campaign: { blockCount: number };
    profiles: { name: string; runs: number; blocks: { ran: number[] } }[];
  };
  assert.is(w.verdict, 'conforms');
  assert.is(w.campaign.blockCount, 3);
  assert.equal(
    w.profiles.map((p) => p.name),
    ['smmu-hw', 'vfio-type1'],
  );
  for (const p of w.profiles) {
    assert.equal(p.blocks.ran, [0, 1, 2]);
    assert.ok(p.runs >= 201, `${p.name}: ${p.runs} runs`);
  }
});

test('a failing campaign whole and sharded: the same counterexample from the same block, and its replay command reproduces it', async () => {
  const w = (await sameWholeAndSharded(['--adapter', mutant, '--seed', '2', '--runs', '300'], 1)) as {
    profiles: { blocks: { counterexample: number }; counterexample: unknown; replay: { command: string } }[];
  };
  const p = w.profiles[0]!;
  assert.type(p.blocks.counterexample, 'number');
  const argv = p.replay.command
    .replace(/^npx dirtyspec run /, '')
    .match(/'[^']*'|\S+/g)!
    .map((a) => a.replace(/^'(.*)'$/, '$1'));
  const replayed = await run(...argv);
  assert.is(replayed.status, 1, replayed.err);
  const r = JSON.parse(readFileSync(replayed.json, 'utf8')) as { profiles: { counterexample: unknown }[] };
  assert.equal(r.profiles[0]!.counterexample, p.counterexample);
});

test('--workers 2 gives the report --workers 1 gives for the same seed (its worker loaded from the sources)', async () => {
  const argv = ['--seed', '5', '--runs', '201', '--profile', 'smmu-hw', '--profile', 'vfio-type1'];
  const one = await run(...argv, '--workers', '1');
  // The other pooled runs here start dist/'s compiled worker where dist/ is current (pool.ts,
  // workerEntry); this one starts worker.ts through tsx, as a checkout does after an edit.
  process.env.DIRTYSPEC_SOURCES = '1';
  let two: Awaited<ReturnType<typeof run>>;
  try {
    two = await run(...argv, '--workers', '2');
  } finally {
    delete process.env.DIRTYSPEC_SOURCES;
  }
  assert.is(one.status, 0, one.err);
  assert.is(two.status, 0, two.err);
  assert.is(withoutTime(two.out), withoutTime(one.out));
  assert.equal(jsonWithoutTime(two.json), jsonWithoutTime(one.json));
});

test('--exec on two workers: each worker starts its own process, and the report is that of one thread', async () => {
  const argv = ['--exec', SERVE_REFERENCE_COMMAND, '--profile', 'vfio-type1', '--seed', '8', '--runs', '101'];
  const one = await run(...argv, '--workers', '1');
  const two = await run(...argv, '--workers', '2');
  assert.is(two.status, 0, two.err);
  assert.is(withoutTime(two.out), withoutTime(one.out));
  assert.equal(jsonWithoutTime(two.json), jsonWithoutTime(one.json));
});

test('an adapter module that cannot load in a worker thread: the pool says why, and the run gives the report of one thread', async () => {
  const path = fixture('main-thread-only');
  const units = planCampaign(['iova-bitmap'], 101, 3).units;
  const pooled = await runInWorkers(units, { workers: 1, source: { kind: 'module', path }, settings: { timeoutMs: 2000, maxCommands: 30 } });
  assert.ok('unavailable' in pooled);
  assert.match(pooled.unavailable, /opened in the main thread/);
  const argv = ['--adapter', path, '--seed', '3', '--runs', '201'];
  const one = await run(...argv, '--workers', '1');
  const two = await run(...argv, '--workers', '2');
  assert.is(two.status, 0, two.err);
  assert.is(withoutTime(two.out), withoutTime(one.out));
});

test('--exec with an implementation that runs once at a time: the workers cannot start it, so the main thread runs the blocks, and says so', async () => {
  // The first process (the kit's handshake) takes the lock; every later one exits at once.
  const once = (lock: string) => `if mkdir ${lock} 2>/dev/null; then exec ${SERVE_REFERENCE_COMMAND}; else echo busy >&2; exit 3; fi`;
  const argv = ['--profile', 'vfio-type1', '--seed', '9', '--runs', '101'];
  const one = await run('--exec', once(join(dir, 'lock-1')), ...argv, '--workers', '1');
  const two = await run('--exec', once(join(dir, 'lock-2')), ...argv, '--workers', '2');
  assert.is(two.status, 0, two.err);
  assert.match(two.err, /cannot run in a worker thread \(.*exited.*\); the blocks run in the main thread/);
  assert.is(withoutTime(two.out).replaceAll('lock-2', 'lock-1'), withoutTime(one.out));
});

test('dirtyspec merge refuses reports that are not the whole of one campaign, naming what is missing or different', async () => {
  const argv = ['--profile', 'vfio-type1', '--seed', '4', '--runs', '300', '--workers', '1'];
  const s1 = (await run(...argv, '--shard', '1/3')).json;
  const s2 = (await run(...argv, '--shard', '2/3')).json;
  const other = (await run('--profile', 'vfio-type1', '--seed', '5', '--runs', '300', '--workers', '1', '--shard', '3/3')).json;
  const replay = (await run('--profile', 'vfio-type1', '--seed', '4', '--replay', '1:0@')).json;
  const cases: [string[], RegExp][] = [
    [[s1, s2], /vfio-type1: block 2 of the campaign's 3 is in no report \(the report of shard 3\/3 is missing\)/],
    [[s1, s2, s1], /vfio-type1: block 0 is in two reports/],
    [[s1, s2, other], /is of another campaign than .*: --seed 5 --runs 300 against --seed 4 --runs 300/],
    [[replay], /has no "campaign": it is not the report of a campaign or a shard/],
    [[join(dir, 'none.json')], /none\.json: cannot read it as JSON/],
    [[], /name the --json reports to merge/],
  ];
  cases.push([[s1, '--json', join(dir, 'no-such-folder', 'merged.json')], /--json .*merged\.json: the folder .*no-such-folder does not exist/]);
  for (const [files, pattern] of cases) {
    const r = await runCli('merge', ...files);
    assert.is(r.status, 2, `${files.join(' ')}: ${r.out}`);
    assert.match(r.err, pattern);
    assert.is(r.out, '');
  }
});

test('--shard and --block: usage errors name the rule', async () => {
  const cases: [string[], RegExp][] = [
    [['--shard', '1/3'], /--shard needs --seed/],
    [['--seed', '1', '--shard', '4/3'], /--shard 4\/3: i must be from 1 to n \(3\)/],
    [['--seed', '1', '--shard', '1/3', '--block', '0'], /--shard and --block each say which blocks to run/],
    [['--seed', '1', '--runs', '200', '--shard', '3/3'], /--shard 3\/3 runs no block: the campaign has 2 blocks of 100 runs per profile \(--runs 200\)/],
    [['--seed', '1', '--runs', '200', '--block', '2'], /--block 2: the campaign has blocks 0 to 1/],
    [['--block', '1'], /--block needs --seed/],
    [['--workers', '0'], /--workers must be an integer from 1 to/],
  ];
  for (const [argv, pattern] of cases) {
    const r = await runCli('run', ...argv);
    assert.is(r.status, 2, argv.join(' '));
    assert.match(r.err, pattern);
  }
});

test('--block B runs that block alone: its results are the campaign report’s for that block', async () => {
  const whole = await run('--profile', 'vfio-type1', '--seed', '6', '--runs', '300', '--workers', '1');
  const alone = await run('--profile', 'vfio-type1', '--seed', '6', '--runs', '300', '--block', '1');
  const shard = await run('--profile', 'vfio-type1', '--seed', '6', '--runs', '300', '--shard', '2/3', '--workers', '1');
  const j = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as { profiles: { runs: number; commands: number; blocks: { ran: number[] } }[] };
  assert.equal(j(alone.json).profiles[0]!.blocks.ran, [1]);
  assert.equal(jsonWithoutTime(alone.json).profiles, jsonWithoutTime(shard.json).profiles);
  assert.ok(j(alone.json).profiles[0]!.commands < j(whole.json).profiles[0]!.commands);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
