// SPDX-License-Identifier: MIT
/*
 * KVM's side of the dirty ring in the manner of Linux v6.18 virt/kvm/dirty_ring.c
 * (kvm_dirty_ring_alloc, kvm_dirty_ring_push, kvm_dirty_ring_check_request,
 * kvm_dirty_ring_reset, kvm_reset_dirty_gfn), with the check of "KVM: Reject wrapped
 * offset in kvm_reset_dirty_gfn()" (<20260512060742.1628959-1-contact@xchglabs.com>,
 * 577a8d3bae05). This is an example written for dirtyspec, not the kernel's file: the
 * functions have the kernel's names, arguments, accessors and order of effects, so a port
 * of the real file compares with it function by function. It is built with
 * dirtyspec/linux.h, so every access to a struct kvm_dirty_gfn below is an access to the
 * kit's ring memory with its accessor's order, and the collector sees it as it would.
 *
 * Faults the tests plant (each a -D flag, see the Makefile):
 *   DIRTYSPEC_FAULT_WRAP    the reset's range check as v6.18 was released: only
 *                           offset + __fls(mask) < npages, in u64, which a hostile offset
 *                           near 2^64 wraps (KVM-RING-18);
 *   DIRTYSPEC_FAULT_PUSH    the push sets the flags (a plain store) before slot and offset,
 *                           with no barrier: a collector may harvest stale fields (KVM-RING-22);
 *   DIRTYSPEC_FAULT_NO_WMB  the push without its smp_wmb(): slot, offset, then the flags,
 *                           ordered by x86's TSO only; on arm64 the collector may see the
 *                           flags first (KVM-RING-22).
 * Not a fault: DIRTYSPEC_PML, an x86 host with PML (kvm_cpu_dirty_log_size 512).
 *
 * Signals (ABI version 4): by default signal_pending(current) is false, as for a task no
 * signal reaches. DIRTYSPEC_SIGNALS makes it the kit's (the reset's check before each
 * entry, 49005a2a3d2a, then meets the signals the kit makes pending) and declares so: the
 * reset as v6.18 has it returns -EINTR with the batch it was coalescing neither reset nor
 * kept, and its pages stay writable (KVM-RING-24, docs/CONTRACTS.md departure 33). With
 * DIRTYSPEC_SIGNAL_RESETS_BATCH too, the batch is reset before the return.
 */
#include "kvm_host.h"

/* The build, as the library's hello names it (its -D flag is dirty_ring.c's alone). */
#if defined(DIRTYSPEC_FAULT_WRAP)
const char kvm_dirty_ring_build[] = "linux-v6.18-dirty-ring -DDIRTYSPEC_FAULT_WRAP (without 577a8d3bae05)";
#elif defined(DIRTYSPEC_FAULT_PUSH)
const char kvm_dirty_ring_build[] = "linux-v6.18-dirty-ring -DDIRTYSPEC_FAULT_PUSH (flags before slot and offset)";
#elif defined(DIRTYSPEC_FAULT_NO_WMB)
const char kvm_dirty_ring_build[] = "linux-v6.18-dirty-ring -DDIRTYSPEC_FAULT_NO_WMB (no smp_wmb in the push)";
#elif defined(DIRTYSPEC_PML)
const char kvm_dirty_ring_build[] = "linux-v6.18-dirty-ring (+577a8d3bae05) -DDIRTYSPEC_PML (x86 host with PML)";
#elif defined(DIRTYSPEC_SIGNALS) && defined(DIRTYSPEC_SIGNAL_RESETS_BATCH)
const char kvm_dirty_ring_build[] = "linux-v6.18-dirty-ring (+577a8d3bae05) -DDIRTYSPEC_SIGNALS -DDIRTYSPEC_SIGNAL_RESETS_BATCH";
#elif defined(DIRTYSPEC_SIGNALS)
const char kvm_dirty_ring_build[] = "linux-v6.18-dirty-ring (+577a8d3bae05) -DDIRTYSPEC_SIGNALS (signal_pending the kit's)";
#else
const char kvm_dirty_ring_build[] = "linux-v6.18-dirty-ring (+577a8d3bae05)";
#endif

/*
 * kvm_cpu_dirty_log_size: the entries the CPU's dirty log may add at once. An x86 host
 * with PML (VMX's default) answers PML's 512, and the ring reserves them; without PML, and
 * on arm64, 0. The host is the library's (kvm NULL: what the glue tells the kit); a VM
 * that plays arm64 has none. -DDIRTYSPEC_PML builds the PML host.
 */
int kvm_cpu_dirty_log_size(struct kvm *kvm)
{
#ifdef DIRTYSPEC_PML
	if (kvm == NULL || kvm->arch.kind == KVM_ARCH_X86)
		return 512;
#endif
	(void)kvm;
	return 0;
}

