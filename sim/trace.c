// SPDX-License-Identifier: MIT
/*
 * The ring-event trace.  Each side appends fixed-size records to its own
 * buffer (no lock between the threads), spilling to its own temporary file;
 * at the end the sides are merged by time (threaded) or are already one
 * stream (stepped) and written out as one line per event.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

#define TRACE_BUF_RECS 4096

struct trace_rec {
	uint64_t seq;
	uint64_t when;		/* step (stepped) or ns since start (threaded) */
	const struct vring_detection *det;
	uint64_t a, b;
	uint32_t idx, head, ndesc;
	uint8_t side, queue, type;
};

struct trace {
	FILE *spill;		/* records that left the buffer, in order */
	uint64_t nspilled;
	unsigned int n;
	struct trace_rec buf[TRACE_BUF_RECS];
};

struct trace *trace_create(void)
{
	struct trace *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->spill = tmpfile();
	if (!t->spill) {
		free(t);
		return NULL;
	}
	return t;
}

void trace_destroy(struct trace *t)
{
	if (!t)
		return;
	fclose(t->spill);
	free(t);
}

static void spill(struct trace *t)
{
	if (fwrite(t->buf, sizeof(t->buf[0]), t->n, t->spill) != t->n)
		abort();	/* a trace with a hole would lie */
	t->nspilled += t->n;
	t->n = 0;
}

void trace_add(struct trace *t, uint64_t seq, uint64_t when, enum sim_side side,
	       unsigned int queue, const struct vring_event *ev)
{
	struct trace_rec *r;

	if (t->n == TRACE_BUF_RECS)
		spill(t);
	r = &t->buf[t->n++];
	r->seq = seq;
	r->when = when;
	r->det = ev->det;
	r->a = ev->a;
	r->b = ev->b;
	r->idx = ev->idx;
	r->head = ev->head;
	r->ndesc = ev->ndesc;
	r->side = (uint8_t)side;
	r->queue = (uint8_t)queue;
	r->type = (uint8_t)ev->type;
}

/* Reads a trace's records back in order, spilled ones first. */
struct trace_reader {
	struct trace *t;
	uint64_t left_in_file;
	unsigned int next_in_buf;
	struct trace_rec cur;
	bool valid;
};

static void reader_next(struct trace_reader *r)
{
	if (r->left_in_file) {
		r->valid = fread(&r->cur, sizeof(r->cur), 1, r->t->spill) == 1;
		if (!r->valid)
			abort();
		r->left_in_file--;
		return;
	}
	r->valid = r->next_in_buf < r->t->n;
	if (r->valid)
		r->cur = r->t->buf[r->next_in_buf++];
}

static void reader_init(struct trace_reader *r, struct trace *t)
{
	memset(r, 0, sizeof(*r));
	r->t = t;
	if (!t)
		return;
	fflush(t->spill);
	rewind(t->spill);
	r->left_in_file = t->nspilled;
	reader_next(r);
}

static void write_line(FILE *f, const struct trace_rec *r,
		       const char *const *queue_names, bool stepped)
{
	static const char *const names[] = {
		[VRING_EV_ADD] = "add",
		[VRING_EV_PUBLISH] = "publish",
		[VRING_EV_KICK] = "kick",
		[VRING_EV_CONSUME] = "consume",
		[VRING_EV_GATHER] = "gather",
		[VRING_EV_USE] = "use",
		[VRING_EV_INTERRUPT] = "irq",
		[VRING_EV_GET_BUF] = "get_buf",
		[VRING_EV_DETACH] = "detach",
		[VRING_EV_RESTART] = "restart",
		[VRING_EV_CHECK] = "check",
	};
	const char *idx_name = r->side == SIM_GUEST ? "avail_idx" : "used_idx";
	unsigned int i;

	fprintf(f, "%" PRIu64, r->seq);
	if (stepped)
		fprintf(f, " step=%" PRIu64, r->when);
	else
		fprintf(f, " t=%" PRIu64 ".%06" PRIu64, r->when / 1000000000u,
			r->when % 1000000000u / 1000u);
	fprintf(f, " %s %s %s", r->side == SIM_GUEST ? "guest" : "host",
		queue_names[r->queue], names[r->type]);
	switch ((enum vring_event_type)r->type) {
	case VRING_EV_ADD:
		fprintf(f, " head=%" PRIu32 " ndesc=%" PRIu32 " out=%" PRIu64
			" in=%" PRIu64 " avail_idx=%" PRIu32, r->head, r->ndesc,
			r->a, r->b, r->idx);
		break;
	case VRING_EV_PUBLISH:
		fprintf(f, " %s=%" PRIu32 " count=%" PRIu64, idx_name, r->idx,
			r->a);
		break;
	case VRING_EV_KICK:
	case VRING_EV_INTERRUPT:
		fprintf(f, " %s=%" PRIu32, idx_name, r->idx);
		break;
	case VRING_EV_CONSUME:
		fprintf(f, " avail_idx=%" PRIu32 " head=%" PRIu32, r->idx,
			r->head);
		break;
	case VRING_EV_GATHER:
		fprintf(f, " head=%" PRIu32 " ndesc=%" PRIu32 " out=%" PRIu64
			" in=%" PRIu64, r->head, r->ndesc, r->a, r->b);
		break;
	case VRING_EV_USE:
	case VRING_EV_GET_BUF:
		fprintf(f, " head=%" PRIu32 " len=%" PRIu64 " used_idx=%" PRIu32,
			r->head, r->a, r->idx);
		break;
	case VRING_EV_DETACH:
		fprintf(f, " head=%" PRIu32 " ndesc=%" PRIu32, r->head,
			r->ndesc);
		break;
	case VRING_EV_RESTART:
		fprintf(f, " last_used_idx=%" PRIu32 " more=%" PRIu64, r->idx,
			r->a);
		break;
	case VRING_EV_CHECK:
		fprintf(f, " %s", r->det->check);
		for (i = 0; i < r->det->nvalues; i++)
			fprintf(f, " %s=%" PRIu64, r->det->values[i].name,
				r->det->values[i].value);
		break;
	}
	fputc('\n', f);
}

int trace_write(FILE *f, struct trace *a, struct trace *b,
		const char *const *queue_names, bool stepped)
{
	struct trace_reader ra, rb;

	reader_init(&ra, a);
	reader_init(&rb, b);
	while (ra.valid || rb.valid) {
		struct trace_reader *r;

		/* Ties go to a: the guest, which moved first. */
		if (!rb.valid || (ra.valid && ra.cur.when <= rb.cur.when))
			r = &ra;
		else
			r = &rb;
		write_line(f, &r->cur, queue_names, stepped);
		reader_next(r);
	}
	return ferror(f) ? -1 : 0;
}
