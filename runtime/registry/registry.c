/*
 * registry.c - the Schema Registry's REST API over libmicrohttpd, with the
 * JSON shapes, status codes and error_codes of Confluent's registry
 * (Content-Type application/vnd.schemaregistry.v1+json):
 *
 *   GET    /subjects                          ["s", ...]           (?deleted=true)
 *   POST   /subjects/S/versions               {"id"}               409 incompatible, 42201
 *   POST   /subjects/S                        {"subject","id","version","schema"} 40401, 40403
 *   GET    /subjects/S/versions               [1, 2]               40401
 *   GET    /subjects/S/versions/V             {"subject","id","version","schema"} 40402, 42202
 *   GET    /subjects/S/versions/V/schema      the schema itself
 *   DELETE /subjects/S[/versions/V]           [1, 2] or V          (?permanent=true)
 *   GET    /schemas/ids/ID                    {"schema"}           40403
 *   GET    /schemas/ids/ID/versions           [{"subject","version"}]
 *   GET    /schemas/types                     ["AVRO"]
 *   POST   /compatibility/subjects/S/versions/V {"is_compatible"}  (?verbose=true: messages)
 *   GET|PUT /config, /config/S                {"compatibilityLevel"} / {"compatibility"} 42203
 *   DELETE /config/S
 *
 * An error is {"error_code": N, "message": "..."} with the HTTP status made
 * of N's first three digits. The rules live in schemas.c; this file only
 * routes and renders. One polling thread serves every connection, so
 * requests never run at the same time.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>

#include "base/log.h"
#include "registry/journal.h"
#include "registry/registry.h"
#include "registry/schemas.h"

#define CONTENT_TYPE "application/vnd.schemaregistry.v1+json"
#define MAX_BODY (4 << 20)

struct sh_registry {
    struct MHD_Daemon *daemon;
    sh_schemas_t *schemas;
    sh_journal_t *journal;
    char url[96];
};

typedef struct {
    char *data;
    size_t len;
    bool too_big;
} body_t;

/* ---- responses ---- */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, char *text) {
    if (!text) text = strdup("{\"error_code\":50001,\"message\":\"out of memory\"}");
    struct MHD_Response *r =
        MHD_create_response_from_buffer(text ? strlen(text) : 0, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", CONTENT_TYPE);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* Takes ownership of json. */
static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *json) {
    char *text =
        json ? json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER) : NULL;
    json_decref(json);
    return send_text(c, status, text);
}

static enum MHD_Result send_error(struct MHD_Connection *c, int error_code, const char *message) {
    unsigned status = (unsigned)error_code;
    while (status >= 1000)
        status /= 10;
    return send_json(c, status,
                     json_pack("{s:i, s:s}", "error_code", error_code, "message", message));
}

static enum MHD_Result send_status(struct MHD_Connection *c, const sh_schemas_status_t *st) {
    return send_error(c, st->error_code, st->message);
}

static enum MHD_Result send_version(struct MHD_Connection *c, sh_registry_t *reg,
                                    const sh_schema_version_t *v) {
    return send_json(c, 200,
                     json_pack("{s:s, s:i, s:i, s:s}", "subject", v->subject, "version", v->version,
                               "id", v->id, "schema", sh_schemas_text(reg->schemas, v->id)));
}

static bool query_true(struct MHD_Connection *c, const char *name) {
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    return v && strcmp(v, "true") == 0;
}

/* The "schema" of a request body, or NULL; *json keeps it alive. */
static const char *body_field(const body_t *body, const char *field, json_t **json) {
    *json = body->data ? json_loadb(body->data, body->len, 0, NULL) : NULL;
    return json_string_value(json_object_get(*json, field));
}

/* Refuses a body that is not JSON or names a schema type other than Avro,
 * as the registry does; NULL when the body is fine. */
static const char *bad_body(const body_t *body, json_t **json) {
    const char *text = body_field(body, "schema", json);
    if (!*json) return "Unrecognized request body: not JSON";
    const char *type = json_string_value(json_object_get(*json, "schemaType"));
    if (type && strcmp(type, "AVRO") != 0) return "Invalid schema: only AVRO schemas are served";
    if (!text) return "Invalid schema: the body has no \"schema\" string";
    return NULL;
}

/* ---- /subjects ---- */

static enum MHD_Result list_subjects(struct MHD_Connection *c, sh_registry_t *reg) {
    bool deleted = query_true(c, "deleted");
    int n;
    const sh_schema_version_t *all = sh_schemas_all(reg->schemas, &n);
    json_t *list = json_array();
    for (int i = 0; i < n; i++) { /* O(N^2) over versions: a registry's size */
        if (all[i].deleted && !deleted) continue;
        bool seen = false;
        for (size_t k = 0; k < json_array_size(list) && !seen; k++)
            seen = strcmp(json_string_value(json_array_get(list, k)), all[i].subject) == 0;
        if (!seen) json_array_append_new(list, json_string(all[i].subject));
    }
    return send_json(c, 200, list);
}

