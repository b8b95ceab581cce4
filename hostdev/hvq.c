// SPDX-License-Identifier: MIT
/*
 * The device side of one queue: take heads from the available ring, walk
 * and check their chains, give them back through the used ring.  Each
 * descriptor is read into a local copy once; only the copy is checked and
 * used, so a driver racing its own descriptors cannot slip past a check.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hostdev.h"

struct hvq {
	struct vring vr;		/* the shared pages */
	const struct vring_mem *mem;	/* guest memory, for translation */
	const struct hvq_ops *ops;
	void *ctx;
	/* ops->event, one load away: every operation asks for it. */
	void (*event)(void *ctx, const struct vring_event *ev);

	/* Private shadows; never read back from shared memory. */
	uint32_t last_avail_idx;	/* next available slot we consume */
	uint32_t avail_idx_seen;	/* driver's avail idx, checked, in use */
	uint32_t avail_idx_read;	/* driver's avail idx when last read */
	uint32_t used_idx_shadow;	/* next used slot we fill */
	uint32_t used_idx_published;	/* what the driver can see */
	uint32_t in_flight;		/* chains gathered, not yet used */

	enum vring_notify notify;	/* how the hint words are used */
	bool polling;			/* the caller never sleeps for a kick */
	bool kick_enabled;		/* our used flags say "kick me" */

	enum hvq_err err;		/* latched: the queue is broken */
	struct vring_detection det;

	/* Which in-flight chain each descriptor belongs to (head + 1, 0 for
	 * none), and the chain's links as we read them, to release it
	 * without trusting the shared next fields a second time. */
	uint16_t owner[VRING_MAX_SIZE];
	uint16_t link[VRING_MAX_SIZE];
	uint16_t chain_len[VRING_MAX_SIZE];	/* by head; 0: not in flight */
};

static const char *const hvq_check_names[HVQ_E_COUNT] = {
	[HVQ_E_NONE] = "none",
	[HVQ_E_AVAIL_IDX_JUMP] = "avail_idx_jump",
	[HVQ_E_AVAIL_HEAD_RANGE] = "avail_head_range",
	[HVQ_E_AVAIL_NOT_HEAD] = "avail_not_head",
	[HVQ_E_AVAIL_HEAD_BUSY] = "avail_head_busy",
	[HVQ_E_DESC_NEXT_RANGE] = "desc_next_range",
	[HVQ_E_DESC_LOOP] = "desc_loop",
	[HVQ_E_DESC_MIDDLE_HEAD] = "desc_middle_head",
	[HVQ_E_DESC_SHARED] = "desc_shared",
	[HVQ_E_DESC_OUT_AFTER_IN] = "desc_out_after_in",
	[HVQ_E_DESC_UNKNOWN_FLAGS] = "desc_unknown_flags",
	[HVQ_E_DESC_BAD_ADDR] = "desc_bad_addr",
	[HVQ_E_DESC_ZERO_LEN] = "desc_zero_len",
	[HVQ_E_BLK_BAD_REQUEST] = "blk_bad_request",
	[HVQ_E_NET_BAD_DIRECTION] = "net_bad_direction",
};

const char *hvq_check_name(enum hvq_err err)
{
	if ((unsigned int)err >= HVQ_E_COUNT)
		return "unknown";
	return hvq_check_names[err];
}

struct hvq *hvq_create(const struct vring_mem *mem, void *pages, uint32_t num,
		       uint32_t start_idx, const struct hvq_ops *ops, void *ctx)
{
	struct hvq *vq;

	assert(vring_size_valid(num) && ops && ops->interrupt);
	assert(vring_mem_contains(mem, pages, VRING_BYTES));
	/* Cache-line aligned and padded: the driver's thread must not
	 * share a line with our private state by accident of malloc. */
	vq = aligned_alloc(64, (sizeof(*vq) + 63) & ~(size_t)63);
	if (!vq)
		return NULL;
	memset(vq, 0, sizeof(*vq));
	vring_init(&vq->vr, pages, num);
	vq->mem = mem;
	vq->ops = ops;
	vq->ctx = ctx;
	vq->event = ops->event;
	vq->last_avail_idx = start_idx;
	vq->avail_idx_seen = start_idx;
	vq->avail_idx_read = start_idx;
	vq->used_idx_shadow = start_idx;
	vq->used_idx_published = start_idx;
	vq->kick_enabled = true;
	return vq;
}

