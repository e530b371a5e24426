import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KvmVmModel, LazyMemslotTable } from '../../../model/kvm-dirty-log/vm-model.ts';
import { Violation } from '../../../model/violation.ts';
import { KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_MEM_LOG_DIRTY_PAGES, classifyClearDirtyLog, classifyEnableCap, classifyGetDirtyLog, classifySetMemoryRegion, slotField, type MemoryRegionArgs } from '../../../spec/kvm/dirty-log/args.ts';
import { referenceKvmDirtyLogAdapter } from '../../adapters/reference.ts';
import { runCli } from '../../cli/capture.ts';
import type { KvmDirtyLogAdapter, KvmDirtyLogConfig, KvmDirtyLogInstance } from './adapter.ts';
import { kvmDirtyLogInputProblem, kvmDirtyLogProfile } from './module.ts';
import { alignCheckedInitSetAdapter } from '../../mutants/kvm-log-linux-variants.ts';
import { kvmMatrixMutants } from '../../mutants/kvm-matrix-mutants.ts';
import { kvmDirtyLogMutants } from './mutants.ts';
import { KVM_DIRTY_LOG_REQUIREMENTS, replayKvmDirtyLogScenario, runKvmDirtyLogProfile } from './profile.ts';

const OPTIONS = { timeoutMs: 5000, maxCommands: 30 };
const PG = 4096n;
const CONFIG: KvmDirtyLogConfig = { hwDirty: false, eagerSplit: true, dirtyRingExclusive: false };

test('the reference conforms, covering every kvmMemslot transition and, seen through inspectPage, every kvmGuestPage one', async () => {
  const r = await runKvmDirtyLogProfile(referenceKvmDirtyLogAdapter(), { ...OPTIONS, runs: 1000, seed: 7 });
  assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation ?? r.undecided?.message));
  assert.equal(r.transitionCoverage.kvmMemslot!.missing, []);
  assert.equal(r.transitionCoverage.kvmGuestPage!.missing, []);
  assert.equal(r.unreached, []);
  assert.is(r.requirements.length, KVM_DIRTY_LOG_REQUIREMENTS.length);
});

test('[KVM-LOG-9] writes the VM makes itself, without a running vCPU, are reported by the next GET: the reference conforms with them, and a VM without kvmWrite is never asked', async () => {
  const r = await runKvmDirtyLogProfile(referenceKvmDirtyLogAdapter(), { ...OPTIONS, runs: 200, seed: 2 });
  assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation ?? r.undecided?.message));
  assert.is(r.requirements.find((q) => q.id === 'KVM-LOG-9')?.verdict, 'pass');
  const inner = referenceKvmDirtyLogAdapter();
  const without: KvmDirtyLogAdapter = {
    ...inner,
    create: async (config, hooks) => {
      const { kvmWrite: _, ...vm } = await inner.create(config, hooks);
      return vm;
    },
  };
  const none = await runKvmDirtyLogProfile(without, { ...OPTIONS, runs: 100, seed: 2 });
  assert.is(none.verdict, 'conforms');
  assert.not.equal(none.requirements.find((q) => q.id === 'KVM-LOG-9')?.verdict, 'pass');
});

test('the migration scenarios conform in both modes on the reference', async () => {
  const r = await runKvmDirtyLogProfile(referenceKvmDirtyLogAdapter(), { ...OPTIONS, runs: 60, seed: 3, only: 'migration' });
  assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation));
  assert.ok(r.requirements.some((q) => q.id === 'KVM-CLEAR-7'));
});

test('a black box without inspectPage gets no kvmGuestPage figure: nothing of its pages was seen', async () => {
  const ref = referenceKvmDirtyLogAdapter();
  const blind: KvmDirtyLogAdapter = {
    profile: 'kvm-dirty-log',
    name: 'blind',
    create: async (config, hooks) => {
      const { inspectPage: _i, setEagerSplit: _s, ...rest } = await ref.create(config, hooks);
      return rest;
    },
  };
  const r = await runKvmDirtyLogProfile(blind, { ...OPTIONS, runs: 50, seed: 7 });
  assert.is(r.verdict, 'conforms');
  assert.equal(Object.keys(r.transitionCoverage), ['kvmMemslot']);
  // Nor is it passed on the leaf rules of its memslot calls: nothing compared them (a port of Linux kvm_main.c without inspectPage passed KVM-PT-4, -10 and -15).
  const leaf = r.requirements.filter((q) => ['KVM-PT-4', 'KVM-PT-10', 'KVM-PT-15'].includes(q.id) && q.verdict === 'pass');
  assert.equal(leaf, []);
  const seen = await runKvmDirtyLogProfile(ref, { ...OPTIONS, runs: 50, seed: 7 });
  assert.ok(
    seen.requirements.some((q) => q.id === 'KVM-PT-15' && q.verdict === 'pass'),
    'the reference, which shows its pages, passes KVM-PT-15',
  );
});

