/*
 * envelope.h - Debezium's change event (envelope.c): the key struct of the
 * primary-key columns and the value {before, after, source, op, ts_ms}, as
 * Kafka Connect's JSON converter writes them without schemas.
 */
#ifndef SH_MYSQL_ENVELOPE_H
#define SH_MYSQL_ENVELOPE_H

#include "mysql/cdc.h"
#include "mysql/rows.h"

/* The row as a JSON object, {"col": value, ...}. */
void sh_envelope_row(sh_text_t *t, const sh_mysql_table_t *table, const sh_mysql_row_t *row);
/* The key columns as a JSON object; nothing appended when the table has no
 * primary key (Debezium's key is then null). */
void sh_envelope_key(sh_text_t *t, const sh_mysql_table_t *table, const sh_mysql_row_t *row);
/* The event's value. */
void sh_envelope_value(sh_text_t *t, const sh_cdc_config_t *config, const sh_cdc_event_t *e,
                       int64_t now_ms);
/* {"key": <the Key record, or null without a primary key>, "value": <the
 * Envelope record>}: the Avro schemas Debezium registers for the table
 * (debezium_schema.c). */
void sh_debezium_schemas(sh_text_t *t, const sh_cdc_config_t *config,
                         const sh_mysql_table_t *table);

#endif
