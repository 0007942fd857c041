/*
 * avro_decode.c - Avro binary into the FFI's flat value array.
 *
 * One pass over the bytes, driven by the compiled schema, with every read
 * checked against the end of the input: a record from the network is
 * untrusted, so a length, a block count, a union branch or a boolean that
 * the schema does not allow is an error, not a crash. Nesting is bounded
 * (MAX_DEPTH) and so is the number of values (MAX_VALUES), because a
 * recursive schema or a long array of nulls could otherwise make a few
 * bytes cost unbounded stack or memory. Strings and bytes point into the
 * input (no copy); decimals and dates are rendered into the tape's text,
 * whose offsets become pointers once decoding is done (it may move while
 * it grows). Cost: O(len + values).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serde/avro_codec.h"
#include "serde/avro_logical.h"

#define MAX_DEPTH 100
/* Values a body of len bytes may decode to. Every value but a null, an
 * empty record or a zero-size fixed takes at least one byte, so only arrays
 * of those come near it; without a bound, 10 bytes could ask for 2^62. */
#define MAX_VALUES(len) ((size_t)65536 + 8 * (len))

typedef struct {
    const sh_avro_schema_t *schema;
    const unsigned char *p, *end;
    size_t max_values;
    sh_avro_tape_t *tape;
    char *err;
    size_t errlen;
    int depth;
} reader_t;

static int fail(reader_t *r, const char *fmt, const char *what) {
    snprintf(r->err, r->errlen, fmt, what);
    return -1;
}

static inline __attribute__((always_inline)) int read_long(reader_t *r, int64_t *out) {
    if (r->p < r->end && !(*r->p & 0x80)) { /* one byte: -64..63, most lengths and tags */
        uint64_t b = *r->p++;
        *out = (int64_t)(b >> 1) ^ -(int64_t)(b & 1);
        return 0;
    }
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return fail(r, "truncated: the body ends inside %s", "a number");
        unsigned char b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return 0;
        }
    }
    return fail(r, "a varint longer than 10 bytes%s", "");
}

static inline __attribute__((always_inline)) sh_ffi_avro_value_t *push(reader_t *r, int kind, int name) {
    sh_avro_tape_t *t = r->tape;
    if ((size_t)t->count >= r->max_values) {
        fail(r, "more values than a body of this size can hold (%s)", "an array of nulls?");
        return NULL;
    }
    if (t->count == t->cap) {
        int cap = t->cap ? t->cap * 2 : 64;
        sh_ffi_avro_value_t *grown = realloc(t->values, sizeof *grown * (size_t)cap);
        if (!grown) {
            fail(r, "out of memory%s", "");
            return NULL;
        }
        t->values = grown;
        t->cap = cap;
    }
    sh_ffi_avro_value_t *v = &t->values[t->count++];
    v->kind = kind;
    v->name = name;
    v->integer = 0;
    v->number = 0;
    v->data = NULL;
    v->len = 0;
    return v;
}

/* Text rendered for a value: kept as an offset until decoding ends. */
static int push_text(reader_t *r, int name, const char *text, size_t n) {
    sh_avro_tape_t *t = r->tape;
    if (t->text_len + n > t->text_cap) {
        size_t cap = t->text_cap ? t->text_cap * 2 : 256;
        while (cap < t->text_len + n)
            cap *= 2;
        char *grown = realloc(t->text, cap);
        if (!grown) return fail(r, "out of memory%s", "");
        t->text = grown;
        t->text_cap = cap;
    }
    sh_ffi_avro_value_t *v = push(r, SH_AVRO_V_STRING, name);
    if (!v) return -1;
    memcpy(t->text + t->text_len, text, n);
    v->integer = (int64_t)t->text_len; /* an offset until fix_text */
    v->len = n;
    v->data = NULL;
    t->text_len += n;
    return 0;
}

static inline __attribute__((always_inline)) int read_span(reader_t *r, size_t n, const unsigned char **out) {
    if ((size_t)(r->end - r->p) < n)
        return fail(r, "truncated: the body ends inside %s", "a string or bytes");
    *out = r->p;
    r->p += n;
    return 0;
}

