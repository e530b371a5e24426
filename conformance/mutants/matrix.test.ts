// Every requirement has a mutant: the whole zoo runs as `dirtyspec mutants` runs it (its
// default run count, a seed per mutant), every mutant must be killed within the step
// budget, and every requirement ID must be named by some mutant's kill, or be on the
// committed list of IDs still without one (without-mutant.ts), which only shrinks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_MUTANT_RUNS, REQUIREMENT_IDS, type MutantRow, mutantRow, mutantSeed, requirementMatrix, targetsOf } from '../cli/mutants.ts';
import { DEFAULT_MAX_COMMANDS, DEFAULT_TIMEOUT_MS, runProfileSafely } from '../cli/run.ts';
import { mutants } from './index.ts';
import { WITHOUT_MUTANT, WITHOUT_MUTANT_MAX } from './without-mutant.ts';

/** The longest shrunk counterexample a mutant's kill may have. */
const MAX_STEPS = 12;

const rows: MutantRow[] = [];
for (const mutant of mutants) {
  const result = await runProfileSafely(mutant.adapter, { runs: DEFAULT_MUTANT_RUNS, seed: mutantSeed(mutant.name), timeoutMs: DEFAULT_TIMEOUT_MS, maxCommands: DEFAULT_MAX_COMMANDS }, { err: () => {} });
  rows.push(mutantRow({ mutant, result }));
}
const matrix = requirementMatrix(rows, mutants);

test('every zoo mutant is killed at the default run count, with a counterexample of at most 12 steps', () => {
  for (const r of rows) {
    assert.ok(r.killed, `${r.name} survived (${r.verdict}${r.undecided === undefined ? '' : `: ${r.undecided}`})`);
    assert.ok((r.counterexampleLength ?? 0) <= MAX_STEPS, `${r.name}: ${r.counterexampleLength} steps`);
  }
});

test('every requirement ID is killed by a mutant or on the committed list of IDs still without one', () => {
  const without = matrix.filter((m) => m.killedBy.length === 0).map((m) => m.requirement);
  const unlisted = without.filter((id) => !WITHOUT_MUTANT.includes(id));
  assert.equal(unlisted, [], `no mutant's kill names ${unlisted.join(' ')}`);
});

test('the list of IDs without a mutant only shrinks: each is a real ID, none is killed, and it is no longer than its bound', () => {
  for (const id of WITHOUT_MUTANT) assert.ok(REQUIREMENT_IDS.includes(id), `${id} is not a requirement ID`);
  assert.equal([...new Set(WITHOUT_MUTANT)], [...WITHOUT_MUTANT], 'no ID twice');
  const killed = matrix.filter((m) => m.killedBy.length > 0 && WITHOUT_MUTANT.includes(m.requirement)).map((m) => `${m.requirement} (killed by ${m.killedBy.join(', ')})`);
  assert.equal(killed, [], `take these off the list in without-mutant.ts: ${killed.join('; ')}`);
  assert.ok(WITHOUT_MUTANT.length <= WITHOUT_MUTANT_MAX, `${WITHOUT_MUTANT.length} IDs listed, at most ${WITHOUT_MUTANT_MAX}`);
});

test("a mutant's declared targets are requirement IDs", () => {
  for (const m of mutants) for (const id of targetsOf(m)) assert.ok(REQUIREMENT_IDS.includes(id), `${m.name} targets ${id}, not a requirement ID`);
});

test.run();
