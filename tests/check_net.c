// SPDX-License-Identifier: MIT
/*
 * The net device: net_bad_direction on hand-built chains; the driver's two
 * kinds of chain; whole runs over both runners, both peers, small and full
 * queues and the index wrap; receive drops accounted for; frames between
 * two guests both ways; replay; the check end to end through a fault; and
 * --recover, with every frame accounted for across the resets.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guestdrv.h"
#include "harness.h"
#include "hostdev.h"
#include "sim.h"
#include "tests.h"

#define F_HEAD		VRING_DESC_F_HEAD
#define F_NEXT		VRING_DESC_F_NEXT
#define F_WRITE		VRING_DESC_F_WRITE
#define BUF(k)		(MOCK_BUF_PFN + (k))

/* ---- the check, on chains built by hand ---- */

enum queue_kind { TX, RX };

static int pop(struct host_fx *f, enum queue_kind kind, struct hvq_chain *c)
{
	return kind == TX ? net_dev_tx_pop(f->vq, c) : net_dev_rx_pop(f->vq, c);
}

/*
 * The chain at head 0 is of the wrong kind for the queue: the pop fails
 * with net_bad_direction naming head and both counts, nothing in guest
 * memory changes (no used entry, no data), there is no interrupt, and the
 * queue stays broken with the same detection even once the driver posts a
 * good chain.
 */
static void expect_bad_direction(struct host_fx *f, enum queue_kind kind,
				 uint32_t readable, uint32_t writable)
{
	const struct vring_detection *det;
	struct vring_detection first;
	struct hvq_chain c;
	void *snap;

	mock_avail_push(&f->m, 0);
	snap = mock_mem_snapshot(&f->m);
	ck_assert_int_eq(pop(f, kind, &c), -EIO);
	ck_assert_int_eq(hvq_error(f->vq), HVQ_E_NET_BAD_DIRECTION);
	det = hvq_detection(f->vq);
	ck_assert_ptr_nonnull(det);
	ck_assert_str_eq(det->check, "net_bad_direction");
	ck_assert_uint_eq(det_value(det, "head"), 0);
	ck_assert_uint_eq(det_value(det, "readable"), readable);
	ck_assert_uint_eq(det_value(det, "writable"), writable);
	ck_assert(mock_mem_unchanged(&f->m, snap));
	ck_assert_uint_eq(f->irqs, 0);
	first = *det;

	/* Latched: a repaired ring and a fresh good chain change nothing. */
	mock_desc(&f->m, f->m.num - 1, BUF(5), 0, 64,
		  F_HEAD | (kind == RX ? F_WRITE : 0), 0);
	mock_avail_push(&f->m, f->m.num - 1);
	ck_assert_int_eq(net_dev_tx_pop(f->vq, &c), -EIO);
	ck_assert_int_eq(net_dev_rx_pop(f->vq, &c), -EIO);
	ck_assert_int_eq(hvq_get_available(f->vq, &c.head), -EIO);
	det = hvq_detection(f->vq);
	ck_assert_str_eq(det->check, first.check);
	ck_assert_uint_eq(det_value(det, "readable"), readable);
	ck_assert_uint_eq(det_value(det, "writable"), writable);
	ck_assert_uint_eq(hvq_notify(f->vq), 0);
	ck_assert_uint_eq(f->irqs, 0);
	free(snap);
}

/* A transmit chain the device would write into (seed: "recv descs in
 * output queue?"). */
START_TEST(test_net_bad_direction_tx_writable)
{
	struct host_fx f;

	host_fx_init(&f, 8, 0);
	mock_desc(&f.m, 0, BUF(0), 0, 1514, F_HEAD | F_WRITE, 0);
	expect_bad_direction(&f, TX, 0, 1);
	host_fx_fini(&f);
}
END_TEST

/* A receive buffer the device could only read (seed: "output in receive
 * queue?"), two descriptors of it. */
