import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AnyTransitionDefinition } from 'xstate';
import { machineTransitions } from '../../machines.ts';
import type { RuleMeta } from '../../rule.ts';
import { run, step } from '../../step.ts';
import { KVM_GUEST_PAGE_EVENTS, kvmGuestPageMachine as m, kvmGuestPageStateOf, type KvmGuestPageEvent } from './guest-page-machine.ts';

const W = (o: Partial<{ logging: boolean; readonlySlot: boolean; hugeBacked: boolean }> = {}): KvmGuestPageEvent => ({ type: 'WRITE', logging: true, readonlySlot: false, hugeBacked: false, ...o });
const PROTECT = (o: Partial<{ hwDirty: boolean; split: boolean }> = {}): KvmGuestPageEvent => ({ type: 'PROTECT', hwDirty: false, split: true, ...o });
const FLUSH: KvmGuestPageEvent = { type: 'FLUSH' };
const ZAP: KvmGuestPageEvent = { type: 'ZAP' };
const SYNC: KvmGuestPageEvent = { type: 'SYNC' };

// Prefixes: each leaf state with an empty TLB.
const WRITABLE = [W(), FLUSH];
const HUGE = [W({ logging: false, hugeBacked: true }), FLUSH];
const PROTECTED = [W(), PROTECT(), FLUSH];
const CLEAN = [W(), PROTECT({ hwDirty: true }), FLUSH];
const HUGE_PROTECTED = [W({ logging: false, hugeBacked: true }), PROTECT({ split: false }), FLUSH];

function take(prefix: KvmGuestPageEvent[], event: KvmGuestPageEvent) {
  const before = run(m, prefix)[0];
  const taken = m.getTransitionData(before, event) as AnyTransitionDefinition[];
  const [after, out] = step(m, before, event);
  return { out, before: kvmGuestPageStateOf(before), after: kvmGuestPageStateOf(after), req: taken.flatMap((t) => (t.meta as RuleMeta | undefined)?.req ?? []) as string[] };
}
function expectStep(prefix: KvmGuestPageEvent[], event: KvmGuestPageEvent, out: string[], after: Partial<ReturnType<typeof kvmGuestPageStateOf>>, id: string) {
  const r = take(prefix, event);
  assert.equal(r.out, out);
  for (const [k, v] of Object.entries(after)) assert.is(r.after[k as keyof typeof r.after], v, `${k}`);
  assert.ok(r.req.includes(id), `charged to ${r.req.join(',')}, not ${id}`);
  return r;
}

