// `dirtyspec run --lib`: the C ABI (dirtyspec.h) as the C compiler lays it out, the
// kernel-style example and the C example built with make into a temporary directory and
// checked in process (the C example's KVM dirty log and dirty-ring collector through ABI
// version 2, and libraries of versions 1 and 2 still loaded), the same verdict and
// counterexample through --lib and --exec, and libraries that answer garbage: undecided
// (exit 2) with the reason, and no process left behind. Libraries that crash or hang:
// lib-crash.test.ts.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createKitMemory } from '../adapters/reference.ts';
import type { Adapter, SmmuDriverAdapter } from '../adapters/types.ts';
import { runCli } from '../cli/capture.ts';
import { runProfile, type ProfileResult } from '../engine/run-profile.ts';
import { execAdapters } from '../protocol/exec-adapters.ts';
import { ExecPeer } from '../protocol/peer.ts';
import { badLib, buildBadLib } from './fixtures/bad-lib.ts';
import { processesNaming } from './fixtures/processes.ts';
import { LAYOUT, LibPeer } from './lib-adapters.ts';

const here = new URL('.', import.meta.url).pathname;
const build = mkdtempSync(join(tmpdir(), 'dirtyspec-lib-'));
const kernelC = join(build, 'libkernel-c.so');
const kernelCFaulty = join(build, 'libkernel-c-faulty.so');
const cLib = join(build, 'libdirtyspec-c.so');
const cLibFaulty = join(build, 'libdirtyspec-c-faulty.so');
const smmuHw = join(build, 'smmu-hw.so');
const shim = join(build, 'shim-accesses.so');
const smmuHwBad = join(build, 'smmu-hw-bad.so');
const smmuHwMissing = join(build, 'smmu-hw-missing.so');
const smmuHwV1 = join(build, 'smmu-hw-abi1.so');
const smmuHwV1Kvm = join(build, 'smmu-hw-abi1-kvm.so');
const smmuHwV2 = (v: 'ABI_V2' | 'ABI_V2_LAX' | 'ABI_V2_RING' | 'ABI_V3') => join(build, `smmu-hw-${v.toLowerCase()}.so`);
const ringBad = (v: 'ORDER' | 'WIDTH') => join(build, `ring-collector-bad-${v}.so`);
// The crashing ones (SEGV, ABORT) are lib-crash.test.ts's; fixtures/bad-lib.c also has HANG.
const BAD = ['ERRNO', 'LEN', 'ABI', 'ORDER'] as const;
const bad = (v: (typeof BAD)[number]) => badLib(build, v);
const run = promisify(execFile);

