# streamhost: `make` builds bin/streamhost and lib/libstreamhost.so from the
# same objects; `make test` installs what is missing and runs every test (C
# tests plain and under AddressSanitizer + UndefinedBehaviorSanitizer, lint,
# specs, and integration specs against an ASan build of the host); `make
# demo` runs the workshop's supply-and-demand loop (scripts/demo.sh).

CC ?= cc
PKGS := luajit rdkafka libmariadb avro-c libcurl jansson
CFLAGS ?= -O2 -g
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fPIC \
          -Iruntime/include -Iruntime $(shell pkg-config --cflags $(PKGS) libmariadb 2>/dev/null)
LDLIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) \
          $(shell pkg-config --libs libmariadb 2>/dev/null || echo -lmariadb) \
          -lrocksdb -lmicrohttpd -lsimdjson -lstdc++ -lpthread -lm -ldl
# C++ only where a library is C++ (serde/json.cc wraps simdjson in C calls).
CXX ?= c++
CXXFLAGS ?= -O2 -g
override CXXFLAGS += -std=c++17 -D_GNU_SOURCE -Wall -Wextra -Werror -fPIC -fno-exceptions \
          -Iruntime/include -Iruntime

# runtime/ is grouped by layer (base, engine, state, kafka, mysql, http, serde, registry, cli); each
# folder's *_test.c are its C tests, built against the core objects.
TEST_SRC := $(wildcard runtime/*/*_test.c)
CORE_SRC := $(filter-out runtime/cli/main.c $(TEST_SRC),$(wildcard runtime/*/*.c))
CORE_CXX_SRC := $(wildcard runtime/*/*.cc)
# BUILD: where objects and C tests go (build/asan for the sanitizer build).
BUILD ?= build
CORE_OBJ := $(CORE_SRC:runtime/%.c=$(BUILD)/%.o) $(CORE_CXX_SRC:runtime/%.cc=$(BUILD)/%.o)
HEADERS := $(wildcard runtime/*/*.h runtime/include/*.h)
C_TESTS := $(TEST_SRC:runtime/%.c=$(BUILD)/%)
SANITIZE := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
            -fno-sanitize-recover=undefined

.PHONY: FORCE asan-link test-lua-sanitized chaos all deps test test-c test-c-sanitized test-lua demo bench format format-check lint clean fuzz

all: bin/streamhost lib/libstreamhost.so lua/streamhost/cdefs.lua

$(BUILD)/%.o: runtime/%.c $(HEADERS)
	@mkdir -p $(@D) bin lib
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/%.o: runtime/%.cc $(HEADERS)
	@mkdir -p $(@D) bin lib
	$(CXX) $(CXXFLAGS) -c -o $@ $<

# -rdynamic: LuaJIT's ffi.C resolves sh_ffi_* in the host executable itself.
bin/streamhost: $(BUILD)/cli/main.o $(CORE_OBJ)
	$(CC) $(LDFLAGS) -rdynamic -o $@ $^ $(LDLIBS)

# The host built with ASan and UBSan, for specs that run it as a separate
# process (make test-lua-sanitized); objects from build/asan.
bin/streamhost-asan: FORCE
	$(MAKE) BUILD=build/asan CFLAGS="$(SANITIZE)" CXXFLAGS="$(SANITIZE)" LDFLAGS="$(SANITIZE)" \
	  asan-link

asan-link: $(BUILD)/cli/main.o $(CORE_OBJ)
	$(CC) $(LDFLAGS) -rdynamic -o bin/streamhost-asan $^ $(LDLIBS)

lib/libstreamhost.so: $(CORE_OBJ)
	$(CC) $(LDFLAGS) -shared -o $@ $^ $(LDLIBS)

lua/streamhost/cdefs.lua: runtime/include/streamhost_ffi.h scripts/gen-cdefs.sh
	scripts/gen-cdefs.sh $< $@

# -rdynamic: a test that loads an app (vm_test) resolves sh_ffi_* in itself.
$(BUILD)/%_test: runtime/%_test.c $(CORE_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -rdynamic -o $@ $^ $(LDLIBS)

deps:
	@scripts/install-deps.sh

# MySQL specs run against a private MariaDB (scripts/mariadb.sh), started here
# and left running for the next run; `scripts/mariadb.sh stop` ends it.
test: deps
	$(MAKE) all
	scripts/mariadb.sh start
	$(MAKE) lint test-c test-c-sanitized test-lua test-lua-sanitized

test-c: $(C_TESTS) lua/streamhost/cdefs.lua
	@set -e; for t in $(C_TESTS); do echo "== $$t"; $$t; done

# The same C tests built with ASan and UBSan: a leak, a double free or
# undefined behaviour fails the run.
test-c-sanitized:
	$(MAKE) BUILD=build/asan CFLAGS="$(SANITIZE)" CXXFLAGS="$(SANITIZE)" test-c

test-lua: all
	luacheck --quiet lua spec examples bench
	bin/streamhost test spec

# Integration specs whose host runs threads, restores, reloads, crashes and
# the MySQL and Avro paths, against bin/streamhost-asan (a few minutes; the
# whole of spec/integration takes about 20). broker_faults_spec is left out:
# the mock cluster derives its id from heap addresses, which ASan's
# allocator repeats from one process to the next, so two brokers look like
# one cluster.
SANITIZED_SPECS ?= spec/integration/threads_spec.lua spec/integration/restore_crash_spec.lua \
  spec/integration/reload_spec.lua spec/integration/at_least_once_spec.lua \
  spec/integration/avro_spec.lua spec/integration/mysql_cdc_spec.lua \
  spec/integration/refused_commit_spec.lua
test-lua-sanitized: all bin/streamhost-asan
	scripts/sanitized-specs.sh $(SANITIZED_SPECS)

demo: deps
	$(MAKE) all
	scripts/demo.sh

bench: deps
	$(MAKE) all
	QUICK=$(QUICK) bench/run.sh

# The reliability scenarios against the real binary (loopback, a few minutes).
chaos: deps
	$(MAKE) all
	/usr/bin/python3 chaos/chaos.py

format:
	clang-format -i runtime/*/*.c runtime/*/*.h runtime/include/*.h bench/*.c

format-check:
	clang-format --dry-run --Werror runtime/*/*.c runtime/*/*.h runtime/include/*.h bench/*.c

lint:
	scripts/check-layers.sh
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance -Iruntime -Iruntime/include runtime
	luacheck lua spec examples bench

clean:
	rm -rf build bin lib lua/streamhost/cdefs.lua

# libFuzzer over the Avro decoder and schema compiler under ASan/UBSan:
# `make fuzz FUZZ_SECONDS=300`; findings land in build/fuzz/.
FUZZ_SECONDS ?= 300
FUZZ_SRC := runtime/serde/fuzz/avro_decode_fuzz.c runtime/serde/avro_decode.c \
            runtime/serde/avro_schema.c runtime/serde/avro_logical.c
build/fuzz/avro_decode_fuzz: $(FUZZ_SRC) $(HEADERS)
	@mkdir -p build/fuzz/corpus
	clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=undefined -Iruntime/include -Iruntime -o $@ $(FUZZ_SRC) -lavro -ljansson

fuzz: build/fuzz/avro_decode_fuzz
	cd build/fuzz && ./avro_decode_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	  -timeout=10 -rss_limit_mb=2048 corpus
