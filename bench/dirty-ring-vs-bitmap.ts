// The dirty ring against the dirty bitmap, on the same guest write patterns, from the
// reference implementations (impl/kvm/dirty-ring/: the KVM side with the ring on, or off
// so that its memslot keeps a dirty bitmap with KVM_GET_DIRTY_LOG; the reference
// collector). The questions of the ring's v3 thread (<20200109145729.32898-1-peterx@redhat.com>):
// what is gained, and how does the ring handle fully or largely dirty memory?
//
// Grid: memory 1 GiB .. 1 TiB (as 4 KiB page counts), the fraction of pages dirtied per
// sync interval 0.01% .. 100%, 1 / 8 / 64 vCPUs, sequential and scattered writes. Per sync:
// the bytes the collector reads, the entries (or set bits) it harvests, the pages
// re-protected, the vCPU exits for a full ring (KVM_EXIT_DIRTY_RING_FULL; the VMM reaps all
// rings then, as QEMU's reaper does), and the time on this machine. The length of the
// interval enters only through the distinct pages dirtied in it: a page written again
// before the sync costs neither mechanism anything (it is writable until re-protected), so
// "fraction per interval" is the interval axis; `--repeat 4` checks that.
//
// Points with more than MEASURE_LIMIT dirty pages, or more than 2^26 pages, are not run:
// their figures are extrapolated from the measured points (bytes and counts are exact
// formulas checked against every measured point; time per entry and per bitmap byte are
// the measured medians) and marked '~'.
//
// Prints the table and the crossover dirty fraction per memory size (where the ring's
// collector reads as many bytes, and where it spends as much time, as the bitmap's), and
// writes an SVG plot (default scratch/dirty-ring-vs-bitmap.svg; --svg PATH).
//
// Run: node --expose-gc --import tsx bench/dirty-ring-vs-bitmap.ts [--quick] [--svg PATH] [--repeat N]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DirtyRingCollector } from '../impl/kvm/dirty-ring/collector.ts';
import { KVM_CAP_DIRTY_LOG_RING, KVM_EXIT_DIRTY_RING_FULL, KvmDirtyRingVm } from '../impl/kvm/dirty-ring/kvm-ring.ts';
import { FlatRingMemory, type RingMemory } from '../impl/kvm/dirty-ring/ring-memory.ts';
import type { Figure, Scenario } from './index.ts';

const RING_BYTES = 65536; // 4096 entries per vCPU: api.rst's recommended minimum
const GIB = 262144; // pages of 4 KiB
export const MEMORY_SIZES = [
  { name: '1 GiB', pages: GIB },
  { name: '16 GiB', pages: 16 * GIB },
  { name: '256 GiB', pages: 256 * GIB },
  { name: '1 TiB', pages: 1024 * GIB },
];
export const FRACTIONS = [0.0001, 0.001, 0.01, 0.1, 1];
export const VCPUS = [1, 8, 64];
export const PATTERNS = ['sequential', 'scattered'] as const;
const MEASURE_LIMIT = 1 << 20;
const MAX_MEASURED_PAGES = 1 << 26;

export interface SyncFigures {
  bytesRead: number;
  harvested: number;
  reprotected: number;
  exits: number;
  ms: number;
}

export interface Point {
  readonly memory: string;
  readonly pages: number;
  readonly fraction: number;
  readonly vcpus: number;
  readonly pattern: (typeof PATTERNS)[number];
  readonly ring: SyncFigures;
  readonly bitmap: SyncFigures;
  readonly measured: boolean;
}

/** Counts the bytes one side loads (the collector's reads of the ring). */
class CountingMemory implements RingMemory {
  bytes = 0;
  constructor(private readonly m: RingMemory) {}
  load32(a: number, o: 'relaxed' | 'acquire'): number {
    this.bytes += 4;
    return this.m.load32(a, o);
  }
  load64(a: number, o: 'relaxed' | 'acquire'): bigint {
    this.bytes += 8;
    return this.m.load64(a, o);
  }
  store32(a: number, v: number, o: 'relaxed' | 'release'): void {
    this.m.store32(a, v, o);
  }
  store64(a: number, v: bigint, o: 'relaxed' | 'release'): void {
    this.m.store64(a, v, o);
  }
}