test('[KVM-PT-13] [KVM-PT-9] through inspectPage: a translation still cached for a protected page once GET has returned is a loss, before any write uses it', async () => {
  const m = kvmDirtyLogMutants.find((x) => x.name === 'kvm-flush-after-return')!;
  const sc = {
    kind: 'ops',
    config: CONFIG,
    ops: [
      { k: 'region', pick: 0, kind: 'create', pages: 64, flags: KVM_MEM_LOG_DIRTY_PAGES },
      { k: 'write', pick: 0, page: 3, nowhere: false },
      { k: 'get', pick: 0, id: 'ok', short: false, races: [] },
    ],
  };
  await replayKvmDirtyLogScenario(referenceKvmDirtyLogAdapter(), sc, 5000, []); // the reference flushes before returning: no violation
  try {
    await replayKvmDirtyLogScenario(m.adapter, sc, 5000, []);
    assert.unreachable();
  } catch (e) {
    assert.ok(e instanceof Violation && e.kind === 'loss' && e.req.includes('KVM-PT-13'), String(e));
  }
});

/** Replays `ops` on the reference (it must conform) and on mutant `name` (it must fail with a violation naming `id`, of kind `kind`). */
async function failsOnlyOnMutant(name: string, ops: readonly object[], id: string, kind: string): Promise<void> {
  const sc = { kind: 'ops', config: CONFIG, ops };
  await replayKvmDirtyLogScenario(referenceKvmDirtyLogAdapter(), sc, 5000, []);
  const m = [...kvmMatrixMutants, ...kvmDirtyLogMutants].find((x) => x.name === name)!;
  try {
    await replayKvmDirtyLogScenario(m.adapter as KvmDirtyLogAdapter, sc, 5000, []);
    assert.unreachable();
  } catch (e) {
    assert.ok(e instanceof Violation && e.kind === kind && e.req.includes(id), String(e));
  }
}

test("[KVM-CLEAR-7] [KVM-LOG-6] a slot based one page past a 2 MiB page: a CLEAR whose word's last set page starts the next 2 MiB page must protect that page's huge leaf (Linux x86's ALIGN check does not)", async () => {
  const sc = {
    kind: 'ops',
    config: { hwDirty: false, eagerSplit: false, dirtyRingExclusive: false },
    ops: [
      { k: 'cap', cap: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, flags: 0, args0: 3n },
      { k: 'region', pick: 2, kind: 'create', pages: 1024, flags: 0, shift: 1 },
      { k: 'write', pick: 2, page: 600, nowhere: false },
      { k: 'region', pick: 2, kind: 'logOn', pages: 1024, flags: KVM_MEM_LOG_DIRTY_PAGES },
      { k: 'clear', pick: 2, id: 'ok', first: 'zero', num: 'toEnd', bits: 'some', some: [448, 511], bytes: 'ok', races: [] },
      { k: 'write', pick: 2, page: 511, nowhere: false },
      { k: 'get', pick: 2, id: 'ok', short: false, races: [] },
    ],
  };
  const trace: { op: string; answer: string }[] = [];
  await replayKvmDirtyLogScenario(referenceKvmDirtyLogAdapter(), sc, 5000, trace as never);
  assert.ok(
    trace.some((t) => /after the write/.test(t.op) && t.answer === 'huge'),
    'page 600 was mapped by a huge leaf',
  );
  try {
    await replayKvmDirtyLogScenario(alignCheckedInitSetAdapter(), sc, 5000, []);
    assert.unreachable();
  } catch (e) {
    assert.ok(e instanceof Violation && e.kind === 'loss' && e.req.includes('KVM-LOG-6'), String(e));
  }
});

test('[KVM-PT-11] through inspectPage: starting the log again must leave the leaf the first log protected write-protected', async () => {
  await failsOnlyOnMutant(
    'kvm-reprotect-toggles',
    [
      { k: 'region', pick: 0, kind: 'create', pages: 64, flags: KVM_MEM_LOG_DIRTY_PAGES },
      { k: 'write', pick: 0, page: 3, nowhere: false },
      { k: 'get', pick: 0, id: 'ok', short: false, races: [] },
      { k: 'region', pick: 0, kind: 'logOff', pages: 64, flags: 0 },
      { k: 'region', pick: 0, kind: 'logOn', pages: 64, flags: KVM_MEM_LOG_DIRTY_PAGES },
    ],
    'KVM-PT-11',
    'loss',
  );
});

