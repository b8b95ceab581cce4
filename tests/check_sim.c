// SPDX-License-Identifier: MIT
/*
 * sim/: the command line, and end-to-end threaded runs through the same
 * paths `vqsim` takes, over queue sizes, chain shapes and the index wrap.
 */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim.h"
#include "tests.h"

extern char **environ;

/* Parse a NULL-terminated argument list (argv[0] supplied). */
static int parse(struct sim_config *cfg, char *err, size_t errlen, ...)
{
	char *argv[32] = { "vqsim" };
	int argc = 1;
	va_list ap;
	FILE *devnull = fopen("/dev/null", "w");
	int ret;

	va_start(ap, errlen);
	while ((argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	sim_config_default(cfg);
	err[0] = '\0';
	ret = sim_parse_args(argc, argv, cfg, devnull, err, errlen);
	fclose(devnull);
	return ret;
}

START_TEST(test_cli_defaults_and_values)
{
	struct sim_config cfg;
	char err[256];

	ck_assert_int_eq(parse(&cfg, err, sizeof(err), (char *)NULL), 0);
	ck_assert_uint_eq(cfg.devices, SIM_DEV_BLK | SIM_DEV_NET);
	ck_assert_uint_eq(cfg.queue_size, 256);
	ck_assert_uint_eq(cfg.chain_out, 1);
	ck_assert_uint_eq(cfg.chain_in, 1);
	ck_assert_uint_eq(cfg.start_index, 0);
	ck_assert(!cfg.json);

	ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--device", "null",
			       "--requests", "123", "--queue-size", "16",
			       "--chain", "3:2", "--seed", "0xdeadbeef",
			       "--start-index", "4294967040", "--batch", "7",
			       "--guest-mem", "4", "--json", (char *)NULL), 0);
	ck_assert_uint_eq(cfg.devices, SIM_DEV_NULL);
	ck_assert_uint_eq(cfg.requests, 123);
	ck_assert_uint_eq(cfg.queue_size, 16);
	ck_assert_uint_eq(cfg.chain_out, 3);
	ck_assert_uint_eq(cfg.chain_in, 2);
	ck_assert_uint_eq(cfg.seed, 0xdeadbeef);
	ck_assert_uint_eq(cfg.start_index, 4294967040u);
	ck_assert_uint_eq(cfg.batch, 7);
	ck_assert_uint_eq(cfg.guest_mem, 4u << 20);
	ck_assert(cfg.json);

	ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--chain", "0:1", (char *)NULL),
			 0);
	ck_assert_uint_eq(cfg.chain_out, 0);
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--help", (char *)NULL), 1);

	/* Issue 7's options: the defaults, then each value. */
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), (char *)NULL), 0);
	ck_assert_int_eq(cfg.notify, VRING_NOTIFY_FLAGS);
	ck_assert_int_eq(cfg.wait, SIM_WAIT_EVENTFD);
	ck_assert_uint_eq(cfg.spin_us, 20);
	ck_assert(!cfg.affinity);
	ck_assert_uint_eq(cfg.io_size, 0);
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--notify", "event-idx",
			       "--wait", "poll", "--spin-us", "0",
			       "--affinity", "--io-size", "4096",
			       (char *)NULL), 0);
	ck_assert_int_eq(cfg.notify, VRING_NOTIFY_EVENT_IDX);
	ck_assert_int_eq(cfg.wait, SIM_WAIT_POLL);
	ck_assert_uint_eq(cfg.spin_us, 0);
	ck_assert(cfg.affinity);
	ck_assert_uint_eq(cfg.io_size, 4096);
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--notify", "plain",
			       "--wait", "eventfd", (char *)NULL), 0);
	ck_assert_int_eq(cfg.notify, VRING_NOTIFY_PLAIN);
	ck_assert_int_eq(cfg.wait, SIM_WAIT_EVENTFD);
	ck_assert_str_eq(sim_notify_name(VRING_NOTIFY_EVENT_IDX), "event-idx");
	ck_assert_str_eq(sim_wait_name(SIM_WAIT_POLL), "poll");
}
END_TEST

