import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GuestPages, type PageObservation } from './guest-pages.ts';

const W = { logging: true, readonlySlot: false, hugeBacked: false };
const gpa = (rel: number) => BigInt(0x1_0000_0000 + rel * 4096);
const gpaOf = (_slot: number, rel: number) => gpa(rel);
/** An implementation that shows every page in the state `seen` gives. */
const showing = (seen: (rel: number) => PageObservation) => (g: bigint) => seen(Number((g - 0x1_0000_0000n) / 4096n));

test('[KVM-PT-1] [KVM-PT-14] a write counts once the page is seen as the machine predicts: writable, its translation cached', () => {
  const covered = new Set<string>();
  const pages = new GuestPages(covered, { hwDirty: false, eagerSplit: true });
  pages.write(0, 3, W);
  pages.settle(
    showing(() => ({ leaf: 'writable', tlb: true, pml: false })),
    gpaOf,
  );
  assert.ok(covered.has('leaf.none --WRITE#1'));
  assert.ok(covered.has('tlb.empty --WRITE#0'));
});

test('[KVM-PT-1] a page seen in another state earns nothing and its later transitions do not count either', () => {
  const covered = new Set<string>();
  const pages = new GuestPages(covered, { hwDirty: false, eagerSplit: true });
  pages.write(0, 3, W);
  // The implementation shares a huge leaf, say: not the machine's state for this page.
  pages.settle(
    showing(() => ({ leaf: 'huge', tlb: true, pml: false })),
    gpaOf,
  );
  assert.equal([...covered], []);
  pages.call(true, 0, [3], true);
  pages.settle(
    showing(() => ({ leaf: 'protected', tlb: false, pml: false })),
    gpaOf,
  );
  assert.equal([...covered], []);
});

test('[KVM-PT-9] [KVM-PT-12] a call protects the pages whose bits it takes and flushes every translation', () => {
  const covered = new Set<string>();
  const pages = new GuestPages(covered, { hwDirty: true, eagerSplit: true });
  pages.write(0, 3, W);
  pages.write(0, 9, W);
  pages.settle(
    showing(() => ({ leaf: 'writable', tlb: true, pml: false })),
    gpaOf,
  );
  pages.call(true, 0, [3], true);
  pages.settle(
    showing((rel) => ({ leaf: rel === 3 ? 'clean' : 'writable', tlb: false, pml: false })),
    gpaOf,
  );
  assert.ok(covered.has('leaf.writable --PROTECT#0'));
  assert.ok(covered.has('tlb.valid --PROTECT#0'));
  assert.ok(covered.has('tlb --FLUSH#0'));
});

test('[KVM-PT-13] a racing write seen after its page was protected and before the flush goes through the stale translation', () => {
  const covered = new Set<string>();
  const pages = new GuestPages(covered, { hwDirty: false, eagerSplit: true });
  pages.write(0, 5, W);
  pages.settle(
    showing(() => ({ leaf: 'writable', tlb: true, pml: false })),
    gpaOf,
  );
  pages.begin(true);
  pages.racingWrite(0, 5, W, { leaf: 'protected', tlb: true, pml: false });
  pages.call(true, 0, [5], true);
  pages.settle(
    showing(() => ({ leaf: 'protected', tlb: false, pml: false })),
    gpaOf,
  );
  assert.ok(covered.has('leaf.protected --WRITE#0'), [...covered].join(', '));
  assert.ok(covered.has('leaf.writable --PROTECT#1'));
});

test('[KVM-PT-8] a racing write seen after the flush faults and is recorded', () => {
  const covered = new Set<string>();
  const pages = new GuestPages(covered, { hwDirty: false, eagerSplit: true });
  pages.write(0, 5, W);
  pages.settle(
    showing(() => ({ leaf: 'writable', tlb: true, pml: false })),
    gpaOf,
  );
  pages.begin(true);
  pages.racingWrite(0, 5, W, { leaf: 'protected', tlb: false, pml: false });
  pages.call(true, 0, [5], true);
  pages.settle(
    showing(() => ({ leaf: 'writable', tlb: true, pml: false })),
    gpaOf,
  );
  assert.ok(covered.has('leaf.protected --WRITE#1'));
  assert.not.ok(covered.has('leaf.protected --WRITE#0'));
});

test('[KVM-PT-15] a ZAP puts a page set aside back in the initial state, counted again from there', () => {
  const covered = new Set<string>();
  const pages = new GuestPages(covered, { hwDirty: false, eagerSplit: false });
  pages.write(0, 5, { ...W, logging: false, hugeBacked: true });
  pages.settle(
    showing(() => ({ leaf: 'writable', tlb: true, pml: false })),
    gpaOf,
  );
  assert.equal([...covered], []);
  pages.zapSlot(0, false);
  pages.write(0, 5, W);
  pages.settle(
    showing(() => ({ leaf: 'writable', tlb: true, pml: false })),
    gpaOf,
  );
  assert.ok(covered.has('leaf.none --WRITE#1'));
  assert.not.ok(covered.has('leaf.none --WRITE#2'));
});

test('a black box that shows no pages earns nothing', () => {
  const covered = new Set<string>();
  const pages = new GuestPages(covered, { hwDirty: false, eagerSplit: true });
  pages.write(0, 5, W);
  pages.settle(undefined, gpaOf);
  assert.equal([...covered], []);
});

test.run();
