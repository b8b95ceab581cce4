// SPDX-License-Identifier: MIT
/*
 * The command line.  Kept apart from main() so that tests (and later a
 * fuzzer) can drive it: every usage error is one line and status 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blk.h"
#include "sim.h"

#define DEFAULT_REQUESTS	100000u
#define DEFAULT_BATCH		32u
#define DEFAULT_GUEST_MEM	(16u << 20)
#define DEFAULT_DISK_SIZE	(64u << 20)
#define DEFAULT_BLK_WORKERS	4u
#define DEFAULT_BARRIER_EVERY	64u
#define DEFAULT_SPIN_US		20u
#define MAX_IO_SIZE		(16u << 10)	/* the blk workload's largest request */

enum {
	OPT_DEVICE = 256,
	OPT_REQUESTS,
	OPT_QUEUE_SIZE,
	OPT_CHAIN,
	OPT_SEED,
	OPT_START_INDEX,
	OPT_BATCH,
	OPT_NOTIFY,
	OPT_WAIT,
	OPT_SPIN_US,
	OPT_AFFINITY,
	OPT_IO_SIZE,
	OPT_GUEST_MEM,
	OPT_JSON,
	OPT_STEPPED,
	OPT_STRICT,
	OPT_TRACE,
	OPT_DUMP,
	OPT_DISK,
	OPT_DISK_SIZE,
	OPT_BLK_WORKERS,
	OPT_BARRIER_EVERY,
	OPT_DIRECT,
	OPT_NET_PEER,
	OPT_FAULT,
	OPT_RECOVER,
	OPT_CAMPAIGN,
	OPT_THREADED,
	OPT_SHARD,
	OPT_HELP,
};