test.before(async () => {
  const make = (dir: string) => run('make', ['-s', '-C', join(here, dir), `BUILD=${build}`]);
  await Promise.all([make('../examples/kernel-c'), make('../examples/c')]);
  await Promise.all([
    ...BAD.map((v) => buildBadLib(build, v)),
    run('cc', ['-std=c11', '-Wall', '-Wextra', '-Werror', `-I${here}`, '-o', join(build, 'layout'), join(here, 'fixtures/layout.c')]),
    run('c++', ['-x', 'c++', '-std=gnu++17', '-O2', '-fPIC', '-fno-strict-aliasing', '-Wall', '-Wextra', '-Werror', '-shared', `-I${build}/include`, '-o', shim, join(here, 'fixtures/shim-accesses.c')]),
    run('cc', ['-std=c11', '-O1', '-fPIC', '-shared', '-Wall', '-Wextra', '-Werror', `-I${here}`, '-o', smmuHw, join(here, 'fixtures/smmu-hw.c')]),
    run('cc', ['-std=c11', '-O1', '-fPIC', '-shared', '-Wall', '-Wextra', '-Werror', '-DBAD_FAULT', `-I${here}`, '-o', smmuHwBad, join(here, 'fixtures/smmu-hw.c')]),
    run('cc', ['-std=c11', '-O1', '-fPIC', '-shared', '-Wall', '-Wextra', '-Werror', '-DBAD_PROFILES', `-I${here}`, '-o', smmuHwMissing, join(here, 'fixtures/smmu-hw.c')]),
    run('cc', ['-std=c11', '-O1', '-fPIC', '-shared', '-Wall', '-Wextra', '-Werror', '-DABI_V1', `-I${here}`, '-o', smmuHwV1, join(here, 'fixtures/smmu-hw.c')]),
    run('cc', ['-std=c11', '-O1', '-fPIC', '-shared', '-Wall', '-Wextra', '-Werror', '-DABI_V1_KVM', `-I${here}`, '-o', smmuHwV1Kvm, join(here, 'fixtures/smmu-hw.c')]),
    ...(['ABI_V2', 'ABI_V2_LAX', 'ABI_V2_RING', 'ABI_V3'] as const).map((v) => run('cc', ['-std=c11', '-O1', '-fPIC', '-shared', '-Wall', '-Wextra', '-Werror', `-D${v}`, `-I${here}`, '-o', smmuHwV2(v), join(here, 'fixtures/smmu-hw.c')])),
    ...(['ORDER', 'WIDTH'] as const).map((v) => run('cc', ['-std=c11', '-O1', '-fPIC', '-shared', '-Wall', '-Wextra', '-Werror', `-DBAD_RING_${v}`, `-I${here}`, '-o', ringBad(v), join(here, 'fixtures/ring-collector-bad.c')])),
  ]);
});

test.after(() => {
  rmSync(build, { recursive: true, force: true });
});

