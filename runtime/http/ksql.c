/*
 * ksql.c - ksqlDB pull queries over the app's stores (see ksql.h).
 *
 * A hand-written scanner, not a SQL parser: the statements a workshop
 * sends to /query are one-key lookups, and anything beyond them is refused
 * by name. Values are the stores' JSON text; a named column is read from
 * the top level of the value object by a small JSON walker that only finds
 * where a member's value starts and ends, never builds a tree.
 *
 * @locality the HTTP thread; no state outside the arguments.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http/ksql.h"

/* ---- statements ---- */

typedef struct scanner {
    const char *p;
} scanner_t;

static void skip_space(scanner_t *s) {
    while (isspace((unsigned char)*s->p)) s->p++;
}

/* An identifier (letters, digits, '_', '-'; or a `quoted` one). */
static bool ident(scanner_t *s, char *out, size_t cap) {
    skip_space(s);
    size_t n = 0;
    if (*s->p == '`' || *s->p == '"') {
        char quote = *s->p++;
        while (*s->p && *s->p != quote && n + 1 < cap) out[n++] = *s->p++;
        if (*s->p != quote) return false;
        s->p++;
    } else {
        while ((isalnum((unsigned char)*s->p) || *s->p == '_' || *s->p == '-') && n + 1 < cap)
            out[n++] = *s->p++;
    }
    out[n] = '\0';
    return n > 0;
}

static bool keyword(scanner_t *s, const char *word) {
    skip_space(s);
    size_t n = strlen(word);
    if (strncasecmp(s->p, word, n) != 0 || isalnum((unsigned char)s->p[n]) || s->p[n] == '_')
        return false;
    s->p += n;
    return true;
}

static bool punct(scanner_t *s, const char *text) {
    skip_space(s);
    size_t n = strlen(text);
    if (strncmp(s->p, text, n) != 0) return false;
    s->p += n;
    return true;
}

/* A number or a 'string' ('' is a quote inside one). */
static bool literal(scanner_t *s, char *out, size_t cap) {
    skip_space(s);
    size_t n = 0;
    if (*s->p == '\'') {
        s->p++;
        for (;;) {
            if (!*s->p) return false;
            if (*s->p == '\'' && s->p[1] == '\'') s->p++;
            else if (*s->p == '\'') break;
            if (n + 1 >= cap) return false;
            out[n++] = *s->p++;
        }
        s->p++;
    } else {
        if (*s->p == '-' || *s->p == '+') out[n++] = *s->p++;
        while ((isdigit((unsigned char)*s->p) || *s->p == '.') && n + 1 < cap) out[n++] = *s->p++;
        if (n == 0 || !isdigit((unsigned char)out[n - 1])) return false;
    }
    out[n] = '\0';
    return true;
}

static bool number(scanner_t *s, int64_t *out) {
    char text[32];
    if (!literal(s, text, sizeof text)) return false;
    char *end;
    long long v = strtoll(text, &end, 10);
    if (*end) return false;
    *out = v;
    return true;
}

static int refuse(char *errbuf, size_t errlen, const char *what) {
    snprintf(errbuf, errlen, "%s; %s", what, SH_KSQL_SUPPORTED);
    return -1;
}

/* WINDOWSTART op n, narrowing the bounds. */
static bool window_bound(scanner_t *s, sh_ksql_query_t *q) {
    int64_t v, w;
    if (keyword(s, "BETWEEN")) {
        if (!number(s, &v) || !keyword(s, "AND") || !number(s, &w)) return false;
        if (v > q->window_from) q->window_from = v;
        if (w < q->window_to) q->window_to = w;
        return true;
    }
    const char *ops[] = {">=", "<=", "=", ">", "<"};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        if (!punct(s, ops[i])) continue;
        if (!number(s, &v)) return false;
        int64_t from = q->window_from, to = q->window_to;
        switch (i) {
        case 0: from = v; break;
        case 1: to = v; break;
        case 2: from = to = v; break;
        case 3: from = v == INT64_MAX ? v : v + 1; break;
        default: to = v == INT64_MIN ? v : v - 1; break;
        }
        if (from > q->window_from) q->window_from = from;
        if (to < q->window_to) q->window_to = to;
        return true;
    }
    return false;
}

