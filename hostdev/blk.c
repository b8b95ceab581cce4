// SPDX-License-Identifier: MIT
/*
 * The blk device (the seed launcher's get_outhdr and service_io, repaired):
 * parse a request from a gathered chain, do its I/O at an explicit offset
 * on any thread, and complete it on the queue's thread.  A malformed
 * request is ring corruption (blk_bad_request); a request past the end of
 * the disk is not, and completes with IOERR.  Guest memory is only ever
 * touched with untorn accesses (see copy_from_guest).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "blk.h"
#include "hostdev.h"

#define HDR_LEN		sizeof(struct vring_blk_outhdr)
/* Bytes of I/O per system call: the bounce buffer, whole sectors and a
 * multiple of any O_DIRECT alignment. */
#define BOUNCE_LEN	(64u << 10)

/* The request's data buffers: everything between header and status. */
static void take_data(struct hblk_req *r, const struct hvq_chain *c)
{
	unsigned int n = c->out_num + c->in_num, k;

	r->ndata = n - 2;
	r->data_len = 0;
	for (k = 0; k < r->ndata; k++) {
		r->data[k] = c->iov[1 + k];
		r->data_len += c->iov[1 + k].iov_len;
	}
}

int blk_dev_pop(struct hvq *vq, struct hblk_req *r)
{
	struct vring_blk_outhdr hdr;
	struct hvq_chain c;
	unsigned int n, wrong = 0;
	uint32_t type;
	int ret;

	ret = hvq_pop(vq, &c);
	if (ret <= 0)
		return ret;
	n = c.out_num + c.in_num;
	if (n < 2)
		return hvq_reject(vq, HVQ_E_BLK_BAD_REQUEST, "head", c.head,
				  "ndesc", n, NULL, 0);
	if (!c.out_num || c.iov[0].iov_len != HDR_LEN)
		return hvq_reject(vq, HVQ_E_BLK_BAD_REQUEST, "head", c.head,
				  "hdr_len", c.iov[0].iov_len,
				  "hdr_writable", !c.out_num);
	if (!c.in_num || c.iov[n - 1].iov_len != 1)
		return hvq_reject(vq, HVQ_E_BLK_BAD_REQUEST, "head", c.head,
				  "status_len", c.iov[n - 1].iov_len,
				  "status_writable", c.in_num != 0);

	/* One copy of the header: the driver may rewrite it meanwhile. */
	vring_copy_from_guest((uint8_t *)&hdr, c.iov[0].iov_base, HDR_LEN);
	type = vring_le32(hdr.type);
	r->head = c.head;
	r->barrier = type & VRING_BLK_T_BARRIER;
	r->type = type & ~VRING_BLK_T_BARRIER;
	r->sector = vring_le64(hdr.sector);
	r->status = c.iov[n - 1].iov_base;
	r->result = VRING_BLK_S_OK;
	r->written = 0;

	/* Data the device would write from (IN) or read into (OUT) by
	 * mistake: the chain contradicts its own header. */
	if (r->type == VRING_BLK_T_IN)
		wrong = c.out_num - 1;
	else if (r->type == VRING_BLK_T_OUT)
		wrong = c.in_num - 1;
	if (wrong)
		return hvq_reject(vq, HVQ_E_BLK_BAD_REQUEST, "head", c.head,
				  "type", type, "wrong_direction", wrong);
	take_data(r, &c);
	return 1;
}

/* Where an I/O has got to in the request's data buffers. */
struct cursor {
	const struct iovec *v;
	unsigned int left;		/* buffers from v on */
	size_t off;			/* bytes of v already done */
};

/* Move up to n bytes between the bounce buffer and the guest buffers at
 * the cursor, advancing it; returns how many. */
static size_t cursor_copy(struct cursor *c, uint8_t *bounce, size_t n,
			  bool to_guest)
{
	size_t done = 0;

	while (done < n && c->left) {
		uint8_t *g = (uint8_t *)c->v->iov_base + c->off;
		size_t k = c->v->iov_len - c->off;

		if (k > n - done)
			k = n - done;
		if (to_guest)
			vring_copy_to_guest(g, bounce + done, k);
		else
			vring_copy_from_guest(bounce + done, g, k);
		done += k;
		c->off += k;
		if (c->off == c->v->iov_len) {
			c->v++;
			c->left--;
			c->off = 0;
		}
	}
	return done;
}

/* pread/pwrite all of buf[0, len) at off, resuming after short transfers;
 * returns the bytes moved, with *err 0 or the errno that stopped it (EIO
 * for a transfer of nothing, which only a shrunk file can cause). */
static size_t file_io(int fd, bool write, uint8_t *buf, size_t len, off_t off,
		      int *err)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write ? pwrite(fd, buf + done, len - done, off) :
				    pread(fd, buf + done, len - done, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*err = n < 0 ? errno : EIO;
			break;
		}
		done += (size_t)n;
		off += n;
	}
	return done;
}

/*
 * r's data, len bytes, to or from the disk at off, through an aligned
 * bounce buffer (O_DIRECT's alignment is then ours to keep, whatever the
 * guest's).  Returns the bytes moved; *err as file_io.
 */
static uint64_t do_io(int fd, bool write, const struct hblk_req *r,
		      off_t off, int *err)
{
	_Alignas(VRING_PAGE_SIZE) uint8_t bounce[BOUNCE_LEN];
	struct cursor c = { .v = r->data, .left = r->ndata, .off = 0 };
	uint64_t done = 0;

	*err = 0;
	while (done < r->data_len && !*err) {
		size_t n = r->data_len - done < BOUNCE_LEN ?
			   (size_t)(r->data_len - done) : BOUNCE_LEN, m;

		if (write)
			cursor_copy(&c, bounce, n, false);
		m = file_io(fd, write, bounce, n, off, err);
		if (!write)
			cursor_copy(&c, bounce, m, true);
		done += m;
		off += (off_t)m;
	}
	return done;
}

void blk_dev_execute(struct hblk_req *r, int fd, uint64_t sectors)
{
	bool write = r->type == VRING_BLK_T_OUT;
	uint64_t done;
	int err;

	r->written = 1;		/* the status byte */
	if (r->type != VRING_BLK_T_IN && r->type != VRING_BLK_T_OUT) {
		r->result = VRING_BLK_S_UNSUPP;
		return;
	}
	/* Written so that nothing can overflow: sector may be anything. */
	if (r->data_len % VRING_BLK_SECTOR_SIZE || r->sector > sectors ||
	    r->data_len / VRING_BLK_SECTOR_SIZE > sectors - r->sector) {
		r->result = VRING_BLK_S_IOERR;
		return;
	}
	done = do_io(fd, write, r,
		     (off_t)(r->sector * VRING_BLK_SECTOR_SIZE), &err);
	r->result = err ? VRING_BLK_S_IOERR : VRING_BLK_S_OK;
	if (!write) {
		/* What reached guest memory, even of a failed read; the
		 * driver's writable total is a u32, so this fits unless the
		 * driver lied, which the clamp covers. */
		done += r->written;
		r->written = done > UINT32_MAX ? UINT32_MAX : (uint32_t)done;
	}
}

void blk_dev_complete(struct hvq *vq, const struct hblk_req *r)
{
	/* Ordered before the used idx by hvq_notify's release (Barrier B). */
	WRITE_ONCE(*r->status, r->result);
	hvq_add_used(vq, r->head, r->written);
}
