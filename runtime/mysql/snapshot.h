/*
 * snapshot.h - the initial snapshot (snapshot.c): every captured table's
 * rows as op "r" events, read in one consistent transaction whose binlog
 * position is where streaming then begins, so nothing is missed or seen
 * twice between the two.
 */
#ifndef SH_MYSQL_SNAPSHOT_H
#define SH_MYSQL_SNAPSHOT_H

#include <mysql.h>
#include <signal.h>

#include "mysql/cdc.h"

/* Reads every captured table through conn (used for nothing else
 * meanwhile), handing each row to emit; the very last row's event says
 * snapshot "last" and carries a position with snapshot = false. Fills
 * *stream_from with the snapshot's binlog position. Returns 0 (also when
 * *stop was set: then *stream_from is not to be used), or -1 with errbuf.
 * @locality the source's reader thread. */
int sh_snapshot_run(MYSQL *conn, const sh_cdc_config_t *config, volatile sig_atomic_t *stop,
                    sh_cdc_emit_fn emit, void *arg, sh_cdc_position_t *stream_from, bool *stopped,
                    char *errbuf, size_t errlen);

#endif
