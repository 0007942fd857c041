/*
 * avro_schema.c - compiles Avro schema JSON into a flat table of types.
 *
 * avro-c parses the text first, so whatever it refuses is refused here with
 * its message. The table is then built from the JSON (jansson) in one walk:
 * a named type (record, enum, fixed) takes its slot before its fields are
 * compiled, so a recursive reference finds it. Names resolve as the spec
 * says: a dotted name is full, a bare one is looked up in the enclosing
 * namespace, then as is. Cost: O(size of the schema), once per schema.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>

#include "serde/avro_schema.h"

typedef struct {
    sh_avro_schema_t *schema;
    char *err;
    size_t errlen;
} compiler_t;

static const char *kind_names[] = {"null",   "boolean", "int",    "long",   "float",
                                   "double", "bytes",   "string", "record", "enum",
                                   "array",  "map",     "union",  "fixed"};

const char *sh_avro_kind_name(sh_avro_kind_t kind) { return kind_names[kind]; }

static int fail(compiler_t *c, const char *fmt, const char *arg) {
    snprintf(c->err, c->errlen, fmt, arg ? arg : "");
    return -1;
}

static int new_type(compiler_t *c, sh_avro_kind_t kind) {
    sh_avro_schema_t *s = c->schema;
    if (s->count == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        sh_avro_type_t *grown = realloc(s->types, sizeof *grown * (size_t)cap);
        if (!grown) return fail(c, "out of memory%s", NULL);
        s->types = grown;
        s->cap = cap;
    }
    sh_avro_type_t *t = &s->types[s->count];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->items = -1;
    return s->count++;
}

static int primitive_kind(const char *name) {
    for (int k = SH_AVRO_NULL; k <= SH_AVRO_STRING; k++)
        if (strcmp(name, kind_names[k]) == 0) return k;
    return -1;
}

static int find_named(sh_avro_schema_t *s, const char *full) {
    for (int i = 0; i < s->count; i++)
        if (s->types[i].name && strcmp(s->types[i].name, full) == 0) return i;
    return -1;
}

static char *full_name(const char *name, const char *ns) {
    if (strchr(name, '.') || !ns || !*ns) return strdup(name);
    size_t n = strlen(ns) + strlen(name) + 2;
    char *out = malloc(n);
    if (out) snprintf(out, n, "%s.%s", ns, name);
    return out;
}

static const char **string_list(json_t *array, int *count) {
    *count = 0;
    if (!json_is_array(array) || json_array_size(array) == 0) return NULL;
    const char **list = calloc(json_array_size(array), sizeof *list);
    if (!list) return NULL;
    size_t i;
    json_t *v;
    json_array_foreach(array, i, v) if (json_is_string(v)) list[(*count)++] = json_string_value(v);
    return list;
}

static int compile(compiler_t *c, json_t *j, const char *ns);

static void set_logical(sh_avro_type_t *t, json_t *j) {
    const char *lt = json_string_value(json_object_get(j, "logicalType"));
    if (!lt) return;
    sh_avro_kind_t k = t->kind;
    /* a logical type on the wrong base type is ignored, as the spec asks */
    if (strcmp(lt, "decimal") == 0 && (k == SH_AVRO_BYTES || k == SH_AVRO_FIXED)) {
        json_t *p = json_object_get(j, "precision"), *s = json_object_get(j, "scale");
        int precision = json_is_integer(p) ? (int)json_integer_value(p) : 0;
        int scale = json_is_integer(s) ? (int)json_integer_value(s) : 0;
        if (precision <= 0 || scale < 0 || scale > precision) return;
        t->logical = SH_AVRO_LT_DECIMAL;
        t->precision = precision;
        t->scale = scale;
    } else if (k == SH_AVRO_INT && strcmp(lt, "date") == 0) {
        t->logical = SH_AVRO_LT_DATE;
    } else if (k == SH_AVRO_INT && strcmp(lt, "time-millis") == 0) {
        t->logical = SH_AVRO_LT_TIME_MILLIS;
    } else if (k == SH_AVRO_LONG && strcmp(lt, "time-micros") == 0) {
        t->logical = SH_AVRO_LT_TIME_MICROS;
    } else if (k == SH_AVRO_LONG && strcmp(lt, "timestamp-millis") == 0) {
        t->logical = SH_AVRO_LT_TIMESTAMP_MILLIS;
    } else if (k == SH_AVRO_LONG && strcmp(lt, "timestamp-micros") == 0) {
        t->logical = SH_AVRO_LT_TIMESTAMP_MICROS;
    } else if (k == SH_AVRO_LONG && strcmp(lt, "local-timestamp-millis") == 0) {
        t->logical = SH_AVRO_LT_LOCAL_TIMESTAMP_MILLIS;
    } else if (k == SH_AVRO_LONG && strcmp(lt, "local-timestamp-micros") == 0) {
        t->logical = SH_AVRO_LT_LOCAL_TIMESTAMP_MICROS;
    } else if (k == SH_AVRO_STRING && strcmp(lt, "uuid") == 0) {
        t->logical = SH_AVRO_LT_UUID;
    }
}