/* Every bad option is one line naming the culprit, and status 2. */
static const struct {
	const char *opt, *val, *must_mention;
} bad_args[] = {
	{ "--queue-size", "3", "--queue-size '3'" },
	{ "--queue-size", "512", "power of two" },
	{ "--queue-size", "1", "--queue-size" },
	{ "--queue-size", "-2", "--queue-size" },
	{ "--requests", "many", "--requests 'many'" },
	{ "--requests", "12x", "--requests" },
	{ "--requests", "-1", "--requests" },
	{ "--requests", "", "--requests" },
	{ "--chain", "3", "OUT:IN" },
	{ "--chain", "0:0", "--chain" },
	{ "--chain", "1:x", "--chain" },
	{ "--chain", ":1", "--chain" },
	{ "--chain", "300:1", "--chain" },
	{ "--seed", "18446744073709551616", "--seed" },
	{ "--start-index", "4294967296", "--start-index" },
	{ "--batch", "0", "--batch" },
	{ "--guest-mem", "0", "--guest-mem" },
	{ "--notify", "lazy", "--notify 'lazy'" },
	{ "--notify", "", "--notify" },
	{ "--wait", "spin", "--wait 'spin'" },
	{ "--spin-us", "1000001", "--spin-us" },
	{ "--spin-us", "-1", "--spin-us" },
	{ "--io-size", "1000", "--io-size '1000'" },
	{ "--io-size", "0", "--io-size" },
	{ "--io-size", "32768", "--io-size" },
	{ "--affinity=1", NULL, "--affinity takes no value" },
	{ "--device", "floppy", "floppy" },
	{ "--frobnicate", NULL, "--frobnicate" },
	{ "-x", NULL, "-x" },
	{ "--strict=x", NULL, "--strict takes no value" },
	{ "--help=1", NULL, "--help takes no value" },
	{ "stray", NULL, "stray" },
};

START_TEST(test_cli_rejects)
{
	struct sim_config cfg;
	char err[256];

	ck_assert_int_eq(parse(&cfg, err, sizeof(err), bad_args[_i].opt,
			       bad_args[_i].val, (char *)NULL), 2);
	ck_assert_msg(strstr(err, bad_args[_i].must_mention),
		      "'%s' does not mention '%s'", err,
		      bad_args[_i].must_mention);
	ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

START_TEST(test_cli_missing_value)
{
	struct sim_config cfg;
	char err[256];

	ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--requests", (char *)NULL), 2);
	ck_assert_ptr_nonnull(strstr(err, "--requests"));
}
END_TEST

/* A chain must fit the queue, whichever option came first. */
START_TEST(test_cli_chain_must_fit_queue)
{
	struct sim_config cfg;
	char err[256];

	ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--chain", "3:2",
			       "--queue-size", "4", (char *)NULL), 2);
	ck_assert_ptr_nonnull(strstr(err, "do not fit"));
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--queue-size", "4",
			       "--chain", "2:2", (char *)NULL), 0);
}
END_TEST

static void run_ok(struct sim_config *cfg, struct sim_result *res)
{
	ck_assert_int_eq(sim_run_threaded(cfg, res), 0);
	ck_assert_uint_eq(res->ndetections, 0);
	ck_assert_uint_eq(res->ndevs, 1);
	ck_assert_uint_eq(res->devs[0].completed, cfg->requests);
	ck_assert_uint_eq(res->devs[0].mismatches, 0);
	ck_assert_uint_eq(res->devs[0].in_flight, 0);
	ck_assert(res->devs[0].verified);
	ck_assert(res->ok);
	/* A sleeping device must be kicked; a driver that only ever spun
	 * or polled may never have been interrupted, except in plain
	 * mode, where every publication interrupts. */
	if (cfg->wait == SIM_WAIT_EVENTFD)
		ck_assert_uint_gt(res->devs[0].kicks, 0);
	if (cfg->notify == VRING_NOTIFY_PLAIN)
		ck_assert_uint_gt(res->devs[0].interrupts, 0);
	ck_assert_uint_eq(res->seed, cfg->seed);
}

static const struct {
	uint32_t out, in;
} shapes[] = { { 1, 1 }, { 0, 1 }, { 1, 0 }, { 3, 2 }, { 2, 5 } };

/* Real threads, every queue size and chain shape: everything completes
 * and every echo is exact.  Small queues sleep per buffer, so fewer. */
START_TEST(test_threaded_sizes_and_shapes)
{
	struct sim_config cfg;
	struct sim_result res;
	unsigned int s;

	test_sim_config(&cfg);
	cfg.devices = SIM_DEV_NULL;
	cfg.queue_size = 2u << _i;
	cfg.requests = cfg.queue_size < 16 ? 3000 : 20000;
	for (s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		if (shapes[s].out + shapes[s].in > cfg.queue_size)
			continue;
		cfg.chain_out = shapes[s].out;
		cfg.chain_in = shapes[s].in;
		cfg.seed = 1000 + s;
		run_ok(&cfg, &res);
		/* Bytes echoed exist exactly when there is something to copy. */
		ck_assert_int_eq(res.devs[0].bytes > 0,
				 shapes[s].out && shapes[s].in);
	}
}
END_TEST

