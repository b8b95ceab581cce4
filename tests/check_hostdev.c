// SPDX-License-Identifier: MIT
/*
 * hostdev/: every check the device makes of the driver's ring, each built by
 * hand with the mock driver; valid chains of every shape and queue size; the
 * 2^32 wrap; the null device's echo; chain ownership released on use.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "hostdev.h"
#include "tests.h"

#define F_HEAD		VRING_DESC_F_HEAD
#define F_NEXT		VRING_DESC_F_NEXT
#define F_WRITE		VRING_DESC_F_WRITE

/* Pages of guest memory, and the pfn of buffer page k. */
#define MEM_PAGES	(MOCK_MEM_SIZE / VRING_PAGE_SIZE)
#define BUF(k)		(MOCK_BUF_PFN + (k))

/* One device under test: guest memory, the queue, and its interrupts. */
/* Descriptor i as a buffer at guest-physical gpa. */
static void put_desc(struct host_fx *f, uint32_t i, uint64_t gpa, uint32_t len,
		     uint16_t flags, uint32_t next)
{
	mock_desc(&f->m, i, (uint32_t)(gpa >> VRING_PAGE_SHIFT),
		  (uint16_t)(gpa & (VRING_PAGE_SIZE - 1)), len, flags, next);
}

/* Descriptor i as a valid one-descriptor readable chain on buffer page k. */
static void one_desc(struct host_fx *f, uint32_t i, uint32_t k)
{
	mock_desc(&f->m, i, BUF(k), 0, 64, F_HEAD, 0);
}

static void expect_pop(struct host_fx *f, struct hvq_chain *c, uint32_t head)
{
	ck_assert_int_eq(hvq_pop(f->vq, c), 1);
	ck_assert_int_eq(hvq_error(f->vq), HVQ_E_NONE);
	ck_assert_ptr_null(hvq_detection(f->vq));
	ck_assert_uint_eq(c->head, head);
}

/* Fail, naming the first differing guest-physical byte, unless guest
 * memory equals img. */
static void expect_mem(const struct host_fx *f, const void *img)
{
	const uint8_t *p = f->m.mem.base, *q = img;
	uint64_t i;

	if (mock_mem_unchanged(&f->m, img))
		return;
	for (i = 0; p[i] == q[i]; i++)
		;
	ck_abort_msg("guest memory differs at gpa %#llx: %#x, expected %#x",
		     (unsigned long long)i, p[i], q[i]);
}

/* The queue's pages inside an image of guest memory, to apply to it the
 * writes a correct device makes. */
static void img_ring(const struct host_fx *f, void *img, struct vring *vr)
{
	vring_init(vr, (uint8_t *)img +
		   ((uint64_t)MOCK_QUEUE_PFN << VRING_PAGE_SHIFT), f->m.num);
}

static int det_equal(const struct vring_detection *a,
		     const struct vring_detection *b)
{
	unsigned int i;

	if (a->check != b->check || a->nvalues != b->nvalues)
		return 0;
	for (i = 0; i < a->nvalues; i++)
		if (a->values[i].name != b->values[i].name ||
		    a->values[i].value != b->values[i].value)
			return 0;
	return 1;
}

enum run_by { BY_POP, BY_NULL };

/*
 * Run the device once on a corrupt ring and check what DESIGN.md section 4
 * promises of every host check: -EIO, the id, nothing read or written
 * outside guest memory (the guard pages would fault) and nothing written
 * inside it, no interrupt, and a latch that later calls do not move.
 */
static const struct vring_detection *expect_reject(struct host_fx *f,
						   enum run_by by,
						   enum hvq_err err,
						   const char *id)
{
	unsigned int irqs = f->irqs, in_flight = hvq_in_flight(f->vq);
	struct vring_detection det;
	struct hvq_chain c;
	uint32_t head;
	void *snap;
	int ret;

	snap = mock_mem_snapshot(&f->m);
	ret = by == BY_NULL ? null_dev_process(f->vq) : hvq_pop(f->vq, &c);
	ck_assert_int_eq(ret, -EIO);
	ck_assert_int_eq(hvq_error(f->vq), err);
	ck_assert_ptr_nonnull(hvq_detection(f->vq));
	ck_assert_str_eq(hvq_check_name(err), id);
	ck_assert(strcmp(hvq_detection(f->vq)->check, id) == 0);
	expect_mem(f, snap);
	ck_assert_uint_eq(f->irqs, irqs);
	ck_assert_uint_eq(hvq_in_flight(f->vq), in_flight);

	det = *hvq_detection(f->vq);
	ck_assert_int_eq(hvq_pop(f->vq, &c), -EIO);
	ck_assert_int_eq(null_dev_process(f->vq), -EIO);
	ck_assert_int_eq(hvq_get_available(f->vq, &head), -EIO);
	ck_assert_int_eq(hvq_error(f->vq), err);
	ck_assert(det_equal(&det, hvq_detection(f->vq)));
	expect_mem(f, snap);
	ck_assert_uint_eq(f->irqs, irqs);
	ck_assert_uint_eq(hvq_in_flight(f->vq), in_flight);
	free(snap);
	return hvq_detection(f->vq);
}

/* ---- one test per host check ---- */

/*
 * avail_idx_jump: the driver has only num descriptors, so it can never have
 * more than num chains outstanding; an avail idx further ahead (or behind,
 * which mod 2^32 is far ahead) is corrupt and must not make the host walk
 * slots that were never filled.  Exactly num outstanding is legal, also
 * across the 2^32 wrap, and must not trip the check.
 */
