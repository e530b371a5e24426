import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { run } from '../step.ts';
import { iotlbEntryMachine as m, type IotlbEvent } from './iotlb-entry-machine.ts';

const value = (events: IotlbEvent[]) => JSON.stringify(run(m, events)[0].value);
const outcomes = (events: IotlbEvent[]) => run(m, events)[1];
const walk = (leaf: IotlbEvent & { type: 'WALK' } extends infer E ? (E extends { leaf: infer L } ? L : never) : never): IotlbEvent => ({ type: 'WALK', leaf });
const W = (hd: boolean): IotlbEvent => ({ type: 'DMA_WRITE', hd });

test('[IOTLB-1] a walk caches the leaf with the state it had', () => {
  assert.is(value([walk('writableClean')]), '{"cached":"writableClean"}');
  assert.is(value([walk('writableDirty')]), '{"cached":"writableDirty"}');
  assert.is(value([walk('readOnly')]), '{"cached":"readOnly"}');
  assert.is(value([walk('writable')]), '{"cached":"writable"}');
});
test('[IOTLB-1] with no entry a DMA misses (the SMMU walks)', () => {
  assert.equal(outcomes([W(true)]), ['miss']);
  assert.equal(outcomes([{ type: 'DMA_READ' }]), ['miss']);
});
test('[IOTLB-2] a faulting walk is not cached', () => {
  assert.is(value([walk('invalid')]), '"absent"');
});
test('[IOTLB-3] a read through a cached entry is a hit', () => {
  assert.equal(outcomes([walk('writableClean'), { type: 'DMA_READ' }]), ['hit']);
});
test('[IOTLB-4] a write through a cached writable-dirty or writable entry does not touch memory', () => {
  assert.equal(outcomes([walk('writableDirty'), W(true)]), ['hit']);
  assert.equal(outcomes([walk('writable'), W(false)]), ['hit']);
});
test('[IOTLB-5] a write through a cached writable-clean entry with HD=1 updates the descriptor', () => {
  assert.equal(outcomes([walk('writableClean'), W(true)]), ['hwUpdateDescriptor']);
  assert.is(value([walk('writableClean'), W(true)]), '{"cached":"writableDirty"}');
});
test('[IOTLB-6] a write through cached read-only, or writable-clean with HD=0, faults', () => {
  assert.equal(outcomes([walk('readOnly'), W(true)]), ['permissionFault']);
  assert.equal(outcomes([walk('writableClean'), W(false)]), ['permissionFault']);
});
test('[IOTLB-7] HAZARD: clearing a leaf cached writable-dirty leaves a stale entry that loses the next write', () => {
  const evs: IotlbEvent[] = [walk('writableDirty'), { type: 'SW_CLEAR_DIRTY' }];
  assert.is(value(evs), '"staleDirty"');
  assert.equal(outcomes([...evs, W(true)]), ['dirtyNotRecorded']);
  assert.is(value([...evs, { type: 'SW_CLEAR_DIRTY' }, { type: 'SW_KEEP_STATE' }]), '"staleDirty"');
  assert.equal(outcomes([...evs, { type: 'DMA_READ' }]), ['hit']);
});
test('[IOTLB-8] HAZARD: an unmapped leaf still translates until invalidated', () => {
  for (const from of [[walk('writableDirty')], [walk('writableDirty'), { type: 'SW_CLEAR_DIRTY' }]] as IotlbEvent[][]) {
    const evs: IotlbEvent[] = [...from, { type: 'SW_UNMAP' }];
    assert.is(value(evs), '{"staleUnmapped":"writableDirty"}');
    assert.equal(outcomes([...evs, W(true), { type: 'DMA_READ' }]), ['staleTranslation', 'staleTranslation']);
    assert.is(value([...evs, { type: 'SW_UNMAP' }, { type: 'SW_CLEAR_DIRTY' }, { type: 'SW_KEEP_STATE' }]), '{"staleUnmapped":"writableDirty"}');
  }
});
test('[IOTLB-8] [IOTLB-6] a stale unmapped entry keeps the permissions it cached', () => {
  assert.equal(outcomes([walk('readOnly'), { type: 'SW_UNMAP' }, W(true)]), ['permissionFault']);
  assert.equal(outcomes([walk('writable'), { type: 'SW_UNMAP' }, W(false)]), ['staleTranslation']);
  assert.equal(outcomes([walk('writableClean'), { type: 'SW_UNMAP' }, W(false)]), ['permissionFault']);
});
test('[IOTLB-8] [IOTLB-5] a write through a stale unmapped writable-clean entry re-walks (and finds nothing)', () => {
  const evs: IotlbEvent[] = [walk('writableClean'), { type: 'SW_UNMAP' }, W(true)];
  assert.equal(outcomes(evs), ['hwUpdateDescriptor']);
  assert.is(value(evs), '"absent"');
});
test('[IOTLB-9] invalidation (TLBI + CMD_SYNC) removes the entry, stale or not', () => {
  assert.is(value([walk('writableDirty'), { type: 'INVALIDATE' }]), '"absent"');
  assert.is(value([walk('writableDirty'), { type: 'SW_CLEAR_DIRTY' }, { type: 'INVALIDATE' }]), '"absent"');
  assert.is(value([walk('writableDirty'), { type: 'SW_UNMAP' }, { type: 'INVALIDATE' }]), '"absent"');
  assert.is(value([{ type: 'INVALIDATE' }]), '"absent"');
});
test('[IOTLB-10] software changes that keep the state correct leave the entry usable', () => {
  assert.is(value([walk('writableClean'), { type: 'SW_KEEP_STATE' }]), '{"cached":"writableClean"}');
  for (const leaf of ['readOnly', 'writable', 'writableClean'] as const) {
    assert.is(value([walk(leaf), { type: 'SW_CLEAR_DIRTY' }]), `{"cached":"${leaf}"}`);
  }
});
test('[IOTLB-11] an evicted entry behaves as absent', () => {
  for (const from of [[walk('readOnly')], [walk('writableDirty'), { type: 'SW_CLEAR_DIRTY' }], [walk('writable'), { type: 'SW_UNMAP' }]] as IotlbEvent[][]) {
    assert.is(value([...from, { type: 'EVICT' }]), '"absent"');
    assert.equal(outcomes([...from, { type: 'EVICT' }, W(true)]).at(-1), 'miss');
  }
});

test.run();
