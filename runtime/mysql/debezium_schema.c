/*
 * debezium_schema.c - the Avro schemas Debezium's MySQL connector registers
 * through Confluent's AvroConverter, for one table as the CDC source knows
 * it (table.h): `<prefix>.<db>.<table>.Key` (the primary-key columns) and
 * `.Envelope` (before/after as `.Value`, Debezium's `source` block, op,
 * ts_ms, transaction). Column types follow Debezium's defaults
 * (time.precision.mode adaptive_time_microseconds, bigint.unsigned.handling
 * long, decimal.handling.mode as configured), written as AvroData writes a
 * Connect schema: `connect.name`/`connect.version`/`connect.parameters` for
 * semantic types, `connect.type` for INT16, nullable columns as
 * ["null", T] with default null.
 *
 * Built once per table definition (a TABLE_MAP, or a snapshot's SELECT),
 * on the reader thread; both paths describe a column alike, so a snapshot
 * row and a streamed one of the same table share one schema.
 */
#include <mysql.h>
#include <string.h>

#include "mysql/envelope.h"

/* Avro names allow [A-Za-z0-9_] and dots between names. */
static void add_namespace(sh_text_t *t, const char *s) {
    bool start = true;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (c == '.') {
            sh_text_add(t, ".", 1);
            start = true;
            continue;
        }
        if (start && c >= '0' && c <= '9') sh_text_add(t, "_", 1);
        start = false;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        sh_text_add(t, ok ? &c : "_", 1);
    }
}

static void semantic(sh_text_t *t, const char *base, const char *name) {
    sh_text_addf(t, "{\"type\":\"%s\",\"connect.version\":1,\"connect.name\":\"%s\"}", base, name);
}

/* The column's type without nullability. */
static void column_type(sh_text_t *t, const sh_cdc_config_t *config, const sh_mysql_column_t *c) {
    switch (c->type) {
    case MYSQL_TYPE_TINY:
        sh_text_adds(t, "{\"type\":\"int\",\"connect.type\":\"int16\"}");
        return;
    case MYSQL_TYPE_SHORT:
        if (c->is_unsigned)
            sh_text_adds(t, "\"int\"");
        else
            sh_text_adds(t, "{\"type\":\"int\",\"connect.type\":\"int16\"}");
        return;
    case MYSQL_TYPE_INT24:
        sh_text_adds(t, "\"int\"");
        return;
    case MYSQL_TYPE_LONG:
        sh_text_adds(t, c->is_unsigned ? "\"long\"" : "\"int\"");
        return;
    case MYSQL_TYPE_LONGLONG:
        sh_text_adds(t, "\"long\"");
        return;
    case MYSQL_TYPE_FLOAT:
        sh_text_adds(t, "\"float\"");
        return;
    case MYSQL_TYPE_DOUBLE:
        sh_text_adds(t, "\"double\"");
        return;
    case MYSQL_TYPE_NEWDECIMAL:
    case MYSQL_TYPE_DECIMAL:
        if (config->decimal_mode == SH_DECIMAL_DOUBLE) {
            sh_text_adds(t, "\"double\"");
        } else if (config->decimal_mode == SH_DECIMAL_STRING) {
            sh_text_adds(t, "\"string\"");
        } else {
            sh_text_addf(t,
                         "{\"type\":\"bytes\",\"scale\":%d,\"precision\":%d,\"connect.version\":1,"
                         "\"connect.parameters\":{\"scale\":\"%d\",\"connect.decimal.precision\":"
                         "\"%d\"},\"connect.name\":\"org.apache.kafka.connect.data.Decimal\","
                         "\"logicalType\":\"decimal\"}",
                         c->scale, c->precision, c->scale, c->precision);
        }
        return;
    case MYSQL_TYPE_YEAR:
        semantic(t, "int", "io.debezium.time.Year");
        return;
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_NEWDATE:
        semantic(t, "int", "io.debezium.time.Date");
        return;
    case MYSQL_TYPE_TIME:
    case MYSQL_TYPE_TIME2:
        semantic(t, "long", "io.debezium.time.MicroTime");
        return;
    case MYSQL_TYPE_DATETIME:
    case MYSQL_TYPE_DATETIME2:
        semantic(t, "long",
                 c->fsp <= 3 ? "io.debezium.time.Timestamp" : "io.debezium.time.MicroTimestamp");
        return;
    case MYSQL_TYPE_TIMESTAMP:
    case MYSQL_TYPE_TIMESTAMP2:
        semantic(t, "string", "io.debezium.time.ZonedTimestamp");
        return;
    case MYSQL_TYPE_JSON:
        semantic(t, "string", "io.debezium.data.Json");
        return;
    case MYSQL_TYPE_ENUM:
        semantic(t, "string", "io.debezium.data.Enum");
        return;
    case MYSQL_TYPE_SET:
        semantic(t, "string", "io.debezium.data.EnumSet");
        return;
    case MYSQL_TYPE_BIT:
        if (c->bits <= 1)
            sh_text_adds(t, "\"boolean\"");
        else
            sh_text_addf(t,
                         "{\"type\":\"bytes\",\"connect.version\":1,\"connect.parameters\":"
                         "{\"length\":\"%d\"},\"connect.name\":\"io.debezium.data.Bits\"}",
                         c->bits);
        return;
    case MYSQL_TYPE_GEOMETRY:
        sh_text_adds(t, "\"bytes\"");
        return;
    default: /* CHAR, VARCHAR, TEXT, BLOB, BINARY */
        sh_text_adds(t, c->binary ? "\"bytes\"" : "\"string\"");
    }
}

