/*
 * schemas.c - the registry's state and its rules, kept apart from HTTP.
 *
 * Schemas are global and deduplicated: the same schema text (compact JSON)
 * gets the same id under every subject, as in Confluent's registry. A
 * subject is its list of versions; a soft delete marks versions deleted (an
 * id stays readable forever), a permanent delete drops them. A change is
 * first persisted as a `_schemas` record (key and value in Confluent's JSON)
 * and then applied through the same sh_schemas_apply that replays the topic
 * at start, so memory never holds what the topic does not.
 *
 * Sizes are a registry's (hundreds of schemas): lookups are linear scans,
 * O(versions) each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "registry/schemas.h"
#include "serde/avro_compat.h"

typedef struct {
    int id;
    sh_avro_schema_t *schema;
} stored_schema_t;

typedef struct {
    char *subject; /* NULL: the global level */
    int level;
} level_t;

struct sh_schemas {
    sh_schemas_persist_fn persist;
    void *persist_arg;
    stored_schema_t *schemas;
    int schema_count, schema_cap;
    sh_schema_version_t *versions;
    int version_count, version_cap;
    level_t *levels;
    int level_count;
    int global_level;
};

static const char *level_names[SH_COMPAT__COUNT] = {
    "NONE", "BACKWARD",       "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
    "FULL", "FULL_TRANSITIVE"};

const char *sh_compat_level_name(int level) {
    return level >= 0 && level < SH_COMPAT__COUNT ? level_names[level] : "?";
}

int sh_compat_level_parse(const char *name) {
    for (int i = 0; name && i < SH_COMPAT__COUNT; i++)
        if (strcmp(name, level_names[i]) == 0) return i;
    return -1;
}

static int set_status(sh_schemas_status_t *st, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int set_status(sh_schemas_status_t *st, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->message, sizeof st->message, fmt, ap);
    va_end(ap);
    st->error_code = code;
    return -1;
}

sh_schemas_t *sh_schemas_new(sh_schemas_persist_fn persist, void *arg) {
    sh_schemas_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->persist = persist;
    s->persist_arg = arg;
    s->global_level = SH_COMPAT_BACKWARD;
    return s;
}

void sh_schemas_free(sh_schemas_t *s) {
    if (!s) return;
    for (int i = 0; i < s->schema_count; i++)
        sh_avro_schema_free(s->schemas[i].schema);
    for (int i = 0; i < s->version_count; i++)
        free(s->versions[i].subject);
    for (int i = 0; i < s->level_count; i++)
        free(s->levels[i].subject);
    free(s->schemas);
    free(s->versions);
    free(s->levels);
    free(s);
}

/* ---- lookups ---- */

static stored_schema_t *schema_by_id(sh_schemas_t *s, int id) {
    for (int i = 0; i < s->schema_count; i++)
        if (s->schemas[i].id == id) return &s->schemas[i];
    return NULL;
}

static stored_schema_t *schema_by_text(sh_schemas_t *s, const char *canonical) {
    for (int i = 0; i < s->schema_count; i++)
        if (strcmp(s->schemas[i].schema->canonical, canonical) == 0) return &s->schemas[i];
    return NULL;
}

static sh_schema_version_t *find_version(sh_schemas_t *s, const char *subject, int version) {
    for (int i = 0; i < s->version_count; i++)
        if (s->versions[i].version == version && strcmp(s->versions[i].subject, subject) == 0)
            return &s->versions[i];
    return NULL;
}

bool sh_schemas_subject_exists(sh_schemas_t *s, const char *subject, bool deleted) {
    for (int i = 0; i < s->version_count; i++)
        if (strcmp(s->versions[i].subject, subject) == 0 && (deleted || !s->versions[i].deleted))
            return true;
    return false;
}

static sh_schema_version_t *latest(sh_schemas_t *s, const char *subject, bool deleted) {
    sh_schema_version_t *best = NULL;
    for (int i = 0; i < s->version_count; i++) {
        sh_schema_version_t *v = &s->versions[i];
        if (strcmp(v->subject, subject) == 0 && (deleted || !v->deleted) &&
            (!best || v->version > best->version))
            best = v;
    }
    return best;
}

const char *sh_schemas_text(sh_schemas_t *s, int id) {
    stored_schema_t *found = schema_by_id(s, id);
    return found ? found->schema->canonical : NULL;
}

const sh_schema_version_t *sh_schemas_all(sh_schemas_t *s, int *count) {
    *count = s->version_count;
    return s->versions;
}

/* ---- applying _schemas records ---- */

