// SPDX-License-Identifier: MIT
/*
 * floor: what `make bench` holds vqsim against.  Each subcommand is the
 * least that does the same job (a two-thread ring of u32 tokens, one cache
 * line bounced between CPUs, pread/pwrite on a file, a socketpair echo) and
 * prints one line of JSON.  Nothing here is shared with vqsim on purpose:
 * the floor must not inherit vqsim's costs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RING_SIZE	256u		/* vqsim's largest queue */
#define RING_MASK	(RING_SIZE - 1)
#define CACHELINE	64
#define FRAME_MIN	60u		/* sim/net.c's NET_FRAME_MIN */
#define FRAME_MAX	1514u		/* and NET_FRAME_MAX */
#define MAX_BATCH	256u

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax()	__builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax()	__asm__ __volatile__("yield" ::: "memory")
#else
#define cpu_relax()	__asm__ __volatile__("" ::: "memory")
#endif

#define load_acquire(p)		__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define store_release(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define smp_mb()		__atomic_thread_fence(__ATOMIC_SEQ_CST)

static void die(const char *what)
{
	fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(const char *msg)
{
	fprintf(stderr, "floor: %s\n"
		"usage: floor ring --requests N --wait poll|eventfd --batch B "
		"[--spin-us S] [--affinity]\n"
		"       floor pingpong [--iters N] [--affinity]\n"
		"       floor disk --file PATH --threads T --requests N "
		"[--io-size BYTES] [--size-mib M] [--seed S]\n"
		"       floor echo --frames N --batch B [--window W] "
		"[--frame-size BYTES] [--seed S]\n", msg);
	exit(2);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: the floor needs cheap, repeatable randomness, no more. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* ---- options: every subcommand takes --name value pairs ---- */

struct opts {
	uint64_t requests, iters, seed, spin_us;
	unsigned int batch, threads, io_size, size_mib, window, frame_size;
	bool affinity, wait_eventfd;
	const char *file;
};

static uint64_t num_arg(const char *name, const char *s, uint64_t min,
			uint64_t max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || *s < '0' || *s > '9' || v < min || v > max) {
		static char msg[128];

		snprintf(msg, sizeof(msg), "%s '%s': expected %" PRIu64
			 "..%" PRIu64, name, s, min, max);
		usage(msg);
	}
	return v;
}

static void parse(int argc, char **argv, struct opts *o)
{
	int i;

	for (i = 2; i < argc; i++) {
		const char *n = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(n, "--affinity")) {
			o->affinity = true;
			continue;
		}
		if (!v)
			usage("an option needs a value");
		i++;
		if (!strcmp(n, "--requests") || !strcmp(n, "--frames"))
			o->requests = num_arg(n, v, 1, UINT64_MAX / 2);
		else if (!strcmp(n, "--iters"))
			o->iters = num_arg(n, v, 100, UINT64_MAX / 2);
		else if (!strcmp(n, "--seed"))
			o->seed = num_arg(n, v, 0, UINT64_MAX);
		else if (!strcmp(n, "--spin-us"))
			o->spin_us = num_arg(n, v, 0, 10000000);
		else if (!strcmp(n, "--batch"))
			o->batch = num_arg(n, v, 1, MAX_BATCH);
		else if (!strcmp(n, "--threads"))
			o->threads = num_arg(n, v, 1, 256);
		else if (!strcmp(n, "--io-size"))
			o->io_size = num_arg(n, v, 512, 1u << 20);
		else if (!strcmp(n, "--size-mib"))
			o->size_mib = num_arg(n, v, 1, 1u << 20);
		else if (!strcmp(n, "--window"))
			o->window = num_arg(n, v, 1, 4096);
		else if (!strcmp(n, "--frame-size"))
			o->frame_size = num_arg(n, v, 1, FRAME_MAX);
		else if (!strcmp(n, "--file"))
			o->file = v;
		else if (!strcmp(n, "--wait") && !strcmp(v, "poll"))
			o->wait_eventfd = false;
		else if (!strcmp(n, "--wait") && !strcmp(v, "eventfd"))
			o->wait_eventfd = true;
		else
			usage(n);
	}
}

/*
 * The two CPUs --affinity puts the threads on: the first two this process
 * may use, as vqsim picks them.  With fewer than two, nobody is pinned.
 */
static int pick_cpus(int cpu[2])
{
	cpu_set_t set;
	int c, n = 0;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 0;
	for (c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, &set))
			cpu[n++] = c;
	return n == 2;
}

