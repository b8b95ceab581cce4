// SPDX-License-Identifier: MIT
/*
 * Notification suppression (issue 7): the hint words each side writes and
 * obeys, in flags and event-index modes, and the proof that neither mode
 * loses a wake-up: the stepped runner, choosing every interleaving of the
 * two sides' steps from a seed, never ends a run in a stall.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "guestdrv.h"
#include "harness.h"
#include "hostdev.h"
#include "sim.h"
#include "tests.h"

/* ---- vring_need_event ---- */

START_TEST(test_need_event)
{
	/* Notify exactly when the event index is in [old, new). */
	ck_assert(vring_need_event(5, 6, 5));
	ck_assert(vring_need_event(5, 9, 3));
	ck_assert(!vring_need_event(5, 5, 3));	/* not reached yet */
	ck_assert(!vring_need_event(5, 9, 6));	/* passed earlier */
	ck_assert(!vring_need_event(5, 5, 5));	/* nothing moved */
	/* Across the 2^32 wrap. */
	ck_assert(vring_need_event(UINT32_MAX, 2, UINT32_MAX - 1));
	ck_assert(vring_need_event(0, 2, UINT32_MAX));
	ck_assert(!vring_need_event(3, 2, UINT32_MAX));
	ck_assert(!vring_need_event(UINT32_MAX - 5, 2, UINT32_MAX));
}
END_TEST

/* ---- the driver's half ---- */

struct drv {
	struct mock_ring m;
	struct gvq *vq;
	unsigned int kicks;
	int tokens[VRING_MAX_SIZE];
};

static void drv_kick(void *ctx)
{
	((struct drv *)ctx)->kicks++;
}

static const struct gvq_ops drv_ops = { .kick = drv_kick };

static void drv_init(struct drv *d, enum vring_notify mode, uint32_t start)
{
	memset(d, 0, sizeof(*d));
	mock_ring_init(&d->m, 8, start);
	d->vq = gvq_create(d->m.pages, 8, start, &drv_ops, d);
	ck_assert_ptr_nonnull(d->vq);
	gvq_set_notify(d->vq, mode, false);
}

static void drv_fini(struct drv *d)
{
	gvq_destroy(d->vq);
	mock_ring_fini(&d->m);
}

/* Add one single-buffer chain and return its head (read off the ring). */
static uint32_t drv_add(struct drv *d, unsigned int k)
{
	struct gvq_sg sg = { mock_buf_gpa(k, 0), 64 };

	ck_assert_int_eq(gvq_add_buf(d->vq, NULL, 0, &sg, 1, &d->tokens[k]), 0);
	return vring_avail_ring_read(&d->m.vr, d->m.avail_idx++);
}

START_TEST(test_driver_flags)
{
	struct drv d;
	uint32_t head, len;

	drv_init(&d, VRING_NOTIFY_FLAGS, 0);
	/* The device is draining: the chain is published, nobody kicked. */
	vring_used_flags_write(&d.m.vr, VRING_USED_F_NO_NOTIFY);
	head = drv_add(&d, 0);
	ck_assert_int_eq(gvq_kick(d.vq), 1);
	ck_assert_uint_eq(vring_avail_idx_acquire(&d.m.vr), 1);
	ck_assert_uint_eq(d.kicks, 0);
	/* The device went to sleep: the next publication kicks. */
	vring_used_flags_write(&d.m.vr, 0);
	drv_add(&d, 1);
	ck_assert_int_eq(gvq_kick(d.vq), 1);
	ck_assert_uint_eq(d.kicks, 1);

	/* Interrupts wanted until the driver finds work; then not. */
	ck_assert_uint_eq(vring_avail_flags_read(&d.m.vr), 0);
	mock_used_push(&d.m, head, 10);
	ck_assert_ptr_eq(gvq_get_buf(d.vq, &len), &d.tokens[0]);
	ck_assert_uint_eq(vring_avail_flags_read(&d.m.vr),
			  VRING_AVAIL_F_NO_INTERRUPT);
	ck_assert_ptr_null(gvq_get_buf(d.vq, &len));
	/* Nothing more: restart asks for interrupts and says sleep. */
	ck_assert_int_eq(gvq_restart(d.vq), 0);
	ck_assert_uint_eq(vring_avail_flags_read(&d.m.vr), 0);
	/* Something came in the window: restart says reap, and takes the
	 * request for interrupts back. */
	mock_used_push(&d.m, vring_avail_ring_read(&d.m.vr, 1), 10);
	ck_assert_int_eq(gvq_restart(d.vq), 1);
	ck_assert_uint_eq(vring_avail_flags_read(&d.m.vr),
			  VRING_AVAIL_F_NO_INTERRUPT);
	ck_assert_ptr_eq(gvq_get_buf(d.vq, &len), &d.tokens[1]);
	drv_fini(&d);
}
END_TEST

