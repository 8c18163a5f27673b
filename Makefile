# moscow-time. `make run` serves http://127.0.0.1:8080/, `make test` runs every
# test; both install the Debian packages they need first. See README.md.

VERSION   := $(shell cat fcgi-app/VERSION)
# The commit built, for moscow_time_build_info: 12 hex digits, -dirty when
# tracked files differ from it. scripts/image.sh labels the image with the
# same (make print-commit) and passes it to the build in the image.
COMMIT    ?= $(shell if c=$$(git rev-parse --short=12 HEAD 2>/dev/null); then \
               git diff --quiet HEAD -- 2>/dev/null || c=$$c-dirty; echo $$c; else echo unknown; fi)
BUILD     ?= build
CC        ?= cc
CFLAGS    ?= -O2
WARN      := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
             -Wmissing-prototypes -Wformat=2
HARDEN    := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
ALL_CFLAGS = $(WARN) $(HARDEN) $(CFLAGS) -DMT_VERSION='"$(VERSION)"' -DMT_COMMIT='"$(COMMIT)"' -I/usr/include/iniparser
LDFLAGS   ?= -pie -Wl,-z,relro,-z,now
LIBS      := -lfcgi -liniparser -lcurl -lpthread

SRC      := $(wildcard fcgi-app/src/*.c)
LIB_SRC  := $(filter-out fcgi-app/src/main.c,$(SRC))
HDR      := $(wildcard fcgi-app/src/*.h)
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# libFuzzer harnesses: tests/fuzz/NAME/fuzz.c (with its seed corpus in
# tests/fuzz/NAME/corpus/) becomes build/fuzz/NAME. A new harness needs only
# its directory; tests/fuzz/run.sh runs every one.
FUZZ_CC      ?= clang-14
FUZZ_SAN     := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                -fno-omit-frame-pointer -g -O1
FUZZERS      := $(patsubst tests/fuzz/%/fuzz.c,%,$(wildcard tests/fuzz/*/fuzz.c))
FUZZ_SECONDS ?= 300
# (clang, unlike gcc, asks for a format attribute on every vsnprintf wrapper;
# the gcc build keeps -Wformat=2 whole.)

.PHONY: all build deps run test unit integration lint browser chart format bench image \
        test-image clean fuzz fuzz-build test-asan test-tsan print-commit

all: build
build: $(BUILD)/moscow-time

$(BUILD)/moscow-time: $(SRC) $(HDR) fcgi-app/VERSION
	@scripts/install-deps.sh check build
	@mkdir -p $(BUILD)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(SRC) $(LIBS)

# The responder with AddressSanitizer and UBSan: the integration tests can run it.
$(BUILD)/moscow-time-asan: $(SRC) $(HDR) fcgi-app/VERSION
	@mkdir -p $(BUILD)
	$(CC) $(ALL_CFLAGS) $(SAN) -O1 -g $(LDFLAGS) -o $@ $(SRC) $(LIBS)

# The responder and the unit tests with ThreadSanitizer (make test-tsan).
TSAN := -fsanitize=thread -fno-omit-frame-pointer -O1 -g
$(BUILD)/moscow-time-tsan: $(SRC) $(HDR) fcgi-app/VERSION
	@mkdir -p $(BUILD)
	$(CC) $(ALL_CFLAGS) $(TSAN) $(LDFLAGS) -o $@ $(SRC) $(LIBS)

