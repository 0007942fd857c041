/*
 * changelog.c - a store handle's changelog sink (see changelog.h). The sink
 * is declared once per handle on the VM's context; every write is emitted
 * on the handle's partition with the record's timestamp.
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/topic_name.h"
#include "state/changelog.h"

int sh_changelog_init(sh_changelog_t *log, sh_ctx_t *ctx, const char *app_id, const char *name,
                      int32_t partition, char *errbuf, size_t errlen) {
    *log = (sh_changelog_t){.ctx = ctx, .sink = -1, .partition = partition};
    if (!(log->topic = sh_topic_name(app_id, SH_TOPIC_CHANGELOG, name))) {
        snprintf(errbuf, errlen, "out of memory");
        return SH_ERR_NOMEM;
    }
    log->sink = sh_ffi_sink_add(ctx, log->topic, 0);
    if (log->sink < 0) {
        snprintf(errbuf, errlen, "cannot declare changelog sink %s", log->topic);
        sh_changelog_fini(log);
        return SH_ERR_INVALID;
    }
    return SH_OK;
}

void sh_changelog_fini(sh_changelog_t *log) {
    free(log->topic);
    log->topic = NULL;
    log->sink = -1;
}

int sh_changelog_emit(sh_changelog_t *log, const char *key, size_t key_len, const char *value,
                      size_t value_len, int64_t timestamp) {
    return sh_ffi_sink_emit(log->ctx, log->sink, key, key_len, value, value_len, timestamp,
                       log->partition, NULL, 0);
}
