// KVM-RING-11 and KVM-RING-12 with a CPU dirty log (x86 PML): Linux pushes the writes the CPU
// logged at the next VM exit, v6.12 newest first, so the exit owed at the soft limit may come
// up to 512 pushing writes late and a batch's entries may stand in any order. A faithful
// v6.12.117 port (linux-6.12-pml.ts) conforms; the same port with the soft-full request off
// by one, or no exit at all, fails KVM-RING-12.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runKvmDirtyRingProfile } from '../../profiles/kvm-dirty-ring/profile.ts';
import { pmlAdapter } from './linux-6.12-pml.ts';

const OPTIONS = { runs: 150, seed: 1, timeoutMs: 5000, maxCommands: 30 };

test('[KVM-RING-11] [KVM-RING-12] Linux v6.12 with PML (512 entries, flushed newest first at each VM exit) conforms', async () => {
  const r = await runKvmDirtyRingProfile(pmlAdapter({ order: 'newest' }), OPTIONS);
  assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation ?? r.undecided));
  assert.ok(r.requirements.some((q) => q.id === 'KVM-RING-12' && q.verdict === 'pass'));
});

for (const variant of ['softfull-gt', 'no-exit']) {
  test(`[KVM-RING-12] the v6.12 PML port with ${variant} on x86 fails KVM-RING-12`, async () => {
    const r = await runKvmDirtyRingProfile(pmlAdapter({ order: 'newest', variant }), OPTIONS);
    assert.is(r.verdict, 'does-not-conform');
    assert.ok(r.counterexample!.violation.req.includes('KVM-RING-12'), r.counterexample!.violation.req.join(', '));
  });
}

test.run();
