// The linux-upstream example adapter (an implementation written from how upstream Linux
// behaves) against the linux-upstream contract: every hazard scenario of the contract,
// played on the adapter with the kit's SMMU, gives the answers, the leaves and the missed
// pages the contract's simulation predicts; single behaviours where Linux and the strict
// contract part ways; and the engine: through `--contract linux-upstream` it conforms,
// under `strict` it fails naming the strict rules Linux does not keep.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { contracts } from '../../../spec/contracts/index.ts';
import { simulate } from '../../../spec/contracts/simulate.ts';
import type { HazardStep } from '../../../spec/contracts/types.ts';
import { linuxUpstreamAdapter } from './adapter.ts';
import { play } from './play.ts';

const PAGE = 0x1000;
const MiB2 = 0x20_0000;
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const ADAPTER = fileURLToPath(new URL('./adapter.ts', import.meta.url));
const upstream = contracts['linux-upstream'];
const adapter = linuxUpstreamAdapter();

const S = 10;
const UP: HazardStep = { op: 'create', httu: 2, bbml: 0, dirtyCapable: true, pageGranular: false };
const attach: HazardStep = { op: 'attach', stream: S };
const on: HazardStep = { op: 'setDirtyTracking', enable: true };
const off: HazardStep = { op: 'setDirtyTracking', enable: false };
const map = (iova: number, size: number, pa: 'block-aligned' | 'page-aligned' = 'page-aligned', write = true): HazardStep => ({ op: 'map', iova, size, write, pa });
const dma = (iova: number): HazardStep => ({ op: 'dmaWrite', iova, stream: S });
const rc = (iova: number, size: number): HazardStep => ({ op: 'readAndClearDirty', iova, size, noClear: false });
const unmap = (iova: number, size: number): HazardStep => ({ op: 'unmap', iova, size });

/**
 * The adapter's answers and its final leaves equal the contract simulation's, step for step.
 * Reported pages are compared inside the call's range: past its end the adapter, as Linux's
 * iova_bitmap_set, also sets the bits of a leaf recorded from the cursor (CLEAR-U2; the test below).
 */
async function matchesSimulation(steps: readonly HazardStep[]): Promise<void> {
  const sim = simulate(upstream, steps);
  const got = await play(adapter, steps);
  for (const [i, s] of sim.steps.entries()) {
    const g = got.steps[i]!;
    const at = `step ${i} ${s.op}`;
    const step = steps[i]!;
    const inRange = (p: number) => step.op !== 'readAndClearDirty' || p < step.iova + step.size;
    assert.is(g.errno, s.errno, `${at}: errno`);
    if (s.dma !== undefined) assert.is(g.dma, s.dma, `${at}: DMA`);
    if (s.unmapped !== undefined) assert.is(g.unmapped, s.unmapped, `${at}: bytes unmapped`);
    if (s.reported !== undefined) assert.equal(g.reported?.filter(inRange), s.reported, `${at}: pages reported`);
  }
  assert.equal(
    got.leaves,
    sim.leaves.map((l) => ({ iova: l.iova, size: l.size, state: l.state })),
    'the leaves in memory are the simulation leaves',
  );
}

for (const h of upstream.hazards) {
  test(`[${h.req.join(', ')}] ${h.id}: the adapter plays "${h.title}" as the contract simulation does, and misses ${h.misses.pages.map((p) => `0x${p.toString(16)}`).join(', ')} at step ${h.misses.atStep}`, async () => {
    await matchesSimulation(h.steps);
    assert.equal(simulate(upstream, h.steps).misses, [h.misses]);
  });
}

test('[CREATE-U1] a dirty-tracking domain is refused with -EOPNOTSUPP without HTTU = 2, and without IDR0.COHACC; with both it is created', async () => {
  assert.is((await play(adapter, [{ ...UP, httu: 1 }])).steps[0]!.errno, -95);
  assert.is((await play(adapter, [UP], false)).steps[0]!.errno, -95);
  assert.is((await play(adapter, [UP])).steps[0]!.errno, 0);
  assert.is((await play(adapter, [{ ...UP, httu: 0, dirtyCapable: false }])).steps[0]!.errno, 0);
});

test('[TRACK-U4] setting dirty tracking on a domain allocated without it is -EOPNOTSUPP, enable and disable', async () => {
  const { steps } = await play(adapter, [{ ...UP, dirtyCapable: false }, attach, on, off]);
  assert.equal(
    steps.map((o) => o.errno),
    [0, 0, -95, -95],
  );
});

test('[TRACK-U1, TRACK-U3, MAP-2] HA and HD from attach on, tracking on or off: a write through a clean leaf dirties it; disabling changes nothing', async () => {
  await matchesSimulation([UP, attach, map(0, PAGE), rc(0, PAGE), dma(0), rc(0, PAGE), on, off, dma(0), rc(0, PAGE)]);
  const { cdWord0 } = await play(adapter, [UP, attach]);
  assert.is(cdWord0.get(S)! & (3n << 42n), 3n << 42n, 'CD word 0 has HD (bit 42) and HA (bit 43)');
});

