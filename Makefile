# vqsim: see README.md.  `make` builds ./vqsim, `make run` runs the default
# scenario, `make check` runs the test suite (installing libcheck if needed),
# `make asan` / `make tsan` run the whole suite under clang's sanitizers.
#
# Each layer is its own archive, compiled with only the include paths it may
# use, so a forbidden #include (guestdrv -> hostdev, ring -> anything) does
# not even compile; `make check-deps` says so in words as well.

ifeq ($(origin CC),default)
CC := gcc
endif

O	?= build/default
OPT	?= -O2
SAN	?=
V	?= 0

CFLAGS	:= -std=c11 -Wall -Wextra -Werror -Wmissing-prototypes -Wshadow \
	   -Wstrict-prototypes -Wno-missing-field-initializers -g $(OPT) $(SAN) -MMD -MP $(EXTRA_CFLAGS)
LDFLAGS	:= $(SAN) $(EXTRA_LDFLAGS)
LDLIBS	:= -lpthread

ifeq ($(V),0)
Q	:= @
say	= @printf '  %-6s %s\n' $(1) $(2);
else
Q	:=
say	=
endif

RING_SRC	:= ring/vring.c
GUESTDRV_SRC	:= guestdrv/blk.c guestdrv/gvq.c guestdrv/net.c guestdrv/pages.c
HOSTDEV_SRC	:= hostdev/blk.c hostdev/hvq.c hostdev/net.c hostdev/null.c
FAULTS_SRC	:= faults/catalogue.c faults/spec.c
SIM_SRC		:= sim/blk.c sim/campaign.c sim/cli.c sim/decode.c sim/net.c sim/null_wl.c \
		   sim/report.c sim/run.c \
		   sim/stepped.c sim/threaded.c sim/trace.c
MAIN_SRC	:= sim/main.c
TEST_SRC	:= tests/check_blk.c tests/check_debug.c tests/check_decode.c \
		   tests/check_faults.c tests/check_guestdrv.c \
		   tests/check_hostdev.c tests/check_net.c tests/check_notify.c \
		   tests/check_main.c tests/check_ring.c tests/check_sim.c \
		   tests/harness.c tests/mock_device.c tests/mock_driver.c

# What each folder may include (DESIGN.md section 2).
INC_ring	:= -Iring
INC_guestdrv	:= -Iring -Iguestdrv
INC_hostdev	:= -Iring -Ihostdev
INC_faults	:= -Iring -Ifaults
INC_sim		:= -Iring -Iguestdrv -Ihostdev -Ifaults -Isim
INC_tests	:= -Iring -Iguestdrv -Ihostdev -Ifaults -Isim -Itests

objs = $(patsubst %.c,$(O)/%.o,$(1))
LIBS := $(O)/libsim.a $(O)/libfaults.a $(O)/libguestdrv.a $(O)/libhostdev.a \
	$(O)/libring.a

CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)

.PHONY: all run check check-modes test-deps asan tsan check-deps clean \
	coverage lint
all: vqsim

# The default build is also ./vqsim; sanitizer builds stay under build/.
vqsim: $(O)/vqsim
	$(Q)cp $< $@.tmp && mv -f $@.tmp $@