START_TEST(test_avail_idx_jump)
{
	const uint32_t num = 8, start = UINT32_MAX - 2;
	const struct vring_detection *det;
	struct hvq_chain c;
	struct host_fx f;
	uint32_t i;

	/* num + 1 past a fresh ring. */
	host_fx_init(&f, num, start);
	for (i = 0; i < num; i++)
		one_desc(&f, i, i);
	mock_avail_publish(&f.m, start + num + 1);
	det = expect_reject(&f, BY_POP, HVQ_E_AVAIL_IDX_JUMP,
			    "avail_idx_jump");
	ck_assert_uint_eq(det_value(det, "avail_idx"), start + num + 1);
	ck_assert_uint_eq(det_value(det, "last_avail_idx"), start);
	ck_assert_uint_eq(det_value(det, "used_idx"), start);
	host_fx_fini(&f);

	/* Exactly num outstanding, twice, then num + 1 past the used ones. */
	host_fx_init(&f, num, start);
	for (i = 0; i < num; i++) {
		one_desc(&f, i, i);
		mock_avail_push(&f.m, i);
	}
	for (i = 0; i < num; i++)
		expect_pop(&f, &c, i);
	ck_assert_int_eq(hvq_pop(f.vq, &c), 0);
	for (i = 0; i < num; i++)
		hvq_add_used(f.vq, i, 0);
	ck_assert_int_eq(hvq_notify(f.vq), 1);
	for (i = 0; i < num; i++)
		mock_avail_push(&f.m, num - 1 - i);
	for (i = 0; i < num; i++)
		expect_pop(&f, &c, num - 1 - i);
	for (i = 0; i < num; i++)
		hvq_add_used(f.vq, i, 0);
	ck_assert_int_eq(hvq_notify(f.vq), 1);
	mock_avail_publish(&f.m, start + 2 * num + num + 1);
	det = expect_reject(&f, BY_NULL, HVQ_E_AVAIL_IDX_JUMP,
			    "avail_idx_jump");
	ck_assert_uint_eq(det_value(det, "avail_idx"), start + 3 * num + 1);
	ck_assert_uint_eq(det_value(det, "last_avail_idx"), start + 2 * num);
	host_fx_fini(&f);

	/* Backwards by one, nothing in flight. */
	host_fx_init(&f, num, start);
	one_desc(&f, 0, 0);
	one_desc(&f, 1, 1);
	mock_avail_push(&f.m, 0);
	mock_avail_push(&f.m, 1);
	expect_pop(&f, &c, 0);
	expect_pop(&f, &c, 1);
	hvq_add_used(f.vq, 0, 0);
	hvq_add_used(f.vq, 1, 0);
	ck_assert_int_eq(hvq_notify(f.vq), 1);
	mock_avail_publish(&f.m, start + 1);
	det = expect_reject(&f, BY_POP, HVQ_E_AVAIL_IDX_JUMP,
			    "avail_idx_jump");
	ck_assert_uint_eq(det_value(det, "avail_idx"), start + 1);
	ck_assert_uint_eq(det_value(det, "last_avail_idx"), start + 2);
	host_fx_fini(&f);

	/* Far backwards, to before the start. */
	host_fx_init(&f, num, start);
	mock_avail_publish(&f.m, start - 100);
	det = expect_reject(&f, BY_NULL, HVQ_E_AVAIL_IDX_JUMP,
			    "avail_idx_jump");
	ck_assert_uint_eq(det_value(det, "avail_idx"), start - 100);
	host_fx_fini(&f);
}
END_TEST

/*
 * avail_idx_jump, regression: a backwards move of avail idx while chains are
 * in flight is as corrupt as one with none in flight.  Here the device has
 * consumed slots start and start + 1 (both still in flight) when the driver
 * publishes start + 1; the host must not take slot start + 2, which the
 * driver never made available (a stale head 0 with a valid chain sits there).
 */
START_TEST(test_avail_idx_back_in_flight)
{
	const uint32_t num = 8, start = 0;
	const struct vring_detection *det;
	struct hvq_chain c;
	struct host_fx f;

	host_fx_init(&f, num, start);
	one_desc(&f, 0, 0);		/* valid, but never made available */
	one_desc(&f, 3, 3);
	one_desc(&f, 5, 5);
	mock_avail_push(&f.m, 3);
	mock_avail_push(&f.m, 5);
	expect_pop(&f, &c, 3);
	expect_pop(&f, &c, 5);
	mock_avail_publish(&f.m, start + 1);
	det = expect_reject(&f, BY_POP, HVQ_E_AVAIL_IDX_JUMP,
			    "avail_idx_jump");
	ck_assert_uint_eq(det_value(det, "avail_idx"), start + 1);
	ck_assert_uint_eq(det_value(det, "last_avail_idx"), start + 2);
	host_fx_fini(&f);
}
END_TEST

/*
 * avail_head_range: a head >= num would index past the queue's descriptors
 * (into the rest of the page, or past it for 2^32 - 1).  num - 1 is the last
 * legal head.
 */
START_TEST(test_avail_head_range)
{
	static const uint32_t bad[] = { 8, 9, 255, 256, UINT32_MAX };
	const uint32_t num = 8, start = 7;
	const struct vring_detection *det;
	struct hvq_chain c;
	struct host_fx f;
	unsigned int k;

	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		host_fx_init(&f, num, start);
		one_desc(&f, num - 1, 0);
		mock_avail_push(&f.m, num - 1);
		expect_pop(&f, &c, num - 1);
		mock_avail_push(&f.m, bad[k]);
		det = expect_reject(&f, k & 1 ? BY_NULL : BY_POP,
				    HVQ_E_AVAIL_HEAD_RANGE, "avail_head_range");
		ck_assert_uint_eq(det_value(det, "head"), bad[k]);
		ck_assert_uint_eq(det_value(det, "queue_size"), num);
		ck_assert_uint_eq(det_value(det, "avail_idx"), start + 1);
		host_fx_fini(&f);
	}
}
END_TEST

/*
 * avail_not_head: the seed's HEAD flag says the driver really meant this
 * descriptor to start a chain; without it the slot names a stale or
 * half-built descriptor.  The same descriptor with HEAD is accepted.
 */
START_TEST(test_avail_not_head)
{
	static const uint16_t bad[] = { 0, F_WRITE, F_NEXT };
	const struct vring_detection *det;
	struct hvq_chain c;
	struct host_fx f;
	unsigned int k;

	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		host_fx_init(&f, 8, 0);
		mock_desc(&f.m, 2, BUF(0), 0, 16, F_HEAD | bad[k], 3);
		mock_desc(&f.m, 3, BUF(1), 0, 16, F_WRITE, 0);
		mock_avail_push(&f.m, 2);
		expect_pop(&f, &c, 2);
		mock_desc(&f.m, 4, BUF(2), 0, 16, bad[k], 5);
		mock_desc(&f.m, 5, BUF(3), 0, 16, F_WRITE, 0);
		mock_avail_push(&f.m, 4);
		det = expect_reject(&f, k & 1 ? BY_NULL : BY_POP,
				    HVQ_E_AVAIL_NOT_HEAD, "avail_not_head");
		ck_assert_uint_eq(det_value(det, "head"), 4);
		ck_assert_uint_eq(det_value(det, "flags"), bad[k]);
		host_fx_fini(&f);
	}
}
END_TEST

/*
 * avail_head_busy: a head still in flight made available again would give
 * the device two requests over the same buffers and complete the head twice.
 * Once used, the same head may come back.
 */
START_TEST(test_avail_head_busy)
{
	const struct vring_detection *det;
	struct hvq_chain c;
	struct host_fx f;

	host_fx_init(&f, 4, UINT32_MAX);
	mock_desc(&f.m, 1, BUF(0), 0, 32, F_HEAD | F_NEXT, 2);
	mock_desc(&f.m, 2, BUF(1), 0, 32, F_WRITE, 0);
	mock_avail_push(&f.m, 1);
	expect_pop(&f, &c, 1);
	hvq_add_used(f.vq, 1, 32);
	mock_avail_push(&f.m, 1);
	expect_pop(&f, &c, 1);
	ck_assert_uint_eq(hvq_in_flight(f.vq), 1);
	mock_avail_push(&f.m, 1);
	det = expect_reject(&f, BY_POP, HVQ_E_AVAIL_HEAD_BUSY,
			    "avail_head_busy");
	ck_assert_uint_eq(det_value(det, "head"), 1);
	ck_assert_uint_eq(det_value(det, "avail_idx"), UINT32_MAX + 2u);
	host_fx_fini(&f);
}
END_TEST

/*
 * desc_next_range: next >= num would make the host read a descriptor past
 * the queue's.  It matters only with NEXT: the last descriptor's next is
 * ignored, whatever it holds, and num - 1 is a legal next.
 */
