/* SPDX-License-Identifier: MIT */
/* The suites tests/check_main.c runs, one per layer. */
#ifndef VQSIM_TESTS_H
#define VQSIM_TESTS_H

#include <check.h>

Suite *ring_suite(void);
Suite *guestdrv_suite(void);
Suite *hostdev_suite(void);
Suite *sim_suite(void);
Suite *debug_suite(void);
Suite *decode_suite(void);
Suite *faults_suite(void);
Suite *blk_suite(void);
Suite *net_suite(void);

#endif
