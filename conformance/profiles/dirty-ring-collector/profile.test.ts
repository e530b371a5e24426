// Profile dirty-ring-collector against the reference collector and its mutants.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceDirtyRingCollectorAdapter, referenceKvmDirtyRingAdapter } from '../../adapters/reference.ts';
import { unionCoverage } from '../../report/human.ts';
import { runKvmDirtyRingProfile } from '../kvm-dirty-ring/profile.ts';
import { dirtyRingCollectorMutants } from '../../mutants/dirty-ring-collector-mutants.ts';
import { replayDirtyRingCollectorScenario, runDirtyRingCollectorProfile, type CollectorScenario } from './profile.ts';
import type { DirtyRingCollectorAdapter } from './types.ts';
import { plainFlagsCollectorAdapter } from '../../mutants/collector-qemu-variants.ts';

const OPTIONS = { seed: 1, timeoutMs: 2000, maxCommands: 20 };

test('[KVM-RING-12] the ring machines are covered whole over both ring profiles on a fixed seed at the default campaign size, the forbidden push checked and never taken', async () => {
  const options = { seed: 1, timeoutMs: 2000, maxCommands: 30, runs: 1000 };
  const producer = await runKvmDirtyRingProfile(referenceKvmDirtyRingAdapter(), options);
  const collector = await runDirtyRingCollectorProfile(referenceDirtyRingCollectorAdapter(), options);
  assert.is(producer.verdict, 'conforms');
  assert.is(collector.verdict, 'conforms');
  const union = unionCoverage([producer, collector]);
  for (const m of ['kvmDirtyRingVm', 'kvmDirtyGfn', 'kvmVcpuRing']) assert.equal(union[m]!.missing, [], m);
  assert.equal(union.kvmDirtyGfn!.forbidden, { 'dirty --PUSH#0': 'checked' });
  assert.is(union.kvmDirtyGfn!.total, 13);
});

test('[KVM-RING-20] [KVM-RING-23] a directed write between a copy and the reset: the reference sends it, copy-before-reset loses it', async () => {
  const sc: CollectorScenario = {
    config: { vcpus: 1, withBitmap: false, pml: false },
    ops: [
      { k: 'guest', vcpu: 0, slot: 0, start: 3, count: 1, stride: 1 },
      { k: 'sync', injects: [{ at: 1, what: 'lastCopied', slot: 0, offset: 0 }] },
    ],
    delays: [],
  };
  await replayDirtyRingCollectorScenario(referenceDirtyRingCollectorAdapter(), sc, 2000, []);
  const m = dirtyRingCollectorMutants.find((x) => x.name === 'collector-copy-before-reset')!;
  try {
    await replayDirtyRingCollectorScenario(m.adapter, sc, 2000, []);
    assert.unreachable('copy before reset survived');
  } catch (e) {
    assert.match(String(e), /KVM-RING-20/);
  }
});

test('[KVM-RING-21] [KVM-RING-23] with WITH_BITMAP the final sync sends the pages written without a vCPU', async () => {
  const sc: CollectorScenario = { config: { vcpus: 1, withBitmap: true, pml: false }, ops: [{ k: 'noVcpu', slot: 1, offset: 9 }], delays: [] };
  await replayDirtyRingCollectorScenario(referenceDirtyRingCollectorAdapter(), sc, 2000, []);
  const m = dirtyRingCollectorMutants.find((x) => x.name === 'collector-ignores-bitmap')!;
  try {
    await replayDirtyRingCollectorScenario(m.adapter, sc, 2000, []);
    assert.unreachable('the bitmap was not needed');
  } catch (e) {
    assert.match(String(e), /KVM-RING-23/);
  }
});

/**
 * A collector as a third party wrote it from api.rst, but loading the flags relaxed: it
 * harvests every ring, resets, copies once more every page on its first sync (its own bulk
 * stage, after the kit's), then the pages it harvested. Its extra copies made the stale
 * page look copied before its reset, and the kit charged KVM-RING-20.
 */