static enum MHD_Result list_versions(struct MHD_Connection *c, sh_registry_t *reg,
                                     const char *subject) {
    bool deleted = query_true(c, "deleted");
    if (!sh_schemas_subject_exists(reg->schemas, subject, deleted)) {
        char msg[2300];
        snprintf(msg, sizeof msg, "Subject '%s' not found.", subject);
        return send_error(c, 40401, msg);
    }
    int n;
    const sh_schema_version_t *all = sh_schemas_all(reg->schemas, &n);
    int numbers[n > 0 ? n : 1], count = 0;
    for (int i = 0; i < n; i++)
        if (strcmp(all[i].subject, subject) == 0 && (deleted || !all[i].deleted))
            numbers[count++] = all[i].version;
    for (int i = 1; i < count; i++) /* insertion sort: versions arrive mostly in order */
        for (int k = i; k > 0 && numbers[k - 1] > numbers[k]; k--) {
            int t = numbers[k];
            numbers[k] = numbers[k - 1];
            numbers[k - 1] = t;
        }
    json_t *list = json_array();
    for (int i = 0; i < count; i++)
        json_array_append_new(list, json_integer(numbers[i]));
    return send_json(c, 200, list);
}

static enum MHD_Result subject_request(struct MHD_Connection *c, sh_registry_t *reg,
                                       const char *method, char *path, const body_t *body) {
    /* path: S, S/versions, S/versions/V, S/versions/V/schema */
    char *rest = strstr(path, "/versions");
    const char *version = NULL;
    bool raw_schema = false;
    if (rest) {
        if (rest[9] != 0 && rest[9] != '/') rest = NULL;
    }
    if (rest) {
        *rest = 0;
        if (rest[9] == '/') {
            version = rest + 10;
            char *tail = strchr(rest + 10, '/');
            if (tail) {
                if (strcmp(tail, "/schema") != 0) return send_error(c, 404, "HTTP 404 Not Found");
                *tail = 0;
                raw_schema = true;
            }
        }
    }
    const char *subject = path;
    if (!*subject) return send_error(c, 404, "HTTP 404 Not Found");
    sh_schemas_status_t st = {0};
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0,
         del = strcmp(method, "DELETE") == 0;
    if (!rest) {
        if (post) { /* look up */
            json_t *json;
            const char *why = bad_body(body, &json);
            if (why) {
                json_decref(json);
                return send_error(c, 42201, why);
            }
            const sh_schema_version_t *v = sh_schemas_lookup(
                reg->schemas, subject, json_string_value(json_object_get(json, "schema")), &st);
            json_decref(json);
            return v ? send_version(c, reg, v) : send_status(c, &st);
        }
        if (del) {
            int versions[4096];
            int n = sh_schemas_delete(reg->schemas, subject, NULL, query_true(c, "permanent"),
                                      versions, 4096, &st);
            if (n < 0) return send_status(c, &st);
            json_t *list = json_array();
            for (int i = 0; i < n; i++)
                json_array_append_new(list, json_integer(versions[i]));
            return send_json(c, 200, list);
        }
        return send_error(c, 405, "HTTP 405 Method Not Allowed");
    }
    if (!version) {
        if (get) return list_versions(c, reg, subject);
        if (!post) return send_error(c, 405, "HTTP 405 Method Not Allowed");
        json_t *json;
        const char *why = bad_body(body, &json);
        if (why) {
            json_decref(json);
            return send_error(c, 42201, why);
        }
        int id;
        int rc = sh_schemas_register(reg->schemas, subject,
                                     json_string_value(json_object_get(json, "schema")), &id, &st);
        json_decref(json);
        if (rc != 0) {
            if (st.error_code == 409) sh_log(SH_LOG_WARN, "registry: %s", st.message);
            return send_status(c, &st);
        }
        return send_json(c, 200, json_pack("{s:i}", "id", id));
    }
    if (get) {
        const sh_schema_version_t *v =
            sh_schemas_version(reg->schemas, subject, version, query_true(c, "deleted"), &st);
        if (!v) return send_status(c, &st);
        if (raw_schema) {
            const char *text = sh_schemas_text(reg->schemas, v->id);
            return send_text(c, 200, strdup(text ? text : ""));
        }
        return send_version(c, reg, v);
    }
    if (del) {
        int number;
        int n = sh_schemas_delete(reg->schemas, subject, version, query_true(c, "permanent"),
                                  &number, 1, &st);
        if (n < 0) return send_status(c, &st);
        return send_json(c, 200, json_integer(number));
    }
    return send_error(c, 405, "HTTP 405 Method Not Allowed");
}

