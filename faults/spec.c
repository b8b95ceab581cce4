// SPDX-License-Identifier: MIT
/*
 * The fault-spec language: parse it with errors that point at the bad
 * token, print it back, and apply a spec to a ring through the layout
 * accessors at the moment of a publication.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults.h"

static const char *const queues[] = {
	"blk", "net.rx", "net.tx", "null", "peer.rx", "peer.tx",
};

/* In the order of enum flt_field from FLT_DESC_PFN on. */
static const char *const desc_fields[] = {
	"pfn", "len", "offset", "flags", "next",
};
_Static_assert(FLT_DESC_NEXT - FLT_DESC_PFN == 4, "desc_fields order");

struct parser {
	const char *p;
	char *err;
	size_t errlen;
};

static int fail(struct parser *ps, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct parser *ps, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ps->err, ps->errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Length of the word at p: letters, digits and '_' (and '.' if dots). */
static size_t word_len(const char *p, int dots)
{
	size_t n = 0;

	while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') ||
	       (p[n] >= '0' && p[n] <= '9') || p[n] == '_' ||
	       (dots && p[n] == '.'))
		n++;
	return n;
}

/* The token at p for an error message: the word there, or the rest. */
static const char *token(const char *p, char *buf, size_t len)
{
	size_t n = word_len(p, 1);

	if (!n)
		n = *p ? 1 : 0;
	if (n >= len)
		n = len - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return *p ? buf : "end of spec";
}

static int eat(struct parser *ps, const char *s)
{
	size_t n = strlen(s);

	if (strncmp(ps->p, s, n) != 0)
		return 0;
	ps->p += n;
	return 1;
}

/* A u32 (decimal or 0x hex) at ps->p. */
static int number(struct parser *ps, uint64_t max, uint64_t *v,
		  const char *what)
{
	char tok[32], *end;
	unsigned long long x;

	if (*ps->p < '0' || *ps->p > '9')
		return fail(ps, "expected %s at '%s'", what,
			    token(ps->p, tok, sizeof(tok)));
	errno = 0;
	x = strtoull(ps->p, &end, 0);
	if (errno || x > max || word_len(end, 0))
		return fail(ps, "bad %s '%s' (a number up to %" PRIu64 ")",
			    what, token(ps->p, tok, sizeof(tok)), max);
	*v = x;
	ps->p = end;
	return 0;
}

/* head or head.N */
static int head_ref(struct parser *ps, struct flt_operand *o)
{
	uint64_t n = 0;

	o->ref = FLT_REF_HEAD;
	if (eat(ps, ".")) {
		int ret = number(ps, VRING_MAX_SIZE - 1, &n, "N of head.N");

		if (ret)
			return ret;
	}
	o->n = (uint32_t)n;
	return 0;
}

/* last or last-N */
static int last_ref(struct parser *ps, uint32_t *n)
{
	uint64_t v = 0;
	int ret;

	if (eat(ps, "-")) {
		ret = number(ps, VRING_MAX_SIZE - 1, &v, "N of last-N");
		if (ret)
			return ret;
	}
	*n = (uint32_t)v;
	return 0;
}

/* I inside [...]: a number, last, last-N, head or head.N, then ']'. */
static int index_op(struct parser *ps, struct flt_operand *o)
{
	char tok[32];
	uint64_t v = 0;
	int ret;

	if (!eat(ps, "["))
		return fail(ps, "expected '[' at '%s'",
			    token(ps->p, tok, sizeof(tok)));
	if (eat(ps, "last")) {
		o->ref = FLT_REF_LAST;
		ret = last_ref(ps, &o->n);
		if (ret)
			return ret;
	} else if (eat(ps, "head")) {
		ret = head_ref(ps, o);
		if (ret)
			return ret;
	} else {
		ret = number(ps, UINT32_MAX, &v,
			     "an index (a number, last, last-N, head or head.N)");
		if (ret)
			return ret;
		o->ref = FLT_REF_NUM;
		o->n = (uint32_t)v;
	}
	if (!eat(ps, "]"))
		return fail(ps, "expected ']' at '%s'",
			    token(ps->p, tok, sizeof(tok)));
	return 0;
}

