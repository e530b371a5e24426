// The JSON report parses, and has the documented shape.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { conforming, failing, undecided } from './fixtures.ts';
import { jsonReport } from './json.ts';

const VERDICTS = ['conforms', 'does-not-conform', 'undecided'];

test('the JSON report: verdict, and per profile name, verdict, runs, commands, coverage, requirements', () => {
  const doc = JSON.parse(jsonReport([conforming, failing, undecided]));
  assert.is(doc.verdict, 'undecided');
  assert.is(doc.profiles.length, 3);
  for (const p of doc.profiles) {
    assert.type(p.name, 'string');
    assert.ok(VERDICTS.includes(p.verdict));
    assert.type(p.runs, 'number');
    assert.type(p.commands, 'number');
    for (const c of Object.values(p.transitionCoverage) as { covered: number; total: number; missing: string[] }[]) {
      assert.type(c.covered, 'number');
      assert.type(c.total, 'number');
      assert.ok(Array.isArray(c.missing));
    }
    for (const q of p.requirements) {
      assert.type(q.id, 'string');
      assert.ok(['pass', 'fail', 'undecided'].includes(q.verdict));
    }
  }
  assert.equal(doc.profiles[0].transitionCoverage.iotlbEntry, { covered: 34, total: 36, missing: ['staleDirty --EVICT#0', 'staleUnmapped --EVICT#0'] });
  assert.equal(
    doc.profiles[0].requirements.map((q: { id: string }) => q.id),
    ['HTTU-2', 'IOTLB-9', 'IOTLB-10', 'NOLOSS-1'],
  );
  assert.not.ok('counterexample' in doc.profiles[0]);
  assert.not.ok('replay' in doc.profiles[0]);
});

test('a failing profile carries the counterexample and replay {seed, path, command}', () => {
  const doc = JSON.parse(jsonReport([failing], { adapterModule: 'a.mjs' }));
  assert.is(doc.verdict, 'does-not-conform');
  const p = doc.profiles[0];
  assert.equal(p.replay, { seed: 7, path: '12:0:0:3:4', command: "npx dirtyspec run --profile smmu-driver --adapter a.mjs --seed 7 --replay '12:0:0:3:4'" });
  assert.is(p.counterexample.steps.length, 4);
  assert.is(p.counterexample.violation.kind, 'loss');
  assert.equal(p.counterexample.config.iotlbCapacity, 1);
});

test('directed runs are counted apart (directedRuns, additive: runs is still every run); an undecided run with a path carries its replay', () => {
  const doc = JSON.parse(
    jsonReport([
      { ...conforming, runs: 1083, directedRuns: 83 },
      { ...undecided, replay: { seed: 9, path: '3:1@A' } },
    ]),
  );
  assert.is(doc.profiles[0].runs, 1083);
  assert.is(doc.profiles[0].directedRuns, 83);
  assert.is(doc.profiles[1].directedRuns, undefined);
  assert.equal(doc.profiles[1].replay, { seed: 9, path: '3:1@A', command: "npx dirtyspec run --profile smmu-driver --seed 9 --replay '3:1@A'" });
});

test('an undecided profile carries its reason; all conforming gives "conforms"', () => {
  const doc = JSON.parse(jsonReport([undecided]));
  assert.is(doc.profiles[0].undecided.message, 'slow (smmu-driver) unmap did not answer within 2000 ms');
  assert.is(JSON.parse(jsonReport([conforming])).verdict, 'conforms');
});

test.run();
