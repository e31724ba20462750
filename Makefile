# cove build. `make` builds the release binary build/cove; `make test`
# installs what is missing, builds the sanitizer build and runs every test;
# `make run` installs, builds and starts cove on its embedded defaults.

CC      ?= cc
PKGS    := libmicrohttpd jansson sqlite3 libcurl librhonabwy gnutls nettle libargon2 libseccomp libarchive
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter \
           -Wshadow -Wformat=2 -Wstrict-prototypes -Wno-missing-field-initializers
REL_CFLAGS := $(WARN) -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
DBG_CFLAGS := $(WARN) -O1 -g -fno-omit-frame-pointer \
           -fsanitize=address,undefined -fno-sanitize-recover=undefined
LIBS    = $(PKG_LIBS) -lpthread -lm -ldl

SRC     := $(sort $(wildcard src/core/*.c src/db/*.c src/http/*.c src/auth/*.c src/files/*.c \
			   src/jobs/*.c src/exec/*.c src/registry/*.c src/cli/*.c))
ASM     := src/http/embed.S
MAIN    := src/main.c
EMBED   := docs/openapi.json

# The portal: web/ is built by esbuild (web/node_modules, installed by
# scripts/deps.sh from web/package-lock.json) into build/web, whose
# generated table and assembly embed it into the binary.
WEB_SRC := $(shell find web/src -type f 2>/dev/null) web/build.mjs web/package-lock.json
WEB_GEN := build/web/portal_assets.c build/web/portal_assets.S

REL_OBJ := $(SRC:%.c=build/rel/%.o) $(ASM:%.S=build/rel/%.o) \
	   build/rel/web/portal_assets.o build/rel/web/portal_assets_S.o
DBG_OBJ := $(SRC:%.c=build/dbg/%.o) $(ASM:%.S=build/dbg/%.o) \
	   build/dbg/web/portal_assets.o build/dbg/web/portal_assets_S.o

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=build/dbg/tests/%)

.PHONY: all debug test unit integration browser run deps clean format bench fuzz fuzz-build
all: build/cove

deps:
	@bash scripts/deps.sh

build/cove: $(REL_OBJ) build/rel/src/main.o
	$(CC) -pie -o $@ $^ $(LIBS)

build/debug/cove: $(DBG_OBJ) build/dbg/src/main.o
	@mkdir -p $(dir $@)
	$(CC) -fsanitize=address,undefined -o $@ $^ $(LIBS)

build/rel/%.o: %.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) $(PKG_CFLAGS) -Isrc -c -o $@ $<

build/dbg/%.o: %.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(DBG_CFLAGS) $(PKG_CFLAGS) -Isrc -c -o $@ $<

# one run of build.mjs writes both (a grouped target: with ".S: .c" and no
# recipe, make did not see the .S change and linked the new table with the
# old bytes, serving an index.html whose scripts were missing)
build/web/portal_assets.c build/web/portal_assets.S &: $(WEB_SRC)
	@test -d web/node_modules || { echo "web/node_modules is missing: run scripts/deps.sh (make deps)" >&2; exit 1; }
	node web/build.mjs build/web

build/rel/web/portal_assets.o: build/web/portal_assets.c src/http/http.h
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) $(PKG_CFLAGS) -Isrc -c -o $@ $<
build/dbg/web/portal_assets.o: build/web/portal_assets.c src/http/http.h
	@mkdir -p $(dir $@)
	$(CC) $(DBG_CFLAGS) $(PKG_CFLAGS) -Isrc -c -o $@ $<
build/rel/web/portal_assets_S.o build/dbg/web/portal_assets_S.o: build/web/portal_assets.S
	@mkdir -p $(dir $@)
	$(CC) -c -o $@ $<

build/rel/%.o: %.S $(EMBED)
	@mkdir -p $(dir $@)
	$(CC) -c -o $@ $<

build/dbg/%.o: %.S $(EMBED)
	@mkdir -p $(dir $@)
	$(CC) -c -o $@ $<

build/dbg/tests/%: tests/unit/%.c $(DBG_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(DBG_CFLAGS) $(PKG_CFLAGS) -Isrc -o $@ $< $(DBG_OBJ) $(LIBS) -lcmocka

debug: build/debug/cove

unit: $(UNIT_BIN) build/debug/cove
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; COVE_BIN=$(CURDIR)/build/debug/cove $$t; done

integration: build/debug/cove
	COVE_BIN=$(CURDIR)/build/debug/cove /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration

# The portal in Debian's Chromium (playwright-core), against the sanitizer
# build; screenshots land in build/browser/. Bounded: 15 minutes at most.
browser: build/debug/cove
	cd tests/browser && COVE_BIN=$(CURDIR)/build/debug/cove timeout 900 \
		node --test --test-concurrency=1 --test-timeout=180000 *.test.mjs

# libFuzzer harnesses (tests/fuzz/fuzz_*.c): the same objects as the
# server, built by clang with the fuzzer's coverage and ASan/UBSan, linked
# with each harness (clang also flags the vprintf wrappers gcc accepts:
# -Wno-format-nonliteral, and "executing " EXEC_BWRAP: -Wno-string-concatenation). `make fuzz` runs each for FUZZ_SECONDS on a copy of its
# seed corpus (build/fuzz/corpus/<name>; libFuzzer's output in
# build/fuzz/<name>.log) and fails on the first crash, leak or timeout.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_CFLAGS  := $(WARN) -Wno-format-nonliteral -Wno-string-concatenation -O1 -g -fno-omit-frame-pointer \
		-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/bin/%)
FUZZ_OBJ := $(SRC:%.c=build/fuzz/%.o) $(ASM:%.S=build/dbg/%.o) \
	    build/fuzz/web/portal_assets.o build/dbg/web/portal_assets_S.o

build/fuzz/%.o: %.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(PKG_CFLAGS) -Isrc -c -o $@ $<
build/fuzz/web/portal_assets.o: build/web/portal_assets.c src/http/http.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(PKG_CFLAGS) -Isrc -c -o $@ $<
build/fuzz/bin/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) -Isrc -Itests/fuzz -o $@ $< \
		$(FUZZ_OBJ) $(LIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: deps
	$(MAKE) fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh $(FUZZ_BIN)

test: deps
	$(MAKE) build/debug/cove build/cove $(UNIT_BIN)
	$(MAKE) unit
	$(MAKE) integration
	$(MAKE) browser

run: deps
	$(MAKE) build/cove
	./build/cove serve

# The tree has no .clang-format yet: without one, clang-format would rewrite
# every file in LLVM's style (2-space indents), not ours.
format:
	@test -f .clang-format || { echo "no .clang-format at the root: refusing to reformat the tree in clang-format's default style" >&2; exit 1; }
	clang-format -i $(SRC) $(MAIN) $(wildcard src/*/*.h) $(UNIT_SRC)

clean:
	rm -rf build
