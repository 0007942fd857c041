/*
 * topic_name_test.c - internal topic names round-trip through build and
 * parse, and names that only look internal are sources.
 */
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/topic_name.h"

int main(void) {
    char *t = sh_topic_name("app", SH_TOPIC_CHANGELOG, "counts");
    CHECK(t && strcmp(t, "app-counts-changelog") == 0);
    char *name = NULL;
    CHECK(sh_topic_name_parse("app", t, &name) == SH_TOPIC_CHANGELOG);
    CHECK(name && strcmp(name, "counts") == 0);
    free(name);
    free(t);

    t = sh_topic_name("app", SH_TOPIC_REPARTITION, "by-user");
    CHECK(t && strcmp(t, "app-by-user-repartition") == 0);
    CHECK(sh_topic_name_parse("app", t, &name) == SH_TOPIC_REPARTITION);
    CHECK(name && strcmp(name, "by-user") == 0);
    free(name);
    free(t);

    t = sh_topic_name("app", SH_TOPIC_DLQ, NULL);
    CHECK(t && strcmp(t, "app-dlq") == 0);
    CHECK(sh_topic_name_parse("app", t, &name) == SH_TOPIC_DLQ && name == NULL);
    free(t);

    CHECK(sh_topic_name("app", SH_TOPIC_SOURCE, "x") == NULL);
    CHECK(sh_topic_name_parse("app", "app--changelog", NULL) == SH_TOPIC_SOURCE);
    CHECK(sh_topic_name_parse("app", "other-counts-changelog", NULL) == SH_TOPIC_SOURCE);
    CHECK(sh_topic_name_parse("app", "application-x-changelog", NULL) == SH_TOPIC_SOURCE);
    CHECK(sh_topic_name_parse("app", "orders", NULL) == SH_TOPIC_SOURCE);
    CHECK(sh_topic_name_is_internal("app", "app-x-repartition"));
    CHECK(!sh_topic_name_is_internal("app", "app-dlq"));

    char out[32];
    CHECK(sh_ffi_topic_name("app", SH_TOPIC_CHANGELOG, "c", out, sizeof out) == SH_OK);
    CHECK(strcmp(out, "app-c-changelog") == 0);
    CHECK(sh_ffi_topic_name("app", SH_TOPIC_CHANGELOG, "a-very-long-store-name", out, 8) ==
          SH_ERR_INVALID);
    CHECK(
        strcmp(
            sh_ffi_err_message(),
            "topic_name: app-a-very-long-store-name-changelog needs 37 bytes, the buffer has 8") ==
        0);
    CHECK(sh_ffi_topic_name("app", 99, "c", out, sizeof out) == SH_ERR_INVALID);
    CHECK(strcmp(sh_ffi_err_message(), "topic_name: 99 is not an internal topic kind") == 0);
    return check_summary("topic_name_test");
}
