/*
 * checkpoint.h - a store directory's checkpoint file: up to which changelog
 * offset its database is complete.
 */
#ifndef SH_CHECKPOINT_H
#define SH_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

enum { SH_CHECKPOINT_OK = 0, SH_CHECKPOINT_MISSING = 1, SH_CHECKPOINT_INVALID = 2 };

/* Replaces <dir>/checkpoint with offset (-1: nothing yet), atomically and
 * durably (written, synced, renamed, directory synced). Returns 0, or -1
 * with errbuf filled. */
int sh_checkpoint_write(const char *dir, int64_t offset, char *errbuf, size_t errlen);
/* SH_CHECKPOINT_OK with *offset, _MISSING, or _INVALID (torn, edited, not
 * ours). */
int sh_checkpoint_read(const char *dir, int64_t *offset);
/* Deletes the checkpoint (and syncs the directory); a missing one is no
 * error. Returns 0, or -1 with errno. */
int sh_checkpoint_remove(const char *dir);

#endif
