// Issue 14: the C ABI. smmu-driver commands per second for the same kernel-style driver
// (conformance/examples/kernel-c) loaded in process with --lib and started over --exec
// (the JSON-lines main linked with it), next to the reference in process, on the same
// seed. Target: --lib at least 1,000 commands/s. Every run must conform, or the
// benchmark throws. A model-based run is bound by the engine's own checks: the
// in-process reference is the ceiling --lib can reach.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceAdapters } from '../conformance/adapters/registry.ts';
import type { Adapter } from '../conformance/adapters/types.ts';
import { runProfile } from '../conformance/engine/run-profile.ts';
import { LibPeer } from '../conformance/lib/lib-adapters.ts';
import { execAdapters } from '../conformance/protocol/exec-adapters.ts';
import { ExecPeer } from '../conformance/protocol/peer.ts';
import type { Figure, Scenario } from './index.ts';

const SEED = 42;
const RUNS = 300;
/** --exec is about 50 times slower: fewer runs give the same rate in reasonable time. */
const EXEC_RUNS = 30;
/** Runs of each before measuring: the engine's JIT warms up, so neither side pays for it alone. */
const WARM_UP_RUNS = 60;

async function measure(what: string, adapter: Adapter, runs: number, log: (m: string) => void): Promise<number> {
  const t0 = performance.now();
  const r = await runProfile(adapter, { runs, seed: SEED, timeoutMs: 20_000, maxCommands: 30 });
  const s = (performance.now() - t0) / 1000;
  if (r.verdict !== 'conforms') throw new Error(`lib: ${what} does not conform on smmu-driver (seed ${SEED}): ${r.verdict}`);
  log(`${what}: ${runs} runs, ${r.commands} commands, ${s.toFixed(2)} s`);
  return r.commands / s;
}

export const lib: Scenario = {
  name: 'lib',
  async run(log) {
    const dir = mkdtempSync(join(tmpdir(), 'dirtyspec-bench-lib-'));
    try {
      execFileSync('make', ['-s', '-C', new URL('../conformance/examples/kernel-c', import.meta.url).pathname, `BUILD=${dir}`], { stdio: ['ignore', 'ignore', 'inherit'] });
      const peer = LibPeer.load(join(dir, 'libkernel-c.so'), { timeoutMs: 20_000 });
      let viaLib: number;
      try {
        await measure('warm-up, reference', referenceAdapters['smmu-driver'], WARM_UP_RUNS, () => {});
        await measure('warm-up, kernel-c via --lib', peer.adapters().get('smmu-driver')!, WARM_UP_RUNS, () => {});
        const before = { ...peer.stats };
        viaLib = await measure('kernel-c via --lib', peer.adapters().get('smmu-driver')!, RUNS, log);
        log(`kernel-c via --lib: ${peer.stats.calls - before.calls} calls, ${peer.stats.callbacks - before.callbacks} callbacks`);
      } finally {
        peer.close();
      }
      const exec = await ExecPeer.start(join(dir, 'kernel-c-exec'), { timeoutMs: 20_000 });
      let viaExec: number;
      try {
        viaExec = await measure('kernel-c via --exec', execAdapters(exec).get('smmu-driver')!, EXEC_RUNS, log);
      } finally {
        await exec.close();
      }
      const reference = await measure('reference in process', referenceAdapters['smmu-driver'], RUNS, log);
      return [
        { name: 'kernel-c smmu-driver via --lib: commands', value: viaLib, unit: 'commands/s', target: { atLeast: 1000 } },
        { name: 'the same driver via --exec: commands', value: viaExec, unit: 'commands/s' },
        { name: 'reference in process, the same run: commands', value: reference, unit: 'commands/s' },
      ] satisfies Figure[];
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
