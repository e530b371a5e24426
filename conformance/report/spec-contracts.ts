// SPEC.md's driver-contract sections, generated from spec/contracts/ (the data the engine
// runs): per contract its rules (kept, replaced, dropped, added, each with its source),
// its capabilities and its hazards with their shortest scenarios; then the one list of
// every place the reference implementation departs from Linux, taken whole from
// docs/CONTRACTS.md so that there is one list to keep.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONTRACT_NAMES, type Contract, contracts, keptRules } from '../../spec/contracts/index.ts';
import { hazardStepText } from '../engine/contract-run.ts';

export const DEPARTURES_HEADING = '## Where the reference implementation departs from Linux';

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\s+/g, ' ').trim();
const hex = (n: number) => `0x${n.toString(16)}`;

/** A contract's capabilities as `path | value` rows: every field, nested objects flattened. */
function capabilityRows(c: Contract): string[] {
  const rows: string[] = [];
  const walk = (value: unknown, path: string): void => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(v, path === '' ? k : `${path}.${k}`);
    } else rows.push(`| \`${path}\` | ${cell(value === undefined ? '(none: no such operation, or not said)' : JSON.stringify(value))} |`);
  };
  walk(c.capabilities, '');
  return rows;
}

/** One contract's section. `encode(id, by)` records that the contract applies requirement `id`. */
function contractSection(c: Contract, encode: (id: string, by: string) => void): string[] {
  const by = `contract \`${c.name}\``;
  const out = [`### Contract \`${c.name}\``, '', `${c.title}. ${c.summary}`, '', `Read for it: ${c.basis}.`, ''];
  const kept = keptRules(c);
  out.push(`**Kept** (${kept.length} strict rules, as the machines have them): ${kept.join(', ')}.`, '');
  if (c.rules.replaced.length > 0) {
    out.push('**Replaced**:', '', '| Strict rule | Replaced by | What differs | Source |', '|---|---|---|---|');
    for (const r of c.rules.replaced) {
      r.by.forEach((id) => encode(id, by));
      out.push(`| ${r.id} | ${r.by.join(', ')} | ${cell(r.why)} | ${cell(r.source)} |`);
    }
    out.push('');
  }
  if (c.rules.dropped.length > 0) {
    out.push('**Dropped** (the operation does not exist, or nothing does it):', '', '| Strict rule | Why | Source |', '|---|---|---|');
    for (const r of c.rules.dropped) out.push(`| ${r.id} | ${cell(r.why)} | ${cell(r.source)} |`);
    out.push('');
  }
  if (c.rules.added.length > 0) {
    out.push('**Added**:', '', '| Rule | What it says | Source |', '|---|---|---|');
    for (const r of c.rules.added) {
      encode(r.id, by);
      out.push(`| ${r.id} | ${cell(r.why)} | ${cell(r.source)} |`);
    }
    out.push('');
  }
  out.push('**Capabilities** (`spec/contracts/types.ts`; the engine sends no operation outside them and predicts each answer from them):', '', '| Field | Value |', '|---|---|', ...capabilityRows(c), '');
  if (c.hazards.length === 0) {
    out.push('**Hazards**: none. A driver that follows this contract loses no page.', '');
    return out;
  }
  out.push(
    `**Hazards** (${c.hazards.length}): pages the contract loses by its design when used as it allows, or in a race it does not prevent. The kit runs each scenario on the implementation and reports it apart from the verdict; a driver that follows the contract does not fail for them.`,
    '',
  );
  for (const h of c.hazards) {
    out.push(`- **${h.id}** (${h.nature}; ${h.req.join(', ')}): ${cell(h.title)}. ${cell(h.why)} Source: ${cell(h.source)}.`);
    h.steps.forEach((s, i) => out.push(`  ${i + 1}. \`${hazardStepText(s)}\`${i === h.misses.atStep ? ` misses ${h.misses.pages.map(hex).join(', ')}` : ''}`));
  }
  out.push('');
  return out;
}

/** The departure list: the section of docs/CONTRACTS.md with that heading, without it. */
export function departureList(root: string): string[] {
  const text = readFileSync(join(root, 'docs', 'CONTRACTS.md'), 'utf8');
  const start = text.indexOf(`${DEPARTURES_HEADING}\n`);
  if (start < 0) throw new Error(`docs/CONTRACTS.md has no section "${DEPARTURES_HEADING}"`);
  const body = text.slice(start + DEPARTURES_HEADING.length + 1);
  const end = body.indexOf('\n## ');
  return (end < 0 ? body : body.slice(0, end)).trim().split('\n');
}

/** The driver-contract sections and the departure list. */
export function contractSections(root: string, encode: (id: string, by: string) => void): string[] {
  const out = [
    '## Driver contracts',
    '',
    'The smmu profiles check a driver contract (`dirtyspec run --contract NAME`, default the one the adapter declares, else `strict`).',
    'Each is data in `spec/contracts/`: the strict rules it keeps, replaces (by variant rules, `-U` for Linux upstream, `-R` for the',
    '2021 RFC, in the catalogue below) or drops, the rules it adds, the capabilities it assumes, and its hazards.',
    '`docs/CONTRACTS.md` explains them; this section is generated from the data.',
    '',
  ];
  for (const name of CONTRACT_NAMES) out.push(...contractSection(contracts[name], encode));
  out.push(DEPARTURES_HEADING, '', '(From `docs/CONTRACTS.md`, where this list is kept.)', '', ...departureList(root), '');
  return out;
}
