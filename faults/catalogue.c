// SPDX-License-Identifier: MIT
/*
 * The fault classes: for every check either side makes, a seeded generator
 * of specs that must trip it, and the ids that may rightly fire instead
 * where one corruption can be caught in more than one way.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "faults.h"

/* splitmix64: faults/ depends on ring/ only, so it has its own. */
static uint64_t next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static uint64_t pick(uint64_t *s, uint64_t lo, uint64_t hi)
{
	return hi <= lo ? lo : lo + next(s) % (hi - lo + 1);
}

/* A kick or an interrupt that certainly comes. */
static uint64_t kick_n(uint64_t *s, const struct flt_target *t)
{
	return pick(s, 1, t->kicks);
}

static uint64_t irq_n(uint64_t *s, const struct flt_target *t)
{
	return pick(s, 1, t->irqs);
}

/* One of the chain's descriptors from position lo to hi (clamped). */
static uint32_t pos(uint64_t *s, const struct flt_target *t, uint32_t lo,
		    uint32_t hi)
{
	uint32_t last = t->chain_len ? t->chain_len - 1 : 0;

	return (uint32_t)pick(s, lo, hi < last ? hi : last);
}

/* The first (often the only) spec of a fault; returns 1, the count. */
static unsigned int one(char spec[FLT_MAX_SPECS][FLT_SPEC_LEN],
			const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static unsigned int one(char spec[FLT_MAX_SPECS][FLT_SPEC_LEN],
			const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(spec[0], FLT_SPEC_LEN, fmt, ap);
	va_end(ap);
	return 1;
}

static unsigned int gen_avail_idx_jump(uint64_t *s, const struct flt_target *t,
				       char spec[FLT_MAX_SPECS][FLT_SPEC_LEN])
{
	return one(spec, "null:avail.idx+=%" PRIu64 "@kick:%" PRIu64,
		    pick(s, t->queue_size + 1, 1u << 31), kick_n(s, t));
}

static unsigned int gen_avail_head_range(uint64_t *s,
					 const struct flt_target *t,
					 char spec[FLT_MAX_SPECS][FLT_SPEC_LEN])
{
	return one(spec, "null:avail.ring[last]=%" PRIu64 "@kick:%" PRIu64,
		    pick(s, t->queue_size, UINT32_MAX), kick_n(s, t));
}

static unsigned int gen_avail_not_head(uint64_t *s, const struct flt_target *t,
				       char spec[FLT_MAX_SPECS][FLT_SPEC_LEN])
{
	return one(spec, "null:desc[head].flags^=1@kick:%" PRIu64, kick_n(s, t));
}

static unsigned int gen_avail_head_dup(uint64_t *s, const struct flt_target *t,
				       char spec[FLT_MAX_SPECS][FLT_SPEC_LEN])
{
	return one(spec, "null:avail.ring[last]=avail.ring[last-1]@kick:%" PRIu64,
		    kick_n(s, t));
}

static unsigned int gen_avail_head_busy(uint64_t *s, const struct flt_target *t,
					char spec[FLT_MAX_SPECS][FLT_SPEC_LEN])
{
	return one(spec, "blk:avail.ring[last]=avail.ring[last-1]@kick:%" PRIu64,
		    kick_n(s, t));
}

static unsigned int gen_desc_next_range(uint64_t *s, const struct flt_target *t,
					char spec[FLT_MAX_SPECS][FLT_SPEC_LEN])
{
	return one(spec, "null:desc[head.%" PRIu32 "].next=%" PRIu64 "@kick:%" PRIu64,
		    pos(s, t, 0, t->chain_len - 2),
		    pick(s, t->queue_size, UINT32_MAX), kick_n(s, t));
}

static unsigned int gen_desc_loop(uint64_t *s, const struct flt_target *t,
				  char spec[FLT_MAX_SPECS][FLT_SPEC_LEN])
{
	uint32_t k = pos(s, t, 0, t->chain_len - 2);

	return one(spec, "null:desc[head.%" PRIu32 "].next=head.%" PRIu64
		    "@kick:%" PRIu64, k, pick(s, 0, k), kick_n(s, t));
}

static unsigned int gen_desc_middle_head(uint64_t *s,
					 const struct flt_target *t,
					 char spec[FLT_MAX_SPECS][FLT_SPEC_LEN])
{
	return one(spec, "null:desc[head.%" PRIu32 "].flags^=1@kick:%" PRIu64,
		    pos(s, t, 1, t->chain_len - 1), kick_n(s, t));
}

static unsigned int gen_desc_shared(uint64_t *s, const struct flt_target *t,
				    char spec[FLT_MAX_SPECS][FLT_SPEC_LEN])
{
	return one(spec, "blk:desc[head].next=avail.ring[last-1]@kick:%" PRIu64,
		    kick_n(s, t));
}

/* A readable descriptor after a writable one: make the first readable
 * writable if another readable follows, else the second writable
 * readable, else swap the directions of the last readable and the first
 * writable. */
static unsigned int gen_desc_out_after_in(uint64_t *s,
					  const struct flt_target *t,
					  char spec[FLT_MAX_SPECS][FLT_SPEC_LEN])
{
	uint64_t n = kick_n(s, t);
	uint32_t out = t->chain_out, in = t->chain_len - t->chain_out;

	if (out >= 2)
		return one(spec, "null:desc[head].flags^=4@kick:%" PRIu64, n);
	if (in >= 2)
		return one(spec, "null:desc[head.%" PRIu32 "].flags^=4@kick:%"
			    PRIu64, out + 1, n);
	snprintf(spec[1], FLT_SPEC_LEN,
		 "null:desc[head.%" PRIu32 "].flags^=4@kick:%" PRIu64, out, n);
	one(spec, "null:desc[head.%" PRIu32 "].flags^=4@kick:%" PRIu64,
	    out - 1, n);
	return 2;
}

static unsigned int gen_desc_unknown_flags(uint64_t *s,
					   const struct flt_target *t,
					   char spec[FLT_MAX_SPECS][FLT_SPEC_LEN])
{
	return one(spec, "null:desc[head.%" PRIu32 "].flags^=%" PRIu64
		    "@kick:%" PRIu64, pos(s, t, 0, t->chain_len - 1),
		    (uint64_t)1 << pick(s, 3, 15), kick_n(s, t));
}

/* Past the end of guest memory by its page, by its length, or with both
 * so large that a 32-bit sum would come back inside. */
static unsigned int gen_desc_bad_addr(uint64_t *s, const struct flt_target *t,
				      char spec[FLT_MAX_SPECS][FLT_SPEC_LEN])
{
	uint32_t k = pos(s, t, 0, t->chain_len - 1);
	uint64_t n = kick_n(s, t);

	switch (pick(s, 0, 2)) {
	case 0:
		return one(spec, "null:desc[head.%" PRIu32 "].pfn=%" PRIu64
			    "@kick:%" PRIu64, k,
			    pick(s, t->mem_pages, UINT32_MAX), n);
	case 1:
		return one(spec, "null:desc[head.%" PRIu32 "].len=%" PRIu64
			    "@kick:%" PRIu64, k,
			    pick(s, (uint64_t)t->mem_pages * 4096, UINT32_MAX),
			    n);
	default:
		snprintf(spec[1], FLT_SPEC_LEN, "null:desc[head.%" PRIu32
			 "].len=%" PRIu64 "@kick:%" PRIu64, k,
			 pick(s, 1u << 31, UINT32_MAX), n);
		one(spec, "null:desc[head.%" PRIu32 "].pfn=%" PRIu64
		    "@kick:%" PRIu64, k, pick(s, 0xfff00000u, UINT32_MAX), n);
		return 2;
	}
}

static unsigned int gen_desc_zero_len(uint64_t *s, const struct flt_target *t,
				      char spec[FLT_MAX_SPECS][FLT_SPEC_LEN])
{
	return one(spec, "null:desc[head.%" PRIu32 "].len=0@kick:%" PRIu64,
		    pos(s, t, 0, t->chain_len - 1), kick_n(s, t));
}

static unsigned int gen_used_idx_jump(uint64_t *s, const struct flt_target *t,
				      char spec[FLT_MAX_SPECS][FLT_SPEC_LEN])
{
	return one(spec, "null:used.idx+=%" PRIu64 "@irq:%" PRIu64,
		    pick(s, t->queue_size + 1, 1u << 31), irq_n(s, t));
}

static unsigned int gen_used_id_range(uint64_t *s, const struct flt_target *t,
				      char spec[FLT_MAX_SPECS][FLT_SPEC_LEN])
{
	return one(spec, "null:used.ring[last].id=%" PRIu64 "@irq:%" PRIu64,
		    pick(s, t->queue_size, UINT32_MAX), irq_n(s, t));
}

static unsigned int gen_used_id_not_head(uint64_t *s,
					 const struct flt_target *t,
					 char spec[FLT_MAX_SPECS][FLT_SPEC_LEN])
{
	return one(spec, "null:used.ring[last].id=head.%" PRIu32 "@irq:%" PRIu64,
		    pos(s, t, 1, t->chain_len - 1), irq_n(s, t));
}

static unsigned int gen_used_len_range(uint64_t *s, const struct flt_target *t,
				       char spec[FLT_MAX_SPECS][FLT_SPEC_LEN])
{
	return one(spec, "null:used.ring[last].len+=%" PRIu64 "@irq:%" PRIu64,
		    pick(s, 1u << 20, 1u << 31), irq_n(s, t));
}

static unsigned int gen_desc_tampered(uint64_t *s, const struct flt_target *t,
				      char spec[FLT_MAX_SPECS][FLT_SPEC_LEN])
{
	static const char *const fields[] = { "pfn", "len", "offset",
					      "flags", "next" };

	return one(spec, "null:desc[head.%" PRIu32 "].%s^=%" PRIu64 "@irq:%" PRIu64,
		    pos(s, t, 0, t->chain_len - 1), fields[pick(s, 0, 4)],
		    pick(s, 1, 0xffff), irq_n(s, t));
}

static unsigned int gen_blk_bad_request(uint64_t *s, const struct flt_target *t,
					char spec[FLT_MAX_SPECS][FLT_SPEC_LEN])
{
	return one(spec, "blk:desc[head].len+=%" PRIu64 "@kick:%" PRIu64,
		    pick(s, 1, 64), kick_n(s, t));
}

static unsigned int gen_net_tx_direction(uint64_t *s,
					 const struct flt_target *t,
					 char spec[FLT_MAX_SPECS][FLT_SPEC_LEN])
{
	return one(spec, "net.tx:desc[head].flags^=4@kick:%" PRIu64, kick_n(s, t));
}

static unsigned int gen_net_rx_direction(uint64_t *s,
					 const struct flt_target *t,
					 char spec[FLT_MAX_SPECS][FLT_SPEC_LEN])
{
	(void)s;
	(void)t;
	/* The first receive buffers are the ones frames certainly reach. */
	return one(spec, "net.rx:desc[head].flags^=4@kick:1");
}

const struct flt_class flt_classes[] = {
	{ "avail_idx_jump", "null", 0, { "host:avail_idx_jump" },
	  "the driver's avail idx runs more than a queue ahead",
	  gen_avail_idx_jump },
	{ "avail_head_range", "null", 0, { "host:avail_head_range" },
	  "an available slot names a descriptor beyond the queue",
	  gen_avail_head_range },
	{ "avail_not_head", "null", 0, { "host:avail_not_head" },
	  "the head made available lost its HEAD flag",
	  gen_avail_not_head },
	{ "avail_head_dup", "null", 0,
	  { "guest:used_id_not_head", "host:avail_not_head",
	    "host:avail_head_busy", "host:desc_shared" },
	  "a head made available twice; the null device completes the first "
	  "at once, so the driver sees the second completion, or the device "
	  "a head the driver already freed, or one whose descriptors the "
	  "driver has since given to another chain in flight",
	  gen_avail_head_dup },
	{ "avail_head_busy", "blk", 0,
	  { "host:avail_head_busy", "guest:used_id_not_head",
	    "host:avail_not_head", "host:desc_shared",
	    "guest:used_len_range", "guest:desc_tampered" },
	  "a head made available twice while the blk device still holds it; "
	  "if a worker finished it first, as avail_head_dup, or the second "
	  "completion no longer fits the request the driver has since posted "
	  "under that head", gen_avail_head_busy },
	{ "desc_next_range", "null", 2, { "host:desc_next_range" },
	  "a chain continues at a descriptor beyond the queue",
	  gen_desc_next_range },
	{ "desc_loop", "null", 2, { "host:desc_loop" },
	  "a chain continues at one of its own descriptors",
	  gen_desc_loop },
	{ "desc_middle_head", "null", 2, { "host:desc_middle_head" },
	  "a descriptor inside a chain carries HEAD",
	  gen_desc_middle_head },
	{ "desc_shared", "blk", 0,
	  { "host:desc_shared", "host:desc_middle_head", "host:desc_loop",
	    "host:blk_bad_request", "guest:desc_tampered" },
	  "a chain continues into the previous request's chain: shared while "
	  "that one is in flight; once it is done, its HEAD, its shape or the "
	  "driver's own record gives it away", gen_desc_shared },
	{ "desc_out_after_in", "null", 2, { "host:desc_out_after_in" },
	  "a readable descriptor follows a writable one",
	  gen_desc_out_after_in },
	{ "desc_unknown_flags", "null", 0, { "host:desc_unknown_flags" },
	  "a descriptor carries flag bits beyond HEAD, NEXT and WRITE",
	  gen_desc_unknown_flags },
	{ "desc_bad_addr", "null", 0, { "host:desc_bad_addr" },
	  "a buffer reaches outside guest memory, sums that would wrap "
	  "included", gen_desc_bad_addr },
	{ "desc_zero_len", "null", 0, { "host:desc_zero_len" },
	  "a buffer of length 0", gen_desc_zero_len },
	{ "used_idx_jump", "null", 0, { "guest:used_idx_jump" },
	  "the device's used idx runs past what is in flight",
	  gen_used_idx_jump },
	{ "used_id_range", "null", 0, { "guest:used_id_range" },
	  "a completion names a descriptor beyond the queue",
	  gen_used_id_range },
	{ "used_id_not_head", "null", 2, { "guest:used_id_not_head" },
	  "a completion names a descriptor inside a chain, not its head",
	  gen_used_id_not_head },
	{ "used_len_range", "null", 0, { "guest:used_len_range" },
	  "a completion claims more bytes than the chain can hold",
	  gen_used_len_range },
	{ "desc_tampered", "null", 0, { "guest:desc_tampered" },
	  "the device changed a descriptor of a chain in flight",
	  gen_desc_tampered },
	{ "blk_bad_request", "blk", 0, { "host:blk_bad_request" },
	  "a blk request header of the wrong size", gen_blk_bad_request },
	{ "net_tx_direction", "net.tx", 0,
	  { "host:net_bad_direction", "host:desc_out_after_in" },
	  "a frame to transmit in a device-writable buffer (when readable "
	  "buffers of the frame follow it, the order check sees it first)",
	  gen_net_tx_direction },
	{ "net_rx_direction", "net.rx", 0, { "host:net_bad_direction" },
	  "a receive buffer the device may only read",
	  gen_net_rx_direction },
};

const unsigned int flt_nclasses = sizeof(flt_classes) / sizeof(flt_classes[0]);

int flt_class_expects(const struct flt_class *c, const char *side,
		      const char *check)
{
	size_t n = strlen(side);
	unsigned int i;

	for (i = 0; i < 6 && c->expect[i]; i++)
		if (!strncmp(c->expect[i], side, n) && c->expect[i][n] == ':' &&
		    !strcmp(c->expect[i] + n + 1, check))
			return 1;
	return 0;
}
