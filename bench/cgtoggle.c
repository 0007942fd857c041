/*
 * cgtoggle.c - lets bench/engine.lua switch callgrind's counting on and off
 * (libcgtoggle.so, loaded through the FFI), so that instructions per record
 * are counted over the records alone. The difference of two runs of
 * different lengths, used before, carried the set-up's noise: LuaJIT forms
 * its traces a little differently each run, and two 20,000-record runs of
 * the same code differed by 166M instructions, ±1,600 a record over the
 * 100,000 records between them.
 */
#include <valgrind/callgrind.h>

void bench_callgrind_toggle(void) { CALLGRIND_TOGGLE_COLLECT; }
