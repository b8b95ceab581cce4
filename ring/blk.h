/* SPDX-License-Identifier: MIT */
/*
 * The virtio-blk request as the seed carries it over the ring: a readable
 * 16-byte header, the data buffers, and a 1-byte writable status last.
 * All fields little-endian (convert with vring_le32 and a 64-bit twin).
 */
#ifndef VQSIM_RING_BLK_H
#define VQSIM_RING_BLK_H

#include <stdint.h>

#define VRING_BLK_SECTOR_SIZE	512u

/* type: what to do; BARRIER may be or-ed into IN or OUT. */
#define VRING_BLK_T_IN		0u	/* read sectors into the data buffers */
#define VRING_BLK_T_OUT		1u	/* write the data buffers to sectors */
#define VRING_BLK_T_SCSI_CMD	2u	/* not supported: UNSUPP */
#define VRING_BLK_T_BARRIER	0x80000000u /* after all before, before all after */

/* The status byte the device writes last. */
#define VRING_BLK_S_OK		0u
#define VRING_BLK_S_IOERR	1u
#define VRING_BLK_S_UNSUPP	2u

struct vring_blk_outhdr {
	uint32_t type;
	uint32_t ioprio;
	uint64_t sector;	/* first sector, 512 bytes each */
};

_Static_assert(sizeof(struct vring_blk_outhdr) == 16, "blk header is 16 bytes");

static inline uint64_t vring_le64(uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return __builtin_bswap64(v);
#else
	return v;
#endif
}

#endif
