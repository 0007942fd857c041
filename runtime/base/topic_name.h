/*
 * topic_name.h - the names of internal topics, built and parsed in one
 * place (topic_name.c) for C and, through sh_ffi_topic_name, for Lua:
 *
 *   changelog    <app id>-<store>-changelog
 *   repartition  <app id>-<name>-repartition
 *   dead letter  <app id>-dlq
 *   offsets      <app id>-offsets (a CDC source's positions)
 *
 * The kinds (SH_TOPIC_*) are declared in streamhost_ffi.h.
 */
#ifndef SH_TOPIC_NAME_H
#define SH_TOPIC_NAME_H

#include <stdbool.h>
#include <stddef.h>

#include "streamhost_ffi.h"

/* The topic of kind for (app_id, name), malloc'd (caller frees); NULL when
 * out of memory. name is ignored for SH_TOPIC_DLQ. */
char *sh_topic_name(const char *app_id, int kind, const char *name);

/* The kind of topic (SH_TOPIC_SOURCE when it is none of the app's internal
 * topics); with name_out, the store or repartition name, malloc'd (NULL for
 * SOURCE and DLQ). Returns -1 only when out of memory. */
int sh_topic_name_parse(const char *app_id, const char *topic, char **name_out);

/* Where a non-Kafka source of the app keeps its positions, as Kafka
 * Connect's offset storage topic: "<app id>-offsets". malloc'd, NULL when
 * out of memory. */
char *sh_topic_name_offsets(const char *app_id);

/* Whether topic is one of the app's changelog or repartition topics. */
bool sh_topic_name_is_internal(const char *app_id, const char *topic);

#endif
