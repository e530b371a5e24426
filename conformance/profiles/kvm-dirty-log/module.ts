// Profile kvm-dirty-log as one module, in the shape of the registry's ProfileModule
// (conformance/profiles/profile.ts). Its messages over the protocol are wire.ts, their
// schema definitions are in conformance/protocol/schema/protocol.json. The
// registry entry, the profile's name in conformance/adapters/types.ts (the Adapter union
// and PROFILES), serve.ts's delegation to serveKvmDirtyLog and the mutants' place in the
// zoo are the lead's to wire.
import type { AnyStateMachine } from 'xstate';
import { kvmGuestPageMachine } from '../../../spec/kvm/dirty-log/guest-page-machine.ts';
import { kvmMemslotMachine } from '../../../spec/kvm/dirty-log/memslot-machine.ts';
import { referenceKvmDirtyLogAdapter } from '../../adapters/reference.ts';
import type { TraceStep } from '../../engine/commands.ts';
import type { Channel } from '../../protocol/channel.ts';
import type { ProfileResult, RunOptions } from '../../engine/run-profile.ts';
import type { KvmDirtyLogAdapter } from './adapter.ts';
import { KVM_DIRTY_LOG_PROFILE, replayKvmDirtyLogScenario, runKvmDirtyLogProfile } from './profile.ts';
import { kvmDirtyLogOverChannel } from './wire.ts';

const isInt = (x: unknown, min: number, max: number) => typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max;
const isBig = (x: unknown) => typeof x === 'bigint' && x >= 0n && x < 1n << 64n;
const oneOf = (x: unknown, values: readonly string[]) => typeof x === 'string' && values.includes(x);
const U32 = 0xffff_ffff;

function fields(o: unknown, path: string, shape: Record<string, (v: unknown) => boolean>): string | undefined {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return `${path} must be an object`;
  for (const k of Object.keys(o)) if (!Object.hasOwn(shape, k)) return `${path}/${k} is not a field`;
  for (const [k, ok] of Object.entries(shape)) if (!ok((o as Record<string, unknown>)[k])) return `${path}/${k} is missing or malformed`;
  return undefined;
}
function list(o: unknown, path: string, item: (x: unknown, path: string) => string | undefined, max = 10_000): string | undefined {
  if (!Array.isArray(o) || o.length > max) return `${path} must be an array of at most ${max} items`;
  for (let i = 0; i < o.length; i++) {
    const p = item(o[i], `${path}/${i}`);
    if (p !== undefined) return p;
  }
  return undefined;
}
const race = (x: unknown, p: string) => fields(x, p, { at: (v) => isInt(v, 0, U32), page: (v) => isInt(v, 0, U32), near: (v) => typeof v === 'boolean' });
const races = (v: unknown) => list(v, 'races', race, 16) === undefined;
const id = (v: unknown) => oneOf(v, ['ok', 'badAs', 'badId']);
const pick = (v: unknown) => isInt(v, 0, 15);

const OPS: Record<string, Record<string, (v: unknown) => boolean>> = {
  region: { pick, kind: (v) => typeof v === 'string', pages: (v) => isInt(v, 1, 1 << 20), flags: (v) => isInt(v, 0, U32), shift: (v) => v === undefined || isInt(v, 0, 1023) },
  cap: { cap: (v) => isInt(v, 0, U32), flags: (v) => isInt(v, 0, U32), args0: isBig },
  ext: {},
  get: { pick, id, short: (v) => typeof v === 'boolean', races },
  clear: {
    pick,
    id,
    first: (v) => oneOf(v, ['zero', 'c64', 'c128', 'lastChunk', 'roundUp', 'unaligned', 'one', 'huge']),
    num: (v) => oneOf(v, ['zero', 'n64', 'n128', 'toEnd', 'toEndMinus1', 'toEndPlus1', 'n36', 'full']),
    bits: (v) => oneOf(v, ['all', 'some', 'none']),
    some: (v) => Array.isArray(v) && v.length <= 64 && v.every((b) => isInt(b, 0, 1 << 20)),
    bytes: (v) => oneOf(v, ['ok', 'short', 'extra']),
    races,
  },
  write: { pick, page: (v) => isInt(v, -(1 << 20), 1 << 20), nowhere: (v) => typeof v === 'boolean' },
  aim: { pick, n: (v) => isInt(v, 0, U32), pages: (v) => isInt(v, 1, 1 << 20), from: (v) => v === undefined || oneOf(v, ['absent', 'noLog', 'logging']) },
  split: { on: (v) => typeof v === 'boolean' },
  burst: { pick, chunk: (v) => isInt(v, 0, 1 << 14), offsets: (v) => Array.isArray(v) && v.length <= 64 && v.every((b) => isInt(b, 0, 63)) },
  flood: { pick, from: (v) => isInt(v, 0, 1 << 20), count: (v) => isInt(v, 0, 4096) },
};

