/*
 * dirtyspec/linux.h: enough of the Linux kernel's headers for a page-table or IOMMU
 * file written in kernel style to compile as a dirtyspec --lib implementation, with
 * every access to page-table memory going to the kit (conformance/lib/C-ABI.md).
 *
 * Compile the kernel-style file as C++ (g++ -std=gnu++17), with this header included
 * first. Page-table memory lives in the kit, at kit physical addresses. __va(pa) maps a
 * kit physical address to an address in a reserved, inaccessible range of this
 * process, and the descriptor type is a small class (struct dirtyspec_word) of 8 bytes:
 * an object of it that lies in that range is a word of kit memory, and reading it,
 * assigning it, READ_ONCE, WRITE_ONCE, cmpxchg64, xchg and the bit operations each make
 * one callback; anywhere else (a local variable, a field) it is an ordinary u64. So
 * `pte = *ptep; pte |= X; *ptep = pte;` is two accesses to the kit, a load and a store,
 * between which the kit may let the hardware write, exactly as on a real SMMU. An
 * access that bypasses the class (memcpy, a u64 * cast) faults (SIGSEGV): the run is
 * undecided, never silently wrong.
 *
 * The one line a kernel file changes: the descriptor typedef.
 *     typedef u64 arm_lpae_iopte;           // Linux drivers/iommu/io-pgtable-arm.c
 *     typedef dirtyspec_word arm_lpae_iopte; // under dirtyspec
 * (__le64, the context descriptor's type, is dirtyspec_word here already.)
 *
 * Limits of the class: a conditional expression mixing it with an integer
 * (`c ? pte : 0`) is ambiguous in C++; write `c ? (u64)pte : 0`. Pass it to printf as
 * (u64)pte.
 *
 * KVM's side of the dirty ring (profile kvm-dirty-ring) works the same way: the ring is
 * in the kit's memory, dirtyspec_ring_va(addr) maps a ring address into the reserved
 * range, and the fields of struct kvm_dirty_gfn are dirtyspec_ring_u32 / _u64, whose
 * every access is one ring callback with the order the kernel's accessor has (a plain
 * access and READ_ONCE relaxed, smp_load_acquire an acquire, smp_store_release a
 * release, the store after smp_wmb() a release: see "the dirty ring" below).
 *
 * Not thread-safe: the kit calls one function at a time (C-ABI.md, "Threading").
 */
#ifndef DIRTYSPEC_LINUX_H
#define DIRTYSPEC_LINUX_H

#ifndef __cplusplus
#error "dirtyspec/linux.h: compile the kernel-style file as C++ (g++ -std=gnu++17): the descriptor type is a class whose accesses reach the kit"
#endif

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <type_traits>

#include "dirtyspec.h"

/* ---- types ------------------------------------------------------------------------- */

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;
typedef u64 phys_addr_t;
typedef u64 dma_addr_t;
typedef unsigned int gfp_t;

#define GFP_KERNEL 0u
#define GFP_ATOMIC 1u
#define __GFP_ZERO 2u

#define SZ_4K 0x1000UL
#define SZ_2M 0x200000UL
#define SZ_1G 0x40000000UL

#define BITS_PER_LONG 64
#define BIT(nr) (1UL << (nr))
#define BIT_ULL(nr) (1ULL << (nr))
#define GENMASK(h, l) (((~0UL) << (l)) & (~0UL >> (BITS_PER_LONG - 1 - (h))))
#define GENMASK_ULL(h, l) (((~0ULL) << (l)) & (~0ULL >> (63 - (h))))
#define __bf_shf(x) __builtin_ctzll(x)
#define FIELD_PREP(mask, val) ((((u64)(val)) << __bf_shf(mask)) & (mask))
#define FIELD_GET(mask, reg) ((((u64)(reg)) & (mask)) >> __bf_shf(mask))
#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
#define ALIGN(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a) - 1)) == 0)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define min(a, b) ((a) < (b) ? (a) : (b))
#define max(a, b) ((a) > (b) ? (a) : (b))
#define min_t(t, a, b) ((t)(a) < (t)(b) ? (t)(a) : (t)(b))
#define max_t(t, a, b) ((t)(a) > (t)(b) ? (t)(a) : (t)(b))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define __maybe_unused __attribute__((unused))
#define fallthrough __attribute__((fallthrough))

/* ---- the kit ----------------------------------------------------------------------- */

