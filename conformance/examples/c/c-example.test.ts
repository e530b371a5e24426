// The C example: it builds with the machine's cc (into a temporary directory, so the
// checkout stays clean), the kit judges the correct build conforming on its four
// profiles over `--exec`, and the build with its deliberate faults (-DDIRTYSPEC_FAULT: the
// pre-fix window length of "vfio/iova_bitmap: Fix PAGE_SIZE unaligned bitmaps", the pre-fix
// page count of vfio_dma_rw (Linux 2c5af98592f6), a KVM_GET_DIRTY_LOG that takes a bitmap
// word with a plain load and store, a dirty-ring
// collector that reads slot and offset before the flags without acquire) not
// conforming, with a counterexample that names the requirement and replays.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from '../../cli/capture.ts';
import type { DirtyRingCollectorAdapter } from '../../profiles/dirty-ring-collector/types.ts';
import { runDirtyRingCollectorProfile } from '../../profiles/dirty-ring-collector/profile.ts';
import { execAdapters } from '../../protocol/exec-adapters.ts';
import { ExecPeer } from '../../protocol/peer.ts';
import type { IovaBitmapAdapter, IovaBitmapInstance } from '../../adapters/types.ts';
import { KitBuffer } from '../../engine/iova-bitmap-profile.ts';

const here = new URL('.', import.meta.url).pathname;
const build = mkdtempSync(join(tmpdir(), 'dirtyspec-c-example-'));
const correct = join(build, 'dirtyspec-c');
const faulty = join(build, 'dirtyspec-c-faulty');

test.before(() => {
  // The two binaries only: the libraries `make` also builds are for --lib (lib.test.ts builds and runs them).
  execFileSync('make', ['-s', '-C', here, `BUILD=${build}`, correct, faulty], { stdio: ['ignore', 'ignore', 'inherit'] });
});

test.after(() => {
  rmSync(build, { recursive: true, force: true });
});

test('make BUILD=DIR builds both binaries there; the binary answers hello, an unknown op with an error, and bye', () => {
  assert.ok(existsSync(correct), 'dirtyspec-c');
  assert.ok(existsSync(faulty), 'dirtyspec-c-faulty');
  const hello = execFileSync(correct, { input: '{"id":1,"op":"hello","protocol":1}\n{"id":2,"op":"no-such-op"}\n{"id":3,"op":"bye"}\n', encoding: 'utf8' });
  assert.equal(hello.trim().split('\n'), [
    '{"id":1,"result":{"protocol":1,"name":"dirtyspec-c-example","profiles":["iova-bitmap","vfio-type1","kvm-dirty-log","dirty-ring-collector"]}}',
    '{"id":2,"error":"unknown op \\"no-such-op\\""}',
    '{"id":3,"result":{}}',
  ]);
});

test('[VFIO-DETACH-1] the correct build conforms on iova-bitmap, vfio-type1, kvm-dirty-log and dirty-ring-collector (exit 0)', async () => {
  const r = await runCli('run', '--exec', JSON.stringify(correct), '--runs', '200', '--seed', '1');
  assert.is(r.status, 0, r.out);
  assert.match(r.out, /profile iova-bitmap \(adapter dirtyspec-c-example\): conforms/);
  assert.match(r.out, /profile vfio-type1 \(adapter dirtyspec-c-example\): conforms/);
  assert.match(r.out, /profile kvm-dirty-log \(adapter dirtyspec-c-example\): conforms/);
  assert.match(r.out, /profile dirty-ring-collector \(adapter dirtyspec-c-example\): conforms/);
  assert.match(r.out, /pass IOVA-BITMAP-10 /, 'the profile sends iova-bitmap.forEach: the C iova_bitmap_for_each is checked');
  assert.match(r.out, /pass VFIO-DETACH-1 /, 'create answers "groups": true: the device group leaves and rejoins over the protocol');
  assert.match(r.out, /verdict: conforms/);
});

