/* SPDX-License-Identifier: MIT */
/*
 * What the libFuzzer targets share: an ASSERT that aborts (libFuzzer reports
 * the abort as a crash and keeps the input), the input layout of the ring
 * targets, guest memory with one queue in it, the check that the device
 * wrote nowhere it may not, and a model of the device's ring checks.
 * Everything is static inline: each target is one program of its own.
 */
#ifndef VQSIM_TESTS_FUZZ_H
#define VQSIM_TESTS_FUZZ_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The targets' own code (models, memory checks) runs on every input:
 * instrumented for coverage, its comparisons would take most of the time
 * and guide nothing that the libraries' coverage does not.  Each file
 * wraps its code in these, and includes this first.
 */
#define FUZZ_NOCOV_ATTR	__attribute__((no_sanitize("coverage")))
#define FUZZ_STR(x)	#x
#define FUZZ_PRAGMA(x)	_Pragma(FUZZ_STR(x))	/* x macro-expanded */
#define FUZZ_NOCOV_BEGIN						\
	FUZZ_PRAGMA(clang attribute push(FUZZ_NOCOV_ATTR,		\
					 apply_to = function))
#define FUZZ_NOCOV_END	_Pragma("clang attribute pop")

/* From here on, ring/'s inline accessors included. */
FUZZ_NOCOV_BEGIN

#include "vring.h"

/* libFuzzer's entry points: the only symbols a target exports. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static inline void fuzz_fail(const char *file, int line, const char *cond,
			     const char *fmt, ...)
	__attribute__((noreturn, format(printf, 4, 5)));

static inline void fuzz_fail(const char *file, int line, const char *cond,
			     const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz: %s:%d: invariant '%s' broken: ", file, line,
		cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/*
 * An invariant: abort with a message, not assert(), so that it holds in
 * every build and libFuzzer saves the input that broke it.
 */
#define ASSERT(cond, ...)						\
	do {								\
		if (!(cond))						\
			fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
	} while (0)

/* ---- the input of the ring targets ---- */

/*
 * Only the bytes of the three pages that the sides read, so that
 * mutations land on them and a seed of a small queue is small:
 *
 *   0        u8   queue size: 2 << (byte & 7)
 *   1..4     u32  start index, little-endian
 *   5        u8   options, per target
 *   6..      desc[num], then avail idx and avail ring[num], then used idx
 *            and used ring[num] (each little-endian, as in the pages),
 *            then the four hint words: avail flags, used_event,
 *            used flags, avail_event
 *   rest     guest memory from FUZZ_DATA_PFN on: the buffers' bytes
 *
 * Missing bytes are zero.  tests/fuzz/mkseeds turns a vqsim dump into
 * this form.
 */
#define FUZZ_HDR	6u
#define FUZZ_MEM_PAGES	32u	/* guest memory, guarded both sides */
#define FUZZ_DATA_PFN	3u	/* the queue is at pfn 0, as in vqsim */
#define FUZZ_MEM_SIZE	((uint64_t)FUZZ_MEM_PAGES * VRING_PAGE_SIZE)

struct fuzz_in {
	uint32_t num;
	uint32_t start;
	uint8_t opts;
	const uint8_t *data;	/* what follows the ring parts */
	size_t data_len;
};

/* Copy n input bytes (fewer if the input ends) to dst, zero the rest. */
static inline void fuzz_take(uint8_t *dst, size_t n, const uint8_t **p,
			     const uint8_t *end)
{
	size_t have = (size_t)(end - *p) < n ? (size_t)(end - *p) : n;

	memcpy(dst, *p, have);
	memset(dst + have, 0, n - have);
	*p += have;
}

/*
 * Lay the input out in guest memory: the queue's three pages at pfn 0 and
 * the data from FUZZ_DATA_PFN on; memory the input does not reach holds a
 * pattern, so that a stray write of zeros shows up as well.
 */
