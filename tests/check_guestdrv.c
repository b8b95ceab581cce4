// SPDX-License-Identifier: MIT
/*
 * guestdrv/: the driver posts exactly the chains it is given, publishes them
 * only on kick, survives the 2^32 wrap, and rejects every forged completion
 * with the check DESIGN.md section 4 names, touching no guest memory.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guestdrv.h"
#include "harness.h"
#include "tests.h"

/* Chain records per fixture, and a start index for checks across the wrap. */
#define NTOK		(2 * VRING_MAX_SIZE)
#define WRAP_START	(4294967295u - 1)

enum chain_state { CHAIN_FREE, CHAIN_POSTED, CHAIN_USED };

/* The test's own record of one posted chain; its address is the token. */
struct chain {
	enum chain_state state;
	uint32_t head;			/* from the available ring */
	unsigned int ndesc;
	uint32_t writable;		/* sum of the writable lengths */
	uint32_t used_at;		/* used idx the device put it in */
	uint32_t used_len;		/* len the device reported */
	uint16_t desc[VRING_MAX_SIZE];	/* descriptors, head first */
};

/* One queue in guest memory, its driver, and the test's shadows. */
struct fix {
	struct mock_ring m;
	struct gvq *vq;
	unsigned int kicks;	/* calls of the kick callback */
	uint32_t added;		/* avail idx of the next add_buf */
	uint32_t reaped;	/* used idx the driver reaps next */
	uint32_t bufseq;	/* buffers handed out so far */
	uint8_t busy[VRING_MAX_SIZE];		/* in a posted chain */
	uint8_t was_head[VRING_MAX_SIZE];	/* has headed a chain */
	struct chain chains[NTOK];
};

static void count_kick(void *ctx)
{
	struct fix *f = ctx;

	f->kicks++;
}

static const struct gvq_ops kick_ops = { .kick = count_kick };

static uint32_t lcg(uint32_t *seed)
{
	*seed = *seed * 1664525u + 1013904223u;
	return *seed >> 8;
}

static struct fix *fix_new(uint32_t num, uint32_t start)
{
	struct fix *f = calloc(1, sizeof(*f));

	ck_assert_ptr_nonnull(f);
	mock_ring_init(&f->m, num, start);
	f->vq = gvq_create(f->m.pages, num, start, &kick_ops, f);
	ck_assert_ptr_nonnull(f->vq);
	f->added = f->reaped = start;
	ck_assert_ptr_null(gvq_detection(f->vq));
	ck_assert_int_eq(gvq_error(f->vq), GVQ_E_NONE);
	ck_assert_uint_eq(gvq_num_free(f->vq), num);
	return f;
}

static void fix_free(struct fix *f)
{
	gvq_destroy(f->vq);
	mock_ring_fini(&f->m);
	free(f);
}

/* A fresh small buffer inside guest memory, distinct from the last ones,
 * so that a descriptor read back can only match the buffer it came from. */
static struct gvq_sg next_buf(struct fix *f)
{
	uint32_t s = f->bufseq++;
	struct gvq_sg sg = {
		.addr = mock_buf_gpa(s % 240, (s * 52) % 3968),
		.len = 1 + s % 64,
	};

	return sg;
}

/* num_free is conserved: it counts exactly the descriptors in no chain. */
static void check_free(const struct fix *f)
{
	unsigned int i, n = 0;

	for (i = 0; i < f->m.num; i++)
		n += !f->busy[i];
	ck_assert_uint_eq(gvq_num_free(f->vq), n);
}

/* Walk the chain the driver wrote from its head and compare every field
 * with what was posted; no descriptor may be in two live chains. */
static void check_chain(struct fix *f, struct chain *c,
			const struct gvq_sg *sg, unsigned int out_n)
{
	uint32_t i = c->head;
	unsigned int k;

	for (k = 0; k < c->ndesc; k++) {
		uint16_t flags = (uint16_t)((k == 0 ? VRING_DESC_F_HEAD : 0) |
			(k + 1 < c->ndesc ? VRING_DESC_F_NEXT : 0) |
			(k >= out_n ? VRING_DESC_F_WRITE : 0));
		struct vring_desc d;

		ck_assert_uint_lt(i, f->m.num);
		ck_assert_msg(!f->busy[i], "descriptor %u in two chains", i);
		f->busy[i] = 1;
		c->desc[k] = (uint16_t)i;
		vring_desc_read(&f->m.vr, i, &d);
		ck_assert_uint_eq(d.pfn, sg[k].addr >> VRING_PAGE_SHIFT);
		ck_assert_uint_eq(d.offset, sg[k].addr & (VRING_PAGE_SIZE - 1));
		ck_assert_uint_eq(d.len, sg[k].len);
		ck_assert_uint_eq(d.flags, flags);
		i = d.next;
	}
}

static struct chain *chain_alloc(struct fix *f)
{
	unsigned int t;

	for (t = 0; t < NTOK; t++)
		if (f->chains[t].state == CHAIN_FREE)
			return &f->chains[t];
	ck_abort_msg("out of chain records");
	return NULL;
}

/* Post sg (out_n readable then in_n writable) and check what was written:
 * the chain itself, its head in the next available slot, and no sign of
 * it in avail idx or the kick callback before gvq_kick. */
