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

REL_OBJ := $(SRC:%.c=build/rel/%.o) $(ASM:%.S=build/rel/%.o)
DBG_OBJ := $(SRC:%.c=build/dbg/%.o) $(ASM:%.S=build/dbg/%.o)

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=build/dbg/tests/%)

.PHONY: all debug test unit integration run deps clean format bench
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

test: deps
	$(MAKE) build/debug/cove build/cove $(UNIT_BIN)
	$(MAKE) unit
	$(MAKE) integration

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