/* The callbacks of the instance being called (set by the ABI glue at each entry). */
inline const struct dirtyspec_kit *dirtyspec_current;
/* Where __va puts kit physical address 0: a reserved, inaccessible range of DIRTYSPEC_VA_SPAN bytes. */
inline uintptr_t dirtyspec_va_base;
#define DIRTYSPEC_VA_SPAN (1ULL << 40)

/* Reserves the range (once per process, PROT_NONE, no memory behind it); 0, or -ENOMEM. */
static inline int dirtyspec_linux_init(void)
{
	void *p;

	if (dirtyspec_va_base != 0)
		return 0;
	p = mmap(NULL, DIRTYSPEC_VA_SPAN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	dirtyspec_va_base = (uintptr_t)p;
	return 0;
}

static inline bool dirtyspec_in_kit(const volatile void *p)
{
	return (uintptr_t)p - dirtyspec_va_base < DIRTYSPEC_VA_SPAN;
}

#define __va(pa) ((void *)(dirtyspec_va_base + (uintptr_t)(pa)))
#define __pa(va) ((phys_addr_t)((uintptr_t)(va) - dirtyspec_va_base))
#define virt_to_phys(va) __pa(va)
#define phys_to_virt(pa) __va(pa)

/*
 * A 64-bit word: in kit memory (its address from __va) every access is a callback; an
 * ordinary u64 anywhere else. Its value accesses are volatile so that the compiler
 * never reads a kit word's bytes (they are not mapped) ahead of the in-kit test.
 */
struct dirtyspec_word {
	u64 raw;

	dirtyspec_word() = default;
	dirtyspec_word(u64 v) : raw(v) {}
	dirtyspec_word(const dirtyspec_word &o) : raw(o.get(DIRTYSPEC_ORDER_PLAIN)) {}

	u64 pa() const { return (uintptr_t)this - dirtyspec_va_base; }
	bool in_kit() const { return dirtyspec_in_kit(this); }

	u64 get(int order) const
	{
		if (in_kit())
			return dirtyspec_current->load(dirtyspec_current->ctx, pa(), order);
		return *(const volatile u64 *)&raw;
	}
	void set(u64 v, int order)
	{
		if (in_kit())
			dirtyspec_current->store(dirtyspec_current->ctx, pa(), v, order);
		else
			*(volatile u64 *)&raw = v;
	}

	operator u64() const { return get(DIRTYSPEC_ORDER_PLAIN); }
	dirtyspec_word &operator=(const dirtyspec_word &o) { set(o.get(DIRTYSPEC_ORDER_PLAIN), DIRTYSPEC_ORDER_PLAIN); return *this; }
	dirtyspec_word &operator=(u64 v) { set(v, DIRTYSPEC_ORDER_PLAIN); return *this; }
	/* A plain read-modify-write: two accesses, as the C it stands for. */
	dirtyspec_word &operator|=(u64 v) { set(get(DIRTYSPEC_ORDER_PLAIN) | v, DIRTYSPEC_ORDER_PLAIN); return *this; }
	dirtyspec_word &operator&=(u64 v) { set(get(DIRTYSPEC_ORDER_PLAIN) & v, DIRTYSPEC_ORDER_PLAIN); return *this; }
	dirtyspec_word &operator^=(u64 v) { set(get(DIRTYSPEC_ORDER_PLAIN) ^ v, DIRTYSPEC_ORDER_PLAIN); return *this; }
	dirtyspec_word &operator+=(u64 v) { set(get(DIRTYSPEC_ORDER_PLAIN) + v, DIRTYSPEC_ORDER_PLAIN); return *this; }
	dirtyspec_word &operator-=(u64 v) { set(get(DIRTYSPEC_ORDER_PLAIN) - v, DIRTYSPEC_ORDER_PLAIN); return *this; }
};
static_assert(sizeof(dirtyspec_word) == 8, "a descriptor is 8 bytes");

typedef dirtyspec_word __le64;

#define cpu_to_le64(x) ((u64)(x))
#define le64_to_cpu(x) ((u64)(x))

/* ---- the dirty ring (kvm-dirty-ring: KVM's side) ---------------------------------------- */

/*
 * The kit's ring memory (C-ABI.md, profile kvm-dirty-ring) is not sequentially consistent:
 * a relaxed store may become visible to the collector late, a store-release carries the
 * stores before it to a load-acquire that reads it. It has no fence of its own, so
 * smp_wmb() and smp_mb() (which order this CPU's earlier stores before its later ones)
 * make the next ring store a store-release: a collector's load-acquire that reads it then
 * sees every store before the barrier, which is what the barrier paired with the reader's
 * acquire guarantees (Linux v6.18 Documentation/memory-barriers.txt, "SMP BARRIER
 * PAIRING"; kvm_dirty_ring_push's smp_wmb before kvm_dirty_gfn_set_dirtied). Only that
 * next store: a later one is ordered after the barrier's earlier stores on the hardware
 * too, but nothing here reads it alone, and a port that drops the barrier must not be
 * rescued by an earlier one. Other memory ignores the flag.
 */
inline bool dirtyspec_ring_wmb_pending;

/* Where a ring's address (create_vcpu's ring_base) is in this process: the reserved range, as __va. */
#define dirtyspec_ring_va(addr) ((void *)(dirtyspec_va_base + (uintptr_t)(addr)))

/*
 * A u32 or u64 field of struct kvm_dirty_gfn: in the kit's ring memory (its address from
 * dirtyspec_ring_va) every read is one ring_load and every assignment one ring_store;
 * anywhere else (a local copy) an ordinary integer. A plain access is relaxed.
 */
template <typename T> struct dirtyspec_ring_field {
	static_assert(sizeof(T) == 4 || sizeof(T) == 8, "a ring field is a u32 or a u64");
	T raw;

	dirtyspec_ring_field() = default;
	dirtyspec_ring_field(T v) : raw(v) {}
	dirtyspec_ring_field(const dirtyspec_ring_field &o) : raw(o.get(DIRTYSPEC_ORDER_RELAXED)) {}

	u64 addr() const { return (uintptr_t)this - dirtyspec_va_base; }

	T get(int order) const
	{
		if (!dirtyspec_in_kit(this))
			return *(const volatile T *)&raw;
		if (sizeof(T) == 4)
			return (T)dirtyspec_current->ring_load32(dirtyspec_current->ctx, addr(), order);
		return (T)dirtyspec_current->ring_load64(dirtyspec_current->ctx, addr(), order);
	}
	void set(T v, int order)
	{
		if (!dirtyspec_in_kit(this)) {
			*(volatile T *)&raw = v;
			return;
		}
		if (dirtyspec_ring_wmb_pending)
			order = DIRTYSPEC_ORDER_RELEASE;
		dirtyspec_ring_wmb_pending = false;
		if (sizeof(T) == 4)
			dirtyspec_current->ring_store32(dirtyspec_current->ctx, addr(), (uint32_t)v, order);
		else
			dirtyspec_current->ring_store64(dirtyspec_current->ctx, addr(), (uint64_t)v, order);
	}

	operator T() const { return get(DIRTYSPEC_ORDER_RELAXED); }
	dirtyspec_ring_field &operator=(const dirtyspec_ring_field &o) { set(o.get(DIRTYSPEC_ORDER_RELAXED), DIRTYSPEC_ORDER_RELAXED); return *this; }
	dirtyspec_ring_field &operator=(T v) { set(v, DIRTYSPEC_ORDER_RELAXED); return *this; }
};
typedef dirtyspec_ring_field<u32> dirtyspec_ring_u32;
typedef dirtyspec_ring_field<u64> dirtyspec_ring_u64;
static_assert(sizeof(dirtyspec_ring_u32) == 4 && sizeof(dirtyspec_ring_u64) == 8, "ring fields keep the uAPI's sizes");

/* ---- accessors and atomics ---------------------------------------------------------- */

template <typename T> struct dirtyspec_is_ring_field : std::false_type {};
template <typename T> struct dirtyspec_is_ring_field<dirtyspec_ring_field<T>> : std::true_type {};
/* Not a kit type (a descriptor or a ring field): ordinary memory. */
template <typename T>
using dirtyspec_not_word = typename std::enable_if<!std::is_same<typename std::remove_cv<T>::type, dirtyspec_word>::value && !dirtyspec_is_ring_field<typename std::remove_cv<T>::type>::value, int>::type;

/* READ_ONCE and WRITE_ONCE of a descriptor or a ring field are one relaxed access; of anything else, a volatile one. */
static inline u64 dirtyspec_read_once(const dirtyspec_word &w) { return w.get(DIRTYSPEC_ORDER_RELAXED); }
template <typename T> static inline T dirtyspec_read_once(const dirtyspec_ring_field<T> &f) { return f.get(DIRTYSPEC_ORDER_RELAXED); }
template <typename T, dirtyspec_not_word<T> = 0> static inline T dirtyspec_read_once(const T &x) { return *(const volatile T *)&x; }
static inline void dirtyspec_write_once(dirtyspec_word &w, u64 v) { w.set(v, DIRTYSPEC_ORDER_RELAXED); }
template <typename T, typename V> static inline void dirtyspec_write_once(dirtyspec_ring_field<T> &f, V v) { f.set((T)v, DIRTYSPEC_ORDER_RELAXED); }
template <typename T, typename V, dirtyspec_not_word<T> = 0> static inline void dirtyspec_write_once(T &x, V v) { *(volatile T *)&x = (T)v; }

#define READ_ONCE(x) dirtyspec_read_once(x)
#define WRITE_ONCE(x, v) dirtyspec_write_once((x), (v))

/*
 * smp_load_acquire and smp_store_release (include/asm-generic/barrier.h): of a ring field
 * or a descriptor, one access with that order; of anything else, the compiler's atomic.
 */
static inline u64 dirtyspec_load_acquire(const dirtyspec_word *p) { return p->get(DIRTYSPEC_ORDER_ACQUIRE); }
template <typename T> static inline T dirtyspec_load_acquire(const dirtyspec_ring_field<T> *p) { return p->get(DIRTYSPEC_ORDER_ACQUIRE); }
template <typename T, dirtyspec_not_word<T> = 0> static inline T dirtyspec_load_acquire(const T *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void dirtyspec_store_release(dirtyspec_word *p, u64 v) { p->set(v, DIRTYSPEC_ORDER_RELEASE); }
template <typename T, typename V> static inline void dirtyspec_store_release(dirtyspec_ring_field<T> *p, V v) { p->set((T)v, DIRTYSPEC_ORDER_RELEASE); }
template <typename T, typename V, dirtyspec_not_word<T> = 0> static inline void dirtyspec_store_release(T *p, V v) { __atomic_store_n(p, (T)v, __ATOMIC_RELEASE); }

#define smp_load_acquire(p) dirtyspec_load_acquire(p)
#define smp_store_release(p, v) dirtyspec_store_release((p), (v))

static inline u64 dirtyspec_cmpxchg(dirtyspec_word *p, u64 old, u64 nw, int order)
{
	if (p->in_kit())
		return dirtyspec_current->cmpxchg(dirtyspec_current->ctx, p->pa(), old, nw, order);
	u64 expected = old;
	__atomic_compare_exchange_n(&p->raw, &expected, nw, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	return expected;
}

static inline u64 dirtyspec_xchg(dirtyspec_word *p, u64 v, int order)
{
	if (p->in_kit())
		return dirtyspec_current->xchg(dirtyspec_current->ctx, p->pa(), v, order);
	return __atomic_exchange_n(&p->raw, v, __ATOMIC_SEQ_CST);
}

/* xchg of ordinary memory (an unsigned long of a dirty bitmap, say): the compiler's atomic. */
template <typename T, typename V, dirtyspec_not_word<T> = 0> static inline T dirtyspec_xchg(T *p, V v, int)
{
	return __atomic_exchange_n(p, (T)v, __ATOMIC_SEQ_CST);
}

static inline u64 dirtyspec_fetch_or(dirtyspec_word *p, u64 mask, int order)
{
	if (p->in_kit())
		return dirtyspec_current->fetch_or(dirtyspec_current->ctx, p->pa(), mask, order);
	return __atomic_fetch_or(&p->raw, mask, __ATOMIC_SEQ_CST);
}

static inline u64 dirtyspec_fetch_and(dirtyspec_word *p, u64 mask, int order)
{
	if (p->in_kit())
		return dirtyspec_current->fetch_and(dirtyspec_current->ctx, p->pa(), mask, order);
	return __atomic_fetch_and(&p->raw, mask, __ATOMIC_SEQ_CST);
}

/* cmpxchg64 is fully ordered, the _relaxed forms are not (include/linux/atomic/atomic-instrumented.h). */
#define cmpxchg64(p, o, n) dirtyspec_cmpxchg((p), (o), (n), DIRTYSPEC_ORDER_SEQ_CST)
#define cmpxchg64_relaxed(p, o, n) dirtyspec_cmpxchg((p), (o), (n), DIRTYSPEC_ORDER_RELAXED)
#define cmpxchg(p, o, n) cmpxchg64(p, o, n)
#define cmpxchg_relaxed(p, o, n) cmpxchg64_relaxed(p, o, n)
#define xchg(p, v) dirtyspec_xchg((p), (v), DIRTYSPEC_ORDER_SEQ_CST)
#define xchg_relaxed(p, v) dirtyspec_xchg((p), (v), DIRTYSPEC_ORDER_RELAXED)

/*
 * Bit operations on a bitmap of 64-bit words (include/asm-generic/bitops/atomic.h):
 * set_bit and clear_bit are one atomic access each, test_and_clear_bit a fully ordered one.
 */
static inline dirtyspec_word *dirtyspec_bit_word(volatile void *addr, unsigned long nr)
{
	return (dirtyspec_word *)addr + nr / 64;
}
static inline void set_bit(unsigned long nr, volatile void *addr)
{
	dirtyspec_fetch_or(dirtyspec_bit_word(addr, nr), 1ULL << (nr % 64), DIRTYSPEC_ORDER_RELAXED);
}
static inline void clear_bit(unsigned long nr, volatile void *addr)
{
	dirtyspec_fetch_and(dirtyspec_bit_word(addr, nr), ~(1ULL << (nr % 64)), DIRTYSPEC_ORDER_RELAXED);
}
static inline bool test_and_set_bit(unsigned long nr, volatile void *addr)
{
	return dirtyspec_fetch_or(dirtyspec_bit_word(addr, nr), 1ULL << (nr % 64), DIRTYSPEC_ORDER_SEQ_CST) & (1ULL << (nr % 64));
}
static inline bool test_and_clear_bit(unsigned long nr, volatile void *addr)
{
	return dirtyspec_fetch_and(dirtyspec_bit_word(addr, nr), ~(1ULL << (nr % 64)), DIRTYSPEC_ORDER_SEQ_CST) & (1ULL << (nr % 64));
}
static inline bool test_bit(unsigned long nr, const volatile void *addr)
{
	return (dirtyspec_read_once(*((const dirtyspec_word *)addr + nr / 64)) >> (nr % 64)) & 1;
}
/* include/asm-generic/bitops/le.h on a little-endian host: the bit operations themselves. */
#define set_bit_le(nr, addr) set_bit((nr), (addr))
#define test_bit_le(nr, addr) test_bit((nr), (addr))

/*
 * Barriers. The kit's SMMU memory is sequentially consistent and single-threaded on this
 * side, so each is a compiler barrier: it orders this code's callbacks, which is all
 * the kit observes. smp_mb() and smp_wmb() also make the next store to the dirty ring a
 * store-release (dirtyspec_ring_wmb_pending above).
 */
#define barrier() __asm__ __volatile__("" ::: "memory")
static inline void dirtyspec_smp_store_barrier(void)
{
	barrier();
	dirtyspec_ring_wmb_pending = true;
}
#define mb() barrier()
#define rmb() barrier()
#define wmb() barrier()
#define smp_mb() dirtyspec_smp_store_barrier()
#define smp_rmb() barrier()
#define smp_wmb() dirtyspec_smp_store_barrier()
#define dma_wmb() barrier()
#define dma_rmb() barrier()
#define smp_mb__before_atomic() barrier()
#define smp_mb__after_atomic() barrier()

/* ---- allocation, diagnostics ---------------------------------------------------------- */

/* kmalloc's result converts to any object pointer, as void * does in C. */
struct dirtyspec_alloc {
	void *p;
	template <typename T> operator T *() const { return (T *)p; }
};
static inline dirtyspec_alloc kmalloc(size_t size, gfp_t gfp) { return { (gfp & __GFP_ZERO) ? calloc(1, size ? size : 1) : malloc(size ? size : 1) }; }
static inline dirtyspec_alloc kzalloc(size_t size, gfp_t) { return { calloc(1, size ? size : 1) }; }
static inline dirtyspec_alloc kcalloc(size_t n, size_t size, gfp_t) { return { calloc(n ? n : 1, size ? size : 1) }; }
static inline dirtyspec_alloc krealloc(const void *p, size_t size, gfp_t) { return { realloc((void *)p, size ? size : 1) }; }
static inline void kfree(const void *p) { free((void *)p); }

/*
 * Page-table pages come from the kit: a zeroed 4 KiB frame, its kernel address from
 * __va. Only the 4 KiB granule (size SZ_4K). NULL when the kit has none.
 */
static inline void *iommu_alloc_pages_sz(gfp_t, size_t size)
{
	if (size != SZ_4K)
		return NULL;
	u64 pa = dirtyspec_current->alloc_frame(dirtyspec_current->ctx);
	return pa == 0 ? NULL : __va(pa);
}
static inline void iommu_free_pages(void *virt)
{
	if (virt != NULL)
		dirtyspec_current->free_frame(dirtyspec_current->ctx, __pa(virt));
}

#define pr_err(...) fprintf(stderr, __VA_ARGS__)
#define pr_warn(...) fprintf(stderr, __VA_ARGS__)
#define pr_info(...) fprintf(stderr, __VA_ARGS__)
#define pr_debug(...) ((void)0)
/* WARN_ON prints where, and is the condition (include/asm-generic/bug.h). */
#define WARN_ON(cond) ({ bool __c = !!(cond); if (unlikely(__c)) fprintf(stderr, "WARNING: %s:%d: %s\n", __FILE__, __LINE__, #cond); __c; })
/* WARN_ON_ONCE prints once per call site, and is the condition. */
#define WARN_ON_ONCE(cond) ({ static bool __warned; bool __c = !!(cond); if (unlikely(__c) && !__warned) { __warned = true; fprintf(stderr, "WARNING: %s:%d: %s\n", __FILE__, __LINE__, #cond); } __c; })

/* ---- the IOMMU pieces a page-table file calls ---------------------------------------- */

#define IOMMU_READ (1 << 0)
#define IOMMU_WRITE (1 << 1)
/* include/linux/iommu.h */
#define IOMMU_DIRTY_NO_CLEAR (1 << 0)

/* include/linux/iommu.h: the range to invalidate after unmapping or clearing. */
struct iommu_iotlb_gather {
	unsigned long start;
	unsigned long end; /* inclusive */
	size_t pgsize;
};

static inline void iommu_iotlb_gather_init(struct iommu_iotlb_gather *gather)
{
	gather->start = ~0UL;
	gather->end = 0;
	gather->pgsize = 0;
}

/* iommu_iotlb_gather_add_range: widen the gathered range to cover [iova, iova + size). */
static inline void iommu_iotlb_gather_add_range(struct iommu_iotlb_gather *gather, unsigned long iova, size_t size)
{
	unsigned long end = iova + size - 1;

	if (gather->start > iova)
		gather->start = iova;
	if (gather->end < end)
		gather->end = end;
}

static inline bool iommu_iotlb_gather_empty(const struct iommu_iotlb_gather *gather)
{
	return gather->start > gather->end;
}

/*
 * include/linux/iommu.h: where a driver's read_and_clear_dirty records. Here the kit's
 * bitmap (struct dirtyspec_bitmap) stands for the iova_bitmap.
 */
struct iommu_dirty_bitmap {
	struct dirtyspec_bitmap *bitmap;
	struct iommu_iotlb_gather *gather;
};

static inline void iommu_dirty_bitmap_init(struct iommu_dirty_bitmap *dirty, struct dirtyspec_bitmap *bitmap, struct iommu_iotlb_gather *gather)
{
	if (gather)
		iommu_iotlb_gather_init(gather);
	dirty->bitmap = bitmap;
	dirty->gather = gather;
}

/*
 * iommu_dirty_bitmap_record: sets the bits of the 4 KiB pages of [iova, iova + length)
 * that the bitmap covers (a partial page counts), and widens the gather when there is one.
 */
static inline void iommu_dirty_bitmap_record(struct iommu_dirty_bitmap *dirty, unsigned long iova, unsigned long length)
{
	struct dirtyspec_bitmap *b = dirty->bitmap;

	if (b != NULL && length != 0) {
		u64 first = iova > b->iova ? iova : b->iova;
		u64 end = iova + length < b->iova + b->size ? iova + length : b->iova + b->size;

		for (u64 at = first & ~(SZ_4K - 1); at < end; at += SZ_4K) {
			u64 bit = (at - b->iova) / SZ_4K;

			if (bit / 8 < b->cap)
				b->bytes[bit / 8] |= (u8)(1u << (bit % 8));
		}
	}
	if (dirty->gather)
		iommu_iotlb_gather_add_range(dirty->gather, iova, length);
}

#endif /* DIRTYSPEC_LINUX_H */
