// Which requirements a dirty-ring-collector run reaches: a sync lists a requirement only
// where the run set up what its check could catch (RunReach, ../kvm-dirty-ring/kit.ts), so
// a requirement passes only when the run reached its case. Each test replays two scenarios
// on the reference collector: one that never reaches the case ('not reached') and one that
// does ('pass'). KVM-RING-23 is decided by every run's final check.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceDirtyRingCollectorAdapter } from '../../adapters/reference.ts';
import { DEFAULT_MAX_COMMANDS } from '../../cli/run.ts';
import type { TraceStep } from '../../engine/commands.ts';
import { dirtyRingCollectorMutants } from '../../mutants/dirty-ring-collector-mutants.ts';
import { type CollectorOp, type CollectorScenario, replayDirtyRingCollectorScenario, runDirtyRingCollectorProfile } from './profile.ts';

const CONFIG: CollectorScenario['config'] = { vcpus: 1, withBitmap: false, pml: false };

async function reached(sc: CollectorScenario): Promise<Set<string>> {
  const trace: TraceStep[] = [];
  await replayDirtyRingCollectorScenario(referenceDirtyRingCollectorAdapter(), sc, 2000, trace);
  return new Set(trace.flatMap((s) => s.req));
}

const guest = (start: number, count: number): CollectorOp => ({ k: 'guest', vcpu: 0, slot: 0, start, count, stride: 1 });
const sync: CollectorOp = { k: 'sync', injects: [] };
const scenario = (ops: CollectorOp[], over: Partial<CollectorScenario> = {}): CollectorScenario => ({ config: CONFIG, ops, delays: [], ...over });

async function notThenPass(id: string, not: CollectorScenario, pass: CollectorScenario): Promise<void> {
  assert.not.ok((await reached(not)).has(id), `${id} reached by the run that never set up its case`);
  assert.ok((await reached(pass)).has(id), `${id} not reached by the run that set it up`);
}

test('[KVM-RING-13] syncs of empty rings (nothing to harvest): not reached; a guest write harvested and reset: pass', async () => {
  await notThenPass('KVM-RING-13', scenario([sync]), scenario([guest(0, 3), sync]));
});

test('[KVM-RING-14] resets of empty rings (every stop at dirty_index, no RESET ever due): not reached; entries marked RESET and consumed besides: pass', async () => {
  await notThenPass('KVM-RING-14', scenario([sync]), scenario([guest(0, 3), sync]));
});

test('[KVM-RING-20] guest writes only between syncs: not reached; a write during a sync whose reset consumes an entry: pass', async () => {
  await notThenPass('KVM-RING-20', scenario([guest(3, 1), sync]), scenario([guest(3, 1), { k: 'sync', injects: [{ at: 1, what: 'lastCopied', slot: 0, offset: 0 }] }]));
});

test('[KVM-RING-21] WITH_BITMAP on and no write without a vCPU: not reached; one written without a vCPU (only the bitmap holds it): pass', async () => {
  const bitmap = { config: { ...CONFIG, withBitmap: true } };
  await notThenPass('KVM-RING-21', scenario([guest(0, 2), sync], bitmap), scenario([{ k: 'noVcpu', slot: 1, offset: 9 }, sync], bitmap));
});

test('[KVM-RING-21] a collector that never collects the bitmap is charged KVM-RING-21 beside KVM-RING-23', async () => {
  const sc = scenario([{ k: 'noVcpu', slot: 1, offset: 9 }], { config: { ...CONFIG, withBitmap: true } });
  const m = dirtyRingCollectorMutants.find((x) => x.name === 'collector-ignores-bitmap')!;
  try {
    await replayDirtyRingCollectorScenario(m.adapter, sc, 2000, []);
    assert.unreachable('the bitmap was not needed');
  } catch (e) {
    assert.ok((e as { req: string[] }).req.includes('KVM-RING-21'), String(e));
    assert.ok((e as { req: string[] }).req.includes('KVM-RING-23'), String(e));
  }
});

test('[KVM-RING-22] entries consumed with every store visible at once: not reached; a push whose relaxed store is still invisible, consumed: pass', async () => {
  await notThenPass('KVM-RING-22', scenario([guest(0, 3), sync]), scenario([guest(0, 3), sync], { delays: [2, 2, 2, 2, 2, 2] }));
});

test('[KVM-RING-22] pushes 1 step late, synced 2 steps on (visible by then): not reached', async () => {
  const idle: CollectorOp = { k: 'noVcpu', slot: 0, offset: 0 }; // a step without WITH_BITMAP: nothing written
  assert.not.ok((await reached(scenario([guest(0, 3), idle, sync], { delays: [1, 1, 1, 1, 1, 1] }))).has('KVM-RING-22'));
});

test('[KVM-RING-23] the final check decides every run: a run of one empty sync passes it', async () => {
  assert.ok((await reached(scenario([sync]))).has('KVM-RING-23'));
});

test('[KVM-RING-21] one run at seed 3 as `dirtyspec run --runs 1 --seed 3` makes it (WITH_BITMAP on, no write without a vCPU): not reached', async () => {
  const r = await runDirtyRingCollectorProfile(referenceDirtyRingCollectorAdapter(), { runs: 1, seed: 3, timeoutMs: 2000, maxCommands: DEFAULT_MAX_COMMANDS });
  assert.is(r.verdict, 'conforms');
  assert.ok(r.unreached?.includes('KVM-RING-21'), `${r.unreached?.join(', ')}`);
});

test.run();
