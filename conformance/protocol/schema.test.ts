// The JSON Schemas describe every message: what the kit sends validates against them too
// (checked on real sessions with the reference served over the protocol), every request
// has a result schema, and a message that breaks them is named by field and rule.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PROFILES } from '../adapters/types.ts';
import { runProfile } from '../engine/run-profile.ts';
import { execAdapters } from './exec-adapters.ts';
import { ExecPeer } from './peer.ts';
import { definedOps, protocolProblem } from './schemas.ts';
import { servedReference } from './fixtures/served-reference.ts';

// The reference served from one bundled file (fixtures/served-reference.ts): started many times here.
const serveReference = servedReference();

test('every request the protocol defines has a result schema, and the other way round', () => {
  assert.equal(definedOps('requests').sort(), definedOps('results').sort());
  for (const p of PROFILES) assert.ok(definedOps('requests').includes(`${p}.create`), `${p}.create`);
});

test('every message the kit sends in real sessions of every profile validates against its schema', async () => {
  const sent: string[] = [];
  const received: string[] = [];
  const peer = await ExecPeer.start(serveReference, { timeoutMs: 10_000, onLine: (d, line) => void (d === '>' ? sent.push(line) : received.push(line)) });
  try {
    for (const [, adapter] of execAdapters(peer)) {
      const r = await runProfile(adapter, { runs: 8, seed: 11, timeoutMs: 10_000, maxCommands: 12 });
      assert.is(r.verdict, 'conforms', `${adapter.profile}`);
    }
  } finally {
    await peer.close();
  }
  const ops = new Set<string>();
  for (const line of sent) {
    const m = JSON.parse(line) as { id?: number; op?: string };
    const problem = 'id' in m ? protocolProblem(`requests/${m.op}`, m, 'request') : protocolProblem('answer', m, 'answer');
    assert.is(problem, undefined, line.slice(0, 300));
    if (m.op !== undefined) ops.add(m.op);
  }
  for (const p of PROFILES) assert.ok(ops.has(`${p}.create`), `a session of ${p} was seen`);
  assert.ok(ops.size >= 15, `${ops.size} distinct requests seen`);
  // The dirty ring's callbacks carry their ordering across the protocol: each one the
  // reference makes validates, and every ordering of loads and stores crossed.
  const orders = new Set<string>();
  for (const line of received) {
    const m = JSON.parse(line) as { cb?: number; op?: string; order?: string };
    if (m.cb === undefined || (!m.op?.startsWith('ring.') && !m.op?.startsWith('collector.'))) continue;
    assert.is(protocolProblem(`callbacks/${m.op}`, m, 'callback'), undefined, line.slice(0, 300));
    if (m.order !== undefined) orders.add(`${m.op}:${m.order}`);
  }
  for (const o of ['ring.load32:acquire', 'ring.load32:relaxed', 'ring.load64:relaxed', 'ring.store32:release', 'ring.store32:relaxed', 'ring.store64:relaxed']) assert.ok(orders.has(o), `${o} crossed the protocol`);
});

test('every message of a real kvm-dirty-log session, both ways, validates against its schema, and every operation and callback of the profile crosses', async () => {
  const lines: [string, string][] = [];
  const peer = await ExecPeer.start(serveReference, { timeoutMs: 10_000, onLine: (d, line) => void lines.push([d, line]) });
  try {
    const adapter = [...execAdapters(peer)].map(([, a]) => a).find((a) => a.profile === 'kvm-dirty-log');
    assert.ok(adapter, 'the served reference offers kvm-dirty-log');
    const r = await runProfile(adapter, { runs: 40, seed: 5, timeoutMs: 10_000, maxCommands: 30 });
    assert.is(r.verdict, 'conforms');
  } finally {
    await peer.close();
  }
  const ops = new Map<number, string>();
  const seen = new Set<string>();
  for (const [d, line] of lines) {
    const m = JSON.parse(line) as { id?: number; op?: string; cb?: number; re?: number; result?: unknown };
    let problem: string | undefined;
    if (d === '>' && m.id !== undefined && m.op !== undefined) {
      ops.set(m.id, m.op);
      problem = protocolProblem(`requests/${m.op}`, m, 'request');
    } else if (d === '>' && m.re !== undefined) problem = protocolProblem('answer', m, 'answer') ?? protocolProblem('answers/vcpu.between', m.result, 'answer/result');
    else if (m.cb !== undefined) problem = protocolProblem(`callbacks/${m.op}`, m, 'callback');
    else if (m.id !== undefined && 'result' in m && ops.get(m.id)?.startsWith('kvm-dirty-log.')) problem = protocolProblem(`results/${ops.get(m.id)}`, m.result, 'result');
    assert.is(problem, undefined, line.slice(0, 300));
    seen.add(m.op ?? (m.re !== undefined ? 'answer' : m.id !== undefined ? `result ${ops.get(m.id)}` : '?'));
  }
  for (const op of definedOps('requests').filter((o) => o.startsWith('kvm-dirty-log.'))) {
    assert.ok(seen.has(op), `${op} was sent`);
    assert.ok(seen.has(`result ${op}`), `${op} was answered`);
  }
  assert.ok(seen.has('vcpu.between') && seen.has('answer'), 'vcpu.between crossed both ways');
});

test('a schema problem names the field and the rule', () => {
  assert.is(protocolProblem('results/vfio-type1.mapDma', { errno: 5 }, 'the result'), 'the result/errno must be <= 0');
  assert.match(protocolProblem('results/vfio-type1.unmapDma', { errno: 0 }, 'the result') ?? '', /lacks the required field "unmapped"/);
  assert.match(protocolProblem('results/smmu-driver.unmap', { unmapped: 0, dirty: 'xyz' }, 'r') ?? '', /r\/dirty must match pattern/);
  assert.match(protocolProblem('callbacks/memory.store', { op: 'memory.store', address: 8, value: 7 }, 'cb') ?? '', /cb\/value must be string/);
  assert.match(protocolProblem('results/vfio-type1.create', { vaddrLimit: '0x1', extra: 1 }, 'r') ?? '', /has a field "extra"/);
});

test.run();
