// A pre-copy migration client over KVM's dirty log, in QEMU's two ways: read-and-clear
// (KVM_GET_DIRTY_LOG takes and re-protects, then the pages are sent) and manual protect
// (KVM_GET_DIRTY_LOG only reads; before a page is sent, KVM_CLEAR_DIRTY_LOG clears and
// re-protects the 64-page chunk holding it, as QEMU's kvm_log_clear does; the last chunk
// of a slot whose size is not a multiple of 64 pages ends at the slot's end). Guest
// memory is modelled by versions: a vCPU write bumps the source page's version, a send
// copies it to the destination. At the end the vCPUs are stopped, a final round runs, and
// the destination must equal the source page for page.
//
// Requirements: NOLOSS-1, NOLOSS-2 over KVM-LOG-5 (read-and-clear), KVM-LOG-6 with
//               KVM-CLEAR-7 (manual protect), KVM-SLOT-11 / KVM-CAP-3 (INITIALLY_SET).
// Sources: QEMU accel/kvm/kvm-all.c (kvm_physical_sync_dirty_bitmap, kvm_log_clear_one_slot:
//          64-page aligned, clamped to the slot's end) and migration/ram.c (bulk stage, then
//          sync and send).
import { dirtyLogBytes, dirtyLogPages } from '../../spec/kvm/dirty-log/args.ts';
import { Violation } from '../violation.ts';

export type KvmMigrationMode = 'read-and-clear' | 'manual-protect';

export interface KvmMigrationSlot {
  readonly slot: number;
  readonly npages: number;
}

/** Where the client may be interrupted by guest writes, in order. */
export type KvmMigrationEvent = { readonly at: 'before' | 'after'; readonly what: 'get' | 'clear' | 'send'; readonly slot: number; readonly page: number; readonly round: number };

export interface KvmMigrationPort {
  getDirtyLog(slot: number, bitmapBytes: number): Promise<{ errno: number; bitmap?: Uint8Array }>;
  clearDirtyLog(slot: number, firstPage: bigint, numPages: number, bitmap: Uint8Array): Promise<{ errno: number }>;
  /** The source page's version (what a send reads). */
  readSource(slot: number, page: number): number;
  /** A client step; the guest may write here (not after `stopVcpus`). */
  onEvent(e: KvmMigrationEvent): Promise<void>;
  stopVcpus(): void;
}

export interface KvmMigrationResult {
  readonly rounds: number;
  readonly sent: number;
  /**
   * Pages whose source changed after their first send: only the dirty log brings them to the
   * destination. With none, the final comparison cannot fail whatever the reports held (a
   * page is sent in the bulk stage and never written again).
   */
  readonly carried: number;
}

export class KvmMigrationClient {
  /** The destination: slot -> page -> version. */
  readonly destination = new Map<number, Map<number, number>>();
  /** The version each page had when it was first sent: slot -> page -> version. */
  private readonly firstSent = new Map<number, Map<number, number>>();
  sent = 0;

  constructor(
    readonly port: KvmMigrationPort,
    readonly mode: KvmMigrationMode,
    readonly slots: readonly KvmMigrationSlot[],
    readonly maxRounds = 3,
  ) {}

  private async send(slot: number, page: number, round: number): Promise<void> {
    await this.port.onEvent({ at: 'before', what: 'send', slot, page, round });
    let dst = this.destination.get(slot);
    if (dst === undefined) this.destination.set(slot, (dst = new Map()));
    const version = this.port.readSource(slot, page);
    dst.set(page, version);
    let first = this.firstSent.get(slot);
    if (first === undefined) this.firstSent.set(slot, (first = new Map()));
    if (!first.has(page)) first.set(page, version);
    this.sent++;
    await this.port.onEvent({ at: 'after', what: 'send', slot, page, round });
  }