static struct chain *post_sg(struct fix *f, const struct gvq_sg *sg,
			     unsigned int out_n, unsigned int in_n)
{
	struct chain *c = chain_alloc(f);
	uint32_t avail = mock_avail_idx(&f->m);
	unsigned int k, kicks = f->kicks;

	memset(c, 0, sizeof(*c));
	for (k = out_n; k < out_n + in_n; k++)
		c->writable += sg[k].len;
	ck_assert_int_eq(gvq_add_buf(f->vq, sg, out_n, sg + out_n, in_n, c),
			 0);
	ck_assert_uint_eq(mock_avail_idx(&f->m), avail);
	ck_assert_uint_eq(f->kicks, kicks);
	c->head = mock_avail_head(&f->m, f->added++);
	c->ndesc = out_n + in_n;
	check_chain(f, c, sg, out_n);
	f->was_head[c->head] = 1;
	c->state = CHAIN_POSTED;
	check_free(f);
	return c;
}

static struct chain *post(struct fix *f, unsigned int out_n,
			  unsigned int in_n)
{
	struct gvq_sg sg[VRING_MAX_SIZE];
	unsigned int k;

	ck_assert_uint_le(out_n + in_n, VRING_MAX_SIZE);
	for (k = 0; k < out_n + in_n; k++)
		sg[k] = next_buf(f);
	return post_sg(f, sg, out_n, in_n);
}

/* Kick with something added: one publication, one callback. */
static void kick(struct fix *f)
{
	unsigned int kicks = f->kicks;

	ck_assert_int_eq(gvq_kick(f->vq), 1);
	ck_assert_uint_eq(f->kicks, kicks + 1);
	ck_assert_uint_eq(mock_avail_idx(&f->m), f->added);
}

/* The mock device completes c, honestly, with len bytes written. */
static void use(struct fix *f, struct chain *c, uint32_t len)
{
	ck_assert_int_eq(c->state, CHAIN_POSTED);
	ck_assert_uint_le(len, c->writable);
	c->state = CHAIN_USED;
	c->used_at = f->m.used_idx;
	c->used_len = len;
	mock_used_push(&f->m, c->head, len);
}

/* The next completion must be the token the device used at this used idx,
 * exactly once, with its len, and its descriptors are free again. */
static struct chain *reap(struct fix *f)
{
	uint32_t len = 0xdeadbeef;
	struct chain *c = gvq_get_buf(f->vq, &len);
	uintptr_t p = (uintptr_t)c, lo = (uintptr_t)f->chains;
	struct vring_desc d;
	unsigned int k;

	ck_assert_ptr_nonnull(c);
	ck_assert(p >= lo && p < lo + sizeof(f->chains) &&
		  (p - lo) % sizeof(*c) == 0);
	ck_assert_int_eq(c->state, CHAIN_USED);
	ck_assert_uint_eq(c->used_at, f->reaped);
	ck_assert_uint_eq(len, c->used_len);
	/* HEAD marks a live chain: a dump must not show a reaped one. */
	vring_desc_read(&f->m.vr, c->head, &d);
	ck_assert_uint_eq(d.flags & VRING_DESC_F_HEAD, 0);
	for (k = 0; k < c->ndesc; k++)
		f->busy[c->desc[k]] = 0;
	c->state = CHAIN_FREE;
	f->reaped++;
	ck_assert_int_eq(gvq_error(f->vq), GVQ_E_NONE);
	check_free(f);
	return c;
}

static void reap_all(struct fix *f)
{
	uint32_t len;

	while (f->reaped != f->m.used_idx)
		reap(f);
	ck_assert_ptr_null(gvq_get_buf(f->vq, &len));
	ck_assert_int_eq(gvq_error(f->vq), GVQ_E_NONE);
}

/* Complete c[0..n) in a shuffled order with assorted lens, reaping some
 * between completions, and check every token comes back once. */
static void complete_shuffled(struct fix *f, struct chain **c, unsigned int n,
			      uint32_t seed)
{
	unsigned int k, j;

	for (k = n; k > 1; k--) {
		struct chain *t;

		j = lcg(&seed) % k;
		t = c[k - 1];
		c[k - 1] = c[j];
		c[j] = t;
	}
	for (k = 0; k < n; k++) {
		uint32_t w = c[k]->writable;

		use(f, c[k], k % 2 ? w : (w ? lcg(&seed) % (w + 1) : 0));
		if (k % 3 == 2)
			reap(f);
	}
	reap_all(f);
	for (k = 0; k < n; k++)
		ck_assert_int_eq(c[k]->state, CHAIN_FREE);
	ck_assert_uint_eq(gvq_num_free(f->vq), f->m.num);
}

/* The device's next word is bad: get_buf refuses it under check id and
 * writes no byte of guest memory on the way (a stray access would hit a
 * PROT_NONE guard page and fail the test by signal). */
static const struct vring_detection *expect_reject(struct fix *f,
						   enum gvq_err err,
						   const char *id)
{
	const struct vring_detection *d;
	uint32_t len;
	void *snap;

	ck_assert_ptr_null(gvq_detection(f->vq));
	snap = mock_mem_snapshot(&f->m);
	ck_assert_ptr_null(gvq_get_buf(f->vq, &len));
	ck_assert_msg(mock_mem_unchanged(&f->m, snap),
		      "rejected get_buf wrote guest memory");
	free(snap);
	ck_assert_int_eq(gvq_error(f->vq), err);
	d = gvq_detection(f->vq);
	ck_assert_ptr_nonnull(d);
	ck_assert_ptr_nonnull(d->check);
	ck_assert_msg(strcmp(d->check, id) == 0, "check \"%s\", want \"%s\"",
		      d->check, id);
	return d;
}

