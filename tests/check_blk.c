// SPDX-License-Identifier: MIT
/*
 * The blk device: every blk_bad_request shape built by hand with the mock
 * driver; the I/O of blk_dev_execute on a real file, past the end and
 * near 2^64 included; the driver's half; whole runs threaded and stepped
 * over queue sizes, the index wrap, --disk and --direct; the barrier's
 * ordering proved from the device's own log; exact replay.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk.h"
#include "guestdrv.h"
#include "harness.h"
#include "hostdev.h"
#include "run.h"
#include "tests.h"

#define F_HEAD		VRING_DESC_F_HEAD
#define F_NEXT		VRING_DESC_F_NEXT
#define F_WRITE		VRING_DESC_F_WRITE
#define BUF(k)		(MOCK_BUF_PFN + (k))
#define SECTOR		VRING_BLK_SECTOR_SIZE
#define DISK_SECTORS	64u

/* ---- a device on a mock ring ---- */

static void *gmem(struct host_fx *f, uint32_t page, uint32_t off, uint32_t len)
{
	void *p = vring_mem_at(&f->m.mem, mock_buf_gpa(page, off), len);

	ck_assert_ptr_nonnull(p);
	return p;
}

/* A little-endian header on buffer page 0, as a driver writes it. */
static void put_hdr(struct host_fx *f, uint32_t type, uint64_t sector)
{
	struct vring_blk_outhdr h = {
		.type = vring_le32(type), .ioprio = 0,
		.sector = vring_le64(sector),
	};

	memcpy(gmem(f, 0, 0, sizeof(h)), &h, sizeof(h));
}

/* ---- blk_bad_request, one shape per case ---- */

struct bad_desc {
	uint32_t page, len;
	uint16_t flags;		/* F_WRITE or 0; HEAD and NEXT are added */
};

static const struct bad_case {
	const char *what;
	uint32_t type;
	unsigned int n;
	struct bad_desc d[4];
	/* The values the check must report, after "head". */
	const char *name1;
	uint64_t value1;
	const char *name2;
	uint64_t value2;
} bad_cases[] = {
	{ "header too short", VRING_BLK_T_IN, 3,
	  { { 0, 8, 0 }, { 1, 512, F_WRITE }, { 2, 1, F_WRITE } },
	  "hdr_len", 8, "hdr_writable", 0 },
	{ "header too long", VRING_BLK_T_IN, 3,
	  { { 0, 32, 0 }, { 1, 512, F_WRITE }, { 2, 1, F_WRITE } },
	  "hdr_len", 32, "hdr_writable", 0 },
	{ "header writable", VRING_BLK_T_IN, 3,
	  { { 0, 16, F_WRITE }, { 1, 512, F_WRITE }, { 2, 1, F_WRITE } },
	  "hdr_len", 16, "hdr_writable", 1 },
	{ "status readable", VRING_BLK_T_OUT, 3,
	  { { 0, 16, 0 }, { 1, 512, 0 }, { 2, 1, 0 } },
	  "status_len", 1, "status_writable", 0 },
	{ "status two bytes", VRING_BLK_T_IN, 3,
	  { { 0, 16, 0 }, { 1, 512, F_WRITE }, { 2, 2, F_WRITE } },
	  "status_len", 2, "status_writable", 1 },
	{ "a single descriptor", VRING_BLK_T_IN, 1,
	  { { 0, 16, 0 } },
	  "ndesc", 1, NULL, 0 },
	{ "write with writable data", VRING_BLK_T_OUT, 3,
	  { { 0, 16, 0 }, { 1, 512, F_WRITE }, { 2, 1, F_WRITE } },
	  "type", VRING_BLK_T_OUT, "wrong_direction", 1 },
	{ "barrier write with writable data",
	  VRING_BLK_T_OUT | VRING_BLK_T_BARRIER, 4,
	  { { 0, 16, 0 }, { 1, 512, 0 }, { 3, 512, F_WRITE },
	    { 2, 1, F_WRITE } },
	  "type", VRING_BLK_T_OUT | VRING_BLK_T_BARRIER, "wrong_direction", 1 },
	{ "read with readable data", VRING_BLK_T_IN, 3,
	  { { 0, 16, 0 }, { 1, 512, 0 }, { 2, 1, F_WRITE } },
	  "type", VRING_BLK_T_IN, "wrong_direction", 1 },
};

/*
 * blk_bad_request (DESIGN.md section 4): a request whose header or status
 * is missing, of the wrong size or direction, or whose data contradicts
 * its type, is ring corruption, not an I/O error: the device rejects it
 * with the values it saw, writes nothing into guest memory, does not
 * interrupt, and stays latched.  A valid chain in the next slot stays
 * untouched.
 */
START_TEST(test_blk_bad_request)
{
	const struct bad_case *bc = &bad_cases[_i];
	const uint32_t start = UINT32_MAX - 1, head = 3;
	const struct vring_detection *det;
	struct vring_detection seen;
	struct hblk_req r;
	struct hvq_chain c;
	unsigned int k;
	struct host_fx f;
	void *snap;

	host_fx_init(&f, 8, start);
	put_hdr(&f, bc->type, 3);
	for (k = 0; k < bc->n; k++)
		mock_desc(&f.m, head + k, BUF(bc->d[k].page), 0, bc->d[k].len,
			  (uint16_t)(bc->d[k].flags | (k ? 0 : F_HEAD) |
				     (k + 1 < bc->n ? F_NEXT : 0)),
			  head + k + 1);
	mock_avail_push(&f.m, head);
	/* A valid read behind it, which must never be looked at. */
	mock_desc(&f.m, 0, BUF(0), 0, 16, F_HEAD | F_NEXT, 1);
	mock_desc(&f.m, 1, BUF(2), 8, 1, F_WRITE, 0);
	mock_avail_push(&f.m, 0);

	snap = mock_mem_snapshot(&f.m);
	ck_assert_msg(blk_dev_pop(f.vq, &r) == -EIO, "%s accepted", bc->what);
	ck_assert_int_eq(hvq_error(f.vq), HVQ_E_BLK_BAD_REQUEST);
	det = hvq_detection(f.vq);
	ck_assert_ptr_nonnull(det);
	ck_assert_str_eq(det->check, "blk_bad_request");
	ck_assert_uint_eq(det_value(det, "head"), head);
	ck_assert_uint_eq(det_value(det, bc->name1), bc->value1);
	if (bc->name2)
		ck_assert_uint_eq(det_value(det, bc->name2), bc->value2);
	ck_assert_uint_eq(det->nvalues, bc->name2 ? 3 : 2);
	ck_assert_msg(mock_mem_unchanged(&f.m, snap), "%s: guest memory "
		      "written", bc->what);
	ck_assert_uint_eq(f.irqs, 0);

	/* Latched: the valid chain behind it is not taken either. */
	seen = *det;
	ck_assert_int_eq(blk_dev_pop(f.vq, &r), -EIO);
	ck_assert_int_eq(hvq_pop(f.vq, &c), -EIO);
	ck_assert_int_eq(hvq_notify(f.vq), 0);
	ck_assert_int_eq(hvq_error(f.vq), HVQ_E_BLK_BAD_REQUEST);
	for (k = 0; k < seen.nvalues; k++)
		ck_assert_uint_eq(hvq_detection(f.vq)->values[k].value,
				  seen.values[k].value);
	ck_assert(mock_mem_unchanged(&f.m, snap));
	ck_assert_uint_eq(f.irqs, 0);
	free(snap);
	host_fx_fini(&f);
}
END_TEST

