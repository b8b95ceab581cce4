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
		   tests/check_hostdev.c tests/check_net.c \
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

.PHONY: all run check test-deps asan tsan check-deps clean
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

ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
	      -fno-omit-frame-pointer
asan:
	@scripts/install-deps sanitize
	@$(MAKE) --no-print-directory check O=build/asan CC=clang OPT=-O1 \
		SAN="$(ASAN_FLAGS)" TIMEOUT_X=10 \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

tsan:
	@scripts/install-deps sanitize
	@$(MAKE) --no-print-directory check O=build/tsan CC=clang OPT=-O1 \
		SAN=-fsanitize=thread TIMEOUT_X=20 \
		TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

# The include rules, checked by reading the sources as well.
check-deps:
	@scripts/check-deps

clean:
	rm -rf build vqsim

-include $(shell find build -name '*.d' 2>/dev/null)