/*
 * The latch (DESIGN.md section 4): a broken queue takes no new work,
 * publishes nothing, and never parses the used ring again, even once the
 * device writes a valid entry (valid, len) where the bad one was.  Nothing
 * of this may touch guest memory either.
 */
static void expect_latched(struct fix *f, const struct chain *valid,
			   uint32_t len)
{
	const struct vring_detection *d = gvq_detection(f->vq);
	struct vring_detection saved = *d;
	enum gvq_err err = gvq_error(f->vq);
	unsigned int i, kicks = f->kicks, num_free = gvq_num_free(f->vq);
	struct gvq_sg sg = next_buf(f);
	uint32_t l;
	void *snap;

	snap = mock_mem_snapshot(&f->m);
	ck_assert_int_eq(gvq_add_buf(f->vq, &sg, 1, NULL, 0, f), -EIO);
	ck_assert_int_eq(gvq_add_buf(f->vq, NULL, 0, &sg, 1, f), -EIO);
	ck_assert_int_eq(gvq_kick(f->vq), -EIO);
	ck_assert_uint_eq(f->kicks, kicks);
	ck_assert(mock_mem_unchanged(&f->m, snap));
	free(snap);

	f->m.used_idx = f->reaped;
	mock_used_push(&f->m, valid->head, len);
	snap = mock_mem_snapshot(&f->m);
	ck_assert_ptr_null(gvq_get_buf(f->vq, &l));
	ck_assert_ptr_null(gvq_get_buf(f->vq, &l));
	ck_assert_int_eq(gvq_restart(f->vq), 1);
	ck_assert(mock_mem_unchanged(&f->m, snap));
	free(snap);
	/* Even with nothing new in the used ring a waiter must not sleep. */
	mock_used_publish(&f->m, f->reaped);
	ck_assert_int_eq(gvq_restart(f->vq), 1);
	ck_assert_ptr_null(gvq_get_buf(f->vq, &l));

	ck_assert_int_eq(gvq_error(f->vq), err);
	d = gvq_detection(f->vq);
	ck_assert_ptr_nonnull(d);
	ck_assert_str_eq(d->check, saved.check);
	ck_assert_uint_eq(d->nvalues, saved.nvalues);
	for (i = 0; i < d->nvalues; i++) {
		ck_assert_str_eq(d->values[i].name, saved.values[i].name);
		ck_assert_uint_eq(d->values[i].value, saved.values[i].value);
	}
	ck_assert_uint_eq(gvq_num_free(f->vq), num_free);
}

/* Loop index of the check tests: the case, and a start index of 0 or just
 * below the wrap (the seed's used-idx check is not wrap-safe). */
static uint32_t case_start(int i, int ncases)
{
	return i / ncases ? WRAP_START : 0;
}

/*
 * used_idx_jump (DESIGN.md section 4, guest table; section 7: compare the
 * difference, not the indices): used idx may move at most as far as what
 * is published and not yet reaped.  Chains added but not kicked are not in
 * flight.  Cases: far ahead, exactly in flight + 1, and backwards, each
 * after the neighbouring valid move (exactly in flight, or no move) was
 * accepted.
 */
START_TEST(test_used_idx_jump)
{
	uint32_t start = case_start(_i, 3), forged, len;
	struct fix *f = fix_new(8, start);
	const struct vring_detection *d;
	struct chain *a, *b, *c, *e;
	uint32_t in_flight;

	switch (_i % 3) {
	case 0:
		/* Valid: used idx moves by exactly what is in flight. */
		a = post(f, 1, 1);
		b = post(f, 1, 1);
		kick(f);
		use(f, a, a->writable);
		use(f, b, 0);
		reap_all(f);
		/* Then far more than in flight. */
		a = post(f, 1, 1);
		b = post(f, 0, 1);
		c = post(f, 1, 0);
		kick(f);
		use(f, a, 1);
		in_flight = 3;
		forged = f->reaped + in_flight + 5;
		mock_used_publish(&f->m, forged);
		break;
	case 1:
		a = post(f, 1, 1);
		b = post(f, 1, 2);
		e = post(f, 0, 1);
		kick(f);
		c = post(f, 1, 1);	/* added, not kicked */
		use(f, a, 0);
		use(f, b, b->writable);
		/* Valid: as far as the published, not the added. */
		reap(f);
		reap(f);
		/* in flight + 1: e, then c, which was never published. */
		in_flight = 1;
		forged = f->reaped + in_flight + 1;
		vring_used_elem_write(&f->m.vr, f->reaped, e->head, 0);
		vring_used_elem_write(&f->m.vr, f->reaped + 1, c->head, 0);
		mock_used_publish(&f->m, forged);
		a = e;
		break;
	default:
		a = post(f, 1, 1);
		b = post(f, 1, 1);
		c = post(f, 1, 1);
		kick(f);
		use(f, a, 0);
		use(f, b, 0);
		reap_all(f);
		/* Valid: used idx where it was means nothing new. */
		ck_assert_ptr_null(gvq_get_buf(f->vq, &len));
		ck_assert_int_eq(gvq_restart(f->vq), 0);
		/* Backwards by one; with a wrap start this crosses 0. */
		in_flight = 1;
		forged = f->reaped - 1;
		mock_used_publish(&f->m, forged);
		break;
	}
	d = expect_reject(f, GVQ_E_USED_IDX_JUMP, "used_idx_jump");
	ck_assert_uint_eq(det_value(d, "used_idx"), forged);
	ck_assert_uint_eq(det_value(d, "last_used_idx"), f->reaped);
	ck_assert_uint_eq(det_value(d, "in_flight"), in_flight);
	expect_latched(f, _i % 3 == 2 ? c : a, 0);
	fix_free(f);
}
END_TEST