/* The same shapes made right are accepted and parsed, the header read as
 * little-endian, BARRIER split off the type; a request without data is
 * well-formed. */
START_TEST(test_blk_pop_valid)
{
	struct hblk_req r;
	struct host_fx f;

	host_fx_init(&f, 8, 0);
	put_hdr(&f, VRING_BLK_T_OUT | VRING_BLK_T_BARRIER, 0x123456789ull);
	mock_desc(&f.m, 2, BUF(0), 0, 16, F_HEAD | F_NEXT, 3);
	mock_desc(&f.m, 3, BUF(1), 0, 512, F_NEXT, 4);
	mock_desc(&f.m, 4, BUF(3), 0, 1024, F_NEXT, 6);
	mock_desc(&f.m, 6, BUF(2), 5, 1, F_WRITE, 0);
	mock_avail_push(&f.m, 2);
	ck_assert_int_eq(blk_dev_pop(f.vq, &r), 1);
	ck_assert_uint_eq(r.head, 2);
	ck_assert_uint_eq(r.type, VRING_BLK_T_OUT);
	ck_assert(r.barrier);
	ck_assert_uint_eq(r.sector, 0x123456789ull);
	ck_assert_uint_eq(r.ndata, 2);
	ck_assert_uint_eq(r.data_len, 1536);
	ck_assert_ptr_eq(r.data[0].iov_base, gmem(&f, 1, 0, 512));
	ck_assert_ptr_eq(r.data[1].iov_base, gmem(&f, 3, 0, 1024));
	ck_assert_ptr_eq(r.status, gmem(&f, 2, 5, 1));

	put_hdr(&f, VRING_BLK_T_IN, 7);
	mock_desc(&f.m, 0, BUF(0), 0, 16, F_HEAD | F_NEXT, 1);
	mock_desc(&f.m, 1, BUF(2), 9, 1, F_WRITE, 0);
	mock_avail_push(&f.m, 0);
	ck_assert_int_eq(blk_dev_pop(f.vq, &r), 1);
	ck_assert_uint_eq(r.type, VRING_BLK_T_IN);
	ck_assert(!r.barrier);
	ck_assert_uint_eq(r.ndata, 0);
	ck_assert_uint_eq(r.data_len, 0);
	ck_assert_int_eq(blk_dev_pop(f.vq, &r), 0);
	ck_assert_int_eq(hvq_error(f.vq), HVQ_E_NONE);
	host_fx_fini(&f);
}
END_TEST

/* ---- blk_dev_execute on a real file ---- */

/* A temporary disk of DISK_SECTORS, each byte a function of its offset. */
static int disk_open(void)
{
	char path[] = "/tmp/vqsim-blk-test-XXXXXX";
	uint8_t buf[DISK_SECTORS * SECTOR];
	unsigned int i;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + i / 512);
	ck_assert_int_eq(pwrite(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	return fd;
}

static void disk_expect_pristine(int fd)
{
	uint8_t buf[DISK_SECTORS * SECTOR + 1];
	unsigned int i;

	ck_assert_int_eq(pread(fd, buf, sizeof(buf), 0),
			 DISK_SECTORS * SECTOR);
	for (i = 0; i < DISK_SECTORS * SECTOR; i++)
		if (buf[i] != (uint8_t)(i * 7 + i / 512))
			ck_abort_msg("disk byte %u written", i);
}

/* A request by hand over data[0, n) of len bytes each. */
static void req_init(struct hblk_req *r, uint32_t type, uint64_t sector,
		     uint8_t (*data)[SECTOR * 2], unsigned int n, uint32_t len,
		     uint8_t *status)
{
	unsigned int k;

	memset(r, 0, sizeof(*r));
	r->type = type;
	r->sector = sector;
	r->ndata = n;
	for (k = 0; k < n; k++) {
		r->data[k].iov_base = data[k];
		r->data[k].iov_len = len;
		r->data_len += len;
	}
	r->status = status;
	r->result = 0xee;
}

/*
 * A request reaching past the last sector is IOERR and moves nothing,
 * however the arithmetic would wrap: sector*512 and sector+count both
 * overflow for sectors near 2^64 (the seed's check did).  Exactly up to
 * the end is fine.
 */
START_TEST(test_blk_past_end)
{
	static const struct {
		uint64_t sector;
		uint32_t len;
		uint8_t result;
	} cases[] = {
		{ DISK_SECTORS, SECTOR, VRING_BLK_S_IOERR },
		{ DISK_SECTORS - 1, 2 * SECTOR, VRING_BLK_S_IOERR },
		{ DISK_SECTORS + 1, 0, VRING_BLK_S_IOERR },
		{ UINT64_MAX, SECTOR, VRING_BLK_S_IOERR },
		{ UINT64_MAX, 0, VRING_BLK_S_IOERR },
		{ UINT64_MAX - 1, 2 * SECTOR, VRING_BLK_S_IOERR },
		/* * 512 wraps to 512: within the disk if computed naively. */
		{ (UINT64_MAX >> 9) + 2, SECTOR, VRING_BLK_S_IOERR },
		{ UINT64_MAX - DISK_SECTORS + 2, 2 * SECTOR,
		  VRING_BLK_S_IOERR },
		{ DISK_SECTORS, 0, VRING_BLK_S_OK },
		{ DISK_SECTORS - 2, 2 * SECTOR, VRING_BLK_S_OK },
	};
	uint8_t data[2][SECTOR * 2], status = 0xee;
	uint8_t disk[DISK_SECTORS * SECTOR];
	struct hblk_req r;
	unsigned int k, t;
	int fd = disk_open();

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		for (t = 0; t < 2; t++) {
			uint32_t type = t ? VRING_BLK_T_OUT : VRING_BLK_T_IN;

			memset(data, 0xa5, sizeof(data));
			req_init(&r, type, cases[k].sector, data,
				 cases[k].len ? 1 : 0, cases[k].len, &status);
			blk_dev_execute(&r, fd, DISK_SECTORS);
			ck_assert_msg(r.result == cases[k].result,
				      "sector %" PRIu64 " len %u: status %u",
				      cases[k].sector, cases[k].len, r.result);
			if (r.result != VRING_BLK_S_OK) {
				ck_assert_uint_eq(r.written, 1);
				ck_assert_uint_eq(data[0][0], 0xa5);
				ck_assert_uint_eq(data[0][SECTOR * 2 - 1],
						  0xa5);
			} else {
				ck_assert_uint_eq(r.written, 1 + (t ? 0 :
						  cases[k].len));
			}
			/* Execution only records: the status byte is
			 * written on completion. */
			ck_assert_uint_eq(status, 0xee);
		}
	}
	/* Only the in-range write reached the disk: its last two sectors. */
	ck_assert_int_eq(pread(fd, disk, sizeof(disk), 0),
			 (ssize_t)sizeof(disk));
	for (k = 0; k < sizeof(disk); k++)
		ck_assert_uint_eq(disk[k], k >= (DISK_SECTORS - 2) * SECTOR ?
				  0xa5 : (uint8_t)(k * 7 + k / 512));
	close(fd);
}
END_TEST

