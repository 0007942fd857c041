/*
 * checkpoint.c - checkpoint files (see checkpoint.h).
 *
 * The file is three lines of text: a version line, the offset, and an
 * FNV-1a checksum of the two, so a torn or edited file reads as invalid
 * rather than as a wrong offset. It is written to checkpoint.tmp, synced,
 * renamed over the old one, and the directory synced: a crash leaves the
 * old checkpoint or the new one, never half of either.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state/checkpoint.h"

static uint64_t checksum(const char *data, size_t len) {
    uint64_t hash = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++) {
        hash ^= (unsigned char)data[i];
        hash *= 1099511628211ULL;
    }
    return hash;
}

/* The one text a checkpoint for this offset may contain. */
static int checkpoint_text(char *buf, size_t size, int64_t offset) {
    int body = snprintf(buf, size, "streamhost-checkpoint 1\noffset %" PRId64 "\n", offset);
    uint64_t sum = checksum(buf, (size_t)body);
    return body + snprintf(buf + body, size - (size_t)body, "checksum %016" PRIx64 "\n", sum);
}

static int sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int sh_checkpoint_write(const char *dir, int64_t offset, char *errbuf, size_t errlen) {
    char text[128], path[4096], tmp[4096];
    int len = checkpoint_text(text, sizeof text, offset);
    if ((size_t)snprintf(path, sizeof path, "%s/checkpoint", dir) >= sizeof path ||
        (size_t)snprintf(tmp, sizeof tmp, "%s/checkpoint.tmp", dir) >= sizeof tmp) {
        snprintf(errbuf, errlen, "path too long: %s", dir);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, text, (size_t)len) != len || fsync(fd) != 0) goto failed;
    int closed = close(fd);
    fd = -1;
    if (closed != 0 || rename(tmp, path) != 0 || sync_dir(dir) != 0) goto failed;
    return 0;
failed:
    snprintf(errbuf, errlen, "writing %s: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    unlink(tmp);
    return -1;
}

int sh_checkpoint_read(const char *dir, int64_t *offset) {
    char path[4096], text[256];
    if ((size_t)snprintf(path, sizeof path, "%s/checkpoint", dir) >= sizeof path)
        return SH_CHECKPOINT_INVALID;
    FILE *f = fopen(path, "re");
    if (!f) return errno == ENOENT ? SH_CHECKPOINT_MISSING : SH_CHECKPOINT_INVALID;
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = 0;
    long long parsed;
    if (sscanf(text, "streamhost-checkpoint 1\noffset %lld\n", &parsed) != 1 || parsed < -1)
        return SH_CHECKPOINT_INVALID;
    char expected[128];
    int expected_len = checkpoint_text(expected, sizeof expected, (int64_t)parsed);
    if ((size_t)expected_len != len || memcmp(expected, text, len) != 0)
        return SH_CHECKPOINT_INVALID;
    *offset = (int64_t)parsed;
    return SH_CHECKPOINT_OK;
}

int sh_checkpoint_remove(const char *dir) {
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/checkpoint", dir) >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (unlink(path) != 0 && errno != ENOENT) return -1;
    return sync_dir(dir);
}
