/*
 * vm.c - loads an app into a fresh LuaJIT VM and calls into it.
 *
 * The VM runs lua/streamhost/runner.lua, which loads the app file, builds the
 * topology, declares sources and sinks on the context and returns a table
 * with the app's settings and its batch function. The app's own code runs
 * in runner's sandbox (sandbox.lua) unless sh_vm_set_unsafe(true). C keeps a registry
 * reference to that function and calls it once per batch with a pointer to
 * the record array: one C->Lua transition per batch, never per record.
 */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <luajit.h>
#include <lualib.h>

#include "engine/vm.h"

struct sh_vm {
    lua_State *L;
    sh_ctx_t *ctx;
    int app_ref;     /* the table runner.load returned */
    int process_ref; /* app.process */
    char *app_id;
    char *state_dir, *http; /* the app's settings; NULL when it has none */
    int threads;
    sh_kv_t *kafka;
    int kafka_count;
    sh_kv_t *cdc; /* b:mysql_cdc's properties, when the app declares it */
    int cdc_count;
    char **watched;
    int watched_count;
    char **table_topics;
    int table_topic_count;
    bool has_tick, has_release_task; /* optional methods of the app table */
    bool loaded;                     /* app_ref holds the app: close it before the VM goes */
    /* memory: what the Lua state holds, and what it may (memory.limit) */
    size_t memory_used, memory_limit, app_memory_limit;
    lua_State *donor; /* lends LuaJIT's allocator (base_alloc, base_ud) */
    lua_Alloc base_alloc;
    void *base_ud;
    bool memory_refused; /* an allocation was refused since the last check */
    int64_t max_batch_ms; /* the app's max.batch.ms, 0: the host's default */
    int64_t startup_timeout_ms; /* the app's startup.timeout, 0: the host's default */
    int64_t max_task_idle_ms;   /* the app's max.task.idle.ms (0 when not set) */
    /* a deadline checked by a count hook while the JIT is off (load, trial) */
    int64_t deadline_ms;
    bool deadline_hit;
    /* the watchdog asks for a traceback from another thread */
    volatile int traceback_wanted;
    char traceback[4096];
};

static int call_app(sh_vm_t *vm, const char *method, int nargs, int nresults);

/* Set once by `streamhost run --unsafe` before the first VM loads; read by
 * every load after, from any stream thread (never written again). */
static bool unsafe_apps;

void sh_vm_set_unsafe(bool unsafe) { unsafe_apps = unsafe; }
bool sh_vm_unsafe(void) { return unsafe_apps; }

enum { DEFAULT_MEMORY_LIMIT_MB = 1024, LOAD_BUDGET_MS = 10000, HOOK_EVERY = 10000 };
#define MEMORY_GRACE ((size_t)8 << 20)

/* Every allocation of the VM's Lua state goes through here: a request past
 * the budget is refused, which Lua raises as "not enough memory" for the
 * record being processed, under the app's on_error. What is granted comes
 * from LuaJIT's own allocator (borrowed from a donor state: the API hands
 * it out only that way), which is much cheaper than glibc's realloc for
 * Lua's many small objects. */
static void *vm_alloc(void *ud, void *ptr, size_t old_size, size_t new_size) {
    sh_vm_t *vm = ud;
    if (new_size == 0) {
        vm->base_alloc(vm->base_ud, ptr, old_size, 0);
        vm->memory_used -= ptr ? old_size : 0;
        return NULL;
    }
    size_t held = ptr ? old_size : 0;
    /* after a refusal, a little headroom lets the error be handled (the
     * failed record's garbage is still there) until the next full GC */
    size_t limit = vm->memory_limit + (vm->memory_refused ? MEMORY_GRACE : 0);
    if (new_size > held && vm->memory_limit && vm->memory_used - held + new_size > limit) {
        vm->memory_refused = true;
        return NULL;
    }
    void *grown = vm->base_alloc(vm->base_ud, ptr, old_size, new_size);
    if (grown) vm->memory_used = vm->memory_used - held + new_size;
    return grown;
}

