/*
 * sink_row.c - parses the row text stream:to_mysql emits (format in sink_row.h).
 * O(length of the row); nothing is copied.
 */
#include <stdio.h>
#include <string.h>

#include "mysql/sink_row.h"
#include "mysql/sql.h"

/* Reads "<len>:" then len bytes at *p. Returns 0 or -1. */
static int netstring(const char **p, const char *end, const char **out, size_t *out_len) {
    size_t n = 0;
    const char *q = *p;
    if (q >= end || *q < '0' || *q > '9') return -1;
    while (q < end && *q >= '0' && *q <= '9') {
        if (n > (size_t)(end - *p)) return -1; /* longer than the row: malformed */
        n = n * 10 + (size_t)(*q - '0');
        q++;
    }
    if (q >= end || *q != ':') return -1;
    q++;
    if ((size_t)(end - q) < n) return -1;
    *out = q;
    *out_len = n;
    *p = q + n;
    return 0;
}

int sh_mysql_sink_row_parse(const char *bytes, size_t len, char *op, sh_mysql_field_t *fields,
                            int max, char *errbuf, size_t errlen) {
    if (!bytes || len == 0 || (bytes[0] != 'W' && bytes[0] != 'D')) {
        snprintf(errbuf, errlen, "not a row from to_mysql (it starts with neither W nor D)");
        return -1;
    }
    *op = bytes[0];
    const char *p = bytes + 1, *end = bytes + len;
    int n = 0;
    while (p < end) {
        if (n == max) {
            snprintf(errbuf, errlen, "more than %d fields in one row", max);
            return -1;
        }
        if (end - p < 2 || !p[0] || !strchr("nifsbj", p[0]) || !p[1] || !strchr("k-K+", p[1])) {
            snprintf(errbuf, errlen, "malformed field %d in a row from to_mysql", n + 1);
            return -1;
        }
        sh_mysql_field_t *f = &fields[n];
        f->type = p[0];
        f->key = p[1] == 'k' || p[1] == 'K';
        bool typed = p[1] == 'K' || p[1] == '+';
        p += 2;
        f->sql_type = NULL;
        f->sql_type_len = 0;
        if ((typed && netstring(&p, end, &f->sql_type, &f->sql_type_len) != 0) ||
            netstring(&p, end, &f->name, &f->name_len) != 0 ||
            netstring(&p, end, &f->value, &f->value_len) != 0) {
            snprintf(errbuf, errlen, "malformed field %d in a row from to_mysql", n + 1);
            return -1;
        }
        if (typed && sh_sql_check_type(f->sql_type, f->sql_type_len, errbuf, errlen) != 0) return -1;
        n++;
    }
    return n;
}