/* SCSI_CMD, and any type it does not know, are UNSUPP and touch neither
 * the data nor the disk; BARRIER does not change that. */
START_TEST(test_blk_unsupported)
{
	static const uint32_t types[] = {
		VRING_BLK_T_SCSI_CMD, 3, 7, 0x7fffffff,
	};
	uint8_t data[2][SECTOR * 2], status = 0xee;
	struct hblk_req r;
	unsigned int k;
	int fd = disk_open();

	for (k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
		memset(data, 0xa5, sizeof(data));
		req_init(&r, types[k], 0, data, 2, SECTOR, &status);
		r.barrier = k & 1;
		blk_dev_execute(&r, fd, DISK_SECTORS);
		ck_assert_uint_eq(r.result, VRING_BLK_S_UNSUPP);
		ck_assert_uint_eq(r.written, 1);
		ck_assert_uint_eq(data[0][0], 0xa5);
		ck_assert_uint_eq(data[1][SECTOR - 1], 0xa5);
	}
	disk_expect_pristine(fd);
	close(fd);
}
END_TEST

/* A data length that is not whole sectors is IOERR, in one buffer or
 * spread over two that add up wrong. */
START_TEST(test_blk_unaligned_len)
{
	uint8_t data[2][SECTOR * 2], status;
	struct hblk_req r;
	unsigned int t;
	int fd = disk_open();

	for (t = 0; t < 2; t++) {
		uint32_t type = t ? VRING_BLK_T_OUT : VRING_BLK_T_IN;

		memset(data, 0xa5, sizeof(data));
		req_init(&r, type, 0, data, 1, 100, &status);
		blk_dev_execute(&r, fd, DISK_SECTORS);
		ck_assert_uint_eq(r.result, VRING_BLK_S_IOERR);
		ck_assert_uint_eq(r.written, 1);
		req_init(&r, type, 4, data, 2, SECTOR + 128, &status);
		blk_dev_execute(&r, fd, DISK_SECTORS);
		ck_assert_uint_eq(r.result, VRING_BLK_S_IOERR);
		ck_assert_uint_eq(data[0][0], 0xa5);
	}
	disk_expect_pristine(fd);
	close(fd);
}
END_TEST

/* Writes land at sector * 512 across several buffers, reads bring them
 * back into buffers cut differently; used len counts the bytes written
 * into guest memory: data read plus the status byte. */
START_TEST(test_blk_round_trip)
{
	uint8_t out[2][SECTOR * 2], in[3][SECTOR * 2], disk[3 * SECTOR];
	uint8_t status;
	struct hblk_req r;
	unsigned int i;
	int fd = disk_open();

	for (i = 0; i < sizeof(out); i++)
		((uint8_t *)out)[i] = (uint8_t)(i * 13 + 1);
	/* 1.5 sectors twice: the boundary falls mid-sector. */
	req_init(&r, VRING_BLK_T_OUT, 5, out, 2, SECTOR * 3 / 2, &status);
	blk_dev_execute(&r, fd, DISK_SECTORS);
	ck_assert_uint_eq(r.result, VRING_BLK_S_OK);
	ck_assert_uint_eq(r.written, 1);
	ck_assert_int_eq(pread(fd, disk, sizeof(disk), 5 * SECTOR),
			 (ssize_t)sizeof(disk));
	ck_assert(memcmp(disk, out[0], SECTOR * 3 / 2) == 0);
	ck_assert(memcmp(disk + SECTOR * 3 / 2, out[1], SECTOR * 3 / 2) == 0);

	memset(in, 0, sizeof(in));
	req_init(&r, VRING_BLK_T_IN, 5, in, 3, SECTOR, &status);
	blk_dev_execute(&r, fd, DISK_SECTORS);
	ck_assert_uint_eq(r.result, VRING_BLK_S_OK);
	ck_assert_uint_eq(r.written, 3 * SECTOR + 1);
	for (i = 0; i < 3; i++)
		ck_assert(memcmp(in[i], disk + i * SECTOR, SECTOR) == 0);
	ck_assert_uint_eq(in[0][SECTOR], 0);	/* nothing past the buffer */

	/* Buffers at odd addresses with odd lengths (a driver may place them
	 * anywhere): 300 + 212 bytes out, 9 + 503 bytes back. */
	req_init(&r, VRING_BLK_T_OUT, 9, out, 2, 0, &status);
	r.data[0] = (struct iovec){ out[0] + 3, 300 };
	r.data[1] = (struct iovec){ out[1] + 5, 212 };
	r.data_len = SECTOR;
	blk_dev_execute(&r, fd, DISK_SECTORS);
	ck_assert_uint_eq(r.result, VRING_BLK_S_OK);
	memset(in, 0, sizeof(in));
	req_init(&r, VRING_BLK_T_IN, 9, in, 2, 0, &status);
	r.data[0] = (struct iovec){ in[0] + 1, 9 };
	r.data[1] = (struct iovec){ in[1] + 7, 503 };
	r.data_len = SECTOR;
	blk_dev_execute(&r, fd, DISK_SECTORS);
	ck_assert_uint_eq(r.result, VRING_BLK_S_OK);
	ck_assert_uint_eq(r.written, SECTOR + 1);
	ck_assert(memcmp(in[0] + 1, out[0] + 3, 9) == 0);
	ck_assert(memcmp(in[1] + 7, out[0] + 12, 291) == 0);
	ck_assert(memcmp(in[1] + 7 + 291, out[1] + 5, 212) == 0);
	ck_assert_uint_eq(in[0][0], 0);
	ck_assert_uint_eq(in[0][10], 0);
	ck_assert_uint_eq(in[1][510], 0);

	/* A neighbour, untouched. */
	req_init(&r, VRING_BLK_T_IN, 4, in, 1, SECTOR, &status);
	blk_dev_execute(&r, fd, DISK_SECTORS);
	for (i = 0; i < SECTOR; i++)
		ck_assert_uint_eq(in[0][i],
				  (uint8_t)((4 * SECTOR + i) * 7 + 4));
	close(fd);
}
END_TEST

