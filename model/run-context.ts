// The state of one run, passed down from the engine to every model it builds: the compiled
// spec tables it steps, the machine transitions it took (its coverage) and the
// requirements its steps checked. Nothing of a run lives in a module: two runs in one
// process, of one profile or of two, never see each other's coverage.
//
// Compiled tables are the one thing shared between runs. A table is a pure function of
// its machine and alphabet, and never changes after it is built, so it is compiled once
// per machine object and reused (a test that swaps in a changed machine compiles its own
// table and passes it in `tables`).
import type { AnyStateMachine, EventFromLogic } from 'xstate';
import { LEAF_EVENTS, leafDescriptorMachine } from '../spec/descriptor/leaf-machine.ts';
import { TRACKING_EVENTS, domainTrackingMachine } from '../spec/domain/tracking-machine.ts';
import { IOTLB_EVENTS, iotlbEntryMachine } from '../spec/iotlb/iotlb-entry-machine.ts';
import { machineTransitions } from '../spec/machines.ts';
import { TransitionTable } from './transition-table.ts';
import { type Contract, contracts } from '../spec/contracts/index.ts';

const compiled = new WeakMap<AnyStateMachine, WeakMap<readonly unknown[], TransitionTable<AnyStateMachine>>>();

/** The table of `machine` over `events`, compiled on first use and shared (it is immutable): one per machine and alphabet (the same array), never another alphabet's. */
export function compiledTable<M extends AnyStateMachine>(machine: M, events: readonly EventFromLogic<M>[]): TransitionTable<M> {
  let byEvents = compiled.get(machine);
  if (byEvents === undefined) compiled.set(machine, (byEvents = new WeakMap()));
  let t = byEvents.get(events) as TransitionTable<M> | undefined;
  if (t === undefined) {
    t = new TransitionTable(machine, events);
    byEvents.set(events, t as unknown as TransitionTable<AnyStateMachine>);
  }
  return t;
}

/** The three tables of the smmu profiles' descriptor model. */
export interface SmmuTables {
  readonly leaf: TransitionTable<typeof leafDescriptorMachine>;
  readonly iotlb: TransitionTable<typeof iotlbEntryMachine>;
  readonly tracking: TransitionTable<typeof domainTrackingMachine>;
}

export function smmuTables(): SmmuTables {
  return {
    leaf: compiledTable(leafDescriptorMachine, LEAF_EVENTS),
    iotlb: compiledTable(iotlbEntryMachine, IOTLB_EVENTS),
    tracking: compiledTable(domainTrackingMachine, TRACKING_EVENTS),
  };
}

export interface CoverageFigure {
  readonly covered: number;
  readonly total: number;
  readonly missing: readonly string[];
  /**
   * The machine's forbidden transitions (RuleMeta.forbidden), left out of `total` and
   * `missing`, each `checked` (the run stepped the machine with its event, in another
   * state: the check the kit makes on that event ran and held), `taken` (a run took it:
   * the kit failed that run) or `unchecked`. Absent when the machine has none.
   */
  readonly forbidden?: Readonly<Record<string, ForbiddenStatus>>;
}

export type ForbiddenStatus = 'taken' | 'checked' | 'unchecked';
const FORBIDDEN_RANK: Record<ForbiddenStatus, number> = { unchecked: 0, checked: 1, taken: 2 };

/** Two runs' statuses of one forbidden transition, merged: taken over checked over unchecked. */
export function mergeForbidden(a: CoverageFigure['forbidden'], b: CoverageFigure['forbidden']): CoverageFigure['forbidden'] {
  if (a === undefined || b === undefined) return a ?? b;
  const out: Record<string, ForbiddenStatus> = { ...a };
  for (const [k, v] of Object.entries(b)) if (out[k] === undefined || FORBIDDEN_RANK[v] > FORBIDDEN_RANK[out[k]!]) out[k] = v;
  return out;
}

/**
 * A machine's coverage from the transitions taken: forbidden transitions apart (never in
 * the denominator; checked when another transition of the same event was taken).
 */
export function coverageFigure(machine: AnyStateMachine, covered: ReadonlySet<string>): CoverageFigure {
  const ts = machineTransitions(machine);
  const all = ts.filter((t) => t.meta?.forbidden === undefined).map((t) => t.key);
  const out = { covered: all.filter((k) => covered.has(k)).length, total: all.length, missing: all.filter((k) => !covered.has(k)) };
  const forbidden = ts.filter((t) => t.meta?.forbidden !== undefined);
  if (forbidden.length === 0) return out;
  const eventsStepped = new Set(ts.filter((t) => covered.has(t.key) && t.meta?.forbidden === undefined).map((t) => t.event));
  const status = (t: (typeof ts)[number]): ForbiddenStatus => (covered.has(t.key) ? 'taken' : eventsStepped.has(t.event) ? 'checked' : 'unchecked');
  return { ...out, forbidden: Object.fromEntries(forbidden.map((t) => [t.key, status(t)])) };
}