function relaxedThirdPartyCollector(fault: 'relaxed' | 'dropsLast' = 'relaxed'): DirtyRingCollectorAdapter {
  return {
    profile: 'dirty-ring-collector',
    name: `third party (${fault})`,
    async create(mem, host, config) {
      const rings: { base: number; entries: number; fetch: number }[] = [];
      let first = true;
      return {
        async addRing(base, entries) {
          rings.push({ base, entries, fetch: 0 });
        },
        async sync() {
          const pages: [number, number][] = [];
          for (const r of rings) {
            for (;;) {
              const e = r.base + (r.fetch & (r.entries - 1)) * 16;
              if ((mem.load32(e, fault === 'relaxed' ? 'relaxed' : 'acquire') & 3) !== 1) break;
              pages.push([mem.load32(e + 4, 'relaxed'), Number(mem.load64(e + 8, 'relaxed'))]);
              mem.store32(e, 2, 'release');
              r.fetch++;
            }
          }
          host.resetDirtyRings();
          if (first) for (const m of config.memslots) for (let p = 0; p < m.npages; p++) host.copyPage(m.slot, p);
          first = false;
          for (const [slot, offset] of fault === 'dropsLast' ? pages.slice(0, -1) : pages) host.copyPage(slot, offset);
          if (config.withBitmap) for (const m of config.memslots) host.getDirtyLog(m.slot);
        },
      };
    },
  };
}

test('[KVM-RING-22] a collector that loads the flags relaxed is charged the unordered harvest (KVM-RING-13, -22), not copy-before-reset (KVM-RING-20), on seeds 1 to 3', async () => {
  for (let seed = 1; seed <= 3; seed++) {
    const r = await runDirtyRingCollectorProfile(relaxedThirdPartyCollector(), { ...OPTIONS, seed, runs: 1000 });
    assert.is(r.verdict, 'does-not-conform', `seed ${seed}`);
    const req = r.counterexample!.violation.req;
    assert.ok(req.includes('KVM-RING-22') && !req.includes('KVM-RING-20'), `seed ${seed}: ${req.join(', ')}`);
  }
});

test('[KVM-RING-13] a collector that resets, then copies its harvest but drops the last page, is charged the dropped copy, not copy-before-reset (KVM-RING-20), though it copied every page once in its first sync', async () => {
  for (let seed = 1; seed <= 3; seed++) {
    const r = await runDirtyRingCollectorProfile(relaxedThirdPartyCollector('dropsLast'), { ...OPTIONS, seed, runs: 1000 });
    assert.is(r.verdict, 'does-not-conform', `seed ${seed}`);
    const req = r.counterexample!.violation.req;
    assert.ok(req.includes('KVM-RING-13') && !req.includes('KVM-RING-20'), `seed ${seed}: ${req.join(', ')}`);
  }
});

test('the reference collector conforms, with every requirement of the profile reached', async () => {
  const r = await runDirtyRingCollectorProfile(referenceDirtyRingCollectorAdapter(), { ...OPTIONS, runs: 300 });
  assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation ?? r.undecided));
  assert.equal(r.unreached, []);
});

for (const m of dirtyRingCollectorMutants) {
  test(`mutant ${m.name} is killed in under 10 s with at most 12 steps`, async () => {
    const t = performance.now();
    const r = await runDirtyRingCollectorProfile(m.adapter, { ...OPTIONS, runs: 2000 });
    const s = (performance.now() - t) / 1000;
    assert.is(r.verdict, 'does-not-conform', `${m.name}: ${r.verdict} ${r.undecided?.message ?? ''}`);
    assert.ok(r.counterexample!.steps.length <= 12, `${m.name}: ${r.counterexample!.steps.length} steps`);
    assert.ok(s < 10, `${m.name}: ${s.toFixed(1)} s`);
  });
}

for (const m of dirtyRingCollectorMutants.filter((x) => x.ordering)) {
  test(`ordering mutant ${m.name} survives with delays off: only the delayed relaxed stores kill it`, async () => {
    const r = await runDirtyRingCollectorProfile(m.adapter, { ...OPTIONS, runs: 300, delays: false });
    assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation));
  });
}

test('[KVM-RING-22] [KVM-RING-14] plain flags accesses (QEMU v6.1 to v7.1, which enable the x86-only KVM_CAP_DIRTY_LOG_RING): conform on x86 (TSO), fail on arm64 at the first relaxed RESET', async () => {
  const x86 = await runDirtyRingCollectorProfile(plainFlagsCollectorAdapter(['x86']), { ...OPTIONS, runs: 300 });
  assert.is(x86.verdict, 'conforms', JSON.stringify(x86.counterexample?.violation ?? x86.undecided));
  const arm64 = await runDirtyRingCollectorProfile(plainFlagsCollectorAdapter(['arm64']), { ...OPTIONS, runs: 300 });
  assert.is(arm64.verdict, 'does-not-conform');
  assert.equal(arm64.counterexample!.violation.req, ['KVM-RING-14', 'KVM-RING-22']);
});

test.run();
