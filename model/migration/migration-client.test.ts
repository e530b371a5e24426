import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createType1Container, VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE } from '../../impl/vfio/type1-container.ts';
import { migrate, MigrationMismatch, type MigrationEvent, type MigrationMode, type MigrationOptions, type MigrationPort } from './migration-client.ts';

const PG = 0x1000;
const RW = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
// Two mappings: A, 8 pages; B, 4 pages, apart from A.
const A = { iova: 0x10_0000, size: 8 * PG, vaddr: 0x8000_0000 };
const B = { iova: 0x40_0000, size: 4 * PG, vaddr: 0x9000_0000 };
const RANGES = [A, B].map(({ iova, size }) => ({ iova, size }));
const PAGES = RANGES.flatMap(({ iova, size }) => Array.from({ length: size / PG }, (_, i) => iova + i * PG));

/** The reference container, a device writing through the SMMU and bumping the source page's version, and the destination. */
function system(): { port: MigrationPort; write: (page: number) => void; stopped: () => boolean; source: Map<number, number> } {
  const t = createType1Container({ pageGranular: true });
  for (const m of [A, B]) assert.is(t.container.mapDma(RW, m.vaddr, m.iova, m.size).errno, 0);
  const source = new Map<number, number>();
  const dest = new Map<number, number>();
  let stopped = false;
  const write = (page: number) => {
    if (stopped) throw new Error('the device wrote after it was stopped');
    const r = t.smmu.dmaWrite(0, page + 0x10);
    if (!r.ok) throw new Error(`DMA write to 0x${page.toString(16)} faulted`);
    source.set(page, (source.get(page) ?? 0) + 1);
  };
  const port: MigrationPort = {
    checkExtension: (e) => t.container.checkExtension(e),
    dirtyPages: (flags, range) => t.container.dirtyPages(flags, range),
    readSource: (p) => source.get(p) ?? 0,
    writeDestination: (p, v) => void dest.set(p, v),
    readDestination: (p) => dest.get(p),
    stopDevice: () => void (stopped = true),
  };
  return { port, write, stopped: () => stopped, source };
}

/** A small deterministic PRNG (xorshift32). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

const MODES: MigrationMode[] = ['read-and-clear', 'manual-clear'];

for (const mode of MODES) {
  test(`[NOLOSS-1] [NOLOSS-2] [VFIO-CLEAR-4] [VFIO-CLEAR-5] ${mode}: the destination equals the source under a device writing between every call and page copy`, () => {
    for (let seed = 1; seed <= 40; seed++) {
      const s = system();
      const rand = rng(seed);
      let writes = 0;
      const onEvent = (e: MigrationEvent) => {
        if (e.final || s.stopped()) return;
        // At every point (between ioctls, between a page's clear and its copy, after a copy) the device may write 0-2 pages.
        for (let n = Math.floor(rand() * 3); n > 0; n--) {
          if (rand() < 0.5) continue;
          s.write(PAGES[Math.floor(rand() * PAGES.length)]!);
          writes++;
        }
      };
      const r = migrate(s.port, { mode, ranges: RANGES, threshold: 2, maxRounds: 12, onEvent });
      assert.ok(writes > 0, `seed ${seed}: the device wrote`);
      assert.ok(r.pagesSent >= PAGES.length, `seed ${seed}: the bulk round sent every page`);
      assert.is(r.perRound[0], PAGES.length);
    }
  });

  test(`[NOLOSS-2] ${mode}: any interleaving of device writes with the client's steps loses nothing (property)`, () => {
    fc.assert(interleavings(mode, 'before-copy'), { numRuns: 150 });
  });
}

/**
 * Device writes at client steps: [step, page index], index -1 meaning the page the client
 * is working on at that step (if any), which is where a wrong order shows.
 */
function interleavings(mode: MigrationMode, clearOrder: 'before-copy' | 'after-copy') {
  return fc.property(fc.array(fc.tuple(fc.nat(200), fc.integer({ min: -1, max: PAGES.length - 1 })), { maxLength: 60 }), (plan) => {
    const s = system();
    const at = new Map<number, number[]>();
    for (const [step, page] of plan) at.set(step, [...(at.get(step) ?? []), page]);
    let step = 0;
    migrate(s.port, {
      mode,
      clearOrder,
      ranges: RANGES,
      threshold: 1,
      maxRounds: 8,
      onEvent: (e) => {
        if (e.final || s.stopped()) return;
        const current = 'page' in e ? e.page : undefined;
        for (const i of at.get(step++) ?? []) {
          const page = i < 0 ? current : PAGES[i];
          if (page !== undefined) s.write(page);
        }
      },
    });
  });
}