  /** KVM_CLEAR_DIRTY_LOG of `pages` (all inside one 64-page chunk), before they are sent. */
  private async clearChunk(s: KvmMigrationSlot, chunk: number, pages: readonly number[], round: number): Promise<void> {
    const first = chunk * 64;
    const num = Math.min(64, s.npages - first);
    const bitmap = new Uint8Array(8);
    for (const p of pages) bitmap[(p - first) >> 3]! |= 1 << ((p - first) & 7);
    await this.port.onEvent({ at: 'before', what: 'clear', slot: s.slot, page: first, round });
    const r = await this.port.clearDirtyLog(s.slot, BigInt(first), num, bitmap);
    if (r.errno !== 0) throw new Violation('spec', ['KVM-CLEAR-7', 'KVM-CLEAR-5'], `the client's KVM_CLEAR_DIRTY_LOG(slot ${s.slot}, first_page ${first}, num_pages ${num}) returns 0`, `${r.errno}`);
    await this.port.onEvent({ at: 'after', what: 'clear', slot: s.slot, page: first, round });
  }

  /** Sends `pages` of a slot, clearing each 64-page chunk first under manual protect. */
  private async sendPages(s: KvmMigrationSlot, pages: readonly number[], round: number): Promise<void> {
    const chunks = new Map<number, number[]>();
    for (const p of pages) {
      const c = Math.floor(p / 64);
      const list = chunks.get(c);
      if (list === undefined) chunks.set(c, [p]);
      else list.push(p);
    }
    for (const [c, list] of [...chunks].sort((a, b) => a[0] - b[0])) {
      if (this.mode === 'manual-protect') await this.clearChunk(s, c, list, round);
      for (const p of list) await this.send(s.slot, p, round);
    }
  }

  private async sync(s: KvmMigrationSlot, round: number): Promise<number[]> {
    await this.port.onEvent({ at: 'before', what: 'get', slot: s.slot, page: 0, round });
    const r = await this.port.getDirtyLog(s.slot, dirtyLogBytes(s.npages));
    if (r.errno !== 0 || r.bitmap === undefined) throw new Violation('spec', ['KVM-LOG-5', 'KVM-LOG-6'], `the client's KVM_GET_DIRTY_LOG(slot ${s.slot}) returns 0 and the bitmap`, `${r.errno}`);
    await this.port.onEvent({ at: 'after', what: 'get', slot: s.slot, page: 0, round });
    return dirtyLogPages(r.bitmap, s.npages).pages;
  }

  /** The migration: bulk stage, iterations, stop, final round; then the destination is compared. */
  async run(): Promise<KvmMigrationResult> {
    let round = 0;
    for (const s of this.slots)
      await this.sendPages(
        s,
        Array.from({ length: s.npages }, (_, i) => i),
        round,
      );
    for (round = 1; round <= this.maxRounds; round++) {
      let sent = 0;
      for (const s of this.slots) {
        const pages = await this.sync(s, round);
        await this.sendPages(s, pages, round);
        sent += pages.length;
      }
      if (sent === 0) break;
    }
    this.port.stopVcpus();
    for (const s of this.slots) await this.sendPages(s, await this.sync(s, round), round);
    const carried = this.carried();
    this.compare();
    return { rounds: round, sent: this.sent, carried };
  }

  /** How many pages the source changed after their first send (KvmMigrationResult.carried). */
  carried(): number {
    let n = 0;
    for (const s of this.slots) for (const [p, v] of this.firstSent.get(s.slot) ?? []) if (this.port.readSource(s.slot, p) !== v) n++;
    return n;
  }

  compare(): void {
    for (const s of this.slots) {
      const dst = this.destination.get(s.slot);
      const stale: number[] = [];
      for (let p = 0; p < s.npages; p++) if (dst?.get(p) !== this.port.readSource(s.slot, p)) stale.push(p);
      if (stale.length > 0) {
        const req = this.mode === 'manual-protect' ? ['KVM-LOG-6', 'KVM-CLEAR-7', 'NOLOSS-2'] : ['KVM-LOG-5', 'NOLOSS-1'];
        throw new Violation('loss', req, `after the final round the destination equals the source (${this.mode})`, `slot ${s.slot} pages ${stale.slice(0, 8).join(', ')}${stale.length > 8 ? ', ...' : ''} differ`);
      }
    }
  }
}