void hvq_set_notify(struct hvq *vq, enum vring_notify notify, bool polling)
{
	vq->notify = notify;
	vq->polling = polling && notify != VRING_NOTIFY_PLAIN;
	vq->kick_enabled = true;
}

/*
 * Flags mode: tell the driver not to kick, as a device does while it is
 * draining the ring anyway.  Event-index mode needs no store: the driver
 * kicks once on passing avail_event and not again until we move it.
 */
static void disable_kick(struct hvq *vq)
{
	vq->kick_enabled = false;
	if (vq->notify == VRING_NOTIFY_FLAGS)
		vring_used_flags_write(&vq->vr, VRING_USED_F_NO_NOTIFY);
}

void hvq_disable_notify(struct hvq *vq)
{
	if (vq->kick_enabled && vq->notify != VRING_NOTIFY_PLAIN)
		disable_kick(vq);
}

void hvq_reset(struct hvq *vq, uint32_t start_idx)
{
	vq->last_avail_idx = start_idx;
	vq->avail_idx_seen = start_idx;
	vq->avail_idx_read = start_idx;
	vq->used_idx_shadow = start_idx;
	vq->used_idx_published = start_idx;
	vq->in_flight = 0;
	/* The driver re-initialises the pages: the hints say "kick me". */
	vq->kick_enabled = true;
	vq->err = HVQ_E_NONE;
	memset(&vq->det, 0, sizeof(vq->det));
	memset(vq->owner, 0, sizeof(vq->owner));
	memset(vq->chain_len, 0, sizeof(vq->chain_len));
}

void hvq_destroy(struct hvq *vq)
{
	free(vq);
}

static void emit(const struct hvq *vq, enum vring_event_type type,
		 uint32_t idx, uint32_t head, uint32_t ndesc, uint64_t a,
		 uint64_t b)
{
	struct vring_event ev;

	/* Most runs take no events: do not even build one. */
	if (!vq->event)
		return;
	ev = (struct vring_event){
		.type = type, .idx = idx, .head = head, .ndesc = ndesc,
		.a = a, .b = b,
	};

	vq->event(vq->ctx, &ev);
}

int hvq_reject(struct hvq *vq, enum hvq_err err, const char *n0, uint64_t v0,
	       const char *n1, uint64_t v1, const char *n2, uint64_t v2)
{
	assert(err != HVQ_E_NONE && err < HVQ_E_COUNT);
	if (vq->err)
		return -EIO;
	vq->err = err;
	vring_detection_set(&vq->det, hvq_check_name(err), n0, v0, n1, v1,
			    n2, v2);
	if (vq->event) {
		struct vring_event ev = { .type = VRING_EV_CHECK,
					  .det = &vq->det };

		vq->event(vq->ctx, &ev);
	}
	return -EIO;
}

int hvq_get_available(struct hvq *vq, uint32_t *head)
{
	uint32_t h;

	if (vq->err)
		return -EIO;
	if (vq->last_avail_idx == vq->avail_idx_seen) {
		/* Barrier A (pairs with gvq_kick's release): the chains and
		 * slots the driver wrote before it published this idx. */
		uint32_t avail_idx = vring_avail_idx_acquire(&vq->vr);

		vq->avail_idx_read = avail_idx;
		if (avail_idx == vq->last_avail_idx)
			return 0;
		/* Stricter than the seed's "a queue past what we consumed":
		 * a driver can have at most num chains not yet used, and
		 * an index that went backwards is a jump of almost 2^32. */
		if (vring_idx_dist(avail_idx, vq->last_avail_idx) >
		    vq->vr.num - vring_idx_dist(vq->last_avail_idx,
						 vq->used_idx_shadow))
			return hvq_reject(vq, HVQ_E_AVAIL_IDX_JUMP,
					  "avail_idx", avail_idx,
					  "last_avail_idx", vq->last_avail_idx,
					  "used_idx", vq->used_idx_shadow);
		vq->avail_idx_seen = avail_idx;
	}

	h = vring_avail_ring_read(&vq->vr, vq->last_avail_idx);
	if (h >= vq->vr.num)
		return hvq_reject(vq, HVQ_E_AVAIL_HEAD_RANGE, "head", h,
				  "queue_size", vq->vr.num,
				  "avail_idx", vq->last_avail_idx);
	if (vq->chain_len[h])
		return hvq_reject(vq, HVQ_E_AVAIL_HEAD_BUSY, "head", h,
				  "avail_idx", vq->last_avail_idx, NULL, 0);
	emit(vq, VRING_EV_CONSUME, vq->last_avail_idx, h, 0, 0, 0);
	vq->last_avail_idx++;
	*head = h;
	return 1;
}

