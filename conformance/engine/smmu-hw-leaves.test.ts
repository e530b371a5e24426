// What the kit, as the driver of an smmu-hw adapter, writes in the tables it hands the
// SMMU: leaves as Linux's arm_lpae_prot_to_pte makes them. An SMMU model written from the
// architecture reads every bit of them; one that honours nG (a global entry survives
// CMD_TLBI_NH_ASID) failed every seed while the kit wrote global leaves.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ARM_LPAE_PTE_NG } from '../../spec/descriptor/encoding.ts';
import { walkLeaves } from '../../spec/descriptor/walk.ts';
import { decodeContextDescriptor } from '../../spec/smmu/context-descriptor.ts';
import { referenceSmmuHwAdapter } from '../adapters/reference.ts';
import type { SmmuHwAdapter } from '../adapters/types.ts';
import { runProfile } from './run-profile.ts';

/** The reference SMMU, which throws (so the run is undecided) at a DMA through a leaf without nG. */
function checkingNg(): SmmuHwAdapter {
  const ref = referenceSmmuHwAdapter();
  return {
    profile: 'smmu-hw',
    name: 'nG-checking',
    async create(memory, config) {
      const hw = await ref.create(memory, config);
      const cds = new Map<number, number>();
      const leafOf = (streamId: number, iova: number) => {
        const cd = cds.get(streamId);
        if (cd === undefined) return undefined;
        const { valid, ttb0 } = decodeContextDescriptor(memory.load(cd), memory.load(cd + 8));
        return valid && ttb0 !== 0 ? walkLeaves((a) => memory.load(a), ttb0, iova - (iova % 4096), 4096)[0] : undefined;
      };
      const check = (streamId: number, iova: number) => {
        const leaf = leafOf(streamId, iova);
        if (leaf !== undefined && (leaf.pte & ARM_LPAE_PTE_NG) === 0n) throw new Error(`a global leaf at 0x${iova.toString(16)}: 0x${leaf.pte.toString(16)}`);
      };
      return {
        ...hw,
        attachStream: async (streamId, cd) => {
          cds.set(streamId, cd);
          return hw.attachStream(streamId, cd);
        },
        dmaRead: async (streamId, iova) => {
          check(streamId, iova);
          return hw.dmaRead(streamId, iova);
        },
        dmaWrite: async (streamId, iova) => {
          check(streamId, iova);
          return hw.dmaWrite(streamId, iova);
        },
      };
    },
  };
}

test('every leaf the kit writes for an smmu-hw adapter is non-global (nG), as Linux writes stage-1 leaves', async () => {
  const r = await runProfile(checkingNg(), { runs: 200, seed: 4, timeoutMs: 2000, maxCommands: 20, directed: false });
  assert.is(r.verdict, 'conforms', r.undecided?.message ?? JSON.stringify(r.counterexample?.violation));
  assert.ok(r.commands > 1000, `${r.commands} commands`);
});

test.run();
