// Which requirements a kvm-dirty-ring run reaches: a requirement passes only if a step of
// the run listed it (engine/scenario-profile.ts counts the IDs of the trace steps), and a
// step lists it only where its check compared an observation that could have failed it;
// a rule with a guard, only once the run compared both of its cases (RunReach, kit.ts).
// Each test replays two scenarios on the reference: one that never reaches the case (the
// requirement stays 'not reached') and one that does (it passes).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KVM_CAP_DIRTY_LOG_RING, KVM_CAP_DIRTY_LOG_RING_ACQ_REL, KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP } from '../../../spec/kvm/dirty-ring/uapi.ts';
import { referenceKvmDirtyRingAdapter } from '../../adapters/reference.ts';
import { DEFAULT_MAX_COMMANDS } from '../../cli/run.ts';
import type { TraceStep } from '../../engine/commands.ts';
import { softLimitSequence } from './aimed.ts';
import { RunReach } from './kit.ts';
import { KVM_DIRTY_RING_REQUIREMENTS, type AimedStep, type RingOp, type RingScenarioConfig, replayKvmDirtyRingScenario, runKvmDirtyRingProfile, sizeClassWithout } from './profile.ts';

const X86: RingScenarioConfig = { arch: 'x86', ringBytes: 4096, vcpus: 1, withBitmap: false, late: false, enables: [] };
const ARM: RingScenarioConfig = { ...X86, arch: 'arm64' };

/** The requirements a replay of the scenario reaches: those its trace steps list. */
async function reached(config: RingScenarioConfig, ops: readonly RingOp[], delays: readonly number[] = [], aimed: readonly AimedStep[] = []): Promise<Set<string>> {
  const trace: TraceStep[] = [];
  await replayKvmDirtyRingScenario(referenceKvmDirtyRingAdapter(), { config, ops, delays, aimed }, 5000, trace);
  return new Set(trace.flatMap((s) => s.req));
}

const run = (start: number, count: number, pages?: number[]): RingOp => ({ k: 'run', vcpu: 0, slot: 0, start, count, stride: 1, ...(pages === undefined ? {} : { pages }) });
const harvest = (max = 1024): RingOp => ({ k: 'harvest', vcpu: 0, max });
const reset: RingOp = { k: 'reset' };

async function notThenPass(id: string, not: Promise<Set<string>>, pass: Promise<Set<string>>): Promise<void> {
  assert.not.ok((await not).has(id), `${id} reached by the run that never compared its case`);
  assert.ok((await pass).has(id), `${id} not reached by the run that compared it`);
}

test('RunReach lists a guarded requirement from the step that completes both of its sides on, in either order', () => {
  const r = new RunReach();
  assert.equal(r.list(['A'], ['G']), ['A']);
  assert.is(r.side('G', true), false);
  assert.is(r.side('G', true), false);
  assert.equal(r.list([], ['G']), []);
  assert.is(r.side('G', false), true);
  assert.equal(r.list(['A'], ['G']), ['A', 'G']);
  const other = new RunReach();
  other.side('G', false);
  assert.is(other.side('G', true), true);
});

test('sizeClassWithout: what the size checks after the one skipped say (size 0 is below a page too)', () => {
  assert.is(sizeClassWithout('notPowerOfTwo', 0), 'tooSmall');
  assert.is(sizeClassWithout('notPowerOfTwo', 4096 + 16), 'ok');
  assert.is(sizeClassWithout('tooSmall', 2048), 'ok');
  assert.is(sizeClassWithout('tooLarge', 1 << 21), 'ok');
});

test('[KVM-RING-2] the KVM_CHECK_EXTENSION answers every run compares before its first step reach nothing; an unsupported ring capability refused before the ring, beside a supported one, does', async () => {
  await notThenPass('KVM-RING-2', reached(ARM, [reset]), reached({ ...ARM, enables: [{ cap: KVM_CAP_DIRTY_LOG_RING, size: 'ok' }] }, [reset]));
});

test('[KVM-RING-3] a size not a power of two refused with the ring already on is -EINVAL either way (KVM-RING-6): not reached; refused before the ring, beside a good size: pass', async () => {
  const notPow2 = { cap: KVM_CAP_DIRTY_LOG_RING_ACQ_REL, size: 'notPow2' } as const;
  await notThenPass('KVM-RING-3', reached(X86, [{ k: 'enable', ...notPow2 }]), reached({ ...X86, enables: [notPow2] }, [reset]));
});

test('[KVM-RING-3] size 0 before the ring is below a page too (KVM-RING-4 refuses it alike): not reached', async () => {
  assert.not.ok((await reached({ ...X86, enables: [{ cap: KVM_CAP_DIRTY_LOG_RING_ACQ_REL, size: 'zero' }] }, [reset])).has('KVM-RING-3'));
});

test('[KVM-RING-4] a ring smaller than a page refused with the ring already on: not reached; refused before the ring, beside a good size: pass', async () => {
  const small = { cap: KVM_CAP_DIRTY_LOG_RING_ACQ_REL, size: 'small' } as const;
  await notThenPass('KVM-RING-4', reached(X86, [{ k: 'enable', ...small }]), reached({ ...X86, enables: [small] }, [reset]));
});

