// SPDX-License-Identifier: MIT
/*
 * Guest side: a driver posts real chains (their shapes taken from the
 * input's descriptors and available ring, so that a dump of a vqsim run
 * replays its own chains) and kicks; then the fuzzer's bytes become the
 * used page, and optionally the descriptor page, as a hostile device left
 * them.  The driver reaps until it has nothing or a check fires.  A model
 * of the rules (DESIGN.md section 4) predicts every call, and the driver
 * may return only tokens it posted, each once, with len within the chain,
 * free exactly what it returns and write nothing the device owns.
 */
#include "fuzz.h"
#include "guestdrv.h"

FUZZ_NOCOV_BEGIN

#define MAX_CHAINS	(2 * VRING_MAX_SIZE)	/* over both rounds */

/*
 * Options (the input's byte 5): bits 0-1, how the driver kicks (0: once
 * for all chains, 1: once per chain, 2: all but the last, 3: the first
 * half only); bit 2, the device also rewrites the descriptor page; bit 3,
 * then reset the driver and run the same input again.
 */
#define OPT_KICK_MASK	3u
#define OPT_DESC	4u
#define OPT_RESET	8u

/* One chain the driver posted, and what the model knows of it. */
struct chain {
	uint32_t head, ndesc;
	uint32_t in_len;
	bool outstanding;	/* posted, not yet returned */
	bool published;		/* kicked: the device may use it */
};

/* A shape taken from the input: buffers, out then in. */
struct shape {
	unsigned int out_num, in_num;
	struct gvq_sg sg[VRING_MAX_SIZE];
};

static struct {
	struct vring_mem mem;
	uint8_t *snap;			/* guest memory before reaping */
	uint8_t *after;			/* ... and after the first round */
	uint8_t in_pages[VRING_BYTES];	/* the input's three pages */
	struct vring ivr;		/* ... read as a ring */
	struct vring vr;		/* the live queue */
	uint32_t num, start;
	struct gvq *vq;

	/* The model: num_free is num less the descriptors of chains posted
	 * and not returned. */
	uint32_t nposted, num_added, published, num_free;
	uint32_t reaped;		/* tokens get_buf gave back */
	uint32_t last_used, used_seen;
	bool broken;
	struct chain chains[MAX_CHAINS];
	int16_t by_head[VRING_MAX_SIZE];	/* outstanding chain, or -1 */
	uint16_t owner[VRING_MAX_SIZE];		/* holding chain + 1 */
	uint16_t link[VRING_MAX_SIZE];
	struct vring_desc written[VRING_MAX_SIZE];

	uint32_t kicks;
	struct vring_event last_ev;	/* the last GET_BUF event */
	bool got_ev;
	char tokens[MAX_CHAINS];	/* token k is &tokens[k] */
	bool returned[MAX_CHAINS];	/* token k came back */
	bool freed_head[VRING_MAX_SIZE];	/* a head returned this round */
	struct shape shapes[VRING_MAX_SIZE];
	unsigned int nshapes;
} fx;

static const char *const guest_checks[] = {
	"used_idx_jump", "used_id_range", "used_id_not_head",
	"used_len_range", "desc_tampered",
};

static void on_kick(void *ctx)
{
	(void)ctx;
	fx.kicks++;
}

static void on_event(void *ctx, const struct vring_event *ev)
{
	(void)ctx;
	if (ev->type == VRING_EV_GET_BUF) {
		fx.last_ev = *ev;
		fx.got_ev = true;
	}
	if (ev->type == VRING_EV_CHECK)
		ASSERT(ev->det && ev->det->check, "a check without an id");
}

static const struct gvq_ops ops = {
	.kick = on_kick,
	.event = on_event,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	ASSERT(vring_mem_map(&fx.mem, FUZZ_MEM_SIZE) == 0, "cannot map");
	fx.snap = malloc(FUZZ_MEM_SIZE);
	fx.after = malloc(FUZZ_MEM_SIZE);
	ASSERT(fx.snap && fx.after, "out of memory");
	return 0;
}

/*
 * The chains the input's available ring names, from start on, as shapes:
 * buffers in walk order, a readable one after a writable one counted as
 * writable (the driver can only post out then in).
 */
