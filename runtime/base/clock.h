/*
 * clock.h - wall-clock time for the C core (clock.c); Lua reads the same
 * clock through sh_ffi_clock_now_ms.
 */
#ifndef SH_CLOCK_H
#define SH_CLOCK_H

#include <stdint.h>

/* Milliseconds since the epoch (CLOCK_REALTIME). @locality any thread. */
int64_t sh_clock_now_ms(void);

#endif
