/*
 * schemas.h - the registry's state: schemas by id, subjects and their
 * versions, compatibility levels (schemas.c). Every change is a record of
 * the `_schemas` topic in Confluent's format, written through persist
 * before it is applied, and applied the same way when the topic is read
 * back at start, so a restarted registry has every id it handed out.
 *
 * @locality the registry's HTTP thread (one at a time; no lock inside)
 */
#ifndef SH_REGISTRY_SCHEMAS_H
#define SH_REGISTRY_SCHEMAS_H

#include <stdbool.h>
#include <stddef.h>

#include "serde/avro_schema.h"

typedef enum {
    SH_COMPAT_NONE,
    SH_COMPAT_BACKWARD,
    SH_COMPAT_BACKWARD_TRANSITIVE,
    SH_COMPAT_FORWARD,
    SH_COMPAT_FORWARD_TRANSITIVE,
    SH_COMPAT_FULL,
    SH_COMPAT_FULL_TRANSITIVE,
    SH_COMPAT__COUNT
} sh_compat_level_t;

const char *sh_compat_level_name(int level);
int sh_compat_level_parse(const char *name); /* -1 when unknown */

typedef struct sh_schema_version {
    char *subject;
    int version, id;
    bool deleted; /* soft-deleted */
} sh_schema_version_t;

/* Writes one _schemas record (value NULL: a tombstone); 0 when it is
 * durable, else -1 with the reason in err. */
typedef int (*sh_schemas_persist_fn)(void *arg, const char *key, const char *value, char *err,
                                     size_t errlen);

typedef struct sh_schemas sh_schemas_t;

/* Outcome of an operation: error_code 0, or Confluent's error_code (40401,
 * 42201, 409, 50001...) with a message for the client. */
typedef struct {
    int error_code;
    char message[1024];
} sh_schemas_status_t;

sh_schemas_t *sh_schemas_new(sh_schemas_persist_fn persist, void *arg);
void sh_schemas_free(sh_schemas_t *s);
/* Applies one _schemas record: key and value are its JSON (value NULL: a
 * tombstone). Records this registry does not know are ignored. */
void sh_schemas_apply(sh_schemas_t *s, const char *key, size_t key_len, const char *value,
                      size_t value_len);

/* POST /subjects/S/versions: the id of schema under subject, registering
 * it (a new version) when it is not there yet and the subject's
 * compatibility allows it. */
int sh_schemas_register(sh_schemas_t *s, const char *subject, const char *text, int *id,
                        sh_schemas_status_t *st);
/* POST /subjects/S: the version of subject holding this schema. */
const sh_schema_version_t *sh_schemas_lookup(sh_schemas_t *s, const char *subject, const char *text,
                                             sh_schemas_status_t *st);
/* version: a number, "latest" or "-1". deleted: soft-deleted ones count. */
const sh_schema_version_t *sh_schemas_version(sh_schemas_t *s, const char *subject,
                                              const char *version, bool deleted,
                                              sh_schemas_status_t *st);
/* The schema text of id, or NULL. */
const char *sh_schemas_text(sh_schemas_t *s, int id);
/* Every version record, in registration order (O(N) to walk). */
const sh_schema_version_t *sh_schemas_all(sh_schemas_t *s, int *count);
bool sh_schemas_subject_exists(sh_schemas_t *s, const char *subject, bool deleted);

/* DELETE: soft (permanent false) or permanent (after a soft delete).
 * version NULL: every version of the subject. Fills versions (the deleted
 * ones, up to cap) and returns how many, or -1 with st filled. */
int sh_schemas_delete(sh_schemas_t *s, const char *subject, const char *version, bool permanent,
                      int *versions, int cap, sh_schemas_status_t *st);

/* POST /compatibility/subjects/S/versions/V: can text join the subject
 * next to that version, under the subject's level? -1 with st filled when
 * the subject, version or schema is wrong; else 0 and *compatible, with
 * the reason in why. */
int sh_schemas_check(sh_schemas_t *s, const char *subject, const char *version, const char *text,
                     bool *compatible, char *why, size_t whylen, sh_schemas_status_t *st);

/* Compatibility levels: subject NULL is the global one. get returns -1 when
 * a subject has none of its own. set with level -1 deletes a subject's. */
int sh_schemas_get_level(sh_schemas_t *s, const char *subject);
int sh_schemas_set_level(sh_schemas_t *s, const char *subject, int level, sh_schemas_status_t *st);

#endif
