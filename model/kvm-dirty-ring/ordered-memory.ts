// The memory the dirty ring lives in, as the kit owns it, with the ordering the ring's
// two sides may rely on (KVM-RING-22) and nothing more:
// - a relaxed store may become visible to the other thread late: how many kit steps late
//   is generated input (`delays`, one number per relaxed store of a thread in its issue
//   order, missing ones 0), so a shrinker drives it towards 0;
// - a store-release is visible at once, and it carries the releasing thread's stores
//   still invisible at that moment: a load-acquire by the other thread that reads the
//   released value makes them visible before it returns (C11 release/acquire
//   synchronises-with, the message-passing pattern of kvm_dirty_ring_push and the
//   collector);
// - a relaxed load synchronises with nothing: it reads what is visible now;
// - coherence: every store has its place in one order per location (its issue order); a
//   thread reads the latest store to the location that it can see (its own, or one made
//   visible to it), and a late store that becomes visible after a later one was seen is
//   overtaken (it never brings an older value back);
// - a full fence (or a delay running out) makes a thread's stores visible.
// - x86-TSO (`tso`, the threads that run on x86): a thread's loads are not reordered with
//   its earlier loads, nor its stores with its earlier stores, so each of its relaxed loads
//   is an acquire and its relaxed stores become visible in issue order (a store stays
//   pending at least as long as the thread's stores before it: a FIFO store buffer).
//   Linux v5.11 virt/kvm/dirty_ring.c accesses the flags with plain loads and stores
//   (kvm_dirty_gfn_harvested, kvm_dirty_gfn_set_invalid) when the ring is x86's only, and
//   v6.18 still offers KVM_CAP_DIRTY_LOG_RING under CONFIG_HAVE_KVM_DIRTY_RING_TSO alone.
// Turned off (`delays: false`), every store is visible at once: the sequentially
// consistent memory in which an ordering bug cannot show.
//
// The two threads are 'kvm' (the vCPU pushing, the reset ioctl) and 'vmm' (the
// collector). Locations are naturally aligned u32 or u64 fields; a location keeps the
// width it was first written with.
//
// Requirements: KVM-RING-22.
// Sources: ISO/IEC 9899:2011 7.17.3 (memory_order_release/acquire), 5.1.2.4;
//          Linux v6.18 Documentation/virt/kvm/api.rst ("load-acquire/store-release");
//          virt/kvm/dirty_ring.c kvm_dirty_ring_push (smp_wmb).

export type MemoryOrder = 'relaxed' | 'release' | 'acquire';
export type RingThread = 'kvm' | 'vmm';
export type Width = 4 | 8;

export interface OrderedMemoryOptions {
  /** Delay, in kit steps, of each relaxed store of a thread in its issue order (each thread counts its own); missing ones are 0. */
  readonly delays?: readonly number[];
  /** false: every store is visible at once (the check that ordering mutants need delays). */
  readonly delaysOn?: boolean;
  /** Threads whose accesses follow x86-TSO: relaxed loads are acquires, relaxed stores become visible in issue order. */
  readonly tso?: readonly RingThread[];
}

interface Pending {
  readonly seq: number;
  readonly thread: RingThread;
  readonly addr: number;
  readonly value: bigint;
  readonly due: number;
}

interface LastWrite {
  readonly thread: RingThread;
  /**
   * The stores of `thread` still pending when it released this value, as a bound: those of
   * its pending stores whose seq is below it (0: none). A store is pending from its issue,
   * with a seq higher than any before it, until it becomes visible or is superseded, so the
   * stores below the bound that are pending now are exactly those pending then and not yet
   * made visible.
   */
  readonly carries: number;
}

/** One past the largest value of each width. */
const LIMIT: Record<Width, bigint> = { 4: 1n << 32n, 8: 1n << 64n };

export class OrderedMemory {
  private readonly visible = new Map<number, { value: bigint; seq: number }>();
  private readonly widths = new Map<number, Width>();
  private readonly last = new Map<number, LastWrite>();
  /**
   * The pending stores of each thread, by address: a thread's later store to a location
   * supersedes its earlier pending one there, so there is at most one. A superseded store is
   * deleted and the new one set, so each map iterates in issue (seq) order.
   */
  private readonly pending: Record<RingThread, Map<number, Pending>> = { kvm: new Map(), vmm: new Map() };
  /** The earliest `due` of any pending store (Infinity when none): a step before it makes nothing visible. */
  private nextDue = Infinity;
  private seq = 0;
  private readonly relaxedStores: Record<RingThread, number> = { kvm: 0, vmm: 0 };
  private now = 0;
  /** Relaxed stores that were delayed (for reports). */
  delayed = 0;

  constructor(private readonly options: OrderedMemoryOptions = {}) {}

