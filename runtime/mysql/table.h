/*
 * table.h - what the CDC source knows of a table's columns, from a binlog
 * TABLE_MAP event (binlog.c) or from the result of a snapshot SELECT
 * (snapshot.c), and how their values become Debezium's JSON (value.c).
 */
#ifndef SH_MYSQL_TABLE_H
#define SH_MYSQL_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "mysql/text.h"

typedef enum { SH_DECIMAL_PRECISE, SH_DECIMAL_STRING, SH_DECIMAL_DOUBLE } sh_decimal_mode_t;

typedef struct sh_mysql_column {
    char *name;
    int type;      /* enum_field_types, ENUM and SET resolved from STRING */
    unsigned meta; /* the binlog's per-type metadata */
    bool is_unsigned;
    bool binary; /* a string column with the binary charset: bytes */
    bool in_key;
    bool nullable; /* the column allows NULL: a ["null", T] union in Avro */
    int fsp;              /* fractional digits of a temporal column */
    int precision, scale; /* DECIMAL */
    int bits;             /* BIT(n) */
    char **values;        /* ENUM / SET members, 0-based */
    int value_count;
} sh_mysql_column_t;

typedef struct sh_mysql_table {
    char *db, *name;
    char *topic; /* <prefix>.<db>.<table> */
    int count;
    sh_mysql_column_t *columns;
    int key_count;
    /* its Debezium Avro schemas as JSON (debezium_schema.c), interned and
     * owned by the source (source.c), which sets it on first use */
    const char *schemas;
    size_t schemas_len;
} sh_mysql_table_t;

void sh_mysql_table_free(sh_mysql_table_t *t);
/* <prefix>.<db>.<table>, with every character Kafka does not allow in a
 * topic name replaced by '_', as Debezium does. malloc'd, NULL when out of
 * memory. */
char *sh_mysql_topic_name(const char *prefix, const char *db, const char *table);

/* ---- values as Debezium's MySQL connector writes them (value.c) ---- */

/* DATE: io.debezium.time.Date, days since the epoch. */
void sh_mysql_json_date(sh_text_t *t, int year, int month, int day);
/* DATETIME: io.debezium.time.Timestamp (ms) for fsp <= 3, MicroTimestamp
 * (us) above, as if the wall-clock time were UTC. */
void sh_mysql_json_datetime(sh_text_t *t, int fsp, int year, int month, int day, int hour,
                            int minute, int second, long micros);
/* TIMESTAMP: io.debezium.time.ZonedTimestamp, ISO-8601 in UTC. */
void sh_mysql_json_timestamp(sh_text_t *t, int fsp, int64_t epoch_seconds, long micros);
/* TIME: io.debezium.time.MicroTime, signed microseconds. */
void sh_mysql_json_time(sh_text_t *t, bool negative, int hours, int minutes, int seconds,
                        long micros);
/* DECIMAL from its decimal digits ("-12.30"), by decimal.handling.mode;
 * precise: Connect's Decimal, the unscaled value's big-endian two's
 * complement bytes, base64. */
void sh_mysql_json_decimal(sh_text_t *t, sh_decimal_mode_t mode, const char *digits, size_t len,
                           int scale);
/* BIT(n): BOOLEAN for n = 1, else io.debezium.data.Bits (little-endian
 * bytes, base64). big_endian holds (n + 7) / 8 bytes as MySQL sends them. */
void sh_mysql_json_bits(sh_text_t *t, int bits, const unsigned char *big_endian, size_t len);
/* SET from its member bitmask: io.debezium.data.EnumSet, "a,c". */
void sh_mysql_json_set(sh_text_t *t, const sh_mysql_column_t *c, uint64_t mask);
/* ENUM from its 1-based index (0: the empty error value). */
void sh_mysql_json_enum(sh_text_t *t, const sh_mysql_column_t *c, unsigned index);

#endif
