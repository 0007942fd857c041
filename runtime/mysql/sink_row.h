/*
 * sink_row.h - the row an app hands the MySQL sink (sink_row.c).
 *
 * stream:to_mysql (lua/streamhost/mysql.lua) turns each record into one
 * row, applying pk.mode, pk.fields and fields.whitelist, and emits it as the
 * record's value in this text form:
 *
 *   op      'W' write the row (as insert.mode says) | 'D' delete by its key
 *   fields  repeated: type, flag, name, value
 *           type  'n' null, 'i' integer, 'f' float, 's' string,
 *                 'b' boolean ("1"/"0"), 'j' JSON text (nested values)
 *           flag  'k' part of the primary key, '-' not; 'K' and '+' the
 *                 same, followed by the column's SQL type as a netstring
 *                 (from the record's schema: auto.create/auto.evolve use it)
 *           name, value  as netstrings: decimal length, ':', the bytes
 *
 * e.g. W ik 2:id 1:7 s- 4:name 3:ann  (without the spaces). Column types for
 * auto.create come from the type letters.
 *
 * @locality: any thread.
 */
#ifndef SH_MYSQL_SINK_ROW_H
#define SH_MYSQL_SINK_ROW_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sh_mysql_field {
    char type; /* n i f s b j */
    bool key;
    const char *name, *value; /* point into the row's bytes */
    size_t name_len, value_len;
    const char *sql_type; /* NULL, or the column type the schema gave */
    size_t sql_type_len;
} sh_mysql_field_t;

/* Parses bytes[0..len) into *op and fields[0..max). Returns the field
 * count, or -1 with errbuf saying what is malformed. Names are not checked
 * here (sql.h does). */
int sh_mysql_sink_row_parse(const char *bytes, size_t len, char *op, sh_mysql_field_t *fields,
                            int max, char *errbuf, size_t errlen);

#endif
