import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Violation } from '../violation.ts';
import { RingMigrationCheck, guestMemoryPages, pageKey } from './migration-check.ts';
import { OrderedMemory } from './ordered-memory.ts';

const FLAGS = 0x1000;
const SLOT = 0x1004;
const OFFSET = 0x1008;

/** KVM's push as kvm_dirty_ring_push does it, with the given order for the flags store. */
function push(m: OrderedMemory, slot: number, offset: bigint, flagsOrder: 'relaxed' | 'release' = 'release') {
  m.store('kvm', SLOT, 4, BigInt(slot), 'relaxed');
  m.store('kvm', OFFSET, 8, offset, 'relaxed');
  m.store('kvm', FLAGS, 4, 1n, flagsOrder);
}

test('[KVM-RING-22] acquire of a released flag makes the delayed slot and offset visible', () => {
  const m = new OrderedMemory({ delays: [5, 5] });
  push(m, 7, 42n);
  assert.is(m.pendingCount, 2);
  assert.is(m.load('vmm', FLAGS, 4, 'acquire'), 1n);
  assert.is(m.load('vmm', SLOT, 4, 'relaxed'), 7n);
  assert.is(m.load('vmm', OFFSET, 8, 'relaxed'), 42n);
});

test('[KVM-RING-22] without acquire the reader may see the flag and stale slot and offset', () => {
  const m = new OrderedMemory({ delays: [5, 5] });
  push(m, 7, 42n);
  assert.is(m.load('vmm', FLAGS, 4, 'relaxed'), 1n);
  assert.is(m.load('vmm', SLOT, 4, 'relaxed'), 0n);
  assert.is(m.load('vmm', OFFSET, 8, 'relaxed'), 0n);
});

test('[KVM-RING-22] reading slot and offset before the flags gets stale values even if the flags load is acquire', () => {
  const m = new OrderedMemory({ delays: [5, 5] });
  push(m, 7, 42n);
  const slot = m.load('vmm', SLOT, 4, 'relaxed');
  assert.is(m.load('vmm', FLAGS, 4, 'acquire'), 1n);
  assert.is(slot, 0n);
});

test('[KVM-RING-22] a relaxed flags store synchronises with nothing: acquire does not help', () => {
  const m = new OrderedMemory({ delays: [3, 3] });
  push(m, 7, 42n, 'relaxed');
  // The flags store has delay 0 (the third relaxed store): visible, the fields are not.
  assert.is(m.load('vmm', FLAGS, 4, 'acquire'), 1n);
  assert.is(m.load('vmm', SLOT, 4, 'relaxed'), 0n);
});

test('[KVM-RING-22] publishing the flags before slot and offset leaves them invisible after the acquire', () => {
  const m = new OrderedMemory({ delays: [4, 4] });
  m.store('kvm', FLAGS, 4, 1n, 'release');
  m.store('kvm', SLOT, 4, 7n, 'relaxed');
  m.store('kvm', OFFSET, 8, 42n, 'relaxed');
  assert.is(m.load('vmm', FLAGS, 4, 'acquire'), 1n);
  assert.is(m.load('vmm', OFFSET, 8, 'relaxed'), 0n);
});

test('[KVM-RING-22] a delay runs out after its steps; fences and settle flush; own stores are always seen', () => {
  const m = new OrderedMemory({ delays: [2] });
  m.store('kvm', SLOT, 4, 9n, 'relaxed');
  assert.is(m.load('kvm', SLOT, 4, 'relaxed'), 9n, 'own store');
  assert.is(m.load('vmm', SLOT, 4, 'relaxed'), 0n);
  m.tick();
  assert.is(m.load('vmm', SLOT, 4, 'relaxed'), 0n);
  m.tick();
  assert.is(m.load('vmm', SLOT, 4, 'relaxed'), 9n);
  m.store('kvm', OFFSET, 8, 1n, 'relaxed');
  const f = new OrderedMemory({ delays: [9] });
  f.store('vmm', SLOT, 4, 3n, 'relaxed');
  f.fence('vmm');
  assert.is(f.load('kvm', SLOT, 4, 'relaxed'), 3n);
  const s = new OrderedMemory({ delays: [9] });
  s.store('vmm', SLOT, 4, 3n, 'relaxed');
  s.settle();
  assert.is(s.load('kvm', SLOT, 4, 'relaxed'), 3n);
});

