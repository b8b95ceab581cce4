/* SPDX-License-Identifier: MIT */
/*
 * Test fixtures shared by the suites: guest memory with one queue in it,
 * a mock driver that writes raw descriptors and available entries, and a
 * mock device that writes raw used entries, so that every corruption a
 * check guards against can be built by hand.
 */
#ifndef VQSIM_TESTS_HARNESS_H
#define VQSIM_TESTS_HARNESS_H

#include <stdint.h>
#include <string.h>

#include "vring.h"

#define MOCK_MEM_SIZE	(1u << 20)	/* 256 pages of guest memory */
#define MOCK_QUEUE_PFN	1u		/* the queue's three pages */
#define MOCK_BUF_PFN	8u		/* first page free for buffers */

struct mock_ring {
	struct vring_mem mem;
	struct vring vr;
	void *pages;
	uint32_t num;
	uint32_t start_idx;
	uint32_t avail_idx;	/* mock driver's next available slot */
	uint32_t used_idx;	/* mock device's next used slot */
};

/* Map guest memory and reset a queue of num entries at MOCK_QUEUE_PFN with
 * both indices at start_idx.  Fails the test on error. */
void mock_ring_init(struct mock_ring *m, uint32_t num, uint32_t start_idx);
void mock_ring_fini(struct mock_ring *m);

/* Guest-physical address of byte off of buffer page k (from MOCK_BUF_PFN). */
static inline uint64_t mock_buf_gpa(uint32_t k, uint32_t off)
{
	return ((uint64_t)(MOCK_BUF_PFN + k) << VRING_PAGE_SHIFT) + off;
}

/* A copy of all of guest memory, to prove a rejected request wrote nothing:
 * snapshot before, then mock_mem_unchanged() after.  Free with free(). */
void *mock_mem_snapshot(const struct mock_ring *m);
int mock_mem_unchanged(const struct mock_ring *m, const void *snap);

/* ---- mock driver (for hostdev tests) ---- */

/* Write descriptor i exactly as given, flags included. */
void mock_desc(struct mock_ring *m, uint32_t i, uint32_t pfn, uint16_t offset,
	       uint32_t len, uint16_t flags, uint32_t next);
/* Put head in the next available slot and publish avail idx. */
void mock_avail_push(struct mock_ring *m, uint32_t head);
/* Publish an arbitrary avail idx (a corrupt one, say). */
void mock_avail_publish(struct mock_ring *m, uint32_t idx);

/* ---- mock device (for guestdrv tests) ---- */

/* Put {id, len} in the next used slot and publish used idx. */
void mock_used_push(struct mock_ring *m, uint32_t id, uint32_t len);
/* Publish an arbitrary used idx. */
void mock_used_publish(struct mock_ring *m, uint32_t idx);
/* The head the driver placed in available slot idx, and its avail idx. */
uint32_t mock_avail_head(const struct mock_ring *m, uint32_t idx);
uint32_t mock_avail_idx(const struct mock_ring *m);

/* ---- the real device side on a mock ring ---- */

struct hvq;

/* An hvq over a mock ring, counting its interrupts. */
struct host_fx {
	struct mock_ring m;
	struct hvq *vq;
	unsigned int irqs;	/* times the device interrupted the driver */
};

/* mock_ring_init, then the hvq; fails the test on error. */
void host_fx_init(struct host_fx *f, uint32_t num, uint32_t start_idx);
void host_fx_fini(struct host_fx *f);

/* The value a detection recorded under name; fails the test if none. */
uint64_t det_value(const struct vring_detection *det, const char *name);

#endif