START_TEST(test_driver_event_idx)
{
	/* Start below the wrap: the event words must cross it too. */
	const uint32_t start = UINT32_MAX - 1;
	struct drv d;
	uint32_t head, len;

	drv_init(&d, VRING_NOTIFY_EVENT_IDX, start);
	/* avail_event starts at start: the first publication kicks. */
	drv_add(&d, 0);
	gvq_kick(d.vq);
	ck_assert_uint_eq(d.kicks, 1);
	/* The device has not moved avail_event: no more kicks. */
	drv_add(&d, 1);
	gvq_kick(d.vq);
	ck_assert_uint_eq(d.kicks, 1);
	/* It asks to hear of slot start + 3; a batch of two from start + 2
	 * passes it (across the wrap), and kicks once. */
	vring_avail_event_write(&d.m.vr, start + 3);
	drv_add(&d, 2);
	drv_add(&d, 3);
	gvq_kick(d.vq);
	ck_assert_uint_eq(d.kicks, 2);
	drv_add(&d, 4);
	gvq_kick(d.vq);
	ck_assert_uint_eq(d.kicks, 2);

	/* restart publishes where the driver wants its next interrupt. */
	head = vring_avail_ring_read(&d.m.vr, start);
	mock_used_push(&d.m, head, 1);
	ck_assert_ptr_eq(gvq_get_buf(d.vq, &len), &d.tokens[0]);
	ck_assert_int_eq(gvq_restart(d.vq), 0);
	ck_assert_uint_eq(vring_used_event_read(&d.m.vr), start + 1);
	drv_fini(&d);
}
END_TEST

/* Plain mode ignores the device's hints: every publication kicks. */
START_TEST(test_driver_plain)
{
	struct drv d;

	drv_init(&d, VRING_NOTIFY_PLAIN, 0);
	vring_used_flags_write(&d.m.vr, VRING_USED_F_NO_NOTIFY);
	vring_avail_event_write(&d.m.vr, 1000);
	drv_add(&d, 0);
	gvq_kick(d.vq);
	drv_add(&d, 1);
	gvq_kick(d.vq);
	ck_assert_uint_eq(d.kicks, 2);
	ck_assert_int_eq(gvq_restart(d.vq), 0);
	ck_assert_uint_eq(vring_avail_flags_read(&d.m.vr), 0);
	drv_fini(&d);
}
END_TEST

/* A polling driver never asks for interrupts, not even in restart. */
START_TEST(test_driver_polling)
{
	struct drv d;

	drv_init(&d, VRING_NOTIFY_FLAGS, 0);
	gvq_set_notify(d.vq, VRING_NOTIFY_FLAGS, true);
	ck_assert_uint_eq(vring_avail_flags_read(&d.m.vr),
			  VRING_AVAIL_F_NO_INTERRUPT);
	ck_assert_int_eq(gvq_restart(d.vq), 0);
	ck_assert_uint_eq(vring_avail_flags_read(&d.m.vr),
			  VRING_AVAIL_F_NO_INTERRUPT);
	/* A reset re-initialises the page, and the driver says it again. */
	gvq_reset(d.vq, 0);
	ck_assert_uint_eq(vring_avail_flags_read(&d.m.vr),
			  VRING_AVAIL_F_NO_INTERRUPT);
	drv_fini(&d);
}
END_TEST

/* ---- the device's half ---- */

struct dev {
	struct mock_ring m;
	struct hvq *vq;
	unsigned int irqs;
};

static void dev_irq(void *ctx)
{
	((struct dev *)ctx)->irqs++;
}

static const struct hvq_ops dev_ops = { .interrupt = dev_irq };

