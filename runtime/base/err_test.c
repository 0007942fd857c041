/*
 * err_test.c - the error codes expanded from base/errors.h, and the last
 * error being each thread's own.
 */
#include <pthread.h>
#include <string.h>

#include "base/err.h"

#include "base/check.h"

static void test_names(void) {
    CHECK(SH_ERR__COUNT == 12);
    CHECK(strcmp(sh_ffi_err_name(SH_OK), "SH_OK") == 0);
    CHECK(strcmp(sh_ffi_err_name(SH_ERR_NOT_FOUND), "SH_ERR_NOT_FOUND") == 0);
    CHECK(strcmp(sh_ffi_err_name(SH_ERR_FATAL), "SH_ERR_FATAL") == 0);
    CHECK(strcmp(sh_ffi_err_describe(SH_ERR_QUEUE_FULL), "producer queue is full") == 0);
    for (int i = 0; i < SH_ERR__COUNT; i++) {
        CHECK(strncmp(sh_ffi_err_name(i), i ? "SH_ERR_" : "SH_OK", i ? 7 : 5) == 0);
        CHECK(strlen(sh_ffi_err_describe(i)) > 0);
        for (int j = 0; j < i; j++)
            CHECK(strcmp(sh_ffi_err_describe(i), sh_ffi_err_describe(j)) != 0);
    }
    CHECK(strcmp(sh_ffi_err_name(SH_ERR__COUNT), "SH_ERR_UNKNOWN") == 0);
    CHECK(strcmp(sh_ffi_err_name(-1), "SH_ERR_UNKNOWN") == 0);
    CHECK(strcmp(sh_ffi_err_describe(999), "unknown error code") == 0);
}

/* librdkafka's distinction: a full queue (and a MySQL connection lost or a
 * deadlock) is worth retrying, a fatal error is not, the rest are neither. */
static void test_classes(void) {
    CHECK(sh_ffi_err_is_retriable(SH_ERR_QUEUE_FULL) && !sh_ffi_err_is_fatal(SH_ERR_QUEUE_FULL));
    CHECK(sh_ffi_err_is_fatal(SH_ERR_FATAL) && !sh_ffi_err_is_retriable(SH_ERR_FATAL));
    int retriable = 0, fatal = 0;
    for (int i = 0; i < SH_ERR__COUNT; i++) {
        retriable += sh_err_is_retriable(i);
        fatal += sh_err_is_fatal(i);
    }
    CHECK(sh_err_is_retriable(SH_ERR_MYSQL_TRANSIENT) && !sh_err_is_retriable(SH_ERR_MYSQL));
    CHECK(retriable == 2 && fatal == 1);
    CHECK(!sh_err_is_retriable(-1) && !sh_err_is_fatal(SH_ERR__COUNT));
}

static void *fail_elsewhere(void *arg) {
    (void)arg;
    CHECK(sh_ffi_err_code() == SH_OK && strcmp(sh_ffi_err_message(), "") == 0);
    sh_err_set(SH_ERR_STORE, "other thread");
    return NULL;
}

static void test_last_error(void) {
    CHECK(sh_err_set(SH_ERR_NOT_FOUND, "no key %s in %s", "k", "counts") == SH_ERR_NOT_FOUND);
    CHECK(sh_ffi_err_code() == SH_ERR_NOT_FOUND);
    CHECK(strcmp(sh_ffi_err_message(), "no key k in counts") == 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, fail_elsewhere, NULL) == 0);
    pthread_join(t, NULL);
    /* another thread's failure does not overwrite this thread's */
    CHECK(sh_ffi_err_code() == SH_ERR_NOT_FOUND);
    CHECK(strcmp(sh_ffi_err_message(), "no key k in counts") == 0);
    char longer[2000];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = 0;
    sh_err_set(SH_ERR_INVALID, "%s", longer);
    CHECK(strlen(sh_ffi_err_message()) == 1023);
}

int main(void) {
    test_names();
    test_classes();
    test_last_error();
    return check_summary("err_test");
}
