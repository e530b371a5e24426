// Profile kvm-dirty-log: which requirements a replayed migration scenario reaches. A step
// lists a requirement only where its check compared an observation that could have failed it
// (the runner counts the IDs its trace steps list: engine/scenario-profile.ts): a report's
// NOLOSS-1 where a page of its slot was owed, KVM-LOG-8 where the bitmap has bits past the
// slot's end, the migration's final comparison its rules where a page changed after its first
// send, NOLOSS-2 where such a page raced a call over it or a clear had to keep it, and a
// report where an owed page was left out by an earlier clearing call a write to it raced; a GET's
// KVM-LOG-5 / -6 where a bit of the slot was set, a CLEAR's KVM-CLEAR-7 where it had a bit to clear
// or an owed page to keep, KVM-CLEAR-9 where it was accepted without manual protect, KVM-PT-9 and
// -13 where a call protected a page whose translation was cached, KVM-PT-7 and -10 not on a GET or
// CLEAR but where a write walks a clean leaf or logging starts over a huge one. Each pair: a
// scenario that does not reach the case leaves the ID not reached, one that does reaches it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceKvmDirtyLogAdapter } from '../../adapters/reference.ts';
import type { TraceStep } from '../../engine/commands.ts';
import { Violation } from '../../../model/violation.ts';
import { kvmDirtyLogMutants } from './mutants.ts';
import { replayKvmDirtyLogScenario } from './profile.ts';

type Mode = 'read-and-clear' | 'manual-protect';
interface Migration {
  mode?: Mode;
  slots?: number[];
  writes?: { at: number; slot: number; page: number }[];
  races?: { call: number; at: number; slot: number; page: number }[];
}

// One slot of 64 pages. The client's events (KvmMigrationClient.onEvent) in order: with manual
// protect, the bulk stage's clear (0, 1) and 64 sends (2..129), then round 1's GET (130, 131),
// its clears and sends; with read-and-clear, 64 sends (0..127), then round 1's GET (128, 129).
// Its calls (races' `call`): with manual protect, the bulk clear is call 0 and round 1's GET call 1.
const BULK_DONE: Record<Mode, number> = { 'manual-protect': 130, 'read-and-clear': 128 };

async function trace(m: Migration): Promise<TraceStep[]> {
  const sc = {
    kind: 'migration',
    config: { hwDirty: true, eagerSplit: false, dirtyRingExclusive: false },
    mode: m.mode ?? 'manual-protect',
    initiallySet: false,
    slots: m.slots ?? [64],
    before: [],
    writes: m.writes ?? [],
    races: m.races ?? [],
  };
  const steps: TraceStep[] = [];
  await replayKvmDirtyLogScenario(referenceKvmDirtyLogAdapter(), sc, 5000, steps);
  return steps;
}

const reached = async (m: Migration) => new Set((await trace(m)).flatMap((s) => s.req));
/** What the migration's final comparison lists. */
async function compared(m: Migration): Promise<string[]> {
  const step = (await trace(m)).find((s) => s.op.includes('destination compared'));
  assert.ok(step !== undefined, 'no comparison step');
  return [...step.req];
}
/** A write to page `page` of slot 0 at the client's event `at`. */
const write = (at: number, page = 5) => ({ at, slot: 0, page });

test('[NOLOSS-1] reports over a slot where nothing is owed (seed 3: "the 0 owed pages") cannot lose a page: not reached; a page written after the bulk stage: pass', async () => {
  assert.not.ok((await reached({})).has('NOLOSS-1'));
  const steps = (await trace({ writes: [write(BULK_DONE['manual-protect'])] })).filter((s) => s.op.endsWith(': bitmap') && s.req.includes('NOLOSS-1'));
  assert.ok(steps.length > 0, 'no report lists NOLOSS-1');
  assert.match(steps[0]!.expected, /owed page: 5$/);
});

test('[KVM-LOG-8] a slot of 64 pages has no bit past its end in the bitmap: not reached; 65 pages: pass', async () => {
  assert.not.ok((await reached({ slots: [64] })).has('KVM-LOG-8'));
  assert.ok((await reached({ slots: [65] })).has('KVM-LOG-8'));
});

