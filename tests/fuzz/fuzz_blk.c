// SPDX-License-Identifier: MIT
/*
 * The blk device's request parsing and I/O: the fuzzer's bytes are a queue
 * and the guest memory of its requests (headers, data, status bytes), as a
 * hostile driver left them.  The device pops a few requests, does their
 * I/O on a small memfd disk and completes them, until the ring is empty or
 * a check fires.  Each pop is compared with the model of the ring rules
 * and of the request's shape; each result with the disk's size; the data
 * with a shadow of the disk; and the device may have written only the
 * writable buffers of requests it accepted, and its used ring.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "blk.h"
#include "hostdev.h"

FUZZ_NOCOV_BEGIN

#define DISK_SECTORS	32u
#define DISK_BYTES	(DISK_SECTORS * VRING_BLK_SECTOR_SIZE)
#define MAX_BATCH	4u	/* requests held at once */

/*
 * Options (the input's byte 5): bits 0-1, requests popped before any is
 * completed, less one; then complete them last first; then interrupt
 * after each batch, not only at the end; then reset the device and run
 * the same input again.
 */
#define OPT_BATCH_MASK	3u
#define OPT_REVERSE	4u
#define OPT_NOTIFY	8u
#define OPT_RESET	16u

static struct {
	struct vring_mem mem;
	uint8_t *snap;
	int fd;
	uint8_t disk[DISK_BYTES];	/* what the disk must hold */
	uint8_t buf[DISK_BYTES];
	uint8_t disk_after[DISK_BYTES];	/* after the first round */
	struct fuzz_replay replay;
	struct hmodel m;
	struct htrack t;
	struct hpop pop[MAX_BATCH];
	struct hblk_req req[MAX_BATCH];
	uint8_t want_result[MAX_BATCH];
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
	/* A disk in memory: real preadv/pwritev, nothing on the file
	 * system, and one descriptor for the whole run. */
	fx.fd = memfd_create("vqsim-fuzz-disk", MFD_CLOEXEC);
	ASSERT(fx.fd >= 0, "memfd_create failed");
	return 0;
}

/*
 * Is this chain, which passed the ring checks, a request the device must
 * refuse (blk_bad_request)?  A readable 16-byte header first, a writable
 * 1-byte status last, and data buffers that go the way the header's type
 * says: readable for OUT, writable for IN.  *hdr is the header as the
 * guest wrote it.
 */
static bool bad_request(const struct hpop *p, struct vring_blk_outhdr *hdr)
{
	uint32_t type;

	if (p->n < 2 || p->writable[0] ||
	    p->len[0] != sizeof(struct vring_blk_outhdr) ||
	    !p->writable[p->n - 1] || p->len[p->n - 1] != 1)
		return true;
	memcpy(hdr, hpop_ptr(&fx.m, p, 0), sizeof(*hdr));
	type = vring_le32(hdr->type) & ~VRING_BLK_T_BARRIER;
	return (type == VRING_BLK_T_IN && p->out_num > 1) ||
	       (type == VRING_BLK_T_OUT && p->in_num > 1);
}

/* The parsed request is the chain, through checked pointers. */
static void check_req(const struct hblk_req *r, const struct hpop *p,
		      const struct vring_blk_outhdr *hdr)
{
	uint32_t type = vring_le32(hdr->type), k;
	uint64_t len = 0;

	ASSERT(r->head == p->head && r->ndata == p->n - 2 &&
	       r->type == (type & ~VRING_BLK_T_BARRIER) &&
	       r->barrier == !!(type & VRING_BLK_T_BARRIER) &&
	       r->sector == vring_le64(hdr->sector),
	       "request at head %u parsed as head %u, %u data, type %#x%s, "
	       "sector %llu", p->head, r->head, r->ndata, r->type,
	       r->barrier ? " barrier" : "", (unsigned long long)r->sector);
	for (k = 0; k < r->ndata; k++) {
		ASSERT(r->data[k].iov_base == hpop_ptr(&fx.m, p, 1 + k) &&
		       r->data[k].iov_len == p->len[1 + k] &&
		       vring_mem_contains(&fx.mem, r->data[k].iov_base,
					  r->data[k].iov_len),
		       "head %u: data buffer %u is not descriptor %u's",
		       p->head, k, p->idx[1 + k]);
		len += r->data[k].iov_len;
	}
	ASSERT(r->data_len == len, "head %u: data_len %llu, buffers %llu",
	       p->head, (unsigned long long)r->data_len,
	       (unsigned long long)len);
	ASSERT(r->status == hpop_ptr(&fx.m, p, p->n - 1) &&
	       vring_mem_contains(&fx.mem, r->status, 1),
	       "head %u: the status byte is not the last buffer", p->head);
}

