/* SPDX-License-Identifier: MIT */
/* The suites tests/check_main.c runs, one per layer. */
#ifndef VQSIM_TESTS_H
#define VQSIM_TESTS_H

#include <check.h>
#include <stdint.h>

struct sim_config;

/*
 * sim_config_default, then the notification mode and the waiting of
 * $VQSIM_TEST_NOTIFY (plain, flags, event-idx) and $VQSIM_TEST_WAIT
 * (eventfd, poll) if set: how CI runs the whole suite in every mode.
 */
void test_sim_config(struct sim_config *cfg);

struct vring;
struct sim_result;

/* Without --recover, a detection ended the run: not ok, one detection,
 * not recovered from, no reset, not every request completed. */
void expect_stopped_unrecovered(const struct sim_result *res,
				uint64_t requests);

/* In a tamper hook (sim_tamper_fn): the head of the chain the side just
 * published, the last avail entry (guest) or used entry (host). */
uint32_t test_last_head(const struct vring *vr, int host);

Suite *ring_suite(void);
Suite *guestdrv_suite(void);
Suite *hostdev_suite(void);
Suite *sim_suite(void);
Suite *debug_suite(void);
Suite *decode_suite(void);
Suite *faults_suite(void);
Suite *blk_suite(void);
Suite *net_suite(void);
Suite *notify_suite(void);

#endif
