// Issue 5: the JSON-lines protocol. Round trips per second over the pipe (a request and
// its reply, nothing else) against the C example and the reference served by Node; then
// model-based runs against the C example: commands per second, and protocol operations
// per second (requests + callbacks + the accesses inside batch callbacks), next to the
// same run against the reference in process. Target: at least 20,000 operations per
// second over the pipe, with batching (the round trips and the bulk set); a model-based
// run is bound by the engine's own checks, which the in-process figure shows. Every run
// must conform, or the benchmark throws.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { referenceAdapters } from '../conformance/adapters/registry.ts';
import type { ProfileName } from '../conformance/adapters/types.ts';
import { KitBuffer } from '../conformance/engine/iova-bitmap-profile.ts';
import { runProfile } from '../conformance/engine/run-profile.ts';
import { execAdapters } from '../conformance/protocol/exec-adapters.ts';
import { ExecPeer } from '../conformance/protocol/peer.ts';
import { SERVE_REFERENCE_COMMAND } from '../conformance/protocol/serve.ts';
import type { Figure, Scenario } from './index.ts';

const ROUND_TRIPS = 20_000;
const RUNS = 300;

function buildExample(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dirtyspec-bench-c-'));
  execFileSync('make', ['-s', '-C', new URL('../conformance/examples/c', import.meta.url).pathname, `BUILD=${dir}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  return join(dir, 'dirtyspec-c');
}

async function roundTrips(command: string): Promise<number> {
  const peer = await ExecPeer.start(command, { timeoutMs: 10_000 });
  try {
    await peer.request('vfio-type1.create', { hwDirty: true });
    for (let i = 0; i < 1000; i++) await peer.request('vfio-type1.checkExtension', { extension: 1 }); // warm-up
    const t0 = performance.now();
    for (let i = 0; i < ROUND_TRIPS; i++) await peer.request('vfio-type1.checkExtension', { extension: 1 });
    return ROUND_TRIPS / ((performance.now() - t0) / 1000);
  } finally {
    await peer.close();
  }
}

/**
 * One iova_bitmap_set over 2^27 pages (a 16 MiB user bitmap, 4096 user pages) with a pin
 * budget of 8 pages: the implementation pins, writes and unpins every user page through
 * callbacks, and batches what needs no answer. The kit checks every bit afterwards.
 */
async function bulkSet(command: string, log: (m: string) => void): Promise<Figure> {
  const pages = 1n << 27n;
  const bitmapBytes = Number(pages / 8n);
  const buffer = new KitBuffer(bitmapBytes);
  const peer = await ExecPeer.start(command, { timeoutMs: 10_000 });
  try {
    const on = (c: { op: string } & Record<string, unknown>) => {
      const n = (v: unknown) => v as number;
      if (c.op === 'buffer.pin') return buffer.pin(n(c.page));
      if (c.op === 'buffer.unpin') buffer.unpin(n(c.page));
      else if (c.op === 'buffer.orByte') buffer.orByte(n(c.page), n(c.offset), n(c.mask));
      else if (c.op === 'buffer.fillBytes') buffer.fillBytes(n(c.page), n(c.start), n(c.end), n(c.value));
      else throw new Error(`unexpected callback ${c.op}`);
      return null;
    };
    buffer.bytes.fill(0);
    const created = await peer.request('iova-bitmap.create', { iova: '0x0', length: `0x${(pages * 4096n).toString(16)}`, pageSize: '0x1000', offset: 0, bitmapSize: bitmapBytes, maxPinnedPages: 8, bufferSize: bitmapBytes }, on);
    if (created.errno !== 0) throw new Error(`protocol: iova-bitmap.create answered ${String(created.errno)}`);
    const before = { ...peer.stats };
    const t0 = performance.now();
    const r = await peer.request('iova-bitmap.set', { iova: '0x0', length: `0x${(pages * 4096n).toString(16)}` }, on);
    const s = (performance.now() - t0) / 1000;
    await peer.request('iova-bitmap.free', {}, on);
    if (r.errno !== 0 || buffer.strayWrites.length > 0 || buffer.pinned !== 0 || !buffer.bytes.every((b) => b === 0xff))
      throw new Error('protocol: the bulk iova_bitmap_set did not set every bit, or wrote unpinned memory, or left pages pinned');
    const callbacks = peer.stats.callbacks - before.callbacks;
    const batched = peer.stats.batchedCalls - before.batchedCalls;
    log(`bulk set: ${callbacks} callbacks, of which batches carried ${batched} accesses, ${s.toFixed(3)} s`);
    return { name: 'C example, one iova_bitmap_set over a 16 MiB bitmap: protocol operations', value: (1 + callbacks + batched) / s, unit: 'ops/s', target: { atLeast: 20_000 } };
  } finally {
    await peer.close();
  }
}

async function modelRun(command: string, profile: ProfileName, log: (m: string) => void): Promise<Figure[]> {
  const peer = await ExecPeer.start(command, { timeoutMs: 10_000 });
  try {
    const adapter = execAdapters(peer).get(profile)!;
    const before = { ...peer.stats };
    const t0 = performance.now();
    const r = await runProfile(adapter, { runs: RUNS, seed: 42, timeoutMs: 10_000, maxCommands: 30 });
    const s = (performance.now() - t0) / 1000;
    if (r.verdict !== 'conforms') throw new Error(`protocol: the C example does not conform on ${profile} (seed 42): ${r.verdict}`);
    const ops = peer.stats.requests - before.requests + (peer.stats.callbacks - before.callbacks) + (peer.stats.batchedCalls - before.batchedCalls);
    log(
      `${profile}: ${RUNS} runs, ${r.commands} commands, ${peer.stats.requests - before.requests} requests, ${peer.stats.callbacks - before.callbacks} callbacks (${peer.stats.batchedCalls - before.batchedCalls} accesses in batches), ${s.toFixed(2)} s`,
    );
    const t1 = performance.now();
    const inProcess = await runProfile(referenceAdapters[profile], { runs: RUNS, seed: 42, timeoutMs: 10_000, maxCommands: 30 });
    const s1 = (performance.now() - t1) / 1000;
    return [
      { name: `C example, ${profile} run: commands`, value: r.commands / s, unit: 'commands/s' },
      { name: `reference in process, the same ${profile} run: commands`, value: inProcess.commands / s1, unit: 'commands/s' },
      // No target here: a model-based run is bound by the engine's checks (compare the in-process figure above).
      { name: `C example, ${profile} run: protocol operations`, value: ops / s, unit: 'ops/s' },
    ];
  } finally {
    await peer.close();
  }
}

export const protocol: Scenario = {
  name: 'protocol',
  async run(log) {
    const c = buildExample();
    try {
      const node = SERVE_REFERENCE_COMMAND;
      const out: Figure[] = [
        { name: 'round trips over the pipe, C example', value: await roundTrips(c), unit: 'round trips/s', target: { atLeast: 20_000 } },
        { name: 'round trips over the pipe, reference served by Node', value: await roundTrips(node), unit: 'round trips/s' },
      ];
      out.push(await bulkSet(c, log));
      for (const p of ['iova-bitmap', 'vfio-type1'] as const) out.push(...(await modelRun(c, p, log)));
      return out;
    } finally {
      rmSync(dirname(c), { recursive: true, force: true });
    }
  },
};