static void dev_init(struct dev *d, enum vring_notify mode, uint32_t start)
{
	memset(d, 0, sizeof(*d));
	mock_ring_init(&d->m, 8, start);
	d->vq = hvq_create(&d->m.mem, d->m.pages, 8, start, &dev_ops, d);
	ck_assert_ptr_nonnull(d->vq);
	hvq_set_notify(d->vq, mode, false);
}

static void dev_fini(struct dev *d)
{
	hvq_destroy(d->vq);
	mock_ring_fini(&d->m);
}

/* Make descriptor i a one-buffer writable chain and publish it. */
static void dev_push(struct dev *d, uint32_t i)
{
	mock_desc(&d->m, i, MOCK_BUF_PFN + i, 0, 64,
		  VRING_DESC_F_HEAD | VRING_DESC_F_WRITE, 0);
	mock_avail_push(&d->m, i);
}

/* Take one chain and give it back used; returns its head. */
static uint32_t dev_take(struct dev *d)
{
	struct hvq_chain c;

	ck_assert_int_eq(hvq_pop(d->vq, &c), 1);
	hvq_add_used(d->vq, c.head, 0);
	return c.head;
}

START_TEST(test_device_flags)
{
	struct dev d;

	dev_init(&d, VRING_NOTIFY_FLAGS, 0);
	dev_push(&d, 0);
	/* Woken by a kick: no more kicks while draining. */
	hvq_disable_notify(d.vq);
	ck_assert_uint_eq(vring_used_flags_read(&d.m.vr),
			  VRING_USED_F_NO_NOTIFY);
	dev_take(&d);
	/* The driver is reaping: published, no interrupt. */
	vring_avail_flags_write(&d.m.vr, VRING_AVAIL_F_NO_INTERRUPT);
	ck_assert_int_eq(hvq_notify(d.vq), 1);
	ck_assert_uint_eq(vring_used_idx_acquire(&d.m.vr), 1);
	ck_assert_uint_eq(d.irqs, 0);
	/* The driver sleeps: interrupt. */
	vring_avail_flags_write(&d.m.vr, 0);
	dev_push(&d, 1);
	dev_take(&d);
	ck_assert_int_eq(hvq_notify(d.vq), 1);
	ck_assert_uint_eq(d.irqs, 1);
	/* Drained: restart re-enables kicks and says sleep... */
	ck_assert_int_eq(hvq_restart(d.vq), 0);
	ck_assert_uint_eq(vring_used_flags_read(&d.m.vr), 0);
	/* ...unless the driver published meanwhile. */
	hvq_disable_notify(d.vq);
	dev_push(&d, 2);
	ck_assert_int_eq(hvq_restart(d.vq), 1);
	ck_assert_uint_eq(vring_used_flags_read(&d.m.vr),
			  VRING_USED_F_NO_NOTIFY);
	dev_fini(&d);
}
END_TEST

START_TEST(test_device_event_idx)
{
	const uint32_t start = UINT32_MAX;
	struct dev d;

	dev_init(&d, VRING_NOTIFY_EVENT_IDX, start);
	/* used_event starts at start: the first publication interrupts,
	 * the next does not until the driver moves it. */
	dev_push(&d, 0);
	dev_push(&d, 1);
	dev_push(&d, 2);
	dev_take(&d);
	hvq_notify(d.vq);
	dev_take(&d);
	hvq_notify(d.vq);
	ck_assert_uint_eq(d.irqs, 1);
	vring_used_event_write(&d.m.vr, start + 2);
	dev_take(&d);
	hvq_notify(d.vq);
	ck_assert_uint_eq(d.irqs, 2);
	/* Sleeping: kick me past what I have read. */
	ck_assert_int_eq(hvq_restart(d.vq), 0);
	ck_assert_uint_eq(vring_avail_event_read(&d.m.vr), start + 3);
	dev_fini(&d);
}
END_TEST

/*
 * Chains the device has seen and leaves on the ring (receive buffers
 * waiting for frames) must not keep it from sleeping, or a net device
 * would spin on its receive queue for ever; new ones must wake it.
 */
