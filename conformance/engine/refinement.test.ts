// The reference refines the spec machines: the engine's own smmu runs (the same commands,
// checks and races every implementation gets) over many random sequences, with the seed
// and replay path printed when one fails. REFINEMENT_RUNS=N changes the number of
// sequences per profile (default 1,500); REFINEMENT_SEED and REFINEMENT_PATH replay.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceAdapters } from '../adapters/registry.ts';
import { runProfile } from './run-profile.ts';

const RUNS = Number(process.env.REFINEMENT_RUNS ?? 1500);
const SEED = process.env.REFINEMENT_SEED === undefined ? 20_241_129 : Number(process.env.REFINEMENT_SEED);

for (const profile of ['smmu-driver', 'smmu-hw'] as const) {
  test(`[MAP-1] [UNMAP-1] [HTTU-2] [CLEAR-1] [SPLIT-1] [SPLIT-2] [MERGE-1] [IOTLB-9] [TRACK-2] the reference refines the spec machines over ${RUNS} random ${profile} sequences`, async () => {
    const path = process.env.REFINEMENT_PATH;
    const r = await runProfile(referenceAdapters[profile], { runs: RUNS, seed: SEED, timeoutMs: 5000, maxCommands: 30, ...(path === undefined ? {} : { path }) });
    if (r.verdict !== 'conforms') {
      const replay = r.replay === undefined ? '' : `REFINEMENT_SEED=${r.replay.seed} REFINEMENT_PATH='${r.replay.path}' node --import tsx conformance/engine/refinement.test.ts`;
      assert.unreachable(`${profile}: ${r.verdict}: ${JSON.stringify(r.counterexample?.violation ?? r.undecided?.message)}\nreplay: ${replay}`);
    }
  });
}

test.run();
