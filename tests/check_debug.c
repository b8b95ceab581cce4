// SPDX-License-Identifier: MIT
/*
 * The debugging tools: the stepped runner (exact replay, the restart()
 * window), the trace, dumps at kick:N / irq:N / end, and --strict.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim.h"
#include "tests.h"

/* A fresh scratch directory per test (tests run in forked children). */
static char tmpdir[64];

static void make_tmpdir(void)
{
	strcpy(tmpdir, "/tmp/vqsim-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static char *path_in_tmp(const char *name)
{
	static char path[2][128];
	static int which;

	which ^= 1;
	snprintf(path[which], sizeof(path[which]), "%s/%s", tmpdir, name);
	return path[which];
}

/* The whole of a file, NUL-terminated; *len is its size. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

static unsigned int count_lines_with(const char *text, const char *needle)
{
	unsigned int n = 0;
	const char *line = text;

	while (*line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);

		if (memmem(line, len, needle, strlen(needle)))
			n++;
		line += len + (end ? 1 : 0);
	}
	return n;
}

static void stepped_config(struct sim_config *cfg, uint64_t seed,
			   uint64_t requests)
{
	test_sim_config(cfg);
	cfg->devices = SIM_DEV_NULL;
	cfg->stepped = true;
	cfg->seed = seed;
	cfg->requests = requests;
}

static void expect_ok(const struct sim_config *cfg, struct sim_result *res)
{
	ck_assert_int_eq(sim_run(cfg, res), 0);
	ck_assert_msg(res->ok, "seed %" PRIu64 " not ok", cfg->seed);
	ck_assert(!res->stalled);
	ck_assert_uint_eq(res->ndetections, 0);
	ck_assert_uint_eq(res->devs[0].completed, cfg->requests);
	ck_assert(res->devs[0].verified);
}

/* Replay: the same seed is the same run, event for event; another seed
 * is another interleaving.  This is what makes a bug found once a bug
 * that can be watched again. */
START_TEST(test_stepped_replay)
{
	struct sim_config cfg;
	struct sim_result res;
	char *a, *b, *c;
	size_t la, lb, lc;

	make_tmpdir();
	stepped_config(&cfg, 42, 3000);
	cfg.queue_size = 16;
	cfg.trace_path = path_in_tmp("a");
	expect_ok(&cfg, &res);
	ck_assert_str_eq(res.runner, "stepped");
	cfg.trace_path = path_in_tmp("b");
	expect_ok(&cfg, &res);
	cfg.seed = 43;
	cfg.trace_path = path_in_tmp("c");
	expect_ok(&cfg, &res);

	a = slurp(path_in_tmp("a"), &la);
	b = slurp(path_in_tmp("b"), &lb);
	c = slurp(path_in_tmp("c"), &lc);
	ck_assert_uint_gt(la, 0);
	ck_assert_uint_eq(la, lb);
	ck_assert(memcmp(a, b, la) == 0);
	ck_assert(la != lc || memcmp(a, c, la) != 0);
	free(a);
	free(b);
	free(c);
	remove_tmpdir();
}
END_TEST

/* The stepped runner drives the same workloads to the same end as the
 * threaded one, over queue sizes and chain shapes. */
START_TEST(test_stepped_sizes_and_shapes)
{
	static const uint32_t shapes[][2] = { { 1, 1 }, { 0, 1 }, { 1, 0 },
					      { 3, 2 } };
	struct sim_config cfg;
	struct sim_result res;
	unsigned int s;

	for (s = 0; s < 4; s++) {
		stepped_config(&cfg, 7 + s, 2000);
		cfg.queue_size = 2u << _i;
		cfg.chain_out = shapes[s][0];
		cfg.chain_in = shapes[s][1];
		cfg.batch = 1 + s * 5;
		if (cfg.chain_out + cfg.chain_in > cfg.queue_size)
			continue;
		cfg.start_index = UINT32_MAX - 100;
		expect_ok(&cfg, &res);
		ck_assert_uint_gt(res.steps, cfg.requests);
	}
}
END_TEST

/*
 * The lost-wake-up window: between the driver's last empty get_buf and its
 * restart(), the device may complete something.  The stepped scheduler
 * must be able to put it there, or a protocol that loses that wake-up
 * could never be caught; restart() must then report the completion.
 */
START_TEST(test_stepped_reaches_restart_window)
{
	struct sim_config cfg;
	struct sim_result res;
	uint64_t races = 0, seed;

	for (seed = 1; seed <= 20; seed++) {
		stepped_config(&cfg, seed, 200);
		cfg.queue_size = 4;
		cfg.batch = 1;
		expect_ok(&cfg, &res);
		races += res.restart_races;
	}
	ck_assert_uint_gt(races, 0);
}
END_TEST

/* The trace has a line per event, the counts agree with the run, and the
 * lines read the way the README says. */
START_TEST(test_trace_contents)
{
	struct sim_config cfg;
	struct sim_result res;
	char *t;

	make_tmpdir();
	stepped_config(&cfg, 5, 500);
	cfg.queue_size = 8;
	cfg.batch = 2;
	cfg.trace_path = path_in_tmp("t");
	expect_ok(&cfg, &res);
	t = slurp(cfg.trace_path, NULL);
	ck_assert_uint_eq(count_lines_with(t, " guest null add head="), 500);
	ck_assert_uint_eq(count_lines_with(t, " host null consume "), 500);
	ck_assert_uint_eq(count_lines_with(t, " host null gather "), 500);
	ck_assert_uint_eq(count_lines_with(t, " host null use "), 500);
	ck_assert_uint_eq(count_lines_with(t, " guest null get_buf "), 500);
	ck_assert_uint_eq(count_lines_with(t, " guest null detach "), 500);
	ck_assert_uint_eq(count_lines_with(t, " guest null kick "),
			  res.devs[0].kicks);
	ck_assert_uint_eq(count_lines_with(t, " host null irq "),
			  res.devs[0].interrupts);
	/* Every kick follows a publication; suppression may skip some. */
	ck_assert_uint_ge(count_lines_with(t, " guest null publish "),
			  res.devs[0].kicks);
	if (cfg.notify == VRING_NOTIFY_PLAIN)
		ck_assert_uint_eq(count_lines_with(t, " guest null publish "),
				  res.devs[0].kicks);
	ck_assert_uint_eq(count_lines_with(t, " check "), 0);
	ck_assert_ptr_nonnull(strstr(t, "1 step=1 guest null add head=0 "
				     "ndesc=2 "));
	free(t);
	remove_tmpdir();
}
END_TEST

/* Threaded: per-side buffers merged by time.  Complete, each side in its
 * own order, time never running backwards. */
START_TEST(test_trace_threaded)
{
	struct sim_config cfg;
	struct sim_result res;
	uint64_t last_seq[2] = { 0, 0 }, last_t = 0;
	char line[256];
	FILE *f;

	make_tmpdir();
	test_sim_config(&cfg);
	cfg.devices = SIM_DEV_NULL;
	cfg.requests = 20000;
	cfg.trace_path = path_in_tmp("t");
	expect_ok(&cfg, &res);
	ck_assert_str_eq(res.runner, "threaded");
	f = fopen(cfg.trace_path, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		uint64_t seq, sec, usec, t;
		char side[8];
		int side_i;

		ck_assert_int_eq(sscanf(line, "%" SCNu64 " t=%" SCNu64 ".%"
					SCNu64 " %7s", &seq, &sec, &usec,
					side), 4);
		side_i = !strcmp(side, "host");
		ck_assert_uint_eq(seq, last_seq[side_i] + 1);
		last_seq[side_i] = seq;
		t = sec * 1000000 + usec;
		ck_assert_uint_ge(t, last_t);
		last_t = t;
	}
	fclose(f);
	/* add, publish/kick (batched), get_buf, detach, restart: the guest
	 * has at least three events per request, the host four. */
	ck_assert_uint_gt(last_seq[0], 3 * cfg.requests);
	ck_assert_uint_gt(last_seq[1], 3 * cfg.requests);
	remove_tmpdir();
}
END_TEST

/* kick:N is the Nth publication of avail idx: with a batch of B and room
 * in the ring, the dump shows exactly N * B made available. */
START_TEST(test_dump_at_kick)
{
	struct sim_config cfg;
	struct sim_result res;
	FILE *devnull;
	size_t len;
	uint8_t *d;
	uint32_t avail_idx;

	make_tmpdir();
	stepped_config(&cfg, 9, 1000);
	cfg.batch = 8;
	cfg.start_index = 4294967040u;
	cfg.ndumps = 1;
	snprintf(cfg.dumps[0].path, sizeof(cfg.dumps[0].path), "%s/d", tmpdir);
	cfg.dumps[0].kind = SIM_AT_KICK;
	cfg.dumps[0].n = 5;
	expect_ok(&cfg, &res);
	d = (uint8_t *)slurp(path_in_tmp("d.null"), &len);
	ck_assert_uint_eq(len, VRING_BYTES);
	memcpy(&avail_idx, d + VRING_PAGE_SIZE, 4);
	ck_assert_uint_eq(avail_idx, 4294967040u + 5 * 8);
	devnull = fopen("/dev/null", "w");
	ck_assert_int_eq(sim_decode(d, len, 256, devnull), 0);
	fclose(devnull);
	free(d);
	remove_tmpdir();
}
END_TEST

/* irq:N is the Nth publication of used idx: the dump's used idx is the
 * one the trace's Nth host publish line names; end is after everything. */
START_TEST(test_dump_at_irq_and_end)
{
	struct sim_config cfg;
	struct sim_result res;
	uint32_t used_idx, avail_idx, traced = 0;
	unsigned int pubs = 0;
	char line[256];
	size_t len;
	uint8_t *d;
	FILE *f;

	make_tmpdir();
	stepped_config(&cfg, 11, 700);
	cfg.queue_size = 32;
	cfg.trace_path = path_in_tmp("t");
	cfg.ndumps = 2;
	snprintf(cfg.dumps[0].path, sizeof(cfg.dumps[0].path), "%s/i", tmpdir);
	cfg.dumps[0].kind = SIM_AT_IRQ;
	cfg.dumps[0].n = 3;
	snprintf(cfg.dumps[1].path, sizeof(cfg.dumps[1].path), "%s/e", tmpdir);
	cfg.dumps[1].kind = SIM_AT_END;
	expect_ok(&cfg, &res);

	f = fopen(cfg.trace_path, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, " host null publish used_idx=");

		if (p && ++pubs == 3)
			traced = (uint32_t)strtoul(strchr(p, '=') + 1, NULL,
						   10);
	}
	fclose(f);
	ck_assert_uint_ge(pubs, 3);
	d = (uint8_t *)slurp(path_in_tmp("i.null"), &len);
	ck_assert_uint_eq(len, VRING_BYTES);
	memcpy(&used_idx, d + 2 * VRING_PAGE_SIZE, 4);
	ck_assert_uint_eq(used_idx, traced);
	free(d);

	d = (uint8_t *)slurp(path_in_tmp("e.null"), &len);
	memcpy(&avail_idx, d + VRING_PAGE_SIZE, 4);
	memcpy(&used_idx, d + 2 * VRING_PAGE_SIZE, 4);
	ck_assert_uint_eq(avail_idx, 700);
	ck_assert_uint_eq(used_idx, 700);
	free(d);
	remove_tmpdir();
}
END_TEST

/* Tests' stand-in for the fault injector: at the driver's second kick,
 * point the newest chain's head at a descriptor beyond the queue. */
static void break_next(void *ctx, const char *queue, enum sim_side side,
		       uint64_t n, const struct vring *vr,
		       const struct vring_mem *mem)
{
	struct vring_desc d;
	uint32_t head;

	(void)ctx;
	(void)mem;
	(void)queue;
	if (side != SIM_GUEST || n != 2)
		return;
	head = vring_avail_ring_read(vr, vring_avail_idx_acquire(vr) - 1);
	vring_desc_read(vr, head, &d);
	d.next = 999;
	vring_desc_write_fields(vr, head, &d);
	vring_desc_set_flags(vr, head, d.flags | VRING_DESC_F_NEXT);
}

/* A detection ends the run cleanly, with the values the check saw and
 * the event it fired at, which is the trace line that says so. */
START_TEST(test_detection_seq_matches_trace)
{
	struct sim_config cfg;
	struct sim_result res;
	char *t, needle[64], *line;

	make_tmpdir();
	stepped_config(&cfg, 3, 1000);
	cfg.tamper = break_next;
	cfg.trace_path = path_in_tmp("t");
	ck_assert_int_eq(sim_run(&cfg, &res), 0);
	ck_assert(!res.ok);
	ck_assert(!res.stalled);
	ck_assert_uint_eq(res.ndetections, 1);
	ck_assert_str_eq(res.detections[0].side, "host");
	ck_assert_str_eq(res.detections[0].det.check, "desc_next_range");
	ck_assert(res.detections[0].has_seq);
	ck_assert_uint_lt(res.devs[0].completed, cfg.requests);
	t = slurp(cfg.trace_path, NULL);
	snprintf(needle, sizeof(needle), "\n%" PRIu64 " step=",
		 res.detections[0].seq);
	line = strstr(t, needle);
	ck_assert_ptr_nonnull(line);
	line = strchr(line + 1, '\n');
	ck_assert_ptr_nonnull(line);
	*line = '\0';
	ck_assert_ptr_nonnull(strstr(strstr(t, needle),
				     " host null check desc_next_range "));
	ck_assert_ptr_nonnull(strstr(strstr(t, needle), " next=999"));
	free(t);
	remove_tmpdir();
}
END_TEST

/* --strict is the seed's debug build: the first detection aborts, after
 * writing what fired and the decoded ring to stderr. */
START_TEST(test_strict_aborts_with_dump)
{
	char errpath[] = "/tmp/vqsim-strict-XXXXXX";
	int fd = mkstemp(errpath), status;
	pid_t pid;
	char *err;

	ck_assert_int_ge(fd, 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct sim_config cfg;
		struct sim_result res;

		dup2(fd, 2);
		signal(SIGABRT, SIG_DFL);
		stepped_config(&cfg, 3, 1000);
		cfg.tamper = break_next;
		cfg.strict = true;
		sim_run(&cfg, &res);
		_exit(0);	/* not reached if --strict works */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status));
	ck_assert_int_eq(WTERMSIG(status), SIGABRT);
	err = slurp(errpath, NULL);
	unlink(errpath);
	close(fd);
	ck_assert_ptr_nonnull(strstr(err, "vqsim: --strict: host detected "
				     "desc_next_range on queue null"));
	ck_assert_ptr_nonnull(strstr(err, "next 999"));
	ck_assert_ptr_nonnull(strstr(err, "queue of 256 entries"));
	ck_assert_ptr_nonnull(strstr(err, "chains to 999, beyond the queue"));
	free(err);
}
END_TEST

Suite *debug_suite(void)
{
	Suite *s = suite_create("debug");
	TCase *tc = tcase_create("stepped");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_stepped_replay);
	tcase_add_loop_test(tc, test_stepped_sizes_and_shapes, 0, 8);
	tcase_add_test(tc, test_stepped_reaches_restart_window);
	suite_add_tcase(s, tc);

	tc = tcase_create("trace");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_trace_contents);
	tcase_add_test(tc, test_trace_threaded);
	tcase_add_test(tc, test_detection_seq_matches_trace);
	suite_add_tcase(s, tc);

	tc = tcase_create("dump");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_dump_at_kick);
	tcase_add_test(tc, test_dump_at_irq_and_end);
	tcase_add_test(tc, test_strict_aborts_with_dump);
	suite_add_tcase(s, tc);
	return s;
}