START_TEST(test_net_bad_direction_rx_readable)
{
	struct host_fx f;

	host_fx_init(&f, 8, 0);
	mock_desc(&f.m, 0, BUF(0), 0, 100, F_HEAD | F_NEXT, 3);
	mock_desc(&f.m, 3, BUF(1), 0, 100, 0, 0);
	expect_bad_direction(&f, RX, 2, 0);
	host_fx_fini(&f);
}
END_TEST

/* A valid mixed chain (readable, then writable) is wrong on either queue;
 * at the index wrap as well. */
START_TEST(test_net_bad_direction_mixed)
{
	enum queue_kind kind = _i & 1 ? RX : TX;
	struct host_fx f;

	host_fx_init(&f, 4, _i & 2 ? 0xffffffffu : 0);
	mock_desc(&f.m, 0, BUF(0), 0, 14, F_HEAD | F_NEXT, 1);
	mock_desc(&f.m, 1, BUF(1), 0, 60, F_NEXT, 2);
	mock_desc(&f.m, 2, BUF(2), 0, 1514, F_WRITE, 0);
	expect_bad_direction(&f, kind, 2, 1);
	host_fx_fini(&f);
}
END_TEST

/* A ring check fires under its own name, not as a net one. */
START_TEST(test_net_ring_check_first)
{
	struct hvq_chain c;
	struct host_fx f;

	host_fx_init(&f, 8, 0);
	mock_desc(&f.m, 0, BUF(0), 0, 0, F_HEAD | F_WRITE, 0);
	mock_avail_push(&f.m, 0);
	ck_assert_int_eq(net_dev_tx_pop(f.vq, &c), -EIO);
	ck_assert_int_eq(hvq_error(f.vq), HVQ_E_DESC_ZERO_LEN);
	host_fx_fini(&f);
}
END_TEST

static void no_kick(void *ctx)
{
	(void)ctx;
}

static const struct gvq_ops quiet_ops = { .kick = no_kick };

/* What the driver posts is what the device pops: frames of 1 and 3
 * readable buffers on one queue, receive buffers on another, both kinds
 * returned and reaped, none rejected; and an empty queue is 0. */
START_TEST(test_net_driver_chains)
{
	static int tokens[4];
	struct gvq_sg frame[3] = {
		{ mock_buf_gpa(0, 0), 14 }, { mock_buf_gpa(0, 14), 20 },
		{ mock_buf_gpa(1, 0), 1000 },
	};
	struct gvq_sg rxbuf = { mock_buf_gpa(2, 0), 1514 };
	struct hvq_chain c;
	struct gvq *g;
	uint32_t len;
	struct host_fx f;

	host_fx_init(&f, 4, 0xfffffffeu);
	g = gvq_create(f.m.pages, 4, 0xfffffffeu, &quiet_ops, NULL);
	ck_assert_ptr_nonnull(g);

	ck_assert_int_eq(net_dev_tx_pop(f.vq, &c), 0);
	ck_assert_int_eq(gvq_net_add_tx(g, frame, 3, &tokens[0]), 0);
	ck_assert_int_eq(gvq_net_add_tx(g, frame, 1, &tokens[1]), 0);
	ck_assert_int_eq(gvq_kick(g), 1);
	ck_assert_int_eq(net_dev_tx_pop(f.vq, &c), 1);
	ck_assert_uint_eq(c.out_num, 3);
	ck_assert_uint_eq(c.in_num, 0);
	ck_assert_uint_eq(c.out_len, 1034);
	hvq_add_used(f.vq, c.head, 0);
	ck_assert_int_eq(net_dev_tx_pop(f.vq, &c), 1);
	ck_assert_uint_eq(c.out_num, 1);
	hvq_add_used(f.vq, c.head, 0);
	ck_assert_int_eq(net_dev_tx_pop(f.vq, &c), 0);
	ck_assert_int_eq(hvq_notify(f.vq), 1);
	ck_assert_ptr_eq(gvq_get_buf(g, &len), &tokens[0]);
	ck_assert_ptr_eq(gvq_get_buf(g, &len), &tokens[1]);

	/* The same queue now as a receive queue: only buffers to fill. */
	ck_assert_int_eq(gvq_net_add_rx(g, &rxbuf, &tokens[2]), 0);
	ck_assert_int_eq(gvq_kick(g), 1);
	ck_assert_int_eq(net_dev_rx_pop(f.vq, &c), 1);
	ck_assert_uint_eq(c.out_num, 0);
	ck_assert_uint_eq(c.in_num, 1);
	ck_assert_uint_eq(c.in_len, 1514);
	hvq_add_used(f.vq, c.head, 60);
	hvq_notify(f.vq);
	ck_assert_ptr_eq(gvq_get_buf(g, &len), &tokens[2]);
	ck_assert_uint_eq(len, 60);
	ck_assert_ptr_null(hvq_detection(f.vq));
	ck_assert_ptr_null(gvq_detection(g));
	gvq_destroy(g);
	host_fx_fini(&f);
}
END_TEST