static int compile_named(compiler_t *c, json_t *j, const char *type, const char *ns) {
    const char *name = json_string_value(json_object_get(j, "name"));
    if (!name) return fail(c, "a %s needs a name", type);
    const char *own_ns = json_string_value(json_object_get(j, "namespace"));
    if (!strchr(name, '.') && own_ns) ns = own_ns;
    char *full = full_name(name, ns);
    if (!full) return fail(c, "out of memory%s", NULL);
    if (find_named(c->schema, full) >= 0) {
        fail(c, "type %s is defined twice", full);
        free(full);
        return -1;
    }
    sh_avro_kind_t kind = strcmp(type, "enum") == 0    ? SH_AVRO_ENUM
                          : strcmp(type, "fixed") == 0 ? SH_AVRO_FIXED
                                                       : SH_AVRO_RECORD;
    int index = new_type(c, kind);
    if (index < 0) {
        free(full);
        return -1;
    }
    sh_avro_type_t *t = &c->schema->types[index];
    t->name = full;
    t->aliases = string_list(json_object_get(j, "aliases"), &t->alias_count);
    /* the namespace of what is inside: the part of the full name before its last dot */
    char inner_ns[512] = "";
    const char *dot = strrchr(full, '.');
    if (dot) snprintf(inner_ns, sizeof inner_ns, "%.*s", (int)(dot - full), full);
    if (kind == SH_AVRO_ENUM) {
        t->symbols = string_list(json_object_get(j, "symbols"), &t->count);
        t->enum_default = json_string_value(json_object_get(j, "default"));
    } else if (kind == SH_AVRO_FIXED) {
        t->size = json_integer_value(json_object_get(j, "size"));
        set_logical(t, j);
    } else {
        json_t *fields = json_object_get(j, "fields");
        size_t n = json_array_size(fields);
        sh_avro_field_t *list = n ? calloc(n, sizeof *list) : NULL;
        if (n && !list) return fail(c, "out of memory%s", NULL);
        c->schema->types[index].fields = list;
        size_t i;
        json_t *f;
        json_array_foreach(fields, i, f) {
            const char *fname = json_string_value(json_object_get(f, "name"));
            if (!fname) return fail(c, "a field of %s has no name", full);
            list[i].name = (char *)fname;
            list[i].name_id = -1;
            list[i].default_value = json_object_get(f, "default");
            list[i].aliases = string_list(json_object_get(f, "aliases"), &list[i].alias_count);
            c->schema->types[index].count = (int)i + 1;
            int ft = compile(c, json_object_get(f, "type"), inner_ns);
            if (ft < 0) return -1;
            c->schema->types[index].fields[i].type = ft;
        }
    }
    return index;
}