/* avail.ring[I] or used.ring[I].id as a value: I a number or last-N. */
static int slot_value(struct parser *ps, struct flt_operand *o, int used)
{
	struct flt_operand i = { 0 };
	char tok[32];
	int ret = index_op(ps, &i);

	if (ret)
		return ret;
	if (i.ref == FLT_REF_HEAD)
		return fail(ps, "a slot to copy is a number or last-N, "
			    "not head");
	if (used && !eat(ps, ".id"))
		return fail(ps, "expected '.id' at '%s'",
			    token(ps->p, tok, sizeof(tok)));
	o->ref = used ? FLT_REF_USED_ID : FLT_REF_AVAIL;
	o->n = i.n;
	o->last = i.ref == FLT_REF_LAST;
	return 0;
}

static int field(struct parser *ps, struct flt_spec *s)
{
	const char *start = ps->p;
	char tok[32];
	unsigned int i;
	int ret;

	if (eat(ps, "avail.")) {
		if (eat(ps, "idx")) {
			s->field = FLT_AVAIL_IDX;
			return 0;
		}
		if (!eat(ps, "ring"))
			goto unknown_sub;
		s->field = FLT_AVAIL_RING;
		return index_op(ps, &s->index);
	}
	if (eat(ps, "used.")) {
		if (eat(ps, "idx")) {
			s->field = FLT_USED_IDX;
			return 0;
		}
		if (!eat(ps, "ring"))
			goto unknown_sub;
		ret = index_op(ps, &s->index);
		if (ret)
			return ret;
		if (!strncmp(ps->p, ".id", 3) && !word_len(ps->p + 3, 0)) {
			s->field = FLT_USED_ID;
			ps->p += 3;
		} else if (!strncmp(ps->p, ".len", 4) &&
			   !word_len(ps->p + 4, 0)) {
			s->field = FLT_USED_LEN;
			ps->p += 4;
		}
		else
			return fail(ps, "unknown used-ring field '%s' "
				    "(expected .id or .len)",
				    token(ps->p, tok, sizeof(tok)));
		return 0;
	}
	if (eat(ps, "desc")) {
		ret = index_op(ps, &s->index);
		if (ret)
			return ret;
		if (!eat(ps, "."))
			return fail(ps, "expected '.' and a descriptor field "
				    "at '%s'", token(ps->p, tok, sizeof(tok)));
		for (i = 0; i < 5; i++) {
			size_t n = strlen(desc_fields[i]);

			if (!strncmp(ps->p, desc_fields[i], n) &&
			    !word_len(ps->p + n, 0)) {
				s->field = (enum flt_field)(FLT_DESC_PFN + i);
				ps->p += n;
				return 0;
			}
		}
		return fail(ps, "unknown field '%s' (expected pfn, len, "
			    "offset, flags or next)",
			    token(ps->p, tok, sizeof(tok)));
	}
	return fail(ps, "unknown field '%s' (expected avail.idx, "
		    "avail.ring[I], used.idx, used.ring[I].id, "
		    "used.ring[I].len or desc[I].FIELD)",
		    token(start, tok, sizeof(tok)));
unknown_sub:
	return fail(ps, "unknown field '%s' (expected %s)",
		    token(start, tok, sizeof(tok)),
		    start[0] == 'a' ? "avail.idx or avail.ring[I]" :
		    "used.idx, used.ring[I].id or used.ring[I].len");
}

