/*
 * config_test.c - Debezium's properties: old and new names, lists as
 * whole-name regexes, required settings, and refusals that name the
 * property; positions as the offsets topic stores them.
 */
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "mysql/cdc.h"

static int parse(sh_cdc_config_t *c, const sh_kv_t *props, int n, char *err, size_t errlen) {
    return sh_cdc_config_parse(c, "app", props, n, err, errlen);
}

int main(void) {
    char err[512];
    sh_cdc_config_t c;
    sh_kv_t workshop[] = {{"database.hostname", "mysql"},
                          {"database.port", "3306"},
                          {"database.user", "mysqluser"},
                          {"database.password", "mysqlpw"},
                          {"database.server.id", "12345"},
                          {"database.server.name", "dc01"},
                          {"database.whitelist", "orders"},
                          {"table.blacklist", "orders.dc01_out_of_stock_events"},
                          {"database.history.kafka.topic", "debezium_dbhistory"},
                          {"include.schema.changes", "false"},
                          {"snapshot.mode", "when_needed"}};
    CHECK(parse(&c, workshop, 11, err, sizeof err) == 0);
    CHECK(strcmp(c.prefix, "dc01") == 0 && c.server_id == 12345 && c.port == 3306);
    CHECK(c.snapshot_mode == SH_SNAPSHOT_WHEN_NEEDED);
    CHECK(c.decimal_mode == SH_DECIMAL_PRECISE && c.tombstones_on_delete);
    CHECK(sh_cdc_config_captures(&c, "orders", "sales_orders"));
    CHECK(!sh_cdc_config_captures(&c, "orders", "dc01_out_of_stock_events"));
    CHECK(!sh_cdc_config_captures(&c, "orders2", "sales_orders")); /* whole names only */
    CHECK(!sh_cdc_config_captures(&c, "inventory", "sales_orders"));
    sh_cdc_config_free(&c);

    sh_kv_t lists[] = {{"topic.prefix", "p"},
                       {"database.server.id", "7"},
                       {"table.include.list", "shop\\.order.*, shop\\.customers"},
                       {"decimal.handling.mode", "string"}};
    CHECK(parse(&c, lists, 4, err, sizeof err) == 0);
    CHECK(sh_cdc_config_captures(&c, "shop", "orders"));
    CHECK(sh_cdc_config_captures(&c, "shop", "order_lines"));
    CHECK(sh_cdc_config_captures(&c, "shop", "customers"));
    CHECK(!sh_cdc_config_captures(&c, "shop", "customers_old"));
    CHECK(!sh_cdc_config_captures(&c, "mysql", "user")); /* system schemas never */
    CHECK(c.decimal_mode == SH_DECIMAL_STRING);
    sh_cdc_config_free(&c);

    sh_kv_t no_prefix[] = {{"database.server.id", "7"}};
    CHECK(parse(&c, no_prefix, 1, err, sizeof err) != 0 && strstr(err, "topic.prefix"));
    sh_cdc_config_free(&c);
    sh_kv_t no_id[] = {{"topic.prefix", "p"}};
    CHECK(parse(&c, no_id, 1, err, sizeof err) != 0 && strstr(err, "database.server.id"));
    sh_cdc_config_free(&c);
    sh_kv_t unknown[] = {{"topic.prefix", "p"}, {"database.server.id", "7"}, {"databse.port", "1"}};
    CHECK(parse(&c, unknown, 3, err, sizeof err) != 0 && strstr(err, "'databse.port'"));
    sh_cdc_config_free(&c);
    sh_kv_t bad_regex[] = {{"topic.prefix", "p"}, {"table.exclude.list", "a(b"}};
    CHECK(parse(&c, bad_regex, 2, err, sizeof err) != 0 && strstr(err, "table.exclude.list"));
    sh_cdc_config_free(&c);
    sh_kv_t bad_mode[] = {{"topic.prefix", "p"}, {"snapshot.mode", "sometimes"}};
    CHECK(parse(&c, bad_mode, 2, err, sizeof err) != 0 && strstr(err, "snapshot.mode"));
    sh_cdc_config_free(&c);

    /* positions round-trip through what the offsets topic stores */
    sh_cdc_position_t at = {.file = "binlog.000002", .pos = 4479, .row = 3, .gtid = "0-1-19"}, back;
    char *json = sh_cdc_position_json(&at);
    CHECK(json && strcmp(json, "{\"file\":\"binlog.000002\",\"pos\":4479,\"row\":3,"
                               "\"gtids\":\"0-1-19\",\"snapshot\":false}") == 0);
    CHECK(json && sh_cdc_position_parse(json, &back) && strcmp(back.file, at.file) == 0 &&
          back.pos == 4479 && back.row == 3 && strcmp(back.gtid, "0-1-19") == 0 && !back.snapshot);
    free(json);
    CHECK(!sh_cdc_position_parse("{\"pos\":4}", &back));
    return check_summary("config_test");
}
