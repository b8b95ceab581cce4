// SPDX-License-Identifier: MIT
/*
 * The fault campaign: N fresh simulations, each with one generated fault,
 * cycling through every class of the catalogue.  Each runs in a child
 * process under a watchdog, so a crash or a hang is counted against its
 * class instead of ending the campaign, and the matrix says per class how
 * many runs were detected as expected, under another id, not at all, or
 * crashed or hung.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rng.h"
#include "sim.h"

#define WATCHDOG_MS	20000	/* a run that takes this long is hung */
#define MAX_FAILURES	20	/* listed in full in the report */
#define MAX_IDS		8	/* distinct ids counted per class */
#define MAX_ATTEMPTS	16	/* plans for a run before it counts as is */

enum outcome { EXPECTED, MISATTRIBUTED, UNDETECTED, CRASHED, HUNG,
	       NOUTCOMES };

static const char *const outcome_names[] = {
	"expected", "misattributed", "undetected", "crashed", "hung",
};

/* What a child reports of its run, through a pipe. */
struct run_record {
	uint32_t outcome;
	char detected[48];	/* "side:check" of the first detection */
	uint32_t not_applied;	/* the fault's moment never came */
};

struct class_row {
	uint64_t runs, n[NOUTCOMES];
	unsigned int nids;
	struct {
		char id[48];
		uint64_t n;
	} ids[MAX_IDS];
};

/* One generated run: its config and the specs that make its fault. */
struct planned {
	uint64_t index;
	unsigned int attempt;	/* re-planned when the fault changed nothing */
	const struct flt_class *cls;
	struct sim_config cfg;
	char spec[FLT_MAX_SPECS][FLT_SPEC_LEN];
	unsigned int nspecs;
};

struct failure {
	struct planned plan;
	struct run_record rec;
};

struct campaign {
	const struct sim_config *base;
	struct class_row rows[64];
	unsigned int nfailures;
	struct failure failures[MAX_FAILURES];
	uint64_t failed;
};

/* Devices and shapes for a class's run, from the run's own seed. */
static void plan_run(const struct sim_config *base, uint64_t index,
		     unsigned int attempt, struct planned *p)
{
	static const uint32_t sizes[] = { 4, 8, 16, 32, 64, 256 };
	static const uint32_t shapes[][2] = { { 1, 1 }, { 2, 2 }, { 1, 3 },
					      { 3, 1 }, { 2, 1 } };
	const struct flt_class *c = &flt_classes[index % flt_nclasses];
	uint64_t rng = base->seed ^ (index * 0x9e3779b97f4a7c15ull) ^
		       ((uint64_t)attempt << 56);
	struct sim_config *cfg = &p->cfg;
	struct flt_target t = { 0 };
	uint32_t slots, per_kick;
	unsigned int i;

	memset(p, 0, sizeof(*p));
	p->index = index;
	p->attempt = attempt;
	p->cls = c;
	sim_config_default(cfg);
	cfg->seed = rng_next(&rng);
	cfg->stepped = base->stepped;
	/* The same detections whatever the hints and waiting: they are
	 * part of what a campaign proves. */
	cfg->notify = base->notify;
	cfg->wait = base->wait;
	cfg->spin_us = base->spin_us;
	cfg->guest_mem = 4u << 20;
	cfg->disk_size = 1u << 20;
	cfg->requests = rng_range(&rng, 128, 384);
	cfg->batch = rng_range(&rng, 1, 8);
	cfg->queue_size = sizes[rng_range(&rng, 0, 5)];
	if (!strcmp(c->queue, "blk")) {
		cfg->devices = SIM_DEV_BLK;
		/* Room for several requests of up to 6 descriptors. */
		if (cfg->queue_size < 16)
			cfg->queue_size = 16;
		t.kicks = 2;
	} else if (!strncmp(c->queue, "net", 3)) {
		cfg->devices = SIM_DEV_NET;
		/* Enough frames to reach every receive buffer posted. */
		if (cfg->queue_size > 64)
			cfg->queue_size = 64;
		cfg->requests += 384;
		t.kicks = 2;
	} else {
		cfg->devices = SIM_DEV_NULL;
		i = rng_range(&rng, 0, 4);
		cfg->chain_out = shapes[i][0];
		cfg->chain_in = shapes[i][1];
		t.chain_len = cfg->chain_out + cfg->chain_in;
		t.chain_out = cfg->chain_out;
		if (cfg->queue_size < t.chain_len)
			cfg->queue_size = 4;
		/*
		 * Each kick publishes at most a batch (and at most what
		 * fits), each interrupt at least one chain: so at least this
		 * many of each come.  Stay in the first half, so that much
		 * traffic follows the fault.
		 */
		slots = cfg->queue_size / t.chain_len;
		per_kick = cfg->batch < slots ? cfg->batch : slots;
		t.kicks = cfg->requests / per_kick / 2;
		t.irqs = cfg->requests / slots / 2;
	}
	if (!t.kicks)
		t.kicks = 1;
	if (!t.irqs)
		t.irqs = 1;
	t.queue_size = cfg->queue_size;
	t.mem_pages = (uint32_t)(cfg->guest_mem / VRING_PAGE_SIZE);
	p->nspecs = c->gen(&rng, &t, p->spec);
}

