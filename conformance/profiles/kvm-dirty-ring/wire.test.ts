// Both dirty-ring profiles across the protocol's encoding (LoopbackChannel: every request
// and callback as it would cross a pipe): the reference conforms, and the kit's delayed
// relaxed stores still work, since the ordering mutants are killed only with delays on.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Violation } from '../../../model/violation.ts';
import { runCli } from '../../cli/capture.ts';
import { findMutant } from '../../mutants/index.ts';
import { LoopbackChannel } from '../../protocol/channel.ts';
import { dirtyRingCollectorProfile } from '../dirty-ring-collector/module.ts';
import { type CollectorScenario, replayDirtyRingCollectorScenario } from '../dirty-ring-collector/profile.ts';
import type { DirtyRingCollectorAdapter } from '../dirty-ring-collector/types.ts';
import { kvmDirtyRingProfile } from './module.ts';
import { type RingScenario, replayKvmDirtyRingScenario } from './profile.ts';
import type { KvmDirtyRingAdapter } from './types.ts';

const OPTIONS = { seed: 3, timeoutMs: 5000, maxCommands: 12, runs: 60 };
const served = <A>(adapter: A & { profile: 'kvm-dirty-ring' | 'dirty-ring-collector'; name: string }, overChannel: (c: LoopbackChannel, name: string) => A): A =>
  overChannel(new LoopbackChannel([adapter as never], adapter.name), `${adapter.name} (loopback)`);

test('[KVM-RING-22] the reference KVM side conforms across the protocol', async () => {
  const r = await kvmDirtyRingProfile.run(served(kvmDirtyRingProfile.reference(), kvmDirtyRingProfile.overChannel), OPTIONS);
  assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation ?? r.undecided));
});

test('[KVM-RING-23] the reference collector conforms across the protocol', async () => {
  const r = await dirtyRingCollectorProfile.run(served(dirtyRingCollectorProfile.reference(), dirtyRingCollectorProfile.overChannel), OPTIONS);
  assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation ?? r.undecided));
});

test('[KVM-RING-8] an x86 host with PML declares its CPU dirty log in the hello, and the kit sizes the rings for it across the protocol', async () => {
  const { referenceKvmDirtyRingAdapter } = await import('../../adapters/reference.ts');
  const { KvmDirtyRingVm } = await import('../../mutants/kvm-ring-aimed-variants.ts');
  const pml = referenceKvmDirtyRingAdapter('reference-pml', KvmDirtyRingVm, 512);
  const channel = new LoopbackChannel([pml as never], pml.name);
  assert.is(channel.hello.kvmCpuDirtyLogSize, 512);
  const adapter = kvmDirtyRingProfile.overChannel(channel, 'reference-pml (loopback)');
  assert.is(adapter.cpuDirtyLogSize, 512);
  const r = await kvmDirtyRingProfile.run(adapter, OPTIONS);
  assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation ?? r.undecided));
});

const FLAGS_FIRST: RingScenario = {
  config: { arch: 'x86', ringBytes: 4096, vcpus: 1, withBitmap: false, late: false, enables: [] },
  ops: [
    { k: 'run', vcpu: 0, slot: 1, start: 0, count: 1, stride: 1 },
    { k: 'harvest', vcpu: 0, max: 1024 },
  ],
  delays: [2],
};

test('[KVM-RING-22] across the protocol a producer storing the flags first is caught by a delayed relaxed store, and only with delays on', async () => {
  const a = served(findMutant('ring-push-flags-first')!.adapter as KvmDirtyRingAdapter, kvmDirtyRingProfile.overChannel);
  await replayKvmDirtyRingScenario(a, FLAGS_FIRST, 5000, [], false);
  try {
    await replayKvmDirtyRingScenario(a, FLAGS_FIRST, 5000, []);
    assert.unreachable('the flags-first push survived the delayed slot store');
  } catch (e) {
    assert.instance(e, Violation);
    assert.ok((e as Violation).req.includes('KVM-RING-22'), String(e));
  }
});

const LATE_OFFSET: CollectorScenario = {
  config: { vcpus: 1, withBitmap: false, pml: false },
  ops: [
    { k: 'guest', vcpu: 0, slot: 0, start: 1, count: 1, stride: 1 },
    { k: 'sync', injects: [] },
  ],
  delays: [0, 2],
};