int sh_ksql_parse(const char *sql, sh_ksql_query_t *q, char *errbuf, size_t errlen) {
    memset(q, 0, sizeof *q);
    q->window_from = INT64_MIN;
    q->window_to = INT64_MAX;
    scanner_t s = {sql};
    if (!keyword(&s, "SELECT")) return refuse(errbuf, errlen, "only SELECT statements");
    if (punct(&s, "*")) {
        q->star = true;
    } else {
        do {
            if (q->column_count == SH_KSQL_MAX_COLUMNS)
                return refuse(errbuf, errlen, "too many columns");
            if (!ident(&s, q->columns[q->column_count], SH_KSQL_NAME_MAX))
                return refuse(errbuf, errlen, "expected a column name or * after SELECT");
            q->column_count++;
            skip_space(&s);
            if (*s.p == '(') return refuse(errbuf, errlen, "no functions or aggregates");
        } while (punct(&s, ","));
    }
    if (!keyword(&s, "FROM")) return refuse(errbuf, errlen, "expected FROM after the columns");
    if (!ident(&s, q->table, sizeof q->table))
        return refuse(errbuf, errlen, "expected a table name after FROM");
    if (keyword(&s, "EMIT"))
        return refuse(errbuf, errlen, "push queries (EMIT CHANGES) are not served here");
    if (!keyword(&s, "WHERE"))
        return refuse(errbuf, errlen, "a pull query needs WHERE ROWKEY = <key>");
    bool have_key = false;
    do {
        char column[SH_KSQL_NAME_MAX];
        if (!ident(&s, column, sizeof column))
            return refuse(errbuf, errlen, "expected a column in WHERE");
        if (strcasecmp(column, "WINDOWSTART") == 0) {
            if (!window_bound(&s, q))
                return refuse(errbuf, errlen, "WINDOWSTART takes =, >=, >, <=, < or BETWEEN "
                                              "with numbers");
            continue;
        }
        if (have_key) return refuse(errbuf, errlen, "one key per query");
        if (!punct(&s, "="))
            return refuse(errbuf, errlen, "the key is compared with = only (no ranges, IN or OR)");
        if (!literal(&s, q->key, sizeof q->key))
            return refuse(errbuf, errlen, "the key must be a number or a 'quoted string'");
        snprintf(q->key_column, sizeof q->key_column, "%s", column);
        have_key = true;
    } while (keyword(&s, "AND"));
    if (keyword(&s, "OR")) return refuse(errbuf, errlen, "no OR");
    punct(&s, ";");
    skip_space(&s);
    if (*s.p) {
        char what[160];
        snprintf(what, sizeof what, "unexpected '%.40s'", s.p);
        return refuse(errbuf, errlen, what);
    }
    if (!have_key) return refuse(errbuf, errlen, "a pull query needs WHERE ROWKEY = <key>");
    return 0;
}

/* ---- JSON, just enough ---- */

static const char *json_space(const char *p, const char *end) {
    while (p < end && isspace((unsigned char)*p)) p++;
    return p;
}

/* The end of the JSON value at p, or NULL when it is not one. */
static const char *json_skip(const char *p, const char *end) {
    p = json_space(p, end);
    if (p >= end) return NULL;
    if (*p == '"') {
        for (p++; p < end; p++) {
            if (*p == '\\') p++;
            else if (*p == '"') return p + 1;
        }
        return NULL;
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        for (; p < end; p++) {
            if (*p == '"') {
                p = json_skip(p, end);
                if (!p) return NULL;
                p--;
            } else if (*p == '{' || *p == '[') depth++;
            else if ((*p == '}' || *p == ']') && --depth == 0) return p + 1;
        }
        return NULL;
    }
    const char *start = p;
    while (p < end && (isalnum((unsigned char)*p) || *p == '-' || *p == '+' || *p == '.')) p++;
    return p > start ? p : NULL;
}

/* Calls fn for each member of the object text[0..len) until it returns
 * true. Returns false when text is not an object. */
typedef bool (*member_fn)(void *arg, const char *name, size_t name_len, const char *value,
                          size_t value_len);
