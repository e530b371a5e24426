// Profile kvm-dirty-ring over the JSON-lines protocol (conformance/protocol/PROTOCOL.md):
// the kit's half (`kvmDirtyRingOverChannel`: each adapter method a request
// `kvm-dirty-ring.<method>`, the implementation's ring memory accesses callbacks
// `ring.load32/load64/store32/store64` answered from the kit's KitRingMemory) and the
// implementation's half (`serveKvmDirtyRing`: decodes a request, calls an in-process
// adapter, encodes its result; its KitRingMemory becomes the callbacks).
//
// Each ring access crosses with its ordering ("relaxed", "acquire", "release") and is
// applied to the kit's ordered memory when its callback arrives, in the order the
// implementation made them: the kit delays relaxed stores exactly as in process. A batch
// of stores (the protocol's `batch` callback) is applied in its order when it arrives,
// which is before the implementation's next load, callback or reply: stores need no
// answer, and batching them changes nothing the other side can see.
// Values as the protocol writes them: u64 as "0x" hex strings, byte strings as hex pairs.
// The messages' JSON Schema is in conformance/protocol/schema/protocol.json.
import { bytesFromWire, bytesToWire, u64FromWire, u64ToWire } from '../../protocol/codec.ts';
import type { CallbackHandler, Channel } from '../../protocol/channel.ts';
import type { GuestWriteArg, KitRingMemory, KitTask, KvmDirtyRingAdapter, KvmDirtyRingInstance, RingLoadOrder, RingStoreOrder } from './types.ts';

type Msg = Record<string, unknown>;
const P = 'kvm-dirty-ring';
const n = (v: unknown) => v as number;

/** Answers a `ring.*` callback from the kit's ring memory, or returns `undefined` for another op. */
export function ringMemoryCallback(memory: KitRingMemory, c: Msg & { op: string }): { answer: unknown } | undefined {
  switch (c.op) {
    case 'ring.load32':
      return { answer: memory.load32(n(c.addr), c.order as RingLoadOrder) };
    case 'ring.load64':
      return { answer: u64ToWire(memory.load64(n(c.addr), c.order as RingLoadOrder)) };
    case 'ring.store32':
      memory.store32(n(c.addr), n(c.value), c.order as RingStoreOrder);
      return { answer: null };
    case 'ring.store64':
      memory.store64(n(c.addr), u64FromWire(c.value as string), c.order as RingStoreOrder);
      return { answer: null };
    default:
      return undefined;
  }
}

/** The kit's ring memory as an implementation behind the protocol sees it: every access a callback. */
export function remoteRingMemory(call: (op: string, args?: Msg) => unknown): KitRingMemory {
  return {
    load32: (addr, order) => n(call('ring.load32', { addr, order })),
    load64: (addr, order) => u64FromWire(call('ring.load64', { addr, order }) as string),
    store32: (addr, value, order) => void call('ring.store32', { addr, value, order }),
    store64: (addr, value, order) => void call('ring.store64', { addr, value: u64ToWire(value), order }),
  };
}

/** The kit's task (signal_pending) as an implementation behind the protocol sees it: a callback. */
export function remoteTask(call: (op: string, args?: Msg) => unknown): KitTask {
  return {
    signalPending: () => call('task.signalPending') === true,
    vcpuBetween: () => ((call('task.vcpuBetween') as { writes?: GuestWriteArg[] } | null)?.writes ?? []).map((w) => ({ slot: n(w.slot), offset: n(w.offset) })),
  };
}

