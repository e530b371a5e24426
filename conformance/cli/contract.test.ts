// dirtyspec run --contract: the flag, the declared capabilities check, the report naming the contract.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from './capture.ts';

const fixture = (name: string) => new URL(`./fixtures/${name}.ts`, import.meta.url).pathname;

test('--contract with an unknown name is a usage error naming the contracts', async () => {
  const r = await runCli('run', '--profile', 'smmu-driver', '--contract', 'linux');
  assert.is(r.status, 2);
  assert.match(r.err, /--contract must be one of strict, linux-upstream, rfc-2021, got "linux"/);
});

test("--contract rfc-2021: the built-in reference plays it (the RFC v4 lifecycle) and conforms, with the RFC's two hazards", async () => {
  const r = await runCli('run', '--profile', 'smmu-driver', '--contract', 'rfc-2021', '--runs', '20', '--seed', '3', '--workers', '1');
  assert.is(r.status, 0, r.out);
  assert.match(r.out, /profile smmu-driver \(adapter reference, contract rfc-2021\): conforms/);
  assert.match(r.out, /H-R1 \(design; NOLOSS-3, UNMAP-R1\)/);
  assert.match(r.out, /H-R2 \(caller-obligation; CLEAR-4, NOLOSS-1, CLEAR-R2\)/);
});

test('declared capabilities that are not the contract’s: exit 2, the field named, nothing run', async () => {
  const r = await runCli('run', '--adapter', fixture('wrong-capabilities'), '--profile', 'smmu-driver', '--runs', '1');
  assert.is(r.status, 2);
  assert.match(r.err, /unmap\.reportsDirty: declared true, contract linux-upstream has false/);
  assert.is(r.out, '');
});

test('--contract linux-upstream: the text and JSON reports name the contract, the refusals and the hazards apart from the verdict', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dirtyspec-contract-'));
  try {
    const json = join(dir, 'r.json');
    const r = await runCli('run', '--profile', 'smmu-driver', '--contract', 'linux-upstream', '--runs', '30', '--seed', '4', '--workers', '1', '--json', json);
    assert.is(r.status, 0, r.out);
    assert.match(r.out, /profile smmu-driver \(adapter reference, contract linux-upstream\): conforms/);
    assert.match(r.out, /hazards of contract linux-upstream \(not part of the verdict/);
    assert.match(r.out, /H-U1 \(caller-obligation; NOLOSS-3, UNMAP-U3\)/);
    const report = JSON.parse(readFileSync(json, 'utf8')) as { profiles: { contract: { name: string; hazards: { id: string; onImplementation: string }[] } }[] };
    const c = report.profiles[0]!.contract;
    assert.is(c.name, 'linux-upstream');
    assert.is(c.hazards.length, 7);
    assert.ok(c.hazards.every((h) => h.onImplementation === 'demonstrated'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the default run: each other contract runs a share of --runs, never more than --runs (so --runs 2 runs two sequences of each)', async () => {
  const r = await runCli('run', '--runs', '2', '--seed', '3', '--workers', '1');
  assert.is(r.status, 0, r.out);
  const contractRuns = [...r.out.matchAll(/^profile \S+ \(adapter reference, contract ([\w-]+)\): conforms {2}— (\d+) runs?,/gm)];
  assert.equal(contractRuns.map((m) => m[1]).sort(), ['linux', 'linux-upstream', 'linux-upstream', 'linux-upstream', 'rfc-2021', 'rfc-2021', 'rfc-2021']);
  assert.match(r.out, /^profile vfio-type1 \(adapter reference, contract rfc-2021\): conforms/m);
  assert.match(r.out, /^profile vfio-type1 \(adapter reference, contract linux-upstream\): conforms/m);
  for (const m of contractRuns) assert.is(Number(m[2]), 2, m[0]);
});

test("[UNMAP-R1] --contract rfc-2021 --profile vfio-type1: the reference container on the RFC's IOMMU conforms, the report names the contract", async () => {
  const r = await runCli('run', '--profile', 'vfio-type1', '--contract', 'rfc-2021', '--runs', '30', '--seed', '3', '--workers', '1');
  assert.is(r.status, 0, r.out);
  assert.match(r.out, /profile vfio-type1 \(adapter reference, contract rfc-2021\): conforms/);
});

test("[UNMAP-U3] --contract linux-upstream --profile vfio-type1: the reference container, as the VMM over iommufd on Linux v6.18's IOMMU, conforms", async () => {
  const r = await runCli('run', '--profile', 'vfio-type1', '--contract', 'linux-upstream', '--runs', '30', '--seed', '3', '--workers', '1');
  assert.is(r.status, 0, r.out);
  assert.match(r.out, /profile vfio-type1 \(adapter reference, contract linux-upstream\): conforms/);
});

test.run();
