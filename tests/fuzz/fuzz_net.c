// SPDX-License-Identifier: MIT
/*
 * The net device's queues: the fuzzer's bytes are a transmit or a receive
 * queue (option bit 3), as a hostile driver left it.  The device pops a
 * few chains at a time and completes them (a transmit is only read; a
 * receive buffer gets a frame), until the ring is empty or a check fires.
 * Each pop is compared with the model of the ring rules; a chain of the
 * wrong direction must fire net_bad_direction and nothing else; an
 * accepted one is all readable (tx) or all writable (rx), its buffers in
 * guest memory; and the device writes nowhere else.
 */
#include "fuzz.h"
#include "hostdev.h"

FUZZ_NOCOV_BEGIN

#define MAX_BATCH	4u	/* chains held at once */
#define FRAME_MAX	1514u	/* an Ethernet frame, header included */

/*
 * Options (the input's byte 5): bits 0-1, chains popped before any is
 * completed, less one; then complete them last first; then the receive
 * queue, not the transmit one; then interrupt after each batch; then
 * reset the device and run the same input again.
 */
#define OPT_BATCH_MASK	3u
#define OPT_REVERSE	4u
#define OPT_RX		8u
#define OPT_NOTIFY	16u
#define OPT_RESET	32u

static struct {
	struct vring_mem mem;
	uint8_t *snap;
	struct fuzz_replay replay;
	struct hmodel m;
	struct htrack t;
	struct hpop pop[MAX_BATCH];
	struct hvq_chain chain[MAX_BATCH];
	struct fuzz_ranges writes;
} fx;

static void on_irq(void *ctx)
{
	(void)ctx;
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

/* The accepted chain is the walked one, through checked pointers. */
static void check_chain(const struct hvq_chain *c, const struct hpop *p)
{
	uint32_t k;

	ASSERT(c->head == p->head && c->out_num == p->out_num &&
	       c->in_num == p->in_num && c->out_len == p->out_len &&
	       c->in_len == p->in_len, "chain at head %u came back as head "
	       "%u, %u+%u buffers", p->head, c->head, c->out_num, c->in_num);
	for (k = 0; k < p->n; k++)
		ASSERT(c->iov[k].iov_base == hpop_ptr(&fx.m, p, k) &&
		       c->iov[k].iov_len == p->len[k] &&
		       vring_mem_contains(&fx.mem, c->iov[k].iov_base,
					  c->iov[k].iov_len),
		       "head %u: buffer %u is not descriptor %u's", p->head, k,
		       p->idx[k]);
}

/*
 * Pop chain j as the model predicts it; returns the device's answer (1
 * for a chain accepted, its buffers then allowed to be written).
 */
static int pop_one(struct hvq *vq, uint32_t j, bool rx)
{
	struct hpop *p = &fx.pop[j];
	struct hvq_chain *c = &fx.chain[j];
	const struct vring_detection *det;
	uint32_t k;
	int ret;

	hmodel_pop(&fx.m, p);
	fx.t.cur = p;
	ret = rx ? net_dev_rx_pop(vq, c) : net_dev_tx_pop(vq, c);
	fx.t.cur = NULL;
	det = hvq_detection(vq);
	if (p->ret != 1) {
		hpop_compare(p, ret, det, rx ? "rx pop" : "tx pop");
		return ret;
	}
	if (rx ? p->out_num : p->in_num) {
		ASSERT(ret == -EIO && det &&
		       !strcmp(det->check, "net_bad_direction"),
		       "head %u: %u+%u buffers on %s gave %d (%s)", p->head,
		       p->out_num, p->in_num, rx ? "rx" : "tx", ret,
		       det ? det->check : "no check");
		hmodel_reject(&fx.m);
		return ret;
	}
	ASSERT(ret == 1 && !det, "head %u: a good chain gave %d (%s)",
	       p->head, ret, det ? det->check : "no check");
	check_chain(c, p);
	for (k = 0; k < p->n; k++)
		if (p->writable[k])
			fuzz_ranges_add(&fx.writes, p->gpa[k], p->len[k]);
	return 1;
}

/* Receive a frame into c, as the wire would; returns its length. */
static uint32_t receive(const struct hvq_chain *c, uint32_t seq)
{
	uint32_t len = 0, k, i;

	for (k = 0; k < c->in_num && len < FRAME_MAX; k++) {
		uint8_t *b = c->iov[k].iov_base;

		for (i = 0; i < c->iov[k].iov_len && len < FRAME_MAX; i++)
			b[i] = (uint8_t)(seq + len++);
	}
	return len;
}

/* The device on the queue as the input left it, until it stops. */
static void run(struct hvq *vq, const struct fuzz_in *in)
{
	const struct vring_detection *det;
	uint32_t batch, iter, j, k, npopped, len;
	bool rx = in->opts & OPT_RX;
	int ret = 1;

	fx.writes.n = 0;
	fuzz_ranges_add_used(&fx.writes, in->num);
	hmodel_init(&fx.m, &fx.mem, in->num, in->start);
	htrack_init(&fx.t, &fx.m, in->start);
	batch = 1 + (in->opts & OPT_BATCH_MASK);

	for (iter = 0; ret == 1 && iter < 2 * in->num; iter++) {
		for (npopped = 0; npopped < batch; npopped++) {
			ret = pop_one(vq, npopped, rx);
			if (ret != 1)
				break;
		}
		for (k = 0; k < npopped; k++) {
			j = in->opts & OPT_REVERSE ? npopped - 1 - k : k;
			len = rx ? receive(&fx.chain[j], iter * MAX_BATCH + j) :
				   0;
			fx.t.want_len[fx.chain[j].head] = len;
			hvq_add_used(vq, fx.chain[j].head, len);
			hmodel_use(&fx.m, fx.chain[j].head);
		}
		ASSERT(hvq_in_flight(vq) == fx.m.in_flight,
		       "%u chains in flight, the model has %u",
		       hvq_in_flight(vq), fx.m.in_flight);
		if (in->opts & OPT_NOTIFY)
			hvq_notify(vq);
	}
	hvq_notify(vq);
	htrack_done(&fx.t);

	det = hvq_detection(vq);
	if (det)
		ASSERT((rx ? net_dev_rx_pop(vq, &fx.chain[0]) :
			net_dev_tx_pop(vq, &fx.chain[0])) == -EIO &&
		       hvq_detection(vq) == det, "the check did not latch");
	fuzz_check_writes(&fx.mem, fx.snap, &fx.writes, "net device");
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
