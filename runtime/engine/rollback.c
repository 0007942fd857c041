/*
 * rollback.c - the last good version (see rollback.h).
 *
 * The copies keep the files' paths relative to the app file's directory,
 * so the app's require()s find its modules in the copy as they did beside
 * the original. Files outside that directory are copied under their base
 * name. Writes go to a temporary name first and are renamed into place, so
 * a crash mid-save leaves the previous last-good version whole.
 */
#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "engine/rollback.h"

/* Unclean starts of one version in a row that make the next one roll back. */
enum { ROLLBACK_AFTER_STARTS = 2 };

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *data = NULL;
    size_t cap = 0, n = 0, got;
    char chunk[8192];
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (n + got > cap) {
            cap = (n + got) * 2;
            char *grown = realloc(data, cap);
            if (!grown) {
                free(data);
                fclose(f);
                return NULL;
            }
            data = grown;
        }
        memcpy(data + n, chunk, got);
        n += got;
    }
    fclose(f);
    *len = n;
    return data ? data : calloc(1, 1);
}

uint64_t sh_rollback_hash(const char *const *files, int count) {
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < count; i++) {
        size_t len;
        char *data = read_all(files[i], &len);
        if (!data) return 0;
        for (size_t j = 0; j < len; j++) h = (h ^ (unsigned char)data[j]) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL; /* file boundary */
        free(data);
    }
    return h ? h : 1;
}

static void path_in(char *out, size_t len, const char *state_dir, const char *name) {
    snprintf(out, len, "%s/versions/%s", state_dir, name);
}

