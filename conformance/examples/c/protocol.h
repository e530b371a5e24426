/*
 * The dirtyspec adapter protocol, version 1 (conformance/protocol/PROTOCOL.md): one JSON
 * object per line on stdin (from the kit) and stdout (to the kit).
 *
 * This file gives the implementation three things:
 *   - a small JSON reader: enough for the protocol's messages (objects, arrays, strings
 *     with escapes, numbers, true/false/null), with typed getters for the protocol's
 *     value kinds (small integers, "0x..." u64 strings, hex byte strings);
 *   - a JSON writer that builds one message in memory and sends it with a flush;
 *   - callbacks: calls to memory the kit owns, answered by the kit before the next one,
 *     with a queue for calls that need no answer (sent as one `batch`).
 */
#ifndef DIRTYSPEC_PROTOCOL_H
#define DIRTYSPEC_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest line either side may send (PROTOCOL.md, Framing). */
#define PROTO_MAX_LINE (16u * 1024u * 1024u)
/* Most calls in one `batch` callback (PROTOCOL.md, Batching). */
#define PROTO_MAX_BATCH 4096u

/* ---- reading JSON ---------------------------------------------------------------- */

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
	enum json_type type;
	bool boolean;
	/* JSON_NUMBER: the value; `is_int` when the literal is an integer that fits int64. */
	double number;
	bool is_int;
	int64_t integer;
	/* JSON_STRING: the decoded bytes (UTF-8), NUL-terminated; `len` excludes the NUL. */
	const char *string;
	size_t len;
	/* JSON_ARRAY, JSON_OBJECT: the first element or member, then each one's `next`. */
	struct json *child;
	struct json *next;
	/* A member of an object: its key. */
	const char *key;
};

/* A parsed message: its nodes live in the document's arena until json_free. */
struct json_doc;

/* Parses `len` bytes; NULL on a syntax error, with a message in `err`. */
struct json_doc *json_parse(const char *text, size_t len, char *err, size_t errlen);
const struct json *json_root(const struct json_doc *doc);
void json_free(struct json_doc *doc);

/* The member `key` of an object, or NULL (also when `obj` is not an object). */
const struct json *json_get(const struct json *obj, const char *key);
/* Elements of an array (0 for anything else). */
size_t json_count(const struct json *arr);

/*
 * Typed getters for member `key` of `obj`: true and the value in *out when it is there
 * and has the protocol's shape for that kind, false otherwise.
 */
bool json_get_int(const struct json *obj, const char *key, int64_t *out);
bool json_get_bool(const struct json *obj, const char *key, bool *out);
/* A u64 travels as "0x" and 1 to 16 hex digits (PROTOCOL.md, Values). */
bool json_get_u64(const struct json *obj, const char *key, uint64_t *out);
/* A byte string travels as hex pairs, byte 0 first; *out is malloc'd (free it), may be NULL when empty. */
bool json_get_bytes(const struct json *obj, const char *key, uint8_t **out, size_t *len);

/* ---- writing JSON ---------------------------------------------------------------- */

/* A message being built: call the jw_ functions in document order, then proto_send. */
struct jw {
	char *buf;
	size_t len, cap;
	int depth;
	/* Values written so far at each depth (a comma goes before all but the first). */
	unsigned count[32];
	bool after_key;
};

void jw_init(struct jw *w);
void jw_reset(struct jw *w);
void jw_free(struct jw *w);
void jw_object_begin(struct jw *w);
void jw_object_end(struct jw *w);
void jw_array_begin(struct jw *w);
void jw_array_end(struct jw *w);
void jw_key(struct jw *w, const char *key);
void jw_int(struct jw *w, int64_t v);
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
void jw_string(struct jw *w, const char *s);
/* "0x..." lower-case hex, no leading zeros. */
void jw_u64(struct jw *w, uint64_t v);
/* Hex pairs, byte 0 first. */
void jw_bytes(struct jw *w, const uint8_t *bytes, size_t len);

/* ---- the session ----------------------------------------------------------------- */

/*
 * Reads the next line from stdin into a buffer owned by the protocol layer (valid until
 * the next call). Returns its length without the newline, or -1 at end of input. A line
 * longer than PROTO_MAX_LINE ends the process with a message on stderr.
 */
long proto_read_line(const char **line);

/* Writes the message in `w` and a newline to stdout, and flushes. */
void proto_send(struct jw *w);

/* Replies to request `id`: {"id":id,"result":<result>}, `result` a complete JSON value. */
void proto_reply(int64_t id, struct jw *result);
/* Replies to request `id` with {"id":id,"error":text}: "I cannot do this". */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void proto_reply_error(int64_t id, const char *fmt, ...);

/*
 * Callbacks. A call is one JSON object without "cb", e.g. {"op":"buffer.pin","page":3}.
 *
 * proto_queue(call): the call needs no answer; it is sent later, in order, with the
 *   next proto_call or proto_flush (one `batch` for several calls).
 * proto_call(call): sends the queued calls and this one (this one last in the batch),
 *   waits for the kit's answer and returns this call's answer, valid until the next
 *   proto_ call.
 * proto_flush(): sends the queued calls and waits for the kit's answer. Call it before
 *   replying to the request that made them.
 */
void proto_queue(const char *call);
const struct json *proto_call(const char *call);
void proto_flush(void);

/* Frees the protocol layer's buffers (at exit). */
void proto_close(void);

#endif
