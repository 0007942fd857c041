/*
 * ksql_test.c - the pull-query statements ksqlDB users write, parsed; the
 * ones this host does not serve, refused with what it does; a request
 * body's "ksql" string unescaped; answers in ksqlDB's shape.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "http/ksql.h"

static void test_parse(void) {
    sh_ksql_query_t q;
    char err[1024];
    /* the workshop's statement */
    CHECK(sh_ksql_parse("select product_id, stock_level from current_stock where rowkey=15;", &q,
                        err, sizeof err) == 0);
    CHECK(!q.star && q.column_count == 2 && strcmp(q.columns[1], "stock_level") == 0);
    CHECK(strcmp(q.table, "current_stock") == 0 && strcmp(q.key_column, "rowkey") == 0);
    CHECK(strcmp(q.key, "15") == 0 && q.window_from == INT64_MIN && q.window_to == INT64_MAX);

    CHECK(sh_ksql_parse("SELECT * FROM `Demand` WHERE PRODUCT_ID = 'it''s' AND WINDOWSTART > 10 "
                        "AND WINDOWSTART <= 20",
                        &q, err, sizeof err) == 0);
    CHECK(q.star && strcmp(q.table, "Demand") == 0 && strcmp(q.key_column, "PRODUCT_ID") == 0);
    CHECK(strcmp(q.key, "it's") == 0 && q.window_from == 11 && q.window_to == 20);
    CHECK(sh_ksql_parse("select * from d where windowstart between 5 and 9 and rowkey=-3", &q, err,
                        sizeof err) == 0);
    CHECK(q.window_from == 5 && q.window_to == 9 && strcmp(q.key, "-3") == 0);

    const char *refused[] = {
        "select * from t",                              /* no key */
        "select * from t where rowkey > 3",             /* a range */
        "select * from t where rowkey = 1 or rowkey=2", /* two keys */
        "select count(*) from t where rowkey=1",        /* aggregate */
        "select * from t emit changes",                 /* push query */
        "insert into t values (1)",
        "select * from t where rowkey=1 and rowkey=2",
        "select * from t where rowkey=1 limit 3",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        err[0] = 0;
        CHECK(sh_ksql_parse(refused[i], &q, err, sizeof err) == -1);
        CHECK(strstr(err, "supported: pull queries on one key") != NULL);
    }
}

static void test_statement(void) {
    char out[256];
    const char *body = "{ \"streamsProperties\": {\"a\": [1, \"}\"]}, \"ksql\": "
                       "\"select \\\"x\\\" from t where rowkey='\\u00e9';\" }";
    CHECK(sh_ksql_statement(body, strlen(body), out, sizeof out) == 0);
    CHECK(strcmp(out, "select \"x\" from t where rowkey='\xc3\xa9';") == 0);
    CHECK(sh_ksql_statement("{\"sql\": \"x\"}", 12, out, sizeof out) == -1);
    CHECK(sh_ksql_statement("[1]", 3, out, sizeof out) == -1);
    CHECK(sh_ksql_statement("{\"ksql\": 5}", 11, out, sizeof out) == -1);
}

static void test_render(void) {
    sh_ksql_query_t q;
    char err[512];
    CHECK(sh_ksql_parse("select product_id, stock_level from current_stock where rowkey=15;", &q,
                        err, sizeof err) == 0);
    const char *value = "{\"PRODUCT_ID\": 15, \"STOCK_LEVEL\": -67, \"name\": \"x\"}";
    sh_ksql_row_t row = {.key = "15", .key_len = 2, .value = value, .value_len = strlen(value),
                         .window_end = -1};
    char *out = sh_ksql_render(&q, "INTEGER", false, &row, 1, err, sizeof err);
    CHECK(out && strstr(out, "\"schema\":\"`PRODUCT_ID` BIGINT, `STOCK_LEVEL` BIGINT\"}},\n"
                             "{\"row\":{\"columns\":[15,-67]}}]\n"));
    free(out);
    /* named after the key when the value lacks the field */
    CHECK(sh_ksql_parse("select rowkey, name from current_stock where rowkey=15;", &q, err,
                        sizeof err) == 0);
    out = sh_ksql_render(&q, "INTEGER", false, &row, 1, err, sizeof err);
    CHECK(out && strstr(out, "`ROWKEY` INTEGER, `NAME` STRING") &&
          strstr(out, "[15,\"x\"]"));
    free(out);
    /* an aggregate's store holds one number: the workshop's query names the
     * key and the value */
    CHECK(sh_ksql_parse("select product_id, stock_level from current_stock where rowkey=15;", &q,
                        err, sizeof err) == 0);
    sh_ksql_row_t sum = {.key = "15", .key_len = 2, .value = "-67", .value_len = 3,
                         .window_end = -1};
    out = sh_ksql_render(&q, "INTEGER", false, &sum, 1, err, sizeof err);
    CHECK(out && strstr(out, "\"schema\":\"`PRODUCT_ID` INTEGER, `STOCK_LEVEL` BIGINT\"}},\n"
                             "{\"row\":{\"columns\":[15,-67]}}]\n"));
    free(out);
    CHECK(sh_ksql_parse("select a, b, c from current_stock where rowkey=15;", &q, err,
                        sizeof err) == 0);
    CHECK(sh_ksql_render(&q, "INTEGER", false, &sum, 1, err, sizeof err) == NULL);
    CHECK(strstr(err, "column 'b' is not in current_stock") != NULL);
    char *e = sh_ksql_error(40001, "no \"such\" thing", "select 1");
    CHECK(e && strcmp(e, "{\"@type\":\"statement_error\",\"error_code\":40001,\"message\":\"no "
                         "\\\"such\\\" thing\",\"statementText\":\"select 1\",\"entities\":[]}\n") == 0);
    free(e);
}

int main(void) {
    test_parse();
    test_statement();
    test_render();
    return check_summary("ksql_test");
}