$(BUILD)/unit-tests-tsan: $(LIB_SRC) $(HDR) $(wildcard tests/unit/*.c tests/unit/*.h)
	@mkdir -p $(BUILD)
	$(CC) $(ALL_CFLAGS) $(TSAN) -iquote fcgi-app/src $(LDFLAGS) -o $@ \
		$(wildcard tests/unit/*.c) $(LIB_SRC) $(LIBS) -lcmocka

# The responder without its check for changes made to the counter file from
# outside: only `make bench` runs it, to measure what that check costs.
$(BUILD)/moscow-time-nocheck: $(SRC) $(HDR) fcgi-app/VERSION
	@mkdir -p $(BUILD)
	$(CC) $(ALL_CFLAGS) -DMT_BENCH_NO_OUTSIDE_CHECK $(LDFLAGS) -o $@ $(SRC) $(LIBS)

# A FastCGI responder that does nothing: `make bench` measures nginx's own
# FastCGI path with it, the floor under any responder's GET /.
$(BUILD)/null-responder: scripts/null-responder.c
	@mkdir -p $(BUILD)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< -lpthread

# Unit tests link the modules directly, under the sanitizers.
$(BUILD)/unit-tests: $(LIB_SRC) $(HDR) $(wildcard tests/unit/*.c tests/unit/*.h)
	@mkdir -p $(BUILD)
	$(CC) $(ALL_CFLAGS) $(SAN) -O1 -g -iquote fcgi-app/src $(LDFLAGS) -o $@ \
		$(wildcard tests/unit/*.c) $(LIB_SRC) $(LIBS) -lcmocka

# Other .c and .h files in a harness's folder (negotiate_diff's reference parser)
# are built with it.
.SECONDEXPANSION:
$(BUILD)/fuzz/%: tests/fuzz/%/fuzz.c $$(wildcard tests/fuzz/$$*/*.[ch]) tests/fuzz/common.c \
		tests/fuzz/fuzz.h $(LIB_SRC) $(HDR)
	@mkdir -p $(BUILD)/fuzz
	$(FUZZ_CC) $(WARN) -Wno-format-nonliteral $(FUZZ_SAN) -DMT_VERSION='"$(VERSION)"' \
		-I/usr/include/iniparser -iquote fcgi-app/src -Itests/fuzz -Itests/fuzz/$* -o $@ \
		$(wildcard tests/fuzz/$*/*.c) tests/fuzz/common.c \
		$(LIB_SRC) $(LIBS)

fuzz-build: $(addprefix $(BUILD)/fuzz/,$(FUZZERS))

# Each harness for FUZZ_SECONDS (default 300), one after the other, niced.
fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh

deps:
	scripts/install-deps.sh run

run: deps build
	scripts/run.sh

# scripts/test.sh ends with the line "N passed, N failed". make would print
# "make: *** [Makefile: test] Error 1" after it, so on a failure the recipe
# ends make itself with SIGPIPE, which make does not report and shells do not
# announce: the summary stays the last line and make exits 141 (with SIGPIPE
# ignored, the kill does nothing and make reports Error 1 as usual).
TEST_SH = scripts/test.sh $(1) || { kill -PIPE $$PPID; exit 1; }

test:
	@scripts/install-deps.sh test
	@$(call TEST_SH)

# One suite each, with the same closing line (scripts/test.sh SUITE).
lint unit integration browser chart:
	@scripts/install-deps.sh test
	@$(call TEST_SH,$@)

bench: deps build $(BUILD)/moscow-time-nocheck $(BUILD)/null-responder
	scripts/install-deps.sh bench
	BENCH_BASELINE=$(BASELINE) scripts/bench.py

# The container image (Dockerfile): docker when an engine answers, else podman.
image:
	scripts/install-deps.sh image
	scripts/image.sh build

# The integration suite once more, against the responder built with ASan and
# UBSan: a responder stops at its first report, and a test whose responder
# printed one fails (tests/conftest.py). .ci/run calls it.
test-asan:
	scripts/install-deps.sh test
	$(MAKE) -s $(BUILD)/moscow-time-asan
	@env MOSCOW_TIME_BIN="$(abspath $(BUILD)/moscow-time-asan)" \
		ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 $(call TEST_SH,integration)

# ThreadSanitizer: the unit tests, and the integration tests that keep every thread
# busy at once (tests/integration/test_threads.py: every sync mode, reloads, outside
# changes to the counter file, a peer) against the responder built with it; any
# report fails. .ci/run calls it.
test-tsan:
	scripts/install-deps.sh test
	$(MAKE) -s $(BUILD)/moscow-time $(BUILD)/unit-tests-tsan $(BUILD)/moscow-time-tsan
	@$(call TEST_SH,tsan tsan-load)

# Builds the image and runs it: a separate suite because it needs podman and
# a few minutes; .ci/run calls it too.
test-image:
	@scripts/install-deps.sh image
	@$(call TEST_SH,image)

print-commit:
	@echo $(COMMIT)

format:
	clang-format -i $(SRC) $(HDR) $(wildcard tests/unit/*.c tests/unit/*.h tests/fuzz/*.[ch] \
		tests/fuzz/*/*.c)

clean:
	rm -rf $(BUILD)
