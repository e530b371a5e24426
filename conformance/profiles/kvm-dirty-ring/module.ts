// Profile kvm-dirty-ring as one module (the registry's ProfileModule,
// conformance/profiles/profile.ts). Its messages over the protocol are wire.ts; their
// schema definitions are in conformance/protocol/schema/protocol.json.
import { kvmDirtyGfnMachine, kvmDirtyRingVmMachine, kvmVcpuRingMachine } from '../../../spec/kvm/dirty-ring/ring-machines.ts';
import { referenceKvmDirtyRingAdapter } from '../../adapters/reference.ts';
import type { ProfileModule } from '../profile.ts';
import { KVM_DIRTY_RING_PROFILE, replayKvmDirtyRingScenario, runKvmDirtyRingProfile } from './profile.ts';
import { kvmDirtyRingOverChannel } from './wire.ts';

type Shape = Record<string, (v: unknown) => boolean>;
export const isInt = (x: unknown, min: number, max: number) => typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max;
export const oneOf = (x: unknown, values: readonly unknown[]) => values.includes(x);
const isBool = (x: unknown) => typeof x === 'boolean';

/** The first field of `o` that is not in `shape` or breaks its rule, named by path. */
export function fields(o: unknown, path: string, shape: Shape): string | undefined {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return `${path} must be an object`;
  for (const k of Object.keys(o)) if (!Object.hasOwn(shape, k)) return `${path}/${k} is not a field`;
  for (const [k, ok] of Object.entries(shape)) if (!ok((o as Record<string, unknown>)[k])) return `${path}/${k} is missing or malformed`;
  return undefined;
}

/** The first item of array `o` with a problem, or the array's own. */
export function list(o: unknown, path: string, item: (x: unknown, path: string) => string | undefined, max: number): string | undefined {
  if (!Array.isArray(o) || o.length > max) return `${path} must be an array of at most ${max} items`;
  for (let i = 0; i < o.length; i++) {
    const p = item(o[i], `${path}/${i}`);
    if (p !== undefined) return p;
  }
  return undefined;
}

/** An op told apart from the others by `k`: its kind's fields, and no other. */
export function opProblem(op: unknown, p: string, kinds: Record<string, Shape>): string | undefined {
  const k = (op as { k?: unknown } | null)?.k;
  const shape = typeof k === 'string' && Object.hasOwn(kinds, k) ? kinds[k] : undefined;
  if (shape === undefined) return `${p}/k must be one of ${Object.keys(kinds).join(', ')}`;
  return fields(op, p, { ...shape, k: () => true });
}

/** An op list whose items are told apart by `k`: each kind's fields, and no other. */
export function opsProblem(ops: unknown, path: string, kinds: Record<string, Shape>, max: number): string | undefined {
  return list(ops, path, (op, p) => opProblem(op, p, kinds), max);
}

/** Relaxed-store delays, in kit steps, in issue order (as the kit generates them: 0 to 4). */
export const delaysProblem = (v: unknown) => list(v, 'input/delays', (d, p) => (isInt(d, 0, 64) ? undefined : `${p} must be an integer 0..64`), 1024);

const SIZES = ['ok', 'zero', 'notPow2', 'small', 'big'];
const vcpu = (v: unknown) => isInt(v, 0, 1);
const slot = (v: unknown) => oneOf(v, [0, 1]);
const OPS: Record<string, Shape> = {
  run: { vcpu, slot, start: (v) => isInt(v, 0, 255), count: (v) => isInt(v, 1, 1024), stride: (v) => oneOf(v, [1, 2, -1]) },
  harvest: { vcpu, max: (v) => isInt(v, 1, 1 << 20) },
  hostile: { vcpu, pick: (v) => isInt(v, 0, 1 << 16), kind: (v) => oneOf(v, ['wrap', 'badAs', 'badId', 'noSlot', 'pastEnd', 'otherPage', 'otherSlot', 'remark', 'markInvalid']) },
  reset: {},
  noVcpu: { slot, offset: (v) => isInt(v, 0, 63) },
  getLog: { slot },
  enable: { cap: (v) => isInt(v, 0, 0xffff_ffff), size: (v) => oneOf(v, SIZES) },
};