int flt_parse(const char *text, struct flt_spec *spec, char *err,
	      size_t errlen)
{
	struct parser ps = { .p = text, .err = err, .errlen = errlen };
	const char *colon = strchr(text, ':');
	const char *stop = strpbrk(text, "=+^@[");
	char tok[32];
	uint64_t v = 0;
	unsigned int i;
	int ret;

	memset(spec, 0, sizeof(*spec));
	/* A queue is whatever comes before a ':' that precedes the
	 * operator (the moment has a ':' of its own, after the '@'). */
	if (colon && (!stop || colon < stop)) {
		size_t n = (size_t)(colon - text);

		for (i = 0; i < sizeof(queues) / sizeof(queues[0]); i++)
			if (strlen(queues[i]) == n &&
			    !strncmp(text, queues[i], n))
				break;
		if (i == sizeof(queues) / sizeof(queues[0])) {
			snprintf(err, errlen, "unknown queue '%.*s' (expected "
				 "blk, net.rx, net.tx, null, peer.rx or "
				 "peer.tx)", (int)(n < 16 ? n : 16), text);
			return -EINVAL;
		}
		memcpy(spec->queue, text, n);
		ps.p = colon + 1;
	}

	ret = field(&ps, spec);
	if (ret)
		return ret;

	if (eat(&ps, "="))
		spec->op = FLT_SET;
	else if (eat(&ps, "+="))
		spec->op = FLT_ADD;
	else if (eat(&ps, "^="))
		spec->op = FLT_XOR;
	else
		return fail(&ps, "expected '=', '+=' or '^=' at '%s'",
			    token(ps.p, tok, sizeof(tok)));

	if (eat(&ps, "head")) {
		ret = head_ref(&ps, &spec->value);
	} else if (eat(&ps, "avail.ring")) {
		ret = slot_value(&ps, &spec->value, 0);
	} else if (eat(&ps, "used.ring")) {
		ret = slot_value(&ps, &spec->value, 1);
	} else {
		ret = number(&ps, UINT32_MAX, &v,
			     "a value (a number, head, head.N, avail.ring[I] "
			     "or used.ring[I].id)");
		spec->value.ref = FLT_REF_NUM;
		spec->value.n = (uint32_t)v;
	}
	if (ret)
		return ret;

	if (!eat(&ps, "@"))
		return fail(&ps, "expected '@WHEN' at '%s'",
			    token(ps.p, tok, sizeof(tok)));
	if (eat(&ps, "kick:"))
		spec->moment = FLT_AT_KICK;
	else if (eat(&ps, "irq:"))
		spec->moment = FLT_AT_IRQ;
	else
		return fail(&ps, "unknown moment '%s' (expected kick:N or "
			    "irq:N)", token(ps.p, tok, sizeof(tok)));
	ret = number(&ps, UINT64_MAX, &spec->n, "N of the moment");
	if (ret)
		return ret;
	if (spec->n == 0)
		return fail(&ps, "moments count from 1: '%s'", text);
	if (*ps.p)
		return fail(&ps, "unexpected '%s' after the moment",
			    token(ps.p, tok, sizeof(tok)));
	return 0;
}

static void format_operand(char *buf, size_t len, const struct flt_operand *o)
{
	char slot[24];

	if (o->ref == FLT_REF_AVAIL || o->ref == FLT_REF_USED_ID) {
		struct flt_operand i = {
			.ref = o->last ? FLT_REF_LAST : FLT_REF_NUM, .n = o->n,
		};

		format_operand(slot, sizeof(slot), &i);
		snprintf(buf, len, o->ref == FLT_REF_AVAIL ? "avail.ring[%s]" :
			 "used.ring[%s].id", slot);
	} else if (o->ref == FLT_REF_LAST) {
		if (o->n)
			snprintf(buf, len, "last-%" PRIu32, o->n);
		else
			snprintf(buf, len, "last");
	} else if (o->ref == FLT_REF_HEAD) {
		if (o->n)
			snprintf(buf, len, "head.%" PRIu32, o->n);
		else
			snprintf(buf, len, "head");
	} else {
		snprintf(buf, len, "%" PRIu32, o->n);
	}
}

void flt_format(const struct flt_spec *s, char *buf, size_t len)
{
	static const char *const ops[] = { "=", "+=", "^=" };
	char idx[24], val[48];

	format_operand(idx, sizeof(idx), &s->index);
	format_operand(val, sizeof(val), &s->value);
	snprintf(buf, len, "%s%s", s->queue, s->queue[0] ? ":" : "");
	switch (s->field) {
	case FLT_AVAIL_IDX:
		snprintf(buf + strlen(buf), len - strlen(buf), "avail.idx");
		break;
	case FLT_AVAIL_RING:
		snprintf(buf + strlen(buf), len - strlen(buf),
			 "avail.ring[%s]", idx);
		break;
	case FLT_USED_IDX:
		snprintf(buf + strlen(buf), len - strlen(buf), "used.idx");
		break;
	case FLT_USED_ID:
	case FLT_USED_LEN:
		snprintf(buf + strlen(buf), len - strlen(buf),
			 "used.ring[%s].%s", idx,
			 s->field == FLT_USED_ID ? "id" : "len");
		break;
	default:
		snprintf(buf + strlen(buf), len - strlen(buf), "desc[%s].%s",
			 idx, desc_fields[s->field - FLT_DESC_PFN]);
		break;
	}
	snprintf(buf + strlen(buf), len - strlen(buf), "%s%s@%s:%" PRIu64,
		 ops[s->op], val, s->moment == FLT_AT_KICK ? "kick" : "irq",
		 s->n);
}

