/*
 * avro_compat.h - Avro's schema-resolution rules: can data written with one
 * schema be read with another? The registry's compatibility levels are made
 * of this one question (BACKWARD: the new schema reads the old; FORWARD: the
 * old reads the new; FULL: both).
 */
#ifndef SH_AVRO_COMPAT_H
#define SH_AVRO_COMPAT_H

#include <stdbool.h>

#include "serde/avro_schema.h"

/* true when reader can read what writer wrote. Otherwise false, with the
 * first reason in msg: where (a path of field names), which rule. */
bool sh_avro_compat_can_read(const sh_avro_schema_t *reader, const sh_avro_schema_t *writer,
                             char *msg, size_t msglen);

#endif