test('the structs of dirtyspec.h as the C compiler lays them out are the offsets lib-adapters.ts writes', () => {
  const c = JSON.parse(execFileSync(join(build, 'layout'), { encoding: 'utf8' })) as Record<string, number>;
  const L = LAYOUT;
  const pairs: [string, number][] = [
    ['dirtyspec_kit', L.kit.size],
    ['dirtyspec_kit.ctx', L.kit.ctx],
    ['dirtyspec_kit.load', L.kit.callbacks],
    ['dirtyspec_kit.fill_bytes', L.kit.callbacks + 14 * 8],
    ['dirtyspec_cmd', L.cmd.size],
    ['dirtyspec_cmd.stream_id', L.cmd.streamId],
    ['dirtyspec_cmd.asid', L.cmd.asid],
    ['dirtyspec_cmd.iova', L.cmd.iova],
    ['dirtyspec_cmd.size', L.cmd.sz],
    ['dirtyspec_bitmap', L.bitmap.size],
    ['dirtyspec_bitmap.cap', L.bitmap.cap],
    ['dirtyspec_bitmap.len', L.bitmap.len],
    ['dirtyspec_hello', L.hello.size],
    ['dirtyspec_hello.profiles', L.hello.profiles],
    ['dirtyspec_hello.name', L.hello.name],
    ['dirtyspec_smmu_hw_config', L.smmuHwConfig.size],
    ['dirtyspec_smmu_hw_config.iotlb_capacity', L.smmuHwConfig.iotlbCapacity],
    ['dirtyspec_smmu_driver_config', L.smmuDriverConfig.size],
    ['dirtyspec_smmu_driver_config.dirty_capable', L.smmuDriverConfig.dirtyCapable],
    ['dirtyspec_smmu_driver_config.page_granular', L.smmuDriverConfig.pageGranular],
    ['dirtyspec_iova_bitmap_args', L.iovaBitmapArgs.size],
    ['dirtyspec_iova_bitmap_args.offset', L.iovaBitmapArgs.offset],
    ['dirtyspec_iova_bitmap_args.max_pinned_pages', L.iovaBitmapArgs.maxPinnedPages],
    ['dirtyspec_vfio_type1_config', L.vfioConfig.size],
    ['dirtyspec_vfio_type1_config.dma_entry_limit', L.vfioConfig.dmaEntryLimit],
    ['dirtyspec_vfio_bitmap', L.vfioBitmap.size],
    ['dirtyspec_vfio_bitmap.data', L.vfioBitmap.data],
    ['dirtyspec_vfio_bitmap.data_len', L.vfioBitmap.dataLen],
    ['dirtyspec_vfio_range', L.vfioRange.size],
    ['dirtyspec_vfio_range.bitmap', L.vfioRange.bitmap],
    ['dirtyspec_vfio_info', L.vfioInfo.size],
    ['dirtyspec_vfio_info.dma_avail', L.vfioInfo.dmaAvail],
    ['dirtyspec_vfio_info.migration_pgsize_bitmap', L.vfioInfo.migrationPgsizeBitmap],
    ['dirtyspec_vfio_info.max_dirty_bitmap_size', L.vfioInfo.maxDirtyBitmapSize],
    ['dirtyspec_vfio_info.n_iova_ranges', L.vfioInfo.nIovaRanges],
    ['dirtyspec_vfio_info.iova_ranges', L.vfioInfo.ranges],
    // ABI version 2: appended to struct dirtyspec_kit, and the KVM profiles' structs.
    ['dirtyspec_kit.vcpu_between', L.kit.callbacks + 15 * 8],
    ['dirtyspec_kit.vcpu_between', L.kit.sizeV1],
    ['dirtyspec_kit.ring_load32', L.kit.callbacks + 16 * 8],
    ['dirtyspec_kit.get_dirty_log', L.kit.callbacks + 22 * 8],
    ['dirtyspec_kvm_dirty_log_config', L.kvmConfig.size],
    ['dirtyspec_kvm_dirty_log_config.hw_dirty', L.kvmConfig.hwDirty],
    ['dirtyspec_kvm_dirty_log_config.eager_split', L.kvmConfig.eagerSplit],
    ['dirtyspec_kvm_dirty_log_config.dirty_ring_exclusive', L.kvmConfig.dirtyRingExclusive],
    ['dirtyspec_kvm_vm_info', L.kvmVmInfo.size],
    ['dirtyspec_kvm_vm_info.user_mem_slots', L.kvmVmInfo.userMemSlots],
    ['dirtyspec_kvm_vm_info.address_spaces', L.kvmVmInfo.addressSpaces],
    ['dirtyspec_kvm_vm_info.readonly_mem', L.kvmVmInfo.readonlyMem],
    ['dirtyspec_kvm_vm_info.user_address_limit', L.kvmVmInfo.userAddressLimit],
    ['dirtyspec_kvm_memory_region', L.kvmRegion.size],
    ['dirtyspec_kvm_memory_region.slot', L.kvmRegion.slot],
    ['dirtyspec_kvm_memory_region.flags', L.kvmRegion.flags],
    ['dirtyspec_kvm_memory_region.guest_phys_addr', L.kvmRegion.guestPhysAddr],
    ['dirtyspec_kvm_memory_region.memory_size', L.kvmRegion.memorySize],
    ['dirtyspec_kvm_memory_region.userspace_addr', L.kvmRegion.userspaceAddr],
    ['dirtyspec_memslot', L.memslot.size],
    ['dirtyspec_memslot.npages', L.memslot.npages],
    ['dirtyspec_dirty_ring_collector_config', L.collectorConfig.size],
    ['dirtyspec_dirty_ring_collector_config.with_bitmap', L.collectorConfig.withBitmap],
    ['dirtyspec_dirty_ring_collector_config.n_memslots', L.collectorConfig.nMemslots],
    ['dirtyspec_dirty_ring_collector_config.memslots', L.collectorConfig.memslots],
    // ABI version 3: struct dirtyspec_kit unchanged (its last member still ends at 200), kvm-dirty-ring's structs.
    ['dirtyspec_kit.ring_store64', L.kit.callbacks + 19 * 8],
    ['dirtyspec_kvm_dirty_ring_config', L.kvmRingConfig.size],
    ['dirtyspec_kvm_dirty_ring_config.arch', L.kvmRingConfig.arch],
    ['dirtyspec_kvm_guest_write', L.guestWrite.size],
    ['dirtyspec_kvm_guest_write.slot', L.guestWrite.slot],
    ['dirtyspec_kvm_guest_write.reserved', L.guestWrite.reserved],
    ['dirtyspec_kvm_guest_write.offset', L.guestWrite.offset],
    // ABI version 4: signal_pending appended to struct dirtyspec_kit (208 bytes), where versions 2 and 3 end.
    ['dirtyspec_kit.signal_pending', L.kit.callbacks + 23 * 8],
    ['dirtyspec_kit.signal_pending', 200],
  ];
  for (const [name, ts] of pairs) assert.is(ts, c[name], name);
});

