// A crash or a hang of an --exec implementation in a call the profile covers with a
// requirement is a failure when it comes back in a fresh process, on the smmu and KVM
// profiles too (crash-failure.test.ts has iova-bitmap and vfio-type1): the reference
// served over the protocol, killing itself with SIGSEGV on one input
// (fixtures/crash-served.ts: smmu-driver's block map, smmu-hw's DMA write from 4 MiB,
// kvm-dirty-log's CLEAR with a partial last word, kvm-dirty-ring's reset of two entries). The fixture is bundled once with esbuild (tsx's own), so that each
// fresh process, one per shrinking attempt, starts in plain node.
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from '../cli/capture.ts';
import { replayArgs } from './fixtures/replay-args.ts';

const dir = mkdtempSync(join(tmpdir(), 'dirtyspec-crash-served-'));
const bundle = join(dir, 'crash-served.mjs');
const served = `${JSON.stringify(process.execPath)} ${JSON.stringify(bundle)}`;
// --timeout 2000: a fresh process's first calls are slow on a loaded machine (its code not yet compiled); at 1000, with the
// other half of npm test starting processes too, a call of these six runs at once outlasted the engine's backstop (twice
// the limit) and a run was undecided. Shrinking a crash takes at least 5 s, ten time limits at most.
const RUN = ['--runs', '20', '--seed', '1', '--workers', '1', '--timeout', '2000'];
const marker = join(dir, 'crashed-once');
// The runs at once, started by the first test (uvu imports every test file before it runs
// any): each mostly waits for its processes, and shrinking a crash has a budget of wall time.
type Runs = Record<'smmu' | 'smmuHang' | 'kvm' | 'kvmOnce' | 'hw' | 'ring', ReturnType<typeof runCli>>;
let started: Runs | undefined;
function runs(): Runs {
  if (started !== undefined) return started;
  buildSync({ entryPoints: [new URL('./fixtures/crash-served.ts', import.meta.url).pathname], bundle: true, platform: 'node', format: 'esm', outfile: bundle, logLevel: 'warning' });
  // schemas.ts reads the protocol's schemas beside itself: beside the bundle.
  symlinkSync(new URL('./schema', import.meta.url).pathname, join(dir, 'schema'));
  started = {
    smmu: runCli('run', '--exec', served, '--profile', 'smmu-driver', ...RUN),
    smmuHang: runCli('run', '--exec', `CRASH_HANG=1 ${served}`, '--profile', 'smmu-driver', ...RUN),
    kvm: runCli('run', '--exec', served, '--profile', 'kvm-dirty-log', ...RUN),
    kvmOnce: runCli('run', '--exec', `CRASH_ONCE=${marker} ${served}`, '--profile', 'kvm-dirty-log', ...RUN),
    hw: runCli('run', '--exec', served, '--profile', 'smmu-hw', ...RUN),
    ring: runCli('run', '--exec', served, '--profile', 'kvm-dirty-ring', ...RUN),
  };
  return started;
}

