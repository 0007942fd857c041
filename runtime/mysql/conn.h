/*
 * conn.h - one connection to a MySQL/MariaDB server (conn.c), shared by the
 * sink and the query API: the URL parsed once, connect on demand, errors
 * sorted into "retry on a new connection" and "give up", a small cache of
 * prepared statements.
 *
 * @locality: one thread at a time per connection (the stream thread that
 * owns the sink or the VM that opened it).
 */
#ifndef SH_MYSQL_CONN_H
#define SH_MYSQL_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include <mysql.h>

typedef struct sh_mysql_conn sh_mysql_conn_t;

/* Parses url: jdbc:mysql://host[:port][/db][?user=..&password=..] or
 * mysql://[user[:password]@]host[:port][/db]. user/password (may be NULL)
 * win over the URL's. Does not connect. NULL with errbuf on a bad URL. */
sh_mysql_conn_t *sh_mysql_conn_new(const char *url, const char *user, const char *password,
                                   char *errbuf, size_t errlen);
void sh_mysql_conn_free(sh_mysql_conn_t *c);
/* "user@host:port/db", for messages. */
const char *sh_mysql_conn_name(const sh_mysql_conn_t *c);
/* The database the URL names ("" for none). */
const char *sh_mysql_conn_database(const sh_mysql_conn_t *c);

/* Connects unless connected (one attempt). 0, or -1 with errbuf and *code
 * (mysql_errno: a refused connection is retriable, a wrong password or an
 * unknown database is not). */
int sh_mysql_conn_open(sh_mysql_conn_t *c, unsigned int *code, char *errbuf, size_t errlen);
/* The live handle, or NULL when not connected. */
MYSQL *sh_mysql_conn_handle(sh_mysql_conn_t *c);
/* Closes the connection (after an error that left it unusable); the next
 * sh_mysql_conn_open makes a new one. */
void sh_mysql_conn_drop(sh_mysql_conn_t *c);
/* Whether a failure with this server/client error code is worth a retry on
 * a fresh connection: the connection was lost or refused, a deadlock, a lock
 * wait timeout. Anything else (syntax, constraint, bad value) is not. */
bool sh_mysql_conn_retriable(unsigned int code);
/* How long to wait before retry number `attempt` (1, 2, ...): 100 ms
 * doubling, at most max_ms. */
int sh_mysql_conn_backoff_ms(int attempt, int max_ms);

/* Runs one statement without parameters, discarding any result. 0, or -1
 * with errbuf and *code (mysql_errno). */
int sh_mysql_conn_exec(sh_mysql_conn_t *c, const char *sql, unsigned int *code, char *errbuf,
                       size_t errlen);
/* A prepared statement for sql, from the connection's cache (prepared on
 * first use). NULL with errbuf and *code. The statement stays valid until
 * the connection is dropped. */
MYSQL_STMT *sh_mysql_conn_prepare(sh_mysql_conn_t *c, const char *sql, unsigned int *code,
                                  char *errbuf, size_t errlen);

#endif
