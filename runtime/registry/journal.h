/*
 * journal.h - the registry's `_schemas` topic (journal.c): read back whole
 * at start, appended to synchronously after.
 */
#ifndef SH_REGISTRY_JOURNAL_H
#define SH_REGISTRY_JOURNAL_H

#include <stddef.h>

typedef struct sh_journal sh_journal_t;

typedef void (*sh_journal_record_fn)(void *arg, const char *key, size_t key_len, const char *value,
                                     size_t value_len);

/* Connects to bootstrap, replays every record of topic into on_record (in
 * order, tombstones with value NULL), and keeps a producer for appends.
 * NULL with the reason in err. */
sh_journal_t *sh_journal_open(const char *bootstrap, const char *topic,
                              sh_journal_record_fn on_record, void *arg, char *err, size_t errlen);
/* Appends one record and waits until the cluster has it (acks=all): 0, or
 * -1 with the reason in err. value NULL writes a tombstone. */
int sh_journal_append(sh_journal_t *journal, const char *key, const char *value, char *err,
                      size_t errlen);
void sh_journal_close(sh_journal_t *journal);

#endif
