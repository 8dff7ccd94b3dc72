# linxuser build. Lua is found with pkg-config; override LUA_VERSION
# (5.4, 5.3, 5.2, 5.1, jit), LUA_INCDIR, LUA_LIBS, PREFIX, DESTDIR.
LUA_VERSION ?= 5.4
ifeq ($(LUA_VERSION),jit)
LUA_PC ?= luajit
LUA ?= luajit
else
LUA_PC ?= lua$(LUA_VERSION)
LUA ?= lua$(LUA_VERSION)
endif
LUA_INCDIR ?=
LUA_CFLAGS ?= $(if $(LUA_INCDIR),-I$(LUA_INCDIR),$(shell pkg-config --cflags $(LUA_PC) 2>/dev/null))
LUA_LIBS ?= $(shell pkg-config --libs $(LUA_PC) 2>/dev/null)

PREFIX ?= /usr/local
DESTDIR ?=
LUA_ABI := $(if $(filter jit,$(LUA_VERSION)),5.1,$(LUA_VERSION))
INSTALL_CMOD ?= $(PREFIX)/lib/lua/$(LUA_ABI)
INSTALL_LMOD ?= $(PREFIX)/share/lua/$(LUA_ABI)
INSTALL_BIN ?= $(PREFIX)/bin
INSTALL_MAN ?= $(PREFIX)/share/man/man1

.DEFAULT_GOAL := all
BUILD ?= build/$(LUA_VERSION)
CC ?= cc
OPT ?= -O2 -g
CFLAGS ?= $(OPT)
WARN := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
# Hidden by default: each module exports only its luaopen_* (src/linx.h).
ALL_CFLAGS := $(WARN) -fPIC -fvisibility=hidden $(CFLAGS) $(EXTRA_CFLAGS) $(LUA_CFLAGS)
LDFLAGS ?=
SHARED := -shared

CORE_SRC := src/idmap.c src/decimal.c src/procfs.c src/lerror.c src/errname.c
# linxuser beyond the single-line map: subordinate ids, newuidmap/newgidmap, translation.
IDS_SRC := src/linxuser_ids.c src/lroute.c src/subid.c src/idtrans.c src/idhelper.c
# The module on top; linxuser.c and linxuser_ids.c side by side (never
# calling each other); lmaps.c below both (spec/layers_spec.lua); ltarget.c
# (a verb's target) below linxuser.c and lroute.c (setup_maps).
USER_SRC := src/linxuser_module.c src/linxuser.c src/lmaps.c src/ltarget.c $(IDS_SRC) $(CORE_SRC)
PROC_SRC := src/process.c src/process_nb.c src/spawn_opts.c src/keeper_host.c src/block.c src/lerror.c src/errname.c \
	src/spawn_policy.c src/output_limit.c src/spawn_idmap.c src/spawn_net.c src/idmapped.c src/idmap.c src/decimal.c \
	src/spawn_sandbox.c
