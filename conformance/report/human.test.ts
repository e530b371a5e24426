// The human report: header, coverage, a line per requirement, and on failure the
// violation, the numbered trace, the config and the replay command.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { exitStatus, overallVerdict, replayCommand, requirementText, shellQuote, shorten } from './common.ts';
import { conforming, failing, undecided } from './fixtures.ts';
import { humanProfile, humanReport } from './human.ts';

test('a conforming profile: header, coverage with missing keys, requirement lines in catalogue order', () => {
  const text = humanProfile(conforming);
  const lines = text.split('\n');
  assert.is(lines[0], 'profile smmu-hw (adapter reference): conforms  — 200 runs, 4321 commands, 3.25 s, seed 42');
  assert.ok(lines.includes('  coverage leafDescriptor 49/49 (100%)'));
  assert.ok(lines.includes('  coverage iotlbEntry 34/36 (94%)'));
  assert.match(text, /staleDirty --EVICT#0, staleUnmapped --EVICT#0/);
  assert.ok(lines.some((l) => /^ {2}pass HTTU-2 +With HD=1 a DMA write through a writable-clean leaf/.test(l)));
  const order = lines.filter((l) => l.startsWith('  pass')).map((l) => l.split(/\s+/)[2]);
  assert.equal(order, ['HTTU-2', 'IOTLB-9', 'IOTLB-10', 'NOLOSS-1']);
  for (const l of lines.filter((x) => x.startsWith('  pass'))) assert.ok(l.length < 110, l);
  assert.not.match(text, /replay/);
});

test('a failing profile: violation, numbered trace with requirements, config and replay command', () => {
  const text = humanProfile(failing);
  const lines = text.split('\n');
  assert.match(lines[0]!, /^profile smmu-driver \(adapter acme <driver> & "co"\): DOES NOT CONFORM {2}— 67 runs, 506 commands, 0.57 s, seed 7$/);
  assert.ok(lines.some((l) => /^ {2}FAIL CLEAR-1 /.test(l)));
  assert.ok(lines.some((l) => /^ {2}pass SPLIT-1 /.test(l)));
  assert.ok(lines.includes('  LOST DIRTY PAGE [CLEAR-1, NOLOSS-1]'));
  assert.ok(lines.includes('    expected: dirty [0x0] <page & "quoted">'));
  assert.ok(lines.includes('    got:      dirty []'));
  assert.ok(lines.includes('  counterexample (4 steps):'));
  assert.ok(lines.includes('    1. map(0x0, 512 pages, rw, pa block-aligned)  -> implementation: 0  | spec: 0  [MAP-2]'));
  assert.ok(lines.includes('    2. splitBlock(0x0)  -> implementation: 0  | spec: 0  [SPLIT-1, SPLIT-2]'));
  assert.ok(lines.includes('    4. readAndClearDirty(0x0, 2048 pages)  -> implementation: 0, dirty []  | spec: 0, dirty [0x0]  [CLEAR-1, NOLOSS-1]'));
  assert.ok(lines.includes('  config: httu=2 bbml=2 iotlbCapacity=1 dirtyCapable=true pageGranular=false startTracking=true'));
  assert.ok(lines.includes("  replay: npx dirtyspec run --profile smmu-driver --seed 7 --replay '12:0:0:3:4'"));
});

test("a failure in a later block: the replay carries that block's seed, and the report says why it is not the run's", () => {
  const text = humanProfile({ ...failing, replay: { seed: 920564995, path: '0:5:0' } });
  assert.ok(text.includes("  replay: npx dirtyspec run --profile smmu-driver --seed 920564995 --replay '0:5:0'"), text);
  assert.ok(text.includes("  (--seed 920564995 is the seed of the block of runs it failed in, which this campaign's --seed 7 derives: the replay runs that block's sequence alone)"), text);
  assert.not.match(humanProfile(failing), /is the seed of the block/);
});

test('violation kinds are named: FALSE DIRTY PAGE, SPEC VIOLATION', () => {
  for (const [kind, label] of [
    ['precision', 'FALSE DIRTY PAGE'],
    ['spec', 'SPEC VIOLATION'],
  ] as const) {
    const r = { ...failing, counterexample: { ...failing.counterexample!, violation: { ...failing.counterexample!.violation, kind, req: ['PRECISION-1'] } } };
    assert.ok(humanProfile(r).split('\n').includes(`  ${label} [PRECISION-1]`));
  }
});

test('the replay command repeats --adapter (quoted for the shell) and a non-default --max-commands', () => {
  const cmd = replayCommand(failing, { adapterModule: "./my adapters/it's.mjs", maxCommands: 50 });
  assert.is(cmd, `npx dirtyspec run --profile smmu-driver --adapter './my adapters/it'\\''s.mjs' --seed 7 --replay '12:0:0:3:4' --max-commands 50`);
  assert.ok(humanProfile(failing, { adapterModule: 'adapter.mjs' }).includes("--profile smmu-driver --adapter adapter.mjs --seed 7 --replay '12:0:0:3:4'"));
  assert.is(replayCommand(conforming), undefined);
  assert.is(shellQuote('a/b.mjs'), 'a/b.mjs');
  // A directed test's path holds spaces: quoted.
  assert.is(replayCommand({ ...failing, replay: { seed: 0, path: 'directed:iotlbEntry/staleDirty --EVICT#0' } }), "npx dirtyspec run --profile smmu-driver --seed 0 --replay 'directed:iotlbEntry/staleDirty --EVICT#0'");
  // A failure without a path replays the whole search: seed and runs.
  assert.is(replayCommand({ ...failing, replay: { seed: 7, path: '' } }, { runs: 200 }), 'npx dirtyspec run --profile smmu-driver --seed 7 --runs 200');
});

test('an undecided profile: the reason and the steps so far, requirements not decided on one line', () => {
  const text = humanProfile(undecided);
  const lines = text.split('\n');
  assert.match(lines[0]!, /: UNDECIDED {2}— 3 runs/);
  assert.ok(lines.includes('  not decided (2 requirements; the run was undecided): MAP-2, NOLOSS-1'));
  assert.ok(lines.includes('  UNDECIDED: slow (smmu-driver) unmap did not answer within 2000 ms'));
  assert.ok(lines.includes('  steps so far (1):'));
  assert.ok(lines.includes('    1. map(0x200000, 1 pages, rw, pa page-aligned)  -> implementation: 0  | spec: 0  [MAP-2]'));
});

test('an undecided profile prints the reason first, before coverage and requirements, and no UNDECIDED line per requirement', () => {
  const many = { ...undecided, requirements: ['CLEAR-1', 'HTTU-2', 'IOTLB-9', 'MAP-2', 'NOLOSS-1', 'SPLIT-1'].map((id) => ({ id, verdict: 'undecided' as const })) };
  const lines = humanProfile(many).split('\n');
  assert.is(lines[1], '  UNDECIDED: slow (smmu-driver) unmap did not answer within 2000 ms');
  assert.ok(lines.findIndex((l) => l.startsWith('  coverage')) > lines.findIndex((l) => l.startsWith('  steps so far')));
  assert.is(lines.filter((l) => /^ {2}UNDECIDED [A-Z]/.test(l)).length, 0);
  assert.is(lines.filter((l) => l.startsWith('  not decided (6 requirements')).length, 1);
});

test('an undecided profile with a replay path prints the shrunk steps and the replay command', () => {
  const text = humanProfile({ ...undecided, replay: { seed: 9, path: '3:1@A' } }, { runs: 100 });
  const lines = text.split('\n');
  assert.ok(lines.includes('  steps (1, shrunk: the replay command runs them again):'), text);
  assert.ok(lines.includes("  replay: npx dirtyspec run --profile smmu-driver --seed 9 --replay '3:1@A'"), text);
  assert.ok(lines.indexOf("  replay: npx dirtyspec run --profile smmu-driver --seed 9 --replay '3:1@A'") < lines.findIndex((l) => l.startsWith('  coverage')));
});

test('the header counts random and directed runs apart, and says "1 run"', () => {
  assert.match(humanProfile({ ...conforming, runs: 1083, directedRuns: 83 }).split('\n')[0]!, /— 1000 random \+ 83 directed runs, 4321 commands,/);
  assert.match(humanProfile({ ...undecided, runs: 1, commands: 5 }).split('\n')[0]!, /— 1 run, 5 commands,/);
});

test('the text report explains the coverage notation once, when it names a missing transition', () => {
  const report = humanReport([conforming, { ...conforming, name: 'smmu-driver' }]);
  assert.is(report.split('\n').filter((l) => l.includes('STATE --EVENT#N')).length, 1);
  assert.match(report, /STATE --EVENT#N: the source state, the event, and N, the index \(from 0\) of the candidate transition/);
  const full = { ...conforming, transitionCoverage: { leafDescriptor: { covered: 49, total: 49, missing: [] } } };
  assert.not.match(humanReport([full]), /EVENT#N/);
});

test('requirement texts: cut, with a pointer to --verbose and dirtyspec list; whole with --verbose', () => {
  const cut = humanReport([conforming]);
  assert.match(cut, /…/);
  assert.match(cut, /\nrequirement texts are cut to one line: --verbose prints them whole, and `dirtyspec list` lists every requirement with its text and source\n/);
  const whole = humanReport([conforming], { verbose: true });
  assert.ok(whole.includes(requirementText('HTTU-2').replace(/\s+/g, ' ').trim()), whole);
  assert.not.match(whole, /are cut to one line/);
});

test('one handshake failure is printed once: later profiles with the same reason refer to the first; no empty coverage line', () => {
  const message = 'the implementation did not complete the hello handshake\n/nonexistent: the process exited (exit status 127)';
  const dead = (name: 'smmu-hw' | 'smmu-driver' | 'iova-bitmap') => ({
    name,
    adapter: '/nonexistent',
    verdict: 'undecided' as const,
    runs: 0,
    commands: 0,
    seconds: 0,
    seed: 0,
    transitionCoverage: {},
    requirements: [],
    undecided: { message, steps: [] },
  });
  const report = humanReport([dead('smmu-hw'), dead('smmu-driver'), dead('iova-bitmap')]);
  assert.is(report.split('exit status 127').length - 1, 1, report);
  assert.match(report, /profile smmu-driver \(adapter \/nonexistent\): UNDECIDED .*\n {2}UNDECIDED: the same reason as profile smmu-hw above\n/);
  assert.not.match(report, /transition coverage over all profiles: \n/);
  assert.not.match(report, /steps so far \(0\)/);
});

test('a failure without a recorded counterexample or reason still says so', () => {
  const { counterexample: _c, replay: _r, ...bare } = failing;
  assert.match(humanProfile(bare), /DOES NOT CONFORM, but the engine recorded no counterexample/);
  const { undecided: _u, ...noReason } = undecided;
  assert.match(humanProfile(noReason), /UNDECIDED: the engine gave no reason/);
});

test('the overall verdict and exit status: undecided beats does-not-conform beats conforms', () => {
  assert.is(overallVerdict([conforming]), 'conforms');
  assert.is(overallVerdict([conforming, failing]), 'does-not-conform');
  assert.is(overallVerdict([failing, undecided]), 'undecided');
  assert.is(exitStatus('conforms'), 0);
  assert.is(exitStatus('does-not-conform'), 1);
  assert.is(exitStatus('undecided'), 2);
  const report = humanReport([conforming, failing]);
  assert.ok(report.endsWith('verdict: DOES NOT CONFORM (smmu-hw conforms, smmu-driver DOES NOT CONFORM)\n'));
  assert.ok(report.includes('\n\nprofile smmu-driver'));
});

test('requirement texts are shortened at a word boundary to about 70 characters', () => {
  assert.is(shorten('short'), 'short');
  const s = shorten('word '.repeat(40));
  assert.ok(s.length <= 70 && s.endsWith('…'), s);
  assert.not.match(s, /\s…$/);
});

test.run();
