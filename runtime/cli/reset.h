/*
 * reset.h - `streamhost reset`: start an app over from its inputs'
 * beginning (Kafka Streams' application reset tool).
 */
#ifndef SH_RESET_H
#define SH_RESET_H

#include <stdbool.h>

#include "engine/vm.h"

typedef struct sh_reset_options {
    const char *app_path;
    const char *state_dir; /* NULL: ./.streamhost/<app id> */
    const char *bootstrap; /* NULL: the app's bootstrap.servers */
    bool yes;              /* do not ask before doing it */
} sh_reset_options_t;

/* Says what it will do, asks (unless yes), does it. Returns an exit code. */
int sh_reset_run(const sh_reset_options_t *options);

#endif