test('dirtyspec/linux.h: each accessor is one access to kit memory, a plain read-modify-write two (load, store), a local descriptor none', async () => {
  const peer = LibPeer.load(shim, { timeoutMs: 10_000 });
  try {
    const memory = createKitMemory();
    const port = { idr0: 0, idr3: 0, attachStream() {}, detachStream() {}, submit() {} };
    const driver = await (peer.adapters().get('smmu-driver') as SmmuDriverAdapter).create(memory, port, { asid: 1, dirtyCapable: false, pageGranular: false });
    if (typeof driver === 'number') throw new Error(`create refused with ${driver}`);
    const table = 0x4000_0000; // the kit's first frame: the fixture's table
    const seen: string[] = [];
    memory.hook = (kind, address) => void seen.push(`${kind} ${address - table}`);
    assert.is(await driver.map(0, 0, 4096, 1), 0);
    memory.hook = undefined;
    // fixtures/shim-accesses.c, statements 1 to 12.
    assert.equal(seen, ['load 0', 'store 0', 'store 8', 'load 8', 'compareExchange 8', 'exchange 16', 'fetchOr 16', 'fetchAnd 16', 'load 16', 'store 24', 'load 24', 'store 32']);
    assert.equal(
      [0, 1, 2, 3, 4].map((i) => memory.load(table + 8 * i)),
      [1n, 6n, 0x405n, 0x405n, 0x407n],
    );
  } finally {
    peer.close();
  }
});

test('[SPLIT-1] [SPLIT-2] [TRACK-4] [TRACK-6] [CLEAR-1] [NOLOSS-1] the kernel-style smmu-driver example conforms through --lib (exit 0)', async () => {
  const r = await runCli('run', '--lib', kernelC, '--runs', '100', '--seed', '1');
  assert.is(r.status, 0, r.out + r.err);
  assert.match(r.out, /profile smmu-driver \(adapter kernel-c-io-pgtable-arm\): conforms/);
});

test('--contract reaches a --lib run: the kernel-style example (strict) checked as linux-upstream fails its first step (TRACK-U1), and the report and replay name the contract', async () => {
  const r = await runCli('run', '--lib', kernelC, '--profile', 'smmu-driver', '--contract', 'linux-upstream', '--runs', '20', '--seed', '1');
  assert.is(r.status, 1, r.out);
  assert.match(r.out, /profile smmu-driver \(adapter kernel-c-io-pgtable-arm, contract linux-upstream\): DOES NOT CONFORM/);
  assert.match(r.out, /replay: .*--contract linux-upstream/);
});

test("[SPLIT-2] [NOLOSS-1] the kernel-style example's faulty split (a plain store for the swap) loses a dirty page: exit 1, at most 12 steps, and its replay fails again", async () => {
  const r = await runCli('run', '--lib', kernelCFaulty, '--runs', '300', '--seed', '7');
  assert.is(r.status, 1, r.out + r.err);
  assert.match(r.out, /LOST DIRTY PAGE \[[^\]]*HTTU-2/);
  const steps = /counterexample \((\d+) steps\)/.exec(r.out);
  assert.ok(steps, 'a counterexample');
  assert.ok(Number(steps[1]) <= 12, `${steps[1]} steps`);
  assert.match(r.out, /splitBlock\(/);
  const replay = /--lib (\S+) --seed (\d+) --replay '([^']+)'/.exec(r.out);
  assert.ok(replay, 'the replay command names --lib');
  const again = await runCli('run', '--profile', 'smmu-driver', '--lib', replay[1]!, '--seed', replay[2]!, '--replay', replay[3]!);
  assert.is(again.status, 1, again.out);
  assert.match(again.out, /LOST DIRTY PAGE/);
});

