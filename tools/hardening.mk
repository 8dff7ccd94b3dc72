# Hardening targets (included from the Makefile): fuzzing, sanitizer and
# leak runs, static checks. Each prints TAP through a script in tools/.

FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 10

.PHONY: fuzz fuzz-smoke
# libFuzzer (clang-14, ASan+UBSan) on idmap_parse and idmap_validate+render:
# replay fuzz/regress and fuzz/corpus, then FUZZ_SECONDS of fuzzing each.
fuzz:
	@tools/fuzz-run $(FUZZ_SECONDS)

# What CI runs: the replay plus a short fuzz of each target.
fuzz-smoke:
	@tools/fuzz-run $(FUZZ_SMOKE_SECONDS)

.PHONY: check-asan check-valgrind
# ASan+UBSan build of the modules and linx-lua into build/asan; the whole
# busted suite under it, as root and as uid 65534.
check-asan:
	@tools/asan-lane

# linx-lua running every example and a spawn loop under valgrind memcheck.
check-valgrind:
	@tools/valgrind-lane

.PHONY: lint
# cppcheck, clang-tidy (.clang-tidy) and luacheck (.luacheckrc): zero findings.
lint:
	@tools/lint-lane
