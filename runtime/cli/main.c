/*
 * main.c - the streamhost command line.
 *
 *   streamhost run APP.lua [--bootstrap HOST:PORT] [--set key=value]...
 *   streamhost describe APP.lua
 *   streamhost reset APP.lua [--state-dir DIR] [--bootstrap HOST:PORT] [--yes]
 *   streamhost broker [--port N] [--topic NAME:PARTITIONS]... [--registry]
 *   streamhost registry [--port N] [--bootstrap HOST:PORT]
 *   streamhost connect [--port 18083] [--bootstrap HOST:PORT] [--state-dir DIR]
 *   streamhost replicate [CONFIG.lua|.json|.properties] [--set key=value]...
 *   streamhost test [busted args]
 *   streamhost version
 *
 * Usage errors print one line and exit 2.
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <luajit.h>

#include "kafka/broker.h"
#include "kafka/create_requests.h"
#include "replicator/command.h"
#include "registry/registry.h"
#include "cli/run.h"
#include "cli/reset.h"

static const char *usage_main =
    "usage: streamhost COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  run APP.lua [--bootstrap HOST:PORT] [--set key=value]...   run an app\n"
    "  describe APP.lua                    print the app's topology\n"
    "  reset APP.lua [--yes]               delete local state, rewind the app's consumer group\n"
    "  broker [--port N] [--topic NAME:PARTITIONS]... [--registry]   run an embedded Kafka broker\n"
    "  registry [--port N] [--bootstrap HOST:PORT]   run a Schema Registry\n"
    "  connect [--port 18083] [--bootstrap HOST:PORT]   a Kafka Connect worker (REST API)\n"
    "  replicate [CONFIG] [--set key=value]...   copy topics between clusters (as Replicator)\n"
    "  test [busted args]                  run busted specs under LuaJIT\n"
    "  version                             print versions\n"
    "\n"
    "`streamhost COMMAND --help` describes one command.\n";

static const char *usage_run =
    "usage: streamhost run APP.lua [--bootstrap HOST:PORT] [--set key=value]... [--log-level L]\n"
    "                      [--state-dir DIR] [--http HOST:PORT|off] [--http-token TOKEN]\n"
    "                      [--http-auth changes|all] [--no-rollback] [--unsafe]\n"
    "\n"
    "Runs the app until SIGINT or SIGTERM. Editing APP.lua or a module it requires,\n"
    "or SIGHUP, reloads it without losing records.\n"
    "  --bootstrap HOST:PORT   Kafka bootstrap servers ('embedded' starts one in-process)\n"
    "  --set key=value         a librdkafka property, over the app's `kafka` table\n"
    "  --log-level L           error, warn, info (default) or debug\n"
    "  --state-dir DIR         where state stores live (default ./.streamhost/<app id>)\n"
    "  --http HOST:PORT|off    pull queries (default: the app's http, else 127.0.0.1:8088;\n"
    "                          port 0 picks one)\n"
    "  --http-token TOKEN      needed as 'Authorization: Bearer TOKEN' by POST /reload (default:\n"
    "                          the one in STATE_DIR/http-token, made and printed on the first\n"
    "                          run); a non-loopback --http is refused without one\n"
    "  --http-auth changes|all  which requests need the token: changes (default) or all\n"
    "                          (every read too, but /healthz)\n"
    "  --unsafe                run the app's code without the sandbox (process, file, FFI\n"
    "                          and debug access); logged loudly at start\n"
    "  --no-rollback           start APP.lua even when its last run never ran cleanly\n"
    "                          (by default such a restart starts the last version that did)\n";

static const char *usage_describe = "usage: streamhost describe APP.lua\n"
                                    "\n"
                                    "Prints the app's sources, processors and sinks.\n";

static const char *usage_reset =
    "usage: streamhost reset APP.lua [--state-dir DIR] [--bootstrap HOST:PORT] [--yes]\n"
    "\n"
    "Makes the next run start over, as Kafka Streams' application reset tool:\n"
    "deletes the local state directory, sets the app's consumer group offsets to\n"
    "the beginning of its input topics (the end of its repartition topics) and\n"
    "starts its stores empty past their changelogs' current end. Says what it will\n"
    "do and asks first, unless --yes. Stop every instance of the app before.\n";

static const char *usage_broker =
    "usage: streamhost broker [--port N] [--topic NAME:PARTITIONS]... [--registry]\n"
    "\n"
    "Runs librdkafka's mock cluster as a Kafka-protocol endpoint on loopback.\n"
    "Prints `bootstrap.servers=127.0.0.1:PORT` as its first line and serves until\n"
    "SIGINT or SIGTERM. Limits: data in memory, about 5 MiB kept per partition,\n"
    "no CreateTopics (use --topic; `streamhost replicate` asks it through the\n"
    "__streamhost_create_topics topic instead), no transaction markers.\n"
    "  --registry   also serve a Schema Registry on the broker (its _schemas topic);\n"
    "               prints `schema.registry.url=http://127.0.0.1:PORT` next\n";

static const char *usage_registry =
    "usage: streamhost registry [--port N] [--bootstrap HOST:PORT]\n"
    "\n"
    "Serves Confluent's Schema Registry REST API on 127.0.0.1:PORT (default 8081;\n"
    "0 picks one) for Avro schemas, kept in the `_schemas` topic of the cluster at\n"
    "--bootstrap (default 127.0.0.1:9092), so a restart keeps every id. Prints\n"
    "`schema.registry.url=http://127.0.0.1:PORT` once it serves, until SIGINT or SIGTERM.\n";

static const char *usage_test = "usage: streamhost test [busted args]\n"
                                "\n"
                                "Runs busted under LuaJIT with streamhost's Lua modules and\n"
                                "lib/libstreamhost.so on the paths.\n";

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "streamhost: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (try --help)\n");
    return 2;
}

static bool wants_help(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return true;
    return false;
}

static int check_app_file(const char *path) {
    if (access(path, R_OK) != 0) return usage_error("cannot read app file '%s'", path);
    return 0;
}

static int parse_level(const char *s) {
    const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

static int cmd_run(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        fputs(usage_run, stdout);
        return 0;
    }
    sh_run_options_t o = {0}; /* --http and --state-dir win over the app's settings */
    sh_kv_t sets[argc];
    o.sets = sets;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--bootstrap") == 0 || strcmp(a, "--set") == 0 || strcmp(a, "--log-level") == 0 ||
            strcmp(a, "--state-dir") == 0 || strcmp(a, "--http") == 0 ||
            strcmp(a, "--http-token") == 0 || strcmp(a, "--http-auth") == 0) {
            if (i + 1 >= argc) return usage_error("%s needs a value", a);
            const char *v = argv[++i];
            if (strcmp(a, "--bootstrap") == 0) {
                o.bootstrap = v;
            } else if (strcmp(a, "--state-dir") == 0) {
                if (!*v) return usage_error("%s", "--state-dir needs a directory");
                o.state_dir = v;
            } else if (strcmp(a, "--http") == 0) {
                o.http = v;
            } else if (strcmp(a, "--http-token") == 0) {
                if (!*v) return usage_error("%s", "--http-token needs a token");
                o.http_token = v;
            } else if (strcmp(a, "--http-auth") == 0) {
                if (strcmp(v, "all") != 0 && strcmp(v, "changes") != 0)
                    return usage_error("--http-auth takes 'changes' or 'all', not '%s'", v);
                o.http_auth_all = strcmp(v, "all") == 0;
            } else if (strcmp(a, "--log-level") == 0) {
                if (parse_level(v) < 0) return usage_error("unknown log level '%s'", v);
                sh_log_set_level(parse_level(v));
            } else {
                char *eq = strchr(v, '=');
                if (!eq || eq == v) return usage_error("--set takes key=value, not '%s'", v);
                sets[o.set_count].key = strndup(v, (size_t)(eq - v));
                sets[o.set_count].value = eq + 1;
                o.set_count++;
            }
        } else if (strcmp(a, "--unsafe") == 0) {
            o.unsafe = true;
        } else if (strcmp(a, "--no-rollback") == 0) {
            o.no_rollback = true;
        } else if (a[0] == '-') {
            return usage_error("unknown option '%s' for run", a);
        } else if (!o.app_path) {
            o.app_path = a;
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    if (!o.app_path) return usage_error("%s", "run needs an APP.lua");
    if (check_app_file(o.app_path)) return 2;
    int rc = sh_run(&o);
    for (int i = 0; i < o.set_count; i++) free(sets[i].key);
    return rc;
}

