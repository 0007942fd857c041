/*
 * registry_client.h - what the Avro serde asks a Schema Registry, over
 * HTTP with libcurl (registry_client.c).
 *
 * @locality one client per Lua VM (stream thread); not shared
 */
#ifndef SH_REGISTRY_CLIENT_H
#define SH_REGISTRY_CLIENT_H

#include <stddef.h>

typedef struct sh_registry_client sh_registry_client_t;

sh_registry_client_t *sh_registry_client_new(const char *url);
void sh_registry_client_free(sh_registry_client_t *client);

/* GET /schemas/ids/ID: the schema text (malloc'd), or NULL with err;
 * *missing is set when the registry answered that it has no such id. */
char *sh_registry_client_schema(sh_registry_client_t *client, int id, int *missing, char *err,
                                size_t errlen);
/* GET /subjects/SUBJECT/versions/latest: the schema text (malloc'd), or
 * NULL with err; *missing is set when the subject has no version. */
char *sh_registry_client_latest(sh_registry_client_t *client, const char *subject, int *missing,
                                char *err, size_t errlen);
/* POST /subjects/SUBJECT/versions: 0 and *id, or -1 with the registry's
 * message in err. */
int sh_registry_client_register(sh_registry_client_t *client, const char *subject,
                                const char *schema, int *id, char *err, size_t errlen);

#endif