/* Entries kept free below the ring's size: 64, plus what the CPU's dirty log may flush at once. */
u32 kvm_dirty_ring_get_rsvd_entries(struct kvm *kvm)
{
	return KVM_DIRTY_RING_RSVD_ENTRIES + kvm_cpu_dirty_log_size(kvm);
}

/* Memslots get a dirty bitmap unless the ring alone tracks (WITH_BITMAP off). */
bool kvm_use_dirty_bitmap(struct kvm *kvm)
{
	if (kvm->dirty_ring_size == 0)
		return true;
	return kvm->dirty_ring_with_bitmap;
}

/* Pushed and not yet reset, in u32 arithmetic (the indexes wrap). */
static u32 kvm_dirty_ring_used(struct kvm_dirty_ring *ring)
{
	u32 pushed = READ_ONCE(ring->dirty_index);
	u32 reset = READ_ONCE(ring->reset_index);

	return pushed - reset;
}

static bool kvm_dirty_ring_soft_full(struct kvm_dirty_ring *ring)
{
	return !(kvm_dirty_ring_used(ring) < ring->soft_limit);
}

static bool kvm_dirty_ring_full(struct kvm_dirty_ring *ring)
{
	return !(kvm_dirty_ring_used(ring) < ring->size);
}

/*
 * Re-protect one batch of harvested pages: `mask` bit i is page offset + i of memslot
 * `slot` (as_id << 16 | id). The slot and the range come from userspace, which may have
 * rewritten them: a batch naming no memslot, or reaching past its end, is dropped.
 */
static void kvm_reset_dirty_gfn(struct kvm *kvm, u32 slot, u64 offset, u64 mask)
{
	int as_id = slot >> 16;
	int id = slot & 0xffff;
	struct kvm_memory_slot *memslot;
	u64 last;

	if (as_id >= kvm_arch_nr_memslot_as_ids(kvm))
		return;
	if (id >= KVM_USER_MEM_SLOTS)
		return;
	memslot = id_to_memslot(__kvm_memslots(kvm, as_id), id);
	if (memslot == NULL)
		return;

	last = offset + __fls(mask); /* u64: wraps for an offset near 2^64 */
#ifndef DIRTYSPEC_FAULT_WRAP
	/* 577a8d3bae05: an offset past the memslot is refused before the sum can wrap into it. */
	if (offset >= memslot->npages)
		return;
#endif
	if (last >= memslot->npages)
		return;

	KVM_MMU_LOCK(kvm);
	kvm_arch_mmu_enable_log_dirty_pt_masked(kvm, memslot, offset, mask);
	KVM_MMU_UNLOCK(kvm);
}

int kvm_dirty_ring_alloc(struct kvm *kvm, struct kvm_dirty_ring *ring, int index, u32 size)
{
	/* The ring is the kit's zeroed memory, which userspace maps (the kernel vzallocs it). */
	ring->dirty_gfns = (struct kvm_dirty_gfn *)dirtyspec_ring_va(ring->kit_base);
	if (ring->dirty_gfns == NULL)
		return -ENOMEM;

	ring->index = index;
	ring->size = size / sizeof(struct kvm_dirty_gfn);
	ring->soft_limit = ring->size - kvm_dirty_ring_get_rsvd_entries(kvm);
	ring->dirty_index = ring->reset_index = 0;
	return 0;
}

/* The entry's flags: cleared by the reset with a release, set DIRTY by the push with a plain store, RESET read with an acquire. */
static inline void kvm_dirty_gfn_set_invalid(struct kvm_dirty_gfn *gfn)
{
	smp_store_release(&gfn->flags, 0);
}

static inline void kvm_dirty_gfn_set_dirtied(struct kvm_dirty_gfn *gfn)
{
	gfn->flags = KVM_DIRTY_GFN_F_DIRTY;
}

static inline bool kvm_dirty_gfn_harvested(struct kvm_dirty_gfn *gfn)
{
	return (smp_load_acquire(&gfn->flags) & KVM_DIRTY_GFN_F_RESET) != 0;
}

/*
 * KVM_RESET_DIRTY_RINGS for one ring: consume every entry userspace marked RESET, from
 * reset_index on, clearing each, and re-protect their pages. Consecutive entries of one
 * slot whose offsets fit in one word of BITS_PER_LONG pages form one batch (the base may
 * move down while no set bit falls off the top); an entry that does not fit ends the
 * batch. `*nr_entries_reset` counts across the VM's rings and stops at INT_MAX.
 */
