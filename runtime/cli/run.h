/*
 * run.h - `streamhost run`: an app over Kafka, put together (run.c).
 */
#ifndef SH_RUN_H
#define SH_RUN_H

#include <stdbool.h>

#include "engine/vm.h"

typedef struct sh_run_options {
    const char *app_path;
    const char *bootstrap; /* NULL: the app's bootstrap.servers */
    sh_kv_t *sets;         /* --set key=value: librdkafka properties */
    int set_count;
    const char *state_dir;  /* NULL: the app's state_dir, else ./.streamhost/<app id> */
    const char *http;       /* "HOST:PORT" or "off"; NULL: the app's http, else the default */
    bool no_rollback;       /* start app_path even after a run of it that never ran cleanly */
    bool unsafe;            /* --unsafe: app code runs without the sandbox */
    const char *http_token; /* --http-token; NULL: STATE_DIR/http-token, made when missing */
    bool http_auth_all;     /* --http-auth all: reads need the token too */
} sh_run_options_t;

/* Runs until SIGINT/SIGTERM (exit 0) or a fatal error (exit 1). */
int sh_run(const sh_run_options_t *options);

#endif
