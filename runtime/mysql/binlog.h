/*
 * binlog.h - the change stream: reads the server's binlog as a replica
 * does (COM_BINLOG_DUMP through Connector/C's mariadb_rpl_*), from a
 * position on, and hands every row change of a captured table to an emit
 * callback with its position (binlog.c).
 */
#ifndef SH_MYSQL_BINLOG_H
#define SH_MYSQL_BINLOG_H

#include <mysql.h>
#include <signal.h>

#include "mysql/cdc.h"

/* Streams from `from` (its row: rows of that transaction already delivered,
 * skipped here) until *stop is set or the connection fails. conn is a
 * connected session used for nothing else meanwhile. Returns 0 when
 * stopped, or -1 with errbuf filled; *at holds the position reached
 * (where to resume). @locality the source's reader thread. */
int sh_binlog_stream(MYSQL *conn, const sh_cdc_config_t *config, const sh_cdc_position_t *from,
                     volatile sig_atomic_t *stop, sh_cdc_emit_fn emit, void *arg,
                     sh_cdc_position_t *at, char *errbuf, size_t errlen);

/* The table a TABLE_MAP event describes (binlog_row_metadata=FULL gives
 * names, signedness, charsets, ENUM/SET members and the primary key), or
 * NULL with errbuf filled. */
struct st_mariadb_rpl_table_map_event;
sh_mysql_table_t *sh_binlog_table(const struct st_mariadb_rpl_table_map_event *map,
                                  const char *prefix, char *errbuf, size_t errlen);

#endif
