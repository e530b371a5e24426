// The ghost decides the no-loss and precision requirements only where a report could have
// failed them: a requirement whose check compared nothing is not reached, not passed.
import { test } from 'uvu';
import * as fc from 'fast-check';
import * as assert from 'uvu/assert';
import { DirtyGhost, PageRuns } from './ghost.ts';
import { Violation } from './violation.ts';

const PAGE = 0x1000;

function tracking(): { ghost: DirtyGhost; reached: Set<string> } {
  const reached = new Set<string>();
  const ghost = new DirtyGhost(reached);
  ghost.trackingStarted();
  return { ghost, reached };
}

function report(ghost: DirtyGhost, iova: number, size: number, pages: number[], duringCall: number[] = []): void {
  ghost.beginReport();
  for (const p of duringCall) ghost.dmaWrite(p);
  ghost.endReport(iova, size, PageRuns.of(pages), true, 'any', 'NOLOSS-1');
}

function violationOf(f: () => void): Violation {
  try {
    f();
  } catch (e) {
    if (e instanceof Violation) return e;
    throw e;
  }
  throw new Error('no violation');
}

test('[NOLOSS-1] a report over a range where nothing is owed leaves NOLOSS-1 not reached', () => {
  const { ghost, reached } = tracking();
  ghost.dmaWrite(0x10 * PAGE);
  report(ghost, 0, 8 * PAGE, []);
  assert.not.ok(reached.has('NOLOSS-1'));
});

test('[NOLOSS-1] a report over a range holding an owed page reaches NOLOSS-1', () => {
  const { ghost, reached } = tracking();
  ghost.dmaWrite(PAGE);
  report(ghost, 0, 8 * PAGE, [PAGE]);
  assert.ok(reached.has('NOLOSS-1'));
});

test('[NOLOSS-3] an unmap report reaches NOLOSS-3, not NOLOSS-1, when a page of its range is owed', () => {
  const { ghost, reached } = tracking();
  ghost.dmaWrite(0);
  ghost.beginReport();
  ghost.endReport(0, PAGE, PageRuns.of([0]), true, 'any', 'NOLOSS-3');
  assert.equal(
    [...reached].filter((id) => id.startsWith('NOLOSS')),
    ['NOLOSS-3'],
  );
});

test('[NOLOSS-2] a write landing in the range while the report runs reaches NOLOSS-2', () => {
  const { ghost, reached } = tracking();
  report(ghost, 0, 8 * PAGE, [], [2 * PAGE]);
  assert.ok(reached.has('NOLOSS-2'));
});

test('[NOLOSS-2] a write outside the range while the report runs does not reach NOLOSS-2', () => {
  const { ghost, reached } = tracking();
  report(ghost, 0, 8 * PAGE, [], [9 * PAGE]);
  assert.not.ok(reached.has('NOLOSS-2'));
});

test('[NOLOSS-2] a raced write the clearing report left out stays owed, and a later report without it is a loss naming NOLOSS-2', () => {
  const { ghost } = tracking();
  report(ghost, 0, 8 * PAGE, [], [2 * PAGE]);
  assert.ok(ghost.owed.has(2 * PAGE));
  const v = violationOf(() => report(ghost, 0, 8 * PAGE, []));
  assert.equal(v.kind, 'loss');
  assert.equal(v.req, ['NOLOSS-1', 'NOLOSS-2']);
});

test('[NOLOSS-1] a page owed before the report and missing from it is a loss naming NOLOSS-1 alone', () => {
  const { ghost } = tracking();
  ghost.dmaWrite(2 * PAGE);
  const v = violationOf(() => report(ghost, 0, 8 * PAGE, []));
  assert.equal(v.req, ['NOLOSS-1']);
});

test('[PRECISION-1] any report over a non-empty range reaches PRECISION-1; a reported page never written is a false dirty', () => {
  const reached = new Set<string>();
  const ghost = new DirtyGhost(reached);
  ghost.trackingStarted();
  ghost.beginReport();
  const v = violationOf(() => ghost.endReport(0, 8 * PAGE, PageRuns.of([3 * PAGE]), true, () => false, 'NOLOSS-1'));
  assert.ok(reached.has('PRECISION-1'));
  assert.equal(v.kind, 'precision');
  assert.equal(v.req, ['PRECISION-1']);
});

test('PageRuns.within keeps the pages both sets hold', () => {
  const a = PageRuns.of([0, PAGE, 2 * PAGE, 5 * PAGE]);
  const b = PageRuns.of([PAGE, 2 * PAGE, 3 * PAGE, 5 * PAGE]);
  assert.equal([...a.within(b)], [PAGE, 2 * PAGE, 5 * PAGE]);
  assert.equal([...a.within(new PageRuns())], []);
});

test('PageRuns.fromBitmap holds exactly the set bits, at any offset of the view and any length', () => {
  // Runs of clear and set bytes (the word-at-a-time path) mixed with single bits; the view starts at byte 0 to 3 of its buffer.
  const bytes = fc.array(fc.oneof(fc.constant(0), fc.constant(0xff), fc.integer({ min: 0, max: 255 })), { maxLength: 64 });
  const runsOf = fc.array(fc.tuple(bytes, fc.nat(9)), { maxLength: 6 }).map((parts) => parts.flatMap(([b, k]) => [...b, ...Array<number>(k * 4).fill(b.length % 2 === 0 ? 0 : 0xff)]));
  fc.assert(
    fc.property(runsOf, fc.nat(3), (content, offset) => {
      const buffer = new Uint8Array(offset + content.length);
      buffer.set(content, offset);
      const bitmap = buffer.subarray(offset);
      const base = 0x8000_0000;
      const want: number[] = [];
      for (let i = 0; i < content.length * 8; i++) if ((content[i >> 3]! >> (i & 7)) & 1) want.push(base + i * PAGE);
      const got = PageRuns.fromBitmap(bitmap, base);
      assert.equal([...got], want);
      assert.is(got.size, want.length);
    }),
  );
});

test.run();
