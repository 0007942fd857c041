/*
 * avro_compat.c - the resolution rules of the Avro specification ("Schema
 * Resolution"), as Avro's SchemaCompatibility checks them:
 *
 *  - same primitive, or a promotion: int to long, float or double; long to
 *    float or double; float to double; string to bytes and back;
 *  - records with the same unqualified name (or a reader alias): each reader
 *    field is read from the writer field of that name (or alias), or takes
 *    its default; a reader field with neither is an error; writer fields the
 *    reader lacks are skipped;
 *  - enums with the same name: every writer symbol is a reader symbol,
 *    unless the reader has a default;
 *  - fixed: same name and size; arrays and maps: their items and values;
 *  - a writer union: every branch must be readable; a reader union: some
 *    branch reads the writer's type.
 *
 * Logical types do not take part, as in Java. A record pair being checked
 * is assumed readable while its fields are checked, so recursive types end.
 */
#include <stdio.h>
#include <string.h>

#include "serde/avro_compat.h"

#define MAX_DEPTH 64

typedef struct {
    const sh_avro_schema_t *reader, *writer;
    int seen_reader[MAX_DEPTH], seen_writer[MAX_DEPTH];
    int seen;
    char *msg;
    size_t msglen;
    char path[512];
} check_t;

static bool check(check_t *c, int r, int w);

static const char *short_name(const char *full) {
    const char *dot = full ? strrchr(full, '.') : NULL;
    return dot ? dot + 1 : full ? full : "";
}

static bool names_match(const sh_avro_type_t *r, const sh_avro_type_t *w) {
    if (strcmp(short_name(r->name), short_name(w->name)) == 0) return true;
    for (int i = 0; i < r->alias_count; i++)
        if (strcmp(short_name(r->aliases[i]), short_name(w->name)) == 0) return true;
    return false;
}

static bool refuse(check_t *c, const char *fmt, const char *a, const char *b) {
    char detail[512];
    snprintf(detail, sizeof detail, fmt, a, b);
    snprintf(c->msg, c->msglen, "at %s: %s", c->path[0] ? c->path : "the top level", detail);
    return false;
}

static bool promotable(sh_avro_kind_t r, sh_avro_kind_t w) {
    if (r == w) return true;
    switch (w) {
    case SH_AVRO_INT:
        return r == SH_AVRO_LONG || r == SH_AVRO_FLOAT || r == SH_AVRO_DOUBLE;
    case SH_AVRO_LONG:
        return r == SH_AVRO_FLOAT || r == SH_AVRO_DOUBLE;
    case SH_AVRO_FLOAT:
        return r == SH_AVRO_DOUBLE;
    case SH_AVRO_STRING:
        return r == SH_AVRO_BYTES;
    case SH_AVRO_BYTES:
        return r == SH_AVRO_STRING;
    default:
        return false;
    }
}

static const sh_avro_field_t *writer_field(const sh_avro_type_t *w, const sh_avro_field_t *rf) {
    for (int i = 0; i < w->count; i++)
        if (strcmp(w->fields[i].name, rf->name) == 0) return &w->fields[i];
    for (int a = 0; a < rf->alias_count; a++)
        for (int i = 0; i < w->count; i++)
            if (strcmp(w->fields[i].name, rf->aliases[a]) == 0) return &w->fields[i];
    return NULL;
}

static bool check_record(check_t *c, int r, int w) {
    const sh_avro_type_t *rt = &c->reader->types[r], *wt = &c->writer->types[w];
    for (int i = 0; i < c->seen; i++)
        if (c->seen_reader[i] == r && c->seen_writer[i] == w) return true;
    if (c->seen == MAX_DEPTH) return refuse(c, "records nested deeper than %s%s", "64", "");
    c->seen_reader[c->seen] = r;
    c->seen_writer[c->seen++] = w;
    bool ok = true;
    size_t path_len = strlen(c->path);
    for (int i = 0; ok && i < rt->count; i++) {
        const sh_avro_field_t *rf = &rt->fields[i];
        snprintf(c->path + path_len, sizeof c->path - path_len, "%s%s", path_len ? "." : "",
                 rf->name);
        const sh_avro_field_t *wf = writer_field(wt, rf);
        if (!wf) {
            if (!rf->default_value)
                ok = refuse(c,
                            "reader field '%s' is missing from the writer's record %s and has "
                            "no default",
                            rf->name, wt->name);
        } else {
            ok = check(c, rf->type, wf->type);
        }
        c->path[path_len] = 0;
    }
    c->seen--;
    return ok;
}

static bool check(check_t *c, int r, int w) {
    const sh_avro_type_t *rt = &c->reader->types[r], *wt = &c->writer->types[w];
    if (wt->kind == SH_AVRO_UNION) {
        for (int i = 0; i < wt->count; i++)
            if (!check(c, r, wt->branches[i])) return false;
        return true;
    }
    if (rt->kind == SH_AVRO_UNION) {
        for (int i = 0; i < rt->count; i++) {
            const sh_avro_type_t *b = &c->reader->types[rt->branches[i]];
            /* a branch of the same kind first, as the spec picks it */
            if (b->kind == wt->kind && check(c, rt->branches[i], w)) return true;
        }
        for (int i = 0; i < rt->count; i++) {
            const sh_avro_type_t *b = &c->reader->types[rt->branches[i]];
            if (b->kind != wt->kind && promotable(b->kind, wt->kind)) return true;
        }
        return refuse(c, "the writer's %s is in no branch of the reader's union%s",
                      wt->name ? wt->name : sh_avro_kind_name(wt->kind), "");
    }
    if (!promotable(rt->kind, wt->kind))
        return refuse(c, "the reader's type %s cannot read the writer's %s",
                      sh_avro_kind_name(rt->kind), sh_avro_kind_name(wt->kind));
    switch (rt->kind) {
    case SH_AVRO_RECORD:
        if (!names_match(rt, wt))
            return refuse(c, "record names differ: %s, %s", rt->name, wt->name);
        return check_record(c, r, w);
    case SH_AVRO_ENUM:
        if (!names_match(rt, wt)) return refuse(c, "enum names differ: %s, %s", rt->name, wt->name);
        if (rt->enum_default) return true;
        for (int i = 0; i < wt->count; i++) {
            bool found = false;
            for (int j = 0; !found && j < rt->count; j++)
                found = strcmp(wt->symbols[i], rt->symbols[j]) == 0;
            if (!found)
                return refuse(c, "the writer's enum symbol %s is not in the reader's enum %s",
                              wt->symbols[i], rt->name);
        }
        return true;
    case SH_AVRO_FIXED:
        if (!names_match(rt, wt))
            return refuse(c, "fixed names differ: %s, %s", rt->name, wt->name);
        if (rt->size != wt->size) return refuse(c, "fixed %s changed size%s", rt->name, "");
        return true;
    case SH_AVRO_ARRAY:
    case SH_AVRO_MAP: {
        size_t n = strlen(c->path);
        snprintf(c->path + n, sizeof c->path - n, "%s", rt->kind == SH_AVRO_ARRAY ? "[]" : "{}");
        bool ok = check(c, rt->items, wt->items);
        c->path[n] = 0;
        return ok;
    }
    default:
        return true;
    }
}

bool sh_avro_compat_can_read(const sh_avro_schema_t *reader, const sh_avro_schema_t *writer,
                             char *msg, size_t msglen) {
    check_t c = {.reader = reader, .writer = writer, .msg = msg, .msglen = msglen};
    if (msglen) msg[0] = 0;
    return check(&c, reader->root, writer->root);
}
