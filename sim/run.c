// SPDX-License-Identifier: MIT
/*
 * The threaded runner: one guest thread driving every workload and sleeping
 * in epoll on its interrupt eventfds, one host thread in an epoll loop over
 * the devices' kick eventfds (the seed launcher's loop).  They share nothing
 * but guest memory, the eventfds and a stop flag.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "workload.h"

struct run {
	const struct sim_config *cfg;
	struct vring_mem mem;
	struct gvq_pages *pages;
	unsigned int nqueues;
	struct sim_queue queues[SIM_MAX_QUEUES];
	struct null_wl *null_wl[SIM_MAX_QUEUES];
	int stop_fd;			/* guest -> host: the run is over */
	atomic_bool host_failed;	/* host -> guest: a device check fired */
};

/* Both notifications are eventfd writes; they cannot fail short of a bug,
 * and a lost one would hang the run, so treat failure as fatal. */
static void signal_fd(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != sizeof(one))
		abort();
}

static void drain_fd(int fd)
{
	uint64_t count;

	/* Non-blocking: EAGAIN just means another wake-up already took it. */
	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		abort();
}

static void guest_kick(void *ctx)
{
	struct sim_queue *q = ctx;

	q->kicks++;
	signal_fd(q->kick_fd);
}

static void host_interrupt(void *ctx)
{
	struct sim_queue *q = ctx;

	q->interrupts++;
	signal_fd(q->irq_fd);
}

static const struct gvq_ops guest_ops = { .kick = guest_kick };
static const struct hvq_ops host_ops = { .interrupt = host_interrupt };

/* Process everything the driver made available, then publish it all. */
static void host_service(struct run *run, struct sim_queue *q)
{
	int ret;

	while ((ret = null_dev_process(q->hvq)) > 0)
		;
	hvq_notify(q->hvq);
	if (ret < 0 && !q->host_reported) {
		unsigned int i;

		q->host_reported = true;
		atomic_store(&run->host_failed, true);
		/* Wake the guest wherever it sleeps, so it sees the flag. */
		for (i = 0; i < run->nqueues; i++)
			signal_fd(run->queues[i].irq_fd);
	}
}

static void *host_thread(void *arg)
{
	struct run *run = arg;
	struct epoll_event ev[SIM_MAX_QUEUES + 1];
	int ep = epoll_create1(EPOLL_CLOEXEC), n, i;

	if (ep < 0)
		abort();
	for (i = 0; i <= (int)run->nqueues; i++) {
		struct epoll_event e = { .events = EPOLLIN };

		e.data.ptr = i < (int)run->nqueues ? &run->queues[i] : NULL;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, e.data.ptr ?
			      run->queues[i].kick_fd : run->stop_fd, &e))
			abort();
	}
	for (;;) {
		n = epoll_wait(ep, ev, SIM_MAX_QUEUES + 1, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			abort();
		for (i = 0; i < n; i++) {
			struct sim_queue *q = ev[i].data.ptr;

			if (!q)
				goto out;
			/* Take the kick before looking: one that lands while
			 * we work wakes us again. */
			drain_fd(q->kick_fd);
			host_service(run, q);
		}
	}
out:
	close(ep);
	return NULL;
}

static void *guest_thread(void *arg)
{
	struct run *run = arg;
	struct epoll_event ev[SIM_MAX_QUEUES];
	int ep = epoll_create1(EPOLL_CLOEXEC), n, i;

	if (ep < 0)
		abort();
	for (i = 0; i < (int)run->nqueues; i++) {
		struct epoll_event e = { .events = EPOLLIN };

		e.data.ptr = &run->queues[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, run->queues[i].irq_fd, &e))
			abort();
	}
	for (;;) {
		bool progress = false, done = true;
		unsigned int k;

		for (k = 0; k < run->nqueues; k++) {
			enum wl_step st = null_wl_step(run->null_wl[k]);

			progress |= st == WL_PROGRESS;
			done &= st == WL_DONE;
		}
		if (done)
			break;
		if (progress)
			continue;
		/* Every workload waits for the device: if the device gave
		 * up, nothing more will come; otherwise sleep until it
		 * interrupts (a count in the eventfd is never lost). */
		if (atomic_load(&run->host_failed))
			break;
		n = epoll_wait(ep, ev, SIM_MAX_QUEUES, -1);
		if (n < 0 && errno != EINTR)
			abort();
		for (i = 0; i < n; i++)
			drain_fd(((struct sim_queue *)ev[i].data.ptr)->irq_fd);
	}
	signal_fd(run->stop_fd);
	close(ep);
	return NULL;
}

