/* SPDX-License-Identifier: MIT */
/*
 * What the runners need of a device's workload: a queue with both sides
 * wired up, and a guest step that never blocks.
 */
#ifndef VQSIM_SIM_WORKLOAD_H
#define VQSIM_SIM_WORKLOAD_H

#include "guestdrv.h"
#include "hostdev.h"
#include "sim.h"

/* One queue and its two ends.  Each side's counters sit on their own cache
 * line so the two threads do not falsely share them. */
struct sim_queue {
	const char *name;
	void *pages;			/* the three shared pages */
	struct gvq *gvq;
	struct hvq *hvq;
	int kick_fd;			/* guest -> host */
	int irq_fd;			/* host -> guest */
	_Alignas(64) uint64_t kicks;	/* written by the guest thread */
	_Alignas(64) uint64_t interrupts; /* written by the host thread */
	bool host_reported;		/* host thread: detection announced */
};

/* What one guest step did. */
enum wl_step {
	WL_PROGRESS,	/* did something; call again */
	WL_IDLE,	/* nothing to do until the device interrupts */
	WL_DONE,	/* finished, or the queue broke */
};

struct null_wl;

struct null_wl *null_wl_create(const struct sim_config *cfg,
			       const struct vring_mem *mem,
			       struct gvq_pages *pages, struct gvq *vq);
void null_wl_destroy(struct null_wl *w, struct gvq_pages *pages);
enum wl_step null_wl_step(struct null_wl *w);
void null_wl_result(const struct null_wl *w, struct sim_dev_result *r);

#endif
