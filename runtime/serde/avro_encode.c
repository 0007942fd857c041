/*
 * avro_encode.c - the FFI's flat value array into Avro binary.
 *
 * Lua describes a value without knowing the schema: a table with string
 * keys is a MAP, a list an ARRAY, a number a NUMBER (or an INTEGER from an
 * int64 cdata). The schema decides what it becomes: a MAP is a record or a
 * map, a string an enum symbol, a decimal, a date, bytes or fixed. A union
 * takes the first of its branches, in the schema's order, that encodes the
 * value (a failed attempt is rolled back). A record field missing from the
 * table takes its default, or null when its type is a union with null.
 * An error names the field's path and what did not fit. Cost: O(values *
 * fields per record) plus the union attempts.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serde/avro_codec.h"
#include "serde/avro_logical.h"

typedef struct {
    const sh_avro_schema_t *schema;
    const sh_ffi_avro_value_t *values;
    int count;
    sh_avro_out_t *out;
    char *err;
    size_t errlen;
    /* where we are, for error messages only: field names, or list
     * positions (name NULL), rendered when something fails */
    struct {
        const char *name;
        int64_t index;
    } trail[101];
    int depth;
} writer_t;

static const char *value_kind_names[] = {"null",   "boolean", "integer", "number",
                                         "string", "record",  "list",    "table"};

static int fail(writer_t *w, const char *fmt, const char *a, const char *b) {
    char detail[512], path[512] = "";
    size_t n = 0;
    for (int i = 1; i <= w->depth && n < sizeof path; i++) {
        if (!w->trail[i].name && w->trail[i].index <= 0) continue;
        int wrote =
            w->trail[i].name
                ? snprintf(path + n, sizeof path - n, "%s%s", n ? "." : "", w->trail[i].name)
                : snprintf(path + n, sizeof path - n, "[%lld]", (long long)w->trail[i].index);
        if (wrote > 0) n += (size_t)wrote;
    }
    snprintf(detail, sizeof detail, fmt, a, b);
    if (path[0])
        snprintf(w->err, w->errlen, "field %s: %s", path, detail);
    else
        snprintf(w->err, w->errlen, "%s", detail);
    return -1;
}

static inline __attribute__((always_inline)) int put(writer_t *w, const void *data, size_t n) {
    sh_avro_out_t *o = w->out;
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        while (cap < o->len + n)
            cap *= 2;
        char *grown = realloc(o->data, cap);
        if (!grown) return fail(w, "out of memory%s%s", "", "");
        o->data = grown;
        o->cap = cap;
    }
    memcpy(o->data + o->len, data, n);
    o->len += n;
    return 0;
}

static inline __attribute__((always_inline)) int put_long(writer_t *w, int64_t v) {
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    unsigned char buf[10];
    int n = 0;
    while (z >= 0x80) {
        buf[n++] = (unsigned char)(z | 0x80);
        z >>= 7;
    }
    buf[n++] = (unsigned char)z;
    return put(w, buf, (size_t)n);
}

static inline __attribute__((always_inline)) int put_bytes(writer_t *w, const void *data, size_t n) {
    return put_long(w, (int64_t)n) != 0 ? -1 : put(w, data, n);
}

/* Index just past the value at i (and its children). */
static int skip(writer_t *w, int i) {
    if (i >= w->count) return -1;
    const sh_ffi_avro_value_t *v = &w->values[i];
    int next = i + 1;
    if (v->kind == SH_AVRO_V_ARRAY || v->kind == SH_AVRO_V_RECORD || v->kind == SH_AVRO_V_MAP) {
        int64_t children = v->kind == SH_AVRO_V_MAP ? v->integer * 2 : v->integer;
        if (children < 0 || children > w->count) return -1;
        for (int64_t c = 0; c < children && next >= 0; c++)
            next = skip(w, next);
    }
    return next;
}

static bool as_integer(const sh_ffi_avro_value_t *v, int64_t *out) {
    if (v->kind == SH_AVRO_V_INTEGER) {
        *out = v->integer;
        return true;
    }
    if (v->kind == SH_AVRO_V_NUMBER && v->number == floor(v->number) &&
        v->number >= -9223372036854775808.0 && v->number < 9223372036854775808.0) {
        *out = (int64_t)v->number;
        return true;
    }
    return false;
}

static int encode(writer_t *w, int type, int i);
static int encode_default(writer_t *w, int type, json_t *value);

static int mismatch(writer_t *w, const sh_avro_type_t *t, const sh_ffi_avro_value_t *v) {
    const char *want = t->name ? t->name : sh_avro_kind_name(t->kind);
    return fail(w, "a %s does not fit the schema's %s", value_kind_names[v->kind], want);
}

