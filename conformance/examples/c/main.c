/*
 * dirtyspec-c-example: the iova-bitmap, vfio-type1, kvm-dirty-log and dirty-ring-collector
 * profiles of the dirtyspec adapter protocol (conformance/protocol/PROTOCOL.md), in C.
 *
 *   dirtyspec run --exec ./build/dirtyspec-c
 *
 * The kit sends one request at a time; this program answers each one, making callbacks
 * to the kit's user buffer while an iova-bitmap request is outstanding. It exits after
 * `bye` or at the end of its input.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dirty_ring_collector.h"
#include "iova_bitmap.h"
#include "kvm_dirty_log.h"
#include "protocol.h"
#include "vfio_type1.h"

#define IMPLEMENTATION_NAME "dirtyspec-c-example"
#define PROTOCOL_VERSION 1
/* dma_entry_limit's default in vfio_iommu_type1.c (U16_MAX). */
#define DEFAULT_DMA_ENTRY_LIMIT 65535

/* The instances the kit created; each `create` replaces its profile's one. */
static struct iova_bitmap *bitmap;
static struct vfio_container *container;
static struct kvm_vm *vm;
static struct dirty_ring_collector *collector;

/* A handler builds its result in `out` and returns NULL, or returns an error text. */
typedef const char *handler_fn(const struct json *req, struct jw *out);

static char error_text[256];

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static const char *failf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(error_text, sizeof(error_text), fmt, ap);
	va_end(ap);
	return error_text;
}

static const char *missing(const char *key, const char *kind)
{
	return failf("argument \"%s\" missing or not %s", key, kind);
}

