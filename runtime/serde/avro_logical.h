/*
 * avro_logical.h - text forms of decimal values (avro_logical.c); dates are
 * declared in avro_codec.h.
 */
#ifndef SH_AVRO_LOGICAL_H
#define SH_AVRO_LOGICAL_H

#include <stdbool.h>
#include <stddef.h>

#define SH_AVRO_DECIMAL_MAX_BYTES 64 /* 153 decimal digits */

/* Two's complement big-endian unscaled bytes as digits with scale decimals.
 * Length written (without the NUL), or -1. */
int sh_avro_decimal_format(const unsigned char *bytes, size_t n, int scale, char *out, size_t cap);
/* Digits ("-12.5") as unscaled two's complement bytes: the shortest form,
 * or sign-extended to fixed_size when it is not 0. -1 when text is not a
 * number, has more decimals than scale, or does not fit. */
int sh_avro_decimal_parse(const char *text, size_t len, int scale, unsigned char *out,
                          size_t *out_len, size_t fixed_size);

#endif
