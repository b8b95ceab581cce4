// SPDX-License-Identifier: MIT
/*
 * The net device: a guest that sends numbered, checksummed frames and
 * checks every frame it receives; a host that moves frames between the
 * ring and a "tap" (one end of a SEQPACKET socketpair, one message per
 * frame); and on the other end of the wire a peer, either a loopback that
 * sends every frame back or a switch to a second guest ("net.peer").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rng.h"
#include "run.h"

#define NET_FRAME_MIN	60u	/* Ethernet's minimum, without the FCS */
#define NET_FRAME_MAX	1514u	/* its maximum; also each receive buffer */
#define NET_WIRE_MAX	65536u	/* what a tap carries; longer is dropped */
#define NET_MAX_GUESTS	2u
#define NET_BURST	64u	/* frames per wake-up, so that no fd starves */

/*
 * A frame as the guest builds it (past the Ethernet header, little-endian):
 *
 *   0 dst MAC | 6 src MAC | 12 type 0x88b5 | 14 u32 sender | 18 u32 len |
 *   22 u64 seq | 30 u32 csum | 34 payload, bytes from (seed, sender, seq)
 *
 * csum covers the whole frame with its own four bytes left out.  The MACs
 * are 02:76:71:00:00:<guest id>, locally administered.
 */
#define F_DST		0
#define F_SRC		6
#define F_TYPE		12
#define F_SENDER	14
#define F_LEN		18
#define F_SEQ		22
#define F_CSUM		30
#define F_HDR		34
#define NET_ETHERTYPE	0x88b5u		/* IEEE local experimental */

_Static_assert(F_HDR < NET_FRAME_MIN, "the header fits the smallest frame");

/* A page of guest memory the guest sends from or receives into. */
struct net_buf {
	uint64_t gpa;
	struct net_buf *next_free;	/* or the next to post again */
	/*
	 * Transmit only, for --recover: the frame in it, to post it again
	 * as it was, and which chain it was on the ring since the ring's
	 * last reset (the device takes them in that order).
	 */
	uint64_t seq;
	uint32_t len, ndesc;
	uint64_t post;
};

/* The peer's view of one guest: the far end of its socketpair. */
struct net_port {
	int fd;
	uint32_t held;			/* a frame read, not yet passed on */
	uint8_t buf[NET_WIRE_MAX];
};

/* What the guests of one net device share: the peer between them. */
struct net_wire {
	unsigned int nguests;		/* 1: loopback peer; 2: switch */
	unsigned int refs;		/* devices still pointing here */
	struct net_dev *guests[NET_MAX_GUESTS];
	struct net_port port[NET_MAX_GUESTS];
	int stop_fd;			/* threaded: tells the peer to exit */
	pthread_t thread;
	bool started;
};

/* Host work that no kick starts, for the stepped scheduler to choose. */
enum net_act { ACT_FORWARD0, ACT_FORWARD1, ACT_RX, ACT_TX };
#define NET_MAX_ACTS	4

struct net_dev {
	struct sim_device dev;		/* first: the runners' view */
	struct net_wire *wire;
	unsigned int id;		/* sender id: index in wire->guests */
	const char *name;
	struct sim_queue *rxq, *txq;
	const struct vring_mem *mem;
	int tap;			/* the host's end of the socketpair */

	/* Host side: the host thread only (result() reads after the join). */
	_Alignas(64) struct hvq_chain tx_chain;	/* popped, not yet sent */
	bool tx_held;
	bool tx_blocked;		/* the tap was full: resume later */
	struct hvq_chain rx_chain;	/* where the next frame goes */
	bool rx_held;
	uint64_t tx, rx, rx_bytes;
	uint64_t drop_no_buf, drop_tx;	/* why frames were lost */
	uint64_t drop_oversize;		/* returned empty, so the guest knows */
	uint64_t tx_used;		/* chains used since the ring's reset */
	unsigned int nacts;		/* stepped: what async_ready found */
	enum net_act acts[NET_MAX_ACTS];

	/*
	 * --recover: what the device had done with a queue when it reset
	 * it, for the driver to settle what it took back.  Written by the
	 * host in host_reset, before the reset_ack the guest acquires, and
	 * read by the guest before it asks for the next reset of the queue:
	 * so never both at once.
	 */
	_Alignas(64) uint64_t reset_tx_used;	/* tx chains used, in order */
	uint64_t reset_rx, reset_rx_empty;	/* rx: frames, empties, all */

	/*
	 * Frames lost where the ring cannot show it (no receive buffer, a
	 * transmit the tap refused).  Host writes, guest reads: with the
	 * empty completions it is how the guest knows that nothing more is
	 * on its way.  Nothing else of the host's reaches the guest.
	 */
	_Alignas(64) _Atomic uint64_t lost;

