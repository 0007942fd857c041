/*
 * fetch_wake_test.c - the fetcher is woken only while reads come back full,
 * and a wake-up reaches the partition's leader (the embedded broker) and is
 * answered.
 */
#include <time.h>

#include "kafka/broker.h"
#include "kafka/fetch_wake.h"

#include "base/check.h"

static void wait_answered(sh_fetch_wake_t *w, long want) {
    long asked = 0, answered = 0;
    struct timespec tick = {0, 5 * 1000 * 1000};
    for (int i = 0; i < 2000 && answered < want; i++) { /* up to 10 s */
        sh_fetch_wake_counts(w, &asked, &answered);
        if (answered < want) nanosleep(&tick, NULL);
    }
    CHECK(answered == want);
}

int main(void) {
    char err[512];
    sh_broker_t *broker = sh_broker_start(0, err, sizeof err);
    CHECK(broker != NULL);
    if (!broker) return check_summary("fetch_wake_test");
    CHECK(sh_broker_create_topic(broker, "in", 2) == 0);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", sh_broker_bootstraps(broker), NULL, 0);
    rd_kafka_conf_set(conf, "group.id", "fetch-wake-test", NULL, 0);
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    CHECK(consumer != NULL);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(parts, "in", 0);
    rd_kafka_topic_partition_list_add(parts, "in", 1);
    CHECK(rd_kafka_assign(consumer, parts) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_queue_t *queue = rd_kafka_queue_get_consumer(consumer);

    sh_fetch_wake_t *w = sh_fetch_wake_new(consumer, queue, 1000);
    CHECK(w != NULL);
    long asked = -1, answered = -1;

    current_test = "reads that come back short mean no input is waiting";
    for (int i = 0; i < 100; i++)
        sh_fetch_wake_after_read(w, 3, 4);
    sh_fetch_wake_counts(w, &asked, &answered);
    CHECK(asked == 0);

    current_test = "a full read with the queue below half wakes a leader, which answers";
    sh_fetch_wake_after_read(w, 4, 4);
    sh_fetch_wake_counts(w, &asked, &answered);
    CHECK(asked == 1);
    wait_answered(w, 1);

    /* within WAKE_EVERY_MS of the first: sent when that has passed, not
     * dropped (the reads after it may all come back short) */
    current_test = "a full read right after a wake-up is answered too, later";
    sh_fetch_wake_after_read(w, 4, 4);
    sh_fetch_wake_counts(w, &asked, &answered);
    CHECK(asked == 2);
    wait_answered(w, 2);

    current_test = "freeing stops the side thread";
    sh_fetch_wake_free(w);
    sh_fetch_wake_free(NULL);
    sh_fetch_wake_after_read(NULL, 4, 4);

    rd_kafka_queue_destroy(queue);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    sh_broker_stop(broker);
    return check_summary("fetch_wake_test");
}