/* A hint, as in vqsim: if the kernel refuses, the thread runs anywhere. */
static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Two threads, "guest" (i = 0) and "host" (i = 1), started together. */
struct pair {
	void *(*fn[2])(void *);
	void *arg;
	bool pinned;
	int cpu[2];
	unsigned int ready;	/* a start line: neither runs alone */
};

struct who {
	struct pair *p;
	unsigned int i;
};

static void *trampoline(void *arg)
{
	struct who *w = arg;

	if (w->p->pinned)
		pin(w->p->cpu[w->i]);
	__atomic_add_fetch(&w->p->ready, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&w->p->ready, __ATOMIC_ACQUIRE) < 2)
		cpu_relax();
	return w->p->fn[w->i](w->p->arg);
}

static void run_pair(struct pair *p, bool affinity)
{
	struct who w[2] = { { p, 0 }, { p, 1 } };
	pthread_t t[2];
	unsigned int i;

	p->pinned = affinity && pick_cpus(p->cpu);
	for (i = 0; i < 2; i++) {
		errno = pthread_create(&t[i], NULL, trampoline, &w[i]);
		if (errno)
			die("pthread_create");
	}
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
}

/* ---- ring: the least a two-thread ring with a return path can be ---- */

/*
 * One direction: the producer's free-running index and the slots.  No
 * consumer index is published: at most RING_SIZE tokens exist, so neither
 * ring can overflow (vqsim's driver tracks num_free the same way).  The
 * producer's "sleeping" flag (set while it waits for the other ring)
 * has a line of its own, unlike virtio's flags beside the index: it
 * changes only around a sleep, so the other side's check of it after
 * every publish hits its own cache instead of missing.
 */
struct spsc {
	_Alignas(CACHELINE) uint32_t idx;	/* producer publishes */
	_Alignas(CACHELINE) uint32_t sleeping;	/* the producer waits */
	_Alignas(CACHELINE) uint32_t slot[RING_SIZE];
};

struct ring_bench {
	struct spsc fwd;			/* guest -> host */
	struct spsc ret;			/* host -> guest */
	_Alignas(CACHELINE) uint64_t requests;
	uint64_t spin_ns;
	unsigned int batch;
	bool eventfd;
	int kick_fd, irq_fd;		/* host sleeps, guest sleeps */
	uint64_t kicks, irqs;		/* each written by one side */
	uint64_t t0, t1;
};

/*
 * Wait until *idx moves past seen, and return it.  Poll mode spins.
 * Eventfd mode spins spin_ns, then announces that it sleeps, and looks
 * again after a full barrier: the publisher stores its index, then a full
 * barrier, then reads the flag (notify()), so at least one of us sees the
 * other's store and no wake-up is lost (Dekker; barrier C pairs with D).
 * A spurious wake-up (an eventfd count left from a look that found work)
 * only costs one more round.
 */
static uint32_t wait_idx(const struct ring_bench *rb, const uint32_t *idx,
			 uint32_t seen, uint32_t *sleeping, int fd)
{
	uint64_t deadline = 0, val;
	uint32_t cur;
	unsigned int n;

	for (;;) {
		for (n = 0;; n++) {
			cur = load_acquire(idx);
			if (cur != seen)
				return cur;
			if (!rb->eventfd) {
				cpu_relax();
				continue;
			}
			/* The clock every 64 turns: it costs ~20 ns. */
			if ((n & 63) == 0) {
				uint64_t t = now_ns();

				if (!deadline)
					deadline = t + rb->spin_ns;
				if (t >= deadline)
					break;
			}
			cpu_relax();
		}
		__atomic_store_n(sleeping, 1, __ATOMIC_RELAXED);
		smp_mb();	/* Barrier C: flag before the last look */
		cur = load_acquire(idx);
		if (cur != seen) {
			__atomic_store_n(sleeping, 0, __ATOMIC_RELAXED);
			return cur;
		}
		if (read(fd, &val, sizeof(val)) != sizeof(val))
			die("read eventfd");
		__atomic_store_n(sleeping, 0, __ATOMIC_RELAXED);
		deadline = 0;
	}
}

