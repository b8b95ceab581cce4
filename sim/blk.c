// SPDX-License-Identifier: MIT
/*
 * The blk device and its guest workload.  The guest reads and writes random
 * sector ranges and proves every read and, at the end, the whole disk
 * against a shadow of what it wrote; the host parses on its thread, does
 * the I/O on worker threads (threaded) or as scheduler steps (stepped), and
 * completes on its thread again, with barriers draining everything before.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "blk.h"
#include "rng.h"
#include "run.h"

#define SECTOR		VRING_BLK_SECTOR_SIZE
#define MAX_SECTORS	32u	/* per request */
#define MAX_DATA	4u	/* data descriptors per request */
/* Each data buffer starts on a page (O_DIRECT wants that much), so the
 * pieces of one request can spill one page each past the data itself. */
#define DATA_PAGES	(MAX_SECTORS * SECTOR / VRING_PAGE_SIZE + MAX_DATA - 1)
#define META_SIZE	32u	/* header at 0, status at 16, per slot */
/* Of every ERR_EVERY requests, one is a deliberate IOERR and one UNSUPP. */
#define ERR_EVERY	64u
#define REDRAWS		8u	/* sector draws before waiting out a conflict */
#define CHECK_CHUNK	(1u << 20)
#define POISON_IN	0xa5	/* device-writable bytes it must not write */
#define POISON_OUT	0x5a	/* data of writes that must not land */
#define STATUS_UNSET	0xff

enum kind {
	K_READ,
	K_WRITE,
	K_BARRIER,	/* OUT | BARRIER, carrying a write like K_WRITE */
	K_BADIO,	/* past the end or unaligned: IOERR */
	K_SCSI,		/* SCSI_CMD: UNSUPP */
};

/* One request of the guest, drawn and then posted from a slot. */
struct blk_slot {
	enum kind kind;
	uint32_t type;			/* the header's */
	uint64_t sector;
	uint32_t nsec;			/* sectors in the shadow's care */
	uint32_t data_len;
	unsigned int ndata;
	uint32_t piece[MAX_DATA];	/* bytes per data buffer */
	uint8_t expect;			/* the status it must get */
	uint64_t gen;			/* writes: the generation written */

	/* Where the slot lives in guest memory. */
	struct vring_blk_outhdr *hdr;
	uint8_t *status;
	uint64_t hdr_gpa, status_gpa, data_gpa;
	struct gvq_sg sg[MAX_DATA];
	struct blk_slot *next_free;
};

/* One request on the host side, from pop to completion. */
struct blk_io {
	struct hblk_req req;
	uint64_t id;			/* in pop order */
	bool need_sync;			/* a barrier whose worker syncs first */
	bool sync_failed;
	struct blk_io *next;		/* free, work or done list */
};

struct blk_dev {
	struct sim_device dev;		/* first: the runners' view */
	struct sim_queue *q;
	const struct vring_mem *mem;
	bool stepped;

	/* The disk, as the host sees it. */
	int fd;
	uint64_t sectors;

	/* Guest: the workload, on lines of its own. */
	_Alignas(64) struct gvq *vq;
	uint64_t capacity;		/* what the driver was told */
	uint64_t seed, rng;
	uint64_t requests, issued, completed, bytes, mismatches;
	uint64_t reads, writes, barriers, ioerr, unsupp, restart_races;
	uint64_t gen;			/* the last generation written */
	uint64_t disk_mismatches;	/* sectors wrong in the final check */
	bool disk_checked;
	uint32_t batch, added_since_kick, barrier_every, writes_since_barrier;
	uint32_t max_data;		/* data buffers that fit the queue */
	uint32_t io_nsec;		/* --io-size in sectors; 0: random */
	unsigned int nbad;
	bool rearm;
	bool have_next;
	struct blk_slot next;		/* drawn, not yet posted */
	uint32_t nslots;
	struct blk_slot *slots, *free_slots;
	struct blk_slot *resubmit;	/* taken back by a reset: post again */
	/* Per sector: the generation of the last acknowledged write (0: the
	 * zeroes of setup), of a write in flight (0: none), reads in flight. */
	uint64_t *acked, *pending;
	uint16_t *readers;

	/* Host: the queue's thread only. */
	_Alignas(64) struct blk_io *ios, *free_ios;
	uint64_t popped;
	unsigned int host_in_flight;	/* popped, not yet completed */
	struct blk_io *barrier;		/* popped, not completed: no popping */
	bool barrier_running;		/* drained and synced (or syncing) */
	uint16_t *dispatched;		/* stepped: ios to execute, any order */
	unsigned int ndisp;

	/* Shared with the workers. */
	_Alignas(64) pthread_mutex_t lock;
	pthread_cond_t work_cv;
	struct blk_io *work, **work_tail;
	struct blk_io *done, **done_tail;
	bool stopping;
	pthread_t *workers;
	unsigned int nworkers;
};

static const struct sim_device_ops blk_ops;
static struct blk_log *test_log;

void blk_test_log(struct blk_log *log)
{
	test_log = log;
}

static void log_ev(struct blk_dev *d, enum blk_log_event ev,
		   const struct blk_io *io)
{
	struct blk_log *l = test_log;

	if (!l)
		return;
	pthread_mutex_lock(&d->lock);
	if (l->n < l->cap) {
		l->ent[l->n].event = ev;
		l->ent[l->n].type = io->req.type |
				    (io->req.barrier ? VRING_BLK_T_BARRIER : 0);
		l->ent[l->n].id = io->id;
		l->n++;
	} else {
		l->overflow = true;
	}
	pthread_mutex_unlock(&d->lock);
}

