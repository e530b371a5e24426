// The C example: it builds with the machine's cc (into a temporary directory, so the
// checkout stays clean), the kit judges the correct build conforming on its three
// profiles over `--exec`, and the build with its deliberate fault (-DDIRTYSPEC_FAULT, the
// pre-fix window length of "vfio/iova_bitmap: Fix PAGE_SIZE unaligned bitmaps") not
// conforming, with a counterexample that names the requirement and replays.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from '../../cli/capture.ts';

const here = new URL('.', import.meta.url).pathname;
const build = mkdtempSync(join(tmpdir(), 'dirtyspec-c-example-'));
const correct = join(build, 'dirtyspec-c');
const faulty = join(build, 'dirtyspec-c-faulty');

test.before(() => {
  execFileSync('make', ['-s', '-C', here, `BUILD=${build}`], { stdio: ['ignore', 'ignore', 'inherit'] });
});

test.after(() => {
  rmSync(build, { recursive: true, force: true });
});

test('make BUILD=DIR builds both binaries there; the binary answers hello, an unknown op with an error, and bye', () => {
  assert.ok(existsSync(correct), 'dirtyspec-c');
  assert.ok(existsSync(faulty), 'dirtyspec-c-faulty');
  const hello = execFileSync(correct, { input: '{"id":1,"op":"hello","protocol":1}\n{"id":2,"op":"no-such-op"}\n{"id":3,"op":"bye"}\n', encoding: 'utf8' });
  assert.equal(hello.trim().split('\n'), ['{"id":1,"result":{"protocol":1,"name":"dirtyspec-c-example","profiles":["iova-bitmap","vfio-type1","kvm-dirty-log"]}}', '{"id":2,"error":"unknown op \\"no-such-op\\""}', '{"id":3,"result":{}}']);
});

test('the correct build conforms on iova-bitmap, vfio-type1 and kvm-dirty-log (exit 0)', async () => {
  const r = await runCli('run', '--exec', JSON.stringify(correct), '--runs', '200', '--seed', '1');
  assert.is(r.status, 0, r.out);
  assert.match(r.out, /profile iova-bitmap \(adapter dirtyspec-c-example\): conforms/);
  assert.match(r.out, /profile vfio-type1 \(adapter dirtyspec-c-example\): conforms/);
  assert.match(r.out, /profile kvm-dirty-log \(adapter dirtyspec-c-example\): conforms/);
  assert.match(r.out, /verdict: conforms/);
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

test('the fault is in iova-bitmap only: the faulty build still conforms on vfio-type1', async () => {
  const r = await runCli('run', '--exec', JSON.stringify(faulty), '--profile', 'vfio-type1', '--runs', '100', '--seed', '3');
  assert.is(r.status, 0, r.out);
  assert.match(r.out, /profile vfio-type1 \(adapter dirtyspec-c-example\): conforms/);
});

test('kvm-dirty-log through --exec: the default run count conforms with every memslot transition taken, the vcpu.between races included', async () => {
  const r = await runCli('run', '--exec', JSON.stringify(correct), '--profile', 'kvm-dirty-log', '--seed', '4', '--workers', '1');
  assert.is(r.status, 0, r.out);
  assert.match(r.out, /profile kvm-dirty-log \(adapter dirtyspec-c-example\): conforms {2}— 1000 runs/);
  assert.match(r.out, /coverage kvmMemslot 70\/70 \(100%\)/);
  assert.match(r.out, /pass NOLOSS-2 /);
});

test.run();