START_TEST(test_desc_next_range)
{
	static const uint32_t bad[] = { 16, 17, 256, UINT32_MAX };
	const struct vring_detection *det;
	struct hvq_chain c;
	struct host_fx f;
	unsigned int k;

	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		host_fx_init(&f, 16, 0);
		mock_desc(&f.m, 0, BUF(0), 0, 8, F_HEAD | F_NEXT, 15);
		mock_desc(&f.m, 15, BUF(1), 0, 8, 0, bad[k]);
		mock_avail_push(&f.m, 0);
		expect_pop(&f, &c, 0);
		ck_assert_uint_eq(c.out_num, 2);
		hvq_add_used(f.vq, 0, 0);

		/* Bad next on the head, then on a later descriptor. */
		mock_desc(&f.m, 1, BUF(2), 0, 8,
			  F_HEAD | F_NEXT, k & 1 ? 2 : bad[k]);
		mock_desc(&f.m, 2, BUF(3), 0, 8, F_NEXT, bad[k]);
		mock_avail_push(&f.m, 1);
		det = expect_reject(&f, k & 1 ? BY_NULL : BY_POP,
				    HVQ_E_DESC_NEXT_RANGE, "desc_next_range");
		ck_assert_uint_eq(det_value(det, "head"), 1);
		ck_assert_uint_eq(det_value(det, "desc"), k & 1 ? 2 : 1);
		ck_assert_uint_eq(det_value(det, "next"), bad[k]);
		host_fx_fini(&f);
	}
}
END_TEST

/*
 * desc_loop: a chain that comes back to a descriptor it already visited
 * would keep the host walking forever (the seed bounds it by num).  Both a
 * loop back to the head and one between two later descriptors, and a loop
 * closing only after every one of the num descriptors.
 */
START_TEST(test_desc_loop)
{
	const uint32_t num = 8;
	const struct vring_detection *det;
	struct host_fx f;
	uint32_t i;

	/* 0 -> 1 -> 0 */
	host_fx_init(&f, num, 0);
	mock_desc(&f.m, 0, BUF(0), 0, 8, F_HEAD | F_NEXT, 1);
	mock_desc(&f.m, 1, BUF(1), 0, 8, F_NEXT, 0);
	mock_avail_push(&f.m, 0);
	det = expect_reject(&f, BY_POP, HVQ_E_DESC_LOOP, "desc_loop");
	ck_assert_uint_eq(det_value(det, "head"), 0);
	ck_assert_uint_eq(det_value(det, "desc"), 0);
	ck_assert_uint_eq(det_value(det, "chain_len"), 2);
	host_fx_fini(&f);

	/* 3 -> 3 */
	host_fx_init(&f, num, 0);
	mock_desc(&f.m, 3, BUF(0), 0, 8, F_HEAD | F_NEXT, 3);
	mock_avail_push(&f.m, 3);
	det = expect_reject(&f, BY_NULL, HVQ_E_DESC_LOOP, "desc_loop");
	ck_assert_uint_eq(det_value(det, "desc"), 3);
	ck_assert_uint_eq(det_value(det, "chain_len"), 1);
	host_fx_fini(&f);

	/* 4 -> 6 -> 5 -> 6: the loop does not include the head. */
	host_fx_init(&f, num, 0);
	mock_desc(&f.m, 4, BUF(0), 0, 8, F_HEAD | F_NEXT, 6);
	mock_desc(&f.m, 6, BUF(1), 0, 8, F_NEXT | F_WRITE, 5);
	mock_desc(&f.m, 5, BUF(2), 0, 8, F_NEXT | F_WRITE, 6);
	mock_avail_push(&f.m, 4);
	det = expect_reject(&f, BY_NULL, HVQ_E_DESC_LOOP, "desc_loop");
	ck_assert_uint_eq(det_value(det, "head"), 4);
	ck_assert_uint_eq(det_value(det, "desc"), 6);
	ck_assert_uint_eq(det_value(det, "chain_len"), 3);
	host_fx_fini(&f);

	/* All num descriptors, the last chaining back to the second. */
	host_fx_init(&f, num, 0);
	for (i = 0; i < num; i++)
		mock_desc(&f.m, i, BUF(i), 0, 8, (i ? 0 : F_HEAD) | F_NEXT,
			  i + 1 < num ? i + 1 : 1);
	mock_avail_push(&f.m, 0);
	det = expect_reject(&f, BY_POP, HVQ_E_DESC_LOOP, "desc_loop");
	ck_assert_uint_eq(det_value(det, "desc"), 1);
	ck_assert_uint_eq(det_value(det, "chain_len"), num);
	host_fx_fini(&f);

	/* The same num descriptors ending instead of looping: accepted. */
	host_fx_init(&f, num, 0);
	for (i = 0; i < num; i++)
		mock_desc(&f.m, i, BUF(i), 0, 8,
			  (i ? 0 : F_HEAD) | (i + 1 < num ? F_NEXT : 0),
			  i + 1 < num ? i + 1 : 1);
	mock_avail_push(&f.m, 0);
	ck_assert_int_eq(null_dev_process(f.vq), 1);
	ck_assert_int_eq(hvq_error(f.vq), HVQ_E_NONE);
	host_fx_fini(&f);
}
END_TEST

/*
 * desc_middle_head: HEAD marks the start of a chain the driver made
 * available; a HEAD inside a chain means two chains were spliced together
 * (the seed's check).  The same chain without it is accepted.
 */
START_TEST(test_desc_middle_head)
{
	const struct vring_detection *det;
	struct hvq_chain c;
	struct host_fx f;

	host_fx_init(&f, 8, 0);
	mock_desc(&f.m, 0, BUF(0), 0, 8, F_HEAD | F_NEXT, 1);
	mock_desc(&f.m, 1, BUF(1), 0, 8, F_NEXT, 2);
	mock_desc(&f.m, 2, BUF(2), 0, 8, F_WRITE, 0);
	mock_avail_push(&f.m, 0);
	expect_pop(&f, &c, 0);
	ck_assert_uint_eq(c.out_num + c.in_num, 3);
	hvq_add_used(f.vq, 0, 8);

	mock_desc(&f.m, 2, BUF(2), 0, 8, F_HEAD | F_WRITE, 0);
	mock_avail_push(&f.m, 0);
	det = expect_reject(&f, BY_NULL, HVQ_E_DESC_MIDDLE_HEAD,
			    "desc_middle_head");
	ck_assert_uint_eq(det_value(det, "head"), 0);
	ck_assert_uint_eq(det_value(det, "desc"), 2);
	ck_assert_uint_eq(det_value(det, "flags"), F_HEAD | F_WRITE);
	host_fx_fini(&f);
}
END_TEST

/*
 * desc_shared: a descriptor can belong to one in-flight chain only;
 * otherwise the device would write one request's data into another's
 * buffer.  Shared middle, shared tail, and a head that is another chain's
 * member; a disjoint chain in flight alongside is accepted.
 */