test('[KVM-LOG-6] [KVM-CLEAR-7] manual protect: no page written after its first send (seed 3), the comparison cannot fail: it lists nothing; one written after: it lists both', async () => {
  assert.equal(await compared({}), []);
  assert.equal(await compared({ writes: [write(BULK_DONE['manual-protect'])] }), ['KVM-LOG-6', 'KVM-CLEAR-7']);
});

test('[KVM-LOG-5] [NOLOSS-1] read-and-clear: no page written after its first send, the comparison lists nothing; one written after: both', async () => {
  const mode = 'read-and-clear';
  assert.equal(await compared({ mode }), []);
  assert.equal(await compared({ mode, writes: [write(BULK_DONE[mode])] }), ['KVM-LOG-5', 'NOLOSS-1']);
});

test('[NOLOSS-2] manual protect: a page written after its send between calls, reported by the next GET and cleared whole, is neither raced nor kept: not reached', async () => {
  const m = { writes: [write(BULK_DONE['manual-protect'])] };
  assert.ok((await compared(m)).includes('KVM-LOG-6'), 'the page is carried by the log');
  assert.not.ok((await reached(m)).has('NOLOSS-2'));
});

test('[NOLOSS-2] manual protect: a write racing the round-1 GET over a page already sent: pass', async () => {
  const r = await compared({ races: [{ call: 1, at: 0, slot: 0, page: 5 }] });
  assert.ok(r.includes('NOLOSS-2'), r.join(', '));
});

test('[NOLOSS-2] manual protect: a write racing a call over another slot, to a page already sent, is not that call to report or keep: not reached', async () => {
  // Two slots: calls 0 and 1 clear slot 0's chunk and slot 1's; the race in call 1 writes slot 0's page 5, sent by then.
  const steps = await trace({ slots: [64, 64], races: [{ call: 1, at: 0, slot: 0, page: 5 }] });
  assert.ok(
    steps.some((s) => s.op.includes('(racing')),
    'the race was made',
  );
  assert.not.ok(new Set(steps.flatMap((s) => s.req)).has('NOLOSS-2'));
});

test("[NOLOSS-2] manual protect: a page written after round 1's GET, in a chunk that round clears without it, must be kept by the clear: pass", async () => {
  const at = BULK_DONE['manual-protect'];
  // Page 5 before the GET (reported, so its chunk is cleared and sent), page 6 right after it (not reported: kept).
  const r = await compared({ writes: [write(at, 5), write(at + 1, 6)] });
  assert.ok(r.includes('NOLOSS-2'), r.join(', '));
});

test('[NOLOSS-2] read-and-clear: a write racing the GET before it takes the word is in that report: not reached; one after the take, left out, is owed by the next report, which lists it: pass', async () => {
  // 128 pages (two words), pages 5 and 70 written after the bulk stage (events 0..255 are its sends);
  // the reference's GET reads and clears word 0 at its memory access 1: a race at access 0 comes before, at 2 after.
  const m = (at: number): Migration => ({ mode: 'read-and-clear', slots: [128], writes: [write(256, 5), write(256, 70)], races: [{ call: 0, at, slot: 0, page: 6 }] });
  assert.not.ok((await reached(m(0))).has('NOLOSS-2'));
  const next = (await trace(m(2))).find((s) => s.op.endsWith(': bitmap') && s.req.includes('NOLOSS-2'));
  assert.ok(next !== undefined, 'no report lists NOLOSS-2');
  assert.match(next.answer, /page: 6$/);
});

// ---- the ops scenario: calls the kit makes one by one (profile.ts Op), then a GET of every logging slot (finish)

const LOG = 1; // KVM_MEM_LOG_DIRTY_PAGES
/** KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, args[0]): 1 manual protect, 3 with INITIALLY_SET. */
const cap = (args0: bigint) => ({ k: 'cap', cap: 168, flags: 0, args0 });
const create = (pages = 64, flags = LOG, pick = 0) => ({ k: 'region', pick, kind: 'create', pages, flags });
const logOn = (pages = 64, pick = 0) => ({ k: 'region', pick, kind: 'logOn', pages, flags: LOG });
const W = (page: number, pick = 0) => ({ k: 'write', pick, page, nowhere: false });
const get = (short = false, pick = 0) => ({ k: 'get', pick, id: 'ok', short, races: [] });
/** CLEAR_DIRTY_LOG of the whole slot, selecting every page (`all`) or none. */
const clear = (bits: 'all' | 'none', pick = 0) => ({ k: 'clear', pick, id: 'ok', first: 'zero', num: 'toEnd', bits, some: [], bytes: 'ok', races: [] });

