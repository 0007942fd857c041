/*
 * sql_test.c - the MySQL sink's statement text and row parsing: hostile
 * names never reach a statement, every statement quotes its identifiers,
 * malformed rows are refused. No server needed.
 */
#include <stdio.h>
#include <string.h>

#include "mysql/sink_row.h"
#include "mysql/sql.h"

#include "base/check.h"

static int check(const char *name) {
    char err[512];
    return sh_sql_check_ident(name, strlen(name), err, sizeof err);
}

static void test_identifiers(void) {
    CHECK(check("id") == 0);
    CHECK(check("quantity_to_purchase") == 0);
    CHECK(check("dc01-orders$2") == 0);
    CHECK(check("x`; DROP TABLE y; --") == -1);
    CHECK(check("a b") == -1);
    CHECK(check("it's") == -1);
    CHECK(check("semi;colon") == -1);
    CHECK(check("") == -1);
    CHECK(check("tab\there") == -1);
    CHECK(check("new\nline") == -1);
    CHECK(check("dot.ted") == -1);
    CHECK(sh_sql_check_ident("nul\0byte", 8, (char[64]){0}, 64) == -1);
    char long_name[70];
    memset(long_name, 'a', 65);
    long_name[65] = 0;
    CHECK(check(long_name) == -1);
    long_name[64] = 0;
    CHECK(check(long_name) == 0);
    char err[512];
    CHECK(sh_sql_check_ident("x`; DROP TABLE y; --", 20, err, sizeof err) == -1);
    CHECK(strstr(err, "x`; DROP TABLE y; --") != NULL); /* the message names it */
    CHECK(sh_sql_check_ident("\x01\xff", 2, err, sizeof err) == -1);
    CHECK(strstr(err, "\\x01\\xff") != NULL); /* control bytes shown escaped */
    CHECK(sh_sql_check_table("orders.events", err, sizeof err) == 0);
    CHECK(sh_sql_check_table("orders.ev`ents", err, sizeof err) == -1);
    CHECK(sh_sql_check_table("a.b.c", err, sizeof err) == -1);
}

static void test_statements(void) {
    sh_sql_t s = {0};
    sh_sql_column_t cols[] = {
        {.name = "id", .name_len = 2, .type = 'i', .key = true},
        {.name = "name", .name_len = 4, .type = 's'},
        {.name = "qty", .name_len = 3, .type = 'i'}};
    int order[3];
    sh_sql_dml(&s, SH_SQL_INSERT, "t", cols, 3);
    CHECK(strcmp(s.data, "INSERT INTO `t` (`id`,`name`,`qty`) VALUES (?,?,?)") == 0);
    CHECK(sh_sql_param_order(SH_SQL_INSERT, cols, 3, order) == 3 && order[0] == 0);
    sh_sql_dml(&s, SH_SQL_UPSERT, "db.t", cols, 3);
    CHECK(strcmp(s.data, "INSERT INTO `db`.`t` (`id`,`name`,`qty`) VALUES (?,?,?) ON DUPLICATE "
                         "KEY UPDATE `name`=VALUES(`name`),`qty`=VALUES(`qty`)") == 0);
    sh_sql_dml(&s, SH_SQL_UPDATE, "t", cols, 3);
    CHECK(strcmp(s.data, "UPDATE `t` SET `name`=?,`qty`=? WHERE `id`=?") == 0);
    CHECK(sh_sql_param_order(SH_SQL_UPDATE, cols, 3, order) == 3);
    CHECK(order[0] == 1 && order[1] == 2 && order[2] == 0);
    sh_sql_dml(&s, SH_SQL_DELETE, "t", cols, 3);
    CHECK(strcmp(s.data, "DELETE FROM `t` WHERE `id`=?") == 0);
    CHECK(sh_sql_param_order(SH_SQL_DELETE, cols, 3, order) == 1 && order[0] == 0);
    sh_sql_dml(&s, SH_SQL_UPSERT, "t", cols, 1); /* only the key */
    CHECK(strcmp(s.data, "INSERT INTO `t` (`id`) VALUES (?) ON DUPLICATE KEY UPDATE `id`=`id`") ==
          0);
    sh_sql_create_table(&s, "t", cols, 3);
    CHECK(strcmp(s.data, "CREATE TABLE IF NOT EXISTS `t` (`id` BIGINT NOT NULL, `name` TEXT NULL, "
                         "`qty` BIGINT NULL, PRIMARY KEY (`id`))") == 0);
    sh_sql_add_column(&s, "t", &(sh_sql_column_t){.name = "price", .name_len = 5, .type = 'f'});
    CHECK(strcmp(s.data, "ALTER TABLE `t` ADD COLUMN `price` DOUBLE NULL") == 0);
    /* a type from the record's schema wins over the value's letter */
    sh_sql_column_t typed[] = {
        {.name = "id", .name_len = 2, .type = 'i', .key = true, .sql_type = "INT", .sql_type_len = 3},
        {.name = "price", .name_len = 5, .type = 's', .sql_type = "DECIMAL(10,2)",
         .sql_type_len = 13}};
    sh_sql_create_table(&s, "t", typed, 2);
    CHECK(strcmp(s.data, "CREATE TABLE IF NOT EXISTS `t` (`id` INT NOT NULL, `price` DECIMAL(10,2) "
                         "NULL, PRIMARY KEY (`id`))") == 0);
    sh_sql_add_column(&s, "t", &typed[1]);
    CHECK(strcmp(s.data, "ALTER TABLE `t` ADD COLUMN `price` DECIMAL(10,2) NULL") == 0);
    /* widening keeps NULL-ability and a whole-number default, nothing else */
    sh_sql_widen_column(&s, "d.t", "price", true, NULL);
    CHECK(strcmp(s.data, "ALTER TABLE `d`.`t` MODIFY COLUMN `price` DOUBLE NULL") == 0);
    sh_sql_widen_column(&s, "t", "qty", false, "-3");
    CHECK(strcmp(s.data, "ALTER TABLE `t` MODIFY COLUMN `qty` DOUBLE NOT NULL DEFAULT -3") == 0);
    sh_sql_widen_column(&s, "t", "qty", false, "1; DROP TABLE t");
    CHECK(strcmp(s.data, "ALTER TABLE `t` MODIFY COLUMN `qty` DOUBLE NOT NULL") == 0);
    CHECK(sh_sql_whole_number("0") && sh_sql_whole_number("-12"));
    CHECK(!sh_sql_whole_number("") && !sh_sql_whole_number("-") && !sh_sql_whole_number("1.5") &&
          !sh_sql_whole_number("NULL") && !sh_sql_whole_number("(1 + 1)"));
    char err[128];
    CHECK(sh_sql_check_type("DATETIME(3)", 11, err, sizeof err) == 0);
    CHECK(sh_sql_check_type("INT; DROP TABLE x", 17, err, sizeof err) == -1);
    CHECK(sh_sql_check_type("int", 3, err, sizeof err) == -1);
    CHECK(sh_sql_check_type("", 0, err, sizeof err) == -1);
    /* quoting holds even for a name that was never checked */
    sh_sql_reset(&s);
    sh_sql_ident(&s, "a`b", 3);
    CHECK(strcmp(s.data, "`a``b`") == 0);
    CHECK(!s.oom);
    sh_sql_free(&s);
}

