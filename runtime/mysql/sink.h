/*
 * sink.h - MySQL tables behind the loop's sink interface (sink.c).
 *
 * The sink takes the context's sinks of kind "mysql" (declared by
 * stream:to_mysql, one per table, with the JDBC sink's properties) and
 * writes their rows in transactions; an output is reported delivered only
 * after the COMMIT of the transaction that wrote it.
 */
#ifndef SH_MYSQL_SINK_H
#define SH_MYSQL_SINK_H

#include "engine/sink.h"

/* consumer names this app in the exactly.once offsets table (the app id).
 * Connects nothing until the first row. NULL when out of memory.
 * @locality: the thread that puts the app together, before the stream
 * threads start (it initialises the MySQL client library). */
sh_sink_t *sh_mysql_sink_new(const char *consumer);

#endif
