// The smmu profiles list a requirement on a step only where that step's check could have
// failed it: a report with no leaf to record reaches no BITMAP-2, an unmap of pages nobody owes no
// NOLOSS-3. The same steps over a dirty leaf and an owed page reach them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceAdapters } from '../adapters/registry.ts';
import { DmaCommand, MapCommand, ReadAndClearCommand, type RunCommand, type TraceStep, UnmapCommand } from './commands.ts';
import { replaySmmuSequence } from './run-profile.ts';

const CONFIG = { httu: 2 as const, bbml: 2 as const, iotlbCapacity: 4, dirtyCapable: true, pageGranular: true, startTracking: true };

async function stepsOf(commands: RunCommand[], prefix: string): Promise<TraceStep[]> {
  const trace: TraceStep[] = [];
  await replaySmmuSequence(referenceAdapters['smmu-driver'], { config: CONFIG, commands }, 5000, trace);
  return trace.filter((s) => s.op.startsWith(prefix));
}

test('[BITMAP-2] [NOLOSS-1] a read-and-clear over read-only leaves lists neither BITMAP-2 nor NOLOSS-1; over a leaf a write made dirty, it lists both', async () => {
  const clean = await stepsOf([new MapCommand(0, 4, false, true), new ReadAndClearCommand(0, 4, false)], 'readAndClearDirty(0x0');
  assert.ok(clean.length > 0);
  assert.not.ok(clean[0]!.req.includes('BITMAP-2'), clean[0]!.req.join(' '));
  assert.not.ok(clean[0]!.req.includes('NOLOSS-1'), clean[0]!.req.join(' '));
  const dirty = await stepsOf([new MapCommand(0, 4, true, true), new DmaCommand(true, 0, 0, 0, undefined, 0), new ReadAndClearCommand(0, 4, false)], 'readAndClearDirty(0x0');
  assert.ok(dirty[0]!.req.includes('BITMAP-2') && dirty[0]!.req.includes('NOLOSS-1'), dirty[0]!.req.join(' '));
});

test('[CLEAR-U2] [CLEAR-R2] under linux-upstream and rfc-2021, a read-and-clear over read-only leaves lists no rule of recording or clearing; over a written leaf it does', async () => {
  const { contracts } = await import('../../spec/contracts/index.ts');
  const { referenceContractDriverAdapter } = await import('../adapters/reference.ts');
  for (const [name, rule] of [
    ['linux-upstream', 'CLEAR-U2'],
    ['rfc-2021', 'CLEAR-R2'],
  ] as const) {
    const steps = async (commands: RunCommand[]) => {
      const trace: TraceStep[] = [];
      await replaySmmuSequence(referenceContractDriverAdapter(name), { config: { ...CONFIG, pageGranular: false }, commands }, 5000, trace, contracts[name]);
      return trace.filter((s) => s.op.startsWith('readAndClearDirty(0x0'));
    };
    const clean = await steps([new MapCommand(0, 4, false, true), new ReadAndClearCommand(0, 4, false)]);
    assert.ok(clean.length > 0, name);
    assert.not.ok(
      clean[0]!.req.some((id) => [rule, 'CLEAR-1', 'NOLOSS-1'].includes(id)),
      `${name}: ${clean[0]!.req.join(' ')}`,
    );
    const dirty = await steps([new MapCommand(0, 4, true, true), new DmaCommand(true, 0, 0, 0, undefined, 0), new ReadAndClearCommand(0, 4, false)]);
    assert.ok(dirty[0]!.req.includes(rule), `${name}: ${dirty[0]!.req.join(' ')}`);
  }
});

test('[NOLOSS-3] an unmap while tracking of pages no write made owed lists no NOLOSS-3; of a page written since the last report, it does', async () => {
  const clean = await stepsOf([new MapCommand(0, 4, true, true), new UnmapCommand(0, 4)], 'unmap(0x0');
  assert.ok(clean.length > 0);
  assert.not.ok(clean[0]!.req.includes('NOLOSS-3'), clean[0]!.req.join(' '));
  const owed = await stepsOf([new MapCommand(0, 4, true, true), new DmaCommand(true, 0, 0, 0, undefined, 0), new UnmapCommand(0, 4)], 'unmap(0x0');
  assert.ok(owed[0]!.req.includes('NOLOSS-3'), owed[0]!.req.join(' '));
});

test('[PRECISION-1] an unmap whose bitmap holds a page of no writable-dirty leaf fails: its bitmap is compared with the leaves it removes', async () => {
  const { pgtableMutants } = await import('../mutants/pgtable-mutants.ts');
  const all = pgtableMutants.find((m) => m.name === 'unmap-reports-all-dirty')!.adapter as (typeof referenceAdapters)['smmu-driver'];
  const trace: TraceStep[] = [];
  try {
    await replaySmmuSequence(all, { config: CONFIG, commands: [new MapCommand(0, 4, false, true), new UnmapCommand(0, 4)] }, 5000, trace);
    assert.unreachable('an unmap reporting clean pages passed');
  } catch (e) {
    assert.match(String(e), /FALSE DIRTY PAGE \[PRECISION-1, NOLOSS-3\]/);
  }
});

test.run();
