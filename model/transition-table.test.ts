import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { transition } from 'xstate';
import { LEAF_EVENTS, leafDescriptorMachine } from '../spec/descriptor/leaf-machine.ts';
import { TRACKING_EVENTS, domainTrackingMachine } from '../spec/domain/tracking-machine.ts';
import { IOTLB_EVENTS, iotlbEntryMachine } from '../spec/iotlb/iotlb-entry-machine.ts';
import { machineTransitions } from '../spec/machines.ts';
import { compiledTable } from './run-context.ts';
import { TransitionTable, stateKey } from './transition-table.ts';

const tables = {
  leafDescriptor: new TransitionTable(leafDescriptorMachine, LEAF_EVENTS),
  iotlbEntry: new TransitionTable(iotlbEntryMachine, IOTLB_EVENTS),
  domainTracking: new TransitionTable(domainTrackingMachine, TRACKING_EVENTS),
};

for (const [name, table] of Object.entries(tables)) {
  test(`the ${name} table agrees with transition() on every state and event`, () => {
    let n = 0;
    for (const [s, e, entry] of (table as TransitionTable<typeof leafDescriptorMachine>).entries()) {
      const [next, actions] = transition(table.machine as typeof leafDescriptorMachine, s, e as never);
      assert.is(stateKey(entry.next), stateKey(next), `${stateKey(s)} + ${JSON.stringify(e)}`);
      assert.equal(
        [...entry.outcomes],
        actions.map((a) => a.type),
      );
      n++;
    }
    assert.is(n, table.states.length * table.events.length);
  });
  test(`every transition of ${name} is reachable through its table (its alphabet is complete)`, () => {
    const all = new Set(machineTransitions(table.machine).map((t) => t.key));
    const reached = new Set<string>();
    for (const [, , entry] of (table as TransitionTable<typeof leafDescriptorMachine>).entries()) entry.transitions.forEach((k) => reached.add(k));
    assert.equal(
      [...all].filter((k) => !reached.has(k)),
      [],
    );
  });
}

test('the leaf table has the 9 decoded states and cites requirements on every taken transition', () => {
  assert.is(tables.leafDescriptor.states.length, 9);
  for (const [, , entry] of tables.leafDescriptor.entries()) if (entry.transitions.length > 0) assert.ok(entry.req.length > 0);
});

test('step records coverage and rejects an event outside the alphabet', () => {
  const t = new TransitionTable(leafDescriptorMachine, LEAF_EVENTS);
  const covered = new Set<string>();
  let s = t.step(t.initial, { type: 'MAP', write: true, hdQuirk: true, accessFlag: true }, covered).next;
  s = t.step(s, { type: 'CLEAR_DIRTY' }, covered).next;
  const e = t.step(s, { type: 'DMA_WRITE', ha: true, hd: true }, covered);
  assert.equal([...e.outcomes], ['hwSetDirty', 'accessPerformed']);
  assert.ok(e.req.includes('HTTU-2'));
  assert.ok(covered.has('valid.permission.writableClean --DMA_WRITE#1'));
  assert.throws(() => t.step(s, { type: 'BOGUS' } as never), /alphabet/);
});

test('a compiled table is shared per machine and alphabet: another alphabet of the same machine gets a table of its own', () => {
  const full = compiledTable(leafDescriptorMachine, LEAF_EVENTS);
  assert.is(compiledTable(leafDescriptorMachine, LEAF_EVENTS), full);
  const fewer = LEAF_EVENTS.slice(0, 4);
  const other = compiledTable(leafDescriptorMachine, fewer);
  assert.is.not(other, full);
  assert.is(other.events, fewer);
  assert.is(compiledTable(leafDescriptorMachine, fewer), other);
});

test.run();
