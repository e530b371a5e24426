/*
 * The same library over --exec: a JSON-lines main (conformance/protocol/PROTOCOL.md) for
 * the smmu-driver profile of any implementation of the C ABI (dirtyspec.h), linked with
 * it. The kit's callbacks become protocol callbacks: memory.load, memory.cmpxchg and the
 * other accesses with an answer are round trips; stores, frees and the SMMU port need
 * none and go in one batch with the next call. Built as build/kernel-c-exec, so the same
 * driver can be checked both ways (the tests compare the verdicts and counterexamples).
 *
 * The JSON reader and writer are the C example's (../c/protocol.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../c/protocol.h"
#include "dirtyspec.h"

#define U64_ARG_MAX 96

static uint64_t answer_u64(const struct json *a)
{
	uint64_t v = 0;

	if (a->type == JSON_STRING && a->len > 2)
		v = strtoull(a->string + 2, NULL, 16);
	else if (a->type == JSON_NUMBER && a->is_int)
		v = (uint64_t)a->integer;
	return v;
}

static uint64_t kit_rmw(const char *op, const char *arg, uint64_t pa, uint64_t value)
{
	char call[160];

	snprintf(call, sizeof(call), "{\"op\":\"memory.%s\",\"address\":%" PRIu64 ",\"%s\":\"0x%" PRIx64 "\"}", op, pa, arg, value);
	return answer_u64(proto_call(call));
}

static uint64_t kit_load(void *ctx, uint64_t pa, int order)
{
	char call[U64_ARG_MAX];

	(void)ctx, (void)order;
	snprintf(call, sizeof(call), "{\"op\":\"memory.load\",\"address\":%" PRIu64 "}", pa);
	return answer_u64(proto_call(call));
}

static void kit_store(void *ctx, uint64_t pa, uint64_t value, int order)
{
	char call[U64_ARG_MAX + 32];

	(void)ctx, (void)order;
	snprintf(call, sizeof(call), "{\"op\":\"memory.store\",\"address\":%" PRIu64 ",\"value\":\"0x%" PRIx64 "\"}", pa, value);
	proto_queue(call);
}

static uint64_t kit_cmpxchg(void *ctx, uint64_t pa, uint64_t expected, uint64_t replacement, int order)
{
	char call[200];

	(void)ctx, (void)order;
	snprintf(call, sizeof(call), "{\"op\":\"memory.compareExchange\",\"address\":%" PRIu64 ",\"expected\":\"0x%" PRIx64 "\",\"replacement\":\"0x%" PRIx64 "\"}", pa, expected,
		 replacement);
	return answer_u64(proto_call(call));
}

static uint64_t kit_xchg(void *ctx, uint64_t pa, uint64_t value, int order)
{
	(void)ctx, (void)order;
	return kit_rmw("exchange", "value", pa, value);
}

static uint64_t kit_fetch_or(void *ctx, uint64_t pa, uint64_t mask, int order)
{
	(void)ctx, (void)order;
	return kit_rmw("fetchOr", "mask", pa, mask);
}

static uint64_t kit_fetch_and(void *ctx, uint64_t pa, uint64_t mask, int order)
{
	(void)ctx, (void)order;
	return kit_rmw("fetchAnd", "mask", pa, mask);
}

static uint64_t kit_alloc_frame(void *ctx)
{
	(void)ctx;
	return answer_u64(proto_call("{\"op\":\"memory.allocFrame\"}"));
}

static void kit_free_frame(void *ctx, uint64_t pa)
{
	char call[U64_ARG_MAX];

	(void)ctx;
	snprintf(call, sizeof(call), "{\"op\":\"memory.freeFrame\",\"address\":%" PRIu64 "}", pa);
	proto_queue(call);
}

static void kit_attach_stream(void *ctx, uint32_t sid, uint64_t cd)
{
	char call[U64_ARG_MAX];

	(void)ctx;
	snprintf(call, sizeof(call), "{\"op\":\"smmu.attachStream\",\"streamId\":%" PRIu32 ",\"cdAddress\":%" PRIu64 "}", sid, cd);
	proto_queue(call);
}

static void kit_detach_stream(void *ctx, uint32_t sid)
{
	char call[U64_ARG_MAX];

	(void)ctx;
	snprintf(call, sizeof(call), "{\"op\":\"smmu.detachStream\",\"streamId\":%" PRIu32 "}", sid);
	proto_queue(call);
}

static void kit_submit(void *ctx, const struct dirtyspec_cmd *cmds, uint32_t n)
{
	struct jw w;

	(void)ctx;
	jw_init(&w);
	jw_object_begin(&w);
	jw_key(&w, "op");
	jw_string(&w, "smmu.submit");
	jw_key(&w, "commands");
	jw_array_begin(&w);
	for (uint32_t i = 0; i < n; i++) {
		jw_object_begin(&w);
		jw_key(&w, "op");
		switch (cmds[i].op) {
		case DIRTYSPEC_CMD_TLBI_NH_VA:
			jw_string(&w, "CMD_TLBI_NH_VA");
			jw_key(&w, "asid");
			jw_int(&w, cmds[i].asid);
			jw_key(&w, "iova");
			jw_int(&w, (int64_t)cmds[i].iova);
			jw_key(&w, "size");
			jw_int(&w, (int64_t)cmds[i].size);
			break;
		case DIRTYSPEC_CMD_TLBI_NH_ASID:
			jw_string(&w, "CMD_TLBI_NH_ASID");
			jw_key(&w, "asid");
			jw_int(&w, cmds[i].asid);
			break;
		case DIRTYSPEC_CMD_CFGI_CD:
			jw_string(&w, "CMD_CFGI_CD");
			jw_key(&w, "streamId");
			jw_int(&w, cmds[i].stream_id);
			break;
		default:
			jw_string(&w, "CMD_SYNC");
			break;
		}
		jw_object_end(&w);
	}
	jw_array_end(&w);
	jw_object_end(&w);
	{
		char *call = malloc(w.len + 1);

		if (call) {
			memcpy(call, w.buf, w.len);
			call[w.len] = '\0';
			proto_queue(call);
			free(call);
		}
	}
	jw_free(&w);
}

static const struct dirtyspec_kit kit = {
	.abi = DIRTYSPEC_ABI_VERSION,
	.size = sizeof(struct dirtyspec_kit),
	.ctx = NULL,
	.load = kit_load,
	.store = kit_store,
	.cmpxchg = kit_cmpxchg,
	.xchg = kit_xchg,
	.fetch_or = kit_fetch_or,
	.fetch_and = kit_fetch_and,
	.alloc_frame = kit_alloc_frame,
	.free_frame = kit_free_frame,
	.attach_stream = kit_attach_stream,
	.detach_stream = kit_detach_stream,
	.submit = kit_submit,
};

static void *domain;
static char error_text[200];

static void errno_result(struct jw *out, int e)
{
	jw_object_begin(out);
	jw_key(out, "errno");
	jw_int(out, e);
	jw_object_end(out);
}

/* A bitmap for [iova, iova + size): ALIGN(pages, 64) / 8 zeroed bytes. */
static struct dirtyspec_bitmap new_bitmap(uint64_t iova, uint64_t size)
{
	struct dirtyspec_bitmap b = { NULL, iova, size, 0, 0 };

