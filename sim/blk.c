// SPDX-License-Identifier: MIT
/* The blk device: not built yet. */
#include <errno.h>

#include "run.h"

int blk_device_create(struct run *run, struct sim_device **devp)
{
	(void)run;
	*devp = NULL;
	return -ENOSYS;
}