static bool json_members(const char *text, size_t len, member_fn fn, void *arg) {
    const char *p = json_space(text, text + len), *end = text + len;
    if (p >= end || *p != '{') return false;
    p = json_space(p + 1, end);
    if (p < end && *p == '}') return true;
    while (p < end) {
        p = json_space(p, end);
        const char *name_end = json_skip(p, end);
        if (!name_end || *p != '"') return false;
        const char *colon = json_space(name_end, end);
        if (colon >= end || *colon != ':') return false;
        const char *value = json_space(colon + 1, end), *value_end = json_skip(value, end);
        if (!value_end) return false;
        if (fn(arg, p + 1, (size_t)(name_end - p - 2), value, (size_t)(value_end - value)))
            return true;
        p = json_space(value_end, end);
        if (p < end && *p == ',') p++;
        else break;
    }
    return true;
}

typedef struct lookup {
    const char *name;
    const char *value;
    size_t value_len;
    bool exact; /* the key had to match exactly (the "ksql" member) */
} lookup_t;

static bool match_member(void *arg, const char *name, size_t name_len, const char *value,
                         size_t value_len) {
    lookup_t *l = arg;
    if (strlen(l->name) != name_len) return false;
    if (l->exact ? strncmp(name, l->name, name_len) : strncasecmp(name, l->name, name_len))
        return false;
    l->value = value;
    l->value_len = value_len;
    return true;
}

static int put_utf8(char *out, unsigned cp) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    out[0] = (char)(0xe0 | cp >> 12);
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
}

int sh_ksql_statement(const char *body, size_t len, char *out, size_t cap) {
    lookup_t l = {.name = "ksql", .exact = true};
    if (!json_members(body, len, match_member, &l) || !l.value || l.value_len < 2 ||
        l.value[0] != '"')
        return -1;
    size_t n = 0;
    for (size_t i = 1; i + 1 < l.value_len; i++) {
        if (n + 4 >= cap) return -1;
        char c = l.value[i];
        if (c != '\\') {
            out[n++] = c;
            continue;
        }
        c = l.value[++i];
        switch (c) {
        case 'n': out[n++] = '\n'; break;
        case 't': out[n++] = '\t'; break;
        case 'r': out[n++] = '\r'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'u': {
            if (i + 4 >= l.value_len) return -1;
            char hex[5] = {0};
            memcpy(hex, l.value + i + 1, 4);
            n += (size_t)put_utf8(out + n, (unsigned)strtoul(hex, NULL, 16));
            i += 4;
            break;
        }
        default: out[n++] = c; break; /* \" \\ \/ */
        }
    }
    out[n] = '\0';
    return 0;
}

/* ---- answers ---- */

typedef struct out {
    char *data;
    size_t len, cap;
    bool failed;
} out_t;

static void put(out_t *o, const char *s, size_t n) {
    if (o->failed) return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 512;
        while (cap < o->len + n + 1) cap *= 2;
        char *grown = realloc(o->data, cap);
        if (!grown) {
            o->failed = true;
            return;
        }
        o->data = grown;
        o->cap = cap;
    }
    memcpy(o->data + o->len, s, n);
    o->len += n;
    o->data[o->len] = '\0';
}

static void puts_(out_t *o, const char *s) { put(o, s, strlen(s)); }

static void put_string(out_t *o, const char *s) {
    puts_(o, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') put(o, "\\", 1);
        if ((unsigned char)*s < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned char)*s);
            puts_(o, esc);
        } else {
            put(o, s, 1);
        }
    }
    puts_(o, "\"");
}

static void put_upper(out_t *o, const char *s) {
    for (; *s; s++) {
        char c = (char)toupper((unsigned char)*s);
        put(o, &c, 1);
    }
}

static const char *json_type(const char *v, size_t len) {
    if (!v || !len) return "STRING";
    if (*v == '"') return "STRING";
    if (*v == '{') return "STRUCT<>";
    if (*v == '[') return "ARRAY<>";
    if (*v == 't' || *v == 'f') return "BOOLEAN";
    if (*v == 'n') return "STRING";
    return memchr(v, '.', len) || memchr(v, 'e', len) || memchr(v, 'E', len) ? "DOUBLE" : "BIGINT";
}

