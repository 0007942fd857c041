/*
 * status.h - a replicator's lag and counters over HTTP (status.c):
 * GET /lag answers the JSON the replicator last published, GET /healthz
 * "ok" while it runs.
 */
#ifndef SH_REPLICATOR_STATUS_H
#define SH_REPLICATOR_STATUS_H

typedef struct sh_status sh_status_t;

/* Serves on address (HOST:PORT, port 0 picks one) from libmicrohttpd's
 * thread. NULL, with a warning logged, when it cannot listen. */
sh_status_t *sh_status_start(const char *address);
/* The port it listens on. */
int sh_status_port(const sh_status_t *status);
/* Replaces the JSON GET /lag answers (copied). @locality any thread */
void sh_status_publish(sh_status_t *status, const char *json);
void sh_status_stop(sh_status_t *status);

#endif
