// The spec machines, and a read-only view of their transitions for the requirement
// catalogue, coverage accounting and (later) the generated spec document.
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { leafDescriptorMachine } from './descriptor/leaf-machine.ts';
import { domainTrackingMachine } from './domain/tracking-machine.ts';
import { iotlbEntryMachine } from './iotlb/iotlb-entry-machine.ts';
import { kvmGuestPageMachine } from './kvm/dirty-log/guest-page-machine.ts';
import { kvmMemslotMachine } from './kvm/dirty-log/memslot-machine.ts';
import { kvmDirtyGfnMachine, kvmDirtyRingVmMachine, kvmVcpuRingMachine } from './kvm/dirty-ring/ring-machines.ts';
import type { RuleMeta } from './rule.ts';
import { vfioType1Machine } from './vfio/type1-machine.ts';

export const specMachines = {
  leafDescriptor: leafDescriptorMachine,
  iotlbEntry: iotlbEntryMachine,
  domainTracking: domainTrackingMachine,
  vfioType1: vfioType1Machine,
  kvmMemslot: kvmMemslotMachine,
  kvmGuestPage: kvmGuestPageMachine,
  kvmDirtyRingVm: kvmDirtyRingVmMachine,
  kvmDirtyGfn: kvmDirtyGfnMachine,
  kvmVcpuRing: kvmVcpuRingMachine,
} as const satisfies Record<string, AnyStateMachine>;

export type SpecMachineName = keyof typeof specMachines;

export interface TransitionView {
  /** `source state path` + event + index among that event's candidates: unique per machine. */
  readonly key: string;
  readonly source: string;
  readonly event: string;
  readonly index: number;
  readonly targets: readonly string[];
  readonly actions: readonly string[];
  /** Requirement IDs named by the guard objects of this transition (nested in and/or/not too). */
  readonly guardReqs: readonly string[];
  readonly guarded: boolean;
  readonly meta: RuleMeta | undefined;
}

function guardReqs(g: unknown, out: string[]): void {
  if (g === undefined || g === null) return;
  if (typeof g === 'object') {
    const params = (g as { params?: { req?: unknown } }).params;
    if (params && typeof params.req === 'string') out.push(params.req);
    return;
  }
  if (typeof g === 'function') {
    // xstate's and()/or()/not() keep their operands in `guards` / `guard`.
    const fn = g as { guards?: unknown[]; guard?: unknown };
    for (const inner of fn.guards ?? []) guardReqs(inner, out);
    if (fn.guard !== undefined) guardReqs(fn.guard, out);
  }
}

export function machineTransitions(machine: AnyStateMachine): TransitionView[] {
  const out: TransitionView[] = [];
  const visit = (node: AnyStateNode): void => {
    for (const [event, list] of node.transitions) {
      list.forEach((t, index) => {
        const reqs: string[] = [];
        guardReqs(t.guard, reqs);
        out.push({
          key: `${node.path.join('.') || '(root)'} --${event}#${index}`,
          source: node.path.join('.') || '(root)',
          event,
          index,
          targets: (t.target ?? []).map((n: AnyStateNode) => n.path.join('.')),
          actions: t.actions.map((a: unknown) => (typeof a === 'string' ? a : ((a as { type?: string }).type ?? String(a)))),
          guardReqs: reqs,
          guarded: t.guard !== undefined,
          meta: t.meta as RuleMeta | undefined,
        });
      });
    }
    for (const child of Object.values(node.states)) visit(child);
  };
  visit(machine.root);
  return out;
}