/** The aimed sequences' ops (aimed.ts): the ops', a run of listed pages, the largest ring, a run to the soft limit, an unknown capability asked for. */
const AIMED_OPS: Record<string, Shape> = {
  ...OPS,
  run: { ...OPS.run!, pages: (v) => v === undefined || list(v, 'pages', (x, p) => (isInt(x, 0, 255) ? undefined : `${p} must be a page 0..255`), 64) === undefined },
  enable: { cap: (v) => isInt(v, 0, 0xffff_ffff), size: (v) => oneOf(v, [...SIZES, 'max']) },
  fill: { vcpu, extra: (v) => isInt(v, -64, 65536), fresh: (v) => v === undefined || isBool(v), pmlOnly: (v) => v === undefined || isBool(v) },
  checkExt: { cap: (v) => isInt(v, 0, 0xffff_ffff) },
};
const SETUP_OPS: Record<string, Shape> = { enable: AIMED_OPS.enable!, checkExt: AIMED_OPS.checkExt! };

/** The aimed steps (aimed.ts): before the vCPUs only enables and capability questions, after the ops any aimed op. */
const aimedProblem = (v: unknown) =>
  v === undefined
    ? undefined
    : list(
        v,
        'input/aimed',
        (s, p) => {
          const at = (s as { at?: unknown } | null)?.at;
          return fields(s, p, { at: (a) => oneOf(a, ['enable', 'ring', 'end']), op: () => true }) ?? opProblem((s as { op: unknown }).op, `${p}/op`, at === 'end' ? AIMED_OPS : SETUP_OPS);
        },
        64,
      );

/** check-trace: what is wrong with a recorded kvm-dirty-ring scenario, or undefined. */
export function kvmDirtyRingInputProblem(input: unknown): string | undefined {
  const top = fields(input, 'input', { config: () => true, ops: () => true, delays: () => true, aimed: () => true, signals: () => true, resetRaces: () => true });
  if (top !== undefined) return top;
  const sc = input as { config: unknown; ops: unknown; delays: unknown; aimed?: unknown; signals?: unknown; resetRaces?: unknown };
  return (
    fields(sc.config, 'input/config', {
      arch: (v) => oneOf(v, ['x86', 'arm64']),
      ringBytes: (v) => oneOf(v, [4096, 8192]),
      vcpus: (v) => oneOf(v, [1, 2]),
      withBitmap: isBool,
      late: isBool,
      enables: (v) => list(v, 'enables', (e, p) => fields(e, p, { cap: (c) => isInt(c, 0, 0xffff_ffff), size: (s) => oneOf(s, SIZES) }), 8) === undefined,
    }) ??
    opsProblem(sc.ops, 'input/ops', OPS, 10_000) ??
    delaysProblem(sc.delays) ??
    aimedProblem(sc.aimed) ??
    (sc.signals === undefined ? undefined : list(sc.signals, 'input/signals', (x, p) => (isInt(x, -1, 1 << 20) ? undefined : `${p} must be an integer -1..${1 << 20} (the check a signal is pending from; -1: none)`), 1024)) ??
    (sc.resetRaces === undefined ? undefined : list(sc.resetRaces, 'input/resetRaces', (x, p) => (x === null ? undefined : fields(x, p, { at: (v) => isInt(v, 0, 1 << 20), pick: (v) => isInt(v, 0, 1 << 20) })), 1024))
  );
}

export const kvmDirtyRingProfile: ProfileModule<'kvm-dirty-ring'> = {
  name: KVM_DIRTY_RING_PROFILE,
  underTest: "KVM's side of the dirty ring as a black box (KVM_ENABLE_CAP(DIRTY_LOG_RING[_ACQ_REL|_WITH_BITMAP]), KVM_CREATE_VCPU, memslots, KVM_RUN pushing to the ring and exiting when soft full, KVM_RESET_DIRTY_RINGS, KVM_GET_DIRTY_LOG)",
  kitSupplies:
    'the ring memory with its ordering (relaxed stores made visible late, release/acquire honoured), guest writes, a correct collector and a hostile one that rewrites harvested entries (wrapped offsets, wrong slots), the ioctls valid and invalid; the checks: every errno, the soft limit, the entries in order, exactly the harvested pages re-protected',
  machines: [kvmDirtyRingVmMachine, kvmDirtyGfnMachine, kvmVcpuRingMachine],
  run: runKvmDirtyRingProfile,
  replay: (adapter, input, timeoutMs, trace) => replayKvmDirtyRingScenario(adapter, input, timeoutMs, trace),
  inputProblem: (input) => kvmDirtyRingInputProblem(input),
  overChannel: kvmDirtyRingOverChannel,
  // The reference is Linux v6.18's reset, which checks for signals (49005a2a3d2a), with the open batch re-protected (KVM-RING-24).
  reference: () => referenceKvmDirtyRingAdapter('reference', undefined, 0, true),
};