/*
 * used_id_range (DESIGN.md section 4; the seed's "id %u out of range"):
 * an id must name a descriptor.  With every descriptor a head in flight,
 * id num - 1 is accepted and id num (or ~0) is rejected before it is used
 * as an index into anything.
 */
START_TEST(test_used_id_range)
{
	uint32_t start = case_start(_i, 2), num = 8, forged;
	struct fix *f = fix_new(num, start);
	const struct vring_detection *d;
	struct chain *c[8], *last = NULL;
	unsigned int k;

	for (k = 0; k < num; k++) {
		c[k] = post(f, 0, 1);
		if (c[k]->head == num - 1)
			last = c[k];
	}
	ck_assert_ptr_nonnull(last);
	kick(f);
	use(f, last, last->writable);
	reap(f);
	forged = _i % 2 ? 0xffffffffu : num;
	mock_used_push(&f->m, forged, 0);
	d = expect_reject(f, GVQ_E_USED_ID_RANGE, "used_id_range");
	ck_assert_uint_eq(det_value(d, "id"), forged);
	ck_assert_uint_eq(det_value(d, "queue_size"), num);
	ck_assert_uint_eq(det_value(d, "used_slot"),
			  vring_slot(f->reaped, num));
	expect_latched(f, c[0] == last ? c[1] : c[0], 0);
	fix_free(f);
}
END_TEST

/*
 * used_id_not_head (DESIGN.md section 4; section 7: the seed's test reads
 * the forgeable shared HEAD flag and never clears its token): the driver
 * accepts only an id its private record says heads a published chain.
 * Each case first has a valid completion accepted, then forges:
 *   0 an id never posted; 1 a non-head of a posted chain with HEAD forged
 *   on it; 2 a head already reaped; 3 the same head twice in one batch;
 *   4 a head added but not kicked (its shared HEAD is set); 5 a descriptor
 *   that headed a reaped chain and is now in the middle of another.
 */
START_TEST(test_used_id_not_head)
{
	uint32_t start = case_start(_i, 6), num = 8, forged = 0;
	struct fix *f = fix_new(num, start);
	const struct vring_detection *d;
	struct chain *a, *b, *c = NULL, *valid = NULL;
	struct vring_desc desc;
	unsigned int k;

	switch (_i % 6) {
	case 0:
		a = post(f, 1, 1);
		b = post(f, 1, 1);
		kick(f);
		use(f, a, a->writable);
		reap(f);
		for (forged = num - 1; f->was_head[forged] ||
				       f->busy[forged]; forged--)
			;
		mock_used_push(&f->m, forged, 0);
		valid = b;
		break;
	case 1:
		a = post(f, 1, 2);
		b = post(f, 1, 2);
		kick(f);
		use(f, a, a->writable);
		reap(f);
		forged = b->desc[1];
		vring_desc_read(&f->m.vr, forged, &desc);
		vring_desc_set_flags(&f->m.vr, forged,
				     desc.flags | VRING_DESC_F_HEAD);
		mock_used_push(&f->m, forged, 0);
		valid = b;
		break;
	case 2:
		a = post(f, 1, 1);
		b = post(f, 1, 1);
		kick(f);
		use(f, a, 1);
		reap(f);
		forged = a->head;
		mock_used_push(&f->m, forged, 1);
		valid = b;
		break;
	case 3:
		a = post(f, 1, 1);
		b = post(f, 1, 1);
		kick(f);
		use(f, a, 1);
		forged = a->head;
		mock_used_push(&f->m, forged, 1);
		reap(f);
		valid = b;
		break;
	case 4:
		a = post(f, 1, 1);
		b = post(f, 1, 1);
		kick(f);
		c = post(f, 1, 1);
		vring_desc_read(&f->m.vr, c->head, &desc);
		ck_assert(desc.flags & VRING_DESC_F_HEAD);
		use(f, a, 0);
		reap(f);
		forged = c->head;
		mock_used_push(&f->m, forged, 0);
		valid = b;
		break;
	default:
		{
			struct chain *s[6];

			for (k = 0; k < 6; k++)
				s[k] = post(f, 0, 1);
			b = post(f, 0, 1);
			kick(f);
			for (k = 0; k < 6; k++)
				use(f, s[k], 0);
			reap_all(f);
			c = post(f, 3, 3);
			kick(f);
			use(f, b, 0);
			reap(f);
			for (k = 1; k < c->ndesc; k++)
				if (f->was_head[c->desc[k]])
					break;
			ck_assert_uint_lt(k, c->ndesc);
			forged = c->desc[k];
			mock_used_push(&f->m, forged, 0);
			valid = c;
		}
		break;
	}
	d = expect_reject(f, GVQ_E_USED_ID_NOT_HEAD, "used_id_not_head");
	ck_assert_uint_eq(det_value(d, "id"), forged);
	ck_assert_uint_eq(det_value(d, "used_idx"), f->reaped);
	expect_latched(f, valid, 0);
	fix_free(f);
}
END_TEST

/*
 * used_len_range (DESIGN.md section 4): the device may report at most the
 * chain's writable total, which the driver computed at add_buf and keeps
 * privately.  Cases: writable + 1 after writable was accepted; 1 byte into
 * an out-only chain after 0 was accepted; ~0 (no sum may overflow).
 */
