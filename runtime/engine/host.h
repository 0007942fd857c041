/*
 * host.h - `streamhost run`: the stream thread's loop over Kafka.
 */
#ifndef SH_HOST_H
#define SH_HOST_H

#include "engine/vm.h"

typedef struct sh_host_options {
    const char *app_path;
    const char *bootstrap; /* NULL: the app's bootstrap.servers */
    sh_kv_t *sets;         /* --set key=value: librdkafka properties */
    int set_count;
    const char *state_dir; /* NULL: ./.streamhost/<app id> */
    const char *http;      /* "HOST:PORT" for pull queries, "off" or NULL: none */
} sh_host_options_t;

/* Runs until SIGINT/SIGTERM (exit 0) or a fatal error (exit 1). */
int sh_host_run(const sh_host_options_t *options);
/* Asks the loop to stop after the current batch. Async-signal-safe. */
void sh_host_stop(void);

#endif
