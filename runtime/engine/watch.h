/*
 * watch.h - notices when a watched file (the app, a module it required) is
 * written (watch.c). The reload itself is reload.c's.
 */
#ifndef SH_WATCH_H
#define SH_WATCH_H

#include <stdbool.h>

typedef struct sh_watch sh_watch_t;

sh_watch_t *sh_watch_new(void);
void sh_watch_free(sh_watch_t *watch);
/* Replaces the watched set. */
void sh_watch_files(sh_watch_t *watch, const char *const *files, int count);
/* True once per burst of changes since the last call; never blocks. */
bool sh_watch_changed(sh_watch_t *watch);

#endif
