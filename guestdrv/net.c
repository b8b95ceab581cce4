// SPDX-License-Identifier: MIT
/*
 * The net driver's two kinds of chain (the seed's virtnet): an empty
 * buffer for the device to receive into, and a frame for it to send.
 */
#include "guestdrv.h"

int gvq_net_add_rx(struct gvq *vq, const struct gvq_sg *buf, void *token)
{
	return gvq_add_buf(vq, NULL, 0, buf, 1, token);
}

int gvq_net_add_tx(struct gvq *vq, const struct gvq_sg *frame,
		   unsigned int n, void *token)
{
	assert(n > 0);
	return gvq_add_buf(vq, frame, n, NULL, 0, token);
}