/* Undo the ownership marks of a chain cut short by a check, so that the
 * descriptors are not blamed on it later (after a reset, say). */
static void release_partial(struct hvq *vq, uint32_t head, uint32_t n)
{
	uint32_t i = head;

	while (n--) {
		vq->owner[i] = 0;
		i = vq->link[i];
	}
}

int hvq_gather_chain(struct hvq *vq, uint32_t head, struct hvq_chain *c)
{
	const uint16_t mark = (uint16_t)(head + 1);
	uint32_t i = head, n = 0;
	struct vring_desc d;
	int ret;

	assert(head < vq->vr.num && !vq->chain_len[head]);
	if (vq->err)
		return -EIO;
	c->head = head;
	c->out_num = c->in_num = 0;
	c->out_len = c->in_len = 0;

	for (;;) {
		void *p;

		vring_desc_read(&vq->vr, i, &d);
		if (vq->owner[i] == mark) {
			ret = hvq_reject(vq, HVQ_E_DESC_LOOP, "head", head,
					 "desc", i, "chain_len", n);
			goto fail;
		}
		if (vq->owner[i]) {
			ret = hvq_reject(vq, HVQ_E_DESC_SHARED, "head", head,
					 "desc", i, "owner", vq->owner[i] - 1u);
			goto fail;
		}
		if (d.flags & ~VRING_DESC_F_KNOWN) {
			ret = hvq_reject(vq, HVQ_E_DESC_UNKNOWN_FLAGS,
					 "head", head, "desc", i,
					 "flags", d.flags);
			goto fail;
		}
		if (n == 0 && !(d.flags & VRING_DESC_F_HEAD)) {
			ret = hvq_reject(vq, HVQ_E_AVAIL_NOT_HEAD, "head", head,
					 "flags", d.flags, NULL, 0);
			goto fail;
		}
		if (n > 0 && (d.flags & VRING_DESC_F_HEAD)) {
			ret = hvq_reject(vq, HVQ_E_DESC_MIDDLE_HEAD,
					 "head", head, "desc", i,
					 "flags", d.flags);
			goto fail;
		}
		if (d.len == 0) {
			ret = hvq_reject(vq, HVQ_E_DESC_ZERO_LEN, "head", head,
					 "desc", i, NULL, 0);
			goto fail;
		}
		p = vring_mem_desc_ptr(vq->mem, d.pfn, d.offset, d.len);
		if (!p) {
			ret = hvq_reject(vq, HVQ_E_DESC_BAD_ADDR, "desc", i,
					 "gpa", ((uint64_t)d.pfn <<
						 VRING_PAGE_SHIFT) + d.offset,
					 "len", d.len);
			goto fail;
		}
		if (d.flags & VRING_DESC_F_WRITE) {
			c->in_num++;
			c->in_len += d.len;
		} else if (c->in_num) {
			ret = hvq_reject(vq, HVQ_E_DESC_OUT_AFTER_IN,
					 "head", head, "desc", i, NULL, 0);
			goto fail;
		} else {
			c->out_num++;
			c->out_len += d.len;
		}
		c->iov[n].iov_base = p;
		c->iov[n].iov_len = d.len;
		vq->owner[i] = mark;
		n++;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (d.next >= vq->vr.num) {
			ret = hvq_reject(vq, HVQ_E_DESC_NEXT_RANGE,
					 "head", head, "desc", i,
					 "next", d.next);
			goto fail;
		}
		vq->link[i] = (uint16_t)d.next;
		i = d.next;
	}
	/* Owner marks bound the walk: n distinct descriptors, n <= num. */
	vq->chain_len[head] = (uint16_t)n;
	vq->in_flight++;
	emit(vq, VRING_EV_GATHER, 0, head, n, c->out_len, c->in_len);
	return 0;

fail:
	release_partial(vq, head, n);
	return ret;
}

