/* SPDX-License-Identifier: MIT */
/*
 * sim/'s insides, shared by the two runners: the queues with both ends
 * wired, the workloads, the trace, and the event handling (trace, dumps,
 * --strict) that does not depend on who schedules the two sides.
 */
#ifndef VQSIM_SIM_RUN_H
#define VQSIM_SIM_RUN_H

#include <stdatomic.h>
#include <time.h>

#include "guestdrv.h"
#include "hostdev.h"
#include "sim.h"

struct run;
struct trace;

/*
 * One queue and its two ends.  Each side's fields sit on their own cache
 * lines so that the threads share only what the protocol shares.
 */
struct sim_queue {
	const char *name;
	struct run *run;
	unsigned int index;
	void *pages;			/* the three shared pages */
	struct vring vr;		/* for dumps only: sides have their own */
	struct gvq *gvq;
	struct hvq *hvq;
	int kick_fd;			/* threaded: guest -> host */
	int irq_fd;			/* threaded: host -> guest */

	/* Written by the guest side only. */
	_Alignas(64) uint64_t kicks;
	uint64_t avail_pubs;		/* avail idx publications: kick:N */
	uint64_t guest_det_seq;

	/* Written by the host side only. */
	_Alignas(64) uint64_t interrupts;
	uint64_t used_pubs;		/* used idx publications: irq:N */
	uint64_t host_det_seq;
	bool host_reported;

	/* Stepped runner only: notifications not yet delivered. */
	_Alignas(64) uint64_t kick_pending;
	uint64_t irq_pending;
	bool host_active;		/* woken by a kick, still draining */
};

struct run {
	const struct sim_config *cfg;
	bool stepped;
	bool events;			/* the sides report ring events */
	struct vring_mem mem;
	struct gvq_pages *pages;
	unsigned int nqueues;
	struct sim_queue queues[SIM_MAX_QUEUES];
	struct null_wl *null_wl[SIM_MAX_QUEUES];
	const char *queue_names[SIM_MAX_QUEUES];
	struct timespec t0;
	struct gvq_ops guest_ops;	/* the runner's kick, our events */
	struct hvq_ops host_ops;	/* the runner's interrupt, our events */
	FILE *trace_file;

	/* Per-side event sequence numbers: one counter shared by both
	 * sides in the stepped runner, one each in the threaded one. */
	uint64_t *seq[2];
	_Alignas(64) uint64_t guest_seq;
	struct trace *guest_trace;
	_Alignas(64) uint64_t host_seq;
	struct trace *host_trace;
	_Alignas(64) uint64_t step;	/* stepped: the scheduler's step */
	uint64_t restart_races;		/* restarts that found more work */
	int stop_fd;			/* threaded: guest -> host, run over */
	atomic_bool host_failed;	/* a device check fired */
	bool stalled;			/* stepped: nobody could move */
};

/* Set up guest memory, the queues and the workloads for cfg; the runner
 * supplies the notification half of each side's ops. */
int run_create(const struct sim_config *cfg, bool stepped,
	       void (*kick)(void *ctx), void (*interrupt)(void *ctx),
	       struct run **runp);
/* Write the trace and end dumps, fill res, free everything. */
int run_finish(struct run *run, struct sim_result *res);

/* Wake the guest after a device check fired (the runner's way). */
void run_host_failed(struct run *run, struct sim_queue *q,
		     void (*wake_guest)(struct sim_queue *q));

/* One round of the guest: a step of every workload.  Returns WL_DONE when
 * all are done, WL_PROGRESS if any moved, else WL_IDLE. */
enum wl_step {
	WL_PROGRESS,	/* did something; call again */
	WL_IDLE,	/* nothing to do until the device interrupts */
	WL_DONE,	/* finished, or the queue broke */
};
enum wl_step run_guest_round(struct run *run);

/* Host: one chain of q (stepped) or all of them (threaded); then, when
 * nothing is left, publish and interrupt.  Returns 1 while there may be
 * more, 0 when drained, -EIO once the queue is broken. */
int run_host_chain(struct sim_queue *q);

/* ---- the null workload (guest side) ---- */

struct null_wl;

struct null_wl *null_wl_create(const struct sim_config *cfg,
			       const struct vring_mem *mem,
			       struct gvq_pages *pages, struct gvq *vq);
void null_wl_destroy(struct null_wl *w, struct gvq_pages *pages);
enum wl_step null_wl_step(struct null_wl *w);
void null_wl_result(const struct null_wl *w, struct sim_dev_result *r);
uint64_t null_wl_restart_races(const struct null_wl *w);

/* ---- the trace ---- */

struct trace *trace_create(void);
void trace_destroy(struct trace *t);
void trace_add(struct trace *t, uint64_t seq, uint64_t when, enum sim_side side,
	       unsigned int queue, const struct vring_event *ev);
/* Merge a and b (either may be NULL) by time into f, one line per event. */
int trace_write(FILE *f, struct trace *a, struct trace *b,
		const char *const *queue_names, bool stepped);

#endif
