/*
 * value.c - column values in the JSON Debezium's MySQL connector emits with
 * Kafka Connect's JSON converter (table.h): temporal types as its
 * io.debezium.time.* numbers and strings, DECIMAL by decimal.handling.mode,
 * BIT as BOOLEAN or little-endian bytes, ENUM and SET by name. Binlog rows
 * (rows.c) and snapshot rows (snapshot.c) both end here, so a row reads the
 * same whichever way it arrived.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql/table.h"

void sh_mysql_table_free(sh_mysql_table_t *t) {
    if (!t) return;
    for (int i = 0; i < t->count; i++) {
        sh_mysql_column_t *c = &t->columns[i];
        free(c->name);
        for (int j = 0; j < c->value_count; j++)
            free(c->values[j]);
        free(c->values);
    }
    free(t->columns);
    free(t->db);
    free(t->name);
    free(t->topic);
    free(t);
}

char *sh_mysql_topic_name(const char *prefix, const char *db, const char *table) {
    char *topic = NULL;
    if (asprintf(&topic, "%s.%s.%s", prefix, db, table) < 0) return NULL;
    for (char *c = topic; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '_' || *c == '-'))
            *c = '_';
    return topic;
}

/* Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *year, int *month, int *day) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *day = (int)(doy - (153 * mp + 2) / 5 + 1);
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = (int)(y + (*month <= 2));
}

void sh_mysql_json_date(sh_text_t *t, int year, int month, int day) {
    /* zero dates (0000-00-00) are null for Debezium */
    if (month == 0 || day == 0) {
        sh_text_adds(t, "null");
        return;
    }
    sh_text_addf(t, "%lld", (long long)days_from_civil(year, month, day));
}

void sh_mysql_json_datetime(sh_text_t *t, int fsp, int year, int month, int day, int hour,
                            int minute, int second, long micros) {
    if (month == 0 || day == 0) {
        sh_text_adds(t, "null");
        return;
    }
    int64_t s = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    if (fsp <= 3)
        sh_text_addf(t, "%lld", (long long)(s * 1000 + micros / 1000));
    else
        sh_text_addf(t, "%lld", (long long)(s * 1000000 + micros));
}

void sh_mysql_json_timestamp(sh_text_t *t, int fsp, int64_t epoch_seconds, long micros) {
    if (epoch_seconds == 0 && micros == 0) { /* the zero timestamp */
        sh_text_adds(t, "null");
        return;
    }
    int64_t days = epoch_seconds / 86400, rest = epoch_seconds % 86400;
    if (rest < 0) rest += 86400, days--;
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    sh_text_addf(t, "\"%04d-%02d-%02dT%02d:%02d:%02d", y, m, d, (int)(rest / 3600),
                 (int)(rest / 60 % 60), (int)(rest % 60));
    if (fsp > 0) {
        char frac[8];
        snprintf(frac, sizeof frac, "%06ld", micros);
        sh_text_add(t, ".", 1);
        sh_text_add(t, frac, (size_t)(fsp > 6 ? 6 : fsp));
    }
    sh_text_adds(t, "Z\"");
}

void sh_mysql_json_time(sh_text_t *t, bool negative, int hours, int minutes, int seconds,
                        long micros) {
    long long us = ((long long)hours * 3600 + minutes * 60 + seconds) * 1000000LL + micros;
    sh_text_addf(t, "%lld", negative ? -us : us);
}

/* The unscaled value of digits ("-123.45" with scale 2 -> -12345), as
 * big-endian two's complement bytes: repeated division of the decimal
 * digits by 256. O(digits^2), at most 65 digits. */
static size_t unscaled_bytes(const char *digits, size_t len, int scale, unsigned char *out,
                             size_t cap) {
    char d[80];
    size_t n = 0;
    bool negative = false;
    int frac = -1;
    for (size_t i = 0; i < len && n < sizeof d; i++) {
        char c = digits[i];
        if (c == '-')
            negative = true;
        else if (c == '.')
            frac = 0;
        else if (c >= '0' && c <= '9') {
            d[n++] = (char)(c - '0');
            if (frac >= 0) frac++;
        }
    }
    if (frac < 0) frac = 0;
    while (frac < scale && n < sizeof d)
        d[n++] = 0, frac++;
    unsigned char le[40];
    size_t bytes = 0;
    size_t start = 0;
    while (start < n && bytes < sizeof le) {
        int rem = 0;
        for (size_t i = start; i < n; i++) {
            int cur = rem * 10 + d[i];
            d[i] = (char)(cur / 256);
            rem = cur % 256;
        }
        le[bytes++] = (unsigned char)rem;
        while (start < n && d[start] == 0)
            start++;
    }
    if (bytes == 0) le[bytes++] = 0;
    if (le[bytes - 1] & 0x80) le[bytes++] = 0; /* room for the sign bit */
    if (negative) {                            /* two's complement */
        int carry = 1;
        for (size_t i = 0; i < bytes; i++) {
            int v = (unsigned char)~le[i] + carry;
            le[i] = (unsigned char)v;
            carry = v >> 8;
        }
    }
    if (bytes > cap) bytes = cap;
    for (size_t i = 0; i < bytes; i++)
        out[i] = le[bytes - 1 - i];
    return bytes;
}

void sh_mysql_json_decimal(sh_text_t *t, sh_decimal_mode_t mode, const char *digits, size_t len,
                           int scale) {
    if (mode == SH_DECIMAL_STRING) {
        sh_text_json_string(t, digits, len);
    } else if (mode == SH_DECIMAL_DOUBLE) {
        char buf[96];
        size_t n = len < sizeof buf - 1 ? len : sizeof buf - 1;
        memcpy(buf, digits, n);
        buf[n] = '\0';
        sh_text_addf(t, "%.17g", strtod(buf, NULL));
    } else {
        unsigned char bytes[40];
        size_t n = unscaled_bytes(digits, len, scale, bytes, sizeof bytes);
        sh_text_json_base64(t, bytes, n);
    }
}

void sh_mysql_json_bits(sh_text_t *t, int bits, const unsigned char *be, size_t len) {
    if (bits == 1) {
        sh_text_adds(t, len > 0 && be[len - 1] & 1 ? "true" : "false");
        return;
    }
    unsigned char le[8];
    size_t n = len < sizeof le ? len : sizeof le;
    for (size_t i = 0; i < n; i++)
        le[i] = be[len - 1 - i];
    sh_text_json_base64(t, le, n);
}

void sh_mysql_json_set(sh_text_t *t, const sh_mysql_column_t *c, uint64_t mask) {
    sh_text_t s = {0};
    for (int i = 0; i < c->value_count && i < 64; i++) {
        if (!(mask & (1ULL << i))) continue;
        if (s.len) sh_text_add(&s, ",", 1);
        sh_text_adds(&s, c->values[i]);
    }
    sh_text_json_string(t, s.data ? s.data : "", s.len);
    sh_text_free(&s);
}

void sh_mysql_json_enum(sh_text_t *t, const sh_mysql_column_t *c, unsigned index) {
    if (index >= 1 && (int)index <= c->value_count)
        sh_text_json_string(t, c->values[index - 1], strlen(c->values[index - 1]));
    else
        sh_text_json_string(t, "", 0);
}
