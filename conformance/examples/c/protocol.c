/*
 * The dirtyspec adapter protocol, version 1: framing, a small JSON reader and writer,
 * and callbacks. See protocol.h and conformance/protocol/PROTOCOL.md.
 */
#define _POSIX_C_SOURCE 200809L /* getline */

#include "protocol.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("dirtyspec-c: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL)
		fatal("out of memory (%zu bytes)", n);
	return p;
}

/* ---- the arena a parsed document lives in ----------------------------------------- */

struct chunk {
	struct chunk *prev;
	size_t used, size;
	_Alignas(max_align_t) unsigned char data[];
};

struct json_doc {
	struct chunk *chunks;
	struct json *root;
};

static void *arena_alloc(struct json_doc *doc, size_t n)
{
	const size_t align = _Alignof(max_align_t);
	struct chunk *c = doc->chunks;

	n = (n + align - 1) / align * align;
	if (c == NULL || c->size - c->used < n) {
		size_t size = n > 16384 ? n : 16384;

		c = xrealloc(NULL, sizeof(*c) + size);
		c->prev = doc->chunks;
		c->used = 0;
		c->size = size;
		doc->chunks = c;
	}
	c->used += n;
	return c->data + c->used - n;
}

void json_free(struct json_doc *doc)
{
	if (doc == NULL)
		return;
	while (doc->chunks != NULL) {
		struct chunk *prev = doc->chunks->prev;

		free(doc->chunks);
		doc->chunks = prev;
	}
	free(doc);
}

const struct json *json_root(const struct json_doc *doc)
{
	return doc->root;
}

/* ---- the parser (RFC 8259, recursive descent) ------------------------------------- */

#define MAX_DEPTH 64

struct parser {
	const char *p, *end;
	struct json_doc *doc;
	char *err;
	size_t errlen;
	int depth;
};

