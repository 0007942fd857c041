/*
 * source.h - the MySQL/MariaDB CDC source behind the loop's source
 * interface (source.c).
 */
#ifndef SH_MYSQL_SOURCE_H
#define SH_MYSQL_SOURCE_H

#include "engine/offsets.h"
#include "engine/source.h"
#include "engine/vm.h"

/* A CDC source for app `connector_name` with Debezium's properties
 * (props[0..count)), keeping its positions in offsets (taken over, also on
 * failure). NULL with errbuf filled when the properties are wrong. */
sh_source_t *sh_mysql_source_new(const char *connector_name, const sh_kv_t *props, int count,
                                 sh_offsets_t *offsets, char *errbuf, size_t errlen);

#endif