	b.cap = (size / 4096 + (size % 4096 != 0) + 63) / 64 * 8;
	b.bytes = calloc(b.cap ? b.cap : 1, 1);
	return b;
}

static const char *int_arg(const struct json *req, const char *key, int64_t *v)
{
	if (!json_get_int(req, key, v)) {
		snprintf(error_text, sizeof(error_text), "argument \"%s\" missing or not an integer", key);
		return error_text;
	}
	return NULL;
}

/* Answers one smmu-driver request; NULL or an error text. */
static const char *driver_op(const char *op, const struct json *req, struct jw *out)
{
	int64_t iova = 0, size = 0, a = 0, b = 0;
	const char *err;

	if (strcmp(op, "create") == 0) {
		struct dirtyspec_smmu_driver_config c = { 0 };
		bool dc, pg;

		if ((err = int_arg(req, "asid", &a)) || (err = int_arg(req, "idr0", &iova)) || (err = int_arg(req, "idr3", &size)))
			return err;
		if (!json_get_bool(req, "dirtyCapable", &dc) || !json_get_bool(req, "pageGranular", &pg))
			return "dirtyCapable and pageGranular must be booleans";
		c.asid = (uint32_t)a;
		c.idr0 = (uint32_t)iova;
		c.idr3 = (uint32_t)size;
		c.dirty_capable = dc;
		c.page_granular = pg;
		if (domain)
			dirtyspec_smmu_driver_destroy(domain); /* its memory was the previous sequence's */
		domain = NULL;
		if (dirtyspec_smmu_driver_create(&kit, &c, &domain) != 0)
			return "could not create the domain";
		jw_object_begin(out);
		jw_object_end(out);
		return NULL;
	}
	if (!domain)
		return "no smmu-driver instance: smmu-driver.create first";
	if (strcmp(op, "map") == 0) {
		if ((err = int_arg(req, "iova", &iova)) || (err = int_arg(req, "paddr", &a)) || (err = int_arg(req, "size", &size)) || (err = int_arg(req, "prot", &b)))
			return err;
		errno_result(out, dirtyspec_smmu_driver_map(domain, (uint64_t)iova, (uint64_t)a, (uint64_t)size, (uint32_t)b));
	} else if (strcmp(op, "unmap") == 0 || strcmp(op, "readAndClearDirty") == 0) {
		bool unmap = op[0] == 'u';
		struct dirtyspec_bitmap bm;
		uint64_t unmapped = 0;
		int ret = 0;

		if ((err = int_arg(req, "iova", &iova)) || (err = int_arg(req, "size", &size)) || (!unmap && (err = int_arg(req, "flags", &a))))
			return err;
		bm = new_bitmap((uint64_t)iova, size > 0 ? (uint64_t)size : 0);
		if (!bm.bytes)
			return "out of memory";
		if (unmap)
			unmapped = dirtyspec_smmu_driver_unmap(domain, (uint64_t)iova, (uint64_t)size, &bm);
		else
			ret = dirtyspec_smmu_driver_read_and_clear_dirty(domain, (uint64_t)iova, (uint64_t)size, (uint32_t)a, &bm);
		proto_flush();
		jw_object_begin(out);
		jw_key(out, unmap ? "unmapped" : "errno");
		jw_int(out, unmap ? (int64_t)unmapped : ret);
		jw_key(out, "dirty");
		jw_bytes(out, bm.bytes, bm.len <= bm.cap ? bm.len : bm.cap);
		jw_object_end(out);
		free(bm.bytes);
	} else if (strcmp(op, "splitBlock") == 0) {
		if ((err = int_arg(req, "iova", &iova)))
			return err;
		errno_result(out, dirtyspec_smmu_driver_split_block(domain, (uint64_t)iova));
	} else if (strcmp(op, "mergePages") == 0) {
		if ((err = int_arg(req, "iova", &iova)) || (err = int_arg(req, "level", &a)))
			return err;
		errno_result(out, dirtyspec_smmu_driver_merge_pages(domain, (uint64_t)iova, (uint32_t)a));
	} else if (strcmp(op, "setDirtyTracking") == 0) {
		bool enable;

		if (!json_get_bool(req, "enable", &enable))
			return "enable must be a boolean";
		errno_result(out, dirtyspec_smmu_driver_set_dirty_tracking(domain, enable));
	} else if (strcmp(op, "attach") == 0) {
		if ((err = int_arg(req, "streamId", &a)))
			return err;
		errno_result(out, dirtyspec_smmu_driver_attach(domain, (uint32_t)a));
	} else {
		snprintf(error_text, sizeof(error_text), "unknown op \"smmu-driver.%.100s\"", op);
		return error_text;
	}
	return NULL;
}

