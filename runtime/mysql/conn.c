/*
 * conn.c - a connection to MySQL/MariaDB through MariaDB Connector/C (see
 * conn.h).
 *
 * Connecting is lazy and one attempt at a time: callers own the retry
 * policy (the sink retries a whole transaction with backoff, the query API
 * reports the failure to Lua). Prepared statements are cached by their text,
 * at most STMT_CACHE of them, oldest evicted, all closed when the connection
 * is dropped.
 */
#include <errmsg.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql/conn.h"

enum { STMT_CACHE = 32, CONNECT_TIMEOUT_S = 5, IO_TIMEOUT_S = 60 };

typedef struct cached_stmt {
    char *sql;
    MYSQL_STMT *stmt;
} cached_stmt_t;

struct sh_mysql_conn {
    char *host, *user, *password, *database, *name;
    unsigned int port;
    MYSQL *db;
    cached_stmt_t stmts[STMT_CACHE];
    int stmt_count;
};

/* %XX decoding for the user and password parts of a URL. */
static char *decoded(const char *s, size_t len) {
    char *out = malloc(len + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned int byte;
        if (s[i] == '%' && i + 2 < len && sscanf(s + i + 1, "%2x", &byte) == 1) {
            out[o++] = (char)byte;
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = 0;
    return out;
}

static char *query_param(const char *query, const char *name) {
    size_t n = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > n && strncmp(p, name, n) == 0 && p[n] == '=')
            return decoded(p + n + 1, len - n - 1);
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

sh_mysql_conn_t *sh_mysql_conn_new(const char *url, const char *user, const char *password,
                                   char *errbuf, size_t errlen) {
    const char *p = url ? url : "";
    if (strncmp(p, "jdbc:", 5) == 0) p += 5;
    if (strncmp(p, "mysql://", 8) == 0)
        p += 8;
    else if (strncmp(p, "mariadb://", 10) == 0)
        p += 10;
    else {
        snprintf(errbuf, errlen,
                 "connection.url \"%s\" is not jdbc:mysql://host:port/database or "
                 "mysql://user:password@host:port/database",
                 url ? url : "");
        return NULL;
    }
    sh_mysql_conn_t *c = calloc(1, sizeof *c);
    if (!c) goto oom;
    c->port = 3306;
    const char *at = strchr(p, '@'), *slash = strchr(p, '/');
    if (at && (!slash || at < slash)) { /* user[:password]@ */
        const char *colon = memchr(p, ':', (size_t)(at - p));
        c->user = decoded(p, (size_t)((colon ? colon : at) - p));
        if (colon) c->password = decoded(colon + 1, (size_t)(at - colon - 1));
        p = at + 1;
    }
    size_t hostlen = strcspn(p, ":/?");
    c->host = strndup(p, hostlen);
    p += hostlen;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port <= 0 || port > 65535) {
            snprintf(errbuf, errlen, "connection.url \"%s\": bad port", url);
            sh_mysql_conn_free(c);
            return NULL;
        }
        c->port = (unsigned int)port;
        p = end;
    }
    if (*p == '/') {
        p++;
        size_t dblen = strcspn(p, "?");
        c->database = strndup(p, dblen);
        p += dblen;
    }
    if (*p == '?') {
        char *u = query_param(p + 1, "user"), *pw = query_param(p + 1, "password");
        if (u) free(c->user), c->user = u;
        if (pw) free(c->password), c->password = pw;
    }
    if (user) free(c->user), c->user = strdup(user);
    if (password) free(c->password), c->password = strdup(password);
    if (!c->database) c->database = strdup("");
    if (!c->host || !c->database) goto oom;
    if (!*c->host) {
        snprintf(errbuf, errlen, "connection.url \"%s\" names no host", url);
        sh_mysql_conn_free(c);
        return NULL;
    }
    if (asprintf(&c->name, "%s@%s:%u/%s", c->user ? c->user : "", c->host, c->port, c->database) <
        0) {
        c->name = NULL;
        goto oom;
    }
    return c;
oom:
    sh_mysql_conn_free(c);
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
}

void sh_mysql_conn_free(sh_mysql_conn_t *c) {
    if (!c) return;
    sh_mysql_conn_drop(c);
    free(c->host);
    free(c->user);
    free(c->password);
    free(c->database);
    free(c->name);
    free(c);
}