static int encode_decimal(writer_t *w, const sh_avro_type_t *t, const sh_ffi_avro_value_t *v) {
    char text[128];
    const char *digits = v->data;
    size_t len = v->len;
    if (v->kind == SH_AVRO_V_NUMBER || v->kind == SH_AVRO_V_INTEGER) {
        int n = v->kind == SH_AVRO_V_INTEGER
                    ? snprintf(text, sizeof text, "%lld", (long long)v->integer)
                    : snprintf(text, sizeof text, "%.*f", t->scale, v->number);
        digits = text;
        len = (size_t)n;
    } else if (v->kind != SH_AVRO_V_STRING) {
        return mismatch(w, t, v);
    }
    unsigned char bytes[SH_AVRO_DECIMAL_MAX_BYTES];
    size_t n;
    size_t fixed = t->kind == SH_AVRO_FIXED ? (size_t)t->size : 0;
    if (sh_avro_decimal_parse(digits, len, t->scale, bytes, &n, fixed) != 0) {
        char shown[64];
        snprintf(shown, sizeof shown, "%.*s", (int)(len < 40 ? len : 40), digits);
        char rule[64];
        snprintf(rule, sizeof rule, "decimal(%d, %d)", t->precision, t->scale);
        return fail(w, "'%s' is not a %s", shown, rule);
    }
    return fixed ? put(w, bytes, n) : put_bytes(w, bytes, n);
}

static int encode_record(writer_t *w, const sh_avro_type_t *t, int i) {
    const sh_ffi_avro_value_t *v = &w->values[i];
    int pairs = v->kind == SH_AVRO_V_MAP ? (int)v->integer : 0;
    int stack_keys[64];
    int *keys = pairs <= 64 ? stack_keys : malloc(sizeof *keys * (size_t)pairs);
    if (!keys) return fail(w, "out of memory%s%s", "", "");
    int rc = -1, pos = i + 1;
    for (int p = 0; p < pairs; p++) {
        if (pos < 0 || pos + 1 >= w->count || w->values[pos].kind != SH_AVRO_V_STRING) {
            fail(w, "a record's keys must be strings%s%s", "", "");
            goto out;
        }
        keys[p] = pos;
        pos = skip(w, pos + 1);
    }
    int used = 0, next_pair = 0;
    for (int f = 0; f < t->count; f++) {
        const sh_avro_field_t *field = &t->fields[f];
        w->trail[w->depth].name = field->name; /* this record's slot, below its fields' */
        size_t name_len = strlen(field->name);
        int found = -1;
        /* the pair after the last one found first: Lua's derived-record
         * flattener writes the fields in the schema's order */
        for (int tried = 0; tried < pairs && found < 0; tried++) {
            int p = (next_pair + tried) % pairs;
            const sh_ffi_avro_value_t *k = &w->values[keys[p]];
            if (k->len == name_len && memcmp(k->data, field->name, name_len) == 0) found = p;
        }
        if (found >= 0) next_pair = found + 1;
        int frc;
        if (found >= 0 && w->values[keys[found] + 1].kind != SH_AVRO_V_NULL) {
            used++;
            frc = encode(w, field->type, keys[found] + 1);
        } else {
            if (found >= 0) used++;
            const sh_avro_type_t *ft = &w->schema->types[field->type];
            int null_branch = -1;
            for (int b = 0; ft->kind == SH_AVRO_UNION && b < ft->count && null_branch < 0; b++)
                if (w->schema->types[ft->branches[b]].kind == SH_AVRO_NULL) null_branch = b;
            if (found >= 0 && (ft->kind == SH_AVRO_NULL || null_branch >= 0))
                frc = ft->kind == SH_AVRO_NULL ? 0 : put_long(w, null_branch);
            else if (field->default_value)
                frc = encode_default(w, field->type, field->default_value);
            else if (null_branch >= 0)
                frc = put_long(w, null_branch);
            else if (ft->kind == SH_AVRO_NULL)
                frc = 0;
            else
                frc = fail(w,
                           found >= 0 ? "null, which its type %s does not take%s"
                                      : "missing, and the schema gives it no default (%s)%s",
                           ft->name ? ft->name : sh_avro_kind_name(ft->kind), "");
        }
        if (frc != 0) goto out;
    }
    w->trail[w->depth].name = NULL;
    if (used < pairs) {
        for (int p = 0; p < pairs; p++) {
            const sh_ffi_avro_value_t *k = &w->values[keys[p]];
            if (w->values[keys[p] + 1].kind == SH_AVRO_V_NULL) continue; /* null is absent */
            bool known = false;
            for (int f = 0; f < t->count && !known; f++)
                known = strlen(t->fields[f].name) == k->len &&
                        memcmp(t->fields[f].name, k->data, k->len) == 0;
            if (!known) {
                char name[128];
                snprintf(name, sizeof name, "%.*s", (int)(k->len < 100 ? k->len : 100), k->data);
                fail(w, "'%s' is not a field of record %s", name, t->name);
                goto out;
            }
        }
    }
    rc = 0;
out:
    if (keys != stack_keys) free(keys);
    return rc;
}

