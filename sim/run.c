// SPDX-License-Identifier: MIT
/*
 * What both runners share: guest memory and the queues wired to both ends,
 * the guest's round and the host's chain, and the ring events that feed the
 * trace, the dumps and --strict.  Who moves when is the runners' business.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

/* Threaded: guest steps of one workload per round before the next's. */
#define GUEST_BURST	64u

static uint64_t ns_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (uint64_t)(t1.tv_sec - t0->tv_sec) * 1000000000u +
	       (uint64_t)t1.tv_nsec - (uint64_t)t0->tv_nsec;
}

static void write_dump(const struct sim_queue *q, const char *path)
{
	uint8_t buf[VRING_BYTES];
	char name[4096];
	FILE *f;

	vring_snapshot(&q->vr, buf);
	snprintf(name, sizeof(name), "%s.%s", path, q->name);
	f = fopen(name, "wb");
	if (!f || fwrite(buf, 1, sizeof(buf), f) != sizeof(buf))
		fprintf(stderr, "vqsim: --dump: cannot write %s\n", name);
	if (f)
		fclose(f);
}

static void maybe_dump(const struct sim_queue *q, enum sim_when_kind kind,
		       uint64_t n)
{
	const struct sim_config *cfg = q->run->cfg;
	unsigned int i;

	for (i = 0; i < cfg->ndumps; i++)
		if (cfg->dumps[i].kind == kind &&
		    (kind == SIM_AT_END || cfg->dumps[i].n == n))
			write_dump(q, cfg->dumps[i].path);
}

/* The seed's debug BAD_SIDE: say what fired, show the ring, stop dead. */
static void die_strict(const struct sim_queue *q, enum sim_side side,
		       const struct vring_detection *det)
{
	uint8_t buf[VRING_BYTES];
	unsigned int i;

	vring_snapshot(&q->vr, buf);
	fprintf(stderr, "vqsim: --strict: %s detected %s on queue %s (",
		side == SIM_GUEST ? "guest" : "host", det->check, q->name);
	for (i = 0; i < det->nvalues; i++)
		fprintf(stderr, "%s%s %" PRIu64, i ? ", " : "",
			det->values[i].name, det->values[i].value);
	fprintf(stderr, "); the ring:\n");
	sim_decode(buf, sizeof(buf), q->vr.num, stderr);
	abort();
}

static void on_event(struct sim_queue *q, enum sim_side side,
		     const struct vring_event *ev)
{
	struct run *run = q->run;
	const struct sim_config *cfg = run->cfg;
	uint64_t seq = ++*run->seq[side], n;
	struct trace *t = side == SIM_GUEST ? run->guest_trace :
			  run->host_trace;

	if (t)
		trace_add(t, seq, run->stepped ? run->step : ns_since(&run->t0),
			  side, q->index, ev);
	switch (ev->type) {
	case VRING_EV_PUBLISH:
		/* Counted by on_publish, which ran just before the store. */
		n = side == SIM_GUEST ? q->avail_pubs : q->used_pubs;
		maybe_dump(q, side == SIM_GUEST ? SIM_AT_KICK : SIM_AT_IRQ, n);
		if (cfg->tamper)
			cfg->tamper(cfg->tamper_ctx, q->name, side, n, &q->vr,
				    &run->mem);
		break;
	case VRING_EV_CHECK:
		if (side == SIM_GUEST)
			q->guest_det_seq = seq;
		else
			q->host_det_seq = seq;
		if (cfg->strict)
			die_strict(q, side, ev->det);
		break;
	default:
		break;
	}
}

/*
 * Just before a side publishes its index: count the publication (kick:N,
 * irq:N) and apply the faults due now, so that the corruption is published
 * by the same release store and the other side sees it the first time it
 * looks, whoever runs it.
 */
static uint32_t on_publish(struct sim_queue *q, enum sim_side side,
			   uint32_t idx)
{
	struct run *run = q->run;
	const struct sim_config *cfg = run->cfg;
	enum flt_moment moment = side == SIM_GUEST ? FLT_AT_KICK : FLT_AT_IRQ;
	uint64_t n = side == SIM_GUEST ? ++q->avail_pubs : ++q->used_pubs;
	unsigned int epoch = side == SIM_GUEST ? q->guest_epoch : q->host_epoch;
	unsigned int i;

	for (i = 0; i < cfg->nfaults; i++) {
		const struct flt_spec *f = &cfg->faults[i];

		if (f->moment != moment || strcmp(f->queue, q->name) != 0)
			continue;
		if (f->n == n && flt_apply(f, &q->vr, &idx)) {
			run->fault_applied[i] = true;
			run->fault_epoch[i] = epoch;
			continue;
		}
		/*
		 * A side's own index stays wrong from then on, as a broken
		 * driver's or device's would: otherwise its next correct
		 * publication could overwrite the fault before the other
		 * thread ever looked.  Until a reset, that is.
		 */
		if (f->n < n && run->fault_applied[i] &&
		    run->fault_epoch[i] == epoch &&
		    f->field == (side == SIM_GUEST ? FLT_AVAIL_IDX :
				 FLT_USED_IDX))
			flt_apply(f, &q->vr, &idx);
	}
	return idx;
}