static bool parse_error(struct parser *ps, const char *what)
{
	if (ps->err[0] == '\0')
		snprintf(ps->err, ps->errlen, "%s", what);
	return false;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static bool literal(struct parser *ps, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
		return parse_error(ps, "unknown literal");
	ps->p += n;
	return true;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool read_hex4(struct parser *ps, unsigned *out)
{
	unsigned v = 0;

	if (ps->end - ps->p < 4)
		return parse_error(ps, "short \\u escape");
	for (int i = 0; i < 4; i++) {
		int d = hex_digit(ps->p[i]);

		if (d < 0)
			return parse_error(ps, "bad \\u escape");
		v = v << 4 | (unsigned)d;
	}
	ps->p += 4;
	*out = v;
	return true;
}

static size_t put_utf8(char *out, unsigned cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A string; ps->p is at the opening quote. Escapes never make a string longer. */
static bool parse_string(struct parser *ps, const char **out, size_t *outlen)
{
	const char *start = ++ps->p;
	const char *q = start;
	char *s, *w;

	while (q < ps->end && *q != '"') /* find the end to size the copy */
		q += *q == '\\' ? 2 : 1;
	if (q >= ps->end)
		return parse_error(ps, "unterminated string");
	s = w = arena_alloc(ps->doc, (size_t)(q - start) + 1);
	while (*ps->p != '"') {
		unsigned char c = (unsigned char)*ps->p++;

		if (c < 0x20)
			return parse_error(ps, "control character in string");
		if (c != '\\') {
			*w++ = (char)c;
			continue;
		}
		switch (*ps->p++) {
		case '"': *w++ = '"'; break;
		case '\\': *w++ = '\\'; break;
		case '/': *w++ = '/'; break;
		case 'b': *w++ = '\b'; break;
		case 'f': *w++ = '\f'; break;
		case 'n': *w++ = '\n'; break;
		case 'r': *w++ = '\r'; break;
		case 't': *w++ = '\t'; break;
		case 'u': {
			unsigned cp, lo;

			if (!read_hex4(ps, &cp))
				return false;
			if (cp >= 0xd800 && cp < 0xdc00) { /* a surrogate pair: \ud83d\ude00 */
				if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u')
					return parse_error(ps, "lone surrogate");
				ps->p += 2;
				if (!read_hex4(ps, &lo))
					return false;
				if (lo < 0xdc00 || lo >= 0xe000)
					return parse_error(ps, "bad surrogate pair");
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp < 0xe000) {
				return parse_error(ps, "lone surrogate");
			}
			w += put_utf8(w, cp);
			break;
		}
		default:
			return parse_error(ps, "bad escape");
		}
	}
	ps->p++; /* the closing quote */
	*w = '\0';
	*out = s;
	*outlen = (size_t)(w - s);
	return true;
}

static bool parse_number(struct parser *ps, struct json *v)
{
	const char *start = ps->p;
	bool integral = true;
	char *copy;

#define DIGITS() (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (!DIGITS())
		return parse_error(ps, "bad number");
	if (*ps->p == '0')
		ps->p++;
	else
		while (DIGITS())
			ps->p++;
	if (ps->p < ps->end && *ps->p == '.') {
		integral = false;
		ps->p++;
		if (!DIGITS())
			return parse_error(ps, "bad fraction");
		while (DIGITS())
			ps->p++;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		integral = false;
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (!DIGITS())
			return parse_error(ps, "bad exponent");
		while (DIGITS())
			ps->p++;
	}
#undef DIGITS
	/* The literal is checked; strtod and the integer below read a NUL-terminated copy. */
	copy = arena_alloc(ps->doc, (size_t)(ps->p - start) + 1);
	memcpy(copy, start, (size_t)(ps->p - start));
	copy[ps->p - start] = '\0';
	v->type = JSON_NUMBER;
	v->number = strtod(copy, NULL);
	v->is_int = false;
	if (integral) {
		const char *d = copy + (copy[0] == '-');
		uint64_t mag = 0;
		bool fits = true;

		for (; *d != '\0'; d++) {
			if (mag > (UINT64_C(1) << 63) / 10) {
				fits = false;
				break;
			}
			mag = mag * 10 + (uint64_t)(*d - '0');
		}
		if (fits && copy[0] == '-' && mag <= UINT64_C(1) << 63) {
			v->is_int = true;
			v->integer = mag == UINT64_C(1) << 63 ? INT64_MIN : -(int64_t)mag;
		} else if (fits && copy[0] != '-' && mag < UINT64_C(1) << 63) {
			v->is_int = true;
			v->integer = (int64_t)mag;
		}
	}
	return true;
}

static bool parse_value(struct parser *ps, struct json **out);

/* An array or object; ps->p is at the opening bracket. */
static bool parse_container(struct parser *ps, struct json *v, bool object)
{
	const char close = object ? '}' : ']';
	struct json **tail = &v->child;

	v->type = object ? JSON_OBJECT : JSON_ARRAY;
	if (++ps->depth > MAX_DEPTH)
		return parse_error(ps, "nested too deep");
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		ps->depth--;
		return true;
	}
	for (;;) {
		const char *key = NULL;
		size_t keylen;
		struct json *item;

		skip_ws(ps);
		if (object) {
			if (ps->p >= ps->end || *ps->p != '"')
				return parse_error(ps, "expected a key");
			if (!parse_string(ps, &key, &keylen))
				return false;
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':')
				return parse_error(ps, "expected ':'");
			ps->p++;
		}
		if (!parse_value(ps, &item))
			return false;
		item->key = key;
		*tail = item;
		tail = &item->next;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			ps->depth--;
			return true;
		}
		return parse_error(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static bool parse_value(struct parser *ps, struct json **out)
{
	struct json *v = arena_alloc(ps->doc, sizeof(*v));

	memset(v, 0, sizeof(*v));
	*out = v;
	skip_ws(ps);
	if (ps->p >= ps->end)
		return parse_error(ps, "unexpected end");
	switch (*ps->p) {
	case '{':
		return parse_container(ps, v, true);
	case '[':
		return parse_container(ps, v, false);
	case '"':
		v->type = JSON_STRING;
		return parse_string(ps, &v->string, &v->len);
	case 't':
		v->type = JSON_BOOL;
		v->boolean = true;
		return literal(ps, "true");
	case 'f':
		v->type = JSON_BOOL;
		return literal(ps, "false");
	case 'n':
		v->type = JSON_NULL;
		return literal(ps, "null");
	default:
		return parse_number(ps, v);
	}
}

struct json_doc *json_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct json_doc *doc = xrealloc(NULL, sizeof(*doc));
	struct parser ps = { text, text + len, doc, err, errlen, 0 };

	doc->chunks = NULL;
	doc->root = NULL;
	err[0] = '\0';
	if (parse_value(&ps, &doc->root)) {
		skip_ws(&ps);
		if (ps.p == ps.end)
			return doc;
		parse_error(&ps, "text after the value");
	}
	/* Report the byte offset from the start of the text. */
	snprintf(err + strlen(err), errlen - strlen(err), " (offset %ld)", (long)(ps.p - text));
	json_free(doc);
	return NULL;
}

/* ---- getters --------------------------------------------------------------------- */

const struct json *json_get(const struct json *obj, const char *key)
{
	if (obj == NULL || obj->type != JSON_OBJECT)
		return NULL;
	for (const struct json *m = obj->child; m != NULL; m = m->next)
		if (strcmp(m->key, key) == 0)
			return m;
	return NULL;
}

size_t json_count(const struct json *arr)
{
	size_t n = 0;

	if (arr != NULL && arr->type == JSON_ARRAY)
		for (const struct json *e = arr->child; e != NULL; e = e->next)
			n++;
	return n;
}

bool json_get_int(const struct json *obj, const char *key, int64_t *out)
{
	const struct json *v = json_get(obj, key);

	if (v == NULL || v->type != JSON_NUMBER || !v->is_int)
		return false;
	*out = v->integer;
	return true;
}

bool json_get_bool(const struct json *obj, const char *key, bool *out)
{
	const struct json *v = json_get(obj, key);

	if (v == NULL || v->type != JSON_BOOL)
		return false;
	*out = v->boolean;
	return true;
}

bool json_get_u64(const struct json *obj, const char *key, uint64_t *out)
{
	const struct json *v = json_get(obj, key);
	uint64_t x = 0;

	if (v == NULL || v->type != JSON_STRING || v->len < 3 || v->len > 18 || v->string[0] != '0' || (v->string[1] != 'x' && v->string[1] != 'X'))
		return false;
	for (size_t i = 2; i < v->len; i++) {
		int d = hex_digit(v->string[i]);

		if (d < 0)
			return false;
		x = x << 4 | (uint64_t)d;
	}
	*out = x;
	return true;
}

bool json_get_bytes(const struct json *obj, const char *key, uint8_t **out, size_t *len)
{
	const struct json *v = json_get(obj, key);
	uint8_t *bytes = NULL;

	if (v == NULL || v->type != JSON_STRING || v->len % 2 != 0)
		return false;
	if (v->len > 0) {
		bytes = xrealloc(NULL, v->len / 2);
		for (size_t i = 0; i < v->len / 2; i++) {
			int hi = hex_digit(v->string[2 * i]), lo = hex_digit(v->string[2 * i + 1]);

			if (hi < 0 || lo < 0) {
				free(bytes);
				return false;
			}
			bytes[i] = (uint8_t)(hi << 4 | lo);
		}
	}
	*out = bytes;
	*len = v->len / 2;
	return true;
}

/* ---- the writer ------------------------------------------------------------------ */

static void put(struct jw *w, const char *s, size_t n)
{
	if (w->cap - w->len < n + 1) {
		size_t cap = w->cap < 256 ? 256 : w->cap;

		while (cap - w->len < n + 1)
			cap *= 2;
		w->buf = xrealloc(w->buf, cap);
		w->cap = cap;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void put_str(struct jw *w, const char *s)
{
	put(w, s, strlen(s));
}

void jw_init(struct jw *w)
{
	memset(w, 0, sizeof(*w));
}

void jw_reset(struct jw *w)
{
	w->len = 0;
	w->depth = 0;
	w->count[0] = 0;
	w->after_key = false;
	if (w->buf != NULL)
		w->buf[0] = '\0';
}

void jw_free(struct jw *w)
{
	free(w->buf);
	jw_init(w);
}

/* Before a value: a comma unless it is the first of its container or follows a key. */
static void separate(struct jw *w)
{
	if (w->after_key)
		w->after_key = false;
	else if (w->count[w->depth]++ > 0)
		put(w, ",", 1);
}

static void open_container(struct jw *w, char c)
{
	separate(w);
	put(w, &c, 1);
	if (++w->depth >= (int)(sizeof(w->count) / sizeof(w->count[0])))
		fatal("JSON writer nested too deep");
	w->count[w->depth] = 0;
}

static void close_container(struct jw *w, char c)
{
	put(w, &c, 1);
	w->depth--;
}

void jw_object_begin(struct jw *w) { open_container(w, '{'); }
void jw_object_end(struct jw *w) { close_container(w, '}'); }
void jw_array_begin(struct jw *w) { open_container(w, '['); }
void jw_array_end(struct jw *w) { close_container(w, ']'); }

void jw_string(struct jw *w, const char *s)
{
	separate(w);
	put(w, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(w, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put_str(w, esc);
		} else {
			put(w, (const char *)&c, 1);
		}
	}
	put(w, "\"", 1);
}

void jw_key(struct jw *w, const char *key)
{
	jw_string(w, key);
	put(w, ":", 1);
	w->after_key = true;
}

void jw_int(struct jw *w, int64_t v)
{
	char s[24];

	separate(w);
	snprintf(s, sizeof(s), "%lld", (long long)v);
	put_str(w, s);
}

void jw_bool(struct jw *w, bool v)
{
	separate(w);
	put_str(w, v ? "true" : "false");
}

void jw_null(struct jw *w)
{
	separate(w);
	put_str(w, "null");
}

void jw_u64(struct jw *w, uint64_t v)
{
	char s[24];

	separate(w);
	snprintf(s, sizeof(s), "\"0x%llx\"", (unsigned long long)v);
	put_str(w, s);
}

void jw_bytes(struct jw *w, const uint8_t *bytes, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	separate(w);
	put(w, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		char pair[2] = { digits[bytes[i] >> 4], digits[bytes[i] & 15] };

		put(w, pair, 2);
	}
	put(w, "\"", 1);
}

/* ---- framing --------------------------------------------------------------------- */

static char *line_buf;
static size_t line_cap;

long proto_read_line(const char **line)
{
	ssize_t n = getline(&line_buf, &line_cap, stdin);

	if (n < 0)
		return -1;
	if (n > 0 && line_buf[n - 1] == '\n')
		line_buf[--n] = '\0';
	if ((size_t)n > PROTO_MAX_LINE)
		fatal("a line of %zd bytes from the kit: at most %u", n, PROTO_MAX_LINE);
	*line = line_buf;
	return (long)n;
}

static void send_raw(const char *s, size_t n)
{
	if (fwrite(s, 1, n, stdout) != n || fputc('\n', stdout) == EOF || fflush(stdout) != 0)
		fatal("cannot write to the kit (standard output closed)");
}

void proto_send(struct jw *w)
{
	send_raw(w->buf, w->len);
}

void proto_reply(int64_t id, struct jw *result)
{
	char head[48];
	struct jw w;

	snprintf(head, sizeof(head), "{\"id\":%lld,\"result\":", (long long)id);
	jw_init(&w);
	put_str(&w, head);
	put(&w, result->buf, result->len);
	put_str(&w, "}");
	proto_send(&w);
	jw_free(&w);
}

void proto_reply_error(int64_t id, const char *fmt, ...)
{
	char text[512];
	struct jw w;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	jw_init(&w);
	jw_object_begin(&w);
	jw_key(&w, "id");
	jw_int(&w, id);
	jw_key(&w, "error");
	jw_string(&w, text);
	jw_object_end(&w);
	proto_send(&w);
	jw_free(&w);
}

/* ---- callbacks ------------------------------------------------------------------- */

static int64_t next_cb = 1;
/* Calls waiting to be sent: JSON objects separated by commas. */
static struct jw queue;
static unsigned queued;
/* The document holding the last answer proto_call returned. */
static struct json_doc *answer_doc;

/*
 * Sends the queued calls (and empties the queue) as callback `cb`: one call as itself,
 * several as a batch. Returns the kit's answer document, root {"re":cb,"result":...}.
 */
static struct json_doc *send_queue(void)
{
	const int64_t cb = next_cb++;
	struct jw w;
	const char *line;
	long n;
	char err[160];
	struct json_doc *doc;
	int64_t re;

	jw_init(&w);
	if (queued == 1) {
		/* {"cb":M, then the call's members: the call is {"op":...}. */
		char head[40];

		snprintf(head, sizeof(head), "{\"cb\":%lld,", (long long)cb);
		put_str(&w, head);
		put(&w, queue.buf + 1, queue.len - 1);
	} else {
		char head[64];

		snprintf(head, sizeof(head), "{\"cb\":%lld,\"op\":\"batch\",\"calls\":[", (long long)cb);
		put_str(&w, head);
		put(&w, queue.buf, queue.len);
		put_str(&w, "]}");
	}
	proto_send(&w);
	jw_free(&w);
	jw_reset(&queue);
	queued = 0;

	/* The kit answers each callback before anything else. */
	n = proto_read_line(&line);
	if (n < 0)
		fatal("end of input while waiting for the answer to callback %lld", (long long)cb);
	doc = json_parse(line, (size_t)n, err, sizeof(err));
	if (doc == NULL)
		fatal("the answer to callback %lld is not JSON: %s", (long long)cb, err);
	if (!json_get_int(json_root(doc), "re", &re) || re != cb || json_get(json_root(doc), "result") == NULL)
		fatal("expected the answer to callback %lld, got: %.200s", (long long)cb, line);
	return doc;
}

static void enqueue(const char *call)
{
	if (queued > 0)
		put(&queue, ",", 1);
	put_str(&queue, call);
	queued++;
}

void proto_queue(const char *call)
{
	if (queued == PROTO_MAX_BATCH)
		proto_flush();
	enqueue(call);
}

void proto_flush(void)
{
	if (queued > 0)
		json_free(send_queue());
}

const struct json *proto_call(const char *call)
{
	const struct json *result;
	bool batched;

	if (queued == PROTO_MAX_BATCH)
		proto_flush();
	batched = queued > 0;
	enqueue(call);
	json_free(answer_doc);
	answer_doc = send_queue();
	result = json_get(json_root(answer_doc), "result");
	if (!batched)
		return result;
	/* A batch answers with an array, in order: this call was the last. */
	if (result->type != JSON_ARRAY || result->child == NULL)
		fatal("the answer to a batch is not an array of answers");
	result = result->child;
	while (result->next != NULL)
		result = result->next;
	return result;
}

void proto_close(void)
{
	proto_flush();
	json_free(answer_doc);
	answer_doc = NULL;
	jw_free(&queue);
	free(line_buf);
	line_buf = NULL;
	line_cap = 0;
}