/* ---- /schemas/ids/ID ---- */

static enum MHD_Result schema_request(struct MHD_Connection *c, sh_registry_t *reg,
                                      const char *path) {
    char *end;
    long id = strtol(path, &end, 10);
    bool versions = strcmp(end, "/versions") == 0;
    if (end == path || (*end && !versions) || id <= 0 || id > 2147483647)
        return send_error(c, 404, "HTTP 404 Not Found");
    const char *text = sh_schemas_text(reg->schemas, (int)id);
    if (!text) {
        char msg[128];
        snprintf(msg, sizeof msg, "Schema %ld not found", id);
        return send_error(c, 40403, msg);
    }
    if (!versions) return send_json(c, 200, json_pack("{s:s}", "schema", text));
    int n;
    const sh_schema_version_t *all = sh_schemas_all(reg->schemas, &n);
    json_t *list = json_array();
    for (int i = 0; i < n; i++)
        if (all[i].id == id && !all[i].deleted)
            json_array_append_new(list, json_pack("{s:s, s:i}", "subject", all[i].subject,
                                                  "version", all[i].version));
    return send_json(c, 200, list);
}

/* ---- /compatibility/subjects/S/versions/V ---- */

static enum MHD_Result compatibility_request(struct MHD_Connection *c, sh_registry_t *reg,
                                             char *path, const body_t *body) {
    char *sep = strstr(path, "/versions/");
    if (!sep) return send_error(c, 404, "HTTP 404 Not Found");
    *sep = 0;
    const char *version = sep + 10;
    json_t *json;
    const char *why = bad_body(body, &json);
    if (why) {
        json_decref(json);
        return send_error(c, 42201, why);
    }
    bool compatible;
    char reason[1024];
    sh_schemas_status_t st = {0};
    int rc = sh_schemas_check(reg->schemas, path, version,
                              json_string_value(json_object_get(json, "schema")), &compatible,
                              reason, sizeof reason, &st);
    json_decref(json);
    if (rc != 0) return send_status(c, &st);
    json_t *out = json_pack("{s:b}", "is_compatible", compatible);
    if (query_true(c, "verbose")) {
        json_t *messages = json_array();
        if (!compatible) json_array_append_new(messages, json_string(reason));
        json_object_set_new(out, "messages", messages);
    }
    return send_json(c, 200, out);
}

/* ---- /config ---- */

static enum MHD_Result config_request(struct MHD_Connection *c, sh_registry_t *reg,
                                      const char *method, const char *subject, const body_t *body) {
    sh_schemas_status_t st = {0};
    if (strcmp(method, "GET") == 0) {
        int level = sh_schemas_get_level(reg->schemas, subject);
        if (level < 0 && query_true(c, "defaultToGlobal"))
            level = sh_schemas_get_level(reg->schemas, NULL);
        if (level < 0) {
            char msg[2300];
            snprintf(msg, sizeof msg,
                     "Subject '%s' does not have subject-level compatibility configured", subject);
            return send_error(c, 40408, msg);
        }
        return send_json(c, 200,
                         json_pack("{s:s}", "compatibilityLevel", sh_compat_level_name(level)));
    }
    if (strcmp(method, "PUT") == 0) {
        json_t *json;
        const char *name = body_field(body, "compatibility", &json);
        int level = sh_compat_level_parse(name);
        json_decref(json);
        if (level < 0) return send_error(c, 42203, "Invalid compatibility level");
        if (sh_schemas_set_level(reg->schemas, subject, level, &st) != 0)
            return send_status(c, &st);
        return send_json(c, 200, json_pack("{s:s}", "compatibility", sh_compat_level_name(level)));
    }
    if (strcmp(method, "DELETE") == 0 && subject) {
        int level = sh_schemas_get_level(reg->schemas, subject);
        if (level < 0) {
            char msg[2300];
            snprintf(msg, sizeof msg, "Subject '%s' not found.", subject);
            return send_error(c, 40401, msg);
        }
        if (sh_schemas_set_level(reg->schemas, subject, -1, &st) != 0) return send_status(c, &st);
        return send_json(c, 200,
                         json_pack("{s:s}", "compatibilityLevel", sh_compat_level_name(level)));
    }
    return send_error(c, 405, "HTTP 405 Method Not Allowed");
}

/* ---- routing ---- */