START_TEST(test_used_len_range)
{
	uint32_t start = case_start(_i, 3), forged;
	struct fix *f = fix_new(8, start);
	const struct vring_detection *d;
	struct chain *a, *b;

	if (_i % 3 == 1) {
		a = post(f, 1, 0);
		b = post(f, 2, 0);
		ck_assert_uint_eq(b->writable, 0);
	} else {
		a = post(f, 1, 2);
		b = post(f, 1, 2);
	}
	kick(f);
	use(f, a, a->writable);
	reap(f);
	forged = _i % 3 == 2 ? 0xffffffffu : b->writable + 1;
	mock_used_push(&f->m, b->head, forged);
	d = expect_reject(f, GVQ_E_USED_LEN_RANGE, "used_len_range");
	ck_assert_uint_eq(det_value(d, "id"), b->head);
	ck_assert_uint_eq(det_value(d, "len"), forged);
	ck_assert_uint_eq(det_value(d, "writable"), b->writable);
	expect_latched(f, b, b->writable);
	fix_free(f);
}
END_TEST

/* The table names the checks with DESIGN.md's ids, and a fresh queue has
 * detected nothing. */
START_TEST(test_check_names)
{
	ck_assert_str_eq(gvq_check_name(GVQ_E_USED_IDX_JUMP), "used_idx_jump");
	ck_assert_str_eq(gvq_check_name(GVQ_E_USED_ID_RANGE), "used_id_range");
	ck_assert_str_eq(gvq_check_name(GVQ_E_USED_ID_NOT_HEAD),
			 "used_id_not_head");
	ck_assert_str_eq(gvq_check_name(GVQ_E_USED_LEN_RANGE),
			 "used_len_range");
	ck_assert_str_eq(gvq_check_name(GVQ_E_COUNT), "unknown");
}
END_TEST

static const unsigned int shapes[][2] = {
	{ 1, 1 }, { 2, 1 }, { 1, 0 }, { 0, 2 }, { 3, 2 }, { 1, 3 }, { 0, 1 },
	{ 2, 0 },
};

/*
 * add_buf and kick, for every queue size (DESIGN.md sections 1 and 3):
 * each chain is written exactly (readable then writable, HEAD on the head
 * only, NEXT links), its head goes in the next available slot, and avail
 * idx moves only at kick, once per batch, with one callback; a kick with
 * nothing added publishes nothing.  A chain that can never fit, or whose
 * pfn is not 32-bit, is -EINVAL; one that does not fit now is -ENOSPC;
 * neither writes guest memory.  A full ring completed out of order gives
 * back every token once with its len, and num_free back to num.
 */
START_TEST(test_add_kick_sizes)
{
	uint32_t num = 2u << _i;
	struct fix *f = fix_new(num, 0);
	struct gvq_sg sg[VRING_MAX_SIZE + 1];
	struct chain *batch[VRING_MAX_SIZE], *c;
	unsigned int k, n, s, free_now;
	void *snap;

	ck_assert_int_eq(gvq_kick(f->vq), 0);
	ck_assert_uint_eq(f->kicks, 0);
	ck_assert_uint_eq(mock_avail_idx(&f->m), 0);

	for (k = 0; k <= num; k++)
		sg[k] = next_buf(f);
	snap = mock_mem_snapshot(&f->m);
	ck_assert_int_eq(gvq_add_buf(f->vq, sg, num, sg + num, 1, f), -EINVAL);
	ck_assert_int_eq(gvq_add_buf(f->vq, NULL, 0, sg, num + 1, f), -EINVAL);
	sg[0].addr = (uint64_t)1 << (32 + VRING_PAGE_SHIFT);
	ck_assert_int_eq(gvq_add_buf(f->vq, sg, 1, NULL, 0, f), -EINVAL);
	ck_assert_int_eq(gvq_add_buf(f->vq, sg + 1, 1, sg, 1, f), -EINVAL);
	ck_assert(mock_mem_unchanged(&f->m, snap));
	free(snap);
	ck_assert_uint_eq(gvq_num_free(f->vq), num);
	ck_assert_int_eq(gvq_kick(f->vq), 0);
	ck_assert_uint_eq(f->kicks, 0);

	/* The neighbours: exactly num descriptors, the highest pfn. */
	sg[0].addr = ((uint64_t)UINT32_MAX << VRING_PAGE_SHIFT) + 0xff0;
	c = post_sg(f, sg, num / 2, num - num / 2);
	ck_assert_uint_eq(gvq_num_free(f->vq), 0);
	snap = mock_mem_snapshot(&f->m);
	ck_assert_int_eq(gvq_add_buf(f->vq, sg + 1, 1, NULL, 0, f), -ENOSPC);
	ck_assert_int_eq(gvq_add_buf(f->vq, sg, num, sg + num, 1, f), -EINVAL);
	ck_assert(mock_mem_unchanged(&f->m, snap));
	free(snap);
	ck_assert_uint_eq(gvq_num_free(f->vq), 0);
	kick(f);
	ck_assert_uint_eq(f->kicks, 1);
	use(f, c, c->writable);
	reap_all(f);
	ck_assert_uint_eq(gvq_num_free(f->vq), num);

	/* A batch of assorted shapes, then one that does not fit now. */
	n = 0;
	for (s = 0;; s++) {
		const unsigned int *sh = shapes[s % 8];

		if (sh[0] + sh[1] > gvq_num_free(f->vq))
			break;
		batch[n++] = post(f, sh[0], sh[1]);
		ck_assert_uint_eq(mock_avail_idx(&f->m), 1);
	}
	free_now = gvq_num_free(f->vq);
	ck_assert_uint_lt(free_now, num);
	for (k = 0; k <= free_now; k++)
		sg[k] = next_buf(f);
	snap = mock_mem_snapshot(&f->m);
	ck_assert_int_eq(gvq_add_buf(f->vq, sg, 1, sg + 1, free_now, f),
			 -ENOSPC);
	ck_assert(mock_mem_unchanged(&f->m, snap));
	free(snap);
	ck_assert_uint_eq(gvq_num_free(f->vq), free_now);
	while (gvq_num_free(f->vq))
		batch[n++] = post(f, 0, 1);
	ck_assert_uint_eq(mock_avail_idx(&f->m), 1);
	kick(f);
	ck_assert_uint_eq(f->kicks, 2);
	ck_assert_uint_eq(mock_avail_idx(&f->m), 1 + n);
	ck_assert_int_eq(gvq_kick(f->vq), 0);
	ck_assert_uint_eq(f->kicks, 2);
	complete_shuffled(f, batch, n, num);

	/* The whole ring as num one-descriptor chains. */
	for (k = 0; k < num; k++)
		batch[k] = post(f, k & 1, !(k & 1));
	ck_assert_uint_eq(gvq_num_free(f->vq), 0);
	sg[0] = next_buf(f);
	ck_assert_int_eq(gvq_add_buf(f->vq, sg, 1, NULL, 0, f), -ENOSPC);
	kick(f);
	ck_assert_uint_eq(f->kicks, 3);
	ck_assert_uint_eq(mock_avail_idx(&f->m), 1 + n + num);
	complete_shuffled(f, batch, num, num * 7 + 1);
	ck_assert_int_eq(gvq_restart(f->vq), 0);
	ck_assert_int_eq(gvq_error(f->vq), GVQ_E_NONE);
	fix_free(f);
}
END_TEST

