// The end-to-end check of a dirty-ring migration (KVM-RING-23): page contents as version
// numbers, a guest write bumps the source version, a copy reads the source version into
// the destination; after the final sync every destination page equals its source page.
// It also records the collector's harvests, resets and copies, so that a failure can say
// whether a copy came before the reset its harvest needed (KVM-RING-20).
//
// Requirements: KVM-RING-23, KVM-RING-20.
// Sources: Linux v6.18 Documentation/virt/kvm/api.rst (KVM_CAP_DIRTY_LOG_RING: reset
//          "before reading the content of the dirty pages");
//          <20200109145729.32898-1-peterx@redhat.com>.
import { copyBeforeReset, type CollectorAction } from '../../spec/kvm/dirty-ring/rules.ts';
import { Violation } from '../violation.ts';

/** A page as "slot:offset". */
export const pageKey = (slot: number, offset: number | bigint): string => `${slot}:${offset}`;

/**
 * Guest memory as the check knows it: its pages in page order, and the same as a set to look
 * them up in. Built once for a profile's memory layout and shared by its runs (neither is
 * changed after): building 320 page names and a map of them was a tenth of a
 * dirty-ring-collector run's time.
 */
export interface GuestMemoryPages {
  readonly order: readonly string[];
  readonly all: ReadonlySet<string>;
}

export function guestMemoryPages(pages: readonly string[]): GuestMemoryPages {
  return { order: Object.freeze([...pages]), all: new Set(pages) };
}

export class RingMigrationCheck {
  /** Each written page's version (a page never written is at version 0). */
  private readonly source = new Map<string, number>();
  private readonly destination = new Map<string, number>();
  /** The pages whose destination equals their source (none before the first copy). */
  private readonly same = new Set<string>();
  readonly actions: CollectorAction[] = [];

  constructor(private readonly pages: GuestMemoryPages) {}

  write(page: string): void {
    if (!this.pages.all.has(page)) throw new RangeError(`write: ${page} is not guest memory`);
    this.source.set(page, (this.source.get(page) ?? 0) + 1);
    this.same.delete(page);
  }

  /** The migration copy of one page; false if the page is not guest memory. */
  copy(page: string): boolean {
    if (!this.pages.all.has(page)) return false;
    this.destination.set(page, this.source.get(page) ?? 0);
    this.same.add(page);
    this.actions.push({ k: 'copy', page });
    return true;
  }

  harvested(page: string): void {
    this.actions.push({ k: 'harvest', page });
  }

  reset(): void {
    this.actions.push({ k: 'reset' });
  }

  /** Pages whose destination differs from the source (never copied, or written since), in page order. */
  stale(): string[] {
    return this.pages.order.filter((p) => !this.same.has(p));
  }

  /** How many pages `stale` would list. */
  staleCount(): number {
    return this.pages.order.length - this.same.size;
  }

  /**
   * KVM-RING-23 after the final sync; names KVM-RING-20 too when a copy preceded its reset.
   * @req KVM-RING-23 KVM-RING-20
   * @source KVM: Dirty ring interface v3 (Peter Xu, <20200109145729.32898-1-peterx@redhat.com>) (the dirty ring as a migration log); Linux v6.18 Documentation/virt/kvm/api.rst (KVM_CAP_DIRTY_LOG_RING/KVM_CAP_DIRTY_LOG_RING_ACQ_REL) ("the ioctl must be called *before* reading the content of the dirty pages")
   */
  finalCheck(): void {
    const stale = this.stale();
    if (stale.length === 0) return;
    const early = copyBeforeReset(this.actions);
    const req = early === undefined ? ['KVM-RING-23'] : ['KVM-RING-23', 'KVM-RING-20'];
    const shown = stale.slice(0, 4).map((p) => `${p} (source v${this.source.get(p) ?? 0}, destination ${this.destination.has(p) ? `v${this.destination.get(p)}` : 'never copied'})`);
    throw new Violation(
      'loss',
      req,
      'after the final sync every destination page equals its source page',
      `${stale.length} stale: ${shown.join(', ')}${stale.length > 4 ? ', ...' : ''}${early === undefined ? '' : `; page ${early.page} was copied (action ${early.index}) before the reset that its harvest needed`}`,
    );
  }
}
