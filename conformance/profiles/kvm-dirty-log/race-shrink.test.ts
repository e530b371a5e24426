// A migration scenario's racing write that shrinking left unraced (`omit` 1, engine/omittable.ts):
// the same write, made just before its call, so that a loss the race did not cause is shown
// by the plain write, at the call that missed it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceKvmDirtyLogAdapter } from '../../adapters/reference.ts';
import { kvmDirtyLogMutants } from './mutants.ts';
import type { TraceStep } from '../../engine/commands.ts';
import { Violation } from '../../../model/violation.ts';
import type { KvmDirtyLogConfig } from './adapter.ts';
import { kvmDirtyLogInputProblem } from './module.ts';
import { replayKvmDirtyLogScenario } from './profile.ts';

const CONFIG: KvmDirtyLogConfig = { hwDirty: false, eagerSplit: true, dirtyRingExclusive: false };
/** One slot of one page written once, then a migration whose second GET (call 1) has a write to that page, raced or not. */
const migration = (race: object) => ({
  kind: 'migration',
  config: CONFIG,
  mode: 'read-and-clear',
  initiallySet: false,
  slots: [1],
  before: [],
  writes: [{ at: 0, slot: 0, page: 0 }],
  races: [{ call: 1, at: 0, slot: 0, page: 0, ...race }],
});

async function trace(adapter = referenceKvmDirtyLogAdapter(), race: object = {}): Promise<TraceStep[]> {
  const steps: TraceStep[] = [];
  await replayKvmDirtyLogScenario(adapter, migration(race), 5000, steps);
  return steps;
}

test('a race left unraced is the same write made before its call: a plain vCPU write, then the GET; raced, it is inside the GET', async () => {
  const ops = (steps: TraceStep[]) => steps.map((s) => s.op);
  const raced = ops(await trace());
  const plain = ops(await trace(undefined, { omit: 1 }));
  const gets = (o: string[]) => o.flatMap((op, i) => (op.startsWith('KVM_GET_DIRTY_LOG') && !op.endsWith('bitmap') ? [i] : []));
  assert.ok(
    raced.some((op) => /racing, at the implementation's memory access 0/.test(op)),
    raced.join('\n'),
  );
  assert.not.ok(
    plain.some((op) => /racing/.test(op)),
    plain.join('\n'),
  );
  // The second GET is preceded by the write to page 0 (gpa 0x100000000) where the race is left out.
  const second = gets(plain)[1]!;
  assert.match(plain.slice(gets(plain)[0]!, second).join('\n'), /vCPU write at 0x100000000/);
});

test('[KVM-PT-8] the unraced write shows a fault that does not mark at the write itself, where the raced one waited for the last GET', async () => {
  const m = kvmDirtyLogMutants.find((x) => x.name === 'kvm-fault-no-mark')!;
  for (const [race, rule] of [
    [{}, 'KVM-LOG-5'],
    [{ omit: 1 }, 'KVM-PT-8'],
  ] as const) {
    try {
      await trace(m.adapter, race);
      assert.unreachable(`${JSON.stringify(race)}: no violation`);
    } catch (e) {
      assert.ok(e instanceof Violation && e.req.includes(rule), `${JSON.stringify(race)}: ${String(e)}`);
    }
  }
});

test("a recorded race's omit is 1 or absent; anything else is refused, naming the field", () => {
  assert.is(kvmDirtyLogInputProblem(migration({ omit: 1 })), undefined);
  assert.is(kvmDirtyLogInputProblem(migration({})), undefined);
  for (const omit of [0, 2, '1']) assert.match(kvmDirtyLogInputProblem(migration({ omit }))!, /input\/races\/0\/omit is missing or malformed/);
});

test.run();
