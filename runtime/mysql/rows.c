/*
 * rows.c - binlog row images to JSON (rows.h). Layouts follow the server's
 * log_event / my_time / decimal code: little-endian integers, big-endian
 * packed temporal types with 0..3 fractional bytes, DECIMAL as groups of
 * nine digits in four bytes with the sign in the first bit.
 */
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql/rows.h"

void sh_mysql_row_free(sh_mysql_row_t *row) {
    sh_text_free(&row->json);
    free(row->start);
    free(row->len);
    *row = (sh_mysql_row_t){0};
}

int sh_mysql_row_reset(sh_mysql_row_t *row, int count) {
    if (count > row->cap) {
        size_t *s = realloc(row->start, sizeof *s * (size_t)count);
        if (s) row->start = s;
        size_t *l = s ? realloc(row->len, sizeof *l * (size_t)count) : NULL;
        if (!l) return -1;
        row->len = l;
        row->cap = count;
    }
    sh_text_clear(&row->json);
    return 0;
}

void sh_mysql_row_begin(sh_mysql_row_t *row, int i) { row->start[i] = row->json.len; }
void sh_mysql_row_end(sh_mysql_row_t *row, int i) { row->len[i] = row->json.len - row->start[i]; }

static uint64_t le_uint(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t be_uint(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static int frac_bytes(int fsp) { return (fsp + 1) / 2; }

static const int dig2bytes[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};

static long decimal_size(int precision, int scale) {
    int intg = precision - scale;
    return (intg / 9) * 4 + dig2bytes[intg % 9] + (scale / 9) * 4 + dig2bytes[scale % 9];
}

long sh_mysql_rows_value_size(const sh_mysql_column_t *c, const unsigned char *p, size_t len) {
    unsigned meta = c->meta;
    switch (c->type) {
    case MYSQL_TYPE_TINY:
        return 1;
    case MYSQL_TYPE_SHORT:
        return 2;
    case MYSQL_TYPE_INT24:
        return 3;
    case MYSQL_TYPE_LONG:
        return 4;
    case MYSQL_TYPE_LONGLONG:
        return 8;
    case MYSQL_TYPE_FLOAT:
        return 4;
    case MYSQL_TYPE_DOUBLE:
        return 8;
    case MYSQL_TYPE_YEAR:
        return 1;
    case MYSQL_TYPE_DATE:
        return 3;
    case MYSQL_TYPE_TIME:
        return 3;
    case MYSQL_TYPE_DATETIME:
        return 8;
    case MYSQL_TYPE_TIMESTAMP:
        return 4;
    case MYSQL_TYPE_NULL:
        return 0;
    case MYSQL_TYPE_TIME2:
        return 3 + frac_bytes(c->fsp);
    case MYSQL_TYPE_DATETIME2:
        return 5 + frac_bytes(c->fsp);
    case MYSQL_TYPE_TIMESTAMP2:
        return 4 + frac_bytes(c->fsp);
    case MYSQL_TYPE_NEWDECIMAL:
        return decimal_size(c->precision, c->scale);
    case MYSQL_TYPE_BIT:
        return (c->bits + 7) / 8;
    case MYSQL_TYPE_ENUM:
        return meta & 0xff;
    case MYSQL_TYPE_SET:
        return meta & 0xff;
    case MYSQL_TYPE_VARCHAR:
    case MYSQL_TYPE_VAR_STRING: {
        int prefix = meta < 256 ? 1 : 2;
        if (len < (size_t)prefix) return -1;
        return prefix + (long)le_uint(p, prefix);
    }
    case MYSQL_TYPE_STRING: {
        int prefix = meta < 256 ? 1 : 2;
        if (len < (size_t)prefix) return -1;
        return prefix + (long)le_uint(p, prefix);
    }
    case MYSQL_TYPE_BLOB:
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_GEOMETRY:
    case MYSQL_TYPE_JSON: {
        int prefix = (int)meta;
        if (prefix < 1 || prefix > 4 || len < (size_t)prefix) return -1;
        return prefix + (long)le_uint(p, prefix);
    }
    default:
        return -1;
    }
}

/* DECIMAL's binary form to its digits, "-123.45". */
static void decimal_digits(const unsigned char *src, int precision, int scale, char *out,
                           size_t cap) {
    int intg = precision - scale, intg0 = intg / 9, intg0x = intg % 9;
    int frac0 = scale / 9, frac0x = scale % 9;
    long size = decimal_size(precision, scale);
    unsigned char b[40];
    if (size > (long)sizeof b) size = sizeof b;
    memcpy(b, src, (size_t)size);
    bool negative = !(b[0] & 0x80);
    b[0] ^= 0x80;
    if (negative)
        for (long i = 0; i < size; i++)
            b[i] = (unsigned char)~b[i];
    char digits[100];
    size_t n = 0;
    const unsigned char *p = b;
    if (intg0x) {
        int k = dig2bytes[intg0x];
        n += (size_t)snprintf(digits + n, sizeof digits - n, "%llu",
                              (unsigned long long)be_uint(p, k));
        p += k;
    }
    for (int i = 0; i < intg0; i++, p += 4)
        n += (size_t)snprintf(digits + n, sizeof digits - n, n ? "%09llu" : "%llu",
                              (unsigned long long)be_uint(p, 4));
    /* strip leading zeros of the integer part, keep one */
    char *int_part = digits;
    while (int_part[0] == '0' && int_part[1])
        int_part++;
    if (n == 0) int_part = "0";
    size_t o = (size_t)snprintf(out, cap, "%s%s", negative ? "-" : "", int_part);
    if (scale > 0 && o < cap) {
        o += (size_t)snprintf(out + o, cap - o, ".");
        for (int i = 0; i < frac0; i++, p += 4)
            o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, "%09llu",
                                  (unsigned long long)be_uint(p, 4));
        if (frac0x)
            o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, "%0*llu", frac0x,
                                  (unsigned long long)be_uint(p, dig2bytes[frac0x]));
    }
}