static void add_fields(sh_text_t *t, const sh_cdc_config_t *config, const sh_mysql_table_t *table,
                       bool key_only) {
    bool first = true;
    for (int i = 0; i < table->count; i++) {
        const sh_mysql_column_t *c = &table->columns[i];
        if (key_only && !c->in_key) continue;
        sh_text_adds(t, first ? "{\"name\":" : ",{\"name\":");
        first = false;
        sh_text_json_string(t, c->name, strlen(c->name));
        sh_text_adds(t, ",\"type\":");
        if (c->nullable) sh_text_adds(t, "[\"null\",");
        column_type(t, config, c);
        sh_text_adds(t, c->nullable ? "],\"default\":null}" : "}");
    }
}

static void add_record(sh_text_t *t, const sh_cdc_config_t *config, const sh_mysql_table_t *table,
                       const char *name, bool key_only, bool with_namespace) {
    sh_text_addf(t, "{\"type\":\"record\",\"name\":\"%s\",", name);
    if (with_namespace) {
        sh_text_adds(t, "\"namespace\":\"");
        add_namespace(t, table->topic);
        sh_text_adds(t, "\",");
    }
    sh_text_adds(t, "\"fields\":[");
    add_fields(t, config, table, key_only);
    sh_text_adds(t, "],\"connect.name\":\"");
    add_namespace(t, table->topic);
    sh_text_addf(t, ".%s\"}", name);
}

/* io.debezium.connector.mysql.Source, Debezium 2.x's fields. */
static const char SOURCE[] =
    "{\"type\":\"record\",\"name\":\"Source\",\"namespace\":\"io.debezium.connector.mysql\","
    "\"fields\":["
    "{\"name\":\"version\",\"type\":\"string\"},"
    "{\"name\":\"connector\",\"type\":\"string\"},"
    "{\"name\":\"name\",\"type\":\"string\"},"
    "{\"name\":\"ts_ms\",\"type\":\"long\"},"
    "{\"name\":\"snapshot\",\"type\":[{\"type\":\"string\",\"connect.version\":1,"
    "\"connect.parameters\":{\"allowed\":\"true,last,false,incremental\"},"
    "\"connect.default\":\"false\",\"connect.name\":\"io.debezium.data.Enum\"},\"null\"],"
    "\"default\":\"false\"},"
    "{\"name\":\"db\",\"type\":\"string\"},"
    "{\"name\":\"sequence\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"table\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"server_id\",\"type\":\"long\"},"
    "{\"name\":\"gtid\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"file\",\"type\":\"string\"},"
    "{\"name\":\"pos\",\"type\":\"long\"},"
    "{\"name\":\"row\",\"type\":\"int\"},"
    "{\"name\":\"thread\",\"type\":[\"null\",\"long\"],\"default\":null},"
    "{\"name\":\"query\",\"type\":[\"null\",\"string\"],\"default\":null}],"
    "\"connect.name\":\"io.debezium.connector.mysql.Source\"}";

/* The transaction block, as AvroData names a struct without a name. */
static const char TRANSACTION[] =
    "{\"type\":\"record\",\"name\":\"ConnectDefault\",\"namespace\":\"io.confluent.connect.avro\","
    "\"fields\":[{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"total_order\",\"type\":"
    "\"long\"},{\"name\":\"data_collection_order\",\"type\":\"long\"}]}";

void sh_debezium_schemas(sh_text_t *t, const sh_cdc_config_t *config,
                         const sh_mysql_table_t *table) {
    sh_text_adds(t, "{\"key\":");
    if (table->key_count > 0)
        add_record(t, config, table, "Key", true, true);
    else
        sh_text_adds(t, "null");
    sh_text_adds(t, ",\"value\":{\"type\":\"record\",\"name\":\"Envelope\",\"namespace\":\"");
    add_namespace(t, table->topic);
    sh_text_adds(t, "\",\"fields\":[{\"name\":\"before\",\"type\":[\"null\",");
    add_record(t, config, table, "Value", false, false);
    sh_text_adds(t, "],\"default\":null},{\"name\":\"after\",\"type\":[\"null\",\"Value\"],"
                    "\"default\":null},{\"name\":\"source\",\"type\":");
    sh_text_adds(t, SOURCE);
    sh_text_adds(t, "},{\"name\":\"op\",\"type\":\"string\"},{\"name\":\"ts_ms\",\"type\":"
                    "[\"null\",\"long\"],\"default\":null},{\"name\":\"transaction\",\"type\":"
                    "[\"null\",");
    sh_text_adds(t, TRANSACTION);
    sh_text_adds(t, "],\"default\":null}],\"connect.name\":\"");
    add_namespace(t, table->topic);
    sh_text_adds(t, ".Envelope\"}}");
}
