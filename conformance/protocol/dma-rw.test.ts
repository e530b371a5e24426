// vfio_dma_rw over the JSON-lines protocol: an implementation that says so in create's
// result gets `vfio-type1.dmaRw` requests, which validate against the schema, and the
// VFIO-RW requirements are decided through them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { VfioType1Adapter } from '../adapters/types.ts';
import { runProfile } from '../engine/run-profile.ts';
import { execAdapters } from './exec-adapters.ts';
import { servedReference } from './fixtures/served-reference.ts';
import { ExecPeer } from './peer.ts';
import { protocolProblem } from './schemas.ts';

test('[VFIO-RW-1] [VFIO-RW-2] [VFIO-RW-3] [VFIO-RW-4] the reference served over the protocol offers dmaRw in create, and the VFIO-RW requirements pass through it', async () => {
  const sent: string[] = [];
  const peer = await ExecPeer.start(servedReference(), { timeoutMs: 10_000, onLine: (d, line) => void (d === '>' && sent.push(line)) });
  try {
    const adapter = execAdapters(peer).get('vfio-type1') as VfioType1Adapter;
    const r = await runProfile(adapter, { runs: 60, seed: 3, timeoutMs: 10_000, maxCommands: 30 });
    assert.is(r.verdict, 'conforms');
    for (const id of ['VFIO-RW-1', 'VFIO-RW-2', 'VFIO-RW-3', 'VFIO-RW-4'])
      assert.ok(
        r.requirements.some((x) => x.id === id && x.verdict === 'pass'),
        `${id} passes`,
      );
  } finally {
    await peer.close();
  }
  const rw = sent.map((l) => JSON.parse(l) as { op?: string }).filter((m) => m.op === 'vfio-type1.dmaRw');
  assert.ok(rw.length > 10, `${rw.length} dmaRw requests`);
  for (const m of rw) assert.is(protocolProblem('requests/vfio-type1.dmaRw', m, 'request'), undefined);
});

test('a dmaRw request without `write`, or a result with a positive errno, breaks the schema, named by field', () => {
  assert.match(protocolProblem('requests/vfio-type1.dmaRw', { id: 1, op: 'vfio-type1.dmaRw', iova: '0x1000', length: 2 }, 'r') ?? '', /lacks the required field "write"/);
  assert.is(protocolProblem('results/vfio-type1.dmaRw', { errno: 1 }, 'the result'), 'the result/errno must be <= 0');
  assert.is(protocolProblem('results/vfio-type1.create', { vaddrLimit: '0x1', dmaRw: true }, 'r'), undefined);
});

test.run();
