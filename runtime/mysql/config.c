/*
 * config.c - the MySQL CDC source's properties, by Debezium's names (and
 * the older names its 1.x users know: database.server.name,
 * database.whitelist, table.blacklist, ...). Lists are comma-separated
 * regexes matched against the whole name, as Debezium does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql/cdc.h"

static void filter_free(sh_name_filter_t *f) {
    for (int i = 0; i < f->count; i++)
        regfree(&f->res[i]);
    free(f->res);
    *f = (sh_name_filter_t){0};
}

static int filter_parse(sh_name_filter_t *f, const char *name, const char *list, char *errbuf,
                        size_t errlen) {
    filter_free(f);
    char *copy = strdup(list), *save = NULL;
    if (!copy) goto oom;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ')
            item++;
        size_t n = strlen(item);
        while (n > 0 && item[n - 1] == ' ')
            item[--n] = '\0';
        if (n == 0) continue;
        regex_t *grown = realloc(f->res, sizeof *grown * (size_t)(f->count + 1));
        if (!grown) goto oom;
        f->res = grown;
        char anchored[1024];
        snprintf(anchored, sizeof anchored, "^(%s)$", item);
        int rc = regcomp(&f->res[f->count], anchored, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char why[256];
            regerror(rc, &f->res[f->count], why, sizeof why);
            snprintf(errbuf, errlen, "mysql_cdc: %s: '%s' is not a valid regex: %s", name, item,
                     why);
            free(copy);
            return -1;
        }
        f->count++;
    }
    free(copy);
    return 0;
oom:
    free(copy);
    snprintf(errbuf, errlen, "out of memory");
    return -1;
}

static bool filter_matches(const sh_name_filter_t *f, const char *name) {
    for (int i = 0; i < f->count; i++)
        if (regexec(&f->res[i], name, 0, NULL, 0) == 0) return true;
    return false;
}

bool sh_cdc_config_captures(const sh_cdc_config_t *c, const char *db, const char *table) {
    static const char *const system[] = {"mysql", "information_schema", "performance_schema",
                                         "sys"};
    for (size_t i = 0; i < sizeof system / sizeof *system; i++)
        if (strcmp(db, system[i]) == 0) return false;
    if (c->db_include.count && !filter_matches(&c->db_include, db)) return false;
    if (filter_matches(&c->db_exclude, db)) return false;
    char full[512];
    snprintf(full, sizeof full, "%s.%s", db, table);
    if (c->table_include.count && !filter_matches(&c->table_include, full)) return false;
    return !filter_matches(&c->table_exclude, full);
}

void sh_cdc_config_free(sh_cdc_config_t *c) {
    free(c->host);
    free(c->user);
    free(c->password);
    free(c->prefix);
    free(c->connector_name);
    filter_free(&c->db_include);
    filter_free(&c->db_exclude);
    filter_free(&c->table_include);
    filter_free(&c->table_exclude);
    *c = (sh_cdc_config_t){0};
}

static int set_string(char **slot, const char *value) {
    free(*slot);
    return (*slot = strdup(value)) ? 0 : -1;
}

/* Properties a Debezium user may pass that change nothing here: Kafka
 * Connect's and the schema history's, since the binlog's full row metadata
 * describes every row (see README). */
static bool ignored(const char *key) {
    static const char *const prefixes[] = {"database.history",
                                           "schema.history",
                                           "transforms",
                                           "key.converter",
                                           "value.converter",
                                           "connector.class",
                                           "tasks.max",
                                           "include.schema.changes",
                                           "name",
                                           "database.ssl",
                                           "snapshot.locking.mode",
                                           "time.precision.mode",
                                           "bigint.unsigned.handling.mode",
                                           "binary.handling.mode",
                                           "include.query",
                                           "offset.storage.topic"};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        if (strncmp(key, prefixes[i], strlen(prefixes[i])) == 0) return true;
    return false;
}

