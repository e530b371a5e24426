// Directed tests: for every transition of the leaf and IOTLB entry machines, the shortest event
// path that takes it (xstate/graph `getShortestPaths` over the machine's alphabet, then
// the transition's event), realised as kit operations on one page in profile smmu-hw,
// where the kit is the driver and can leave the hardware in the hazard states a faulty
// driver would. The random runs reach the ordinary transitions; these reach the rare
// ones (a stale entry evicted, a stale entry read, a stale read-only entry written).
//
// Each directed test is a fixed command sequence run by the same engine, with the same
// checks, and is named by the transition it aims at: `iotlbEntry/<transition key>`.
import type { AnyStateMachine, EventObject } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { LEAF_EVENTS, leafDescriptorMachine, type LeafEvent } from '../../spec/descriptor/leaf-machine.ts';
import { IOTLB_EVENTS, iotlbEntryMachine, type IotlbEvent } from '../../spec/iotlb/iotlb-entry-machine.ts';
import { smmuTables } from '../../model/run-context.ts';
import { stateKey, type TransitionTable } from '../../model/transition-table.ts';
import { DmaCommand, InvalidateCommand, MapCommand, MergeCommand, ReadAndClearCommand, SplitCommand, UnmapCommand, type RunCommand } from './commands.ts';
import { KitClearAccessFlagCommand, KitClearWithoutTlbiCommand, KitPgtableCommand, KitSetCdCommand, KitUnmapWithoutTlbiCommand } from './kit-commands.ts';
import type { SystemConfig } from './system.ts';

export interface DirectedTest {
  readonly id: string;
  readonly events: readonly EventObject[];
  readonly config: SystemConfig & { startTracking: boolean };
  readonly commands: readonly RunCommand[];
}

const P = 0;
const EVICTORS = [0x20_0000, 0x20_1000, 0x20_2000];
const CAPACITY = 2;

/** The shortest event path (xstate/graph) to each transition of `machine`, keyed by transition. */
export function transitionPaths<E extends EventObject>(machine: AnyStateMachine, events: readonly E[], table: TransitionTable<AnyStateMachine>): Map<string, E[]> {
  const out = new Map<string, E[]>();
  const paths = getShortestPaths(machine, { events });
  paths.sort((a, b) => a.steps.length - b.steps.length);
  for (const path of paths) {
    const prefix = path.steps.map((s) => s.event as E).filter((e) => !String(e.type).startsWith('xstate.'));
    const state = table.states.find((s) => stateKey(s) === stateKey(path.state));
    if (state === undefined) continue;
    for (const event of events) {
      for (const t of table.peek(state, event)?.transitions ?? []) if (!out.has(t)) out.set(t, [...prefix, event]);
    }
  }
  return out;
}

