import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { run, step } from '../step.ts';
import { leafDescriptorMachine as m, leafStateOf, type LeafEvent } from './leaf-machine.ts';

const MAP_RW: LeafEvent = { type: 'MAP', write: true, hdQuirk: true, accessFlag: true };
const W = (ha: boolean, hd: boolean): LeafEvent => ({ type: 'DMA_WRITE', ha, hd });
const R = (ha: boolean, hd: boolean): LeafEvent => ({ type: 'DMA_READ', ha, hd });
const CLEAN: LeafEvent[] = [MAP_RW, { type: 'CLEAR_DIRTY' }];
const state = (events: LeafEvent[]) => leafStateOf(run(m, events)[0]);
const outcomes = (events: LeafEvent[]) => run(m, events)[1];

test('[MAP-1] [MAP-5] read-only map gives readOnly with AF', () => {
  assert.equal(state([{ type: 'MAP', write: false, hdQuirk: true, accessFlag: true }]), { state: 'readOnly', accessFlag: true });
});
test('[MAP-2] writable map with the HD quirk gives writableDirty', () => {
  assert.equal(state([MAP_RW]), { state: 'writableDirty', accessFlag: true });
});
test('[MAP-3] writable map without the HD quirk gives plain writable', () => {
  assert.equal(state([{ type: 'MAP', write: true, hdQuirk: false, accessFlag: true }]).state, 'writable');
});
test('[MAP-5] a leaf mapped with AF clear starts not accessed', () => {
  for (const write of [true, false])
    for (const hdQuirk of [true, false]) {
      assert.is(state([{ type: 'MAP', write, hdQuirk, accessFlag: false }]).accessFlag, false);
    }
});
test('[MAP-4] mapping over a valid leaf is -EEXIST and changes nothing', () => {
  const [s, out] = run(m, [...CLEAN, MAP_RW]);
  assert.equal(out, ['eexist']);
  assert.is(leafStateOf(s).state, 'writableClean');
});
test('[UNMAP-1] unmap makes any leaf invalid', () => {
  assert.is(state([MAP_RW, { type: 'UNMAP' }]).state, 'invalid');
  assert.is(state([...CLEAN, { type: 'UNMAP' }]).state, 'invalid');
});
test('[FAULT-1] DMA through an invalid entry is a translation fault', () => {
  assert.equal(outcomes([W(true, true)]), ['translationFault']);
  assert.equal(outcomes([R(true, true)]), ['translationFault']);
  assert.is(state([W(true, true)]).state, 'invalid');
});
test('[FAULT-2] a write through a read-only leaf is a permission fault', () => {
  const ro: LeafEvent = { type: 'MAP', write: false, hdQuirk: true, accessFlag: true };
  assert.equal(outcomes([ro, W(true, true)]), ['permissionFault']);
  assert.is(state([ro, W(true, true)]).state, 'readOnly');
});
test('[FAULT-3] with HD=0 a write through a writable-clean leaf is a permission fault', () => {
  assert.equal(outcomes([...CLEAN, W(true, false)]), ['permissionFault']);
  assert.is(state([...CLEAN, W(true, false)]).state, 'writableClean');
});
test('[FAULT-4] with AF=0 and HA=0 any access is an access flag fault, before the permission check', () => {
  const ro: LeafEvent = { type: 'MAP', write: false, hdQuirk: true, accessFlag: false };
  assert.equal(outcomes([ro, W(false, false)]), ['accessFlagFault']);
  assert.equal(outcomes([ro, R(false, true)]), ['accessFlagFault']);
  const rwClean: LeafEvent[] = [{ type: 'MAP', write: true, hdQuirk: true, accessFlag: false }, { type: 'CLEAR_DIRTY' }];
  assert.equal(outcomes([...rwClean, W(false, true)]), ['accessFlagFault']);
  assert.equal(state([...rwClean, W(false, true)]), { state: 'writableClean', accessFlag: false });
});
test('[HTTU-1] with HA=1 an access through AF=0 sets AF and proceeds', () => {
  const evs: LeafEvent[] = [{ type: 'MAP', write: true, hdQuirk: false, accessFlag: false }, R(true, false)];
  assert.equal(outcomes(evs), ['hwSetAccessFlag', 'accessPerformed']);
  assert.is(state(evs).accessFlag, true);
  assert.is(state([{ type: 'MAP', write: true, hdQuirk: false, accessFlag: false }, W(true, false)]).accessFlag, true);
});
test('[HTTU-1] [FAULT-2] [FAULT-3] an access that faults on permission may set AF (UNKNOWN, IHI 0070 G.b §3.13.2), and changes no dirty state', () => {
  const ro: LeafEvent = { type: 'MAP', write: false, hdQuirk: true, accessFlag: false };
  const afOnFault = (hd: boolean): LeafEvent => ({ type: 'DMA_WRITE', ha: true, hd, afOnFault: true });
  assert.equal(outcomes([ro, afOnFault(true)]), ['hwSetAccessFlag', 'permissionFault']);
  assert.equal(state([ro, afOnFault(true)]), { state: 'readOnly', accessFlag: true });
  const clean: LeafEvent[] = [{ type: 'MAP', write: true, hdQuirk: true, accessFlag: false }, { type: 'CLEAR_DIRTY' }];
  assert.equal(state([...clean, afOnFault(false)]), { state: 'writableClean', accessFlag: true });
  // An access that does not fault is unchanged by the flag.
  assert.equal(outcomes([...clean, afOnFault(true)]), ['hwSetAccessFlag', 'hwSetDirty', 'accessPerformed']);
});
test('[HTTU-1] [FAULT-2] [FAULT-3] an access that faults on permission, AF left as the SMMU found it, does not set AF', () => {
  const ro: LeafEvent = { type: 'MAP', write: false, hdQuirk: true, accessFlag: false };
  assert.equal(outcomes([ro, W(true, true)]), ['permissionFault']);
  assert.is(state([ro, W(true, true)]).accessFlag, false);
  const clean: LeafEvent[] = [{ type: 'MAP', write: true, hdQuirk: true, accessFlag: false }, { type: 'CLEAR_DIRTY' }];
  assert.equal(outcomes([...clean, W(true, false)]), ['permissionFault']);
  assert.is(state([...clean, W(true, false)]).accessFlag, false);
});
test('[HTTU-2] with HD=1 a write through writable-clean sets dirty before the write', () => {
  assert.equal(outcomes([...CLEAN, W(true, true)]), ['hwSetDirty', 'accessPerformed']);
  assert.is(state([...CLEAN, W(true, true)]).state, 'writableDirty');
});
test('[HTTU-3] reads never change dirty state', () => {
  for (const hd of [true, false]) {
    assert.is(state([...CLEAN, R(true, hd)]).state, 'writableClean');
    assert.is(state([MAP_RW, R(true, hd)]).state, 'writableDirty');
  }
});
test('[HTTU-4] a write through writable-dirty or plain writable changes nothing', () => {
  assert.equal(outcomes([MAP_RW, W(true, true)]), ['accessPerformed']);
  assert.is(state([MAP_RW, W(true, true)]).state, 'writableDirty');
  assert.is(state([{ type: 'MAP', write: true, hdQuirk: false, accessFlag: true }, W(true, true)]).state, 'writable');
});
test('[CLEAR-1] clearing a writable-dirty leaf makes it writable-clean', () => {
  assert.is(state(CLEAN).state, 'writableClean');
});
test('[CLEAR-2] clearing leaves readOnly, writable and writableClean unchanged', () => {
  assert.is(state([{ type: 'MAP', write: false, hdQuirk: true, accessFlag: true }, { type: 'CLEAR_DIRTY' }]).state, 'readOnly');
  assert.is(state([{ type: 'MAP', write: true, hdQuirk: false, accessFlag: true }, { type: 'CLEAR_DIRTY' }]).state, 'writable');
  assert.is(state([...CLEAN, { type: 'CLEAR_DIRTY' }]).state, 'writableClean');
});
test('[CLEAR-3] marking dirty turns writable-clean into writable-dirty and nothing else', () => {
  assert.is(state([...CLEAN, { type: 'SET_DIRTY' }]).state, 'writableDirty');
  assert.is(state([{ type: 'MAP', write: false, hdQuirk: true, accessFlag: true }, { type: 'SET_DIRTY' }]).state, 'readOnly');
  assert.is(state([{ type: 'MAP', write: true, hdQuirk: false, accessFlag: true }, { type: 'SET_DIRTY' }]).state, 'writable');
  assert.is(state([MAP_RW, { type: 'SET_DIRTY' }]).state, 'writableDirty');
});
test("[SPLIT-1] a page split from a block has the block's state, dirty included", () => {
  assert.is(state([MAP_RW, { type: 'SPLIT' }]).state, 'writableDirty');
  assert.is(state([...CLEAN, { type: 'SPLIT' }]).state, 'writableClean');
  assert.is(state([{ type: 'MAP', write: false, hdQuirk: true, accessFlag: true }, { type: 'SPLIT' }]).state, 'readOnly');
  assert.is(state([{ type: 'MAP', write: true, hdQuirk: false, accessFlag: true }, { type: 'SPLIT' }]).state, 'writable');
});
test('[MERGE-1] a block merged from pages with any page dirty is writable-dirty', () => {
  assert.is(state([...CLEAN, { type: 'MERGE', anyDirty: true }]).state, 'writableDirty');
  assert.is(state([MAP_RW, { type: 'MERGE', anyDirty: true }]).state, 'writableDirty');
});
test("[MERGE-2] a block merged from clean pages keeps the first page's state", () => {
  assert.is(state([...CLEAN, { type: 'MERGE', anyDirty: false }]).state, 'writableClean');
  assert.is(
    state([
      { type: 'MAP', write: false, hdQuirk: true, accessFlag: true },
      { type: 'MERGE', anyDirty: false },
    ]).state,
    'readOnly',
  );
  assert.is(
    state([
      { type: 'MAP', write: true, hdQuirk: false, accessFlag: true },
      { type: 'MERGE', anyDirty: false },
    ]).state,
    'writable',
  );
});
test('[SPLIT-1] [MERGE-1] events that do not apply to an invalid entry change nothing', () => {
  let [s] = run(m, []);
  for (const e of [{ type: 'SPLIT' }, { type: 'MERGE', anyDirty: true }, { type: 'CLEAR_DIRTY' }, { type: 'SET_DIRTY' }, { type: 'UNMAP' }] as LeafEvent[]) {
    const [next, out] = step(m, s, e);
    assert.is(leafStateOf(next).state, 'invalid');
    assert.equal(out, []);
    s = next;
  }
});

test.run();
