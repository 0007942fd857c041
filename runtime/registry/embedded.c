/*
 * embedded.c - the process's own Schema Registry, for apps on the embedded
 * broker and for the test driver. `streamhost run` registers the one it
 * starts on its embedded broker (schemas in that broker's `_schemas`);
 * without one, the first Avro serde that asks starts a memory-only
 * registry on a free loopback port, which lives as long as the process.
 *
 * @locks embedded_lock (any thread may ask, once per serde)
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "base/err.h"
#include "base/log.h"
#include "registry/registry.h"
#include "streamhost_ffi.h"

static pthread_mutex_t embedded_lock = PTHREAD_MUTEX_INITIALIZER;
static sh_registry_t *embedded;

void sh_registry_set_embedded(sh_registry_t *registry) {
    pthread_mutex_lock(&embedded_lock);
    embedded = registry;
    pthread_mutex_unlock(&embedded_lock);
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

const char *sh_ffi_registry_url(void) {
    pthread_mutex_lock(&embedded_lock);
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
    pthread_mutex_unlock(&embedded_lock);
    return url;
}