/*
 * The driver does not trust shared next fields or flags (DESIGN.md
 * section 4, "never the shared HEAD flag or next field"; STYLE.md 9): the
 * device scribbles over every descriptor, in flight or free, and still
 * each token comes back, num_free returns to num, and later chains, up to
 * one of the whole ring, are written correctly and disjoint from each
 * other, which needs a free list rebuilt from private state only.
 */
START_TEST(test_shared_next_untrusted)
{
	static const uint32_t bad_next[] = {
		0xffffffffu, 0, 1, VRING_MAX_SIZE, 0x8000, 0x10000,
	};
	static const uint16_t bad_flags[] = {
		0xffff, VRING_DESC_F_HEAD | VRING_DESC_F_NEXT,
		VRING_DESC_F_NEXT, 0, VRING_DESC_F_HEAD, VRING_DESC_F_KNOWN,
	};
	uint32_t num = 4u << _i, i;
	struct fix *f = fix_new(num, 0);
	struct chain *c[VRING_MAX_SIZE];
	unsigned int r, n, k;

	for (r = 0; r < 4; r++) {
		n = 0;
		while (gvq_num_free(f->vq) >= 3)
			c[n++] = post(f, 1, 2);
		kick(f);
		/* Garbage in every free descriptor: the free list must not
		 * come from there.  (In-flight ones are desc_tampered's.) */
		for (i = 0; i < num; i++) {
			struct vring_desc d = {
				.pfn = 0xdead0000u + i, .len = 0xffffffffu,
				.offset = 0xffff,
				.next = (r + i) % 3 ? bad_next[(r + i) % 6] :
						      i,
			};

			if (f->busy[i])
				continue;
			vring_desc_write_fields(&f->m.vr, i, &d);
			vring_desc_set_flags(&f->m.vr, i,
					     bad_flags[(r * 5 + i) % 6]);
		}
		for (k = n; k-- > 0;)
			use(f, c[k], c[k]->writable);
		reap_all(f);
		ck_assert_uint_eq(gvq_num_free(f->vq), num);

		/* One chain of every descriptor: the free list is whole. */
		c[0] = post(f, num / 2, num / 2);
		kick(f);
		use(f, c[0], c[0]->writable);
		reap_all(f);
		ck_assert_uint_eq(gvq_num_free(f->vq), num);
	}
	ck_assert_int_eq(gvq_error(f->vq), GVQ_E_NONE);
	fix_free(f);
}
END_TEST

/*
 * desc_tampered: the device only reads descriptors, so any field of an
 * in-flight chain's descriptor that differs at completion from what the
 * driver wrote is the device writing where it must not (or acting on
 * something the driver never posted).  Each field, each position in the
 * chain; an untouched chain beside it completes.
 */
