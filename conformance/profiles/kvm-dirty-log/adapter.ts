// Profile kvm-dirty-log: the implementation under test is a KVM VM's dirty log as a
// black box: KVM_SET_USER_MEMORY_REGION, KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2),
// KVM_CHECK_EXTENSION, KVM_GET_DIRTY_LOG, KVM_CLEAR_DIRTY_LOG, and a vCPU that the kit
// makes write guest pages, between calls and, through `hooks.between`, between the
// implementation's own memory accesses inside a call (where a real vCPU would run on
// another CPU). Every method returns data; numbers the uAPI gives as u64 are bigints.
// See profile.ts for what is checked.

export interface KvmDirtyLogConfig {
  /** Protect by clearing a hardware dirty bit (EPT A/D with PML, stage-2 DBM) rather than write permission. */
  readonly hwDirty: boolean;
  /** Split huge leaves when logging starts (eager_page_split); otherwise on the next write fault. */
  readonly eagerSplit: boolean;
  /** The dirty ring is in use without KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP: GET and CLEAR are -ENXIO. */
  readonly dirtyRingExclusive: boolean;
}

export interface KvmDirtyLogHooks {
  /**
   * The implementation calls this between any two of its memory accesses while an ioctl
   * runs (its stage-2 / EPT entries, its dirty bitmaps), synchronously, and performs the
   * guest writes it returns (guest physical addresses, address space 0) with its vCPU
   * before going on, as if another CPU ran the guest at that moment. An implementation
   * that cannot be interrupted there never calls it (races are then not exercised).
   */
  between(): readonly bigint[];
}

export interface KvmMemoryRegionArg {
  /** as_id << 16 | id. */
  readonly slot: number;
  readonly flags: number;
  readonly guestPhysAddr: bigint;
  readonly memorySize: bigint;
  readonly userspaceAddr: bigint;
}

export interface KvmDirtyLogInstance {
  /** KVM_CAP_NR_MEMSLOTS: KVM_USER_MEM_SLOTS. */
  readonly userMemSlots: number;
  /** KVM_CAP_MULTI_ADDRESS_SPACE: the address spaces. */
  readonly addressSpaces: number;
  /** KVM_MEM_READONLY is accepted. */
  readonly readonlyMem: boolean;
  /** User addresses at or past this fail access_ok (TASK_SIZE). */
  readonly userAddressLimit: bigint;
  setUserMemoryRegion(region: KvmMemoryRegionArg): Promise<{ errno: number }>;
  enableCap(cap: number, flags: number, args0: bigint): Promise<{ errno: number }>;
  /** KVM_CHECK_EXTENSION on the VM: the value it returns. */
  checkExtension(cap: number): Promise<number>;
  /** KVM_GET_DIRTY_LOG; `bitmapBytes` bytes at dirty_bitmap are writable; the bitmap is ALIGN(npages, 64) / 8 bytes. */
  getDirtyLog(slot: number, bitmapBytes: number): Promise<{ errno: number; bitmap?: Uint8Array }>;
  /** KVM_CLEAR_DIRTY_LOG; `bitmap` is every byte at dirty_bitmap the kernel can read. */
  clearDirtyLog(slot: number, firstPage: bigint, numPages: number, bitmap: Uint8Array): Promise<{ errno: number }>;
  /** The vCPU writes the guest page at `gpa` (address space 0): `mmio` when no writable slot holds it. */
  vcpuWrite(gpa: bigint): Promise<{ exit: 'none' | 'mmio' }>;
}

export interface KvmDirtyLogAdapter {
  readonly profile: 'kvm-dirty-log';
  readonly name: string;
  create(config: KvmDirtyLogConfig, hooks: KvmDirtyLogHooks): Promise<KvmDirtyLogInstance>;
}
