// The KVM dirty-log requirements: memslots (KVM_SET_USER_MEMORY_REGION), the dirty
// bitmap ioctls (KVM_GET_DIRTY_LOG, KVM_CLEAR_DIRTY_LOG), the manual-protect capability
// (KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2)) and the guest's stage-2 / EPT leaf
// with its TLB. Spread into the catalogue by spec/requirements.ts.
//
// Source read: Linux virt/kvm/kvm_main.c as of v6.14 (kvm_set_internal_memslot with its
// flags check, before EXPORT_SYMBOL_GPL_FOR_KVM_INTERNAL): kvm_vm_ioctl_set_memory_region,
// kvm_set_memory_region, check_memory_region_flags, kvm_prepare_memory_region,
// kvm_commit_memory_region, kvm_get_dirty_log_protect, kvm_clear_dirty_log_protect,
// kvm_vm_ioctl_enable_cap_generic, kvm_vm_ioctl_check_extension_generic, kvm_vm_ioctl;
// arch/x86/kvm/x86.c kvm_mmu_slot_apply_flags and arch/x86/kvm/mmu/mmu.c
// kvm_arch_mmu_enable_log_dirty_pt_masked (the leaf side); Documentation/virt/kvm/api.rst
// (KVM_GET_DIRTY_LOG, KVM_SET_USER_MEMORY_REGION, KVM_CLEAR_DIRTY_LOG,
// KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2). The CLEAR edge rules' history: commits 98938aa8edd6
// ("KVM: validate userspace input in kvm_clear_dirty_log_protect()"), 76d58e0f07ec
// ("KVM: fix KVM_CLEAR_DIRTY_LOG for memory slots of unaligned size"), 53eac7a8f8cf (the
// last partial word, DIV_ROUND_UP), 4ddc9204572c (read ALIGN(num_pages, 64) / 8 bytes).
//
// This file imports nothing (spec/rule.ts reads the catalogue that spreads it).

const KVM_MAIN = 'Linux v6.14 virt/kvm/kvm_main.c';
const API = 'Linux v6.14 Documentation/virt/kvm/api.rst';
const X86_MMU = 'Linux v6.14 arch/x86/kvm/mmu/mmu.c';
const X86 = 'Linux v6.14 arch/x86/kvm/x86.c';
const ARM64_MMU = 'Linux v6.12 arch/arm64/kvm/mmu.c';

