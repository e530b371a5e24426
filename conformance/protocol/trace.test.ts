// --record and check-trace: a trace of a run against the reference passes; the same trace
// with one owed page removed from one report fails at that report's line; a truncated,
// malformed or foreign trace is undecided (exit 2) with the line number.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from '../cli/capture.ts';
import { servedReference } from './fixtures/served-reference.ts';

/** VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP (include/uapi/linux/vfio.h). */
const GET_BITMAP = 1 << 2;
const dir = mkdtempSync(join(tmpdir(), 'dirtyspec-trace-'));
// The reference served from one bundled file (fixtures/served-reference.ts): started many times here.
const serveReference = servedReference();

const cli = runCli;

const vfioTrace = join(dir, 'vfio.jsonl');
let lines: string[] = [];

test.before(async () => {
  const r = await cli('run', '--profile', 'vfio-type1', '--runs', '40', '--seed', '5', '--record', vfioTrace);
  assert.is(r.status, 0, r.out);
  lines = readFileSync(vfioTrace, 'utf8').split('\n').slice(0, -1);
});

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

test('a trace recorded from a run against the reference passes check-trace', async () => {
  assert.match(lines[0]!, /^\{"trace":"dirtyspec","version":1,"profile":"vfio-type1","adapter":"reference","seed":5,"contract":"strict"\}$/);
  const r = await cli('check-trace', vfioTrace);
  assert.is(r.status, 0, r.out);
  assert.match(r.out, /conforms\n {2}vfio-type1 \(reference\): 40 sequences, \d+ calls/);
});

/**
 * The first GET_BITMAP report (errno 0, 4 KiB bits) that includes a page the device wrote
 * earlier in the same sequence: that page is owed, so the report must hold it (NOLOSS-1).
 */
function findOwedBit(): { index: number; bit: number } {
  let written = new Set<bigint>();
  for (const [index, text] of lines.entries()) {
    const v = JSON.parse(text) as { sequence?: number; call?: string; args?: Record<string, unknown>; result?: Record<string, unknown> };
    if (v.sequence !== undefined) written = new Set();
    if (v.call === 'deviceDmaWrite') written.add(BigInt(v.args!.iova as string) & ~0xfffn);
    const range = v.args?.range as { iova: string; size: string; bitmap: { pgsize: string } } | undefined;
    // Only writes since the last call that can report, clear or stop are surely owed (a page
    // of a block reported again after its clear is a false dirty the spec allows).
    const reset = v.call === 'unmapDma' || (v.call === 'dirtyPages' && (((v.args!.flags as number) & GET_BITMAP) === 0 || v.result!.errno !== 0));
    if (reset) written = new Set();
    if (v.call !== 'dirtyPages' || ((v.args!.flags as number) & GET_BITMAP) === 0 || v.result!.errno !== 0 || range === undefined || range.bitmap.pgsize !== '0x1000') continue;
    const base = BigInt(range.iova);
    const end = base + BigInt(range.size);
    for (const page of written) {
      if (page < base || page >= end) continue;
      const bit = Number((page - base) >> 12n);
      const bytes = v.result!.bitmap as string;
      if ((parseInt(bytes.slice(2 * (bit >> 3), 2 * (bit >> 3) + 2), 16) >> (bit & 7)) & 1) return { index, bit };
    }
  }
  throw new Error('no report of a written page in the trace: record more runs');
}

test("[NOLOSS-1] [VFIO-DIRTY-13] the same trace with one owed page removed from one report fails at that report's line", async () => {
  const { index, bit } = findOwedBit();
  const v = JSON.parse(lines[index]!) as { result: { bitmap: string } };
  const at = 2 * (bit >> 3);
  const byte = parseInt(v.result.bitmap.slice(at, at + 2), 16) & ~(1 << (bit & 7));
  v.result.bitmap = v.result.bitmap.slice(0, at) + byte.toString(16).padStart(2, '0') + v.result.bitmap.slice(at + 2);
  const changed = [...lines];
  changed[index] = JSON.stringify(v);
  const file = write('one-bit-removed.jsonl', `${changed.join('\n')}\n`);
  const r = await cli('check-trace', file);
  assert.is(r.status, 1, r.out);
  assert.ok(r.out.startsWith(`${file}:${index + 1}: DOES NOT CONFORM`), r.out);
  assert.match(r.out, /violates [^\n]*NOLOSS-1/);
  assert.match(r.out, /LOSS|loss/);
});