/*
 * An I/O error is IOERR, and a read that stops early reports what it did
 * bring into guest memory: here the file is shorter than the capacity the
 * device was given, so preadv comes back short (mid-buffer) and then with
 * nothing.  A write to a descriptor opened read-only fails outright.
 */
START_TEST(test_blk_io_error)
{
	uint8_t data[2][SECTOR * 2], status;
	char path[] = "/tmp/vqsim-blk-test-XXXXXX";
	struct hblk_req r;
	unsigned int i;
	int fd = disk_open(), ro;

	ck_assert_int_eq(ftruncate(fd, 2 * SECTOR + 256), 0);
	memset(data, 0xa5, sizeof(data));
	req_init(&r, VRING_BLK_T_IN, 0, data, 2, 2 * SECTOR, &status);
	blk_dev_execute(&r, fd, DISK_SECTORS);
	ck_assert_uint_eq(r.result, VRING_BLK_S_IOERR);
	ck_assert_uint_eq(r.written, 2 * SECTOR + 256 + 1);
	for (i = 0; i < 2 * SECTOR + 256; i++)
		ck_assert_uint_eq(((uint8_t *)data)[i],
				  (uint8_t)(i * 7 + i / 512));
	ck_assert_uint_eq(data[1][256], 0xa5);
	close(fd);

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, DISK_SECTORS * SECTOR), 0);
	ro = open(path, O_RDONLY);
	unlink(path);
	ck_assert_int_ge(ro, 0);
	req_init(&r, VRING_BLK_T_OUT, 0, data, 1, SECTOR, &status);
	blk_dev_execute(&r, ro, DISK_SECTORS);
	ck_assert_uint_eq(r.result, VRING_BLK_S_IOERR);
	ck_assert_uint_eq(r.written, 1);
	close(ro);
	close(fd);
}
END_TEST

/* pop, execute, complete: the status byte and the used element are what
 * the driver sees, published by hvq_notify. */
START_TEST(test_blk_complete)
{
	const uint32_t start = UINT32_MAX;
	struct vring_used_elem e;
	struct hblk_req r;
	uint8_t *data;
	unsigned int i;
	struct host_fx f;
	int fd = disk_open();

	host_fx_init(&f, 4, start);
	put_hdr(&f, VRING_BLK_T_IN, 2);
	mock_desc(&f.m, 3, BUF(0), 0, 16, F_HEAD | F_NEXT, 0);
	mock_desc(&f.m, 0, BUF(1), 0, 2 * SECTOR, F_NEXT | F_WRITE, 1);
	mock_desc(&f.m, 1, BUF(2), 100, 1, F_WRITE, 0);
	*(uint8_t *)gmem(&f, 2, 100, 1) = 0xee;
	mock_avail_push(&f.m, 3);
	ck_assert_int_eq(blk_dev_pop(f.vq, &r), 1);
	blk_dev_execute(&r, fd, DISK_SECTORS);
	ck_assert_uint_eq(*(uint8_t *)gmem(&f, 2, 100, 1), 0xee);
	blk_dev_complete(f.vq, &r);
	ck_assert_uint_eq(*(uint8_t *)gmem(&f, 2, 100, 1), VRING_BLK_S_OK);
	ck_assert_uint_eq(vring_used_idx_acquire(&f.m.vr), start);
	ck_assert_int_eq(hvq_notify(f.vq), 1);
	ck_assert_uint_eq(f.irqs, 1);
	ck_assert_uint_eq(vring_used_idx_acquire(&f.m.vr), start + 1);
	vring_used_elem_read(&f.m.vr, start, &e);
	ck_assert_uint_eq(e.id, 3);
	ck_assert_uint_eq(e.len, 2 * SECTOR + 1);
	data = gmem(&f, 1, 0, 2 * SECTOR);
	for (i = 0; i < 2 * SECTOR; i++)
		ck_assert_uint_eq(data[i], (uint8_t)((2 * SECTOR + i) * 7 +
						     (2 * SECTOR + i) / 512));

	/* Past the end: IOERR, len 1, the chain given back all the same. */
	put_hdr(&f, VRING_BLK_T_IN, DISK_SECTORS);
	mock_avail_push(&f.m, 3);
	ck_assert_int_eq(blk_dev_pop(f.vq, &r), 1);
	blk_dev_execute(&r, fd, DISK_SECTORS);
	blk_dev_complete(f.vq, &r);
	ck_assert_int_eq(hvq_notify(f.vq), 1);
	vring_used_elem_read(&f.m.vr, start + 1, &e);
	ck_assert_uint_eq(e.id, 3);
	ck_assert_uint_eq(e.len, 1);
	ck_assert_uint_eq(*(uint8_t *)gmem(&f, 2, 100, 1), VRING_BLK_S_IOERR);
	ck_assert_uint_eq(hvq_in_flight(f.vq), 0);
	close(fd);
	host_fx_fini(&f);
}
END_TEST

/* ---- the driver's half ---- */

static void no_kick(void *ctx)
{
	(void)ctx;
}