/* Do the data buffers overlap each other? */
static bool data_overlaps(const struct hblk_req *r)
{
	uint32_t a, b;

	for (a = 0; a < r->ndata; a++)
		for (b = a + 1; b < r->ndata; b++) {
			const uint8_t *x = r->data[a].iov_base;
			const uint8_t *y = r->data[b].iov_base;

			if (x < y + r->data[b].iov_len &&
			    y < x + r->data[a].iov_len)
				return true;
		}
	return false;
}

/* Execute request j: the result and the bytes moved are the disk's. */
static void execute(uint32_t j)
{
	struct hblk_req *r = &fx.req[j];
	uint8_t result = VRING_BLK_S_OK;
	uint32_t written = 1, k;
	uint64_t off, n;

	if (r->type != VRING_BLK_T_IN && r->type != VRING_BLK_T_OUT)
		result = VRING_BLK_S_UNSUPP;
	else if (r->data_len % VRING_BLK_SECTOR_SIZE ||
		 r->sector > DISK_SECTORS ||
		 r->data_len / VRING_BLK_SECTOR_SIZE >
		 DISK_SECTORS - r->sector)
		result = VRING_BLK_S_IOERR;	/* past the end: no check */
	off = r->sector * VRING_BLK_SECTOR_SIZE;

	/* What an OUT takes from the guest, before anything moves. */
	if (result == VRING_BLK_S_OK && r->type == VRING_BLK_T_OUT)
		for (k = 0, n = 0; k < r->ndata; n += r->data[k++].iov_len)
			memcpy(fx.disk + off + n, r->data[k].iov_base,
			       r->data[k].iov_len);
	if (result == VRING_BLK_S_OK && r->type == VRING_BLK_T_IN)
		written += (uint32_t)r->data_len;

	blk_dev_execute(r, fx.fd, DISK_SECTORS);
	ASSERT(r->result == result && r->written == written,
	       "head %u type %#x sector %llu, %llu bytes: result %u written "
	       "%u, the disk says %u and %u", r->head, r->type,
	       (unsigned long long)r->sector,
	       (unsigned long long)r->data_len, r->result, r->written, result,
	       written);
	fx.want_result[j] = result;
	fx.t.want_len[r->head] = written;
	if (result != VRING_BLK_S_OK || r->data_len == 0)
		return;
	if (r->type == VRING_BLK_T_IN) {
		/* Buffers that overlap hold whichever part came last. */
		if (data_overlaps(r))
			return;
		for (k = 0, n = 0; k < r->ndata; n += r->data[k++].iov_len)
			ASSERT(!memcmp(r->data[k].iov_base, fx.disk + off + n,
				       r->data[k].iov_len),
			       "head %u: read buffer %u is not the disk's "
			       "bytes at %llu", r->head, k,
			       (unsigned long long)(off + n));
	} else {
		ASSERT(pread(fx.fd, fx.buf, r->data_len, (off_t)off) ==
		       (ssize_t)r->data_len &&
		       !memcmp(fx.buf, fx.disk + off, r->data_len),
		       "head %u: the disk does not hold what was written at "
		       "%llu", r->head, (unsigned long long)off);
	}
}

/*
 * Pop request j as the model predicts it; returns the device's answer (1
 * for a request accepted, its writable buffers then allowed to change).
 */