test('a trace cut in the middle of a line is undecided (exit 2) at that line', async () => {
  const file = write('cut.jsonl', `${lines.slice(0, 30).join('\n')}\n${lines[30]!.slice(0, 25)}`);
  const r = await cli('check-trace', file);
  assert.is(r.status, 2);
  assert.match(r.out, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:31: UNDECIDED: line 31: the last line does not end with a newline: the trace is truncated`));
});

test('a trace cut at a line boundary inside a sequence is undecided, naming the call the run expected', async () => {
  // Cut right after the first call line of the last sequence.
  const lastSeq = lines.findLastIndex((l) => l.startsWith('{"sequence"'));
  const file = write('short.jsonl', `${lines.slice(0, lastSeq + 2).join('\n')}\n`);
  const r = await cli('check-trace', file);
  assert.is(r.status, 2, r.out);
  assert.match(r.out, new RegExp(`:${lastSeq + 3}: UNDECIDED: .*the trace has no more calls for this sequence \\(truncated\\?\\)`));
});

test('a line that is not JSON is undecided with its line number', async () => {
  const changed = [...lines];
  changed[11] = '{"call": "mapDma", oops';
  const r = await cli('check-trace', write('garbled.jsonl', `${changed.join('\n')}\n`));
  assert.is(r.status, 2);
  assert.match(r.out, /:12: UNDECIDED: line 12: not JSON/);
});

test('a line that breaks the trace schema is undecided, naming the field', async () => {
  const changed = [...lines];
  const i = changed.findIndex((l) => l.startsWith('{"call"'));
  changed[i] = JSON.stringify({ call: 'mapDma', args: {} });
  const r = await cli('check-trace', write('schema.jsonl', `${changed.join('\n')}\n`));
  assert.is(r.status, 2);
  assert.match(r.out, new RegExp(`:${i + 1}: UNDECIDED: line ${i + 1}: .*"result"`));
});

test('a trace whose calls are not the run the kit makes is undecided: it does not describe the sequence', async () => {
  const changed = [...lines];
  const i = changed.findIndex((l) => l.includes('"call":"mapDma"'));
  changed[i] = changed[i]!.replace(/"iova":"0x([0-9a-f]+)"/, (_, h: string) => `"iova":"0x${(BigInt(`0x${h}`) + 0x1000n).toString(16)}"`);
  const r = await cli('check-trace', write('foreign.jsonl', `${changed.join('\n')}\n`));
  assert.is(r.status, 2, r.out);
  assert.match(r.out, new RegExp(`:${i + 1}: UNDECIDED: .*does not describe this sequence`));
});

test('smmu-hw: a recorded run, the memory callbacks of the SMMU included, passes check-trace', async () => {
  const file = join(dir, 'hw.jsonl');
  const r = await cli('run', '--profile', 'smmu-hw', '--runs', '15', '--seed', '9', '--record', file);
  assert.is(r.status, 0, r.out);
  assert.match(readFileSync(file, 'utf8'), /"callback":"memory\.compareExchange"/);
  const c = await cli('check-trace', file);
  assert.is(c.status, 0, c.out);
});

test('smmu-driver: a recorded run, argument commands (wrong fields) included, passes check-trace', async () => {
  const file = join(dir, 'driver.jsonl');
  const r = await cli('run', '--profile', 'smmu-driver', '--runs', '40', '--seed', '3', '--record', file);
  assert.is(r.status, 0, r.out);
  assert.match(readFileSync(file, 'utf8'), /"command":"MapArgumentsCommand"/);
  const c = await cli('check-trace', file);
  assert.is(c.status, 0, c.out);
});

test('a run under --contract records the contract in its header and check-trace judges by it; the same trace judged strict does not conform', async () => {
  const file = join(dir, 'upstream.jsonl');
  const r = await cli('run', '--profile', 'smmu-driver', '--contract', 'linux-upstream', '--runs', '20', '--seed', '3', '--record', file);
  assert.is(r.status, 0, r.out);
  const text = readFileSync(file, 'utf8');
  assert.match(text.slice(0, text.indexOf('\n')), /"contract":"linux-upstream"\}$/);
  const c = await cli('check-trace', file);
  assert.is(c.status, 0, c.out);
  // Without the header's contract the trace is judged strict: linux-upstream's CDs have HA and HD from attach on (TRACK-7 differs).
  const strict = write('upstream-as-strict.jsonl', text.replace(',"contract":"linux-upstream"', ''));
  const s = await cli('check-trace', strict);
  assert.is(s.status, 1, s.out);
});

test('a header naming a contract its profile does not have is undecided (exit 2), naming it', async () => {
  const r = await cli('run', '--profile', 'iova-bitmap', '--contract', 'linux', '--runs', '10', '--seed', '3', '--record', join(dir, 'iova-linux.jsonl'));
  assert.is(r.status, 0, r.out);
  const text = readFileSync(join(dir, 'iova-linux.jsonl'), 'utf8');
  assert.match(text, /"contract":"linux"/);
  const bad = write('iova-rfc.jsonl', text.replace('"contract":"linux"', '"contract":"rfc-2021"'));
  const c = await cli('check-trace', bad);
  assert.is(c.status, 2, c.out);
  assert.match(c.out + c.err, /the header's contract "rfc-2021" is not a contract of profile iova-bitmap/);
});

test('a trace recorded over the protocol (--exec) passes check-trace like an in-process one', async () => {
  const file = join(dir, 'exec.jsonl');
  const r = await cli('run', '--exec', serveReference, '--profile', 'iova-bitmap', '--runs', '20', '--seed', '4', '--record', file);
  assert.is(r.status, 0, r.out);
  assert.match(readFileSync(file, 'utf8'), /"callback":"buffer\.pin"/);
  const c = await cli('check-trace', file);
  assert.is(c.status, 0, c.out);
});

test('a trace must be whole: a header alone, a missing end line, a left-out or repeated sequence are each undecided', async () => {
  const header = `${lines[0]}\n`;
  assert.match((await cli('check-trace', write('header-only.jsonl', header))).out, /:2: UNDECIDED: .*ends before the end line of the section started at line 1/);
  const seqLines = lines.map((l, i) => (l.startsWith('{"sequence"') ? i : -1)).filter((i) => i >= 0);
  // Cut exactly before the 5th sequence: every sequence kept is whole, the end line is missing.
  const cut = await cli('check-trace', write('cut-at-sequence.jsonl', `${lines.slice(0, seqLines[4]).join('\n')}\n`));
  assert.is(cut.status, 2);
  assert.match(cut.out, /ends before the end line .*: it is truncated/);
  // Sequence 3 left out (a failing one could be deleted this way).
  const gap = [...lines.slice(0, seqLines[2]), ...lines.slice(seqLines[3])];
  const g = await cli('check-trace', write('gap.jsonl', `${gap.join('\n')}\n`));
  assert.is(g.status, 2);
  assert.match(g.out, new RegExp(`:${seqLines[2]! + 1}: UNDECIDED: .*sequence 4, expected 3: sequences are numbered`));
  // The end line's count must match.
  const end = lines.findIndex((l) => l.startsWith('{"end"'));
  const count = [...lines];
  count[end] = JSON.stringify({ end: 'dirtyspec', sequences: 39 });
  assert.match((await cli('check-trace', write('count.jsonl', `${count.join('\n')}\n`))).out, /the end line counts 39 sequences, the section has 40/);
});

test('a sequence input that is not the shape the kit generates is undecided, naming the field, never blamed on the implementation', async () => {
  const changed = [...lines];
  const i = changed.findIndex((l) => l.startsWith('{"sequence"'));
  changed[i] = JSON.stringify({ sequence: 1, input: {} });
  const r = await cli('check-trace', write('input.jsonl', `${changed.join('\n')}\n`));
  assert.is(r.status, 2);
  assert.match(r.out, new RegExp(`:${i + 1}: UNDECIDED: line ${i + 1}: input lacks the field "config"`));
  changed[i] = `{"sequence":1,"input":{"config":{"hwDirty":true},"ops":${'['.repeat(5000)}1${']'.repeat(5000)}}}`;
  const d = await cli('check-trace', write('deep.jsonl', `${changed.join('\n')}\n`));
  assert.is(d.status, 2);
  assert.match(d.out, /nested deeper than 32 levels/);
});

test('a trace of a run of several profiles has a section each and passes; flags may come before FILE', async () => {
  const file = join(dir, 'two.jsonl');
  const r = await cli('run', '--profile', 'iova-bitmap', '--profile', 'vfio-type1', '--runs', '10', '--seed', '2', '--record', file);
  assert.is(r.status, 0, r.out);
  const c = await cli('check-trace', '--timeout', '5000', file);
  assert.is(c.status, 0, c.out);
  assert.match(c.out, /iova-bitmap \(reference\): 10 sequences[\s\S]*vfio-type1 \(reference\): 10 sequences/);
});

test('check-trace without a file, or with a missing one, exits 2', async () => {
  assert.is((await cli('check-trace')).status, 2);
  const r = await cli('check-trace', join(dir, 'nope.jsonl'));
  assert.is(r.status, 2);
  assert.match(r.err, /cannot read/);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
