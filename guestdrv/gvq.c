// SPDX-License-Identifier: MIT
/*
 * The guest side of one queue (the seed's lguest_virtio.c, in userspace).
 * Everything the driver needs to free or check a chain is kept privately;
 * the shared pages are only ever written, or read for what the device owns.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guestdrv.h"

/* What the driver remembers of a chain it posted, indexed by head. */
struct posted {
	void *token;		/* NULL: this descriptor heads no posted chain */
	uint32_t in_len;	/* writable bytes: the most the device may use */
	uint16_t ndesc;		/* descriptors in the chain */
	uint8_t published;	/* the device may have seen it (kicked) */
};

struct gvq {
	struct vring vr;		/* the shared pages */
	const struct gvq_ops *ops;
	void *ctx;
	/* ops->event, one load away: every operation asks for it. */
	void (*event)(void *ctx, const struct vring_event *ev);

	/* Private shadows; never read back from shared memory. */
	uint32_t avail_idx_shadow;	/* next available slot we fill */
	uint32_t num_added;		/* filled since the last kick */
	uint32_t last_used_idx;		/* next used slot we reap */
	uint32_t used_idx_seen;		/* device's used idx when last read */

	enum vring_notify notify;	/* how the hint words are used */
	bool polling;			/* the caller never sleeps for an irq */
	bool cb_enabled;		/* our avail flags say "interrupt me" */

	uint32_t free_head;		/* first free descriptor */
	uint32_t num_free;
	uint32_t detach_cursor;		/* where gvq_detach_unused looks next */

	enum gvq_err err;		/* latched: the queue is broken */
	struct vring_detection det;

	/* The links of our free list and of each chain, kept here and never
	 * taken from the shared next fields, which the device could forge. */
	uint16_t link[VRING_MAX_SIZE];
	uint16_t avail_head[VRING_MAX_SIZE];	/* heads by available slot */
	/* Every descriptor of a posted chain as we wrote it, flags and all,
	 * to see at completion whether the device changed any. */
	struct vring_desc written[VRING_MAX_SIZE];
	struct posted posted[VRING_MAX_SIZE];
};

static const char *const gvq_check_names[GVQ_E_COUNT] = {
	[GVQ_E_NONE] = "none",
	[GVQ_E_USED_IDX_JUMP] = "used_idx_jump",
	[GVQ_E_USED_ID_RANGE] = "used_id_range",
	[GVQ_E_USED_ID_NOT_HEAD] = "used_id_not_head",
	[GVQ_E_USED_LEN_RANGE] = "used_len_range",
	[GVQ_E_DESC_TAMPERED] = "desc_tampered",
};

const char *gvq_check_name(enum gvq_err err)
{
	if ((unsigned int)err >= GVQ_E_COUNT)
		return "unknown";
	return gvq_check_names[err];
}

/*
 * Flags mode: tell the device not to interrupt, as a driver does while it
 * is reaping anyway.  Event-index mode needs no store: the device
 * interrupts once on passing used_event and not again until we move it.
 */
static void disable_cb(struct gvq *vq)
{
	vq->cb_enabled = false;
	if (vq->notify == VRING_NOTIFY_FLAGS)
		vring_avail_flags_write(&vq->vr, VRING_AVAIL_F_NO_INTERRUPT);
}

/* Everything private back to "nothing posted", indices at start_idx. */
static void init_private(struct gvq *vq, uint32_t start_idx)
{
	uint32_t num = vq->vr.num, i;

	vq->avail_idx_shadow = start_idx;
	vq->num_added = 0;
	vq->last_used_idx = start_idx;
	vq->used_idx_seen = start_idx;
	/* vring_reset left the hints at "interrupt me"; a poller takes
	 * that back at once. */
	vq->cb_enabled = true;
	if (vq->polling)
		disable_cb(vq);
	vq->free_head = 0;
	vq->num_free = num;
	vq->detach_cursor = 0;
	vq->err = GVQ_E_NONE;
	memset(&vq->det, 0, sizeof(vq->det));
	memset(vq->posted, 0, sizeof(vq->posted));
	for (i = 0; i < num; i++)
		vq->link[i] = (uint16_t)((i + 1) & (num - 1));
}

