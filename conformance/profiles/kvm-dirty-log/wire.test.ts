// The profile over the protocol: the kit's half and the implementation's half joined by
// a channel that carries every message as a JSON line and validates it against the
// protocol's schema (conformance/protocol/schema/protocol.json, this profile's messages included).
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceKvmDirtyLogAdapter } from '../../adapters/reference.ts';
import type { CallbackHandler, Channel } from '../../protocol/channel.ts';
import type { KvmDirtyLogAdapter } from './adapter.ts';
import { kvmDirtyLogMutants } from './mutants.ts';
import { runKvmDirtyLogProfile } from './profile.ts';
import { kvmDirtyLogOverChannel, serveKvmDirtyLog } from './wire.ts';

const protocol = JSON.parse(readFileSync(new URL('../../protocol/schema/protocol.json', import.meta.url), 'utf8')) as { $id: string; definitions: Record<string, unknown> };
const merged = { ...protocol, $id: `${protocol.$id}-kvm-dirty-log` };
const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });
ajv.addSchema(merged);
const check = (definition: string, value: unknown): void => {
  const v = ajv.getSchema(`${merged.$id}#/definitions/${definition.replaceAll('/', '~1')}`);
  if (v === undefined) throw new Error(`no schema definition ${definition}`);
  if (!v(value)) throw new Error(`${definition}: ${JSON.stringify(value).slice(0, 200)} breaks the schema: ${ajv.errorsText(v.errors)}`);
};

/** A channel to an in-process implementation: every message crosses as a JSON line, checked against the schema. */
class CheckedLoopback implements Channel {
  readonly hello = { name: 'wire', profiles: ['kvm-dirty-log'] };
  readonly seen = new Set<string>();
  private current: CallbackHandler | undefined;
  private next = 1;
  private readonly handle: ReturnType<typeof serveKvmDirtyLog>;

  constructor(adapter: KvmDirtyLogAdapter) {
    this.handle = serveKvmDirtyLog(adapter, (op, args = {}) => {
      const msg = JSON.parse(JSON.stringify({ cb: this.next++, op, ...args })) as { op: string };
      check(`callbacks/${op}`, msg);
      this.seen.add(`callbacks/${op}`);
      if (this.current === undefined) throw new Error(`callback ${op} outside a request`);
      const result = JSON.parse(JSON.stringify(this.current(msg as { op: string })));
      check(`answers/${op}`, result);
      return result;
    });
  }

  async request(op: string, args: Record<string, unknown>, onCallback?: CallbackHandler): Promise<Record<string, unknown>> {
    const msg = JSON.parse(JSON.stringify({ id: this.next++, op, ...args })) as Record<string, unknown> & { op: string };
    check(`requests/${op}`, msg);
    this.seen.add(`requests/${op}`);
    this.current = onCallback;
    try {
      const result = JSON.parse(JSON.stringify(await this.handle(msg))) as Record<string, unknown>;
      check(`results/${op}`, result);
      return result;
    } finally {
      this.current = undefined;
    }
  }
}

test('the reference conforms over the protocol; every kind of message of the session is valid against the schema', async () => {
  const peer = new CheckedLoopback(referenceKvmDirtyLogAdapter());
  const r = await runKvmDirtyLogProfile(kvmDirtyLogOverChannel(peer, 'wire'), { runs: 150, seed: 5, timeoutMs: 5000, maxCommands: 30 });
  assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation ?? r.undecided?.message));
  const all = Object.keys(protocol.definitions).filter((k) => k.startsWith('requests/kvm-dirty-log.') || k === 'callbacks/vcpu.between');
  assert.equal(
    all.filter((k) => !peer.seen.has(k)),
    [],
  );
});

test('a mutant behind the protocol is killed as in process', async () => {
  const m = kvmDirtyLogMutants.find((x) => x.name === 'kvm-flush-after-return')!;
  const r = await runKvmDirtyLogProfile(kvmDirtyLogOverChannel(new CheckedLoopback(m.adapter), m.name), { runs: 500, seed: 42, timeoutMs: 5000, maxCommands: 30 });
  assert.is(r.verdict, 'does-not-conform');
});

test('a message outside the schema is refused', () => {
  assert.throws(() => check('requests/kvm-dirty-log.clearDirtyLog', { id: 1, op: 'kvm-dirty-log.clearDirtyLog', slot: 0, firstPage: 64, numPages: 64, bitmap: '' }), /breaks the schema/);
  assert.throws(() => check('answers/vcpu.between', { writes: [1] }), /breaks the schema/);
});

test.run();
