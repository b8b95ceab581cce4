// SPDX-License-Identifier: MIT
/*
 * A device that writes whatever it is told into the used page, through
 * the ring accessors, so a guestdrv test can forge any completion.
 */
#include "harness.h"

void mock_used_push(struct mock_ring *m, uint32_t id, uint32_t len)
{
	vring_used_elem_write(&m->vr, m->used_idx, id, len);
	mock_used_publish(m, m->used_idx + 1);
}

void mock_used_publish(struct mock_ring *m, uint32_t idx)
{
	m->used_idx = idx;
	vring_used_idx_release(&m->vr, idx);
}

uint32_t mock_avail_head(const struct mock_ring *m, uint32_t idx)
{
	return vring_avail_ring_read(&m->vr, idx);
}

uint32_t mock_avail_idx(const struct mock_ring *m)
{
	return vring_avail_idx_acquire(&m->vr);
}