/* ---- whole runs ---- */

static void net_config(struct sim_config *cfg, bool stepped,
		       enum sim_net_peer peer, uint32_t queue_size,
		       uint64_t requests, uint64_t seed)
{
	test_sim_config(cfg);
	cfg->devices = SIM_DEV_NET;
	cfg->stepped = stepped;
	cfg->net_peer = peer;
	cfg->queue_size = queue_size;
	cfg->requests = requests;
	cfg->seed = seed;
}

/* Guest k ("net", then "net.peer") sent and completed every frame, all
 * verified, none left in flight. */
static void expect_guest_done(const struct sim_config *cfg,
			      const struct sim_dev_result *d, unsigned int k)
{
	ck_assert_str_eq(d->name, k ? "net.peer" : "net");
	ck_assert(d->verified);
	ck_assert_uint_eq(d->requests, cfg->requests);
	ck_assert_uint_eq(d->completed, cfg->requests);
	ck_assert_uint_eq(d->tx, cfg->requests);
	ck_assert_uint_eq(d->in_flight, 0);
	ck_assert_uint_eq(d->mismatches, 0);
	ck_assert_uint_eq(d->queue_size, cfg->queue_size);
}

/*
 * Everything a net run promises: ok, one device per guest ("net", then
 * "net.peer"), every frame sent and completed, every frame received
 * intact and in order, and over the wire sent = received + dropped.
 * Returns the total dropped.
 */
static uint64_t expect_net_ok(const struct sim_config *cfg,
			      struct sim_result *res)
{
	unsigned int nguests = cfg->net_peer == SIM_PEER_GUEST ? 2 : 1, k;
	uint64_t sent = 0, received = 0, dropped = 0;

	ck_assert_int_eq(sim_run(cfg, res), 0);
	ck_assert_msg(res->ok, "seed %" PRIu64 " not ok", cfg->seed);
	ck_assert(!res->stalled);
	ck_assert_uint_eq(res->ndetections, 0);
	ck_assert_uint_eq(res->ndevs, nguests);
	for (k = 0; k < nguests; k++) {
		const struct sim_dev_result *d = &res->devs[k];

		expect_guest_done(cfg, d, k);
		/* A device asleep must be kicked; a guest is interrupted
		 * for sure only without suppression. */
		if (cfg->wait == SIM_WAIT_EVENTFD)
			ck_assert_uint_gt(d->kicks, 0);
		if (cfg->notify == VRING_NOTIFY_PLAIN)
			ck_assert_uint_gt(d->interrupts, 0);
		/* Frames are 60 to 1514 bytes. */
		ck_assert_uint_ge(d->bytes, d->rx * 60);
		ck_assert_uint_le(d->bytes, d->rx * 1514);
		sent += d->tx;
		received += d->rx;
		dropped += d->dropped;
	}
	ck_assert_uint_eq(sent, received + dropped);
	return dropped;
}

