/*
 * sink_router.h - one sink in front of several (sink_router.c): each of the
 * context's sinks goes to the backend for its kind (sh_ctx_sink_kind), so
 * an app can write Kafka topics and MySQL tables from one loop.
 */
#ifndef SH_SINK_ROUTER_H
#define SH_SINK_ROUTER_H

#include "engine/sink.h"

/* An empty router. NULL when out of memory. */
sh_sink_t *sh_sink_router_new(void);
/* Sinks of `kind` go to backend (owned by the router from now on, also on
 * failure). Returns 0, or -1 when out of memory. */
int sh_sink_router_add(sh_sink_t *router, const char *kind, sh_sink_t *backend);

#endif
