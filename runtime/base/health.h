/*
 * health.h - what the process knows is wrong with itself (health.c), for
 * /healthz and the logs: a stuck batch, brokers down. One process-wide
 * record; each condition is set and cleared by the part that sees it.
 */
#ifndef SH_HEALTH_H
#define SH_HEALTH_H

#include <stddef.h>

enum {
    SH_HEALTH_STUCK = 0,        /* a batch ran past max.batch.ms */
    SH_HEALTH_BROKERS_DOWN = 1, /* no broker reachable */
    SH_HEALTH__COUNT
};

/* Sets (reason non-NULL) or clears (NULL) a condition.
 * @locality any thread @locks the health lock, briefly */
void sh_health_set(int condition, const char *reason);
/* Copies the first condition that holds into out; returns 0 when healthy. */
int sh_health_problem(char *out, size_t out_len);

#endif
