// SPDX-License-Identifier: MIT
/*
 * The guest's workload for the null device: keep the ring as full as the
 * request count allows, kick once per batch, and check every echo.  Each
 * request fills its readable buffers with bytes derived from the seed and
 * its sequence number and poisons its writable ones, so a completion proves
 * exactly which bytes the device copied and that it wrote no others.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "run.h"

#define NULL_MAX_BUF	256u	/* bytes per descriptor, at most */

struct null_req {
	uint64_t seq;		/* which request this slot carries now */
	uint64_t base;		/* guest-physical start of the slot's area */
	uint32_t out_len, in_len;
	struct null_req *next_free;
	struct gvq_sg sg[];	/* chain_out readable, then chain_in writable */
};

struct null_wl {
	struct sim_device dev;	/* first: the runners' view */
	/* Set up once; the host thread reads these too. */
	uint32_t ops_per_step;	/* ring operations one step may do */

	/* The guest's, on lines of their own. */
	_Alignas(64) struct gvq *vq;
	const struct vring_mem *mem;
	uint64_t seed, rng;
	uint64_t requests, submitted, completed, bytes, mismatches;
	uint32_t out_num, in_num, batch, added_since_kick;
	bool rearm;		/* next step: gvq_restart, then maybe sleep */
	uint64_t restart_races;	/* restarts that found new used entries */
	bool touches_data;	/* something to copy: both parts non-empty */
	uint32_t nslots, slot_pages;
	int64_t first_pfn;
	struct null_req *free_slots;
	struct null_req *resubmit;	/* taken back by a reset, to post again */
	uint8_t *slots;		/* nslots null_reqs of slot_size bytes */
	size_t slot_size;
};

static struct null_req *slot_at(const struct null_wl *w, uint32_t i)
{
	return (struct null_req *)(w->slots + (size_t)i * w->slot_size);
}

static const struct sim_device_ops null_ops;

int null_device_create(struct run *run, struct sim_device **devp)
{
	const struct sim_config *cfg = run->cfg;
	uint32_t n = cfg->chain_out + cfg->chain_in, i;
	struct null_wl *w = sim_zalloc_lines(sizeof(*w));
	struct sim_queue *q;

	if (!w)
		return -ENOMEM;
	w->dev.ops = &null_ops;
	w->dev.async_fd = -1;
	*devp = &w->dev;
	q = run_add_queue(run, &w->dev, "null");
	if (!q)
		return -ENOMEM;
	w->vq = q->gvq;
	w->mem = &run->mem;
	w->seed = w->rng = cfg->seed;
	w->requests = cfg->requests;
	w->out_num = cfg->chain_out;
	w->in_num = cfg->chain_in;
	w->batch = cfg->batch;
	w->ops_per_step = run->stepped ? 1 : cfg->queue_size;
	w->touches_data = cfg->chain_out && cfg->chain_in;
	/* At most queue_size / n chains fit in the ring at once. */
	w->nslots = cfg->queue_size / n;
	w->slot_pages = (n * NULL_MAX_BUF + VRING_PAGE_SIZE - 1) /
			VRING_PAGE_SIZE;
	w->slot_size = sizeof(struct null_req) + n * sizeof(struct gvq_sg);
	w->slots = calloc(w->nslots, w->slot_size);
	w->first_pfn = gvq_pages_alloc(run->pages, w->nslots * w->slot_pages);
	if (!w->slots || w->first_pfn < 0)
		return -ENOMEM;
	for (i = w->nslots; i--; ) {
		struct null_req *r = slot_at(w, i);

		r->base = ((uint64_t)w->first_pfn + (uint64_t)i * w->slot_pages)
			  << VRING_PAGE_SHIFT;
		r->next_free = w->free_slots;
		w->free_slots = r;
	}
	return 0;
}

static void null_destroy(struct sim_device *dev)
{
	struct null_wl *w = (struct null_wl *)dev;

	/* Its guest pages go with the run's allocator. */
	free(w->slots);
	free(w);
}

static void *guest_ptr(const struct null_wl *w, const struct gvq_sg *sg)
{
	void *p = vring_mem_at(w->mem, sg->addr, sg->len);

	assert(p);	/* our own buffers: inside guest memory by construction */
	return p;
}

