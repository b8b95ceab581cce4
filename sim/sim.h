/* SPDX-License-Identifier: MIT */
/*
 * The simulator: it places the queues in guest memory, wires the driver and
 * the device together through notifications, runs the workloads and reports.
 * The only layer that knows about threads, eventfds and the command line.
 */
#ifndef VQSIM_SIM_H
#define VQSIM_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "faults.h"
#include "vring.h"

enum sim_device_flag {
	SIM_DEV_NULL = 1u << 0,
	SIM_DEV_BLK = 1u << 1,
	SIM_DEV_NET = 1u << 2,
};

/* What is at the other end of the net device's wire. */
enum sim_net_peer {
	SIM_PEER_LOOPBACK,	/* sends every frame straight back */
	SIM_PEER_GUEST,		/* a second simulated guest: inter-guest I/O */
};

enum sim_side { SIM_GUEST, SIM_HOST };

/* How a side that has nothing to do waits for the other. */
enum sim_wait {
	SIM_WAIT_EVENTFD,	/* spin --spin-us, then sleep in epoll */
	SIM_WAIT_POLL,		/* spin on the shared indices, no syscalls */
};

/* The moments DESIGN.md section 5 names, for dumps (and faults). */
enum sim_when_kind { SIM_AT_KICK, SIM_AT_IRQ, SIM_AT_END };

#define SIM_MAX_DUMPS 8
#define SIM_MAX_FAULTS 16

struct sim_dump {
	char path[512];			/* written as path.QUEUE */
	enum sim_when_kind kind;
	uint64_t n;			/* the Nth publication, from 1 */
};

/*
 * Called after each publication of an index, on the publishing side, with
 * the queue's ring and guest memory: lets tests corrupt a running queue,
 * or the data in its buffers, by hand.
 */
typedef void sim_tamper_fn(void *ctx, const char *queue, enum sim_side side,
			   uint64_t n, const struct vring *vr,
			   const struct vring_mem *mem);

struct sim_config {
	unsigned int devices;		/* SIM_DEV_* */
	uint64_t requests;		/* per device */
	uint32_t queue_size;
	uint32_t chain_out, chain_in;	/* null device descriptors per request */
	uint64_t seed;
	uint32_t start_index;
	uint32_t batch;			/* kick once per this many adds */
	enum vring_notify notify;	/* notification suppression */
	enum sim_wait wait;
	uint32_t spin_us;		/* eventfd: spin this long before sleeping */
	bool affinity;			/* pin guest and host to different CPUs */
	uint64_t guest_mem;		/* bytes of guest RAM */
	bool json;
	bool stepped;			/* one thread, seeded interleaving */
	bool strict;			/* a check aborts with a ring dump */
	bool recover;			/* a detection resets the queue */
	const char *trace_path;		/* NULL: no trace */
	unsigned int ndumps;
	struct sim_dump dumps[SIM_MAX_DUMPS];
	const char *disk_path;		/* blk backing file; NULL: a temporary one */
	uint64_t disk_size;		/* bytes, when the file is created */
	uint32_t blk_workers;		/* I/O threads (steps, when stepped) */
	uint32_t barrier_every;		/* blk: a barrier every K writes; 0 never */
	bool direct;			/* blk: O_DIRECT */
	uint32_t io_size;		/* blk: every read and write this many
					 * bytes, aligned, one buffer; 0 random */
	enum sim_net_peer net_peer;
	unsigned int nfaults;
	struct flt_spec faults[SIM_MAX_FAULTS];	/* queue always named */
	uint64_t campaign;		/* --campaign N: N fault runs */
	bool threaded;			/* campaign: threaded runs */
	uint32_t shard_k, shard_m;	/* campaign: the Kth of M slices */
	sim_tamper_fn *tamper;		/* tests only */
	void *tamper_ctx;
};

#define SIM_MAX_QUEUES 8
#define SIM_MAX_DETECTIONS (2 * SIM_MAX_QUEUES)

struct sim_dev_result {
	const char *name;
	uint32_t queue_size;
	uint64_t requests;
	uint64_t completed;
	uint64_t bytes;			/* bytes the device wrote to the guest */
	uint64_t kicks;
	uint64_t interrupts;
	uint64_t in_flight;		/* posted, never completed */
	uint64_t mismatches;		/* completions that failed verification */
	uint64_t restart_races;		/* restarts that found new used */
	/* blk only */
	uint64_t reads, writes, barriers, ioerr, unsupp;
	/* net only: frames sent, received intact, dropped for want of a
	 * receive buffer; and (--recover) delivered into a receive buffer
	 * that a reset then took back unread */
	uint64_t tx, rx, dropped, lost_in_reset;
	bool verified;
};

