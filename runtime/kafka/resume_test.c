/*
 * resume_test.c - a partition that comes back after a refused commit goes
 * on from where it was left, unless a commit since is further on.
 */
#include "kafka/resume.h"

#include "base/check.h"

static rd_kafka_topic_partition_list_t *list(int n, const char *topics[], const int parts[],
                                             const int64_t offsets[]) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, topics[i], parts[i])->offset = offsets[i];
    return l;
}

static int64_t offset_of(const rd_kafka_topic_partition_list_t *l, const char *topic, int part) {
    const rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(l, topic, part);
    return p ? p->offset : -999;
}

static void test_comes_back(void) {
    rd_kafka_topic_partition_list_t *kept = rd_kafka_topic_partition_list_new(1);
    /* refused: a@0 at 100, a@1 at 50, b@0 had nothing stored */
    rd_kafka_topic_partition_list_t *refused =
        list(3, (const char *[]){"a", "a", "b"}, (const int[]){0, 1, 0},
             (const int64_t[]){100, 50, RD_KAFKA_OFFSET_INVALID});
    CHECK(sh_kafka_resume_keep(kept, refused, refused) == 0);
    CHECK(kept->cnt == 2);

    /* a@0 and b@0 come back: a@0 committed at 40 goes on at 100; b@0 as committed */
    rd_kafka_topic_partition_list_t *assigned =
        list(2, (const char *[]){"a", "b"}, (const int[]){0, 0},
             (const int64_t[]){RD_KAFKA_OFFSET_INVALID, RD_KAFKA_OFFSET_INVALID});
    rd_kafka_topic_partition_list_t *committed =
        list(2, (const char *[]){"a", "b"}, (const int[]){0, 0}, (const int64_t[]){40, 7});
    rd_kafka_topic_partition_list_t *resumed = rd_kafka_topic_partition_list_new(1);
    CHECK(sh_kafka_resume_apply(kept, assigned, committed, resumed) == 1);
    CHECK(offset_of(assigned, "a", 0) == 100);
    CHECK(offset_of(assigned, "b", 0) == RD_KAFKA_OFFSET_INVALID);
    CHECK(resumed->cnt == 1 && offset_of(resumed, "a", 0) == 100);
    CHECK(kept->cnt == 1 && offset_of(kept, "a", 1) == 50); /* a@1 waits for its turn */

    /* used up: a@0 assigned again later goes on from its commit */
    assigned->elems[0].offset = RD_KAFKA_OFFSET_INVALID;
    CHECK(sh_kafka_resume_apply(kept, assigned, committed, resumed) == 0);
    CHECK(offset_of(assigned, "a", 0) == RD_KAFKA_OFFSET_INVALID);

    rd_kafka_topic_partition_list_destroy(refused);
    rd_kafka_topic_partition_list_destroy(assigned);
    rd_kafka_topic_partition_list_destroy(committed);
    rd_kafka_topic_partition_list_destroy(resumed);
    rd_kafka_topic_partition_list_destroy(kept);
}

static void test_commit_since_wins(void) {
    rd_kafka_topic_partition_list_t *kept = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_t *first =
        list(1, (const char *[]){"a"}, (const int[]){0}, (const int64_t[]){10});
    rd_kafka_topic_partition_list_t *later =
        list(1, (const char *[]){"a"}, (const int[]){0}, (const int64_t[]){30});
    CHECK(sh_kafka_resume_keep(kept, first, first) == 0 &&
          sh_kafka_resume_keep(kept, later, later) == 0);
    CHECK(kept->cnt == 1 && offset_of(kept, "a", 0) == 30); /* the later refusal */

    /* another owner committed 60 meanwhile: that is where it goes on */
    rd_kafka_topic_partition_list_t *assigned = list(1, (const char *[]){"a"}, (const int[]){0},
                                                     (const int64_t[]){RD_KAFKA_OFFSET_INVALID});
    rd_kafka_topic_partition_list_t *committed =
        list(1, (const char *[]){"a"}, (const int[]){0}, (const int64_t[]){60});
    rd_kafka_topic_partition_list_t *resumed = rd_kafka_topic_partition_list_new(1);
    CHECK(sh_kafka_resume_apply(kept, assigned, committed, resumed) == 0);
    CHECK(offset_of(assigned, "a", 0) == RD_KAFKA_OFFSET_INVALID && resumed->cnt == 0);
    CHECK(kept->cnt == 0);

    /* committed offsets unknown: the refused position, which was delivered */
    CHECK(sh_kafka_resume_keep(kept, first, first) == 0);
    CHECK(sh_kafka_resume_apply(kept, assigned, NULL, resumed) == 1);
    CHECK(offset_of(assigned, "a", 0) == 10);

    rd_kafka_topic_partition_list_destroy(first);
    rd_kafka_topic_partition_list_destroy(later);
    rd_kafka_topic_partition_list_destroy(assigned);
    rd_kafka_topic_partition_list_destroy(committed);
    rd_kafka_topic_partition_list_destroy(resumed);
    rd_kafka_topic_partition_list_destroy(kept);
}

static void test_only_revoked_kept(void) {
    rd_kafka_topic_partition_list_t *kept = rd_kafka_topic_partition_list_new(1);
    /* cooperative: a@0 is revoked, a@1 stays and will commit again */
    rd_kafka_topic_partition_list_t *refused =
        list(2, (const char *[]){"a", "a"}, (const int[]){0, 1}, (const int64_t[]){5, 9});
    rd_kafka_topic_partition_list_t *revoked = list(1, (const char *[]){"a"}, (const int[]){0},
                                                    (const int64_t[]){RD_KAFKA_OFFSET_INVALID});
    CHECK(sh_kafka_resume_keep(kept, refused, revoked) == 0);
    CHECK(kept->cnt == 1 && offset_of(kept, "a", 0) == 5);
    rd_kafka_topic_partition_list_destroy(refused);
    rd_kafka_topic_partition_list_destroy(revoked);
    rd_kafka_topic_partition_list_destroy(kept);
}

int main(void) {
    test_comes_back();
    test_commit_since_wins();
    test_only_revoked_kept();
    return check_summary("kafka_resume_test");
}