static void apply_schema(sh_schemas_t *s, const char *subject, int version, json_t *value) {
    sh_schema_version_t *v = find_version(s, subject, version);
    if (!value) { /* permanent delete */
        if (v) {
            free(v->subject);
            *v = s->versions[--s->version_count];
        }
        return;
    }
    int id = (int)json_integer_value(json_object_get(value, "id"));
    const char *text = json_string_value(json_object_get(value, "schema"));
    bool deleted = json_is_true(json_object_get(value, "deleted"));
    if (!text || id <= 0) return;
    if (!schema_by_id(s, id)) {
        char err[256];
        sh_avro_schema_t *schema = sh_avro_schema_parse(text, strlen(text), err, sizeof err);
        if (!schema) return;
        if (s->schema_count == s->schema_cap) {
            int cap = s->schema_cap ? s->schema_cap * 2 : 16;
            stored_schema_t *grown = realloc(s->schemas, sizeof *grown * (size_t)cap);
            if (!grown) {
                sh_avro_schema_free(schema);
                return;
            }
            s->schemas = grown;
            s->schema_cap = cap;
        }
        s->schemas[s->schema_count++] = (stored_schema_t){id, schema};
    }
    if (v) {
        v->id = id;
        v->deleted = deleted;
        return;
    }
    if (s->version_count == s->version_cap) {
        int cap = s->version_cap ? s->version_cap * 2 : 16;
        sh_schema_version_t *grown = realloc(s->versions, sizeof *grown * (size_t)cap);
        if (!grown) return;
        s->versions = grown;
        s->version_cap = cap;
    }
    sh_schema_version_t *added = &s->versions[s->version_count];
    if (!(added->subject = strdup(subject))) return;
    added->version = version;
    added->id = id;
    added->deleted = deleted;
    s->version_count++;
}

static void apply_config(sh_schemas_t *s, const char *subject, json_t *value) {
    int level =
        value
            ? sh_compat_level_parse(json_string_value(json_object_get(value, "compatibilityLevel")))
            : -1;
    if (!subject) {
        s->global_level = level >= 0 ? level : SH_COMPAT_BACKWARD;
        return;
    }
    for (int i = 0; i < s->level_count; i++) {
        if (strcmp(s->levels[i].subject, subject) != 0) continue;
        if (level >= 0) {
            s->levels[i].level = level;
        } else {
            free(s->levels[i].subject);
            s->levels[i] = s->levels[--s->level_count];
        }
        return;
    }
    if (level < 0) return;
    level_t *grown = realloc(s->levels, sizeof *grown * (size_t)(s->level_count + 1));
    char *copy = strdup(subject);
    if (!grown || !copy) {
        free(copy);
        if (grown) s->levels = grown;
        return;
    }
    s->levels = grown;
    s->levels[s->level_count++] = (level_t){copy, level};
}

void sh_schemas_apply(sh_schemas_t *s, const char *key, size_t key_len, const char *value,
                      size_t value_len) {
    json_t *k = json_loadb(key, key_len, 0, NULL);
    json_t *v = value ? json_loadb(value, value_len, 0, NULL) : NULL;
    const char *keytype = json_string_value(json_object_get(k, "keytype"));
    const char *subject = json_string_value(json_object_get(k, "subject"));
    if (keytype && strcmp(keytype, "SCHEMA") == 0 && subject)
        apply_schema(s, subject, (int)json_integer_value(json_object_get(k, "version")), v);
    else if (keytype && strcmp(keytype, "CONFIG") == 0)
        apply_config(s, subject, v);
    json_decref(k);
    json_decref(v);
}