/** The pages dirtied in one interval: `count` distinct pages, in order or scattered (an odd stride modulo a power of two is a permutation). */
function pagesOf(pattern: Point['pattern'], pages: number, count: number, round: number): Int32Array {
  const out = new Int32Array(count);
  const start = (round * 7919) % pages;
  const stride = pattern === 'sequential' ? 1 : (2654435761 % pages) | 1;
  for (let i = 0; i < count; i++) out[i] = (start + i * stride) % pages;
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** One interval with the ring: the guest writes, full rings exit and are reaped, then the sync. Figures of the last of `rounds` intervals; time the fastest after the first (warm-up). */
function measureRing(pages: number, dirty: number, vcpus: number, pattern: Point['pattern'], repeat: number, rounds = 3): SyncFigures {
  const flat = new FlatRingMemory(RING_BYTES * vcpus);
  const kvm = new KvmDirtyRingVm(flat, { arch: 'x86' });
  if (kvm.enableCap(KVM_CAP_DIRTY_LOG_RING, RING_BYTES) !== 0) throw new Error('enable ring');
  const reader = new CountingMemory(flat);
  const collector = new DirtyRingCollector(reader);
  for (let v = 0; v < vcpus; v++) {
    kvm.createVcpu(v * RING_BYTES);
    collector.addRing({ base: v * RING_BYTES, entries: RING_BYTES / 16 });
  }
  if (kvm.setMemslot(0, 0, pages, true) !== 0) throw new Error('memslot');
  const host = { resetDirtyRings: () => kvm.resetDirtyRings(), copyPage: () => {} };
  let out: SyncFigures | undefined;
  for (let round = 0; round < rounds; round++) {
    const list = pagesOf(pattern, pages, dirty, round);
    const per = Math.ceil(dirty / vcpus);
    const [b0, h0, r0] = [reader.bytes, collector.harvestedEntries, kvm.reprotected];
    let exits = 0;
    const t = performance.now();
    for (let v = 0; v < vcpus; v++) {
      const mine: { slot: number; offset: number }[] = [];
      for (let i = v * per; i < Math.min(dirty, (v + 1) * per); i++) for (let k = 0; k < repeat; k++) mine.push({ slot: 0, offset: list[i]! });
      // KVM_RUN in chunks of one ring's worth of writes, so a resumed run copies little.
      for (let c = 0; c < mine.length; c += RING_BYTES / 16) {
        let chunk = mine.slice(c, c + RING_BYTES / 16);
        while (chunk.length > 0) {
          const r = kvm.run(v, chunk);
          chunk = chunk.slice(r.done);
          if (r.exitReason === KVM_EXIT_DIRTY_RING_FULL) {
            exits++;
            collector.sync(host);
          }
        }
      }
    }
    collector.sync(host);
    const took = performance.now() - t;
    // Figures of the last round; time the fastest round after the first (JIT warm-up).
    if (round > 0) out = { bytesRead: reader.bytes - b0, harvested: collector.harvestedEntries - h0, reprotected: kvm.reprotected - r0, exits, ms: Math.min(took, out?.ms ?? Infinity) };
  }
  return out!;
}

/** One interval with the bitmap: the guest writes (no exits), then KVM_GET_DIRTY_LOG and the collector's scan of it. */
function measureBitmap(pages: number, dirty: number, vcpus: number, pattern: Point['pattern'], repeat: number, rounds = 3): SyncFigures {
  const kvm = new KvmDirtyRingVm(new FlatRingMemory(16), { arch: 'x86' });
  for (let v = 0; v < vcpus; v++) kvm.createVcpu(0);
  if (kvm.setMemslot(0, 0, pages, true) !== 0) throw new Error('memslot');
  let out: SyncFigures | undefined;
  for (let round = 0; round < rounds; round++) {
    const list = pagesOf(pattern, pages, dirty, round);
    const per = Math.ceil(dirty / vcpus);
    const t = performance.now();
    for (let v = 0; v < vcpus; v++) {
      const mine: { slot: number; offset: number }[] = [];
      for (let i = v * per; i < Math.min(dirty, (v + 1) * per); i++) for (let k = 0; k < repeat; k++) mine.push({ slot: 0, offset: list[i]! });
      kvm.run(v, mine);
    }
    const log = kvm.getDirtyLog(0);
    if (log.errno !== 0 || log.bitmap === undefined) throw new Error(`KVM_GET_DIRTY_LOG: ${log.errno}`);
    // The collector reads every word of the bitmap and sends the pages of its set bits.
    const words = new BigUint64Array(log.bitmap.buffer, log.bitmap.byteOffset, log.bitmap.byteLength / 8);
    let set = 0;
    for (let w = 0; w < words.length; w++) {
      let x = words[w]!;
      while (x !== 0n) {
        x &= x - 1n;
        set++;
      }
    }
    const took = performance.now() - t;
    if (round > 0) out = { bytesRead: log.bitmap.byteLength, harvested: set, reprotected: set, exits: 0, ms: Math.min(took, out?.ms ?? Infinity) };
  }
  return out!;
}

/** The exact byte and count formulas (checked against every measured point). */
function expected(pages: number, dirty: number, vcpus: number, exits: number): { ring: Omit<SyncFigures, 'ms' | 'exits'>; bitmap: Omit<SyncFigures, 'ms' | 'exits'> } {
  // Ring: flags (4) + slot (4) + offset (8) per entry, plus one flags load per ring per reap at its first non-dirty entry.
  const reaps = exits + 1;
  return {
    ring: { bytesRead: dirty * 16 + reaps * vcpus * 4, harvested: dirty, reprotected: dirty },
    bitmap: { bytesRead: Math.ceil(pages / 64) * 8, harvested: dirty, reprotected: dirty },
  };
}

/** vCPU exits for a full ring: each vCPU exits each time its share of the interval's pages fills soft_limit entries. */
function expectedExits(dirty: number, vcpus: number): number {
  const soft = RING_BYTES / 16 - 64;
  const per = Math.ceil(dirty / vcpus);
  let exits = 0;
  for (let v = 0; v < vcpus; v++) exits += Math.floor(Math.max(0, Math.min(per, dirty - v * per)) / soft);
  return exits;
}

export function runGrid(options: { quick?: boolean; repeat?: number; log?: (m: string) => void } = {}): Point[] {
  const repeat = options.repeat ?? 1;
  const sizes = options.quick ? MEMORY_SIZES.slice(0, 2) : MEMORY_SIZES;
  const vcpuList = options.quick ? [1, 8] : VCPUS;
  const points: Point[] = [];
  const ringNsPerEntry: number[] = [];
  const bitmapNsPerByte: number[] = [];
  const bitmapNsPerPage: number[] = [];
  const pending: Omit<Point, 'ring' | 'bitmap' | 'measured'>[] = [];
  for (const size of sizes) {
    for (const fraction of FRACTIONS) {
      for (const vcpus of vcpuList) {
        for (const pattern of PATTERNS) {
          const dirty = Math.max(1, Math.round(size.pages * fraction));
          const base = { memory: size.name, pages: size.pages, fraction, vcpus, pattern };
          if (dirty > MEASURE_LIMIT || size.pages > MAX_MEASURED_PAGES) {
            pending.push(base);
            continue;
          }
          options.log?.(`${size.name} ${fraction * 100}% ${vcpus} vCPU ${pattern}`);
          const ring = measureRing(size.pages, dirty, vcpus, pattern, repeat);
          const bitmap = measureBitmap(size.pages, dirty, vcpus, pattern, repeat);
          const want = expected(size.pages, dirty, vcpus, ring.exits);
          const exits = expectedExits(dirty, vcpus);
          for (const k of ['bytesRead', 'harvested', 'reprotected'] as const) {
            if (ring[k] !== want.ring[k]) throw new Error(`ring ${k} at ${JSON.stringify(base)}: measured ${ring[k]}, formula ${want.ring[k]}`);
            if (bitmap[k] !== want.bitmap[k]) throw new Error(`bitmap ${k} at ${JSON.stringify(base)}: measured ${bitmap[k]}, formula ${want.bitmap[k]}`);
          }
          if (ring.exits !== exits) throw new Error(`ring exits at ${JSON.stringify(base)}: measured ${ring.exits}, formula ${exits}`);
          if (dirty >= 1000) ringNsPerEntry.push((ring.ms * 1e6) / dirty);
          if (dirty >= 1000) bitmapNsPerPage.push(((bitmap.ms * 1e6) / dirty) * (dirty / size.pages));
          bitmapNsPerByte.push((bitmap.ms * 1e6) / bitmap.bytesRead);
          points.push({ ...base, ring, bitmap, measured: true });
        }
      }
    }
  }
  // Extrapolation: the ring's time per entry (it scales with dirty pages), the bitmap's per
  // page dirtied plus per bitmap byte (its scan and GET_DIRTY_LOG scale with memory).
  const perEntry = median(ringNsPerEntry);
  const perByte = median(bitmapNsPerByte.filter((_, i) => points[i]!.fraction <= 0.001));
  const perDirty = median(points.filter((p) => p.fraction >= 0.1 && p.measured).map((p) => (p.bitmap.ms * 1e6 - perByte * p.bitmap.bytesRead) / (p.pages * p.fraction)));
  for (const base of pending) {
    const dirty = Math.max(1, Math.round(base.pages * base.fraction));
    const exits = expectedExits(dirty, base.vcpus);
    const want = expected(base.pages, dirty, base.vcpus, exits);
    points.push({
      ...base,
      ring: { ...want.ring, exits, ms: (perEntry * dirty) / 1e6 },
      bitmap: { ...want.bitmap, exits: 0, ms: (perByte * want.bitmap.bytesRead + Math.max(0, perDirty) * dirty) / 1e6 },
      measured: false,
    });
  }
  return points;
}

/** The dirty fraction (log-interpolated) at which the ring's figure reaches the bitmap's, per memory size (1 vCPU, scattered writes). */
export function crossovers(points: readonly Point[], by: 'bytesRead' | 'ms'): { memory: string; fraction: number | undefined }[] {
  const out: { memory: string; fraction: number | undefined }[] = [];
  for (const size of MEMORY_SIZES) {
    const row = points.filter((p) => p.memory === size.name && p.vcpus === 1 && p.pattern === 'scattered').sort((a, b) => a.fraction - b.fraction);
    if (row.length === 0) continue;
    let fraction: number | undefined;
    for (let i = 1; i < row.length && fraction === undefined; i++) {
      const [a, b] = [row[i - 1]!, row[i]!];
      const da = Math.log(a.ring[by] / a.bitmap[by]);
      const db = Math.log(b.ring[by] / b.bitmap[by]);
      if (da < 0 && db >= 0) fraction = Math.exp(Math.log(a.fraction) + ((Math.log(b.fraction) - Math.log(a.fraction)) * -da) / (db - da));
    }
    out.push({ memory: size.name, fraction });
  }
  return out;
}

const pct = (f: number) => `${String(Number((f * 100).toPrecision(2)))}%`;
const num = (x: number) => (x >= 1e9 ? `${(x / 1e9).toFixed(1)}G` : x >= 1e6 ? `${(x / 1e6).toFixed(1)}M` : x >= 1e4 ? `${(x / 1e3).toFixed(0)}k` : `${Math.round(x)}`);
const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(1) : x.toFixed(3));