static void take_shapes(void)
{
	uint32_t avail = vring_avail_idx_acquire(&fx.ivr);
	uint32_t count = vring_idx_dist(avail, fx.start), k;

	if (count > fx.num)
		count = fx.num;
	fx.nshapes = 0;
	for (k = 0; k < count; k++) {
		struct shape *s = &fx.shapes[fx.nshapes++];
		uint32_t i = vring_avail_ring_read(&fx.ivr, fx.start + k) &
			     (fx.num - 1);
		unsigned int n = 0;

		s->out_num = s->in_num = 0;
		for (;;) {
			struct vring_desc d;

			vring_desc_read(&fx.ivr, i, &d);
			s->sg[n].addr = ((uint64_t)d.pfn << VRING_PAGE_SHIFT) +
					d.offset;
			s->sg[n].len = d.len;
			if ((d.flags & VRING_DESC_F_WRITE) || s->in_num)
				s->in_num++;
			else
				s->out_num++;
			n++;
			if (!(d.flags & VRING_DESC_F_NEXT) || n == fx.num)
				break;
			i = d.next & (fx.num - 1);
		}
	}
}

static bool is_guest_check(const char *check)
{
	size_t i;

	for (i = 0; i < sizeof(guest_checks) / sizeof(guest_checks[0]); i++)
		if (!strcmp(check, guest_checks[i]))
			return true;
	return false;
}

/* The driver's detection, if any, is the one the model expects. */
static void check_detection(const char *want0, const char *want1,
			    const char *what)
{
	const struct vring_detection *det = gvq_detection(fx.vq);

	ASSERT(!det == !fx.broken, "%s: detection %s, the rules say %s",
	       what, det ? det->check : "none", fx.broken ? "one" : "none");
	if (!det)
		return;
	ASSERT(det->check && is_guest_check(det->check) &&
	       !strcmp(det->check, gvq_check_name(gvq_error(fx.vq))),
	       "%s: detection '%s', error %s", what,
	       det->check ? det->check : "(null)",
	       gvq_check_name(gvq_error(fx.vq)));
	if (want0)
		ASSERT(!strcmp(det->check, want0) ||
		       (want1 && !strcmp(det->check, want1)),
		       "%s: fired %s, the rules say %s%s%s", what, det->check,
		       want0, want1 ? " or " : "", want1 ? want1 : "");
}

static void check_free(const char *what)
{
	uint32_t held = fx.num - fx.num_free;

	ASSERT(gvq_num_free(fx.vq) <= fx.num, "%s: %u free of %u", what,
	       gvq_num_free(fx.vq), fx.num);
	/* A driver that detected keeps what it holds, which is the same
	 * count; only a healthy one must say so, per the contract. */
	if (!fx.broken)
		ASSERT(gvq_num_free(fx.vq) == fx.num_free,
		       "%s: %u descriptors free, but the chains posted and "
		       "not returned hold %u of %u", what, gvq_num_free(fx.vq),
		       held, fx.num);
}

/* Post shape s as chain number fx.nposted, predicting the outcome. */
static int post(const struct shape *s)
{
	unsigned int n = s->out_num + s->in_num, k;
	uint32_t in_len = 0, i, head;
	struct chain *c;
	int want = 0, ret;
	bool overflow = false;

	/* An address a descriptor cannot hold (pfn is a u32) is refused
	 * like a writable total that does not fit a u32. */
	for (k = 0; k < n; k++)
		overflow |= s->sg[k].addr >> VRING_PAGE_SHIFT > UINT32_MAX;
	for (k = s->out_num; k < n; k++) {
		overflow |= in_len + s->sg[k].len < in_len;
		in_len += s->sg[k].len;
	}
	if (fx.broken)
		want = -EIO;
	else if (n > fx.num || overflow)
		want = -EINVAL;
	else if (n > fx.num_free)
		want = -ENOSPC;
	ASSERT(fx.nposted < MAX_CHAINS, "too many chains");
	ret = gvq_add_buf(fx.vq, s->sg, s->out_num, s->sg + s->out_num,
			  s->in_num, &fx.tokens[fx.nposted]);
	ASSERT(ret == want, "add_buf of %u+%u buffers, %u free: %d, not %d",
	       s->out_num, s->in_num, fx.num_free, ret, want);
	if (ret)
		return ret;

	/* The chain as the driver wrote it: on free descriptors only, each
	 * buffer as asked, HEAD on the first, NEXT on all but the last. */
	c = &fx.chains[fx.nposted];
	head = vring_avail_ring_read(&fx.vr, fx.start + fx.nposted);
	ASSERT(head < fx.num && fx.by_head[head] < 0,
	       "new chain at head %u, which is %s", head,
	       head < fx.num ? "already a posted head" : "beyond the queue");
	*c = (struct chain){ .head = head, .ndesc = n, .in_len = in_len,
			     .outstanding = true };
	fx.by_head[head] = (int16_t)fx.nposted;
	for (k = 0, i = head; k < n; k++) {
		struct vring_desc d;
		uint16_t flags = (uint16_t)((k ? 0 : VRING_DESC_F_HEAD) |
			(k + 1 < n ? VRING_DESC_F_NEXT : 0) |
			(k >= s->out_num ? VRING_DESC_F_WRITE : 0));

		ASSERT(i < fx.num && !fx.owner[i], "chain %u (head %u) uses "
		       "descriptor %u, %s", fx.nposted, head, i, i < fx.num ?
		       "which another posted chain holds" :
		       "beyond the queue");
		vring_desc_read(&fx.vr, i, &d);
		ASSERT(((uint64_t)d.pfn << VRING_PAGE_SHIFT) + d.offset ==
		       s->sg[k].addr && d.len == s->sg[k].len &&
		       d.flags == flags, "descriptor %u of chain %u is "
		       "{%#x, %#x, %u, flags %#x}, not what was posted", i,
		       fx.nposted, d.pfn, d.offset, d.len, d.flags);
		fx.owner[i] = (uint16_t)(fx.nposted + 1);
		fx.written[i] = d;
		fx.link[i] = (uint16_t)d.next;
		i = d.next;
	}
	fx.num_free -= n;
	fx.num_added++;
	fx.nposted++;
	return 0;
}