int kvm_dirty_ring_reset(struct kvm *kvm, struct kvm_dirty_ring *ring, int *nr_entries_reset)
{
	u32 batch_slot = 0;
	u64 batch_offset = 0;
	unsigned long batch_mask = 0; /* 0: no batch open */

	lockdep_assert_held(&kvm->slots_lock);

	while (likely(*nr_entries_reset < INT_MAX)) {
		struct kvm_dirty_gfn *entry;
		u32 slot;
		u64 offset;
		s64 delta;

		if (signal_pending(current)) {
#ifdef DIRTYSPEC_SIGNAL_RESETS_BATCH
			/* Not v6.18's: the entries of the open batch are consumed and counted already. */
			if (batch_mask != 0)
				kvm_reset_dirty_gfn(kvm, batch_slot, batch_offset, batch_mask);
#endif
			return -EINTR;
		}

		entry = &ring->dirty_gfns[ring->reset_index & (ring->size - 1)];
		if (!kvm_dirty_gfn_harvested(entry))
			break;
		slot = READ_ONCE(entry->slot);
		offset = READ_ONCE(entry->offset);
		kvm_dirty_gfn_set_invalid(entry);
		ring->reset_index++;
		(*nr_entries_reset)++;

		if (batch_mask != 0) {
			cond_resched();
			if (slot == batch_slot) {
				delta = offset - batch_offset;
				/* Within the word above the base. */
				if (delta >= 0 && delta < BITS_PER_LONG) {
					batch_mask |= 1ull << delta;
					continue;
				}
				/* Below the base, if moving it down drops no set bit. */
				if (delta < 0 && delta > -BITS_PER_LONG &&
				    ((batch_mask << -delta) >> -delta) == batch_mask) {
					batch_mask = (batch_mask << -delta) | 1;
					batch_offset = offset;
					continue;
				}
			}
			kvm_reset_dirty_gfn(kvm, batch_slot, batch_offset, batch_mask);
		}
		batch_slot = slot;
		batch_offset = offset;
		batch_mask = 1;
	}

	/* The open batch, if any entry was consumed. */
	if (batch_mask != 0)
		kvm_reset_dirty_gfn(kvm, batch_slot, batch_offset, batch_mask);

	trace_kvm_dirty_ring_reset(ring);
	return 0;
}

/*
 * A guest write recorded in the running vCPU's ring: fill the entry at dirty_index, then
 * publish it DIRTY. The smp_wmb() orders the two fields before the flags for userspace,
 * which reads the flags with a load-acquire (linux.h: the flags store becomes the release).
 * At the soft limit the vCPU is asked to exit before it enters the guest again.
 */
void kvm_dirty_ring_push(struct kvm_vcpu *vcpu, u32 slot, u64 offset)
{
	struct kvm_dirty_ring *ring = &vcpu->dirty_ring;
	struct kvm_dirty_gfn *entry;

	WARN_ON_ONCE(kvm_dirty_ring_full(ring)); /* the reserve makes this impossible */

	entry = &ring->dirty_gfns[ring->dirty_index & (ring->size - 1)];
#if defined(DIRTYSPEC_FAULT_PUSH)
	kvm_dirty_gfn_set_dirtied(entry); /* the fault: published before it is filled */
	entry->slot = slot;
	entry->offset = offset;
#elif defined(DIRTYSPEC_FAULT_NO_WMB)
	entry->slot = slot;
	entry->offset = offset;
	kvm_dirty_gfn_set_dirtied(entry); /* the fault: nothing orders the fields before it */
#else
	entry->slot = slot;
	entry->offset = offset;
	smp_wmb();
	kvm_dirty_gfn_set_dirtied(entry);
#endif
	ring->dirty_index++;
	trace_kvm_dirty_ring_push(ring, slot, offset);

	if (kvm_dirty_ring_soft_full(ring))
		kvm_make_request(KVM_REQ_DIRTY_RING_SOFT_FULL, vcpu);
}

/*
 * At guest entry: a pending soft-full request ends KVM_RUN with KVM_EXIT_DIRTY_RING_FULL
 * while the ring is still soft full (the request stays, so every entry exits until a
 * reset makes room); once a reset has made room it is dropped and the guest runs.
 */
bool kvm_dirty_ring_check_request(struct kvm_vcpu *vcpu)
{
	if (!kvm_check_request(KVM_REQ_DIRTY_RING_SOFT_FULL, vcpu))
		return false;
	if (!kvm_dirty_ring_soft_full(&vcpu->dirty_ring))
		return false;

	kvm_make_request(KVM_REQ_DIRTY_RING_SOFT_FULL, vcpu);
	vcpu->run->exit_reason = KVM_EXIT_DIRTY_RING_FULL;
	trace_kvm_dirty_ring_exit(vcpu);
	return true;
}

/* The memory is the kit's: nothing to free. */
void kvm_dirty_ring_free(struct kvm_dirty_ring *ring)
{
	ring->dirty_gfns = NULL;
}

/* ABI version 4: whether the reset's signal_pending(current) is the kit's (DIRTYSPEC_SIGNALS). */
extern "C" bool dirtyspec_kvm_dirty_ring_checks_signals(void)
{
#ifdef DIRTYSPEC_SIGNALS
	return true;
#else
	return false;
#endif
}