/* After publishing: wake the other side if it said it sleeps. */
static void notify(const struct ring_bench *rb, uint32_t *sleeping, int fd,
		   uint64_t *count)
{
	uint64_t one = 1;

	if (!rb->eventfd)
		return;
	smp_mb();	/* Barrier D: index before the flag (pairs with C) */
	if (!__atomic_load_n(sleeping, __ATOMIC_RELAXED))
		return;
	/* Take the flag, so one sleep costs one write however many look. */
	if (!__atomic_exchange_n(sleeping, 0, __ATOMIC_SEQ_CST))
		return;
	if (write(fd, &one, sizeof(one)) != sizeof(one))
		die("write eventfd");
	(*count)++;
}

static void *ring_guest(void *arg)
{
	struct ring_bench *rb = arg;
	uint32_t freel[RING_SIZE], nfree = RING_SIZE, i;
	uint32_t fwd_shadow = 0, ret_seen = 0, ret_last = 0, unpub = 0;
	uint64_t sent = 0, done = 0;

	for (i = 0; i < RING_SIZE; i++)
		freel[i] = i;
	rb->t0 = now_ns();
	while (done < rb->requests) {
		/* Add what the free tokens allow; publish every batch, and
		 * whatever is left when nothing more can be added. */
		while (nfree && sent < rb->requests) {
			rb->fwd.slot[fwd_shadow++ & RING_MASK] = freel[--nfree];
			sent++;
			if (++unpub == rb->batch) {
				store_release(&rb->fwd.idx, fwd_shadow);
				notify(rb, &rb->ret.sleeping, rb->kick_fd,
				       &rb->kicks);
				unpub = 0;
			}
		}
		if (unpub) {
			store_release(&rb->fwd.idx, fwd_shadow);
			notify(rb, &rb->ret.sleeping, rb->kick_fd,
			       &rb->kicks);
			unpub = 0;
		}
		/* Nothing more can go out: reap, or wait for a return. */
		ret_seen = load_acquire(&rb->ret.idx);
		if (ret_seen == ret_last)
			ret_seen = wait_idx(rb, &rb->ret.idx, ret_last,
					    &rb->fwd.sleeping, rb->irq_fd);
		while (ret_last != ret_seen) {
			freel[nfree++] = rb->ret.slot[ret_last++ & RING_MASK];
			done++;
		}
	}
	rb->t1 = now_ns();
	return NULL;
}

static void *ring_host(void *arg)
{
	struct ring_bench *rb = arg;
	uint32_t last = 0, avail = 0, ret_shadow = 0;
	uint64_t done = 0;

	while (done < rb->requests) {
		avail = load_acquire(&rb->fwd.idx);
		if (avail == last)
			avail = wait_idx(rb, &rb->fwd.idx, last,
					 &rb->ret.sleeping, rb->kick_fd);
		/* Barrier A: the acquire above orders the slots after idx. */
		while (last != avail) {
			rb->ret.slot[ret_shadow++ & RING_MASK] =
				rb->fwd.slot[last++ & RING_MASK];
			done++;
		}
		/* Barrier B: slots before idx; one publish per drain. */
		store_release(&rb->ret.idx, ret_shadow);
		notify(rb, &rb->fwd.sleeping, rb->irq_fd, &rb->irqs);
	}
	return NULL;
}

static void cmd_ring(const struct opts *o)
{
	struct ring_bench *rb;
	struct pair p = { { ring_guest, ring_host }, NULL, false, { 0, 0 }, 0 };
	double s, n;

	if (!o->requests)
		usage("ring: --requests is required");
	rb = aligned_alloc(CACHELINE, sizeof(*rb));
	if (!rb)
		die("aligned_alloc");
	memset(rb, 0, sizeof(*rb));
	rb->requests = o->requests;
	rb->batch = o->batch;
	rb->spin_ns = o->spin_us * 1000;
	rb->eventfd = o->wait_eventfd;
	rb->kick_fd = eventfd(0, EFD_CLOEXEC);
	rb->irq_fd = eventfd(0, EFD_CLOEXEC);
	if (rb->kick_fd < 0 || rb->irq_fd < 0)
		die("eventfd");
	p.arg = rb;
	run_pair(&p, o->affinity);
	s = (double)(rb->t1 - rb->t0) / 1e9;
	n = (double)rb->requests;
	printf("{\"test\":\"ring\",\"wait\":\"%s\",\"batch\":%u,"
	       "\"spin_us\":%" PRIu64 ",\"affinity\":%s,"
	       "\"requests\":%" PRIu64 ",\"elapsed_s\":%.6f,\"mbuf_s\":%.4f,"
	       "\"ns_per_buf\":%.3f,\"kicks_per_buf\":%.6f,"
	       "\"irqs_per_buf\":%.6f}\n", rb->eventfd ? "eventfd" : "poll",
	       rb->batch, o->spin_us, p.pinned ? "true" : "false",
	       rb->requests, s, n / s / 1e6, s * 1e9 / n,
	       (double)rb->kicks / n, (double)rb->irqs / n);
	close(rb->kick_fd);
	close(rb->irq_fd);
	free(rb);
}