static uint32_t guest_publish(void *ctx, uint32_t idx)
{
	return on_publish(ctx, SIM_GUEST, idx);
}

static uint32_t host_publish(void *ctx, uint32_t idx)
{
	return on_publish(ctx, SIM_HOST, idx);
}

static void guest_event(void *ctx, const struct vring_event *ev)
{
	on_event(ctx, SIM_GUEST, ev);
}

static void host_event(void *ctx, const struct vring_event *ev)
{
	on_event(ctx, SIM_HOST, ev);
}

static void log_detection(struct sim_queue *q, enum sim_side side,
			  const struct vring_detection *det)
{
	unsigned int n = q->nlog[side];

	q->recovered[side]++;
	if (!det || n == 2)
		return;
	q->log[side][n] = *det;
	q->log_seq[side][n] = side == SIM_GUEST ? q->guest_det_seq :
			      q->host_det_seq;
	q->nlog[side]++;
}

/*
 * The guest's half of a --recover reset of q, one step at a time: take
 * back what was posted and ask the device to reset; once it has, set the
 * ring up afresh and let the device at it again.  Returns true while the
 * reset is under way (the device's workload must not run).
 */
static bool guest_reset_step(struct run *run, struct sim_queue *q,
			     bool *progress)
{
	struct sim_device *dev = q->dev;

	if (!q->resetting) {
		if (!gvq_error(q->gvq) && !atomic_load(&q->host_broken))
			return false;
		if (gvq_error(q->gvq))
			log_detection(q, SIM_GUEST, gvq_detection(q->gvq));
		dev->ops->guest_reset(dev, q);
		q->resetting = true;
		q->guest_epoch++;
		atomic_store_explicit(&q->reset_req, q->guest_epoch,
				      memory_order_release);
		run->wake_host(q);
		*progress = true;
		return true;
	}
	if (atomic_load_explicit(&q->reset_ack, memory_order_acquire) !=
	    q->guest_epoch)
		return true;	/* the device's ack will wake us */
	/* The device has let go of the queue: ours to rewrite. */
	gvq_reset(q->gvq, run->cfg->start_index);
	q->resetting = false;
	atomic_store_explicit(&q->ring_ready, q->guest_epoch,
			      memory_order_release);
	run->wake_host(q);
	*progress = true;
	return false;
}

enum wl_step run_guest_round(struct run *run)
{
	bool progress = false, done = true;
	unsigned int k, i, n;

	for (k = 0; k < run->ndevices; k++) {
		struct sim_device *dev = run->devices[k];
		bool held = false;
		enum wl_step st;

		for (i = 0; run->cfg->recover && dev->ops->guest_reset &&
			    i < run->nqueues; i++)
			if (run->queues[i].dev == dev)
				held |= guest_reset_step(run, &run->queues[i],
							 &progress);
		if (held) {
			done = false;
			continue;
		}
		st = dev->ops->guest_step(dev);
		/* On threads, a burst per workload: the round's loop costs
		 * as much as a ring operation.  Stepped, one step is one
		 * operation, so that every interleaving can be chosen. */
		for (n = 1; st == WL_PROGRESS && n < run->guest_burst; n++)
			st = dev->ops->guest_step(dev);
		/* A queue that just broke is not the end under --recover:
		 * the next round resets it. */
		for (i = 0; st == WL_DONE && run->cfg->recover &&
			    dev->ops->guest_reset && i < run->nqueues; i++)
			if (run->queues[i].dev == dev &&
			    gvq_error(run->queues[i].gvq))
				st = WL_PROGRESS;
		progress |= st == WL_PROGRESS;
		done &= st == WL_DONE;
	}
	return done ? WL_DONE : progress ? WL_PROGRESS : WL_IDLE;
}

