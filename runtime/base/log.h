/*
 * log.h - the host's logger: one line per event on stderr (log.c).
 */
#ifndef SH_LOG_H
#define SH_LOG_H

#define SH_VERSION "0.1.0"

enum { SH_LOG_ERROR = 0, SH_LOG_WARN = 1, SH_LOG_INFO = 2, SH_LOG_DEBUG = 3 };

void sh_log_set_level(int level);
void sh_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
