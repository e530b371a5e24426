// Profile kvm-dirty-ring: the implementation under test is KVM's side of the dirty ring
// (the VM ioctls that configure it, the push on a guest write, soft full, and
// KVM_RESET_DIRTY_RINGS). The kit owns the ring memory and plays the vCPUs' guest code,
// a correct collector, and a hostile one that rewrites slot and offset of harvested
// entries. See profile.ts for what is checked.

export type RingLoadOrder = 'relaxed' | 'acquire';
export type RingStoreOrder = 'relaxed' | 'release';

/**
 * The kit's ring memory as KVM sees it: naturally aligned u32 / u64 fields of
 * struct kvm_dirty_gfn, each access with its ordering. Relaxed stores may become visible
 * to the collector late; a store-release carries the stores before it to a load-acquire
 * that reads it (KVM-RING-22).
 */
export interface KitRingMemory {
  load32(addr: number, order: RingLoadOrder): number;
  load64(addr: number, order: RingLoadOrder): bigint;
  store32(addr: number, value: number, order: RingStoreOrder): void;
  store64(addr: number, value: bigint, order: RingStoreOrder): void;
}

/**
 * The task that makes KVM's ioctls, as the kit plays it. KVM_RESET_DIRTY_RINGS from Linux
 * v6.17 (49005a2a3d2a) checks `signal_pending(current)` before each entry and stops there
 * when a signal is pending: an adapter that ports it calls `signalPending()` at that check
 * and declares `checksSignals`.
 */
export interface KitTask {
  /**
   * signal_pending(current): false until the kit makes a signal pending during a
   * KVM_RESET_DIRTY_RINGS (at a drawn call of this method, in some resets only), then true
   * until that ioctl returns. Always false for an adapter that does not declare
   * `checksSignals`, and outside KVM_RESET_DIRTY_RINGS.
   */
  signalPending(): boolean;
  /**
   * The vCPU runs while the ioctl does: call it between any two of KVM_RESET_DIRTY_RINGS's
   * steps (before each entry, between the protection of a batch and the TLB flush); it
   * returns the guest writes vCPU 0 makes now (usually none), which you make as that vCPU's
   * KVM_RUN would (a write to a write-protected page pushes an entry to its ring, through
   * whatever translation it has cached) before your next step. Never calling it: no race.
   */
  vcpuBetween(): readonly GuestWriteArg[];
}

export interface KvmDirtyRingConfig {
  /** x86 reports KVM_CAP_DIRTY_LOG_RING and _ACQ_REL, 2 address spaces; arm64 only _ACQ_REL, WITH_BITMAP, 1 address space. */
  readonly arch: 'x86' | 'arm64';
}

export interface GuestWriteArg {
  /** kvm_dirty_gfn.slot encoding: as_id << 16 | id. */
  readonly slot: number;
  /** The page within the memslot. */
  readonly offset: number;
}

/** One VM. Every method is the ioctl with its raw numbers; errno results are 0 or negative. */
export interface KvmDirtyRingInstance {
  checkExtension(cap: number): Promise<number>;
  /** KVM_ENABLE_CAP: cap.args[0], cap.flags. */
  enableCap(cap: number, arg0: number, flags: number): Promise<number>;
  /** KVM_CREATE_VCPU; its ring (when on) is the zeroed kit memory at `ringBase`. Returns the vCPU index. */
  createVcpu(ringBase: number): Promise<number>;
  /** KVM_SET_USER_MEMORY_REGION of a new memslot of `npages` 4 KiB pages. */
  setMemslot(asId: number, id: number, npages: number, logDirty: boolean): Promise<number>;
  /** KVM_RUN: the guest makes `writes` in order; the exit reason (31 ring full, 5 halted) and the writes made. */
  run(vcpu: number, writes: readonly GuestWriteArg[]): Promise<{ exitReason: number; done: number }>;
  /** KVM writes guest memory without a running vCPU (an ioctl's kvm_write_guest). */
  writeWithoutVcpu(w: GuestWriteArg): Promise<void>;
  /** KVM_RESET_DIRTY_RINGS. */
  resetDirtyRings(): Promise<number>;
  /** KVM_GET_DIRTY_LOG of a memslot: the bitmap (bit i = page i, u64 little-endian words). */
  getDirtyLog(slot: number): Promise<{ errno: number; bitmap?: Uint8Array }>;
  /**
   * Introspection: the memslot's pages whose next vCPU write would be recorded (they are
   * write-protected): bit i (bit i % 8 of byte i / 8) is page i, ALIGN(npages, 64) / 8 bytes.
   */
  writeProtectedPages(slot: number): Promise<Uint8Array>;
}

export interface KvmDirtyRingAdapter {
  readonly profile: 'kvm-dirty-ring';
  readonly name: string;
  /**
   * x86 only: kvm_cpu_dirty_log_size(), the CPU dirty log the ring reserves entries for
   * besides the 64 (KVM-RING-4, -8): 512 (PML_LOG_NR_ENTRIES) on an Intel host with PML on,
   * as VMX enables it by default; absent or 0 without PML, and on arm64. The kit scales the
   * ring sizes it tries so that they hold the reserve.
   */
  readonly cpuDirtyLogSize?: number;
  /**
   * KVM_RESET_DIRTY_RINGS calls `task.signalPending()` (signal_pending(current), Linux v6.17+)
   * and stops when it answers true: the kit then makes a signal pending in some resets and
   * checks what the stopped reset leaves (KVM-RING-24). Absent or false: `signalPending()`
   * always answers false and every reset must run to the end of the harvested entries.
   */
  readonly checksSignals?: boolean;
  create(memory: KitRingMemory, config: KvmDirtyRingConfig, task: KitTask): Promise<KvmDirtyRingInstance>;
}