static int pop_one(struct hvq *vq, uint32_t j)
{
	struct hpop *p = &fx.pop[j];
	const struct vring_detection *det;
	struct vring_blk_outhdr hdr;
	uint32_t k;
	int ret;

	hmodel_pop(&fx.m, p);
	fx.t.cur = p;
	ret = blk_dev_pop(vq, &fx.req[j]);
	fx.t.cur = NULL;
	det = hvq_detection(vq);
	if (p->ret != 1) {
		hpop_compare(p, ret, det, "blk_dev_pop");
		return ret;
	}
	if (bad_request(p, &hdr)) {
		ASSERT(ret == -EIO && det &&
		       !strcmp(det->check, "blk_bad_request"),
		       "head %u: a bad request gave %d (%s)", p->head, ret,
		       det ? det->check : "no check");
		hmodel_reject(&fx.m);
		return ret;
	}
	ASSERT(ret == 1 && !det, "head %u: a good request gave %d (%s)",
	       p->head, ret, det ? det->check : "no check");
	check_req(&fx.req[j], p, &hdr);
	for (k = 0; k < p->n; k++)
		if (p->writable[k])
			fuzz_ranges_add(&fx.writes, p->gpa[k], p->len[k]);
	return 1;
}

/* The device on the queue as the input left it, until it stops. */
static void run(struct hvq *vq, const struct fuzz_in *in)
{
	const struct vring_detection *det;
	uint32_t batch, iter, j, k, npopped;
	int ret = 1;

	for (k = 0; k < DISK_BYTES; k++)
		fx.disk[k] = (uint8_t)(k * 7 + (k >> 9));
	ASSERT(ftruncate(fx.fd, DISK_BYTES) == 0 &&
	       pwrite(fx.fd, fx.disk, DISK_BYTES, 0) == DISK_BYTES,
	       "cannot write the disk");
	fx.writes.n = 0;
	fuzz_ranges_add_used(&fx.writes, in->num);
	hmodel_init(&fx.m, &fx.mem, in->num, in->start);
	htrack_init(&fx.t, &fx.m, in->start);
	batch = 1 + (in->opts & OPT_BATCH_MASK);

	for (iter = 0; ret == 1 && iter < 2 * in->num; iter++) {
		for (npopped = 0; npopped < batch; npopped++) {
			ret = pop_one(vq, npopped);
			if (ret != 1)
				break;
		}
		for (j = 0; j < npopped; j++)
			execute(j);
		for (k = 0; k < npopped; k++) {
			j = in->opts & OPT_REVERSE ? npopped - 1 - k : k;
			blk_dev_complete(vq, &fx.req[j]);
			ASSERT(*fx.req[j].status == fx.want_result[j] ||
			       fuzz_meets_used(in->num, (uint64_t)
					       (fx.req[j].status - fx.mem.base),
					       1),
			       "head %u: status %u, not %u", fx.req[j].head,
			       *fx.req[j].status, fx.want_result[j]);
			hmodel_use(&fx.m, fx.req[j].head);
		}
		ASSERT(hvq_in_flight(vq) == fx.m.in_flight,
		       "%u requests in flight, the model has %u",
		       hvq_in_flight(vq), fx.m.in_flight);
		if (in->opts & OPT_NOTIFY)
			hvq_notify(vq);
	}
	hvq_notify(vq);
	htrack_done(&fx.t);

	det = hvq_detection(vq);
	if (det)
		ASSERT(blk_dev_pop(vq, &fx.req[0]) == -EIO &&
		       hvq_detection(vq) == det, "the check did not latch");
	ASSERT(pread(fx.fd, fx.buf, DISK_BYTES, 0) == DISK_BYTES &&
	       !memcmp(fx.buf, fx.disk, DISK_BYTES),
	       "the disk changed where no request wrote");
	fuzz_check_writes(&fx.mem, fx.snap, &fx.writes, "blk device");
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
		/* Requests still held (a refused one) are forgotten. */
		fuzz_replay_save(&fx.replay, &fx.mem, fx.snap, fx.t.uses,
				 hvq_detection(vq));
		memcpy(fx.disk_after, fx.disk, DISK_BYTES);
		hvq_reset(vq, in.start);
		run(vq, &in);
		fuzz_replay_check(&fx.replay, &fx.mem, fx.t.uses,
				  hvq_detection(vq));
		ASSERT(!memcmp(fx.disk, fx.disk_after, DISK_BYTES),
		       "after a reset, the disk ends up other than the "
		       "first time");
	}
	hvq_destroy(vq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one_input(data, size);
	return 0;
}

FUZZ_NOCOV_END