/* ---- the disk ---- */

static int disk_fail(const char *what, const char *path, int err)
{
	fprintf(stderr, "vqsim: blk: %s %s: %s\n", what, path, strerror(err));
	return -err;
}

/* pread/pwrite all of len at off; 0 or a negative errno. */
static int full_io(int fd, bool write, uint8_t *buf, size_t len, off_t off)
{
	while (len) {
		ssize_t n = write ? pwrite(fd, buf, len, off) :
				    pread(fd, buf, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* Zero an existing disk's sectors: generation 0 everywhere, so that the
 * whole disk can be verified.  buf is CHECK_CHUNK aligned zeroes. */
static int zero_disk(struct blk_dev *d, uint8_t *buf)
{
	uint64_t off, total = d->sectors * SECTOR;
	int ret;

	memset(buf, 0, CHECK_CHUNK);
	for (off = 0; off < total; off += CHECK_CHUNK) {
		size_t n = total - off < CHECK_CHUNK ? (size_t)(total - off) :
			   CHECK_CHUNK;

		ret = full_io(d->fd, true, buf, n, (off_t)off);
		if (ret)
			return ret;
	}
	return fdatasync(d->fd) ? -errno : 0;
}

/*
 * Open (or create) the backing file: cfg->disk_path, or a temporary file
 * removed at once so that nothing is left behind however the run ends.
 */
static int open_disk(struct blk_dev *d, const struct sim_config *cfg)
{
	const char *path = cfg->disk_path;
	char tmp[4096];
	bool created = true;
	uint8_t *buf;
	off_t size;
	int ret;

	if (!path) {
		const char *dir = getenv("TMPDIR");

		snprintf(tmp, sizeof(tmp), "%s/vqsim-blk-XXXXXX",
			 dir && *dir ? dir : "/tmp");
		path = tmp;
		d->fd = mkostemp(tmp, O_CLOEXEC);
		if (d->fd < 0)
			return disk_fail("cannot create", tmp, errno);
		unlink(tmp);
	} else {
		d->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (d->fd < 0 && errno == EEXIST) {
			created = false;
			d->fd = open(path, O_RDWR | O_CLOEXEC);
		}
		if (d->fd < 0)
			return disk_fail("cannot open", path, errno);
	}
	/* F_SETFL makes the same check as open(O_DIRECT), on either path. */
	if (cfg->direct &&
	    fcntl(d->fd, F_SETFL, fcntl(d->fd, F_GETFL) | O_DIRECT)) {
		ret = errno;
		if (ret == EINVAL)
			fprintf(stderr, "vqsim: blk: --direct: the file system "
				"of %s does not support O_DIRECT\n", path);
		else
			disk_fail("cannot set O_DIRECT on", path, ret);
		return -ret;
	}
	if (created && ftruncate(d->fd, (off_t)cfg->disk_size))
		return disk_fail("cannot size", path, errno);
	size = lseek(d->fd, 0, SEEK_END);
	if (size < 0)
		return disk_fail("cannot size", path, errno);
	/* The capacity is a u32 in the configuration word. */
	d->sectors = (uint64_t)size / SECTOR;
	if (d->sectors > UINT32_MAX)
		d->sectors = UINT32_MAX;
	if (created)
		return 0;
	if (posix_memalign((void **)&buf, VRING_PAGE_SIZE, CHECK_CHUNK))
		return -ENOMEM;
	ret = zero_disk(d, buf);
	free(buf);
	return ret ? disk_fail("cannot zero", path, -ret) : 0;
}

/* ---- what the guest writes and expects ---- */

/*
 * The 512 bytes of sector at generation gen: zeroes for 0 (setup), else
 * rng_pattern_fill's words for a key of (seed, sector, gen), written and
 * checked here in guest memory directly, untorn.
 */
static uint64_t sector_key(const struct blk_dev *d, uint64_t sector,
			   uint64_t gen)
{
	uint64_t key = d->seed ^ (sector * 0xd6e8feb86659fd93ull) ^
		       (gen * 0x9fb21c651e98df25ull);

	return gen ? rng_next(&key) : 0;
}

/* Write the sector's bytes at gen into guest memory at p, untorn. */
static void sector_fill(const struct blk_dev *d, uint8_t *p, uint64_t sector,
			uint64_t gen)
{
	uint64_t key = sector_key(d, sector, gen);
	uint64_t step = gen ? RNG_PATTERN_STEP : 0, word = 0;
	unsigned int i;

	assert(((uintptr_t)p & 7) == 0);
	for (i = 0; i < SECTOR; i += 8) {
		word += step;
		WRITE_ONCE(*(uint64_t *)(void *)(p + i), key ^ word);
	}
}

/* Does p (guest memory, or a buffer of ours) hold the sector at gen?
 * Read untorn, word by word, as sector_fill writes. */
static bool sector_is(const struct blk_dev *d, const uint8_t *p,
		      uint64_t sector, uint64_t gen)
{
	uint64_t key = sector_key(d, sector, gen);
	uint64_t step = gen ? RNG_PATTERN_STEP : 0, word = 0;
	unsigned int i;

	assert(((uintptr_t)p & 7) == 0);
	for (i = 0; i < SECTOR; i += 8) {
		word += step;
		if (READ_ONCE(*(const uint64_t *)(const void *)(p + i)) !=
		    (key ^ word))
			return false;
	}
	return true;
}

/* Does p hold sector as acknowledged (or as the write in flight)? */
static bool sector_ok(const struct blk_dev *d, const uint8_t *p,
		      uint64_t sector)
{
	return sector_is(d, p, sector, d->acked[sector]) ||
	       (d->pending[sector] &&
		sector_is(d, p, sector, d->pending[sector]));
}

/* The guest's side of its buffers is untorn too (vring_copy_*_guest):
 * bytes up to a word boundary, then words, then the tail. */
static void guest_fill(uint8_t *dst, uint8_t byte, size_t n)
{
	const uint64_t word = byte * 0x0101010101010101ull;

	for (; n && ((uintptr_t)dst & 7); n--)
		WRITE_ONCE(*dst++, byte);
	for (; n >= 8; n -= 8, dst += 8)
		WRITE_ONCE(*(uint64_t *)(void *)dst, word);
	for (; n; n--)
		WRITE_ONCE(*dst++, byte);
}

static void *guest_ptr(const struct blk_dev *d, uint64_t gpa, uint32_t len)
{
	void *p = vring_mem_at(d->mem, gpa, len);

	assert(p);	/* our own buffers: in guest memory by construction */
	return p;
}

/* Sector j of s's data, wherever its piece put it. */
static uint8_t *slot_sector(const struct blk_dev *d, const struct blk_slot *s,
			    uint32_t j)
{
	uint32_t off = j * SECTOR;
	unsigned int k;

	for (k = 0; off >= s->piece[k]; k++)
		off -= s->piece[k];
	return (uint8_t *)guest_ptr(d, s->sg[k].addr, s->sg[k].len) + off;
}

/* Can s go now without making what a read sees ambiguous: no read over a
 * write in flight, no write over any request in flight? */
static bool conflicts(const struct blk_dev *d, const struct blk_slot *s)
{
	uint32_t j;

	if (s->kind != K_READ && s->kind != K_WRITE && s->kind != K_BARRIER)
		return false;
	for (j = 0; j < s->nsec; j++) {
		uint64_t sec = s->sector + j;

		if (d->pending[sec] || (s->kind != K_READ && d->readers[sec]))
			return true;
	}
	return false;
}

/* Split s->nsec sectors into s->ndata random non-empty pieces. */
static void split(struct blk_dev *d, struct blk_slot *s)
{
	uint32_t left = s->nsec, k;

	for (k = 0; k + 1 < s->ndata; k++) {
		uint32_t n = rng_range(&d->rng, 1, left - (s->ndata - 1 - k));

		s->piece[k] = n * SECTOR;
		left -= n;
	}
	s->piece[k] = left * SECTOR;
}

static void draw_sector(struct blk_dev *d, struct blk_slot *s)
{
	/* --io-size: aligned to its size, as a benchmark's I/O would be. */
	if (d->io_nsec && s->nsec == d->io_nsec)
		s->sector = (uint64_t)rng_range(&d->rng, 0, (uint32_t)
				(d->capacity / s->nsec - 1)) * s->nsec;
	else
		s->sector = rng_range(&d->rng, 0,
				      (uint32_t)(d->capacity - s->nsec));
}

/* The deliberate IOERRs, in turn: a write straddling the end, a read
 * past it, a sector whose byte offset overflows, an unaligned length. */
static void draw_bad(struct blk_dev *d, struct blk_slot *s, uint32_t max_nsec)
{
	unsigned int v = d->nbad++ % 4;

	s->kind = K_BADIO;
	s->expect = VRING_BLK_S_IOERR;
	s->type = v == 0 || v == 3 ? VRING_BLK_T_OUT : VRING_BLK_T_IN;
	s->nsec = 0;
	s->ndata = 0;
	s->data_len = 0;
	if (!max_nsec) {
		/* No room for data: only the sector can be wrong. */
		s->sector = v % 2 ? UINT64_MAX : d->capacity + 1;
		return;
	}
	s->ndata = 1;
	switch (v) {
	case 0:
		s->data_len = (max_nsec < 8 ? max_nsec : 8) * SECTOR;
		s->sector = d->capacity - s->data_len / SECTOR / 2;
		if (s->data_len == SECTOR)
			s->sector = d->capacity;
		break;
	case 1:
		s->data_len = SECTOR;
		s->sector = d->capacity + 1;
		break;
	case 2:
		s->data_len = 4 * SECTOR;
		s->sector = UINT64_MAX - 1;
		break;
	default:
		s->data_len = 100;
		s->sector = 0;
		break;
	}
	s->piece[0] = s->data_len;
}

/* The next request, as the seed decides; posted when it can be. */
static void draw_next(struct blk_dev *d)
{
	struct blk_slot *s = &d->next;
	uint32_t max_nsec = d->capacity < MAX_SECTORS ? (uint32_t)d->capacity :
			    MAX_SECTORS;
	uint64_t i = d->issued;

	memset(s, 0, sizeof(*s));
	d->have_next = true;
	if (!d->max_data)
		max_nsec = 0;
	if (i % ERR_EVERY == 1) {
		draw_bad(d, s, max_nsec);
		return;
	}
	if (i % ERR_EVERY == 2) {
		/* With a buffer it may write, to prove it writes nothing. */
		s->kind = K_SCSI;
		s->type = VRING_BLK_T_SCSI_CMD;
		s->expect = VRING_BLK_S_UNSUPP;
		s->sector = rng_next(&d->rng);
		s->ndata = d->max_data ? 1 : 0;
		s->data_len = s->piece[0] = s->ndata * SECTOR;
		return;
	}
	s->expect = VRING_BLK_S_OK;
	if (rng_next(&d->rng) & 1) {
		s->kind = K_READ;
		s->type = VRING_BLK_T_IN;
	} else if (d->barrier_every &&
		   d->writes_since_barrier == d->barrier_every) {
		s->kind = K_BARRIER;
		s->type = VRING_BLK_T_OUT | VRING_BLK_T_BARRIER;
		d->writes_since_barrier = 0;
	} else {
		s->kind = K_WRITE;
		s->type = VRING_BLK_T_OUT;
		d->writes_since_barrier++;
	}
	if (d->io_nsec && max_nsec) {
		s->nsec = d->io_nsec < max_nsec ? d->io_nsec : max_nsec;
		s->data_len = s->nsec * SECTOR;
		s->ndata = 1;
		s->piece[0] = s->data_len;
		draw_sector(d, s);
		return;
	}
	s->nsec = max_nsec ? rng_range(&d->rng, 1, max_nsec) : 0;
	s->data_len = s->nsec * SECTOR;
	s->ndata = s->nsec ? rng_range(&d->rng, 1, s->nsec < d->max_data ?
					s->nsec : d->max_data) : 0;
	if (s->ndata)
		split(d, s);
	draw_sector(d, s);
}

/* A request ready to post now: drawn, fitting the free descriptors and
 * clear of conflicts (another sector is tried a few times). */
static bool next_ready(struct blk_dev *d)
{
	unsigned int tries;

	if (!d->have_next)
		draw_next(d);
	if (gvq_num_free(d->vq) < d->next.ndata + 2)
		return false;
	for (tries = 0; conflicts(d, &d->next); tries++) {
		if (tries == REDRAWS)
			return false;
		draw_sector(d, &d->next);
	}
	return true;
}

static void post(struct blk_dev *d)
{
	struct blk_slot *s = d->free_slots, *n = &d->next;
	uint64_t gpa = s->data_gpa;
	unsigned int k;
	uint32_t j;
	int ret;

	d->free_slots = s->next_free;
	/* The request, into the slot that keeps its buffers. */
	s->kind = n->kind;
	s->type = n->type;
	s->sector = n->sector;
	s->nsec = n->nsec;
	s->data_len = n->data_len;
	s->ndata = n->ndata;
	s->expect = n->expect;
	memcpy(s->piece, n->piece, sizeof(s->piece));
	for (k = 0; k < s->ndata; k++) {
		s->sg[k] = (struct gvq_sg){ .addr = gpa, .len = s->piece[k] };
		gpa += (s->piece[k] + VRING_PAGE_SIZE - 1) &
		       ~(uint64_t)(VRING_PAGE_SIZE - 1);
	}

	switch (s->kind) {
	case K_READ:
		for (k = 0; k < s->ndata; k++)
			guest_fill(guest_ptr(d, s->sg[k].addr, s->sg[k].len),
				   POISON_IN, s->sg[k].len);
		for (j = 0; j < s->nsec; j++)
			d->readers[s->sector + j]++;
		break;
	case K_WRITE:
	case K_BARRIER:
		s->gen = ++d->gen;
		for (j = 0; j < s->nsec; j++) {
			sector_fill(d, slot_sector(d, s, j), s->sector + j,
				    s->gen);
			d->pending[s->sector + j] = s->gen;
		}
		break;
	default:
		for (k = 0; k < s->ndata; k++)
			guest_fill(guest_ptr(d, s->sg[k].addr, s->sg[k].len),
				   s->type == VRING_BLK_T_OUT ? POISON_OUT :
				   POISON_IN, s->sg[k].len);
		break;
	}
	WRITE_ONCE(*s->status, STATUS_UNSET);
	ret = gvq_blk_add(d->vq, s->hdr, s->hdr_gpa, s->type, s->sector,
			  s->sg, s->ndata, s->status_gpa, s);
	/* next_ready() saw the descriptors free, and the queue is healthy. */
	assert(ret == 0);
	(void)ret;
	d->have_next = false;
	d->issued++;
	d->added_since_kick++;
}

/*
 * --recover: post again a request the reset took back, as it was.  The
 * shadow still counts it in flight; a read's buffers are poisoned again,
 * since the device may have filled them before the reset, and a write's
 * data is still what the device may only read.
 */
static void repost(struct blk_dev *d)
{
	struct blk_slot *s = d->resubmit;
	unsigned int k;
	int ret;

	d->resubmit = s->next_free;
	if (s->type != VRING_BLK_T_OUT &&
	    s->type != (VRING_BLK_T_OUT | VRING_BLK_T_BARRIER))
		for (k = 0; k < s->ndata; k++)
			guest_fill(guest_ptr(d, s->sg[k].addr, s->sg[k].len),
				   POISON_IN, s->sg[k].len);
	WRITE_ONCE(*s->status, STATUS_UNSET);
	ret = gvq_blk_add(d->vq, s->hdr, s->hdr_gpa, s->type, s->sector,
			  s->sg, s->ndata, s->status_gpa, s);
	/* It fitted before the reset, in a ring that held more. */
	assert(ret == 0);
	(void)ret;
	d->added_since_kick++;
}

/* Are the writable buffers of a request that failed as it should still
 * as we poisoned them? */
static bool untouched(const struct blk_dev *d, const struct blk_slot *s)
{
	uint8_t buf[SECTOR];
	unsigned int k;
	uint32_t off, n, i;

	if (s->type == VRING_BLK_T_OUT)
		return true;
	for (k = 0; k < s->ndata; k++) {
		const uint8_t *p = guest_ptr(d, s->sg[k].addr, s->sg[k].len);

		for (off = 0; off < s->sg[k].len; off += n) {
			n = s->sg[k].len - off < SECTOR ?
			    s->sg[k].len - off : SECTOR;
			vring_copy_from_guest(buf, p + off, n);
			for (i = 0; i < n; i++)
				if (buf[i] != POISON_IN)
					return false;
		}
	}
	return true;
}

/* A completion, in whatever order it came: check it against what the
 * request must have produced and bring the shadow up to date. */
static void finish(struct blk_dev *d, struct blk_slot *s, uint32_t len)
{
	uint8_t status = READ_ONCE(*s->status);
	bool ok = status == s->expect &&
		  len == (s->kind == K_READ ? s->data_len : 0) + 1;
	uint32_t j;

	switch (s->kind) {
	case K_READ:
		d->reads++;
		for (j = 0; j < s->nsec; j++) {
			ok &= sector_ok(d, slot_sector(d, s, j),
					s->sector + j);
			d->readers[s->sector + j]--;
		}
		break;
	case K_WRITE:
	case K_BARRIER:
		if (s->kind == K_WRITE)
			d->writes++;
		else
			d->barriers++;
		/* Acknowledged: from now on the disk must hold it.  Even a
		 * failed write is taken as done (the run has failed), so
		 * that its sectors do not stay locked forever. */
		for (j = 0; j < s->nsec; j++) {
			d->acked[s->sector + j] = s->gen;
			d->pending[s->sector + j] = 0;
		}
		break;
	default:
		ok &= untouched(d, s);
		break;
	}
	if (status == VRING_BLK_S_IOERR)
		d->ioerr++;
	else if (status == VRING_BLK_S_UNSUPP)
		d->unsupp++;
	if (!ok)
		d->mismatches++;
	d->completed++;
	d->bytes += len;
	s->next_free = d->free_slots;
	d->free_slots = s;
}

/*
 * One ring operation per call, as the null workload: reap, kick, post, or
 * re-arm, so that a stepped schedule can place the device between any two.
 */
static enum wl_step blk_guest_step(struct sim_device *dev)
{
	struct blk_dev *d = (struct blk_dev *)dev;
	struct blk_slot *s;
	bool can_add;
	uint32_t len;

	if (gvq_error(d->vq))
		return WL_DONE;
	if (d->rearm) {
		d->rearm = false;
		/* Spin before re-enabling interrupts, not after: the
		 * device does not interrupt a guest that is not waiting. */
		if (run_guest_spin(dev))
			return WL_PROGRESS;
		if (!gvq_restart(d->vq))
			return WL_IDLE;
		d->restart_races++;
		return WL_PROGRESS;
	}
	s = gvq_get_buf(d->vq, &len);
	if (s) {
		finish(d, s, len);
		return WL_PROGRESS;
	}
	if (gvq_error(d->vq))
		return WL_DONE;
	if (d->resubmit)
		can_add = gvq_num_free(d->vq) >= d->resubmit->ndata + 2;
	else
		can_add = d->issued < d->requests && d->free_slots &&
			  next_ready(d);
	if (d->added_since_kick >= d->batch ||
	    (d->added_since_kick && !can_add)) {
		gvq_kick(d->vq);
		d->added_since_kick = 0;
		return WL_PROGRESS;
	}
	if (can_add) {
		if (d->resubmit)
			repost(d);
		else
			post(d);
		return WL_PROGRESS;
	}
	if (d->completed == d->requests)
		return WL_DONE;
	/* Whatever holds us up (slots, descriptors, a conflict) is in
	 * flight, so a completion will come. */
	d->rearm = true;
	return WL_PROGRESS;
}

/* Re-read the whole disk after all I/O and hold every sector to the
 * shadow: what no read happened to look at is proved too. */
static void check_disk(struct blk_dev *d)
{
	uint64_t off, total = d->capacity * SECTOR;
	uint8_t *buf;

	if (d->disk_checked || d->fd < 0)
		return;
	d->disk_checked = true;
	if (posix_memalign((void **)&buf, VRING_PAGE_SIZE, CHECK_CHUNK)) {
		d->disk_mismatches++;
		return;
	}
	for (off = 0; off < total; off += CHECK_CHUNK) {
		size_t n = total - off < CHECK_CHUNK ? (size_t)(total - off) :
			   CHECK_CHUNK;
		size_t i;

		if (full_io(d->fd, false, buf, n, (off_t)off)) {
			d->disk_mismatches++;
			break;
		}
		for (i = 0; i < n; i += SECTOR)
			if (!sector_ok(d, buf + i, (off + i) / SECTOR))
				d->disk_mismatches++;
	}
	free(buf);
}

/* ---- the host side ---- */

static bool barrier_ready(const struct blk_dev *d)
{
	/* Everything popped before it has completed: only it is left. */
	return d->barrier && !d->barrier_running && d->host_in_flight == 1;
}

static void dispatch(struct blk_dev *d, struct blk_io *io)
{
	if (d->stepped) {
		d->dispatched[d->ndisp++] = (uint16_t)(io - d->ios);
		return;
	}
	pthread_mutex_lock(&d->lock);
	io->next = NULL;
	*d->work_tail = io;
	d->work_tail = &io->next;
	pthread_cond_signal(&d->work_cv);
	pthread_mutex_unlock(&d->lock);
}

/* The barrier's flush: everything before it is on the disk.  Logged as
 * it starts, since only what completed by then is sure to be covered. */
static void sync_barrier(struct blk_dev *d, struct blk_io *io)
{
	log_ev(d, BLK_LOG_FSYNC, io);
	io->sync_failed = fdatasync(d->fd) != 0;
}

/* Threaded: once drained, the barrier goes to a worker, which syncs
 * first, so that the host thread never waits for the disk. */
static void barrier_try(struct blk_dev *d)
{
	if (d->stepped || !barrier_ready(d))
		return;
	d->barrier_running = true;
	d->barrier->need_sync = true;
	dispatch(d, d->barrier);
}

/* Run io and put it on the done list; returns whether the list was empty,
 * so that only the first completion of a batch has to wake the host. */
static bool execute(struct blk_dev *d, struct blk_io *io)
{
	bool first;

	if (io->need_sync)
		sync_barrier(d, io);
	log_ev(d, BLK_LOG_EXEC, io);
	if (io->sync_failed) {
		/* Not on the disk in order: the guest must not believe it. */
		io->req.result = VRING_BLK_S_IOERR;
		io->req.written = 1;
	} else {
		blk_dev_execute(&io->req, d->fd, d->sectors);
	}
	log_ev(d, BLK_LOG_DONE, io);
	pthread_mutex_lock(&d->lock);
	io->next = NULL;
	first = !d->done;
	*d->done_tail = io;
	d->done_tail = &io->next;
	pthread_mutex_unlock(&d->lock);
	return first;
}

static int blk_host_step(struct sim_device *dev, struct sim_queue *q)
{
	struct blk_dev *d = (struct blk_dev *)dev;
	struct blk_io *io = d->free_ios;
	int ret;

	if (d->barrier) {
		/* Nothing overtakes a barrier; its completion resumes us. */
		hvq_notify(q->hvq);
		return 0;
	}
	/* The queue never has more chains in flight than entries. */
	assert(io);
	ret = blk_dev_pop(q->hvq, &io->req);
	if (ret <= 0) {
		hvq_notify(q->hvq);
		if (ret < 0)
			run_host_failed(q);
		return ret;
	}
	d->free_ios = io->next;
	io->id = d->popped++;
	io->need_sync = io->sync_failed = false;
	d->host_in_flight++;
	log_ev(d, BLK_LOG_POP, io);
	if (io->req.barrier) {
		d->barrier = io;
		barrier_try(d);
		hvq_notify(q->hvq);
		return 0;
	}
	dispatch(d, io);
	return 1;
}

/* Complete everything executed, on the queue's thread: the only writer of
 * the used ring.  A completed barrier lets popping resume. */
static void complete_done(struct blk_dev *d)
{
	struct sim_queue *q = d->q;
	struct blk_io *io, *next;
	bool resume = false;

	pthread_mutex_lock(&d->lock);
	io = d->done;
	d->done = NULL;
	d->done_tail = &d->done;
	pthread_mutex_unlock(&d->lock);
	for (; io; io = next) {
		next = io->next;
		blk_dev_complete(q->hvq, &io->req);
		log_ev(d, BLK_LOG_COMPLETE, io);
		d->host_in_flight--;
		if (io == d->barrier) {
			d->barrier = NULL;
			d->barrier_running = false;
			resume = true;
		}
		io->next = d->free_ios;
		d->free_ios = io;
	}
	hvq_notify(q->hvq);
	if (!resume) {
		barrier_try(d);
		return;
	}
	/* The kicks for what waited behind the barrier were taken while
	 * it ran: pop it now, as if they had just arrived. */
	if (d->stepped)
		run_host_resume(q);
	else
		while (blk_host_step(&d->dev, q) > 0)
			;
}

/* Stepped: executing each dispatched request is an action of its own, so
 * the scheduler picks the completion order; then completing all that are
 * executed; then a drained barrier's fdatasync. */
static unsigned int blk_async_ready(struct sim_device *dev)
{
	const struct blk_dev *d = (const struct blk_dev *)dev;

	return d->ndisp + (d->done != NULL) + barrier_ready(d);
}

static void blk_async_step(struct sim_device *dev, unsigned int i)
{
	struct blk_dev *d = (struct blk_dev *)dev;
	struct blk_io *io;

	if (i < d->ndisp) {
		io = &d->ios[d->dispatched[i]];
		memmove(&d->dispatched[i], &d->dispatched[i + 1],
			(d->ndisp - i - 1) * sizeof(*d->dispatched));
		d->ndisp--;
		execute(d, io);
		return;
	}
	i -= d->ndisp;
	if (i == 0 && d->done) {
		complete_done(d);
		return;
	}
	assert(barrier_ready(d));
	d->barrier_running = true;
	sync_barrier(d, d->barrier);
	dispatch(d, d->barrier);
}

static void *worker(void *arg)
{
	struct blk_dev *d = arg;
	const uint64_t one = 1;
	struct blk_io *io;

	for (;;) {
		pthread_mutex_lock(&d->lock);
		while (!d->work && !d->stopping)
			pthread_cond_wait(&d->work_cv, &d->lock);
		/* Stopping still runs what was handed over: a request is
		 * never abandoned half-way. */
		io = d->work;
		if (io) {
			d->work = io->next;
			if (!d->work)
				d->work_tail = &d->work;
		}
		pthread_mutex_unlock(&d->lock);
		if (!io)
			return NULL;
		/*
		 * A list that was not empty has had its wake-up: the host
		 * reads the eventfd before it takes the list, so it takes
		 * this one too, or finds it after a wake-up of its own.
		 */
		if (execute(d, io) &&
		    write(d->dev.async_fd, &one, sizeof(one)) != sizeof(one))
			abort();
	}
}

/* --recover, guest side: every request still posted is taken back, to
 * be posted again once the ring has been set up afresh. */
static void blk_guest_reset(struct sim_device *dev, struct sim_queue *q)
{
	struct blk_dev *d = (struct blk_dev *)dev;
	struct blk_slot *s;

	while ((s = gvq_detach_unused(q->gvq))) {
		s->next_free = d->resubmit;
		d->resubmit = s;
	}
	d->added_since_kick = 0;
	d->rearm = false;
}

/* Give back, without completing it, every request of the device's. */
static void forget(struct blk_dev *d, struct blk_io *io)
{
	io->next = d->free_ios;
	d->free_ios = io;
	d->host_in_flight--;
}

/*
 * --recover, host side: let go of every request popped.  Those not
 * started are dropped; those a worker is running are waited for (their
 * I/O touches guest buffers and the disk) and dropped too.  The guest
 * posts them all again, and a write done twice writes the same data.
 */
static void blk_host_reset(struct sim_device *dev, struct sim_queue *q)
{
	struct blk_dev *d = (struct blk_dev *)dev;
	struct blk_io *io, *next;
	unsigned int k;

	(void)q;
	/* A barrier held back for the drain is on no list; nor, stepped,
	 * is a request dispatched and not yet executed. */
	if (d->barrier && !d->barrier_running)
		forget(d, d->barrier);
	for (k = 0; k < d->ndisp; k++)
		forget(d, &d->ios[d->dispatched[k]]);
	d->ndisp = 0;
	d->barrier = NULL;
	d->barrier_running = false;
	while (d->host_in_flight) {
		pthread_mutex_lock(&d->lock);
		io = d->work;
		d->work = NULL;
		d->work_tail = &d->work;
		for (; io; io = next) {
			next = io->next;
			forget(d, io);
		}
		io = d->done;
		d->done = NULL;
		d->done_tail = &d->done;
		pthread_mutex_unlock(&d->lock);
		for (; io; io = next) {
			next = io->next;
			forget(d, io);
		}
		/* Stepped, nothing runs between steps: all was on a list. */
		assert(!d->stepped || !d->host_in_flight);
		if (d->host_in_flight) {
			/* A worker is still at it: wait for its eventfd. */
			struct pollfd p = { .fd = d->dev.async_fd,
					    .events = POLLIN };
			uint64_t count;

			if (poll(&p, 1, -1) < 0 && errno != EINTR)
				abort();
			if (read(d->dev.async_fd, &count, sizeof(count)) < 0 &&
			    errno != EAGAIN)
				abort();
		}
	}
	/* What was counted for the old ring starts over with the new. */
	d->popped = 0;
}

static void blk_async_drain(struct sim_device *dev)
{
	struct blk_dev *d = (struct blk_dev *)dev;
	uint64_t count;

	/* Before taking the list: a completion after this wakes us again. */
	if (read(d->dev.async_fd, &count, sizeof(count)) < 0 &&
	    errno != EAGAIN)
		abort();
	complete_done(d);
}

static void blk_stop(struct sim_device *dev)
{
	struct blk_dev *d = (struct blk_dev *)dev;
	unsigned int i;

	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	pthread_cond_broadcast(&d->work_cv);
	pthread_mutex_unlock(&d->lock);
	for (i = 0; i < d->nworkers; i++)
		pthread_join(d->workers[i], NULL);
	d->nworkers = 0;
}

static int blk_start(struct sim_device *dev)
{
	struct blk_dev *d = (struct blk_dev *)dev;
	const struct sim_config *cfg = dev->run->cfg;
	unsigned int i;
	int ret;

	d->dev.async_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->dev.async_fd < 0)
		return -errno;
	d->workers = calloc(cfg->blk_workers ? cfg->blk_workers : 1,
			    sizeof(*d->workers));
	if (!d->workers)
		return -ENOMEM;
	for (i = 0; i < cfg->blk_workers || i == 0; i++) {
		ret = pthread_create(&d->workers[i], NULL, worker, d);
		if (ret) {
			blk_stop(dev);
			return -ret;
		}
		d->nworkers++;
	}
	return 0;
}

static void blk_result(struct sim_device *dev, struct sim_dev_result *r)
{
	struct blk_dev *d = (struct blk_dev *)dev;

	check_disk(d);
	r->name = "blk";
	r->requests = d->requests;
	r->completed = d->completed;
	r->bytes = d->bytes;
	r->in_flight = d->issued - d->completed;
	r->mismatches = d->mismatches + d->disk_mismatches;
	r->reads = d->reads;
	r->writes = d->writes;
	r->barriers = d->barriers;
	r->ioerr = d->ioerr;
	r->unsupp = d->unsupp;
	r->restart_races = d->restart_races;
	r->verified = !r->mismatches && d->completed == d->requests;
}

static void blk_destroy(struct sim_device *dev)
{
	struct blk_dev *d = (struct blk_dev *)dev;

	/* Its guest pages go with the run's allocator. */
	if (d->fd >= 0)
		close(d->fd);
	if (d->dev.async_fd >= 0)
		close(d->dev.async_fd);
	pthread_cond_destroy(&d->work_cv);
	pthread_mutex_destroy(&d->lock);
	free(d->workers);
	free(d->dispatched);
	free(d->ios);
	free(d->slots);
	free(d->acked);
	free(d->pending);
	free(d->readers);
	free(d);
}

/* The guest's buffers: a header and status per slot, packed, and each
 * slot's data pages. */
static int guest_setup(struct blk_dev *d, struct run *run)
{
	uint32_t meta_pages = (d->nslots * META_SIZE + VRING_PAGE_SIZE - 1) /
			      VRING_PAGE_SIZE;
	uint32_t data_pages = d->max_data ? DATA_PAGES : 0, i;
	int64_t meta, data = 0;

	assert(d->nslots);
	d->slots = calloc(d->nslots, sizeof(*d->slots));
	d->acked = calloc(d->capacity ? d->capacity : 1, sizeof(*d->acked));
	d->pending = calloc(d->capacity ? d->capacity : 1,
			    sizeof(*d->pending));
	d->readers = calloc(d->capacity ? d->capacity : 1,
			    sizeof(*d->readers));
	if (!d->slots || !d->acked || !d->pending || !d->readers)
		return -ENOMEM;
	meta = gvq_pages_alloc(run->pages, meta_pages);
	if (data_pages)
		data = gvq_pages_alloc(run->pages, d->nslots * data_pages);
	if (meta < 0 || data < 0)
		return -ENOMEM;
	for (i = d->nslots; i--; ) {
		struct blk_slot *s = &d->slots[i];

		s->hdr_gpa = ((uint64_t)meta << VRING_PAGE_SHIFT) +
			     (uint64_t)i * META_SIZE;
		s->status_gpa = s->hdr_gpa + sizeof(*s->hdr);
		s->hdr = guest_ptr(d, s->hdr_gpa, sizeof(*s->hdr));
		s->status = guest_ptr(d, s->status_gpa, 1);
		s->data_gpa = ((uint64_t)data + (uint64_t)i * data_pages)
			      << VRING_PAGE_SHIFT;
		s->next_free = d->free_slots;
		d->free_slots = s;
	}
	return 0;
}

static int host_setup(struct blk_dev *d, uint32_t num)
{
	uint32_t i;

	d->ios = calloc(num, sizeof(*d->ios));
	d->dispatched = calloc(num, sizeof(*d->dispatched));
	if (!d->ios || !d->dispatched)
		return -ENOMEM;
	for (i = num; i--; ) {
		d->ios[i].next = d->free_ios;
		d->free_ios = &d->ios[i];
	}
	return 0;
}

int blk_device_create(struct run *run, struct sim_device **devp)
{
	const struct sim_config *cfg = run->cfg;
	struct blk_dev *d = sim_zalloc_lines(sizeof(*d));
	int ret;

	*devp = NULL;
	if (!d)
		return -ENOMEM;
	d->dev.ops = &blk_ops;
	d->dev.run = run;
	d->dev.async_fd = -1;
	d->fd = -1;
	d->stepped = run->stepped;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->work_cv, NULL);
	d->work_tail = &d->work;
	d->done_tail = &d->done;

	ret = -ENOMEM;
	d->q = run_add_queue(run, &d->dev, "blk");
	if (!d->q)
		goto fail;
	ret = open_disk(d, cfg);
	if (ret)
		goto fail;
	/* The device's word to the driver, before the driver starts. */
	vring_config_set(&d->q->vr, (uint32_t)d->sectors);
	ret = host_setup(d, cfg->queue_size);
	if (ret)
		goto fail;

	/* From here on, the guest: it knows the disk only by the word. */
	d->vq = d->q->gvq;
	d->mem = &run->mem;
	d->capacity = gvq_blk_capacity(d->q->pages);
	d->seed = d->rng = cfg->seed;
	d->requests = cfg->requests;
	d->batch = cfg->batch;
	d->barrier_every = cfg->barrier_every;
	d->io_nsec = cfg->io_size / SECTOR;
	d->max_data = cfg->queue_size - 2 < MAX_DATA ? cfg->queue_size - 2 :
		      MAX_DATA;
	/* The smallest request is two descriptors. */
	d->nslots = cfg->queue_size / 2;
	ret = guest_setup(d, run);
	if (ret)
		goto fail;
	*devp = &d->dev;
	return 0;
fail:
	/* The runner only destroys devices it was given. */
	blk_destroy(&d->dev);
	return ret;
}

static const struct sim_device_ops blk_ops = {
	.guest_step = blk_guest_step,
	.host_step = blk_host_step,
	.guest_reset = blk_guest_reset,
	.host_reset = blk_host_reset,
	.async_ready = blk_async_ready,
	.async_step = blk_async_step,
	.start = blk_start,
	.stop = blk_stop,
	.async_drain = blk_async_drain,
	.result = blk_result,
	.destroy = blk_destroy,
};