static int encode_blocks(writer_t *w, const sh_avro_type_t *t, int i) {
    const sh_ffi_avro_value_t *v = &w->values[i];
    int64_t n = v->integer;
    if (n > 0) {
        if (put_long(w, n) != 0) return -1;
        int pos = i + 1;
        for (int64_t k = 0; k < n; k++) {
            if (pos < 0 || pos >= w->count) return fail(w, "a short value array%s%s", "", "");
            if (t->kind == SH_AVRO_MAP) {
                const sh_ffi_avro_value_t *key = &w->values[pos];
                if (key->kind != SH_AVRO_V_STRING)
                    return fail(w, "map keys must be strings%s%s", "", "");
                if (put_bytes(w, key->data, key->len) != 0) return -1;
                pos++;
            }
            w->trail[w->depth].index = k + 1;
            if (encode(w, t->items, pos) != 0) return -1;
            pos = skip(w, pos);
        }
    }
    return put_long(w, 0);
}

/* Could a branch of this type take the value at all? A cheap look before
 * an attempt, so a ["null", T] union does not fail (and format an error)
 * on null for every value. */
static bool may_take(const sh_avro_type_t *t, const sh_ffi_avro_value_t *v) {
    switch (v->kind) {
    case SH_AVRO_V_NULL:
        return t->kind == SH_AVRO_NULL;
    case SH_AVRO_V_BOOLEAN:
        return t->kind == SH_AVRO_BOOLEAN;
    case SH_AVRO_V_INTEGER:
    case SH_AVRO_V_NUMBER:
        return t->kind == SH_AVRO_INT || t->kind == SH_AVRO_LONG || t->kind == SH_AVRO_FLOAT ||
               t->kind == SH_AVRO_DOUBLE || t->logical == SH_AVRO_LT_DECIMAL;
    case SH_AVRO_V_STRING:
        return t->kind == SH_AVRO_STRING || t->kind == SH_AVRO_BYTES || t->kind == SH_AVRO_ENUM ||
               t->kind == SH_AVRO_FIXED || t->logical == SH_AVRO_LT_DATE;
    case SH_AVRO_V_MAP:
        return t->kind == SH_AVRO_RECORD || t->kind == SH_AVRO_MAP;
    case SH_AVRO_V_ARRAY:
        return t->kind == SH_AVRO_ARRAY ||
               (v->integer == 0 && (t->kind == SH_AVRO_RECORD || t->kind == SH_AVRO_MAP));
    default:
        return false;
    }
}

static int encode_union(writer_t *w, const sh_avro_type_t *t, int i) {
    size_t mark = w->out->len;
    char first_err[512];
    first_err[0] = 0; /* not = "": that zeroes all 512 bytes for every union */
    for (int b = 0; b < t->count; b++) {
        if (!may_take(&w->schema->types[t->branches[b]], &w->values[i])) continue;
        if (put_long(w, b) != 0) return -1;
        if (encode(w, t->branches[b], i) == 0) return 0;
        if (!first_err[0]) snprintf(first_err, sizeof first_err, "%s", w->err);
        w->out->len = mark;
    }
    if (!first_err[0]) {
        int k = w->values[i].kind;
        return fail(w, "no branch of the union takes a %s%s",
                    k >= 0 && k <= SH_AVRO_V_MAP ? value_kind_names[k] : "value", "");
    }
    snprintf(w->err, w->errlen, "%s (no other branch of the union takes it)", first_err);
    return -1;
}