static int write_file(const char *path, const char *data, size_t len) {
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return -1;
    bool ok = fwrite(data, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    return ok && rename(tmp, path) == 0 ? 0 : -1;
}

static int mkdirs(const char *path) {
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* The run file: "<state> <hash> <unclean starts>", state one of starting,
 * clean, stuck. */
static bool read_run(const char *state_dir, char *state, size_t state_len, uint64_t *hash,
                     int *starts) {
    char path[PATH_MAX];
    path_in(path, sizeof path, state_dir, "run");
    size_t len;
    char *text = read_all(path, &len);
    if (!text) return false;
    unsigned long long h = 0;
    char word[32] = "";
    int n = 0;
    bool ok = sscanf(text, "%31s %llx %d", word, &h, &n) >= 2;
    free(text);
    snprintf(state, state_len, "%s", word);
    *hash = h;
    *starts = n;
    return ok;
}

static int write_run(const char *state_dir, const char *state, uint64_t hash, int starts) {
    char dir[PATH_MAX], path[PATH_MAX], line[96];
    snprintf(dir, sizeof dir, "%s/versions", state_dir);
    path_in(path, sizeof path, state_dir, "run");
    int n = snprintf(line, sizeof line, "%s %016llx %d\n", state, (unsigned long long)hash, starts);
    if (mkdirs(dir) != 0 || write_file(path, line, (size_t)n) != 0) {
        sh_log(SH_LOG_WARN, "cannot write %s: %s; no rollback for this run", path, strerror(errno));
        return -1;
    }
    return 0;
}

char *sh_rollback_saved(const char *state_dir) {
    char path[PATH_MAX];
    path_in(path, sizeof path, state_dir, "last-good.path");
    size_t len;
    char *name = read_all(path, &len);
    if (!name) return NULL;
    char *app = NULL;
    if (asprintf(&app, "%s/versions/last-good/%.*s", state_dir, (int)len, name) < 0) app = NULL;
    free(name);
    if (app && access(app, R_OK) != 0) {
        free(app);
        app = NULL;
    }
    return app;
}

char *sh_rollback_choose(const char *state_dir, uint64_t hash, char *why, size_t why_len) {
    char state[32];
    uint64_t previous;
    int starts;
    if (!read_run(state_dir, state, sizeof state, &previous, &starts) || previous != hash)
        return NULL;
    /* one kill is not a crash loop: two starts that never ran cleanly are */
    bool stuck = strcmp(state, "stuck") == 0;
    if (!stuck && !(strcmp(state, "starting") == 0 && starts >= ROLLBACK_AFTER_STARTS)) return NULL;
    char *saved = sh_rollback_saved(state_dir);
    if (!saved) return NULL;
    char hash_path[PATH_MAX];
    path_in(hash_path, sizeof hash_path, state_dir, "last-good.hash");
    size_t len;
    char *text = read_all(hash_path, &len);
    unsigned long long good = 0;
    if (text) sscanf(text, "%llx", &good);
    free(text);
    if (good == hash) { /* the last good one is this one: nothing to roll back to */
        free(saved);
        return NULL;
    }
    if (stuck)
        snprintf(why, why_len,
                 "the watchdog ended the last run of this version (%016llx): a batch never "
                 "returned",
                 (unsigned long long)hash);
    else
        snprintf(why, why_len,
                 "this version (%016llx) was started %d times in a row and never ran cleanly "
                 "(a crash loop)",
                 (unsigned long long)hash, starts);
    return saved;
}

int sh_rollback_starting(const char *state_dir, uint64_t hash) {
    char state[32];
    uint64_t previous;
    int starts = 0;
    bool again = read_run(state_dir, state, sizeof state, &previous, &starts) &&
                 previous == hash && strcmp(state, "starting") == 0;
    return write_run(state_dir, "starting", hash, again ? starts + 1 : 1);
}

int sh_rollback_stuck(const char *state_dir, uint64_t hash) {
    return write_run(state_dir, "stuck", hash, 0);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

/* Where a file goes in the copy: its path relative to the app's directory. */
static const char *relative_to(const char *base_dir, const char *file) {
    size_t n = strlen(base_dir);
    if (strncmp(file, base_dir, n) == 0 && file[n] == '/') return file + n + 1;
    const char *slash = strrchr(file, '/');
    return slash ? slash + 1 : file;
}

int sh_rollback_clean(const char *state_dir, const char *app_path, const char *const *files,
                      int count, uint64_t hash) {
    char versions[PATH_MAX], staging[PATH_MAX], good[PATH_MAX], base_dir[PATH_MAX];
    snprintf(versions, sizeof versions, "%s/versions", state_dir);
    snprintf(staging, sizeof staging, "%s/versions/last-good.new", state_dir);
    snprintf(good, sizeof good, "%s/versions/last-good", state_dir);
    char app_copy[PATH_MAX];
    snprintf(app_copy, sizeof app_copy, "%s", app_path);
    if (!realpath(dirname(app_copy), base_dir)) snprintf(base_dir, sizeof base_dir, ".");
    nftw(staging, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    char app_name[PATH_MAX] = "";
    for (int i = 0; i < count; i++) {
        char real[PATH_MAX], target[PATH_MAX * 2];
        if (!realpath(files[i], real)) goto fail;
        const char *rel = relative_to(base_dir, real);
        if (strcmp(files[i], app_path) == 0) snprintf(app_name, sizeof app_name, "%s", rel);
        snprintf(target, sizeof target, "%s/%s", staging, rel);
        char parent[PATH_MAX * 2];
        snprintf(parent, sizeof parent, "%s", target);
        size_t len;
        char *data = read_all(real, &len);
        if (!data || mkdirs(dirname(parent)) != 0 || write_file(target, data, len) != 0) {
            free(data);
            goto fail;
        }
        free(data);
    }
    if (!app_name[0]) goto fail;
    char name_path[PATH_MAX], hash_path[PATH_MAX], run_path[PATH_MAX], line[64];
    path_in(name_path, sizeof name_path, state_dir, "last-good.path");
    path_in(hash_path, sizeof hash_path, state_dir, "last-good.hash");
    path_in(run_path, sizeof run_path, state_dir, "run");
    nftw(good, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    int n = snprintf(line, sizeof line, "%016llx\n", (unsigned long long)hash);
    if (rename(staging, good) != 0 || write_file(name_path, app_name, strlen(app_name)) != 0 ||
        write_file(hash_path, line, (size_t)n) != 0)
        goto fail;
    (void)run_path;
    if (write_run(state_dir, "clean", hash, 0) != 0) goto fail;
    return 0;
fail:
    sh_log(SH_LOG_WARN, "cannot save the last good version in %s: %s", versions, strerror(errno));
    nftw(staging, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return -1;
}