static int cmd_reset(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        fputs(usage_reset, stdout);
        return 0;
    }
    sh_reset_options_t o = {0};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--state-dir") == 0 || strcmp(a, "--bootstrap") == 0) {
            if (i + 1 >= argc || !*argv[i + 1]) return usage_error("%s needs a value", a);
            if (a[2] == 's')
                o.state_dir = argv[++i];
            else
                o.bootstrap = argv[++i];
        } else if (strcmp(a, "--yes") == 0 || strcmp(a, "-y") == 0) {
            o.yes = true;
        } else if (a[0] == '-') {
            return usage_error("unknown option '%s' for reset", a);
        } else if (!o.app_path) {
            o.app_path = a;
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    if (!o.app_path) return usage_error("%s", "reset needs an APP.lua");
    if (check_app_file(o.app_path)) return 2;
    return sh_reset_run(&o);
}

static int cmd_describe(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        fputs(usage_describe, stdout);
        return 0;
    }
    if (argc != 1) return usage_error("%s", "describe takes exactly one APP.lua");
    if (argv[0][0] == '-') return usage_error("unknown option '%s' for describe", argv[0]);
    if (check_app_file(argv[0])) return 2;
    char err[2048];
    sh_vm_t *vm = sh_vm_load(argv[0], NULL, 1, NULL, err, sizeof err);
    if (!vm) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    char *text = sh_vm_describe(vm);
    fputs(text, stdout);
    free(text);
    sh_vm_free(vm);
    return 0;
}