static void test_rows(void) {
    sh_mysql_field_t f[8];
    char op, err[256];
    const char *row = "Wik2:id1:7s-4:name3:anns-1:x0:n-1:y0:";
    CHECK(sh_mysql_sink_row_parse(row, strlen(row), &op, f, 8, err, sizeof err) == 4);
    CHECK(op == 'W');
    CHECK(f[0].type == 'i' && f[0].key && f[0].name_len == 2 && memcmp(f[0].value, "7", 1) == 0);
    CHECK(f[1].type == 's' && !f[1].key && f[1].value_len == 3 &&
          memcmp(f[1].value, "ann", 3) == 0);
    CHECK(f[2].value_len == 0 && f[3].type == 'n');
    /* a value may hold anything, including what looks like more fields */
    const char *tricky = "Ds-4:text12:s-1:a1:b\n;`'";
    CHECK(sh_mysql_sink_row_parse(tricky, strlen(tricky), &op, f, 8, err, sizeof err) == 1);
    CHECK(op == 'D' && f[0].value_len == 12);
    const char *bad[] = {"",           "X",          "Wik2:id",
                         "Wik2:id9:7", "Wzk2:id1:7", "Wik99999999999999999999:id",
                         "Wi",         "Wik:id1:7",  "Wik-1:id1:7"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(sh_mysql_sink_row_parse(bad[i], strlen(bad[i]), &op, f, 8, err, sizeof err) == -1);
    CHECK(sh_mysql_sink_row_parse(NULL, 0, &op, f, 8, err, sizeof err) == -1);
    /* typed fields: the column's SQL type before the name */
    const char *typed = "WiK3:INT2:id1:7s+13:DECIMAL(10,2)5:price5:12.50n+4:DATE1:d0:";
    CHECK(sh_mysql_sink_row_parse(typed, strlen(typed), &op, f, 8, err, sizeof err) == 3);
    CHECK(f[0].key && f[0].sql_type_len == 3 && memcmp(f[0].sql_type, "INT", 3) == 0);
    CHECK(!f[1].key && f[1].sql_type_len == 13 && f[1].value_len == 5);
    CHECK(f[2].type == 'n' && f[2].sql_type_len == 4);
    CHECK(f[0].name_len == 2 && memcmp(f[0].name, "id", 2) == 0);
    const char *plain = "Wik2:id1:7";
    CHECK(sh_mysql_sink_row_parse(plain, strlen(plain), &op, f, 8, err, sizeof err) == 1);
    CHECK(f[0].sql_type == NULL);
    const char *hostile = "Ws+12:TEXT);DROP x1:a1:b";
    CHECK(sh_mysql_sink_row_parse(hostile, strlen(hostile), &op, f, 8, err, sizeof err) == -1);
    CHECK(strstr(err, "not a column type") != NULL);
    const char *many = "Wi-1:a1:1i-1:b1:2i-1:c1:3";
    CHECK(sh_mysql_sink_row_parse(many, strlen(many), &op, f, 2, err, sizeof err) == -1);
}

int main(void) {
    test_identifiers();
    test_statements();
    test_rows();
    return check_summary("mysql sql");
}
