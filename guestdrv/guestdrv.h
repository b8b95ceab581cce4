/* SPDX-License-Identifier: MIT */
/*
 * The guest driver of one queue: it posts chains of guest buffers, kicks the
 * device and reaps what the device used.  It trusts nothing in shared memory
 * that the device can write: completions are checked against the driver's
 * private record of what it posted.
 */
#ifndef VQSIM_GUESTDRV_H
#define VQSIM_GUESTDRV_H

#include <stdbool.h>
#include <stdint.h>

#include "vring.h"

struct gvq;

/* The checks the driver makes of the device; the names are DESIGN.md's. */
enum gvq_err {
	GVQ_E_NONE = 0,
	GVQ_E_USED_IDX_JUMP,	/* used idx moved past what is in flight */
	GVQ_E_USED_ID_RANGE,	/* used id >= queue size */
	GVQ_E_USED_ID_NOT_HEAD,	/* used id is no in-flight head (or a repeat) */
	GVQ_E_USED_LEN_RANGE,	/* used len > the chain's writable bytes */
	GVQ_E_DESC_TAMPERED,	/* a descriptor changed while in flight */
	GVQ_E_COUNT
};

/* The stable check id of err ("used_idx_jump", ...). */
const char *gvq_check_name(enum gvq_err err);

/* One buffer: len bytes of guest memory at guest-physical addr. */
struct gvq_sg {
	uint64_t addr;
	uint32_t len;
};

/* What the driver needs from whoever runs it. */
struct gvq_ops {
	/* Notify the device (the hypercall). */
	void (*kick)(void *ctx);
	/* Optional: told of every ring event, in order, on the caller's
	 * thread; ev is valid only during the call. */
	void (*event)(void *ctx, const struct vring_event *ev);
	/* Optional: called just before avail idx is published with the
	 * value about to be stored; returns the value to store.  Whatever
	 * it writes to the ring is published by that same store. */
	uint32_t (*publish)(void *ctx, uint32_t avail_idx);
};

/*
 * A driver for the queue whose three pages are at pages (already reset with
 * vring_reset(..., start_idx)), using num entries.  Returns NULL on ENOMEM.
 */
struct gvq *gvq_create(void *pages, uint32_t num, uint32_t start_idx,
		       const struct gvq_ops *ops, void *ctx);
void gvq_destroy(struct gvq *vq);

/*
 * How to use the notification hints (both sides must agree; plain by
 * default).  polling: the caller never sleeps for an interrupt, so the
 * driver keeps them suppressed for good (not in plain mode, which always
 * interrupts).  Call before the first chain is added.
 */
void gvq_set_notify(struct gvq *vq, enum vring_notify notify, bool polling);

/*
 * Post a chain: out_num device-readable buffers then in_num device-writable
 * ones, remembered under token (non-NULL).  Visible to the device only after
 * the next gvq_kick().  Returns 0, -ENOSPC if there are not enough free
 * descriptors now, -EINVAL if the chain can never fit or an address is not
 * representable in a descriptor, -EIO if the queue is broken.
 */
int gvq_add_buf(struct gvq *vq, const struct gvq_sg *out, unsigned int out_num,
		const struct gvq_sg *in, unsigned int in_num, void *token);

/*
 * Publish every chain added since the last kick with one store of avail idx,
 * then notify the device.  Returns 1 if it published, 0 if there was nothing
 * to publish, -EIO if the queue is broken.
 */
int gvq_kick(struct gvq *vq);

/*
 * The token of the next chain the device has used, with the number of bytes
 * it wrote in *len; NULL if there is none yet or the queue is broken (see
 * gvq_detection()).  The chain's descriptors are free again on return.
 */
void *gvq_get_buf(struct gvq *vq, uint32_t *len);

/*
 * Call before sleeping for an interrupt: re-enables them (gvq_get_buf
 * disables them while there is work) and returns 1 if used buffers
 * arrived meanwhile (the caller must not sleep, but reap), 0 if it is safe
 * to sleep.  Returns 1 too on a broken queue, so that a waiting caller does
 * not wait for an interrupt that may never come.
 */
int gvq_restart(struct gvq *vq);

/*
 * Take back one posted chain the device has not returned and return its
 * token, NULL when none is left.  Only for a queue the device no longer
 * uses (broken, or being torn down): avail idx is not rolled back.
 */
void *gvq_detach_unused(struct gvq *vq);

/*
 * Device reset, the driver's half: re-initialise the shared pages and all
 * private state, indices at start_idx, the latch cleared.  Only while the
 * device is not using the queue (it has been reset too), and after taking
 * back every posted chain with gvq_detach_unused: their tokens are
 * forgotten here.
 */
void gvq_reset(struct gvq *vq, uint32_t start_idx);

/* Has the device published used entries not yet reaped?  A read-only
 * peek for a caller spinning before it sleeps. */
bool gvq_used_pending(const struct gvq *vq);

/* The detection that broke the queue, or NULL if it is healthy. */
const struct vring_detection *gvq_detection(const struct gvq *vq);
enum gvq_err gvq_error(const struct gvq *vq);

unsigned int gvq_num_free(const struct gvq *vq);

/* ---- the blk driver (guestdrv/blk.c) ---- */

/* Take the capacity in 512-byte sectors that the device left in the
 * configuration word of the queue at pages, zeroing the word (the seed's
 * driver does the same). */
uint32_t gvq_blk_capacity(void *pages);

/*
 * Post one blk request: the header (filled in here through hdr, the guest's
 * own mapping of hdr_gpa), ndata data buffers (device-readable for
 * VRING_BLK_T_OUT, device-writable otherwise) and the 1-byte status at
 * status_gpa.  Returns as gvq_add_buf().
 */
struct vring_blk_outhdr;
int gvq_blk_add(struct gvq *vq, struct vring_blk_outhdr *hdr,
		uint64_t hdr_gpa, uint32_t type, uint64_t sector,
		const struct gvq_sg *data, unsigned int ndata,
		uint64_t status_gpa, void *token);

/* ---- the net driver (guestdrv/net.c) ---- */

/* Post one empty receive buffer (device-writable). */
int gvq_net_add_rx(struct gvq *vq, const struct gvq_sg *buf, void *token);
/* Post one frame for transmission (n device-readable buffers). */
int gvq_net_add_tx(struct gvq *vq, const struct gvq_sg *frame,
		   unsigned int n, void *token);

/*
 * A page allocator over a range of guest-physical memory, for the buffers
 * the driver posts and the queue pages themselves.  Not thread-safe.
 */
struct gvq_pages;

struct gvq_pages *gvq_pages_create(uint32_t first_pfn, uint32_t npages);
void gvq_pages_destroy(struct gvq_pages *pages);
/* First pfn of count contiguous free pages, or -ENOMEM. */
int64_t gvq_pages_alloc(struct gvq_pages *pages, uint32_t count);
void gvq_pages_free(struct gvq_pages *pages, uint32_t pfn, uint32_t count);

#endif
