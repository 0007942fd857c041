/*
 * vm_test.c - loading an app into a VM: the settings the host reads from it
 * (sh_vm_state_dir, sh_vm_http), a refused setting named at its line, and
 * the sandbox app code runs in unless --unsafe.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/vm.h"

#include "base/check.h"

/* Writes an app whose sh.app table holds `settings`; returns its path. */
static char *write_app(const char *settings) {
    char *path = strdup("/tmp/streamhost-vm-test-XXXXXX.lua");
    int fd = mkstemps(path, 4);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        perror("vm_test: cannot write an app");
        exit(1);
    }
    fprintf(f,
            "local sh = require 'streamhost'\n"
            "return sh.app {\n"
            "  id = 'vm-test',%s\n"
            "  topology = function(b) b:stream('in', { key = 'string', value = 'json' }) end,\n"
            "}\n",
            settings);
    fclose(f);
    return path;
}

static sh_vm_t *load(const char *path, char *err, size_t errlen) {
    return sh_vm_load(path, NULL, 1, "/tmp", err, errlen);
}

static void test_settings_read(void) {
    char err[1024] = "";
    char *path = write_app(" state_dir = '/var/lib/clicks', http = '127.0.0.1:0',");
    sh_vm_t *vm = load(path, err, sizeof err);
    CHECK(vm != NULL);
    if (!vm) fprintf(stderr, "  %s\n", err);
    CHECK(vm && strcmp(sh_vm_state_dir(vm), "/var/lib/clicks") == 0);
    CHECK(vm && strcmp(sh_vm_http(vm), "127.0.0.1:0") == 0);
    sh_vm_free(vm);
    unlink(path);
    free(path);

    path = write_app(" http = 'off',");
    vm = load(path, err, sizeof err);
    CHECK(vm && sh_vm_state_dir(vm) == NULL);
    CHECK(vm && strcmp(sh_vm_http(vm), "off") == 0);
    sh_vm_free(vm);
    unlink(path);
    free(path);
}

static void test_settings_absent(void) {
    char err[1024] = "";
    char *path = write_app("");
    sh_vm_t *vm = load(path, err, sizeof err);
    CHECK(vm && sh_vm_state_dir(vm) == NULL && sh_vm_http(vm) == NULL);
    CHECK(vm && strcmp(sh_vm_app_id(vm), "vm-test") == 0);
    sh_vm_free(vm);
    unlink(path);
    free(path);
}

/* A malformed or unknown setting fails the load with the app file's name and
 * a line of its sh.app { ... }. */
static void test_settings_refused(void) {
    const char *bad[] = {" http = 'localhost',", " state_dir = '',", " stat_dir = '/tmp',"};
    const char *said[] = {"http must be \"HOST:PORT\"", "state_dir must name a directory",
                          "unknown setting 'stat_dir'"};
    for (int i = 0; i < 3; i++) {
        char err[1024] = "";
        char *path = write_app(bad[i]);
        sh_vm_t *vm = load(path, err, sizeof err);
        CHECK(vm == NULL);
        char where[256];
        snprintf(where, sizeof where, "%s:", path);
        CHECK(strncmp(err, where, strlen(where)) == 0 && strstr(err, said[i]) != NULL);
        if (!strstr(err, said[i])) fprintf(stderr, "  got: %s\n", err);
        sh_vm_free(vm);
        unlink(path);
        free(path);
    }
}

/* App code runs sandboxed unless sh_vm_set_unsafe(true) (run --unsafe): a
 * file access is refused at the app's line. */
static void test_sandbox(void) {
    char err[1024] = "";
    char *path = write_app(" state_dir = tostring(io.open('/etc/hostname') ~= nil),");
    CHECK(!sh_vm_unsafe());
    sh_vm_t *vm = load(path, err, sizeof err);
    CHECK(vm == NULL);
    char where[256];
    snprintf(where, sizeof where, "%s:3: io is not available", path);
    CHECK(strncmp(err, where, strlen(where)) == 0);
    if (strncmp(err, where, strlen(where)) != 0) fprintf(stderr, "  got: %s\n", err);
    sh_vm_free(vm);

    sh_vm_set_unsafe(true);
    vm = load(path, err, sizeof err);
    CHECK(vm != NULL);
    CHECK(vm && sh_vm_state_dir(vm) && strcmp(sh_vm_state_dir(vm), "true") == 0);
    sh_vm_free(vm);
    sh_vm_set_unsafe(false);
    unlink(path);
    free(path);
}

int main(void) {
    /* run from the repository's root, as `make test-c` does */
    setenv("STREAMHOST_LUA_DIR", "lua", 0);
    test_settings_read();
    test_settings_absent();
    test_settings_refused();
    test_sandbox();
    return check_summary("vm_test");
}
