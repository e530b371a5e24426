// How a machine cites its sources. Every transition carries `meta: rule(...)`; every
// named guard is referenced as `guard(name, id)` so its requirement sits in its params.
import { requirements, type RequirementId } from './requirements.ts';

export interface RuleMeta {
  readonly req: readonly RequirementId[];
  readonly source: string;
  /**
   * A forbidden transition: the spec names it (what would happen, and the requirement it
   * breaks) but no conforming run takes it. Coverage leaves it out of the denominator and
   * reports it as checked, never taken; the text says which check of the kit would fail.
   */
  readonly forbidden?: string;
}

export function rule(...ids: [RequirementId, ...RequirementId[]]): { meta: RuleMeta } {
  return { meta: { req: ids, source: ids.map((id) => requirements[id].source).join('; ') } };
}

/** A forbidden transition's meta: `why` it is never taken and where the kit checks it (RuleMeta.forbidden). */
export function forbidden(why: string, ...ids: [RequirementId, ...RequirementId[]]): { meta: RuleMeta } {
  return { meta: { ...rule(...ids).meta, forbidden: why } };
}

export function guard<const T extends string>(type: T, req: RequirementId): { type: T; params: { req: RequirementId } } {
  return { type, params: { req } };
}
