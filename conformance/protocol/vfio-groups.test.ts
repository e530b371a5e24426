// The device's group leaving and joining over the JSON-lines protocol: an implementation
// that says so in create's result (`groups`) gets `vfio-type1.detachDevice` and
// `vfio-type1.attachDevice` requests, which validate against the schema, and VFIO-DETACH-1
// is decided through them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { VfioType1Adapter } from '../adapters/types.ts';
import { runProfile } from '../engine/run-profile.ts';
import { execAdapters } from './exec-adapters.ts';
import { servedReference } from './fixtures/served-reference.ts';
import { ExecPeer } from './peer.ts';
import { protocolProblem } from './schemas.ts';

test('[VFIO-DETACH-1] [VFIO-DIRTY-14] the reference served over the protocol offers groups in create, and VFIO-DETACH-1 passes through it', async () => {
  const sent: string[] = [];
  const peer = await ExecPeer.start(servedReference(), { timeoutMs: 10_000, onLine: (d, line) => void (d === '>' && sent.push(line)) });
  try {
    const adapter = execAdapters(peer).get('vfio-type1') as VfioType1Adapter;
    const r = await runProfile(adapter, { runs: 150, seed: 3, timeoutMs: 10_000, maxCommands: 30 });
    assert.is(r.verdict, 'conforms');
    for (const id of ['VFIO-DETACH-1', 'VFIO-DIRTY-14'])
      assert.ok(
        r.requirements.some((x) => x.id === id && x.verdict === 'pass'),
        `${id} passes`,
      );
  } finally {
    await peer.close();
  }
  const msgs = sent.map((l) => JSON.parse(l) as { op?: string });
  for (const op of ['vfio-type1.detachDevice', 'vfio-type1.attachDevice']) {
    const these = msgs.filter((m) => m.op === op);
    assert.ok(these.length > 0, `${op}: ${these.length} requests`);
    for (const m of these) assert.is(protocolProblem(`requests/${op}`, m, 'request'), undefined);
  }
});

test('a detachDevice request with a field, or a create result whose groups is not a boolean, breaks the schema, named by field', () => {
  assert.match(protocolProblem('requests/vfio-type1.detachDevice', { id: 1, op: 'vfio-type1.detachDevice', group: 2 }, 'r') ?? '', /group/);
  assert.match(protocolProblem('results/vfio-type1.create', { vaddrLimit: '0x1', groups: 'yes' }, 'r') ?? '', /groups/);
  assert.is(protocolProblem('results/vfio-type1.create', { vaddrLimit: '0x1', dmaRw: true, groups: true }, 'r'), undefined);
  assert.is(protocolProblem('results/vfio-type1.attachDevice', { errno: 0 }, 'r'), undefined);
});

test.run();
