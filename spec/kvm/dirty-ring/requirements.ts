// The KVM dirty ring's requirements (KVM-RING-1..24), merged into the catalogue by
// spec/requirements.ts. Every source names the kernel version or the lore message read.
//
// Kernel sources read: Linux v6.18 virt/kvm/kvm_main.c (kvm_vm_ioctl_enable_dirty_log_ring,
// kvm_vm_ioctl_reset_dirty_pages, kvm_vm_ioctl_enable_cap_generic,
// kvm_vm_ioctl_check_extension_generic, mark_page_dirty_in_slot), virt/kvm/dirty_ring.c
// (kvm_dirty_ring_push, kvm_dirty_ring_reset, kvm_reset_dirty_gfn,
// kvm_dirty_ring_soft_full, kvm_dirty_ring_get_rsvd_entries, kvm_dirty_ring_check_request),
// include/uapi/linux/kvm.h, Documentation/virt/kvm/api.rst (KVM_CAP_DIRTY_LOG_RING /
// KVM_CAP_DIRTY_LOG_RING_ACQ_REL); the series "KVM: Dirty ring interface" v3 (Peter Xu,
// <20200109145729.32898-1-peterx@redhat.com>); "KVM: Use acquire/release semantics when
// accessing dirty ring GFN state" (Marc Zyngier, 8929bc965964, v6.1); "KVM: Reject wrapped offset in
// kvm_reset_dirty_gfn()" (Aaron Sacks, <20260512060742.1628959-1-contact@xchglabs.com>).
import type { Requirement } from '../../requirements.ts';

const MAIN = 'Linux v6.18 virt/kvm/kvm_main.c';
const RING = 'Linux v6.18 virt/kvm/dirty_ring.c';
const API = 'Linux v6.18 Documentation/virt/kvm/api.rst (KVM_CAP_DIRTY_LOG_RING/KVM_CAP_DIRTY_LOG_RING_ACQ_REL)';
const SERIES = 'KVM: Dirty ring interface v3 (Peter Xu, <20200109145729.32898-1-peterx@redhat.com>)';