static inline __attribute__((always_inline)) int read_length(reader_t *r, size_t *n) {
    int64_t len;
    if (read_long(r, &len) != 0) return -1;
    if (len < 0) return fail(r, "a negative length%s", "");
    if ((uint64_t)len > (uint64_t)(r->end - r->p))
        return fail(r, "truncated: a length runs past the end of the body%s", "");
    *n = (size_t)len;
    return 0;
}

static int decode(reader_t *r, int type, int name);

static int decode_bytes(reader_t *r, const sh_avro_type_t *t, int name, size_t n) {
    const unsigned char *bytes;
    if (read_span(r, n, &bytes) != 0) return -1;
    if (t->logical == SH_AVRO_LT_DECIMAL) {
        char text[SH_AVRO_DECIMAL_MAX_BYTES * 3 + 4];
        int len = sh_avro_decimal_format(bytes, n, t->scale, text, sizeof text);
        if (len < 0) return fail(r, "a decimal longer than 64 bytes%s", "");
        return push_text(r, name, text, (size_t)len);
    }
    sh_ffi_avro_value_t *v = push(r, SH_AVRO_V_STRING, name);
    if (!v) return -1;
    v->data = (const char *)bytes;
    v->len = n;
    return 0;
}

/* Arrays and maps come in blocks: a count (negative: followed by the
 * block's size in bytes), items, until a zero count. */
static int decode_blocks(reader_t *r, const sh_avro_type_t *t, int name) {
    int index = r->tape->count;
    if (!push(r, t->kind == SH_AVRO_ARRAY ? SH_AVRO_V_ARRAY : SH_AVRO_V_MAP, name)) return -1;
    int64_t total = 0;
    for (;;) {
        int64_t count;
        if (read_long(r, &count) != 0) return -1;
        if (count == 0) break;
        if (count < 0) {
            int64_t size;
            if (count == INT64_MIN) return fail(r, "a block count out of range%s", "");
            count = -count;
            if (read_long(r, &size) != 0) return -1;
            if (size < 0) return fail(r, "a negative block size%s", "");
        }
        if ((uint64_t)count > r->max_values - (uint64_t)total)
            return fail(r, "a block count out of range%s", "");
        for (int64_t i = 0; i < count; i++) {
            if (t->kind == SH_AVRO_MAP) {
                size_t n;
                const unsigned char *key;
                if (read_length(r, &n) != 0 || read_span(r, n, &key) != 0) return -1;
                sh_ffi_avro_value_t *k = push(r, SH_AVRO_V_STRING, -1);
                if (!k) return -1;
                k->data = (const char *)key;
                k->len = n;
            }
            if (decode(r, t->items, -1) != 0) return -1;
        }
        total += count;
    }
    r->tape->values[index].integer = total;
    return 0;
}