/* ---- pingpong: one cache line, there and back ---- */

#define PP_CHUNKS	101	/* an odd count: the median is one chunk */

struct pingpong {
	_Alignas(CACHELINE) uint64_t line;	/* odd: ping's turn done */
	_Alignas(CACHELINE) uint64_t iters;
	double chunk_ns[PP_CHUNKS];
};

/* Ping writes 2k+1 and waits for 2k+2; each wait is one line transfer. */
static void *pp_ping(void *arg)
{
	struct pingpong *pp = arg;
	uint64_t per = pp->iters / PP_CHUNKS, v = 0, k, t;
	unsigned int c;

	for (c = 0; c < PP_CHUNKS; c++) {
		t = now_ns();
		for (k = 0; k < per; k++) {
			__atomic_store_n(&pp->line, ++v, __ATOMIC_RELEASE);
			v++;
			while (load_acquire(&pp->line) != v)
				cpu_relax();
		}
		pp->chunk_ns[c] = (double)(now_ns() - t) / (double)per;
	}
	return NULL;
}

static void *pp_pong(void *arg)
{
	struct pingpong *pp = arg;
	uint64_t n = pp->iters / PP_CHUNKS * PP_CHUNKS, v = 0, k;

	for (k = 0; k < n; k++) {
		v++;
		while (load_acquire(&pp->line) != v)
			cpu_relax();
		__atomic_store_n(&pp->line, ++v, __ATOMIC_RELEASE);
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median chunk: a preemption lands in one chunk and does not move it. */
static void cmd_pingpong(const struct opts *o)
{
	struct pingpong *pp = aligned_alloc(CACHELINE, sizeof(*pp));
	struct pair p = { { pp_ping, pp_pong }, NULL, false, { 0, 0 }, 0 };
	double mean = 0;
	unsigned int c;

	if (!pp)
		die("aligned_alloc");
	memset(pp, 0, sizeof(*pp));
	pp->iters = o->iters ? o->iters : 1000000;
	if (pp->iters < PP_CHUNKS)
		pp->iters = PP_CHUNKS;
	p.arg = pp;
	run_pair(&p, o->affinity);
	/* The mean keeps what the median drops: time slices lost to other
	 * work on the same CPUs, which slow every ring just as much. */
	for (c = 0; c < PP_CHUNKS; c++)
		mean += pp->chunk_ns[c] / PP_CHUNKS;
	qsort(pp->chunk_ns, PP_CHUNKS, sizeof(double), cmp_double);
	printf("{\"test\":\"pingpong\",\"iters\":%" PRIu64 ",\"affinity\":%s,"
	       "\"ns\":%.1f,\"min_ns\":%.1f,\"max_ns\":%.1f,"
	       "\"mean_ns\":%.1f}\n", pp->iters / PP_CHUNKS * PP_CHUNKS,
	       p.pinned ? "true" : "false", pp->chunk_ns[PP_CHUNKS / 2],
	       pp->chunk_ns[0], pp->chunk_ns[PP_CHUNKS - 1], mean);
	free(pp);
}

/* ---- disk: random pread/pwrite, the I/O vqsim's blk workers do ---- */

struct disk_worker {
	pthread_t t;
	int fd;
	unsigned int io_size;
	uint64_t requests, nblocks, rng;
};

static void *disk_thread(void *arg)
{
	struct disk_worker *w = arg;
	void *buf = aligned_alloc(4096, w->io_size);
	uint64_t k, r;
	off_t off;
	ssize_t n;

	if (!buf)
		die("aligned_alloc");
	memset(buf, 0x5a, w->io_size);
	for (k = 0; k < w->requests; k++) {
		r = rng_next(&w->rng);
		off = (off_t)((r >> 1) % w->nblocks) * w->io_size;
		if (r & 1)
			n = pwrite(w->fd, buf, w->io_size, off);
		else
			n = pread(w->fd, buf, w->io_size, off);
		if (n != (ssize_t)w->io_size)
			die(r & 1 ? "pwrite" : "pread");
	}
	free(buf);
	return NULL;
}

/* A file vqsim has not made yet is written out in full, as vqsim zeroes
 * its disk: reading a hole would measure no I/O at all. */
static int open_disk(const char *path, uint64_t want, uint64_t *size)
{
	static char zero[1 << 16];
	struct stat st;
	uint64_t off;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0 || fstat(fd, &st))
		die(path);
	if ((uint64_t)st.st_size < want) {
		for (off = 0; off < want; off += sizeof(zero))
			if (pwrite(fd, zero, sizeof(zero), (off_t)off) !=
			    (ssize_t)sizeof(zero))
				die("pwrite");
		st.st_size = (off_t)want;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

static void cmd_disk(const struct opts *o)
{
	unsigned int nt = o->threads ? o->threads : 4, i;
	unsigned int io = o->io_size ? o->io_size : 4096;
	struct disk_worker *w = calloc(nt, sizeof(*w));
	uint64_t size, t0, t1;
	int fd;

	if (!o->file || !o->requests)
		usage("disk: --file and --requests are required");
	if (!w)
		die("calloc");
	fd = open_disk(o->file, (uint64_t)(o->size_mib ? o->size_mib : 64)
			<< 20, &size);
	if (size / io == 0)
		usage("disk: the file is smaller than --io-size");
	for (i = 0; i < nt; i++) {
		w[i] = (struct disk_worker){
			.fd = fd, .io_size = io, .nblocks = size / io,
			.requests = o->requests / nt + (i < o->requests % nt),
			.rng = (o->seed + i + 1) * 0x9e3779b97f4a7c15ull,
		};
	}
	t0 = now_ns();
	for (i = 0; i < nt; i++) {
		errno = pthread_create(&w[i].t, NULL, disk_thread, &w[i]);
		if (errno)
			die("pthread_create");
	}
	for (i = 0; i < nt; i++)
		pthread_join(w[i].t, NULL);
	t1 = now_ns();
	printf("{\"test\":\"disk\",\"threads\":%u,\"io_size\":%u,"
	       "\"requests\":%" PRIu64 ",\"elapsed_s\":%.6f,\"req_s\":%.1f}\n",
	       nt, io, o->requests, (double)(t1 - t0) / 1e9,
	       (double)o->requests * 1e9 / (double)(t1 - t0));
	close(fd);
	free(w);
}

/* ---- echo: frames over a SEQPACKET socketpair and straight back ---- */

struct echo_bench {
	int fd[2];			/* the sender's end, the echo's end */
	uint64_t frames, seed;
	unsigned int batch, window, frame_size;
	uint64_t t0, t1;
};

/* Frame lengths as sim/net.c draws them (uniform FRAME_MIN..FRAME_MAX),
 * or all --frame-size. */
static size_t frame_len(const struct echo_bench *eb, uint64_t *rng)
{
	if (eb->frame_size)
		return eb->frame_size;
	return FRAME_MIN + rng_next(rng) % (FRAME_MAX - FRAME_MIN + 1);
}

struct mbatch {
	struct mmsghdr m[MAX_BATCH];
	struct iovec iov[MAX_BATCH];
};

/* recv (batch 1) or recvmmsg: up to n frames, waiting for the first. */
static unsigned int recv_some(int fd, struct mbatch *b, uint8_t (*buf)[2048],
			      unsigned int n)
{
	unsigned int i;
	int got;

	for (i = 0; i < n; i++) {
		b->iov[i] = (struct iovec){ buf[i], sizeof(buf[i]) };
		b->m[i].msg_hdr = (struct msghdr){ .msg_iov = &b->iov[i],
						   .msg_iovlen = 1 };
	}
	if (n == 1) {
		ssize_t len = recv(fd, buf[0], sizeof(buf[0]), 0);

		b->m[0].msg_len = (unsigned int)len;
		got = len < 0 ? -1 : 1;
	} else {
		got = recvmmsg(fd, b->m, n, MSG_WAITFORONE, NULL);
	}
	if (got <= 0)
		die("recv");
	return (unsigned int)got;
}

/* send or sendmmsg of b->m[0..n); all of them, or fewer with dontwait. */
static unsigned int send_some(int fd, struct mbatch *b, unsigned int n,
			      int flags)
{
	unsigned int done = 0;
	int got;

	while (done < n) {
		if (n == 1)
			got = send(fd, b->iov[0].iov_base, b->iov[0].iov_len,
				   flags) < 0 ? -1 : 1;
		else
			got = sendmmsg(fd, b->m + done, n - done, flags);
		if (got < 0 && flags && errno == EAGAIN)
			break;
		if (got <= 0)
			die("send");
		done += (unsigned int)got;
		if (flags)
			break;
	}
	return done;
}

/*
 * The sending thread ("host"): keeps at most window frames in flight,
 * sends a batch once that many fit, and otherwise receives echoes.  Its
 * sends never wait (MSG_DONTWAIT): it must always come back to receive,
 * or both threads could block in send on full socket buffers.
 */
static void *echo_sender(void *arg)
{
	struct echo_bench *eb = arg;
	static uint8_t frame[FRAME_MAX], rbuf[MAX_BATCH][2048];
	static struct mbatch sb, rb;
	uint64_t sent = 0, got = 0, rng = eb->seed * 2 + 1;
	uint64_t want;
	unsigned int i, n;

	memset(frame, 0xa5, sizeof(frame));
	eb->t0 = now_ns();
	while (got < eb->frames) {
		want = eb->frames - sent < eb->batch ? eb->frames - sent :
		       eb->batch;
		if (want && eb->window - (sent - got) >= want) {
			for (i = 0; i < want; i++) {
				size_t len = frame_len(eb, &rng);

				sb.iov[i] = (struct iovec){ frame, len };
				sb.m[i].msg_hdr = (struct msghdr){
					.msg_iov = &sb.iov[i],
					.msg_iovlen = 1 };
			}
			n = send_some(eb->fd[0], &sb, (unsigned int)want,
				      MSG_DONTWAIT);
			sent += n;
			/* Lengths drawn for frames not sent are redrawn:
			 * the distribution is all that must match. */
			if (n == want)
				continue;
		}
		got += recv_some(eb->fd[0], &rb, rbuf, eb->batch);
	}
	eb->t1 = now_ns();
	return NULL;
}

/* The echo ("peer"): every frame straight back, in batches as it comes. */
static void *echo_peer(void *arg)
{
	struct echo_bench *eb = arg;
	static uint8_t buf[MAX_BATCH][2048];
	static struct mbatch b;
	uint64_t done = 0;
	unsigned int n, i;

	while (done < eb->frames) {
		n = recv_some(eb->fd[1], &b, buf, eb->batch);
		for (i = 0; i < n; i++)
			b.iov[i].iov_len = b.m[i].msg_len;
		send_some(eb->fd[1], &b, n, 0);
		done += n;
	}
	return NULL;
}

static void cmd_echo(const struct opts *o)
{
	struct echo_bench eb = {
		.frames = o->requests, .seed = o->seed, .batch = o->batch,
		.window = o->window ? o->window : RING_SIZE,
		.frame_size = o->frame_size,
	};
	struct pair p = { { echo_sender, echo_peer }, &eb, false, { 0, 0 }, 0 };
	char len[32];
	double s;

	if (!eb.frames)
		usage("echo: --frames is required");
	if (eb.window < eb.batch)
		usage("echo: --window must be at least --batch");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, eb.fd))
		die("socketpair");
	run_pair(&p, o->affinity);
	s = (double)(eb.t1 - eb.t0) / 1e9;
	if (eb.frame_size)
		snprintf(len, sizeof(len), "%u", eb.frame_size);
	else
		snprintf(len, sizeof(len), "\"%u..%u\"", FRAME_MIN, FRAME_MAX);
	printf("{\"test\":\"echo\",\"batch\":%u,\"window\":%u,"
	       "\"frame_len\":%s,\"frames\":%" PRIu64 ",\"elapsed_s\":%.6f,"
	       "\"frames_s\":%.1f}\n", eb.batch, eb.window, len, eb.frames, s,
	       (double)eb.frames / s);
	close(eb.fd[0]);
	close(eb.fd[1]);
}

int main(int argc, char **argv)
{
	struct opts o = { .batch = 1, .spin_us = 5, .seed = 1 };

	if (argc < 2)
		usage("a subcommand is required");
	parse(argc, argv, &o);
	if (!strcmp(argv[1], "ring"))
		cmd_ring(&o);
	else if (!strcmp(argv[1], "pingpong"))
		cmd_pingpong(&o);
	else if (!strcmp(argv[1], "disk"))
		cmd_disk(&o);
	else if (!strcmp(argv[1], "echo"))
		cmd_echo(&o);
	else
		usage(argv[1]);
	return 0;
}