export const kvmDirtyLogRequirements = {
  // Memslots: KVM_SET_USER_MEMORY_REGION (spec/kvm/dirty-log/memslot-machine.ts, args.ts)
  'KVM-SLOT-1': {
    text: 'The slot field is as_id << 16 | id; (u16)slot >= KVM_USER_MEM_SLOTS is -EINVAL, checked before the other fields of the region (kvm_vm_ioctl refuses unknown flags first, also -EINVAL).',
    source: `${KVM_MAIN} kvm_vm_ioctl (KVM_SET_USER_MEMORY_REGION_V1_FLAGS), kvm_vm_ioctl_set_memory_region; ${API} KVM_SET_USER_MEMORY_REGION`,
  },
  'KVM-SLOT-2': {
    text: 'Flags other than KVM_MEM_LOG_DIRTY_PAGES (1 << 0) and KVM_MEM_READONLY (1 << 1) are -EINVAL for KVM_SET_USER_MEMORY_REGION.',
    source: `${KVM_MAIN} kvm_vm_ioctl (KVM_SET_USER_MEMORY_REGION_V1_FLAGS), check_memory_region_flags`,
  },
  'KVM-SLOT-3': { text: 'memory_size or guest_phys_addr not a multiple of the 4 KiB page is -EINVAL.', source: `${KVM_MAIN} kvm_set_memory_region (general sanity checks)` },
  'KVM-SLOT-4': { text: 'userspace_addr not page-aligned, or [userspace_addr, +memory_size) not an accessible user range (access_ok), is -EINVAL.', source: `${KVM_MAIN} kvm_set_memory_region` },
  'KVM-SLOT-5': { text: "as_id (slot >> 16) at or past the VM's number of address spaces is -EINVAL.", source: `${KVM_MAIN} kvm_set_memory_region (kvm_arch_nr_memslot_as_ids)` },
  'KVM-SLOT-6': { text: 'guest_phys_addr + memory_size wrapping past 2^64 is -EINVAL.', source: `${KVM_MAIN} kvm_set_memory_region` },
  'KVM-SLOT-7': { text: 'A user slot of more than KVM_MEM_MAX_NR_PAGES ((1 << 31) - 1) pages is -EINVAL: dirty bitmaps are indexed by an unsigned int.', source: `${KVM_MAIN} kvm_set_memory_region` },
  'KVM-SLOT-8': { text: 'memory_size 0 for a slot id that holds no slot is -EINVAL.', source: `${KVM_MAIN} kvm_set_memory_region (!old || !old->npages)` },
  'KVM-SLOT-9': {
    text: 'memory_size 0 deletes the slot: its mappings are zapped and flushed from the TLB, its dirty bitmap is freed and the dirty state not yet fetched is dropped; returns 0.',
    source: `${KVM_MAIN} kvm_set_memory_region, kvm_set_memslot (KVM_MR_DELETE, kvm_invalidate_memslot), kvm_commit_memory_region`,
  },
  'KVM-SLOT-10': { text: 'Creating or moving a slot over guest physical pages another slot of the address space holds is -EEXIST.', source: `${KVM_MAIN} kvm_check_memslot_overlap` },
  'KVM-SLOT-11': {
    text: 'A valid new slot is created and returns 0; with KVM_MEM_LOG_DIRTY_PAGES it gets a dirty bitmap, all zero, or all set under KVM_DIRTY_LOG_INITIALLY_SET.',
    source: `${KVM_MAIN} kvm_set_memory_region (KVM_MR_CREATE), kvm_prepare_memory_region`,
  },
  'KVM-SLOT-12': { text: "Changing an existing slot's userspace_addr, its size, or its KVM_MEM_READONLY flag is -EINVAL (delete and recreate instead).", source: `${KVM_MAIN} kvm_set_memory_region (modify an existing slot)` },
  'KVM-SLOT-13': { text: 'Setting a slot to exactly what it is (same base, same flags) does nothing and returns 0.', source: `${KVM_MAIN} kvm_set_memory_region ("Nothing to change")` },
  'KVM-SLOT-14': {
    text: 'Switching KVM_MEM_LOG_DIRTY_PAGES on allocates the bitmap (zero, or all set under INITIALLY_SET) and, unless INITIALLY_SET, write-protects (or, with hardware dirty logging, cleans) every leaf of the slot and flushes the TLB before returning 0.',
    source: `${KVM_MAIN} kvm_prepare_memory_region, kvm_commit_memory_region; ${X86} kvm_mmu_slot_apply_flags`,
  },
  'KVM-SLOT-15': {
    text: 'Switching KVM_MEM_LOG_DIRTY_PAGES off frees the bitmap (the dirty state not fetched is dropped) and returns 0; GET and CLEAR on it are then -ENOENT.',
    source: `${KVM_MAIN} kvm_prepare_memory_region, kvm_commit_memory_region (KVM_MR_FLAGS_ONLY)`,
  },
  'KVM-SLOT-16': {
    text: 'Moving a slot (a new guest_phys_addr, same size and address) zaps its mappings and keeps its dirty bitmap, indexed by page of the slot; returns 0.',
    source: `${KVM_MAIN} kvm_set_memslot (KVM_MR_MOVE), kvm_prepare_memory_region (old->dirty_bitmap reused)`,
  },

  // KVM_GET_DIRTY_LOG
  'KVM-LOG-1': {
    text: 'KVM_GET_DIRTY_LOG and KVM_CLEAR_DIRTY_LOG are -ENXIO while the dirty ring is in use without a bitmap (KVM_CAP_DIRTY_LOG_RING without KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP), before any other check. A VM whose KVM_CHECK_EXTENSION(KVM_CAP_DIRTY_LOG_RING = 192) and (KVM_CAP_DIRTY_LOG_RING_ACQ_REL = 223) both answer 0 has no ring (before v5.11) and is never in that state.',
    source: `${KVM_MAIN} kvm_get_dirty_log_protect, kvm_clear_dirty_log_protect (!kvm_use_dirty_bitmap); commit fb04a1eddb1a (the ring and its -ENXIO, v5.11)`,
  },
  'KVM-LOG-2': { text: 'KVM_GET_DIRTY_LOG with as_id past the address spaces or id >= KVM_USER_MEM_SLOTS is -EINVAL.', source: `${KVM_MAIN} kvm_get_dirty_log_protect` },
  'KVM-LOG-3': { text: 'KVM_GET_DIRTY_LOG on a slot id with no slot, or a slot without KVM_MEM_LOG_DIRTY_PAGES (no dirty bitmap), is -ENOENT.', source: `${KVM_MAIN} kvm_get_dirty_log_protect (!memslot || !memslot->dirty_bitmap)` },
  'KVM-LOG-4': { text: 'Under manual protect, a dirty_bitmap the kernel cannot write is -EFAULT and changes nothing (the bitmap was only read).', source: `${KVM_MAIN} kvm_get_dirty_log_protect (copy_to_user)` },
  'KVM-LOG-5': {
    text: 'Without manual protect, KVM_GET_DIRTY_LOG first drains the hardware logs (kvm_arch_sync_dirty_log), then takes each bitmap word by atomic exchange with 0, write-protects (or cleans) the leaves of the pages it took, flushes the TLB, and copies the snapshot out: ALIGN(npages, 64) / 8 bytes, bit i of u64 word i / 64 (little-endian) for page i of the slot; returns 0.',
    source: `${KVM_MAIN} kvm_get_dirty_log_protect, kvm_dirty_bitmap_bytes; ${API} KVM_GET_DIRTY_LOG`,
  },
  'KVM-LOG-6': {
    text: 'Under manual protect, KVM_GET_DIRTY_LOG drains the hardware logs and copies the bitmap out without clearing it or touching a leaf; returns 0: a second call reports the same pages and any new ones.',
    source: `${KVM_MAIN} kvm_get_dirty_log_protect (kvm->manual_dirty_log_protect); ${API} KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2`,
  },
  'KVM-LOG-7': {
    text: 'Without manual protect, a dirty_bitmap the kernel cannot write is -EFAULT after the bitmap was taken, the leaves protected and the TLB flushed: the pages of that snapshot are no longer dirty (the caller must treat the call as having lost them).',
    source: `${KVM_MAIN} kvm_get_dirty_log_protect (copy_to_user after the exchange), kvm_vm_ioctl_get_dirty_log comment`,
  },
  'KVM-LOG-8': {
    text: "A slot's bitmap never has a bit set for a page past npages; every bit of the copied snapshot past npages is 0.",
    source: `${KVM_MAIN} kvm_clear_dirty_log_protect comment ("never includes any bits beyond the length of the memslot"); kvm_alloc_dirty_bitmap`,
  },
  'KVM-LOG-9': {
    text: "A write KVM makes to guest memory without a running vCPU (kvm_write_guest from an ioctl or a worker: kvmclock, Xen's shared info, the Hyper-V TSC page) sets the page's bit in the logging slot's bitmap, as a vCPU's write does (it goes through the host's mapping, not the page's leaf): the next KVM_GET_DIRTY_LOG reports it. With the dirty ring on and no bitmap, nothing records it (no rule here: the kit makes no such write then). Linux v5.17 to v6.1 on x86 returned before the bit (2efd61a608b0's WARN_ON_ONCE(!vcpu), kept to CONFIG_HAVE_KVM_DIRTY_RING, x86 alone then, by e09fccb5435d) until 86bdf3ebcfe1 (v6.2) made the warning go on, so those kernels lose the page.",
    source: `${KVM_MAIN} mark_page_dirty_in_slot (kvm_get_running_vcpu() NULL: set_bit_le on memslot->dirty_bitmap); 2efd61a608b0 "KVM: Warn if mark_page_dirty() is called without an active vCPU" and e09fccb5435d "KVM: avoid warning on s390 in mark_page_dirty" (v5.17); 86bdf3ebcfe1 "KVM: Support dirty ring in conjunction with bitmap" (v6.2)`,
  },

  // KVM_CLEAR_DIRTY_LOG
  'KVM-CLEAR-1': { text: 'KVM_CLEAR_DIRTY_LOG with as_id past the address spaces or id >= KVM_USER_MEM_SLOTS is -EINVAL.', source: `${KVM_MAIN} kvm_clear_dirty_log_protect` },
  'KVM-CLEAR-2': { text: 'first_page not a multiple of 64 is -EINVAL, checked before the slot is looked up.', source: `${KVM_MAIN} kvm_clear_dirty_log_protect (log->first_page & 63); ${API} KVM_CLEAR_DIRTY_LOG` },
  'KVM-CLEAR-3': { text: 'KVM_CLEAR_DIRTY_LOG on a slot id with no slot, or a slot without a dirty bitmap, is -ENOENT.', source: `${KVM_MAIN} kvm_clear_dirty_log_protect` },
  'KVM-CLEAR-4': { text: "first_page > npages, or num_pages > npages - first_page (the range past the slot's end), is -EINVAL.", source: `${KVM_MAIN} kvm_clear_dirty_log_protect` },
  'KVM-CLEAR-5': {
    text: "num_pages not a multiple of 64 is -EINVAL unless the range ends exactly at the slot's end (num_pages == npages - first_page); that last partial word is cleared too (DIV_ROUND_UP(num_pages, 64) words).",
    source: `${KVM_MAIN} kvm_clear_dirty_log_protect; ${API} KVM_CLEAR_DIRTY_LOG; commits 76d58e0f07ec, 53eac7a8f8cf`,
  },
  'KVM-CLEAR-6': {
    text: 'A dirty_bitmap the kernel cannot read (ALIGN(num_pages, 64) / 8 bytes) is -EFAULT, after the hardware logs were drained, and clears nothing.',
    source: `${KVM_MAIN} kvm_clear_dirty_log_protect (copy_from_user of ALIGN(num_pages, 64) / 8 bytes); commit 4ddc9204572c`,
  },
  'KVM-CLEAR-7': {
    text: 'A valid KVM_CLEAR_DIRTY_LOG clears, per 64-page word, exactly the set bits of the user bitmap (bit i is page first_page + i) by atomic fetch-and-not, write-protects (or cleans) the leaves of the bits it really cleared, flushes the TLB before returning 0; pages whose bits are clear keep their dirty state. num_pages 0 clears nothing and returns 0.',
    source: `${KVM_MAIN} kvm_clear_dirty_log_protect (atomic_long_fetch_andnot, kvm_arch_mmu_enable_log_dirty_pt_masked, kvm_flush_remote_tlbs_memslot)`,
  },
  'KVM-CLEAR-8': { text: "Bits of the user bitmap for pages past the slot's end are ignored (the slot's bitmap has none there to clear).", source: `${KVM_MAIN} kvm_clear_dirty_log_protect comment ("not a problem if userspace sets them")` },
  'KVM-CLEAR-9': {
    text: 'KVM_CLEAR_DIRTY_LOG is accepted whatever the manual-protect setting (the kernel checks only that it was built with it); under INITIALLY_SET it also splits, lazily, the huge leaves of the pages it clears.',
    source: `${KVM_MAIN} kvm_vm_ioctl (KVM_CLEAR_DIRTY_LOG under CONFIG_KVM_GENERIC_DIRTYLOG_READ_PROTECT only); ${X86_MMU} kvm_arch_mmu_enable_log_dirty_pt_masked`,
  },

  // KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2), KVM_CHECK_EXTENSION
  'KVM-CAP-1': {
    text: 'KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 = 168) with non-zero flags, or args[0] with a bit outside those KVM_CHECK_EXTENSION(168) answered (KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE (1 << 0) | KVM_DIRTY_LOG_INITIALLY_SET (1 << 1); the first alone on x86 before v5.7 and arm64 before v5.8), is -EINVAL.',
    source: `${KVM_MAIN} kvm_vm_ioctl_enable_cap_generic; ${API} KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2; Linux v5.4 virt/kvm/kvm_main.c kvm_vm_ioctl_enable_cap_generic (args[0] & ~1)`,
  },
  'KVM-CAP-2': { text: 'KVM_DIRTY_LOG_INITIALLY_SET without KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE is -EINVAL.', source: `${KVM_MAIN} kvm_vm_ioctl_enable_cap_generic (allowed_options)` },
  'KVM-CAP-3': {
    text: "A valid args[0] replaces the VM's manual-protect setting at any time and returns 0: 0 turns it off, 1 manual protect, 3 manual protect with INITIALLY_SET. Existing bitmaps keep their bits; INITIALLY_SET applies to bitmaps allocated afterwards.",
    source: `${KVM_MAIN} kvm_vm_ioctl_enable_cap_generic (kvm->manual_dirty_log_protect = args[0]), kvm_prepare_memory_region`,
  },
  'KVM-CAP-4': { text: 'KVM_ENABLE_CAP of a capability the VM does not know is -EINVAL.', source: `${KVM_MAIN} kvm_vm_ioctl_enable_cap (weak default); ${X86} kvm_vm_ioctl_enable_cap (default -EINVAL)` },
  'KVM-CAP-5': {
    text: "KVM_CHECK_EXTENSION(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) returns the args[0] bits KVM_ENABLE_CAP of it takes, the same answer for the VM's life: KVM_DIRTY_LOG_MANUAL_CAPS = 3 (where the architecture defines it so: x86 from v5.7, arm64 from v5.8), 1 (the generic default from v5.2: no KVM_DIRTY_LOG_INITIALLY_SET) or 0 (the capability not offered, as before v5.2, whose manual protect was capability 166).",
    source: `${KVM_MAIN} kvm_vm_ioctl_check_extension_generic; commits 3c9bd4006bfc (KVM_DIRTY_LOG_MANUAL_CAPS, x86, v5.7), "KVM: arm64: Support enabling dirty log gradually in small chunks" (Keqian Zhu, v5.8, <20200413122023.52583-1-zhukeqian1@huawei.com>), d7547c55cbe7 (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 answering 1, v5.2); Linux v5.4 virt/kvm/kvm_main.c kvm_vm_ioctl_check_extension_generic`,
  },

  // The guest's leaf and its TLB (spec/kvm/dirty-log/guest-page-machine.ts)
  'KVM-PT-1': {
    text: 'A guest write to an unmapped page of a logging slot faults; the fault maps a 4 KiB writable leaf (never a huge one while logging) and marks the page dirty in the bitmap.',
    source: `${X86_MMU} (kvm_slot_dirty_track_enabled caps the level; mark_page_dirty_in_slot); ${KVM_MAIN} mark_page_dirty_in_slot; ${ARM64_MMU} user_mem_abort (logging_active forces a PAGE_SIZE mapping; mark_page_dirty_in_slot once the map has succeeded)`,
  },
  'KVM-PT-2': { text: 'A guest write to an unmapped page of a slot that is not logging maps it writable, as a huge leaf where the backing allows, and records nothing.', source: `${X86_MMU} kvm_mmu_max_mapping_level` },
  'KVM-PT-3': {
    text: 'A guest write through a writable leaf (with the hardware dirty bit set, where there is one) changes nothing and records nothing.',
    source: `Intel SDM Vol. 3C (EPT accessed and dirty flags); ARM DDI 0487 (VMSAv8-64 stage 2, hardware management of the dirty state, DBM)`,
  },
  'KVM-PT-4': {
    text: "Under INITIALLY_SET a leaf not yet protected since logging began stays writable (even huge) and its writes are not recorded: the page's bit is still set from the initial state, until a CLEAR protects it.",
    source: `${X86} kvm_mmu_slot_apply_flags ("Initially-all-set does not require write protecting any page"); ${API} KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2`,
  },
  'KVM-PT-5': {
    text: 'A guest write to a write-protected huge leaf while logging faults and maps the page as a 4 KiB writable leaf (splitting the huge one), marking it dirty.',
    source: `${X86_MMU} (disallowed huge pages while dirty logging); kvm_mmu_slot_apply_flags (eager_page_split off); ${ARM64_MMU} user_mem_abort (a permission fault on a block while logging maps PAGE_SIZE, not relax_perms, since vma_pagesize differs from fault_granule)`,
  },
  'KVM-PT-6': { text: 'A guest write to a write-protected leaf of a slot no longer logging faults and makes it writable again, recording nothing.', source: `${X86_MMU} fast_page_fault; kvm_mmu_slot_apply_flags (logging off)` },
  'KVM-PT-7': {
    text: 'With a hardware dirty bit (EPT A/D with PML, stage-2 DBM), a guest write through a writable-clean leaf sets the dirty bit atomically in the descriptor and logs the page (the PML buffer); the log reaches the bitmap when drained.',
    source: `Intel SDM Vol. 3C (page-modification logging); ARM DDI 0487 (stage 2 DBM); ${X86_MMU} kvm_mmu_clear_dirty_pt_masked; ${X86} kvm_arch_sync_dirty_log (PML flush)`,
  },
  'KVM-PT-8': {
    text: 'A guest write to a write-protected 4 KiB leaf while logging faults; before the guest resumes, the fault makes the leaf writable and marks the page dirty in the bitmap (the x86 fast page fault in that order: cmpxchg of the leaf, then the bit; the x86 slow path marks first; arm64 relaxes or maps the leaf under mmu_lock for read, then marks the bit).',
    source: `${X86_MMU} fast_page_fault, fast_pf_fix_direct_spte (try_cmpxchg64, then mark_page_dirty_in_slot, before returning to the guest); ${ARM64_MMU} user_mem_abort (kvm_pgtable_stage2_relax_perms or _map, read_unlock of mmu_lock, then mark_page_dirty_in_slot)`,
  },
  'KVM-PT-9': {
    text: 'Protecting a writable 4 KiB leaf for logging clears its write permission, or with a hardware dirty bit clears the dirty bit, by an atomic update (never a plain read-modify-write, which would drop a dirty bit the hardware sets in between); a cached writable translation becomes stale.',
    source: `${X86_MMU} kvm_mmu_write_protect_pt_masked, kvm_mmu_clear_dirty_pt_masked (clear_bit / cmpxchg); arch/x86/kvm/mmu/tdp_mmu.c tdp_mmu_set_spte_atomic`,
  },
  'KVM-PT-10': {
    text: 'Protecting a huge leaf with split (eagerly when logging starts, lazily on KVM_CLEAR_DIRTY_LOG under INITIALLY_SET) splits it into 4 KiB leaves carrying its state, a write-protected huge leaf included, and protects the page asked for; without split a writable huge leaf is write-protected whole.',
    source: `${X86} kvm_mmu_slot_apply_flags (eager_page_split); ${X86_MMU} kvm_arch_mmu_enable_log_dirty_pt_masked (kvm_mmu_try_split_huge_pages under INITIALLY_SET)`,
  },
  'KVM-PT-11': { text: 'Protecting a leaf that is already write-protected, clean or absent changes nothing.', source: `${X86_MMU} kvm_mmu_write_protect_pt_masked` },
  'KVM-PT-12': { text: "A TLB flush removes every cached translation of the VM's stage-2 / EPT.", source: `${KVM_MAIN} kvm_flush_remote_tlbs (KVM_REQ_TLB_FLUSH to every vCPU)` },
  'KVM-PT-13': {
    text: 'HAZARD: a guest write through a stale cached writable translation completes without a fault and without setting a dirty bit: it is not recorded. Allowed only inside the call that protected the page and reports it (its snapshot has the page); every ioctl that protects leaves flushes the TLB before it returns.',
    source: `${KVM_MAIN} kvm_get_dirty_log_protect comment ("Between 2 and 4 ... step 4 ensures that writes done after exiting to userspace will be logged"), kvm_flush_remote_tlbs_memslot`,
  },
  'KVM-PT-14': {
    text: 'A guest write walks the leaf when no translation is cached, and caches the translation it used; a write through a valid cached writable translation does not walk.',
    source: 'Intel SDM Vol. 3A (TLBs, paging-structure caches), Vol. 3C (caching of EPT translations)',
  },
  'KVM-PT-15': { text: 'Deleting or moving a slot zaps its leaves and flushes the TLB before the ioctl returns: no translation of the old slot survives.', source: `${KVM_MAIN} kvm_invalidate_memslot (kvm_arch_flush_shadow_memslot)` },
  'KVM-PT-16': { text: 'A guest write to a page of a KVM_MEM_READONLY slot exits to userspace as MMIO and writes nothing, dirties nothing.', source: `${API} KVM_SET_USER_MEMORY_REGION (KVM_MEM_READONLY)` },
} as const;