static int decode(reader_t *r, int type, int name) {
    const sh_avro_type_t *t = &r->schema->types[type];
    if (++r->depth > MAX_DEPTH) return fail(r, "values nested deeper than %s", "100");
    sh_ffi_avro_value_t *v;
    int rc = 0;
    switch (t->kind) {
    case SH_AVRO_NULL:
        rc = push(r, SH_AVRO_V_NULL, name) ? 0 : -1;
        break;
    case SH_AVRO_BOOLEAN:
        if (r->p >= r->end) return fail(r, "truncated: the body ends inside %s", "a boolean");
        if (*r->p > 1) return fail(r, "a boolean that is neither 0 nor 1%s", "");
        if (!(v = push(r, SH_AVRO_V_BOOLEAN, name))) return -1;
        v->integer = *r->p++;
        break;
    case SH_AVRO_INT:
    case SH_AVRO_LONG: {
        int64_t n;
        if (read_long(r, &n) != 0) return -1;
        if (t->kind == SH_AVRO_INT && (n < INT32_MIN || n > INT32_MAX))
            return fail(r, "an int out of 32-bit range%s", "");
        if (t->logical == SH_AVRO_LT_DATE) {
            char text[32];
            int len = sh_avro_date_format(n, text, sizeof text);
            rc = len < 0 ? fail(r, "a date out of range%s", "")
                         : push_text(r, name, text, (size_t)len);
            break;
        }
        if (!(v = push(r, SH_AVRO_V_INTEGER, name))) return -1;
        v->integer = n;
        break;
    }
    case SH_AVRO_FLOAT: {
        const unsigned char *b;
        if (read_span(r, 4, &b) != 0) return -1;
        uint32_t bits =
            (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        float f;
        memcpy(&f, &bits, 4);
        if (!(v = push(r, SH_AVRO_V_NUMBER, name))) return -1;
        v->number = f;
        break;
    }
    case SH_AVRO_DOUBLE: {
        const unsigned char *b;
        if (read_span(r, 8, &b) != 0) return -1;
        uint64_t bits = 0;
        for (int i = 7; i >= 0; i--)
            bits = bits << 8 | b[i];
        double d;
        memcpy(&d, &bits, 8);
        if (!(v = push(r, SH_AVRO_V_NUMBER, name))) return -1;
        v->number = d;
        break;
    }
    case SH_AVRO_BYTES:
    case SH_AVRO_STRING: {
        size_t n;
        if (read_length(r, &n) != 0) return -1;
        rc = decode_bytes(r, t, name, n);
        break;
    }
    case SH_AVRO_FIXED:
        rc = decode_bytes(r, t, name, (size_t)t->size);
        break;
    case SH_AVRO_ENUM: {
        int64_t i;
        if (read_long(r, &i) != 0) return -1;
        if (i < 0 || i >= t->count) return fail(r, "an enum index out of range for %s", t->name);
        if (!(v = push(r, SH_AVRO_V_STRING, name))) return -1;
        v->data = t->symbols[i];
        v->len = strlen(t->symbols[i]);
        break;
    }
    case SH_AVRO_UNION: {
        int64_t i;
        if (read_long(r, &i) != 0) return -1;
        if (i < 0 || i >= t->count) return fail(r, "a union branch out of range%s", "");
        rc = decode(r, t->branches[i], name);
        break;
    }
    case SH_AVRO_RECORD: {
        if (!(v = push(r, SH_AVRO_V_RECORD, name))) return -1;
        v->integer = t->count;
        for (int f = 0; f < t->count && rc == 0; f++)
            rc = decode(r, t->fields[f].type, t->fields[f].name_id);
        break;
    }
    case SH_AVRO_ARRAY:
    case SH_AVRO_MAP:
        rc = decode_blocks(r, t, name);
        break;
    }
    r->depth--;
    return rc;
}

int sh_avro_decode(const sh_avro_schema_t *schema, const char *data, size_t len,
                   sh_avro_tape_t *tape, char *err, size_t errlen) {
    tape->count = 0;
    tape->text_len = 0;
    reader_t r = {schema,
                  (const unsigned char *)data,
                  (const unsigned char *)data + len,
                  MAX_VALUES(len),
                  tape,
                  err,
                  errlen,
                  0};
    if (decode(&r, schema->root, -1) != 0) return -1;
    if (r.p != r.end) {
        snprintf(err, errlen,
                 "%zu bytes left over after the value: the body is longer than "
                 "its schema allows",
                 (size_t)(r.end - r.p));
        return -1;
    }
    for (int i = 0; tape->text_len > 0 && i < tape->count; i++) {
        sh_ffi_avro_value_t *v = &tape->values[i];
        if (v->kind == SH_AVRO_V_STRING && !v->data) {
            v->data = tape->text ? tape->text + v->integer : "";
            v->integer = 0;
        }
    }
    return 0;
}

void sh_avro_tape_free(sh_avro_tape_t *tape) {
    free(tape->values);
    free(tape->text);
    memset(tape, 0, sizeof *tape);
}
