// What the type1 machine (spec/vfio/type1-machine.ts) predicts of one call: the table
// entry of the classified event in the container's state, the outcome as the number the
// ioctl returns, and the effects the call must have.
//
// Requirements: every requirement the machine's transitions cite (VFIO-MAP-*, VFIO-UNMAP-*,
//               VFIO-DIRTY-*, VFIO-CLEAR-*, VFIO-EXT-1, VFIO-INFO-1).
// Sources: errno values from Linux v6.12.117 include/uapi/asm-generic/errno-base.h (ENOENT 2,
//          EFAULT 14, EEXIST 17, EINVAL 22, ENOSPC 28); VFIO_CHECK_EXTENSION's 1 and 0 from
//          drivers/vfio/vfio_iommu_type1.c vfio_iommu_type1_check_extension.
import { VFIO_TYPE1_EVENTS, vfioType1Machine, type VfioOutcome, type VfioType1Event } from '../../spec/vfio/type1-machine.ts';
import { type RunContext, compiledTable } from '../run-context.ts';
import type { TableEntry, TransitionTable } from '../transition-table.ts';

/** What each outcome returns: 0 or a negative errno (CHECK_EXTENSION: 1 or 0). */
export const OUTCOME_RETURNS: Readonly<Record<VfioOutcome, number>> = { ok: 0, einval: -22, eexist: -17, enospc: -28, efault: -14, enoent: -2, supported: 1, unsupported: 0 };

/** The machine's compiled table (shared and immutable: model/run-context.ts). */
export function vfioType1Table(): TransitionTable<typeof vfioType1Machine> {
  return compiledTable(vfioType1Machine, VFIO_TYPE1_EVENTS);
}

export type VfioType1Snapshot = TransitionTable<typeof vfioType1Machine>['initial'];

/** One call as the spec has it: the machine's entry, the outcome (its last action), the number returned, the effects in order. */
export interface Prediction {
  readonly entry: TableEntry<typeof vfioType1Machine>;
  readonly outcome: VfioOutcome;
  readonly want: number;
  readonly effects: ReadonlySet<string>;
}

/** Each table entry's prediction, made once (entries are shared and never change). */
const predictions = new WeakMap<TableEntry<typeof vfioType1Machine>, Prediction>();

/** Steps the machine (recording the run's coverage in `ctx`) from `snapshot` with `event`. */
export function predict(ctx: RunContext, snapshot: VfioType1Snapshot, event: VfioType1Event): Prediction {
  const entry = ctx.step(vfioType1Table(), snapshot, event);
  let x = predictions.get(entry);
  if (x === undefined) {
    const outcome = entry.outcomes[entry.outcomes.length - 1] as VfioOutcome;
    predictions.set(entry, (x = { entry, outcome, want: OUTCOME_RETURNS[outcome], effects: new Set(entry.outcomes) }));
  }
  return x;
}
