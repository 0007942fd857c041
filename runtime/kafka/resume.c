/*
 * resume.c - positions of refused commits, used when their partitions come
 * back (resume.h).
 */
#include <stdio.h>

#include "base/log.h"
#include "kafka/resume.h"

int sh_kafka_resume_keep(rd_kafka_topic_partition_list_t *kept,
                         const rd_kafka_topic_partition_list_t *refused,
                         const rd_kafka_topic_partition_list_t *revoked) {
    for (int i = 0; refused && i < refused->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &refused->elems[i];
        if (p->offset < 0) continue; /* nothing stored: nothing to go on from */
        /* a partition that stays (cooperative rebalancing) commits again later */
        if (!rd_kafka_topic_partition_list_find(revoked, p->topic, p->partition)) continue;
        rd_kafka_topic_partition_t *k =
            rd_kafka_topic_partition_list_find(kept, p->topic, p->partition);
        if (!k && !(k = rd_kafka_topic_partition_list_add(kept, p->topic, p->partition))) return -1;
        k->offset = p->offset;
    }
    return 0;
}

int sh_kafka_resume_apply(rd_kafka_topic_partition_list_t *kept,
                          rd_kafka_topic_partition_list_t *assigned,
                          const rd_kafka_topic_partition_list_t *committed,
                          rd_kafka_topic_partition_list_t *resumed) {
    int n = 0;
    for (int i = 0; i < assigned->cnt && kept->cnt > 0; i++) {
        rd_kafka_topic_partition_t *a = &assigned->elems[i];
        rd_kafka_topic_partition_t *k =
            rd_kafka_topic_partition_list_find(kept, a->topic, a->partition);
        if (!k) continue;
        int64_t position = k->offset;
        rd_kafka_topic_partition_list_del(kept, a->topic, a->partition);
        const rd_kafka_topic_partition_t *c =
            committed ? rd_kafka_topic_partition_list_find(committed, a->topic, a->partition)
                      : NULL;
        if (c && c->offset >= position) continue; /* committed since, further on */
        a->offset = position;
        rd_kafka_topic_partition_list_add(resumed, a->topic, a->partition)->offset = position;
        n++;
    }
    return n;
}

void sh_kafka_resume_store(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *resumed) {
    char where[512] = "";
    size_t used = 0;
    for (int i = 0; i < resumed->cnt && used < sizeof where - 1; i++) {
        const rd_kafka_topic_partition_t *p = &resumed->elems[i];
        int w = snprintf(where + used, sizeof where - used, "%s%s[%d]@%lld", i ? ", " : "",
                         p->topic, (int)p->partition, (long long)p->offset);
        if (w > 0) used += (size_t)w;
    }
    sh_log(SH_LOG_INFO,
           "resuming %d partition(s) where this thread left them, after the group "
           "refused their commit: %s",
           resumed->cnt, where);
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(rk, resumed);
    if (err)
        sh_log(SH_LOG_WARN,
               "cannot store the resumed positions (%s): a restart before the next "
               "record of those partitions reads from their last commit",
               rd_kafka_err2str(err));
}
