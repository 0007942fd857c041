/*
 * clock.c - wall-clock time in milliseconds, one function for C and Lua, so
 * timers and timestamps on both sides of the FFI read the same clock.
 */
#include <time.h>

#include "base/clock.h"
#include "streamhost_ffi.h"

int64_t sh_clock_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sh_ffi_clock_now_ms(void) { return sh_clock_now_ms(); }