static enum MHD_Result route(struct MHD_Connection *c, sh_registry_t *reg, const char *url,
                             const char *method, const body_t *body) {
    if (body->too_big) return send_error(c, 413, "Request body too large");
    char path[2048];
    if (strlen(url) >= sizeof path) return send_error(c, 404, "HTTP 404 Not Found");
    snprintf(path, sizeof path, "%s", url);
    size_t n = strlen(path);
    if (n > 1 && path[n - 1] == '/') path[n - 1] = 0;
    bool get = strcmp(method, "GET") == 0;
    if (strcmp(path, "/") == 0) return send_json(c, 200, json_object());
    if (strcmp(path, "/subjects") == 0)
        return get ? list_subjects(c, reg) : send_error(c, 405, "HTTP 405 Method Not Allowed");
    if (strncmp(path, "/subjects/", 10) == 0)
        return subject_request(c, reg, method, path + 10, body);
    if (strcmp(path, "/schemas/types") == 0) /* what clients ask before sending a schemaType */
        return get ? send_json(c, 200, json_pack("[s]", "AVRO"))
                   : send_error(c, 405, "HTTP 405 Method Not Allowed");
    if (strncmp(path, "/schemas/ids/", 13) == 0)
        return get ? schema_request(c, reg, path + 13)
                   : send_error(c, 405, "HTTP 405 Method Not Allowed");
    if (strncmp(path, "/compatibility/subjects/", 24) == 0)
        return strcmp(method, "POST") == 0 ? compatibility_request(c, reg, path + 24, body)
                                           : send_error(c, 405, "HTTP 405 Method Not Allowed");
    if (strcmp(path, "/config") == 0) return config_request(c, reg, method, NULL, body);
    if (strncmp(path, "/config/", 8) == 0 && path[8])
        return config_request(c, reg, method, path + 8, body);
    return send_error(c, 404, "HTTP 404 Not Found");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    (void)version;
    body_t *body = *con_cls;
    if (!body) { /* headers only so far */
        if (!(body = calloc(1, sizeof *body))) return MHD_NO;
        *con_cls = body;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (body->too_big || body->len + n > MAX_BODY) {
            body->too_big = true;
            return MHD_YES;
        }
        char *grown = realloc(body->data, body->len + n + 1);
        if (!grown) return MHD_NO;
        memcpy(grown + body->len, upload_data, n);
        body->data = grown;
        body->len += n;
        body->data[body->len] = 0;
        return MHD_YES;
    }
    return route(c, cls, url, method, body);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)c, (void)toe;
    body_t *body = *con_cls;
    if (body) free(body->data);
    free(body);
    *con_cls = NULL;
}

/* ---- life cycle ---- */

static int persist(void *arg, const char *key, const char *value, char *err, size_t errlen) {
    sh_registry_t *reg = arg;
    return reg->journal ? sh_journal_append(reg->journal, key, value, err, errlen) : 0;
}

static void replayed(void *arg, const char *key, size_t key_len, const char *value,
                     size_t value_len) {
    sh_registry_t *reg = arg;
    sh_schemas_apply(reg->schemas, key, key_len, value, value_len);
}

sh_registry_t *sh_registry_start(const char *address, const char *bootstrap, char *err,
                                 size_t errlen) {
    const char *colon = strrchr(address, ':');
    struct sockaddr_in sa = {.sin_family = AF_INET};
    char host[64];
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || (size_t)(colon - address) >= sizeof host || !end || *end || port < 0 ||
        port > 65535) {
        snprintf(err, errlen, "'%s' is not HOST:PORT", address);
        return NULL;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - address), address);
    if (strcmp(host, "localhost") == 0) snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        snprintf(err, errlen, "'%s' is not an IPv4 address", host);
        return NULL;
    }
    sa.sin_port = htons((uint16_t)port);
    sh_registry_t *reg = calloc(1, sizeof *reg);
    if (!reg || !(reg->schemas = sh_schemas_new(persist, reg))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (bootstrap &&
        !(reg->journal = sh_journal_open(bootstrap, "_schemas", replayed, reg, err, errlen)))
        goto fail;
    reg->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL,
                                   on_request, reg, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                   MHD_OPTION_NOTIFY_COMPLETED, on_completed, reg, MHD_OPTION_END);
    if (!reg->daemon) {
        snprintf(err, errlen, "cannot listen on %s (in use?)", address);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(reg->daemon, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(reg->url, sizeof reg->url, "http://%s:%u", host, info ? info->port : (unsigned)port);
    return reg;
fail:
    sh_registry_stop(reg);
    return NULL;
}

const char *sh_registry_url(const sh_registry_t *reg) { return reg->url; }

void sh_registry_stop(sh_registry_t *reg) {
    if (!reg) return;
    if (reg->daemon) MHD_stop_daemon(reg->daemon);
    sh_journal_close(reg->journal);
    sh_schemas_free(reg->schemas);
    free(reg);
}