struct gvq *gvq_create(void *pages, uint32_t num, uint32_t start_idx,
		       const struct gvq_ops *ops, void *ctx)
{
	struct gvq *vq;

	assert(vring_size_valid(num) && ops && ops->kick);
	/* Cache-line aligned and padded: the device's thread must not
	 * share a line with our private state by accident of malloc. */
	vq = aligned_alloc(64, (sizeof(*vq) + 63) & ~(size_t)63);
	if (!vq)
		return NULL;
	memset(vq, 0, sizeof(*vq));
	vring_init(&vq->vr, pages, num);
	vq->ops = ops;
	vq->ctx = ctx;
	vq->event = ops->event;
	init_private(vq, start_idx);
	return vq;
}

void gvq_set_notify(struct gvq *vq, enum vring_notify notify, bool polling)
{
	vq->notify = notify;
	vq->polling = polling && notify != VRING_NOTIFY_PLAIN;
	vq->cb_enabled = true;
	vring_avail_flags_write(&vq->vr, 0);
	if (vq->polling)
		disable_cb(vq);
}

void gvq_reset(struct gvq *vq, uint32_t start_idx)
{
	vring_reset(&vq->vr, start_idx);
	init_private(vq, start_idx);
}

void gvq_destroy(struct gvq *vq)
{
	free(vq);
}

static void emit(const struct gvq *vq, enum vring_event_type type,
		 uint32_t idx, uint32_t head, uint32_t ndesc, uint64_t a)
{
	struct vring_event ev;

	/* Most runs take no events: do not even build one. */
	if (!vq->event)
		return;
	ev = (struct vring_event){
		.type = type, .idx = idx, .head = head, .ndesc = ndesc, .a = a,
	};

	vq->event(vq->ctx, &ev);
}

/* Latch the queue broken with what the check saw (the seed's BAD_SIDE). */
static void bad_device(struct gvq *vq, enum gvq_err err,
		       const char *n0, uint64_t v0, const char *n1, uint64_t v1,
		       const char *n2, uint64_t v2)
{
	vq->err = err;
	vring_detection_set(&vq->det, gvq_check_name(err), n0, v0, n1, v1,
			    n2, v2);
	if (vq->event) {
		struct vring_event ev = { .type = VRING_EV_CHECK,
					  .det = &vq->det };

		vq->event(vq->ctx, &ev);
	}
}

int gvq_add_buf(struct gvq *vq, const struct gvq_sg *out, unsigned int out_num,
		const struct gvq_sg *in, unsigned int in_num, void *token)
{
	unsigned int n = out_num + in_num, k;
	uint32_t head, i, in_len = 0;
	uint16_t head_flags;

	assert(token && n > 0);
	if (vq->err)
		return -EIO;
	if (n > vq->vr.num)
		return -EINVAL;
	/* All checks before the first store: a refused chain leaves no
	 * trace in the ring or in our state. */
	for (k = 0; k < out_num; k++)
		if (out[k].addr >> VRING_PAGE_SHIFT > UINT32_MAX)
			return -EINVAL;
	for (k = 0; k < in_num; k++) {
		if (in[k].addr >> VRING_PAGE_SHIFT > UINT32_MAX ||
		    in_len + in[k].len < in_len)
			return -EINVAL;
		in_len += in[k].len;
	}
	if (n > vq->num_free)
		return -ENOSPC;

	head = i = vq->free_head;
	for (k = 0; k < n; k++) {
		const struct gvq_sg *sg = k < out_num ? &out[k] : &in[k - out_num];
		struct vring_desc *d = &vq->written[i];

		d->pfn = (uint32_t)(sg->addr >> VRING_PAGE_SHIFT);
		d->len = sg->len;
		d->offset = (uint16_t)(sg->addr & (VRING_PAGE_SIZE - 1));
		d->flags = (uint16_t)((k + 1 < n ? VRING_DESC_F_NEXT : 0) |
				      (k >= out_num ? VRING_DESC_F_WRITE : 0));
		d->next = k + 1 < n ? vq->link[i] : 0;
		vring_desc_write_fields(&vq->vr, i, d);
		if (k == 0)
			d->flags |= VRING_DESC_F_HEAD;
		else
			vring_desc_set_flags(&vq->vr, i, d->flags);
		i = vq->link[i];
	}
	head_flags = vq->written[head].flags;
	vq->free_head = i;
	vq->num_free -= n;

	/*
	 * Barrier A' (pairs with the device's acquire of avail idx, via the
	 * release there): HEAD goes on last, so a device that sees HEAD sees
	 * the whole chain.  The avail idx release in gvq_kick() already orders
	 * a correct device; this keeps HEAD meaningful in a dump as well.
	 */
	vring_desc_set_flags_release(&vq->vr, head, head_flags);

	vq->posted[head] = (struct posted){
		.token = token, .in_len = in_len, .ndesc = (uint16_t)n,
	};
	vq->avail_head[vring_slot(vq->avail_idx_shadow, vq->vr.num)] =
		(uint16_t)head;
	vring_avail_ring_write(&vq->vr, vq->avail_idx_shadow, head);
	if (vq->event) {
		struct vring_event ev = {
			.type = VRING_EV_ADD, .idx = vq->avail_idx_shadow,
			.head = head, .ndesc = n, .b = in_len,
		};

		for (k = 0; k < out_num; k++)
			ev.a += out[k].len;
		vq->event(vq->ctx, &ev);
	}
	vq->avail_idx_shadow++;
	vq->num_added++;
	return 0;
}