void run_host_failed(struct sim_queue *q)
{
	struct run *run = q->run;
	unsigned int i;

	if (run->cfg->recover && q->dev->ops->guest_reset) {
		if (atomic_load(&q->host_broken))
			return;
		log_detection(q, SIM_HOST, hvq_detection(q->hvq));
		atomic_store(&q->host_broken, true);
		run->wake_guest(q);
		return;
	}
	if (q->host_reported)
		return;
	q->host_reported = true;
	atomic_store(&run->host_failed, true);
	/* Wake the guest wherever it sleeps, so it sees the flag. */
	for (i = 0; i < run->nqueues; i++)
		run->wake_guest(&run->queues[i]);
}

bool run_queue_parked(const struct sim_queue *q)
{
	return q->host_epoch !=
	       atomic_load_explicit(&q->ring_ready, memory_order_acquire);
}

int run_host_step(struct sim_queue *q)
{
	unsigned int req = atomic_load_explicit(&q->reset_req,
						memory_order_acquire);

	if (req != q->host_epoch) {
		/* The driver asks for a reset: let go of everything of q,
		 * then say so; q stays parked until the ring is set up. */
		if (q->dev->ops->host_reset)
			q->dev->ops->host_reset(q->dev, q);
		hvq_reset(q->hvq, q->run->cfg->start_index);
		q->host_epoch = req;
		atomic_store(&q->host_broken, false);
		atomic_store_explicit(&q->reset_ack, req, memory_order_release);
		q->run->wake_guest(q);
		return 0;
	}
	if (run_queue_parked(q))
		return 0;
	return q->dev->ops->host_step(q->dev, q);
}

/* May the device write q's hint words?  Not while a reset is asked for
 * or the queue is parked: the pages are the driver's to re-initialise. */
static bool host_owns_hints(const struct sim_queue *q)
{
	return q->host_epoch == atomic_load_explicit(&q->reset_req,
						     memory_order_acquire) &&
	       !run_queue_parked(q);
}

void run_host_resume(struct sim_queue *q)
{
	/* Draining again: a re-arm still pending would put the host back
	 * to sleep with the queue half taken. */
	q->host_active = true;
	q->host_rearm = false;
}

void run_host_woken(struct sim_queue *q)
{
	if (host_owns_hints(q))
		hvq_disable_notify(q->hvq);
}

int run_host_restart(struct sim_queue *q)
{
	return host_owns_hints(q) ? hvq_restart(q->hvq) : 0;
}

bool run_polling(const struct run *run)
{
	return !run->stepped && run->cfg->wait == SIM_WAIT_POLL;
}

/* Spin until done(arg) or --spin-us passed; no syscall but the clock's. */
bool run_spin(const struct run *run, bool (*done)(const void *arg),
	      const void *arg)
{
	struct timespec t0, t;
	uint64_t limit_ns = (uint64_t)run->cfg->spin_us * 1000, ns;
	unsigned int i;

	if (run->stepped || run->cfg->wait != SIM_WAIT_EVENTFD || !limit_ns)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		/* The clock every 64 looks: cheap, and a few hundred ns of
		 * overshoot on a microseconds budget does not matter. */
		for (i = 0; i < 64; i++) {
			if (done(arg))
				return true;
			cpu_relax();
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		ns = (uint64_t)(t.tv_sec - t0.tv_sec) * 1000000000u +
		     (uint64_t)t.tv_nsec - (uint64_t)t0.tv_nsec;
		if (ns >= limit_ns)
			return false;
	}
}

static bool guest_work_arrived(const void *arg)
{
	const struct sim_device *dev = arg;
	const struct run *run = dev->run;
	unsigned int i;

	if (atomic_load_explicit(&run->host_failed, memory_order_relaxed))
		return true;
	for (i = 0; i < run->nqueues; i++)
		if (run->queues[i].dev == dev &&
		    gvq_used_pending(run->queues[i].gvq))
			return true;
	return false;
}

bool run_guest_spin(struct sim_device *dev)
{
	/* A failed device ends the spin, but is no work: the workload must
	 * go idle, which is where the guest thread notices the failure. */
	return run_spin(dev->run, guest_work_arrived, dev) &&
	       !atomic_load(&dev->run->host_failed);
}

static void run_destroy(struct run *run)
{
	unsigned int i;

	for (i = 0; i < run->ndevices; i++)
		run->devices[i]->ops->destroy(run->devices[i]);
	for (i = 0; i < run->nqueues; i++) {
		struct sim_queue *q = &run->queues[i];

		gvq_destroy(q->gvq);
		hvq_destroy(q->hvq);
		if (q->kick_fd >= 0)
			close(q->kick_fd);
		if (q->irq_fd >= 0)
			close(q->irq_fd);
	}
	if (run->stop_fd >= 0)
		close(run->stop_fd);
	if (run->host_trace != run->guest_trace)
		trace_destroy(run->host_trace);
	trace_destroy(run->guest_trace);
	if (run->trace_file)
		fclose(run->trace_file);
	gvq_pages_destroy(run->pages);
	vring_mem_unmap(&run->mem);
	free(run);
}