static const struct gvq_ops quiet_ops = { .kick = no_kick };

/* The capacity is taken once: the word is descriptor 0's pfn, zeroed. */
START_TEST(test_blk_capacity)
{
	struct vring_desc d;
	struct mock_ring m;

	mock_ring_init(&m, 8, 0);
	vring_config_set(&m.vr, 0x12345678);
	ck_assert_uint_eq(gvq_blk_capacity(m.pages), 0x12345678);
	vring_desc_read(&m.vr, 0, &d);
	ck_assert_uint_eq(d.pfn, 0);
	ck_assert_uint_eq(gvq_blk_capacity(m.pages), 0);
	mock_ring_fini(&m);
}
END_TEST

/* The driver's chains are what the device accepts: header readable and
 * little-endian, data in the type's direction, status writable last. */
START_TEST(test_blk_driver_chains)
{
	static const uint32_t types[] = {
		VRING_BLK_T_IN, VRING_BLK_T_OUT,
		VRING_BLK_T_OUT | VRING_BLK_T_BARRIER, VRING_BLK_T_SCSI_CMD,
	};
	struct vring_blk_outhdr *hdr;
	struct gvq_sg data[2];
	struct hblk_req r;
	struct gvq *gvq;
	unsigned int k;
	uint32_t len;
	int token;
	struct host_fx f;

	host_fx_init(&f, 8, 0);
	gvq = gvq_create(f.m.pages, 8, 0, &quiet_ops, NULL);
	ck_assert_ptr_nonnull(gvq);
	hdr = gmem(&f, 0, 0, sizeof(*hdr));
	data[0] = (struct gvq_sg){ mock_buf_gpa(1, 0), SECTOR };
	data[1] = (struct gvq_sg){ mock_buf_gpa(3, 0), 2 * SECTOR };
	for (k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
		ck_assert_int_eq(gvq_blk_add(gvq, hdr, mock_buf_gpa(0, 0),
					     types[k], 1000 + k, data, 2,
					     mock_buf_gpa(2, 0), &token), 0);
		ck_assert_uint_eq(vring_le32(hdr->type), types[k]);
		ck_assert_uint_eq(vring_le64(hdr->sector), 1000 + k);
		ck_assert_uint_eq(hdr->ioprio, 0);
		ck_assert_int_eq(gvq_kick(gvq), 1);
		ck_assert_int_eq(blk_dev_pop(f.vq, &r), 1);
		ck_assert_uint_eq(r.type, types[k] & ~VRING_BLK_T_BARRIER);
		ck_assert_uint_eq(r.barrier, k == 2);
		ck_assert_uint_eq(r.sector, 1000 + k);
		ck_assert_uint_eq(r.ndata, 2);
		ck_assert_uint_eq(r.data_len, 3 * SECTOR);
		r.result = VRING_BLK_S_OK;
		r.written = 1;
		blk_dev_complete(f.vq, &r);
		hvq_notify(f.vq);
		ck_assert_ptr_eq(gvq_get_buf(gvq, &len), &token);
		ck_assert_uint_eq(len, 1);
	}
	/* No room for header + 255 data + status in any queue. */
	ck_assert_int_eq(gvq_blk_add(gvq, hdr, 0, 0, 0, data,
				     VRING_MAX_SIZE - 1, 0, &token), -EINVAL);
	ck_assert_int_eq(hvq_error(f.vq), HVQ_E_NONE);
	ck_assert_ptr_null(gvq_detection(gvq));
	gvq_destroy(gvq);
	host_fx_fini(&f);
}
END_TEST

/* ---- whole runs ---- */

static void blk_config(struct sim_config *cfg, uint64_t seed, bool stepped,
		       uint32_t queue_size, uint64_t requests)
{
	test_sim_config(cfg);
	cfg->devices = SIM_DEV_BLK;
	cfg->seed = seed;
	cfg->stepped = stepped;
	cfg->queue_size = queue_size;
	cfg->requests = requests;
	cfg->blk_workers = 4;
	/* Small, so sectors collide often and the final check is quick. */
	cfg->disk_size = 4u << 20;
	cfg->barrier_every = 8;
}

static void expect_blk_ok(const struct sim_config *cfg, struct sim_result *res)
{
	const struct sim_dev_result *d;

	ck_assert_int_eq(sim_run(cfg, res), 0);
	d = &res->devs[0];
	ck_assert_uint_eq(res->ndevs, 1);
	ck_assert_str_eq(d->name, "blk");
	ck_assert_msg(res->ok && d->verified, "seed %" PRIu64 " queue %u %s: "
		      "%" PRIu64 " mismatches, %" PRIu64 "/%" PRIu64
		      " completed, %u detections", cfg->seed, cfg->queue_size,
		      res->runner, d->mismatches, d->completed, d->requests,
		      res->ndetections);
	ck_assert(!res->stalled);
	ck_assert_uint_eq(d->requests, cfg->requests);
	ck_assert_uint_eq(d->completed, cfg->requests);
	ck_assert_uint_eq(d->in_flight, 0);
	ck_assert_uint_eq(d->mismatches, 0);
	/* Every request is one of these, and the error paths all ran. */
	ck_assert_uint_eq(d->reads + d->writes + d->barriers + d->ioerr +
			  d->unsupp, cfg->requests);
	ck_assert_uint_gt(d->reads, 0);
	ck_assert_uint_gt(d->writes, 0);
	ck_assert_uint_gt(d->ioerr, 0);
	ck_assert_uint_gt(d->unsupp, 0);
	if (cfg->barrier_every && cfg->requests >= 64 * cfg->barrier_every)
		ck_assert_uint_gt(d->barriers, 0);
	ck_assert_uint_ge(d->bytes, cfg->requests);
}

static const uint32_t run_sizes[] = { 2, 4, 16, 256 };
#define NSIZES	((int)(sizeof(run_sizes) / sizeof(run_sizes[0])))

/* Threaded with four I/O workers (and stepped), over queue sizes from
 * the smallest, where a request has no room for data, to a full page. */
START_TEST(test_blk_run_sizes)
{
	uint32_t num = run_sizes[_i % NSIZES];
	bool stepped = _i >= NSIZES;
	struct sim_config cfg;
	struct sim_result res;

	blk_config(&cfg, 100 + _i, stepped, num, num < 16 ? 3000 : 20000);
	expect_blk_ok(&cfg, &res);
	ck_assert_str_eq(res.runner, stepped ? "stepped" : "threaded");
	if (num == 2)
		/* Only the status byte: no data fits in two descriptors. */
		ck_assert_uint_eq(res.devs[0].bytes, cfg.requests);
	else
		ck_assert_uint_gt(res.devs[0].bytes, cfg.requests * SECTOR);
}
END_TEST

