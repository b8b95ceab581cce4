// SPDX-License-Identifier: MIT
/*
 * Queue setup and the guest-memory mapping.  The accessors are inline in
 * vring.h; this file holds what runs once per queue or per simulation.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "vring.h"

void vring_init(struct vring *vr, void *pages, uint32_t num)
{
	uint8_t *p = pages;

	assert(vring_size_valid(num));
	vr->num = num;
	vr->desc = (struct vring_desc *)p;
	vr->avail = (struct vring_avail *)(p + VRING_PAGE_SIZE);
	vr->used = (struct vring_used *)(p + (size_t)2 * VRING_PAGE_SIZE);
}

void vring_reset(const struct vring *vr, uint32_t start_idx)
{
	memset(vr->desc, 0, VRING_PAGE_SIZE);
	memset(vr->avail, 0, VRING_PAGE_SIZE);
	memset(vr->used, 0, VRING_PAGE_SIZE);
	vr->avail->idx = vring_le32(start_idx);
	vr->used->idx = vring_le32(start_idx);
	/* Event-index mode: the first publication on either side notifies. */
	vr->avail->used_event = vring_le32(start_idx);
	vr->used->avail_event = vring_le32(start_idx);
}

int vring_mem_map(struct vring_mem *m, uint64_t size)
{
	size_t len;
	void *map, *ram;

	if (size == 0 || size % VRING_PAGE_SIZE ||
	    size > (uint64_t)UINT32_MAX * VRING_PAGE_SIZE ||
	    size > SIZE_MAX - (size_t)2 * VRING_PAGE_SIZE)
		return -EINVAL;
	len = (size_t)size + (size_t)2 * VRING_PAGE_SIZE;

	/* Reserve RAM plus both guards as inaccessible, then put the shared
	 * RAM over the middle: the guards stay PROT_NONE. */
	map = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		   MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED)
		return -errno;
	ram = mmap((uint8_t *)map + VRING_PAGE_SIZE, (size_t)size,
		   PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED,
		   -1, 0);
	if (ram == MAP_FAILED) {
		int e = -errno;

		munmap(map, len);
		return e;
	}
	m->base = ram;
	m->size = size;
	m->map = map;
	m->map_len = len;
	return 0;
}

void vring_mem_unmap(struct vring_mem *m)
{
	if (m->map)
		munmap(m->map, m->map_len);
	memset(m, 0, sizeof(*m));
}
