/* SPDX-License-Identifier: MIT */
/*
 * The host side of one queue (the seed's launcher code) and the devices
 * behind it.  Everything the driver wrote is untrusted: each descriptor is
 * copied once, checked, and only the copy is used; guest memory is reached
 * only through the checked translation.
 */
#ifndef VQSIM_HOSTDEV_H
#define VQSIM_HOSTDEV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vring.h"

struct hvq;

/* The checks the device makes of the driver; the names are DESIGN.md's. */
enum hvq_err {
	HVQ_E_NONE = 0,
	HVQ_E_AVAIL_IDX_JUMP,	/* avail idx more than a queue ahead */
	HVQ_E_AVAIL_HEAD_RANGE,	/* available head >= queue size */
	HVQ_E_AVAIL_NOT_HEAD,	/* available descriptor without HEAD */
	HVQ_E_AVAIL_HEAD_BUSY,	/* available head still in flight */
	HVQ_E_DESC_NEXT_RANGE,	/* next >= queue size */
	HVQ_E_DESC_LOOP,	/* chain revisits a descriptor */
	HVQ_E_DESC_MIDDLE_HEAD,	/* HEAD inside a chain */
	HVQ_E_DESC_SHARED,	/* descriptor of another in-flight chain */
	HVQ_E_DESC_OUT_AFTER_IN, /* readable after writable */
	HVQ_E_DESC_UNKNOWN_FLAGS, /* flag bits beyond HEAD, NEXT, WRITE */
	HVQ_E_DESC_BAD_ADDR,	/* buffer not wholly inside guest memory */
	HVQ_E_DESC_ZERO_LEN,	/* zero-length buffer */
	HVQ_E_BLK_BAD_REQUEST,	/* blk header or status missing or wrong size */
	HVQ_E_NET_BAD_DIRECTION, /* wrong-direction buffer on a net queue */
	HVQ_E_COUNT
};

/* The stable check id of err ("desc_next_range", ...). */
const char *hvq_check_name(enum hvq_err err);

/* What the device needs from whoever runs it. */
struct hvq_ops {
	/* Interrupt the driver. */
	void (*interrupt)(void *ctx);
	/* Optional: told of every ring event, in order, on the caller's
	 * thread; ev is valid only during the call. */
	void (*event)(void *ctx, const struct vring_event *ev);
	/* Optional: called just before used idx is published with the
	 * value about to be stored; returns the value to store.  Whatever
	 * it writes to the ring is published by that same store. */
	uint32_t (*publish)(void *ctx, uint32_t used_idx);
};

/* One gathered chain: iov[0, out_num) readable, then in_num writable, every
 * base a checked pointer into guest memory. */
struct hvq_chain {
	uint32_t head;
	uint32_t out_num, in_num;
	uint64_t out_len, in_len;	/* bytes in each part */
	struct iovec iov[VRING_MAX_SIZE];
};

/*
 * The device side of the queue at pages (inside mem, already reset with
 * vring_reset(..., start_idx)), using num entries.  NULL on ENOMEM.
 */
struct hvq *hvq_create(const struct vring_mem *mem, void *pages, uint32_t num,
		       uint32_t start_idx, const struct hvq_ops *ops, void *ctx);
void hvq_destroy(struct hvq *vq);

/*
 * How to use the notification hints (both sides must agree; plain by
 * default).  polling: the caller never sleeps for a kick, so
 * hvq_restart leaves them disabled (not in plain mode, which always
 * kicks).
 */
void hvq_set_notify(struct hvq *vq, enum vring_notify notify, bool polling);

/*
 * The next head the driver made available: 1 with *head set, 0 if there is
 * none, -EIO if the queue is (or just became) broken.
 */
int hvq_get_available(struct hvq *vq, uint32_t *head);

/*
 * Walk the chain at head (just returned by hvq_get_available) into c.
 * Returns 0, or -EIO with the queue broken.  On success the chain is in
 * flight until hvq_add_used(head).
 */
int hvq_gather_chain(struct hvq *vq, uint32_t head, struct hvq_chain *c);

/* hvq_get_available() then hvq_gather_chain(): 1, 0 or -EIO likewise. */
int hvq_pop(struct hvq *vq, struct hvq_chain *c);