/* The bytes of a buffer, a function of (seed, request, buffer, kind). */
static uint64_t pattern_key(const struct null_wl *w, uint64_t seq,
			    uint32_t buf, uint64_t kind)
{
	uint64_t s = w->seed ^ (seq * 0xd6e8feb86659fd93ull) ^
		     ((uint64_t)(buf & 0xffffu) << 48) ^ kind;

	return rng_next(&s);
}

#define KIND_DATA	0
#define KIND_POISON	0x5a5a5a5a5a5a5a5aull

/* Data in the readable buffers, poison in the writable ones: again on a
 * resubmission, since the device may have echoed into them already. */
static void fill(const struct null_wl *w, struct null_req *r)
{
	uint32_t n = w->out_num + w->in_num, k;
	uint8_t buf[NULL_MAX_BUF];

	/* Untorn stores (vring_copy_to_guest): a device wrongly holding on
	 * to one of these buffers must not make this a data race. */
	for (k = 0; k < n; k++) {
		rng_pattern_fill(buf, r->sg[k].len,
				 pattern_key(w, r->seq, k, k < w->out_num ?
					     KIND_DATA : KIND_POISON));
		vring_copy_to_guest(guest_ptr(w, &r->sg[k]), buf,
				    r->sg[k].len);
	}
}

static void prepare(struct null_wl *w, struct null_req *r)
{
	uint32_t n = w->out_num + w->in_num, k;
	uint64_t gpa = r->base;

	r->seq = w->submitted;
	r->out_len = r->in_len = 0;
	for (k = 0; k < n; k++) {
		struct gvq_sg *sg = &r->sg[k];

		sg->addr = gpa;
		sg->len = rng_range(&w->rng, 1, NULL_MAX_BUF);
		gpa += NULL_MAX_BUF;
		if (k < w->out_num)
			r->out_len += sg->len;
		else
			r->in_len += sg->len;
	}
	if (w->touches_data)
		fill(w, r);
}

/*
 * The writable buffers must hold the readable bytes, in order, for exactly
 * len bytes, and their poison after that.
 */
static bool echo_data_ok(const struct null_wl *w, const struct null_req *r)
{
	uint32_t src = 0, src_off = 0, k;
	uint8_t poison[NULL_MAX_BUF], dst[NULL_MAX_BUF], s[NULL_MAX_BUF];

	/* Read through untorn copies, as fill() writes. */
	for (k = w->out_num; k < w->out_num + w->in_num; k++) {
		uint32_t dst_len = r->sg[k].len, done = 0;

		vring_copy_from_guest(dst, guest_ptr(w, &r->sg[k]), dst_len);
		while (done < dst_len && src < w->out_num) {
			uint32_t chunk = r->sg[src].len - src_off;

			if (chunk > dst_len - done)
				chunk = dst_len - done;
			vring_copy_from_guest(s, (const uint8_t *)guest_ptr(w,
					      &r->sg[src]) + src_off, chunk);
			if (memcmp(dst + done, s, chunk) != 0)
				return false;
			done += chunk;
			src_off += chunk;
			if (src_off == r->sg[src].len) {
				src++;
				src_off = 0;
			}
		}
		if (done < dst_len) {
			rng_pattern_fill(poison, dst_len,
					 pattern_key(w, r->seq, k,
						     KIND_POISON));
			if (memcmp(dst + done, poison + done, dst_len - done) != 0)
				return false;
		}
	}
	return true;
}

static bool echo_ok(const struct null_wl *w, const struct null_req *r,
		    uint32_t len)
{
	uint32_t expect = r->out_len < r->in_len ? r->out_len : r->in_len;

	return len == expect && (!w->touches_data || echo_data_ok(w, r));
}

/* A request to post: one taken back by a reset, or a new one with a slot. */
static bool more_to_add(const struct null_wl *w)
{
	return w->resubmit || (w->submitted < w->requests && w->free_slots);
}

/*
 * Stepped, one ring operation per call, so that a schedule can put the
 * device anywhere between two of them, including between the last empty
 * get_buf and the restart that re-arms interrupts: the lost wake-up window.
 * Threaded, the same operations in the same order, a batch at a time.
 */