static const uint32_t sizes[] = { 2, 4, 256 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* _i: queue size, peer, and runner, all combinations. */
static void config_of(struct sim_config *cfg, int i, uint64_t requests)
{
	net_config(cfg, i / (2 * NSIZES), i / NSIZES % 2 ? SIM_PEER_GUEST :
		   SIM_PEER_LOOPBACK, sizes[i % NSIZES], requests,
		   4000 + (uint64_t)i);
}

START_TEST(test_net_runs)
{
	struct sim_config cfg;
	struct sim_result res;

	config_of(&cfg, _i, 5000);
	expect_net_ok(&cfg, &res);
}
END_TEST

/* Every index starts just below 2^32 and crosses it during the run. */
START_TEST(test_net_index_wrap)
{
	struct sim_config cfg;
	struct sim_result res;

	config_of(&cfg, _i, 3000);
	cfg.start_index = 0xffffffffu - 200;
	expect_net_ok(&cfg, &res);
}
END_TEST

/*
 * The driver refills receive buffers a batch at a time; with a batch as
 * big as the queue it withholds every buffer until all are back, so the
 * device meets an empty ring.  Frames that arrive then are dropped and
 * counted, never lost silently: sent = received + dropped, dropped > 0.
 */
START_TEST(test_net_rx_drops_counted)
{
	struct sim_config cfg;
	struct sim_result res;
	uint64_t dropped;

	net_config(&cfg, true, _i & 1 ? SIM_PEER_GUEST : SIM_PEER_LOOPBACK,
		   _i & 2 ? 16 : 4, 3000, 900 + (uint64_t)_i);
	cfg.batch = cfg.queue_size;
	dropped = expect_net_ok(&cfg, &res);
	ck_assert_uint_gt(dropped, 0);
	ck_assert_uint_lt(dropped, 3000 * res.ndevs);
}
END_TEST

/* The same with real threads: drops depend on timing, the accounting
 * does not. */
START_TEST(test_net_rx_drops_threaded)
{
	struct sim_config cfg;
	struct sim_result res;

	net_config(&cfg, false, _i ? SIM_PEER_GUEST : SIM_PEER_LOOPBACK, 4,
		   20000, 950 + (uint64_t)_i);
	cfg.batch = cfg.queue_size;
	expect_net_ok(&cfg, &res);
}
END_TEST

/* Two guests: each receives the other's frames (the receive check insists
 * on the partner as sender), in both runners. */
START_TEST(test_net_inter_guest)
{
	struct sim_config cfg;
	struct sim_result res;

	net_config(&cfg, _i, SIM_PEER_GUEST, 64, 4000, 1200 + (uint64_t)_i);
	expect_net_ok(&cfg, &res);
	ck_assert_uint_gt(res.devs[0].rx, 0);
	ck_assert_uint_gt(res.devs[1].rx, 0);
	ck_assert_uint_gt(res.devs[0].bytes, 0);
	ck_assert_uint_gt(res.devs[1].bytes, 0);
}
END_TEST

/*
 * Regression: a guest re-armed and slept while the other guest's reaping
 * of the last frame had just finished the run for it too; that sends no
 * interrupt, so it slept for ever (threaded: a hang; stepped: these seeds
 * stalled).
 */
static const struct {
	uint32_t queue_size;
	uint64_t seed;
} lost_wakeup[] = {
	{ 2, 53 }, { 2, 146 }, { 4, 79 }, { 8, 91 }, { 16, 69 }, { 32, 60 },
};

START_TEST(test_net_peer_lost_wakeup)
{
	struct sim_config cfg;
	struct sim_result res;

	net_config(&cfg, true, SIM_PEER_GUEST, lost_wakeup[_i].queue_size,
		   300, lost_wakeup[_i].seed);
	expect_net_ok(&cfg, &res);
}
END_TEST

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
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Stepped replay: the wire, the peer and the drops included, the same
 * seed is the same run, event for event; another seed another run. */
START_TEST(test_net_stepped_replay)
{
	char dir[] = "/tmp/vqsim-net-XXXXXX", path[3][64];
	struct sim_config cfg;
	struct sim_result res;
	uint64_t dropped[3];
	char *t[3];
	size_t len[3];
	int k;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	for (k = 0; k < 3; k++) {
		snprintf(path[k], sizeof(path[k]), "%s/%d", dir, k);
		net_config(&cfg, true, _i ? SIM_PEER_GUEST : SIM_PEER_LOOPBACK,
			   8, 1500, k == 2 ? 78 : 77);
		cfg.batch = 8;
		cfg.trace_path = path[k];
		dropped[k] = expect_net_ok(&cfg, &res);
		t[k] = slurp(path[k], &len[k]);
		ck_assert_uint_gt(len[k], 0);
		ck_assert_ptr_nonnull(strstr(t[k], _i ? "peer.rx" : "net.rx"));
	}
	ck_assert_uint_eq(len[0], len[1]);
	ck_assert(memcmp(t[0], t[1], len[0]) == 0);
	ck_assert_uint_eq(dropped[0], dropped[1]);
	ck_assert(len[0] != len[2] || memcmp(t[0], t[2], len[0]) != 0);
	for (k = 0; k < 3; k++) {
		unlink(path[k]);
		free(t[k]);
	}
	rmdir(dir);
}
END_TEST

/*
 * net_bad_direction end to end: a fault flips WRITE on a chain as it is
 * published, the device refuses it, and the run stops with exactly that
 * one detection, in both runners.  Receive buffers are checked when a
 * frame arrives for them, so that detection comes later, but it comes.
 */
static const struct {
	enum sim_net_peer peer;
	const char *spec, *queue;
} bad_dir[] = {
	{ SIM_PEER_LOOPBACK, "net.tx:desc[head].flags^=4@kick:3", "net.tx" },
	{ SIM_PEER_LOOPBACK, "net.rx:desc[head].flags^=4@kick:2", "net.rx" },
	{ SIM_PEER_GUEST, "peer.tx:desc[head].flags^=4@kick:2", "peer.tx" },
	{ SIM_PEER_GUEST, "peer.rx:desc[head].flags^=4@kick:3", "peer.rx" },
};

START_TEST(test_net_bad_direction_run)
{
	struct sim_config cfg;
	struct sim_result res;
	char err[256];
	int stepped;

	for (stepped = 0; stepped < 2; stepped++) {
		net_config(&cfg, stepped, bad_dir[_i].peer, 16, 2000,
			   300 + (uint64_t)_i);
		cfg.batch = 4;
		cfg.nfaults = 1;
		ck_assert_msg(flt_parse(bad_dir[_i].spec, &cfg.faults[0], err,
					sizeof(err)) == 0, "%s", err);
		ck_assert_int_eq(sim_run(&cfg, &res), 0);
		ck_assert(res.fault_applied[0]);
		ck_assert(!res.ok);
		ck_assert(!res.stalled);
		ck_assert_uint_eq(res.ndetections, 1);
		ck_assert_str_eq(res.detections[0].side, "host");
		ck_assert_str_eq(res.detections[0].det.check,
				 "net_bad_direction");
		ck_assert_str_eq(res.detections[0].queue, bad_dir[_i].queue);
	}
}
END_TEST

/* A frame the device mangled fails the guest's check: verification is
 * not fooled by a length that is merely in range. */
START_TEST(test_net_corrupt_frame_caught)
{
	struct sim_config cfg;
	struct sim_result res;
	char err[256];

	net_config(&cfg, true, SIM_PEER_LOOPBACK, 16, 500, 31);
	cfg.nfaults = 1;
	ck_assert_int_eq(flt_parse("net.rx:used.ring[last].len=59@irq:5",
				   &cfg.faults[0], err, sizeof(err)), 0);
	ck_assert_int_eq(sim_run(&cfg, &res), 0);
	ck_assert(res.fault_applied[0]);
	ck_assert_uint_eq(res.ndetections, 0);
	ck_assert_uint_eq(res.devs[0].mismatches, 1);
	ck_assert(!res.devs[0].verified);
	ck_assert(!res.ok);
}
END_TEST

/*
 * And not by a frame whose length is right: one payload byte flipped,
 * of a frame the device put in a receive buffer (at its interrupt) or of
 * one the guest is sending (at its kick, before the device takes it),
 * is one mismatch.  Stepped, so the flip lands between the two sides.
 */
struct net_flip {
	const char *queue;
	enum sim_side side;
	unsigned int want, flipped;
};

static void flip_payload(void *ctx, const char *queue, enum sim_side side,
			 uint64_t n, const struct vring *vr,
			 const struct vring_mem *mem)
{
	struct net_flip *f = ctx;
	struct vring_desc d;
	uint32_t head;
	uint8_t *p;

	/* Not the first publications: a steady state, buffers reused. */
	if (f->flipped == f->want || strcmp(queue, f->queue) ||
	    side != f->side || n < 5)
		return;
	head = test_last_head(vr, side == SIM_HOST);
	vring_desc_read(vr, head, &d);
	/* Byte 40 is payload (the header is 34): flip it if it is here. */
	if (d.len <= 40)
		return;
	p = vring_mem_desc_ptr(mem, d.pfn, d.offset, d.len);
	WRITE_ONCE(p[40], (uint8_t)(READ_ONCE(p[40]) ^ 0x20));
	f->flipped++;
}

START_TEST(test_net_payload_checked)
{
	/* A sent frame can be dropped for want of a receive buffer, and
	 * then nobody checks it: flip several, some arrive. */
	struct net_flip f = {
		.queue = _i ? "net.tx" : "net.rx",
		.side = _i ? SIM_GUEST : SIM_HOST,
		.want = _i ? 8 : 1,
	};
	struct sim_config cfg;
	struct sim_result res;

	net_config(&cfg, true, SIM_PEER_LOOPBACK, 16, 500, 33);
	cfg.tamper = flip_payload;
	cfg.tamper_ctx = &f;
	ck_assert_int_eq(sim_run(&cfg, &res), 0);
	ck_assert_uint_eq(f.flipped, f.want);
	ck_assert_uint_eq(res.ndetections, 0);
	/* Each flipped frame that arrived, and no other. */
	ck_assert_uint_ge(res.devs[0].mismatches, 1);
	ck_assert_uint_le(res.devs[0].mismatches, f.want);
	ck_assert_uint_le(f.want - res.devs[0].mismatches,
			  res.devs[0].dropped);
	ck_assert(!res.devs[0].verified);
	ck_assert(!res.ok);
}
END_TEST

/* The JSON names both guests and carries the net counters. */
START_TEST(test_net_json)
{
	struct sim_config cfg;
	struct sim_result res;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	net_config(&cfg, false, SIM_PEER_GUEST, 32, 1000, 5);
	expect_net_ok(&cfg, &res);
	f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	sim_print_json(f, &res);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(buf, "\"name\": \"net\""));
	ck_assert_ptr_nonnull(strstr(buf, "\"name\": \"net.peer\""));
	ck_assert_ptr_nonnull(strstr(buf, "\"tx\": 1000"));
	ck_assert_ptr_nonnull(strstr(buf, "\"dropped\": "));
	ck_assert_ptr_nonnull(strstr(buf, "\"lost_in_reset\": 0"));
	ck_assert_ptr_nonnull(strstr(buf, "\"ok\": true"));
	free(buf);
}
END_TEST

