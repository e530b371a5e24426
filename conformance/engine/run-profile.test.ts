import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMachine } from 'xstate';
import { LEAF_EVENTS, leafDescriptorMachine } from '../../spec/descriptor/leaf-machine.ts';
import { smmuTables } from '../../model/run-context.ts';
import { TransitionTable } from '../../model/transition-table.ts';
import { referenceAdapters } from '../adapters/registry.ts';
import { findMutant } from '../mutants/index.ts';
import { runProfile } from './run-profile.ts';

const quick = { runs: 150, timeoutMs: 2000, maxCommands: 30 };

test('[HTTU-2] [NOLOSS-1] the reference conforms on both profiles in a short run', async () => {
  for (const profile of ['smmu-driver', 'smmu-hw'] as const) {
    const r = await runProfile(referenceAdapters[profile], { ...quick, seed: 11 });
    assert.is(r.verdict, 'conforms', `${profile}: ${JSON.stringify(r.counterexample?.violation ?? r.undecided)}`);
    assert.ok(r.commands > r.runs);
    assert.ok(r.requirements.every((q) => q.verdict === 'pass'));
  }
});

test('--replay reproduces a failure exactly: same steps, same violation', async () => {
  const mutant = findMutant('clear-without-tlbi')!;
  const first = await runProfile(mutant.adapter, { ...quick, seed: 5 });
  assert.is(first.verdict, 'does-not-conform');
  const again = await runProfile(mutant.adapter, { ...quick, seed: first.replay!.seed, path: first.replay!.path });
  assert.is(again.verdict, 'does-not-conform');
  assert.equal(again.counterexample!.steps, first.counterexample!.steps);
  assert.equal(again.counterexample!.violation, first.counterexample!.violation);
  assert.ok(first.counterexample!.steps.length <= 12, `counterexample of ${first.counterexample!.steps.length} steps`);
});

test('a directed failure replays by its name', async () => {
  const r = await runProfile(referenceAdapters['smmu-hw'], { ...quick, seed: 0, path: 'directed:iotlbEntry/staleDirty --EVICT#0' });
  assert.is(r.verdict, 'conforms');
  assert.is(r.runs, 1);
  await assert.not.throws(() => undefined);
  let message = '';
  try {
    await runProfile(referenceAdapters['smmu-hw'], { ...quick, seed: 0, path: 'directed:nope' });
  } catch (e) {
    message = (e as Error).message;
  }
  assert.match(message, /no directed test nope/);
});

/** The leaf machine with HTTU-2 changed: a write through writable-clean with HD leaves it clean. */
function withoutHttu2() {
  // biome-ignore lint/suspicious/noExplicitAny: a machine config rebuilt by hand, field by field
  const config = leafDescriptorMachine.config as { states: Record<string, any> };
  const clean = config.states.valid.states.permission.states.writableClean;
  const changed = {
    ...config,
    states: {
      ...config.states,
      valid: {
        ...config.states.valid,
        states: {
          ...config.states.valid.states,
          permission: {
            ...config.states.valid.states.permission,
            states: {
              ...config.states.valid.states.permission.states,
              writableClean: { ...clean, on: { ...clean.on, DMA_WRITE: clean.on.DMA_WRITE.map((t: object, i: number) => (i === 1 ? { ...t, target: 'writableClean' } : t)) } },
            },
          },
        },
      },
    },
  };
  return createMachine(changed as never, leafDescriptorMachine.implementations as never);
}

test('[HTTU-2] the spec is load-bearing: changing one transition makes the reference fail', async () => {
  const tables = { ...smmuTables(), leaf: new TransitionTable(withoutHttu2() as unknown as typeof leafDescriptorMachine, LEAF_EVENTS) };
  const r = await runProfile(referenceAdapters['smmu-driver'], { ...quick, seed: 3, tables });
  assert.is(r.verdict, 'does-not-conform');
  assert.ok(r.counterexample!.violation.req.includes('HTTU-2'), JSON.stringify(r.counterexample!.violation));
  const back = await runProfile(referenceAdapters['smmu-driver'], { ...quick, seed: 3 });
  assert.is(back.verdict, 'conforms');
});

test('a requirement no step reached (FAULT-3 in smmu-driver) is listed as not reached, never as passed', async () => {
  // A driver under test never leaves a writable-clean leaf behind a CD with HD=0 (FAULT-3):
  // only the kit, as the driver of the smmu-hw profile, puts the hardware there.
  const r = await runProfile(referenceAdapters['smmu-driver'], { runs: 30, seed: 1, timeoutMs: 2000, maxCommands: 30 });
  assert.is(r.verdict, 'conforms');
  assert.ok(r.unreached?.includes('FAULT-3'), `unreached: ${r.unreached?.join(', ')}`);
  for (const id of r.unreached ?? [])
    assert.not.ok(
      r.requirements.some((q) => q.id === id),
      `${id} both reached and not`,
    );
});

test.run();