/*
 * --io-size: every read and write moves exactly that many bytes, so the
 * bytes the device wrote are the reads' data plus one status byte per
 * request (the error requests write none but their status).
 */
START_TEST(test_blk_io_size)
{
	struct sim_config cfg;
	struct sim_result res;

	blk_config(&cfg, 11, _i, 64, 4000);
	cfg.io_size = 4096;
	cfg.barrier_every = 0;
	expect_blk_ok(&cfg, &res);
	ck_assert_uint_eq(res.devs[0].barriers, 0);
	ck_assert_uint_eq(res.devs[0].bytes,
			  res.devs[0].reads * 4096 + cfg.requests);
}
END_TEST

/* Every free-running index crosses 2^32 during the run. */
START_TEST(test_blk_index_wrap)
{
	struct sim_config cfg;
	struct sim_result res;

	blk_config(&cfg, 7, _i, 16, 5000);
	cfg.start_index = UINT32_MAX - 40;
	expect_blk_ok(&cfg, &res);
}
END_TEST

/* One worker, barriers never or after every write: the two extremes. */
START_TEST(test_blk_barrier_extremes)
{
	struct sim_config cfg;
	struct sim_result res;

	blk_config(&cfg, 8, false, 64, 5000);
	cfg.blk_workers = _i ? 1 : 4;
	cfg.barrier_every = _i ? 0 : 1;
	expect_blk_ok(&cfg, &res);
	if (_i)
		ck_assert_uint_eq(res.devs[0].barriers, 0);
	else
		ck_assert_uint_gt(res.devs[0].barriers, res.devs[0].writes / 2);
}
END_TEST

static char tmpdir[64];

static void make_tmpdir(void)
{
	strcpy(tmpdir, "/tmp/vqsim-blk-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/*
 * --disk on a file that exists keeps its size and is zeroed first (its
 * old contents are unknown, so every sector can then be verified); on a
 * path that does not exist it is created with --disk-size.
 */
START_TEST(test_blk_disk_file)
{
	const off_t size = (3u << 20) + 5 * SECTOR + 100;
	char path[128];
	struct sim_config cfg;
	struct sim_result res;
	struct stat st;
	uint8_t junk[4096];
	off_t off;
	int fd;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/disk.img", tmpdir);
	fd = open(path, O_RDWR | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	for (off = 0; off < size; off += (off_t)sizeof(junk)) {
		size_t n = size - off < (off_t)sizeof(junk) ?
			   (size_t)(size - off) : sizeof(junk);

		memset(junk, (int)(off / 4096 * 37 + 1), sizeof(junk));
		ck_assert_int_eq(pwrite(fd, junk, n, off), (ssize_t)n);
	}
	close(fd);

	blk_config(&cfg, 11, _i, 256, 10000);
	cfg.disk_path = path;
	expect_blk_ok(&cfg, &res);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, size);

	snprintf(path, sizeof(path), "%s/new.img", tmpdir);
	cfg.disk_size = 2u << 20;
	expect_blk_ok(&cfg, &res);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 2u << 20);

	/* A disk that cannot be opened fails the setup, and unwinds it. */
	snprintf(path, sizeof(path), "%s/no/such/dir.img", tmpdir);
	ck_assert_int_eq(sim_run(&cfg, &res), -ENOENT);
	remove_tmpdir();
}
END_TEST

/* Can the file system of /tmp do O_DIRECT at all? */
static bool tmp_has_direct(void)
{
	char path[] = "/tmp/vqsim-direct-XXXXXX";
	int fd = mkstemp(path), ok;

	ck_assert_int_ge(fd, 0);
	unlink(path);
	ok = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_DIRECT) == 0;
	close(fd);
	return ok;
}

/* --direct: the guest's page-aligned buffers go to the disk without the
 * page cache, both ways, and the final check reads it back the same way. */
START_TEST(test_blk_direct)
{
	struct sim_config cfg;
	struct sim_result res;

	if (!tmp_has_direct()) {
		fprintf(stderr, "check_blk: skipping test_blk_direct: the "
			"file system of /tmp refuses O_DIRECT\n");
		return;
	}
	blk_config(&cfg, 12, _i, 64, 5000);
	cfg.direct = true;
	expect_blk_ok(&cfg, &res);
}
END_TEST

/* A log big enough for every event of a run of n requests. */
static void log_init(struct blk_log *log, uint64_t n)
{
	log->cap = 5 * n + 16;
	log->n = 0;
	log->overflow = false;
	log->ent = calloc(log->cap, sizeof(*log->ent));
	ck_assert_ptr_nonnull(log->ent);
	blk_test_log(log);
}

/*
 * The barrier, proved from the order the device recorded (under its lock,
 * so one total order across the host thread and the workers): for every
 * barrier request B, every request taken off the ring before B completed
 * before B's fdatasync returned; B's I/O ran after that fdatasync; and no
 * request after B was even taken off the ring before B completed.  So no
 * write issued after a barrier started before every earlier write was on
 * the disk.  Completions otherwise arrive out of order.
 */