/* The child: run it, classify it, report it, exit. */
static void run_child(const struct planned *p, int fd)
{
	struct sim_config cfg = p->cfg;
	struct run_record rec = { .outcome = UNDETECTED };
	struct sim_result res;
	const struct sim_detection *first = NULL;
	char err[256];
	unsigned int i;

	for (i = 0; i < p->nspecs; i++)
		if (flt_parse(p->spec[i], &cfg.faults[i], err, sizeof(err)))
			_exit(3);	/* a generator bug: counted as a crash */
	cfg.nfaults = p->nspecs;
	if (sim_run(&cfg, &res))
		_exit(4);
	for (i = 0; i < res.ndetections; i++)
		if (!first || res.detections[i].seq < first->seq)
			first = &res.detections[i];
	for (i = 0; i < p->nspecs; i++)
		rec.not_applied |= !res.fault_applied[i];
	if (res.stalled) {
		rec.outcome = HUNG;
	} else if (first) {
		snprintf(rec.detected, sizeof(rec.detected), "%s:%s",
			 first->side, first->det.check);
		rec.outcome = flt_class_expects(p->cls, first->side,
						first->det.check) ?
			      EXPECTED : MISATTRIBUTED;
	}
	if (write(fd, &rec, sizeof(rec)) != sizeof(rec))
		_exit(5);
	/* exit, not _exit: a coverage build writes its counts at exit.
	 * stdio was flushed before the fork, so nothing prints twice. */
	exit(0);
}

static void plan_run(const struct sim_config *base, uint64_t index,
		     unsigned int attempt, struct planned *p);
struct child;
static int start_child(struct child *ch, const struct planned *p);

struct child {
	pid_t pid;
	int fd;
	struct planned plan;
	struct timespec start;
};