static void add_detection(struct sim_result *res, const char *side,
			  const char *queue, const struct vring_detection *det)
{
	struct sim_detection *d;

	if (!det || res->ndetections == SIM_MAX_DETECTIONS)
		return;
	d = &res->detections[res->ndetections++];
	d->side = side;
	d->queue = queue;
	d->det = *det;
}

static void teardown(struct run *run)
{
	unsigned int i;

	for (i = 0; i < run->nqueues; i++) {
		struct sim_queue *q = &run->queues[i];

		null_wl_destroy(run->null_wl[i], run->pages);
		gvq_destroy(q->gvq);
		hvq_destroy(q->hvq);
		if (q->kick_fd >= 0)
			close(q->kick_fd);
		if (q->irq_fd >= 0)
			close(q->irq_fd);
	}
	if (run->stop_fd >= 0)
		close(run->stop_fd);
	gvq_pages_destroy(run->pages);
	vring_mem_unmap(&run->mem);
}

static int setup_queue(struct run *run, const char *name)
{
	const struct sim_config *cfg = run->cfg;
	struct sim_queue *q = &run->queues[run->nqueues];
	struct vring vr;
	int64_t pfn;

	q->name = name;
	q->kick_fd = q->irq_fd = -1;
	run->nqueues++;
	pfn = gvq_pages_alloc(run->pages, VRING_PAGES);
	if (pfn < 0)
		return (int)pfn;
	q->pages = run->mem.base + ((uint64_t)pfn << VRING_PAGE_SHIFT);
	vring_init(&vr, q->pages, cfg->queue_size);
	vring_reset(&vr, cfg->start_index);
	q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	q->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->kick_fd < 0 || q->irq_fd < 0)
		return -errno;
	q->gvq = gvq_create(q->pages, cfg->queue_size, cfg->start_index,
			    &guest_ops, q);
	q->hvq = hvq_create(&run->mem, q->pages, cfg->queue_size,
			    cfg->start_index, &host_ops, q);
	if (!q->gvq || !q->hvq)
		return -ENOMEM;
	run->null_wl[run->nqueues - 1] =
		null_wl_create(cfg, &run->mem, run->pages, q->gvq);
	if (!run->null_wl[run->nqueues - 1])
		return -ENOMEM;
	return 0;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

int sim_run_threaded(const struct sim_config *cfg, struct sim_result *res)
{
	struct run *run = calloc(1, sizeof(*run));
	pthread_t host, guest;
	struct timespec t0;
	unsigned int i;
	int ret;

	if (!run)
		return -ENOMEM;
	memset(res, 0, sizeof(*res));
	res->seed = cfg->seed;
	run->cfg = cfg;
	run->stop_fd = -1;
	ret = vring_mem_map(&run->mem, cfg->guest_mem);
	if (ret)
		goto out;
	run->pages = gvq_pages_create(0, vring_mem_pages(&run->mem));
	run->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ret = !run->pages ? -ENOMEM : run->stop_fd < 0 ? -errno : 0;
	if (ret)
		goto out;
	if (cfg->devices & SIM_DEV_NULL) {
		ret = setup_queue(run, "null");
		if (ret)
			goto out;
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = pthread_create(&host, NULL, host_thread, run);
	if (ret) {
		ret = -ret;
		goto out;
	}
	ret = pthread_create(&guest, NULL, guest_thread, run);
	if (ret) {
		signal_fd(run->stop_fd);
		pthread_join(host, NULL);
		ret = -ret;
		goto out;
	}
	pthread_join(guest, NULL);
	pthread_join(host, NULL);
	res->elapsed_s = seconds_since(&t0);

	res->ok = true;
	for (i = 0; i < run->nqueues; i++) {
		struct sim_queue *q = &run->queues[i];
		struct sim_dev_result *d = &res->devs[res->ndevs++];

		null_wl_result(run->null_wl[i], d);
		d->queue_size = cfg->queue_size;
		d->kicks = q->kicks;
		d->interrupts = q->interrupts;
		add_detection(res, "host", q->name, hvq_detection(q->hvq));
		add_detection(res, "guest", q->name, gvq_detection(q->gvq));
		res->ok &= d->verified;
	}
	res->ok &= res->ndetections == 0;
out:
	teardown(run);
	free(run);
	return ret;
}
