// Profile kvm-dirty-log: which requirements a replayed migration scenario reaches. A step
// lists a requirement only where its check compared an observation that could have failed it
// (the runner counts the IDs its trace steps list: engine/scenario-profile.ts): a report's
// NOLOSS-1 where a page of its slot was owed, KVM-LOG-8 where the bitmap has bits past the
// slot's end, the migration's final comparison its rules where a page changed after its first
// send, NOLOSS-2 where such a page raced a call over it or a clear had to keep it, and a
// report where an owed page was left out by an earlier clearing call a write to it raced. Each pair: a
// scenario that does not reach the case leaves the ID not reached, one that does reaches it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceKvmDirtyLogAdapter } from '../../adapters/reference.ts';
import type { TraceStep } from '../../engine/commands.ts';
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

test('[NOLOSS-1] reports over a slot where nothing is owed (seed 3: "the owed pages ()") cannot lose a page: not reached; a page written after the bulk stage: pass', async () => {
  assert.not.ok((await reached({})).has('NOLOSS-1'));
  const steps = (await trace({ writes: [write(BULK_DONE['manual-protect'])] })).filter((s) => s.op.endsWith(': bitmap') && s.req.includes('NOLOSS-1'));
  assert.ok(steps.length > 0, 'no report lists NOLOSS-1');
  assert.match(steps[0]!.expected, /\(5\)/);
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
  assert.match(next.answer, /\(6\)/);
});

test.run();
