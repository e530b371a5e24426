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
  /** Stores of `thread` still pending when it released this value. */
  readonly carries: readonly number[];
}

/** The stores a write carries when none of its thread's are pending (shared: `carries` is only read). */
const NOTHING_PENDING: readonly number[] = Object.freeze([]);

export class OrderedMemory {
  private readonly visible = new Map<number, { value: bigint; seq: number }>();
  private readonly widths = new Map<number, Width>();
  private readonly last = new Map<number, LastWrite>();
  private pending: Pending[] = [];
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
    if (typeof value !== 'bigint' || value < 0n || value >= 1n << BigInt(width * 8)) throw new RangeError(`value ${String(value)}: must fit in ${width * 8} bits`);
    return value;
  }

  store(thread: RingThread, addr: number, width: Width, value: bigint, order: 'relaxed' | 'release'): void {
    this.check(addr, width);
    this.mask(value, width);
    // A thread's later store to a location supersedes its earlier pending one there (most
    // stores find nothing pending: no arrays are made for them).
    if (this.pending.length > 0) this.pending = this.pending.filter((p) => !(p.thread === thread && p.addr === addr));
    if (order === 'release') {
      const carries = this.pending.length === 0 ? NOTHING_PENDING : this.pending.filter((p) => p.thread === thread).map((p) => p.seq);
      this.visible.set(addr, { value, seq: this.seq++ });
      this.last.set(addr, { thread, carries });
      return;
    }
    let delay = this.options.delaysOn === false ? 0 : (this.options.delays?.[this.relaxedStores[thread]] ?? 0);
    this.relaxedStores[thread]++;
    // TSO: not visible before the thread's earlier stores (a FIFO store buffer).
    if (this.options.tso?.includes(thread) === true) for (const p of this.pending) if (p.thread === thread) delay = Math.max(delay, p.due - this.now);
    if (delay <= 0) {
      this.visible.set(addr, { value, seq: this.seq++ });
      this.last.set(addr, { thread, carries: NOTHING_PENDING });
      return;
    }
    this.delayed++;
    this.pending.push({ seq: this.seq++, thread, addr, value, due: this.now + delay });
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
    if (order === 'acquire' && v !== undefined && w !== undefined && w.thread !== thread && w.carries.length > 0) this.commit((p) => w.carries.includes(p.seq));
    const mine = this.pending.length === 0 ? undefined : this.pending.findLast((p) => p.thread === thread && p.addr === addr);
    if (mine !== undefined && (v === undefined || mine.seq > v.seq)) return mine.value;
    return v?.value ?? 0n;
  }

  /** A full barrier by `thread`: all its stores become visible. */
  fence(thread: RingThread): void {
    this.commit((p) => p.thread === thread);
  }

  /** One kit step passes: stores whose delay ran out become visible. */
  tick(): void {
    this.now++;
    this.commit((p) => p.due <= this.now);
  }

  /** Every store visible (the end of a run; a quiescent VM). */
  settle(): void {
    this.commit(() => true);
  }

  /** Relaxed stores not yet visible to the other thread. */
  get pendingCount(): number {
    return this.pending.length;
  }

  private commit(which: (p: Pending) => boolean): void {
    if (this.pending.length === 0) return;
    const now = this.pending.filter(which).sort((a, b) => a.seq - b.seq);
    if (now.length === 0) return;
    this.pending = this.pending.filter((p) => !now.includes(p));
    for (const p of now) {
      const v = this.visible.get(p.addr);
      if (v !== undefined && v.seq > p.seq) continue; // overtaken by a later store already visible
      this.visible.set(p.addr, { value: p.value, seq: p.seq });
      this.last.set(p.addr, { thread: p.thread, carries: NOTHING_PENDING });
    }
  }
}
