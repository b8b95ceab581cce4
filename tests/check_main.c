// SPDX-License-Identifier: MIT
/*
 * Runs every suite.  Fork mode (libcheck's default) keeps a crash, a
 * sanitizer report or a hang in one test from hiding the others.
 */
#include <stdlib.h>

#include "tests.h"

int main(void)
{
	SRunner *sr = srunner_create(ring_suite());
	int failed, run;

	srunner_add_suite(sr, guestdrv_suite());
	srunner_add_suite(sr, hostdev_suite());
	srunner_add_suite(sr, sim_suite());
	srunner_add_suite(sr, debug_suite());
	srunner_add_suite(sr, decode_suite());
	srunner_add_suite(sr, faults_suite());
	srunner_add_suite(sr, blk_suite());
	srunner_add_suite(sr, net_suite());
	srunner_add_suite(sr, notify_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	run = srunner_ntests_run(sr);
	srunner_free(sr);
	/* A CK_RUN_CASE typo runs nothing and would otherwise "pass". */
	return failed == 0 && run > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
