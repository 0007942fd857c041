/*
 * token.c - the HTTP endpoint's access token.
 *
 * Anything that changes the host's state over HTTP (POST /reload) needs
 * `Authorization: Bearer TOKEN`, and with --http-auth all every read but
 * /healthz does too. The token is --http-token, else the one kept in
 * STATE_DIR/http-token, else a random one made on the first start and kept
 * there (0600), so it survives restarts and a workshop's scripts can read
 * it from the file. It is compared in constant time.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/token.h"

#define TOKEN_FILE "http-token"
#define GENERATED_BYTES 24 /* 192 bits, 48 hex characters */

static bool printable(const char *s) {
    for (; *s; s++)
        if (*s <= ' ' || *s > '~') return false;
    return true;
}

static int check_token(const char *token, const char *what, char *err, size_t errlen) {
    size_t n = strlen(token);
    if (n == 0 || n >= SH_HTTP_TOKEN_MAX || !printable(token)) {
        snprintf(err, errlen, "%s: a token is 1 to %d printable characters, without spaces", what,
                 SH_HTTP_TOKEN_MAX - 1);
        return -1;
    }
    return 0;
}

bool sh_http_token_file_exists(const char *state_dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", state_dir, TOKEN_FILE);
    return access(path, F_OK) == 0;
}

/* mkdir -p for the state directory (it may not exist before the first run). */
static int make_dirs(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(path, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int read_token(const char *path, char out[SH_HTTP_TOKEN_MAX], char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char line[256] = "";
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    fclose(f);
    line[strcspn(line, "\r\n")] = 0;
    if (check_token(line, path, err, errlen) != 0) return -1;
    /* check_token refused anything longer than a token */
    size_t len = strnlen(line, SH_HTTP_TOKEN_MAX - 1);
    memcpy(out, line, len);
    out[len] = 0;
    return 0;
}

static int generate_token(const char *state_dir, const char *path, char out[SH_HTTP_TOKEN_MAX],
                          char *err, size_t errlen) {
    unsigned char bytes[GENERATED_BYTES];
    if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) {
        snprintf(err, errlen, "cannot make an HTTP token: getrandom: %s", strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < sizeof bytes; i++)
        snprintf(out + 2 * i, 3, "%02x", bytes[i]);
    int fd = -1;
    if (make_dirs(state_dir) != 0 || (fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0) {
        snprintf(err, errlen, "cannot write the HTTP token to %s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = strlen(out);
    bool written = write(fd, out, n) == (ssize_t)n && write(fd, "\n", 1) == 1;
    if (close(fd) != 0) written = false;
    if (!written) {
        snprintf(err, errlen, "cannot write the HTTP token to %s: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}

int sh_http_token_load(const char *given, const char *state_dir, char out[SH_HTTP_TOKEN_MAX],
                       sh_http_token_source_t *source, char *path, size_t path_len, char *err,
                       size_t errlen) {
    snprintf(path, path_len, "%s/%s", state_dir, TOKEN_FILE);
    if (given) {
        if (check_token(given, "--http-token", err, errlen) != 0) return -1;
        snprintf(out, SH_HTTP_TOKEN_MAX, "%s", given);
        *source = SH_HTTP_TOKEN_GIVEN;
        return 0;
    }
    if (access(path, F_OK) == 0) {
        *source = SH_HTTP_TOKEN_FILE;
        return read_token(path, out, err, errlen);
    }
    *source = SH_HTTP_TOKEN_GENERATED;
    return generate_token(state_dir, path, out, err, errlen);
}

bool sh_http_token_matches(const char *token, const char *header) {
    static const char prefix[] = "Bearer ";
    if (!token || !header || strncmp(header, prefix, sizeof prefix - 1) != 0) return false;
    const char *given = header + sizeof prefix - 1;
    size_t n = strlen(token), m = strlen(given);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < m; i++)
        diff |= (unsigned char)(given[i] ^ token[i % (n ? n : 1)]);
    return diff == 0;
}