static int encode(writer_t *w, int type, int i) {
    if (i < 0 || i >= w->count) return fail(w, "a short value array%s%s", "", "");
    const sh_avro_type_t *t = &w->schema->types[type];
    const sh_ffi_avro_value_t *v = &w->values[i];
    if (w->depth >= 100) return fail(w, "values nested deeper than 100%s%s", "", "");
    w->depth++;
    w->trail[w->depth].name = NULL;
    w->trail[w->depth].index = 0;
    int rc = 0;
    int64_t n;
    switch (t->kind) {
    case SH_AVRO_NULL:
        rc = v->kind == SH_AVRO_V_NULL ? 0 : mismatch(w, t, v);
        break;
    case SH_AVRO_BOOLEAN:
        rc = v->kind == SH_AVRO_V_BOOLEAN ? put(w, v->integer ? "\1" : "\0", 1) : mismatch(w, t, v);
        break;
    case SH_AVRO_INT:
    case SH_AVRO_LONG:
        if (t->logical == SH_AVRO_LT_DATE && v->kind == SH_AVRO_V_STRING) {
            if (sh_avro_date_parse(v->data, v->len, &n) != 0) {
                char shown[48];
                snprintf(shown, sizeof shown, "%.*s", (int)(v->len < 40 ? v->len : 40), v->data);
                rc = fail(w, "'%s' is not a date (YYYY-MM-DD)%s", shown, "");
            } else
                rc = put_long(w, n);
        } else if (!as_integer(v, &n)) {
            rc = v->kind == SH_AVRO_V_NUMBER ? fail(w, "%s is not an integer%s", "the number", "")
                                             : mismatch(w, t, v);
        } else if (t->kind == SH_AVRO_INT && (n < INT32_MIN || n > INT32_MAX)) {
            rc = fail(w, "out of range for an %s%s", "int", "");
        } else {
            rc = put_long(w, n);
        }
        break;
    case SH_AVRO_FLOAT:
    case SH_AVRO_DOUBLE: {
        double d = v->kind == SH_AVRO_V_INTEGER ? (double)v->integer : v->number;
        if (v->kind != SH_AVRO_V_NUMBER && v->kind != SH_AVRO_V_INTEGER) {
            rc = mismatch(w, t, v);
        } else if (t->kind == SH_AVRO_FLOAT) {
            float f = (float)d;
            unsigned char b[4];
            uint32_t bits;
            memcpy(&bits, &f, 4);
            for (int k = 0; k < 4; k++)
                b[k] = (unsigned char)(bits >> (8 * k));
            rc = put(w, b, 4);
        } else {
            unsigned char b[8];
            uint64_t bits;
            memcpy(&bits, &d, 8);
            for (int k = 0; k < 8; k++)
                b[k] = (unsigned char)(bits >> (8 * k));
            rc = put(w, b, 8);
        }
        break;
    }
    case SH_AVRO_BYTES:
    case SH_AVRO_STRING:
    case SH_AVRO_FIXED:
        if (t->logical == SH_AVRO_LT_DECIMAL)
            rc = encode_decimal(w, t, v);
        else if (v->kind != SH_AVRO_V_STRING)
            rc = mismatch(w, t, v);
        else if (t->kind != SH_AVRO_FIXED)
            rc = put_bytes(w, v->data, v->len);
        else if (v->len != (size_t)t->size)
            rc = fail(w, "fixed %s takes exactly its size in bytes%s", t->name, "");
        else
            rc = put(w, v->data, v->len);
        break;
    case SH_AVRO_ENUM:
        rc = v->kind == SH_AVRO_V_STRING ? -2 : mismatch(w, t, v);
        for (int s = 0; rc == -2 && s < t->count; s++)
            if (strlen(t->symbols[s]) == v->len && memcmp(t->symbols[s], v->data, v->len) == 0)
                rc = put_long(w, s);
        if (rc == -2) {
            char sym[128];
            snprintf(sym, sizeof sym, "%.*s", (int)(v->len < 100 ? v->len : 100), v->data);
            rc = fail(w, "'%s' is not a symbol of enum %s", sym, t->name);
        }
        break;
    case SH_AVRO_RECORD:
        if (v->kind == SH_AVRO_V_MAP || (v->kind == SH_AVRO_V_ARRAY && v->integer == 0))
            rc = encode_record(w, t, i);
        else
            rc = mismatch(w, t, v);
        break;
    case SH_AVRO_MAP:
    case SH_AVRO_ARRAY: {
        int want = t->kind == SH_AVRO_MAP ? SH_AVRO_V_MAP : SH_AVRO_V_ARRAY;
        if (v->kind == want ||
            ((v->kind == SH_AVRO_V_MAP || v->kind == SH_AVRO_V_ARRAY) && v->integer == 0))
            rc = v->kind == want ? encode_blocks(w, t, i) : put_long(w, 0);
        else
            rc = mismatch(w, t, v);
        break;
    }
    case SH_AVRO_UNION:
        rc = encode_union(w, t, i);
        break;
    }
    w->depth--;
    return rc;
}

