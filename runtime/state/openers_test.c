/*
 * openers_test.c - stores opened ahead on the openers' threads: each queued
 * store is taken back open (the same database a later open shares), in or
 * out of order; a store never queued is not invented; what nobody took is
 * closed by a drop, even while it is still being opened; many threads
 * opening one directory at once share one database (the registry opens
 * outside its lock and makes latecomers wait).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state/openers.h"
#include "state/store.h"

#include "base/check.h"

#define STORES 12

static char state_dir[256];

static void test_take_in_and_out_of_order(void) {
    sh_openers_t *o = sh_openers_new(state_dir);
    CHECK(o != NULL);
    if (!o) return;
    for (int p = 0; p < STORES; p++)
        sh_openers_add(o, "counts", SH_STORE_KV, p, 1);
    sh_openers_add(o, "windows", SH_STORE_WINDOW, 0, 60000);
    /* the last first: it may still be queued, and is then opened here */
    sh_store_t *last = sh_openers_take(o, "counts", STORES - 1);
    CHECK(last && sh_store_partition(last) == STORES - 1);
    sh_store_t *window = sh_openers_take(o, "windows", 0);
    CHECK(window && strcmp(sh_store_name(window), "windows") == 0);
    for (int p = 0; p < STORES - 1; p++) {
        sh_store_t *h = sh_openers_take(o, "counts", p);
        CHECK(h && sh_store_partition(h) == p);
        CHECK(h && sh_ffi_store_put(h, "k", 1, "v", 1, 0) == SH_OK);
        /* the handle shares its database with the next open of the store */
        sh_store_t *again = sh_ffi_store_open(NULL, state_dir, NULL, "counts", SH_STORE_KV, p, 1);
        CHECK(again && h && sh_store_database(again) == sh_store_database(h));
        sh_ffi_store_close(again);
        sh_ffi_store_close(h);
    }
    /* taken once only; never queued: nothing */
    CHECK(sh_openers_take(o, "counts", 0) == NULL);
    CHECK(sh_openers_take(o, "other", 0) == NULL);
    sh_ffi_store_close(last);
    sh_ffi_store_close(window);
    sh_openers_free(o);
}

static void test_drop_closes_what_was_not_taken(void) {
    sh_openers_t *o = sh_openers_new(state_dir);
    CHECK(o != NULL);
    if (!o) return;
    for (int round = 0; round < 3; round++) {
        for (int p = 0; p < STORES; p++)
            sh_openers_add(o, "dropped", SH_STORE_KV, p, 1);
        if (round == 1) usleep(20000); /* some opened, some opening, some queued */
        sh_openers_drop(o);
        CHECK(sh_openers_take(o, "dropped", 0) == NULL);
    }
    sh_openers_free(o);
    /* every handle was closed: the directories can be deleted */
    for (int p = 0; p < STORES; p++)
        CHECK(sh_store_delete_state(state_dir, "dropped", p) == SH_OK);
    /* freed with opens in flight */
    o = sh_openers_new(state_dir);
    for (int p = 0; p < STORES; p++)
        sh_openers_add(o, "freed", SH_STORE_KV, p, 1);
    sh_openers_free(o);
    for (int p = 0; p < STORES; p++)
        CHECK(sh_store_delete_state(state_dir, "freed", p) == SH_OK);
}

static sh_store_t *opened[8];

static void *open_same(void *arg) {
    opened[(long)arg] = sh_ffi_store_open(NULL, state_dir, NULL, "same", SH_STORE_KV, 0, 1);
    return NULL;
}

static void test_one_directory_many_threads(void) {
    pthread_t threads[8];
    for (long i = 0; i < 8; i++)
        CHECK(pthread_create(&threads[i], NULL, open_same, (void *)i) == 0);
    for (int i = 0; i < 8; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < 8; i++)
        CHECK(opened[i] && sh_store_database(opened[i]) == sh_store_database(opened[0]));
    for (int i = 0; i < 8; i++)
        sh_ffi_store_close(opened[i]);
    CHECK(sh_store_delete_state(state_dir, "same", 0) == SH_OK);
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(state_dir, sizeof state_dir, "%s/streamhost-openers-test-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(state_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_take_in_and_out_of_order();
    test_drop_closes_what_was_not_taken();
    test_one_directory_many_threads();
    sh_store_remove_tree(state_dir);
    return check_summary("openers_test");
}