struct sim_queue *run_add_queue(struct run *run, struct sim_device *dev,
				const char *name)
{
	const struct sim_config *cfg = run->cfg;
	struct sim_queue *q;
	int64_t pfn;

	if (run->nqueues == SIM_MAX_QUEUES)
		return NULL;
	pfn = gvq_pages_alloc(run->pages, VRING_PAGES);
	if (pfn < 0)
		return NULL;
	q = &run->queues[run->nqueues];
	q->name = name;
	q->run = run;
	q->dev = dev;
	q->index = run->nqueues;
	q->kick_fd = q->irq_fd = -1;
	run->queue_names[run->nqueues] = name;
	run->nqueues++;
	q->pages = run->mem.base + ((uint64_t)pfn << VRING_PAGE_SHIFT);
	vring_init(&q->vr, q->pages, cfg->queue_size);
	vring_reset(&q->vr, cfg->start_index);
	q->gvq = gvq_create(q->pages, cfg->queue_size, cfg->start_index,
			    &run->guest_ops, q);
	q->hvq = hvq_create(&run->mem, q->pages, cfg->queue_size,
			    cfg->start_index, &run->host_ops, q);
	if (!q->gvq || !q->hvq)
		return NULL;
	gvq_set_notify(q->gvq, cfg->notify, run_polling(run));
	hvq_set_notify(q->hvq, cfg->notify, run_polling(run));
	return q;
}

/* A device constructor, and the devices flag that asks for it. */
static const struct {
	unsigned int flag;
	int (*create)(struct run *run, struct sim_device **devp);
} device_table[] = {
	{ SIM_DEV_BLK, blk_device_create },
	{ SIM_DEV_NET, net_device_create },
	{ SIM_DEV_NULL, null_device_create },
};

void *sim_zalloc_lines(size_t size)
{
	size_t rounded = (size + 63) & ~(size_t)63;
	void *p = aligned_alloc(64, rounded);

	if (p)
		memset(p, 0, rounded);
	return p;
}

int run_create(const struct sim_config *cfg, bool stepped,
	       void (*kick)(void *ctx), void (*interrupt)(void *ctx),
	       void (*wake_guest)(struct sim_queue *q),
	       void (*wake_host)(struct sim_queue *q), struct run **runp)
{
	struct run *run = sim_zalloc_lines(sizeof(*run));
	unsigned int i;
	int ret;

	*runp = NULL;
	if (!run)
		return -ENOMEM;
	run->cfg = cfg;
	run->stepped = stepped;
	run->guest_burst = stepped ? 1 : GUEST_BURST;
	run->stop_fd = -1;
	run->wake_guest = wake_guest;
	run->wake_host = wake_host;
	/* Events cost a call each on the hot path: take them only when
	 * something wants them.  Without them a detection has no seq. */
	run->events = stepped || cfg->trace_path || cfg->ndumps ||
		      cfg->strict || cfg->tamper;
	run->guest_ops = (struct gvq_ops){
		.kick = kick, .event = run->events ? guest_event : NULL,
		.publish = guest_publish,
	};
	run->host_ops = (struct hvq_ops){
		.interrupt = interrupt, .event = run->events ? host_event : NULL,
		.publish = host_publish,
	};
	run->seq[SIM_GUEST] = &run->guest_seq;
	run->seq[SIM_HOST] = stepped ? &run->guest_seq : &run->host_seq;

	ret = vring_mem_map(&run->mem, cfg->guest_mem);
	if (ret)
		goto fail;
	ret = -ENOMEM;
	run->pages = gvq_pages_create(0, vring_mem_pages(&run->mem));
	if (!run->pages)
		goto fail;
	if (cfg->trace_path) {
		run->trace_file = fopen(cfg->trace_path, "w");
		if (!run->trace_file) {
			ret = -errno;
			goto fail;
		}
		run->guest_trace = trace_create();
		run->host_trace = stepped ? run->guest_trace : trace_create();
		if (!run->guest_trace || !run->host_trace)
			goto fail;
	}
	for (i = 0; i < sizeof(device_table) / sizeof(device_table[0]); i++) {
		struct sim_device *dev;

		if (!(cfg->devices & device_table[i].flag))
			continue;
		ret = device_table[i].create(run, &dev);
		if (ret)
			goto fail;
		dev->run = run;
		run->devices[run->ndevices++] = dev;
	}
	clock_gettime(CLOCK_MONOTONIC, &run->t0);
	*runp = run;
	return 0;
fail:
	run_destroy(run);
	return ret;
}