test('[IOVA-BITMAP-2] [IOVA-BITMAP-10] the C window reads through buffer.readByte (a ragged end recorded again is read, not written) and walks with iova_bitmap_for_each window by window', async () => {
  const peer = await ExecPeer.start(JSON.stringify(correct), { timeoutMs: 10_000 });
  try {
    const adapter = execAdapters(peer).get('iova-bitmap') as IovaBitmapAdapter;
    let reads = 0;
    let writes = 0;
    const buf = new (class extends KitBuffer {
      override readByte(page: number, offset: number): number {
        reads++;
        return super.readByte(page, offset);
      }
      override fillBytes(page: number, start: number, end: number, value: number): void {
        writes++;
        super.fillBytes(page, start, end, value);
      }
    })(3 * 4096);
    const offset = 4090; // the bitmap crosses a user page
    buf.bytes.fill(0, offset, offset + 32);
    // 256 pages of 4 KiB at 0x100000, a pin budget of 1 page: windows of 6 bytes, then 26.
    const b = await adapter.create(buf, { iova: 0x10_0000n, length: 256n * 4096n, pageSize: 4096n, offset, bitmapSize: 32, maxPinnedPages: 1 });
    assert.ok(typeof b === 'object');
    const inst = b as IovaBitmapInstance;
    assert.is(await inst.set(0x10_0000n + 3n * 4096n, 2n * 4096n), 0); // bits 3..4: a ragged byte
    assert.is(buf.bytes[offset], 0b11000);
    assert.ok(reads >= 1 && writes >= 1, `${reads} reads, ${writes} writes`);
    const [r0, w0] = [reads, writes];
    assert.is(await inst.set(0x10_0000n + 4n * 4096n, 1n), 0); // bit 4 again: read, nothing to write
    assert.is(reads, r0 + 1);
    assert.is(writes, w0);
    const windows: [bigint, bigint][] = [];
    const ret = await inst.forEach!((iova, length) => {
      windows.push([iova, length]);
      return { set: [{ iova: iova + length - 1n, length: 1n }], ret: 0 };
    });
    assert.is(ret, 0);
    assert.equal(windows, [
      [0x10_0000n, 48n * 4096n],
      [0x10_0000n + 48n * 4096n, 208n * 4096n],
    ]);
    assert.is(buf.bytes[offset + 5], 0x80, 'bit 47: the last page of the first window');
    assert.is(buf.bytes[offset + 31], 0x80, 'bit 255: the last page of the range');
    assert.is(buf.pinned, 0, 'nothing pinned after the walk');
    assert.is(await inst.forEach!(() => ({ set: [], ret: -5 })), -5, "the callback's error stops the walk and is returned");
    await inst.free();
    assert.equal(buf.strayWrites, []);
  } finally {
    await peer.close();
  }
});

test('the faulty build does not conform (exit 1): a 2-step counterexample naming the requirement, whose replay fails again', async () => {
  const r = await runCli('run', '--exec', JSON.stringify(faulty), '--profile', 'iova-bitmap', '--runs', '300', '--seed', '2');
  assert.is(r.status, 1, r.out);
  assert.match(r.out, /profile iova-bitmap \(adapter dirtyspec-c-example\): DOES NOT CONFORM/);
  assert.match(r.out, /SPEC VIOLATION \[[^\]]*IOVA-BITMAP-7[^\]]*\]/);
  assert.match(r.out, /got: +stray write to a page that is not pinned: user page \d+/);
  const offset = /counterexample \(2 steps\):\n +1\. iova_bitmap_alloc\(.*user offset (\d+)/.exec(r.out);
  assert.ok(offset, 'the counterexample allocates a bitmap');
  assert.is.not(Number(offset[1]) % 4096, 0, 'the bitmap does not start on a page boundary');
  // The replay command the report prints runs that one sequence again, with the same verdict.
  const replay = /--seed (-?\d+) --replay '([^']+)'/.exec(r.out);
  assert.ok(replay, 'a replay command');
  const again = await runCli('run', '--exec', JSON.stringify(faulty), '--profile', 'iova-bitmap', '--seed', replay[1]!, '--replay', replay[2]!);
  assert.is(again.status, 1, again.out);
  assert.match(again.out, /stray write to a page that is not pinned/);
});

