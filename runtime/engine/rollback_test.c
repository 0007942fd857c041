/*
 * rollback_test.c - when a start rolls back to the last good version: after
 * the watchdog ended this version, or two starts of it in a row that never
 * ran cleanly; not after a single kill, and never to itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "engine/rollback.h"

static char dir[128];

static void write_to(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/streamhost-rollback-test-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    char app[256], module[256], state[256], why[512];
    snprintf(app, sizeof app, "%s/app.lua", dir);
    snprintf(module, sizeof module, "%s/lib.lua", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    write_to(app, "return 'good'\n");
    write_to(module, "return 1\n");
    const char *files[] = {app, module};
    uint64_t good = sh_rollback_hash(files, 2);
    CHECK(good != 0);
    CHECK(sh_rollback_starting(state, good) == 0);
    CHECK(sh_rollback_clean(state, app, files, 2, good) == 0);
    char *saved = sh_rollback_saved(state);
    CHECK(saved && strstr(saved, "/versions/last-good/app.lua"));
    free(saved);

    write_to(app, "return 'bad'\n");
    uint64_t bad = sh_rollback_hash(files, 2);
    CHECK(bad != good);
    /* one start that never ran cleanly (a kill): no rollback */
    CHECK(sh_rollback_choose(state, bad, why, sizeof why) == NULL);
    CHECK(sh_rollback_starting(state, bad) == 0);
    CHECK(sh_rollback_choose(state, bad, why, sizeof why) == NULL);
    /* the second in a row: a crash loop */
    CHECK(sh_rollback_starting(state, bad) == 0);
    saved = sh_rollback_choose(state, bad, why, sizeof why);
    CHECK(saved != NULL && strstr(why, "crash loop"));
    free(saved);
    /* the watchdog's exit rolls back at once */
    CHECK(sh_rollback_stuck(state, bad) == 0);
    saved = sh_rollback_choose(state, bad, why, sizeof why);
    CHECK(saved != NULL && strstr(why, "watchdog"));
    /* the copy is the good version, modules beside it */
    char copy[512];
    snprintf(copy, sizeof copy, "%s/versions/last-good/lib.lua", state);
    FILE *f = fopen(copy, "r");
    CHECK(f != NULL);
    if (f) fclose(f);
    free(saved);
    /* never back to itself */
    CHECK(sh_rollback_stuck(state, good) == 0);
    CHECK(sh_rollback_choose(state, good, why, sizeof why) == NULL);

    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return 1;
    return check_summary("rollback_test");
}
