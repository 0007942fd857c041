/*
 * avro_serde.c - the Avro serde behind the FFI: one handle per Lua VM,
 * holding its registry client, the writer schemas it has fetched (by id),
 * the schemas it writes with (by subject and text), the names of record
 * fields it has handed to Lua, and the buffers decode and encode reuse.
 *
 * A record costs one FFI call each way. Decoding fills the handle's value
 * array (avro_decode.c), which Lua walks into tables; field names cross as
 * small integers that Lua turns into strings once per name, so a record's
 * keys are interned strings Lua already has. The first record with a new
 * schema id, and the first encode with a new schema, cost a registry round
 * trip; every later one is a lookup in a short array (ids are few).
 *
 * @locality the stream thread that owns the Lua VM; a handle is never shared
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "serde/avro_codec.h"
#include "serde/avro_schema.h"
#include "serde/registry_client.h"
#include "streamhost_ffi.h"

typedef struct {
    int id;
    sh_avro_schema_t *schema;
} reader_t;

typedef struct {
    char *subject;
    char *text; /* as given: the cache key */
    int id;
    sh_avro_schema_t *schema;
} writer_t;

struct sh_avro {
    sh_registry_client_t *registry;
    reader_t *readers;
    int reader_count;
    int last_reader;
    writer_t *writers;
    int writer_count;
    char **names;
    int name_count, name_cap;
    sh_avro_tape_t tape;
    sh_avro_out_t out;
    char *latest; /* sh_ffi_avro_latest's answer */
};

sh_avro_t *sh_ffi_avro_new(const char *registry_url) {
    if (!registry_url) {
        sh_err_set(SH_ERR_INVALID, "avro: no schema registry URL");
        return NULL;
    }
    sh_avro_t *a = calloc(1, sizeof *a);
    if (!a || !(a->registry = sh_registry_client_new(registry_url))) {
        free(a);
        sh_err_set(SH_ERR_NOMEM, "avro: out of memory making a serde for %s", registry_url);
        return NULL;
    }
    return a;
}

void sh_ffi_avro_destroy(sh_avro_t *a) {
    if (!a) return;
    for (int i = 0; i < a->reader_count; i++)
        sh_avro_schema_free(a->readers[i].schema);
    for (int i = 0; i < a->writer_count; i++) {
        sh_avro_schema_free(a->writers[i].schema);
        free(a->writers[i].subject);
        free(a->writers[i].text);
    }
    for (int i = 0; i < a->name_count; i++)
        free(a->names[i]);
    free(a->readers);
    free(a->writers);
    free(a->names);
    sh_avro_tape_free(&a->tape);
    free(a->out.data);
    sh_registry_client_free(a->registry);
    free(a->latest);
    free(a);
}

const char *sh_ffi_avro_name(sh_avro_t *a, int32_t name) {
    return name >= 0 && name < a->name_count ? a->names[name] : NULL;
}

/* Gives every field name of a schema its id: O(fields * names), once per
 * schema. */
static int intern_names(sh_avro_t *a, sh_avro_schema_t *s) {
    for (int t = 0; t < s->count; t++) {
        sh_avro_type_t *type = &s->types[t];
        if (type->kind != SH_AVRO_RECORD) continue;
        for (int f = 0; f < type->count; f++) {
            sh_avro_field_t *field = &type->fields[f];
            int found = -1;
            for (int n = 0; n < a->name_count && found < 0; n++)
                if (strcmp(a->names[n], field->name) == 0) found = n;
            if (found < 0) {
                if (a->name_count == a->name_cap) {
                    int cap = a->name_cap ? a->name_cap * 2 : 32;
                    char **grown = realloc(a->names, sizeof *grown * (size_t)cap);
                    if (!grown) return -1;
                    a->names = grown;
                    a->name_cap = cap;
                }
                if (!(a->names[a->name_count] = strdup(field->name))) return -1;
                found = a->name_count++;
            }
            field->name_id = found;
        }
    }
    return 0;
}

static const sh_avro_schema_t *reader_for(sh_avro_t *a, int id, int *err) {
    if (a->last_reader < a->reader_count && a->readers[a->last_reader].id == id)
        return a->readers[a->last_reader].schema;
    for (int i = 0; i < a->reader_count; i++)
        if (a->readers[i].id == id) {
            a->last_reader = i;
            return a->readers[i].schema;
        }
    int missing;
    char why[1024];
    char *text = sh_registry_client_schema(a->registry, id, &missing, why, sizeof why);
    if (!text) {
        *err = sh_err_set(missing ? SH_ERR_NOT_FOUND : SH_ERR_DECODE, "%s%s",
                          missing ? "unknown schema id: " : "", why);
        return NULL;
    }
    sh_avro_schema_t *s = sh_avro_schema_parse(text, strlen(text), why, sizeof why);
    free(text);
    reader_t *grown = s ? realloc(a->readers, sizeof *grown * (size_t)(a->reader_count + 1)) : NULL;
    if (!s || !grown || intern_names(a, s) != 0) {
        *err = sh_err_set(s ? SH_ERR_NOMEM : SH_ERR_DECODE, "writer schema %d: %s", id,
                          s ? "out of memory" : why);
        sh_avro_schema_free(s);
        if (grown) a->readers = grown;
        return NULL;
    }
    a->readers = grown;
    a->readers[a->reader_count] = (reader_t){id, s};
    a->last_reader = a->reader_count++;
    return s;
}