test('[VFIO-RW-3] [NOLOSS-1] the faulty build counts the pages of a vfio_dma_rw write as before Linux 2c5af98592f6 (whole pages copied, from the first): a page lost (exit 1, at most 12 steps), and the replay fails again', async () => {
  const r = await runCli('run', '--exec', JSON.stringify(faulty), '--profile', 'vfio-type1', '--runs', '100', '--seed', '3');
  assert.is(r.status, 1, r.out);
  assert.match(r.out, /profile vfio-type1 \(adapter dirtyspec-c-example\): DOES NOT CONFORM/);
  assert.match(r.out, /LOST DIRTY PAGE \[[^\]]*VFIO-RW-3[^\]]*\]/);
  const steps = /counterexample \((\d+) steps\)/.exec(r.out);
  assert.ok(steps !== null && Number(steps[1]) <= 12, r.out);
  assert.match(r.out, /vfio_dma_rw\(write \d+ bytes at 0x[0-9a-f]+\)/);
  const replay = /--seed (-?\d+) --replay '([^']+)'/.exec(r.out);
  assert.ok(replay, 'a replay command');
  const again = await runCli('run', '--exec', JSON.stringify(faulty), '--profile', 'vfio-type1', '--seed', replay[1]!, '--replay', replay[2]!);
  assert.is(again.status, 1, again.out);
  assert.match(again.out, /LOST DIRTY PAGE \[[^\]]*VFIO-RW-3/);
});

