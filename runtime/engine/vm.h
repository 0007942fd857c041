/*
 * vm.h - one loaded version of the app: a Lua VM, its context and the
 * process function the loop calls once per batch.
 */
#ifndef SH_VM_H
#define SH_VM_H

#include "base/log.h"
#include "engine/ctx.h"

typedef struct sh_vm sh_vm_t;

typedef struct sh_kv {
    char *key, *value;
} sh_kv_t;

/* Whether app code runs without the sandbox (`streamhost run --unsafe`):
 * process, file, FFI and debug access, bytecode loading. Default false.
 * @locality main thread, before the first sh_vm_load; applies to every
 * later load (reloads included). */
void sh_vm_set_unsafe(bool unsafe);
bool sh_vm_unsafe(void);

/* Loads app_path into a fresh VM whose context emits through output (NULL:
 * capture) and keeps its stores under state_dir (NULL: set it later with
 * sh_ffi_ctx_set_state_dir, before the first batch). On failure returns NULL
 * with "file:line: message" in errbuf. */
sh_vm_t *sh_vm_load(const char *app_path, const sh_output_t *output, int version,
                    const char *state_dir, char *errbuf, size_t errlen);
/* The same, for a reload's trial when trial is true: the app's on_error
 * policy is "fail" there, so a version that raises on a sample record is
 * seen to. */
sh_vm_t *sh_vm_load_trial(const char *app_path, const sh_output_t *output, int version,
                          const char *state_dir, bool trial, char *errbuf, size_t errlen);
void sh_vm_free(sh_vm_t *vm);

sh_ctx_t *sh_vm_ctx(sh_vm_t *vm);
const char *sh_vm_app_id(sh_vm_t *vm);
/* Stream threads the app asks for (`threads = N`, default 1). */
int sh_vm_threads(sh_vm_t *vm);
/* The app's `state_dir = "..."` and `http = "HOST:PORT" | "off"`, or NULL
 * when it sets none. They stand in for --state-dir and --http when those
 * are not given: a flag on the command line wins. */
const char *sh_vm_state_dir(sh_vm_t *vm);
const char *sh_vm_http(sh_vm_t *vm);
/* librdkafka properties from the app's `kafka` table, in the app's order. */
const sh_kv_t *sh_vm_kafka_props(sh_vm_t *vm, int *count);
/* The properties of the app's b:mysql_cdc source, in the app's order
 * (count 0: the app reads Kafka). */
const sh_kv_t *sh_vm_mysql_cdc_props(sh_vm_t *vm, int *count);
/* Files whose change triggers a reload: the app and the modules it required. */
const char *const *sh_vm_watched_files(sh_vm_t *vm, int *count);
/* Whether topic is read as a table (b:table): the host catches such topics
 * up before it lets the other inputs flow. */
bool sh_vm_is_table_topic(sh_vm_t *vm, const char *topic);
/* Every topic read as a table. */
const char *const *sh_vm_table_topics(sh_vm_t *vm, int *count);
/* Partitions declared for source topic `topic` (0: not declared). */
int sh_vm_source_partitions(sh_vm_t *vm, const char *topic);
/* Where the app declares source `topic`, as "file:line". Caller frees. */
char *sh_vm_source_location(sh_vm_t *vm, const char *topic);

/* Runs the topology over records[0..n). Returns the number of records fully
 * processed; when it is less than n, errbuf says why (the app's on_error
 * policy is "fail" and record `returned index` failed). */
int sh_vm_process(sh_vm_t *vm, sh_ffi_record_t *records, int n, char *errbuf, size_t errlen);
/* Called after a batch's outputs are handed over: flushes stdout etc. */
void sh_vm_after_batch(sh_vm_t *vm);
/* Calls the app's tick(now_ms) (wall-clock timers), when it has one, and
 * sets *next_due_ms to when its next wall-clock timer is due (INT64_MAX:
 * none). Returns -1 with errbuf filled when it raised. */
int sh_vm_tick(sh_vm_t *vm, int64_t now_ms, int64_t *next_due_ms, char *errbuf, size_t errlen);
/* Calls the app's release_task(topic, partition), when it has one: the VM
 * closes its store handles of a revoked task. */
void sh_vm_release_task(sh_vm_t *vm, const char *topic, int32_t partition);
/* Writes every change the VM's store caches hold to the stores and their
 * changelogs (app:flush()); run inside a batch, whose outputs they become.
 * 0, or -1 with errbuf filled. */
int sh_vm_flush(sh_vm_t *vm, char *errbuf, size_t errlen);
/* The topology as text (streamhost describe). Caller frees. */
char *sh_vm_describe(sh_vm_t *vm);

/* Asks the VM for a Lua traceback of what it runs now; the interpreter
 * takes it at its next instruction count (JIT-compiled code never checks,
 * so it may not come). @locality any thread (the watchdog) */
void sh_vm_request_traceback(sh_vm_t *vm);
/* The traceback taken, or NULL. */
const char *sh_vm_traceback(sh_vm_t *vm);
/* Bytes the VM's Lua state holds, and its budget (the app's memory.limit,
 * else 1 GiB): an allocation past it fails the record under on_error. */
size_t sh_vm_memory_used(sh_vm_t *vm);
size_t sh_vm_memory_limit(sh_vm_t *vm);
/* The app's max.batch.ms, or 0 for the host's default. */
int64_t sh_vm_max_batch_ms(sh_vm_t *vm);
/* The app's max.task.idle.ms: 0 unless set, -1 never waits. */
int64_t sh_vm_max_task_idle_ms(sh_vm_t *vm);
/* The app's startup.timeout, or 0 for the host's default. */
int64_t sh_vm_startup_timeout_ms(sh_vm_t *vm);
/* Runs records[0..n) with the JIT off under a time budget and the memory
 * budget: a reload's scratch VM tries the new version on recent input.
 * Returns 0, or -1 with errbuf saying what went wrong. */
int sh_vm_trial(sh_vm_t *vm, sh_ffi_record_t *records, int n, int64_t budget_ms, char *errbuf,
                size_t errlen);

/* Directory holding the Lua modules (lua/), found next to the executable or
 * library, or from STREAMHOST_LUA_DIR. */
const char *sh_vm_lua_dir(void);

#endif