START_TEST(test_desc_shared)
{
	const struct vring_detection *det;
	struct hvq_chain c;
	struct host_fx f;

	/* A = 0 -> 1, B = 2 -> 1 */
	host_fx_init(&f, 8, 0);
	mock_desc(&f.m, 0, BUF(0), 0, 8, F_HEAD | F_NEXT, 1);
	mock_desc(&f.m, 1, BUF(1), 0, 8, F_WRITE, 0);
	mock_avail_push(&f.m, 0);
	expect_pop(&f, &c, 0);
	one_desc(&f, 5, 5);
	mock_avail_push(&f.m, 5);
	expect_pop(&f, &c, 5);
	mock_desc(&f.m, 2, BUF(2), 0, 8, F_HEAD | F_NEXT, 1);
	mock_avail_push(&f.m, 2);
	det = expect_reject(&f, BY_POP, HVQ_E_DESC_SHARED, "desc_shared");
	ck_assert_uint_eq(det_value(det, "head"), 2);
	ck_assert_uint_eq(det_value(det, "desc"), 1);
	ck_assert_uint_eq(det_value(det, "owner"), 0);
	ck_assert_uint_eq(hvq_in_flight(f.vq), 2);
	host_fx_fini(&f);

	/* A = 0 -> 1 -> 2, B = 3 -> 4 -> 2 */
	host_fx_init(&f, 8, 0);
	mock_desc(&f.m, 0, BUF(0), 0, 8, F_HEAD | F_NEXT, 1);
	mock_desc(&f.m, 1, BUF(1), 0, 8, F_NEXT, 2);
	mock_desc(&f.m, 2, BUF(2), 0, 8, F_WRITE, 0);
	mock_avail_push(&f.m, 0);
	expect_pop(&f, &c, 0);
	mock_desc(&f.m, 3, BUF(3), 0, 8, F_HEAD | F_NEXT, 4);
	mock_desc(&f.m, 4, BUF(4), 0, 8, F_NEXT, 2);
	mock_avail_push(&f.m, 3);
	det = expect_reject(&f, BY_NULL, HVQ_E_DESC_SHARED, "desc_shared");
	ck_assert_uint_eq(det_value(det, "head"), 3);
	ck_assert_uint_eq(det_value(det, "desc"), 2);
	ck_assert_uint_eq(det_value(det, "owner"), 0);
	host_fx_fini(&f);

	/* A = 6 -> 7; then 7 made available as a head of its own. */
	host_fx_init(&f, 8, 0);
	mock_desc(&f.m, 6, BUF(0), 0, 8, F_HEAD | F_NEXT, 7);
	mock_desc(&f.m, 7, BUF(1), 0, 8, F_WRITE, 0);
	mock_avail_push(&f.m, 6);
	expect_pop(&f, &c, 6);
	mock_desc(&f.m, 7, BUF(1), 0, 8, F_HEAD | F_WRITE, 0);
	mock_avail_push(&f.m, 7);
	det = expect_reject(&f, BY_POP, HVQ_E_DESC_SHARED, "desc_shared");
	ck_assert_uint_eq(det_value(det, "head"), 7);
	ck_assert_uint_eq(det_value(det, "desc"), 7);
	ck_assert_uint_eq(det_value(det, "owner"), 6);
	host_fx_fini(&f);
}
END_TEST

/*
 * desc_out_after_in: a chain is all readable, then all writable; a readable
 * buffer after a writable one has no place in the out/in iovecs a device
 * consumes (the seed's check).  Readable then writable is accepted.
 */
START_TEST(test_desc_out_after_in)
{
	const struct vring_detection *det;
	struct hvq_chain c;
	struct host_fx f;

	host_fx_init(&f, 8, 0);
	mock_desc(&f.m, 0, BUF(0), 0, 8, F_HEAD | F_NEXT, 1);
	mock_desc(&f.m, 1, BUF(1), 0, 8, F_WRITE | F_NEXT, 2);
	mock_desc(&f.m, 2, BUF(2), 0, 8, F_WRITE, 0);
	mock_avail_push(&f.m, 0);
	expect_pop(&f, &c, 0);
	ck_assert_uint_eq(c.out_num, 1);
	ck_assert_uint_eq(c.in_num, 2);
	hvq_add_used(f.vq, 0, 0);

	mock_desc(&f.m, 2, BUF(2), 0, 8, 0, 0);
	mock_avail_push(&f.m, 0);
	det = expect_reject(&f, BY_NULL, HVQ_E_DESC_OUT_AFTER_IN,
			    "desc_out_after_in");
	ck_assert_uint_eq(det_value(det, "head"), 0);
	ck_assert_uint_eq(det_value(det, "desc"), 2);
	host_fx_fini(&f);

	/* Writable head, readable second. */
	host_fx_init(&f, 8, 0);
	mock_desc(&f.m, 4, BUF(0), 0, 8, F_HEAD | F_WRITE | F_NEXT, 6);
	mock_desc(&f.m, 6, BUF(1), 0, 8, 0, 0);
	mock_avail_push(&f.m, 4);
	det = expect_reject(&f, BY_POP, HVQ_E_DESC_OUT_AFTER_IN,
			    "desc_out_after_in");
	ck_assert_uint_eq(det_value(det, "head"), 4);
	ck_assert_uint_eq(det_value(det, "desc"), 6);
	host_fx_fini(&f);
}
END_TEST

/*
 * desc_unknown_flags: bits beyond HEAD, NEXT and WRITE mean a driver speaking
 * another protocol (an indirect table, say) or a corrupt descriptor; acting
 * on the rest of it would be a guess (crosvm's check).  All three known bits
 * together are accepted.
 */
START_TEST(test_desc_unknown_flags)
{
	static const uint16_t bad[] = { 0x8, 0x10, 0x8000, 0xfff8 };
	const struct vring_detection *det;
	struct hvq_chain c;
	struct host_fx f;
	unsigned int k;

	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		host_fx_init(&f, 8, 0);
		mock_desc(&f.m, 0, BUF(0), 0, 8, F_HEAD | F_WRITE | F_NEXT, 1);
		mock_desc(&f.m, 1, BUF(1), 0, 8, F_WRITE, 0);
		mock_avail_push(&f.m, 0);
		expect_pop(&f, &c, 0);
		hvq_add_used(f.vq, 0, 0);

		/* On the head for even k, on the second descriptor for odd. */
		mock_desc(&f.m, 2, BUF(2), 0, 8,
			  F_HEAD | F_NEXT | (k & 1 ? 0 : bad[k]), 3);
		mock_desc(&f.m, 3, BUF(3), 0, 8, F_WRITE | (k & 1 ? bad[k] : 0),
			  0);
		mock_avail_push(&f.m, 2);
		det = expect_reject(&f, k & 1 ? BY_NULL : BY_POP,
				    HVQ_E_DESC_UNKNOWN_FLAGS,
				    "desc_unknown_flags");
		ck_assert_uint_eq(det_value(det, "head"), 2);
		ck_assert_uint_eq(det_value(det, "desc"), k & 1 ? 3 : 2);
		ck_assert_uint_eq(det_value(det, "flags"),
				  k & 1 ? (F_WRITE | bad[k]) :
				  (F_HEAD | F_NEXT | bad[k]));
		host_fx_fini(&f);
	}
}
END_TEST