static volatile sig_atomic_t broker_stop;
static void on_broker_signal(int sig) {
    (void)sig;
    broker_stop = 1;
}

static int cmd_broker(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        fputs(usage_broker, stdout);
        return 0;
    }
    int port = 0;
    const char *topics[argc + 1]; /* + 1: a VLA of 0 is undefined */
    int topic_count = 0;
    bool registry = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--registry") == 0) {
            registry = true;
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            char *end;
            long p = strtol(argv[++i], &end, 10);
            if (*end || p <= 0 || p > 65535) return usage_error("--port takes 1..65535, not '%s'", argv[i]);
            port = (int)p;
        } else if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc) {
            const char *t = argv[++i];
            const char *colon = strrchr(t, ':');
            if (!colon || colon == t || atoi(colon + 1) <= 0)
                return usage_error("--topic takes NAME:PARTITIONS, not '%s'", t);
            topics[topic_count++] = t;
        } else {
            return usage_error("unknown argument '%s' for broker", argv[i]);
        }
    }
    char err[512];
    sh_broker_t *broker = sh_broker_start(port, err, sizeof err);
    if (!broker) {
        fprintf(stderr, "streamhost broker: %s\n", err);
        return 1;
    }
    for (int i = 0; i < topic_count; i++) {
        const char *colon = strrchr(topics[i], ':');
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(colon - topics[i]), topics[i]);
        if (sh_broker_create_topic(broker, name, atoi(colon + 1)) != 0) {
            sh_broker_stop(broker);
            return 1;
        }
    }
    struct sigaction sa = {.sa_handler = on_broker_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* the stand-in for CreateTopics (a replicator makes topics this way) */
    sh_create_requests_t *requests = sh_create_requests_serve(broker, err, sizeof err);
    if (!requests) fprintf(stderr, "streamhost broker: topic creation requests: %s\n", err);
    sh_registry_t *reg = NULL;
    if (registry) {
        sh_broker_create_topic(broker, "_schemas", 1);
        if (!(reg = sh_registry_start("127.0.0.1:0", sh_broker_bootstraps(broker), err,
                                      sizeof err))) {
            fprintf(stderr, "streamhost broker: schema registry: %s\n", err);
            sh_create_requests_stop(requests);
            sh_broker_stop(broker);
            return 1;
        }
    }
    printf("bootstrap.servers=%s\n", sh_broker_bootstraps(broker));
    if (reg) printf("schema.registry.url=%s\n", sh_registry_url(reg));
    fflush(stdout);
    while (!broker_stop) pause();
    sh_create_requests_stop(requests);
    sh_registry_stop(reg);
    sh_broker_stop(broker);
    return 0;
}