/* Does the device want to hear of what gvq_kick just published? */
static bool need_kick(const struct gvq *vq)
{
	uint32_t old_idx = vq->avail_idx_shadow - vq->num_added;

	if (vq->notify == VRING_NOTIFY_PLAIN)
		return true;
	/*
	 * Barrier C (pairs with Barrier D in hvq_restart): our avail idx
	 * store before our read of the device's hint.  The device stores its
	 * hint before it re-reads avail idx; with a full barrier on both
	 * sides, at least one of us sees the other's store, so either it
	 * finds our chains or we see it waiting and kick.
	 */
	smp_mb();
	if (vq->notify == VRING_NOTIFY_FLAGS)
		return !(vring_used_flags_read(&vq->vr) &
			 VRING_USED_F_NO_NOTIFY);
	return vring_need_event(vring_avail_event_read(&vq->vr),
				vq->avail_idx_shadow, old_idx);
}

int gvq_kick(struct gvq *vq)
{
	uint32_t idx;

	if (vq->err)
		return -EIO;
	if (!vq->num_added)
		return 0;
	for (idx = vq->avail_idx_shadow - vq->num_added;
	     idx != vq->avail_idx_shadow; idx++)
		vq->posted[vq->avail_head[vring_slot(idx, vq->vr.num)]]
			.published = 1;

	idx = vq->avail_idx_shadow;
	if (vq->ops->publish)
		idx = vq->ops->publish(vq->ctx, idx);
	/* Barrier A (pairs with hvq_get_available's acquire): descriptors and
	 * available slots before the idx that makes them the device's. */
	vring_avail_idx_release(&vq->vr, idx);
	emit(vq, VRING_EV_PUBLISH, idx, 0, 0, vq->num_added);
	if (need_kick(vq)) {
		emit(vq, VRING_EV_KICK, vq->avail_idx_shadow, 0, 0, 0);
		vq->ops->kick(vq->ctx);
	}
	vq->num_added = 0;
	return 1;
}

/* Put a reaped chain's descriptors back on the free list, following our
 * own links: the device could have rewritten every next field. */
static inline __attribute__((always_inline))
void *detach_buf(struct gvq *vq, uint32_t head)
{
	struct posted *p = &vq->posted[head];
	void *token = p->token;
	uint32_t i = head, k;

	for (k = 1; k < p->ndesc; k++)
		i = vq->link[i];
	vq->link[i] = (uint16_t)vq->free_head;
	vq->free_head = head;
	vq->num_free += p->ndesc;
	/* A stale HEAD would make a dump of the ring lie about what is live. */
	vring_desc_set_flags(&vq->vr, head, 0);
	emit(vq, VRING_EV_DETACH, 0, head, p->ndesc, 0);
	memset(p, 0, sizeof(*p));
	return token;
}

/*
 * The device only reads descriptors.  One that changed between add_buf
 * and completion means the device wrote where it must not, or that what it
 * acted on was not what we posted: either way nothing it did for this
 * chain can be trusted.  Fires desc_tampered and returns 1 if so.
 */
static int tampered(struct gvq *vq, uint32_t head)
{
	uint32_t i = head, k;
	struct vring_desc d;

	for (k = 0; k < vq->posted[head].ndesc; k++, i = vq->link[i]) {
		const struct vring_desc *w = &vq->written[i];

		vring_desc_read(&vq->vr, i, &d);
		/* Five fields, no padding (DESIGN.md section 1): one compare
		 * of the whole copy is two loads, not five. */
		if (memcmp(&d, w, sizeof(d)) != 0) {
			bad_device(vq, GVQ_E_DESC_TAMPERED, "head", head,
				   "desc", i, "chain_pos", k);
			return 1;
		}
	}
	return 0;
}

