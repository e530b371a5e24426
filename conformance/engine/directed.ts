// Directed tests: for every transition of the IOTLB entry machine, the shortest event
// path that takes it (xstate/graph `getShortestPaths` over the machine's alphabet, then
// the transition's event), realised as kit operations on one page in profile smmu-hw,
// where the kit is the driver and can leave the hardware in the hazard states a faulty
// driver would. The random runs reach the ordinary transitions; these reach the rare
// ones (a stale entry evicted, a stale entry read, a stale read-only entry written).
//
// Each directed test is a fixed command sequence run by the same engine, with the same
// checks, and is named by the transition it aims at: `iotlbEntry/<transition key>`.
import { getShortestPaths } from 'xstate/graph';
import { IOTLB_EVENTS, iotlbEntryMachine, type IotlbEvent } from '../../spec/iotlb/iotlb-entry-machine.ts';
import { iotlbTable } from '../../model/descriptor-model.ts';
import { stateKey } from '../../model/transition-table.ts';
import { DmaCommand, InvalidateCommand, MapCommand, ReadAndClearCommand, type RunCommand } from './commands.ts';
import { KitClearWithoutTlbiCommand, KitPgtableCommand, KitSetCdCommand, KitUnmapWithoutTlbiCommand } from './kit-commands.ts';
import type { SystemConfig } from './system.ts';

export interface DirectedTest {
  readonly id: string;
  readonly events: readonly IotlbEvent[];
  readonly config: SystemConfig & { startTracking: boolean };
  readonly commands: readonly RunCommand[];
}

const P = 0;
const EVICTORS = [0x20_0000, 0x20_1000, 0x20_2000];
const CAPACITY = 2;

/** The shortest event path to each transition of the IOTLB machine. */
export function iotlbTransitionPaths(): Map<string, IotlbEvent[]> {
  const out = new Map<string, IotlbEvent[]>();
  const paths = getShortestPaths(iotlbEntryMachine, { events: IOTLB_EVENTS });
  paths.sort((a, b) => a.steps.length - b.steps.length);
  for (const path of paths) {
    const prefix = path.steps.map((s) => s.event as IotlbEvent).filter((e) => !String(e.type).startsWith('xstate.'));
    for (const event of IOTLB_EVENTS) {
      const entry = iotlbTable.peek(iotlbTable.states.find((s) => stateKey(s) === stateKey(path.state))!, event);
      for (const t of entry?.transitions ?? []) if (!out.has(t)) out.set(t, [...prefix, event]);
    }
  }
  return out;
}

/** The kit operations that make the IOTLB entry of page P see each event. */
function realise(events: readonly IotlbEvent[]): RunCommand[] | undefined {
  const first = events[0];
  const cmds: RunCommand[] = [new MapCommand(EVICTORS[0]! / 0x1000, EVICTORS.length, false, false)];
  let state: 'absent' | 'cached' | 'staleDirty' | 'staleUnmapped' = 'absent';
  for (const [i, e] of events.entries()) {
    switch (e.type) {
      case 'WALK':
        if (i === 0 && e.leaf !== 'invalid') {
          cmds.push(new MapCommand(P / 0x1000, 1, e.leaf !== 'readOnly', false));
          if (e.leaf === 'writableClean') cmds.push(new ReadAndClearCommand(0, 1, false));
        }
        cmds.push(new DmaCommand(false, 0, 0, 0, undefined, P));
        state = 'cached';
        break;
      case 'DMA_READ':
        cmds.push(new DmaCommand(false, 0, 0, 0, undefined, P));
        break;
      case 'DMA_WRITE':
        cmds.push(new KitSetCdCommand(true, e.hd), new DmaCommand(true, 0, 0, 0, undefined, P));
        break;
      case 'SW_CLEAR_DIRTY':
        cmds.push(new KitClearWithoutTlbiCommand(0));
        if (state === 'cached') state = 'staleDirty';
        break;
      case 'SW_UNMAP':
        cmds.push(new KitUnmapWithoutTlbiCommand(0));
        state = 'staleUnmapped';
        break;
      case 'SW_KEEP_STATE':
        cmds.push(new KitPgtableCommand('markAllDirty'));
        state = 'absent';
        break;
      case 'INVALIDATE':
        cmds.push(new InvalidateCommand(P / 0x1000, 1, false));
        state = 'absent';
        break;
      case 'EVICT':
        // Fill the IOTLB, then probe P with the access whose outcome tells an evicted entry apart.
        for (const iova of EVICTORS) cmds.push(new DmaCommand(false, 0, 0, 0, undefined, iova));
        cmds.push(new DmaCommand(state === 'staleDirty', 0, 0, 0, undefined, P));
        state = 'cached';
        break;
    }
  }
  if (first === undefined) return undefined;
  return cmds;
}

export function iotlbDirectedTests(): DirectedTest[] {
  const tests: DirectedTest[] = [];
  for (const [key, events] of iotlbTransitionPaths()) {
    const commands = realise(events);
    if (commands === undefined) continue;
    const plainWritable = events.some((e) => e.type === 'WALK' && e.leaf === 'writable');
    tests.push({
      id: `iotlbEntry/${key}`,
      events,
      config: { httu: 2, bbml: 2, iotlbCapacity: CAPACITY, dirtyCapable: !plainWritable, pageGranular: false, startTracking: !plainWritable },
      commands,
    });
  }
  return tests;
}
