// SPDX-License-Identifier: MIT
/*
 * A driver that writes whatever it is told into the descriptor and
 * available pages, through the ring accessors like the real one, so a
 * hostdev test can hand the device any ring state at all.
 */
#include "harness.h"

void mock_desc(struct mock_ring *m, uint32_t i, uint32_t pfn, uint16_t offset,
	       uint32_t len, uint16_t flags, uint32_t next)
{
	struct vring_desc d = {
		.pfn = pfn, .len = len, .offset = offset, .next = next,
	};

	vring_desc_write_fields(&m->vr, i, &d);
	vring_desc_set_flags(&m->vr, i, flags);
}

void mock_avail_push(struct mock_ring *m, uint32_t head)
{
	vring_avail_ring_write(&m->vr, m->avail_idx, head);
	mock_avail_publish(m, m->avail_idx + 1);
}

void mock_avail_publish(struct mock_ring *m, uint32_t idx)
{
	m->avail_idx = idx;
	vring_avail_idx_release(&m->vr, idx);
}
