/*
 * command.c - `streamhost replicate [CONFIG] [--set key=value]...`.
 *
 * CONFIG is Replicator's configuration in one of the shapes a workshop user
 * has at hand: a Lua file returning a table (`return sh.replicator { ... }`
 * or a plain table), a JSON file (Connect's `{"name":..., "config":{...}}`
 * as POSTed to /connectors, or the config object alone), or a .properties
 * file. --set adds or overrides one property. The file is read in a Lua
 * state of its own that is closed before any record is copied.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "engine/vm.h"
#include "replicator/command.h"
#include "replicator/replicator.h"

static const char *usage =
    "usage: streamhost replicate [CONFIG.lua|CONFIG.json|CONFIG.properties] [--set key=value]...\n"
    "                            [--http HOST:PORT|off] [--log-level L]\n"
    "\n"
    "Copies topics from one Kafka cluster to another as Confluent Replicator does,\n"
    "with its property names: topic.regex, topic.whitelist/topic.include,\n"
    "topic.blacklist/topic.exclude, topic.rename.format (${topic}),\n"
    "topic.poll.interval.ms, src.kafka.* and dest.kafka.* (librdkafka properties),\n"
    "src.consumer.group.id, provenance.header.enable, name.\n"
    "  --set key=value      one property, over CONFIG's\n"
    "  --http HOST:PORT|off where GET /lag answers (default 127.0.0.1:8089; port 0 picks)\n"
    "  --log-level L        error, warn, info (default) or debug\n"
    "Runs until SIGINT or SIGTERM; offsets are committed only for copies the\n"
    "destination acknowledged.\n";

typedef struct props {
    sh_kv_t *kv;
    int count;
} props_t;

static int add(props_t *p, const char *key, const char *value) {
    sh_kv_t *grown = realloc(p->kv, sizeof *grown * (size_t)(p->count + 1));
    if (!grown) return -1;
    p->kv = grown;
    grown[p->count] = (sh_kv_t){strdup(key), strdup(value)};
    if (!grown[p->count].key || !grown[p->count].value) return -1;
    p->count++;
    return 0;
}

static void free_props(props_t *p) {
    for (int i = 0; i < p->count; i++) {
        free(p->kv[i].key);
        free(p->kv[i].value);
    }
    free(p->kv);
}

/* The table at the top of L's stack, as properties (numbers and booleans
 * as Connect's JSON writes them). */
static int add_table(lua_State *L, props_t *p, char *errbuf, size_t errlen) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            snprintf(errbuf, errlen, "property names must be strings");
            return -1;
        }
        const char *key = lua_tostring(L, -2);
        const char *value = NULL;
        if (lua_type(L, -1) == LUA_TBOOLEAN) value = lua_toboolean(L, -1) ? "true" : "false";
        else if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
            lua_pushvalue(L, -1); /* tostring on a copy: lua_next needs the original */
            value = lua_tostring(L, -1);
            lua_pop(L, 1);
            value = lua_tostring(L, -1);
        }
        if (strcmp(key, "config") == 0 && lua_istable(L, -1)) {
            if (add_table(L, p, errbuf, errlen) != 0) return -1;
        } else if (!value) {
            snprintf(errbuf, errlen, "property %s must be a string, a number or a boolean", key);
            return -1;
        } else if (add(p, key, value) != 0) {
            snprintf(errbuf, errlen, "out of memory");
            return -1;
        }
        lua_pop(L, 1);
    }
    return 0;
}

static const char *LOADER =
    "local path = ...\n"
    "if path:match('%.json$') then\n"
    "  local f = assert(io.open(path)); local text = f:read('*a'); f:close()\n"
    "  local ok, t = pcall(require('cjson').decode, text)\n"
    "  if not ok then error(path .. ': not JSON: ' .. tostring(t), 0) end\n"
    "  return t\n"
    "elseif path:match('%.properties$') then\n"
    "  local t = {}\n"
    "  for line in io.lines(path) do\n"
    "    if not line:match('^%s*[#!]') and line:match('%S') then\n"
    "      local k, v = line:match('^%s*([^=:%s]+)%s*[=:]%s*(.-)%s*$')\n"
    "      if not k then error(path .. ': not key=value: ' .. line, 0) end\n"
    "      t[k] = v\n"
    "    end\n"
    "  end\n"
    "  return t\n"
    "end\n"
    "return dofile(path)\n";

