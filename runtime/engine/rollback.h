/*
 * rollback.h - the last version that ran cleanly, kept in the state
 * directory (rollback.c), so a restart after a watchdog exit or a crash
 * loop on a newer version starts from it, and says so loudly.
 *
 *   <state_dir>/versions/last-good/   copies of the files it read
 *   <state_dir>/versions/last-good.path   the app file among them
 *   <state_dir>/versions/run          "starting|clean|stuck <hash> <starts>"
 *
 * A version's hash is over the contents of the files it read (the app and
 * the modules it required).
 */
#ifndef SH_ROLLBACK_H
#define SH_ROLLBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The hash of a version: FNV-1a over its files' contents, 0 when one
 * cannot be read. */
uint64_t sh_rollback_hash(const char *const *files, int count);
/* The saved app file to start from, when this same version (hash) was
 * ended by the watchdog last time, or started twice in a row without ever
 * running cleanly (a crash loop), and a different last-good version is
 * saved; else NULL. A single kill does not roll back. why says what happened (for the log). Caller frees. */
char *sh_rollback_choose(const char *state_dir, uint64_t hash, char *why, size_t why_len);
/* The saved app file, or NULL when none is. Caller frees. */
char *sh_rollback_saved(const char *state_dir);
/* Records that the version `hash` starts (counting starts in a row that
 * never ran cleanly). Returns 0 or -1 (logged). */
int sh_rollback_starting(const char *state_dir, uint64_t hash);
/* Records that the watchdog ends the version `hash`.
 * @locality the watchdog thread, just before the process exits */
int sh_rollback_stuck(const char *state_dir, uint64_t hash);
/* The version ran cleanly: saves copies of its files (app_path among them)
 * as the last good version. Returns 0 or -1 (logged). O(bytes of the files). */
int sh_rollback_clean(const char *state_dir, const char *app_path, const char *const *files,
                      int count, uint64_t hash);

#endif
