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
struct sim_device;

/*
 * One queue and its two ends.  Each side's fields sit on their own cache
 * lines so that the threads share only what the protocol shares.
 */
struct sim_queue {
	const char *name;
	struct run *run;
	struct sim_device *dev;		/* whose queue this is */
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

	/*
	 * --recover: a device reset of this queue, which the guest drives
	 * (as a virtio driver resets a broken device).  The guest asks
	 * (reset_req), the device quiesces, resets its side and parks the
	 * queue (reset_ack), the guest re-initialises the ring and unparks
	 * it (ring_ready).  Each is an epoch number, release/acquire.
	 */
	_Alignas(64) atomic_uint reset_req;
	atomic_uint reset_ack;
	atomic_uint ring_ready;
	atomic_bool host_broken;	/* the device side latched */
	unsigned int guest_epoch;	/* guest: the reset it is in, or done */
	bool resetting;			/* guest: waiting for reset_ack */
	unsigned int host_epoch;	/* host: the last reset it did */
	/* Detections recovered from, per side (written by that side). */
	unsigned int nlog[2];
	struct vring_detection log[2][2];
	uint64_t log_seq[2][2];
	uint64_t recovered[2];

	/* Stepped runner only: notifications not yet delivered. */
	_Alignas(64) uint64_t kick_pending;
	uint64_t irq_pending;
	bool host_active;		/* woken by a kick, still draining */
	bool host_rearm;		/* drained: next, hvq_restart */
};

struct run {
	const struct sim_config *cfg;
	bool stepped;
	unsigned int guest_burst;	/* workload steps per round */
	bool events;			/* the sides report ring events */
	struct vring_mem mem;
	struct gvq_pages *pages;
	unsigned int nqueues;
	struct sim_queue queues[SIM_MAX_QUEUES];
	const char *queue_names[SIM_MAX_QUEUES];
	unsigned int ndevices;
	struct sim_device *devices[SIM_MAX_QUEUES];
	/* The runner's way to wake a sleeping guest out of turn, and to
	 * wake the host for a queue whose driver cannot kick (broken). */
	void (*wake_guest)(struct sim_queue *q);
	void (*wake_host)(struct sim_queue *q);
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
	atomic_bool guest_done;		/* threaded: the guest has finished */
	bool stalled;			/* stepped: nobody could move */
	bool fault_applied[SIM_MAX_FAULTS];	/* each written by one side */
	unsigned int fault_epoch[SIM_MAX_FAULTS]; /* the reset it came in */
};

/*
 * What the runners see of a device: its guest workload, its host side, and
 * whatever host work does not start with a kick (I/O completions, frames
 * arriving from the wire).  A device embeds this struct first.
 */
enum wl_step {
	WL_PROGRESS,	/* did something; call again */
	WL_IDLE,	/* nothing to do until the device interrupts */
	WL_DONE,	/* finished, or the queue broke */
};

struct sim_device_ops {
	/* Guest: at most one ring operation; never blocks. */
	enum wl_step (*guest_step)(struct sim_device *dev);
	/* Host, woken by a kick of q: one unit of work.  1: call again;
	 * 0: nothing left, and what was used is published; -EIO: q broke
	 * (the device has called run_host_failed). */
	int (*host_step)(struct sim_device *dev, struct sim_queue *q);
	/* Optional host work no kick starts.  Stepped runner: how many such
	 * actions can run now, and run the i-th.  Threaded runner: start()
	 * may start the device's own threads and set async_fd, which the
	 * host thread polls and answers with async_drain(); stop() joins. */
	unsigned int (*async_ready)(struct sim_device *dev);
	void (*async_step)(struct sim_device *dev, unsigned int i);
	int (*start)(struct sim_device *dev);
	void (*stop)(struct sim_device *dev);
	void (*async_drain)(struct sim_device *dev);
	/* --recover, optional.  guest_reset: take back every chain posted
	 * on q (gvq_detach_unused) to resubmit after the reset; the device
	 * is not stepped until then.  host_reset: forget q's chains in flight
	 * (after any I/O on them has finished), on the host side. */
	void (*guest_reset)(struct sim_device *dev, struct sim_queue *q);
	void (*host_reset)(struct sim_device *dev, struct sim_queue *q);
	/* The device's part of the summary; then free it. */
	void (*result)(struct sim_device *dev, struct sim_dev_result *r);
	void (*destroy)(struct sim_device *dev);
};

