/*
 * config.c - a replicator's settings (see config.h).
 *
 * Properties are read in order, so a later key (--set after the file) wins.
 * Client properties keep their order too: librdkafka sees them as the user
 * wrote them, after streamhost's defaults.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "replicator/config.h"

/* Connect's and Replicator's keys that have no meaning here: accepted so a
 * connector's JSON works as written, and said once in the log. */
static const char *ignored_prefixes[] = {
    "connector.class", "key.converter", "value.converter", "header.converter",
    "tasks.max", "topic.config.sync", "topic.auto.create", "topic.preserve.partitions",
    "src.key.converter", "src.value.converter", "src.header.converter",
    "src.consumer.interceptor.classes", "src.consumer.confluent.", "src.kafka.timestamps.",
    "dest.kafka.replication.factor", "confluent.", "offset.", "topic.timestamp.type",
    "transforms", "errors.", "config.action.reload",
};

static bool has_prefix(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void free_list(char **list, int count) {
    for (int i = 0; i < count; i++) free(list[i]);
    free(list);
}

static void free_kv(sh_kv_t *kv, int count) {
    for (int i = 0; i < count; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

void sh_replicator_config_free(sh_replicator_config_t *c) {
    if (!c) return;
    free(c->name);
    free(c->group_id);
    free(c->rename_format);
    free(c->http);
    if (c->has_regex) regfree(&c->regex);
    free_list(c->include, c->include_count);
    free_list(c->exclude, c->exclude_count);
    free_kv(c->src, c->src_count);
    free_kv(c->dest, c->dest_count);
    free(c);
}

static int set_string(char **slot, const char *value) {
    char *copy = strdup(value);
    if (!copy) return -1;
    free(*slot);
    *slot = copy;
    return 0;
}

/* "a, b,c" into a fresh list (the previous one is replaced). */
static int set_list(char ***list, int *count, const char *value) {
    free_list(*list, *count);
    *list = NULL;
    *count = 0;
    char *copy = strdup(value);
    if (!copy) return -1;
    int n = 0;
    char **items = calloc(strlen(value) / 2 + 2, sizeof *items);
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); items && tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t') tok++;
        size_t len = strlen(tok);
        while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t')) tok[--len] = '\0';
        if (len > 0 && !(items[n++] = strdup(tok))) {
            free_list(items, n - 1);
            items = NULL;
        }
    }
    free(copy);
    if (!items) return -1;
    *list = items;
    *count = n;
    return 0;
}

static int add_kv(sh_kv_t **kv, int *count, const char *key, const char *value) {
    sh_kv_t *grown = realloc(*kv, sizeof *grown * (size_t)(*count + 1));
    if (!grown) return -1;
    *kv = grown;
    grown[*count] = (sh_kv_t){strdup(key), strdup(value)};
    if (!grown[*count].key || !grown[*count].value) {
        free(grown[*count].key);
        free(grown[*count].value);
        return -1;
    }
    (*count)++;
    return 0;
}

/* The quoted value of name="..." in a JAAS line, malloc'd, or NULL. */
static char *jaas_option(const char *jaas, const char *name) {
    size_t len = strlen(name);
    for (const char *p = strstr(jaas, name); p; p = strstr(p + 1, name)) {
        if ((p == jaas || p[-1] == ' ' || p[-1] == '\t') && p[len] == '=' && p[len + 1] == '"') {
            const char *start = p + len + 2, *end = strchr(start, '"');
            return end ? strndup(start, (size_t)(end - start)) : NULL;
        }
    }
    return NULL;
}

/* A client property: Java's sasl.jaas.config (PlainLoginModule required
 * username="..." password="...";) is librdkafka's sasl.username and
 * sasl.password; the rest is passed as it is. */
static int add_client(sh_kv_t **kv, int *count, const char *key, const char *value) {
    if (strcmp(key, "sasl.jaas.config") != 0) return add_kv(kv, count, key, value);
    char *user = jaas_option(value, "username"), *password = jaas_option(value, "password");
    int rc = 0;
    if (user) rc = add_kv(kv, count, "sasl.username", user);
    if (password && rc == 0) rc = add_kv(kv, count, "sasl.password", password);
    free(user);
    free(password);
    return rc;
}

static int parse_int(const char *key, const char *value, int min, int *out, char *errbuf,
                     size_t errlen) {
    char *end;
    long v = strtol(value, &end, 10);
    if (!*value || *end || v < min || v > 1000000000) {
        snprintf(errbuf, errlen, "%s must be a whole number >= %d, not '%s'", key, min, value);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_bool(const char *key, const char *value, bool *out, char *errbuf, size_t errlen) {
    if (strcmp(value, "true") == 0) *out = true;
    else if (strcmp(value, "false") == 0) *out = false;
    else {
        snprintf(errbuf, errlen, "%s must be true or false, not '%s'", key, value);
        return -1;
    }
    return 0;
}

static int set_regex(sh_replicator_config_t *c, const char *value, char *errbuf, size_t errlen) {
    if (c->has_regex) regfree(&c->regex);
    c->has_regex = false;
    /* Java's Pattern.matches: the whole name */
    size_t len = strlen(value) + 5;
    char *anchored = malloc(len);
    if (!anchored) return -1;
    snprintf(anchored, len, "^(%s)$", value);
    int rc = regcomp(&c->regex, anchored, REG_EXTENDED | REG_NOSUB);
    free(anchored);
    if (rc != 0) {
        char why[256];
        regerror(rc, &c->regex, why, sizeof why);
        snprintf(errbuf, errlen, "topic.regex '%s' is not a regular expression: %s", value, why);
        return -1;
    }
    c->has_regex = true;
    return 0;
}

static int apply(sh_replicator_config_t *c, const char *key, const char *value, char *errbuf,
                 size_t errlen) {
    int rc = 0;
    if (!*key) return 0; /* a redacted key ("": "...") in a copied JSON */
    if (strcmp(key, "name") == 0) rc = set_string(&c->name, value);
    else if (strcmp(key, "src.consumer.group.id") == 0) rc = set_string(&c->group_id, value);
    else if (strcmp(key, "topic.rename.format") == 0) rc = set_string(&c->rename_format, value);
    else if (strcmp(key, "http") == 0) rc = set_string(&c->http, value);
    else if (strcmp(key, "topic.regex") == 0) return set_regex(c, value, errbuf, errlen);
    else if (strcmp(key, "topic.whitelist") == 0 || strcmp(key, "topic.include") == 0)
        rc = set_list(&c->include, &c->include_count, value);
    else if (strcmp(key, "topic.blacklist") == 0 || strcmp(key, "topic.exclude") == 0)
        rc = set_list(&c->exclude, &c->exclude_count, value);
    else if (strcmp(key, "topic.poll.interval.ms") == 0)
        return parse_int(key, value, 100, &c->poll_interval_ms, errbuf, errlen);
    else if (strcmp(key, "lag.log.interval.ms") == 0)
        return parse_int(key, value, 0, &c->lag_log_interval_ms, errbuf, errlen);
    else if (strcmp(key, "provenance.header.enable") == 0)
        return parse_bool(key, value, &c->provenance, errbuf, errlen);
    else if (strcmp(key, "dest.kafka.replication.factor") == 0)
        return parse_int(key, value, 1, &c->replication_factor, errbuf, errlen);
    else {
        for (size_t i = 0; i < sizeof ignored_prefixes / sizeof *ignored_prefixes; i++)
            if (has_prefix(key, ignored_prefixes[i])) {
                sh_log(SH_LOG_INFO, "replicator: %s has no meaning here; ignored", key);
                return 0;
            }
        if (has_prefix(key, "src.kafka.")) rc = add_client(&c->src, &c->src_count, key + 10, value);
        else if (has_prefix(key, "src.consumer."))
            rc = add_client(&c->src, &c->src_count, key + 13, value);
        else if (has_prefix(key, "dest.kafka."))
            rc = add_client(&c->dest, &c->dest_count, key + 11, value);
        else if (has_prefix(key, "dest.producer."))
            rc = add_client(&c->dest, &c->dest_count, key + 14, value);
        else {
            snprintf(errbuf, errlen,
                     "unknown replicator property '%s' (known: topic.regex, topic.whitelist, "
                     "topic.blacklist, topic.include, topic.exclude, topic.rename.format, "
                     "topic.poll.interval.ms, src.kafka.*, src.consumer.*, dest.kafka.*, "
                     "dest.producer.*, src.consumer.group.id, provenance.header.enable, name, "
                     "http)",
                     key);
            return -1;
        }
    }
    if (rc != 0) snprintf(errbuf, errlen, "out of memory");
    return rc;
}

sh_replicator_config_t *sh_replicator_config_new(const sh_kv_t *props, int n, char *errbuf,
                                                 size_t errlen) {
    sh_replicator_config_t *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    c->poll_interval_ms = 10000;
    c->lag_log_interval_ms = 10000;
    c->replication_factor = -1;
    c->provenance = true;
    for (int i = 0; i < n; i++)
        if (apply(c, props[i].key, props[i].value, errbuf, errlen) != 0) goto err;
    if (!c->has_regex && c->include_count == 0) {
        snprintf(errbuf, errlen, "say which topics to copy: topic.regex or topic.whitelist");
        goto err;
    }
    if (!c->name && set_string(&c->name, "replicator") != 0) goto nomem;
    if (!c->group_id && set_string(&c->group_id, c->name) != 0) goto nomem;
    if (!c->rename_format && set_string(&c->rename_format, "${topic}") != 0) goto nomem;
    return c;
nomem:
    snprintf(errbuf, errlen, "out of memory");
err:
    sh_replicator_config_free(c);
    return NULL;
}

static bool listed(char *const *list, int count, const char *topic) {
    for (int i = 0; i < count; i++)
        if (strcmp(list[i], topic) == 0) return true;
    return false;
}

bool sh_replicator_config_wants(const sh_replicator_config_t *c, const char *topic) {
    if (listed(c->exclude, c->exclude_count, topic)) return false;
    if (listed(c->include, c->include_count, topic)) return true;
    if (has_prefix(topic, "__")) return false; /* offsets, transactions, our requests */
    return c->has_regex && regexec(&c->regex, topic, 0, NULL, 0) == 0;
}

char *sh_replicator_config_rename(const sh_replicator_config_t *c, const char *topic) {
    static const char placeholder[] = "${topic}";
    size_t plen = sizeof placeholder - 1, tlen = strlen(topic);
    size_t cap = strlen(c->rename_format) + 1;
    for (const char *p = c->rename_format; (p = strstr(p, placeholder)); p += plen) cap += tlen;
    char *out = malloc(cap), *w = out;
    if (!out) return NULL;
    for (const char *p = c->rename_format; *p;) {
        if (strncmp(p, placeholder, plen) == 0) {
            memcpy(w, topic, tlen);
            w += tlen;
            p += plen;
        } else {
            *w++ = *p++;
        }
    }
    *w = '\0';
    return out;
}