static inline void fuzz_load(const struct vring_mem *mem, const uint8_t *d,
			     size_t size, struct fuzz_in *in)
{
	const uint64_t at = (uint64_t)FUZZ_DATA_PFN << VRING_PAGE_SHIFT;
	const uint8_t *p = d, *end = d + size;
	static uint8_t pattern[FUZZ_MEM_SIZE];
	uint8_t hdr[FUZZ_HDR] = { 7 };	/* an empty input: 256 entries */
	uint8_t *b = mem->base;
	uint64_t i;

	ASSERT(mem->size == FUZZ_MEM_SIZE, "guest memory of %llu bytes",
	       (unsigned long long)mem->size);
	if (size)
		fuzz_take(hdr, FUZZ_HDR, &p, end);
	in->num = 2u << (hdr[0] & 7);
	in->start = (uint32_t)hdr[1] | (uint32_t)hdr[2] << 8 |
		    (uint32_t)hdr[3] << 16 | (uint32_t)hdr[4] << 24;
	in->opts = hdr[5];

	memset(b, 0, VRING_BYTES);
	fuzz_take(b, 16u * in->num, &p, end);
	fuzz_take(b + VRING_PAGE_SIZE, 4u + 4u * in->num, &p, end);
	fuzz_take(b + 2 * VRING_PAGE_SIZE, 4u + 8u * in->num, &p, end);
	fuzz_take(b + VRING_PAGE_SIZE + 2048, 4, &p, end);
	fuzz_take(b + VRING_PAGE_SIZE + 2112, 4, &p, end);
	fuzz_take(b + 2 * VRING_PAGE_SIZE + 3072, 4, &p, end);
	fuzz_take(b + 2 * VRING_PAGE_SIZE + 3136, 4, &p, end);

	in->data = p;
	in->data_len = (size_t)(end - p);
	if (in->data_len > mem->size - at)
		in->data_len = (size_t)(mem->size - at);
	memcpy(b + at, in->data, in->data_len);
	if (!pattern[1])
		for (i = 0; i < sizeof(pattern); i++)
			pattern[i] = (uint8_t)(i * 131 >> 3);
	memcpy(b + at + in->data_len, pattern + at + in->data_len,
	       mem->size - at - in->data_len);
}

/* ---- where the device may write ---- */

struct fuzz_range {
	uint64_t lo, hi;	/* guest-physical [lo, hi) */
};

/* Grown on demand and kept across inputs (still reachable: no leak). */
struct fuzz_ranges {
	size_t n, cap;
	struct fuzz_range *r;
};

static inline void fuzz_ranges_add(struct fuzz_ranges *rs, uint64_t lo,
				   uint64_t len)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? 2 * rs->cap : 1024;
		struct fuzz_range *r = realloc(rs->r, cap * sizeof(*r));

		ASSERT(r, "out of memory for %zu ranges", cap);
		rs->r = r;
		rs->cap = cap;
	}
	rs->r[rs->n].lo = lo;
	rs->r[rs->n].hi = lo + len;
	rs->n++;
}