HEADERS := $(wildcard src/*.h)

# The keeper and the workload run in the host's memory on the host
# thread's TLS: their unit is built freestanding, with no stack protector
# (its canary lives in the TLS) and no sanitizer, and must not call libc
# (tools/child-check fails on any undefined symbol or TLS access).
CHILD_OBJ := $(BUILD)/child.o
CHILD_CFLAGS := $(WARN) -fPIC -fvisibility=hidden $(OPT) -ffreestanding -fno-builtin -fno-stack-protector \
	$(if $(findstring clang,$(CC)),,-fno-tree-loop-distribute-patterns)
# Three units (the keeper and workload, the inside steps, a map helper's
# go-between), linked into one relocatable object that tools/child-check
# inspects whole.
CHILD_HDRS := src/child.h src/child_inside.h src/child_helper.h src/child_sys.h src/clonevm.h src/protocol.h src/sigstatus.h \
	src/child_policy.h src/child_net.h src/child_idmapped.h \
	src/child_exec.h
$(BUILD)/child_main.o: src/child.c $(CHILD_HDRS) Makefile
	@mkdir -p $(@D)
	$(CC) $(CHILD_CFLAGS) -c -o $@ src/child.c
$(BUILD)/child_inside.o: src/child_inside.c $(CHILD_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CHILD_CFLAGS) -c -o $@ src/child_inside.c
$(BUILD)/child_helper.o: src/child_helper.c $(CHILD_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CHILD_CFLAGS) -c -o $@ src/child_helper.c
$(BUILD)/child_net.o: src/child_net.c $(CHILD_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CHILD_CFLAGS) -c -o $@ src/child_net.c
$(BUILD)/child_idmapped.o: src/child_idmapped.c $(CHILD_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CHILD_CFLAGS) -c -o $@ src/child_idmapped.c
$(BUILD)/child_policy.o: src/child_policy.c $(CHILD_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CHILD_CFLAGS) -c -o $@ src/child_policy.c
$(CHILD_OBJ): $(BUILD)/child_main.o $(BUILD)/child_inside.o $(BUILD)/child_helper.o $(BUILD)/child_net.o $(BUILD)/child_idmapped.o $(BUILD)/child_policy.o
	$(CC) -r -nostdlib -o $@ $^

# inside.init's pid 1 (src/child_init.c): a program of its own, static and
# without libc, embedded as bytes into process.so and linx-lua and run
# from a sealed memfd, so no process a container can see holds the host's
# memory. x86-64 only (its _start and raw system calls); elsewhere no
# image is embedded and init stays off unless asked for.
INIT_BIN := $(BUILD)/linx-init
INIT_H := $(BUILD)/linx_init_image.h
INIT_CFLAGS := $(WARN) -Os -static -nostdlib -ffreestanding -fno-builtin -fno-stack-protector -fno-pie -no-pie \
	-fno-asynchronous-unwind-tables -fno-unwind-tables -Wl,--build-id=none -s \
	$(if $(findstring clang,$(CC)),,-fno-tree-loop-distribute-patterns)
$(INIT_BIN): src/child_init.c $(CHILD_HDRS) Makefile
	@mkdir -p $(@D)
	$(CC) $(INIT_CFLAGS) -o $@ src/child_init.c
$(INIT_H): $(INIT_BIN) tools/embed-bin
	tools/embed-bin $@ linx_init_image $(INIT_BIN)
INIT_DEP := $(if $(filter x86_64,$(shell uname -m)),$(INIT_H))

LIB_USER := $(BUILD)/linxuser.so
LIB_PROC := $(BUILD)/linx/process.so
LINX_LUA := $(BUILD)/linx-lua
INJECT := $(BUILD)/inject.so

.PHONY: all modules deps check test demo install clean docs
all: modules $(if $(wildcard src/linx-lua.c),$(LINX_LUA)) $(if $(wildcard spec/hosts/inject.c),$(INJECT))
modules: $(LIB_USER) $(if $(wildcard src/process.c),$(LIB_PROC))

# linxuser needs only the go-between (setup_maps' helper route).
$(LIB_USER): $(USER_SRC) $(BUILD)/child_helper.o $(HEADERS) Makefile
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(SHARED) -o $@ $(USER_SRC) $(BUILD)/child_helper.o $(LDFLAGS)

$(LIB_PROC): $(PROC_SRC) $(CHILD_OBJ) $(HEADERS) $(INIT_DEP) Makefile
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -I$(BUILD) $(SHARED) -o $@ $(PROC_SRC) $(CHILD_OBJ) $(LDFLAGS)

# linx-lua links both modules statically (same sources, one copy of the
# shared core) and preloads them.
LINX_LUA_SRC := src/linx-lua.c $(filter-out $(CORE_SRC),$(USER_SRC)) $(filter-out src/lerror.c src/errname.c src/idmap.c src/decimal.c,$(PROC_SRC)) \
	$(CORE_SRC)
# ... and embeds the pure Lua modules of lua/ (tools/embed-lua).
LUA_MODULES := $(sort $(wildcard lua/*.lua lua/*/*.lua lua/*/*/*.lua))
EMBED_H := $(BUILD)/linx_lua_embedded.h
$(EMBED_H): $(LUA_MODULES) tools/embed-lua
	@mkdir -p $(@D)
	tools/embed-lua $@ $(LUA_MODULES)
