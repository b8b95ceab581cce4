// SPDX-License-Identifier: MIT
/*
 * The net device's ring half (the seed's handle_virtnet_notify and
 * handle_virtnet_input): a transmit queue of device-readable frames and a
 * receive queue of device-writable buffers.  What moves the frames (the
 * tap, the wire) is sim/'s; this only hands out chains of the right kind.
 */
#include "hostdev.h"

/*
 * Pop a chain and insist that every buffer goes one way.  A chain of the
 * wrong kind is the driver's bug, not a bad frame: the seed gives up
 * ("recv descs in output queue?"), and so do we, by latching the queue.
 * The chain stays in flight on the broken queue: giving it back would be a
 * write to guest memory on behalf of a request we refused.
 */
static int pop_one_way(struct hvq *vq, struct hvq_chain *c, bool writable)
{
	int ret = hvq_pop(vq, c);

	if (ret <= 0)
		return ret;
	if (writable ? c->out_num : c->in_num)
		return hvq_reject(vq, HVQ_E_NET_BAD_DIRECTION,
				  "head", c->head, "readable", c->out_num,
				  "writable", c->in_num);
	return 1;
}

int net_dev_tx_pop(struct hvq *vq, struct hvq_chain *c)
{
	return pop_one_way(vq, c, false);
}

int net_dev_rx_pop(struct hvq *vq, struct hvq_chain *c)
{
	return pop_one_way(vq, c, true);
}
