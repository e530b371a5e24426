// The command line: usage errors exit 2 with a message naming the flag and no stack
// trace; `list` prints the catalogue; a real run returns a verdict's exit status.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import { PROFILES } from '../adapters/types.ts';
import * as assert from 'uvu/assert';
import { mutants } from '../mutants/index.ts';
import { runCli } from './capture.ts';
import { mutantSeed } from './mutants.ts';

const cli = runCli;

const dir = mkdtempSync(join(tmpdir(), 'dirtyspec-cli-'));
// A third party's module with one adapter, for profile smmu-driver, whose create throws.
const throwingAdapter = join(dir, 'throwing-adapter.mjs');
writeFileSync(throwingAdapter, `export default { profile: 'smmu-driver', name: 'throws', create: async () => { throw new Error('no hardware here'); } };\n`);

// Third-party modules that misbehave the three ways the tool must call undecided.
const fixture = (name: string) => new URL(`./fixtures/${name}.ts`, import.meta.url).pathname;
const throwsOnClear = fixture('throws-on-clear');
const neverAnswers = fixture('never-answers');
const wrongLength = fixture('wrong-length');

async function usageError(argv: string[], pattern: RegExp): Promise<void> {
  const r = await cli(...argv);
  assert.is(r.status, 2, `${argv.join(' ')}: status`);
  assert.match(r.err, pattern);
  assert.not.match(r.err, /\n\s+at /, 'no stack trace');
  assert.is(r.out, '');
}

test('usage errors exit 2 and name the flag: unknown flag, bad numbers, missing values', async () => {
  await usageError(['run', '--bogus'], /unknown flag --bogus/);
  await usageError(['run', '--runs', '0'], /--runs must be an integer from 1 to/);
  await usageError(['run', '--runs', 'many'], /--runs must be an integer .* got "many"/);
  await usageError(['run', '--seed', '1.5'], /--seed must be an integer/);
  await usageError(['run', '--timeout'], /--timeout needs a value/);
  await usageError(['run', '--json', '--runs', '3'], /--json needs a value, but the next argument is the flag --runs/);
  await usageError(['run', '--runs', '3', '--runs', '4'], /--runs may be given only once/);
  await usageError(['run', '--help=yes'], /--help takes no value/);
  await usageError(['run', 'smmu-hw'], /unexpected argument "smmu-hw"/);
  await usageError(['run', '--constructor'], /unknown flag --constructor/);
  await usageError(['frobnicate'], /unknown command "frobnicate"/);
});

test('--replay needs --seed and exactly one --profile', async () => {
  await usageError(['run', '--replay', '1:2:3'], /--replay needs --seed/);
  await usageError(['run', '--replay', '1:2:3', '--seed', '5'], /--replay needs exactly one --profile, got none/);
  await usageError(['run', '--replay', '1:2:3', '--seed', '5', '--profile', 'smmu-hw', '--profile', 'smmu-driver'], /exactly one --profile, got smmu-hw, smmu-driver/);
  await usageError(['run', '--replay', 'x:y', '--seed', '5', '--profile', 'smmu-hw'], /--replay must be a replay path/);
  const r = await cli('run', '--replay', 'directed:no-such-test', '--seed', '0', '--profile', 'smmu-hw');
  assert.is(r.status, 2);
  assert.match(r.out, /UNDECIDED: --replay directed:no-such-test could not be replayed/);
});

test('an unknown profile, or one the --adapter module does not implement, is a usage error naming it', async () => {
  await usageError(['run', '--profile', 'vfio-type2'], /--profile "vfio-type2" is not one of smmu-hw, smmu-driver, iova-bitmap, vfio-type1/);
  await usageError(['run', '--adapter', throwingAdapter, '--profile', 'smmu-hw'], /profile smmu-hw is not implemented by --adapter .*throwing-adapter\.mjs \(it implements: smmu-driver\)/);
  await usageError(['run', '--adapter', join(dir, 'missing.mjs')], /--adapter .*missing\.mjs: could not load the module/);
  await usageError(['mutants', '--profile', 'nope'], /--profile "nope" is not one of/);
  await usageError(['mutants', '--mutant', 'no-such-mutant'], /--mutant "no-such-mutant" is not one of/);
});

test('--help for every command, exit 0; no command at all is exit 2', async () => {
  for (const argv of [['--help'], ['help'], ['run', '--help'], ['mutants', '-h'], ['list', '--help'], ['help', 'run']]) {
    const r = await cli(...argv);
    assert.is(r.status, 0, argv.join(' '));
    assert.match(r.out, /^usage: dirtyspec/);
  }
  assert.match((await cli('run', '--help')).out, /--replay PATH/);
  assert.match((await cli('mutants', '--help')).out, /default 1000/);
  const none = await cli();
  assert.is(none.status, 2);
  assert.match(none.err, /^usage: dirtyspec <command>/);
});

