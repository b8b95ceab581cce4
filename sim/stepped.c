// SPDX-License-Identifier: MIT
/*
 * The stepped runner: guest and host on one thread, a scheduler seeded by
 * --seed choosing at each step who moves next among everyone who can: the
 * guest (one action of each workload), the host (one chain of a queue it
 * was kicked for, or its re-enabling of kicks once drained), or the
 * delivery of a pending kick or interrupt.  The
 * same seed gives the same run; a run where nobody can move but the guest
 * is not done is a lost wake-up, reported as a stall.
 */
#include "rng.h"
#include "run.h"

/* Notifications are only noted; delivering them is a step of its own, so
 * every delay the eventfds could introduce can be chosen. */
static void stepped_kick(void *ctx)
{
	struct sim_queue *q = ctx;

	q->kicks++;
	q->kick_pending++;
}

static void stepped_interrupt(void *ctx)
{
	struct sim_queue *q = ctx;

	q->interrupts++;
	q->irq_pending++;
}

static void wake_guest(struct sim_queue *q)
{
	q->irq_pending++;
}

static void wake_host(struct sim_queue *q)
{
	q->kick_pending++;
}

enum act { ACT_GUEST, ACT_HOST, ACT_KICK, ACT_IRQ, ACT_ASYNC };

struct action {
	enum act act;
	unsigned int i;			/* ACT_ASYNC: which of dev's actions */
	struct sim_queue *q;		/* ACT_HOST, ACT_KICK, ACT_IRQ */
	struct sim_device *dev;		/* ACT_ASYNC */
};

/* Room for every action that can be ready at once, with a device's own
 * actions (I/O in flight, frames on the wire) capped at a queue's worth. */
#define MAX_ASYNC	VRING_MAX_SIZE
#define MAX_ACTIONS	(1 + 2 * SIM_MAX_QUEUES + SIM_MAX_QUEUES * MAX_ASYNC)

int sim_run_stepped(const struct sim_config *cfg, struct sim_result *res)
{
	static struct action acts[MAX_ACTIONS];
	bool guest_asleep = false;
	/* Its own stream, so the workload's choices do not shift with the
	 * schedule's. */
	uint64_t rng = cfg->seed ^ 0x5ced5ced5ced5cedull;
	struct run *run;
	unsigned int k;
	int ret;

	ret = run_create(cfg, true, stepped_kick, stepped_interrupt,
			 wake_guest, wake_host, &run);
	if (ret)
		return ret;
	for (;;) {
		unsigned int n = 0;
		struct action a;

		if (!guest_asleep)
			acts[n++] = (struct action){ .act = ACT_GUEST };
		for (k = 0; k < run->nqueues; k++) {
			struct sim_queue *q = &run->queues[k];

			if (q->host_active)
				acts[n++] = (struct action){
					.act = ACT_HOST, .q = q,
				};
			else if (q->kick_pending)
				acts[n++] = (struct action){
					.act = ACT_KICK, .q = q,
				};
			if (guest_asleep && q->irq_pending)
				acts[n++] = (struct action){
					.act = ACT_IRQ, .q = q,
				};
		}
		for (k = 0; k < run->ndevices; k++) {
			struct sim_device *dev = run->devices[k];
			unsigned int i, ready;

			ready = dev->ops->async_ready ?
				dev->ops->async_ready(dev) : 0;
			for (i = 0; i < ready && i < MAX_ASYNC; i++)
				acts[n++] = (struct action){
					.act = ACT_ASYNC, .dev = dev, .i = i,
				};
		}
		if (!n) {
			run->stalled = true;
			break;
		}
		a = acts[n == 1 ? 0 : rng_next(&rng) % n];
		run->step++;

		if (a.act == ACT_GUEST) {
			enum wl_step st = run_guest_round(run);

			if (st == WL_DONE)
				break;
			/* As the guest thread: a device that gave up will
			 * not interrupt again. */
			if (st == WL_IDLE && atomic_load(&run->host_failed))
				break;
			guest_asleep = st == WL_IDLE;
		} else if (a.act == ACT_HOST) {
			/* Re-enabling kicks is a step of its own: the other
			 * half of the lost wake-up window. */
			if (a.q->host_rearm) {
				a.q->host_rearm = false;
				a.q->host_active = run_host_restart(a.q) > 0;
			} else if (run_host_step(a.q) <= 0) {
				a.q->host_rearm = true;
			}
		} else if (a.act == ACT_ASYNC) {
			a.dev->ops->async_step(a.dev, a.i);
		} else if (a.act == ACT_KICK) {
			a.q->kick_pending = 0;
			a.q->host_active = true;
			run_host_woken(a.q);
		} else {
			/* epoll hands the guest every ready eventfd. */
			for (k = 0; k < run->nqueues; k++)
				run->queues[k].irq_pending = 0;
			guest_asleep = false;
		}
	}
	return run_finish(run, res);
}