test('[IOVA-BITMAP-7] [VFIO-MAP-9] [VFIO-DETACH-1] the C example built as a library conforms through --lib on iova-bitmap and vfio-type1, the optional group pair found', async () => {
  // A long --timeout: the C example's MAP_DMA of a huge range (its dirty bitmap) takes seconds on a loaded machine.
  const r = await runCli('run', '--lib', cLib, '--runs', '50', '--seed', '1', '--timeout', '20000');
  assert.is(r.status, 0, r.out + r.err);
  assert.match(r.out, /profile iova-bitmap \(adapter dirtyspec-c-example\): conforms/);
  assert.match(r.out, /profile vfio-type1 \(adapter dirtyspec-c-example\): conforms/);
  assert.match(r.out, /pass VFIO-DETACH-1 /, 'dirtyspec_vfio_type1_detach_device and _attach_device are looked up and called');
});

test('[HTTU-2] [HTTU-5] [FAULT-1] [FAULT-2] an SMMU in C (walk, HTTU by cmpxchg, CDs cached until CFGI_CD) conforms through --lib on smmu-hw', async () => {
  const r = await runCli('run', '--lib', smmuHw, '--runs', '50', '--seed', '1');
  assert.is(r.status, 0, r.out + r.err);
  assert.match(r.out, /profile smmu-hw \(adapter fixture-smmu-hw\): conforms/);
});

test('an SMMU that answers a fault code the ABI does not define: undecided', async () => {
  const r = await runCli('run', '--lib', smmuHwBad, '--runs', '50', '--seed', '1');
  assert.is(r.status, 2, r.out + r.err);
  assert.match(r.out, /answered fault "DIRTYSPEC_FAULT code 9": must be one of translation, permission/);
});

/** The parts of a result that must not depend on how the implementation was reached. */
function essence(r: ProfileResult) {
  return { verdict: r.verdict, runs: r.runs, commands: r.commands, counterexample: r.counterexample, replay: r.replay, requirements: r.requirements };
}

async function both(lib: string, exec: string, profile: 'smmu-driver' | 'iova-bitmap' | 'kvm-dirty-log' | 'dirty-ring-collector', seed: number, runs: number): Promise<[ProfileResult, ProfileResult]> {
  const options = { runs, seed, timeoutMs: 10_000, maxCommands: 30 };
  const libPeer = LibPeer.load(lib, { timeoutMs: 10_000 });
  let viaLib: ProfileResult;
  try {
    viaLib = await runProfile(libPeer.adapters().get(profile) as Adapter, options);
  } finally {
    libPeer.close();
  }
  const peer = await ExecPeer.start(exec, { timeoutMs: 10_000 });
  try {
    return [viaLib, await runProfile(execAdapters(peer).get(profile)!, options)];
  } finally {
    await peer.close();
  }
}

test('[SPLIT-2] [NOLOSS-1] the same driver through --lib and through --exec: the same verdict and the same counterexample on the same seed', async () => {
  // Seed 5 fails within the first 32 commands, so the --exec half (a round trip per memory access) stays short.
  const [viaLib, viaExec] = await both(kernelCFaulty, join(build, 'kernel-c-exec-faulty'), 'smmu-driver', 5, 60);
  assert.is(viaLib.verdict, 'does-not-conform');
  assert.equal(essence(viaLib), essence(viaExec));
});

