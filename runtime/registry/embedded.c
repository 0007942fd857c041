/*
 * embedded.c - which Schema Registry the process's Avro serdes use.
 *
 * In order: `--set schema.registry.url=` (sh_registry_configure), the app's
 * own `schema.registry.url`, the registry `streamhost run` started next to
 * its embedded broker (schemas in that broker's `_schemas`), and, only
 * where nothing runs against a real cluster (the test driver, the bench's
 * engine runner), a memory-only registry started on first use on a free
 * loopback port, which lives as long as the process. `run` against a real
 * cluster turns that last one off: ids from a registry nobody else can
 * reach would make its output unreadable.
 *
 * @locks registry_lock (any thread may ask, once per serde)
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "registry/registry.h"
#include "streamhost_ffi.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static sh_registry_t *embedded;
static char *configured_url; /* --set schema.registry.url= */
static bool memory_allowed = true;

void sh_registry_set_embedded(sh_registry_t *registry) {
    pthread_mutex_lock(&registry_lock);
    embedded = registry;
    pthread_mutex_unlock(&registry_lock);
}

void sh_registry_configure(const char *url, bool allow_memory) {
    pthread_mutex_lock(&registry_lock);
    free(configured_url);
    configured_url = url ? strdup(url) : NULL;
    memory_allowed = allow_memory;
    pthread_mutex_unlock(&registry_lock);
}

/* The memory-only registry's thread lives until the process exits. When
 * this code was loaded with ffi.load (busted, the bench's engine runner),
 * closing the Lua state would unload the library under that thread's feet:
 * pin it (and with it libmicrohttpd) for the life of the process. */
static void pin_library(void) {
    Dl_info info;
    if (dladdr((void *)pin_library, &info) && info.dli_fname)
        dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

const char *sh_ffi_registry_url(const char *app_url) {
    pthread_mutex_lock(&registry_lock);
    if (configured_url || (app_url && *app_url)) {
        /* the strings outlive the call: --set's for the process, the app's
         * for its VM, which is the caller's */
        const char *url = configured_url ? configured_url : app_url;
        pthread_mutex_unlock(&registry_lock);
        return url;
    }
    if (!embedded && !memory_allowed) {
        pthread_mutex_unlock(&registry_lock);
        sh_err_set(SH_ERR_INVALID, "no schema registry: set schema.registry.url in the app's "
                                   "kafka table, or --set schema.registry.url=URL");
        return NULL;
    }
    if (!embedded) {
        char err[512];
        pin_library();
        embedded = sh_registry_start("127.0.0.1:0", NULL, err, sizeof err);
        if (embedded)
            sh_log(SH_LOG_INFO, "schema registry (in memory) at %s", sh_registry_url(embedded));
        else
            sh_err_set(SH_ERR_INVALID, "cannot start an in-process schema registry: %s", err);
    }
    const char *url = embedded ? sh_registry_url(embedded) : NULL;
    pthread_mutex_unlock(&registry_lock);
    return url;
}