export const kvmDirtyRingRequirements = {
  // Enabling (spec/kvm/dirty-ring/uapi.ts, rules.ts, ring-machines.ts: kvmDirtyRingVm)
  'KVM-RING-1': {
    text: 'uAPI: struct kvm_dirty_gfn { u32 flags; u32 slot; u64 offset } is 16 bytes, little-endian on the kit; KVM_DIRTY_GFN_F_DIRTY = BIT(0), KVM_DIRTY_GFN_F_RESET = BIT(1), F_MASK = 0x3; slot = as_id << 16 | id; KVM_CAP_DIRTY_LOG_RING = 192, _ACQ_REL = 223, _WITH_BITMAP = 225; KVM_EXIT_DIRTY_RING_FULL = 31; KVM_DIRTY_RING_RSVD_ENTRIES = 64; KVM_DIRTY_RING_MAX_ENTRIES = 65536.',
    source: 'Linux v6.18 include/uapi/linux/kvm.h; include/linux/kvm_host.h',
  },
  'KVM-RING-2': {
    text: 'KVM_ENABLE_CAP of KVM_CAP_DIRTY_LOG_RING or _ACQ_REL that KVM_CHECK_EXTENSION answers 0 for is -EINVAL; x86 (TSO) answers KVM_DIRTY_RING_MAX_ENTRIES * 16 for both, a weakly ordered arch (arm64) only for _ACQ_REL. A capability KVM does not know is answered 0 by KVM_CHECK_EXTENSION and -EINVAL by KVM_ENABLE_CAP (the arch default), never taken for a ring capability. The answers are the uAPI the VM offers, each 0 or the value above: before Linux v6.1 x86 answers KVM_CAP_DIRTY_LOG_RING alone (v5.11 kvm_vm_ioctl_check_extension_generic: CONFIG_X86), and arm64 has no ring before v6.2 ("KVM: arm64: Enable ring-based dirty memory tracking", with WITH_BITMAP); the enables are judged by them.',
    source: `${MAIN} kvm_vm_ioctl_enable_cap_generic, kvm_vm_ioctl_check_extension_generic; Linux v6.18 arch/x86/kvm/x86.c and arch/arm64/kvm/arm.c kvm_vm_ioctl_enable_cap, kvm_vm_ioctl_check_extension (default); ${API}`,
  },
  'KVM-RING-3': { text: 'A ring size (args[0], bytes) of 0 or not a power of two is -EINVAL.', source: `${MAIN} kvm_vm_ioctl_enable_dirty_log_ring` },
  'KVM-RING-4': {
    text: 'A ring size smaller than the reserved entries (kvm_dirty_ring_get_rsvd_entries() * 16 bytes) or than PAGE_SIZE (4096) is -EINVAL.',
    source: `${MAIN} kvm_vm_ioctl_enable_dirty_log_ring; ${RING} kvm_dirty_ring_get_rsvd_entries`,
  },
  'KVM-RING-5': { text: 'A ring size larger than KVM_DIRTY_RING_MAX_ENTRIES * 16 bytes (1 MiB) is -E2BIG.', source: `${MAIN} kvm_vm_ioctl_enable_dirty_log_ring` },
  'KVM-RING-6': { text: 'Enabling the ring a second time is -EINVAL, whatever the size: it is set once.', source: `${MAIN} kvm_vm_ioctl_enable_dirty_log_ring ("We only allow it to set once")` },
  'KVM-RING-7': { text: 'Enabling the ring after a vCPU was created is -EINVAL and leaves it off.', source: `${MAIN} kvm_vm_ioctl_enable_dirty_log_ring (created_vcpus); ${API}` },
  'KVM-RING-8': {
    text: 'A valid enable returns 0; each vCPU then created gets a zeroed ring of size / 16 entries (all invalid), dirty_index = reset_index = 0, soft_limit = entries - (64 + the arch CPU dirty log size, 0 without PML).',
    source: `${MAIN} kvm_vm_ioctl_enable_dirty_log_ring; ${RING} kvm_dirty_ring_alloc, kvm_dirty_ring_get_rsvd_entries`,
  },
  'KVM-RING-9': {
    text: 'With the ring on and KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP off, memslots get no dirty bitmap and KVM_GET_DIRTY_LOG / KVM_CLEAR_DIRTY_LOG are -ENXIO: the ring excludes the bitmap.',
    source: `${MAIN} kvm_get_dirty_log_protect, kvm_clear_dirty_log_protect, kvm_prepare_memory_region (kvm_use_dirty_bitmap); ${RING} kvm_use_dirty_bitmap`,
  },
  'KVM-RING-10': {
    text: 'KVM_ENABLE_CAP(KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP) is -EINVAL unless the arch needs it (arm64), the ring is on, cap.flags is 0 and no memslot exists; then 0, and every memslot created after has a dirty bitmap too.',
    source: `${MAIN} kvm_vm_ioctl_enable_cap_generic, kvm_are_all_memslots_empty; ${API}`,
  },

  // The entry's life and the producer (rules.ts, ring-machines.ts: kvmDirtyGfn, kvmVcpuRing)
  'KVM-RING-11': {
    text: "Push: a write by a running vCPU to a write-protected page of a memslot with KVM_MEM_LOG_DIRTY_PAGES fills the entry at dirty_index & (entries - 1): slot and offset (gfn - base_gfn) first, then, after smp_wmb (a store-release), flags = DIRTY; dirty_index++. The page is then writable: exactly one entry per write to a protected page, none for writes to a writable page. With a CPU dirty log (x86 PML), the writes the CPU logged between two VM exits are pushed together at the second, in an order of KVM's (v6.12 vmx_flush_pml_buffer: newest first; v6.14 on, 37c3ddfe5238: oldest first).",
    source: `${RING} kvm_dirty_ring_push; ${MAIN} mark_page_dirty_in_slot; ${SERIES}`,
  },
  'KVM-RING-12': {
    text: 'Soft full: once used = dirty_index - reset_index (u32) reaches soft_limit, the vCPU leaves KVM_RUN with exit reason KVM_EXIT_DIRTY_RING_FULL before it runs more guest code, and every KVM_RUN exits so until a reset brings used below soft_limit (the request stays pending until the vCPU next enters the guest: a reset before then that takes used back to the limit keeps the exit); the reserved entries keep used below size (an entry not yet reset is never overwritten). After a collector error ran reset_index past dirty_index (KVM-RING-14), a vCPU may also exit at once on every KVM_RUN, as Linux v5.11 to v6.1 do (the soft limit checked at each guest entry, before KVM_REQ_DIRTY_RING_SOFT_FULL). With a CPU dirty log of B entries (x86 PML: kvm_cpu_dirty_log_size() = 512, which the reserve holds besides its 64), KVM pushes the logged writes at the next VM exit, at the latest the PML-full exit before the (B+1)-th logged write: the exit may come after up to B more pushing writes (used <= soft_limit + B = entries - 64), and a vCPU that halts first (KVM_EXIT_HLT) exits KVM_EXIT_DIRTY_RING_FULL at its next KVM_RUN, before any write.',
    source: `${RING} kvm_dirty_ring_push, kvm_dirty_ring_check_request, kvm_dirty_ring_soft_full, kvm_dirty_ring_get_rsvd_entries; Linux v6.12.117 arch/x86/kvm/vmx/vmx.c __vmx_handle_exit, vmx_flush_pml_buffer; arch/x86/kvm/x86.c vcpu_enter_guest, __kvm_emulate_halt; ${API}; Linux v5.11 arch/x86/kvm/x86.c vcpu_enter_guest ("Forbid vmenter if vcpu dirty ring is soft-full")`,
  },
  'KVM-RING-13': {
    text: 'Harvest: the collector reads each vCPU ring in order from its own fetch index (entry fetch & (entries - 1), wrapping), loading flags with acquire; an entry with DIRTY set and RESET clear is dirty and its slot and offset are read after the flags; it stops at the first entry that is not dirty and never skips one.',
    source: `${API} ("must collect the dirty GFNs in sequence", "load-acquire/store-release"); include/uapi/linux/kvm.h (lifecycle comment)`,
  },
  'KVM-RING-14': {
    text: 'Mark harvested: after reading slot and offset the collector sets RESET (flags 01 -> 1X) with a store-release, only on entries it harvested as dirty: an invalid entry marked RESET would be consumed by the next reset and run reset_index past dirty_index.',
    source: `${API}; include/uapi/linux/kvm.h ("The userspace program is only responsible for the 01->1X state conversion")`,
  },
  'KVM-RING-15': {
    text: 'KVM_RESET_DIRTY_RINGS is -EINVAL with the ring off; otherwise, for each vCPU ring from reset_index while flags has RESET (load-acquire), it reads slot and offset, stores flags = 0 (store-release) and increments reset_index, and returns the number of entries it reset (>= 0).',
    source: `${MAIN} kvm_vm_ioctl_reset_dirty_pages; ${RING} kvm_dirty_ring_reset, kvm_dirty_gfn_set_invalid, kvm_dirty_gfn_harvested`,
  },
  'KVM-RING-16': {
    text: "Reset re-protects the pages its consumed entries name (when valid, KVM-RING-18): after it returns, the next write to each of them pushes a new entry, including where the vCPU, running during the reset, wrote the page before its protection (so the TLB flush comes after the protection). A vCPU write during the reset pushes or not as it came after or before the page's protection; to a page protected all along it pushes. A page no consumed entry names keeps its protection, except on arm64 between the lowest and the highest page of one batch, which the arch protects as one range (such a page may be protected or not; x86 protects the named pages only).",
    source: `${RING} kvm_reset_dirty_gfn (kvm_arch_mmu_enable_log_dirty_pt_masked); ${MAIN} kvm_vm_ioctl_reset_dirty_pages (kvm_flush_remote_tlbs); Linux v6.18 arch/arm64/kvm/mmu.c kvm_arch_mmu_enable_log_dirty_pt_masked (kvm_stage2_wp_range from __ffs(mask) to __fls(mask) + 1); Linux v6.18 arch/x86/kvm/mmu/mmu.c kvm_arch_mmu_enable_log_dirty_pt_masked (the set bits)`,
  },
  'KVM-RING-17': {
    text: 'Coalescing: consecutive consumed entries of the same slot (as_id included) merge into one (offset, 64-bit mask) when the next offset is 0..63 pages above the base, or 1..63 below it without shifting a set bit out; anything else flushes the batch. Entries of different slots never merge.',
    source: `${RING} kvm_dirty_ring_reset ("Try to coalesce the reset operations")`,
  },
  'KVM-RING-18': {
    text: 'Reset touches nothing for a batch whose as_id >= the address spaces, id >= KVM_USER_MEM_SLOTS, memslot absent, offset >= npages or offset + __fls(mask) >= npages, computed without u64 wrap (a hostile offset near 2^64 merged with offset 0 must not pass); its entries are still consumed.',
    source: `${RING} kvm_reset_dirty_gfn with "KVM: Reject wrapped offset in kvm_reset_dirty_gfn()" (<20260512060742.1628959-1-contact@xchglabs.com>, May 2026: v6.18 as released computes offset + __fls(mask) in u64 and wraps, so a kernel without the fix fails this rule to a hostile collector)`,
  },
  'KVM-RING-19': { text: 'Reset stops at the first entry without RESET: it and the entries after it are left as they are, for a later reset.', source: `${RING} kvm_dirty_ring_reset` },
  'KVM-RING-20': {
    text: 'Reset before copy: the collector calls KVM_RESET_DIRTY_RINGS for the entries it harvested, and the call returns, before it reads those pages for the migration copy; a write after the reset pushes again, a write between a copy and the reset would be lost.',
    source: `${API} ("the ioctl must be called *before* reading the content of the dirty pages"); ${SERIES}`,
  },
  'KVM-RING-21': {
    text: "A write without a running vCPU (kvm_get_running_vcpu() NULL) sets bit offset of the memslot's dirty bitmap when WITH_BITMAP is on, collected with KVM_GET_DIRTY_LOG as the last step of the final sync; without it nothing records the write. KVM_GET_DIRTY_LOG returns the bitmap, clears it and write-protects the pages it reports (as KVM-RING-16 re-protects, a 64-page word at a time), so a vCPU write after it pushes again.",
    source: `${MAIN} mark_page_dirty_in_slot, kvm_get_dirty_log_protect; ${API} (KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP)`,
  },
  'KVM-RING-22': {
    text: "Memory ordering of the shared ring: a relaxed store may become visible to the other side late; a load-acquire that reads a store-release makes every store before the release visible; nothing else orders them. So slot and offset must be stored before a release of flags, and read after an acquire of flags. On x86 (TSO) KVM's plain loads are acquires and its plain stores become visible in program order, as Linux v5.11 to v6.0 rely on (plain flags accesses in kvm_dirty_gfn_harvested and kvm_dirty_gfn_set_invalid).",
    source: `${API} ("load-acquire/store-release accessors"); ${RING} kvm_dirty_ring_push (smp_wmb); Linux v5.11 virt/kvm/dirty_ring.c kvm_dirty_gfn_harvested, kvm_dirty_gfn_set_invalid; "KVM: Use acquire/release semantics when accessing dirty ring GFN state" (Marc Zyngier, 8929bc965964, v6.1); ISO C11 7.17.3 (release/acquire)`,
  },
  'KVM-RING-23': {
    text: 'End to end: after the final sync (vCPUs stopped, every ring harvested and reset, the pages copied, the bitmap collected if any), every page at the destination equals the source.',
    source: `${SERIES} (the dirty ring as a migration log); ${API}`,
  },
  'KVM-RING-24': {
    text: "A reset that checks signal_pending(current) (Linux v6.17+) may stop, once a signal is pending, before any harvested entry: it consumes a prefix of each ring's harvested entries (KVM-RING-15's stores), leaves the rest with RESET for a later reset, returns the entries it consumed (kvm_vm_ioctl_reset_dirty_pages returns `cleared`) or -EINTR, and re-protects the pages of every entry it consumed before it returns (KVM-RING-16), the batch it was coalescing included. Linux v6.17 to v7.0 return -EINTR from the loop with that batch neither reset nor re-protected: its pages stay writable and their next writes push nothing (docs/CONTRACTS.md, departure 33).",
    source:
      'Linux v6.17 virt/kvm/dirty_ring.c kvm_dirty_ring_reset (49005a2a3d2a "KVM: Bail from the dirty ring reset flow if a signal is pending", <20250516213540.2546077-3-seanjc@google.com>; e46ad851150f, the open batch in `mask`); Linux v6.17 virt/kvm/kvm_main.c kvm_vm_ioctl_reset_dirty_pages (530a8ba71b4c: breaks out of the vCPU loop, returns `cleared`)',
  },
} as const satisfies Record<string, Requirement>;