	/* Guest side: the guest thread only. */
	_Alignas(64) uint64_t seed, rng;
	uint64_t requests, sent, tx_done;
	uint64_t rx_frames;		/* non-empty receive completions */
	uint64_t rx_empty;		/* empty ones: dropped by the device */
	uint64_t rx_ok, mismatches;
	uint64_t last_seq[NET_MAX_GUESTS];	/* per sender */
	bool seen[NET_MAX_GUESTS];
	uint32_t next_len, next_ndesc;	/* the shape of the next frame */
	uint32_t batch, tx_unkicked;
	uint32_t rx_refill, rx_nfree;
	bool rx_refilling, rearm;
	bool woke_wire;			/* wire_done() woke the others */
	uint64_t restart_races;
	struct net_buf *tx_free, *rx_free;
	/* --recover */
	bool tx_settle, rx_settle;	/* a queue reset is to be settled */
	struct net_buf *tx_taken;	/* taken back, not yet settled */
	struct net_buf *resubmit;	/* not sent: to post again, by seq */
	uint64_t tx_posted;		/* chains posted since the ring's reset */
	uint64_t rx_lost_reset;		/* frames delivered, then reset away */
	uint64_t rx_empty_reset;	/* empty returns likewise */
	struct net_buf *bufs;		/* num tx slots, then num rx buffers */
};

/* ---- frames ---- */

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put_mac(uint8_t *p, unsigned int id)
{
	static const uint8_t oui[5] = { 0x02, 0x76, 0x71, 0x00, 0x00 };

	memcpy(p, oui, sizeof(oui));
	p[5] = (uint8_t)id;
}

static bool mac_is(const uint8_t *p, unsigned int id)
{
	uint8_t mac[6];

	put_mac(mac, id);
	return !memcmp(p, mac, sizeof(mac));
}

/* A word at a time: any one corrupt word always changes the result, as
 * each step is a bijection of the running value. */
