// A counterexample's kind (LOST DIRTY PAGE, FALSE DIRTY PAGE, SPEC VIOLATION) says what the
// difference costs: a writable leaf that a map has just made clean where the HD quirk makes
// it dirty (MAP-2) has had no write through it, so nothing is lost yet: a wrong encoding
// (PTE-3). The same clean state on a leaf a write dirtied is a lost page.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IommuDomain } from '../../impl/domain.ts';
import { ArmLpaeIoPgtable, IOMMU_WRITE } from '../../impl/pgtable/io-pgtable-arm.ts';
import { PTE_AP_RDONLY } from '../../impl/pgtable/pte.ts';
import { referenceSmmuDriverAdapter } from '../adapters/reference.ts';
import { factory } from './smmu-probe-systems.ts';
import { runProfile } from '../engine/run-profile.ts';
import { mutants } from './index.ts';

/** arm_lpae_prot_to_pte as an early RFC had it: a writable leaf with DBM and AP[2] set (writable-clean) under the HD quirk. */
class MapCleanPgtable extends ArmLpaeIoPgtable {
  override protToPte(prot: number, level: number, paddr: number): bigint {
    const pte = super.protToPte(prot, level, paddr);
    return this.config.hdQuirk && (prot & IOMMU_WRITE) !== 0 ? pte | PTE_AP_RDONLY : pte;
  }
}

test('[MAP-2] [PTE-3] a writable leaf mapped clean under the HD quirk is a SPEC VIOLATION of its encoding, not a lost page', async () => {
  const r = await runProfile(referenceSmmuDriverAdapter('map-clean', IommuDomain, factory(MapCleanPgtable)), { runs: 200, seed: 1, timeoutMs: 5000, maxCommands: 30 });
  assert.is(r.verdict, 'does-not-conform');
  const v = r.counterexample!.violation;
  assert.is(v.kind, 'spec', JSON.stringify(v));
  assert.ok(v.req.includes('MAP-2') && v.req.includes('PTE-3'), v.req.join(' '));
});

test('[HTTU-5] an SMMU whose HTTU update is a plain store brings back the leaf the kit unmapped inside the access: the counterexample names HTTU-5 first, the rule the hardware broke, not only the unmap rule the order named', async () => {
  const m = mutants.find((x) => x.name === 'hw-plain-store')!;
  const r = await runProfile(m.adapter, { runs: 1000, seed: 3, timeoutMs: 5000, maxCommands: 30 });
  assert.is(r.verdict, 'does-not-conform');
  assert.is(r.counterexample!.violation.req[0], 'HTTU-5', r.counterexample!.violation.req.join(' '));
});

test.run();