async function opsTrace(ops: object[], config = { hwDirty: false, eagerSplit: false, dirtyRingExclusive: false }): Promise<TraceStep[]> {
  const steps: TraceStep[] = [];
  await replayKvmDirtyLogScenario(referenceKvmDirtyLogAdapter(), { kind: 'ops', config, ops }, 5000, steps);
  return steps;
}
/** The requirements the steps whose op starts with `op` list. */
async function listedBy(op: string, ops: object[], config?: { hwDirty: boolean; eagerSplit: boolean; dirtyRingExclusive: boolean }): Promise<Set<string>> {
  const steps = (await opsTrace(ops, config)).filter((s) => s.op.startsWith(op));
  assert.ok(steps.length > 0, `no step ${op}`);
  return new Set(steps.flatMap((s) => s.req));
}
const reachedOps = async (ops: object[], config?: { hwDirty: boolean; eagerSplit: boolean; dirtyRingExclusive: boolean }) => new Set((await opsTrace(ops, config)).flatMap((s) => s.req));

test('[KVM-LOG-6] manual protect: the GETs over a slot no page was written in (seed 3: the bulk stage and round 1 with nothing written) have nothing to report or keep: not reached; a page written after the bulk stage: a GET lists it', async () => {
  assert.not.ok((await reached({})).has('KVM-LOG-6'));
  const steps = (await trace({ writes: [write(BULK_DONE['manual-protect'])] })).filter((s) => s.op.startsWith('KVM_GET_DIRTY_LOG') && s.req.includes('KVM-LOG-6'));
  assert.ok(steps.length > 0, 'no GET lists KVM-LOG-6');
  assert.match(steps[0]!.expected, /owed page: 5$/);
});

test('[KVM-LOG-5] read-and-clear: GETs over a slot no page was written in have nothing to take: not reached; a page written after the bulk stage: the GET that takes it lists it', async () => {
  const mode = 'read-and-clear';
  assert.not.ok((await reached({ mode })).has('KVM-LOG-5'));
  const steps = (await trace({ mode, writes: [write(BULK_DONE[mode])] })).filter((s) => s.op.startsWith('KVM_GET_DIRTY_LOG') && s.req.includes('KVM-LOG-5'));
  assert.ok(steps.length > 0, 'no GET lists KVM-LOG-5');
  assert.match(steps[0]!.answer, /page: 5$/);
});

test('[KVM-CLEAR-7] manual protect: the clears of a slot no page was written in (the bulk stage, seed 3) have no bit to clear: not reached; a page written after the bulk stage, reported: the clear of its chunk lists it', async () => {
  assert.not.ok((await reached({})).has('KVM-CLEAR-7'));
  const steps = (await trace({ writes: [write(BULK_DONE['manual-protect'])] })).filter((s) => s.op.startsWith('KVM_CLEAR_DIRTY_LOG') && s.req.includes('KVM-CLEAR-7'));
  assert.ok(steps.length > 0, 'no CLEAR lists KVM-CLEAR-7');
  assert.match(steps[0]!.op, /clearing .*\b5\b/);
});

test('[KVM-CLEAR-7] a clear selecting no page of a slot owing none cannot clear or keep wrongly: not reached; the same clear with page 3 owed, which it must keep: reached', async () => {
  assert.not.ok((await listedBy('KVM_CLEAR_DIRTY_LOG', [cap(1n), create(), clear('none')])).has('KVM-CLEAR-7'));
  assert.ok((await listedBy('KVM_CLEAR_DIRTY_LOG', [cap(1n), create(), W(3), clear('none')])).has('KVM-CLEAR-7'));
});

