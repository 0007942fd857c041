/*
 * avro_schema.h - an Avro schema compiled into a flat table of types, as
 * the codec (avro_codec.c) and the compatibility rules (avro_compat.c) walk
 * it. avro-c parses and validates the JSON; the table adds what avro-c 1.11
 * does not keep: field defaults, aliases, enum defaults and logical types.
 */
#ifndef SH_AVRO_SCHEMA_H
#define SH_AVRO_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef enum {
    SH_AVRO_NULL,
    SH_AVRO_BOOLEAN,
    SH_AVRO_INT,
    SH_AVRO_LONG,
    SH_AVRO_FLOAT,
    SH_AVRO_DOUBLE,
    SH_AVRO_BYTES,
    SH_AVRO_STRING,
    SH_AVRO_RECORD,
    SH_AVRO_ENUM,
    SH_AVRO_ARRAY,
    SH_AVRO_MAP,
    SH_AVRO_UNION,
    SH_AVRO_FIXED
} sh_avro_kind_t;

typedef enum {
    SH_AVRO_LT_NONE,
    SH_AVRO_LT_DECIMAL,
    SH_AVRO_LT_DATE,
    SH_AVRO_LT_TIME_MILLIS,
    SH_AVRO_LT_TIME_MICROS,
    SH_AVRO_LT_TIMESTAMP_MILLIS,
    SH_AVRO_LT_TIMESTAMP_MICROS,
    SH_AVRO_LT_LOCAL_TIMESTAMP_MILLIS,
    SH_AVRO_LT_LOCAL_TIMESTAMP_MICROS,
    SH_AVRO_LT_UUID
} sh_avro_logical_t;

typedef struct sh_avro_field {
    char *name;
    int type;              /* index in the schema's types */
    json_t *default_value; /* NULL: no default (borrowed from the schema's JSON) */
    const char **aliases;
    int alias_count;
    int name_id; /* set by whoever interns names (the FFI handle); -1 before */
} sh_avro_field_t;

typedef struct sh_avro_type {
    sh_avro_kind_t kind;
    sh_avro_logical_t logical;
    int precision, scale; /* decimal */
    char *name;           /* full name of a record, enum or fixed */
    const char **aliases;
    int alias_count;
    int count;               /* fields, symbols or branches */
    sh_avro_field_t *fields; /* record */
    const char **symbols;    /* enum */
    const char *enum_default;
    int *branches; /* union */
    int64_t size;  /* fixed */
    int items;     /* array items, map values */
} sh_avro_type_t;

typedef struct sh_avro_schema {
    sh_avro_type_t *types;
    int count, cap;
    int root;
    json_t *json;    /* the parsed text; names, symbols and defaults point into it */
    char *canonical; /* compact JSON, the text the registry stores and compares */
} sh_avro_schema_t;

/* Parses and compiles schema JSON (len bytes). NULL with the reason in err. */
sh_avro_schema_t *sh_avro_schema_parse(const char *text, size_t len, char *err, size_t errlen);
void sh_avro_schema_free(sh_avro_schema_t *schema);

static inline const sh_avro_type_t *sh_avro_schema_type(const sh_avro_schema_t *s, int index) {
    return &s->types[index];
}

const char *sh_avro_kind_name(sh_avro_kind_t kind);

#endif