/* ---- --recover ---- */

/*
 * What a recovered net run promises: ok, every fault applied (threaded:
 * or reported as never due) and every detection recovered from (stepped:
 * one reset per fault; threaded, a fault whose moment falls while its
 * queue is already broken is wiped by that reset, so only the first is
 * certain), every frame completed and
 * put on the wire exactly once (a frame the device had sent before the
 * reset was not sent again), every frame received intact and in order,
 * and over the wire every frame sent received, dropped or lost in a
 * reset.  Returns the frames lost in resets.
 */
static uint64_t expect_net_recovered(const struct sim_config *cfg,
				     struct sim_result *res)
{
	unsigned int nguests = cfg->net_peer == SIM_PEER_GUEST ? 2 : 1, k;
	uint64_t sent = 0, received = 0, dropped = 0, lost = 0;

	ck_assert_int_eq(sim_run(cfg, res), 0);
	ck_assert_msg(res->ok, "seed %" PRIu64 " not ok", cfg->seed);
	ck_assert(!res->stalled);
	ck_assert_uint_eq(res->nfaults, cfg->nfaults);
	for (k = 0; k < cfg->nfaults; k++) {
		/* Threaded, how often the driver refills the receive queue
		 * depends on timing (it reposts whole bursts, and the device
		 * drops what finds no buffer): a late moment may never come,
		 * and then the run must say so. */
		if (!cfg->stepped && !res->fault_applied[k]) {
			ck_assert_uint_lt(res->fault_moments[k],
					  cfg->faults[k].n);
			continue;
		}
		ck_assert_msg(res->fault_applied[k], "fault %u not applied",
			      k);
		ck_assert_uint_ge(res->fault_moments[k], cfg->faults[k].n);
	}
	if (cfg->stepped) {
		ck_assert_uint_eq(res->resets, cfg->nfaults);
		ck_assert_uint_eq(res->ndetections, cfg->nfaults);
	} else {
		ck_assert_uint_ge(res->resets, 1);
		ck_assert_uint_ge(res->ndetections, 1);
	}
	for (k = 0; k < res->ndetections; k++)
		ck_assert(res->detections[k].recovered);
	ck_assert_uint_eq(res->ndevs, nguests);
	for (k = 0; k < nguests; k++) {
		const struct sim_dev_result *d = &res->devs[k];

		expect_guest_done(cfg, d, k);
		sent += d->tx;
		received += d->rx;
		dropped += d->dropped;
		lost += d->lost_in_reset;
	}
	ck_assert_uint_eq(sent, received + dropped + lost);
	return lost;
}