int main(void)
{
	struct dirtyspec_hello hello;
	struct jw result;
	const char *line;
	long len;
	bool more = true;

	if (dirtyspec_hello(DIRTYSPEC_ABI_VERSION, &hello) != 0) {
		fprintf(stderr, "kernel-c-exec: dirtyspec_hello failed\n");
		return 2;
	}
	jw_init(&result);
	while (more && (len = proto_read_line(&line)) >= 0) {
		char err[160];
		struct json_doc *doc = json_parse(line, (size_t)len, err, sizeof(err));
		const struct json *req, *op;
		const char *failure = NULL;
		int64_t id;

		if (!doc || !json_get_int(json_root(doc), "id", &id)) {
			fprintf(stderr, "kernel-c-exec: a request that is not JSON with an id: %.200s\n", line);
			return 2;
		}
		req = json_root(doc);
		op = json_get(req, "op");
		jw_reset(&result);
		if (!op || op->type != JSON_STRING) {
			failure = "a request without an \"op\" string";
		} else if (strcmp(op->string, "hello") == 0) {
			jw_object_begin(&result);
			jw_key(&result, "protocol");
			jw_int(&result, 1);
			jw_key(&result, "name");
			jw_string(&result, hello.name);
			jw_key(&result, "profiles");
			jw_array_begin(&result);
			jw_string(&result, "smmu-driver");
			jw_array_end(&result);
			jw_object_end(&result);
		} else if (strcmp(op->string, "bye") == 0) {
			jw_object_begin(&result);
			jw_object_end(&result);
			more = false;
		} else if (strncmp(op->string, "smmu-driver.", 12) == 0) {
			failure = driver_op(op->string + 12, req, &result);
		} else {
			snprintf(error_text, sizeof(error_text), "unknown op \"%.100s\"", op->string);
			failure = error_text;
		}
		proto_flush();
		if (failure)
			proto_reply_error(id, "%s", failure);
		else
			proto_reply(id, &result);
		json_free(doc);
	}
	jw_free(&result);
	proto_close();
	return 0;
}