test('[KVM-PT-1] a write to an unmapped page of a logging slot maps a 4 KiB writable leaf and marks it dirty', () => {
  expectStep([], W({ hugeBacked: true }), ['fault', 'mapPage', 'markDirty'], { leaf: 'writable', tlb: 'valid' }, 'KVM-PT-1');
});
test('[KVM-PT-2] a write to an unmapped page of a slot not logging maps it, huge where backed so, recording nothing', () => {
  expectStep([], W({ logging: false, hugeBacked: true }), ['fault', 'mapHuge'], { leaf: 'huge', tlb: 'valid' }, 'KVM-PT-2');
  expectStep([], W({ logging: false }), ['fault', 'mapPage'], { leaf: 'writable', tlb: 'valid' }, 'KVM-PT-2');
});
test('[KVM-PT-3] a write through a writable leaf changes and records nothing', () => {
  expectStep(WRITABLE, W(), ['walk'], { leaf: 'writable', tlb: 'valid' }, 'KVM-PT-3');
});
test('[KVM-PT-4] under INITIALLY_SET an unprotected huge leaf takes writes unrecorded', () => {
  expectStep(HUGE, W({ logging: true }), ['walk'], { leaf: 'huge', tlb: 'valid' }, 'KVM-PT-4');
});
test('[KVM-PT-5] a write to a write-protected huge leaf while logging splits it on the fault and marks the page', () => {
  expectStep(HUGE_PROTECTED, W(), ['fault', 'splitOnFault', 'markDirty', 'makeWritable'], { leaf: 'writable', tlb: 'valid' }, 'KVM-PT-5');
});
test('[KVM-PT-6] after logging stops, a write to a protected leaf makes it writable and records nothing', () => {
  expectStep(PROTECTED, W({ logging: false }), ['fault', 'makeWritable'], { leaf: 'writable' }, 'KVM-PT-6');
  expectStep(HUGE_PROTECTED, W({ logging: false }), ['fault', 'makeWritable'], { leaf: 'huge' }, 'KVM-PT-6');
});
test('[KVM-PT-7] with a hardware dirty bit a write to a clean leaf sets it and logs the page; SYNC drains the log into the bitmap', () => {
  expectStep(CLEAN, W(), ['walk', 'setDirtyBit', 'logPml'], { leaf: 'writable', pml: 'pending' }, 'KVM-PT-7');
  expectStep([...CLEAN, W()], SYNC, ['drainPml', 'markDirty'], { pml: 'empty' }, 'KVM-PT-7');
  expectStep(CLEAN, SYNC, [], { pml: 'empty' }, 'KVM-PT-7');
});
test('[KVM-PT-8] a write to a write-protected leaf while logging marks the page dirty, then makes it writable', () => {
  expectStep(PROTECTED, W(), ['fault', 'markDirty', 'makeWritable'], { leaf: 'writable', tlb: 'valid' }, 'KVM-PT-8');
});
test('[KVM-PT-9] protecting a writable leaf clears W, or the dirty bit with hardware dirty logging; a cached translation goes stale', () => {
  expectStep([W()], PROTECT(), ['clearWritable'], { leaf: 'protected', tlb: 'stale' }, 'KVM-PT-9');
  expectStep([W()], PROTECT({ hwDirty: true }), ['clearDirtyBit'], { leaf: 'clean', tlb: 'stale' }, 'KVM-PT-9');
  expectStep(WRITABLE, PROTECT(), ['clearWritable'], { leaf: 'protected', tlb: 'empty' }, 'KVM-PT-9');
});
test('[KVM-PT-10] protecting a huge leaf splits it and protects the page, or without split write-protects it whole', () => {
  expectStep(HUGE, PROTECT(), ['splitHuge', 'clearWritable'], { leaf: 'protected' }, 'KVM-PT-10');
  expectStep(HUGE, PROTECT({ hwDirty: true }), ['splitHuge', 'clearDirtyBit'], { leaf: 'clean' }, 'KVM-PT-10');
  expectStep(HUGE, PROTECT({ split: false }), ['clearWritable'], { leaf: 'hugeProtected' }, 'KVM-PT-10');
  expectStep(HUGE_PROTECTED, PROTECT(), ['splitHuge'], { leaf: 'protected' }, 'KVM-PT-10');
});
test('[KVM-PT-11] protecting an absent, protected or clean leaf changes nothing', () => {
  for (const [p, split] of [
    [[], true],
    [PROTECTED, true],
    [CLEAN, true],
    [HUGE_PROTECTED, false],
  ] as const) {
    const r = take([...p], PROTECT({ split }));
    assert.equal(r.out, []);
    assert.equal(r.after, r.before);
    assert.ok(r.req.includes('KVM-PT-11'));
  }
});
test('[KVM-PT-12] a flush empties the TLB whatever it held', () => {
  expectStep([W()], FLUSH, ['invalidate'], { tlb: 'empty' }, 'KVM-PT-12');
  expectStep([W(), PROTECT()], FLUSH, ['invalidate'], { tlb: 'empty', leaf: 'protected' }, 'KVM-PT-12');
});
test('[KVM-PT-13] HAZARD: a write through a stale translation completes unrecorded; after the flush it faults and is recorded', () => {
  expectStep([W(), PROTECT()], W(), ['writeUnrecorded'], { leaf: 'protected', tlb: 'stale' }, 'KVM-PT-13');
  expectStep([W(), PROTECT({ hwDirty: true })], W(), ['writeUnrecorded'], { leaf: 'clean', pml: 'empty' }, 'KVM-PT-13');
  expectStep([W(), PROTECT(), FLUSH], W(), ['fault', 'markDirty', 'makeWritable'], { leaf: 'writable' }, 'KVM-PT-8');
});
test('[KVM-PT-14] a write with a valid cached translation does not walk; without one it walks and caches', () => {
  expectStep([W()], W(), ['writeCached'], { tlb: 'valid' }, 'KVM-PT-14');
  expectStep(WRITABLE, W(), ['walk'], { tlb: 'valid' }, 'KVM-PT-14');
});
test('[KVM-PT-15] a zap removes the leaf and its translation', () => {
  for (const p of [[W()], HUGE, PROTECTED, [W(), PROTECT()]]) expectStep(p, ZAP, ['zapLeaf', 'invalidate'], { leaf: 'none', tlb: 'empty' }, 'KVM-PT-15');
});
test('[KVM-PT-16] a write to a read-only slot is an MMIO exit and changes nothing', () => {
  for (const p of [[]]) {
    const r = take(p, W({ readonlySlot: true }));
    assert.equal(r.out, ['mmioExit']);
    assert.equal(r.after, r.before);
    assert.ok(r.req.includes('KVM-PT-16'));
  }
});

test('[KVM-PT-14] every transition of the machine is taken by some state and event of its alphabet', () => {
  const seen = new Set<string>();
  const states = [
    [],
    WRITABLE,
    HUGE,
    PROTECTED,
    CLEAN,
    HUGE_PROTECTED,
    [W()],
    [W(), PROTECT()],
    [W(), PROTECT({ hwDirty: true })],
    [...CLEAN, W()],
    [W({ logging: false, hugeBacked: true })],
    [W({ logging: false, hugeBacked: true }), PROTECT({ split: false })],
  ];
  for (const p of states) {
    const s = run(m, p)[0];
    for (const e of KVM_GUEST_PAGE_EVENTS) {
      for (const t of m.getTransitionData(s, e) as AnyTransitionDefinition[]) seen.add(`${t.source.path.join('.') || '(root)'} --${t.eventType}#${(t.source.transitions.get(t.eventType) ?? []).indexOf(t)}`);
    }
  }
  const all = machineTransitions(m).map((t) => t.key);
  assert.equal(
    all.filter((k) => !seen.has(k)),
    [],
  );
});

test.run();