/*
 * Give an in-flight chain back with len bytes written.  The driver sees it
 * only after the next hvq_notify().
 */
void hvq_add_used(struct hvq *vq, uint32_t head, uint32_t len);

/*
 * Publish every chain used since the last call with one store of used idx,
 * then interrupt the driver.  Returns 1 if it published, 0 if there was
 * nothing new.  Works on a broken queue too, so that completions made before
 * the detection still reach the driver.
 */
int hvq_notify(struct hvq *vq);

/*
 * Kicks while the device drains the ring: hvq_disable_notify when a kick
 * wakes it (it is taking everything anyway), hvq_restart before it sleeps
 * again, which re-enables them and returns 1 if chains were published
 * meanwhile (as hvq_avail_moved: drain them, do not sleep), 0 if it is
 * safe to sleep, also on a broken queue (nothing will be taken from it).
 * Whoever disables must restart: work done without a kick (chains taken
 * as frames arrive) leaves the hint alone.
 */
void hvq_disable_notify(struct hvq *vq);
int hvq_restart(struct hvq *vq);

/*
 * Has the driver published since the device last read avail idx?  For a
 * caller spinning before it sleeps.  Not "are chains waiting": a device
 * may leave chains it has seen on the ring (receive buffers wait for
 * frames), and those must not keep it awake.
 */
bool hvq_avail_moved(struct hvq *vq);

/*
 * For device checks of a chain's contents (blk, net): latch the queue broken
 * with err and the values seen.  Unused names are NULL.  Returns -EIO.
 */
int hvq_reject(struct hvq *vq, enum hvq_err err, const char *n0, uint64_t v0,
	       const char *n1, uint64_t v1, const char *n2, uint64_t v2);

/*
 * Device reset, the device's half: forget every chain in flight (the
 * device must not use them afterwards), indices at start_idx, the latch
 * cleared.  The driver re-initialises the shared pages.
 */
void hvq_reset(struct hvq *vq, uint32_t start_idx);

/* The detection that broke the queue, or NULL if it is healthy. */
const struct vring_detection *hvq_detection(const struct hvq *vq);
enum hvq_err hvq_error(const struct hvq *vq);

/* Chains gathered and not yet given back. */
unsigned int hvq_in_flight(const struct hvq *vq);

/*
 * The null device: take one chain, copy its readable bytes into its writable
 * ones as far as they go, and use it with that length.  1 if it processed a
 * chain, 0 if none was available, -EIO on a broken queue.
 */
int null_dev_process(struct hvq *vq);

/* ---- the blk device (hostdev/blk.c) ---- */

/* One parsed blk request; the device's own copy, nothing read twice. */
struct hblk_req {
	uint32_t head;
	uint32_t type;			/* VRING_BLK_T_*, BARRIER masked off */
	bool barrier;
	uint64_t sector;
	uint64_t data_len;		/* bytes in data[] */
	unsigned int ndata;
	struct iovec data[VRING_MAX_SIZE];	/* checked pointers */
	uint8_t *status;		/* checked pointer to the status byte */
	uint8_t result;			/* VRING_BLK_S_*, once executed */
	uint32_t written;		/* bytes the device wrote: the used len */
};

/*
 * Take and parse the next request.  1 with *r filled, 0 if none, -EIO if a
 * ring check or blk_bad_request fired (the queue is then broken).
 */
int blk_dev_pop(struct hvq *vq, struct hblk_req *r);

/*
 * Do r's I/O on fd (sectors long) at its explicit offset, on any thread:
 * a request past the end is IOERR, an unknown type UNSUPP.  Touches guest
 * memory only through r's checked buffers.
 */
void blk_dev_execute(struct hblk_req *r, int fd, uint64_t sectors);

/* Write r's status byte and give its chain back (the queue's thread). */
void blk_dev_complete(struct hvq *vq, const struct hblk_req *r);

/* ---- the net device (hostdev/net.c) ---- */

/* The next frame to transmit: a chain of readable buffers only (else
 * net_bad_direction).  1, 0 if none, -EIO. */
int net_dev_tx_pop(struct hvq *vq, struct hvq_chain *c);
/* The next receive buffer: a chain of writable buffers only (else
 * net_bad_direction).  1, 0 if none, -EIO. */
int net_dev_rx_pop(struct hvq *vq, struct hvq_chain *c);

#endif