static inline int fuzz_range_cmp(const void *a, const void *b)
{
	const struct fuzz_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/*
 * Every byte of guest memory that differs from snap lies in one of the
 * ranges: the device wrote only where the driver let it.  Sorting and
 * comparing the gaps keeps this linear in the memory size.
 */
static inline void fuzz_check_writes(const struct vring_mem *mem,
				     const uint8_t *snap,
				     struct fuzz_ranges *rs, const char *what)
{
	uint64_t at = 0, k;
	size_t i;

	qsort(rs->r, rs->n, sizeof(*rs->r), fuzz_range_cmp);
	for (i = 0; i <= rs->n; i++) {
		uint64_t lo = i < rs->n ? rs->r[i].lo : mem->size;

		if (lo > mem->size)
			lo = mem->size;
		if (lo > at && memcmp(mem->base + at, snap + at, lo - at)) {
			for (k = at; mem->base[k] == snap[k]; k++)
				;
			ASSERT(0, "%s: byte at gpa %#llx changed from %#x to "
			       "%#x outside every buffer it may write", what,
			       (unsigned long long)k, snap[k], mem->base[k]);
		}
		if (i < rs->n && rs->r[i].hi > at)
			at = rs->r[i].hi;
	}
}

/* The used idx and the used ring of a queue of num: the device's own. */
static inline void fuzz_ranges_add_used(struct fuzz_ranges *rs, uint32_t num)
{
	fuzz_ranges_add(rs, 2 * VRING_PAGE_SIZE, 4u + 8u * num);
}

/*
 * Does [gpa, gpa + len) meet the used ring?  A buffer there may be
 * overwritten by the device's own use of a chain after the buffer was
 * written, so its final bytes prove nothing.
 */
static inline bool fuzz_meets_used(uint32_t num, uint64_t gpa, uint64_t len)
{
	const uint64_t used = 2 * VRING_PAGE_SIZE;

	return gpa < used + 4u + 8u * num && used < gpa + len;
}

/* ---- a reset, then the same input again ---- */

/*
 * A device or driver reset (--recover's) forgets everything: on the same
 * bytes, the side must then do exactly what it did the first time, to the
 * byte.  What the first round ended with:
 */
struct fuzz_replay {
	uint8_t *after;		/* guest memory, FUZZ_MEM_SIZE bytes */
	uint32_t done;		/* chains completed (or reaped) */
	const char *check;	/* what fired, or NULL */
};

/* Keep what the first round left, and put the input back for the next. */
static inline void fuzz_replay_save(struct fuzz_replay *r,
				    const struct vring_mem *mem,
				    const uint8_t *snap, uint32_t done,
				    const struct vring_detection *det)
{
	r->done = done;
	r->check = det ? det->check : NULL;
	memcpy(r->after, mem->base, FUZZ_MEM_SIZE);
	memcpy(mem->base, snap, FUZZ_MEM_SIZE);
}

static inline void fuzz_replay_check(const struct fuzz_replay *r,
				     const struct vring_mem *mem,
				     uint32_t done,
				     const struct vring_detection *det)
{
	const char *check = det ? det->check : NULL;

	ASSERT(done == r->done && (check == r->check ||
				   (check && r->check &&
				    !strcmp(check, r->check))),
	       "after a reset: %u done and %s, the first time %u and %s",
	       done, check ? check : "no check", r->done,
	       r->check ? r->check : "no check");
	ASSERT(!memcmp(mem->base, r->after, FUZZ_MEM_SIZE),
	       "after a reset, guest memory ends up other than the first "
	       "time");
}

/* ---- a model of the device's ring checks (DESIGN.md section 4) ---- */

/*
 * The host side as the design describes it, written from the rules and
 * not from hostdev/hvq.c: the model predicts what each pop must do on the
 * same bytes, and the target compares.  Where one descriptor breaks
 * several rules, any of them is a right answer, so the model gives the set.
 */
struct hmodel {
	const struct vring_mem *mem;
	struct vring vr;
	uint32_t num;
	uint32_t last_avail;	/* next avail slot to consume */
	uint32_t avail_seen;	/* avail idx when last read */
	uint32_t used;		/* next used slot */
	uint32_t in_flight;
	bool broken;
	uint16_t owner[VRING_MAX_SIZE];	/* holding chain's head + 1 */
	uint16_t link[VRING_MAX_SIZE];	/* next, as read, if held */
	uint16_t chain_len[VRING_MAX_SIZE];	/* by head; 0: not held */
};

#define HM_MAX_EXPECT	8

/* What one pop must give. */
struct hpop {
	int ret;			/* 1, 0 or -EIO */
	unsigned int nexpect;		/* -EIO: the ids that may fire */
	const char *expect[HM_MAX_EXPECT];
	bool consumed;			/* it took head from the ring */
	uint32_t head;
	uint32_t n, out_num, in_num;	/* 1: the chain */
	uint64_t out_len, in_len;
	uint16_t idx[VRING_MAX_SIZE];	/* the descriptors, in order */
	uint64_t gpa[VRING_MAX_SIZE];
	uint32_t len[VRING_MAX_SIZE];
	bool writable[VRING_MAX_SIZE];
};

/* The ids a device check may report: for "is it a known id". */
static const char *const hm_ring_checks[] = {
	"avail_idx_jump", "avail_head_range", "avail_not_head",
	"avail_head_busy", "desc_next_range", "desc_loop",
	"desc_middle_head", "desc_shared", "desc_out_after_in",
	"desc_unknown_flags", "desc_bad_addr", "desc_zero_len",
};

static inline void hmodel_init(struct hmodel *m, const struct vring_mem *mem,
			       uint32_t num, uint32_t start)
{
	memset(m, 0, sizeof(*m));
	m->mem = mem;
	m->num = num;
	vring_init(&m->vr, mem->base, num);
	m->last_avail = m->avail_seen = m->used = start;
}

static inline void hpop_expect(struct hpop *p, const char *check)
{
	if (p->nexpect < HM_MAX_EXPECT)
		p->expect[p->nexpect++] = check;
}

static inline void hpop_fail(struct hmodel *m, struct hpop *p,
			     const char *check)
{
	hpop_expect(p, check);
	p->ret = -EIO;
	m->broken = true;
}

/*
 * Predict the next hvq_pop on the live pages (read them before the
 * device does: on one thread they are what it will see), and take the
 * chain into the model's state as the device must.
 */
static inline void hmodel_pop(struct hmodel *m, struct hpop *p)
{
	uint8_t seen[VRING_MAX_SIZE] = { 0 };
	uint32_t i, h;

	p->ret = 0;
	p->consumed = false;
	p->nexpect = 0;
	p->n = p->out_num = p->in_num = 0;
	p->out_len = p->in_len = 0;
	if (m->broken) {
		p->ret = -EIO;
		return;
	}
	if (m->last_avail == m->avail_seen) {
		uint32_t a = vring_avail_idx_acquire(&m->vr);

		if (a == m->last_avail)
			return;
		/* At most num chains between used and made available. */
		if (vring_idx_dist(a, m->used) > m->num ||
		    vring_idx_dist(a, m->last_avail) >
		    vring_idx_dist(a, m->used)) {
			hpop_fail(m, p, "avail_idx_jump");
			return;
		}
		m->avail_seen = a;
	}
	h = vring_avail_ring_read(&m->vr, m->last_avail);
	if (h >= m->num) {
		hpop_fail(m, p, "avail_head_range");
		return;
	}
	if (m->chain_len[h]) {
		hpop_fail(m, p, "avail_head_busy");
		return;
	}
	m->last_avail++;
	p->consumed = true;
	p->head = h;

	for (i = h;;) {
		struct vring_desc d;
		uint64_t gpa;
		unsigned int before = p->nexpect;

		vring_desc_read(&m->vr, i, &d);
		gpa = ((uint64_t)d.pfn << VRING_PAGE_SHIFT) + d.offset;
		if (seen[i])
			hpop_expect(p, "desc_loop");
		else if (m->owner[i])
			hpop_expect(p, "desc_shared");
		if (d.flags & ~VRING_DESC_F_KNOWN)
			hpop_expect(p, "desc_unknown_flags");
		if (p->n == 0 && !(d.flags & VRING_DESC_F_HEAD))
			hpop_expect(p, "avail_not_head");
		if (p->n > 0 && (d.flags & VRING_DESC_F_HEAD))
			hpop_expect(p, "desc_middle_head");
		if (d.len == 0)
			hpop_expect(p, "desc_zero_len");
		if (gpa > m->mem->size || d.len > m->mem->size - gpa)
			hpop_expect(p, "desc_bad_addr");
		if (!(d.flags & VRING_DESC_F_WRITE) && p->in_num)
			hpop_expect(p, "desc_out_after_in");
		if (p->nexpect > before) {
			/* The walk could also have looked at next first. */
			if ((d.flags & VRING_DESC_F_NEXT) && d.next >= m->num)
				hpop_expect(p, "desc_next_range");
			break;
		}
		seen[i] = 1;
		p->idx[p->n] = (uint16_t)i;
		p->gpa[p->n] = gpa;
		p->len[p->n] = d.len;
		p->writable[p->n] = d.flags & VRING_DESC_F_WRITE;
		if (p->writable[p->n]) {
			p->in_num++;
			p->in_len += d.len;
		} else {
			p->out_num++;
			p->out_len += d.len;
		}
		p->n++;
		if (!(d.flags & VRING_DESC_F_NEXT)) {
			/* Accepted: the chain is the device's now. */
			uint32_t k;

			for (k = 0; k < p->n; k++) {
				m->owner[p->idx[k]] = (uint16_t)(h + 1);
				if (k + 1 < p->n)
					m->link[p->idx[k]] = p->idx[k + 1];
			}
			m->chain_len[h] = (uint16_t)p->n;
			m->in_flight++;
			p->ret = 1;
			return;
		}
		if (d.next >= m->num) {
			hpop_expect(p, "desc_next_range");
			break;
		}
		i = d.next;
	}
	p->ret = -EIO;
	m->broken = true;
}

/* The device used head: its descriptors are free again, by the links the
 * model took at the walk (the pages may say anything by now). */
static inline void hmodel_use(struct hmodel *m, uint32_t head)
{
	uint32_t i = head, n;

	ASSERT(head < m->num && m->chain_len[head],
	       "used head %u that the model does not hold", head);
	for (n = m->chain_len[head]; n--; i = m->link[i])
		m->owner[i] = 0;
	m->chain_len[head] = 0;
	m->in_flight--;
	m->used++;
}

/* A device-level check (blk, net) refused the chain just popped: it stays
 * held, and the queue is broken. */
static inline void hmodel_reject(struct hmodel *m)
{
	m->broken = true;
}

static inline bool hm_known_check(const char *check)
{
	size_t i;

	for (i = 0; i < sizeof(hm_ring_checks) / sizeof(hm_ring_checks[0]);
	     i++)
		if (!strcmp(check, hm_ring_checks[i]))
			return true;
	return false;
}

static inline bool hpop_expects(const struct hpop *p, const char *check)
{
	unsigned int i;

	for (i = 0; i < p->nexpect; i++)
		if (!strcmp(p->expect[i], check))
			return true;
	return false;
}

/*
 * The device's answer ret and its detection against the prediction; a
 * detection that is new must be one of the ids the model allows.
 */
static inline void hpop_compare(const struct hpop *p, int ret,
				const struct vring_detection *det,
				const char *what)
{
	ASSERT(ret == p->ret, "%s: returned %d, the rules say %d (%s%s)",
	       what, ret, p->ret, p->nexpect ? "expected " : "",
	       p->nexpect ? p->expect[0] : "no check");
	ASSERT((ret == -EIO) == (det != NULL),
	       "%s: returned %d with%s a detection", what, ret,
	       det ? "" : "out");
	if (det)
		ASSERT(det->check && hm_known_check(det->check),
		       "%s: unknown check id '%s'", what,
		       det->check ? det->check : "(null)");
	if (p->nexpect)
		ASSERT(hpop_expects(p, det->check),
		       "%s: fired %s, the rules say %s%s%s", what, det->check,
		       p->expect[0], p->nexpect > 1 ? " or " : "",
		       p->nexpect > 1 ? p->expect[1] : "");
}

/* p's buffer k, where the device must find it in guest memory. */
static inline uint8_t *hpop_ptr(const struct hmodel *m, const struct hpop *p,
				uint32_t k)
{
	return m->mem->base + p->gpa[k];
}

/* ---- the device's events, checked as they happen ---- */

/*
 * What a device target knows while the device runs: the prediction of
 * the pop in progress (NULL outside one), and the len each held head
 * must be used with.  Nothing is used twice or without being held, the
 * used ring holds what the event says, and each publication covers
 * exactly the uses since the last.
 */
struct htrack {
	struct hmodel *m;
	const struct hpop *cur;
	uint32_t start, uses, published;
	uint32_t want_len[VRING_MAX_SIZE];	/* by head */
};

static inline void htrack_init(struct htrack *t, struct hmodel *m,
			       uint32_t start)
{
	t->m = m;
	t->cur = NULL;
	t->start = start;
	t->uses = t->published = 0;
}

static inline void htrack_event(struct htrack *t, const struct vring_event *ev)
{
	const struct hpop *p = t->cur;
	struct vring_used_elem e;

	switch (ev->type) {
	case VRING_EV_CONSUME:
		ASSERT(p && p->consumed && ev->head == p->head,
		       "took head %u from the ring, the rules say %s", ev->head,
		       p && p->consumed ? "another" : "none");
		break;
	case VRING_EV_GATHER:
		ASSERT(p && p->ret == 1 && ev->head == p->head &&
		       ev->ndesc == p->n && ev->a == p->out_len &&
		       ev->b == p->in_len, "gathered head %u: %u descriptors, "
		       "%llu out, %llu in; the rules say %s", ev->head,
		       ev->ndesc, (unsigned long long)ev->a,
		       (unsigned long long)ev->b, !p || p->ret != 1 ?
		       "no chain" : "another");
		break;
	case VRING_EV_USE:
		ASSERT(ev->head < t->m->num && t->m->chain_len[ev->head] &&
		       ev->a == t->want_len[ev->head], "used head %u len %llu, "
		       "which %s", ev->head, (unsigned long long)ev->a,
		       ev->head < t->m->num && t->m->chain_len[ev->head] ?
		       "is the wrong len" : "the device does not hold");
		ASSERT(ev->idx == t->start + t->uses, "used at idx %u, not %u",
		       ev->idx, t->start + t->uses);
		vring_used_elem_read(&t->m->vr, ev->idx, &e);
		ASSERT(e.id == ev->head && e.len == ev->a,
		       "used ring slot holds {%u, %u}, not {%u, %llu}",
		       e.id, e.len, ev->head, (unsigned long long)ev->a);
		t->uses++;
		break;
	case VRING_EV_PUBLISH:
		ASSERT(ev->idx == t->start + t->uses &&
		       ev->a == t->uses - t->published,
		       "published used idx %u (%llu new) after %u uses",
		       ev->idx, (unsigned long long)ev->a, t->uses);
		ASSERT(vring_used_idx_acquire(&t->m->vr) == ev->idx,
		       "used idx in the page is %u, published %u",
		       vring_used_idx_acquire(&t->m->vr), ev->idx);
		t->published = t->uses;
		break;
	case VRING_EV_CHECK:
		ASSERT(ev->det && ev->det->check, "a check without an id");
		break;
	default:
		break;
	}
}

/*
 * At the end: every use was published, and the page says so (nothing
 * but the device's own publication writes used idx last).
 */
static inline void htrack_done(const struct htrack *t)
{
	ASSERT(t->published == t->uses, "%u used, %u published", t->uses,
	       t->published);
	if (t->uses)
		ASSERT(vring_used_idx_acquire(&t->m->vr) == t->start + t->uses,
		       "used idx %u after %u uses from %u",
		       vring_used_idx_acquire(&t->m->vr), t->uses, t->start);
}

FUZZ_NOCOV_END

#endif