static void add_detection(struct sim_result *res, const char *side,
			  const char *queue, const struct vring_detection *det,
			  bool has_seq, uint64_t seq, bool recovered)
{
	struct sim_detection *d;

	if (!det || res->ndetections == SIM_MAX_DETECTIONS)
		return;
	d = &res->detections[res->ndetections++];
	d->side = side;
	d->queue = queue;
	d->det = *det;
	d->has_seq = has_seq;
	d->seq = seq;
	d->recovered = recovered;
}

int run_finish(struct run *run, struct sim_result *res)
{
	const struct sim_config *cfg = run->cfg;
	unsigned int i;
	int ret = 0;

	memset(res, 0, sizeof(*res));
	res->elapsed_s = (double)ns_since(&run->t0) / 1e9;
	res->seed = cfg->seed;
	res->runner = run->stepped ? "stepped" : "threaded";
	res->notify = sim_notify_name(run->cfg->notify);
	/* The stepped runner schedules wake-ups itself: it has no --wait. */
	res->wait = run->stepped ? "none" : sim_wait_name(run->cfg->wait);
	res->steps = run->step;
	res->stalled = run->stalled;
	for (i = 0; i < run->nqueues; i++)
		maybe_dump(&run->queues[i], SIM_AT_END, 0);
	if (run->trace_file) {
		ret = trace_write(run->trace_file, run->guest_trace,
				  run->stepped ? NULL : run->host_trace,
				  run->queue_names, run->stepped);
		if (fclose(run->trace_file))
			ret = -errno;
		run->trace_file = NULL;
	}

	res->nfaults = cfg->nfaults;
	for (i = 0; i < cfg->nfaults; i++) {
		const struct flt_spec *f = &cfg->faults[i];
		unsigned int k;

		flt_format(f, res->fault_spec[i], sizeof(res->fault_spec[i]));
		res->fault_applied[i] = run->fault_applied[i];
		res->fault_due[i] = f->n;
		for (k = 0; k < run->nqueues; k++)
			if (!strcmp(run->queues[k].name, f->queue))
				res->fault_moments[i] =
					f->moment == FLT_AT_KICK ?
					run->queues[k].avail_pubs :
					run->queues[k].used_pubs;
	}
	res->ok = !run->stalled;
	for (i = 0; i < run->ndevices; i++) {
		struct sim_device *dev = run->devices[i];
		struct sim_dev_result *d = &res->devs[res->ndevs++];
		unsigned int k;

		memset(d, 0, sizeof(*d));
		d->queue_size = cfg->queue_size;
		for (k = 0; k < run->nqueues; k++) {
			if (run->queues[k].dev != dev)
				continue;
			d->kicks += run->queues[k].kicks;
			d->interrupts += run->queues[k].interrupts;
		}
		dev->ops->result(dev, d);
		res->restart_races += d->restart_races;
		res->ok &= d->verified;
	}
	for (i = 0; i < run->nqueues; i++) {
		struct sim_queue *q = &run->queues[i];
		unsigned int k, side;

		for (side = 0; side < 2; side++) {
			res->resets += q->recovered[side];
			for (k = 0; k < q->nlog[side]; k++)
				add_detection(res, side == SIM_HOST ? "host" :
					      "guest", q->name,
					      &q->log[side][k], run->events,
					      q->log_seq[side][k], true);
		}
		if (!cfg->recover) {
			add_detection(res, "host", q->name,
				      hvq_detection(q->hvq), run->events,
				      q->host_det_seq, false);
			add_detection(res, "guest", q->name,
				      gvq_detection(q->gvq), run->events,
				      q->guest_det_seq, false);
			continue;
		}
		/* A reset still pending at the end recovered nothing. */
		if (gvq_error(q->gvq) && !q->resetting)
			add_detection(res, "guest", q->name,
				      gvq_detection(q->gvq), run->events,
				      q->guest_det_seq, false);
		if (atomic_load(&q->host_broken) || gvq_error(q->gvq) ||
		    q->resetting)
			res->ok = false;
	}
	for (i = 0; i < res->ndetections; i++)
		res->ok &= res->detections[i].recovered;
	run_destroy(run);
	return ret;
}

int sim_run(const struct sim_config *cfg, struct sim_result *res)
{
	return cfg->stepped ? sim_run_stepped(cfg, res) :
			      sim_run_threaded(cfg, res);
}
