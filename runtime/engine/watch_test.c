/*
 * watch_test.c - a write to a watched file is noticed once; a write to
 * another file in the same directory is not; and a write made just before
 * the watched set is replaced is still noticed after it (a reload replaces
 * the set while the next edit may already be queued).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/check.h"
#include "engine/watch.h"

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

int main(void) {
    char dir[] = "/tmp/watch-test-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char app[256], other[256];
    snprintf(app, sizeof app, "%s/app.lua", dir);
    snprintf(other, sizeof other, "%s/other.lua", dir);
    write_file(app, "return 1\n");
    write_file(other, "return 2\n");
    const char *files[] = {app};

    sh_watch_t *w = sh_watch_new();
    sh_watch_files(w, files, 1);
    CHECK(!sh_watch_changed(w));

    current_test = "a write to the watched file";
    write_file(app, "return 3\n");
    CHECK(sh_watch_changed(w));
    CHECK(!sh_watch_changed(w)); /* once per burst */

    current_test = "a write to a file nobody watches";
    write_file(other, "return 4\n");
    CHECK(!sh_watch_changed(w));

    current_test = "a write queued before the watched set is replaced";
    write_file(app, "return 5\n");
    sh_watch_files(w, files, 1);
    CHECK(sh_watch_changed(w));
    CHECK(!sh_watch_changed(w));

    current_test = "a write after the set was replaced";
    write_file(app, "return 6\n");
    CHECK(sh_watch_changed(w));

    sh_watch_free(w);
    unlink(app);
    unlink(other);
    rmdir(dir);
    return check_summary("watch_test");
}
