// OrderedMemory (ordered-memory.ts) keeps its pending stores indexed per thread and address
// for speed. This test checks it against the rules written as plainly as they read: one
// list of pending stores, searched in full at every access. Random programs of both
// threads (stores, loads, fences, steps, settle) must give the same value at every load,
// the same count of pending and delayed stores after every operation, under every option.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type MemoryOrder, OrderedMemory, type OrderedMemoryOptions, type RingThread } from './ordered-memory.ts';

interface ListPending {
  seq: number;
  thread: RingThread;
  addr: number;
  value: bigint;
  due: number;
}

/** The rules of ordered-memory.ts's header over one list (widths and ranges are not this test's concern). */
class ListMemory {
  private visible = new Map<number, { value: bigint; seq: number }>();
  private last = new Map<number, { thread: RingThread; carries: number[] }>();
  private pending: ListPending[] = [];
  private seq = 0;
  private now = 0;
  private stores: Record<RingThread, number> = { kvm: 0, vmm: 0 };
  delayed = 0;
  constructor(private readonly o: OrderedMemoryOptions) {}
  get pendingCount(): number {
    return this.pending.length;
  }
  store(t: RingThread, addr: number, value: bigint, order: 'relaxed' | 'release'): void {
    this.pending = this.pending.filter((p) => !(p.thread === t && p.addr === addr));
    if (order === 'release') {
      this.last.set(addr, { thread: t, carries: this.pending.filter((p) => p.thread === t).map((p) => p.seq) });
      this.visible.set(addr, { value, seq: this.seq++ });
      return;
    }
    let delay = this.o.delaysOn === false ? 0 : (this.o.delays?.[this.stores[t]] ?? 0);
    this.stores[t]++;
    if (this.o.tso?.includes(t) === true) for (const p of this.pending) if (p.thread === t) delay = Math.max(delay, p.due - this.now);
    if (delay <= 0) {
      this.visible.set(addr, { value, seq: this.seq++ });
      this.last.set(addr, { thread: t, carries: [] });
      return;
    }
    this.delayed++;
    this.pending.push({ seq: this.seq++, thread: t, addr, value, due: this.now + delay });
  }
  load(t: RingThread, addr: number, order: 'relaxed' | 'acquire'): bigint {
    const acquire = order === 'acquire' || this.o.tso?.includes(t) === true;
    const w = this.last.get(addr);
    if (acquire && this.visible.has(addr) && w !== undefined && w.thread !== t) this.commit((p) => w.carries.includes(p.seq));
    const v = this.visible.get(addr);
    const mine = this.pending.findLast((p) => p.thread === t && p.addr === addr);
    return mine !== undefined && (v === undefined || mine.seq > v.seq) ? mine.value : (v?.value ?? 0n);
  }
  fence(t: RingThread): void {
    this.commit((p) => p.thread === t);
  }
  tick(): void {
    this.now++;
    this.commit((p) => p.due <= this.now);
  }
  settle(): void {
    this.commit(() => true);
  }
  private commit(which: (p: ListPending) => boolean): void {
    const now = this.pending.filter(which).sort((a, b) => a.seq - b.seq);
    this.pending = this.pending.filter((p) => !now.includes(p));
    for (const p of now) {
      const v = this.visible.get(p.addr);
      if (v !== undefined && v.seq > p.seq) continue;
      this.visible.set(p.addr, { value: p.value, seq: p.seq });
      this.last.set(p.addr, { thread: p.thread, carries: [] });
    }
  }
}

type Op = { k: 'store'; t: RingThread; at: number; value: number; order: 'relaxed' | 'release' } | { k: 'load'; t: RingThread; at: number; order: 'relaxed' | 'acquire' } | { k: 'fence'; t: RingThread } | { k: 'tick' } | { k: 'settle' };

const thread = fc.constantFrom<RingThread>('kvm', 'vmm');
/** Four u32 fields: few enough that stores supersede, overtake and carry each other often. */
const at = fc.nat(3);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ k: fc.constant('store' as const), t: thread, at, value: fc.nat(9), order: fc.constantFrom<'relaxed' | 'release'>('relaxed', 'relaxed', 'release') }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('load' as const), t: thread, at, order: fc.constantFrom<'relaxed' | 'acquire'>('relaxed', 'acquire') }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('fence' as const), t: thread }) },
  { weight: 3, arbitrary: fc.constant({ k: 'tick' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'settle' as const }) },
);
const options: fc.Arbitrary<OrderedMemoryOptions> = fc.record({
  delays: fc.array(fc.nat(4), { maxLength: 30, size: 'max' }),
  delaysOn: fc.constantFrom(true, true, true, false),
  tso: fc.subarray<RingThread>(['kvm', 'vmm']),
});

test('the indexed memory answers every load as the plain list of pending stores does, on random programs of both threads', () => {
  fc.assert(
    // size 'max': fast-check's default size would cap the programs at 10 operations.
    fc.property(options, fc.array(op, { maxLength: 60, size: 'max' }), (o, ops) => {
      const fast = new OrderedMemory(o);
      const list = new ListMemory(o);
      ops.forEach((x, i) => {
        const where = `op ${i} ${JSON.stringify(x)}`;
        if (x.k === 'store') {
          fast.store(x.t, x.at * 4, 4, BigInt(x.value), x.order);
          list.store(x.t, x.at * 4, BigInt(x.value), x.order);
        } else if (x.k === 'load') assert.is(fast.load(x.t, x.at * 4, 4, x.order as MemoryOrder & ('relaxed' | 'acquire')), list.load(x.t, x.at * 4, x.order), where);
        else if (x.k === 'fence') {
          fast.fence(x.t);
          list.fence(x.t);
        } else if (x.k === 'tick') {
          fast.tick();
          list.tick();
        } else {
          fast.settle();
          list.settle();
        }
        assert.is(fast.pendingCount, list.pendingCount, `pending after ${where}`);
        assert.is(fast.delayed, list.delayed, `delayed after ${where}`);
      });
    }),
    { numRuns: 2000, seed: 1 },
  );
});

test.run();