// A GET without manual protect that took a page and left it writable is judged at the slot's next GET.
const firstWordOnly = [
  { k: 'region', pick: 0, kind: 'create', pages: 128, flags: KVM_MEM_LOG_DIRTY_PAGES },
  { k: 'write', pick: 0, page: 3, nowhere: false },
  { k: 'write', pick: 0, page: 70, nowhere: false },
] as const;

test('[KVM-LOG-5] through inspectPage: a region call that changes nothing (logging switched on again) keeps a page a GET took and left writable judged at the next GET', async () => {
  await failsOnlyOnMutant(
    'kvm-get-protects-first-word',
    [...firstWordOnly, { k: 'get', pick: 0, id: 'ok', short: false, races: [] }, { k: 'region', pick: 0, kind: 'logOn', pages: 128, flags: KVM_MEM_LOG_DIRTY_PAGES }],
    'KVM-LOG-5',
    'loss',
  );
});

test('[KVM-LOG-7] through inspectPage: a GET whose copy-out faults has still taken its pages, and must leave none writable', async () => {
  await failsOnlyOnMutant('kvm-get-protects-first-word', [...firstWordOnly, { k: 'get', pick: 0, id: 'ok', short: true, races: [] }], 'KVM-LOG-7', 'loss');
});

test('[KVM-PT-4] through inspectPage: starting the log under INITIALLY_SET leaves a writable leaf writable', async () => {
  await failsOnlyOnMutant(
    'kvm-initially-set-protects',
    [
      { k: 'cap', cap: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, flags: 0, args0: 3n },
      { k: 'region', pick: 0, kind: 'create', pages: 64, flags: 0 },
      { k: 'write', pick: 0, page: 3, nowhere: false },
      { k: 'region', pick: 0, kind: 'logOn', pages: 64, flags: KVM_MEM_LOG_DIRTY_PAGES },
    ],
    'KVM-PT-4',
    'spec',
  );
});

for (const m of kvmDirtyLogMutants) {
  test(`mutant ${m.name} (${m.bugClass}) is killed in under 10 s with a counterexample of at most 12 steps`, async () => {
    const started = performance.now();
    const r = await runKvmDirtyLogProfile(m.adapter, { ...OPTIONS, runs: 3000, seed: 42 });
    const seconds = (performance.now() - started) / 1000;
    assert.is(r.verdict, 'does-not-conform', `${m.name}: ${r.verdict} ${r.undecided?.message ?? ''}`);
    assert.ok(seconds < 10, `${m.name} took ${seconds.toFixed(1)} s`);
    assert.ok(r.counterexample!.steps.length <= 12, `${m.name}: ${r.counterexample!.steps.length} steps`);
    assert.ok(r.replay !== undefined);
  });
}

// ---------------------------------------------------------------------------------------
// Negative tests through the adapter: each errno case, the spec's prediction and the
// reference's answer.

async function vm(config: Partial<KvmDirtyLogConfig> = {}) {
  const inst: KvmDirtyLogInstance = await referenceKvmDirtyLogAdapter().create({ ...CONFIG, ...config }, { between: () => [] });
  const model = new KvmVmModel(new LazyMemslotTable(), {
    userMemSlots: inst.userMemSlots,
    addressSpaces: inst.addressSpaces,
    readonlyMem: inst.readonlyMem,
    userAddressLimit: inst.userAddressLimit,
    dirtyRingExclusive: config.dirtyRingExclusive ?? false,
  });
  const region = async (a: MemoryRegionArgs) => {
    const x = model.step(a.slot, classifySetMemoryRegion(model.view(), a));
    const r = await inst.setUserMemoryRegion({ slot: a.slot, flags: a.flags, guestPhysAddr: BigInt(a.guestPhysAddr), memorySize: BigInt(a.memorySize), userspaceAddr: BigInt(a.userspaceAddr) });
    if (x.outcome === 'ok') model.applyRegion(a, new Set(x.outcomes));
    return { spec: x.outcome, req: x.req, errno: r.errno };
  };
  const cap = async (c: number, flags: number, args0: bigint) => {
    const x = model.step(0, classifyEnableCap({ cap: c, flags, args0 }));
    return { spec: x.outcome, req: x.req, errno: (await inst.enableCap(c, flags, args0)).errno };
  };
  const get = async (slot: number, bytes: number) => {
    const x = model.step(slot, classifyGetDirtyLog(model.view(), { slot, bitmapBytes: bytes }));
    return { spec: x.outcome, req: x.req, errno: (await inst.getDirtyLog(slot, bytes)).errno };
  };
  const clear = async (slot: number, first: bigint, num: number, bytes: number) => {
    const bitmap = new Uint8Array(bytes).fill(0xff);
    const x = model.step(slot, classifyClearDirtyLog(model.view(), { slot, firstPage: first, numPages: num, bitmapBytes: bytes }));
    return { spec: x.outcome, req: x.req, errno: (await inst.clearDirtyLog(slot, first, num, bitmap)).errno };
  };
  return { inst, model, region, cap, get, clear };
}

