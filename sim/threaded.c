// SPDX-License-Identifier: MIT
/*
 * The threaded runner: one guest thread driving every workload and sleeping
 * in epoll on its interrupt eventfds, one host thread in an epoll loop over
 * the devices' kick eventfds (the seed launcher's loop).  They share nothing
 * but guest memory, the eventfds and the host_failed flag.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "run.h"

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

static void wake_guest(struct sim_queue *q)
{
	signal_fd(q->irq_fd);
}

static void wake_host(struct sim_queue *q)
{
	signal_fd(q->kick_fd);
}

/*
 * --affinity: the guest thread on one CPU, the host thread on another.
 * Two spinning threads left to the scheduler can share a CPU and then run
 * at the speed of its time slices.  With fewer than two CPUs allowed, or
 * if the kernel refuses, the thread runs where it may: a hint, not a
 * reason to fail the run.
 */
static void pin_thread(const struct run *run, unsigned int which)
{
	cpu_set_t allowed, one;
	unsigned int cpu, seen = 0;

	if (!run->cfg->affinity ||
	    sched_getaffinity(0, sizeof(allowed), &allowed) ||
	    CPU_COUNT(&allowed) < 2)
		return;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &allowed) || seen++ != which)
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
		return;
	}
}

/* epoll over fds[0..n), each registered with ptrs[i]. */
static int epoll_over(const int *fds, void *const *ptrs, unsigned int n)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	unsigned int i;

	if (ep < 0)
		abort();
	for (i = 0; i < n; i++) {
		struct epoll_event e = { .events = EPOLLIN,
					 .data.ptr = ptrs[i] };

		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e))
			abort();
	}
	return ep;
}

/* What an epoll event in the host thread is about. */
struct host_src {
	enum { SRC_QUEUE, SRC_DEVICE, SRC_STOP } kind;
	void *p;
};

static bool host_work_arrived(const void *arg)
{
	const struct sim_queue *q = arg;

	/* Not while parked: the pages are the driver's until ring_ready. */
	return !run_queue_parked(q) && hvq_avail_moved(q->hvq);
}

/* Woken for q: drain it, spin a little for more, then re-enable kicks and
 * sleep unless that finds work (the device's half of the handshake). */
static void host_drain(struct sim_queue *q)
{
	run_host_woken(q);
	do {
		while (run_host_step(q) > 0)
			;
	} while (run_spin(q->run, host_work_arrived, q) ||
		 run_host_restart(q));
}

/*
 * --wait poll: no sleeping and no kicks to wait for; sweep the queues, and
 * look at the devices' own fds (I/O completions, the wire) without
 * blocking when a sweep found nothing.
 */
static void host_poll(struct run *run, int ep, bool have_async)
{
	struct epoll_event ev[SIM_MAX_QUEUES + 1];
	unsigned int k;
	int n, i;

	while (!atomic_load_explicit(&run->guest_done, memory_order_acquire)) {
		bool progress = false;

		for (k = 0; k < run->nqueues; k++) {
			struct sim_queue *q = &run->queues[k];

			if (run_host_step(q) <= 0)
				continue;
			/* Once per burst: cheap, and it comes back by itself
			 * after a reset re-initialised the ring. */
			run_host_woken(q);
			while (run_host_step(q) > 0)
				;
			progress = true;
		}
		if (progress)
			continue;
		if (!have_async) {
			cpu_relax();
			continue;
		}
		n = epoll_wait(ep, ev, SIM_MAX_QUEUES + 1, 0);
		for (i = 0; i < n; i++) {
			struct host_src *s = ev[i].data.ptr;

			if (s->kind == SRC_DEVICE) {
				struct sim_device *dev = s->p;

				dev->ops->async_drain(dev);
			}
		}
	}
}

