// How a machine cites its sources. Every transition carries `meta: rule(...)`; every
// named guard is referenced as `guard(name, id)` so its requirement sits in its params.
import { requirements, type RequirementId } from './requirements.ts';

export interface RuleMeta {
  readonly req: readonly RequirementId[];
  readonly source: string;
}

export function rule(...ids: [RequirementId, ...RequirementId[]]): { meta: RuleMeta } {
  return { meta: { req: ids, source: ids.map((id) => requirements[id].source).join('; ') } };
}

export function guard<const T extends string>(type: T, req: RequirementId): { type: T; params: { req: RequirementId } } {
  return { type, params: { req } };
}
