/*
 * A VMM's dirty-ring collector, after QEMU accel/kvm/kvm-all.c (kvm_dirty_ring_reap_one,
 * dirty_gfn_is_dirtied, dirty_gfn_set_collected) and the protocol of Linux v6.18
 * Documentation/virt/kvm/api.rst, "KVM_CAP_DIRTY_LOG_RING/KVM_CAP_DIRTY_LOG_RING_ACQ_REL".
 *
 * KVM publishes an entry by storing slot and offset, then the flags with a store-release
 * (virt/kvm/dirty_ring.c kvm_dirty_ring_push, smp_wmb before the flags). The collector
 * pairs with it: it loads the flags with a load-acquire and reads slot and offset only
 * after it has seen DIRTY; it hands the entry back by storing RESET with a store-release,
 * so that its reads of slot and offset are done before KVM (kvm_dirty_ring_reset, a
 * load-acquire of the flags) may reuse the entry. Pages are copied only after
 * KVM_RESET_DIRTY_RINGS has write-protected them again: a copy made before would miss a
 * write that lands between the copy and the reset, which no entry records.
 *
 * -DDIRTYSPEC_FAULT builds a real way to get this wrong: slot and offset read before the
 * flags, and the flags read relaxed (a plain load). On a weakly ordered machine the
 * fields may be the entry's previous contents although the flags already say DIRTY: the
 * wrong page is copied, and the dirty one never is.
 */
#include "dirty_ring_collector.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct ring {
	uint64_t base;
	uint32_t entries;
	/* The next entry to harvest, counting from the ring's start (free-running). */
	uint32_t fetch;
};

struct page {
	uint32_t slot;
	uint64_t offset;
};

struct dirty_ring_collector {
	struct ring_memory memory;
	struct collector_host host;
	bool with_bitmap;
	struct collector_memslot *memslots;
	size_t n_memslots;
	struct ring *rings;
	size_t n_rings, cap_rings;
	/* The pages of the current sync. */
	struct page *pages;
	size_t n_pages, cap_pages;
};

struct dirty_ring_collector *collector_create(const struct ring_memory *memory, const struct collector_host *host, bool with_bitmap, const struct collector_memslot *memslots, size_t n)
{
	struct dirty_ring_collector *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->memory = *memory;
	c->host = *host;
	c->with_bitmap = with_bitmap;
	if (n > 0) {
		c->memslots = malloc(n * sizeof(*memslots));
		if (c->memslots == NULL) {
			free(c);
			return NULL;
		}
		memcpy(c->memslots, memslots, n * sizeof(*memslots));
	}
	c->n_memslots = n;
	return c;
}

void collector_free(struct dirty_ring_collector *c)
{
	if (c == NULL)
		return;
	free(c->memslots);
	free(c->rings);
	free(c->pages);
	free(c);
}

int collector_add_ring(struct dirty_ring_collector *c, uint64_t base, uint32_t entries)
{
	if (entries == 0 || (entries & (entries - 1)) != 0 || base % KVM_DIRTY_GFN_SIZE != 0)
		return -EINVAL;
	if (c->n_rings == c->cap_rings) {
		size_t cap = c->cap_rings == 0 ? 4 : c->cap_rings * 2;
		struct ring *rings = realloc(c->rings, cap * sizeof(*rings));

		if (rings == NULL)
			return -ENOMEM;
		c->rings = rings;
		c->cap_rings = cap;
	}
	c->rings[c->n_rings++] = (struct ring){ base, entries, 0 };
	return 0;
}

static int add_page(struct dirty_ring_collector *c, uint32_t slot, uint64_t offset)
{
	if (c->n_pages == c->cap_pages) {
		size_t cap = c->cap_pages == 0 ? 64 : c->cap_pages * 2;
		struct page *pages = realloc(c->pages, cap * sizeof(*pages));

		if (pages == NULL)
			return -ENOMEM;
		c->pages = pages;
		c->cap_pages = cap;
	}
	c->pages[c->n_pages++] = (struct page){ slot, offset };
	return 0;
}