static void *host_thread(void *arg)
{
	struct run *run = arg;
	struct host_src src[2 * SIM_MAX_QUEUES + 1];
	void *ptrs[2 * SIM_MAX_QUEUES + 1];
	int fds[2 * SIM_MAX_QUEUES + 1], ep, n, i;
	struct epoll_event ev[2 * SIM_MAX_QUEUES + 1];
	unsigned int k, ndev, nsrc = 0;

	pin_thread(run, 1);
	/* The devices' own fds first: polling waits on those alone. */
	for (k = 0; k < run->ndevices; k++) {
		if (run->devices[k]->async_fd < 0)
			continue;
		src[nsrc] = (struct host_src){ SRC_DEVICE, run->devices[k] };
		fds[nsrc++] = run->devices[k]->async_fd;
	}
	ndev = nsrc;
	for (k = 0; k < run->nqueues; k++) {
		src[nsrc] = (struct host_src){ SRC_QUEUE, &run->queues[k] };
		fds[nsrc++] = run->queues[k].kick_fd;
	}
	src[nsrc] = (struct host_src){ SRC_STOP, NULL };
	fds[nsrc++] = run->stop_fd;
	for (k = 0; k < nsrc; k++)
		ptrs[k] = &src[k];
	if (run_polling(run)) {
		/* Kicks are not waited for, and the end is guest_done. */
		ep = epoll_over(fds, ptrs, ndev);
		host_poll(run, ep, ndev > 0);
		goto out;
	}
	ep = epoll_over(fds, ptrs, nsrc);
	for (;;) {
		n = epoll_wait(ep, ev, (int)nsrc, -1);
		if (n < 0 && errno != EINTR)
			abort();
		for (i = 0; i < n; i++) {
			struct host_src *s = ev[i].data.ptr;
			struct sim_queue *q = s->p;
			struct sim_device *dev = s->p;

			switch (s->kind) {
			case SRC_STOP:
				goto out;
			case SRC_QUEUE:
				/* Take the kick before looking: one that
				 * lands while we work wakes us again. */
				drain_fd(q->kick_fd);
				host_drain(q);
				break;
			case SRC_DEVICE:
				dev->ops->async_drain(dev);
				break;
			}
		}
	}
out:
	close(ep);
	return NULL;
}

static void *guest_thread(void *arg)
{
	struct run *run = arg;
	bool polling = run_polling(run);
	struct epoll_event ev[SIM_MAX_QUEUES];
	int fds[SIM_MAX_QUEUES], ep, n, i;
	void *ptrs[SIM_MAX_QUEUES];
	unsigned int k;

	pin_thread(run, 0);
	for (k = 0; k < run->nqueues; k++) {
		fds[k] = run->queues[k].irq_fd;
		ptrs[k] = &run->queues[k];
	}
	ep = epoll_over(fds, ptrs, run->nqueues);
	for (;;) {
		enum wl_step st = run_guest_round(run);

		if (st == WL_DONE)
			break;
		if (st == WL_PROGRESS)
			continue;
		/* Every workload waits for the device: if the device gave
		 * up, nothing more will come; otherwise sleep until it
		 * interrupts (a count in the eventfd is never lost). */
		if (atomic_load(&run->host_failed))
			break;
		if (polling) {
			cpu_relax();
			continue;
		}
		n = epoll_wait(ep, ev, SIM_MAX_QUEUES, -1);
		if (n < 0 && errno != EINTR)
			abort();
		for (i = 0; i < n; i++)
			drain_fd(((struct sim_queue *)ev[i].data.ptr)->irq_fd);
	}
	atomic_store_explicit(&run->guest_done, true, memory_order_release);
	signal_fd(run->stop_fd);
	close(ep);
	return NULL;
}

/* Stop (join the threads of) the first n devices. */
static void stop_devices(struct run *run, unsigned int n)
{
	unsigned int k;

	for (k = 0; k < n; k++)
		if (run->devices[k]->ops->stop)
			run->devices[k]->ops->stop(run->devices[k]);
}

int sim_run_threaded(const struct sim_config *cfg, struct sim_result *res)
{
	pthread_t host, guest;
	struct run *run;
	unsigned int k;
	int ret;

	ret = run_create(cfg, false, guest_kick, host_interrupt, wake_guest,
			 wake_host, &run);
	if (ret)
		return ret;
	for (k = 0; k < run->nqueues; k++) {
		struct sim_queue *q = &run->queues[k];

		q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		q->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (q->kick_fd < 0 || q->irq_fd < 0)
			goto fail_errno;
	}
	run->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (run->stop_fd < 0)
		goto fail_errno;

	for (k = 0; k < run->ndevices; k++) {
		struct sim_device *dev = run->devices[k];

		ret = dev->ops->start ? dev->ops->start(dev) : 0;
		if (ret) {
			stop_devices(run, k);
			goto fail;
		}
	}
	ret = -pthread_create(&host, NULL, host_thread, run);
	if (ret)
		goto fail_started;
	ret = -pthread_create(&guest, NULL, guest_thread, run);
	if (ret) {
		signal_fd(run->stop_fd);
		pthread_join(host, NULL);
		goto fail_started;
	}
	pthread_join(guest, NULL);
	pthread_join(host, NULL);
	stop_devices(run, run->ndevices);
	return run_finish(run, res);

fail_started:
	stop_devices(run, run->ndevices);
	goto fail;

fail_errno:
	ret = -errno;
fail:
	run_finish(run, res);
	return ret;
}
