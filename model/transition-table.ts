// A finite spec machine compiled into a lookup table: every reachable state times every
// event of its alphabet, each entry computed once by xstate's pure `transition()` (the
// first time a run steps it), with the transitions taken (for coverage) and the
// requirement IDs they cite (for verdicts). The machine stays the source of truth; the
// table is checked against it entry by entry (model/transition-table.test.ts).
import type { AnyStateMachine, AnyTransitionDefinition, EventFromLogic, SnapshotFrom } from 'xstate';
import { initialState, step } from '../spec/step.ts';

export interface TableEntry<M extends AnyStateMachine> {
  readonly next: SnapshotFrom<M>;
  readonly outcomes: readonly string[];
  /** Keys of the transitions taken, as `machineTransitions` names them. */
  readonly transitions: readonly string[];
  readonly req: readonly string[];
  /** The transitions taken, each with the machine's active atomic states before and after (shared objects, for traces). */
  readonly taken: readonly TakenTransition[];
}

/** One transition a machine took: what a trace step records so that a report can draw the path. */
export interface TakenTransition {
  /** The machine's id (`leafDescriptor`, `iotlbEntry`, ...). */
  readonly machine: string;
  /** As `transitionKey` (and `machineTransitions`) name it: `source --EVENT#index`. */
  readonly transition: string;
  /** The active atomic states before and after, as dotted paths (two or more in a parallel state). */
  readonly from: readonly string[];
  readonly to: readonly string[];
}

/** The active atomic states of a state value, as dotted paths: `{ a: { b: 'c', d: 'e' } }` is `a.b.c`, `a.d.e`. */
export function activeStates(value: unknown, prefix = ''): string[] {
  if (typeof value === 'string') return [`${prefix}${value}`];
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => activeStates(v, `${prefix}${k}.`));
}

export function transitionKey(t: AnyTransitionDefinition): string {
  const source = t.source.path.join('.') || '(root)';
  const list = t.source.transitions.get(t.eventType) ?? [];
  return `${source} --${t.eventType}#${list.indexOf(t)}`;
}

const keys = new WeakMap<object, string>();
/** The key of a snapshot's state value (memoised per snapshot object: table snapshots are shared). */
export const stateKey = (snapshot: unknown): string => {
  let k = keys.get(snapshot as object);
  if (k === undefined) keys.set(snapshot as object, (k = JSON.stringify((snapshot as { value: unknown }).value)));
  return k;
};
/**
 * An event's key: its fields' values in order (events are flat objects of primitives whose
 * fields are always written in the same order, the alphabet's). Cheaper than JSON on the
 * hot path; the type comes first, so events of different types never share a key.
 */
const eventKey = (event: unknown): string => {
  const e = event as Record<string, unknown>;
  let k = '';
  for (const f in e) k += `${String(e[f])}|`;
  return k;
};

export class TransitionTable<M extends AnyStateMachine> {
  readonly initial: SnapshotFrom<M>;
  private readonly table = new Map<string, TableEntry<M>>();
  /** The same entries by snapshot object, then event key: the model steps the table's own (shared) snapshots, so the hot path needs no state key. */
  private readonly bySnapshot = new Map<unknown, Map<string, TableEntry<M>>>();
  /** One snapshot object per state (the first reached): every entry's `next` is it. */
  private readonly seen = new Map<string, SnapshotFrom<M>>();
  /** The alphabet's event keys: an event outside it has no entry. */
  private readonly alphabet: ReadonlySet<string>;
  /** Every reachable state, in breadth-first order, once the whole table is filled. */
  private all: readonly SnapshotFrom<M>[] | undefined;
  private lastEvent: unknown;
  private lastKey = '';

  /**
   * The table is filled on demand: an entry is computed by `transition()` the first time a
   * run steps it (a machine with a large alphabet, vfioType1's 971 events, would otherwise
   * spend half a second on entries no run takes). `states`, `size` and `entries()` fill the
   * whole table first. Entries are pure functions of the machine, the state and the event,
   * so filling one never changes another, and runs in one process still share the table.
   */
  constructor(
    readonly machine: M,
    readonly events: readonly EventFromLogic<M>[],
  ) {
    this.initial = initialState(machine);
    this.seen.set(stateKey(this.initial), this.initial);
    this.alphabet = new Set(events.map(eventKey));
  }

