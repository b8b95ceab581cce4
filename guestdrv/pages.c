// SPDX-License-Identifier: MIT
/*
 * First-fit page allocator over a range of guest-physical pages: the guest's
 * own bookkeeping of its RAM, used at setup for queues and buffers, so it
 * favours simplicity over speed.
 */
#include <errno.h>
#include <stdlib.h>

#include "guestdrv.h"

struct gvq_pages {
	uint32_t first_pfn;
	uint32_t npages;
	uint8_t used[];		/* one byte per page: 1 if allocated */
};

struct gvq_pages *gvq_pages_create(uint32_t first_pfn, uint32_t npages)
{
	struct gvq_pages *pages;

	if (npages > UINT32_MAX - first_pfn)
		return NULL;
	pages = calloc(1, sizeof(*pages) + npages);
	if (!pages)
		return NULL;
	pages->first_pfn = first_pfn;
	pages->npages = npages;
	return pages;
}

void gvq_pages_destroy(struct gvq_pages *pages)
{
	free(pages);
}

int64_t gvq_pages_alloc(struct gvq_pages *pages, uint32_t count)
{
	uint32_t start = 0, run = 0, i;

	if (count == 0)
		return -EINVAL;
	for (i = 0; i < pages->npages; i++) {
		if (pages->used[i]) {
			run = 0;
			continue;
		}
		if (run++ == 0)
			start = i;
		if (run == count) {
			for (i = start; i < start + count; i++)
				pages->used[i] = 1;
			return (int64_t)pages->first_pfn + start;
		}
	}
	return -ENOMEM;
}

void gvq_pages_free(struct gvq_pages *pages, uint32_t pfn, uint32_t count)
{
	uint32_t i;

	assert(pfn >= pages->first_pfn &&
	       pfn - pages->first_pfn <= pages->npages &&
	       count <= pages->npages - (pfn - pages->first_pfn));
	for (i = pfn - pages->first_pfn; count--; i++) {
		assert(pages->used[i]);
		pages->used[i] = 0;
	}
}