static void add_faults(struct sim_config *cfg, const char *const *specs,
		       unsigned int n)
{
	char err[256];
	unsigned int k;

	cfg->nfaults = n;
	for (k = 0; k < n; k++)
		ck_assert_msg(flt_parse(specs[k], &cfg->faults[k], err,
					sizeof(err)) == 0, "%s", err);
}

/*
 * Three faults on one queue, each a different kind of detection: the
 * device's (avail idx, a chain of the wrong direction), the driver's (used
 * idx).  On the transmit queue some frames were sent and some not when
 * each reset came; on the receive queue some had been delivered into
 * buffers not yet reaped.  Both runners, the indices crossing 2^32.
 */
static const struct {
	enum sim_net_peer peer;
	const char *specs[3];
} recover_cases[] = {
	{ SIM_PEER_LOOPBACK, { "net.tx:avail.idx+=1000@kick:5",
			       "net.tx:used.idx+=1000@irq:40",
			       "net.tx:desc[head].flags^=4@kick:80" } },
	{ SIM_PEER_LOOPBACK, { "net.rx:avail.idx+=1000@kick:5",
			       "net.rx:used.idx+=1000@irq:40",
			       "net.rx:desc[head].flags^=4@kick:60" } },
	/* Two guests: each one's resets, and the other's frames on the
	 * way through them. */
	{ SIM_PEER_GUEST, { "net.tx:used.idx+=1000@irq:20",
			    "peer.rx:avail.idx+=1000@kick:10",
			    "peer.tx:avail.idx+=1000@kick:30" } },
	{ SIM_PEER_GUEST, { "peer.rx:used.idx+=1000@irq:20",
			    "net.rx:desc[head].flags^=4@kick:10",
			    "peer.tx:desc[head].flags^=4@kick:30" } },
};
#define NRECOVER (sizeof(recover_cases) / sizeof(recover_cases[0]))