const configProblem = (v: unknown) => fields(v, 'input/config', { hwDirty: (x) => typeof x === 'boolean', eagerSplit: (x) => typeof x === 'boolean', dirtyRingExclusive: (x) => typeof x === 'boolean' });
const config = () => true; // checked first, by configProblem, for its message

/** check-trace: what is wrong with a recorded kvm-dirty-log scenario, or undefined. */
export function kvmDirtyLogInputProblem(input: unknown): string | undefined {
  const kind = (input as { kind?: unknown } | null)?.kind;
  if (kind !== 'ops' && kind !== 'migration') return 'input/kind must be "ops" or "migration"';
  const c = configProblem((input as { config?: unknown }).config);
  if (c !== undefined) return c;
  if (kind === 'ops') {
    return (
      fields(input, 'input', { kind: () => true, config, ops: (v) => Array.isArray(v), kvmWrites: () => true }) ??
      list((input as { ops: unknown }).ops, 'input/ops', (op, path) => {
        const k = (op as { k?: unknown } | null)?.k;
        const shape = typeof k === 'string' && Object.hasOwn(OPS, k) ? OPS[k] : undefined;
        if (shape === undefined) return `${path}/k must be one of ${Object.keys(OPS).join(', ')}`;
        return fields(op, path, { ...shape, k: () => true });
      }) ??
      ((input as { kvmWrites?: unknown }).kvmWrites === undefined
        ? undefined
        : list((input as { kvmWrites: unknown }).kvmWrites, 'input/kvmWrites', (w, path) => fields(w, path, { after: (v) => isInt(v, 0, U32), pick: (v) => isInt(v, 0, 2), page: (v) => isInt(v, 0, 1 << 20) }), 64))
    );
  }
  {
    const slotPage = (p: string) => (x: unknown, path: string) =>
      fields(x, `${path}`, {
        ...(p === 'races' ? { call: (v: unknown) => isInt(v, 0, U32), omit: (v: unknown) => v === undefined || v === 1 } : {}),
        at: (v) => isInt(v, 0, U32),
        slot: (v) => isInt(v, 0, 15),
        page: (v) => isInt(v, -(1 << 20), 1 << 20),
      });
    const o = input as { writes?: unknown; races?: unknown } | null;
    return (
      fields(input, 'input', {
        kind: () => true,
        config,
        mode: (v) => oneOf(v, ['read-and-clear', 'manual-protect']),
        initiallySet: (v) => typeof v === 'boolean',
        slots: (v) => Array.isArray(v) && v.length >= 1 && v.length <= 3 && v.every((p) => isInt(p, 1, 1 << 16)),
        before: (v) => Array.isArray(v) && v.every((p) => isInt(p, 0, 1 << 20)),
        writes: () => true, // below, naming the item
        races: () => true,
      }) ??
      list(o?.writes, 'input/writes', slotPage('writes'), 1000) ??
      list(o?.races, 'input/races', slotPage('races'), 1000)
    );
  }
}

/** The registry's ProfileModule, for this profile's adapter. */
export interface KvmDirtyLogProfileModule {
  readonly name: typeof KVM_DIRTY_LOG_PROFILE;
  readonly underTest: string;
  readonly kitSupplies: string;
  readonly machines: readonly AnyStateMachine[];
  run(adapter: KvmDirtyLogAdapter, options: RunOptions): Promise<ProfileResult>;
  replay(adapter: KvmDirtyLogAdapter, input: unknown, timeoutMs: number, trace: TraceStep[]): Promise<number>;
  inputProblem(input: unknown, isCommand: (c: unknown) => boolean): string | undefined;
  overChannel(peer: Channel, name: string): KvmDirtyLogAdapter;
  reference(): KvmDirtyLogAdapter;
}

export const kvmDirtyLogProfile: KvmDirtyLogProfileModule = {
  name: KVM_DIRTY_LOG_PROFILE,
  underTest: "a KVM VM's dirty log as a black box (KVM_SET_USER_MEMORY_REGION, KVM_ENABLE_CAP(MANUAL_DIRTY_LOG_PROTECT2), KVM_GET_DIRTY_LOG, KVM_CLEAR_DIRTY_LOG, a vCPU writing guest pages)",
  kitSupplies:
    "the ioctls, valid and invalid, at every 64-page edge; guest writes between calls and between the implementation's memory accesses; a migration client in both modes; the checks: every errno from the memslot machine, no loss, no false dirty, destination equal to source",
  machines: [kvmMemslotMachine, kvmGuestPageMachine],
  run: runKvmDirtyLogProfile,
  replay: replayKvmDirtyLogScenario,
  inputProblem: (input) => kvmDirtyLogInputProblem(input),
  overChannel: kvmDirtyLogOverChannel,
  reference: () => referenceKvmDirtyLogAdapter(),
};
