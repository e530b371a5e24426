// SPEC.md's driver-contract sections: generated from spec/contracts/, with the departure list of docs/CONTRACTS.md.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CONTRACT_NAMES, contracts } from '../../spec/contracts/index.ts';
import { REPO_ROOT } from './spec-doc.ts';
import { DEPARTURES_HEADING, contractSections, departureList } from './spec-contracts.ts';

const encoded = new Map<string, string[]>();
const doc = contractSections(REPO_ROOT, (id, by) => void (encoded.get(id) ?? encoded.set(id, []).get(id)!).push(by)).join('\n');

test('a section per contract, each replaced, dropped and added rule with its source, each hazard with its scenario and missing step', () => {
  for (const name of CONTRACT_NAMES) {
    const c = contracts[name];
    assert.ok(doc.includes(`### Contract \`${name}\``), name);
    for (const r of c.rules.replaced) assert.ok(doc.includes(`| ${r.id} | ${r.by.join(', ')} |`), `${name} ${r.id}`);
    for (const r of c.rules.dropped) assert.ok(doc.includes(`| ${r.id} | `), `${name} ${r.id}`);
    for (const r of c.rules.added) assert.ok(doc.includes(`| ${r.id} | `), `${name} ${r.id}`);
    for (const h of c.hazards) assert.match(doc, new RegExp(`\\*\\*${h.id}\\*\\* \\(${h.nature}; `));
  }
  assert.match(doc, /6\. `unmap\(0x0, 0x1000\)` misses 0x0/);
});

test('the variant rules are recorded as encoded by their contract (the catalogue’s Encoded by column)', () => {
  assert.ok(encoded.get('TRACK-U1')?.includes('contract `linux-upstream`'));
  assert.ok(encoded.get('SPLIT-R1')?.includes('contract `rfc-2021`'));
});

test('the departure list is docs/CONTRACTS.md’s, whole', () => {
  const text = readFileSync(join(REPO_ROOT, 'docs', 'CONTRACTS.md'), 'utf8');
  const list = departureList(REPO_ROOT);
  assert.ok(list.length > 10);
  assert.ok(text.includes(list.join('\n')));
  assert.ok(doc.includes(`${DEPARTURES_HEADING}\n`));
});

test.run();