test('[UNMAP-U1] unmapping part of a block unmaps nothing and leaves the block', async () => {
  await matchesSimulation([UP, attach, map(0, MiB2, 'block-aligned'), unmap(PAGE, PAGE), unmap(0, PAGE)]);
});

test('[UNMAP-U2] a hole ends an unmap of pages: the pages before it are unmapped', async () => {
  await matchesSimulation([UP, attach, map(0, 2 * PAGE), map(3 * PAGE, PAGE), unmap(0, 4 * PAGE)]);
});

test('[CLEAR-U1, CLEAR-U2] read-and-clear while tracking is off reports and clears whole leaves', async () => {
  await matchesSimulation([UP, attach, map(0, MiB2, 'block-aligned'), dma(PAGE), rc(0, PAGE), rc(0, MiB2)]);
});

test("[CLEAR-U2] a dirty block read over its first page: Linux's record of [cursor, cursor + 2 MiB) sets every bit of the bitmap's u64 word, past the range's end", async () => {
  const got = await play(adapter, [UP, attach, map(0, MiB2, 'block-aligned'), dma(PAGE), rc(0, PAGE)]);
  assert.equal(
    got.steps[4]!.reported,
    Array.from({ length: 64 }, (_, i) => i * PAGE),
  );
});

test('[UNMAP-U2] Linux unmaps a table whole when the range covers its 2 MiB span: 2 MiB unmapped, holes inside it included (iommu_pgsize picks 2 MiB, __arm_lpae_unmap clears the table entry)', async () => {
  const { steps, leaves } = await play(adapter, [UP, attach, map(MiB2, 3 * PAGE), unmap(MiB2, MiB2)]);
  assert.is(steps[3]!.unmapped, MiB2);
  assert.equal(leaves, []);
});

// ---- the engine: the same adapter through `dirtyspec run` ----

interface JsonRun {
  readonly status: number | null;
  readonly out: string;
  readonly profile: {
    readonly verdict: string;
    readonly counterexample?: {
      readonly config: Record<string, unknown>;
      readonly steps: readonly { readonly op: string; readonly answer: string; readonly expected: string }[];
      readonly violation: { readonly req: readonly string[]; readonly expected: string; readonly actual: string };
    };
    readonly contract?: { readonly name: string; readonly declared?: string; readonly hazards: readonly { readonly id: string; readonly scenario: readonly string[]; readonly onImplementation: string }[] };
  };
}

function dirtyspec(contract: string): JsonRun {
  const dir = mkdtempSync(join(tmpdir(), 'linux-upstream-'));
  const json = join(dir, 'report.json');
  const r = spawnSync(process.execPath, ['bin/dirtyspec.js', 'run', '--adapter', ADAPTER, '--profile', 'smmu-driver', '--contract', contract, '--seed', '1', '--runs', '300', '--workers', '1', '--json', json], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 240_000,
  });
  const report = JSON.parse(readFileSync(json, 'utf8')) as { profiles: JsonRun['profile'][] };
  rmSync(dir, { recursive: true, force: true });
  return { status: r.status, out: `${r.stdout}${r.stderr}`, profile: report.profiles[0]! };
}

test('[CREATE-U1, TRACK-U1, TRACK-U2, TRACK-U4, CLEAR-U2, UNMAP-U2] through --contract linux-upstream the adapter conforms, and the report shows every hazard with its scenario, demonstrated on the adapter', () => {
  const r = dirtyspec('linux-upstream');
  assert.is(r.status, 0, r.out);
  assert.is(r.profile.contract?.name, 'linux-upstream');
  assert.is(r.profile.contract?.declared, undefined, 'the declared contract is the one checked');
  assert.equal(
    r.profile.contract?.hazards.map((h) => h.id),
    upstream.hazards.map((h) => h.id),
  );
  for (const h of r.profile.contract!.hazards) {
    assert.ok(
      h.scenario.some((line) => line.includes('<- misses')),
      `${h.id}: its scenario marks the step that misses the page`,
    );
    assert.is(h.onImplementation, 'demonstrated', `${h.id}: Linux has it`);
  }
});

test('[TRACK-7, TRACK-1] under --contract strict the same adapter fails, and the report names the strict rules it broke and the contract it declares', () => {
  const r = dirtyspec('strict');
  assert.is(r.status, 1, r.out);
  assert.is(r.profile.contract?.name, 'strict');
  assert.is(r.profile.contract?.declared, 'linux-upstream');
  const replaced = upstream.rules.replaced.map((x) => x.id as string).concat(upstream.rules.dropped.map((x) => x.id as string));
  assert.ok(
    r.profile.counterexample!.violation.req.some((id) => replaced.includes(id)),
    `the failure names a strict rule linux-upstream replaces or drops (${replaced.join(', ')}):\n${r.out}`,
  );
});

test.run();
