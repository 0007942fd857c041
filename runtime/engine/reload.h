/*
 * reload.h - notices when the app should be reloaded: a watched file was
 * written, or SIGHUP arrived.
 */
#ifndef SH_RELOAD_H
#define SH_RELOAD_H

#include <stdbool.h>

typedef struct sh_reload sh_reload_t;

sh_reload_t *sh_reload_new(void);
void sh_reload_free(sh_reload_t *reload);
/* Replaces the watched set (the app file and the modules it required). */
void sh_reload_watch(sh_reload_t *reload, const char *const *files, int count);
/* True once per burst of changes or SIGHUP since the last call; never blocks. */
bool sh_reload_pending(sh_reload_t *reload);
/* Asks for a reload (SIGHUP handler, HTTP). Async-signal-safe. */
void sh_reload_request(void);

#endif