static const struct option options[] = {
	{ "device",	required_argument, NULL, OPT_DEVICE },
	{ "requests",	required_argument, NULL, OPT_REQUESTS },
	{ "queue-size",	required_argument, NULL, OPT_QUEUE_SIZE },
	{ "chain",	required_argument, NULL, OPT_CHAIN },
	{ "seed",	required_argument, NULL, OPT_SEED },
	{ "start-index", required_argument, NULL, OPT_START_INDEX },
	{ "batch",	required_argument, NULL, OPT_BATCH },
	{ "notify",	required_argument, NULL, OPT_NOTIFY },
	{ "wait",	required_argument, NULL, OPT_WAIT },
	{ "spin-us",	required_argument, NULL, OPT_SPIN_US },
	{ "affinity",	no_argument,	   NULL, OPT_AFFINITY },
	{ "io-size",	required_argument, NULL, OPT_IO_SIZE },
	{ "guest-mem",	required_argument, NULL, OPT_GUEST_MEM },
	{ "json",	no_argument,	   NULL, OPT_JSON },
	{ "stepped",	no_argument,	   NULL, OPT_STEPPED },
	{ "strict",	no_argument,	   NULL, OPT_STRICT },
	{ "trace",	required_argument, NULL, OPT_TRACE },
	{ "dump",	required_argument, NULL, OPT_DUMP },
	{ "disk",	required_argument, NULL, OPT_DISK },
	{ "disk-size",	required_argument, NULL, OPT_DISK_SIZE },
	{ "blk-workers", required_argument, NULL, OPT_BLK_WORKERS },
	{ "barrier-every", required_argument, NULL, OPT_BARRIER_EVERY },
	{ "direct",	no_argument,	   NULL, OPT_DIRECT },
	{ "net-peer",	required_argument, NULL, OPT_NET_PEER },
	{ "fault",	required_argument, NULL, OPT_FAULT },
	{ "recover",	no_argument,	   NULL, OPT_RECOVER },
	{ "campaign",	required_argument, NULL, OPT_CAMPAIGN },
	{ "threaded",	no_argument,	   NULL, OPT_THREADED },
	{ "shard",	required_argument, NULL, OPT_SHARD },
	{ "help",	no_argument,	   NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static const char usage_text[] =
"usage: vqsim [options]\n"
"Runs a guest driver and a host device on two threads over the 2007 lguest\n"
"descriptor ring and verifies every buffer.\n"
"\n"
"  --device blk|net|null  a device to run (repeatable; default blk and net)\n"
"  --requests N         requests per device (default 100000)\n"
"  --queue-size N       power of two, 2..256 (default 256)\n"
"  --chain OUT:IN       readable and writable descriptors per request (1:1)\n"
"  --seed N             seed for every random choice (default: new each run)\n"
"  --start-index N      start every free-running index at N (wrap testing)\n"
"  --batch N            kick once per N buffers added (default 32)\n"
"  --notify plain|flags|event-idx  notification suppression (default\n"
"                       flags; plain: always kick and interrupt)\n"
"  --wait eventfd|poll  sleep on eventfd (default), or spin on the shared\n"
"                       indices with no syscalls\n"
"  --spin-us N          eventfd: spin this long before sleeping (default 20)\n"
"  --affinity           pin the guest and host threads to different CPUs\n"
"  --io-size BYTES      blk: every read and write this size, aligned, in\n"
"                       one buffer (a multiple of 512; default: random)\n"
"  --guest-mem MIB      guest memory in MiB (default 16)\n"
"  --disk PATH          blk backing file, created if absent (default: a\n"
"                       temporary file, removed at exit)\n"
"  --disk-size MIB      size of a disk file vqsim creates (default 64)\n"
"  --blk-workers N      blk I/O worker threads (default 4)\n"
"  --barrier-every K    blk: a barrier after every K writes (default 64;\n"
"                       0: none)\n"
"  --direct             blk: open the disk with O_DIRECT\n"
"  --net-peer loopback|guest  what answers on the net wire (default\n"
"                       loopback; guest: a second simulated guest)\n"
"  --json               print the summary as JSON\n"
"  --stepped            one thread, the seed chooses every interleaving\n"
"  --trace FILE         one line per ring event\n"
"  --dump FILE@WHEN     the raw pages of each queue to FILE.QUEUE at WHEN:\n"
"                       kick:N, irq:N (the Nth publication) or end\n"
"  --strict             a check that fires aborts with the decoded ring\n"
"  --fault SPEC         corrupt the ring: [QUEUE:]FIELD OP VALUE@WHEN, e.g.\n"
"                       'blk:desc[head].next=999@kick:3' (repeatable)\n"
"  --recover            after a detection, reset the queue and resubmit\n"
"                       what was in flight; the run goes on\n"
"  --campaign N         N runs with one generated fault each, over every\n"
"                       fault class; prints the detection matrix\n"
"  --threaded           campaign runs on threads (default: stepped)\n"
"  --shard K/M          run only the Kth of M slices of the campaign\n"
"  --help               this text\n"
"\n"
"  vqsim decode [--queue-size N] FILE   print a raw dump for a person\n"
"\n"
"Exit status: 0 all verified, 1 a check fired or verification failed,\n"
"2 usage error.\n";

static const char *const notify_names[] = {
	[VRING_NOTIFY_PLAIN] = "plain",
	[VRING_NOTIFY_FLAGS] = "flags",
	[VRING_NOTIFY_EVENT_IDX] = "event-idx",
};

static const char *const wait_names[] = {
	[SIM_WAIT_EVENTFD] = "eventfd",
	[SIM_WAIT_POLL] = "poll",
};

/* The index of name in names[0, n), or -1. */
static int name_index(const char *const *names, unsigned int n,
		      const char *name)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return (int)i;
	return -1;
}

const char *sim_notify_name(enum vring_notify notify)
{
	return notify_names[notify];
}

int sim_notify_parse(const char *name, enum vring_notify *notify)
{
	int i = name_index(notify_names, 3, name);

	if (i < 0)
		return -1;
	*notify = (enum vring_notify)i;
	return 0;
}

const char *sim_wait_name(enum sim_wait wait)
{
	return wait_names[wait];
}

int sim_wait_parse(const char *name, enum sim_wait *wait)
{
	int i = name_index(wait_names, 2, name);

	if (i < 0)
		return -1;
	*wait = (enum sim_wait)i;
	return 0;
}

void sim_config_default(struct sim_config *cfg)
{
	struct timespec ts;

	memset(cfg, 0, sizeof(*cfg));
	cfg->devices = SIM_DEV_BLK | SIM_DEV_NET;
	cfg->disk_size = DEFAULT_DISK_SIZE;
	cfg->blk_workers = DEFAULT_BLK_WORKERS;
	cfg->barrier_every = DEFAULT_BARRIER_EVERY;
	cfg->shard_k = cfg->shard_m = 1;
	cfg->requests = DEFAULT_REQUESTS;
	cfg->queue_size = VRING_MAX_SIZE;
	cfg->chain_out = 1;
	cfg->chain_in = 1;
	cfg->batch = DEFAULT_BATCH;
	cfg->notify = VRING_NOTIFY_FLAGS;
	cfg->wait = SIM_WAIT_EVENTFD;
	cfg->spin_us = DEFAULT_SPIN_US;
	cfg->guest_mem = DEFAULT_GUEST_MEM;
	clock_gettime(CLOCK_REALTIME, &ts);
	cfg->seed = ((uint64_t)ts.tv_sec * 1000000007u) ^
		    (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
}

static int usage_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return 2;
}

/* A whole unsigned number, decimal or 0x hex, at most max. */
static int parse_u64(const char *s, uint64_t max, uint64_t *v)
{
	char *end;
	unsigned long long x;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	x = strtoull(s, &end, 0);
	if (errno || *end || x > max)
		return -1;
	*v = x;
	return 0;
}

/* WHEN of a dump (and of a fault): kick:N, irq:N or end. */
static int parse_when(const char *s, enum sim_when_kind *kind, uint64_t *n)
{
	if (!strcmp(s, "end")) {
		*kind = SIM_AT_END;
		*n = 0;
		return 0;
	}
	if (!strncmp(s, "kick:", 5))
		*kind = SIM_AT_KICK;
	else if (!strncmp(s, "irq:", 4))
		*kind = SIM_AT_IRQ;
	else
		return -1;
	return parse_u64(strchr(s, ':') + 1, UINT64_MAX, n) || *n == 0 ?
	       -1 : 0;
}

static int parse_device(const char *s, unsigned int *devices)
{
	if (!strcmp(s, "null"))
		*devices |= SIM_DEV_NULL;
	else if (!strcmp(s, "blk"))
		*devices |= SIM_DEV_BLK;
	else if (!strcmp(s, "net"))
		*devices |= SIM_DEV_NET;
	else
		return -1;
	return 0;
}

unsigned int sim_queue_names(const struct sim_config *cfg,
			     const char *names[SIM_MAX_QUEUES])
{
	unsigned int n = 0;

	/* The order of the device table in run.c. */
	if (cfg->devices & SIM_DEV_BLK)
		names[n++] = "blk";
	if (cfg->devices & SIM_DEV_NET) {
		names[n++] = "net.rx";
		names[n++] = "net.tx";
		if (cfg->net_peer == SIM_PEER_GUEST) {
			names[n++] = "peer.rx";
			names[n++] = "peer.tx";
		}
	}
	if (cfg->devices & SIM_DEV_NULL)
		names[n++] = "null";
	return n;
}

/* Every fault names a queue of this run; one that names none gets the
 * run's only queue, or is an error. */
static int check_fault_queues(struct sim_config *cfg, char *err,
			      size_t errlen)
{
	const char *names[SIM_MAX_QUEUES];
	unsigned int n = sim_queue_names(cfg, names), i, k;
	char spec[128], list[128] = "";

	for (k = 0; k < n; k++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
			 "%s%s", k ? ", " : "", names[k]);
	for (i = 0; i < cfg->nfaults; i++) {
		struct flt_spec *f = &cfg->faults[i];

		flt_format(f, spec, sizeof(spec));
		if (!f->queue[0]) {
			if (n != 1)
				return usage_error(err, errlen,
					"--fault '%s': name the queue, this run has %s",
					spec, list);
			snprintf(f->queue, sizeof(f->queue), "%s", names[0]);
			continue;
		}
		for (k = 0; k < n; k++)
			if (!strcmp(f->queue, names[k]))
				break;
		if (k == n)
			return usage_error(err, errlen,
				"--fault '%s': this run has no queue %s (it has %s)",
				spec, f->queue, list);
	}
	return 0;
}

int sim_parse_args(int argc, char **argv, struct sim_config *cfg, FILE *out,
		   char *err, size_t errlen)
{
	bool devices_given = false;
	unsigned int opt;
	uint64_t v;
	int c, ret;

	opterr = 0;
	optind = 0;	/* glibc: 0 re-initialises, so tests can call us again */
	while ((c = getopt_long(argc, argv, ":", options, NULL)) != -1) {
		switch (c) {
		case OPT_DEVICE:
			/* The first --device replaces the default set. */
			if (!devices_given)
				cfg->devices = 0;
			devices_given = true;
			if (parse_device(optarg, &cfg->devices))
				return usage_error(err, errlen,
					"--device '%s': unknown device (expected blk, net or null)",
					optarg);
			break;
		case OPT_REQUESTS:
			if (parse_u64(optarg, INT64_MAX, &cfg->requests))
				return usage_error(err, errlen,
					"--requests '%s': expected a whole number",
					optarg);
			break;
		case OPT_QUEUE_SIZE:
			if (parse_u64(optarg, VRING_MAX_SIZE, &v) ||
			    !vring_size_valid((uint32_t)v))
				return usage_error(err, errlen,
					"--queue-size '%s': expected a power of two from %u to %u",
					optarg, VRING_MIN_SIZE, VRING_MAX_SIZE);
			cfg->queue_size = (uint32_t)v;
			break;
		case OPT_CHAIN: {
			const char *colon = strchr(optarg, ':');
			char outs[24];
			uint64_t o, i;

			if (!colon || (size_t)(colon - optarg) >= sizeof(outs))
				goto bad_chain;
			memcpy(outs, optarg, (size_t)(colon - optarg));
			outs[colon - optarg] = '\0';
			if (parse_u64(outs, VRING_MAX_SIZE, &o) ||
			    parse_u64(colon + 1, VRING_MAX_SIZE, &i) ||
			    o + i == 0)
				goto bad_chain;
			cfg->chain_out = (uint32_t)o;
			cfg->chain_in = (uint32_t)i;
			break;
bad_chain:
			return usage_error(err, errlen,
				"--chain '%s': expected OUT:IN, two counts of descriptors, not both 0",
				optarg);
		}
		case OPT_SEED:
			if (parse_u64(optarg, UINT64_MAX, &cfg->seed))
				return usage_error(err, errlen,
					"--seed '%s': expected a whole number",
					optarg);
			break;
		case OPT_START_INDEX:
			if (parse_u64(optarg, UINT32_MAX, &v))
				return usage_error(err, errlen,
					"--start-index '%s': expected a whole number below 2^32",
					optarg);
			cfg->start_index = (uint32_t)v;
			break;
		case OPT_BATCH:
			if (parse_u64(optarg, UINT32_MAX, &v) || v == 0)
				return usage_error(err, errlen,
					"--batch '%s': expected a whole number from 1",
					optarg);
			cfg->batch = (uint32_t)v;
			break;
		case OPT_NOTIFY:
			if (sim_notify_parse(optarg, &cfg->notify))
				return usage_error(err, errlen,
					"--notify '%s': expected plain, flags or event-idx",
					optarg);
			break;
		case OPT_WAIT:
			if (sim_wait_parse(optarg, &cfg->wait))
				return usage_error(err, errlen,
					"--wait '%s': expected eventfd or poll",
					optarg);
			break;
		case OPT_SPIN_US:
			if (parse_u64(optarg, 1000000, &v))
				return usage_error(err, errlen,
					"--spin-us '%s': expected microseconds from 0 to 1000000",
					optarg);
			cfg->spin_us = (uint32_t)v;
			break;
		case OPT_AFFINITY:
			cfg->affinity = true;
			break;
		case OPT_IO_SIZE:
			if (parse_u64(optarg, MAX_IO_SIZE, &v) || v == 0 ||
			    v % VRING_BLK_SECTOR_SIZE)
				return usage_error(err, errlen,
					"--io-size '%s': expected a multiple of 512 up to 16384",
					optarg);
			cfg->io_size = (uint32_t)v;
			break;
		case OPT_GUEST_MEM:
			if (parse_u64(optarg, 65536, &v) || v == 0)
				return usage_error(err, errlen,
					"--guest-mem '%s': expected MiB from 1 to 65536",
					optarg);
			cfg->guest_mem = v << 20;
			break;
		case OPT_JSON:
			cfg->json = true;
			break;
		case OPT_STEPPED:
			cfg->stepped = true;
			break;
		case OPT_STRICT:
			cfg->strict = true;
			break;
		case OPT_TRACE:
			if (!*optarg)
				return usage_error(err, errlen,
						   "--trace: needs a file name");
			cfg->trace_path = optarg;
			break;
		case OPT_DUMP: {
			struct sim_dump *d = &cfg->dumps[cfg->ndumps];
			char *at = strrchr(optarg, '@');

			if (cfg->ndumps == SIM_MAX_DUMPS)
				return usage_error(err, errlen,
					"--dump '%s': at most %d dumps",
					optarg, SIM_MAX_DUMPS);
			if (!at || at == optarg ||
			    parse_when(at + 1, &d->kind, &d->n))
				return usage_error(err, errlen,
					"--dump '%s': expected FILE@WHEN, WHEN one of kick:N, irq:N (N from 1) or end",
					optarg);
			if ((size_t)(at - optarg) >= sizeof(d->path))
				return usage_error(err, errlen,
					"--dump: file name longer than %zu bytes",
					sizeof(d->path) - 1);
			memcpy(d->path, optarg, (size_t)(at - optarg));
			d->path[at - optarg] = '\0';
			cfg->ndumps++;
			break;
		}
		case OPT_DISK:
			if (!*optarg)
				return usage_error(err, errlen,
						   "--disk: needs a file name");
			cfg->disk_path = optarg;
			break;
		case OPT_DISK_SIZE:
			if (parse_u64(optarg, 1u << 20, &v) || v == 0)
				return usage_error(err, errlen,
					"--disk-size '%s': expected MiB from 1 to 1048576",
					optarg);
			cfg->disk_size = v << 20;
			break;
		case OPT_BLK_WORKERS:
			if (parse_u64(optarg, 64, &v) || v == 0)
				return usage_error(err, errlen,
					"--blk-workers '%s': expected 1 to 64",
					optarg);
			cfg->blk_workers = (uint32_t)v;
			break;
		case OPT_BARRIER_EVERY:
			if (parse_u64(optarg, UINT32_MAX, &v))
				return usage_error(err, errlen,
					"--barrier-every '%s': expected a whole number",
					optarg);
			cfg->barrier_every = (uint32_t)v;
			break;
		case OPT_DIRECT:
			cfg->direct = true;
			break;
		case OPT_NET_PEER:
			if (!strcmp(optarg, "loopback"))
				cfg->net_peer = SIM_PEER_LOOPBACK;
			else if (!strcmp(optarg, "guest"))
				cfg->net_peer = SIM_PEER_GUEST;
			else
				return usage_error(err, errlen,
					"--net-peer '%s': expected loopback or guest",
					optarg);
			break;
		case OPT_FAULT: {
			char why[200];

			if (cfg->nfaults == SIM_MAX_FAULTS)
				return usage_error(err, errlen,
					"--fault '%s': at most %d faults",
					optarg, SIM_MAX_FAULTS);
			if (flt_parse(optarg, &cfg->faults[cfg->nfaults], why,
				      sizeof(why)))
				return usage_error(err, errlen,
						   "--fault '%s': %s", optarg,
						   why);
			cfg->nfaults++;
			break;
		}
		case OPT_CAMPAIGN:
			if (parse_u64(optarg, UINT32_MAX, &cfg->campaign) ||
			    !cfg->campaign)
				return usage_error(err, errlen,
					"--campaign '%s': expected a number of runs from 1",
					optarg);
			break;
		case OPT_RECOVER:
			cfg->recover = true;
			break;
		case OPT_THREADED:
			cfg->threaded = true;
			break;
		case OPT_SHARD: {
			const char *slash = strchr(optarg, '/');
			char ks[24];
			uint64_t k, m;

			if (!slash || (size_t)(slash - optarg) >= sizeof(ks))
				goto bad_shard;
			memcpy(ks, optarg, (size_t)(slash - optarg));
			ks[slash - optarg] = '\0';
			if (parse_u64(ks, UINT32_MAX, &k) ||
			    parse_u64(slash + 1, UINT32_MAX, &m) || !k ||
			    k > m)
				goto bad_shard;
			cfg->shard_k = (uint32_t)k;
			cfg->shard_m = (uint32_t)m;
			break;
bad_shard:
			return usage_error(err, errlen,
				"--shard '%s': expected K/M with 1 <= K <= M",
				optarg);
		}
		case OPT_HELP:
			fputs(usage_text, out);
			return 1;
		case ':':
			return usage_error(err, errlen, "%s: needs a value",
					   argv[optind - 1]);
		default:
			/* A long option given a value it does not take:
			 * getopt reports its val in optopt. */
			for (opt = 0; optopt >= OPT_DEVICE && options[opt].name;
			     opt++)
				if (options[opt].val == optopt)
					return usage_error(err, errlen,
						"--%s takes no value",
						options[opt].name);
			/* optopt names an unknown short option; for a long
			 * one it is 0 and getopt has moved past it. */
			if (optopt > ' ' && optopt < 127)
				return usage_error(err, errlen,
					"unknown option '-%c' (see --help)",
					optopt);
			return usage_error(err, errlen,
					   "unknown option '%s' (see --help)",
					   argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error(err, errlen,
				   "unexpected argument '%s' (see --help)",
				   argv[optind]);
	ret = check_fault_queues(cfg, err, errlen);
	if (ret)
		return ret;
	if (cfg->chain_out + cfg->chain_in > cfg->queue_size)
		return usage_error(err, errlen,
			"--chain %" PRIu32 ":%" PRIu32 ": %" PRIu32
			" descriptors do not fit a queue of %" PRIu32,
			cfg->chain_out, cfg->chain_in,
			cfg->chain_out + cfg->chain_in, cfg->queue_size);
	return 0;
}