  private check(addr: number, width: Width): void {
    if (!Number.isSafeInteger(addr) || addr < 0 || addr % width !== 0) throw new RangeError(`address 0x${addr.toString(16)}: a ${width * 8}-bit access must be ${width}-byte aligned`);
    const w = this.widths.get(addr);
    if (w === undefined) this.widths.set(addr, width);
    else if (w !== width) throw new RangeError(`address 0x${addr.toString(16)}: accessed as ${width * 8}-bit, but it is a ${w * 8}-bit field`);
  }

  private mask(value: bigint, width: Width): bigint {
    if (typeof value !== 'bigint' || value < 0n || value >= LIMIT[width]) throw new RangeError(`value ${String(value)}: must fit in ${width * 8} bits`);
    return value;
  }

  store(thread: RingThread, addr: number, width: Width, value: bigint, order: 'relaxed' | 'release'): void {
    this.check(addr, width);
    this.mask(value, width);
    const mine = this.pending[thread];
    // A thread's later store to a location supersedes its earlier pending one there.
    mine.delete(addr);
    if (order === 'release') {
      const carries = mine.size === 0 ? 0 : this.seq;
      this.visible.set(addr, { value, seq: this.seq++ });
      this.last.set(addr, { thread, carries });
      return;
    }
    let delay = this.options.delaysOn === false ? 0 : (this.options.delays?.[this.relaxedStores[thread]] ?? 0);
    this.relaxedStores[thread]++;
    // TSO: not visible before the thread's earlier stores (a FIFO store buffer).
    if (this.options.tso?.includes(thread) === true) for (const p of mine.values()) delay = Math.max(delay, p.due - this.now);
    if (delay <= 0) {
      this.visible.set(addr, { value, seq: this.seq++ });
      this.last.set(addr, { thread, carries: 0 });
      return;
    }
    this.delayed++;
    const due = this.now + delay;
    mine.set(addr, { seq: this.seq++, thread, addr, value, due });
    if (due < this.nextDue) this.nextDue = due;
  }

  /**
   * A load by `thread`: an acquire makes visible every store the other side made before the release it reads; a relaxed load orders nothing.
   * @req KVM-RING-22
   * @source Linux v6.18 Documentation/virt/kvm/api.rst (KVM_CAP_DIRTY_LOG_RING/KVM_CAP_DIRTY_LOG_RING_ACQ_REL) ("load-acquire/store-release accessors"); Linux v6.18 virt/kvm/dirty_ring.c kvm_dirty_ring_push (smp_wmb); "KVM: Use acquire/release semantics when accessing dirty ring GFN state" (Marc Zyngier, v6.0); ISO C11 7.17.3 (release/acquire)
   */
  load(thread: RingThread, addr: number, width: Width, order: 'relaxed' | 'acquire'): bigint {
    this.check(addr, width);
    if (this.options.tso?.includes(thread) === true) order = 'acquire';
    const v = this.visible.get(addr);
    const w = this.last.get(addr);
    if (order === 'acquire' && v !== undefined && w !== undefined && w.thread !== thread && w.carries > 0) {
      const below = w.carries;
      this.commit((p) => p.seq < below, w.thread);
    }
    const mine = this.pending[thread].get(addr);
    if (mine !== undefined && (v === undefined || mine.seq > v.seq)) return mine.value;
    return v?.value ?? 0n;
  }

  /** A full barrier by `thread`: all its stores become visible. */
  fence(thread: RingThread): void {
    this.commit(() => true, thread);
  }

  /** One kit step passes: stores whose delay ran out become visible. */
  tick(): void {
    this.now++;
    if (this.now < this.nextDue) return;
    this.commit((p) => p.due <= this.now);
  }

  /** Every store visible (the end of a run; a quiescent VM). */
  settle(): void {
    this.commit(() => true);
  }

  /** Relaxed stores not yet visible to the other thread. */
  get pendingCount(): number {
    return this.pending.kvm.size + this.pending.vmm.size;
  }

  /** Makes the pending stores `which` selects (of `only`'s thread, or of both) visible. */
  private commit(which: (p: Pending) => boolean, only?: RingThread): void {
    if (this.pending.kvm.size + this.pending.vmm.size === 0) return;
    this.nextDue = Infinity;
    for (const thread of THREADS) {
      const mine = this.pending[thread];
      for (const p of mine.values()) {
        if ((only !== undefined && thread !== only) || !which(p)) {
          // Stores superseded since nextDue was set may have left it early: learnt again here.
          if (p.due < this.nextDue) this.nextDue = p.due;
          continue;
        }
        mine.delete(p.addr);
        // In any order: of two stores to one location the later (higher seq) wins either way.
        const v = this.visible.get(p.addr);
        if (v !== undefined && v.seq > p.seq) continue; // overtaken by a later store already visible
        this.visible.set(p.addr, { value: p.value, seq: p.seq });
        this.last.set(p.addr, { thread: p.thread, carries: 0 });
      }
    }
  }
}

const THREADS: readonly RingThread[] = ['kvm', 'vmm'];