START_TEST(test_desc_tampered)
{
	static const char *const field[] = { "pfn", "len", "offset", "flags",
					      "next" };
	const unsigned int f_i = _i % 5, pos = (_i / 5) % 3;
	struct fix *f = fix_new(8, _i >= 15 ? 4294967294u : 0);
	struct chain *good, *bad;
	const struct vring_detection *det;
	struct vring_desc d;
	uint32_t target, len;
	void *snap;

	good = post(f, 1, 2);
	bad = post(f, 1, 2);
	kick(f);
	use(f, good, good->writable);
	ck_assert_ptr_eq(reap(f), good);

	target = bad->desc[pos];
	vring_desc_read(&f->m.vr, target, &d);
	switch (f_i) {
	case 0: d.pfn ^= 1; break;
	case 1: d.len ^= 1; break;
	case 2: d.offset ^= 1; break;
	case 3: d.flags ^= VRING_DESC_F_WRITE; break;
	default: d.next ^= 1; break;
	}
	vring_desc_write_fields(&f->m.vr, target, &d);
	vring_desc_set_flags(&f->m.vr, target, d.flags);
	use(f, bad, 1);
	snap = mock_mem_snapshot(&f->m);
	ck_assert_ptr_null(gvq_get_buf(f->vq, &len));
	ck_assert_msg(gvq_error(f->vq) == GVQ_E_DESC_TAMPERED,
		      "%s of chain position %u", field[f_i], pos);
	det = gvq_detection(f->vq);
	ck_assert_str_eq(det->check, "desc_tampered");
	ck_assert_uint_eq(det->values[0].value, bad->head);
	ck_assert_uint_eq(det->values[1].value, target);
	ck_assert_uint_eq(det->values[2].value, pos);
	ck_assert(mock_mem_unchanged(&f->m, snap));
	free(snap);
	ck_assert_ptr_null(gvq_get_buf(f->vq, &len));
	ck_assert_int_eq(gvq_kick(f->vq), -EIO);
	fix_free(f);
}
END_TEST

/*
 * Indices are free-running u32 (DESIGN.md section 1, STYLE.md 3): from
 * 2^32 - 4 with a queue of 4, forty rounds of add/kick/complete cross the
 * wrap with full rings, whole-ring chains and completions in reverse, and
 * no check fires falsely.
 */
START_TEST(test_index_wrap)
{
	static const unsigned int kind[] = { 2, 0, 1, 3 };
	const uint32_t start = 4294967295u - 3;
	struct fix *f = fix_new(4, start);
	struct chain *c[4];
	unsigned int r, n, k;

	for (r = 0; r < 40; r++) {
		n = 0;
		switch (kind[r % 4]) {
		case 0:
			for (k = 0; k < 4; k++)
				c[n++] = post(f, k & 1, !(k & 1));
			break;
		case 1:
			c[n++] = post(f, 1, 1);
			break;
		case 2:
			c[n++] = post(f, 1, 2);
			c[n++] = post(f, 0, 1);
			break;
		default:
			c[n++] = post(f, 2, 2);
			break;
		}
		kick(f);
		ck_assert_int_eq(gvq_restart(f->vq), 0);
		for (k = n; k-- > 0;)
			use(f, c[k], c[k]->writable);
		ck_assert_int_eq(gvq_restart(f->vq), 1);
		reap_all(f);
		ck_assert_int_eq(gvq_restart(f->vq), 0);
		ck_assert_uint_eq(gvq_num_free(f->vq), 4);
	}
	ck_assert_uint_gt(vring_idx_dist(f->added, start), 24);
	ck_assert_uint_lt(f->added, start);
	ck_assert_uint_eq(mock_avail_idx(&f->m), f->added);
	ck_assert_uint_eq(vring_used_idx_acquire(&f->m.vr), f->added);
	ck_assert_uint_eq(f->reaped, f->added);
	fix_free(f);
}
END_TEST

/*
 * gvq_restart (guestdrv.h; STYLE.md 7): 1 exactly while a used entry is
 * published and not yet reaped, so a caller never sleeps on work that has
 * already arrived; asking does not consume anything.
 */
START_TEST(test_restart)
{
	struct fix *f = fix_new(8, _i ? 0xffffffffu : 0);
	struct chain *a, *b, *c;

	ck_assert_int_eq(gvq_restart(f->vq), 0);
	a = post(f, 1, 1);
	b = post(f, 1, 1);
	c = post(f, 1, 1);
	ck_assert_int_eq(gvq_restart(f->vq), 0);
	kick(f);
	ck_assert_int_eq(gvq_restart(f->vq), 0);
	use(f, a, 1);
	ck_assert_int_eq(gvq_restart(f->vq), 1);
	ck_assert_int_eq(gvq_restart(f->vq), 1);
	reap(f);
	ck_assert_int_eq(gvq_restart(f->vq), 0);
	use(f, b, 0);
	use(f, c, c->writable);
	ck_assert_int_eq(gvq_restart(f->vq), 1);
	reap(f);
	ck_assert_int_eq(gvq_restart(f->vq), 1);
	reap(f);
	ck_assert_int_eq(gvq_restart(f->vq), 0);
	ck_assert_int_eq(gvq_error(f->vq), GVQ_E_NONE);
	fix_free(f);
}
END_TEST

/*
 * gvq_detach_unused (guestdrv.h): on a queue being torn down, healthy or
 * broken, it returns each chain still posted (kicked or not) exactly once,
 * never one already reaped, then NULL, and num_free is back to num.
 */
START_TEST(test_detach_unused)
{
	uint32_t num = 16;
	struct fix *f = fix_new(num, 0);
	struct chain *a, *b, *c, *d, *t;
	unsigned int n = 0;

	a = post(f, 1, 1);
	b = post(f, 2, 1);
	c = post(f, 1, 0);
	kick(f);
	d = post(f, 0, 2);
	use(f, b, b->writable);
	reap(f);
	if (_i) {
		mock_used_push(&f->m, num, 0);
		expect_reject(f, GVQ_E_USED_ID_RANGE, "used_id_range");
	}
	while ((t = gvq_detach_unused(f->vq))) {
		ck_assert_msg(t == a || t == c || t == d,
			      "detach returned a token not posted");
		ck_assert_int_eq(t->state, CHAIN_POSTED);
		t->state = CHAIN_FREE;
		n++;
	}
	ck_assert_uint_eq(n, 3);
	ck_assert_ptr_null(gvq_detach_unused(f->vq));
	ck_assert_uint_eq(gvq_num_free(f->vq), num);
	fix_free(f);
}
END_TEST