$(LINX_LUA): $(LINX_LUA_SRC) $(CHILD_OBJ) $(HEADERS) $(EMBED_H) $(INIT_DEP) Makefile
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -I$(BUILD) -DLINX_EMBEDDED_LUA -o $@ $(LINX_LUA_SRC) $(CHILD_OBJ) $(LDFLAGS) $(LUA_LIBS) -lm -ldl

# C unit tests of the core (no Lua, no namespace, no root), as TAP. The
# core is built strictly POSIX (no _GNU_SOURCE), which keeps it portable;
# tools/unit-lane also builds it with musl-gcc where Debian's musl-tools is.
UNIT_CORE := src/idmap.c src/subid.c src/idtrans.c src/decimal.c src/errname.c
UNIT_SRC := $(wildcard spec/unit/*.c)
UNIT_CC ?= $(CC)
UNIT_BIN ?= $(BUILD)/unit
UNIT_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes $(OPT)
.PHONY: unit
$(UNIT_BIN): $(UNIT_SRC) $(UNIT_CORE) $(wildcard spec/unit/*.h) $(HEADERS)
	@mkdir -p $(@D)
	$(UNIT_CC) $(UNIT_CFLAGS) -Isrc -o $@ $(UNIT_SRC) $(UNIT_CORE)
unit: $(UNIT_BIN)
	@$(UNIT_BIN)

# `make print-USER_SRC`: a variable's value, for specs and scripts.
print-%:
	@echo '$($*)'

# The fault-injection shim of spec/inject_spec.lua (LD_PRELOAD; a test
# tool, never installed). Own flags: no sanitizer, whatever EXTRA_CFLAGS says.
$(INJECT): spec/hosts/inject.c
	@mkdir -p $(@D)
	$(CC) $(WARN) -fPIC $(OPT) $(SHARED) -o $@ spec/hosts/inject.c -ldl

deps:
	@tools/deps

# The README's test command: install what is missing, build, run every lane.
check: deps
	@tools/check

# Build and run the spec suite once with the current LUA_VERSION (no deps, no lanes).
test: all
	@tools/busted-lane $(LUA_VERSION) root

# The README's main job: the rootless demo, as an unprivileged user. It
# installs only the [demo] set of tools/packages.txt.
demo:
	@tools/deps demo
	@$(MAKE) --no-print-directory all
	@tools/demo $(LINX_LUA)

# Benchmarks (docs/benchmarks.md); never part of check. Installs its tools,
# builds, prints the report. Knobs: BENCH_N, BENCH_ROUNDS, ... (bench/run).
.PHONY: bench
bench:
	@LINX_EXTRA_PACKAGES="hyperfine bubblewrap valgrind strace time util-linux nginx libnginx-mod-http-lua apache2-utils" tools/deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory LUA_VERSION=jit modules
	@BUILD=$(BUILD) CC="$(CC)" LUA_VERSION=$(LUA_VERSION) REF_LUA=$(LUA) bench/run

install: all
	install -d $(DESTDIR)$(INSTALL_CMOD)/linx $(DESTDIR)$(INSTALL_BIN)
	install -m 0755 $(LIB_USER) $(DESTDIR)$(INSTALL_CMOD)/linxuser.so
	$(if $(wildcard $(LIB_PROC)),install -m 0755 $(LIB_PROC) $(DESTDIR)$(INSTALL_CMOD)/linx/process.so)
	$(if $(wildcard $(LINX_LUA)),install -m 0755 $(LINX_LUA) $(DESTDIR)$(INSTALL_BIN)/linx-lua)
	install -d $(DESTDIR)$(INSTALL_MAN)
	install -m 0644 doc/linx-lua.1 $(DESTDIR)$(INSTALL_MAN)/linx-lua.1
	test ! -d lua || (cd lua && find . -name '*.lua' -exec install -D -m 0644 {} $(abspath $(DESTDIR)$(INSTALL_LMOD))/{} \;)

# API pages from the LDoc comments in src/ (config.ld), into docs/api/.
# Debian ships the markdown module LDoc needs for Lua 5.1 only.
LDOC ?= lua5.1 /usr/bin/ldoc
docs:
	$(LDOC) --fatalwarnings .

clean:
	rm -rf build

# Fuzzing, sanitizer and leak lanes, static checks.
include tools/hardening.mk
