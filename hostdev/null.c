// SPDX-License-Identifier: MIT
/*
 * The null device: an echo.  Each chain's readable bytes are copied into its
 * writable buffers as far as they reach; with nothing writable, guest memory
 * is not touched at all.
 */
#include <string.h>

#include "hostdev.h"

/*
 * Copy the out part of c into its in part; returns the bytes copied.
 * Through a local chunk with untorn copies (vring_copy_*_guest): a hostile
 * driver may overlap the buffers or rewrite them while we copy, which must
 * give it garbage, not give us undefined behaviour.
 */
static uint32_t echo_chain(const struct hvq_chain *c)
{
	const struct iovec *src = c->iov, *src_end = c->iov + c->out_num;
	const struct iovec *dst = src_end, *dst_end = dst + c->in_num;
	size_t src_off = 0, dst_off = 0;
	uint64_t copied = 0;
	uint8_t chunk[256];

	while (src != src_end && dst != dst_end) {
		size_t n = src->iov_len - src_off;

		if (n > dst->iov_len - dst_off)
			n = dst->iov_len - dst_off;
		if (n > sizeof(chunk))
			n = sizeof(chunk);
		vring_copy_from_guest(chunk, (const uint8_t *)src->iov_base +
				      src_off, n);
		vring_copy_to_guest((uint8_t *)dst->iov_base + dst_off, chunk,
				    n);
		copied += n;
		src_off += n;
		dst_off += n;
		if (src_off == src->iov_len) {
			src++;
			src_off = 0;
		}
		if (dst_off == dst->iov_len) {
			dst++;
			dst_off = 0;
		}
	}
	/* At most the writable total, which the driver sized as a u32 sum
	 * of u32 lengths only if it is honest: clamp for a hostile one. */
	return copied > UINT32_MAX ? UINT32_MAX : (uint32_t)copied;
}

int null_dev_process(struct hvq *vq)
{
	struct hvq_chain c;
	int ret = hvq_pop(vq, &c);

	if (ret <= 0)
		return ret;
	hvq_add_used(vq, c.head, echo_chain(&c));
	return 1;
}
