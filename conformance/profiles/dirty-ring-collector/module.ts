// Profile dirty-ring-collector as one module (the registry's ProfileModule,
// conformance/profiles/profile.ts). Its messages over the protocol are wire.ts; their
// schema definitions are in conformance/protocol/schema/protocol.json.
import { kvmDirtyGfnMachine, kvmVcpuRingMachine } from '../../../spec/kvm/dirty-ring/ring-machines.ts';
import { referenceDirtyRingCollectorAdapter } from '../../adapters/reference.ts';
import { delaysProblem, fields, isInt, list, oneOf, opsProblem } from '../kvm-dirty-ring/module.ts';
import type { ProfileModule } from '../profile.ts';
import { DIRTY_RING_COLLECTOR_PROFILE, replayDirtyRingCollectorScenario, runDirtyRingCollectorProfile } from './profile.ts';
import { dirtyRingCollectorOverChannel } from './wire.ts';

const slot = (v: unknown) => oneOf(v, [0, 1]);
const inject = (x: unknown, p: string) => fields(x, p, { at: (v) => isInt(v, 0, 64), what: (v) => oneOf(v, ['lastCopied', 'page']), slot, offset: (v) => isInt(v, 0, 255) });
const OPS = {
  guest: { vcpu: (v: unknown) => isInt(v, 0, 1), slot, start: (v: unknown) => isInt(v, 0, 255), count: (v: unknown) => isInt(v, 1, 1024), stride: (v: unknown) => oneOf(v, [1, 2, -1]) },
  noVcpu: { slot, offset: (v: unknown) => isInt(v, 0, 255) },
  sync: { injects: (v: unknown) => list(v, 'injects', inject, 16) === undefined },
};

/** check-trace: what is wrong with a recorded dirty-ring-collector scenario, or undefined. */
export function dirtyRingCollectorInputProblem(input: unknown): string | undefined {
  const top = fields(input, 'input', { config: () => true, ops: () => true, delays: () => true });
  if (top !== undefined) return top;
  const sc = input as { config: unknown; ops: unknown; delays: unknown };
  const config = sc.config as { arch?: unknown } | null;
  const arch = typeof config === 'object' && config !== null && config.arch !== undefined ? { arch: (v: unknown) => oneOf(v, ['x86', 'arm64']) } : {};
  return (
    fields(sc.config, 'input/config', { vcpus: (v) => oneOf(v, [1, 2]), withBitmap: (v) => typeof v === 'boolean', pml: (v) => typeof v === 'boolean', ...arch }) ?? opsProblem(sc.ops, 'input/ops', OPS, 10_000) ?? delaysProblem(sc.delays)
  );
}

export const dirtyRingCollectorProfile: ProfileModule<'dirty-ring-collector'> = {
  name: DIRTY_RING_COLLECTOR_PROFILE,
  underTest: "a VMM's dirty-ring collector as a black box (harvest with load-acquire, mark RESET with store-release, KVM_RESET_DIRTY_RINGS, copy the pages; the WITH_BITMAP bitmap last in the final sync)",
  kitSupplies:
    "KVM's side (the rings in kit memory with relaxed stores made visible late, pushes, soft full, the reset and its checks of the marks, KVM_GET_DIRTY_LOG) and the guest (writes, also between the collector's calls); the check: after the final sync the destination equals the source",
  machines: [kvmDirtyGfnMachine, kvmVcpuRingMachine],
  run: runDirtyRingCollectorProfile,
  replay: (adapter, input, timeoutMs, trace) => replayDirtyRingCollectorScenario(adapter, input, timeoutMs, trace),
  inputProblem: (input) => dirtyRingCollectorInputProblem(input),
  overChannel: dirtyRingCollectorOverChannel,
  reference: () => referenceDirtyRingCollectorAdapter(),
};
