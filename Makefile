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
ALL_CFLAGS := $(WARN) -Isrc -fPIC -fvisibility=hidden $(CFLAGS) $(EXTRA_CFLAGS) $(LUA_CFLAGS)
LDFLAGS ?=
SHARED := -shared
# inside.seccomp compiles policies with libseccomp (Debian libseccomp-dev).
SECCOMP_LIBS ?= $(shell pkg-config --libs libseccomp 2>/dev/null || echo -lseccomp)

# src/ by layer, one folder each (README "Inside: which file holds what";
# spec/layers_spec.lua holds the arrows allowed between folders). The lists
# follow the folders: a new file joins its layer's build by being there.
SRC_CORE := $(sort $(wildcard src/core/*.c))
SRC_OS := $(sort $(wildcard src/os/*.c))
SRC_SUPPORT := $(sort $(wildcard src/support/*.c))
SRC_USER := $(sort $(wildcard src/linxuser/*.c))
SRC_PROC := $(sort $(wildcard src/process/*.c))
# What each module links: its folder and what it calls on the floors below
# (spec/exports_spec.lua: nothing linked in that is not called).
USER_SRC := $(SRC_USER) $(SRC_SUPPORT) $(SRC_OS) $(SRC_CORE)
PROC_SRC := $(SRC_PROC) src/support/lerror.c src/support/lmaps.c src/core/errname.c src/core/idmap.c src/core/decimal.c src/core/idtrans.c
HEADERS := $(wildcard src/*.h src/*/*.h)

# src/child/: the keeper, the workload, its inside steps and the map
# helper's go-between run in the host's memory on the host thread's TLS:
# the folder is built freestanding, with no stack protector (its canary
# lives in the TLS) and no sanitizer, and must not call libc
# (tools/child-check fails on any undefined symbol or TLS access). Its
# units are linked into one relocatable object that tools/child-check
# inspects whole.
CHILD_OBJ := $(BUILD)/child.o
CHILD_CFLAGS := $(WARN) -Isrc -fPIC -fvisibility=hidden $(OPT) -ffreestanding -fno-builtin -fno-stack-protector \
	$(if $(findstring clang,$(CC)),,-fno-tree-loop-distribute-patterns)
# child_init.c and child_park.c are no units of child.o: they are linx-init,
# a program of its own (below).
INIT_SRC := src/child/child_init.c src/child/child_park.c src/child/child_seccomp.c
CHILD_SRC := $(filter-out src/child/child_init.c src/child/child_park.c,$(sort $(wildcard src/child/*.c)))
CHILD_HDRS := $(wildcard src/child/*.h)
CHILD_OBJS := $(patsubst src/child/%.c,$(BUILD)/child/%.o,$(CHILD_SRC))
$(BUILD)/child/%.o: src/child/%.c $(CHILD_HDRS) Makefile
	@mkdir -p $(@D)
	$(CC) $(CHILD_CFLAGS) -c -o $@ $<
$(CHILD_OBJ): $(CHILD_OBJS)
	$(CC) -r -nostdlib -o $@ $^

# inside.init's pid 1 (src/child/child_init.c): a program of its own, static and
# without libc, embedded as bytes into process.so and linx-lua and run
# from a sealed memfd, so no process a container can see holds the host's
# memory. x86-64 only (its _start and raw system calls); elsewhere no
# image is embedded and init stays off unless asked for.
INIT_BIN := $(BUILD)/linx-init
INIT_H := $(BUILD)/linx_init_image.h
INIT_CFLAGS := $(WARN) -Os -static -nostdlib -ffreestanding -fno-builtin -fno-stack-protector -fno-pie -no-pie \
	-fno-asynchronous-unwind-tables -fno-unwind-tables -Wl,--build-id=none -s \
	$(if $(findstring clang,$(CC)),,-fno-tree-loop-distribute-patterns)
$(INIT_BIN): $(INIT_SRC) $(CHILD_HDRS) Makefile
	@mkdir -p $(@D)
	$(CC) $(INIT_CFLAGS) -Isrc -o $@ $(INIT_SRC)
$(INIT_H): $(INIT_BIN) tools/embed-bin
	tools/embed-bin $@ linx_init_image $(INIT_BIN)
INIT_DEP := $(if $(filter x86_64,$(shell uname -m)),$(INIT_H))

LIB_USER := $(BUILD)/linxuser.so
LIB_PROC := $(BUILD)/linx/process.so
LINX_LUA := $(BUILD)/linx-lua
INJECT := $(BUILD)/inject.so

.PHONY: all modules deps check test demo install clean docs
all: modules $(if $(wildcard src/host/linx-lua.c),$(LINX_LUA)) spec-hosts
modules: $(LIB_USER) $(if $(wildcard src/process/process.c),$(LIB_PROC))

# Each host-side unit is compiled once per build, into $(BUILD)/obj/, and
# linked into whichever of linxuser.so, process.so and linx-lua holds it
# (the same flags for all three), rather than once per product.
OBJ = $(patsubst src/%.c,$(BUILD)/obj/%.o,$(1))
$(BUILD)/obj/%.o: src/%.c $(HEADERS) $(INIT_DEP) Makefile
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -I$(BUILD) -c -o $@ $<

# linxuser needs only the go-between (setup_maps' helper route).
$(LIB_USER): $(call OBJ,$(USER_SRC)) $(BUILD)/child/child_helper.o
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(SHARED) -o $@ $^ $(LDFLAGS)

$(LIB_PROC): $(call OBJ,$(PROC_SRC)) $(CHILD_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(SHARED) -o $@ $^ $(LDFLAGS) $(SECCOMP_LIBS)

# linx-lua links both modules statically (same sources, one copy of the
# shared core) and preloads them.
LINX_LUA_SRC := src/host/linx-lua.c $(SRC_USER) $(SRC_PROC) $(SRC_SUPPORT) $(SRC_OS) $(SRC_CORE)
# ... and embeds the pure Lua modules of lua/ (tools/embed-lua).
LUA_MODULES := $(sort $(wildcard lua/*.lua lua/*/*.lua lua/*/*/*.lua))
EMBED_H := $(BUILD)/linx_lua_embedded.h
$(EMBED_H): $(LUA_MODULES) tools/embed-lua
	@mkdir -p $(@D)
	tools/embed-lua $@ $(LUA_MODULES)
$(BUILD)/obj/host/linx-lua.o: src/host/linx-lua.c $(HEADERS) $(EMBED_H) Makefile
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -I$(BUILD) -DLINX_EMBEDDED_LUA -c -o $@ $<
$(LINX_LUA): $(call OBJ,$(LINX_LUA_SRC)) $(CHILD_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDFLAGS) $(LUA_LIBS) $(SECCOMP_LIBS) -lm -ldl

# C unit tests of the core (no Lua, no namespace, no root), as TAP. The
# core is built strictly POSIX (no _GNU_SOURCE), which keeps it portable;
# tools/unit-lane also builds it with musl-gcc where Debian's musl-tools is.
UNIT_CORE := $(SRC_CORE)
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

# The C programs the specs run (spec/hosts/*.c; test tools, never
# installed), built by `make spec-hosts` (and `make all`): the fault shim
# spec/hosts/inject.c as $(BUILD)/inject.so (LD_PRELOAD), every other file
# as the program $(BUILD)/hosts/<name>, which the specs find through
# LINX_BUILD. A new spec/hosts/x.c is picked up by the wildcard; extra
# flags for one host go in SPEC_HOST_FLAGS_<name>. Own flags: no sanitizer,
# whatever EXTRA_CFLAGS says, unless a host's own line asks for it.
SPEC_HOSTS := $(patsubst spec/hosts/%.c,$(BUILD)/hosts/%,$(filter-out spec/hosts/inject.c,$(wildcard spec/hosts/*.c)))
# thread_host embeds Lua and loads the modules: under a sanitizer build,
# it needs the modules' runtime too.
SPEC_HOST_FLAGS_thread_host := $(EXTRA_CFLAGS) $(LDFLAGS) $(LUA_LIBS) -lpthread
SPEC_HOST_FLAGS_export_bpf := $(SECCOMP_LIBS)
.PHONY: spec-hosts
spec-hosts: $(if $(wildcard spec/hosts/inject.c),$(INJECT)) $(SPEC_HOSTS)
$(INJECT): spec/hosts/inject.c
	@mkdir -p $(@D)
	$(CC) $(WARN) -fPIC $(OPT) $(SHARED) -o $@ spec/hosts/inject.c -ldl
# (Each host defines the feature macros it needs, as a program does.)
$(BUILD)/hosts/%: spec/hosts/%.c Makefile
	@mkdir -p $(@D)
	$(CC) $(filter-out -D_GNU_SOURCE,$(WARN)) $(OPT) $(LUA_CFLAGS) -o $@ $< $(SPEC_HOST_FLAGS_$*)

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
