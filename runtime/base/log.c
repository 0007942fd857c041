/*
 * log.c - one line per event on stderr: UTC time, level, message. Lua logs
 * through sh_ffi_log_write so both halves of the host read alike.
 */
#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

#include "base/log.h"
#include "streamhost_ffi.h"

static int log_level = SH_LOG_INFO;
static const char *level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void sh_log_set_level(int level) { log_level = level; }

void sh_log(int level, const char *fmt, ...) {
    if (level > log_level) return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char line[4096];
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03dZ %-5s ",
                          (int)(tv.tv_usec / 1000), level_names[level & 3]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}

void sh_ffi_log_write(int level, const char *message) {
    if (level < 0) level = 0;
    if (level > 3) level = 3;
    sh_log(level, "%s", message);
}
