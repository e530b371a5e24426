// `dirtyspec run --lib` on profile kvm-dirty-ring (ABI version 4): KVM's side written after
// Linux v6.18 virt/kvm/dirty_ring.c in conformance/examples/kernel-dirty-ring/, built with its
// Makefile, conforms (`dirtyspec run --lib`, exit 0), and so does its PML build, which
// declares its CPU dirty log through the ABI; each fault its Makefile plants
// (-DDIRTYSPEC_FAULT_*) fails on the requirement it breaks, and its replay input fails
// again; and the library served by the protocol's server (what a crash of it is confirmed
// against, DIRTYSPEC_LIB_SERVE) gives the same counterexample as in process. The faults
// run through the library's adapter in this process, as the --lib child runs them: one
// CLI run is enough for the child process and its report (each costs a kit start twice),
// and lib.test.ts checks the replay line of --lib for the other profiles. The ABI's
// layout and older libraries: lib.test.ts.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Adapter } from '../adapters/types.ts';
import type { KvmDirtyRingAdapter } from '../profiles/kvm-dirty-ring/types.ts';
import { runCli } from '../cli/capture.ts';
import { runProfile, type ProfileResult } from '../engine/run-profile.ts';
import { LoopbackChannel } from '../protocol/channel.ts';
import { execAdapters } from '../protocol/exec-adapters.ts';
import { LibPeer } from './lib-adapters.ts';

const here = new URL('.', import.meta.url).pathname;
const build = mkdtempSync(join(tmpdir(), 'dirtyspec-kvm-ring-'));
const lib = (variant = '') => join(build, `libkernel-dirty-ring${variant === '' ? '' : `-${variant}`}.so`);
const run = promisify(execFile);
const OPTIONS = { timeoutMs: 10_000, maxCommands: 30 };

test.before(async () => {
  await run('make', ['-s', '-C', join(here, '../examples/kernel-dirty-ring'), `BUILD=${build}`]);
});

test.after(() => {
  rmSync(build, { recursive: true, force: true });
});

/** The profile in process, through the library's adapter. */
async function inProcess(path: string, seed: number, runs: number, replay?: string): Promise<ProfileResult> {
  const peer = LibPeer.load(path, { timeoutMs: 10_000 });
  try {
    assert.is(peer.abi, 4);
    return await runProfile(peer.adapters().get('kvm-dirty-ring') as Adapter, { ...OPTIONS, runs, seed, ...(replay === undefined ? {} : { path: replay }) });
  } finally {
    peer.close();
  }
}

const steps = (r: ProfileResult) => r.counterexample?.steps.length ?? 0;

test("[KVM-RING-12] [KVM-RING-16] [KVM-RING-18] [KVM-RING-22] KVM's side after Linux v6.18 dirty_ring.c (with the wrapped-offset check) conforms through --lib, x86 and arm64 alike", async () => {
  const r = await runCli('run', '--lib', lib(), '--profile', 'kvm-dirty-ring', '--runs', '100', '--seed', '1', '--workers', '1');
  assert.is(r.status, 0, r.out + r.err);
  assert.match(r.out, /profile kvm-dirty-ring \(adapter linux-v6\.18-dirty-ring \(\+577a8d3bae05\)\): conforms {2}— 100 runs/);
  for (const id of ['KVM-RING-12', 'KVM-RING-16', 'KVM-RING-18', 'KVM-RING-22']) assert.match(r.out, new RegExp(`pass ${id} `));
  const more = await inProcess(lib(), 2, 40);
  assert.is(more.verdict, 'conforms', JSON.stringify(more.counterexample?.violation ?? more.undecided?.message));
});

test('[KVM-RING-4] [KVM-RING-8] an x86 host with PML: dirtyspec_kvm_dirty_ring_cpu_dirty_log_size() says 512 and the VM, whose rings reserve 576 entries, conforms on the larger rings the kit then tries; the same library with the answer dropped refuses the 4 KiB ring (KVM-RING-8)', async () => {
  const peer = LibPeer.load(lib('pml'), { timeoutMs: 10_000 });
  try {
    const adapter = peer.adapters().get('kvm-dirty-ring') as KvmDirtyRingAdapter;
    assert.is(adapter.cpuDirtyLogSize, 512);
    const declared = await runProfile(adapter, { ...OPTIONS, runs: 40, seed: 3 });
    assert.is(declared.verdict, 'conforms', JSON.stringify(declared.counterexample?.violation ?? declared.undecided?.message));
    const { cpuDirtyLogSize: _, ...undeclared } = adapter;
    const r = await runProfile(undeclared, { ...OPTIONS, runs: 40, seed: 3 });
    assert.is(r.verdict, 'does-not-conform');
    assert.equal(r.counterexample?.violation.req, ['KVM-RING-8']);
  } finally {
    peer.close();
  }
});