static enum wl_step null_guest_step(struct sim_device *dev)
{
	struct null_wl *w = (struct null_wl *)dev;
	struct null_req *r;
	bool can_add;
	uint32_t len, n;
	int ret;

	if (gvq_error(w->vq))
		return WL_DONE;
	if (w->rearm) {
		w->rearm = false;
		/* Spin before re-enabling interrupts, not after: the
		 * device does not interrupt a guest that is not waiting. */
		if (run_guest_spin(dev))
			return WL_PROGRESS;
		if (!gvq_restart(w->vq))
			return WL_IDLE;
		w->restart_races++;
		return WL_PROGRESS;
	}
	/*
	 * Reap, then add: each up to ops_per_step at once.  Stepped that is
	 * one; threaded, a whole batch per step, so that the used idx is
	 * read once per batch and not before every add.
	 */
	for (n = 0; n < w->ops_per_step &&
		    (r = gvq_get_buf(w->vq, &len)); n++) {
		if (!echo_ok(w, r, len))
			w->mismatches++;
		w->completed++;
		w->bytes += len;
		r->next_free = w->free_slots;
		w->free_slots = r;
	}
	if (n)
		return WL_PROGRESS;
	if (gvq_error(w->vq))
		return WL_DONE;
	can_add = more_to_add(w);
	if (w->added_since_kick >= w->batch ||
	    (w->added_since_kick && !can_add)) {
		gvq_kick(w->vq);
		w->added_since_kick = 0;
		return WL_PROGRESS;
	}
	while (can_add) {
		if (w->resubmit) {
			r = w->resubmit;
			w->resubmit = r->next_free;
			if (w->touches_data)
				fill(w, r);
		} else {
			r = w->free_slots;
			w->free_slots = r->next_free;
			prepare(w, r);
			w->submitted++;
		}
		ret = gvq_add_buf(w->vq, r->sg, w->out_num,
				  r->sg + w->out_num, w->in_num, r);
		/* A slot is free only if its descriptors are: no ENOSPC. */
		assert(ret == 0);
		(void)ret;
		w->added_since_kick++;
		if (++n == w->ops_per_step || w->added_since_kick == w->batch)
			return WL_PROGRESS;
		can_add = more_to_add(w);
	}
	if (n)
		return WL_PROGRESS;
	if (w->completed == w->requests)
		return WL_DONE;
	w->rearm = true;
	return WL_PROGRESS;
}

/* The device side: chains echoed at once, ops_per_step of them per step;
 * publish when the ring is drained (or broken: what was used before still
 * counts). */
static int null_host_step(struct sim_device *dev, struct sim_queue *q)
{
	const struct null_wl *w = (const struct null_wl *)dev;
	uint32_t n = 0;
	int ret;

	while ((ret = null_dev_process(q->hvq)) > 0)
		if (++n == w->ops_per_step)
			return 1;
	hvq_notify(q->hvq);
	if (ret < 0)
		run_host_failed(q);
	return ret < 0 ? ret : n > 0;
}

/* --recover: every request still posted goes back to be posted again. */
static void null_guest_reset(struct sim_device *dev, struct sim_queue *q)
{
	struct null_wl *w = (struct null_wl *)dev;
	struct null_req *r;

	while ((r = gvq_detach_unused(q->gvq))) {
		r->next_free = w->resubmit;
		w->resubmit = r;
	}
	w->added_since_kick = 0;
	w->rearm = false;
}

static void null_result(struct sim_device *dev, struct sim_dev_result *r)
{
	const struct null_wl *w = (const struct null_wl *)dev;

	r->name = "null";
	r->requests = w->requests;
	r->completed = w->completed;
	r->bytes = w->bytes;
	r->in_flight = w->submitted - w->completed;
	r->mismatches = w->mismatches;
	r->restart_races = w->restart_races;
	r->verified = !w->mismatches && w->completed == w->requests;
}

static const struct sim_device_ops null_ops = {
	.guest_step = null_guest_step,
	.host_step = null_host_step,
	.guest_reset = null_guest_reset,
	.result = null_result,
	.destroy = null_destroy,
};
