/*
 * watch.c - change detection for hot watch.
 *
 * inotify watches the directories of the watched files, not the files: an
 * editor that saves by writing a new file and renaming it over the old one
 * replaces the inode, and a watch on the file itself would go quiet. Events
 * are matched by name. watch.c asks between batches and does the watch
 * itself, so nothing here touches Lua.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "engine/watch.h"
#include "base/log.h"

typedef struct watched {
    int wd;
    char dir[PATH_MAX];
    char name[NAME_MAX + 1];
} watched_t;

struct sh_watch {
    int fd;
    watched_t *files;
    int count;
    bool pending; /* a change read while the watched set was replaced */
};

sh_watch_t *sh_watch_new(void) {
    sh_watch_t *watch = calloc(1, sizeof *watch);
    if (!watch) return NULL;
    watch->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (watch->fd < 0) sh_log(SH_LOG_WARN, "inotify unavailable (%s): watch on SIGHUP only", strerror(errno));
    return watch;
}

void sh_watch_free(sh_watch_t *watch) {
    if (!watch) return;
    if (watch->fd >= 0) close(watch->fd);
    free(watch->files);
    free(watch);
}

void sh_watch_files(sh_watch_t *watch, const char *const *files, int count) {
    if (watch->fd < 0) return;
    /* Events already queued carry the old descriptors, which a new watch on
     * the same directory does not get back: read them now or lose them. */
    if (sh_watch_changed(watch)) watch->pending = true;
    for (int i = 0; i < watch->count; i++) inotify_rm_watch(watch->fd, watch->files[i].wd);
    free(watch->files);
    watch->files = calloc((size_t)count, sizeof *watch->files);
    watch->count = 0;
    for (int i = 0; i < count && watch->files; i++) {
        char resolved[PATH_MAX];
        if (!realpath(files[i], resolved)) continue;
        watched_t *w = &watch->files[watch->count];
        char *slash = strrchr(resolved, '/');
        *slash = 0;
        snprintf(w->dir, sizeof w->dir, "%s", resolved[0] ? resolved : "/");
        snprintf(w->name, sizeof w->name, "%s", slash + 1);
        /* watching a directory twice returns the same descriptor */
        w->wd = inotify_add_watch(watch->fd, w->dir, IN_CLOSE_WRITE | IN_MOVED_TO);
        if (w->wd >= 0) watch->count++;
    }
}

bool sh_watch_changed(sh_watch_t *watch) {
    bool changed = watch->pending;
    watch->pending = false;
    if (watch->fd >= 0) {
        char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
        ssize_t n;
        while ((n = read(watch->fd, buf, sizeof buf)) > 0) {
            for (char *p = buf; p < buf + n;) {
                struct inotify_event *ev = (struct inotify_event *)p;
                for (int i = 0; ev->len && i < watch->count; i++)
                    if (watch->files[i].wd == ev->wd && strcmp(watch->files[i].name, ev->name) == 0)
                        changed = true;
                p += sizeof *ev + ev->len;
            }
        }
    }
    return changed;
}
