/*
 * topic_name.c - internal topic names (see topic_name.h). Kafka Streams
 * names them "<application.id>-<name>-changelog|repartition"; the dead
 * letter topic follows Connect's habit of one per connector.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/topic_name.h"

static const char *suffix_of(int kind) {
    switch (kind) {
    case SH_TOPIC_CHANGELOG:
        return "-changelog";
    case SH_TOPIC_REPARTITION:
        return "-repartition";
    default:
        return NULL;
    }
}

char *sh_topic_name(const char *app_id, int kind, const char *name) {
    char *topic = NULL;
    int n;
    if (kind == SH_TOPIC_DLQ)
        n = asprintf(&topic, "%s-dlq", app_id);
    else if (suffix_of(kind) && name)
        n = asprintf(&topic, "%s-%s%s", app_id, name, suffix_of(kind));
    else
        return NULL;
    return n < 0 ? NULL : topic;
}

char *sh_topic_name_offsets(const char *app_id) {
    char *topic = NULL;
    return asprintf(&topic, "%s-offsets", app_id) < 0 ? NULL : topic;
}

/* "<id>-<name><suffix>" with a non-empty name: that name, else NULL. */
static bool match(const char *app_id, const char *topic, const char *suffix, size_t *name_len) {
    size_t id_len = strlen(app_id), len = strlen(topic), suffix_len = strlen(suffix);
    if (len <= id_len + 1 + suffix_len || strncmp(topic, app_id, id_len) != 0 ||
        topic[id_len] != '-' || strcmp(topic + len - suffix_len, suffix) != 0)
        return false;
    *name_len = len - id_len - 1 - suffix_len;
    return true;
}

int sh_topic_name_parse(const char *app_id, const char *topic, char **name_out) {
    if (name_out) *name_out = NULL;
    if (!app_id || !topic) return SH_TOPIC_SOURCE;
    size_t id_len = strlen(app_id);
    if (strncmp(topic, app_id, id_len) == 0 && strcmp(topic + id_len, "-dlq") == 0)
        return SH_TOPIC_DLQ;
    static const int kinds[] = {SH_TOPIC_CHANGELOG, SH_TOPIC_REPARTITION};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        size_t name_len;
        if (!match(app_id, topic, suffix_of(kinds[i]), &name_len)) continue;
        if (name_out && !(*name_out = strndup(topic + id_len + 1, name_len))) return -1;
        return kinds[i];
    }
    return SH_TOPIC_SOURCE;
}

bool sh_topic_name_is_internal(const char *app_id, const char *topic) {
    int kind = sh_topic_name_parse(app_id, topic, NULL);
    return kind == SH_TOPIC_CHANGELOG || kind == SH_TOPIC_REPARTITION;
}

int sh_ffi_topic_name(const char *app_id, int kind, const char *name, char *out, size_t out_len) {
    if (!app_id || !out)
        return sh_err_set(SH_ERR_INVALID, "topic_name: app id and buffer required");
    char *topic = sh_topic_name(app_id, kind, name);
    if (!topic) {
        if (kind == SH_TOPIC_DLQ || suffix_of(kind))
            return sh_err_set(SH_ERR_NOMEM, "topic_name: out of memory");
        return sh_err_set(SH_ERR_INVALID, "topic_name: %d is not an internal topic kind", kind);
    }
    size_t len = strlen(topic);
    int rc = SH_OK;
    if (len < out_len)
        memcpy(out, topic, len + 1);
    else
        rc = sh_err_set(SH_ERR_INVALID, "topic_name: %s needs %zu bytes, the buffer has %zu", topic,
                        len + 1, out_len);
    free(topic);
    return rc;
}