START_TEST(test_net_recover)
{
	unsigned int c = (unsigned int)_i % NRECOVER;
	struct sim_config cfg;
	struct sim_result res;

	net_config(&cfg, _i / NRECOVER, recover_cases[c].peer, 64, 6000,
		   600 + (uint64_t)c);
	cfg.recover = true;
	cfg.start_index = UINT32_MAX - 1000;
	add_faults(&cfg, recover_cases[c].specs, 3);
	expect_net_recovered(&cfg, &res);
}
END_TEST

/*
 * The issue's own example on each queue, over many stepped interleavings:
 * the accounting is exact in every one, and frames do get lost in the
 * reset of the receive queue (taken off the wire, put in a buffer, never
 * reaped), counted, not silently.
 */
START_TEST(test_net_recover_seeds)
{
	static const char *const spec[] = {
		"net.tx:avail.idx+=1000@kick:10",
		"net.rx:used.idx+=1000@irq:10",
	};
	struct sim_config cfg;
	uint64_t lost = 0, seed;

	for (seed = 0; seed < 16; seed++) {
		struct sim_result res;

		net_config(&cfg, true, seed & 1 ? SIM_PEER_GUEST :
			   SIM_PEER_LOOPBACK, _i ? 16 : 256, 2000,
			   700 + seed);
		cfg.recover = true;
		add_faults(&cfg, &spec[_i], 1);
		lost += expect_net_recovered(&cfg, &res);
	}
	if (_i)
		ck_assert_uint_gt(lost, 0);
}
END_TEST