test('[VFIO-CLEAR-2] [VFIO-UNMAP-1] built as upstream Linux before v5.12 (-DVFIO_TYPE1_NO_MANUAL_CLEAR -DVFIO_TYPE1_BEFORE_V5_12: 11 and 9 answered 0, their flags refused) the container conforms on seeds 1-5, manual clear not reached', async () => {
  const dir = join(build, 'linux-v5.11-uapi');
  execFileSync('make', ['-s', '-C', here, `BUILD=${dir}`, 'CFLAGS=-DVFIO_TYPE1_NO_MANUAL_CLEAR -DVFIO_TYPE1_BEFORE_V5_12', join(dir, 'dirtyspec-c')], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (const seed of ['1', '2', '3', '4', '5']) {
    const r = await runCli('run', '--exec', JSON.stringify(join(dir, 'dirtyspec-c')), '--profile', 'vfio-type1', '--runs', '40', '--seed', seed);
    assert.is(r.status, 0, `seed ${seed}: ${r.out}`);
    assert.match(r.out, /not reached by this run \(no verdict\): [^\n]*VFIO-CLEAR-3, VFIO-CLEAR-4, VFIO-CLEAR-5, VFIO-CLEAR-6/);
  }
});

test('kvm-dirty-log through --exec: the default run count conforms with every memslot transition taken, the vcpu.between races included', async () => {
  const r = await runCli('run', '--exec', JSON.stringify(correct), '--profile', 'kvm-dirty-log', '--seed', '4', '--workers', '1');
  assert.is(r.status, 0, r.out);
  assert.match(r.out, /profile kvm-dirty-log \(adapter dirtyspec-c-example\): conforms {2}— 1000 runs/);
  assert.match(r.out, /coverage kvmMemslot 70\/70 \(100%\)/);
  assert.match(r.out, /pass NOLOSS-2 /);
});

test('[KVM-LOG-5] [NOLOSS-1] [NOLOSS-2] the faulty build takes a GET_DIRTY_LOG bitmap word with a plain load and store: a racing vCPU write is lost (exit 1, at most 12 steps), and the replay fails again', async () => {
  const r = await runCli('run', '--exec', JSON.stringify(faulty), '--profile', 'kvm-dirty-log', '--runs', '300', '--seed', '1', '--workers', '1');
  assert.is(r.status, 1, r.out);
  assert.match(r.out, /LOST DIRTY PAGE \[KVM-LOG-5, NOLOSS-1, NOLOSS-2\]/);
  assert.match(r.out, /vCPU write at 0x[0-9a-f]+ \(racing, at the implementation's memory access \d+\)/);
  const steps = /counterexample \((\d+) steps\)/.exec(r.out);
  assert.ok(steps !== null && Number(steps[1]) <= 12, `${steps?.[1]} steps`);
  const replay = /--seed (-?\d+) --replay '([^']+)'/.exec(r.out);
  assert.ok(replay, 'a replay command');
  const again = await runCli('run', '--exec', JSON.stringify(faulty), '--profile', 'kvm-dirty-log', '--seed', replay[1]!, '--replay', replay[2]!);
  assert.is(again.status, 1, again.out);
  assert.match(again.out, /LOST DIRTY PAGE \[KVM-LOG-5, NOLOSS-1, NOLOSS-2\]/);
});

test('[KVM-RING-13] [KVM-RING-14] [KVM-RING-20] [KVM-RING-22] [KVM-RING-23] dirty-ring-collector through --exec: the C collector (load-acquire of flags, store-release of RESET, reset before copy) conforms', async () => {
  const r = await runCli('run', '--exec', JSON.stringify(correct), '--profile', 'dirty-ring-collector', '--runs', '150', '--seed', '5', '--workers', '1');
  assert.is(r.status, 0, r.out);
  assert.match(r.out, /profile dirty-ring-collector \(adapter dirtyspec-c-example\): conforms {2}— 150 runs/);
  for (const id of ['KVM-RING-13', 'KVM-RING-14', 'KVM-RING-20', 'KVM-RING-21', 'KVM-RING-22', 'KVM-RING-23']) assert.match(r.out, new RegExp(`pass ${id} `));
});

test('[KVM-RING-22] [KVM-RING-23] the faulty collector reads slot and offset before the flags, without acquire: a lost page in a shortest counterexample (at most 6 steps), whose replay fails again', async () => {
  const r = await runCli('run', '--exec', JSON.stringify(faulty), '--profile', 'dirty-ring-collector', '--runs', '300', '--seed', '1', '--workers', '1');
  assert.is(r.status, 1, r.out);
  assert.match(r.out, /LOST DIRTY PAGE \[[^\]]*KVM-RING-22[^\]]*\]/);
  assert.match(r.out, /harvested and reset but that page was never copied after/);
  const steps = /counterexample \((\d+) steps\)/.exec(r.out);
  // setup, one guest burst, a sync that harvests stale fields, the final sync.
  assert.ok(steps !== null && Number(steps[1]) <= 6, `${steps?.[1]} steps`);
  const replay = /--seed (-?\d+) --replay '([^']+)'/.exec(r.out);
  assert.ok(replay, 'a replay command');
  const again = await runCli('run', '--exec', JSON.stringify(faulty), '--profile', 'dirty-ring-collector', '--seed', replay[1]!, '--replay', replay[2]!);
  assert.is(again.status, 1, again.out);
  assert.match(again.out, /LOST DIRTY PAGE/);
});

test('[KVM-RING-22] the faulty collector survives with delays off: only relaxed stores made visible late show the missing acquire', async () => {
  const peer = await ExecPeer.start(JSON.stringify(faulty), { timeoutMs: 10_000 });
  try {
    const adapter = execAdapters(peer).get('dirty-ring-collector') as DirtyRingCollectorAdapter;
    const r = await runDirtyRingCollectorProfile(adapter, { runs: 150, seed: 1, timeoutMs: 10_000, maxCommands: 30, delays: false });
    assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample));
    assert.is(r.runs, 150);
  } finally {
    await peer.close();
  }
});

test.run();
