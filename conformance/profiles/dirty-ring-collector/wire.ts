// Profile dirty-ring-collector over the JSON-lines protocol (conformance/protocol/PROTOCOL.md):
// the kit's half (`dirtyRingCollectorOverChannel`: each adapter method a request
// `dirty-ring-collector.<method>`; the collector's ring accesses `ring.*` and its calls to
// KVM and the migration stream `collector.resetDirtyRings/copyPage/getDirtyLog` are
// callbacks, answered from the kit's ring memory and host calls) and the implementation's
// half (`serveDirtyRingCollector`). Ring accesses carry their ordering as in
// kvm-dirty-ring/wire.ts, so the kit's delayed relaxed stores work across the protocol.
import { bytesFromWire, bytesToWire } from '../../protocol/codec.ts';
import type { CallbackHandler, Channel } from '../../protocol/channel.ts';
import { Violation } from '../../../model/violation.ts';
import { remoteRingMemory, ringMemoryCallback } from '../kvm-dirty-ring/wire.ts';
import type { CollectorHostCalls, DirtyRingCollectorAdapter, DirtyRingCollectorInstance } from './types.ts';

type Msg = Record<string, unknown>;
const P = 'dirty-ring-collector';
const n = (v: unknown) => v as number;

/** The kit's adapter for a collector behind `peer`. */
export function dirtyRingCollectorOverChannel(peer: Channel, name: string): DirtyRingCollectorAdapter {
  return {
    profile: 'dirty-ring-collector',
    name,
    async create(memory, host, config) {
      const onCallback: CallbackHandler = (c) => {
        const r = ringMemoryCallback(memory, c);
        if (r !== undefined) return r.answer;
        switch (c.op) {
          case 'collector.resetDirtyRings':
            try {
              return host.resetDirtyRings();
            } catch (e) {
              // The kit's KVM found the collector's marks wrong: the profile keeps that
              // violation and charges it when the sync returns, whatever the collector does
              // with the answer. Real KVM would consume the entries; -EINVAL keeps the session.
              if (e instanceof Violation) return -22;
              throw e;
            }
          case 'collector.copyPage':
            host.copyPage(n(c.slot), n(c.offset));
            return null;
          case 'collector.getDirtyLog':
            return bytesToWire(host.getDirtyLog(n(c.slot)));
          default:
            throw new Error(`${c.op} is not a callback of profile ${P}`);
        }
      };
      const call = (op: string, a: Msg = {}) => peer.request(`${P}.${op}`, a, onCallback);
      await call('create', { withBitmap: config.withBitmap, memslots: config.memslots.map((m) => ({ slot: m.slot, npages: m.npages })) });
      const inst: DirtyRingCollectorInstance = {
        addRing: async (base, entries) => void (await call('addRing', { base, entries })),
        sync: async (final) => void (await call('sync', { final })),
      };
      return inst;
    },
  };
}

/**
 * The implementation's half: `call` makes a callback to the kit and returns its answer
 * (synchronously, as the protocol's server does: the implementation waits for it).
 */
export function serveDirtyRingCollector(adapter: DirtyRingCollectorAdapter, call: (op: string, args?: Msg) => unknown): (m: Msg & { op: string }) => Promise<unknown> {
  let collector: DirtyRingCollectorInstance | undefined;
  const need = (op: string): DirtyRingCollectorInstance => {
    if (collector === undefined) throw new Error(`${op} before create`);
    return collector;
  };
  const host: CollectorHostCalls = {
    resetDirtyRings: () => n(call('collector.resetDirtyRings')),
    copyPage: (slot, offset) => void call('collector.copyPage', { slot, offset }),
    getDirtyLog: (slot) => bytesFromWire(call('collector.getDirtyLog', { slot }) as string),
  };
  return async (m) => {
    switch (m.op) {
      case `${P}.create`:
        collector = await adapter.create(remoteRingMemory(call), host, { withBitmap: m.withBitmap as boolean, memslots: (m.memslots as { slot: number; npages: number }[]).map((x) => ({ slot: x.slot, npages: x.npages })) });
        return {};
      case `${P}.addRing`:
        await need(m.op).addRing(n(m.base), n(m.entries));
        return {};
      case `${P}.sync`:
        await need(m.op).sync(m.final as boolean);
        return {};
      default:
        throw new Error(`unknown op ${m.op}`);
    }
  };
}