const ERR: Record<string, number> = { einval: -22, enoent: -2, efault: -14, enxio: -6, eexist: -17, ok: 0 };
function refused(r: { spec: string; req: readonly string[]; errno: number }, outcome: string, id: string): void {
  assert.is(r.spec, outcome, `the spec predicts ${outcome}`);
  assert.ok(r.req.includes(id), `charged to ${r.req.join(',')}, not ${id}`);
  assert.is(r.errno, ERR[outcome], `the reference answers ${ERR[outcome]}`);
}
const REGION: MemoryRegionArgs = { slot: 0, flags: KVM_MEM_LOG_DIRTY_PAGES, guestPhysAddr: 0x1_0000_0000n, memorySize: 100n * PG, userspaceAddr: 0x7000_0000_0000n };

test('[KVM-SLOT-1] [KVM-SLOT-2] [KVM-SLOT-3] [KVM-SLOT-4] [KVM-SLOT-5] [KVM-SLOT-6] [KVM-SLOT-7] each sanity check is -EINVAL through the adapter', async () => {
  const v = await vm();
  refused(await v.region({ ...REGION, slot: v.inst.userMemSlots }), 'einval', 'KVM-SLOT-1');
  refused(await v.region({ ...REGION, flags: 4 }), 'einval', 'KVM-SLOT-2');
  refused(await v.region({ ...REGION, memorySize: 100n * PG + 1n }), 'einval', 'KVM-SLOT-3');
  refused(await v.region({ ...REGION, guestPhysAddr: 0x1_0000_0800n }), 'einval', 'KVM-SLOT-3');
  refused(await v.region({ ...REGION, userspaceAddr: 0x7000_0000_0008n }), 'einval', 'KVM-SLOT-4');
  refused(await v.region({ ...REGION, userspaceAddr: v.inst.userAddressLimit - PG }), 'einval', 'KVM-SLOT-4');
  refused(await v.region({ ...REGION, slot: slotField(v.inst.addressSpaces, 0) }), 'einval', 'KVM-SLOT-5');
  refused(await v.region({ ...REGION, guestPhysAddr: (1n << 64n) - 64n * PG }), 'einval', 'KVM-SLOT-6');
  refused(await v.region({ ...REGION, memorySize: (1n << 31n) * PG, userspaceAddr: 0n }), 'einval', 'KVM-SLOT-7');
});

test('[KVM-SLOT-8] [KVM-SLOT-10] [KVM-SLOT-12] delete of nothing, overlap, immutable change through the adapter', async () => {
  const v = await vm();
  refused(await v.region({ ...REGION, memorySize: 0n }), 'einval', 'KVM-SLOT-8');
  refused(await v.region(REGION), 'ok', 'KVM-SLOT-11');
  refused(await v.region({ ...REGION, slot: 1, guestPhysAddr: 0x1_0000_0000n + 99n * PG, userspaceAddr: 0x7000_1000_0000n }), 'eexist', 'KVM-SLOT-10');
  refused(await v.region({ ...REGION, memorySize: 64n * PG }), 'einval', 'KVM-SLOT-12');
  refused(await v.region({ ...REGION, userspaceAddr: 0x7000_1000_0000n }), 'einval', 'KVM-SLOT-12');
});

test('[KVM-LOG-1] the dirty ring without a bitmap: -ENXIO for GET and CLEAR through the adapter', async () => {
  const v = await vm({ dirtyRingExclusive: true });
  refused(await v.region(REGION), 'ok', 'KVM-SLOT-11');
  refused(await v.get(0, 16), 'enxio', 'KVM-LOG-1');
  refused(await v.clear(0, 0n, 64, 8), 'enxio', 'KVM-LOG-1');
});