/* Indices start 256 below 2^32 and cross it several times over. */
START_TEST(test_threaded_index_wrap)
{
	struct sim_config cfg;
	struct sim_result res;

	test_sim_config(&cfg);
	cfg.devices = SIM_DEV_NULL;
	cfg.start_index = 4294967040u;
	cfg.requests = 50000;
	cfg.chain_out = 3;
	cfg.chain_in = 2;
	run_ok(&cfg, &res);
	cfg.queue_size = 4;
	cfg.chain_out = cfg.chain_in = 1;
	cfg.start_index = UINT32_MAX - 1;
	cfg.requests = 2000;
	run_ok(&cfg, &res);
}
END_TEST

/* The driver kicks once per batch, never more: with a batch of one and no
 * suppression that is exactly once per request. */
START_TEST(test_threaded_batch_kicks)
{
	struct sim_config cfg;
	struct sim_result res;

	test_sim_config(&cfg);
	cfg.devices = SIM_DEV_NULL;
	cfg.requests = 5000;
	cfg.batch = 1;
	/* Exact only without suppression, which may skip any kick. */
	cfg.notify = VRING_NOTIFY_PLAIN;
	run_ok(&cfg, &res);
	ck_assert_uint_eq(res.devs[0].kicks, cfg.requests);
	cfg.notify = VRING_NOTIFY_FLAGS;
	run_ok(&cfg, &res);
	ck_assert_uint_le(res.devs[0].kicks, cfg.requests);
	cfg.batch = 64;
	run_ok(&cfg, &res);
	ck_assert_uint_lt(res.devs[0].kicks, cfg.requests / 8);
}
END_TEST

/* Run the vqsim binary the Makefile names in VQSIM_BIN; returns its exit
 * status with stdout and stderr captured (NUL-terminated). */
