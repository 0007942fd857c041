/*
 * avro_codec.h - Avro binary to and from the flat value array of the FFI
 * (sh_ffi_avro_value_t), driven by a compiled schema (avro_codec.c).
 */
#ifndef SH_AVRO_CODEC_H
#define SH_AVRO_CODEC_H

#include "serde/avro_schema.h"
#include "streamhost_ffi.h"

/* Values and the text they point at, reused from call to call. */
typedef struct sh_avro_tape {
    sh_ffi_avro_value_t *values;
    int count, cap;
    char *text; /* decimals and dates rendered as text */
    size_t text_len, text_cap;
} sh_avro_tape_t;

typedef struct sh_avro_out {
    char *data;
    size_t len, cap;
} sh_avro_out_t;

/* Decodes exactly len bytes of Avro binary. Fails (-1 with err) on
 * truncated input, bytes left over, or values the schema does not allow;
 * never reads outside data. Field name ids come from the schema's fields
 * (name_id). O(len + values). */
int sh_avro_decode(const sh_avro_schema_t *schema, const char *data, size_t len,
                   sh_avro_tape_t *tape, char *err, size_t errlen);

/* Appends the Avro binary of values[0..count) under schema to out. -1 with
 * err naming the field when a value does not fit. */
int sh_avro_encode(const sh_avro_schema_t *schema, const sh_ffi_avro_value_t *values, int count,
                   sh_avro_out_t *out, char *err, size_t errlen);

void sh_avro_tape_free(sh_avro_tape_t *tape);

/* Days since 1970-01-01 as "YYYY-MM-DD" and back (proleptic Gregorian). */
int sh_avro_date_format(int64_t days, char *out, size_t cap);
int sh_avro_date_parse(const char *text, size_t len, int64_t *days);

#endif
