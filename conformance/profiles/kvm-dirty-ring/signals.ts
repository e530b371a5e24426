// The task KVM's ioctls run in, as the kit plays it for kvm-dirty-ring (types.ts KitTask):
// signal_pending(current) — Linux v6.17's kvm_dirty_ring_reset checks it before each entry
// (49005a2a3d2a "KVM: Bail from the dirty ring reset flow if a signal is pending"), and the
// kit makes a signal pending in a reset at a drawn check, so that the stopped reset is
// compared (KVM-RING-24) — and the vCPU that runs meanwhile: at a drawn vcpuBetween call of
// a reset, vCPU 0 writes a page (KVM-RING-16's race between protection and flush).
import type { GuestWriteArg, KitTask } from './types.ts';

export class KitSignals implements KitTask {
  /** The check (from 0) of the reset in flight from which a signal is pending; -1: none. */
  private pendingFrom = -1;
  private checks = 0;
  private inReset = false;
  /** Whether the reset in flight (or the last one) answered a check true. */
  delivered = false;
  /** The racing write of the reset in flight and the vcpuBetween call (from 0) that hands it out. */
  private race: { readonly at: number; readonly write: GuestWriteArg } | undefined;
  private betweens = 0;
  /** Whether the reset in flight (or the last one) handed its racing write out. */
  raced = false;

  /**
   * A KVM_RESET_DIRTY_RINGS starts: a signal becomes pending at its `from`-th check (from 0),
   * or never (undefined, negative); vCPU 0 makes `race.write` at its `race.at`-th vcpuBetween call, if any.
   */
  begin(from: number | undefined, race?: { readonly at: number; readonly write: GuestWriteArg }): void {
    this.inReset = true;
    this.checks = 0;
    this.pendingFrom = from === undefined || from < 0 ? -1 : from;
    this.delivered = false;
    this.race = race;
    this.betweens = 0;
    this.raced = false;
  }

  /** It returned: the signal, if any, was handled on the way back to user space. */
  end(): void {
    this.inReset = false;
    this.pendingFrom = -1;
    this.race = undefined;
  }

  signalPending(): boolean {
    if (!this.inReset || this.pendingFrom < 0) return false;
    if (this.checks++ < this.pendingFrom) return false;
    this.delivered = true;
    return true;
  }

  vcpuBetween(): readonly GuestWriteArg[] {
    if (!this.inReset || this.race === undefined || this.raced) return [];
    if (this.betweens++ < this.race.at) return [];
    this.raced = true;
    return [this.race.write];
  }
}

/** A task no signal ever reaches and no vCPU races: for a VM made outside a kit run (probes, tests). */
export const NO_SIGNALS: KitTask = { signalPending: () => false, vcpuBetween: () => [] };