test('list: profiles, every requirement with text and source, the mutants', async () => {
  const r = await cli('list');
  assert.is(r.status, 0);
  assert.ok(r.out.startsWith(`profiles (${PROFILES.length})\n${PROFILES.map((p) => `  ${p}\n`).join('')}`), r.out.slice(0, 200));
  assert.match(r.out, /HTTU-2 +With HD=1 a DMA write through a writable-clean leaf atomically clears AP\[2\]/);
  assert.match(r.out, /source: ARM IHI 0070 E\.a \(SMMUv3\) §3\.13\.3; Keqian Zhu, RFC .*<20210128151742\.18840-1-zhukeqian1@huawei\.com>/);
  assert.match(r.out, new RegExp(`mutants \\(${mutants.length}\\)`));
  for (const m of mutants) assert.match(r.out, new RegExp(`${m.name} +class ${m.bugClass} +${m.profile}`));
});

test('a real run of smmu-driver: a verdict exit status, the report, JSON and JUnit files', async () => {
  const json = join(dir, 'report.json');
  const junit = join(dir, 'report.xml');
  const r = await cli('run', '--profile', 'smmu-driver', '--runs', '5', '--seed', '1', '--json', json, '--junit', junit);
  assert.ok([0, 1, 2].includes(r.status), `status ${r.status}`);
  assert.match(r.out, /^profile smmu-driver \(adapter reference\): (conforms|DOES NOT CONFORM|UNDECIDED) {2}— \d+ runs, \d+ commands, [\d.]+ s, seed 1\n/);
  assert.match(r.out, /\n {2}coverage leafDescriptor \d+\/\d+ \(\d+%\)\n/);
  const doc = JSON.parse(readFileSync(json, 'utf8'));
  assert.is(doc.profiles.length, 1);
  assert.is(doc.profiles[0].name, 'smmu-driver');
  assert.is(r.status, { conforms: 0, 'does-not-conform': 1, undecided: 2 }[doc.verdict as string]);
  assert.match(readFileSync(junit, 'utf8'), /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites [^>]*>\n {2}<testsuite name="smmu-driver"/);
});

test('an adapter that throws makes the profile UNDECIDED: exit 2 with the reason', async () => {
  const r = await cli('run', '--adapter', throwingAdapter, '--runs', '3', '--seed', '2');
  assert.is(r.status, 2);
  assert.match(r.out, /^profile smmu-driver \(adapter throws\): UNDECIDED/);
  assert.match(r.out, /UNDECIDED: .*no hardware here/);
});

test('mutants: a fixed seed per mutant, a kill table and its summary line', async () => {
  assert.is(mutantSeed('clear-without-tlbi'), mutantSeed('clear-without-tlbi'));
  assert.is.not(mutantSeed('clear-without-tlbi'), mutantSeed('tlbi-before-clear'));
  const json = join(dir, 'mutants.json');
  const r = await cli('mutants', '--mutant', 'clear-without-tlbi', '--runs', '5', '--json', json);
  assert.ok([0, 1, 2].includes(r.status), `status ${r.status}`);
  assert.match(r.out, /^mutant +class +profile +killed +seconds +steps +requirements\nclear-without-tlbi +stale-iotlb +smmu-driver +(yes|NO|UNDECIDED) /);
  assert.match(r.out, /\nkilled [01] of 1 mutants; median seconds [\d.-]+; longest counterexample [\d-]+/);
  const doc = JSON.parse(readFileSync(json, 'utf8'));
  const [row] = doc.mutants;
  assert.equal(Object.keys(row).filter((k) => ['name', 'class', 'profile', 'killed', 'seconds', 'counterexampleLength'].includes(k)).length, 6);
  assert.is(row.name, 'clear-without-tlbi');
  assert.is(r.status, row.verdict === 'undecided' ? 2 : row.killed ? 0 : 1);
});