/* desc_bad_addr cases: where the buffer is, and whether it is outside. */
static const struct addr_case {
	uint32_t pfn;
	uint16_t offset;
	uint32_t len;
	int bad;
} addr_cases[] = {
	{ MEM_PAGES, 0, 1, 1 },			/* first page past the end */
	{ MEM_PAGES + 1000, 0, 1, 1 },		/* far past it */
	{ MEM_PAGES - 1, 4095, 1, 0 },		/* the last byte */
	{ MEM_PAGES - 1, 0, 4096, 0 },		/* the last page */
	{ MEM_PAGES - 1, 4000, 97, 1 },		/* one byte across the end */
	{ MEM_PAGES - 1, 4096, 1, 1 },		/* offset beyond the end */
	{ BUF(0), 0xffff, 1, 0 },		/* offset past a page: fine */
	{ 0, 0, MOCK_MEM_SIZE, 0 },		/* all of memory */
	{ 0, 0, MOCK_MEM_SIZE + 1, 1 },		/* one more */
	{ 0, 1, MOCK_MEM_SIZE, 1 },		/* shifted by one */
	{ BUF(0), 0, UINT32_MAX, 1 },		/* a u32 end wraps inside */
	{ BUF(0), 0, UINT32_MAX - 4095, 1 },
	{ UINT32_MAX, 0, 1, 1 },		/* u32 gpa 0xfffff000 */
	{ UINT32_MAX, 4096, 1, 1 },		/* u32 gpa wraps to 0 */
	{ (1u << 20) + BUF(0), 0, 64, 1 },	/* u32 gpa wraps to BUF(0) */
	{ UINT32_MAX, 0xffff, UINT32_MAX, 1 },	/* everything at its max */
};

/*
 * desc_bad_addr: every byte of a buffer must lie in guest memory, with the
 * sums done so that they cannot overflow: a pfn or offset + len that wraps
 * a 32-bit (or 64-bit) sum back inside memory is still outside.  Buffers
 * that end exactly at the last byte are inside.  Loop index: the case, put
 * on the head for even indices and on a later descriptor for odd ones.
 */
START_TEST(test_desc_bad_addr)
{
	const struct addr_case *t = &addr_cases[_i];
	const uint32_t i = _i & 1 ? 6 : 2;
	const struct vring_detection *det;
	uint64_t gpa = ((uint64_t)t->pfn << VRING_PAGE_SHIFT) + t->offset;
	struct hvq_chain c;
	struct host_fx f;

	host_fx_init(&f, 8, 100);
	mock_desc(&f.m, 2, BUF(0), 0, 8, F_HEAD | F_NEXT, 6);
	mock_desc(&f.m, 6, BUF(1), 0, 8, F_WRITE, 0);
	mock_avail_push(&f.m, 2);
	expect_pop(&f, &c, 2);
	hvq_add_used(f.vq, 2, 0);

	mock_desc(&f.m, i, t->pfn, t->offset, t->len,
		  (i == 2 ? F_HEAD | F_NEXT : 0) | F_WRITE, 6);
	mock_avail_push(&f.m, 2);
	if (!t->bad) {
		expect_pop(&f, &c, 2);
		ck_assert_uint_eq(c.out_num + c.in_num, 2);
		ck_assert_ptr_eq(c.iov[i == 2 ? 0 : 1].iov_base,
				 f.m.mem.base + gpa);
		ck_assert(vring_mem_contains(&f.m.mem, f.m.mem.base + gpa,
					     t->len));
		host_fx_fini(&f);
		return;
	}
	det = expect_reject(&f, _i & 2 ? BY_NULL : BY_POP,
			    HVQ_E_DESC_BAD_ADDR, "desc_bad_addr");
	ck_assert_uint_eq(det_value(det, "desc"), i);
	ck_assert_uint_eq(det_value(det, "gpa"), gpa);
	ck_assert_uint_eq(det_value(det, "len"), t->len);
	host_fx_fini(&f);
}
END_TEST

/*
 * desc_zero_len: a zero-length buffer carries nothing and would give a
 * device an empty iovec it may not expect (QEMU's check); it is also the
 * pfn/offset nobody checked.  On the head and on a later writable buffer;
 * length 1 is accepted.
 */
START_TEST(test_desc_zero_len)
{
	const struct vring_detection *det;
	struct hvq_chain c;
	struct host_fx f;

	host_fx_init(&f, 2, 0);
	mock_desc(&f.m, 1, BUF(0), 0, 0, F_HEAD, 0);
	mock_avail_push(&f.m, 1);
	det = expect_reject(&f, BY_POP, HVQ_E_DESC_ZERO_LEN, "desc_zero_len");
	ck_assert_uint_eq(det_value(det, "head"), 1);
	ck_assert_uint_eq(det_value(det, "desc"), 1);
	host_fx_fini(&f);

	host_fx_init(&f, 8, 0);
	mock_desc(&f.m, 0, BUF(0), 0, 1, F_HEAD | F_NEXT, 1);
	mock_desc(&f.m, 1, BUF(1), 0, 1, F_WRITE, 0);
	mock_avail_push(&f.m, 0);
	expect_pop(&f, &c, 0);
	hvq_add_used(f.vq, 0, 1);
	mock_desc(&f.m, 1, BUF(1), 0, 0, F_WRITE, 0);
	mock_avail_push(&f.m, 0);
	det = expect_reject(&f, BY_NULL, HVQ_E_DESC_ZERO_LEN, "desc_zero_len");
	ck_assert_uint_eq(det_value(det, "head"), 0);
	ck_assert_uint_eq(det_value(det, "desc"), 1);
	host_fx_fini(&f);
}
END_TEST

/*
 * The latch (DESIGN.md section 4): once broken, the host stops using the
 * queue even if the driver then repairs the ring and offers a good chain,
 * so it never re-parses or acts on anything more; completions of chains
 * taken before the detection still reach the driver.
 */
START_TEST(test_latch_ignores_repair)
{
	const struct vring_detection *det;
	struct vring_used_elem e;
	struct hvq_chain c;
	struct host_fx f;

	host_fx_init(&f, 8, 0);
	one_desc(&f, 7, 0);
	mock_avail_push(&f.m, 7);
	expect_pop(&f, &c, 7);
	mock_desc(&f.m, 0, BUF(1), 0, 8, F_HEAD | F_NEXT, 99);
	mock_avail_push(&f.m, 0);
	det = expect_reject(&f, BY_POP, HVQ_E_DESC_NEXT_RANGE,
			    "desc_next_range");
	ck_assert_uint_eq(det_value(det, "next"), 99);

	/* Repair: fix the bad chain and offer it again, and a new one. */
	mock_desc(&f.m, 0, BUF(1), 0, 8, F_HEAD, 0);
	one_desc(&f, 3, 3);
	mock_avail_push(&f.m, 0);
	mock_avail_push(&f.m, 3);
	det = expect_reject(&f, BY_NULL, HVQ_E_DESC_NEXT_RANGE,
			    "desc_next_range");
	ck_assert_uint_eq(det_value(det, "next"), 99);
	ck_assert_uint_eq(hvq_in_flight(f.vq), 1);

	ck_assert_int_eq(hvq_notify(f.vq), 0);
	hvq_add_used(f.vq, 7, 5);
	ck_assert_int_eq(hvq_notify(f.vq), 1);
	ck_assert_uint_eq(f.irqs, 1);
	ck_assert_uint_eq(vring_used_idx_acquire(&f.m.vr), 1);
	vring_used_elem_read(&f.m.vr, 0, &e);
	ck_assert_uint_eq(e.id, 7);
	ck_assert_uint_eq(e.len, 5);
	host_fx_fini(&f);
}
END_TEST