/* A column of the answer. */
typedef enum { COL_KEY, COL_WINDOWSTART, COL_WINDOWEND, COL_FIELD, COL_VALUE } col_kind_t;
typedef struct column {
    col_kind_t kind;
    char name[SH_KSQL_NAME_MAX];
} column_t;

typedef struct collect {
    column_t *columns;
    int count, cap;
} collect_t;

static bool has_column(collect_t *c, const char *name) {
    for (int i = 0; i < c->count; i++)
        if (strcasecmp(c->columns[i].name, name) == 0) return true;
    return false;
}

static bool add_field(void *arg, const char *name, size_t name_len, const char *value,
                      size_t value_len) {
    (void)value, (void)value_len;
    collect_t *c = arg;
    char field[SH_KSQL_NAME_MAX];
    snprintf(field, sizeof field, "%.*s", (int)name_len, name);
    if (c->count < c->cap && !has_column(c, field)) {
        c->columns[c->count].kind = COL_FIELD;
        snprintf(c->columns[c->count++].name, SH_KSQL_NAME_MAX, "%s", field);
    }
    return false;
}

static bool is_object(const char *v, size_t len) {
    const char *p = json_space(v ? v : "", (v ? v : "") + len);
    return v && p < v + len && *p == '{';
}

/* The value of one column in row r (JSON text), or "null". */
static void put_cell(out_t *o, const column_t *col, const sh_ksql_row_t *r) {
    char num[32];
    switch (col->kind) {
    case COL_KEY: put(o, r->key, r->key_len); return;
    case COL_WINDOWSTART:
        snprintf(num, sizeof num, "%" PRId64, r->window_start);
        puts_(o, num);
        return;
    case COL_WINDOWEND:
        if (r->window_end < 0) puts_(o, "null");
        else {
            snprintf(num, sizeof num, "%" PRId64, r->window_end);
            puts_(o, num);
        }
        return;
    case COL_VALUE:
        if (r->value && r->value_len) put(o, r->value, r->value_len);
        else puts_(o, "null");
        return;
    case COL_FIELD: {
        lookup_t l = {.name = col->name};
        if (r->value && json_members(r->value, r->value_len, match_member, &l) && l.value)
            put(o, l.value, l.value_len);
        else
            puts_(o, "null");
        return;
    }
    }
}

static const char *column_type(const column_t *col, const char *key_type, const sh_ksql_row_t *rows,
                               int count) {
    if (col->kind == COL_KEY) return key_type;
    if (col->kind == COL_WINDOWSTART || col->kind == COL_WINDOWEND) return "BIGINT";
    for (int i = 0; i < count; i++) {
        if (col->kind == COL_VALUE) return json_type(rows[i].value, rows[i].value_len);
        lookup_t l = {.name = col->name};
        if (rows[i].value && json_members(rows[i].value, rows[i].value_len, match_member, &l) &&
            l.value && *l.value != 'n')
            return json_type(l.value, l.value_len);
    }
    return "STRING";
}