test('[NOLOSS-2] the same property finds a lost page when the client copies before it clears', () => {
  const r = fc.check(interleavings('manual-clear', 'after-copy'), { numRuns: 1000, seed: 42 });
  assert.ok(r.failed, 'no interleaving lost a page');
  assert.instance(r.errorInstance, MigrationMismatch);
});

test('[VFIO-CLEAR-1] manual-clear negotiates the extension; read-and-clear never uses GET_BITMAP_NOCLEAR or CLEAR_BITMAP', () => {
  for (const mode of MODES) {
    const s = system();
    const ops = new Set<string>();
    const onEvent = (e: MigrationEvent) => {
      if (e.at === 'ioctl') ops.add(e.op);
      if (e.at === 'copy' && e.when === 'after' && e.round === 0 && e.page === A.iova) s.write(B.iova); // reported by round 1's sync
    };
    migrate(s.port, { mode, ranges: RANGES, onEvent });
    if (mode === 'manual-clear') assert.equal([...ops].sort(), ['CLEAR_BITMAP', 'GET_BITMAP_NOCLEAR', 'START', 'STOP']);
    else assert.equal([...ops].sort(), ['GET_BITMAP', 'START', 'STOP']);
  }
});

// The page P = A + 2 PG is written during round 0, so round 1's sync reports it.
// In round 1 the device writes P again at one point of P's processing.
const P = A.iova + 2 * PG;
function rewriteP(mode: MigrationMode, when: (e: MigrationEvent) => boolean, extra: Partial<MigrationOptions> = {}) {
  const s = system();
  let done = false;
  const onEvent = (e: MigrationEvent) => {
    if (e.round === 0 && e.at === 'copy' && e.when === 'after' && e.page === A.iova) s.write(P);
    if (!done && e.round === 1 && !e.final && when(e)) {
      s.write(P);
      done = true;
    }
  };
  const r = migrate(s.port, { mode, ranges: RANGES, threshold: 1, maxRounds: 10, onEvent, ...extra });
  assert.ok(done, 'the second write happened');
  return r;
}
const afterCopyOfP = (e: MigrationEvent) => e.at === 'copy' && e.when === 'after' && e.page === P;

test('[NOLOSS-2] [VFIO-CLEAR-5] copying a page before clearing it loses a write made between the copy and the clear', () => {
  // Clear before copy (the rule): the write after P's copy is after its clear too, so round 2's sync reports it.
  const ok = rewriteP('manual-clear', afterCopyOfP);
  assert.equal(ok.perRound.slice(0, 3), [PAGES.length, 1, 1]);
  // Copy before clear: the write lands between the copy and the clear; the clear forgets it.
  try {
    rewriteP('manual-clear', afterCopyOfP, { clearOrder: 'after-copy' });
    assert.unreachable('the migration should have lost page P');
  } catch (err) {
    assert.instance(err, MigrationMismatch);
    assert.is((err as MigrationMismatch).page, P);
    assert.match((err as Error).message, `0x${P.toString(16)}`);
  }
});

test('[VFIO-CLEAR-4] [VFIO-CLEAR-5] a write between the sync and the copy is sent twice with read-and-clear, once with manual clear', () => {
  const beforeP = (e: MigrationEvent) => e.at === 'page' && e.page === P;
  const legacy = rewriteP('read-and-clear', beforeP);
  const manual = rewriteP('manual-clear', beforeP);
  // Round 1 sends P with its new contents in both modes; legacy's sync already cleared
  // the bit, so the write re-dirtied P and round 2 sends it again for nothing.
  assert.equal(legacy.perRound, [PAGES.length, 1, 1, 0]);
  assert.equal(manual.perRound, [PAGES.length, 1, 0]);
  assert.is(legacy.pagesSent - manual.pagesSent, 1);
});

test('[NOLOSS-1] the final check names the first differing page', () => {
  const s = system();
  // A destination that drops one page's copy: the client must notice.
  const Q = B.iova + PG;
  const port: MigrationPort = { ...s.port, writeDestination: (p, v) => (p === Q ? undefined : s.port.writeDestination(p, v)) };
  assert.throws(
    () => migrate(port, { mode: 'manual-clear', ranges: RANGES }),
    (err: unknown) => err instanceof MigrationMismatch && err.page === Q,
  );
});

test.run();
