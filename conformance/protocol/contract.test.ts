// The protocol carries a driver contract: hello declares it, create may answer an errno,
// split and merge are told the block size and never sent under a contract without them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceContractDriverAdapter, referenceSmmuDriverAdapter } from '../adapters/reference.ts';
import type { SmmuDriverAdapter } from '../adapters/types.ts';
import { runProfile } from '../engine/run-profile.ts';
import { LoopbackChannel } from './channel.ts';
import { execAdapters } from './exec-adapters.ts';
import { protocolProblem } from './schemas.ts';

test('[TRACK-U1, CREATE-U1] a hello that declares linux-upstream: the adapter over the protocol carries it, has no split or merge, and the served reference conforms through it', async () => {
  const channel = new LoopbackChannel([referenceContractDriverAdapter('linux-upstream')], 'served');
  assert.is(channel.hello.contract, 'linux-upstream');
  const adapter = execAdapters(channel).get('smmu-driver') as SmmuDriverAdapter;
  assert.is(adapter.contract, 'linux-upstream');
  const r = await runProfile(adapter, { runs: 30, seed: 2, timeoutMs: 2000, maxCommands: 30 });
  assert.is(r.verdict, 'conforms', r.counterexample?.violation.expected ?? r.undecided?.message);
  assert.is(r.contract?.name, 'linux-upstream');
  assert.ok(r.contract!.refused.length > 0, 'the refusals crossed the protocol as errnos');
});

test('[SPLIT-1] over the protocol splitBlock and mergePages carry the block size (strict)', async () => {
  const seen: string[] = [];
  const inner = referenceSmmuDriverAdapter();
  const spy: SmmuDriverAdapter = {
    ...inner,
    async create(m, s, c) {
      const d = await inner.create(m, s, c);
      return {
        ...d,
        splitBlock: (iova: number, blockSize: number) => {
          seen.push(`split ${blockSize}`);
          return d.splitBlock(iova, blockSize);
        },
        mergePages: (iova: number, level: number, blockSize: number) => {
          seen.push(`merge ${level} ${blockSize}`);
          return d.mergePages(iova, level, blockSize);
        },
      };
    },
  };
  const adapter = execAdapters(new LoopbackChannel([spy], 'served')).get('smmu-driver') as SmmuDriverAdapter;
  const r = await runProfile(adapter, { runs: 60, seed: 5, timeoutMs: 2000, maxCommands: 40 });
  assert.is(r.verdict, 'conforms');
  assert.ok(
    seen.some((s) => s === 'split 2097152'),
    seen.slice(0, 5).join('; '),
  );
  // Each call carries the size of a block at its level: 1 GiB at L1, 2 MiB at L2, and the sizes the
  // argument calls send where the driver must refuse (SPLIT-3: a page, 4 KiB; MERGE-3: a bad level, L0 or L3).
  const sizeAt = (level: number) => 2 ** (12 + 9 * (3 - level));
  assert.ok(
    seen.every((s) => {
      const [op, a, b] = s.split(' ');
      return op === 'split' ? [1, 2, 3].some((l) => Number(a) === sizeAt(l)) : [0, 1, 2, 3].includes(Number(a)) && Number(b) === sizeAt(Number(a));
    }),
    seen.join('; '),
  );
});

test('the schema: hello may name a known contract only; create may answer a negative errno; split and merge requests need blockSize', () => {
  assert.is(protocolProblem('results/hello', { protocol: 1, name: 'x', profiles: ['smmu-driver'], contract: 'linux-upstream', capabilities: {} }, 'test'), undefined);
  assert.ok(protocolProblem('results/hello', { protocol: 1, name: 'x', profiles: ['smmu-driver'], contract: 'linux' }, 'test') !== undefined);
  assert.is(protocolProblem('results/smmu-driver.create', { errno: -95 }, 'test'), undefined);
  assert.ok(protocolProblem('results/smmu-driver.create', { errno: 95 }, 'test') !== undefined);
  assert.ok(protocolProblem('requests/smmu-driver.splitBlock', { id: 3, op: 'smmu-driver.splitBlock', iova: 0 }, 'test') !== undefined);
  assert.is(protocolProblem('requests/smmu-driver.splitBlock', { id: 3, op: 'smmu-driver.splitBlock', iova: 0, blockSize: 0x20_0000 }, 'test'), undefined);
});

test.run();
