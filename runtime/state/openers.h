/*
 * openers.h - a few threads that open an assignment's stores ahead of their
 * restores (openers.c).
 *
 * @locality: one stream thread adds, takes and drops; the openers are the
 * object's own threads.
 */
#ifndef SH_STATE_OPENERS_H
#define SH_STATE_OPENERS_H

#include <stdint.h>

#include "state/store.h"

typedef struct sh_openers sh_openers_t;

/* NULL when out of memory. */
sh_openers_t *sh_openers_new(const char *state_dir);
/* Drops what was not taken and joins the threads. NULL is a no-op. */
void sh_openers_free(sh_openers_t *o);

/* Queues the open of store name's partition (a task's handle: no context,
 * no changelog); out of memory, nothing is queued. */
void sh_openers_add(sh_openers_t *o, const char *name, int kind, int32_t partition,
                    int64_t retention_ms);
/* The queued store's handle, waiting while it is being opened and opening
 * it here if no opener has started it; NULL when it was never queued or its
 * open failed (the caller opens it itself, and learns why). */
sh_store_t *sh_openers_take(sh_openers_t *o, const char *name, int32_t partition);
/* Closes the handles nobody took and forgets the queued opens (the end of
 * an assignment). */
void sh_openers_drop(sh_openers_t *o);

#endif