/* ---- valid chains ---- */

/* Where the sweep puts buffer k: spread over pages and offsets; offset
 * < 2048 and len <= 2000, so each lies inside one page. */
static uint32_t sw_pfn(uint32_t k)
{
	return BUF(k % 200);
}

static uint16_t sw_off(uint32_t k)
{
	return (uint16_t)(k * 37 % 2048);
}

static uint32_t sw_len(uint32_t k)
{
	return 1 + k * 13 % 2000;
}

/* Write a valid chain out:in over descriptors idx[] (buffer k = salt + its
 * position) and make it available.  The last next is garbage on purpose:
 * without NEXT it means nothing. */
static void make_chain(struct host_fx *f, const uint32_t *idx, uint32_t out,
		       uint32_t in, uint32_t salt)
{
	uint32_t n = out + in, p;

	for (p = 0; p < n; p++) {
		uint16_t flags = (p == 0 ? F_HEAD : 0) |
				 (p + 1 < n ? F_NEXT : 0) |
				 (p >= out ? F_WRITE : 0);

		mock_desc(&f->m, idx[p], sw_pfn(salt + p), sw_off(salt + p),
			  sw_len(salt + p), flags,
			  p + 1 < n ? idx[p + 1] : 0xdead0000u + p);
	}
	mock_avail_push(&f->m, idx[0]);
}

/* The gathered chain is exactly the one make_chain() wrote. */
static void check_chain(const struct host_fx *f, const struct hvq_chain *c,
			const uint32_t *idx, uint32_t out, uint32_t in,
			uint32_t salt)
{
	uint64_t out_len = 0, in_len = 0;
	uint32_t p;

	ck_assert_uint_eq(c->head, idx[0]);
	ck_assert_uint_eq(c->out_num, out);
	ck_assert_uint_eq(c->in_num, in);
	for (p = 0; p < out + in; p++) {
		uint32_t k = salt + p;
		uint64_t gpa = ((uint64_t)sw_pfn(k) << VRING_PAGE_SHIFT) +
			       sw_off(k);

		ck_assert(vring_mem_contains(&f->m.mem, c->iov[p].iov_base,
					     c->iov[p].iov_len));
		ck_assert_ptr_eq(c->iov[p].iov_base, f->m.mem.base + gpa);
		ck_assert_uint_eq(c->iov[p].iov_len, sw_len(k));
		if (p < out)
			out_len += sw_len(k);
		else
			in_len += sw_len(k);
	}
	ck_assert_uint_eq(c->out_len, out_len);
	ck_assert_uint_eq(c->in_len, in_len);
}

/* The used entry at free-running idx, as the driver reads it. */
static void expect_used(const struct host_fx *f, uint32_t idx, uint32_t id,
			uint32_t len)
{
	struct vring_used_elem e;

	vring_used_elem_read(&f->m.vr, idx, &e);
	ck_assert_uint_eq(e.id, id);
	ck_assert_uint_eq(e.len, len);
}

#define ALL	UINT32_MAX	/* shape: num descriptors in all */

static const struct {
	uint32_t out, in;
} shapes[] = {
	{ 1, 0 }, { 0, 1 }, { 1, 1 }, { 3, 2 }, { ALL, ALL },
};

/*
 * Valid chains of every shape on every queue size (loop index i: num =
 * 2 << i) are gathered exactly as written: every iovec a checked pointer to
 * the right guest address, the right counts and lengths; and a used entry
 * reaches the driver with one interrupt per publishing notify, none for a
 * notify with nothing new.  Then num one-descriptor chains at once, the
 * most a driver can have outstanding, completed out of order.
 */
START_TEST(test_valid_chains_sweep)
{
	const uint32_t num = 2u << _i, start = UINT32_MAX - 3u * _i;
	uint32_t idx[VRING_MAX_SIZE], used = start, round = 0, s, p, h;
	struct hvq_chain c;
	struct host_fx f;

	host_fx_init(&f, num, start);
	for (s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		uint32_t out = shapes[s].out, in = shapes[s].in, len;

		if (out == ALL) {
			out = num / 2;
			in = num - out;
		}
		if (out + in > num)
			continue;
		/* Descriptors scattered by an odd stride: a permutation. */
		for (p = 0; p < out + in; p++)
			idx[p] = (round * 3 + p * 5) & (num - 1);
		make_chain(&f, idx, out, in, round * 17);
		ck_assert_int_eq(hvq_pop(f.vq, &c), 1);
		check_chain(&f, &c, idx, out, in, round * 17);
		ck_assert_uint_eq(hvq_in_flight(f.vq), 1);
		ck_assert_int_eq(hvq_pop(f.vq, &c), 0);

		len = (uint32_t)c.in_len;
		hvq_add_used(f.vq, c.head, len);
		ck_assert_uint_eq(hvq_in_flight(f.vq), 0);
		ck_assert_int_eq(hvq_notify(f.vq), 1);
		ck_assert_uint_eq(f.irqs, round + 1);
		ck_assert_uint_eq(vring_used_idx_acquire(&f.m.vr), used + 1);
		expect_used(&f, used, idx[0], len);
		used++;
		ck_assert_int_eq(hvq_notify(f.vq), 0);
		ck_assert_uint_eq(f.irqs, round + 1);
		round++;
	}
	ck_assert_uint_eq(round, num >= 5 ? 5 : 4);

	for (h = 0; h < num; h++) {
		mock_desc(&f.m, h, sw_pfn(h), sw_off(h), sw_len(h),
			  F_HEAD | (h & 1 ? F_WRITE : 0), h ^ 1);
		mock_avail_push(&f.m, (h * 7) & (num - 1));
	}
	for (h = 0; h < num; h++) {
		uint32_t head = (h * 7) & (num - 1);

		ck_assert_int_eq(hvq_pop(f.vq, &c), 1);
		ck_assert_uint_eq(c.head, head);
		ck_assert_uint_eq(c.out_num + c.in_num, 1);
		ck_assert_ptr_eq(c.iov[0].iov_base, f.m.mem.base +
				 ((uint64_t)sw_pfn(head) << VRING_PAGE_SHIFT) +
				 sw_off(head));
	}
	ck_assert_int_eq(hvq_pop(f.vq, &c), 0);
	ck_assert_uint_eq(hvq_in_flight(f.vq), num);
	for (h = 0; h < num; h++)
		hvq_add_used(f.vq, num - 1 - h, h);
	ck_assert_int_eq(hvq_notify(f.vq), 1);
	ck_assert_uint_eq(f.irqs, round + 1);
	ck_assert_uint_eq(vring_used_idx_acquire(&f.m.vr), used + num);
	for (h = 0; h < num; h++)
		expect_used(&f, used + h, num - 1 - h, h);
	ck_assert_int_eq(hvq_notify(f.vq), 0);
	ck_assert_int_eq(hvq_error(f.vq), HVQ_E_NONE);
	host_fx_fini(&f);
}
END_TEST