static int load_file(const char *path, props_t *p, char *errbuf, size_t errlen) {
    lua_State *L = luaL_newstate();
    if (!L) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    luaL_openlibs(L);
    char setup[8192];
    const char *dir = sh_vm_lua_dir();
    snprintf(setup, sizeof setup, "package.path = '%s/?.lua;%s/?/init.lua;' .. package.path", dir,
             dir);
    int rc = -1;
    if (luaL_dostring(L, setup) != 0 || luaL_loadstring(L, LOADER) != 0) goto lua_error;
    lua_pushstring(L, path);
    if (lua_pcall(L, 1, 1, 0) != 0) goto lua_error;
    if (!lua_istable(L, -1)) {
        snprintf(errbuf, errlen, "%s must return a table of Replicator properties", path);
        goto out;
    }
    rc = add_table(L, p, errbuf, errlen);
    goto out;
lua_error:
    snprintf(errbuf, errlen, "%s", lua_tostring(L, -1));
out:
    lua_close(L);
    return rc;
}

static volatile sig_atomic_t stopping;
static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

static int usage_error(const char *msg, const char *arg) {
    fprintf(stderr, "streamhost replicate: %s%s\n", msg, arg ? arg : "");
    return 2;
}

int sh_replicator_command(int argc, char **argv) {
    props_t p = {0};
    const char *file = NULL, *http = NULL;
    char err[2048];
    int rc = 2;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            free_props(&p);
            return 0;
        }
        if ((strcmp(a, "--set") == 0 || strcmp(a, "--http") == 0 ||
             strcmp(a, "--log-level") == 0) && i + 1 >= argc) {
            rc = usage_error(a, " needs a value");
            goto out;
        }
        if (strcmp(a, "--set") == 0) {
            char *kv = argv[++i], *eq = strchr(kv, '=');
            if (!eq) {
                rc = usage_error("--set takes key=value, not ", kv);
                goto out;
            }
            *eq = '\0';
            int added = add(&p, kv, eq + 1);
            *eq = '=';
            if (added != 0) goto out;
        } else if (strcmp(a, "--http") == 0) {
            http = argv[++i];
        } else if (strcmp(a, "--log-level") == 0) {
            const char *l = argv[++i];
            int level = strcmp(l, "error") == 0 ? SH_LOG_ERROR
                        : strcmp(l, "warn") == 0 ? SH_LOG_WARN
                        : strcmp(l, "debug") == 0 ? SH_LOG_DEBUG
                        : strcmp(l, "info") == 0 ? SH_LOG_INFO
                                                 : -1;
            if (level < 0) {
                rc = usage_error("--log-level takes error, warn, info or debug, not ", l);
                goto out;
            }
            sh_log_set_level(level);
        } else if (a[0] == '-' || file) {
            rc = usage_error("unknown argument ", a);
            goto out;
        } else {
            file = a;
        }
    }
    /* the file first, so --set wins */
    props_t all = {0};
    if (file && load_file(file, &all, err, sizeof err) != 0) {
        sh_log(SH_LOG_ERROR, "replicate: %s", err);
        free_props(&all);
        rc = 1;
        goto out;
    }
    for (int i = 0; i < p.count; i++)
        if (add(&all, p.kv[i].key, p.kv[i].value) != 0) {
            free_props(&all);
            goto out;
        }
    sh_replicator_config_t *config = sh_replicator_config_new(all.kv, all.count, err, sizeof err);
    free_props(&all);
    if (!config) {
        sh_log(SH_LOG_ERROR, "replicate: %s", err);
        rc = 1;
        goto out;
    }
    if (!http) http = config->http ? config->http : "127.0.0.1:8089";
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sh_status_t *status = strcmp(http, "off") == 0 ? NULL : sh_status_start(http);
    sh_replicator_t *r = sh_replicator_new(config, status, err, sizeof err);
    if (!r) {
        sh_log(SH_LOG_ERROR, "replicate: %s", err);
        rc = 1;
    } else {
        rc = sh_replicator_run(r, &stopping);
        sh_replicator_free(r);
    }
    sh_status_stop(status);
out:
    free_props(&p);
    return rc;
}