static sh_vm_t *vm_of(lua_State *L) {
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

/* Budgets count the CPU time of the thread that loads or tries a version:
 * the reload thread runs at a low priority (reload.c), and on a busy
 * machine wall time would refuse a version for the machine's load. A
 * loop burns CPU time all the same. */
static int64_t thread_cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Count hook: runs only in the interpreter (JIT off, or code not compiled).
 * Takes the traceback the watchdog asked for, and raises once a deadline
 * has passed (and again at every later check, so a loop that catches the
 * error still ends). */
static void vm_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    sh_vm_t *vm = vm_of(L);
    if (vm->traceback_wanted) {
        luaL_traceback(L, L, NULL, 0);
        snprintf(vm->traceback, sizeof vm->traceback, "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
        vm->traceback_wanted = 0;
        if (!vm->deadline_ms) lua_sethook(L, NULL, 0, 0);
    }
    if (vm->deadline_ms && thread_cpu_ms() > vm->deadline_ms) {
        vm->deadline_hit = true;
        luaL_error(L, "ran past its time budget");
    }
}

/* Runs with the JIT off and a deadline, or back to normal (deadline 0). */
static void set_budget(sh_vm_t *vm, int64_t budget_ms) {
    if (budget_ms > 0) {
        luaJIT_setmode(vm->L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
        vm->deadline_ms = thread_cpu_ms() + budget_ms;
        vm->deadline_hit = false;
        lua_sethook(vm->L, vm_hook, LUA_MASKCOUNT, HOOK_EVERY);
    } else {
        vm->deadline_ms = 0;
        lua_sethook(vm->L, NULL, 0, 0);
        luaJIT_setmode(vm->L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_ON);
    }
}

const char *sh_vm_lua_dir(void) {
    static char dir[PATH_MAX];
    if (dir[0]) return dir;
    const char *env = getenv("STREAMHOST_LUA_DIR");
    if (env && *env) {
        snprintf(dir, sizeof dir, "%s", env);
        return dir;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        /* bin/streamhost -> ../lua */
        snprintf(dir, sizeof dir, "%s/../lua", dirname(exe));
    }
    return dir;
}

static char *field_string(lua_State *L, int table, const char *name) {
    lua_getfield(L, table, name);
    char *s = lua_isstring(L, -1) ? strdup(lua_tostring(L, -1)) : NULL;
    lua_pop(L, 1);
    return s;
}

static char **string_list(lua_State *L, int table, const char *name, int *count) {
    lua_getfield(L, table, name);
    int n = lua_istable(L, -1) ? (int)lua_objlen(L, -1) : 0;
    char **list = calloc((size_t)n + 1, sizeof *list);
    for (int i = 0; i < n && list; i++) {
        lua_rawgeti(L, -1, i + 1);
        list[i] = strdup(lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    *count = list ? n : 0;
    return list;
}

/* runner returns properties as an ordered list of {key, value} pairs */
static sh_kv_t *read_props(lua_State *L, const char *field, int *count) {
    lua_getfield(L, -1, field);
    int n = lua_istable(L, -1) ? (int)lua_objlen(L, -1) : 0;
    sh_kv_t *props = calloc((size_t)n + 1, sizeof *props);
    *count = 0;
    for (int i = 0; i < n && props; i++) {
        lua_rawgeti(L, -1, i + 1);
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        props[i].key = strdup(lua_tostring(L, -2));
        props[i].value = strdup(lua_tostring(L, -1));
        lua_pop(L, 3);
        (*count)++;
    }
    lua_pop(L, 1);
    return props;
}

static void free_props(sh_kv_t *props, int count) {
    for (int i = 0; i < count; i++) {
        free(props[i].key);
        free(props[i].value);
    }
    free(props);
}

sh_vm_t *sh_vm_load(const char *app_path, const sh_output_t *output, int version,
                    const char *state_dir, char *errbuf, size_t errlen) {
    return sh_vm_load_trial(app_path, output, version, state_dir, false, errbuf, errlen);
}

sh_vm_t *sh_vm_load_trial(const char *app_path, const sh_output_t *output, int version,
                          const char *state_dir, bool trial, char *errbuf, size_t errlen) {
    sh_vm_t *vm = calloc(1, sizeof *vm);
    if (!vm) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    vm->ctx = sh_ctx_new(output);
    vm->memory_limit = (size_t)DEFAULT_MEMORY_LIMIT_MB << 20;
    /* the donor state only lends its allocator; it is closed after vm->L */
    if ((vm->donor = luaL_newstate())) vm->base_alloc = lua_getallocf(vm->donor, &vm->base_ud);
    vm->L = vm->donor ? lua_newstate(vm_alloc, vm) : NULL;
    if (!vm->ctx || !vm->L) {
        snprintf(errbuf, errlen, "out of memory");
        sh_vm_free(vm);
        return NULL;
    }
    sh_ctx_set_version(vm->ctx, version);
    /* Before runner.load: the topology may open stores while it is built. */
    if (state_dir) sh_ffi_ctx_set_state_dir(vm->ctx, state_dir);
    lua_State *L = vm->L;
    luaL_openlibs(L);
    /* A file that never returns (or allocates without end) is stopped: the
     * reload that loads it must not stall a stream thread. */
    set_budget(vm, LOAD_BUDGET_MS);
    if (trial) { /* topology.lua: every on_error policy is "fail" in a trial */
        lua_pushboolean(L, 1);
        lua_setglobal(L, "STREAMHOST_TRIAL");
    }

    char setup[PATH_MAX * 2 + 200];
    const char *lua_dir = sh_vm_lua_dir();
    snprintf(setup, sizeof setup,
             "package.path = '%s/?.lua;%s/?/init.lua;' .. package.path", lua_dir, lua_dir);
    if (luaL_dostring(L, setup) != 0) goto lua_error;

    lua_getglobal(L, "require");
    lua_pushstring(L, "streamhost.runner");
    if (lua_pcall(L, 1, 1, 0) != 0) goto lua_error;
    lua_getfield(L, -1, "load");
    lua_pushstring(L, app_path);
    lua_pushlightuserdata(L, vm->ctx);
    lua_pushboolean(L, unsafe_apps);
    if (lua_pcall(L, 3, 2, 0) != 0) goto lua_error;
    if (lua_isnil(L, -2)) {
        if (vm->deadline_hit)
            snprintf(errbuf, errlen, "%s:1: loading took more than %d s (an endless loop at the "
                     "top of the file?): %s", app_path, LOAD_BUDGET_MS / 1000,
                     lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
        else if (vm->memory_refused)
            snprintf(errbuf, errlen, "%s:1: loading needed more than the memory budget (%zu MB): %s",
                     app_path, vm->memory_limit >> 20, lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
        else
            snprintf(errbuf, errlen, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "load failed");
        sh_vm_free(vm);
        return NULL;
    }
    lua_pop(L, 1);
    /* stack: runner, app */
    vm->app_id = field_string(L, -1, "id");
    vm->state_dir = field_string(L, -1, "state_dir");
    vm->http = field_string(L, -1, "http");
    lua_getfield(L, -1, "threads");
    vm->threads = lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : 1;
    lua_pop(L, 1);
    vm->kafka = read_props(L, "kafka_list", &vm->kafka_count);
    vm->cdc = read_props(L, "mysql_cdc_list", &vm->cdc_count);
    vm->watched = string_list(L, -1, "files", &vm->watched_count);
    vm->table_topics = string_list(L, -1, "table_topics", &vm->table_topic_count);
    lua_getfield(L, -1, "tick");
    vm->has_tick = lua_isfunction(L, -1);
    lua_getfield(L, -2, "release_task");
    vm->has_release_task = lua_isfunction(L, -1);
    lua_pop(L, 2);
    lua_getfield(L, -1, "memory_limit");
    vm->app_memory_limit = lua_isnumber(L, -1) ? (size_t)lua_tonumber(L, -1) : 0;
    lua_getfield(L, -2, "max_batch_ms");
    vm->max_batch_ms = lua_isnumber(L, -1) ? (int64_t)lua_tonumber(L, -1) : 0;
    lua_getfield(L, -3, "startup_timeout_ms");
    vm->startup_timeout_ms = lua_isnumber(L, -1) ? (int64_t)lua_tonumber(L, -1) : 0;
    lua_getfield(L, -4, "max_task_idle_ms");
    vm->max_task_idle_ms = lua_isnumber(L, -1) ? (int64_t)lua_tonumber(L, -1) : 0;
    lua_pop(L, 4);
    lua_getfield(L, -1, "process");
    vm->process_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    vm->app_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    vm->loaded = true;
    lua_settop(L, 0);
    set_budget(vm, 0);
    if (vm->app_memory_limit) vm->memory_limit = vm->app_memory_limit;
    return vm;

lua_error:
    if (vm->deadline_hit)
        snprintf(errbuf, errlen, "%s:1: loading took more than %d s: %s", app_path,
                 LOAD_BUDGET_MS / 1000, lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
    else
        snprintf(errbuf, errlen, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "unknown Lua error");
    sh_vm_free(vm);
    return NULL;
}

/* The app's close first: its store handles go with it, so a reloaded-away
 * version leaves no RocksDB instance open behind it. */
void sh_vm_free(sh_vm_t *vm) {
    if (!vm) return;
    if (vm->loaded && call_app(vm, "close", 0, 0) != 0)
        sh_log(SH_LOG_WARN, "closing %s version %d: %s", vm->app_id ? vm->app_id : "app",
               sh_ffi_ctx_version(vm->ctx), lua_tostring(vm->L, -1) ? lua_tostring(vm->L, -1) : "?");
    if (vm->L) lua_close(vm->L);
    if (vm->donor) lua_close(vm->donor); /* its allocator's arena goes with it */
    sh_ffi_ctx_destroy(vm->ctx);
    free(vm->app_id);
    free(vm->state_dir);
    free(vm->http);
    free_props(vm->kafka, vm->kafka_count);
    free_props(vm->cdc, vm->cdc_count);
    for (int i = 0; i < vm->watched_count; i++) free(vm->watched[i]);
    free(vm->watched);
    for (int i = 0; i < vm->table_topic_count; i++) free(vm->table_topics[i]);
    free(vm->table_topics);
    free(vm);
}

sh_ctx_t *sh_vm_ctx(sh_vm_t *vm) { return vm->ctx; }
const char *sh_vm_app_id(sh_vm_t *vm) { return vm->app_id; }
int sh_vm_threads(sh_vm_t *vm) { return vm->threads > 0 ? vm->threads : 1; }
const char *sh_vm_state_dir(sh_vm_t *vm) { return vm->state_dir; }
const char *sh_vm_http(sh_vm_t *vm) { return vm->http; }

const sh_kv_t *sh_vm_kafka_props(sh_vm_t *vm, int *count) {
    *count = vm->kafka_count;
    return vm->kafka;
}

const sh_kv_t *sh_vm_mysql_cdc_props(sh_vm_t *vm, int *count) {
    *count = vm->cdc_count;
    return vm->cdc;
}

bool sh_vm_is_table_topic(sh_vm_t *vm, const char *topic) {
    for (int i = 0; i < vm->table_topic_count; i++)
        if (strcmp(vm->table_topics[i], topic) == 0) return true;
    return false;
}

const char *const *sh_vm_table_topics(sh_vm_t *vm, int *count) {
    *count = vm->table_topic_count;
    return (const char *const *)vm->table_topics;
}

const char *const *sh_vm_watched_files(sh_vm_t *vm, int *count) {
    *count = vm->watched_count;
    return (const char *const *)vm->watched;
}

/* Calls app[method](app, args...) leaving results on the stack. */
static int call_app(sh_vm_t *vm, const char *method, int nargs, int nresults) {
    lua_State *L = vm->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->app_ref);
    lua_getfield(L, -1, method);
    lua_insert(L, -(nargs + 2));
    lua_insert(L, -(nargs + 1));
    return lua_pcall(L, nargs + 1, nresults, 0);
}

int sh_vm_source_partitions(sh_vm_t *vm, const char *topic) {
    lua_State *L = vm->L;
    lua_pushstring(L, topic);
    int partitions = 0;
    if (call_app(vm, "source_partitions", 1, 1) == 0) partitions = (int)lua_tointeger(L, -1);
    lua_settop(L, 0);
    return partitions;
}

char *sh_vm_source_location(sh_vm_t *vm, const char *topic) {
    lua_State *L = vm->L;
    lua_pushstring(L, topic);
    char *where = NULL;
    if (call_app(vm, "source_location", 1, 1) == 0 && lua_isstring(L, -1))
        where = strdup(lua_tostring(L, -1));
    lua_settop(L, 0);
    return where ? where : strdup("?");
}

int sh_vm_process(sh_vm_t *vm, sh_ffi_record_t *records, int n, char *errbuf, size_t errlen) {
    lua_State *L = vm->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->process_ref);
    lua_pushlightuserdata(L, records);
    lua_pushinteger(L, n);
    if (lua_pcall(L, 2, 2, 0) != 0) {
        /* the runner catches user errors itself; this is a bug in streamhost */
        snprintf(errbuf, errlen, "internal error: %s", lua_tostring(L, -1));
        lua_settop(L, 0);
        return 0;
    }
    int done = (int)lua_tointeger(L, -2);
    if (done < n) snprintf(errbuf, errlen, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
    lua_settop(L, 0);
    if (vm->memory_refused && !vm->deadline_ms) { /* a trial reads the flag itself */
        lua_gc(L, LUA_GCCOLLECT, 0);
        vm->memory_refused = false;
    }
    return done;
}

void sh_vm_after_batch(sh_vm_t *vm) {
    if (call_app(vm, "after_batch", 0, 0) != 0)
        sh_log(SH_LOG_WARN, "after_batch: %s", lua_tostring(vm->L, -1));
    lua_settop(vm->L, 0);
}

char *sh_vm_describe(sh_vm_t *vm) {
    char *text = NULL;
    if (call_app(vm, "describe", 0, 1) == 0)
        text = strdup(lua_tostring(vm->L, -1) ? lua_tostring(vm->L, -1) : "");
    else
        text = strdup(lua_tostring(vm->L, -1));
    lua_settop(vm->L, 0);
    return text;
}

int sh_vm_tick(sh_vm_t *vm, int64_t now_ms, int64_t *next_due_ms, char *errbuf, size_t errlen) {
    *next_due_ms = INT64_MAX;
    if (!vm->has_tick) return 0;
    lua_pushnumber(vm->L, (lua_Number)now_ms);
    int rc = 0;
    if (call_app(vm, "tick", 1, 1) != 0) {
        snprintf(errbuf, errlen, "timer: %s",
                 lua_tostring(vm->L, -1) ? lua_tostring(vm->L, -1) : "?");
        rc = -1;
    } else if (lua_type(vm->L, -1) == LUA_TNUMBER) {
        /* an interval of math.huge or 1e300 ms gives a due time no int64_t
         * holds (and NaN none at all): such a timer is as good as never */
        double due = lua_tonumber(vm->L, -1);
        if (due >= 0 && due < 9e18) *next_due_ms = (int64_t)due;
    }
    lua_settop(vm->L, 0);
    return rc;
}

int sh_vm_flush(sh_vm_t *vm, char *errbuf, size_t errlen) {
    int rc = 0;
    if (call_app(vm, "flush", 0, 0) != 0) {
        snprintf(errbuf, errlen, "flushing the store caches: %s",
                 lua_tostring(vm->L, -1) ? lua_tostring(vm->L, -1) : "?");
        rc = -1;
    }
    lua_settop(vm->L, 0);
    return rc;
}

void sh_vm_release_task(sh_vm_t *vm, const char *topic, int32_t partition) {
    if (!vm->has_release_task) return;
    lua_pushstring(vm->L, topic);
    lua_pushinteger(vm->L, partition);
    if (call_app(vm, "release_task", 2, 0) != 0)
        sh_log(SH_LOG_WARN, "release_task(%s, %d): %s", topic, (int)partition,
               lua_tostring(vm->L, -1) ? lua_tostring(vm->L, -1) : "?");
    lua_settop(vm->L, 0);
}

void sh_vm_request_traceback(sh_vm_t *vm) {
    vm->traceback[0] = 0;
    vm->traceback_wanted = 1;
    /* lua_sethook may be called from another thread or a signal handler:
     * the interpreter picks it up at its next instruction count */
    lua_sethook(vm->L, vm_hook, LUA_MASKCOUNT, 1);
}

const char *sh_vm_traceback(sh_vm_t *vm) { return vm->traceback[0] ? vm->traceback : NULL; }

size_t sh_vm_memory_used(sh_vm_t *vm) { return vm->memory_used; }
size_t sh_vm_memory_limit(sh_vm_t *vm) { return vm->memory_limit; }
int64_t sh_vm_max_batch_ms(sh_vm_t *vm) { return vm->max_batch_ms; }

int64_t sh_vm_max_task_idle_ms(sh_vm_t *vm) { return vm->max_task_idle_ms; }
int64_t sh_vm_startup_timeout_ms(sh_vm_t *vm) { return vm->startup_timeout_ms; }

int sh_vm_trial(sh_vm_t *vm, sh_ffi_record_t *records, int n, int64_t budget_ms, char *errbuf,
                size_t errlen) {
    set_budget(vm, budget_ms);
    vm->memory_refused = false;
    int done = sh_vm_process(vm, records, n, errbuf, errlen);
    bool timed_out = vm->deadline_hit, refused = vm->memory_refused;
    set_budget(vm, 0);
    if (timed_out) {
        snprintf(errbuf, errlen, "it ran past its time budget of %lld ms on %d sample records",
                 (long long)budget_ms, n);
        return -1;
    }
    if (refused) {
        snprintf(errbuf, errlen, "it needed more than its memory budget of %zu MB on %d sample "
                 "records", vm->memory_limit >> 20, n);
        return -1;
    }
    if (done < n) return -1; /* errbuf says which record raised */
    return 0;
}