static int run_binary(char *const argv[], char *out, size_t outlen,
		      char *errbuf, size_t errlen)
{
	const char *bin = getenv("VQSIM_BIN");
	char tmpl_out[] = "/tmp/vqsim-out-XXXXXX";
	char tmpl_err[] = "/tmp/vqsim-err-XXXXXX";
	int fd_out = mkstemp(tmpl_out), fd_err = mkstemp(tmpl_err), status;
	posix_spawn_file_actions_t fa;
	ssize_t n;
	pid_t pid;

	ck_assert_msg(bin != NULL, "VQSIM_BIN is not set (run via make check)");
	ck_assert(fd_out >= 0 && fd_err >= 0);
	unlink(tmpl_out);
	unlink(tmpl_err);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd_out, 1);
	posix_spawn_file_actions_adddup2(&fa, fd_err, 2);
	ck_assert_int_eq(posix_spawn(&pid, bin, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	n = pread(fd_out, out, outlen - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	n = pread(fd_err, errbuf, errlen - 1, 0);
	errbuf[n > 0 ? n : 0] = '\0';
	close(fd_out);
	close(fd_err);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* The whole command: one line on stderr and status 2 for a usage error,
 * nothing on stdout. */
START_TEST(test_binary_usage_error)
{
	char *argv[] = { "vqsim", "--queue-size", "3", NULL };
	char out[4096], err[4096];

	ck_assert_int_eq(run_binary(argv, out, sizeof(out), err, sizeof(err)),
			 2);
	ck_assert_str_eq(out, "");
	ck_assert_ptr_nonnull(strstr(err, "vqsim: --queue-size '3'"));
	ck_assert_ptr_eq(strchr(err, '\n'), err + strlen(err) - 1);
}
END_TEST

/* --json is one object with the fields DESIGN.md section 6 promises. */
START_TEST(test_binary_json)
{
	char *argv[] = { "vqsim", "--device", "null", "--requests", "4321",
			 "--seed", "99", "--chain", "3:2", "--json", NULL };
	char out[8192], err[4096];

	ck_assert_int_eq(run_binary(argv, out, sizeof(out), err, sizeof(err)),
			 0);
	ck_assert_str_eq(err, "");
	ck_assert_int_eq(out[0], '{');
	ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);
	ck_assert_ptr_nonnull(strstr(out, "\"ok\": true"));
	ck_assert_ptr_nonnull(strstr(out, "\"seed\": 99,"));
	ck_assert_ptr_nonnull(strstr(out, "\"notify\": \"flags\""));
	ck_assert_ptr_nonnull(strstr(out, "\"wait\": \"eventfd\""));
	ck_assert_ptr_nonnull(strstr(out, "\"name\": \"null\""));
	ck_assert_ptr_nonnull(strstr(out, "\"queue_size\": 256"));
	ck_assert_ptr_nonnull(strstr(out, "\"completed\": 4321,"));
	ck_assert_ptr_nonnull(strstr(out, "\"verified\": true"));
	ck_assert_ptr_nonnull(strstr(out, "\"detections\": []"));
	ck_assert_ptr_nonnull(strstr(out, "\"elapsed_s\": "));
	ck_assert_ptr_nonnull(strstr(out, "\"kicks\": "));
	ck_assert_ptr_null(strstr(out, "\"kicks\": 0,"));
	ck_assert_ptr_null(strstr(out, "\"interrupts\": 0,"));
}
END_TEST

START_TEST(test_binary_summary)
{
	char *argv[] = { "vqsim", "--device", "null", "--requests", "1000",
			 "--seed", "5", NULL };
	char out[8192], err[4096];

	ck_assert_int_eq(run_binary(argv, out, sizeof(out), err, sizeof(err)),
			 0);
	ck_assert_ptr_nonnull(strstr(out, "seed 5"));
	ck_assert_ptr_nonnull(strstr(out, "completed 1000/1000"));
	ck_assert_ptr_nonnull(strstr(out, "verified"));
	ck_assert_ptr_nonnull(strstr(out, "\nok\n"));
}
END_TEST

/*
 * The echo is checked byte for byte, the poison after it too: one byte of
 * a completed chain's first writable buffer flipped between the device's
 * interrupt and the guest's look, in the echoed part (_i 0) or in the
 * poison past it (_i 1), is one mismatch.  Stepped, so the flip lands
 * between the two sides; 1 readable buffer, 2 writable, so that there is
 * poison past most echoes.
 */
struct echo_flip {
	bool in_poison;
	unsigned int flipped;
	bool seen;
	uint32_t used_idx;	/* at the previous publication */
};

static void flip_echo(void *ctx, const char *queue, enum sim_side side,
		      uint64_t n, const struct vring *vr,
		      const struct vring_mem *mem)
{
	struct echo_flip *f = ctx;
	uint32_t idx = vring_used_idx_acquire(vr), i, at;
	struct vring_used_elem e;
	struct vring_desc out, in;
	uint8_t *p;

	(void)queue;
	if (side != SIM_HOST)
		return;
	/* Only this publication's chains: the guest has not looked yet. */
	for (i = f->seen ? f->used_idx : idx; !f->flipped && n >= 3 &&
	     i != idx; i++) {
		vring_used_elem_read(vr, i, &e);
		vring_desc_read(vr, e.id, &out);
		vring_desc_read(vr, out.next, &in);
		/* The echo is min(readable, writable): out.len, here. */
		at = f->in_poison ? out.len : 0;
		if (e.len != out.len || at >= in.len)
			continue;
		p = vring_mem_desc_ptr(mem, in.pfn, in.offset, in.len);
		WRITE_ONCE(p[at], (uint8_t)(READ_ONCE(p[at]) ^ 0x10));
		f->flipped++;
	}
	f->seen = true;
	f->used_idx = idx;
}

START_TEST(test_null_echo_checked)
{
	struct echo_flip f = { .in_poison = _i };
	struct sim_config cfg;
	struct sim_result res;

	test_sim_config(&cfg);
	cfg.devices = SIM_DEV_NULL;
	cfg.stepped = true;
	cfg.requests = 500;
	cfg.chain_out = 1;
	cfg.chain_in = 2;
	cfg.seed = 71;
	cfg.tamper = flip_echo;
	cfg.tamper_ctx = &f;
	ck_assert_int_eq(sim_run(&cfg, &res), 0);
	ck_assert_uint_eq(f.flipped, 1);
	ck_assert_uint_eq(res.ndetections, 0);
	ck_assert_uint_eq(res.devs[0].completed, cfg.requests);
	ck_assert_uint_eq(res.devs[0].mismatches, 1);
	ck_assert(!res.devs[0].verified);
	ck_assert(!res.ok);
}
END_TEST

Suite *sim_suite(void)
{
	Suite *s = suite_create("sim");
	TCase *tc = tcase_create("cli");

	tcase_add_test(tc, test_cli_defaults_and_values);
	tcase_add_loop_test(tc, test_cli_rejects, 0,
			    sizeof(bad_args) / sizeof(bad_args[0]));
	tcase_add_test(tc, test_cli_missing_value);
	tcase_add_test(tc, test_cli_chain_must_fit_queue);
	suite_add_tcase(s, tc);

	tc = tcase_create("threaded");
	/* Generous: a hang is what the timeout catches, not slowness. */
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_threaded_sizes_and_shapes, 0, 8);
	tcase_add_test(tc, test_threaded_index_wrap);
	tcase_add_test(tc, test_threaded_batch_kicks);
	suite_add_tcase(s, tc);

	tc = tcase_create("data");
	tcase_add_loop_test(tc, test_null_echo_checked, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("binary");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_binary_usage_error);
	tcase_add_test(tc, test_binary_json);
	tcase_add_test(tc, test_binary_summary);
	suite_add_tcase(s, tc);
	return s;
}
