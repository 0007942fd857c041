/*
 * avro_logical.c - the text forms of Avro's logical types that Lua sees:
 * a date as "YYYY-MM-DD", a decimal as its exact digits ("-12.50"), both
 * ways. Dates use Howard Hinnant's days-from-civil algorithms, exact over
 * the whole proleptic Gregorian calendar; decimals are arbitrary length
 * (schoolbook division, O(n^2) in the number of bytes).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serde/avro_codec.h"
#include "serde/avro_logical.h"

int sh_avro_date_format(int64_t days, char *out, size_t cap) {
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2) y++;
    int n = snprintf(out, cap,
                     y >= 0 && y <= 9999 ? "%04" PRId64 "-%02" PRId64 "-%02" PRId64
                                         : "%" PRId64 "-%02" PRId64 "-%02" PRId64,
                     y, m, d);
    return n > 0 && (size_t)n < cap ? n : -1;
}

int sh_avro_date_parse(const char *text, size_t len, int64_t *days) {
    char buf[32];
    if (len == 0 || len >= sizeof buf) return -1;
    memcpy(buf, text, len);
    buf[len] = 0;
    long long y;
    int m, d, used = 0;
    if (sscanf(buf, "%lld-%2d-%2d%n", &y, &m, &d, &used) != 3 || (size_t)used != len || m < 1 ||
        m > 12 || d < 1 || d > 31)
        return -1;
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    *days = era * 146097 + doe - 719468;
    return 0;
}

int sh_avro_decimal_format(const unsigned char *bytes, size_t n, int scale, char *out, size_t cap) {
    if (n > SH_AVRO_DECIMAL_MAX_BYTES) return -1;
    unsigned char mag[SH_AVRO_DECIMAL_MAX_BYTES];
    bool negative = n > 0 && (bytes[0] & 0x80);
    memcpy(mag, bytes, n);
    if (negative) { /* two's complement: invert and add one */
        for (size_t i = 0; i < n; i++)
            mag[i] = (unsigned char)~mag[i];
        for (size_t i = n; i-- > 0;)
            if (++mag[i] != 0) break;
    }
    char digits[SH_AVRO_DECIMAL_MAX_BYTES * 3 + 2];
    int count = 0;
    size_t start = 0;
    while (start < n && mag[start] == 0)
        start++;
    while (start < n) { /* divide mag by 10 */
        unsigned rem = 0;
        for (size_t i = start; i < n; i++) {
            unsigned cur = rem << 8 | mag[i];
            mag[i] = (unsigned char)(cur / 10);
            rem = cur % 10;
        }
        digits[count++] = (char)('0' + rem);
        while (start < n && mag[start] == 0)
            start++;
    }
    while (count <= scale)
        digits[count++] = '0';
    size_t pos = 0;
    if (negative) {
        if (pos + 1 >= cap) return -1;
        out[pos++] = '-';
    }
    for (int i = count - 1; i >= 0; i--) {
        if (pos + 2 >= cap) return -1;
        out[pos++] = digits[i];
        if (i == scale && scale > 0) out[pos++] = '.';
    }
    out[pos] = 0;
    return (int)pos;
}

int sh_avro_decimal_parse(const char *text, size_t len, int scale, unsigned char *out,
                          size_t *out_len, size_t fixed_size) {
    size_t i = 0;
    bool negative = false;
    if (i < len && (text[i] == '-' || text[i] == '+')) negative = text[i++] == '-';
    unsigned char mag[SH_AVRO_DECIMAL_MAX_BYTES] = {0}; /* big-endian magnitude */
    int fraction = -1, digits = 0;
    for (; i < len; i++) {
        char ch = text[i];
        if (ch == '.' && fraction < 0) {
            fraction = 0;
            continue;
        }
        if (ch < '0' || ch > '9') return -1;
        if (fraction >= 0 && ++fraction > scale) {
            if (ch != '0') return -1; /* more digits than the scale holds */
            continue;
        }
        digits++;
        unsigned carry = (unsigned)(ch - '0');
        for (size_t k = SH_AVRO_DECIMAL_MAX_BYTES; k-- > 0;) {
            unsigned cur = mag[k] * 10u + carry;
            mag[k] = (unsigned char)cur;
            carry = cur >> 8;
        }
        if (carry) return -1;
    }
    if (!digits) return -1;
    for (int f = fraction < 0 ? 0 : (fraction > scale ? scale : fraction); f < scale; f++) {
        unsigned carry = 0;
        for (size_t k = SH_AVRO_DECIMAL_MAX_BYTES; k-- > 0;) {
            unsigned cur = mag[k] * 10u + carry;
            mag[k] = (unsigned char)cur;
            carry = cur >> 8;
        }
        if (carry) return -1;
    }
    if (negative) {
        for (size_t k = 0; k < SH_AVRO_DECIMAL_MAX_BYTES; k++)
            mag[k] = (unsigned char)~mag[k];
        for (size_t k = SH_AVRO_DECIMAL_MAX_BYTES; k-- > 0;)
            if (++mag[k] != 0) break;
    }
    /* the shortest two's complement form, as Java's BigInteger.toByteArray */
    size_t start = 0;
    unsigned char fill = negative ? 0xff : 0x00;
    while (start + 1 < SH_AVRO_DECIMAL_MAX_BYTES && mag[start] == fill &&
           ((mag[start + 1] & 0x80) == (fill & 0x80)))
        start++;
    size_t n = SH_AVRO_DECIMAL_MAX_BYTES - start;
    if (fixed_size) {
        if (n > fixed_size || fixed_size > SH_AVRO_DECIMAL_MAX_BYTES) return -1;
        start = SH_AVRO_DECIMAL_MAX_BYTES - fixed_size;
        n = fixed_size;
    }
    memcpy(out, mag + start, n);
    *out_len = n;
    return 0;
}