char *sh_ksql_render(const sh_ksql_query_t *q, const char *key_type, bool windowed,
                     const sh_ksql_row_t *rows, int count, char *errbuf, size_t errlen) {
    column_t columns[SH_KSQL_MAX_COLUMNS + 8];
    collect_t c = {.columns = columns, .cap = (int)(sizeof columns / sizeof *columns)};
    if (q->star) {
        columns[c.count].kind = COL_KEY;
        snprintf(columns[c.count++].name, SH_KSQL_NAME_MAX, "%s", q->key_column);
        if (windowed) {
            columns[c.count++] = (column_t){.kind = COL_WINDOWSTART, .name = "WINDOWSTART"};
            columns[c.count++] = (column_t){.kind = COL_WINDOWEND, .name = "WINDOWEND"};
        }
        bool objects = false;
        for (int i = 0; i < count; i++)
            if (is_object(rows[i].value, rows[i].value_len)) {
                objects = true;
                json_members(rows[i].value, rows[i].value_len, add_field, &c);
            }
        if (!objects && count > 0) {
            columns[c.count++] = (column_t){.kind = COL_VALUE, .name = "VALUE"};
        }
    } else {
        /* A name that is neither the key, a window bound nor a field of the
         * values is the key under its own name (ksqlDB's PRODUCT_ID of a
         * table grouped by it), or, when the values are not objects (an
         * aggregate's sum), the value: the last such name is the value, the
         * one before it the key, as `select product_id, stock_level`. */
        bool scalar = count > 0 && !is_object(rows[0].value, rows[0].value_len);
        bool unresolved[SH_KSQL_MAX_COLUMNS] = {0};
        int left = 0;
        for (int i = 0; i < q->column_count; i++) {
            column_t *col = &columns[c.count++];
            snprintf(col->name, sizeof col->name, "%s", q->columns[i]);
            if (strcasecmp(col->name, "ROWKEY") == 0 || strcasecmp(col->name, q->key_column) == 0)
                col->kind = COL_KEY;
            else if (strcasecmp(col->name, "WINDOWSTART") == 0 && windowed)
                col->kind = COL_WINDOWSTART;
            else if (strcasecmp(col->name, "WINDOWEND") == 0 && windowed)
                col->kind = COL_WINDOWEND;
            else if (scalar && strcasecmp(col->name, "VALUE") == 0)
                col->kind = COL_VALUE;
            else {
                col->kind = COL_FIELD;
                bool seen = count == 0; /* no row: nothing to check against */
                for (int r = 0; r < count && !seen; r++) {
                    lookup_t l = {.name = col->name};
                    seen = rows[r].value &&
                           json_members(rows[r].value, rows[r].value_len, match_member, &l) &&
                           l.value;
                }
                if (!seen) left += unresolved[i] = true;
            }
        }
        bool key_named = false, value_named = false;
        for (int i = 0; i < c.count; i++) {
            if (c.columns[i].kind == COL_KEY) key_named = true;
            if (c.columns[i].kind == COL_VALUE) value_named = true;
        }
        for (int i = 0; i < c.count; i++) {
            if (!unresolved[i]) continue;
            if (scalar && !value_named && left == 1) {
                c.columns[i].kind = COL_VALUE;
                value_named = true;
            } else if (!key_named) {
                c.columns[i].kind = COL_KEY;
                key_named = true;
            } else {
                snprintf(errbuf, errlen,
                         "column '%s' is not in %s (its key is %s%s; %s)", c.columns[i].name,
                         q->table, q->key_column, windowed ? ", WINDOWSTART, WINDOWEND" : "",
                         scalar ? "its value is one column, not an object"
                                : "its values have no such field");
                return NULL;
            }
            left--;
        }
    }
    out_t o = {0};
    char id[64];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(id, sizeof id, "query_%lld", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    puts_(&o, "[{\"header\":{\"queryId\":");
    put_string(&o, id);
    puts_(&o, ",\"schema\":\"");
    for (int i = 0; i < c.count; i++) {
        if (i) puts_(&o, ", ");
        puts_(&o, "`");
        put_upper(&o, c.columns[i].name);
        puts_(&o, "` ");
        puts_(&o, column_type(&c.columns[i], key_type, rows, count));
    }
    puts_(&o, "\"}}");
    for (int r = 0; r < count; r++) {
        puts_(&o, ",\n{\"row\":{\"columns\":[");
        for (int i = 0; i < c.count; i++) {
            if (i) puts_(&o, ",");
            put_cell(&o, &c.columns[i], &rows[r]);
        }
        puts_(&o, "]}}");
    }
    puts_(&o, "]\n");
    if (o.failed) {
        free(o.data);
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    return o.data;
}

char *sh_ksql_error(int code, const char *message, const char *statement) {
    out_t o = {0};
    char num[32];
    snprintf(num, sizeof num, "%d", code);
    puts_(&o, "{\"@type\":\"statement_error\",\"error_code\":");
    puts_(&o, num);
    puts_(&o, ",\"message\":");
    put_string(&o, message);
    puts_(&o, ",\"statementText\":");
    put_string(&o, statement ? statement : "");
    puts_(&o, ",\"entities\":[]}\n");
    if (o.failed) {
        free(o.data);
        return NULL;
    }
    return o.data;
}