static uint64_t hash_bytes(uint64_t h, const uint8_t *p, size_t n)
{
	uint64_t w;

	/* Whole words with a fixed-size copy, which compiles to one load;
	 * the tail, tagged with its length, last. */
	for (; n > 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	w = 0;
	memcpy(&w, p, n);
	h = (h ^ w ^ (n < 8 ? (uint64_t)n << 56 : 0)) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

static uint32_t frame_csum(const uint8_t *f, uint32_t len)
{
	uint64_t h = hash_bytes(0xcbf29ce484222325ull ^ len, f, F_CSUM);

	h = hash_bytes(h, f + F_CSUM + 4, len - F_CSUM - 4);
	return (uint32_t)(h ^ (h >> 32));
}

static uint64_t payload_key(uint64_t seed, unsigned int sender, uint64_t seq)
{
	uint64_t s = seed ^ (seq * 0xd6e8feb86659fd93ull) ^
		     ((uint64_t)sender << 56) ^ 0x6e6574ull;

	return rng_next(&s);
}

/* ---- the guest ---- */

static uint8_t *guest_ptr(const struct net_dev *nd, uint64_t gpa,
			  uint32_t len)
{
	uint8_t *p = vring_mem_at(nd->mem, gpa, len);

	/* Our own buffers: inside guest memory by construction. */
	assert(p);
	return p;
}

/* Loopback sends a guest's frames back to it; the switch to the other. */
static unsigned int partner(const struct net_wire *w, unsigned int id)
{
	return w->nguests == 1 ? id : 1 - id;
}

static struct gvq *rx_vq(const struct net_dev *nd)
{
	return nd->rxq->gvq;
}

static struct gvq *tx_vq(const struct net_dev *nd)
{
	return nd->txq->gvq;
}

static void draw_shape(struct net_dev *nd)
{
	nd->next_len = rng_range(&nd->rng, NET_FRAME_MIN, NET_FRAME_MAX);
	/* Sometimes header and payload apart, as a stack that prepends
	 * headers would send it: the host must gather. */
	nd->next_ndesc = rng_next(&nd->rng) & 1 ? 2 : 1;
}

/* The buffers frame b is posted in: one, or header and payload apart. */
static unsigned int frame_sg(const struct net_buf *b, struct gvq_sg sg[2])
{
	if (b->ndesc == 1) {
		sg[0] = (struct gvq_sg){ b->gpa, b->len };
		return 1;
	}
	sg[0] = (struct gvq_sg){ b->gpa, F_HDR };
	sg[1] = (struct gvq_sg){ b->gpa + F_HDR, b->len - F_HDR };
	return 2;
}

/* Build frame number nd->sent, of the drawn shape, in b. */
static void build_frame(struct net_dev *nd, struct net_buf *b)
{
	uint32_t len = nd->next_len;
	uint8_t *f = guest_ptr(nd, b->gpa, len);
	uint64_t seq = nd->sent;

	put_mac(f + F_DST, partner(nd->wire, nd->id));
	put_mac(f + F_SRC, nd->id);
	f[F_TYPE] = NET_ETHERTYPE >> 8;
	f[F_TYPE + 1] = NET_ETHERTYPE & 0xff;
	put_le32(f + F_SENDER, nd->id);
	put_le32(f + F_LEN, len);
	put_le32(f + F_SEQ, (uint32_t)seq);
	put_le32(f + F_SEQ + 4, (uint32_t)(seq >> 32));
	rng_pattern_fill(f + F_HDR, len - F_HDR,
			 payload_key(nd->seed, nd->id, seq));
	put_le32(f + F_CSUM, frame_csum(f, len));
	b->seq = seq;
	b->len = len;
	b->ndesc = nd->next_ndesc;
}

/*
 * Intact (length, addresses, checksum, every payload byte) and in order:
 * sequence numbers strictly increase per sender.  A gap is a frame dropped
 * on the way, which the drop counters must account for (see accounted()).
 */
static bool frame_ok(struct net_dev *nd, const uint8_t *f, uint32_t len)
{
	unsigned int sender = partner(nd->wire, nd->id);
	uint8_t expect[NET_FRAME_MAX];
	uint64_t seq;

	if (len < NET_FRAME_MIN || len > NET_FRAME_MAX)
		return false;
	seq = get_le32(f + F_SEQ) | (uint64_t)get_le32(f + F_SEQ + 4) << 32;
	if (!mac_is(f + F_DST, nd->id) || !mac_is(f + F_SRC, sender) ||
	    f[F_TYPE] != NET_ETHERTYPE >> 8 ||
	    f[F_TYPE + 1] != (NET_ETHERTYPE & 0xff) ||
	    get_le32(f + F_SENDER) != sender || get_le32(f + F_LEN) != len ||
	    seq >= nd->requests ||
	    (nd->seen[sender] && seq <= nd->last_seq[sender]) ||
	    get_le32(f + F_CSUM) != frame_csum(f, len))
		return false;
	rng_pattern_fill(expect, len - F_HDR,
			 payload_key(nd->seed, sender, seq));
	if (memcmp(f + F_HDR, expect, len - F_HDR) != 0)
		return false;
	nd->seen[sender] = true;
	nd->last_seq[sender] = seq;
	return true;
}

/*
 * Frames of this wire that arrived, came back empty or were lost: when
 * that is every frame sent, nothing can still be on its way.  Reads the
 * other guest's counters too, which is safe: all guest workloads run on
 * the one guest thread.
 */
static uint64_t accounted(const struct net_wire *w)
{
	uint64_t n = 0;
	unsigned int k;

	for (k = 0; k < w->nguests; k++)
		n += w->guests[k]->rx_frames + w->guests[k]->rx_empty +
		     w->guests[k]->rx_lost_reset +
		     w->guests[k]->rx_empty_reset +
		     atomic_load(&w->guests[k]->lost);
	return n;
}

/* All sent and given back, and nothing left on the wire. */
static bool finished(const struct net_dev *nd)
{
	return nd->tx_done == nd->requests &&
	       accounted(nd->wire) >= nd->requests * nd->wire->nguests;
}

static bool guest_broken(const struct net_dev *nd)
{
	return gvq_error(rx_vq(nd)) || gvq_error(tx_vq(nd));
}

/*
 * A guest whose queue broke sends and receives no more: the frames the
 * others wait for from it will never come.  Under --recover only our own
 * broken queue stops us, until the reset the next round starts: another
 * guest's will be reset too, and its frames will come.
 */
static bool stopped(const struct net_dev *nd)
{
	const struct net_wire *w = nd->wire;
	unsigned int k;

	if (nd->dev.run->cfg->recover)
		return guest_broken(nd);
	for (k = 0; k < w->nguests; k++)
		if (guest_broken(w->guests[k]))
			return true;
	return false;
}

/*
 * We are done, and the wire is: every frame is accounted for.  On threads
 * the runner steps each workload in a burst, so another guest may have
 * gone idle earlier in this round, before our burst reaped the frame that
 * finished it too; no interrupt will come for that, and a round that ends
 * in our WL_DONE is no progress, so the guest thread would sleep for ever.
 * Wake it, once.  (Stepped, one step a round: the other guest looks again
 * after our reaping step, as test_net_peer_lost_wakeup keeps honest.)
 */
static enum wl_step wire_done(struct net_dev *nd)
{
	struct run *run = nd->dev.run;
	const struct net_wire *w = nd->wire;
	unsigned int k;

	if (nd->woke_wire || run->stepped)
		return WL_DONE;
	nd->woke_wire = true;
	for (k = 0; k < w->nguests; k++)
		if (w->guests[k] != nd)
			run->wake_guest(w->guests[k]->rxq);
	return WL_DONE;
}

static uint64_t sub_sat(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/*
 * After a reset of the transmit queue, settle the frames taken back.  The
 * device takes chains in the order they were posted, and had used the
 * first reset_tx_used of those posted since the ring's previous reset: those
 * frames are on the wire (or counted lost), and are done; sending one again
 * would deliver it twice.  A chain it was holding for a full tap is not
 * among them: it let go of it unsent.  The rest go back on the ring in
 * sequence order, ahead of any new frame, so that the receiver still sees
 * each sender's frames in order.
 */
static void tx_settle(struct net_dev *nd)
{
	struct net_buf *b, *next, **p;

	for (b = nd->tx_taken; b; b = next) {
		next = b->next_free;
		if (b->post < nd->reset_tx_used) {
			nd->tx_done++;
			b->next_free = nd->tx_free;
			nd->tx_free = b;
			continue;
		}
		for (p = &nd->resubmit; *p && (*p)->seq < b->seq;
		     p = &(*p)->next_free)
			;
		b->next_free = *p;
		*p = b;
	}
	nd->tx_taken = NULL;
	nd->tx_settle = false;
}

/*
 * After a reset of the receive queue: a frame the device had put in a
 * buffer that we had not reaped when the reset came is lost with the ring.
 * The device's totals at the reset, less what we reaped, are what all the
 * resets so far lost; the buffers themselves were empty again, and posted
 * again.  A device whose counts fall short of ours leaves none counted,
 * and result() finds the disagreement.
 */
static void rx_settle(struct net_dev *nd)
{
	nd->rx_lost_reset = sub_sat(nd->reset_rx, nd->rx_frames);
	nd->rx_empty_reset = sub_sat(nd->reset_rx_empty, nd->rx_empty);
	nd->rx_settle = false;
}

/*
 * One ring operation per call, as the null workload: reap transmits and
 * receives, refill receive buffers, send, and only then re-arm and sleep.
 *
 * Receive buffers go back in batches of min(--batch, queue size), with
 * one kick per batch, as a driver that refills from a budget does; until a
 * batch is complete the driver withholds them, so the device runs short
 * and drops frames, counted, whenever the guest falls behind.  With a
 * batch as large as the queue the ring is empty before every refill: that
 * is how the tests make drops happen.
 */
static enum wl_step net_guest_step(struct sim_device *dev)
{
	struct net_dev *nd = (struct net_dev *)dev;
	struct gvq_sg sg[2];
	struct net_buf *b;
	unsigned int n;
	bool can_add;
	uint32_t len;

	/* The first step after a reset: both of its queues are ready. */
	if (nd->tx_settle)
		tx_settle(nd);
	if (nd->rx_settle)
		rx_settle(nd);
	if (stopped(nd))
		return WL_DONE;
	if (nd->rearm) {
		bool more;

		nd->rearm = false;
		/* Spin before re-enabling interrupts, as the null and blk
		 * workloads do. */
		if (run_guest_spin(&nd->dev))
			return WL_PROGRESS;
		more = gvq_restart(tx_vq(nd));
		more |= gvq_restart(rx_vq(nd));
		/*
		 * Look once more before sleeping: the other guest may have
		 * reaped the last frame since we did, and that sends us no
		 * interrupt (regression: test_net_peer_lost_wakeup).
		 */
		if (!more)
			return finished(nd) ? wire_done(nd) : WL_IDLE;
		nd->restart_races++;
		return WL_PROGRESS;
	}
	b = gvq_get_buf(tx_vq(nd), &len);
	if (b) {
		nd->tx_done++;
		b->next_free = nd->tx_free;
		nd->tx_free = b;
		return WL_PROGRESS;
	}
	b = gvq_get_buf(rx_vq(nd), &len);
	if (b) {
		/* Empty: the device dropped a frame too long for it. */
		if (!len) {
			nd->rx_empty++;
		} else {
			nd->rx_frames++;
			if (frame_ok(nd, guest_ptr(nd, b->gpa, len), len))
				nd->rx_ok++;
			else
				nd->mismatches++;
		}
		b->next_free = nd->rx_free;
		nd->rx_free = b;
		nd->rx_nfree++;
		return WL_PROGRESS;
	}
	if (gvq_error(rx_vq(nd)) || gvq_error(tx_vq(nd)))
		return WL_DONE;

	if (nd->rx_refilling || nd->rx_nfree >= nd->rx_refill) {
		if (!nd->rx_free) {
			nd->rx_refilling = false;
			gvq_kick(rx_vq(nd));
			return WL_PROGRESS;
		}
		b = nd->rx_free;
		sg[0] = (struct gvq_sg){ b->gpa, NET_FRAME_MAX };
		/* One descriptor per buffer, one buffer per entry: it fits. */
		if (gvq_net_add_rx(rx_vq(nd), sg, b))
			return WL_DONE;		/* broken */
		nd->rx_free = b->next_free;
		nd->rx_nfree--;
		nd->rx_refilling = true;
		return WL_PROGRESS;
	}

	/* A frame a reset took back, unsent, goes before any new one. */
	if (nd->resubmit) {
		b = nd->resubmit;
		can_add = gvq_num_free(tx_vq(nd)) >= b->ndesc;
	} else {
		b = nd->tx_free;
		can_add = nd->sent < nd->requests && b &&
			  gvq_num_free(tx_vq(nd)) >= nd->next_ndesc;
	}
	if (nd->tx_unkicked >= nd->batch || (nd->tx_unkicked && !can_add)) {
		gvq_kick(tx_vq(nd));
		nd->tx_unkicked = 0;
		return WL_PROGRESS;
	}
	if (can_add) {
		if (b != nd->resubmit)
			build_frame(nd, b);
		n = frame_sg(b, sg);
		if (gvq_net_add_tx(tx_vq(nd), sg, n, b))
			return WL_DONE;		/* broken: room was checked */
		b->post = nd->tx_posted++;
		if (b == nd->resubmit) {
			nd->resubmit = b->next_free;
		} else {
			nd->tx_free = b->next_free;
			nd->sent++;
			draw_shape(nd);
		}
		nd->tx_unkicked++;
		return WL_PROGRESS;
	}
	if (finished(nd))
		return wire_done(nd);
	nd->rearm = true;
	return WL_PROGRESS;
}

/* ---- the host ---- */

static void count_lost(struct net_dev *nd, uint64_t *why)
{
	(*why)++;
	atomic_fetch_add(&nd->lost, 1);
}

static bool would_block(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

/*
 * --recover: the driver has asked for a reset of q, or it is under way.
 * The ring is then the driver's: it takes back what it posted (which
 * rewrites descriptors) and then sets the ring up afresh.  Work that a
 * kick starts waits in run_host_step; the wire's, here, must leave q
 * alone too, or it would find the driver's rewrite and call it corrupt.
 */
static bool resetting(const struct sim_queue *q)
{
	return atomic_load_explicit(&q->reset_req, memory_order_acquire) !=
	       q->host_epoch || run_queue_parked(q);
}

/*
 * Put the next frame on the wire: 1 if one left the ring (sent, or
 * dropped and counted), 0 if there is none, the tap is full (the chain
 * stays held, tx_blocked is set) or the queue is being reset, -EIO if the
 * queue broke.
 */
static int tx_one(struct net_dev *nd)
{
	struct hvq *vq = nd->txq->hvq;
	struct hvq_chain *c = &nd->tx_chain;
	struct msghdr msg = { .msg_iov = c->iov };
	ssize_t n;

	/* A frame held for a full tap waits for the reset, which forgets
	 * it: the driver sends it again. */
	if (resetting(nd->txq)) {
		nd->tx_blocked = false;
		return 0;
	}
	if (!nd->tx_held) {
		int ret = net_dev_tx_pop(vq, c);

		if (ret <= 0) {
			nd->tx_blocked = false;
			return ret;
		}
		nd->tx_held = true;
	}
	if (c->out_len > NET_WIRE_MAX) {
		/* A driver's business, not a broken ring: a tap refuses
		 * it too, and the driver gets its buffer back. */
		count_lost(nd, &nd->drop_tx);
	} else {
		msg.msg_iovlen = c->out_num;
		/* Never wait here: the host thread is also what empties the
		 * taps that the peer is waiting to write to. */
		n = sendmsg(nd->tap, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && would_block(errno)) {
			nd->tx_blocked = true;
			return 0;
		}
		if (n < 0)
			count_lost(nd, &nd->drop_tx);
		else
			nd->tx++;
	}
	nd->tx_held = false;
	nd->tx_used++;
	hvq_add_used(vq, c->head, 0);
	return 1;
}

/* Publish what tx_one used; a broken queue stops the guest waiting. */
static int tx_finish(struct net_dev *nd, int ret)
{
	hvq_notify(nd->txq->hvq);
	if (ret < 0)
		run_host_failed(nd->txq);
	return ret;
}

/*
 * Take one frame off the tap: into the next receive buffer, or dropped and
 * counted if the driver has posted none (the seed's "no dma buffer!") or
 * the buffer is too short.  1 if there was a frame, 0 if not.
 *
 * A frame longer than its buffer is dropped, not truncated: a truncated
 * frame is a corrupt one.  The buffer goes back with length 0 (nothing
 * valid in it, though the device may have written up to its end) rather
 * than being held for a later frame, so that the driver sees every buffer
 * it posted come back.
 */
static int rx_one(struct net_dev *nd, bool *lost)
{
	struct hvq *vq = nd->rxq->hvq;
	struct hvq_chain *c = &nd->rx_chain;
	struct msghdr msg = { .msg_iov = c->iov };
	bool reset = resetting(nd->rxq);
	ssize_t n;

	if (!nd->rx_held && !hvq_error(vq) && !reset) {
		int ret = net_dev_rx_pop(vq, c);

		if (ret < 0) {
			hvq_notify(vq);
			run_host_failed(nd->rxq);
		}
		nd->rx_held = ret > 0;
	}
	/* A queue being reset has no buffers (a buffer held from before
	 * is the driver's again): a frame that comes meanwhile is dropped,
	 * as by a NIC in reset, and counted. */
	if (!nd->rx_held || reset) {
		n = recv(nd->tap, NULL, 0, MSG_DONTWAIT | MSG_TRUNC);
		if (n <= 0)
			return 0;
		count_lost(nd, &nd->drop_no_buf);
		*lost = true;
		return 1;
	}
	/* The buffer may be taken before its frame arrives; it is kept
	 * for the next one, as a NIC keeps the descriptors it fetched. */
	msg.msg_iovlen = c->in_num;
	n = recvmsg(nd->tap, &msg, MSG_DONTWAIT);
	if (n <= 0)
		return 0;
	nd->rx_held = false;
	if (msg.msg_flags & MSG_TRUNC) {
		nd->drop_oversize++;
		hvq_add_used(vq, c->head, 0);
		return 1;
	}
	hvq_add_used(vq, c->head, (uint32_t)n);
	nd->rx++;
	nd->rx_bytes += (uint64_t)n;
	return 1;
}

/* Up to max frames off the tap, then publish.  A drop completes nothing,
 * so without a word the guest could sleep through its last frame's end. */
static void rx_burst(struct net_dev *nd, unsigned int max)
{
	bool lost = false;
	unsigned int k;

	for (k = 0; k < max && rx_one(nd, &lost); k++)
		;
	if (!hvq_notify(nd->rxq->hvq) && lost)
		nd->dev.run->wake_guest(nd->rxq);
}

static int net_host_step(struct sim_device *dev, struct sim_queue *q)
{
	struct net_dev *nd = (struct net_dev *)dev;
	int ret;

	if (q == nd->rxq) {
		/*
		 * New receive buffers.  No frame waits for them: one that
		 * found none was dropped on arrival, as in the seed.  They
		 * are popped as frames come.
		 */
		hvq_notify(q->hvq);
		return 0;
	}
	ret = tx_one(nd);
	if (ret > 0)
		return 1;
	return tx_finish(nd, ret);
}

/* Transmit until the ring is empty or the tap is full. */
static void tx_resume(struct net_dev *nd)
{
	int ret;

	while ((ret = tx_one(nd)) > 0)
		;
	tx_finish(nd, ret);
}

/* ---- the peer ---- */

/* The fd that port k's frames go out of: back to the same guest, or over
 * the switch to the other. */
static int dest_fd(const struct net_wire *w, unsigned int k)
{
	return w->port[partner(w, k)].fd;
}

/*
 * Pass one frame from port k on: 1 if one went through, 0 if none was
 * waiting or the destination is full (the frame is then held, and goes
 * first next time), -1 if the wire is closed.  Never waits.
 */
static int forward(struct net_wire *w, unsigned int k)
{
	struct net_port *p = &w->port[k];
	ssize_t n;

	if (!p->held) {
		n = recv(p->fd, p->buf, sizeof(p->buf), MSG_DONTWAIT);
		if (n < 0 && would_block(errno))
			return 0;
		if (n <= 0)
			return -1;
		p->held = (uint32_t)n;
	}
	n = send(dest_fd(w, k), p->buf, p->held, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0)
		return would_block(errno) ? 0 : -1;
	p->held = 0;
	return 1;
}

/*
 * The peer's thread: wait for a frame on any port (or, for a port whose
 * frame is held, for room at its destination), pass frames on, and exit
 * when stop_fd says so.
 *
 * Why no thread can wait forever (threaded runner):
 *  - The host thread never waits on a socket: it sends and receives with
 *    MSG_DONTWAIT, and a frame that finds no receive buffer is dropped.
 *    So every tap's receive queue drains whenever it is non-empty: the
 *    tap is the device's async_fd, which the host thread epolls.
 *  - The peer never waits on one socket either: it polls all of them and
 *    stop_fd, and holds a frame whose destination is full.  Room at a
 *    destination (a tap's receive queue) is made by the host thread, which
 *    by the above always comes; so the peer always drains the wire ends.
 *  - A transmit that finds the tap full (its frames unread in the wire
 *    end) stays held, with tx_blocked set.  The peer reading those frames
 *    makes the room; its sending them on makes some tap of this wire
 *    readable after that, and the async_drain this causes resumes every
 *    blocked transmit of the wire.  So a held frame always leaves.
 *  - The guest waits only for interrupts, and everything it waits for
 *    ends in one: a completion, or wake_guest after a drop.  What the
 *    other guest does needs none: one thread runs both, and each looks
 *    at the other's counters again before it sleeps.
 */
static void *peer_thread(void *arg)
{
	struct net_wire *w = arg;
	struct pollfd pfd[NET_MAX_GUESTS + 1];
	unsigned int k, i, n = w->nguests;
	int ret;

	for (;;) {
		for (k = 0; k < n; k++) {
			bool held = w->port[k].held;

			pfd[k] = (struct pollfd){
				.fd = held ? dest_fd(w, k) : w->port[k].fd,
				.events = held ? POLLOUT : POLLIN,
			};
		}
		pfd[n] = (struct pollfd){ .fd = w->stop_fd, .events = POLLIN };
		if (poll(pfd, n + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			abort();
		}
		if (pfd[n].revents)
			return NULL;
		for (k = 0; k < n; k++) {
			if (!pfd[k].revents)
				continue;
			for (i = 0; i < NET_BURST; i++) {
				ret = forward(w, k);
				/* Only stop closes the wire, and a peer
				 * gone before it would hang the guests. */
				if (ret < 0)
					abort();
				if (!ret)
					break;
			}
		}
	}
}

static int net_start(struct sim_device *dev)
{
	struct net_dev *nd = (struct net_dev *)dev;
	struct net_wire *w = nd->wire;
	int ret;

	/* The wire belongs to its first guest. */
	if (nd->id != 0)
		return 0;
	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->stop_fd < 0)
		return -errno;
	ret = -pthread_create(&w->thread, NULL, peer_thread, w);
	if (ret)
		return ret;
	w->started = true;
	return 0;
}

static void net_stop(struct sim_device *dev)
{
	struct net_dev *nd = (struct net_dev *)dev;
	struct net_wire *w = nd->wire;
	uint64_t one = 1;

	if (nd->id != 0 || !w->started)
		return;
	if (write(w->stop_fd, &one, sizeof(one)) != sizeof(one))
		abort();	/* the thread would never exit */
	pthread_join(w->thread, NULL);
	w->started = false;
}

/* Threaded: frames at this guest's tap (the host thread's epoll). */
static void net_async_drain(struct sim_device *dev)
{
	struct net_dev *nd = (struct net_dev *)dev;
	struct net_wire *w = nd->wire;
	unsigned int k;

	rx_burst(nd, NET_BURST);
	/* Readable here means the peer read from some wire end since:
	 * a transmit that found its tap full may fit now. */
	for (k = 0; k < w->nguests; k++)
		if (w->guests[k]->tx_blocked)
			tx_resume(w->guests[k]);
}

static short poll_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	if (poll(&p, 1, 0) < 0)
		abort();
	return p.revents;
}

/*
 * Stepped: what could move without a kick.  POLLOUT on a SEQPACKET socket
 * means a send fits, so no action offered here finds the socket full; and
 * one is always offered while frames are anywhere on the wire: a full
 * destination has frames its host can receive.
 */
static unsigned int net_async_ready(struct sim_device *dev)
{
	struct net_dev *nd = (struct net_dev *)dev;
	struct net_wire *w = nd->wire;
	unsigned int k;

	nd->nacts = 0;
	if (nd->id == 0) {
		for (k = 0; k < w->nguests; k++) {
			if (!(poll_fd(dest_fd(w, k), POLLOUT) & POLLOUT))
				continue;
			if (w->port[k].held ||
			    poll_fd(w->port[k].fd, POLLIN) & POLLIN)
				nd->acts[nd->nacts++] = ACT_FORWARD0 + k;
		}
	}
	if (poll_fd(nd->tap, POLLIN) & POLLIN)
		nd->acts[nd->nacts++] = ACT_RX;
	if (nd->tx_blocked && poll_fd(nd->tap, POLLOUT) & POLLOUT)
		nd->acts[nd->nacts++] = ACT_TX;
	return nd->nacts;
}

static void net_async_step(struct sim_device *dev, unsigned int i)
{
	struct net_dev *nd = (struct net_dev *)dev;

	assert(i < nd->nacts);
	switch (nd->acts[i]) {
	case ACT_FORWARD0:
	case ACT_FORWARD1:
		forward(nd->wire, nd->acts[i] - ACT_FORWARD0);
		break;
	case ACT_RX:
		rx_burst(nd, 1);
		break;
	case ACT_TX:
		tx_finish(nd, tx_one(nd));
		break;
	}
}

/* ---- --recover ---- */

/*
 * The guest's half: take back every chain posted on q.  Receive buffers
 * are empty as far as we are concerned, and go back to be posted again.
 * Transmit frames wait for the device's half to tell which it sent (see
 * tx_settle); until the reset is over the device is not stepped, and no
 * buffer taken back is touched.
 */
static void net_guest_reset(struct sim_device *dev, struct sim_queue *q)
{
	struct net_dev *nd = (struct net_dev *)dev;
	struct net_buf *b;

	if (q == nd->txq) {
		/* Never two resets of a ring in one settlement. */
		if (nd->tx_settle)
			tx_settle(nd);
		while ((b = gvq_detach_unused(q->gvq))) {
			b->next_free = nd->tx_taken;
			nd->tx_taken = b;
		}
		nd->tx_posted = 0;
		nd->tx_unkicked = 0;
		nd->tx_settle = true;
	} else {
		if (nd->rx_settle)
			rx_settle(nd);
		while ((b = gvq_detach_unused(q->gvq))) {
			b->next_free = nd->rx_free;
			nd->rx_free = b;
			nd->rx_nfree++;
		}
		nd->rx_refilling = false;
		nd->rx_settle = true;
	}
	nd->rearm = false;
}

/*
 * The device's half, on the host thread: forget what it holds of q (a
 * frame waiting for room on the tap, a receive buffer kept for the next
 * frame) and hand over its counts for the driver to settle with.
 */
static void net_host_reset(struct sim_device *dev, struct sim_queue *q)
{
	struct net_dev *nd = (struct net_dev *)dev;

	if (q == nd->txq) {
		nd->tx_held = false;
		nd->tx_blocked = false;
		nd->reset_tx_used = nd->tx_used;
		nd->tx_used = 0;
	} else {
		nd->rx_held = false;
		nd->reset_rx = nd->rx;
		nd->reset_rx_empty = nd->drop_oversize;
	}
}

/* ---- setup and the summary ---- */

static void net_result(struct sim_device *dev, struct sim_dev_result *r)
{
	const struct net_dev *nd = (const struct net_dev *)dev;
	const struct net_wire *w = nd->wire;
	uint64_t sent = 0;
	unsigned int k;

	/* Conservation over the whole wire: in peer mode a frame one guest
	 * lost is the other's missing one. */
	for (k = 0; k < w->nguests; k++)
		sent += w->guests[k]->sent;
	r->name = nd->name;
	r->requests = nd->requests;
	r->completed = nd->tx_done;
	r->bytes = nd->rx_bytes;
	r->in_flight = nd->sent - nd->tx_done;
	r->mismatches = nd->mismatches;
	r->restart_races = nd->restart_races;
	r->tx = nd->tx;
	r->rx = nd->rx_ok;
	r->dropped = atomic_load(&nd->lost) + nd->drop_oversize;
	r->lost_in_reset = nd->rx_lost_reset;
	/* And the guest saw exactly what the device did, but for what the
	 * resets took: a device that gave a frame back empty without
	 * dropping it cannot pass for one that dropped it. */
	r->verified = !nd->mismatches && nd->tx_done == nd->requests &&
		      nd->rx_frames + nd->rx_lost_reset == nd->rx &&
		      nd->rx_empty + nd->rx_empty_reset == nd->drop_oversize &&
		      sent == nd->requests * w->nguests &&
		      sent == accounted(w);
}

static void net_destroy(struct sim_device *dev)
{
	struct net_dev *nd = (struct net_dev *)dev;
	struct net_wire *w = nd->wire;
	unsigned int k;

	if (nd->tap >= 0)
		close(nd->tap);
	free(nd->bufs);
	/* Its guest pages go with the run's allocator. */
	if (--w->refs == 0) {
		assert(!w->started);
		for (k = 0; k < NET_MAX_GUESTS; k++)
			if (w->port[k].fd >= 0)
				close(w->port[k].fd);
		if (w->stop_fd >= 0)
			close(w->stop_fd);
		free(w);
	}
	free(nd);
}

static const struct sim_device_ops net_ops = {
	.guest_step = net_guest_step,
	.host_step = net_host_step,
	.async_ready = net_async_ready,
	.async_step = net_async_step,
	.start = net_start,
	.stop = net_stop,
	.async_drain = net_async_drain,
	.guest_reset = net_guest_reset,
	.host_reset = net_host_reset,
	.result = net_result,
	.destroy = net_destroy,
};

/* One guest's queues, tap, buffers and workload. */
static int guest_setup(struct run *run, struct net_dev *nd,
		       const char *rx_name, const char *tx_name)
{
	const struct sim_config *cfg = run->cfg;
	uint32_t num = cfg->queue_size, i;
	int64_t pfn;
	int sv[2];

	nd->rxq = run_add_queue(run, &nd->dev, rx_name);
	nd->txq = nd->rxq ? run_add_queue(run, &nd->dev, tx_name) : NULL;
	if (!nd->txq)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	nd->tap = sv[0];
	nd->wire->port[nd->id].fd = sv[1];
	nd->dev.async_fd = nd->tap;
	nd->mem = &run->mem;

	/* A page per transmit slot and per receive buffer: as many of
	 * each as the ring can hold. */
	nd->bufs = calloc(2 * (size_t)num, sizeof(*nd->bufs));
	pfn = gvq_pages_alloc(run->pages, 2 * num);
	if (!nd->bufs || pfn < 0)
		return -ENOMEM;
	for (i = 2 * num; i--; ) {
		struct net_buf *b = &nd->bufs[i];

		b->gpa = (uint64_t)(pfn + i) << VRING_PAGE_SHIFT;
		if (i < num) {
			b->next_free = nd->tx_free;
			nd->tx_free = b;
		} else {
			b->next_free = nd->rx_free;
			nd->rx_free = b;
			nd->rx_nfree++;
		}
	}
	nd->seed = cfg->seed;
	nd->rng = cfg->seed ^ ((nd->id + 1) * 0x9e3779b97f4a7c15ull);
	nd->requests = cfg->requests;
	nd->batch = cfg->batch;
	/* At least one, or the driver would refill nothing forever. */
	nd->rx_refill = cfg->batch < num ? cfg->batch : num;
	if (!nd->rx_refill)
		nd->rx_refill = 1;
	draw_shape(nd);
	return 0;
}

/*
 * The net device, and with --net-peer guest a second guest on the other
 * end of the wire.  Each is a device of the run (its own result, "net" and
 * "net.peer"); run_create registers the one returned in *devp, so the first
 * is registered here, ahead of it, for the summary to list it first.
 */
int net_device_create(struct run *run, struct sim_device **devp)
{
	static const char *const names[NET_MAX_GUESTS][3] = {
		{ "net", "net.rx", "net.tx" },
		{ "net.peer", "peer.rx", "peer.tx" },
	};
	struct net_dev *g[NET_MAX_GUESTS] = { NULL, NULL };
	struct net_wire *w = calloc(1, sizeof(*w));
	unsigned int k, nguests;
	int ret = -ENOMEM;

	*devp = NULL;
	if (!w)
		return -ENOMEM;
	nguests = run->cfg->net_peer == SIM_PEER_GUEST ? 2 : 1;
	w->nguests = nguests;
	w->stop_fd = -1;
	for (k = 0; k < NET_MAX_GUESTS; k++)
		w->port[k].fd = -1;
	for (k = 0; k < nguests; k++) {
		g[k] = sim_zalloc_lines(sizeof(*g[k]));
		if (!g[k])
			goto fail_alloc;
	}
	if (run->ndevices + nguests > SIM_MAX_QUEUES)
		goto fail_alloc;

	/* From here each device frees itself, and the last one the wire. */
	for (k = 0; k < nguests; k++) {
		struct net_dev *nd = g[k];

		nd->dev.ops = &net_ops;
		nd->dev.run = run;
		nd->dev.async_fd = -1;
		nd->wire = w;
		nd->id = k;
		nd->name = names[k][0];
		nd->tap = -1;
		atomic_init(&nd->lost, 0);
		w->guests[k] = nd;
		w->refs++;
	}
	for (k = 0; k + 1 < nguests; k++)
		run->devices[run->ndevices++] = &g[k]->dev;
	*devp = &g[nguests - 1]->dev;

	for (k = 0; k < nguests; k++) {
		ret = guest_setup(run, g[k], names[k][1], names[k][2]);
		if (ret)
			break;
	}
	if (ret) {
		/* Not registered yet: run_create's unwinding will not. */
		net_destroy(*devp);
		*devp = NULL;
	}
	return ret;

fail_alloc:
	for (k = 0; k < NET_MAX_GUESTS; k++)
		free(g[k]);
	free(w);
	return ret;
}
