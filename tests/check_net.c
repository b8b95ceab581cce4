// SPDX-License-Identifier: MIT
/* The net device: placeholder until it is built. */
#include "tests.h"

Suite *net_suite(void)
{
	return suite_create("net");
}
