/*
 * replicator.h - copies topics from one Kafka cluster to another
 * (replicator.c), as Confluent Replicator does, on streamhost's Kafka source
 * and Kafka sink and the engine's at-least-once bookkeeping.
 */
#ifndef SH_REPLICATOR_H
#define SH_REPLICATOR_H

#include <signal.h>

#include "replicator/config.h"
#include "replicator/status.h"

typedef struct sh_replicator sh_replicator_t;

/* Connects to both clusters (config is taken over, also on failure).
 * status (not owned, may be NULL) is where lag is published. NULL with
 * errbuf filled. */
sh_replicator_t *sh_replicator_new(sh_replicator_config_t *config, sh_status_t *status,
                                   char *errbuf, size_t errlen);
/* Copies until *stopping or a fatal error, then delivers what is in flight,
 * commits and leaves the group. Returns 0 after a clean stop, 1 after a
 * fatal error (logged). */
int sh_replicator_run(sh_replicator_t *replicator, volatile sig_atomic_t *stopping);
void sh_replicator_free(sh_replicator_t *replicator);

/* The provenance header's name, as Replicator's. */
#define SH_REPLICATOR_HEADER "__replicator_id"

#endif
