// A bounded IOTLB: caches the leaf a walk ended at, with the state the leaf had once the
// walk's own HTTU updates were done. Least-recently-used entries are evicted.
// Source: ARM IHI 0070 §16.2 (TLB caching), §3.13.3 (caching of dirty state).

export type CachedState = 'readOnly' | 'writable' | 'writableClean' | 'writableDirty';

export interface IotlbEntry {
  readonly asid: number;
  /** IOVA of the start of the leaf. */
  readonly base: number;
  readonly level: number;
  readonly size: number;
  /** Output address of the start of the leaf. */
  readonly outputBase: number;
  readonly state: CachedState;
  /**
   * The leaf's nG was 0: a global entry, which CMD_TLBI_NH_ASID does not invalidate (only
   * CMD_TLBI_NH_VA over its range, or a TLBI of everything, does). Linux writes no global
   * stage-1 leaf (arm_lpae_prot_to_pte sets ARM_LPAE_PTE_nG); a driver that does, and
   * invalidates by ASID, keeps stale entries (IOTLB-9).
   */
  readonly global?: boolean;
}

export class Iotlb {
  // asid -> (base + level) -> entry; Map iteration order gives LRU order overall via `order`.
  private readonly byAsid = new Map<number, Map<number, IotlbEntry>>();
  private readonly order = new Map<IotlbEntry, true>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`iotlb capacity: must be a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.order.size;
  }

  lookup(asid: number, iova: number): IotlbEntry | undefined {
    const table = this.byAsid.get(asid);
    if (table === undefined) return undefined;
    for (let level = 3; level >= 1; level--) {
      const size = 2 ** (12 + 9 * (3 - level));
      const base = iova - (iova % size);
      const entry = table.get(base + level);
      if (entry !== undefined) {
        this.order.delete(entry);
        this.order.set(entry, true);
        return entry;
      }
    }
    return undefined;
  }

  insert(entry: IotlbEntry): void {
    let table = this.byAsid.get(entry.asid);
    if (table === undefined) this.byAsid.set(entry.asid, (table = new Map()));
    const old = table.get(entry.base + entry.level);
    if (old !== undefined) this.order.delete(old);
    table.set(entry.base + entry.level, entry);
    this.order.set(entry, true);
    while (this.order.size > this.capacity) {
      const victim = this.order.keys().next().value as IotlbEntry;
      this.remove(victim);
    }
  }

  remove(entry: IotlbEntry): void {
    this.order.delete(entry);
    this.byAsid.get(entry.asid)?.delete(entry.base + entry.level);
  }

  /** CMD_TLBI_NH_VA over [iova, iova + size): every entry that overlaps the range. */
  invalidateRange(asid: number, iova: number, size: number): void {
    const table = this.byAsid.get(asid);
    if (table === undefined) return;
    for (const entry of [...table.values()]) {
      if (entry.base < iova + size && iova < entry.base + entry.size) this.remove(entry);
    }
  }

  /** CMD_TLBI_NH_ASID: the ASID's non-global entries (ARM IHI 0070, CMD_TLBI_NH_ASID; a global entry matches every ASID and stays). */
  invalidateAsid(asid: number): void {
    for (const entry of [...(this.byAsid.get(asid)?.values() ?? [])]) if (entry.global !== true) this.remove(entry);
  }

  entries(): IotlbEntry[] {
    return [...this.order.keys()];
  }
}