test('[KVM-RING-22] across the protocol a collector loading the flags relaxed is caught by a delayed relaxed store, and only with delays on', async () => {
  const a = served(findMutant('collector-flags-relaxed')!.adapter as DirtyRingCollectorAdapter, dirtyRingCollectorProfile.overChannel);
  await replayDirtyRingCollectorScenario(a, LATE_OFFSET, 5000, [], false);
  try {
    await replayDirtyRingCollectorScenario(a, LATE_OFFSET, 5000, []);
    assert.unreachable('the relaxed flags load survived the delayed offset store');
  } catch (e) {
    assert.instance(e, Violation);
    assert.ok((e as Violation).req.includes('KVM-RING-22'), String(e));
  }
});

test('inputProblem names the field of a recorded scenario that is wrong', () => {
  assert.is(
    kvmDirtyRingProfile.inputProblem(FLAGS_FIRST, () => true),
    undefined,
  );
  assert.is(
    dirtyRingCollectorProfile.inputProblem(LATE_OFFSET, () => true),
    undefined,
  );
  assert.is(
    kvmDirtyRingProfile.inputProblem({ ...FLAGS_FIRST, config: { ...FLAGS_FIRST.config, ringBytes: 4000 } }, () => true),
    'input/config/ringBytes is missing or malformed',
  );
  assert.is(
    kvmDirtyRingProfile.inputProblem({ ...FLAGS_FIRST, ops: [{ k: 'harvest', vcpu: 0 }] }, () => true),
    'input/ops/0/max is missing or malformed',
  );
  assert.is(
    kvmDirtyRingProfile.inputProblem({ ...FLAGS_FIRST, ops: [{ k: 'fly' }] }, () => true),
    'input/ops/0/k must be one of run, harvest, hostile, reset, noVcpu, getLog, enable',
  );
  assert.is(
    kvmDirtyRingProfile.inputProblem({ ...FLAGS_FIRST, delays: [-1] }, () => true),
    'input/delays/0 must be an integer 0..64',
  );
  assert.is(
    dirtyRingCollectorProfile.inputProblem({ ...LATE_OFFSET, config: { vcpus: 1, withBitmap: false } }, () => true),
    'input/config/pml is missing or malformed',
  );
  assert.is(
    dirtyRingCollectorProfile.inputProblem({ ...LATE_OFFSET, ops: [{ k: 'sync', injects: [{ at: 0, what: 'page', slot: 2, offset: 0 }] }] }, () => true),
    'input/ops/0/injects is missing or malformed',
  );
  assert.is(
    dirtyRingCollectorProfile.inputProblem({ ...LATE_OFFSET, extra: 1 }, () => true),
    'input/extra is not a field',
  );
});

test('[KVM-RING-15] a recorded ring trace passes check-trace, and a reset count changed in it fails at its line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dirtyspec-ring-trace-'));
  for (const profile of ['kvm-dirty-ring', 'dirty-ring-collector']) {
    const file = join(dir, `${profile}.jsonl`);
    const r = await runCli('run', '--profile', profile, '--runs', '5', '--seed', '4', '--record', file);
    assert.is(r.status, 0, r.out);
    const c = await runCli('check-trace', file);
    assert.is(c.status, 0, c.out);
    assert.match(c.out, new RegExp(`${profile} \\(reference\\): 5 sequences`));
  }
  const lines = readFileSync(join(dir, 'kvm-dirty-ring.jsonl'), 'utf8').split('\n');
  // The reference's reset checks signals: the header says so, and check-trace answered its task.signalPending callbacks as the run did.
  assert.match(lines[0]!, /"kvmChecksSignals":true/);
  assert.ok(
    lines.some((l) => l.includes('"callback":"task.signalPending"')),
    'signal checks were recorded',
  );
  const at = lines.findIndex((l) => /"call":"resetDirtyRings".*"value":[1-9]/.test(l));
  assert.ok(at > 0, 'a reset that consumed entries was recorded');
  lines[at] = lines[at]!.replace(/"value":(\d+)/, (_, v: string) => `"value":${Number(v) + 1}`);
  const bad = join(dir, 'bad.jsonl');
  writeFileSync(bad, lines.join('\n'));
  const c = await runCli('check-trace', bad);
  assert.is(c.status, 1, c.out);
  assert.match(c.out, new RegExp(`bad.jsonl:${at + 1}: DOES NOT CONFORM[^\\n]*\\n {2}violates KVM-RING-15`));
  rmSync(dir, { recursive: true, force: true });
});

test.run();
