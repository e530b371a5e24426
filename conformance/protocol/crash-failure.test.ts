// A crash or a hang of an --exec implementation on an input the spec says is valid is a
// failure (exit 1) when the same input crashes again in a fresh process: shrunk with a
// fresh process per attempt, the call in flight as the last step, charged to the
// requirement that covers it, with the replay command. One that does not come back in a
// fresh process stays undecided (exit 2). The implementation: the C example with the
// word index of Linux's iova_bitmap_offset_to_index before cb30dfa75d55, which divides
// by 64 * page_size, 0 from page size 2^58 on (fixtures/crash-iova-bitmap.c).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from '../cli/capture.ts';
import { replayArgs } from './fixtures/replay-args.ts';
import type { JsonReport } from '../report/json.ts';

const dir = mkdtempSync(join(tmpdir(), 'dirtyspec-crash-'));
const example = new URL('../examples/c/', import.meta.url).pathname;
const binary = join(dir, 'crash-iova-bitmap');
// The example's sources but its iova_bitmap.c and vfio_type1.c (the fixture includes them) and lib.c (the --lib entry points).
const sources = readdirSync(example)
  .filter((f) => f.endsWith('.c') && !['iova_bitmap.c', 'vfio_type1.c', 'lib.c'].includes(f))
  .map((f) => join(example, f));
execFileSync('cc', ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-o', binary, new URL('./fixtures/crash-iova-bitmap.c', import.meta.url).pathname, ...sources], { stdio: ['ignore', 'ignore', 'inherit'] });

const RUN = ['--profile', 'iova-bitmap', '--runs', '100', '--seed', '1', '--workers', '1'];

let crashRun: Promise<Awaited<ReturnType<typeof runCli>> & { json: JsonReport; junit: string; html: string }> | undefined;
/** The crashing implementation's run, with its three report files (run once, shared by the tests). */
function crashing() {
  crashRun ??= (async () => {
    const files = { json: join(dir, 'r.json'), junit: join(dir, 'r.xml'), html: join(dir, 'r.html') };
    const r = await runCli('run', '--exec', binary, ...RUN, '--json', files.json, '--junit', files.junit, '--html', files.html);
    return { ...r, json: JSON.parse(readFileSync(files.json, 'utf8')) as JsonReport, junit: readFileSync(files.junit, 'utf8'), html: readFileSync(files.html, 'utf8') };
  })();
  return crashRun;
}

test('[IOVA-BITMAP-3] a division by zero at a huge page size is a failure (exit 1), shrunk to the call in flight with the signal', async () => {
  const r = await crashing();
  assert.is(r.status, 1, r.out);
  assert.match(r.out, /SPEC VIOLATION \[IOVA-BITMAP-3\]/);
  assert.match(r.out, /got: {6}the process died \(signal SIGFPE\)/);
  const ce = r.json.profiles[0]!.counterexample!;
  assert.equal(ce.violation.req, ['IOVA-BITMAP-3']);
  assert.ok(ce.steps.length <= 3, `shrunk: ${ce.steps.map((s) => s.op).join('; ')}`);
  const last = ce.steps[ce.steps.length - 1]!;
  assert.match(last.op, /^iova_bitmap_set\(0x[0-9a-f]+, 0x[0-9a-f]+\)$/, 'the call in flight, with its arguments, is the last step');
  assert.is(last.answer, 'the process died (signal SIGFPE)');
  assert.equal(last.req, ['IOVA-BITMAP-3']);
  // Shrunk toward small page sizes: the smallest that wraps, 2^58.
  assert.is(ce.config.pageSize, '0x400000000000000');
  assert.equal(
    r.json.profiles[0]!.requirements.find((q) => q.id === 'IOVA-BITMAP-3'),
    { id: 'IOVA-BITMAP-3', verdict: 'fail' },
  );
});

test('[IOVA-BITMAP-3] the replay line of a crash fails again (exit 1) with the same counterexample, in a fresh process', async () => {
  const r = await crashing();
  const args = replayArgs(r.out);
  assert.ok(args.includes('--exec') && args.includes('--replay'), args.join(' '));
  const again = await runCli(...args);
  assert.is(again.status, 1, again.out);
  const steps = (out: string) => out.slice(out.indexOf('counterexample ('), out.indexOf('  config:'));
  assert.is(steps(again.out), steps(r.out));
});

test('a crash in the reports: the signal, the call as sent and the tail of standard error in text, JSON, JUnit and HTML', async () => {
  const r = await crashing();
  const crash = r.json.profiles[0]!.counterexample!.crash!;
  assert.is(crash.status, 'signal SIGFPE');
  assert.match(crash.call, /^iova-bitmap\.set \{"iova":"0x[0-9a-f]+","length":"0x[0-9a-f]+"\}$/);
  assert.match(crash.stderr, /crash-iova-bitmap: word index of iova 0x[0-9a-f]+: dividing by 64 \* page_size, which is 0 at page_size 2\^58/);
  for (const [name, text] of [
    ['text', r.out],
    ['JUnit', r.junit],
    ['HTML', r.html],
  ] as const) {
    assert.match(text, /crash: signal SIGFPE, in the call iova-bitmap\.set /, name);
    assert.match(text, /\| crash-iova-bitmap: word index of iova/, name);
  }
});

test('a crash that does not come back in a fresh process stays undecided (exit 2) and says so', async () => {
  const marker = join(dir, 'crashed-once');
  const r = await runCli('run', '--exec', `CRASH_ONCE=${marker} ${binary}`, ...RUN);
  assert.ok(existsSync(marker), 'it did crash once');
  assert.is(r.status, 2, r.out);
  assert.match(r.out, /UNDECIDED: .*the process exited \(signal SIGFPE/);
  assert.match(r.out, /the same input ran again in a fresh process and it passed, so the crash does not reproduce/);
  assert.not.match(r.out, /replay:/, 'no replay line: it would not fail');
});

test('[IOVA-BITMAP-3] a hang at the same input is a failure too (exit 1): no answer within --timeout, the process killed', async () => {
  const r = await runCli('run', '--exec', `CRASH_HANG=1 ${binary}`, ...RUN, '--timeout', '300');
  assert.is(r.status, 1, r.out);
  assert.match(r.out, /SPEC VIOLATION \[IOVA-BITMAP-3\]/);
  assert.match(r.out, /got: {6}no answer within 300 ms, killed/);
  assert.match(r.out, /^ {2}replay: /m);
});

test("[VFIO-DIRTY-8] a crash on an input the spec says must be refused (a bitmap page size of 0, -EINVAL) fails the refusal's rule", async () => {
  const r = await runCli('run', '--exec', `CRASH_VFIO=1 ${binary}`, '--profile', 'vfio-type1', '--runs', '100', '--seed', '1', '--workers', '1', '--timeout', '500');
  assert.is(r.status, 1, r.out);
  assert.match(r.out, /SPEC VIOLATION \[VFIO-DIRTY-8\]\n {4}expected: an answer \(-22 \(einval\)\)\n {4}got: {6}the process died \(signal SIGFPE\)/);
  assert.match(r.out, /crash: signal SIGFPE, in the call vfio-type1\.dirtyPages \{[^\n]*"pgsize":"0x0"/);
  assert.match(r.out, /\| crash-iova-bitmap: vfio_dirty_pages: size \/ bitmap\.pgsize with bitmap\.pgsize 0/);
  assert.match(r.out, /^ {2}replay: /m);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