test("[KVM-RING-22] x86-TSO: a thread's relaxed loads are acquires and its relaxed stores become visible in issue order", () => {
  // The collector's rewrite (relaxed) then RESET (release): KVM's plain load of the flags (Linux v5.11 kvm_dirty_gfn_harvested) sees the rewrite on x86, not on a weak memory.
  for (const tso of [true, false]) {
    const m = new OrderedMemory({ delays: [5], tso: tso ? ['kvm'] : [] });
    m.store('vmm', SLOT, 4, 9n, 'relaxed');
    m.store('vmm', FLAGS, 4, 2n, 'release');
    assert.is(m.load('kvm', FLAGS, 4, 'relaxed'), 2n);
    assert.is(m.load('kvm', SLOT, 4, 'relaxed'), tso ? 9n : 0n, `tso ${tso}`);
  }
  // A store delayed 5 steps holds back the next one, delayed 0 (FIFO); without TSO the later one shows first.
  for (const tso of [true, false]) {
    const m = new OrderedMemory({ delays: [5, 0], tso: tso ? ['kvm'] : [] });
    m.store('kvm', SLOT, 4, 7n, 'relaxed');
    m.store('kvm', FLAGS, 4, 1n, 'relaxed');
    assert.is(m.load('vmm', FLAGS, 4, 'relaxed'), tso ? 0n : 1n, `tso ${tso}`);
    for (let i = 0; i < 5; i++) m.tick();
    assert.is(m.load('vmm', FLAGS, 4, 'relaxed'), 1n);
    assert.is(m.load('vmm', SLOT, 4, 'relaxed'), 7n);
  }
  // The collector's side is not TSO: its relaxed load orders nothing.
  const m = new OrderedMemory({ delays: [5, 5], tso: ['kvm'] });
  push(m, 7, 42n);
  assert.is(m.load('vmm', FLAGS, 4, 'relaxed'), 1n);
  assert.is(m.load('vmm', SLOT, 4, 'relaxed'), 0n);
});

test('[KVM-RING-22] with delays turned off every store is visible at once', () => {
  const m = new OrderedMemory({ delays: [5, 5], delaysOn: false });
  push(m, 7, 42n, 'relaxed');
  assert.is(m.load('vmm', SLOT, 4, 'relaxed'), 7n);
  assert.is(m.delayed, 0);
});

test('[KVM-RING-22] misaligned, mis-sized or too-wide accesses are refused', () => {
  const m = new OrderedMemory();
  assert.throws(() => m.store('kvm', 0x1002, 4, 0n, 'relaxed'), /aligned/);
  m.store('kvm', SLOT, 4, 0n, 'relaxed');
  assert.throws(() => m.load('vmm', SLOT, 8, 'relaxed'), /aligned|32-bit field/);
  assert.throws(() => m.store('kvm', FLAGS, 4, 1n << 32n, 'relaxed'), /32 bits/);
});

test('[KVM-RING-23] the destination must equal the source after the final sync', () => {
  const pages = [pageKey(0, 0), pageKey(0, 1)];
  const c = new RingMigrationCheck(guestMemoryPages(pages));
  for (const p of pages) c.copy(p);
  c.write(pages[0]!);
  c.harvested(pages[0]!);
  c.reset();
  c.copy(pages[0]!);
  c.finalCheck();
  assert.not.ok(c.copy('9:9'));
  assert.throws(() => c.write('9:9'), /not guest memory/);
});

test('[KVM-RING-23] [KVM-RING-20] a stale page is a loss, charged to the copy-before-reset when there was one', () => {
  const c = new RingMigrationCheck(guestMemoryPages([pageKey(0, 0)]));
  c.copy(pageKey(0, 0));
  c.write(pageKey(0, 0));
  c.harvested(pageKey(0, 0));
  c.copy(pageKey(0, 0));
  c.write(pageKey(0, 0));
  c.reset();
  try {
    c.finalCheck();
    assert.unreachable('stale page not found');
  } catch (e) {
    assert.instance(e, Violation);
    assert.equal((e as Violation).req, ['KVM-RING-23', 'KVM-RING-20']);
    assert.match((e as Violation).actual, /copied .* before the reset/);
  }
});

test("[KVM-RING-22] coherence: a later store seen through an acquire is not undone by the reader's own older pending store", () => {
  const m = new OrderedMemory({ delays: [0, 5, 5] });
  m.store('vmm', SLOT, 4, 3n, 'relaxed'); // vmm's first relaxed store: delay 0
  m.store('vmm', OFFSET, 8, 9n, 'relaxed'); // delayed 5
  m.store('kvm', OFFSET, 8, 42n, 'relaxed'); // kvm's first relaxed store: delay 0
  m.store('kvm', FLAGS, 4, 1n, 'release');
  assert.is(m.load('vmm', FLAGS, 4, 'acquire'), 1n);
  assert.is(m.load('vmm', OFFSET, 8, 'relaxed'), 42n, "kvm's store is later in the location's order");
  for (let i = 0; i < 6; i++) m.tick();
  assert.is(m.load('kvm', OFFSET, 8, 'relaxed'), 42n, 'the overtaken store never becomes visible');
});

test.run();