/* Without --recover the same fault ends the run, as before. */
START_TEST(test_net_no_recover)
{
	static const char *const spec = "net.tx:avail.idx+=1000@kick:10";
	struct sim_config cfg;
	struct sim_result res;

	net_config(&cfg, _i, SIM_PEER_LOOPBACK, 64, 2000, 41);
	add_faults(&cfg, &spec, 1);
	ck_assert_int_eq(sim_run(&cfg, &res), 0);
	expect_stopped_unrecovered(&res, cfg.requests);
}
END_TEST

Suite *net_suite(void)
{
	Suite *s = suite_create("net");
	TCase *tc = tcase_create("check");

	tcase_add_test(tc, test_net_bad_direction_tx_writable);
	tcase_add_test(tc, test_net_bad_direction_rx_readable);
	tcase_add_loop_test(tc, test_net_bad_direction_mixed, 0, 4);
	tcase_add_test(tc, test_net_ring_check_first);
	tcase_add_test(tc, test_net_driver_chains);
	suite_add_tcase(s, tc);

	tc = tcase_create("runs");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_net_runs, 0, 4 * NSIZES);
	tcase_add_loop_test(tc, test_net_index_wrap, 0, 4 * NSIZES);
	tcase_add_loop_test(tc, test_net_rx_drops_counted, 0, 4);
	tcase_add_loop_test(tc, test_net_rx_drops_threaded, 0, 2);
	tcase_add_loop_test(tc, test_net_inter_guest, 0, 2);
	tcase_add_loop_test(tc, test_net_peer_lost_wakeup, 0,
			    sizeof(lost_wakeup) / sizeof(lost_wakeup[0]));
	tcase_add_loop_test(tc, test_net_stepped_replay, 0, 2);
	tcase_add_loop_test(tc, test_net_bad_direction_run, 0, 4);
	tcase_add_test(tc, test_net_corrupt_frame_caught);
	tcase_add_loop_test(tc, test_net_payload_checked, 0, 2);
	tcase_add_test(tc, test_net_json);
	suite_add_tcase(s, tc);

	tc = tcase_create("recover");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_net_recover, 0, 2 * NRECOVER);
	tcase_add_loop_test(tc, test_net_recover_seeds, 0, 2);
	tcase_add_loop_test(tc, test_net_no_recover, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}