test('[IOVA-BITMAP-7] the C example through --lib and through --exec: the same verdict and the same counterexample on the same seed', async () => {
  const [viaLib, viaExec] = await both(cLibFaulty, join(build, 'dirtyspec-c-faulty'), 'iova-bitmap', 2, 300);
  assert.is(viaLib.verdict, 'does-not-conform');
  // The ABI (dirtyspec.h) has no iova_bitmap_for_each yet, the protocol has: IOVA-BITMAP-10 is reached over --exec only.
  const noForEach = (r: typeof viaExec) => ({ ...r, requirements: r.requirements.filter((x) => x.id !== 'IOVA-BITMAP-10') });
  assert.equal(essence(noForEach(viaLib)), essence(noForEach(viaExec)));
});

test('[KVM-LOG-5] [KVM-CLEAR-7] [NOLOSS-1] the C example through --lib conforms on kvm-dirty-log (ABI version 2: the vCPU races through vcpu_between) with every memslot transition taken', async () => {
  const r = await runCli('run', '--lib', cLib, '--profile', 'kvm-dirty-log', '--runs', '300', '--seed', '1', '--workers', '1');
  assert.is(r.status, 0, r.out + r.err);
  assert.match(r.out, /profile kvm-dirty-log \(adapter dirtyspec-c-example\): conforms {2}— 300 runs/);
  assert.match(r.out, /coverage kvmMemslot 70\/70 \(100%\)/);
});

test('[KVM-LOG-5] [NOLOSS-1] [NOLOSS-2] the faulty C example through --lib: GET takes a bitmap word with a plain load and store, a racing vCPU write is lost (at most 12 steps), and the replay command names --lib and fails again', async () => {
  const r = await runCli('run', '--lib', cLibFaulty, '--profile', 'kvm-dirty-log', '--runs', '300', '--seed', '1', '--workers', '1');
  assert.is(r.status, 1, r.out + r.err);
  assert.match(r.out, /LOST DIRTY PAGE \[KVM-LOG-5, NOLOSS-1, NOLOSS-2\]/);
  assert.match(r.out, /vCPU write at 0x[0-9a-f]+ \(racing, at the implementation's memory access \d+\)/);
  const steps = /counterexample \((\d+) steps\)/.exec(r.out);
  assert.ok(steps !== null && Number(steps[1]) <= 12, `${steps?.[1]} steps`);
  const replay = /--lib (\S+) --seed (\d+) --replay '([^']+)'/.exec(r.out);
  assert.ok(replay, 'the replay command names --lib');
  const again = await runCli('run', '--profile', 'kvm-dirty-log', '--lib', replay[1]!, '--seed', replay[2]!, '--replay', replay[3]!);
  assert.is(again.status, 1, again.out);
  assert.match(again.out, /LOST DIRTY PAGE \[KVM-LOG-5, NOLOSS-1, NOLOSS-2\]/);
});

test('[KVM-RING-13] [KVM-RING-14] [KVM-RING-20] [KVM-RING-21] [KVM-RING-22] [KVM-RING-23] the C collector through --lib conforms on dirty-ring-collector (ring accesses with their orders through ring_load32/64 and ring_store32)', async () => {
  const r = await runCli('run', '--lib', cLib, '--profile', 'dirty-ring-collector', '--runs', '300', '--seed', '1', '--workers', '1');
  assert.is(r.status, 0, r.out + r.err);
  assert.match(r.out, /profile dirty-ring-collector \(adapter dirtyspec-c-example\): conforms {2}— 300 runs/);
  // KVM-RING-21: the WITH_BITMAP pages reach the destination only through get_dirty_log.
  for (const id of ['KVM-RING-13', 'KVM-RING-14', 'KVM-RING-20', 'KVM-RING-21', 'KVM-RING-22', 'KVM-RING-23']) assert.match(r.out, new RegExp(`pass ${id} `));
});