int sh_ffi_avro_decode(sh_avro_t *a, const char *data, size_t len,
                       const sh_ffi_avro_value_t **values, int32_t *count) {
    if (!a || !values || !count) return sh_err_set(SH_ERR_INVALID, "avro decode: NULL argument");
    if (!data || len < 5)
        return sh_err_set(SH_ERR_DECODE,
                          "%zu bytes are too few for Avro in the Confluent wire format (magic "
                          "byte 0, 4-byte schema id, body)",
                          data ? len : 0);
    if (data[0] != 0)
        return sh_err_set(SH_ERR_DECODE,
                          "magic byte %d, not 0: not Avro in the Confluent wire format",
                          (unsigned char)data[0]);
    const unsigned char *u = (const unsigned char *)data;
    int id = (int)((uint32_t)u[1] << 24 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 8 | u[4]);
    int err = SH_OK;
    const sh_avro_schema_t *s = reader_for(a, id, &err);
    if (!s) return err;
    char why[512];
    if (sh_avro_decode(s, data + 5, len - 5, &a->tape, why, sizeof why) != 0)
        return sh_err_set(SH_ERR_DECODE, "Avro body with schema id %d: %s", id, why);
    *values = a->tape.values;
    *count = a->tape.count;
    return SH_OK;
}

int sh_ffi_avro_writer(sh_avro_t *a, const char *subject, const char *schema) {
    if (!a || !subject || !schema) {
        sh_err_set(SH_ERR_INVALID, "avro writer: NULL argument");
        return -1;
    }
    for (int i = 0; i < a->writer_count; i++)
        if (strcmp(a->writers[i].text, schema) == 0 && strcmp(a->writers[i].subject, subject) == 0)
            return i;
    char why[1024];
    sh_avro_schema_t *s = sh_avro_schema_parse(schema, strlen(schema), why, sizeof why);
    if (!s) {
        sh_err_set(SH_ERR_INVALID, "subject %s: %s", subject, why);
        return -1;
    }
    int id;
    if (sh_registry_client_register(a->registry, subject, s->canonical, &id, why, sizeof why) !=
        0) {
        sh_err_set(SH_ERR_INVALID, "%s", why);
        sh_avro_schema_free(s);
        return -1;
    }
    writer_t *grown = realloc(a->writers, sizeof *grown * (size_t)(a->writer_count + 1));
    char *subject_copy = strdup(subject), *text_copy = strdup(schema);
    if (!grown || !subject_copy || !text_copy) {
        if (grown) a->writers = grown;
        free(subject_copy);
        free(text_copy);
        sh_avro_schema_free(s);
        sh_err_set(SH_ERR_NOMEM, "avro writer for subject %s: out of memory", subject);
        return -1;
    }
    a->writers = grown;
    a->writers[a->writer_count] = (writer_t){subject_copy, text_copy, id, s};
    return a->writer_count++;
}

const char *sh_ffi_avro_schema_text(sh_avro_t *a, int32_t id) {
    for (int i = 0; a && i < a->reader_count; i++)
        if (a->readers[i].id == id) return a->readers[i].schema->canonical;
    return NULL;
}

const char *sh_ffi_avro_latest(sh_avro_t *a, const char *subject) {
    if (!a || !subject) {
        sh_err_set(SH_ERR_INVALID, "avro latest: NULL argument");
        return NULL;
    }
    int missing;
    char why[1024];
    char *text = sh_registry_client_latest(a->registry, subject, &missing, why, sizeof why);
    free(a->latest);
    a->latest = text;
    if (!text) sh_err_set(missing ? SH_ERR_NOT_FOUND : SH_ERR_INVALID, "%s", why);
    return text;
}

int32_t sh_ffi_avro_writer_id(sh_avro_t *a, int writer) {
    return a && writer >= 0 && writer < a->writer_count ? a->writers[writer].id : -1;
}

int sh_ffi_avro_encode(sh_avro_t *a, int writer, const sh_ffi_avro_value_t *values, int32_t count,
                       sh_ffi_slice_t *out) {
    if (!a || writer < 0 || writer >= a->writer_count || !out)
        return sh_err_set(SH_ERR_INVALID, "avro encode: no writer %d", writer);
    writer_t *w = &a->writers[writer];
    unsigned char header[5] = {0, (unsigned char)(w->id >> 24), (unsigned char)(w->id >> 16),
                               (unsigned char)(w->id >> 8), (unsigned char)w->id};
    a->out.len = 0;
    if (a->out.cap < 5) {
        char *grown = realloc(a->out.data, 256);
        if (!grown) return sh_err_set(SH_ERR_NOMEM, "avro encode: out of memory");
        a->out.data = grown;
        a->out.cap = 256;
    }
    memcpy(a->out.data, header, 5);
    a->out.len = 5;
    char why[1024];
    if (sh_avro_encode(w->schema, values, count, &a->out, why, sizeof why) != 0)
        return sh_err_set(SH_ERR_INVALID, "cannot encode with the schema of subject %s: %s",
                          w->subject, why);
    out->data = a->out.data;
    out->len = a->out.len;
    return SH_OK;
}