int hvq_pop(struct hvq *vq, struct hvq_chain *c)
{
	uint32_t head;
	int ret = hvq_get_available(vq, &head);

	if (ret <= 0)
		return ret;
	ret = hvq_gather_chain(vq, head, c);
	return ret ? ret : 1;
}

void hvq_add_used(struct hvq *vq, uint32_t head, uint32_t len)
{
	uint32_t i = head, n;

	assert(head < vq->vr.num && vq->chain_len[head]);
	for (n = vq->chain_len[head]; n--; i = vq->link[i])
		vq->owner[i] = 0;
	vq->chain_len[head] = 0;
	vq->in_flight--;
	vring_used_elem_write(&vq->vr, vq->used_idx_shadow, head, len);
	emit(vq, VRING_EV_USE, vq->used_idx_shadow, head, 0, len, 0);
	vq->used_idx_shadow++;
}

/* Does the driver want to hear of what hvq_notify just published? */
static bool need_interrupt(const struct hvq *vq, uint32_t old_idx)
{
	if (vq->notify == VRING_NOTIFY_PLAIN)
		return true;
	/* Barrier C (pairs with Barrier D in gvq_restart): our used idx
	 * store before our read of the driver's hint; see gvq_kick. */
	smp_mb();
	if (vq->notify == VRING_NOTIFY_FLAGS)
		return !(vring_avail_flags_read(&vq->vr) &
			 VRING_AVAIL_F_NO_INTERRUPT);
	return vring_need_event(vring_used_event_read(&vq->vr),
				vq->used_idx_shadow, old_idx);
}

int hvq_notify(struct hvq *vq)
{
	uint32_t count = vq->used_idx_shadow - vq->used_idx_published;
	uint32_t idx = vq->used_idx_shadow;

	if (!count)
		return 0;
	vq->used_idx_published = vq->used_idx_shadow;
	if (vq->ops->publish)
		idx = vq->ops->publish(vq->ctx, idx);
	/* Barrier B (pairs with gvq_get_buf's acquire): used entries before
	 * the idx that hands them to the driver. */
	vring_used_idx_release(&vq->vr, idx);
	emit(vq, VRING_EV_PUBLISH, idx, 0, 0, count, 0);
	if (need_interrupt(vq, vq->used_idx_shadow - count)) {
		emit(vq, VRING_EV_INTERRUPT, vq->used_idx_shadow, 0, 0, 0, 0);
		vq->ops->interrupt(vq->ctx);
	}
	return 1;
}

int hvq_restart(struct hvq *vq)
{
	int more;

	if (vq->err)
		return 0;
	if (vq->notify != VRING_NOTIFY_PLAIN && !vq->polling) {
		if (vq->notify == VRING_NOTIFY_FLAGS)
			vring_used_flags_write(&vq->vr, 0);
		else
			/* Past what we have read, not past what we took:
			 * chains left waiting on the ring (receive buffers)
			 * are no reason to be kicked. */
			vring_avail_event_write(&vq->vr, vq->avail_idx_read);
		vq->kick_enabled = true;
		/*
		 * Barrier D (pairs with Barrier C in gvq_kick): "kick me"
		 * before the avail idx re-read, or a chain published while
		 * we read the old idx can meet our old hint and nobody kicks.
		 */
		smp_mb();
	}
	more = hvq_avail_moved(vq);
	if (more && vq->kick_enabled && !vq->polling)
		disable_kick(vq);
	emit(vq, VRING_EV_RESTART, vq->last_avail_idx, 0, 0, (uint64_t)more, 0);
	return more;
}

bool hvq_avail_moved(struct hvq *vq)
{
	uint32_t avail_idx = vring_avail_idx_acquire(&vq->vr);

	if (avail_idx == vq->avail_idx_read)
		return false;
	vq->avail_idx_read = avail_idx;
	return true;
}

const struct vring_detection *hvq_detection(const struct hvq *vq)
{
	return vq->err ? &vq->det : NULL;
}

enum hvq_err hvq_error(const struct hvq *vq)
{
	return vq->err;
}

unsigned int hvq_in_flight(const struct hvq *vq)
{
	return vq->in_flight;
}
