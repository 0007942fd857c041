/*
 * reload.c - change detection for hot reload.
 *
 * inotify watches the directories of the watched files, not the files: an
 * editor that saves by writing a new file and renaming it over the old one
 * replaces the inode, and a watch on the file itself would go quiet. Events
 * are matched by name. The host checks sh_reload_pending between batches and
 * does the reload itself (host.c), so nothing here touches Lua.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "engine/reload.h"
#include "base/log.h"

typedef struct watched {
    int wd;
    char dir[PATH_MAX];
    char name[NAME_MAX + 1];
} watched_t;

struct sh_reload {
    int fd;
    int seen; /* the request generation this watcher has acted on */
    watched_t *files;
    int count;
};

/* SIGHUP and POST /reload bump a generation; every stream thread's watcher
 * notices it once. Lock-free atomics are async-signal-safe. */
static int generation;

void sh_reload_request(void) { __atomic_add_fetch(&generation, 1, __ATOMIC_SEQ_CST); }

sh_reload_t *sh_reload_new(void) {
    sh_reload_t *reload = calloc(1, sizeof *reload);
    if (!reload) return NULL;
    reload->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    reload->seen = __atomic_load_n(&generation, __ATOMIC_SEQ_CST);
    if (reload->fd < 0) sh_log(SH_LOG_WARN, "inotify unavailable (%s): reload on SIGHUP only", strerror(errno));
    return reload;
}

void sh_reload_free(sh_reload_t *reload) {
    if (!reload) return;
    if (reload->fd >= 0) close(reload->fd);
    free(reload->files);
    free(reload);
}

void sh_reload_watch(sh_reload_t *reload, const char *const *files, int count) {
    if (reload->fd < 0) return;
    for (int i = 0; i < reload->count; i++) inotify_rm_watch(reload->fd, reload->files[i].wd);
    free(reload->files);
    reload->files = calloc((size_t)count, sizeof *reload->files);
    reload->count = 0;
    for (int i = 0; i < count && reload->files; i++) {
        char resolved[PATH_MAX];
        if (!realpath(files[i], resolved)) continue;
        watched_t *w = &reload->files[reload->count];
        char *slash = strrchr(resolved, '/');
        *slash = 0;
        snprintf(w->dir, sizeof w->dir, "%s", resolved[0] ? resolved : "/");
        snprintf(w->name, sizeof w->name, "%s", slash + 1);
        /* watching a directory twice returns the same descriptor */
        w->wd = inotify_add_watch(reload->fd, w->dir, IN_CLOSE_WRITE | IN_MOVED_TO);
        if (w->wd >= 0) reload->count++;
    }
}

bool sh_reload_pending(sh_reload_t *reload) {
    bool changed = false;
    if (reload->fd >= 0) {
        char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
        ssize_t n;
        while ((n = read(reload->fd, buf, sizeof buf)) > 0) {
            for (char *p = buf; p < buf + n;) {
                struct inotify_event *ev = (struct inotify_event *)p;
                for (int i = 0; ev->len && i < reload->count; i++)
                    if (reload->files[i].wd == ev->wd && strcmp(reload->files[i].name, ev->name) == 0)
                        changed = true;
                p += sizeof *ev + ev->len;
            }
        }
    }
    int now = __atomic_load_n(&generation, __ATOMIC_SEQ_CST);
    if (now != reload->seen) {
        reload->seen = now;
        changed = true;
    }
    return changed;
}