START_TEST(test_device_seen_chains_let_it_sleep)
{
	struct dev d;
	uint32_t head;

	dev_init(&d, VRING_NOTIFY_EVENT_IDX, 0);
	dev_push(&d, 0);
	dev_push(&d, 1);
	ck_assert_int_eq(hvq_get_available(d.vq, &head), 1);
	ck_assert_int_eq(hvq_restart(d.vq), 0);
	ck_assert(!hvq_avail_moved(d.vq));
	dev_push(&d, 2);
	ck_assert(hvq_avail_moved(d.vq));
	ck_assert(!hvq_avail_moved(d.vq));
	dev_fini(&d);
}
END_TEST

/* ---- no lost wake-up ---- */

/*
 * How many schedules per mode and queue size.  100000 by default, as
 * issue 7 asks; VQSIM_TEST_PROOF_SEEDS lowers it for the sanitizer builds,
 * where each run costs ten times as much.
 */
static unsigned long proof_seeds(void)
{
	const char *s = getenv("VQSIM_TEST_PROOF_SEEDS");

	return s && *s ? strtoul(s, NULL, 0) : 100000;
}

/*
 * Every schedule the seed picks, of a driver and a device that each park
 * themselves as soon as they run dry: the stepped runner moves one side by
 * one ring operation (or delivers one notification) per step, including
 * between "found nothing" and "re-enabled notifications", so the windows
 * in which a wake-up could be lost are all reachable.  A lost one leaves
 * both sides asleep with requests outstanding: a stall.
 */
static void prove(enum vring_notify mode, uint32_t queue_size)
{
	unsigned long seeds = proof_seeds(), seed;
	uint64_t kicks = 0, publications = 0;
	struct sim_config cfg;
	struct sim_result res;

	for (seed = 1; seed <= seeds; seed++) {
		sim_config_default(&cfg);
		cfg.devices = SIM_DEV_NULL;
		cfg.stepped = true;
		cfg.notify = mode;
		cfg.queue_size = queue_size;
		cfg.guest_mem = 1u << 20;
		cfg.seed = seed;
		cfg.requests = 3 + seed % 4;
		cfg.batch = 1 + seed % 3;
		cfg.chain_out = 0;
		cfg.chain_in = 1 + (uint32_t)(seed / 4 % queue_size);
		if (cfg.chain_in > 1 && seed % 2)
			cfg.chain_out = 1, cfg.chain_in--;
		cfg.start_index = seed % 5 ? 0 : UINT32_MAX - 2;
		ck_assert_int_eq(sim_run(&cfg, &res), 0);
		if (res.stalled || !res.ok ||
		    res.devs[0].completed != cfg.requests)
			ck_abort_msg("notify %d, queue %u, seed %lu: %s, %" PRIu64
				     " of %" PRIu64 " completed", (int)mode,
				     queue_size, seed,
				     res.stalled ? "stalled" : "failed",
				     res.devs[0].completed, cfg.requests);
		/* With a batch of one, each request is a publication. */
		if (cfg.batch == 1) {
			kicks += res.devs[0].kicks;
			publications += cfg.requests;
		}
	}
	/* The hints did something: fewer kicks than publications; and
	 * without them, none is skipped. */
	if (mode != VRING_NOTIFY_PLAIN)
		ck_assert_uint_lt(kicks, publications);
	else
		ck_assert_uint_eq(kicks, publications);
}

START_TEST(test_no_lost_wakeup)
{
	static const enum vring_notify modes[] = {
		VRING_NOTIFY_FLAGS, VRING_NOTIFY_EVENT_IDX, VRING_NOTIFY_PLAIN,
	};

	prove(modes[_i / 2], _i % 2 ? 4 : 2);
}
END_TEST

Suite *notify_suite(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tcase_create("hints");

	tcase_add_test(tc, test_need_event);
	tcase_add_test(tc, test_driver_flags);
	tcase_add_test(tc, test_driver_event_idx);
	tcase_add_test(tc, test_driver_plain);
	tcase_add_test(tc, test_driver_polling);
	tcase_add_test(tc, test_device_flags);
	tcase_add_test(tc, test_device_event_idx);
	tcase_add_test(tc, test_device_seen_chains_let_it_sleep);
	suite_add_tcase(s, tc);

	tc = tcase_create("no_lost_wakeup");
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, test_no_lost_wakeup, 0, 6);
	suite_add_tcase(s, tc);
	return s;
}
