// The task KVM's ioctls run in, as the kit plays it for kvm-dirty-ring: signal_pending(current)
// (types.ts KitTask). Linux v6.17's kvm_dirty_ring_reset checks it before each entry
// (49005a2a3d2a "KVM: Bail from the dirty ring reset flow if a signal is pending"); the kit
// makes a signal pending in a reset at a drawn check, so that the stopped reset is compared
// (KVM-RING-24).
import type { KitTask } from './types.ts';

export class KitSignals implements KitTask {
  /** The check (from 0) of the reset in flight from which a signal is pending; -1: none. */
  private pendingFrom = -1;
  private checks = 0;
  private inReset = false;
  /** Whether the reset in flight (or the last one) answered a check true. */
  delivered = false;

  /** A KVM_RESET_DIRTY_RINGS starts: a signal becomes pending at its `from`-th check (from 0), or never (undefined, negative). */
  begin(from: number | undefined): void {
    this.inReset = true;
    this.checks = 0;
    this.pendingFrom = from === undefined || from < 0 ? -1 : from;
    this.delivered = false;
  }

  /** It returned: the signal, if any, was handled on the way back to user space. */
  end(): void {
    this.inReset = false;
    this.pendingFrom = -1;
  }

  signalPending(): boolean {
    if (!this.inReset || this.pendingFrom < 0) return false;
    if (this.checks++ < this.pendingFrom) return false;
    this.delivered = true;
    return true;
  }
}

/** A task no signal ever reaches: for a VM made outside a kit run (probes, tests). */
export const NO_SIGNALS: KitTask = { signalPending: () => false };
