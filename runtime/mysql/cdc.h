/*
 * cdc.h - what the MySQL CDC source's pieces share: its configuration
 * (Debezium's property names, parsed in config.c), a binlog position, and
 * the callback through which the snapshot (snapshot.c) and the binlog
 * reader (binlog.c) hand over each change event.
 */
#ifndef SH_MYSQL_CDC_H
#define SH_MYSQL_CDC_H

#include <regex.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/vm.h"
#include "mysql/table.h"

typedef enum {
    SH_SNAPSHOT_INITIAL,
    SH_SNAPSHOT_WHEN_NEEDED,
    SH_SNAPSHOT_NEVER,
    SH_SNAPSHOT_INITIAL_ONLY
} sh_snapshot_mode_t;

/* A list of regexes matched against whole names (as Debezium's lists). */
typedef struct sh_name_filter {
    regex_t *res;
    int count;
} sh_name_filter_t;

typedef struct sh_cdc_config {
    char *host, *user, *password;
    unsigned port;
    uint32_t server_id;   /* database.server.id: our id as a replica */
    char *prefix;         /* topic.prefix (database.server.name) */
    char *connector_name; /* the app id: offsets are stored under it */
    sh_name_filter_t db_include, db_exclude, table_include, table_exclude;
    sh_snapshot_mode_t snapshot_mode;
    sh_decimal_mode_t decimal_mode;
    bool tombstones_on_delete;
    int snapshot_fetch_size;
} sh_cdc_config_t;

/* Parses Debezium's properties (unknown ones are refused with their name).
 * Returns 0, or -1 with errbuf filled. */
int sh_cdc_config_parse(sh_cdc_config_t *c, const char *connector_name, const sh_kv_t *props,
                        int count, char *errbuf, size_t errlen);
void sh_cdc_config_free(sh_cdc_config_t *c);
/* Whether db.table is captured by the include/exclude lists. */
bool sh_cdc_config_captures(const sh_cdc_config_t *c, const char *db, const char *table);

/* Where a change event sits: the transaction that made it begins at
 * (file, pos) and the event is its row-th row (1-based). A restart opens
 * the binlog at (file, pos) and skips the rows already delivered. During a
 * snapshot, (file, pos) is where streaming will begin once it is done. */
typedef struct sh_cdc_position {
    char file[128];
    uint64_t pos;
    uint32_t row;
    char gtid[64];
    bool snapshot; /* part of a snapshot: a restart before its end redoes it */
} sh_cdc_position_t;

/* A position as stored (position.c): Kafka Connect's offset value for a
 * Debezium MySQL source, {"file", "pos", "row", "gtids", "snapshot"}.
 * malloc'd, NULL when out of memory. */
char *sh_cdc_position_json(const sh_cdc_position_t *p);
/* Reads one back; false when json holds no binlog file. */
bool sh_cdc_position_parse(const char *json, sh_cdc_position_t *p);

/* One change event, as the snapshot or the binlog reader hands it over. */
typedef struct sh_cdc_event {
    const sh_mysql_table_t *table;
    char op;                    /* 'r', 'c', 'u', 'd' */
    const char *before, *after; /* the row as a JSON object, or NULL */
    const char *key;            /* the key columns as a JSON object, or NULL (no key) */
    int64_t ts_ms;              /* when the server wrote it */
    const sh_cdc_position_t *position;
    const char *snapshot; /* source.snapshot: "true", "last", "false" */
    uint32_t server_id;
    int64_t event_pos; /* source.pos: the event's own position */
} sh_cdc_event_t;

/* Takes one event (copies what it keeps). Returns 0, or -1 to stop. */
typedef int (*sh_cdc_emit_fn)(void *arg, const sh_cdc_event_t *event);

#endif