test('[KVM-LOG-2] [KVM-LOG-3] [KVM-LOG-4] [KVM-LOG-7] GET refusals through the adapter', async () => {
  const v = await vm();
  refused(await v.get(slotField(2, 0), 16), 'einval', 'KVM-LOG-2');
  refused(await v.get(v.inst.userMemSlots, 16), 'einval', 'KVM-LOG-2');
  refused(await v.get(0, 16), 'enoent', 'KVM-LOG-3');
  refused(await v.region({ ...REGION, flags: 0 }), 'ok', 'KVM-SLOT-11');
  refused(await v.get(0, 16), 'enoent', 'KVM-LOG-3');
  refused(await v.region(REGION), 'ok', 'KVM-SLOT-14');
  refused(await v.get(0, 8), 'efault', 'KVM-LOG-7');
  refused(await v.cap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, 1n), 'ok', 'KVM-CAP-3');
  refused(await v.get(0, 8), 'efault', 'KVM-LOG-4');
});

test('[KVM-CLEAR-1] [KVM-CLEAR-2] [KVM-CLEAR-3] [KVM-CLEAR-4] [KVM-CLEAR-5] [KVM-CLEAR-6] CLEAR refusals through the adapter', async () => {
  const v = await vm();
  refused(await v.clear(slotField(2, 0), 0n, 64, 8), 'einval', 'KVM-CLEAR-1');
  refused(await v.clear(0, 32n, 64, 8), 'einval', 'KVM-CLEAR-2');
  refused(await v.clear(0, 0n, 64, 8), 'enoent', 'KVM-CLEAR-3');
  refused(await v.region(REGION), 'ok', 'KVM-SLOT-11');
  refused(await v.clear(0, 128n, 0, 0), 'einval', 'KVM-CLEAR-4');
  refused(await v.clear(0, 64n, 64, 8), 'einval', 'KVM-CLEAR-4');
  refused(await v.clear(0, 0n, 36, 8), 'einval', 'KVM-CLEAR-5');
  refused(await v.clear(0, 0n, 100, 8), 'efault', 'KVM-CLEAR-6');
  refused(await v.clear(0, 64n, 36, 8), 'ok', 'KVM-CLEAR-7');
});

test('[KVM-CAP-1] [KVM-CAP-2] [KVM-CAP-4] capability refusals through the adapter', async () => {
  const v = await vm();
  refused(await v.cap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 1, 1n), 'einval', 'KVM-CAP-1');
  refused(await v.cap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, 4n), 'einval', 'KVM-CAP-1');
  refused(await v.cap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, 2n), 'einval', 'KVM-CAP-2');
  refused(await v.cap(167, 0, 1n), 'einval', 'KVM-CAP-4');
});

test('a recorded scenario replays through the module, and check-trace rejects malformed inputs', async () => {
  let seen: unknown;
  const r = await kvmDirtyLogProfile.run(kvmDirtyLogProfile.reference(), { ...OPTIONS, runs: 5, seed: 11, onSequence: (sc) => (seen = sc) });
  assert.is(r.verdict, 'conforms');
  assert.is(kvmDirtyLogInputProblem(seen), undefined);
  const trace: Parameters<typeof kvmDirtyLogProfile.replay>[3] = [];
  assert.ok((await kvmDirtyLogProfile.replay(kvmDirtyLogProfile.reference(), seen, 5000, trace)) > 0);
  assert.match(kvmDirtyLogInputProblem({ kind: 'ops', config: CONFIG, ops: [{ k: 'nope' }] })!, /input\/ops\/0\/k must be one of/);
  assert.match(kvmDirtyLogInputProblem({ kind: 'ops', config: { ...CONFIG, extra: 1 }, ops: [] })!, /input\/config\/extra is not a field/);
  assert.match(kvmDirtyLogInputProblem({ kind: 'other' })!, /input\/kind/);
});

test('a recording with tours, aims and vcpu.between races passes check-trace', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvm-dirty-log-trace-'));
  try {
    const file = join(dir, 'trace.jsonl');
    const rec = await runCli('run', '--profile', 'kvm-dirty-log', '--runs', '60', '--seed', '3', '--workers', '1', '--record', file);
    assert.is(rec.status, 0, rec.out);
    const text = readFileSync(file, 'utf8');
    assert.match(text, /"from":"noLog"/);
    assert.match(text, /"callback":"vcpu\.between"/);
    const check = await runCli('check-trace', file);
    assert.is(check.status, 0, check.out + check.err);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