/*
 * Indices are free-running u32 and only reduced mod num at a slot: starting
 * six short of 2^32 on a 4-entry queue, 36 chains (full-ring rounds among
 * them) go through pop, add_used and notify, and used idx steps across 2^32
 * one chain at a time, with no avail_idx_jump on the way.
 */
START_TEST(test_index_wrap)
{
	const uint32_t num = 4, start = 4294967295u - 5;
	uint32_t used = start, done = 0, round, k, n;
	struct hvq_chain c;
	struct host_fx f;

	host_fx_init(&f, num, start);
	for (round = 0; round < 12; round++) {
		if (round & 1) {
			/* Four one-descriptor chains: the ring is full. */
			for (k = 0; k < 4; k++) {
				one_desc(&f, k, k);
				mock_avail_push(&f.m, 3 - k);
			}
			n = 4;
		} else {
			/* Two 1:1 chains, 0 -> 1 and 2 -> 3. */
			for (k = 0; k < 4; k += 2) {
				mock_desc(&f.m, k, BUF(k), 0, 16,
					  F_HEAD | F_NEXT, k + 1);
				mock_desc(&f.m, k + 1, BUF(k + 1), 0, 16,
					  F_WRITE, 0);
				mock_avail_push(&f.m, k);
			}
			n = 2;
		}
		if (round % 3 == 2) {
			for (k = 0; k < n; k++)
				ck_assert_int_eq(null_dev_process(f.vq), 1);
		} else {
			uint32_t heads[4];

			for (k = 0; k < n; k++) {
				ck_assert_int_eq(hvq_pop(f.vq, &c), 1);
				heads[k] = c.head;
			}
			for (k = n; k--; )
				hvq_add_used(f.vq, heads[k], k);
		}
		ck_assert_int_eq(null_dev_process(f.vq), 0);
		ck_assert_int_eq(hvq_notify(f.vq), 1);
		ck_assert_uint_eq(f.irqs, round + 1);
		used += n;
		done += n;
		ck_assert_uint_eq(vring_used_idx_acquire(&f.m.vr), used);
		ck_assert_uint_eq(vring_used_idx_acquire(&f.m.vr),
				  (uint32_t)(start + done));
	}
	ck_assert_uint_eq(done, 36);
	/* 2^32 - 6 + 36 = 30, past the wrap. */
	ck_assert_uint_eq(used, 30);
	ck_assert_int_eq(hvq_error(f.vq), HVQ_E_NONE);
	host_fx_fini(&f);
}
END_TEST

/* ---- the null device ---- */

static const struct echo_case {
	uint32_t nout, nin;
	uint32_t out[4], in[4];
} echo_cases[] = {
	{ 3, 2, { 5, 7, 11 }, { 10, 20 } },	/* 23 bytes, 7 left over */
	{ 3, 2, { 5, 7, 11 }, { 4, 4 } },	/* 8 bytes, rest not read */
	{ 1, 4, { 30 }, { 1, 2, 3, 4 } },	/* 10 bytes */
	{ 4, 1, { 1, 2, 3, 4 }, { 10 } },	/* exactly 10 */
	{ 2, 2, { 4000, 300 }, { 8, 5000 } },	/* across page boundaries */
};

/* Buffer j of an echo case: four pages each, starting 3 bytes before a
 * page boundary so that most cross one. */
static uint64_t echo_gpa(uint32_t j)
{
	return mock_buf_gpa(4 * j, VRING_PAGE_SIZE - 3);
}

/* Byte q of an echo case's readable stream. */
static uint8_t echo_byte(uint32_t q)
{
	return (uint8_t)(0x41 + q * 7 % 200);
}

/*
 * The null device copies the readable bytes into the writable buffers in
 * order, as far as both go, and reports min(out_len, in_len); every other
 * byte of guest memory, the writable bytes past that length included, stays
 * as it was.  Loop index: the split of the chain into buffers.
 */
START_TEST(test_null_echo)
{
	const struct echo_case *t = &echo_cases[_i];
	uint32_t n = t->nout + t->nin, j, q, len, out_len = 0, in_len = 0;
	uint8_t *img, *mem;
	struct vring ivr;
	struct host_fx f;

	host_fx_init(&f, 8, 12345);
	mem = f.m.mem.base;
	for (j = 0; j < n; j++) {
		uint32_t l = j < t->nout ? t->out[j] : t->in[j - t->nout];

		put_desc(&f, j + 1, echo_gpa(j), l,
			 (j ? 0 : F_HEAD) | (j + 1 < n ? F_NEXT : 0) |
			 (j < t->nout ? 0 : F_WRITE), j + 2);
		for (q = 0; q < l; q++)
			mem[echo_gpa(j) + q] = j < t->nout ?
					       echo_byte(out_len + q) : 0xee;
		if (j < t->nout)
			out_len += l;
		else
			in_len += l;
	}
	mock_avail_push(&f.m, 1);

	/* The image of memory a correct echo leaves behind: readable byte q
	 * of the chain becomes writable byte q, for q < len. */
	img = mock_mem_snapshot(&f.m);
	len = out_len < in_len ? out_len : in_len;
	for (q = 0; q < len; q++) {
		uint32_t off = q;

		for (j = 0; off >= t->in[j]; j++)
			off -= t->in[j];
		img[echo_gpa(t->nout + j) + off] = echo_byte(q);
	}
	img_ring(&f, img, &ivr);
	vring_used_elem_write(&ivr, 12345, 1, len);

	ck_assert_int_eq(null_dev_process(f.vq), 1);
	expect_mem(&f, img);
	ck_assert_uint_eq(hvq_in_flight(f.vq), 0);
	ck_assert_int_eq(hvq_notify(f.vq), 1);
	ck_assert_uint_eq(f.irqs, 1);
	vring_used_idx_release(&ivr, 12346);
	expect_mem(&f, img);
	expect_used(&f, 12345, 1, len);
	ck_assert_int_eq(null_dev_process(f.vq), 0);
	ck_assert_int_eq(hvq_notify(f.vq), 0);
	free(img);
	host_fx_fini(&f);
}
END_TEST

/*
 * With nothing writable the null device must not write guest memory at all
 * (only its own used entry) and reports 0 bytes; with nothing readable it
 * has nothing to copy and leaves the writable buffers alone.
 */