const char *sh_mysql_conn_name(const sh_mysql_conn_t *c) { return c->name; }
const char *sh_mysql_conn_database(const sh_mysql_conn_t *c) { return c->database; }
MYSQL *sh_mysql_conn_handle(sh_mysql_conn_t *c) { return c->db; }

int sh_mysql_conn_open(sh_mysql_conn_t *c, unsigned int *code, char *errbuf, size_t errlen) {
    *code = 0;
    if (c->db) return 0;
    MYSQL *db = mysql_init(NULL);
    if (!db) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    unsigned int connect_timeout = CONNECT_TIMEOUT_S, io_timeout = IO_TIMEOUT_S;
    mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
    mysql_options(db, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
    mysql_options(db, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
    mysql_options(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (!mysql_real_connect(db, c->host, c->user, c->password, *c->database ? c->database : NULL,
                            c->port, NULL, 0)) {
        *code = mysql_errno(db);
        snprintf(errbuf, errlen, "cannot connect to %s: %s (%u)", c->name, mysql_error(db), *code);
        mysql_close(db);
        return -1;
    }
    c->db = db;
    return 0;
}

void sh_mysql_conn_drop(sh_mysql_conn_t *c) {
    for (int i = 0; i < c->stmt_count; i++) {
        mysql_stmt_close(c->stmts[i].stmt);
        free(c->stmts[i].sql);
    }
    c->stmt_count = 0;
    if (c->db) mysql_close(c->db);
    c->db = NULL;
}

bool sh_mysql_conn_retriable(unsigned int code) {
    switch (code) {
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_SERVER_LOST_EXTENDED:
    case CR_COMMANDS_OUT_OF_SYNC:
    case ER_LOCK_DEADLOCK:
    case ER_LOCK_WAIT_TIMEOUT:
    case ER_CON_COUNT_ERROR:
    case ER_SERVER_SHUTDOWN:
    case ER_CONNECTION_KILLED:
    case ER_QUERY_INTERRUPTED:
        return true;
    default:
        return false;
    }
}

int sh_mysql_conn_backoff_ms(int attempt, int max_ms) {
    long ms = 100;
    for (int i = 1; i < attempt && ms < max_ms; i++)
        ms *= 2;
    return (int)(ms < max_ms ? ms : max_ms);
}

int sh_mysql_conn_exec(sh_mysql_conn_t *c, const char *sql, unsigned int *code, char *errbuf,
                       size_t errlen) {
    if (!c->db && sh_mysql_conn_open(c, code, errbuf, errlen) != 0) return -1;
    *code = 0;
    if (mysql_real_query(c->db, sql, strlen(sql)) != 0) {
        *code = mysql_errno(c->db);
        snprintf(errbuf, errlen, "%s (%u)", mysql_error(c->db), *code);
        return -1;
    }
    MYSQL_RES *res = mysql_store_result(c->db);
    if (res) mysql_free_result(res);
    return 0;
}

MYSQL_STMT *sh_mysql_conn_prepare(sh_mysql_conn_t *c, const char *sql, unsigned int *code,
                                  char *errbuf, size_t errlen) {
    *code = 0;
    for (int i = 0; i < c->stmt_count; i++)
        if (strcmp(c->stmts[i].sql, sql) == 0) return c->stmts[i].stmt;
    if (!c->db && sh_mysql_conn_open(c, code, errbuf, errlen) != 0) return NULL;
    MYSQL_STMT *stmt = mysql_stmt_init(c->db);
    char *copy = strdup(sql);
    if (!stmt || !copy) {
        if (stmt) mysql_stmt_close(stmt);
        free(copy);
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    if (mysql_stmt_prepare(stmt, sql, strlen(sql)) != 0) {
        *code = mysql_stmt_errno(stmt);
        snprintf(errbuf, errlen, "%s (%u)", mysql_stmt_error(stmt), *code);
        mysql_stmt_close(stmt);
        free(copy);
        return NULL;
    }
    if (c->stmt_count == STMT_CACHE) { /* evict the oldest */
        mysql_stmt_close(c->stmts[0].stmt);
        free(c->stmts[0].sql);
        memmove(c->stmts, c->stmts + 1, sizeof c->stmts[0] * (STMT_CACHE - 1));
        c->stmt_count--;
    }
    c->stmts[c->stmt_count++] = (cached_stmt_t){copy, stmt};
    return stmt;
}