/* Persists one record, then applies it. */
static int write_record(sh_schemas_t *s, json_t *key, json_t *value, sh_schemas_status_t *st) {
    char *k = json_dumps(key, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *v = value ? json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    int rc = 0;
    char err[512] = "";
    if (!k || (value && !v)) {
        rc = set_status(st, 50001, "Error while storing a schema: out of memory");
    } else if (s->persist && s->persist(s->persist_arg, k, v, err, sizeof err) != 0) {
        rc = set_status(st, 50001, "Error while storing to the _schemas topic: %s", err);
    } else {
        sh_schemas_apply(s, k, strlen(k), v, v ? strlen(v) : 0);
    }
    free(k);
    free(v);
    json_decref(key);
    json_decref(value);
    return rc;
}

static int write_version(sh_schemas_t *s, const char *subject, int version, int id,
                         const char *text, bool deleted, bool tombstone, sh_schemas_status_t *st) {
    json_t *key = json_pack("{s:s, s:s, s:i, s:i}", "keytype", "SCHEMA", "subject", subject,
                            "version", version, "magic", 1);
    json_t *value = tombstone
                        ? NULL
                        : json_pack("{s:s, s:i, s:i, s:s, s:b}", "subject", subject, "version",
                                    version, "id", id, "schema", text, "deleted", deleted);
    return write_record(s, key, value, st);
}

/* ---- compatibility ---- */

int sh_schemas_get_level(sh_schemas_t *s, const char *subject) {
    if (!subject) return s->global_level;
    for (int i = 0; i < s->level_count; i++)
        if (strcmp(s->levels[i].subject, subject) == 0) return s->levels[i].level;
    return -1;
}

static int effective_level(sh_schemas_t *s, const char *subject) {
    int level = sh_schemas_get_level(s, subject);
    return level >= 0 ? level : s->global_level;
}

int sh_schemas_set_level(sh_schemas_t *s, const char *subject, int level, sh_schemas_status_t *st) {
    json_t *key =
        subject ? json_pack("{s:s, s:s, s:i}", "keytype", "CONFIG", "subject", subject, "magic", 0)
                : json_pack("{s:s, s:n, s:i}", "keytype", "CONFIG", "subject", "magic", 0);
    json_t *value =
        level >= 0 ? json_pack("{s:s}", "compatibilityLevel", sh_compat_level_name(level)) : NULL;
    return write_record(s, key, value, st);
}

/* Can `candidate` follow `existing` under level? why says which way failed. */
static bool compatible_with(int level, const sh_avro_schema_t *candidate,
                            const sh_avro_schema_t *existing, char *why, size_t whylen) {
    char msg[768];
    bool backward = level == SH_COMPAT_BACKWARD || level == SH_COMPAT_BACKWARD_TRANSITIVE ||
                    level == SH_COMPAT_FULL || level == SH_COMPAT_FULL_TRANSITIVE;
    bool forward = level == SH_COMPAT_FORWARD || level == SH_COMPAT_FORWARD_TRANSITIVE ||
                   level == SH_COMPAT_FULL || level == SH_COMPAT_FULL_TRANSITIVE;
    if (backward && !sh_avro_compat_can_read(candidate, existing, msg, sizeof msg)) {
        snprintf(why, whylen, "%s: the new schema cannot read data written with an earlier one: %s",
                 sh_compat_level_name(level), msg);
        return false;
    }
    if (forward && !sh_avro_compat_can_read(existing, candidate, msg, sizeof msg)) {
        snprintf(why, whylen, "%s: an earlier schema cannot read data written with the new one: %s",
                 sh_compat_level_name(level), msg);
        return false;
    }
    return true;
}

static bool transitive(int level) {
    return level == SH_COMPAT_BACKWARD_TRANSITIVE || level == SH_COMPAT_FORWARD_TRANSITIVE ||
           level == SH_COMPAT_FULL_TRANSITIVE;
}

/* Checks candidate against the subject's live versions: the latest one, or
 * all of them under a _TRANSITIVE level. */
static bool compatible_with_subject(sh_schemas_t *s, const char *subject,
                                    const sh_avro_schema_t *candidate, char *why, size_t whylen) {
    int level = effective_level(s, subject);
    if (level == SH_COMPAT_NONE) return true;
    sh_schema_version_t *last = latest(s, subject, false);
    for (int i = 0; i < s->version_count; i++) {
        sh_schema_version_t *v = &s->versions[i];
        if (v->deleted || strcmp(v->subject, subject) != 0) continue;
        if (!transitive(level) && v != last) continue;
        stored_schema_t *existing = schema_by_id(s, v->id);
        if (existing && !compatible_with(level, candidate, existing->schema, why, whylen))
            return false;
    }
    return true;
}

/* ---- operations ---- */

static sh_avro_schema_t *parse(const char *text, sh_schemas_status_t *st) {
    char err[512];
    sh_avro_schema_t *schema =
        text ? sh_avro_schema_parse(text, strlen(text), err, sizeof err) : NULL;
    if (!schema) set_status(st, 42201, "Invalid schema: %s", text ? err : "no schema given");
    return schema;
}

int sh_schemas_register(sh_schemas_t *s, const char *subject, const char *text, int *id,
                        sh_schemas_status_t *st) {
    sh_avro_schema_t *schema = parse(text, st);
    if (!schema) return -1;
    int rc = -1;
    stored_schema_t *same = schema_by_text(s, schema->canonical);
    for (int i = 0; same && i < s->version_count; i++) {
        sh_schema_version_t *v = &s->versions[i];
        if (!v->deleted && v->id == same->id && strcmp(v->subject, subject) == 0) {
            *id = same->id;
            rc = 0;
            goto out;
        }
    }
    char why[1024];
    if (!compatible_with_subject(s, subject, schema, why, sizeof why)) {
        set_status(st, 409,
                   "Schema being registered is incompatible with an earlier schema for subject "
                   "\"%s\", details: %s",
                   subject, why);
        goto out;
    }
    int next_id = 1, next_version = 1;
    for (int i = 0; i < s->schema_count; i++)
        if (s->schemas[i].id >= next_id) next_id = s->schemas[i].id + 1;
    for (int i = 0; i < s->version_count; i++)
        if (strcmp(s->versions[i].subject, subject) == 0 && s->versions[i].version >= next_version)
            next_version = s->versions[i].version + 1;
    int new_id = same ? same->id : next_id;
    if (write_version(s, subject, next_version, new_id, schema->canonical, false, false, st) != 0)
        goto out;
    *id = new_id;
    rc = 0;
out:
    sh_avro_schema_free(schema);
    return rc;
}

const sh_schema_version_t *sh_schemas_lookup(sh_schemas_t *s, const char *subject, const char *text,
                                             sh_schemas_status_t *st) {
    if (!sh_schemas_subject_exists(s, subject, false)) {
        set_status(st, 40401, "Subject '%s' not found.", subject);
        return NULL;
    }
    sh_avro_schema_t *schema = parse(text, st);
    if (!schema) return NULL;
    stored_schema_t *same = schema_by_text(s, schema->canonical);
    sh_avro_schema_free(schema);
    for (int i = 0; same && i < s->version_count; i++) {
        sh_schema_version_t *v = &s->versions[i];
        if (!v->deleted && v->id == same->id && strcmp(v->subject, subject) == 0) return v;
    }
    set_status(st, 40403, "Schema not found");
    return NULL;
}

const sh_schema_version_t *sh_schemas_version(sh_schemas_t *s, const char *subject,
                                              const char *version, bool deleted,
                                              sh_schemas_status_t *st) {
    int number = -1;
    if (strcmp(version, "latest") != 0 && strcmp(version, "-1") != 0) {
        char *end;
        long n = strtol(version, &end, 10);
        if (!*version || *end || n <= 0 || n > 2147483647) {
            set_status(st, 42202,
                       "The specified version '%s' is not a valid version id. Allowed values are "
                       "between [1, 2^31-1] and the string \"latest\"",
                       version);
            return NULL;
        }
        number = (int)n;
    }
    if (!sh_schemas_subject_exists(s, subject, deleted)) {
        set_status(st, 40401, "Subject '%s' not found.", subject);
        return NULL;
    }
    sh_schema_version_t *v =
        number < 0 ? latest(s, subject, deleted) : find_version(s, subject, number);
    if (!v || (v->deleted && !deleted)) {
        set_status(st, 40402, "Version %s not found.", version);
        return NULL;
    }
    return v;
}

int sh_schemas_delete(sh_schemas_t *s, const char *subject, const char *version, bool permanent,
                      int *versions, int cap, sh_schemas_status_t *st) {
    if (!sh_schemas_subject_exists(s, subject, permanent)) {
        set_status(st, 40401, "Subject '%s' not found.", subject);
        return -1;
    }
    if (version) {
        const sh_schema_version_t *v = sh_schemas_version(s, subject, version, permanent, st);
        if (!v) return -1;
        if (permanent && !v->deleted)
            return set_status(st, 40407,
                              "Subject '%s' Version %d was not deleted first before being "
                              "permanently deleted",
                              subject, v->version);
        int number = v->version;
        if (write_version(s, subject, number, v->id, sh_schemas_text(s, v->id), true, permanent,
                          st) != 0)
            return -1;
        versions[0] = number;
        return 1;
    }
    if (permanent && sh_schemas_subject_exists(s, subject, false))
        return set_status(st, 40405,
                          "Subject '%s' was not deleted first before being permanently deleted",
                          subject);
    int n = 0;
    /* collect first: a permanent delete removes entries from the array */
    int numbers[4096], ids[4096], found = 0;
    for (int i = 0; i < s->version_count && found < 4096; i++) {
        sh_schema_version_t *v = &s->versions[i];
        if (strcmp(v->subject, subject) != 0 || (v->deleted && !permanent)) continue;
        numbers[found] = v->version;
        ids[found++] = v->id;
    }
    for (int i = 0; i < found; i++) {
        if (write_version(s, subject, numbers[i], ids[i], sh_schemas_text(s, ids[i]), true,
                          permanent, st) != 0)
            return -1;
        if (n < cap) versions[n++] = numbers[i];
    }
    return n;
}

int sh_schemas_check(sh_schemas_t *s, const char *subject, const char *version, const char *text,
                     bool *compatible, char *why, size_t whylen, sh_schemas_status_t *st) {
    const sh_schema_version_t *v = sh_schemas_version(s, subject, version, false, st);
    if (!v) return -1;
    sh_avro_schema_t *schema = parse(text, st);
    if (!schema) return -1;
    stored_schema_t *existing = schema_by_id(s, v->id);
    int level = effective_level(s, subject);
    why[0] = 0;
    *compatible = level == SH_COMPAT_NONE || !existing ||
                  compatible_with(level, schema, existing->schema, why, whylen);
    sh_avro_schema_free(schema);
    return 0;
}