  /** Computes the entry of `event` (key `ek`) in `s`, the state's own snapshot object. */
  private fill(s: SnapshotFrom<M>, event: EventFromLogic<M>, ek: string): TableEntry<M> {
    const { machine } = this;
    const taken = machine.getTransitionData(s, event) as AnyTransitionDefinition[];
    const [next, outcomes] = step(machine, s, event);
    const [from, to] = [activeStates((s as { value: unknown }).value), activeStates((next as { value: unknown }).value)];
    const entry: TableEntry<M> = {
      next,
      outcomes,
      transitions: taken.map(transitionKey),
      req: [...new Set(taken.flatMap((t) => (t.meta as { req?: string[] } | undefined)?.req ?? []))],
      taken: taken.map((t) => ({ machine: machine.id, transition: transitionKey(t), from, to })),
    };
    const nk = stateKey(next);
    const canonical = this.seen.get(nk);
    if (canonical === undefined) this.seen.set(nk, next);
    else (entry as { next: SnapshotFrom<M> }).next = canonical;
    this.table.set(`${stateKey(s)}|${ek}`, entry);
    let row = this.bySnapshot.get(s);
    if (row === undefined) this.bySnapshot.set(s, (row = new Map()));
    row.set(ek, entry);
    return entry;
  }

  /** The entry of `event` (key `ek`) in `snapshot`'s state, filled now if it was not; undefined for an event outside the alphabet or a state the machine never reaches. */
  private lookup(snapshot: SnapshotFrom<M>, event: EventFromLogic<M>, ek: string): TableEntry<M> | undefined {
    const key = stateKey(snapshot);
    const entry = this.table.get(`${key}|${ek}`);
    if (entry !== undefined || !this.alphabet.has(ek)) return entry;
    let s = this.seen.get(key);
    if (s === undefined && this.all === undefined) {
      // A state no step has reached yet (a snapshot made elsewhere): the whole table says whether the machine reaches it.
      this.fillAll();
      s = this.seen.get(key);
    }
    return s === undefined ? undefined : (this.table.get(`${stateKey(s)}|${ek}`) ?? this.fill(s, event, ek));
  }

  /** Fills every entry of every reachable state (breadth first from the initial state). */
  private fillAll(): readonly SnapshotFrom<M>[] {
    if (this.all !== undefined) return this.all;
    const order = [this.initial];
    const queued = new Set([stateKey(this.initial)]);
    for (let i = 0; i < order.length; i++) {
      const s = order[i]!;
      for (const event of this.events) {
        const ek = eventKey(event);
        const next = (this.table.get(`${stateKey(s)}|${ek}`) ?? this.fill(s, event, ek)).next;
        const nk = stateKey(next);
        if (!queued.has(nk)) {
          queued.add(nk);
          order.push(next);
        }
      }
    }
    this.all = order;
    return order;
  }

  /** Every state the machine reaches through its alphabet. */
  get states(): readonly SnapshotFrom<M>[] {
    return this.fillAll();
  }

  get size(): number {
    this.fillAll();
    return this.table.size;
  }

  /**
   * The entry for `event` in `snapshot`'s state. The transitions it takes are added to
   * `covered` (the run's coverage of this machine): the table itself never changes after
   * it is compiled, so runs in one process can share it.
   */
  step(snapshot: SnapshotFrom<M>, event: EventFromLogic<M>, covered?: Set<string>): TableEntry<M> {
    // A loop steps many leaves with one event object: its key is computed once (a pure memo; events are never changed).
    if (event !== this.lastEvent) {
      this.lastEvent = event;
      this.lastKey = eventKey(event);
    }
    const entry = this.bySnapshot.get(snapshot)?.get(this.lastKey) ?? this.lookup(snapshot, event, this.lastKey);
    if (entry === undefined) throw new Error(`${this.machine.id}: no table entry for ${JSON.stringify(event)} in ${stateKey(snapshot)} (event outside the alphabet?)`);
    if (covered !== undefined) for (const t of entry.transitions) covered.add(t);
    return entry;
  }

  /** The entry, without recording coverage. */
  peek(snapshot: SnapshotFrom<M>, event: EventFromLogic<M>): TableEntry<M> | undefined {
    return this.lookup(snapshot, event, eventKey(event));
  }

  /** Every (state, event) pair with its entry, for the agreement test. */
  *entries(): Generator<[SnapshotFrom<M>, EventFromLogic<M>, TableEntry<M>]> {
    for (const s of this.fillAll()) for (const e of this.events) yield [s, e, this.table.get(`${stateKey(s)}|${eventKey(e)}`)!];
  }
}