struct sim_device {
	const struct sim_device_ops *ops;
	struct run *run;
	int async_fd;			/* threaded: -1 if none */
};

/* Set up guest memory, the queues and the devices for cfg; the runner
 * supplies the notification half of each side's ops. */
int run_create(const struct sim_config *cfg, bool stepped,
	       void (*kick)(void *ctx), void (*interrupt)(void *ctx),
	       void (*wake_guest)(struct sim_queue *q),
	       void (*wake_host)(struct sim_queue *q), struct run **runp);

/* The host's unit of work on q after a wake-up: the device's host_step,
 * or a --recover reset, or nothing while the queue is parked for one. */
int run_host_step(struct sim_queue *q);

/* A kick woke the host for q, or it polls: it is draining q, so no kicks
 * (hvq_disable_notify), unless q is parked for a reset. */
void run_host_woken(struct sim_queue *q);

/* Stepped: the device has work on q that no kick announced (a barrier
 * completed, and what waited behind it can be taken): drain q now. */
void run_host_resume(struct sim_queue *q);

/* The host's step before it sleeps after draining q: re-enable kicks and
 * return 1 if q has work after all (see hvq_restart). */
int run_host_restart(struct sim_queue *q);

/*
 * Zeroed memory aligned to a cache line, for the structs whose guest and
 * host fields are kept on separate lines (_Alignas(64)): calloc only
 * promises 16 bytes.  Freed with free().
 */
void *sim_zalloc_lines(size_t size);

/* --wait poll on threads: nobody sleeps, notifications stay suppressed. */
bool run_polling(const struct run *run);

/* --wait eventfd on threads: spin up to --spin-us until done(arg); true if
 * it came.  Always false in the stepped runner and when polling. */
bool run_spin(const struct run *run, bool (*done)(const void *arg),
	      const void *arg);

/* For a workload about to re-enable interrupts and sleep: run_spin until
 * one of dev's queues has used entries (or the device failed). */
bool run_guest_spin(struct sim_device *dev);

/* For devices' own host work: q is parked for a reset; leave it alone. */
bool run_queue_parked(const struct sim_queue *q);
/* Write the trace and end dumps, fill res, free everything. */
int run_finish(struct run *run, struct sim_result *res);

/* For devices: a new queue of dev named name, both ends wired; NULL on
 * failure.  The driver's page allocator is run->pages. */
struct sim_queue *run_add_queue(struct run *run, struct sim_device *dev,
				const char *name);

/* For devices: q's device side broke; stop the guest waiting for it. */
void run_host_failed(struct sim_queue *q);

/* One round of the guest: a step of every device's workload.  WL_DONE
 * when all are done, WL_PROGRESS if any moved, else WL_IDLE. */
enum wl_step run_guest_round(struct run *run);

/* ---- devices ---- */

int blk_device_create(struct run *run, struct sim_device **devp);
int net_device_create(struct run *run, struct sim_device **devp);
int null_device_create(struct run *run, struct sim_device **devp);

/*
 * Tests only: while a log is set, the blk device's host side appends what
 * it does to each request, in the order it happened (the barrier's proof).
 * id numbers requests in the order the host took them off the ring.
 */
enum blk_log_event {
	BLK_LOG_POP,		/* taken off the ring */
	BLK_LOG_FSYNC,		/* a barrier's fdatasync starts */
	BLK_LOG_EXEC,		/* its I/O starts */
	BLK_LOG_DONE,		/* its I/O is over */
	BLK_LOG_COMPLETE,	/* status written, chain used */
};

struct blk_log {
	struct {
		enum blk_log_event event;
		uint32_t type;		/* the header's, BARRIER included */
		uint64_t id;
	} *ent;
	size_t cap, n;
	bool overflow;		/* events lost for want of room */
};

void blk_test_log(struct blk_log *log);

/* ---- the trace ---- */

struct trace *trace_create(void);
void trace_destroy(struct trace *t);
void trace_add(struct trace *t, uint64_t seq, uint64_t when, enum sim_side side,
	       unsigned int queue, const struct vring_event *ev);
/* Merge a and b (either may be NULL) by time into f, one line per event. */
int trace_write(FILE *f, struct trace *a, struct trace *b,
		const char *const *queue_names, bool stepped);

#endif