/* A flags field: a number in [0, 2^32), the uAPI's __u32. */
static bool get_flags(const struct json *obj, const char *key, uint32_t *out)
{
	int64_t v;

	if (!json_get_int(obj, key, &v) || v < 0 || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* ---- hello and bye --------------------------------------------------------------- */

static const char *op_hello(const struct json *req, struct jw *out)
{
	int64_t version;

	if (!json_get_int(req, "protocol", &version))
		return missing("protocol", "a number");
	if (version != PROTOCOL_VERSION)
		return failf("protocol %" PRId64 " is not supported; this implementation speaks protocol %d", version, PROTOCOL_VERSION);
	jw_object_begin(out);
	jw_key(out, "protocol");
	jw_int(out, PROTOCOL_VERSION);
	jw_key(out, "name");
	jw_string(out, IMPLEMENTATION_NAME);
	jw_key(out, "profiles");
	jw_array_begin(out);
	jw_string(out, "iova-bitmap");
	jw_string(out, "vfio-type1");
	jw_string(out, "kvm-dirty-log");
	jw_string(out, "dirty-ring-collector");
	jw_array_end(out);
	jw_object_end(out);
	return NULL;
}

static void empty_result(struct jw *out)
{
	jw_object_begin(out);
	jw_object_end(out);
}

static void errno_result(struct jw *out, int errno_value)
{
	jw_object_begin(out);
	jw_key(out, "errno");
	jw_int(out, errno_value);
	jw_object_end(out);
}

/* ---- iova-bitmap: the kit's user buffer, through callbacks ----------------------- */

/* Pinning needs the kit's answer before the next access: a round trip. */
static bool kit_pin(void *ctx, uint64_t page)
{
	char call[80];
	const struct json *answer;

	(void)ctx;
	snprintf(call, sizeof(call), "{\"op\":\"buffer.pin\",\"page\":%" PRIu64 "}", page);
	answer = proto_call(call);
	return answer->type == JSON_BOOL && answer->boolean;
}

/* Unpins and writes need no answer: they are queued and sent as one batch. */
static void kit_unpin(void *ctx, uint64_t page)
{
	char call[80];

	(void)ctx;
	snprintf(call, sizeof(call), "{\"op\":\"buffer.unpin\",\"page\":%" PRIu64 "}", page);
	proto_queue(call);
}

static void kit_or_byte(void *ctx, uint64_t page, unsigned offset, unsigned mask)
{
	char call[112];

	(void)ctx;
	snprintf(call, sizeof(call), "{\"op\":\"buffer.orByte\",\"page\":%" PRIu64 ",\"offset\":%u,\"mask\":%u}", page, offset, mask);
	proto_queue(call);
}

static void kit_fill_bytes(void *ctx, uint64_t page, unsigned start, unsigned end, unsigned value)
{
	char call[128];

	(void)ctx;
	snprintf(call, sizeof(call), "{\"op\":\"buffer.fillBytes\",\"page\":%" PRIu64 ",\"start\":%u,\"end\":%u,\"value\":%u}", page, start, end, value);
	proto_queue(call);
}

/* A read needs the kit's answer: a round trip (after the queued writes, in order). */
static unsigned kit_read_byte(void *ctx, uint64_t page, unsigned offset)
{
	char call[96];
	const struct json *answer;

	(void)ctx;
	snprintf(call, sizeof(call), "{\"op\":\"buffer.readByte\",\"page\":%" PRIu64 ",\"offset\":%u}", page, offset);
	answer = proto_call(call);
	return answer->type == JSON_NUMBER && answer->is_int && answer->integer >= 0 && answer->integer <= 255 ? (unsigned)answer->integer : 0;
}

static const struct user_buffer kit_buffer = { NULL, kit_pin, kit_unpin, kit_or_byte, kit_fill_bytes, kit_read_byte };

static const char *op_bitmap_create(const struct json *req, struct jw *out)
{
	struct iova_bitmap_args a;
	int ret;

	if (!json_get_u64(req, "iova", &a.iova))
		return missing("iova", "a u64");
	if (!json_get_u64(req, "length", &a.length))
		return missing("length", "a u64");
	if (!json_get_u64(req, "pageSize", &a.page_size))
		return missing("pageSize", "a u64");
	if (!json_get_int(req, "offset", &a.offset))
		return missing("offset", "an integer");
	if (!json_get_int(req, "bitmapSize", &a.bitmap_size))
		return missing("bitmapSize", "an integer");
	if (!json_get_int(req, "bufferSize", &a.buffer_size))
		return missing("bufferSize", "an integer");
	if (!json_get_int(req, "maxPinnedPages", &a.max_pinned_pages) || a.max_pinned_pages < 1)
		return missing("maxPinnedPages", "a positive integer");
	/* The old instance's buffer is gone with its sequence: drop it without unpinning. */
	iova_bitmap_abandon(bitmap);
	bitmap = NULL;
	ret = iova_bitmap_alloc(&a, &kit_buffer, &bitmap);
	/* {"errno": 0, "forEach": true}: this implementation has iova-bitmap.forEach. */
	jw_object_begin(out);
	jw_key(out, "errno");
	jw_int(out, ret);
	if (ret == 0) {
		jw_key(out, "forEach");
		jw_bool(out, true);
	}
	jw_object_end(out);
	return NULL;
}

/* A range the kit's bitmap.window answer asks to record. */
struct window_set {
	uint64_t iova, length;
};

/*
 * The iova_bitmap_for_each callback: asks the kit's `bitmap.window` what to record in
 * [iova, iova + length), records it with iova_bitmap_set, and returns the kit's `ret`.
 * The answer is copied first: recording makes further calls, which end its lifetime.
 */
static int kit_window(struct iova_bitmap *b, uint64_t iova, uint64_t length, void *opaque)
{
	char call[128];
	const struct json *answer, *set, *ret, *item;
	struct window_set *sets;
	size_t n, i = 0;
	int64_t result;
	bool *malformed = opaque;

	snprintf(call, sizeof(call), "{\"op\":\"bitmap.window\",\"iova\":\"0x%" PRIx64 "\",\"length\":\"0x%" PRIx64 "\"}", iova, length);
	answer = proto_call(call);
	set = json_get(answer, "set");
	ret = json_get(answer, "ret");
	if (set == NULL || set->type != JSON_ARRAY || ret == NULL || ret->type != JSON_NUMBER || !ret->is_int || ret->integer > 0 || ret->integer < -4095) {
		*malformed = true;
		return -EINVAL;
	}
	result = ret->integer;
	n = json_count(set);
	sets = calloc(n > 0 ? n : 1, sizeof(*sets));
	if (sets == NULL) {
		*malformed = true;
		return -ENOMEM;
	}
	for (item = set->child; item != NULL; item = item->next, i++) {
		if (!json_get_u64(item, "iova", &sets[i].iova) || !json_get_u64(item, "length", &sets[i].length)) {
			free(sets);
			*malformed = true;
			return -EINVAL;
		}
	}
	for (i = 0; i < n; i++)
		iova_bitmap_set(b, sets[i].iova, sets[i].length);
	free(sets);
	return (int)result;
}

static const char *op_bitmap_for_each(const struct json *req, struct jw *out)
{
	bool malformed = false;
	int ret;

	(void)req;
	if (bitmap == NULL)
		return "iova-bitmap.forEach without an iova-bitmap instance";
	ret = iova_bitmap_for_each(bitmap, &malformed, kit_window);
	if (malformed)
		return "bitmap.window answered something other than {\"set\": [{\"iova\", \"length\"}], \"ret\": E}";
	errno_result(out, ret);
	return NULL;
}

static const char *op_bitmap_set(const struct json *req, struct jw *out)
{
	uint64_t iova, length;

	if (bitmap == NULL)
		return "iova-bitmap.set without an iova-bitmap instance";
	if (!json_get_u64(req, "iova", &iova))
		return missing("iova", "a u64");
	if (!json_get_u64(req, "length", &length))
		return missing("length", "a u64");
	errno_result(out, iova_bitmap_set(bitmap, iova, length));
	return NULL;
}

static const char *op_bitmap_free(const struct json *req, struct jw *out)
{
	(void)req;
	iova_bitmap_free(bitmap);
	bitmap = NULL;
	empty_result(out);
	return NULL;
}

/* ---- vfio-type1 ------------------------------------------------------------------ */

/* A struct vfio_bitmap: {"pgsize": u64, "size": u64, "data": bytes (optional)}; data is malloc'd. */
static const char *get_vfio_bitmap(const struct json *obj, struct vfio_bitmap *b, uint8_t **data)
{
	size_t len = 0;

	*data = NULL;
	if (obj == NULL || obj->type != JSON_OBJECT)
		return missing("bitmap", "an object");
	if (!json_get_u64(obj, "pgsize", &b->pgsize))
		return missing("bitmap.pgsize", "a u64");
	if (!json_get_u64(obj, "size", &b->size))
		return missing("bitmap.size", "a u64");
	if (json_get(obj, "data") != NULL && !json_get_bytes(obj, "data", data, &len))
		return missing("bitmap.data", "a string of hex pairs");
	b->data = *data;
	b->data_len = len;
	return NULL;
}

static const char *op_vfio_create(const struct json *req, struct jw *out)
{
	bool hw_dirty;
	int64_t limit = DEFAULT_DMA_ENTRY_LIMIT;

	if (!json_get_bool(req, "hwDirty", &hw_dirty))
		return missing("hwDirty", "a boolean");
	if (json_get(req, "dmaEntryLimit") != NULL && (!json_get_int(req, "dmaEntryLimit", &limit) || limit < 0 || limit > UINT32_MAX))
		return missing("dmaEntryLimit", "an integer in [0, 2^32)");
	vfio_container_free(container);
	container = vfio_container_create(hw_dirty, (uint32_t)limit);
	if (container == NULL)
		return "out of memory";
	jw_object_begin(out);
	jw_key(out, "vaddrLimit");
	jw_u64(out, vfio_vaddr_limit(container));
	jw_key(out, "dmaRw");
	jw_bool(out, true);
	/* vfio-type1.detachDevice and attachDevice: the device's group out of the container and back. */
	jw_key(out, "groups");
	jw_bool(out, true);
	jw_object_end(out);
	return NULL;
}

static const char *op_vfio_check_extension(const struct json *req, struct jw *out)
{
	int64_t extension;

	if (container == NULL)
		return "no vfio-type1 instance: vfio-type1.create first";
	if (!json_get_int(req, "extension", &extension))
		return missing("extension", "an integer");
	jw_object_begin(out);
	jw_key(out, "value");
	jw_int(out, vfio_check_extension(container, extension));
	jw_object_end(out);
	return NULL;
}

static const char *op_vfio_get_info(const struct json *req, struct jw *out)
{
	struct vfio_info info;

	(void)req;
	if (container == NULL)
		return "no vfio-type1 instance: vfio-type1.create first";
	vfio_get_info(container, &info);
	jw_object_begin(out);
	jw_key(out, "errno");
	jw_int(out, info.ret);
	jw_key(out, "flags");
	jw_int(out, info.flags);
	jw_key(out, "iovaPgsizes");
	jw_u64(out, info.iova_pgsizes);
	jw_key(out, "migration");
	jw_object_begin(out);
	jw_key(out, "flags");
	jw_int(out, info.migration_flags);
	jw_key(out, "pgsizeBitmap");
	jw_u64(out, info.migration_pgsize_bitmap);
	jw_key(out, "maxDirtyBitmapSize");
	jw_u64(out, info.max_dirty_bitmap_size);
	jw_object_end(out);
	jw_key(out, "dmaAvail");
	jw_int(out, info.dma_avail);
	jw_key(out, "iovaRanges");
	jw_array_begin(out);
	jw_object_begin(out);
	jw_key(out, "start");
	jw_u64(out, info.iova_start);
	jw_key(out, "end");
	jw_u64(out, info.iova_end);
	jw_object_end(out);
	jw_array_end(out);
	jw_object_end(out);
	return NULL;
}

static const char *op_vfio_map_dma(const struct json *req, struct jw *out)
{
	uint32_t flags;
	uint64_t vaddr, iova, size;

	if (container == NULL)
		return "no vfio-type1 instance: vfio-type1.create first";
	if (!get_flags(req, "flags", &flags))
		return missing("flags", "an integer in [0, 2^32)");
	if (!json_get_u64(req, "vaddr", &vaddr))
		return missing("vaddr", "a u64");
	if (!json_get_u64(req, "iova", &iova))
		return missing("iova", "a u64");
	if (!json_get_u64(req, "size", &size))
		return missing("size", "a u64");
	errno_result(out, vfio_map_dma(container, flags, vaddr, iova, size));
	return NULL;
}

static const char *op_vfio_unmap_dma(const struct json *req, struct jw *out)
{
	uint32_t flags;
	uint64_t iova, size, unmapped;
	struct vfio_bitmap b;
	uint8_t *data = NULL;
	struct dirty_report report = { NULL, 0 };
	const char *err;
	bool has_bitmap = json_get(req, "bitmap") != NULL;
	int ret;

	if (container == NULL)
		return "no vfio-type1 instance: vfio-type1.create first";
	if (!get_flags(req, "flags", &flags))
		return missing("flags", "an integer in [0, 2^32)");
	if (!json_get_u64(req, "iova", &iova))
		return missing("iova", "a u64");
	if (!json_get_u64(req, "size", &size))
		return missing("size", "a u64");
	if (has_bitmap && (err = get_vfio_bitmap(json_get(req, "bitmap"), &b, &data)) != NULL)
		return err;
	ret = vfio_unmap_dma(container, flags, iova, size, has_bitmap ? &b : NULL, &unmapped, &report);
	jw_object_begin(out);
	jw_key(out, "errno");
	jw_int(out, ret);
	jw_key(out, "unmapped");
	jw_u64(out, unmapped);
	if (report.bytes != NULL) {
		jw_key(out, "bitmap");
		jw_bytes(out, report.bytes, report.len);
	}
	jw_object_end(out);
	free(report.bytes);
	free(data);
	return NULL;
}

static const char *op_vfio_dirty_pages(const struct json *req, struct jw *out)
{
	uint32_t flags;
	const struct json *range = json_get(req, "range");
	uint64_t iova = 0, size = 0;
	struct vfio_bitmap b;
	uint8_t *data = NULL;
	struct dirty_report report = { NULL, 0 };
	const char *err;
	int ret;

	if (container == NULL)
		return "no vfio-type1 instance: vfio-type1.create first";
	if (!get_flags(req, "flags", &flags))
		return missing("flags", "an integer in [0, 2^32)");
	if (range != NULL) {
		if (!json_get_u64(range, "iova", &iova))
			return missing("range.iova", "a u64");
		if (!json_get_u64(range, "size", &size))
			return missing("range.size", "a u64");
		if ((err = get_vfio_bitmap(json_get(range, "bitmap"), &b, &data)) != NULL)
			return err;
	}
	ret = vfio_dirty_pages(container, flags, range != NULL, iova, size, range != NULL ? &b : NULL, &report);
	free(data);
	if (ret == VFIO_NEEDS_RANGE)
		return "VFIO_IOMMU_DIRTY_PAGES: a bitmap operation needs a range";
	jw_object_begin(out);
	jw_key(out, "errno");
	jw_int(out, ret);
	if (report.bytes != NULL) {
		jw_key(out, "bitmap");
		jw_bytes(out, report.bytes, report.len);
	}
	jw_object_end(out);
	free(report.bytes);
	return NULL;
}

static const char *op_vfio_device_dma_write(const struct json *req, struct jw *out)
{
	uint64_t iova;

	if (container == NULL)
		return "no vfio-type1 instance: vfio-type1.create first";
	if (!json_get_u64(req, "iova", &iova))
		return missing("iova", "a u64");
	jw_object_begin(out);
	jw_key(out, "ok");
	jw_bool(out, vfio_device_dma_write(container, iova));
	jw_object_end(out);
	return NULL;
}

/* vfio-type1.detachDevice and vfio-type1.attachDevice: {"errno": E}. */
static const char *vfio_group_op(struct jw *out, int (*op)(struct vfio_container *))
{
	if (container == NULL)
		return "no vfio-type1 instance: vfio-type1.create first";
	jw_object_begin(out);
	jw_key(out, "errno");
	jw_int(out, op(container));
	jw_object_end(out);
	return NULL;
}

static const char *op_vfio_detach_device(const struct json *req, struct jw *out)
{
	(void)req;
	return vfio_group_op(out, vfio_detach_device);
}

static const char *op_vfio_attach_device(const struct json *req, struct jw *out)
{
	(void)req;
	return vfio_group_op(out, vfio_attach_device);
}

static const char *op_vfio_dma_rw(const struct json *req, struct jw *out)
{
	uint64_t iova;
	int64_t length;
	bool write;

	if (container == NULL)
		return "no vfio-type1 instance: vfio-type1.create first";
	if (!json_get_u64(req, "iova", &iova))
		return missing("iova", "a u64");
	if (!json_get_int(req, "length", &length) || length < 0)
		return missing("length", "an integer >= 0");
	if (!json_get_bool(req, "write", &write))
		return missing("write", "a boolean");
	jw_object_begin(out);
	jw_key(out, "errno");
	jw_int(out, vfio_dma_rw(container, iova, (uint64_t)length, write));
	jw_object_end(out);
	return NULL;
}

/* ---- kvm-dirty-log: the vCPU's racing writes, through the vcpu.between callback ---- */

/* A u64 value node: "0x" and 1 to 16 hex digits. */
static bool u64_node(const struct json *v, uint64_t *out)
{
	uint64_t x = 0;

	if (v == NULL || v->type != JSON_STRING || v->len < 3 || v->len > 18 || v->string[0] != '0' || (v->string[1] != 'x' && v->string[1] != 'X'))
		return false;
	for (size_t i = 2; i < v->len; i++) {
		char c = v->string[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		if (d < 0)
			return false;
		x = x << 4 | (uint64_t)d;
	}
	*out = x;
	return true;
}

/* The kit answers which guest pages the vCPU writes now (it needs the answer: a round trip). */
static size_t kit_between(void *ctx, uint64_t *gpas, size_t max)
{
	const struct json *answer = proto_call("{\"op\":\"vcpu.between\"}");
	const struct json *writes = json_get(answer, "writes");
	size_t n = 0;

	(void)ctx;
	for (const struct json *w = writes == NULL || writes->type != JSON_ARRAY ? NULL : writes->child; w != NULL && n < max; w = w->next)
		if (u64_node(w, &gpas[n]))
			n++;
	return n;
}

static const struct kvm_vcpu_races kit_vcpu = { NULL, kit_between };

static const char *need_vm(void)
{
	return vm == NULL ? "a kvm-dirty-log request before kvm-dirty-log.create" : NULL;
}

static const char *op_kvm_create(const struct json *req, struct jw *out)
{
	bool hw_dirty, eager_split, ring;

	/* hwDirty and eagerSplit choose how a real VM protects and splits; this one logs every write, so it needs neither. */
	if (!json_get_bool(req, "hwDirty", &hw_dirty))
		return missing("hwDirty", "a boolean");
	if (!json_get_bool(req, "eagerSplit", &eager_split))
		return missing("eagerSplit", "a boolean");
	if (!json_get_bool(req, "dirtyRingExclusive", &ring))
		return missing("dirtyRingExclusive", "a boolean");
	kvm_vm_free(vm);
	vm = kvm_vm_create(ring, &kit_vcpu);
	if (vm == NULL)
		return "out of memory";
	jw_object_begin(out);
	jw_key(out, "userMemSlots");
	jw_int(out, KVM_USER_MEM_SLOTS);
	jw_key(out, "addressSpaces");
	jw_int(out, KVM_ADDRESS_SPACE_NUM);
	jw_key(out, "readonlyMem");
	jw_bool(out, true);
	jw_key(out, "userAddressLimit");
	jw_u64(out, KVM_USER_ADDRESS_LIMIT);
	jw_key(out, "kvmWrite");
	jw_bool(out, true);
	jw_object_end(out);
	return NULL;
}

static const char *op_kvm_set_user_memory_region(const struct json *req, struct jw *out)
{
	struct kvm_region r;

	if (need_vm() != NULL)
		return need_vm();
	if (!get_flags(req, "slot", &r.slot))
		return missing("slot", "a u32");
	if (!get_flags(req, "flags", &r.flags))
		return missing("flags", "a u32");
	if (!json_get_u64(req, "guestPhysAddr", &r.guest_phys_addr))
		return missing("guestPhysAddr", "a u64");
	if (!json_get_u64(req, "memorySize", &r.memory_size))
		return missing("memorySize", "a u64");
	if (!json_get_u64(req, "userspaceAddr", &r.userspace_addr))
		return missing("userspaceAddr", "a u64");
	errno_result(out, kvm_set_user_memory_region(vm, &r));
	return NULL;
}

static const char *op_kvm_enable_cap(const struct json *req, struct jw *out)
{
	uint32_t cap, flags;
	uint64_t args0;

	if (need_vm() != NULL)
		return need_vm();
	if (!get_flags(req, "cap", &cap))
		return missing("cap", "a u32");
	if (!get_flags(req, "flags", &flags))
		return missing("flags", "a u32");
	if (!json_get_u64(req, "args0", &args0))
		return missing("args0", "a u64");
	errno_result(out, kvm_enable_cap(vm, cap, flags, args0));
	return NULL;
}

static const char *op_kvm_check_extension(const struct json *req, struct jw *out)
{
	uint32_t cap;

	if (need_vm() != NULL)
		return need_vm();
	if (!get_flags(req, "cap", &cap))
		return missing("cap", "a u32");
	jw_object_begin(out);
	jw_key(out, "value");
	jw_int(out, kvm_check_extension(vm, cap));
	jw_object_end(out);
	return NULL;
}

static const char *op_kvm_get_dirty_log(const struct json *req, struct jw *out)
{
	uint32_t slot;
	int64_t bytes;
	uint8_t *buf;
	size_t size = 0;
	int ret;

	if (need_vm() != NULL)
		return need_vm();
	if (!get_flags(req, "slot", &slot))
		return missing("slot", "a u32");
	if (!json_get_int(req, "bitmapBytes", &bytes) || bytes < 0 || bytes > (int64_t)PROTO_MAX_LINE)
		return missing("bitmapBytes", "a count");
	buf = calloc((size_t)bytes + 1, 1);
	if (buf == NULL)
		return "out of memory";
	ret = kvm_get_dirty_log(vm, slot, buf, (size_t)bytes, &size);
	jw_object_begin(out);
	jw_key(out, "errno");
	jw_int(out, ret);
	if (ret == 0) {
		jw_key(out, "bitmap");
		jw_bytes(out, buf, size);
	}
	jw_object_end(out);
	free(buf);
	return NULL;
}

static const char *op_kvm_clear_dirty_log(const struct json *req, struct jw *out)
{
	uint32_t slot, num_pages;
	uint64_t first_page;
	uint8_t *bitmap = NULL;
	size_t len = 0;

	if (need_vm() != NULL)
		return need_vm();
	if (!get_flags(req, "slot", &slot))
		return missing("slot", "a u32");
	if (!json_get_u64(req, "firstPage", &first_page))
		return missing("firstPage", "a u64");
	if (!get_flags(req, "numPages", &num_pages))
		return missing("numPages", "a u32");
	if (!json_get_bytes(req, "bitmap", &bitmap, &len))
		return missing("bitmap", "a byte string");
	errno_result(out, kvm_clear_dirty_log(vm, slot, first_page, num_pages, bitmap, len));
	free(bitmap);
	return NULL;
}

static const char *op_kvm_vcpu_write(const struct json *req, struct jw *out)
{
	uint64_t gpa;

	if (need_vm() != NULL)
		return need_vm();
	if (!json_get_u64(req, "gpa", &gpa))
		return missing("gpa", "a u64");
	jw_object_begin(out);
	jw_key(out, "exit");
	jw_string(out, kvm_vcpu_write(vm, gpa) ? "none" : "mmio");
	jw_object_end(out);
	return NULL;
}

/* KVM writes the page itself, without a running vCPU (KVM-LOG-9). */
static const char *op_kvm_kvm_write(const struct json *req, struct jw *out)
{
	uint64_t gpa;

	if (need_vm() != NULL)
		return need_vm();
	if (!json_get_u64(req, "gpa", &gpa))
		return missing("gpa", "a u64");
	kvm_write_without_vcpu(vm, gpa);
	jw_object_begin(out);
	jw_object_end(out);
	return NULL;
}

/* ---- dirty-ring-collector: the kit's ring memory and KVM, through callbacks ------- */

static const char *const ring_orders[] = { "relaxed", "acquire", "release" };

/* A load's value decides what the collector does next: a round trip. */
static uint32_t kit_ring_load32(void *ctx, uint64_t addr, enum ring_order order)
{
	char call[96];
	const struct json *answer;

	(void)ctx;
	snprintf(call, sizeof(call), "{\"op\":\"ring.load32\",\"addr\":%" PRIu64 ",\"order\":\"%s\"}", addr, ring_orders[order]);
	answer = proto_call(call);
	if (answer->type != JSON_NUMBER || !answer->is_int || answer->integer < 0 || answer->integer > UINT32_MAX) {
		fprintf(stderr, "dirtyspec-c: ring.load32 answered something other than a u32\n");
		exit(2);
	}
	return (uint32_t)answer->integer;
}

static uint64_t kit_ring_load64(void *ctx, uint64_t addr, enum ring_order order)
{
	char call[96];
	uint64_t v;

	(void)ctx;
	snprintf(call, sizeof(call), "{\"op\":\"ring.load64\",\"addr\":%" PRIu64 ",\"order\":\"%s\"}", addr, ring_orders[order]);
	if (!u64_node(proto_call(call), &v)) {
		fprintf(stderr, "dirtyspec-c: ring.load64 answered something other than a u64\n");
		exit(2);
	}
	return v;
}

/* A store needs no answer: queued, sent in order before the next call that needs one. */
static void kit_ring_store32(void *ctx, uint64_t addr, uint32_t value, enum ring_order order)
{
	char call[128];

	(void)ctx;
	snprintf(call, sizeof(call), "{\"op\":\"ring.store32\",\"addr\":%" PRIu64 ",\"value\":%" PRIu32 ",\"order\":\"%s\"}", addr, value, ring_orders[order]);
	proto_queue(call);
}

static int kit_reset_dirty_rings(void *ctx)
{
	const struct json *answer = proto_call("{\"op\":\"collector.resetDirtyRings\"}");

	(void)ctx;
	if (answer->type != JSON_NUMBER || !answer->is_int || answer->integer < -4095 || answer->integer > INT32_MAX) {
		fprintf(stderr, "dirtyspec-c: collector.resetDirtyRings answered something other than a count or an errno\n");
		exit(2);
	}
	return (int)answer->integer;
}

static void kit_copy_page(void *ctx, uint32_t slot, uint64_t offset)
{
	char call[112];

	(void)ctx;
	snprintf(call, sizeof(call), "{\"op\":\"collector.copyPage\",\"slot\":%" PRIu32 ",\"offset\":%" PRIu64 "}", slot, offset);
	proto_queue(call);
}

static bool kit_get_dirty_log(void *ctx, uint32_t slot, uint8_t *bitmap, size_t bytes)
{
	char call[80];
	const struct json *answer;

	(void)ctx;
	snprintf(call, sizeof(call), "{\"op\":\"collector.getDirtyLog\",\"slot\":%" PRIu32 "}", slot);
	answer = proto_call(call);
	if (answer->type != JSON_STRING || answer->len != 2 * bytes)
		return false;
	for (size_t i = 0; i < bytes; i++) {
		unsigned v;

		if (sscanf(answer->string + 2 * i, "%2x", &v) != 1)
			return false;
		bitmap[i] = (uint8_t)v;
	}
	return true;
}

static const struct ring_memory kit_ring = { NULL, kit_ring_load32, kit_ring_load64, kit_ring_store32 };
static const struct collector_host kit_host = { NULL, kit_reset_dirty_rings, kit_copy_page, kit_get_dirty_log };

static const char *need_collector(void)
{
	return collector == NULL ? "a dirty-ring-collector request before dirty-ring-collector.create" : NULL;
}

static const char *op_collector_create(const struct json *req, struct jw *out)
{
	bool with_bitmap;
	const struct json *slots = json_get(req, "memslots");
	struct collector_memslot *memslots;
	size_t n = 0;

	if (!json_get_bool(req, "withBitmap", &with_bitmap))
		return missing("withBitmap", "a boolean");
	if (slots == NULL || slots->type != JSON_ARRAY)
		return missing("memslots", "an array");
	memslots = calloc(json_count(slots) + 1, sizeof(*memslots));
	if (memslots == NULL)
		return "out of memory";
	for (const struct json *m = slots->child; m != NULL; m = m->next, n++) {
		int64_t npages;

		if (!get_flags(m, "slot", &memslots[n].slot) || !json_get_int(m, "npages", &npages) || npages < 0 || npages > UINT32_MAX) {
			free(memslots);
			return missing("memslots", "an array of {slot, npages}");
		}
		memslots[n].npages = (uint32_t)npages;
	}
	collector_free(collector);
	collector = collector_create(&kit_ring, &kit_host, with_bitmap, memslots, n);
	free(memslots);
	if (collector == NULL)
		return "out of memory";
	empty_result(out);
	return NULL;
}

static const char *op_collector_add_ring(const struct json *req, struct jw *out)
{
	int64_t base, entries;
	int ret;

	if (need_collector() != NULL)
		return need_collector();
	if (!json_get_int(req, "base", &base) || base < 0)
		return missing("base", "an address");
	if (!json_get_int(req, "entries", &entries) || entries < 1 || entries > UINT32_MAX)
		return missing("entries", "a count");
	ret = collector_add_ring(collector, (uint64_t)base, (uint32_t)entries);
	if (ret != 0)
		return failf("addRing(%" PRId64 ", %" PRId64 "): %d (entries must be a power of two, base 16-byte aligned)", base, entries, ret);
	empty_result(out);
	return NULL;
}

static const char *op_collector_sync(const struct json *req, struct jw *out)
{
	bool final;
	int ret;

	if (need_collector() != NULL)
		return need_collector();
	if (!json_get_bool(req, "final", &final))
		return missing("final", "a boolean");
	ret = collector_sync(collector, final);
	if (ret != 0)
		return failf("sync: a call failed with %d", ret);
	empty_result(out);
	return NULL;
}

/* ---- dispatch -------------------------------------------------------------------- */

static const struct {
	const char *op;
	handler_fn *fn;
} handlers[] = {
	{ "hello", op_hello },
	{ "iova-bitmap.create", op_bitmap_create },
	{ "iova-bitmap.set", op_bitmap_set },
	{ "iova-bitmap.forEach", op_bitmap_for_each },
	{ "iova-bitmap.free", op_bitmap_free },
	{ "vfio-type1.create", op_vfio_create },
	{ "vfio-type1.checkExtension", op_vfio_check_extension },
	{ "vfio-type1.getInfo", op_vfio_get_info },
	{ "vfio-type1.mapDma", op_vfio_map_dma },
	{ "vfio-type1.unmapDma", op_vfio_unmap_dma },
	{ "vfio-type1.dirtyPages", op_vfio_dirty_pages },
	{ "vfio-type1.deviceDmaWrite", op_vfio_device_dma_write },
	{ "vfio-type1.dmaRw", op_vfio_dma_rw },
	{ "vfio-type1.detachDevice", op_vfio_detach_device },
	{ "vfio-type1.attachDevice", op_vfio_attach_device },
	{ "kvm-dirty-log.create", op_kvm_create },
	{ "kvm-dirty-log.setUserMemoryRegion", op_kvm_set_user_memory_region },
	{ "kvm-dirty-log.enableCap", op_kvm_enable_cap },
	{ "kvm-dirty-log.checkExtension", op_kvm_check_extension },
	{ "kvm-dirty-log.getDirtyLog", op_kvm_get_dirty_log },
	{ "kvm-dirty-log.clearDirtyLog", op_kvm_clear_dirty_log },
	{ "kvm-dirty-log.vcpuWrite", op_kvm_vcpu_write },
	{ "kvm-dirty-log.kvmWrite", op_kvm_kvm_write },
	{ "dirty-ring-collector.create", op_collector_create },
	{ "dirty-ring-collector.addRing", op_collector_add_ring },
	{ "dirty-ring-collector.sync", op_collector_sync },
};

/* Answers one request line; returns false after `bye`. */
static bool serve(const char *line, size_t len, struct jw *result)
{
	char err[160];
	struct json_doc *doc = json_parse(line, len, err, sizeof(err));
	const struct json *req, *op;
	const char *failure = NULL;
	int64_t id;
	bool more = true;
	size_t i;

	if (doc == NULL) {
		fprintf(stderr, "dirtyspec-c: a request that is not JSON (%s): %.200s\n", err, line);
		exit(2);
	}
	req = json_root(doc);
	if (!json_get_int(req, "id", &id)) {
		fprintf(stderr, "dirtyspec-c: a message without a request id: %.200s\n", line);
		exit(2);
	}
	op = json_get(req, "op");
	jw_reset(result);
	if (op == NULL || op->type != JSON_STRING) {
		failure = "a request without an \"op\" string";
	} else if (strcmp(op->string, "bye") == 0) {
		empty_result(result);
		more = false;
	} else {
		for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
			if (strcmp(op->string, handlers[i].op) == 0)
				break;
		if (i == sizeof(handlers) / sizeof(handlers[0]))
			failure = failf("unknown op \"%.100s\"", op->string);
		else
			failure = handlers[i].fn(req, result);
	}
	/* Writes still queued for the kit's buffer go before the reply. */
	proto_flush();
	if (failure != NULL)
		proto_reply_error(id, "%s", failure);
	else
		proto_reply(id, result);
	json_free(doc);
	return more;
}

int main(void)
{
	struct jw result;
	const char *line;
	long len;
	bool more = true;

	jw_init(&result);
	while (more && (len = proto_read_line(&line)) >= 0)
		more = serve(line, (size_t)len, &result);
	jw_free(&result);
	iova_bitmap_abandon(bitmap);
	vfio_container_free(container);
	kvm_vm_free(vm);
	collector_free(collector);
	proto_close();
	return 0;
}