test('[KVM-RING-22] [KVM-RING-23] the faulty C collector through --lib (slot and offset read before the flags, relaxed) loses a page: a counterexample of at most 6 steps', async () => {
  const r = await runCli('run', '--lib', cLibFaulty, '--profile', 'dirty-ring-collector', '--runs', '300', '--seed', '1', '--workers', '1');
  assert.is(r.status, 1, r.out + r.err);
  assert.match(r.out, /LOST DIRTY PAGE \[[^\]]*KVM-RING-22[^\]]*\]/);
  const steps = /counterexample \((\d+) steps\)/.exec(r.out);
  assert.ok(steps !== null && Number(steps[1]) <= 6, `${steps?.[1]} steps`);
});

test("[KVM-LOG-5] [NOLOSS-1] the C example's KVM dirty log through --lib and through --exec: the same verdict and the same counterexample on the same seed", async () => {
  const [viaLib, viaExec] = await both(cLibFaulty, join(build, 'dirtyspec-c-faulty'), 'kvm-dirty-log', 1, 300);
  assert.is(viaLib.verdict, 'does-not-conform');
  assert.equal(essence(viaLib), essence(viaExec));
});

test('[KVM-RING-22] the C collector through --lib and through --exec: the same verdict and the same counterexample on the same seed (faulty), the same verdict and counts (correct)', async () => {
  const [faultyLib, faultyExec] = await both(cLibFaulty, join(build, 'dirtyspec-c-faulty'), 'dirty-ring-collector', 1, 300);
  assert.is(faultyLib.verdict, 'does-not-conform');
  assert.equal(essence(faultyLib), essence(faultyExec));
  const [viaLib, viaExec] = await both(cLib, join(build, 'dirtyspec-c'), 'dirty-ring-collector', 2, 60);
  assert.is(viaLib.verdict, 'conforms');
  assert.equal(essence(viaLib), essence(viaExec));
});

test("a library of ABI version 1 (its hello refuses 4, 3 and 2 with -EPROTO) still loads: the kit offers 1 and hands it version 1's struct dirtyspec_kit (abi 1, size 136)", async () => {
  const peer = LibPeer.load(smmuHwV1, { timeoutMs: 10_000 });
  try {
    assert.is(peer.abi, 1);
    assert.equal(peer.profiles, ['smmu-hw']);
  } finally {
    peer.close();
  }
  // The fixture's create refuses any other abi or size: a conforming run is the proof it got version 1's.
  const r = await runCli('run', '--lib', smmuHwV1, '--runs', '20', '--seed', '1');
  assert.is(r.status, 0, r.out + r.err);
  assert.match(r.out, /profile smmu-hw \(adapter fixture-smmu-hw\): conforms/);
  const current = LibPeer.load(smmuHw, { timeoutMs: 10_000 });
  assert.is(current.abi, 4, 'a library of version 4 gets version 4');
  current.close();
});

test("a library of ABI version 3 (its hello refuses 4 with -EPROTO) still loads, with version 3's struct dirtyspec_kit (abi 3, size 200: no signal_pending)", async () => {
  const peer = LibPeer.load(smmuHwV2('ABI_V3'), { timeoutMs: 10_000 });
  try {
    assert.is(peer.abi, 3);
    // The fixture's create refuses any other abi or size: a conforming run is the proof it got version 3's.
    const r = await runProfile(peer.adapters().get('smmu-hw') as Adapter, { runs: 10, seed: 1, timeoutMs: 10_000, maxCommands: 20 });
    assert.is(r.verdict, 'conforms', r.undecided?.message ?? '');
  } finally {
    peer.close();
  }
});