test('a report file in a folder that does not exist is a usage error naming the path, before the run; no folder is created', async () => {
  const missing = join(dir, 'no-such-folder', 'deeper');
  for (const [argv, flag] of [
    [['run', '--profile', 'iova-bitmap', '--runs', '1', '--json', join(missing, 'x.json')], '--json'],
    [['run', '--profile', 'iova-bitmap', '--runs', '1', '--junit', join(missing, 'x.xml')], '--junit'],
    [['run', '--profile', 'iova-bitmap', '--runs', '1', '--html', join(missing, 'x.html')], '--html'],
    [['mutants', '--mutant', 'clear-without-tlbi', '--runs', '1', '--json', join(missing, 'm.json')], '--json'],
    [['mutants', '--mutant', 'clear-without-tlbi', '--runs', '1', '--html', join(missing, 'm.html')], '--html'],
  ] as const) {
    const r = await cli(...argv);
    assert.is(r.status, 2, argv.join(' '));
    assert.match(r.err, new RegExp(`${flag} ${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/\\S+: the folder ${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} does not exist`), argv.join(' '));
    assert.is(r.out, '', 'nothing ran');
    assert.not.ok(existsSync(missing), 'no folder created');
  }
});

test('--exec of a program that is not there: the handshake failure is printed once in all (stdout and stderr), for every profile', async () => {
  const r = await cli('run', '--exec', join(dir, 'no-such-program'), '--runs', '1');
  assert.is(r.status, 2);
  const both = r.out + r.err;
  assert.is(both.split('did not complete the hello handshake').length - 1, 1, both);
  assert.is(both.split('not found').length - 1, 1, both);
  assert.match(r.out, /profile smmu-driver \(adapter [^)]*\): UNDECIDED .*\n {2}UNDECIDED: the same reason as profile smmu-hw above\n/);
  assert.not.match(r.out, /transition coverage over all profiles: *\n/);
});

test('run --verbose prints the requirement texts whole; without it they are cut, with a pointer to --verbose and list', async () => {
  const cut = await cli('run', '--profile', 'iova-bitmap', '--runs', '2', '--seed', '1');
  assert.match(cut.out, /…/);
  assert.match(cut.out, /--verbose prints them whole, and `dirtyspec list` lists every requirement/);
  const whole = await cli('run', '--profile', 'iova-bitmap', '--runs', '2', '--seed', '1', '--verbose');
  assert.is(whole.status, 0);
  assert.not.match(whole.out, /…/);
  assert.match((await cli('run', '--help')).out, /--verbose/);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('an adapter that throws, one with a bitmap of the wrong length: exit 2 with the reason', async () => {
  const cases: [string, RegExp][] = [
    [throwsOnClear, /UNDECIDED: .*readAndClearDirty threw: Error: driver bug/],
    [wrongLength, /UNDECIDED: .*dirty bitmap of \d+ bytes; \d+ pages need exactly \d+ bytes/],
  ];
  for (const [module, reason] of cases) {
    const r = await cli('run', '--adapter', module, '--profile', 'smmu-driver', '--runs', '20', '--timeout', '300', '--seed', '4');
    assert.is(r.status, 2, module);
    assert.match(r.out, reason);
    // The cause replays: the shrunk steps and the command that runs them again, after the reason.
    assert.match(r.out, /\n {2}UNDECIDED: [^\n]*\n {2}steps \(\d+, shrunk: the replay command runs them again\):\n/, module);
    assert.match(r.out, /\n {2}replay: npx dirtyspec run --profile smmu-driver --adapter \S+ --seed 4 --replay '[^']+' --timeout 300\n/, module);
    // ... and that command gives the same reason and steps again.
    const path = /--replay '([^']+)'/.exec(r.out)![1]!;
    const again = await cli('run', '--adapter', module, '--profile', 'smmu-driver', '--seed', '4', '--replay', path, '--timeout', '300');
    assert.is(again.status, 2, `${module}: the replay is undecided too`);
    const steps = (out: string) => /\n {2}UNDECIDED: [^\n]*\n {2}steps[^\n]*\n(?: {4}[^\n]*\n)*/.exec(out)?.[0];
    assert.is(steps(again.out), steps(r.out), module);
  }
});

test('an adapter whose map never answers: the hang comes back against the module served by a process of its own, so it is a failure of the call in flight (exit 1), and its replay fails alike', async () => {
  const r = await cli('run', '--adapter', neverAnswers, '--profile', 'smmu-driver', '--runs', '20', '--timeout', '300', '--seed', '4');
  assert.is(r.status, 1, r.out + r.err);
  assert.match(r.out, /crash: (no answer within \d+ ms|exit status 13), in the call smmu-driver\.map/);
  const path = /--replay '([^']+)'/.exec(r.out)?.[1];
  assert.ok(path !== undefined, r.out);
  const again = await cli('run', '--adapter', neverAnswers, '--profile', 'smmu-driver', '--seed', '4', '--replay', path, '--timeout', '300');
  assert.is(again.status, 1, again.out + again.err);
  assert.match(again.out, /in the call smmu-driver\.map/);
});

test.run();
