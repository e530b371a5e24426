// The mutants command's verdict: a crash mutant killed by its crash is a kill, not an
// undecided run; any other undecided run makes the exit status 2, as the help says.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ProfileResult } from '../engine/run-profile.ts';
import { mutants } from '../mutants/index.ts';
import { killTable, matrixText, mutantRow, mutantsCommand, mutantsJson, mutantsStatus, requirementMatrix, summaryLine } from './mutants.ts';

const crash = mutants.find((m) => m.fault === 'crash')!;
const plain = mutants.find((m) => m.fault === undefined && m.profile === 'iova-bitmap')!;

function result(verdict: ProfileResult['verdict'], message?: string): ProfileResult {
  return {
    name: 'iova-bitmap',
    adapter: 'x',
    verdict,
    runs: 1,
    commands: 2,
    seconds: 0.5,
    seed: 1,
    transitionCoverage: {},
    requirements: [],
    ...(message === undefined ? {} : { undecided: { message, steps: [] } }),
    ...(verdict === 'does-not-conform' ? { counterexample: { config: {}, steps: [], violation: { kind: 'spec' as const, req: ['IOVA-BITMAP-1'], expected: 'a', actual: 'b' } } } : {}),
  };
}

test('a crash mutant killed by its crash is counted as a kill, not as undecided: exit 0', () => {
  const rows = [mutantRow({ mutant: crash, result: result('undecided', 'iova-bitmap set threw: RangeError: Division by zero') })];
  assert.ok(rows[0]!.killed);
  assert.not.match(summaryLine(rows), /undecided/);
  assert.match(summaryLine(rows), /killed 1 of 1 mutants \(1 by the crash it causes\)/);
  assert.not.match(killTable(rows), /UNDECIDED/);
  assert.is(mutantsStatus(rows), 0);
});

test('any other undecided run exits 2, whether the others were killed or survived', () => {
  const undecided = mutantRow({ mutant: plain, result: result('undecided', 'set did not answer within 2000 ms') });
  const killed = mutantRow({ mutant: crash, result: result('undecided', 'iova-bitmap set threw: RangeError: Division by zero') });
  const survived = mutantRow({ mutant: plain, result: result('conforms') });
  assert.is(mutantsStatus([killed, undecided]), 2);
  assert.is(mutantsStatus([survived, undecided]), 2);
  assert.is(mutantsStatus([killed, survived]), 1);
  assert.match(summaryLine([killed, undecided]), /; 1 undecided \(exit status 2\)/);
  assert.match(killTable([killed, undecided]), new RegExp(`\\n${plain.name}: UNDECIDED: set did not answer`));
});

test("the requirement matrix: killed by comes from the kill's requirements, a crash kill counts for the targets, a survivor for nothing", () => {
  const killed = mutantRow({ mutant: plain, result: result('does-not-conform') });
  const crashed = mutantRow({ mutant: crash, result: result('undecided', 'iova-bitmap set threw: RangeError: Division by zero') });
  const zoo = [
    { ...plain, targets: ['IOVA-BITMAP-5'] },
    { ...crash, targets: ['IOVA-BITMAP-3'] },
  ];
  const m = requirementMatrix([killed, crashed], zoo, ['IOVA-BITMAP-1', 'IOVA-BITMAP-3', 'IOVA-BITMAP-5']);
  assert.equal(m, [
    { requirement: 'IOVA-BITMAP-1', mutants: [], killedBy: [plain.name] },
    { requirement: 'IOVA-BITMAP-3', mutants: [crash.name], killedBy: [crash.name] },
    { requirement: 'IOVA-BITMAP-5', mutants: [plain.name], killedBy: [] },
  ]);
  const text = matrixText(m);
  assert.match(text, /^requirement +mutants +killed by\n/);
  assert.match(text, /\nrequirements killed by a mutant: 2 of 3\nwithout a kill \(1\): IOVA-BITMAP-5\n$/);
  const survived = mutantRow({ mutant: plain, result: result('conforms') });
  assert.equal(requirementMatrix([survived], zoo, ['IOVA-BITMAP-1'])[0]!.killedBy, []);
  assert.equal(JSON.parse(mutantsJson([killed], m)).matrix, m);
});

test('dirtyspec mutants --matrix prints the matrix after the kill table, a line per requirement ID', async () => {
  let out = '';
  const io = { out: (t: string) => void (out += t), err: () => {}, errIsTTY: false };
  const status = await mutantsCommand(['--mutant', 'iova-bitmap-no-arg-checks', '--runs', '50', '--matrix'], io);
  assert.is(status, 0);
  assert.match(out, /\nrequirement +mutants +killed by\n/);
  assert.match(out, /\nIOVA-BITMAP-1 +iova-bitmap-no-arg-checks +iova-bitmap-no-arg-checks\n/);
  assert.match(out, /\nrequirements killed by a mutant: 1 of \d+\n/);
});

test.run();