static int cmd_registry(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        fputs(usage_registry, stdout);
        return 0;
    }
    long port = 8081;
    const char *bootstrap = "127.0.0.1:9092";
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            char *end;
            port = strtol(argv[++i], &end, 10);
            if (*end || !*argv[i] || port < 0 || port > 65535)
                return usage_error("--port takes 0..65535, not '%s'", argv[i]);
        } else if (strcmp(argv[i], "--bootstrap") == 0 && i + 1 < argc && *argv[i + 1]) {
            bootstrap = argv[++i];
        } else {
            return usage_error("unknown argument '%s' for registry", argv[i]);
        }
    }
    char address[32], err[512];
    snprintf(address, sizeof address, "127.0.0.1:%ld", port);
    sh_registry_t *reg = sh_registry_start(address, bootstrap, err, sizeof err);
    if (!reg) {
        fprintf(stderr, "streamhost registry: %s\n", err);
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_broker_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("schema.registry.url=%s\n", sh_registry_url(reg));
    fflush(stdout);
    while (!broker_stop) pause();
    sh_registry_stop(reg);
    return 0;
}

static int cmd_test(int argc, char **argv) {
    if (argc == 1 && wants_help(argc, argv)) {
        fputs(usage_test, stdout);
        return 0;
    }
    const char *lua_dir = sh_vm_lua_dir();
    char path[PATH_MAX * 2 + 64], lib[PATH_MAX + 64];
    const char *old = getenv("LUA_PATH");
    snprintf(path, sizeof path, "%s/?.lua;%s/?/init.lua;./?.lua;%s", lua_dir, lua_dir,
             old ? old : ";;");
    setenv("LUA_PATH", path, 1);
    snprintf(lib, sizeof lib, "%s/../lib/libstreamhost.so", lua_dir);
    if (!getenv("STREAMHOST_LIB")) setenv("STREAMHOST_LIB", lib, 1);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0 && !getenv("STREAMHOST_BIN")) {
        exe[n] = 0;
        setenv("STREAMHOST_BIN", exe, 1);
    }
    char *args[argc + 3];
    args[0] = "busted";
    args[1] = "--lua=luajit";
    for (int i = 0; i < argc; i++) args[i + 2] = argv[i];
    args[argc + 2] = NULL;
    execvp("busted", args);
    fprintf(stderr, "streamhost test: cannot run busted (install lua-busted): %m\n");
    return 2;
}

static const char *usage_connect =
    "usage: streamhost connect [--port N] [--bootstrap HOST:PORT] [--state-dir DIR]\n"
    "\n"
    "A Kafka Connect worker with Connect's REST API (default port 18083): POST /connectors\n"
    "with a connector's JSON runs it as a streamhost app (examples/connect/connector.lua).\n"
    "  --bootstrap HOST:PORT   the cluster the connectors use (default 127.0.0.1:9092)\n"
    "  --state-dir DIR         connectors' logs and local state (default .streamhost/connect);\n"
    "                          configs, statuses and offsets are in connect-configs,\n"
    "                          connect-status and connect-offsets on the cluster\n";