test('[MAP-1] smmu-driver: a map that kills the driver (SIGSEGV) fails the map rule (exit 1), the map the last step, with a replay line', async () => {
  const r = await runs().smmu;
  assert.is(r.status, 1, r.out);
  assert.match(r.out, /SPEC VIOLATION \[MAP-[123]\]\n {4}expected: an answer \(an errno\)\n {4}got: {6}the process died \(signal SIGSEGV\)/);
  assert.match(r.out, /crash: signal SIGSEGV, in the call smmu-driver\.map \{[^\n]*"size":(2097152|4194304)/);
  assert.match(r.out, /\| crash-served: map\(0x[0-9a-f]+, size 0x[0-9a-f]+\): a block map/, 'the tail of its standard error');
  assert.match(r.out, /\d+\. map\(0x[0-9a-f]+, pa 0x[0-9a-f]+, 0x(200000|400000), prot [13]\) {2}-> implementation: the process died \(signal SIGSEGV\)[^\n]*\[MAP-[123]\]\n {2}config:/, 'the map in flight is the last step');
  // The replay line is valid shell naming this implementation (crash-failure.test.ts runs one again).
  const args = replayArgs(r.out);
  assert.ok(args.includes('--exec') && args.includes(served) && args.includes('--replay'), args.join(' '));
});

test('[MAP-1] smmu-driver: a hang in the same map is a failure too (exit 1): no answer within --timeout, the process killed', async () => {
  const r = await runs().smmuHang;
  assert.is(r.status, 1, r.out);
  assert.match(r.out, /SPEC VIOLATION \[MAP-[123]\]/);
  assert.match(r.out, /got: {6}no answer within 2000 ms, killed/, "the peer's limit decides, not the engine's per-call timer");
  assert.match(r.out, /^ {2}replay: /m);
});

test('[KVM-CLEAR-3] kvm-dirty-log: a CLEAR_DIRTY_LOG that kills KVM fails the rule of its answer (exit 1), shrunk, the call in flight last, with a replay line', async () => {
  const r = await runs().kvm;
  assert.is(r.status, 1, r.out);
  assert.match(r.out, /SPEC VIOLATION \[KVM-CLEAR-\d+/);
  assert.match(r.out, /got: {6}the process died \(signal SIGSEGV\)/);
  assert.match(r.out, /crash: signal SIGSEGV, in the call kvm-dirty-log\.clearDirtyLog /);
  assert.match(
    r.out,
    /\d+\. KVM_CLEAR_DIRTY_LOG\(slot 0x[0-9a-f]+, first_page \d+, num_pages \d+, \d+ bytes\) {2}-> implementation: the process died \(signal SIGSEGV\)[^\n]*\[KVM-CLEAR-\d+[^\n]*\n {2}config:/,
    'the clear in flight is the last step',
  );
  assert.match(r.out, /^ {2}replay: npx dirtyspec run --profile kvm-dirty-log --exec /m);
});

test('kvm-dirty-log: a crash that does not come back in a fresh process stays undecided (exit 2), without a replay line', async () => {
  const r = await runs().kvmOnce;
  assert.ok(existsSync(marker), 'it did crash once');
  assert.is(r.status, 2, r.out);
  assert.match(r.out, /UNDECIDED: .*the process exited \(signal SIGSEGV/);
  assert.match(r.out, /the same input ran again in a fresh process and it passed, so the crash does not reproduce/);
  assert.not.match(r.out, /replay:/);
});

test('[HTTU-2] [HTTU-4] smmu-hw: a DMA write that kills the SMMU fails the rules of a write (exit 1), the access the last step', async () => {
  const r = await runs().hw;
  assert.is(r.status, 1, r.out);
  assert.match(r.out, /SPEC VIOLATION \[HTTU-2, HTTU-4\]\n {4}expected: an answer \(a translation or a fault\)\n {4}got: {6}the process died \(signal SIGSEGV\)/);
  assert.match(r.out, /\d+\. DMA write at 0x[0-9a-f]+ \(stream \d+\) {2}-> implementation: the process died \(signal SIGSEGV\)[^\n]*\n {2}config:/);
  assert.match(r.out, /^ {2}replay: /m);
});

test('[KVM-RING-15] [KVM-RING-19] kvm-dirty-ring: a KVM_RESET_DIRTY_RINGS that kills KVM fails the reset rules (exit 1), the reset the last step', async () => {
  const r = await runs().ring;
  assert.is(r.status, 1, r.out);
  assert.match(r.out, /SPEC VIOLATION \[KVM-RING-15, KVM-RING-19\]/);
  assert.match(r.out, /\d+\. [^\n]*KVM_RESET_DIRTY_RINGS {2}-> implementation: the process died \(signal SIGSEGV\)[^\n]*\n {2}config:/);
  assert.match(r.out, /^ {2}replay: /m);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