void *gvq_get_buf(struct gvq *vq, uint32_t *len)
{
	struct vring_used_elem e;
	struct posted *p;
	uint32_t published;

	if (vq->err)
		return NULL;
	if (vq->last_used_idx == vq->used_idx_seen) {
		/* Barrier B (pairs with hvq_notify's release): the used
		 * entries before the idx that says they are ours to read. */
		uint32_t used_idx = vring_used_idx_acquire(&vq->vr);

		if (used_idx == vq->last_used_idx)
			return NULL;
		published = vq->avail_idx_shadow - vq->num_added;
		if (vring_idx_dist(used_idx, vq->last_used_idx) >
		    vring_idx_dist(published, vq->last_used_idx)) {
			bad_device(vq, GVQ_E_USED_IDX_JUMP,
				   "used_idx", used_idx,
				   "last_used_idx", vq->last_used_idx,
				   "in_flight",
				   vring_idx_dist(published, vq->last_used_idx));
			return NULL;
		}
		vq->used_idx_seen = used_idx;
		/* Reaping now: no interrupts until we are about to sleep. */
		if (vq->cb_enabled)
			disable_cb(vq);
	}

	vring_used_elem_read(&vq->vr, vq->last_used_idx, &e);
	if (e.id >= vq->vr.num) {
		bad_device(vq, GVQ_E_USED_ID_RANGE, "id", e.id,
			   "queue_size", vq->vr.num,
			   "used_slot", vring_slot(vq->last_used_idx, vq->vr.num));
		return NULL;
	}
	p = &vq->posted[e.id];
	/* published is only ever set on a posted chain's head. */
	if (!p->published) {
		bad_device(vq, GVQ_E_USED_ID_NOT_HEAD, "id", e.id,
			   "used_idx", vq->last_used_idx, NULL, 0);
		return NULL;
	}
	if (e.len > p->in_len) {
		bad_device(vq, GVQ_E_USED_LEN_RANGE, "id", e.id, "len", e.len,
			   "writable", p->in_len);
		return NULL;
	}
	if (tampered(vq, e.id))
		return NULL;
	emit(vq, VRING_EV_GET_BUF, vq->last_used_idx, e.id, p->ndesc, e.len);
	vq->last_used_idx++;
	*len = e.len;
	return detach_buf(vq, e.id);
}

int gvq_restart(struct gvq *vq)
{
	int more;

	if (vq->err)
		return 1;
	if (vq->notify != VRING_NOTIFY_PLAIN && !vq->polling) {
		if (vq->notify == VRING_NOTIFY_FLAGS)
			vring_avail_flags_write(&vq->vr, 0);
		else
			vring_used_event_write(&vq->vr, vq->last_used_idx);
		vq->cb_enabled = true;
		/*
		 * Barrier D (pairs with Barrier C in hvq_notify): "interrupt
		 * me" before the used idx re-read.  Without it the device can
		 * publish and read our old hint while we read its old idx, and
		 * both wait: the lost wake-up the seed's restart() closed.
		 */
		smp_mb();
	}
	more = gvq_used_pending(vq);
	/* Reaping again at once: take back the "interrupt me". */
	if (more && vq->cb_enabled && !vq->polling)
		disable_cb(vq);
	emit(vq, VRING_EV_RESTART, vq->last_used_idx, 0, 0, (uint64_t)more);
	return more;
}

void *gvq_detach_unused(struct gvq *vq)
{
	for (; vq->detach_cursor < vq->vr.num; vq->detach_cursor++) {
		if (vq->posted[vq->detach_cursor].token)
			return detach_buf(vq, vq->detach_cursor++);
	}
	return NULL;
}

const struct vring_detection *gvq_detection(const struct gvq *vq)
{
	return vq->err ? &vq->det : NULL;
}

enum gvq_err gvq_error(const struct gvq *vq)
{
	return vq->err;
}

unsigned int gvq_num_free(const struct gvq *vq)
{
	return vq->num_free;
}

bool gvq_used_pending(const struct gvq *vq)
{
	return vq->last_used_idx != vq->used_idx_seen ||
	       vring_used_idx_acquire(&vq->vr) != vq->last_used_idx;
}
