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
  /**
   * The dirty ring is in use without KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP: GET and CLEAR are -ENXIO.
   * Held to it only where the VM's checkExtension(KVM_CAP_DIRTY_LOG_RING = 192) or
   * (KVM_CAP_DIRTY_LOG_RING_ACQ_REL = 223) is non-zero; a VM answering 0 to both has no ring (Linux
   * before v5.11) and its sequences run with the bitmap.
   */
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
  /**
   * Where access_ok stops a slot: KVM_SET_USER_MEMORY_REGION is -EINVAL (KVM-SLOT-4) when
   * userspace_addr + memory_size exceeds it. x86-64 (4-level): TASK_SIZE_MAX (2^47 - 4096) before
   * v6.4, 2^63 - 4096 in v6.4..v6.11 (access_ok checks the sign bit only, 6014bc27561f),
   * TASK_SIZE_MAX - 4096 from 86e6b1547b3d (v6.12: addr + size <= USER_PTR_MAX = TASK_SIZE_MAX - 1).
   */
  readonly userAddressLimit: bigint;
  setUserMemoryRegion(region: KvmMemoryRegionArg): Promise<{ errno: number }>;
  enableCap(cap: number, flags: number, args0: bigint): Promise<{ errno: number }>;
  /**
   * KVM_CHECK_EXTENSION on the VM: the value it returns. The kit asks 168
   * (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: 3, 1 on x86 before v5.7 and arm64 before v5.8, 0 before v5.2) before its first
   * KVM_ENABLE_CAP of it and holds the VM to the first answer; 192 and 223 (the dirty ring)
   * when the configuration has dirtyRingExclusive.
   */
  checkExtension(cap: number): Promise<number>;
  /** KVM_GET_DIRTY_LOG; `bitmapBytes` bytes at dirty_bitmap are writable; the bitmap is ALIGN(npages, 64) / 8 bytes. */
  getDirtyLog(slot: number, bitmapBytes: number): Promise<{ errno: number; bitmap?: Uint8Array }>;
  /** KVM_CLEAR_DIRTY_LOG; `bitmap` is every byte at dirty_bitmap the kernel can read. */
  clearDirtyLog(slot: number, firstPage: bigint, numPages: number, bitmap: Uint8Array): Promise<{ errno: number }>;
  /** The vCPU writes the guest page at `gpa` (address space 0): `mmio` when no writable slot holds it. */
  vcpuWrite(gpa: bigint): Promise<{ exit: 'none' | 'mmio' }>;
  /**
   * Optional: KVM writes the guest page at `gpa` (address space 0, a writable slot) itself,
   * without a running vCPU, as `kvm_write_guest` from an ioctl does (kvmclock, Xen's shared
   * info): `mark_page_dirty_in_slot` with `kvm_get_running_vcpu()` NULL. Offered, the kit
   * makes such writes between its calls and checks that GET reports them (KVM-LOG-9).
   */
  kvmWrite?(gpa: bigint): Promise<void>;
  /**
   * Optional, for an implementation the kit runs in its own process: the state of the guest
   * page at `gpa` (address space 0) as the kvmGuestPage machine names it (its stage-2 / EPT
   * leaf, whether the vCPU's TLB holds a translation of it, whether the hardware log (PML)
   * holds it), read without side effects and without calling `hooks.between`. The kit calls
   * it synchronously, between calls and from inside `hooks.between` (just before a racing
   * write). With it, the kit checks each page it drives against the kvmGuestPage machine
   * and reports that machine's coverage: a transition counts once the page was seen in
   * the state it leads to. A black box without it (`--exec`, `--lib`) is checked through
   * its dirty log alone and earns no kvmGuestPage coverage.
   */
  inspectPage?(gpa: bigint): KvmGuestPageObservation;
  /**
   * Optional: eager page splitting switched while the VM runs, as x86's writable module
   * parameter kvm.eager_page_split is (Linux v6.14 arch/x86/kvm/x86.c
   * module_param(eager_page_split, bool, 0644), read with READ_ONCE at each protection in
   * arch/x86/kvm/mmu/mmu.c): from the next call on, a protection for logging splits
   * huge leaves (`on`) or write-protects them whole. Without it the kit keeps the
   * configuration's `eagerSplit`.
   */
  setEagerSplit?(on: boolean): Promise<void>;
}

/** What inspectPage sees of one guest page. */
export interface KvmGuestPageObservation {
  readonly leaf: 'none' | 'huge' | 'hugeProtected' | 'writable' | 'clean' | 'protected';
  /** The vCPU's TLB holds a translation of the page (valid or stale). */
  readonly tlb: boolean;
  /** The page is in the hardware dirty log, not yet drained into a bitmap. */
  readonly pml: boolean;
  /**
   * Optional: the page's bit in its slot's dirty bitmap (undefined when the slot has none).
   * With it, the kit checks that a write fault in a logging slot marks the page before
   * the write completes (KVM-PT-1, KVM-PT-5, KVM-PT-8).
   */
  readonly dirty?: boolean;
}

export interface KvmDirtyLogAdapter {
  readonly profile: 'kvm-dirty-log';
  readonly name: string;
  create(config: KvmDirtyLogConfig, hooks: KvmDirtyLogHooks): Promise<KvmDirtyLogInstance>;
}