static void kick(void)
{
	uint32_t kicks = fx.kicks, k;
	int want = fx.broken ? -EIO : fx.num_added ? 1 : 0;
	int ret = gvq_kick(fx.vq);

	ASSERT(ret == want, "kick: %d, not %d", ret, want);
	if (ret != 1)
		return;
	for (k = fx.nposted - fx.num_added; k < fx.nposted; k++)
		fx.chains[k].published = true;
	fx.published += fx.num_added;
	fx.num_added = 0;
	ASSERT(fx.kicks == kicks + 1, "kick returned 1 but did not notify");
	ASSERT(vring_avail_idx_acquire(&fx.vr) == fx.start + fx.published,
	       "avail idx %u after publishing %u from %u",
	       vring_avail_idx_acquire(&fx.vr), fx.published, fx.start);
}

/* Give chain k's descriptors back, as the driver must on a return. */
static void model_free(uint32_t k)
{
	struct chain *c = &fx.chains[k];
	uint32_t i = c->head, n;

	for (n = 0; n < c->ndesc; n++, i = fx.link[i])
		fx.owner[i] = 0;
	fx.num_free += c->ndesc;
	fx.by_head[c->head] = -1;
	c->outstanding = false;
}

/* Did the device change any descriptor of chain k? */
static bool tampered(uint32_t k)
{
	const struct chain *c = &fx.chains[k];
	uint32_t i = c->head, n;
	struct vring_desc d;

	for (n = 0; n < c->ndesc; n++, i = fx.link[i]) {
		vring_desc_read(&fx.vr, i, &d);
		if (memcmp(&d, &fx.written[i], sizeof(d)))
			return true;
	}
	return false;
}

