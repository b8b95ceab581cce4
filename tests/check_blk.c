// SPDX-License-Identifier: MIT
/* The blk device: placeholder until it is built. */
#include "tests.h"

Suite *blk_suite(void)
{
	return suite_create("blk");
}