START_TEST(test_null_one_direction)
{
	struct vring ivr;
	uint8_t *img;
	struct host_fx f;

	host_fx_init(&f, 4, 0);
	put_desc(&f, 0, mock_buf_gpa(0, 100), 50, F_HEAD | F_NEXT, 3);
	put_desc(&f, 3, mock_buf_gpa(1, 0), 4096, 0, 0);
	memset(f.m.mem.base + mock_buf_gpa(0, 100), 0x5a, 50);
	memset(f.m.mem.base + mock_buf_gpa(1, 0), 0xa5, 4096);
	mock_avail_push(&f.m, 0);
	put_desc(&f, 1, mock_buf_gpa(2, 0), 64, F_HEAD | F_WRITE | F_NEXT, 2);
	put_desc(&f, 2, mock_buf_gpa(3, 0), 64, F_WRITE, 0);
	memset(f.m.mem.base + mock_buf_gpa(2, 0), 0xee, 64);
	memset(f.m.mem.base + mock_buf_gpa(3, 0), 0xee, 64);
	mock_avail_push(&f.m, 1);

	img = mock_mem_snapshot(&f.m);
	img_ring(&f, img, &ivr);
	ck_assert_int_eq(null_dev_process(f.vq), 1);
	vring_used_elem_write(&ivr, 0, 0, 0);
	expect_mem(&f, img);
	ck_assert_int_eq(null_dev_process(f.vq), 1);
	vring_used_elem_write(&ivr, 1, 1, 0);
	expect_mem(&f, img);
	ck_assert_int_eq(hvq_notify(f.vq), 1);
	vring_used_idx_release(&ivr, 2);
	expect_mem(&f, img);
	expect_used(&f, 0, 0, 0);
	expect_used(&f, 1, 1, 0);
	ck_assert_uint_eq(f.irqs, 1);
	free(img);
	host_fx_fini(&f);
}
END_TEST

/*
 * A hostile driver may point a writable buffer into a readable one of the
 * same chain; the echo must behave as memmove (no crash, no sanitizer
 * report on an overlapping memcpy), and write nothing outside its writable
 * buffers.  Loop index: dst after src, dst before src, dst == src, and a
 * multi-buffer chain whose buffers all overlap.
 */
START_TEST(test_null_overlap)
{
	static const int64_t shift[] = { 10, -10, 0 };
	const uint64_t g = mock_buf_gpa(10, 2000);
	struct vring ivr;
	uint8_t *img, *mem;
	uint32_t b, len;
	struct host_fx f;

	host_fx_init(&f, 8, 0);
	mem = f.m.mem.base;
	for (b = 0; b < 400; b++)
		mem[g - 200 + b] = (uint8_t)(b * 11 + 1);
	if (_i < 3) {
		uint64_t d = (uint64_t)((int64_t)g + shift[_i]);

		put_desc(&f, 0, g, 100, F_HEAD | F_NEXT, 1);
		put_desc(&f, 1, d, 100, F_WRITE, 0);
		mock_avail_push(&f.m, 0);
		img = mock_mem_snapshot(&f.m);
		memmove(img + d, img + g, 100);
		len = 100;
	} else {
		put_desc(&f, 0, g, 30, F_HEAD | F_NEXT, 1);
		put_desc(&f, 1, g + 7, 50, F_NEXT, 2);
		put_desc(&f, 2, g - 13, 25, F_WRITE | F_NEXT, 3);
		put_desc(&f, 3, g + 1, 60, F_WRITE, 0);
		mock_avail_push(&f.m, 0);
		img = mock_mem_snapshot(&f.m);
		len = 80;
	}
	ck_assert_int_eq(null_dev_process(f.vq), 1);
	if (_i == 3) {
		/* Which bytes land where is the copy order's business; only
		 * the writable ranges may differ. */
		memcpy(img + g - 13, mem + g - 13, 25);
		memcpy(img + g + 1, mem + g + 1, 60);
	}
	img_ring(&f, img, &ivr);
	vring_used_elem_write(&ivr, 0, 0, len);
	expect_mem(&f, img);
	expect_used(&f, 0, 0, len);
	free(img);
	host_fx_fini(&f);
}
END_TEST

/* ---- ownership ---- */

/*
 * A chain's descriptors belong to it only until add_used: afterwards the
 * driver may reuse any of them, as head or member, without desc_shared.
 * The host releases them by the links it read at gather time, not by the
 * shared next fields, which the driver may have rewritten meanwhile.
 */
START_TEST(test_used_releases_ownership)
{
	uint32_t a[] = { 0, 1, 2 }, b[] = { 3, 1, 2, 0 }, d[] = { 0, 5 };
	struct hvq_chain c;
	struct host_fx f;

	host_fx_init(&f, 8, 0);
	make_chain(&f, a, 2, 1, 0);
	ck_assert_int_eq(hvq_pop(f.vq, &c), 1);
	check_chain(&f, &c, a, 2, 1, 0);
	/* The driver scribbles on next of a chain in flight. */
	mock_desc(&f.m, 1, sw_pfn(1), sw_off(1), sw_len(1), F_NEXT, 5);
	hvq_add_used(f.vq, 0, 0);
	ck_assert_uint_eq(hvq_in_flight(f.vq), 0);

	make_chain(&f, b, 1, 3, 40);
	ck_assert_int_eq(hvq_pop(f.vq, &c), 1);
	check_chain(&f, &c, b, 1, 3, 40);
	hvq_add_used(f.vq, 3, 0);

	make_chain(&f, d, 1, 1, 80);
	ck_assert_int_eq(hvq_pop(f.vq, &c), 1);
	check_chain(&f, &c, d, 1, 1, 80);
	ck_assert_int_eq(hvq_error(f.vq), HVQ_E_NONE);
	hvq_add_used(f.vq, 0, 0);
	ck_assert_int_eq(hvq_notify(f.vq), 1);
	ck_assert_uint_eq(vring_used_idx_acquire(&f.m.vr), 3);
	expect_used(&f, 0, 0, 0);
	expect_used(&f, 1, 3, 0);
	expect_used(&f, 2, 0, 0);
	host_fx_fini(&f);
}
END_TEST

Suite *hostdev_suite(void)
{
	Suite *s = suite_create("hostdev");
	TCase *tc = tcase_create("checks");

	tcase_add_test(tc, test_avail_idx_jump);
	tcase_add_test(tc, test_avail_idx_back_in_flight);
	tcase_add_test(tc, test_avail_head_range);
	tcase_add_test(tc, test_avail_not_head);
	tcase_add_test(tc, test_avail_head_busy);
	tcase_add_test(tc, test_desc_next_range);
	tcase_add_test(tc, test_desc_loop);
	tcase_add_test(tc, test_desc_middle_head);
	tcase_add_test(tc, test_desc_shared);
	tcase_add_test(tc, test_desc_out_after_in);
	tcase_add_test(tc, test_desc_unknown_flags);
	tcase_add_loop_test(tc, test_desc_bad_addr, 0,
			    sizeof(addr_cases) / sizeof(addr_cases[0]));
	tcase_add_test(tc, test_desc_zero_len);
	tcase_add_test(tc, test_latch_ignores_repair);
	suite_add_tcase(s, tc);

	tc = tcase_create("chains");
	tcase_add_loop_test(tc, test_valid_chains_sweep, 0, 8);
	tcase_add_test(tc, test_index_wrap);
	tcase_add_test(tc, test_used_releases_ownership);
	suite_add_tcase(s, tc);

	tc = tcase_create("null");
	tcase_add_loop_test(tc, test_null_echo, 0,
			    sizeof(echo_cases) / sizeof(echo_cases[0]));
	tcase_add_test(tc, test_null_one_direction);
	tcase_add_loop_test(tc, test_null_overlap, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}