/* One gvq_get_buf against the model; returns whether it gave a token. */
static bool reap_one(void)
{
	const char *want0 = NULL, *want1 = NULL;
	struct vring_used_elem e = { 0 };
	int32_t want_k = -1;
	uint32_t len = 0xdeadbeef, k;
	void *tok;

	if (!fx.broken && fx.last_used == fx.used_seen) {
		uint32_t u = vring_used_idx_acquire(&fx.vr);

		if (u != fx.last_used) {
			if (vring_idx_dist(u, fx.last_used) >
			    vring_idx_dist(fx.start + fx.published,
					   fx.last_used))
				want0 = "used_idx_jump";
			else
				fx.used_seen = u;
		}
	}
	if (!fx.broken && !want0 && fx.last_used != fx.used_seen) {
		int16_t h;

		vring_used_elem_read(&fx.vr, fx.last_used, &e);
		h = e.id < fx.num ? fx.by_head[e.id] : -1;
		if (e.id >= fx.num) {
			want0 = "used_id_range";
		} else if (h < 0 || !fx.chains[h].published) {
			want0 = "used_id_not_head";
		} else {
			if (e.len > fx.chains[h].in_len)
				want0 = "used_len_range";
			if (tampered((uint32_t)h))
				*(want0 ? &want1 : &want0) = "desc_tampered";
			if (!want0)
				want_k = h;
		}
	}

	fx.got_ev = false;
	tok = gvq_get_buf(fx.vq, &len);
	if (want0)
		fx.broken = true;
	check_detection(want0, want1, "get_buf");
	if (want_k < 0) {
		ASSERT(!tok, "get_buf returned token %td, the rules say none",
		       (char *)tok - fx.tokens);
		ASSERT(!fx.got_ev, "a get_buf event without a buffer");
		return false;
	}

	/* The contract, whatever the model says: a token posted and not
	 * returned before, with no more bytes than the chain can hold. */
	ASSERT(tok, "get_buf returned nothing, the rules say chain %d",
	       want_k);
	k = (uint32_t)((char *)tok - fx.tokens);
	ASSERT((char *)tok >= fx.tokens && k < fx.nposted && !fx.returned[k],
	       "get_buf returned token %u, %s", k, k < fx.nposted ?
	       "a second time" : "never posted");
	ASSERT(len <= fx.chains[k].in_len, "len %u > %u writable", len,
	       fx.chains[k].in_len);
	ASSERT(k == (uint32_t)want_k && len == e.len,
	       "get_buf: token %u len %u, the rules say %d len %u", k, len,
	       want_k, e.len);
	ASSERT(fx.got_ev && fx.last_ev.head == fx.chains[k].head &&
	       fx.last_ev.idx == fx.last_used && fx.last_ev.a == len,
	       "get_buf event disagrees: head %u idx %u len %llu",
	       fx.last_ev.head, fx.last_ev.idx,
	       (unsigned long long)fx.last_ev.a);
	fx.returned[k] = true;
	fx.freed_head[fx.chains[k].head] = true;
	model_free(k);
	fx.last_used++;
	fx.reaped++;
	return true;
}

static void restart(void)
{
	int want = fx.broken || fx.last_used != fx.used_seen ||
		   vring_used_idx_acquire(&fx.vr) != fx.last_used;
	int ret = gvq_restart(fx.vq);

	ASSERT(ret == want, "restart: %d, not %d", ret, want);
}

/*
 * While reaping, the driver writes no more than the HEAD flags of the
 * chains it frees (cleared, so that a dump does not show them live): the
 * used page, the available page and the buffers are the device's or
 * already published.
 */
static void check_reap_writes(void)
{
	uint32_t i;

	ASSERT(!memcmp(fx.mem.base + VRING_PAGE_SIZE,
		       fx.snap + VRING_PAGE_SIZE,
		       FUZZ_MEM_SIZE - VRING_PAGE_SIZE),
	       "the driver wrote outside the descriptor page while reaping");
	for (i = 0; i < VRING_MAX_SIZE; i++) {
		struct vring_desc now, was;

		memcpy(&now, fx.mem.base + 16 * i, sizeof(now));
		memcpy(&was, fx.snap + 16 * i, sizeof(was));
		if (!memcmp(&now, &was, sizeof(now)))
			continue;
		ASSERT(i < fx.num && now.flags == 0 && now.pfn == was.pfn &&
		       now.len == was.len && now.offset == was.offset &&
		       now.next == was.next && fx.freed_head[i],
		       "the driver rewrote descriptor %u while reaping", i);
	}
}