/*
 * Resolve an operand at this publication: last is the slot just written
 * (as a free-running index), head the descriptor it names, head.N the Nth
 * after it following the shared next fields, as far as they go.
 */
static int resolve(const struct flt_spec *s, const struct flt_operand *o,
		   const struct vring *vr, uint32_t idx, uint32_t *out)
{
	struct vring_used_elem e;
	struct vring_desc d;
	uint32_t head, k;

	if (o->ref == FLT_REF_NUM) {
		*out = o->n;
		return 1;
	}
	if (o->ref == FLT_REF_LAST) {
		*out = idx - 1 - o->n;
		return 1;
	}
	if (o->ref == FLT_REF_AVAIL || o->ref == FLT_REF_USED_ID) {
		uint32_t slot = o->last ? idx - 1 - o->n : o->n;

		if (o->ref == FLT_REF_AVAIL) {
			*out = vring_avail_ring_read(vr, slot);
		} else {
			vring_used_elem_read(vr, slot, &e);
			*out = e.id;
		}
		return 1;
	}
	if (s->moment == FLT_AT_KICK) {
		head = vring_avail_ring_read(vr, idx - 1);
	} else {
		vring_used_elem_read(vr, idx - 1, &e);
		head = e.id;
	}
	for (k = 0; k < o->n; k++) {
		if (head >= vr->num)
			return 0;
		vring_desc_read(vr, head, &d);
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		head = d.next;
	}
	if (head >= vr->num)
		return 0;
	*out = head;
	return 1;
}

static uint32_t operate(enum flt_op op, uint32_t old, uint32_t v)
{
	return op == FLT_SET ? v : op == FLT_ADD ? old + v : old ^ v;
}

int flt_apply(const struct flt_spec *s, const struct vring *vr, uint32_t *idx)
{
	struct vring_used_elem e;
	struct vring_desc d, was;
	uint32_t i = 0, v, old;

	if (!resolve(s, &s->value, vr, *idx, &v))
		return 0;
	if (s->field != FLT_AVAIL_IDX && s->field != FLT_USED_IDX &&
	    !resolve(s, &s->index, vr, *idx, &i))
		return 0;

	switch (s->field) {
	case FLT_AVAIL_IDX:
		/* The driver's own index at a kick is the value it is about
		 * to publish; at an interrupt, whatever the page holds. */
		if (s->moment == FLT_AT_KICK)
			*idx = operate(s->op, *idx, v);
		else
			vring_avail_idx_release(vr, operate(s->op,
				vring_avail_idx_acquire(vr), v));
		return 1;
	case FLT_USED_IDX:
		if (s->moment == FLT_AT_IRQ)
			*idx = operate(s->op, *idx, v);
		else
			vring_used_idx_release(vr, operate(s->op,
				vring_used_idx_acquire(vr), v));
		return 1;
	case FLT_AVAIL_RING:
		old = vring_avail_ring_read(vr, i);
		if (operate(s->op, old, v) == old)
			return 0;
		vring_avail_ring_write(vr, i, operate(s->op, old, v));
		return 1;
	case FLT_USED_ID:
	case FLT_USED_LEN:
		vring_used_elem_read(vr, i, &e);
		old = s->field == FLT_USED_ID ? e.id : e.len;
		if (operate(s->op, old, v) == old)
			return 0;
		if (s->field == FLT_USED_ID)
			e.id = operate(s->op, e.id, v);
		else
			e.len = operate(s->op, e.len, v);
		vring_used_elem_write(vr, i, e.id, e.len);
		return 1;
	default:
		break;
	}

	/* A descriptor: only those of the queue exist to corrupt. */
	if (i >= vr->num)
		return 0;
	vring_desc_read(vr, i, &d);
	was = d;
	switch (s->field) {
	case FLT_DESC_PFN:
		d.pfn = operate(s->op, d.pfn, v);
		break;
	case FLT_DESC_LEN:
		d.len = operate(s->op, d.len, v);
		break;
	case FLT_DESC_OFFSET:
		d.offset = (uint16_t)operate(s->op, d.offset, v);
		break;
	case FLT_DESC_FLAGS:
		d.flags = (uint16_t)operate(s->op, d.flags, v);
		break;
	default:
		d.next = operate(s->op, d.next, v);
		break;
	}
	if (!memcmp(&d, &was, sizeof(d)))
		return 0;
	vring_desc_write_fields(vr, i, &d);
	vring_desc_set_flags(vr, i, d.flags);
	return 1;
}