test("[KVM-RING-18] without 577a8d3bae05 (v6.18 as released: offset + __fls(mask) checked in u64 only) the hostile collector's wrapped pair re-protects a page: a failure in at most 12 steps, and its replay input fails again", async () => {
  const r = await inProcess(lib('wrap'), 8, 300);
  assert.is(r.verdict, 'does-not-conform');
  assert.equal(r.counterexample?.violation.req, ['KVM-RING-18']);
  assert.ok(
    r.counterexample?.steps.some((s) => /hostile collector rewrites entry \d+ of vCPU \d \(wrap\)/.test(s.op)),
    'the wrapped pair',
  );
  assert.ok(steps(r) <= 12, `${steps(r)} steps`);
  assert.ok(r.replay !== undefined, 'a replay');
  const again = await inProcess(lib('wrap'), r.replay.seed, 1, r.replay.path);
  assert.is(again.verdict, 'does-not-conform');
  assert.equal(again.counterexample?.violation.req, ['KVM-RING-18']);
  assert.is(steps(again), steps(r));
});

test('[KVM-RING-22] [KVM-RING-11] a push that sets the flags before slot and offset (a plain store, no barrier) hands the collector a stale entry: a lost dirty page in at most 6 steps', async () => {
  for (const seed of [7, 8]) {
    const r = await inProcess(lib('push'), seed, 300);
    assert.is(r.verdict, 'does-not-conform', `seed ${seed}`);
    assert.equal(r.counterexample?.violation.req, ['KVM-RING-11', 'KVM-RING-22']);
    assert.is(r.counterexample?.violation.kind, 'loss');
    assert.ok(steps(r) <= 6, `seed ${seed}: ${steps(r)} steps`);
  }
});

test('[KVM-RING-22] the push without its smp_wmb() fails on arm64 (dirtyspec/linux.h makes the store after smp_wmb a release; with none the flags may overtake slot and offset)', async () => {
  const r = await inProcess(lib('no-wmb'), 5, 300);
  assert.is(r.verdict, 'does-not-conform');
  assert.equal(r.counterexample?.violation.req, ['KVM-RING-11', 'KVM-RING-22']);
  assert.is(r.counterexample?.config.arch, 'arm64');
});

test("[KVM-RING-22] the library in process and through the protocol's server (DIRTYSPEC_LIB_SERVE's, which confirms a crash): the same verdict and the same counterexample on the same seed", async () => {
  const viaLib = await inProcess(lib('push'), 8, 20);
  const peer = LibPeer.load(lib('push'), { timeoutMs: 10_000 });
  let served: ProfileResult;
  try {
    const channel = new LoopbackChannel([...peer.adapters().values()], peer.name);
    served = await runProfile(execAdapters(channel).get('kvm-dirty-ring')!, { ...OPTIONS, runs: 20, seed: 8 });
  } finally {
    peer.close();
  }
  assert.is(viaLib.verdict, 'does-not-conform');
  const essence = (r: ProfileResult) => ({ verdict: r.verdict, runs: r.runs, commands: r.commands, counterexample: r.counterexample, replay: r.replay, requirements: r.requirements });
  assert.equal(essence(served), essence(viaLib));
});

test("[KVM-RING-24] [KVM-RING-16] signal_pending(current) the kit's (ABI version 4, -DDIRTYSPEC_SIGNALS): v6.18's reset, stopped by a signal, leaves the batch it was coalescing writable, a lost dirty page in at most 12 steps; with the batch reset before -EINTR it conforms", async () => {
  const peer = LibPeer.load(lib('signals'), { timeoutMs: 10_000 });
  try {
    assert.is((peer.adapters().get('kvm-dirty-ring') as KvmDirtyRingAdapter).checksSignals, true, 'dirtyspec_kvm_dirty_ring_checks_signals() said so');
  } finally {
    peer.close();
  }
  for (const seed of [1, 2]) {
    const r = await inProcess(lib('signals'), seed, 300);
    assert.is(r.verdict, 'does-not-conform', `seed ${seed}`);
    assert.equal(r.counterexample?.violation.req, ['KVM-RING-24', 'KVM-RING-16']);
    assert.is(r.counterexample?.violation.kind, 'loss');
    assert.ok(
      r.counterexample?.steps.some((s) => /a signal pending from its signal_pending\(\) check \d+/.test(s.op)),
      'the step names the signal',
    );
    assert.ok(steps(r) <= 12, `seed ${seed}: ${steps(r)} steps`);
    const fixed = await inProcess(lib('signals-fixed'), seed, 300);
    assert.is(fixed.verdict, 'conforms', `seed ${seed}: ${JSON.stringify(fixed.counterexample?.violation ?? fixed.undecided?.message)}`);
    assert.is(fixed.requirements.find((q) => q.id === 'KVM-RING-24')?.verdict, 'pass');
  }
  // Without the declaration the kit never signals: the library's default build conforms with no KVM-RING-24 verdict.
  const plain = await inProcess(lib(), 1, 40);
  assert.not.ok(plain.requirements.some((q) => q.id === 'KVM-RING-24'));
});

test.run();