export function table(points: readonly Point[]): string {
  const head = ['memory', 'dirty', 'vCPUs', 'pattern', 'ring bytes', 'bitmap bytes', 'entries', 'reprotected', 'ring-full exits', 'ring ms', 'bitmap ms'];
  const rows = points.map((p) => [
    p.memory,
    pct(p.fraction),
    String(p.vcpus),
    p.pattern,
    num(p.ring.bytesRead),
    num(p.bitmap.bytesRead),
    num(p.ring.harvested),
    num(p.ring.reprotected),
    num(p.ring.exits),
    `${p.measured ? '' : '~'}${ms(p.ring.ms)}`,
    `${p.measured ? '' : '~'}${ms(p.bitmap.ms)}`,
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padStart(width[i]!)).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}

/** Time per sync against dirty fraction, both axes logarithmic, one line per mechanism and memory size (1 vCPU, scattered). */
export function svg(points: readonly Point[]): string {
  const W = 720;
  const H = 440;
  const m = { l: 70, r: 160, t: 30, b: 50 };
  const sel = points.filter((p) => p.vcpus === 1 && p.pattern === 'scattered');
  const ys = sel.flatMap((p) => [p.ring.ms, p.bitmap.ms]).filter((y) => y > 0);
  const [y0, y1] = [Math.floor(Math.log10(Math.min(...ys))), Math.ceil(Math.log10(Math.max(...ys)))];
  const [x0, x1] = [Math.log10(FRACTIONS[0]!), Math.log10(FRACTIONS[FRACTIONS.length - 1]!)];
  const X = (f: number) => m.l + ((Math.log10(f) - x0) / (x1 - x0)) * (W - m.l - m.r);
  const Y = (v: number) => H - m.b - ((Math.log10(Math.max(v, 10 ** y0)) - y0) / (y1 - y0)) * (H - m.t - m.b);
  const colours = ['#1b9e77', '#d95f02', '#7570b3', '#e7298a'];
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<text x="${m.l}" y="18">Time per sync: dirty ring (solid) vs dirty bitmap (dashed); 1 vCPU, scattered writes; ~ extrapolated points hollow</text>`,
  ];
  for (let e = y0; e <= y1; e++)
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${Y(10 ** e)}" y2="${Y(10 ** e)}" stroke="#ddd"/><text x="${m.l - 8}" y="${Y(10 ** e) + 4}" text-anchor="end">${10 ** e >= 1 ? 10 ** e : (10 ** e).toPrecision(1)} ms</text>`);
  for (const f of FRACTIONS) parts.push(`<line x1="${X(f)}" x2="${X(f)}" y1="${m.t}" y2="${H - m.b}" stroke="#eee"/><text x="${X(f)}" y="${H - m.b + 18}" text-anchor="middle">${pct(f)}</text>`);
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 10}" text-anchor="middle">pages dirtied per sync interval</text>`);
  MEMORY_SIZES.forEach((size, i) => {
    const row = sel.filter((p) => p.memory === size.name).sort((a, b) => a.fraction - b.fraction);
    if (row.length === 0) return;
    for (const [kind, dash] of [
      ['ring', ''],
      ['bitmap', ' stroke-dasharray="6 4"'],
    ] as const) {
      const d = row.map((p, k) => `${k === 0 ? 'M' : 'L'}${X(p.fraction).toFixed(1)},${Y(p[kind].ms).toFixed(1)}`).join(' ');
      parts.push(`<path d="${d}" fill="none" stroke="${colours[i]}" stroke-width="2"${dash}/>`);
      for (const p of row) parts.push(`<circle cx="${X(p.fraction).toFixed(1)}" cy="${Y(p[kind].ms).toFixed(1)}" r="3" fill="${p.measured ? colours[i] : 'white'}" stroke="${colours[i]}"/>`);
    }
    parts.push(`<line x1="${W - m.r + 12}" x2="${W - m.r + 36}" y1="${m.t + 20 * i}" y2="${m.t + 20 * i}" stroke="${colours[i]}" stroke-width="2"/><text x="${W - m.r + 42}" y="${m.t + 20 * i + 4}">${size.name}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** The report's lines: the table, the crossover fractions, the SVG plot's path (written here), and the grid's extent. */
export function report(points: readonly Point[], svgPath: string, seconds: number, repeat: number): string[] {
  const lines = [table(points), '', 'crossover dirty fraction (1 vCPU, scattered writes): where the ring costs as much as the bitmap'];
  const byBytes = crossovers(points, 'bytesRead');
  for (const c of crossovers(points, 'ms')) {
    const b = byBytes.find((x) => x.memory === c.memory)?.fraction;
    lines.push(`  ${c.memory.padStart(7)}: time ${c.fraction === undefined ? 'none in the grid' : pct(c.fraction)}, bytes read ${b === undefined ? 'none in the grid' : pct(b)}`);
  }
  mkdirSync(dirname(svgPath), { recursive: true });
  writeFileSync(svgPath, svg(points));
  lines.push('', `SVG plot: ${svgPath}`);
  lines.push(`(${points.filter((p) => p.measured).length} points measured, ${points.filter((p) => !p.measured).length} extrapolated (~), ${seconds.toFixed(1)} s, repeat ${repeat})`);
  return lines;
}

const DEFAULT_SVG = 'scratch/dirty-ring-vs-bitmap.svg';

/**
 * `npm run bench` scenario: the quick grid (1 and 16 GiB, 1 and 8 vCPUs), or the whole grid
 * with `--full-ring-grid`; prints the table, the crossovers and the SVG path through `log`
 * and returns the crossovers as figures.
 */
export const dirtyRingVsBitmap: Scenario = {
  name: 'dirty-ring-vs-bitmap',
  run(log) {
    const started = performance.now();
    const full = process.argv.includes('--full-ring-grid');
    const points = runGrid({ quick: !full, log });
    for (const line of report(points, resolve(DEFAULT_SVG), (performance.now() - started) / 1000, 1)) for (const l of line.split('\n')) log(l);
    const figures: Figure[] = [];
    for (const c of crossovers(points, 'ms')) if (c.fraction !== undefined) figures.push({ name: `time crossover, ${c.memory}`, value: c.fraction * 100, unit: '% of pages dirty per sync' });
    for (const c of crossovers(points, 'bytesRead')) if (c.fraction !== undefined) figures.push({ name: `bytes-read crossover, ${c.memory}`, value: c.fraction * 100, unit: '% of pages dirty per sync' });
    return figures;
  },
};

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const svgPath = resolve(args.includes('--svg') ? args[args.indexOf('--svg') + 1]! : DEFAULT_SVG);
  const repeat = args.includes('--repeat') ? Number(args[args.indexOf('--repeat') + 1]) : 1;
  const started = performance.now();
  const points = runGrid({ quick: args.includes('--quick'), repeat, log: (m) => process.stderr.write(`  ${m}\n`) });
  console.log(report(points, svgPath, (performance.now() - started) / 1000, repeat).join('\n'));
}