START_TEST(test_blk_barrier_order)
{
	const uint64_t n = 6000;
	struct sim_config cfg;
	struct sim_result res;
	struct blk_log log;
	uint64_t *pos[BLK_LOG_COMPLETE + 1], *prefix_max, *suffix_min;
	uint64_t i, id, barriers = 0, fsyncs = 0, reordered = 0;
	unsigned int e;

	blk_config(&cfg, 21 + _i, _i, 256, n);
	cfg.barrier_every = 4;
	log_init(&log, n);
	expect_blk_ok(&cfg, &res);
	blk_test_log(NULL);
	ck_assert(!log.overflow);

	for (e = 0; e <= BLK_LOG_COMPLETE; e++) {
		pos[e] = malloc(n * sizeof(uint64_t));
		ck_assert_ptr_nonnull(pos[e]);
		memset(pos[e], 0xff, n * sizeof(uint64_t));
	}
	for (i = 0; i < log.n; i++) {
		id = log.ent[i].id;
		ck_assert_uint_lt(id, n);
		ck_assert_msg(pos[log.ent[i].event][id] == UINT64_MAX,
			      "request %" PRIu64 " event %u twice", id,
			      log.ent[i].event);
		pos[log.ent[i].event][id] = i;
		if (log.ent[i].event == BLK_LOG_FSYNC)
			fsyncs++;
	}
	/* Every request went through every stage, in order. */
	for (id = 0; id < n; id++) {
		ck_assert_uint_lt(pos[BLK_LOG_POP][id], pos[BLK_LOG_EXEC][id]);
		ck_assert_uint_lt(pos[BLK_LOG_EXEC][id], pos[BLK_LOG_DONE][id]);
		ck_assert_uint_lt(pos[BLK_LOG_DONE][id],
				  pos[BLK_LOG_COMPLETE][id]);
		if (id && pos[BLK_LOG_COMPLETE][id] <
			  pos[BLK_LOG_COMPLETE][id - 1])
			reordered++;
	}
	prefix_max = calloc(n + 1, sizeof(uint64_t));
	suffix_min = calloc(n + 1, sizeof(uint64_t));
	ck_assert_ptr_nonnull(prefix_max);
	ck_assert_ptr_nonnull(suffix_min);
	/* prefix_max[id]: the last completion among requests before id;
	 * suffix_min[id]: the first pop among id and those after. */
	for (id = 0; id < n; id++)
		prefix_max[id + 1] = prefix_max[id] >
				     pos[BLK_LOG_COMPLETE][id] ?
				     prefix_max[id] : pos[BLK_LOG_COMPLETE][id];
	suffix_min[n] = UINT64_MAX;
	for (id = n; id--; )
		suffix_min[id] = suffix_min[id + 1] < pos[BLK_LOG_POP][id] ?
				 suffix_min[id + 1] : pos[BLK_LOG_POP][id];
	for (i = 0; i < log.n; i++) {
		uint64_t sync;

		if (log.ent[i].event != BLK_LOG_POP ||
		    !(log.ent[i].type & VRING_BLK_T_BARRIER))
			continue;
		id = log.ent[i].id;
		barriers++;
		sync = pos[BLK_LOG_FSYNC][id];
		ck_assert_msg(sync != UINT64_MAX, "barrier %" PRIu64
			      " never synced", id);
		ck_assert_msg(id == 0 || prefix_max[id] < sync,
			      "barrier %" PRIu64 " synced before an earlier "
			      "request completed", id);
		ck_assert_uint_lt(sync, pos[BLK_LOG_EXEC][id]);
		ck_assert_msg(suffix_min[id + 1] > pos[BLK_LOG_COMPLETE][id],
			      "a request after barrier %" PRIu64 " was taken "
			      "before it completed", id);
	}
	ck_assert_uint_eq(barriers, res.devs[0].barriers);
	ck_assert_uint_eq(fsyncs, barriers);
	ck_assert_uint_gt(barriers, n / 20);
	/* The scheduler picks the order of execution; threads merely may. */
	if (cfg.stepped)
		ck_assert_uint_gt(reordered, 0);
	for (e = 0; e <= BLK_LOG_COMPLETE; e++)
		free(pos[e]);
	free(prefix_max);
	free(suffix_min);
	free(log.ent);
}
END_TEST

/* The whole of a file; *len is its size. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Stepped: the same seed is the same run, trace for trace; another seed
 * another run.  The device's own actions are scheduler steps too. */
START_TEST(test_blk_replay)
{
	char path[3][128], *t[3];
	struct sim_config cfg;
	struct sim_result res[3];
	size_t len[3];
	unsigned int k;

	make_tmpdir();
	for (k = 0; k < 3; k++) {
		snprintf(path[k], sizeof(path[k]), "%s/%c", tmpdir, 'a' + k);
		blk_config(&cfg, k < 2 ? 31 : 32, true, 32, 3000);
		cfg.trace_path = path[k];
		expect_blk_ok(&cfg, &res[k]);
		t[k] = slurp(path[k], &len[k]);
	}
	ck_assert_uint_gt(len[0], 0);
	ck_assert_uint_eq(res[0].steps, res[1].steps);
	ck_assert_uint_eq(res[0].devs[0].bytes, res[1].devs[0].bytes);
	ck_assert_uint_eq(res[0].devs[0].reads, res[1].devs[0].reads);
	ck_assert_uint_eq(len[0], len[1]);
	ck_assert(memcmp(t[0], t[1], len[0]) == 0);
	ck_assert(len[0] != len[2] || memcmp(t[0], t[2], len[0]) != 0);
	for (k = 0; k < 3; k++)
		free(t[k]);
	remove_tmpdir();
}
END_TEST

/* Make the header of the third chain of the first kick writable: the host
 * has not looked at the ring before that kick, so it sees it, whoever
 * runs it. */
static void writable_header(void *ctx, const char *queue, enum sim_side side,
			    uint64_t n, const struct vring *vr,
			    const struct vring_mem *mem)
{
	uint32_t start = *(uint32_t *)ctx, head;
	struct vring_desc d;

	(void)mem;
	if (strcmp(queue, "blk") || side != SIM_GUEST || n != 1)
		return;
	head = vring_avail_ring_read(vr, start + 2);
	vring_desc_read(vr, head, &d);
	vring_desc_set_flags(vr, head, d.flags | VRING_DESC_F_WRITE);
}

/*
 * A malformed request in a running device: one detection, named, with
 * its values; the run ends (no hang), and the requests already handed to
 * the workers finish before the workers are joined.
 */
START_TEST(test_blk_bad_request_in_run)
{
	struct sim_config cfg;
	struct sim_result res;
	uint32_t start = 1000;

	blk_config(&cfg, 41, _i, 256, 2000);
	cfg.start_index = start;
	cfg.tamper = writable_header;
	cfg.tamper_ctx = &start;
	ck_assert_int_eq(sim_run(&cfg, &res), 0);
	ck_assert(!res.ok);
	ck_assert(!res.stalled);
	ck_assert(!res.devs[0].verified);
	ck_assert_uint_eq(res.ndetections, 1);
	ck_assert_str_eq(res.detections[0].side, "host");
	ck_assert_str_eq(res.detections[0].queue, "blk");
	ck_assert_str_eq(res.detections[0].det.check, "blk_bad_request");
	ck_assert_uint_eq(det_value(&res.detections[0].det, "hdr_writable"),
			  1);
	ck_assert_uint_eq(det_value(&res.detections[0].det, "hdr_len"), 16);
	ck_assert_uint_le(res.devs[0].completed, 2);
	ck_assert_uint_eq(res.devs[0].mismatches, 0);
}
END_TEST