/* ---- defaults, from the schema's JSON ---- */

static int encode_default(writer_t *w, int type, json_t *j) {
    const sh_avro_type_t *t = &w->schema->types[type];
    switch (t->kind) {
    case SH_AVRO_NULL:
        return json_is_null(j) ? 0 : fail(w, "a bad default%s%s", "", "");
    case SH_AVRO_BOOLEAN:
        return put(w, json_is_true(j) ? "\1" : "\0", 1);
    case SH_AVRO_INT:
    case SH_AVRO_LONG:
        return put_long(w, (int64_t)json_number_value(j));
    case SH_AVRO_FLOAT:
    case SH_AVRO_DOUBLE: {
        sh_ffi_avro_value_t v = {.kind = SH_AVRO_V_NUMBER, .number = json_number_value(j)};
        writer_t sub = *w;
        sub.values = &v;
        sub.count = 1;
        int rc = encode(&sub, type, 0);
        return rc;
    }
    case SH_AVRO_BYTES:
    case SH_AVRO_FIXED: {
        /* code points 0-255 are the bytes (the spec's rule for bytes defaults) */
        const unsigned char *s = (const unsigned char *)json_string_value(j);
        if (!s) return fail(w, "a bad default%s%s", "", "");
        size_t len = json_string_length(j), n = 0;
        unsigned char *bytes = malloc(len + 1);
        if (!bytes) return fail(w, "out of memory%s%s", "", "");
        for (size_t k = 0; k < len; k++) {
            if (s[k] >= 0xc0 && k + 1 < len) { /* a two-byte UTF-8 sequence: U+0080..U+00FF */
                bytes[n++] = (unsigned char)((s[k] & 0x03) << 6 | (s[k + 1] & 0x3f));
                k++;
            } else {
                bytes[n++] = s[k];
            }
        }
        int rc = t->kind == SH_AVRO_FIXED ? put(w, bytes, n) : put_bytes(w, bytes, n);
        free(bytes);
        return rc;
    }
    case SH_AVRO_STRING:
        if (!json_is_string(j)) return fail(w, "a bad default%s%s", "", "");
        return put_bytes(w, json_string_value(j), json_string_length(j));
    case SH_AVRO_ENUM:
        for (int s = 0; s < t->count; s++)
            if (json_is_string(j) && strcmp(t->symbols[s], json_string_value(j)) == 0)
                return put_long(w, s);
        return fail(w, "a bad default%s%s", "", "");
    case SH_AVRO_ARRAY: {
        size_t n = json_array_size(j);
        if (n && put_long(w, (int64_t)n) != 0) return -1;
        for (size_t k = 0; k < n; k++)
            if (encode_default(w, t->items, json_array_get(j, k)) != 0) return -1;
        return put_long(w, 0);
    }
    case SH_AVRO_MAP: {
        size_t n = json_object_size(j);
        if (n && put_long(w, (int64_t)n) != 0) return -1;
        const char *key;
        json_t *value;
        json_object_foreach(j, key, value) {
            if (put_bytes(w, key, strlen(key)) != 0 || encode_default(w, t->items, value) != 0)
                return -1;
        }
        return put_long(w, 0);
    }
    case SH_AVRO_RECORD:
        for (int f = 0; f < t->count; f++) {
            json_t *fv = json_object_get(j, t->fields[f].name);
            if (!fv) fv = t->fields[f].default_value;
            if (!fv) return fail(w, "a bad default%s%s", "", "");
            if (encode_default(w, t->fields[f].type, fv) != 0) return -1;
        }
        return 0;
    case SH_AVRO_UNION: /* the default is of the first branch */
        if (t->count == 0 || put_long(w, 0) != 0) return -1;
        return encode_default(w, t->branches[0], j);
    }
    return -1;
}

int sh_avro_encode(const sh_avro_schema_t *schema, const sh_ffi_avro_value_t *values, int count,
                   sh_avro_out_t *out, char *err, size_t errlen) {
    /* field by field: an initializer would zero the whole trail, 1.6 KB a
     * record, where encode() sets each level as it enters it */
    writer_t w;
    w.schema = schema;
    w.values = values;
    w.count = count;
    w.out = out;
    w.err = err;
    w.errlen = errlen;
    w.depth = 0;
    w.trail[0].name = NULL;
    w.trail[0].index = 0;
    if (count <= 0) return fail(&w, "no value to encode%s%s", "", "");
    if (encode(&w, schema->root, 0) != 0) return -1;
    return 0;
}
