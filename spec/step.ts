// Stepping a spec machine as an oracle: xstate's pure `transition()`, returning the next
// snapshot and the names of the outcome actions, in order.
import { initialTransition, transition, type AnyStateMachine, type EventFromLogic, type SnapshotFrom } from 'xstate';

export function initialState<M extends AnyStateMachine>(machine: M): SnapshotFrom<M> {
  return (initialTransition as (m: AnyStateMachine) => [SnapshotFrom<M>, unknown])(machine)[0];
}

export function step<M extends AnyStateMachine>(machine: M, snapshot: SnapshotFrom<M>, event: EventFromLogic<M>): [SnapshotFrom<M>, string[]] {
  const [next, actions] = transition(machine, snapshot, event);
  return [next, actions.map((a) => a.type)];
}

/** Steps through `events` from the initial state; returns the last snapshot and every outcome in order. */
export function run<M extends AnyStateMachine>(machine: M, events: readonly EventFromLogic<M>[]): [SnapshotFrom<M>, string[]] {
  let snapshot = initialState(machine);
  const outcomes: string[] = [];
  for (const event of events) {
    const [next, out] = step(machine, snapshot, event);
    snapshot = next;
    outcomes.push(...out);
  }
  return [snapshot, outcomes];
}
