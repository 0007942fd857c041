/*
 * rows.h - binlog row images decoded into Debezium's JSON (rows.c): a
 * TABLE_MAP event becomes a table description, and each row image of a
 * WRITE/UPDATE/DELETE_ROWS event one JSON fragment per column.
 *
 * Rows are decoded here from the raw image and the TABLE_MAP's metadata:
 * Connector/C 3.3's mariadb_rpl_extract_rows refuses common column mixes
 * ("Malformed row data packet stream" on a table with DECIMAL, TIME2 and
 * BIT columns), and the byte layout is the server's documented one.
 */
#ifndef SH_MYSQL_ROWS_H
#define SH_MYSQL_ROWS_H

#include <stddef.h>

#include "mysql/table.h"

/* One decoded row image: column i's JSON is json.data[start[i]..+len[i]). */
typedef struct sh_mysql_row {
    sh_text_t json;
    size_t *start, *len;
    int cap;
} sh_mysql_row_t;

void sh_mysql_row_free(sh_mysql_row_t *row);
/* Makes room for count columns and empties the row. -1 when out of memory. */
int sh_mysql_row_reset(sh_mysql_row_t *row, int count);
/* Closes column i, whose JSON was appended since start[i] was set. */
void sh_mysql_row_begin(sh_mysql_row_t *row, int i);
void sh_mysql_row_end(sh_mysql_row_t *row, int i);

/* Decodes the image at data[0..len) whose present columns are the set bits
 * of present (column_count bits). Returns the bytes it used, or -1 with err
 * filled when the image is malformed. O(size of the image). */
long sh_mysql_rows_decode(const sh_mysql_table_t *table, const unsigned char *present,
                          const unsigned char *data, size_t len, sh_decimal_mode_t mode,
                          sh_mysql_row_t *row, char *err, size_t errlen);

/* The byte length of column c's value at data (binary protocol), or -1. */
long sh_mysql_rows_value_size(const sh_mysql_column_t *c, const unsigned char *data, size_t len);

#endif
