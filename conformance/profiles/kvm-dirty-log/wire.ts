// Profile kvm-dirty-log over the JSON-lines protocol (conformance/protocol/PROTOCOL.md):
// the kit's half (`kvmDirtyLogOverChannel`: each adapter method a request
// `kvm-dirty-log.<method>`, the implementation's `vcpu.between` callbacks answered from
// hooks.between) and the implementation's half (`serveKvmDirtyLog`: decodes a request,
// calls an in-process adapter, encodes its result; hooks.between becomes the callback).
// Values as the protocol writes them: u64 as "0x" hex strings, byte strings as hex
// pairs. The messages' JSON Schema is in conformance/protocol/schema/protocol.json.
import { bytesFromWire, bytesToWire, u64FromWire, u64ToWire } from '../../protocol/codec.ts';
import type { CallbackHandler, Channel } from '../../protocol/channel.ts';
import type { KvmDirtyLogAdapter, KvmDirtyLogInstance } from './adapter.ts';

type Msg = Record<string, unknown>;
const P = 'kvm-dirty-log';
const n = (v: unknown) => v as number;
const u = (v: unknown) => u64FromWire(v as string);

/** The kit's adapter for an implementation behind `peer`. */
export function kvmDirtyLogOverChannel(peer: Channel, name: string): KvmDirtyLogAdapter {
  return {
    profile: 'kvm-dirty-log',
    name,
    async create(config, hooks) {
      const onCallback: CallbackHandler = (c) => {
        if (c.op !== 'vcpu.between') throw new Error(`${c.op} is not a callback of profile ${P}`);
        return { writes: hooks.between().map(u64ToWire) };
      };
      const call = (op: string, a: Msg = {}) => peer.request(`${P}.${op}`, a, onCallback);
      const r = await call('create', { hwDirty: config.hwDirty, eagerSplit: config.eagerSplit, dirtyRingExclusive: config.dirtyRingExclusive });
      const inst: KvmDirtyLogInstance = {
        userMemSlots: n(r.userMemSlots),
        addressSpaces: n(r.addressSpaces),
        readonlyMem: r.readonlyMem as boolean,
        userAddressLimit: u(r.userAddressLimit),
        setUserMemoryRegion: async (m) => ({
          errno: n((await call('setUserMemoryRegion', { slot: m.slot, flags: m.flags, guestPhysAddr: u64ToWire(m.guestPhysAddr), memorySize: u64ToWire(m.memorySize), userspaceAddr: u64ToWire(m.userspaceAddr) })).errno),
        }),
        enableCap: async (cap, flags, args0) => ({ errno: n((await call('enableCap', { cap, flags, args0: u64ToWire(args0) })).errno) }),
        checkExtension: async (cap) => n((await call('checkExtension', { cap })).value),
        async getDirtyLog(slot, bitmapBytes) {
          const x = await call('getDirtyLog', { slot, bitmapBytes });
          return { errno: n(x.errno), ...(x.bitmap === undefined ? {} : { bitmap: bytesFromWire(x.bitmap as string) }) };
        },
        clearDirtyLog: async (slot, firstPage, numPages, bitmap) => ({ errno: n((await call('clearDirtyLog', { slot, firstPage: u64ToWire(firstPage), numPages, bitmap: bytesToWire(bitmap) })).errno) }),
        vcpuWrite: async (gpa) => ({ exit: (await call('vcpuWrite', { gpa: u64ToWire(gpa) })).exit as 'none' | 'mmio' }),
        // KVM's own writes only where the implementation says it has them (create's `kvmWrite`).
        ...(r.kvmWrite === true ? { kvmWrite: async (gpa: bigint) => void (await call('kvmWrite', { gpa: u64ToWire(gpa) })) } : {}),
      };
      return inst;
    },
  };
}

/**
 * The implementation's half: `call` makes a callback to the kit and returns its answer
 * (synchronously, as the protocol's server does: the implementation waits for it).
 */
export function serveKvmDirtyLog(adapter: KvmDirtyLogAdapter, call: (op: string, args?: Msg) => unknown): (m: Msg & { op: string }) => Promise<unknown> {
  let vm: KvmDirtyLogInstance | undefined;
  const need = (op: string): KvmDirtyLogInstance => {
    if (vm === undefined) throw new Error(`${op} before create`);
    return vm;
  };
  return async (m) => {
    switch (m.op) {
      case `${P}.create`: {
        const between = () => ((call('vcpu.between') as { writes: string[] }).writes ?? []).map(u64FromWire);
        vm = await adapter.create({ hwDirty: m.hwDirty as boolean, eagerSplit: m.eagerSplit as boolean, dirtyRingExclusive: m.dirtyRingExclusive as boolean }, { between });
        return { userMemSlots: vm.userMemSlots, addressSpaces: vm.addressSpaces, readonlyMem: vm.readonlyMem, userAddressLimit: u64ToWire(vm.userAddressLimit), ...(typeof vm.kvmWrite === 'function' ? { kvmWrite: true } : {}) };
      }
      case `${P}.setUserMemoryRegion`:
        return need(m.op).setUserMemoryRegion({ slot: n(m.slot), flags: n(m.flags), guestPhysAddr: u(m.guestPhysAddr), memorySize: u(m.memorySize), userspaceAddr: u(m.userspaceAddr) });
      case `${P}.enableCap`:
        return need(m.op).enableCap(n(m.cap), n(m.flags), u(m.args0));
      case `${P}.checkExtension`:
        return { value: await need(m.op).checkExtension(n(m.cap)) };
      case `${P}.getDirtyLog`: {
        const r = await need(m.op).getDirtyLog(n(m.slot), n(m.bitmapBytes));
        return { errno: r.errno, ...(r.bitmap === undefined ? {} : { bitmap: bytesToWire(r.bitmap) }) };
      }
      case `${P}.clearDirtyLog`:
        return need(m.op).clearDirtyLog(n(m.slot), u(m.firstPage), n(m.numPages), bytesFromWire(m.bitmap as string));
      case `${P}.vcpuWrite`:
        return need(m.op).vcpuWrite(u(m.gpa));
      case `${P}.kvmWrite`: {
        const vm = need(m.op);
        if (vm.kvmWrite === undefined) throw new Error(`${m.op}: the implementation does not offer it`);
        await vm.kvmWrite(u(m.gpa));
        return {};
      }
      default:
        throw new Error(`unknown op ${m.op}`);
    }
  };
}
