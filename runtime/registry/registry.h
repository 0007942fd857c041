/*
 * registry.h - a Schema Registry speaking Confluent's REST API
 * (registry.c), with its state in the `_schemas` topic of a Kafka cluster.
 */
#ifndef SH_REGISTRY_H
#define SH_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sh_registry sh_registry_t;

/* Serves on address ("HOST:PORT", port 0 picks one) from its own thread.
 * bootstrap: the cluster whose `_schemas` topic holds the schemas, read
 * back before this returns; NULL keeps them in memory only (the test
 * driver). NULL with the reason in err. */
sh_registry_t *sh_registry_start(const char *address, const char *bootstrap, char *err,
                                 size_t errlen);
/* "http://127.0.0.1:PORT" */
const char *sh_registry_url(const sh_registry_t *registry);
void sh_registry_stop(sh_registry_t *registry);

/* Makes registry the one sh_ffi_registry_url answers (embedded.c); NULL
 * forgets it (before stopping it). */
void sh_registry_set_embedded(sh_registry_t *registry);
/* The URL given on the command line (NULL: none), and whether a serde may
 * fall back to a memory-only registry when nothing else is known. */
void sh_registry_configure(const char *url, bool allow_memory);

#endif
