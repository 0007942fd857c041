/*
 * envelope.c - Debezium's MySQL change event as JSON (envelope.h). The
 * field order and the source block follow Debezium's MySQL connector
 * (io.debezium.connector.mysql.Source), so a consumer written against
 * Debezium's JSON reads these unchanged.
 */
#include <string.h>

#include "base/log.h"
#include "mysql/envelope.h"

static void add_columns(sh_text_t *t, const sh_mysql_table_t *table, const sh_mysql_row_t *row,
                        bool key_only) {
    sh_text_add(t, "{", 1);
    bool first = true;
    for (int i = 0; i < table->count; i++) {
        const sh_mysql_column_t *c = &table->columns[i];
        if (key_only && !c->in_key) continue;
        if (!first) sh_text_add(t, ",", 1);
        first = false;
        sh_text_json_string(t, c->name, strlen(c->name));
        sh_text_add(t, ":", 1);
        sh_text_add(t, row->json.data + row->start[i], row->len[i]);
    }
    sh_text_add(t, "}", 1);
}

void sh_envelope_row(sh_text_t *t, const sh_mysql_table_t *table, const sh_mysql_row_t *row) {
    add_columns(t, table, row, false);
}

void sh_envelope_key(sh_text_t *t, const sh_mysql_table_t *table, const sh_mysql_row_t *row) {
    if (table->key_count > 0) add_columns(t, table, row, true);
}

static void add_string_field(sh_text_t *t, const char *name, const char *value) {
    sh_text_addf(t, ",\"%s\":", name);
    if (value && value[0])
        sh_text_json_string(t, value, strlen(value));
    else
        sh_text_adds(t, "null");
}

void sh_envelope_value(sh_text_t *t, const sh_cdc_config_t *config, const sh_cdc_event_t *e,
                       int64_t now_ms) {
    const sh_cdc_position_t *p = e->position;
    sh_text_adds(t, "{\"before\":");
    sh_text_adds(t, e->before ? e->before : "null");
    sh_text_adds(t, ",\"after\":");
    sh_text_adds(t, e->after ? e->after : "null");
    sh_text_adds(t,
                 ",\"source\":{\"version\":\"streamhost-" SH_VERSION "\",\"connector\":\"mysql\"");
    add_string_field(t, "name", config->prefix);
    sh_text_addf(t, ",\"ts_ms\":%lld", (long long)(e->op == 'r' ? now_ms : e->ts_ms));
    add_string_field(t, "snapshot", e->snapshot);
    add_string_field(t, "db", e->table->db);
    sh_text_adds(t, ",\"sequence\":null");
    add_string_field(t, "table", e->table->name);
    sh_text_addf(t, ",\"server_id\":%u", (unsigned)e->server_id);
    add_string_field(t, "gtid", p->gtid);
    add_string_field(t, "file", p->file);
    sh_text_addf(t, ",\"pos\":%lld,\"row\":%u,\"thread\":null,\"query\":null},\"op\":\"%c\"",
                 (long long)e->event_pos, e->op == 'r' ? 0 : (unsigned)(p->row ? p->row - 1 : 0),
                 e->op);
    sh_text_addf(t, ",\"ts_ms\":%lld,\"transaction\":null}", (long long)now_ms);
}
