/*
 * http.h - pull queries over HTTP: stores, topology, health, reload.
 */
#ifndef SH_HTTP_H
#define SH_HTTP_H

#include "state/tasks.h"

typedef struct sh_http sh_http_t;

/* Serves on address ("HOST:PORT"; port 0 picks one) from its own thread,
 * reading the stores of task_groups groups of tasks (one per stream
 * thread; the array must outlive the server). Returns NULL, with a warning
 * logged, when it cannot listen: the stream threads go on without pull
 * queries. */
sh_http_t *sh_http_start(const char *address, sh_tasks_t **tasks, int task_groups);
/* Replaces the text GET /topology answers (after a load or a reload). */
void sh_http_set_topology(sh_http_t *http, const char *text);
void sh_http_stop(sh_http_t *http);

/* Key bytes for text in the URL, parsed with the store's key serde. Returns
 * the length written to out (at most cap), or -1 when text does not parse. */
long sh_http_parse_key(const char *serde, const char *text, char *out, size_t cap);

#endif