/* Runs lua/streamhost/connect_worker.lua under LuaJIT with streamhost's Lua
 * path; the worker starts each connector as `streamhost run` of
 * examples/connect/connector.lua, so the paths of both are set here. */
static int cmd_connect(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        fputs(usage_connect, stdout);
        return 0;
    }
    const char *lua_dir = sh_vm_lua_dir();
    char path[PATH_MAX * 2 + 64], worker[PATH_MAX + 64], app[PATH_MAX + 64];
    const char *old = getenv("LUA_PATH");
    snprintf(path, sizeof path, "%s/?.lua;%s/?/init.lua;%s", lua_dir, lua_dir, old ? old : ";;");
    setenv("LUA_PATH", path, 1);
    snprintf(worker, sizeof worker, "%s/streamhost/connect_worker.lua", lua_dir);
    snprintf(app, sizeof app, "%s/../examples/connect/connector.lua", lua_dir);
    setenv("STREAMHOST_CONNECTOR_APP", app, 1);
    /* the worker keeps its state in Kafka through the core (connect_store.lua) */
    char lib[PATH_MAX + 64];
    snprintf(lib, sizeof lib, "%s/../lib/libstreamhost.so", lua_dir);
    if (!getenv("STREAMHOST_LIB")) setenv("STREAMHOST_LIB", lib, 1);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        fprintf(stderr, "streamhost connect: cannot find its own executable: %m\n");
        return 1;
    }
    exe[n] = 0;
    setenv("STREAMHOST_BIN", exe, 1);
    char *args[argc + 3];
    args[0] = "luajit";
    args[1] = worker;
    for (int i = 0; i < argc; i++) args[i + 2] = argv[i];
    args[argc + 2] = NULL;
    execvp("luajit", args);
    fprintf(stderr, "streamhost connect: cannot run luajit: %m\n");
    return 2;
}

static int cmd_version(void) {
    printf("streamhost %s\nlibrdkafka %s\n%s\n", SH_VERSION, rd_kafka_version_str(), LUAJIT_VERSION);
    return 0;
}

/* A connector started by `streamhost connect` (STREAMHOST_CONNECT_WORKER
 * names the worker's pid) gets SIGTERM when the worker dies, even by
 * SIGKILL, so a restarted worker never runs a second copy beside it. */
static void stop_with_worker(void) {
    const char *worker = getenv("STREAMHOST_CONNECT_WORKER");
    if (!worker || !*worker) return;
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    /* the worker may have died before the prctl */
    if (getppid() != (pid_t)atol(worker)) raise(SIGTERM);
}

int main(int argc, char **argv) {
    stop_with_worker();
    if (argc < 2) {
        fputs(usage_main, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (strcmp(cmd, "run") == 0) return cmd_run(argc - 2, argv + 2);
    if (strcmp(cmd, "describe") == 0) return cmd_describe(argc - 2, argv + 2);
    if (strcmp(cmd, "reset") == 0) return cmd_reset(argc - 2, argv + 2);
    if (strcmp(cmd, "broker") == 0) return cmd_broker(argc - 2, argv + 2);
    if (strcmp(cmd, "replicate") == 0) return sh_replicator_command(argc - 2, argv + 2);
    if (strcmp(cmd, "registry") == 0) return cmd_registry(argc - 2, argv + 2);
    if (strcmp(cmd, "test") == 0) return cmd_test(argc - 2, argv + 2);
    if (strcmp(cmd, "connect") == 0) return cmd_connect(argc - 2, argv + 2);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) return cmd_version();
    return usage_error("unknown command '%s'", cmd);
}