test('[KVM-RING-8] KVM_CREATE_VCPU and the memslots compare only an index and an errno (anything else is undecided): their steps list no rule', async () => {
  const trace: TraceStep[] = [];
  await replayKvmDirtyRingScenario(referenceKvmDirtyRingAdapter(), { config: X86, ops: [reset], delays: [] }, 5000, trace);
  for (const s of trace.filter((t) => /KVM_CREATE_VCPU|KVM_SET_USER_MEMORY_REGION/.test(t.op))) assert.equal(s.req, [], s.op);
  assert.ok(
    trace.some((t) => /KVM_ENABLE_CAP/.test(t.op) && t.req.includes('KVM-RING-8')),
    'the accepted enable checks KVM-RING-8',
  );
});

test('[KVM-RING-9] memslots made with the ring on and no bitmap: not reached; KVM_GET_DIRTY_LOG answered -ENXIO: pass', async () => {
  await notThenPass('KVM-RING-9', reached(X86, [reset]), reached(X86, [{ k: 'getLog', slot: 0 }]));
});

test('[KVM-RING-10] WITH_BITMAP refused (x86) twice and never accepted: not reached; refused (flags) then accepted (arm64): pass', async () => {
  await notThenPass('KVM-RING-10', reached({ ...X86, withBitmap: true }, [reset]), reached({ ...ARM, withBitmap: true, enables: [{ cap: KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, size: 'zero' }] }, [reset]));
});

test('[KVM-RING-11] pushes harvested but no write to a writable page: not reached; a page written again (no entry owed) then harvested to the end: pass', async () => {
  await notThenPass('KVM-RING-11', reached(X86, [run(0, 2), harvest()]), reached(X86, [run(0, 2), run(0, 2), harvest()]));
});

test('[KVM-RING-12] a KVM_RUN far below the soft limit: not reached; a run to the limit (the exit) and one below: pass', async () => {
  await notThenPass('KVM-RING-12', reached(X86, [run(0, 3)]), reached(X86, [run(0, 3)], [], softLimitSequence(0, 0, 10)));
});

test('[KVM-RING-13] the collector rule is the kit’s own here: not a requirement of the profile, and no step lists it', async () => {
  assert.not.ok(KVM_DIRTY_RING_REQUIREMENTS.includes('KVM-RING-13'));
  assert.not.ok((await reached(X86, [run(0, 4), harvest(), reset])).has('KVM-RING-13'));
});

test('[KVM-RING-15] a reset of empty rings: not reached; a reset that consumes a harvested entry: pass', async () => {
  await notThenPass('KVM-RING-15', reached(X86, [reset]), reached(X86, [run(0, 2), harvest(), reset]));
});

test('[KVM-RING-16] a reset that re-protects every writable page: not reached; one that leaves a page no entry names writable: pass', async () => {
  await notThenPass('KVM-RING-16', reached(X86, [run(0, 2), harvest(), reset]), reached(X86, [run(0, 2), harvest(1), reset]));
});

test('[KVM-RING-17] consumed entries that all merge into one batch: not reached; a merge and a flush (page 200 is 200 pages on): pass', async () => {
  await notThenPass('KVM-RING-17', reached(X86, [run(0, 2), harvest(), reset]), reached(X86, [run(0, 3, [0, 1, 200]), harvest(), reset]));
});

test('[KVM-RING-18] a hostile rewrite that leaves every batch valid (another page): not reached; one invalid batch (no such slot) beside a valid one: pass', async () => {
  const rewrite = (kind: 'otherPage' | 'noSlot'): RingOp => ({ k: 'hostile', vcpu: 0, pick: 0, kind });
  await notThenPass('KVM-RING-18', reached(X86, [run(0, 2, [0, 100]), harvest(), rewrite('otherPage'), reset]), reached(X86, [run(0, 2, [0, 100]), harvest(), rewrite('noSlot'), reset]));
});

test('[KVM-RING-19] resets that consume every entry pushed: not reached; a reset that stops at an entry pushed and not harvested: pass', async () => {
  await notThenPass('KVM-RING-19', reached(X86, [run(0, 2), harvest(), reset]), reached(X86, [run(0, 2), harvest(1), reset]));
});

test('[KVM-RING-21] writes without a vCPU never collected: not reached; KVM_GET_DIRTY_LOG of their slot: pass', async () => {
  const arm = { ...ARM, withBitmap: true };
  const write: RingOp = { k: 'noVcpu', slot: 0, offset: 5 };
  await notThenPass('KVM-RING-21', reached(arm, [write]), reached(arm, [write, { k: 'getLog', slot: 0 }]));
});

test('[KVM-RING-22] entries harvested with every store visible at once: not reached; while a relaxed store of KVM is still invisible: pass', async () => {
  await notThenPass('KVM-RING-22', reached(X86, [run(0, 2), harvest()]), reached(X86, [run(0, 2), harvest()], [3, 3, 3, 3]));
});

test('[KVM-RING-22] entries harvested once the delayed stores have become visible (1 step late, harvested 2 steps on): not reached', async () => {
  assert.not.ok((await reached(X86, [run(0, 2), reset, harvest()], [1, 1, 1, 1])).has('KVM-RING-22'));
});

test('[KVM-RING-4] [KVM-RING-12] one run at seed 3 as `dirtyspec run --runs 1 --seed 3` makes it (a 2 KiB enable with the ring on, no soft limit): both not reached', async () => {
  const r = await runKvmDirtyRingProfile(referenceKvmDirtyRingAdapter(), { runs: 1, seed: 3, timeoutMs: 5000, maxCommands: DEFAULT_MAX_COMMANDS });
  assert.is(r.verdict, 'conforms');
  for (const id of ['KVM-RING-4', 'KVM-RING-12']) assert.ok(r.unreached?.includes(id), `${id}: ${r.unreached?.join(', ')}`);
});

test.run();
