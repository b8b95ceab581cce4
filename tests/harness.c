// SPDX-License-Identifier: MIT
/* Guest memory with one queue, and the byte-level mocks of either side. */
#include <stdlib.h>

#include <check.h>

#include "harness.h"
#include "hostdev.h"
#include "sim.h"
#include "tests.h"

void mock_ring_init(struct mock_ring *m, uint32_t num, uint32_t start_idx)
{
	memset(m, 0, sizeof(*m));
	ck_assert_int_eq(vring_mem_map(&m->mem, MOCK_MEM_SIZE), 0);
	m->pages = m->mem.base + ((uint64_t)MOCK_QUEUE_PFN << VRING_PAGE_SHIFT);
	vring_init(&m->vr, m->pages, num);
	vring_reset(&m->vr, start_idx);
	m->num = num;
	m->start_idx = m->avail_idx = m->used_idx = start_idx;
}

void mock_ring_fini(struct mock_ring *m)
{
	vring_mem_unmap(&m->mem);
}

void *mock_mem_snapshot(const struct mock_ring *m)
{
	void *snap = malloc(m->mem.size);

	ck_assert_ptr_nonnull(snap);
	memcpy(snap, m->mem.base, m->mem.size);
	return snap;
}

int mock_mem_unchanged(const struct mock_ring *m, const void *snap)
{
	return memcmp(snap, m->mem.base, m->mem.size) == 0;
}

void test_sim_config(struct sim_config *cfg)
{
	const char *notify = getenv("VQSIM_TEST_NOTIFY");
	const char *wait = getenv("VQSIM_TEST_WAIT");

	sim_config_default(cfg);
	if (notify && *notify && sim_notify_parse(notify, &cfg->notify))
		ck_abort_msg("VQSIM_TEST_NOTIFY '%s': expected plain, flags or event-idx",
			     notify);
	if (wait && *wait && sim_wait_parse(wait, &cfg->wait))
		ck_abort_msg("VQSIM_TEST_WAIT '%s': expected eventfd or poll",
			     wait);
}

uint32_t test_last_head(const struct vring *vr, int host)
{
	struct vring_used_elem e;

	if (!host)
		return vring_avail_ring_read(vr,
					     vring_avail_idx_acquire(vr) - 1);
	vring_used_elem_read(vr, vring_used_idx_acquire(vr) - 1, &e);
	return e.id;
}

static void count_irq(void *ctx)
{
	(*(unsigned int *)ctx)++;
}

static const struct hvq_ops count_ops = { .interrupt = count_irq };

void host_fx_init(struct host_fx *f, uint32_t num, uint32_t start_idx)
{
	mock_ring_init(&f->m, num, start_idx);
	f->irqs = 0;
	f->vq = hvq_create(&f->m.mem, f->m.pages, num, start_idx, &count_ops,
			   &f->irqs);
	ck_assert_ptr_nonnull(f->vq);
}

void host_fx_fini(struct host_fx *f)
{
	hvq_destroy(f->vq);
	mock_ring_fini(&f->m);
}

uint64_t det_value(const struct vring_detection *det, const char *name)
{
	unsigned int i;

	ck_assert_uint_le(det->nvalues, VRING_CHECK_MAX_VALUES);
	for (i = 0; i < det->nvalues; i++)
		if (!strcmp(det->values[i].name, name))
			return det->values[i].value;
	ck_abort_msg("detection %s has no value \"%s\"", det->check, name);
	return 0;
}

void expect_stopped_unrecovered(const struct sim_result *res,
				uint64_t requests)
{
	ck_assert(!res->ok);
	ck_assert_uint_eq(res->resets, 0);
	ck_assert_uint_eq(res->ndetections, 1);
	ck_assert(!res->detections[0].recovered);
	ck_assert_uint_lt(res->devs[0].completed, requests);
}
