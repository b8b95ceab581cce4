// SPDX-License-Identifier: MIT
/*
 * The blk driver (the seed's lguest_blk.c, minus the block layer): the
 * capacity handshake through the configuration word, and one request as
 * header, data and status on the ring.
 */
#include <errno.h>
#include <stdbool.h>

#include "blk.h"
#include "guestdrv.h"

uint32_t gvq_blk_capacity(void *pages)
{
	struct vring vr;

	/* Any valid size: only descriptor 0 is touched. */
	vring_init(&vr, pages, VRING_MIN_SIZE);
	return vring_config_take(&vr);
}

int gvq_blk_add(struct gvq *vq, struct vring_blk_outhdr *hdr,
		uint64_t hdr_gpa, uint32_t type, uint64_t sector,
		const struct gvq_sg *data, unsigned int ndata,
		uint64_t status_gpa, void *token)
{
	struct gvq_sg sg[VRING_MAX_SIZE];
	bool out = (type & ~VRING_BLK_T_BARRIER) == VRING_BLK_T_OUT;
	unsigned int k, n = 0, out_num;

	if (ndata > VRING_MAX_SIZE - 2)
		return -EINVAL;
	/* Published to the device with the chain, by gvq_kick's release;
	 * untorn, since a device may (wrongly) still be reading a header
	 * whose request it already completed. */
	WRITE_ONCE(hdr->type, vring_le32(type));
	WRITE_ONCE(hdr->ioprio, 0);
	WRITE_ONCE(hdr->sector, vring_le64(sector));

	sg[n++] = (struct gvq_sg){ .addr = hdr_gpa, .len = sizeof(*hdr) };
	for (k = 0; k < ndata; k++)
		sg[n++] = data[k];
	sg[n++] = (struct gvq_sg){ .addr = status_gpa, .len = 1 };
	/* Readable: the header, and the data of a write. */
	out_num = out ? ndata + 1 : 1;
	return gvq_add_buf(vq, sg, out_num, sg + out_num, n - out_num, token);
}