export class RunContext {
  /** Transition keys taken, per machine id. */
  private readonly covered = new Map<string, Set<string>>();
  /** Every requirement a step of the run checked (its rule applied to an observation). */
  readonly checked = new Set<string>();
  /**
   * Pages the run's contract lost by its own design and the kit therefore did not charge
   * to the implementation, by the variant rule that allows it (UNMAP-U3: an unmap that
   * reads no dirty state; CLEAR-U2: a leaf cleared whole; TRACK-U3: enabling again clears;
   * IOTLB-7: a write absorbed by an entry cached writable-dirty that was not invalidated).
   * The report lists them with the contract's hazards.
   */
  readonly excused = new Map<string, number>();

  /** The driver contract the smmu profiles' run checks (spec/contracts/; default strict). */
  contract: Contract = contracts.strict;
  /** The descriptor bits each leaf machine snapshot gives at each level (model/check-descriptors.ts expectedBitsOf), computed once per run. */
  readonly leafBits = new Map<unknown, bigint[]>();
  /** The same bits as 32-bit halves per level, [low, high] for levels 0 to 3 (model/check-descriptors.ts matchesWords). */
  readonly leafWords = new Map<unknown, Int32Array>();
  /**
   * Backing store of the kit's memory, by length in words, handed from one sequence's
   * memory to the next (impl/memory/physical-memory.ts ChunkPool): plain data, so the model
   * needs nothing of impl/.
   */
  readonly memoryChunks = new Map<number, BigUint64Array[]>();
  /** Configurations the implementation's create refused as its contract allows: by configuration text, the errno and how many sequences. */
  readonly refused = new Map<string, { errno: number; sequences: number }>();

  /** Records `pages` pages excused under `rule` (see `excused`). */
  excuse(rule: string, pages: number): void {
    if (pages > 0) this.excused.set(rule, (this.excused.get(rule) ?? 0) + pages);
  }

  constructor(
    readonly smmu: SmmuTables = smmuTables(),
    /** Check the whole page table after every operation instead of what changed (model/check-descriptors.ts). */
    readonly fullCheck = false,
  ) {}

  /**
   * The last step, as given and as answered. A model steps many leaves in a row with one
   * event object from the same state (a map, a split, a clear over a range): the same
   * table, snapshot and event give the same entry, whose transitions this run has then
   * already recorded.
   */
  private last: { table: unknown; snapshot: unknown; event: unknown; entry: unknown } = { table: undefined, snapshot: undefined, event: undefined, entry: undefined };

  /** Steps `table` and records the transitions it took. */
  step<M extends AnyStateMachine>(table: TransitionTable<M>, snapshot: Parameters<TransitionTable<M>['step']>[0], event: EventFromLogic<M>): ReturnType<TransitionTable<M>['step']> {
    const last = this.last;
    if (last.snapshot === snapshot && last.event === event && last.table === table) return last.entry as ReturnType<TransitionTable<M>['step']>;
    let set = this.covered.get(table.machine.id);
    if (set === undefined) this.covered.set(table.machine.id, (set = new Set()));
    const entry = table.step(snapshot, event, set);
    last.table = table;
    last.snapshot = snapshot;
    last.event = event;
    last.entry = entry;
    return entry;
  }

  /** How many transitions each machine's record holds now: a mark to undo back to (`undoCoverage`). */
  coverageMark(): ReadonlyMap<string, number> {
    const mark = new Map<string, number>();
    for (const [id, set] of this.covered) mark.set(id, set.size);
    return mark;
  }

  /**
   * Forgets the transitions recorded since `mark` (those of an explanation that was not
   * adopted, model/explain.ts: a transition only a rejected alternative took was not taken
   * by the implementation). A record keeps its insertion order, so what came after the mark
   * is its tail.
   */
  undoCoverage(mark: ReadonlyMap<string, number>): void {
    for (const [id, set] of this.covered) {
      const keep = mark.get(id) ?? 0;
      if (set.size <= keep) continue;
      let i = 0;
      for (const k of set) if (i++ >= keep) set.delete(k);
    }
    // The memo of the last step assumes its transitions are recorded: they may have just been forgotten.
    this.last = { table: undefined, snapshot: undefined, event: undefined, entry: undefined };
  }

  /** The run's coverage of `machine`: every transition, taken or missing, in the machine's order (forbidden ones apart). */
  coverage(machine: AnyStateMachine): CoverageFigure {
    return coverageFigure(machine, this.covered.get(machine.id) ?? new Set<string>());
  }
}