/*
 * The page allocator (guestdrv.h): first-fit runs of contiguous pages
 * numbered from first_pfn, -ENOMEM when full or when the free pages are
 * not contiguous, pages reused once freed, and count 0 rejected.
 */
START_TEST(test_pages_alloc)
{
	struct gvq_pages *p = gvq_pages_create(100, 8);

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(gvq_pages_alloc(p, 0), -EINVAL);
	ck_assert_int_eq(gvq_pages_alloc(p, 9), -ENOMEM);
	ck_assert_int_eq(gvq_pages_alloc(p, 3), 100);
	ck_assert_int_eq(gvq_pages_alloc(p, 2), 103);
	ck_assert_int_eq(gvq_pages_alloc(p, 3), 105);
	ck_assert_int_eq(gvq_pages_alloc(p, 1), -ENOMEM);
	ck_assert_int_eq(gvq_pages_alloc(p, 0), -EINVAL);

	gvq_pages_free(p, 103, 2);
	ck_assert_int_eq(gvq_pages_alloc(p, 3), -ENOMEM);
	ck_assert_int_eq(gvq_pages_alloc(p, 2), 103);

	/* Six free pages in two runs of three. */
	gvq_pages_free(p, 100, 3);
	gvq_pages_free(p, 105, 3);
	ck_assert_int_eq(gvq_pages_alloc(p, 4), -ENOMEM);
	ck_assert_int_eq(gvq_pages_alloc(p, 3), 100);
	ck_assert_int_eq(gvq_pages_alloc(p, 3), 105);
	ck_assert_int_eq(gvq_pages_alloc(p, 1), -ENOMEM);

	gvq_pages_free(p, 100, 8);
	ck_assert_int_eq(gvq_pages_alloc(p, 8), 100);
	gvq_pages_destroy(p);

	/* The range must fit the 32-bit pfn space; its top is usable. */
	ck_assert_ptr_null(gvq_pages_create(UINT32_MAX, 2));
	p = gvq_pages_create(UINT32_MAX - 2, 2);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(gvq_pages_alloc(p, 2), (int64_t)UINT32_MAX - 2);
	ck_assert_int_eq(gvq_pages_alloc(p, 1), -ENOMEM);
	gvq_pages_destroy(p);

	p = gvq_pages_create(5, 0);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(gvq_pages_alloc(p, 1), -ENOMEM);
	gvq_pages_destroy(p);
}
END_TEST

/* First fit by brute force, the model the allocator must agree with. */
static int64_t model_first_fit(const uint8_t *used, uint32_t npages,
			       uint32_t first_pfn, uint32_t count)
{
	uint32_t s, k;

	for (s = 0; s + count <= npages; s++) {
		for (k = 0; k < count && !used[s + k]; k++)
			;
		if (k == count)
			return (int64_t)first_pfn + s;
	}
	return -ENOMEM;
}

/* The allocator against that model over a long random sequence of allocs
 * and frees: same answers, never overlapping runs. */
START_TEST(test_pages_model)
{
	enum { FIRST = 1000, NPAGES = 64 };
	struct gvq_pages *p = gvq_pages_create(FIRST, NPAGES);
	struct {
		uint32_t pfn, count;
	} ext[NPAGES];
	uint8_t used[NPAGES] = { 0 };
	unsigned int next = 0, step, j, k;
	uint32_t seed = 12345;

	ck_assert_ptr_nonnull(p);
	for (step = 0; step < 5000; step++) {
		if (next && lcg(&seed) % 3 == 0) {
			j = lcg(&seed) % next;
			for (k = 0; k < ext[j].count; k++)
				used[ext[j].pfn - FIRST + k] = 0;
			gvq_pages_free(p, ext[j].pfn, ext[j].count);
			ext[j] = ext[--next];
		} else {
			uint32_t count = 1 + lcg(&seed) % 8;
			int64_t want = model_first_fit(used, NPAGES, FIRST,
						       count);

			ck_assert_int_eq(gvq_pages_alloc(p, count), want);
			if (want < 0)
				continue;
			for (k = 0; k < count; k++) {
				ck_assert(!used[want - FIRST + k]);
				used[want - FIRST + k] = 1;
			}
			ext[next].pfn = (uint32_t)want;
			ext[next++].count = count;
		}
	}
	gvq_pages_destroy(p);
}
END_TEST

Suite *guestdrv_suite(void)
{
	Suite *s = suite_create("guestdrv");
	TCase *tc = tcase_create("checks");

	tcase_add_loop_test(tc, test_used_idx_jump, 0, 6);
	tcase_add_loop_test(tc, test_used_id_range, 0, 4);
	tcase_add_loop_test(tc, test_used_id_not_head, 0, 12);
	tcase_add_loop_test(tc, test_used_len_range, 0, 6);
	tcase_add_test(tc, test_check_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("post");
	tcase_add_loop_test(tc, test_add_kick_sizes, 0, 8);
	tcase_add_loop_test(tc, test_shared_next_untrusted, 0, 7);
	tcase_add_loop_test(tc, test_desc_tampered, 0, 30);
	tcase_add_test(tc, test_index_wrap);
	tcase_add_loop_test(tc, test_restart, 0, 2);
	tcase_add_loop_test(tc, test_detach_unused, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("pages");
	tcase_add_test(tc, test_pages_alloc);
	tcase_add_test(tc, test_pages_model);
	suite_add_tcase(s, tc);
	return s;
}
