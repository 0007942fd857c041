/*
 * registry_client.c - the two requests the Avro serde makes: a writer
 * schema by id (once per id per VM: the serde caches it) and a schema's
 * registration (once per schema per VM). Both block the stream thread for
 * one round trip, which is why they are cached; a registry that does not
 * answer within 10 s is an error for that record.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "serde/registry_client.h"

struct sh_registry_client {
    CURL *curl;
    char *url;
};

typedef struct {
    char *data;
    size_t len;
} body_t;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg) {
    body_t *b = arg;
    size_t n = size * nmemb;
    char *grown = realloc(b->data, b->len + n + 1);
    if (!grown) return 0;
    memcpy(grown + b->len, ptr, n);
    b->data = grown;
    b->len += n;
    b->data[b->len] = 0;
    return n;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void init_curl(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

sh_registry_client_t *sh_registry_client_new(const char *url) {
    pthread_once(&curl_once, init_curl); /* curl_global_init is not thread-safe */
    sh_registry_client_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->url = strdup(url);
    c->curl = curl_easy_init();
    if (!c->url || !c->curl) {
        sh_registry_client_free(c);
        return NULL;
    }
    size_t n = strlen(c->url);
    while (n > 0 && c->url[n - 1] == '/')
        c->url[--n] = 0;
    return c;
}

void sh_registry_client_free(sh_registry_client_t *c) {
    if (!c) return;
    if (c->curl) curl_easy_cleanup(c->curl);
    free(c->url);
    free(c);
}

/* One request; the parsed JSON answer and its status, or NULL with err. */
static json_t *request(sh_registry_client_t *c, const char *path, const char *post_body,
                       long *status, char *err, size_t errlen) {
    char url[2048];
    snprintf(url, sizeof url, "%s%s", c->url, path);
    body_t body = {0};
    CURL *h = c->curl;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    struct curl_slist *headers = NULL;
    if (post_body) {
        headers =
            curl_slist_append(headers, "Content-Type: application/vnd.schemaregistry.v1+json");
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, post_body);
    }
    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(headers);
    json_t *json = NULL;
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "schema registry %s: %s", c->url, curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
        json = body.data ? json_loads(body.data, JSON_DECODE_ANY, NULL) : NULL;
        if (!json)
            snprintf(err, errlen, "schema registry %s answered %ld without JSON", url, *status);
    }
    free(body.data);
    return json;
}

static void registry_error(json_t *json, long status, const char *what, char *err, size_t errlen) {
    const char *message = json_string_value(json_object_get(json, "message"));
    snprintf(err, errlen, "%s: %ld %s", what, status, message ? message : "(no message)");
}

/* GETs path and returns its "schema" text (malloc'd); what names the
 * request in an error, and *missing says the registry answered 404. */
static char *get_schema_text(sh_registry_client_t *c, const char *path, const char *what,
                             int *missing, char *err, size_t errlen) {
    long status = 0;
    *missing = 0;
    json_t *json = request(c, path, NULL, &status, err, errlen);
    if (!json) return NULL;
    const char *text = json_string_value(json_object_get(json, "schema"));
    char *out = NULL;
    if (status == 200 && text) {
        if (!(out = strdup(text))) snprintf(err, errlen, "out of memory");
    } else {
        *missing = status == 404;
        registry_error(json, status, what, err, errlen);
    }
    json_decref(json);
    return out;
}

char *sh_registry_client_schema(sh_registry_client_t *c, int id, int *missing, char *err,
                                size_t errlen) {
    char path[64], what[1100];
    snprintf(path, sizeof path, "/schemas/ids/%d", id);
    snprintf(what, sizeof what, "schema id %d from %s", id, c->url);
    return get_schema_text(c, path, what, missing, err, errlen);
}

char *sh_registry_client_latest(sh_registry_client_t *c, const char *subject, int *missing,
                                char *err, size_t errlen) {
    *missing = 0;
    char *escaped = curl_easy_escape(c->curl, subject, 0);
    if (!escaped) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char path[1024], what[512];
    snprintf(path, sizeof path, "/subjects/%s/versions/latest", escaped);
    curl_free(escaped);
    snprintf(what, sizeof what, "the latest version of subject %s", subject);
    return get_schema_text(c, path, what, missing, err, errlen);
}

int sh_registry_client_register(sh_registry_client_t *c, const char *subject, const char *schema,
                                int *id, char *err, size_t errlen) {
    char *escaped = curl_easy_escape(c->curl, subject, 0);
    if (!escaped) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char path[1024];
    snprintf(path, sizeof path, "/subjects/%s/versions", escaped);
    curl_free(escaped);
    json_t *req = json_pack("{s:s}", "schema", schema);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    long status = 0;
    json_t *json = request(c, path, body, &status, err, errlen);
    free(body);
    if (!json) return -1;
    json_t *got = json_object_get(json, "id");
    int rc = 0;
    if (status == 200 && json_is_integer(got)) {
        *id = (int)json_integer_value(got);
    } else {
        char what[512];
        snprintf(what, sizeof what, "registering a schema under subject %s", subject);
        registry_error(json, status, what, err, errlen);
        rc = -1;
    }
    json_decref(json);
    return rc;
}