static long frac_micros(const unsigned char *p, int fsp) {
    switch (frac_bytes(fsp)) {
    case 1:
        return (long)p[0] * 10000;
    case 2:
        return (long)be_uint(p, 2) * 100;
    case 3:
        return (long)be_uint(p, 3);
    default:
        return 0;
    }
}

/* Appends column c's JSON for the value at p (size bytes). */
static int value_json(const sh_mysql_column_t *c, const unsigned char *p, long size,
                      sh_decimal_mode_t mode, sh_text_t *t) {
    switch (c->type) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG: {
        uint64_t v = le_uint(p, (int)size);
        if (c->is_unsigned) {
            sh_text_addf(t, "%llu", (unsigned long long)v);
        } else {
            int shift = 64 - 8 * (int)size;
            sh_text_addf(t, "%lld", (long long)((int64_t)(v << shift) >> shift));
        }
        return 0;
    }
    case MYSQL_TYPE_FLOAT: {
        float f;
        memcpy(&f, p, 4);
        sh_text_addf(t, "%.9g", (double)f);
        return 0;
    }
    case MYSQL_TYPE_DOUBLE: {
        double d;
        memcpy(&d, p, 8);
        sh_text_addf(t, "%.17g", d);
        return 0;
    }
    case MYSQL_TYPE_YEAR:
        sh_text_addf(t, "%d", p[0] ? 1900 + p[0] : 0);
        return 0;
    case MYSQL_TYPE_DATE: {
        uint32_t v = (uint32_t)le_uint(p, 3);
        sh_mysql_json_date(t, (int)(v >> 9), (int)((v >> 5) & 15), (int)(v & 31));
        return 0;
    }
    case MYSQL_TYPE_DATETIME2: {
        int64_t intpart = (int64_t)be_uint(p, 5) - 0x8000000000LL;
        int64_t ymd = intpart >> 17, ym = ymd >> 5, hms = intpart % (1 << 17);
        sh_mysql_json_datetime(t, c->fsp, (int)(ym / 13), (int)(ym % 13), (int)(ymd % 32),
                               (int)(hms >> 12), (int)((hms >> 6) % 64), (int)(hms % 64),
                               frac_micros(p + 5, c->fsp));
        return 0;
    }
    case MYSQL_TYPE_DATETIME: { /* pre-5.6 layout: YYYYMMDDhhmmss as an integer */
        uint64_t v = le_uint(p, 8), d = v / 1000000, s = v % 1000000;
        sh_mysql_json_datetime(t, 0, (int)(d / 10000), (int)(d / 100 % 100), (int)(d % 100),
                               (int)(s / 10000), (int)(s / 100 % 100), (int)(s % 100), 0);
        return 0;
    }
    case MYSQL_TYPE_TIMESTAMP2:
        sh_mysql_json_timestamp(t, c->fsp, (int64_t)be_uint(p, 4), frac_micros(p + 4, c->fsp));
        return 0;
    case MYSQL_TYPE_TIMESTAMP:
        sh_mysql_json_timestamp(t, 0, (int64_t)le_uint(p, 4), 0);
        return 0;
    case MYSQL_TYPE_TIME2: {
        /* packed = (intpart << 24) + fraction, signed; see my_time.c */
        int64_t packed;
        int64_t intpart = (int64_t)be_uint(p, 3) - 0x800000;
        switch (frac_bytes(c->fsp)) {
        case 1: {
            int64_t frac = p[3];
            if (intpart < 0 && frac) intpart++, frac -= 0x100;
            packed = intpart * (1LL << 24) + frac * 10000;
            break;
        }
        case 2: {
            int64_t frac = (int64_t)be_uint(p + 3, 2);
            if (intpart < 0 && frac) intpart++, frac -= 0x10000;
            packed = intpart * (1LL << 24) + frac * 100;
            break;
        }
        case 3:
            packed = (int64_t)be_uint(p, 6) - 0x800000000000LL;
            break;
        default:
            packed = intpart * (1LL << 24);
        }
        bool negative = packed < 0;
        if (negative) packed = -packed;
        int64_t hms = packed >> 24;
        sh_mysql_json_time(t, negative, (int)((hms >> 12) % (1 << 10)), (int)((hms >> 6) % 64),
                           (int)(hms % 64), (long)(packed % (1 << 24)));
        return 0;
    }
    case MYSQL_TYPE_TIME: {
        int32_t v = (int32_t)(le_uint(p, 3) << 8) >> 8;
        bool negative = v < 0;
        if (negative) v = -v;
        sh_mysql_json_time(t, negative, v / 10000, v / 100 % 100, v % 100, 0);
        return 0;
    }
    case MYSQL_TYPE_NEWDECIMAL: {
        char digits[100];
        decimal_digits(p, c->precision, c->scale, digits, sizeof digits);
        sh_mysql_json_decimal(t, mode, digits, strlen(digits), c->scale);
        return 0;
    }
    case MYSQL_TYPE_BIT:
        sh_mysql_json_bits(t, c->bits, p, (size_t)size);
        return 0;
    case MYSQL_TYPE_ENUM:
        sh_mysql_json_enum(t, c, (unsigned)le_uint(p, (int)size));
        return 0;
    case MYSQL_TYPE_SET:
        sh_mysql_json_set(t, c, le_uint(p, (int)size));
        return 0;
    case MYSQL_TYPE_NULL:
        sh_text_adds(t, "null");
        return 0;
    default: { /* strings and blobs: a length prefix, then the bytes */
        int prefix = c->type == MYSQL_TYPE_VARCHAR || c->type == MYSQL_TYPE_VAR_STRING ||
                             c->type == MYSQL_TYPE_STRING
                         ? (c->meta < 256 ? 1 : 2)
                         : (int)c->meta;
        const char *s = (const char *)p + prefix;
        size_t n = (size_t)size - (size_t)prefix;
        if (c->binary)
            sh_text_json_base64(t, (const unsigned char *)s, n);
        else
            sh_text_json_string(t, s, n);
        return 0;
    }
    }
}