/** The kit's adapter for an implementation behind `peer`. */
export function kvmDirtyRingOverChannel(peer: Channel, name: string): KvmDirtyRingAdapter {
  return {
    profile: 'kvm-dirty-ring',
    name,
    ...(peer.hello.kvmCpuDirtyLogSize === undefined ? {} : { cpuDirtyLogSize: peer.hello.kvmCpuDirtyLogSize }),
    ...(peer.hello.kvmChecksSignals === true ? { checksSignals: true } : {}),
    async create(memory, config, task) {
      const onCallback: CallbackHandler = (c) => {
        // signal_pending(current) in KVM_RESET_DIRTY_RINGS (types.ts KitTask): a boolean.
        if (c.op === 'task.signalPending') return task.signalPending();
        // The vCPU's writes racing the ioctl (types.ts KitTask.vcpuBetween).
        if (c.op === 'task.vcpuBetween') return { writes: task.vcpuBetween().map((w) => ({ slot: w.slot, offset: w.offset })) };
        const r = ringMemoryCallback(memory, c);
        if (r === undefined) throw new Error(`${c.op} is not a callback of profile ${P}`);
        return r.answer;
      };
      const call = (op: string, a: Msg = {}) => peer.request(`${P}.${op}`, a, onCallback);
      await call('create', { arch: config.arch });
      const inst: KvmDirtyRingInstance = {
        checkExtension: async (cap) => n((await call('checkExtension', { cap })).value),
        enableCap: async (cap, arg0, flags) => n((await call('enableCap', { cap, arg0, flags })).errno),
        createVcpu: async (ringBase) => n((await call('createVcpu', { ringBase })).vcpu),
        setMemslot: async (asId, id, npages, logDirty) => n((await call('setMemslot', { asId, memslotId: id, npages, logDirty })).errno),
        async run(vcpu, writes) {
          const r = await call('run', { vcpu, writes: writes.map((w) => ({ slot: w.slot, offset: w.offset })) });
          return { exitReason: n(r.exitReason), done: n(r.done) };
        },
        writeWithoutVcpu: async (w) => void (await call('writeWithoutVcpu', { slot: w.slot, offset: w.offset })),
        resetDirtyRings: async () => n((await call('resetDirtyRings')).value),
        async getDirtyLog(slot) {
          const r = await call('getDirtyLog', { slot });
          return { errno: n(r.errno), ...(r.bitmap === undefined ? {} : { bitmap: bytesFromWire(r.bitmap as string) }) };
        },
        writeProtectedPages: async (slot) => bytesFromWire((await call('writeProtectedPages', { slot })).bitmap as string),
      };
      return inst;
    },
  };
}

/**
 * The implementation's half: `call` makes a callback to the kit and returns its answer
 * (synchronously, as the protocol's server does: the implementation waits for it).
 */
export function serveKvmDirtyRing(adapter: KvmDirtyRingAdapter, call: (op: string, args?: Msg) => unknown): (m: Msg & { op: string }) => Promise<unknown> {
  let vm: KvmDirtyRingInstance | undefined;
  const need = (op: string): KvmDirtyRingInstance => {
    if (vm === undefined) throw new Error(`${op} before create`);
    return vm;
  };
  return async (m) => {
    switch (m.op) {
      case `${P}.create`:
        vm = await adapter.create(remoteRingMemory(call), { arch: m.arch as 'x86' | 'arm64' }, remoteTask(call));
        return {};
      case `${P}.checkExtension`:
        return { value: await need(m.op).checkExtension(n(m.cap)) };
      case `${P}.enableCap`:
        return { errno: await need(m.op).enableCap(n(m.cap), n(m.arg0), n(m.flags)) };
      case `${P}.createVcpu`:
        return { vcpu: await need(m.op).createVcpu(n(m.ringBase)) };
      case `${P}.setMemslot`:
        return { errno: await need(m.op).setMemslot(n(m.asId), n(m.memslotId), n(m.npages), m.logDirty as boolean) };
      case `${P}.run`: {
        const r = await need(m.op).run(n(m.vcpu), m.writes as GuestWriteArg[]);
        return { exitReason: r.exitReason, done: r.done };
      }
      case `${P}.writeWithoutVcpu`:
        await need(m.op).writeWithoutVcpu({ slot: n(m.slot), offset: n(m.offset) });
        return {};
      case `${P}.resetDirtyRings`:
        return { value: await need(m.op).resetDirtyRings() };
      case `${P}.getDirtyLog`: {
        const r = await need(m.op).getDirtyLog(n(m.slot));
        return { errno: r.errno, ...(r.bitmap === undefined ? {} : { bitmap: bytesToWire(r.bitmap) }) };
      }
      case `${P}.writeProtectedPages`:
        return { bitmap: bytesToWire(await need(m.op).writeProtectedPages(n(m.slot))) };
      default:
        throw new Error(`unknown op ${m.op}`);
    }
  };
}