/* One life of the driver, from a fresh queue to taking every chain back. */
static void run(const struct fuzz_in *in)
{
	uint32_t k, n, kmode, iter, held;
	void *tok;

	fx.nposted = fx.num_added = fx.published = fx.reaped = 0;
	fx.num_free = in->num;
	fx.last_used = fx.used_seen = in->start;
	fx.broken = false;
	fx.kicks = 0;
	memset(fx.by_head, 0xff, sizeof(fx.by_head));
	memset(fx.owner, 0, sizeof(fx.owner));
	memset(fx.returned, 0, sizeof(fx.returned));
	memset(fx.freed_head, 0, sizeof(fx.freed_head));
	check_free("at the start");

	kmode = in->opts & OPT_KICK_MASK;
	for (k = 0; k < fx.nshapes; k++) {
		if ((kmode == 2 && k + 1 == fx.nshapes) ||
		    (kmode == 3 && k == fx.nshapes / 2))
			kick();
		if (post(&fx.shapes[k]) == -ENOSPC)
			break;
		if (kmode == 1)
			kick();
	}
	if (kmode <= 1)
		kick();
	check_free("after posting");

	/* Now the device's turn: its used page, maybe its scribbles. */
	memcpy(fx.mem.base + 2 * VRING_PAGE_SIZE,
	       fx.in_pages + 2 * VRING_PAGE_SIZE, VRING_PAGE_SIZE);
	if (in->opts & OPT_DESC)
		memcpy(fx.mem.base, fx.in_pages, VRING_PAGE_SIZE);
	memcpy(fx.snap, fx.mem.base, FUZZ_MEM_SIZE);

	for (iter = 0; iter < fx.num + 2 && reap_one(); iter++)
		check_free("after a get_buf");
	restart();
	check_reap_writes();
	check_free("after reaping");

	if (fx.broken) {
		/* Latched: nothing more from this queue, in any call. */
		for (k = 0; k < 3; k++)
			reap_one();
		ASSERT(gvq_add_buf(fx.vq, fx.shapes[0].sg, 1, NULL, 0,
				   &fx.tokens[0]) == -EIO &&
		       gvq_kick(fx.vq) == -EIO && gvq_restart(fx.vq) == 1,
		       "a broken driver still takes calls");
	} else {
		/* The freed descriptors serve again, none of them twice
		 * (post() checks each chain's descriptors were free). */
		for (k = 0; k < fx.nshapes; k++)
			if (post(&fx.shapes[k]) == -ENOSPC)
				break;
		kick();
		check_free("after posting again");
	}

	/* Tear down: every chain not returned comes back once. */
	for (held = 0, n = 0, k = 0; k < fx.nposted; k++)
		if (fx.chains[k].outstanding) {
			held++;
			n += fx.chains[k].ndesc;
		}
	ASSERT(n == fx.num - fx.num_free, "model: %u descriptors held, %u "
	       "free of %u", n, fx.num_free, fx.num);
	for (n = 0; (tok = gvq_detach_unused(fx.vq)); n++) {
		k = (uint32_t)((char *)tok - fx.tokens);
		ASSERT((char *)tok >= fx.tokens && k < fx.nposted &&
		       fx.chains[k].outstanding && !fx.returned[k],
		       "detach_unused gave token %u, not outstanding", k);
		fx.returned[k] = true;
		model_free(k);
	}
	ASSERT(n == held && gvq_num_free(fx.vq) == fx.num,
	       "detach_unused gave %u of %u chains back, %u of %u free", n,
	       held, gvq_num_free(fx.vq), fx.num);
}

static void one_input(const uint8_t *data, size_t size)
{
	const struct vring_detection *det;
	const char *check;
	struct fuzz_in in;
	uint32_t reaped;

	/* The input, through the ring targets' layout, then set aside. */
	fuzz_load(&fx.mem, data, size, &in);
	memcpy(fx.in_pages, fx.mem.base, VRING_BYTES);
	fx.num = in.num;
	fx.start = in.start;
	vring_init(&fx.ivr, fx.in_pages, in.num);
	vring_init(&fx.vr, fx.mem.base, in.num);
	vring_reset(&fx.vr, in.start);
	take_shapes();
	fx.vq = gvq_create(fx.mem.base, in.num, in.start, &ops, NULL);
	ASSERT(fx.vq, "gvq_create failed");
	run(&in);

	if (in.opts & OPT_RESET) {
		/* A reset driver is a new one: the same input must then go
		 * exactly as it went, to the byte. */
		det = gvq_detection(fx.vq);
		check = det ? det->check : NULL;
		reaped = fx.reaped;
		memcpy(fx.after, fx.mem.base, FUZZ_MEM_SIZE);
		gvq_reset(fx.vq, in.start);
		ASSERT(!gvq_detection(fx.vq), "the reset kept the detection");
		run(&in);
		det = gvq_detection(fx.vq);
		ASSERT(fx.reaped == reaped && (det ? check &&
		       !strcmp(det->check, check) : !check),
		       "after a reset: %u reaped and %s, the first time %u "
		       "and %s", fx.reaped, det ? det->check : "no check",
		       reaped, check ? check : "no check");
		ASSERT(!memcmp(fx.mem.base, fx.after, FUZZ_MEM_SIZE),
		       "after a reset, guest memory ends up other than the "
		       "first time");
	}
	gvq_destroy(fx.vq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one_input(data, size);
	return 0;
}

FUZZ_NOCOV_END
