// What a failed check says: which requirements it breaks, what the spec expected, what
// the implementation did, and whether it loses a dirty page, reports a false one, or
// departs from the spec otherwise.
export type ViolationKind = 'loss' | 'precision' | 'spec';

export class Violation extends Error {
  constructor(
    readonly kind: ViolationKind,
    readonly req: readonly string[],
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`${kind === 'loss' ? 'LOST DIRTY PAGE' : kind === 'precision' ? 'FALSE DIRTY PAGE' : 'SPEC VIOLATION'} [${req.join(', ')}]: expected ${expected}; got ${actual}`);
    this.name = 'Violation';
  }
}