test("a library of ABI version 2 still loads: one that refuses 3 with -EPROTO, and one that answers 2 to the offer of 3 (its hello ignores kit_abi), both get version 2's struct dirtyspec_kit (abi 2, size 200)", async () => {
  for (const v of ['ABI_V2', 'ABI_V2_LAX'] as const) {
    const peer = LibPeer.load(smmuHwV2(v), { timeoutMs: 10_000 });
    try {
      assert.is(peer.abi, 2, v);
      assert.equal(peer.profiles, ['smmu-hw']);
      // The fixture's create refuses any other abi or size: a conforming run is the proof it got version 2's.
      const r = await runProfile(peer.adapters().get('smmu-hw') as Adapter, { runs: 10, seed: 1, timeoutMs: 10_000, maxCommands: 20 });
      assert.is(r.verdict, 'conforms', `${v}: ${r.undecided?.message ?? ''}`);
    } finally {
      peer.close();
    }
  }
});

async function undecided(lib: string, reason: RegExp, ...flags: string[]): Promise<string> {
  const r = await runCli('run', '--lib', lib, '--runs', '20', '--seed', '1', ...flags);
  assert.is(r.status, 2, r.out + r.err);
  assert.match(r.out + r.err, reason);
  assert.equal(processesNaming(lib), [], 'no process left');
  return r.out + r.err;
}

test('a library that answers an errno out of range: undecided, as over --exec', async () => {
  await undecided(bad('ERRNO'), /map answered 7: an errno result must be 0 or a negative errno/);
});

test('a library that answers a dirty bitmap of the wrong length: undecided', async () => {
  await undecided(bad('LEN'), /answered a dirty bitmap of \d+ bytes; \d+ pages need exactly \d+ bytes/);
});

test('a library that makes an access with an unknown memory order: undecided, naming the access', async () => {
  await undecided(bad('ORDER'), /load\(0x[0-9a-f]+\): memory order 42 is not one of DIRTYSPEC_ORDER_\*/);
});

test('a collector that loads a ring field with an order a ring load has not (seq_cst), or stores a u64 at a field that is not 8-byte aligned: undecided, naming the access', async () => {
  await undecided(ringBad('ORDER'), /ring_load32\(0x[0-9a-f]+\): memory order 5: a ring load is DIRTYSPEC_ORDER_RELAXED \(0\) or DIRTYSPEC_ORDER_ACQUIRE \(2\)/);
  await undecided(ringBad('WIDTH'), /callback ring_store64\(0x[0-9a-f]+4, 0x0, 0x3\) failed in the kit: address 0x[0-9a-f]+4: a 64-bit access must be 8-byte aligned/);
});

test('a library of another ABI version, one of version 1 that names a profile of version 2, one of version 2 that names kvm-dirty-ring (version 3), or one that is not there: undecided before any run', async () => {
  await undecided(bad('ABI'), /dirtyspec_hello\(4\): the library implements ABI 99; this kit implements 4, 3, 2, 1/);
  await undecided(smmuHwV1Kvm, /dirtyspec_hello: profiles 0x11 must be a non-empty set of ABI version 1's DIRTYSPEC_PROFILE_\* bits \(0xf\)/);
  await undecided(smmuHwV2('ABI_V2_RING'), /dirtyspec_hello: profiles 0x21 must be a non-empty set of ABI version 2's DIRTYSPEC_PROFILE_\* bits \(0x5f\)/);
  await undecided(join(build, 'no-such-library.so'), /could not load .*no-such-library\.so/);
});

test('a library that names a profile without exporting its functions: undecided, naming the function', async () => {
  await undecided(smmuHwMissing, /Cannot find function 'dirtyspec_smmu_driver_create' in shared library: a profile the library's hello names needs all of its functions/);
});

test('--lib with --exec or --adapter is a usage error; a profile the library does not implement too', async () => {
  const both = await runCli('run', '--lib', kernelC, '--exec', 'true');
  assert.is(both.status, 2);
  assert.match(both.err, /--lib and --exec each name the implementation/);
  const missing = await runCli('run', '--lib', kernelC, '--profile', 'iova-bitmap');
  assert.is(missing.status, 2);
  assert.match(missing.err, /profile iova-bitmap is not implemented by --lib .* \(it implements: smmu-driver\)/);
});

test.run();
