/*
 * config_test.c - Replicator's property names: which topics are copied
 * (regex, whitelist, blacklist and their include/exclude names, internal
 * topics), renaming, client properties by side, Connect's keys ignored, and
 * mistakes named.
 */
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "replicator/config.h"

#define N(a) ((int)(sizeof a / sizeof *a))

int main(void) {
    char err[1024];
    sh_kv_t workshop[] = {
        {"connector.class", "io.confluent.connect.replicator.ReplicatorSourceConnector"},
        {"key.converter", "io.confluent.connect.replicator.util.ByteArrayConverter"},
        {"topic.config.sync", "false"},
        {"topic.regex", "dc[0-9][0-9][_].*"},
        {"topic.blacklist", "dc01_out_of_stock_events"},
        {"dest.kafka.bootstrap.servers", "cloud:9092"},
        {"", "SASL_SSL"},
        {"dest.kafka.sasl.mechanism", "PLAIN"},
        {"dest.kafka.sasl.jaas.config",
         "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"KEY\" "
         "password=\"SECRET\";"},
        {"dest.kafka.replication.factor", "3"},
        {"src.kafka.bootstrap.servers", "broker:29092"},
        {"src.consumer.interceptor.classes", "io.confluent.Monitoring"},
        {"src.kafka.timestamps.producer.interceptor.classes", "x"},
        {"tasks.max", "1"},
        {"name", "replicator-dc01-to-ccloud"},
    };
    sh_replicator_config_t *c = sh_replicator_config_new(workshop, N(workshop), err, sizeof err);
    CHECK(c != NULL);
    if (!c) return check_summary("config_test");
    CHECK(sh_replicator_config_wants(c, "dc01_sales_orders"));
    CHECK(sh_replicator_config_wants(c, "dc42_x"));
    CHECK(!sh_replicator_config_wants(c, "dc01_out_of_stock_events")); /* blacklisted */
    CHECK(!sh_replicator_config_wants(c, "xdc01_sales"));              /* whole-name match */
    CHECK(!sh_replicator_config_wants(c, "dc1_sales"));
    CHECK(c->src_count == 1 && strcmp(c->src[0].key, "bootstrap.servers") == 0);
    CHECK(c->dest_count == 4 && strcmp(c->dest[1].key, "sasl.mechanism") == 0);
    /* Java's JAAS line as librdkafka's two properties */
    CHECK(strcmp(c->dest[2].key, "sasl.username") == 0 && strcmp(c->dest[2].value, "KEY") == 0);
    CHECK(strcmp(c->dest[3].key, "sasl.password") == 0 && strcmp(c->dest[3].value, "SECRET") == 0);
    CHECK(c->replication_factor == 3 && c->provenance);
    CHECK(strcmp(c->group_id, "replicator-dc01-to-ccloud") == 0); /* the name, as Replicator */
    char *renamed = sh_replicator_config_rename(c, "dc01_sales");
    CHECK(renamed && strcmp(renamed, "dc01_sales") == 0);
    free(renamed);
    sh_replicator_config_free(c);

    sh_kv_t lists[] = {{"topic.include", "a, b ,__internal"},
                       {"topic.exclude", "b"},
                       {"topic.rename.format", "${topic}.from-${topic}"},
                       {"src.consumer.group.id", "g"},
                       {"dest.producer.linger.ms", "1"},
                       {"provenance.header.enable", "false"}};
    c = sh_replicator_config_new(lists, N(lists), err, sizeof err);
    CHECK(c != NULL);
    if (!c) return check_summary("config_test");
    CHECK(sh_replicator_config_wants(c, "a") && !sh_replicator_config_wants(c, "b"));
    CHECK(sh_replicator_config_wants(c, "__internal")); /* listed by name */
    CHECK(!sh_replicator_config_wants(c, "c"));
    CHECK(strcmp(c->group_id, "g") == 0 && !c->provenance);
    CHECK(c->dest_count == 1 && strcmp(c->dest[0].key, "linger.ms") == 0);
    renamed = sh_replicator_config_rename(c, "a");
    CHECK(renamed && strcmp(renamed, "a.from-a") == 0);
    free(renamed);
    sh_replicator_config_free(c);

    sh_kv_t internal[] = {{"topic.regex", ".*"}};
    c = sh_replicator_config_new(internal, 1, err, sizeof err);
    if (!c) return check_summary("config_test");
    CHECK(sh_replicator_config_wants(c, "orders") &&
          !sh_replicator_config_wants(c, "__consumer_offsets") &&
          !sh_replicator_config_wants(c, "__streamhost_create_topics"));
    sh_replicator_config_free(c);

    sh_kv_t none[] = {{"src.kafka.bootstrap.servers", "x"}};
    CHECK(sh_replicator_config_new(none, 1, err, sizeof err) == NULL);
    CHECK(strstr(err, "topic.regex or topic.whitelist") != NULL);
    sh_kv_t bad_regex[] = {{"topic.regex", "dc[0-9"}};
    CHECK(sh_replicator_config_new(bad_regex, 1, err, sizeof err) == NULL);
    CHECK(strstr(err, "topic.regex 'dc[0-9' is not a regular expression") != NULL);
    sh_kv_t unknown[] = {{"topic.regex", "a"}, {"topic.regexp", "b"}};
    CHECK(sh_replicator_config_new(unknown, 2, err, sizeof err) == NULL);
    CHECK(strstr(err, "unknown replicator property 'topic.regexp'") != NULL);
    sh_kv_t bad_bool[] = {{"topic.regex", "a"}, {"provenance.header.enable", "yes"}};
    CHECK(sh_replicator_config_new(bad_bool, 2, err, sizeof err) == NULL);
    CHECK(strstr(err, "provenance.header.enable must be true or false") != NULL);
    return check_summary("config_test");
}