static int compile(compiler_t *c, json_t *j, const char *ns) {
    if (json_is_string(j)) {
        const char *name = json_string_value(j);
        int kind = primitive_kind(name);
        if (kind >= 0) return new_type(c, (sh_avro_kind_t)kind);
        char *full = full_name(name, ns);
        int found = full ? find_named(c->schema, full) : -1;
        free(full);
        if (found < 0) found = find_named(c->schema, name);
        if (found < 0) return fail(c, "unknown type %s", name);
        return found;
    }
    if (json_is_array(j)) {
        int index = new_type(c, SH_AVRO_UNION);
        if (index < 0) return -1;
        size_t n = json_array_size(j);
        int *branches = n ? calloc(n, sizeof *branches) : NULL;
        if (n && !branches) return fail(c, "out of memory%s", NULL);
        c->schema->types[index].branches = branches;
        c->schema->types[index].count = (int)n;
        for (size_t i = 0; i < n; i++) {
            int b = compile(c, json_array_get(j, i), ns);
            if (b < 0) return -1;
            c->schema->types[index].branches[i] = b;
        }
        return index;
    }
    if (!json_is_object(j)) return fail(c, "a type must be a name, an object or a union%s", NULL);
    json_t *type = json_object_get(j, "type");
    if (!json_is_string(type)) return compile(c, type, ns);
    const char *t = json_string_value(type);
    if (strcmp(t, "record") == 0 || strcmp(t, "error") == 0 || strcmp(t, "enum") == 0 ||
        strcmp(t, "fixed") == 0)
        return compile_named(c, j, t, ns);
    if (strcmp(t, "array") == 0 || strcmp(t, "map") == 0) {
        int index = new_type(c, t[0] == 'a' ? SH_AVRO_ARRAY : SH_AVRO_MAP);
        if (index < 0) return -1;
        int inner = compile(c, json_object_get(j, t[0] == 'a' ? "items" : "values"), ns);
        if (inner < 0) return -1;
        c->schema->types[index].items = inner;
        return index;
    }
    int kind = primitive_kind(t);
    if (kind < 0) return compile(c, type, ns); /* {"type": "some.Named"} */
    int index = new_type(c, (sh_avro_kind_t)kind);
    if (index >= 0) set_logical(&c->schema->types[index], j);
    return index;
}

sh_avro_schema_t *sh_avro_schema_parse(const char *text, size_t len, char *err, size_t errlen) {
    avro_schema_t checked;
    if (avro_schema_from_json_length(text, len, &checked) != 0) {
        const char *why = avro_strerror();
        snprintf(err, errlen, "invalid Avro schema: %s", why && *why ? why : "does not parse");
        return NULL;
    }
    avro_schema_decref(checked);
    json_error_t jerr;
    json_t *json = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (!json) {
        snprintf(err, errlen, "invalid Avro schema: %s", jerr.text);
        return NULL;
    }
    sh_avro_schema_t *s = calloc(1, sizeof *s);
    if (!s) {
        json_decref(json);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->json = json;
    compiler_t c = {s, err, errlen};
    s->root = compile(&c, json, "");
    if (s->root < 0) goto fail;
    /* sorted keys: two texts of one schema compare equal whatever their key order */
    s->canonical = json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    if (!s->canonical) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    return s;
fail:
    sh_avro_schema_free(s);
    return NULL;
}

void sh_avro_schema_free(sh_avro_schema_t *s) {
    if (!s) return;
    for (int i = 0; i < s->count; i++) {
        sh_avro_type_t *t = &s->types[i];
        free(t->name);
        free(t->aliases);
        free(t->symbols);
        free(t->branches);
        if (t->fields)
            for (int f = 0; f < t->count; f++)
                free(t->fields[f].aliases);
        free(t->fields);
    }
    free(s->types);
    free(s->canonical);
    json_decref(s->json);
    free(s);
}
