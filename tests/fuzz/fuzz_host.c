// SPDX-License-Identifier: MIT
/*
 * Host side: the fuzzer's bytes are a queue, and a little guest memory, as
 * a hostile driver left them.  The null device processes it until nothing
 * is available or a check fires.  Each pop is compared with the model of
 * the rules (fuzz.h), each completion must be an echo of exactly its chain,
 * and the device may have written only its used ring and the writable
 * buffers of chains it accepted.
 */
#include "fuzz.h"
#include "hostdev.h"

FUZZ_NOCOV_BEGIN

/* Chains of up to this many writable bytes and descriptors get their
 * echo checked byte for byte. */
#define MAX_ECHO	16384u
#define MAX_CHECKED	16u

/*
 * Options (the input's byte 5): bit 0, interrupt after each chain, not
 * only at the end; bit 1, then reset the device and run the same input
 * again.
 */
#define OPT_NOTIFY	1u
#define OPT_RESET	2u

static struct {
	struct vring_mem mem;
	uint8_t *snap;		/* guest memory before the device ran */
	struct fuzz_replay replay;
	struct hmodel m;
	struct htrack t;
	struct hpop pop;	/* the current prediction */
	struct fuzz_ranges writes;	/* where the device may write */
	uint32_t irqs;
	uint8_t want[MAX_ECHO];	/* the echo's writable bytes, after */
	uint8_t got[MAX_ECHO];
} fx;

static void on_irq(void *ctx)
{
	(void)ctx;
	fx.irqs++;
}

static void on_event(void *ctx, const struct vring_event *ev)
{
	(void)ctx;
	htrack_event(&fx.t, ev);
}

static const struct hvq_ops ops = {
	.interrupt = on_irq,
	.event = on_event,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	ASSERT(vring_mem_map(&fx.mem, FUZZ_MEM_SIZE) == 0, "cannot map");
	fx.snap = malloc(FUZZ_MEM_SIZE);
	fx.replay.after = malloc(FUZZ_MEM_SIZE);
	ASSERT(fx.snap && fx.replay.after, "out of memory");
	return 0;
}

/* Copy the chain's buffers (readable or writable ones) end to end. */
static uint64_t gather(const struct hpop *p, bool writable, uint8_t *buf,
		       uint64_t max)
{
	uint64_t n = 0;
	uint32_t k;

	for (k = 0; k < p->n && n < max; k++) {
		uint64_t c = p->len[k] < max - n ? p->len[k] : max - n;

		if (p->writable[k] != writable)
			continue;
		memcpy(buf + n, hpop_ptr(&fx.m, p, k), c);
		n += c;
	}
	return n;
}

/*
 * What the echo must leave in the writable buffers, when that is well
 * defined: small, no writable buffer overlapping another buffer of the
 * chain, nor the used ring (where the device then records the chain).
 * Returns false when the chain is not checked byte for byte.
 */
static bool predict_echo(const struct hpop *p, uint32_t len)
{
	uint8_t *src = fx.got;
	uint32_t a, b;

	if (p->n > MAX_CHECKED || p->in_len > MAX_ECHO)
		return false;
	for (a = 0; a < p->n; a++) {
		if (p->writable[a] &&
		    fuzz_meets_used(fx.m.num, p->gpa[a], p->len[a]))
			return false;
		for (b = 0; b < p->n; b++)
			if (a != b && (p->writable[a] || p->writable[b]) &&
			    p->gpa[a] < p->gpa[b] + p->len[b] &&
			    p->gpa[b] < p->gpa[a] + p->len[a])
				return false;
	}
	gather(p, true, fx.want, MAX_ECHO);
	gather(p, false, src, len);
	memcpy(fx.want, src, len);
	return true;
}

/* The device on the queue as the input left it, until it stops. */
static void run(struct hvq *vq, const struct fuzz_in *in)
{
	struct hpop *p = &fx.pop;
	const struct vring_detection *det;
	uint32_t iter;
	int ret = 0;

	fx.irqs = 0;
	fx.writes.n = 0;
	fuzz_ranges_add_used(&fx.writes, in->num);
	hmodel_init(&fx.m, &fx.mem, in->num, in->start);
	htrack_init(&fx.t, &fx.m, in->start);

	/* A driver can make num chains available, and a ring it rewrites
	 * through the echo a few more: the bound only stops a runaway. */
	for (iter = 0; iter < 4 * in->num; iter++) {
		bool checked = false;
		uint32_t irqs = fx.irqs;

		hmodel_pop(&fx.m, p);
		if (p->ret == 1) {
			uint64_t l = p->out_len < p->in_len ? p->out_len :
				     p->in_len;

			/* The echo: as far as both parts reach. */
			l = l > UINT32_MAX ? UINT32_MAX : l;
			fx.t.want_len[p->head] = (uint32_t)l;
			checked = predict_echo(p, (uint32_t)l);
		}
		fx.t.cur = p;
		ret = null_dev_process(vq);
		fx.t.cur = NULL;
		det = hvq_detection(vq);
		hpop_compare(p, ret, det, "null_dev_process");
		if (det)
			ASSERT(!strcmp(det->check,
				       hvq_check_name(hvq_error(vq))),
			       "detection %s, error %s", det->check,
			       hvq_check_name(hvq_error(vq)));
		if (ret == 1) {
			uint32_t k;

			for (k = 0; k < p->n; k++)
				if (p->writable[k])
					fuzz_ranges_add(&fx.writes, p->gpa[k],
							p->len[k]);
			hmodel_use(&fx.m, p->head);
			if (checked) {
				gather(p, true, fx.got, MAX_ECHO);
				ASSERT(!memcmp(fx.got, fx.want, p->in_len),
				       "head %u: the writable buffers do not "
				       "hold the echo of the readable ones",
				       p->head);
			}
		}
		ASSERT(hvq_in_flight(vq) == fx.m.in_flight,
		       "%u chains in flight, the model has %u",
		       hvq_in_flight(vq), fx.m.in_flight);
		if ((in->opts & OPT_NOTIFY) && hvq_notify(vq))
			ASSERT(fx.irqs == irqs + 1, "no interrupt");
		if (ret <= 0)
			break;
	}
	hvq_notify(vq);
	htrack_done(&fx.t);

	det = hvq_detection(vq);
	if (det) {
		/* Latched: the device never parses this queue again. */
		hmodel_pop(&fx.m, p);
		ASSERT(null_dev_process(vq) == -EIO &&
		       hvq_detection(vq) == det, "the check did not latch");
	}
	fuzz_check_writes(&fx.mem, fx.snap, &fx.writes, "null device");
}

static void one_input(const uint8_t *data, size_t size)
{
	struct fuzz_in in;
	struct hvq *vq;

	fuzz_load(&fx.mem, data, size, &in);
	memcpy(fx.snap, fx.mem.base, FUZZ_MEM_SIZE);
	vq = hvq_create(&fx.mem, fx.mem.base, in.num, in.start, &ops, NULL);
	ASSERT(vq, "hvq_create failed");
	run(vq, &in);
	if (in.opts & OPT_RESET) {
		fuzz_replay_save(&fx.replay, &fx.mem, fx.snap, fx.t.uses,
				 hvq_detection(vq));
		hvq_reset(vq, in.start);
		run(vq, &in);
		fuzz_replay_check(&fx.replay, &fx.mem, fx.t.uses,
				  hvq_detection(vq));
	}
	hvq_destroy(vq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one_input(data, size);
	return 0;
}

FUZZ_NOCOV_END