$(O)/%.o: %.c
	$(call say,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(INC_$(firstword $(subst /, ,$<))) \
		$(if $(filter tests/%,$<),$(CHECK_CFLAGS)) -c $< -o $@

$(O)/libring.a: $(call objs,$(RING_SRC))
$(O)/libguestdrv.a: $(call objs,$(GUESTDRV_SRC))
$(O)/libhostdev.a: $(call objs,$(HOSTDEV_SRC))
$(O)/libfaults.a: $(call objs,$(FAULTS_SRC))
$(O)/libsim.a: $(call objs,$(SIM_SRC))
$(O)/%.a:
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/vqsim: $(call objs,$(MAIN_SRC)) $(LIBS)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/check_vqsim: $(call objs,$(TEST_SRC)) $(LIBS)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

run: vqsim
	./vqsim

# Installs libcheck (and pkg-config) through apt-get when they are missing.
test-deps:
	@scripts/install-deps test

# CK_TIMEOUT_MULTIPLIER stretches libcheck's per-test timeouts for the slow
# sanitizer builds; a timeout is a hang, which is a failure.
check: test-deps check-deps
	@$(MAKE) --no-print-directory $(O)/check_vqsim $(O)/vqsim
	VQSIM_BIN=$(O)/vqsim CK_TIMEOUT_MULTIPLIER=$(or $(TIMEOUT_X),1) \
		$(O)/check_vqsim

# The whole suite once more in every other --notify and --wait mode (make
# check runs flags and eventfd): the tests take their runs' modes from
# these variables.  The no-lost-wake-up proof sets its own modes, so it
# runs short here; the sanitizer builds run it short too (ten times the
# cost per run), and make check in full.
NOTIFY_MODES	:= plain flags event-idx
WAIT_MODES	:= eventfd poll
check-modes: test-deps
	@$(MAKE) --no-print-directory $(O)/check_vqsim $(O)/vqsim
	@set -e; for n in $(NOTIFY_MODES); do for w in $(WAIT_MODES); do \
		[ $$n/$$w != flags/eventfd ] || continue; \
		echo "== --notify $$n --wait $$w"; \
		VQSIM_TEST_NOTIFY=$$n VQSIM_TEST_WAIT=$$w \
		VQSIM_TEST_PROOF_SEEDS=2000 VQSIM_BIN=$(O)/vqsim \
		CK_TIMEOUT_MULTIPLIER=$(or $(TIMEOUT_X),1) $(O)/check_vqsim; \
	done; done

ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
	      -fno-omit-frame-pointer
asan:
	@scripts/install-deps sanitize
	@$(MAKE) --no-print-directory check O=build/asan CC=clang OPT=-O1 \
		SAN="$(ASAN_FLAGS)" TIMEOUT_X=10 VQSIM_TEST_PROOF_SEEDS=5000 \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

tsan:
	@scripts/install-deps sanitize
	@$(MAKE) --no-print-directory check O=build/tsan CC=clang OPT=-O1 \
		SAN=-fsanitize=thread TIMEOUT_X=20 VQSIM_TEST_PROOF_SEEDS=5000 \
		TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

# gcc --coverage over the suite and a campaign; HTML in build/coverage,
# fails below COV_LINES / COV_BRANCHES (see scripts/coverage).
coverage:
	@scripts/coverage

# cppcheck and clang-tidy, no findings (the checks are justified in the
# script).
lint:
	@scripts/lint

# The include rules, checked by reading the sources as well.
check-deps:
	@scripts/check-deps

clean:
	rm -rf build vqsim

-include $(shell find build -name '*.d' 2>/dev/null)

# ---- fuzzing (issue 6) ----
# libFuzzer targets, one per surface the other side controls (tests/fuzz/,
# see README.md).  The libraries are built once more under build/fuzz by
# clang with ASan, UBSan and libFuzzer's coverage hooks, each folder with
# its own -I set as always; each target links them with libFuzzer's main.
# `make fuzz FUZZ_TIME=60` fuzzes every target for that many seconds, one
# after the other (FUZZ_TARGETS=host picks some); `make fuzz-regress`
# replays the seeds and every crash kept under tests/fuzz-regress once.
FUZZ_TARGETS	:= blk cli decode guest host net spec
FUZZ_SRC	:= $(patsubst %,tests/fuzz/fuzz_%.c,$(FUZZ_TARGETS))
FUZZ_O		:= build/fuzz
FUZZ_TIME	?= 30
FUZZ_SAN	:= -fsanitize=fuzzer-no-link,address,undefined \
		   -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_LIBS	:= $(patsubst %,$(FUZZ_O)/lib%.a,\
			     sim faults guestdrv hostdev ring)
# The largest input worth trying: a queue of 256 plus some buffer bytes,
# a dump (12 KiB and its size byte), a command line, a spec.
FUZZ_MAXLEN_blk		:= 16384
FUZZ_MAXLEN_cli		:= 1024
FUZZ_MAXLEN_decode	:= 16384
FUZZ_MAXLEN_guest	:= 16384
FUZZ_MAXLEN_host	:= 16384
FUZZ_MAXLEN_net		:= 16384
FUZZ_MAXLEN_spec	:= 256

.PHONY: fuzz fuzz-regress fuzz-build fuzz-bins
fuzz-build:
	@scripts/install-deps sanitize
	@$(MAKE) --no-print-directory O=$(FUZZ_O) CC=clang OPT=-O1 \
		SAN="$(FUZZ_SAN)" fuzz-bins

fuzz-bins: $(patsubst tests/fuzz/%.c,$(FUZZ_O)/%,$(FUZZ_SRC))
	@:

# More specific than $(O)/%.o, so it wins there: the targets also see
# tests/fuzz/fuzz.h, and need no libcheck.  Kept, not intermediate.
.PRECIOUS: $(FUZZ_O)/tests/fuzz/%.o
$(FUZZ_O)/tests/fuzz/%.o: tests/fuzz/%.c
	$(call say,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(INC_tests) -Itests/fuzz -c $< -o $@

$(FUZZ_O)/fuzz_%: $(FUZZ_O)/tests/fuzz/fuzz_%.o $(FUZZ_LIBS)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz: fuzz-build
	@FUZZ_O=$(FUZZ_O) FUZZ_TIME=$(FUZZ_TIME) tests/fuzz/run fuzz \
		$(foreach t,$(FUZZ_TARGETS),$(t):$(FUZZ_MAXLEN_$(t)))

fuzz-regress: fuzz-build
	@FUZZ_O=$(FUZZ_O) tests/fuzz/run regress \
		$(foreach t,$(FUZZ_TARGETS),$(t):$(FUZZ_MAXLEN_$(t)))

# ---- benchmark (issue 7) ----
# `make bench` builds vqsim optimised and without sanitizers under
# build/bench, with bench/floor (the minimal programs vqsim is held
# against), and runs scripts/bench: one table on stdout, the same as JSON
# in build/bench/bench.json.  BENCH_RUNS, BENCH_REQUESTS, ... size it (see
# scripts/bench); the README's Benchmark section says how to read it.
BENCH_O		:= build/bench

.PHONY: bench bench-bins
bench:
	@$(MAKE) --no-print-directory O=$(BENCH_O) OPT=-O2 SAN= bench-bins
	@VQSIM=$(BENCH_O)/vqsim FLOOR=$(BENCH_O)/floor BENCH_OUT=$(BENCH_O) \
		scripts/bench

bench-bins: $(O)/vqsim $(O)/floor
	@:

$(O)/floor: bench/floor.c
	$(call say,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS) $(LDLIBS)