/*
 * The guest checks the data, not only the statuses.  One byte of one
 * request's first data buffer is flipped between the two sides: a read's
 * after the device filled it (at its interrupt), a write's before the
 * device takes it (at its kick).  Stepped, so the flip lands between the
 * device's step and the guest's.
 */
struct flip {
	bool on_read;		/* else on a write */
	uint64_t disk_sectors;
	unsigned int flipped;
	uint64_t sector;	/* the first sector of the one flipped */
};

static void flip_data(void *ctx, const char *queue, enum sim_side side,
		      uint64_t n, const struct vring *vr,
		      const struct vring_mem *mem)
{
	struct flip *f = ctx;
	const struct vring_blk_outhdr *hdr;
	struct vring_desc h, data;
	uint32_t head, type;
	uint64_t sector;
	uint8_t *p;

	(void)n;
	if (f->flipped || strcmp(queue, "blk") ||
	    side != (f->on_read ? SIM_HOST : SIM_GUEST))
		return;
	head = test_last_head(vr, f->on_read);
	vring_desc_read(vr, head, &h);
	hdr = vring_mem_desc_ptr(mem, h.pfn, h.offset, sizeof(*hdr));
	if (!hdr || !(h.flags & VRING_DESC_F_NEXT))
		return;
	type = READ_ONCE(hdr->type) & ~VRING_BLK_T_BARRIER;
	sector = READ_ONCE(hdr->sector);
	vring_desc_read(vr, h.next, &data);
	/* A plain request, in range: not one the guest sends to fail. */
	if (type != (f->on_read ? VRING_BLK_T_IN : VRING_BLK_T_OUT) ||
	    !(data.flags & VRING_DESC_F_NEXT) || data.len % 512 ||
	    sector >= f->disk_sectors ||
	    data.len / 512 > f->disk_sectors - sector)
		return;
	p = vring_mem_desc_ptr(mem, data.pfn, data.offset, data.len);
	WRITE_ONCE(*p, (uint8_t)(READ_ONCE(*p) ^ 0x40));
	f->flipped++;
	f->sector = sector;
}

START_TEST(test_blk_data_checked)
{
	struct flip f = { .on_read = _i == 0 };
	struct sim_config cfg;
	struct sim_result res;

	/* A large disk and few requests: the flipped write is not
	 * overwritten before a read or the final check sees it. */
	blk_config(&cfg, 61, true, 16, 300);
	cfg.disk_size = 64u << 20;
	f.disk_sectors = cfg.disk_size / 512;
	cfg.tamper = flip_data;
	cfg.tamper_ctx = &f;
	ck_assert_int_eq(sim_run(&cfg, &res), 0);
	ck_assert_uint_eq(f.flipped, 1);
	ck_assert(!res.ok);
	ck_assert(!res.stalled);
	ck_assert_uint_eq(res.ndetections, 0);
	ck_assert_uint_eq(res.devs[0].completed, cfg.requests);
	ck_assert(!res.devs[0].verified);
	if (f.on_read)
		/* The read, and only it: the disk is right. */
		ck_assert_uint_eq(res.devs[0].mismatches, 1);
	else
		ck_assert_uint_ge(res.devs[0].mismatches, 1);
}
END_TEST

/*
 * Regression: a head made available twice, the second time after a worker
 * finished it (a barrier stops popping in between, so every other write
 * being one makes it likely), has the device read the header and write
 * the data and status of a slot the guest is already reusing.  That is
 * the driver's garbage, but it was a data race in the simulator (the
 * campaign's avail_head_busy under make tsan) until both sides touched
 * guest buffers only with untorn accesses.  Here: no race, no hang.
 */
START_TEST(test_blk_head_again_races_guest)
{
	struct sim_config cfg;
	struct sim_result res;
	char spec[64], why[128];
	unsigned int k;

	for (k = 2; k < 10; k++) {
		blk_config(&cfg, 50 + k + 8 * _i, _i, 16, 300);
		cfg.barrier_every = 1;
		cfg.disk_size = 1u << 20;
		snprintf(spec, sizeof(spec),
			 "blk:avail.ring[last]=avail.ring[last-1]@kick:%u", k);
		ck_assert_int_eq(flt_parse(spec, &cfg.faults[0], why,
					   sizeof(why)), 0);
		cfg.nfaults = 1;
		ck_assert_int_eq(sim_run(&cfg, &res), 0);
		ck_assert(!res.stalled);
		ck_assert_uint_ge(res.ndetections, 1);
		ck_assert(!res.ok);
	}
}
END_TEST

Suite *blk_suite(void)
{
	Suite *s = suite_create("blk");
	TCase *tc = tcase_create("bad_request");

	tcase_add_loop_test(tc, test_blk_bad_request, 0,
			    sizeof(bad_cases) / sizeof(bad_cases[0]));
	tcase_add_test(tc, test_blk_pop_valid);
	suite_add_tcase(s, tc);

	tc = tcase_create("execute");
	tcase_add_test(tc, test_blk_past_end);
	tcase_add_test(tc, test_blk_unsupported);
	tcase_add_test(tc, test_blk_unaligned_len);
	tcase_add_test(tc, test_blk_round_trip);
	tcase_add_test(tc, test_blk_io_error);
	tcase_add_test(tc, test_blk_complete);
	suite_add_tcase(s, tc);

	tc = tcase_create("driver");
	tcase_add_test(tc, test_blk_capacity);
	tcase_add_test(tc, test_blk_driver_chains);
	suite_add_tcase(s, tc);

	tc = tcase_create("run");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_blk_run_sizes, 0, 2 * NSIZES);
	tcase_add_loop_test(tc, test_blk_io_size, 0, 2);
	tcase_add_loop_test(tc, test_blk_index_wrap, 0, 2);
	tcase_add_loop_test(tc, test_blk_barrier_extremes, 0, 2);
	tcase_add_loop_test(tc, test_blk_disk_file, 0, 2);
	tcase_add_loop_test(tc, test_blk_direct, 0, 2);
	tcase_add_loop_test(tc, test_blk_barrier_order, 0, 2);
	tcase_add_test(tc, test_blk_replay);
	tcase_add_loop_test(tc, test_blk_bad_request_in_run, 0, 2);
	tcase_add_loop_test(tc, test_blk_data_checked, 0, 2);
	tcase_add_loop_test(tc, test_blk_head_again_races_guest, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}