static uint64_t entry(const struct ring *r, uint32_t i)
{
	return r->base + (uint64_t)i * KVM_DIRTY_GFN_SIZE;
}

/* kvm_dirty_ring_reap_one: entries in order, until the first that is not dirty; at most one lap. */
static int harvest(struct dirty_ring_collector *c, struct ring *r)
{
	const struct ring_memory *m = &c->memory;

	for (uint32_t n = 0; n < r->entries; n++) {
		uint64_t e = entry(r, r->fetch & (r->entries - 1));
		uint32_t flags, slot;
		uint64_t offset;
		int ret;

#ifdef DIRTYSPEC_FAULT
		/* FAULT: the fields first, then the flags, nothing ordering them. */
		slot = m->load32(m->ctx, e + 4, RING_RELAXED);
		offset = m->load64(m->ctx, e + 8, RING_RELAXED);
		flags = m->load32(m->ctx, e, RING_RELAXED);
		if ((flags & (KVM_DIRTY_GFN_F_DIRTY | KVM_DIRTY_GFN_F_RESET)) != KVM_DIRTY_GFN_F_DIRTY)
			break;
#else
		/* dirty_gfn_is_dirtied: a load-acquire of the flags, DIRTY set and RESET clear. */
		flags = m->load32(m->ctx, e, RING_ACQUIRE);
		if ((flags & (KVM_DIRTY_GFN_F_DIRTY | KVM_DIRTY_GFN_F_RESET)) != KVM_DIRTY_GFN_F_DIRTY)
			break;
		/* Ordered after the acquire: KVM's stores of slot and offset are visible. */
		slot = m->load32(m->ctx, e + 4, RING_RELAXED);
		offset = m->load64(m->ctx, e + 8, RING_RELAXED);
#endif
		if ((ret = add_page(c, slot, offset)) != 0)
			return ret;
		/* dirty_gfn_set_collected: RESET with a store-release, after the reads above. */
		m->store32(m->ctx, e, KVM_DIRTY_GFN_F_RESET, RING_RELEASE);
		r->fetch++;
	}
	return 0;
}

/* KVM_GET_DIRTY_LOG of every memslot: the pages KVM dirtied without a running vCPU. */
static int collect_bitmaps(struct dirty_ring_collector *c)
{
	for (size_t s = 0; s < c->n_memslots; s++) {
		const struct collector_memslot *ms = &c->memslots[s];
		size_t bytes = ((size_t)ms->npages + 63) / 64 * 8;
		uint8_t *bitmap = calloc(bytes == 0 ? 1 : bytes, 1);
		int ret = 0;

		if (bitmap == NULL)
			return -ENOMEM;
		if (!c->host.get_dirty_log(c->host.ctx, ms->slot, bitmap, bytes))
			ret = -EFAULT;
		for (uint32_t p = 0; ret == 0 && p < ms->npages; p++)
			if ((bitmap[p / 8] >> (p % 8)) & 1)
				ret = add_page(c, ms->slot, p);
		free(bitmap);
		if (ret != 0)
			return ret;
	}
	return 0;
}

int collector_sync(struct dirty_ring_collector *c, bool final)
{
	int ret;

	c->n_pages = 0;
	for (size_t i = 0; i < c->n_rings; i++)
		if ((ret = harvest(c, &c->rings[i])) != 0)
			return ret;
	if (final && c->with_bitmap && (ret = collect_bitmaps(c)) != 0)
		return ret;
	/* Reset before copying: the pages are write-protected again before their contents are read. */
	ret = c->host.reset_dirty_rings(c->host.ctx);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < c->n_pages; i++)
		c->host.copy_page(c->host.ctx, c->pages[i].slot, c->pages[i].offset);
	return 0;
}