struct sim_detection {
	const char *side;		/* "host" or "guest" */
	const char *queue;
	struct vring_detection det;
	/* The event sequence number it fired at (the trace's first column):
	 * global in the stepped runner, per side in the threaded one; only
	 * counted when events are (stepped, --trace, --dump, --strict). */
	bool has_seq;
	uint64_t seq;
	bool recovered;			/* --recover reset the queue after it */
};

struct sim_result {
	bool ok;
	uint64_t seed;
	const char *runner;		/* "threaded" or "stepped" */
	const char *notify, *wait;	/* the modes run, by name */
	uint64_t steps;			/* stepped: scheduler steps taken */
	bool stalled;			/* stepped: both sides waited forever */
	uint64_t restart_races;		/* restarts that found new used */
	unsigned int ndevs;
	struct sim_dev_result devs[SIM_MAX_QUEUES];
	unsigned int ndetections;
	struct sim_detection detections[SIM_MAX_DETECTIONS];
	/* For each of cfg->faults: its text, whether its moment came and it
	 * could be resolved (a head.N past the chain's end cannot), and how
	 * many publications of its kind (kicks or irqs) its queue made against
	 * the one it was due at, so a fault that never came says how far the
	 * run got. */
	unsigned int nfaults;
	char fault_spec[SIM_MAX_FAULTS][FLT_SPEC_LEN];
	bool fault_applied[SIM_MAX_FAULTS];
	uint64_t fault_moments[SIM_MAX_FAULTS], fault_due[SIM_MAX_FAULTS];
	/* --recover: queue resets done, one per detection recovered from;
	 * those detections are in detections[] with recovered set. */
	uint64_t resets;
	double elapsed_s;
};

/* The names of the queues cfg's devices have, in the run's order;
 * returns how many. */
unsigned int sim_queue_names(const struct sim_config *cfg,
			     const char *names[SIM_MAX_QUEUES]);

/* Defaults for everything, with a seed that differs from run to run. */
/* The --notify and --wait words: name to value (0, or -1 if unknown)
 * and back. */
const char *sim_notify_name(enum vring_notify notify);
int sim_notify_parse(const char *name, enum vring_notify *notify);
const char *sim_wait_name(enum sim_wait wait);
int sim_wait_parse(const char *name, enum sim_wait *wait);

void sim_config_default(struct sim_config *cfg);

/*
 * Parse the command line into cfg.  Returns 0 to run, 1 if --help was
 * printed to out, or 2 with one line (no newline) describing a usage error
 * in err[errlen].
 */
int sim_parse_args(int argc, char **argv, struct sim_config *cfg, FILE *out,
		   char *err, size_t errlen);

/*
 * Run the simulation cfg describes on two threads.  Returns 0 with *res
 * filled in, or a negative errno if the simulation could not be set up.
 */
int sim_run_threaded(const struct sim_config *cfg, struct sim_result *res);

/*
 * The same on one thread, where a scheduler seeded by cfg->seed picks who
 * moves at each step: the same seed gives the same run, event for event.
 */
int sim_run_stepped(const struct sim_config *cfg, struct sim_result *res);

/* cfg->stepped ? sim_run_stepped : sim_run_threaded. */
int sim_run(const struct sim_config *cfg, struct sim_result *res);

/*
 * Print a raw dump (VRING_BYTES) of a queue of num entries for a person,
 * with every inconsistency found.  Returns how many, or -1 if len or num
 * is wrong.
 */
int sim_decode(const void *dump, size_t len, uint32_t num, FILE *out);

/*
 * --campaign: cfg->campaign fault runs (the shard_k-th of shard_m slices),
 * cycling through the catalogue, each in a child under a watchdog; the
 * matrix goes to out, progress (if non-NULL) to progress.  Returns the
 * exit status: 0 if every run was detected as expected, else 1.
 */
int sim_campaign(const struct sim_config *base, FILE *out, FILE *progress);

/* `vqsim decode [--queue-size N] FILE`: the exit status. */
int sim_decode_main(int argc, char **argv);

void sim_print_summary(FILE *f, const struct sim_result *res);
void sim_print_json(FILE *f, const struct sim_result *res);

#endif