long sh_mysql_rows_decode(const sh_mysql_table_t *table, const unsigned char *present,
                          const unsigned char *data, size_t len, sh_decimal_mode_t mode,
                          sh_mysql_row_t *row, char *err, size_t errlen) {
    int n = table->count, used = 0;
    for (int i = 0; i < n; i++)
        if (present[i / 8] & (1 << (i % 8))) used++;
    size_t null_len = (size_t)(used + 7) / 8;
    if (sh_mysql_row_reset(row, n) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (len < null_len) goto malformed;
    const unsigned char *nulls = data;
    size_t pos = null_len;
    int k = 0;
    for (int i = 0; i < n; i++) {
        sh_mysql_row_begin(row, i);
        if (!(present[i / 8] & (1 << (i % 8)))) { /* not in the image (MINIMAL) */
            sh_text_adds(&row->json, "null");
            sh_mysql_row_end(row, i);
            continue;
        }
        bool is_null = nulls[k / 8] & (1 << (k % 8));
        k++;
        if (is_null) {
            sh_text_adds(&row->json, "null");
            sh_mysql_row_end(row, i);
            continue;
        }
        const sh_mysql_column_t *c = &table->columns[i];
        long size = sh_mysql_rows_value_size(c, data + pos, len - pos);
        if (size < 0) {
            snprintf(err, errlen,
                     "%s.%s: column %s has type %d, which the binlog reader cannot "
                     "decode",
                     table->db, table->name, c->name, c->type);
            return -1;
        }
        if ((size_t)size > len - pos) goto malformed;
        value_json(c, data + pos, size, mode, &row->json);
        pos += (size_t)size;
        sh_mysql_row_end(row, i);
    }
    if (row->json.failed) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return (long)pos;
malformed:
    snprintf(err, errlen, "%s.%s: row image ends early (%zu bytes)", table->db, table->name, len);
    return -1;
}