test('[KVM-CLEAR-9] a clear accepted under manual protect is not one the rule could refuse: not reached; the same clear without manual protect: reached', async () => {
  assert.not.ok((await listedBy('KVM_CLEAR_DIRTY_LOG', [cap(1n), create(), W(3), clear('all')])).has('KVM-CLEAR-9'));
  assert.ok((await listedBy('KVM_CLEAR_DIRTY_LOG', [create(), W(3), clear('all')])).has('KVM-CLEAR-9'));
});

test('[KVM-PT-9] [KVM-PT-13] GETs that protect no page whose translation is cached (nothing written) cannot leave one stale: not reached; a page written, then taken by a GET without manual protect: the GET lists both', async () => {
  assert.not.ok([...(await reachedOps([create(), get()]))].some((id) => id === 'KVM-PT-9' || id === 'KVM-PT-13'));
  const r = await listedBy('KVM_GET_DIRTY_LOG', [create(), W(3), get()]);
  assert.ok(r.has('KVM-PT-9') && r.has('KVM-PT-13'), [...r].join(', '));
});

test('[KVM-PT-13] a GET refused with -EFAULT after its take (KVM-LOG-7) over a slot nothing was written in protects nothing: its step lists KVM-LOG-7 alone; with page 3 written and cached, it lists KVM-PT-13 too', async () => {
  const refused = async (ops: object[]) => (await opsTrace(ops)).find((s) => s.op.startsWith('KVM_GET_DIRTY_LOG'))?.req;
  assert.equal(await refused([create(), get(true)]), ['KVM-LOG-7']);
  assert.ok((await refused([create(), W(3), get(true)]))?.includes('KVM-PT-13'));
});

test('[KVM-PT-7] a GET under manual protect with a hardware dirty bit compares no walk of a clean leaf: it lists no KVM-PT-7; a write to a page a read-and-clear GET cleaned walks a clean leaf: that write lists it', async () => {
  const hw = { hwDirty: true, eagerSplit: false, dirtyRingExclusive: false };
  assert.not.ok((await listedBy('KVM_GET_DIRTY_LOG', [cap(1n), create(), W(3), get()], hw)).has('KVM-PT-7'));
  assert.ok((await listedBy('  the page at', [create(), W(3), get(), W(3)], hw)).has('KVM-PT-7'));
});

test('[KVM-PT-10] a CLEAR under INITIALLY_SET over a slot of 4 KiB leaves compares no huge leaf: not reached; logging switched on over a huge leaf: reached', async () => {
  assert.not.ok((await reachedOps([cap(3n), create(64), W(3), clear('all')])).has('KVM-PT-10'));
  // Slot 1 is 1024 pages, 2 MiB-backed (as the page tour's): page 5 is mapped by a huge leaf before logging starts.
  assert.ok((await reachedOps([create(64), create(1024, 0, 1), W(5, 1), logOn(1024, 1)])).has('KVM-PT-10'));
});

test('[KVM-CLEAR-7] [NOLOSS-2] a CLEAR that forgets an owed page it was not asked to clear (kvm-clear-whole-word: it clears the whole word of page 3) is charged for it beside the report that misses page 40; the reference keeps it', async () => {
  const ops = [cap(1n), create(), W(3), W(40), { ...clear('none'), bits: 'some', some: [3] }];
  const steps = await opsTrace(ops);
  assert.ok(
    steps.some((s) => s.op.startsWith('KVM_GET_DIRTY_LOG') && s.req.includes('KVM-CLEAR-7') && s.req.includes('NOLOSS-2')),
    'the report after the clear lists the clear it checks',
  );
  const m = kvmDirtyLogMutants.find((x) => x.name === 'kvm-clear-whole-word')!;
  try {
    await replayKvmDirtyLogScenario(m.adapter, { kind: 'ops', config: { hwDirty: false, eagerSplit: false, dirtyRingExclusive: false }, ops }, 5000, []);
    assert.unreachable('the mutant passed');
  } catch (e) {
    assert.ok(e instanceof Violation && e.kind === 'loss', String(e));
    assert.equal(e.req, ['KVM-CLEAR-7', 'NOLOSS-2', 'KVM-LOG-6', 'NOLOSS-1']);
    assert.match(e.expected, /40 of the slot, kept dirty by KVM_CLEAR_DIRTY_LOG/);
  }
});

test.run();