int sh_cdc_config_parse(sh_cdc_config_t *c, const char *connector_name, const sh_kv_t *props,
                        int count, char *errbuf, size_t errlen) {
    *c = (sh_cdc_config_t){.port = 3306,
                           .server_id = 0,
                           .snapshot_mode = SH_SNAPSHOT_INITIAL,
                           .decimal_mode = SH_DECIMAL_PRECISE,
                           .tombstones_on_delete = true,
                           .snapshot_fetch_size = 0};
    if (set_string(&c->connector_name, connector_name) != 0 || set_string(&c->host, "127.0.0.1") ||
        set_string(&c->user, "root") || set_string(&c->password, ""))
        goto oom;
    for (int i = 0; i < count; i++) {
        const char *k = props[i].key, *v = props[i].value;
        int rc = 0;
        if (strcmp(k, "database.hostname") == 0)
            rc = set_string(&c->host, v);
        else if (strcmp(k, "database.port") == 0)
            c->port = (unsigned)atoi(v);
        else if (strcmp(k, "database.user") == 0)
            rc = set_string(&c->user, v);
        else if (strcmp(k, "database.password") == 0)
            rc = set_string(&c->password, v);
        else if (strcmp(k, "database.server.id") == 0)
            c->server_id = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(k, "topic.prefix") == 0 || strcmp(k, "database.server.name") == 0)
            rc = set_string(&c->prefix, v);
        else if (strcmp(k, "database.include.list") == 0 || strcmp(k, "database.whitelist") == 0) {
            if (filter_parse(&c->db_include, k, v, errbuf, errlen)) return -1;
        } else if (strcmp(k, "database.exclude.list") == 0 ||
                   strcmp(k, "database.blacklist") == 0) {
            if (filter_parse(&c->db_exclude, k, v, errbuf, errlen)) return -1;
        } else if (strcmp(k, "table.include.list") == 0 || strcmp(k, "table.whitelist") == 0) {
            if (filter_parse(&c->table_include, k, v, errbuf, errlen)) return -1;
        } else if (strcmp(k, "table.exclude.list") == 0 || strcmp(k, "table.blacklist") == 0) {
            if (filter_parse(&c->table_exclude, k, v, errbuf, errlen)) return -1;
        } else if (strcmp(k, "snapshot.mode") == 0) {
            if (strcmp(v, "initial") == 0)
                c->snapshot_mode = SH_SNAPSHOT_INITIAL;
            else if (strcmp(v, "when_needed") == 0)
                c->snapshot_mode = SH_SNAPSHOT_WHEN_NEEDED;
            else if (strcmp(v, "never") == 0 || strcmp(v, "no_data") == 0 ||
                     strcmp(v, "schema_only") == 0)
                c->snapshot_mode = SH_SNAPSHOT_NEVER;
            else if (strcmp(v, "initial_only") == 0)
                c->snapshot_mode = SH_SNAPSHOT_INITIAL_ONLY;
            else {
                snprintf(errbuf, errlen,
                         "mysql_cdc: snapshot.mode must be initial, when_needed, "
                         "never or initial_only, got '%s'",
                         v);
                return -1;
            }
        } else if (strcmp(k, "decimal.handling.mode") == 0) {
            if (strcmp(v, "precise") == 0)
                c->decimal_mode = SH_DECIMAL_PRECISE;
            else if (strcmp(v, "string") == 0)
                c->decimal_mode = SH_DECIMAL_STRING;
            else if (strcmp(v, "double") == 0)
                c->decimal_mode = SH_DECIMAL_DOUBLE;
            else {
                snprintf(errbuf, errlen,
                         "mysql_cdc: decimal.handling.mode must be precise, "
                         "string or double, got '%s'",
                         v);
                return -1;
            }
        } else if (strcmp(k, "tombstones.on.delete") == 0) {
            c->tombstones_on_delete = strcmp(v, "false") != 0;
        } else if (strcmp(k, "snapshot.fetch.size") == 0) {
            c->snapshot_fetch_size = atoi(v);
        } else if (!ignored(k)) {
            snprintf(errbuf, errlen, "mysql_cdc: unknown property '%s'", k);
            return -1;
        }
        if (rc != 0) goto oom;
    }
    if (!c->prefix || !c->prefix[0]) {
        snprintf(errbuf, errlen,
                 "mysql_cdc: topic.prefix (or database.server.name) is required: "
                 "it names the topics, <prefix>.<db>.<table>");
        return -1;
    }
    if (c->server_id == 0) {
        snprintf(errbuf, errlen,
                 "mysql_cdc: database.server.id is required: a number no other "
                 "replica of the server uses");
        return -1;
    }
    return 0;
oom:
    snprintf(errbuf, errlen, "out of memory");
    return -1;
}
