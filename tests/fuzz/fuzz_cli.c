// SPDX-License-Identifier: MIT
/*
 * The command line (sim/cli.c): the fuzzer's bytes, split at NUL or
 * newline, are vqsim's arguments.  Parsing never runs anything; it gives
 * 0 (run), 1 (--help printed) or 2 with one non-empty line saying what is
 * wrong; and a configuration it accepts is one the simulator can run.
 */
#define _DEFAULT_SOURCE	/* strdup, strnlen */
#include "fuzz.h"
#include "sim.h"

FUZZ_NOCOV_BEGIN

#define MAX_ARGS	64

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	devnull = fopen("/dev/null", "w");
	ASSERT(devnull, "cannot open /dev/null");
	return 0;
}

/* What sim_run may rely on once sim_parse_args said 0. */
static void check_config(const struct sim_config *cfg)
{
	const char *names[SIM_MAX_QUEUES];
	unsigned int nq = sim_queue_names(cfg, names), i, k;

	ASSERT(cfg->devices && !(cfg->devices &
				 ~(SIM_DEV_NULL | SIM_DEV_BLK | SIM_DEV_NET)),
	       "devices %#x", cfg->devices);
	ASSERT(nq >= 1 && nq <= SIM_MAX_QUEUES, "%u queues", nq);
	ASSERT(vring_size_valid(cfg->queue_size), "queue size %u",
	       cfg->queue_size);
	ASSERT(cfg->chain_out + cfg->chain_in >= 1 &&
	       cfg->chain_out + cfg->chain_in <= cfg->queue_size,
	       "chain %u:%u in a queue of %u", cfg->chain_out, cfg->chain_in,
	       cfg->queue_size);
	ASSERT(cfg->batch >= 1, "batch 0");
	ASSERT(cfg->guest_mem >= 1u << 20 && cfg->guest_mem % (1u << 20) == 0,
	       "guest memory %llu", (unsigned long long)cfg->guest_mem);
	ASSERT(cfg->blk_workers >= 1 && cfg->blk_workers <= 64,
	       "%u blk workers", cfg->blk_workers);
	ASSERT(cfg->disk_size >= 1u << 20, "disk of %llu bytes",
	       (unsigned long long)cfg->disk_size);
	ASSERT(cfg->shard_k >= 1 && cfg->shard_k <= cfg->shard_m,
	       "shard %u/%u", cfg->shard_k, cfg->shard_m);
	ASSERT(!cfg->trace_path || cfg->trace_path[0], "empty trace path");
	ASSERT(!cfg->disk_path || cfg->disk_path[0], "empty disk path");
	ASSERT(cfg->ndumps <= SIM_MAX_DUMPS, "%u dumps", cfg->ndumps);
	for (i = 0; i < cfg->ndumps; i++) {
		const struct sim_dump *d = &cfg->dumps[i];

		ASSERT(d->path[0] && strnlen(d->path, sizeof(d->path)) <
		       sizeof(d->path), "dump %u has no usable path", i);
		ASSERT(d->kind == SIM_AT_END ? d->n == 0 :
		       (d->kind == SIM_AT_KICK || d->kind == SIM_AT_IRQ) &&
		       d->n >= 1, "dump %u at kind %d n %llu", i, d->kind,
		       (unsigned long long)d->n);
	}
	ASSERT(cfg->nfaults <= SIM_MAX_FAULTS, "%u faults", cfg->nfaults);
	for (i = 0; i < cfg->nfaults; i++) {
		const struct flt_spec *f = &cfg->faults[i];
		struct flt_spec again;
		char text[160], err[200];

		/* Every fault names one of this run's queues. */
		for (k = 0; k < nq; k++)
			if (!strcmp(f->queue, names[k]))
				break;
		ASSERT(k < nq, "fault %u on queue '%s', not in this run", i,
		       f->queue);
		ASSERT(f->n >= 1, "fault %u at moment 0", i);
		flt_format(f, text, sizeof(text));
		ASSERT(flt_parse(text, &again, err, sizeof(err)) == 0 &&
		       !memcmp(f, &again, sizeof(again)),
		       "fault %u prints as '%s', which does not read back", i,
		       text);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 2], *buf, err[256];
	struct sim_config cfg;
	int argc = 1, ret;
	size_t i, from = 0;

	/* Each argument its own allocation, exactly its size, so that ASan
	 * sees a read past any of them. */
	argv[0] = strdup("vqsim");
	ASSERT(argv[0], "out of memory");
	for (i = 0; i <= size && argc <= MAX_ARGS; i++) {
		if (i < size && data[i] != '\0' && data[i] != '\n')
			continue;
		if (i == size && i == from && argc > 1)
			break;
		buf = malloc(i - from + 1);
		ASSERT(buf, "out of memory");
		memcpy(buf, data + from, i - from);
		buf[i - from] = '\0';
		argv[argc++] = buf;
		from = i + 1;
	}
	argv[argc] = NULL;

	sim_config_default(&cfg);
	memset(err, 'x', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	ret = sim_parse_args(argc, argv, &cfg, devnull, err, sizeof(err));
	ASSERT(ret >= 0 && ret <= 2, "sim_parse_args returned %d", ret);
	if (ret == 2) {
		ASSERT(err[0] && err[0] != 'x' && !strchr(err, '\n'),
		       "the usage error is not one line: '%s'", err);
		/* It may quote what it was given, control characters and
		 * all, but never make one up. */
		for (i = 0; err[i]; i++)
			ASSERT(((unsigned char)err[i] >= 0x20 &&
				err[i] != 0x7f) ||
			       memchr(data, err[i], size),
			       "the usage error has a %#x that no argument "
			       "has: '%s'", (unsigned char)err[i], err);
	} else if (ret == 0) {
		check_config(&cfg);
	}
	for (i = 0; i < (size_t)argc; i++)
		free(argv[i]);
	return 0;
}

FUZZ_NOCOV_END