export function iotlbTransitionPaths(): Map<string, IotlbEvent[]> {
  return transitionPaths(iotlbEntryMachine, IOTLB_EVENTS, smmuTables().iotlb as unknown as TransitionTable<AnyStateMachine>);
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
        // P's leaf is already gone after the first: the second software unmap is the driver's
        // unmap of P's range (it finds no leaf, then invalidates), which the stale entry sees.
        if (state === 'staleUnmapped') {
          cmds.push(new UnmapCommand(P / 0x1000, 1));
          state = 'absent';
        } else {
          cmds.push(new KitUnmapWithoutTlbiCommand(0));
          state = 'staleUnmapped';
        }
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

/** The kit operations that make the leaf at page P see each event (SPLIT and MERGE are left to the random runs: they need blocks). */
function realiseLeaf(events: readonly LeafEvent[]): RunCommand[] | undefined {
  if (events.some((e) => e.type === 'SPLIT' || e.type === 'MERGE')) return undefined;
  // AF set by a permission-faulting write is the SMMU's choice (HTTU-1), not one the kit can make it take.
  if (events.some((e) => e.type === 'DMA_WRITE' && e.afOnFault === true)) return undefined;
  const cmds: RunCommand[] = [];
  for (const e of events) {
    switch (e.type) {
      case 'MAP':
        cmds.push(new MapCommand(P / 0x1000, 1, e.write, false));
        if (!e.accessFlag) cmds.push(new KitClearAccessFlagCommand(0));
        break;
      case 'UNMAP':
        cmds.push(new UnmapCommand(P / 0x1000, 1));
        break;
      case 'DMA_READ':
      case 'DMA_WRITE':
        cmds.push(new KitSetCdCommand(e.ha, e.hd), new DmaCommand(e.type === 'DMA_WRITE', 0, 0, 0, undefined, P));
        break;
      case 'CLEAR_DIRTY':
        cmds.push(new KitPgtableCommand('readAndClear'));
        break;
      case 'SET_DIRTY':
        cmds.push(new KitPgtableCommand('markAllDirty'));
        break;
    }
  }
  return cmds;
}

export function leafDirectedTests(): DirectedTest[] {
  const tests: DirectedTest[] = [];
  const paths = transitionPaths(leafDescriptorMachine, LEAF_EVENTS, smmuTables().leaf as unknown as TransitionTable<AnyStateMachine>);
  for (const [key, events] of paths) {
    const commands = realiseLeaf(events);
    const map = events.find((e): e is LeafEvent & { type: 'MAP' } => e.type === 'MAP');
    if (commands === undefined) continue;
    const dirtyCapable = map?.hdQuirk ?? true;
    tests.push({ id: `leafDescriptor/${key}`, events, config: { httu: 2, bbml: 2, iotlbCapacity: CAPACITY, dirtyCapable, pageGranular: false, startTracking: dirtyCapable }, commands });
  }
  return tests;
}

export function directedTests(): DirectedTest[] {
  return [...leafDirectedTests(), ...iotlbDirectedTests(), ...walkCacheDirectedTests()];
}

/**
 * A walk through the last-level table of the 2 MiB region at 0, then that table freed by
 * the kit's driver, which unlinks it, issues CMD_TLBI_NH_VA over its range with CMD_SYNC
 * and only then frees the page (IOTLB-12, Linux v6.12 io-pgtable-arm.c: io_pgtable_tlb_flush_walk
 * before __arm_lpae_free_pgtable); then an access in the region. The TLBI removes what the
 * walk left cached, walk caches included (IOTLB-9; CMD_TLBI_NH_VA with Leaf = 0, ARM IHI 0070
 * G.b §4.4.2): an SMMU whose walk cache outlives it reads the freed page as a table, which the
 * kit's memory refuses. The random runs reach this too, but rarely (a split, an access in the
 * split region and a merge of it, in that order).
 *
 * - `merge`: a block split to pages, a read, the pages merged back (mergePages frees the table);
 *   the write after it goes through the block.
 * - `blockOverEmptyTable`: a page mapped and read, unmapped (its table stays, empty), and a 2 MiB
 *   block mapped over the empty table (arm_lpae_init_pte frees it); the write goes through the block.
 */
export function walkCacheDirectedTests(): DirectedTest[] {
  const config = { httu: 2, bbml: 2, iotlbCapacity: CAPACITY, dirtyCapable: true, pageGranular: false, startTracking: true } as const;
  const REGION_PAGES = 512;
  const read = (iova: number) => new DmaCommand(false, 0, 0, 0, undefined, iova);
  const write = (iova: number) => new DmaCommand(true, 0, 0, 0, undefined, iova);
  const at = 0x1000;
  return [
    { id: 'walkCache/merge', events: [], config, commands: [new MapCommand(0, REGION_PAGES, true, true), new SplitCommand(0, undefined), read(at), new MergeCommand(0, undefined), write(at)] },
    {
      id: 'walkCache/blockOverEmptyTable',
      events: [],
      config,
      commands: [new MapCommand(at / 0x1000, 1, true, false), read(at), new UnmapCommand(at / 0x1000, 1), new MapCommand(0, REGION_PAGES, true, true), write(at)],
    },
  ];
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