static int64_t ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (int64_t)(t1.tv_sec - t0->tv_sec) * 1000 +
	       (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static int start_child(struct child *ch, const struct planned *p)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	ch->plan = *p;
	clock_gettime(CLOCK_MONOTONIC, &ch->start);
	fflush(NULL);
	ch->pid = fork();
	if (ch->pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (ch->pid == 0) {
		close(fds[0]);
		run_child(p, fds[1]);
	}
	close(fds[1]);
	ch->fd = fds[0];
	return 0;
}

static void count(struct campaign *cp, const struct planned *p,
		  const struct run_record *rec)
{
	struct class_row *row = &cp->rows[p->cls - flt_classes];
	unsigned int i;

	row->runs++;
	row->n[rec->outcome]++;
	if (rec->detected[0]) {
		for (i = 0; i < row->nids; i++)
			if (!strcmp(row->ids[i].id, rec->detected))
				break;
		if (i == row->nids && i < MAX_IDS)
			snprintf(row->ids[row->nids++].id,
				 sizeof(row->ids[0].id), "%s", rec->detected);
		if (i < MAX_IDS)
			row->ids[i].n++;
	}
	if (rec->outcome != EXPECTED) {
		cp->failed++;
		if (cp->nfailures < MAX_FAILURES) {
			cp->failures[cp->nfailures].plan = *p;
			cp->failures[cp->nfailures].rec = *rec;
			cp->nfailures++;
		}
	}
}

/* Collect one finished (or overdue) child; returns 1 if it did. */
static int reap(struct campaign *cp, struct child *ch, bool wait)
{
	struct run_record rec = { .outcome = CRASHED };
	struct pollfd pfd = { .fd = ch->fd, .events = POLLIN };
	int64_t left = WATCHDOG_MS - ms_since(&ch->start);
	int status;

	if (poll(&pfd, 1, wait ? (int)(left > 0 ? left : 0) : 0) == 0) {
		if (ms_since(&ch->start) < WATCHDOG_MS)
			return 0;
		kill(ch->pid, SIGKILL);
		rec.outcome = HUNG;
	} else if (read(ch->fd, &rec, sizeof(rec)) != sizeof(rec)) {
		rec = (struct run_record){ .outcome = CRASHED };
	}
	waitpid(ch->pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		rec.outcome = rec.outcome == HUNG ? HUNG : CRASHED;
	close(ch->fd);
	/*
	 * A fault whose moment never came, or that would have changed
	 * nothing (a head copied onto itself), says nothing about the
	 * checks: plan that run again, a little differently.
	 */
	if (rec.outcome != CRASHED && rec.outcome != HUNG && rec.not_applied &&
	    ch->plan.attempt < MAX_ATTEMPTS) {
		struct planned p;

		plan_run(cp->base, ch->plan.index, ch->plan.attempt + 1, &p);
		return start_child(ch, &p) ? -1 : 2;
	}
	count(cp, &ch->plan, &rec);
	return 1;
}

static void print_command(FILE *f, const struct planned *p)
{
	const struct sim_config *c = &p->cfg;
	unsigned int i;

	fprintf(f, "vqsim%s --seed %" PRIu64 " --device %s --requests %" PRIu64
		" --queue-size %" PRIu32 " --batch %" PRIu32,
		c->stepped ? " --stepped" : "", c->seed,
		c->devices & SIM_DEV_BLK ? "blk" :
		c->devices & SIM_DEV_NET ? "net" : "null", c->requests,
		c->queue_size, c->batch);
	if (c->devices & SIM_DEV_NULL)
		fprintf(f, " --chain %" PRIu32 ":%" PRIu32, c->chain_out,
			c->chain_in);
	if (c->devices & SIM_DEV_BLK)
		fprintf(f, " --disk-size 1");
	fprintf(f, " --guest-mem 4");
	for (i = 0; i < p->nspecs; i++)
		fprintf(f, " --fault '%s'", p->spec[i]);
}

static void report_text(FILE *f, const struct campaign *cp, uint64_t runs,
			double secs)
{
	unsigned int c, i;

	fprintf(f, "%-18s %6s %8s %6s %6s %6s %5s  detected as\n", "class",
		"runs", "expected", "other", "undet", "crash", "hung");
	for (c = 0; c < flt_nclasses; c++) {
		const struct class_row *r = &cp->rows[c];

		if (!r->runs)
			continue;
		fprintf(f, "%-18s %6" PRIu64 " %8" PRIu64 " %6" PRIu64 " %6"
			PRIu64 " %6" PRIu64 " %5" PRIu64 " ", flt_classes[c].name,
			r->runs, r->n[EXPECTED], r->n[MISATTRIBUTED],
			r->n[UNDETECTED], r->n[CRASHED], r->n[HUNG]);
		for (i = 0; i < r->nids; i++)
			fprintf(f, " %s %" PRIu64, r->ids[i].id, r->ids[i].n);
		fputc('\n', f);
	}
	for (i = 0; i < cp->nfailures; i++) {
		const struct failure *x = &cp->failures[i];

		fprintf(f, "%s run %" PRIu64 " (%s%s%s): ",
			outcome_names[x->rec.outcome], x->plan.index,
			x->plan.cls->name, x->rec.detected[0] ? ", got " : "",
			x->rec.detected);
		print_command(f, &x->plan);
		fputc('\n', f);
	}
	fprintf(f, "%" PRIu64 " runs in %.1f s: %s\n", runs, secs,
		cp->failed ? "FAILED" : "ok");
}

static void report_json(FILE *f, const struct campaign *cp, uint64_t runs,
			double secs)
{
	unsigned int c, i;

	fprintf(f, "{\"ok\": %s, \"seed\": %" PRIu64 ", \"runner\": \"%s\", "
		"\"runs\": %" PRIu64 ", \"failed\": %" PRIu64 ", \"classes\": [",
		cp->failed ? "false" : "true", cp->base->seed,
		cp->base->stepped ? "stepped" : "threaded", runs, cp->failed);
	for (c = 0; c < flt_nclasses; c++) {
		const struct class_row *r = &cp->rows[c];
		const struct flt_class *k = &flt_classes[c];

		fprintf(f, "%s{\"name\": \"%s\", \"queue\": \"%s\", "
			"\"expect\": [", c ? ", " : "", k->name, k->queue);
		for (i = 0; i < 6 && k->expect[i]; i++)
			fprintf(f, "%s\"%s\"", i ? ", " : "", k->expect[i]);
		fprintf(f, "], \"runs\": %" PRIu64, r->runs);
		for (i = 0; i < NOUTCOMES; i++)
			fprintf(f, ", \"%s\": %" PRIu64, outcome_names[i],
				r->n[i]);
		fputs(", \"detected\": {", f);
		for (i = 0; i < r->nids; i++)
			fprintf(f, "%s\"%s\": %" PRIu64, i ? ", " : "",
				r->ids[i].id, r->ids[i].n);
		fputs("}}", f);
	}
	fputs("], \"failures\": [", f);
	for (i = 0; i < cp->nfailures; i++) {
		const struct failure *x = &cp->failures[i];

		/* Spec texts are ours: digits, letters and []:.=+^@- only. */
		fprintf(f, "%s{\"run\": %" PRIu64 ", \"class\": \"%s\", "
			"\"outcome\": \"%s\", \"detected\": \"%s\", "
			"\"command\": \"", i ? ", " : "", x->plan.index,
			x->plan.cls->name, outcome_names[x->rec.outcome],
			x->rec.detected);
		print_command(f, &x->plan);
		fputs("\"}", f);
	}
	fprintf(f, "], \"elapsed_s\": %.3f}\n", secs);
}

int sim_campaign(const struct sim_config *base, FILE *out, FILE *progress)
{
	struct campaign *cp = calloc(1, sizeof(*cp));
	struct child kids[2] = { 0 };
	unsigned int nkids = 0, width, k;
	uint64_t lo, hi, next, done = 0;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct timespec t0;
	double secs;
	int ret = 0;

	if (!cp)
		return -ENOMEM;
	cp->base = base;
	/* Shard K of M takes every run whose number falls in its slice. */
	lo = base->campaign * (base->shard_k - 1) / base->shard_m;
	hi = base->campaign * base->shard_k / base->shard_m;
	width = cpus > 1 ? 2 : 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (next = lo; next < hi || nkids; ) {
		while (next < hi && nkids < width) {
			struct planned p;

			plan_run(base, next++, 0, &p);
			ret = start_child(&kids[nkids], &p);
			if (ret)
				goto out;
			nkids++;
		}
		/* Wait on the oldest; sweep the others without waiting. */
		for (k = 0; k < nkids; k++) {
			int r = reap(cp, &kids[k], k == 0);

			if (r < 0) {
				ret = -EAGAIN;
				goto out;
			}
			if (r != 1)
				continue;
			kids[k] = kids[--nkids];
			k--;
			done++;
			if (progress && done % 100 == 0)
				fprintf(progress, "\rcampaign: %" PRIu64 "/%"
					PRIu64 " runs, %" PRIu64 " failed",
					done, hi - lo, cp->failed);
		}
	}
	if (progress)
		fputc('\n', progress);
	secs = (double)ms_since(&t0) / 1000.0;
	if (base->json)
		report_json(out, cp, hi - lo, secs);
	else
		report_text(out, cp, hi - lo, secs);
	ret = cp->failed ? 1 : 0;
out:
	while (nkids)
		reap(cp, &kids[--nkids], true);
	free(cp);
	return ret;
}
