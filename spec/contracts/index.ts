// The driver contracts, by name, and the rule sets they apply. See docs/CONTRACTS.md.
import type { RequirementId } from '../requirements.ts';
import { linuxUpstream } from './linux-upstream.ts';
import { rfc2021 } from './rfc-2021.ts';
import { STRICT_RULES, strict } from './strict.ts';
import { CONTRACT_NAMES, type Contract, type ContractName } from './types.ts';

export { contractRequirements, type ContractRequirementId } from './requirements.ts';
export { STRICT_RULES } from './strict.ts';
export * from './types.ts';

export const contracts: Readonly<Record<ContractName, Contract>> = {
  strict,
  'linux-upstream': linuxUpstream,
  'rfc-2021': rfc2021,
};

export function isContractName(name: string): name is ContractName {
  return (CONTRACT_NAMES as readonly string[]).includes(name);
}

/** The contract called `name`; a clear error naming the known ones otherwise (for --contract). */
export function contractByName(name: string): Contract {
  if (!isContractName(name)) throw new RangeError(`contract: must be one of ${CONTRACT_NAMES.join(', ')}, got ${JSON.stringify(name)}`);
  return contracts[name];
}

/** Whether the contract `name` is checked on `profile` (its `profiles`). */
export function coversProfile(name: ContractName, profile: string): boolean {
  return (contracts[name].profiles as readonly string[]).includes(profile);
}

/** The strict rules this contract keeps as they are. */
export function keptRules(c: Contract): RequirementId[] {
  const gone = new Set<string>([...c.rules.replaced.map((r) => r.id), ...c.rules.dropped.map((r) => r.id)]);
  return STRICT_RULES.filter((id) => !gone.has(id));
}

/** Every rule the contract applies: the kept strict rules, the variant rules replacing the others, the added ones. */
export function effectiveRules(c: Contract): RequirementId[] {
  const out = new Set<RequirementId>(keptRules(c));
  for (const r of c.rules.replaced) for (const id of r.by) out.add(id);
  for (const r of c.rules.added) out.add(r.id);
  return [...out];
}

/** Every hazard of every contract, with its contract (report sections, the engine's hazard runs). */
export function allHazards(): { contract: ContractName; hazard: Contract['hazards'][number] }[] {
  return CONTRACT_NAMES.flatMap((name) => contracts[name].hazards.map((hazard) => ({ contract: name, hazard })));
}
