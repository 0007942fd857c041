/*
 * check.h - the C tests' one assertion: count, and say where a check failed.
 * A test may name what it checks in current_test. A test's main ends with
 * check_summary(), which prints "N passed, N failed"
 * and returns the exit status.
 */
#ifndef SH_TEST_CHECK_H
#define SH_TEST_CHECK_H

#include <stdio.h>

static int passed, failed;
/* What the test is checking now, when it says (NULL: nothing to add): a
 * failure's line names it. */
static const char *current_test;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            fprintf(stderr, "%s:%d: %s%scheck failed: %s\n", __FILE__, __LINE__,                   \
                    current_test ? current_test : "", current_test ? ": " : "", #cond);            \
        }                                                                                          \
    } while (0)

static inline int check_summary(const char *name) {
    printf("%s: %d passed, %d failed\n", name, passed, failed);
    return failed ? 1 : 0;
}

#endif
