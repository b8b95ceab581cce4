/* SPDX-License-Identifier: MIT */
/*
 * The shared layout of the 2007 lguest descriptor ring, the accessors that
 * every shared-memory access goes through, and guest-physical memory with
 * its one checked translation.  Nothing here knows about threads, the
 * driver or the device: this is the wire format both sides agree on.
 */
#ifndef VQSIM_RING_VRING_H
#define VQSIM_RING_VRING_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "barrier.h"

/*
 * One queue is three 4 KiB pages, all fields little-endian:
 *
 *   page 0  descriptors     struct vring_desc desc[256]        16 bytes each
 *   page 1  available       u32 idx | u32 ring[256] | ...
 *                             +2048 u32 flags       (NO_INTERRUPT)
 *                             +2112 u32 used_event  (event-index mode)
 *   page 2  used            u32 idx | {u32 id, u32 len} ring[256] | ...
 *                             +3072 u32 flags       (NO_NOTIFY)
 *                             +3136 u32 avail_event (event-index mode)
 *
 * The driver owns page 0 and page 1 (the device only reads them), the device
 * owns page 2 except its hint words.  Indices are free-running u32 and are
 * reduced modulo the queue size only where a slot is addressed.  A queue may
 * use fewer than 256 entries (any power of two from 2); the layout does not
 * change.
 */
#define VRING_PAGE_SIZE		4096u
#define VRING_PAGE_SHIFT	12
#define VRING_MAX_SIZE		256u
#define VRING_MIN_SIZE		2u
#define VRING_PAGES		3u
#define VRING_BYTES		12288u	/* VRING_PAGES pages */

/* This descriptor starts a chain the driver has made available. */
#define VRING_DESC_F_HEAD	1u
/* The chain continues at the descriptor named by next. */
#define VRING_DESC_F_NEXT	2u
/* The device writes this buffer; without it the device only reads it. */
#define VRING_DESC_F_WRITE	4u
#define VRING_DESC_F_KNOWN	(VRING_DESC_F_HEAD | VRING_DESC_F_NEXT | \
				 VRING_DESC_F_WRITE)

/* Driver's hint in avail->flags: it is not waiting, don't interrupt. */
#define VRING_AVAIL_F_NO_INTERRUPT	1u
/* Device's hint in used->flags: it is already processing, don't kick. */
#define VRING_USED_F_NO_NOTIFY		1u

struct vring_desc {
	uint32_t pfn;		/* guest page of the buffer */
	uint32_t len;		/* bytes, contiguous from pfn * 4096 + offset */
	uint16_t offset;	/* byte offset from the start of that page */
	uint16_t flags;		/* VRING_DESC_F_* */
	uint32_t next;		/* next descriptor of the chain, if F_NEXT */
};

struct vring_avail {
	uint32_t idx;				/* next slot the driver fills */
	uint32_t ring[VRING_MAX_SIZE];		/* heads, in the order made available */
	uint8_t pad0[2048 - 4 - 4 * VRING_MAX_SIZE];
	uint32_t flags;				/* VRING_AVAIL_F_* */
	uint8_t pad1[60];
	uint32_t used_event;			/* interrupt when used idx passes it */
	uint8_t pad2[VRING_PAGE_SIZE - 2116];
};

struct vring_used_elem {
	uint32_t id;		/* head of the chain the device is done with */
	uint32_t len;		/* bytes the device wrote into it */
};

struct vring_used {
	uint32_t idx;				/* next slot the device fills */
	struct vring_used_elem ring[VRING_MAX_SIZE];
	uint8_t pad0[3072 - 4 - 8 * VRING_MAX_SIZE];
	uint32_t flags;				/* VRING_USED_F_* */
	uint8_t pad1[60];
	uint32_t avail_event;			/* kick when avail idx passes it */
	uint8_t pad2[VRING_PAGE_SIZE - 3140];
};

_Static_assert(VRING_BYTES == VRING_PAGES * VRING_PAGE_SIZE, "three pages");
_Static_assert(sizeof(struct vring_desc) == 16, "descriptor is 16 bytes");
_Static_assert(offsetof(struct vring_desc, pfn) == 0, "desc.pfn at 0");
_Static_assert(offsetof(struct vring_desc, len) == 4, "desc.len at 4");
_Static_assert(offsetof(struct vring_desc, offset) == 8, "desc.offset at 8");
_Static_assert(offsetof(struct vring_desc, flags) == 10, "desc.flags at 10");
_Static_assert(offsetof(struct vring_desc, next) == 12, "desc.next at 12");
_Static_assert(VRING_MAX_SIZE * sizeof(struct vring_desc) == VRING_PAGE_SIZE,
	       "one page of descriptors");
_Static_assert(sizeof(struct vring_avail) == VRING_PAGE_SIZE, "avail page");
_Static_assert(offsetof(struct vring_avail, idx) == 0, "avail.idx at 0");
_Static_assert(offsetof(struct vring_avail, ring) == 4, "avail.ring at 4");
_Static_assert(offsetof(struct vring_avail, flags) == 2048, "avail.flags");
_Static_assert(offsetof(struct vring_avail, used_event) == 2112,
	       "avail.used_event");
_Static_assert(sizeof(struct vring_used_elem) == 8, "used element");
_Static_assert(sizeof(struct vring_used) == VRING_PAGE_SIZE, "used page");
_Static_assert(offsetof(struct vring_used, idx) == 0, "used.idx at 0");
_Static_assert(offsetof(struct vring_used, ring) == 4, "used.ring at 4");
_Static_assert(offsetof(struct vring_used, flags) == 3072, "used.flags");
_Static_assert(offsetof(struct vring_used, avail_event) == 3136,
	       "used.avail_event");

/* Where one queue's three pages are, and how many entries it uses. */
struct vring {
	uint32_t num;			/* power of two, 2..256 */
	struct vring_desc *desc;	/* page 0 */
	struct vring_avail *avail;	/* page 1 */
	struct vring_used *used;	/* page 2 */
};

/* ---- index arithmetic: the only places that know about wrap-around ---- */

/* The ring slot a free-running index addresses. */
static inline uint32_t vring_slot(uint32_t idx, uint32_t num)
{
	return idx & (num - 1);
}

/* How far new is ahead of old, correct across the 2^32 wrap. */
static inline uint32_t vring_idx_dist(uint32_t new_idx, uint32_t old_idx)
{
	return new_idx - old_idx;
}

static inline int vring_size_valid(uint32_t num)
{
	return num >= VRING_MIN_SIZE && num <= VRING_MAX_SIZE &&
	       (num & (num - 1)) == 0;
}

/* ---- byte order: the layout is little-endian whatever the host is ---- */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
static inline uint32_t vring_le32(uint32_t v) { return __builtin_bswap32(v); }
static inline uint16_t vring_le16(uint16_t v) { return __builtin_bswap16(v); }
#else
static inline uint32_t vring_le32(uint32_t v) { return v; }
static inline uint16_t vring_le16(uint16_t v) { return v; }
#endif

/* ---- descriptors ---- */

/*
 * Copy descriptor i out of shared memory, one untorn load per field.  A side
 * checks and then uses only the copy, so the other side cannot change a field
 * between the check and the use.
 */
static inline void vring_desc_read(const struct vring *vr, uint32_t i,
				   struct vring_desc *d)
{
	const struct vring_desc *s = &vr->desc[i];

	assert(i < vr->num);
	d->pfn = vring_le32(READ_ONCE(s->pfn));
	d->len = vring_le32(READ_ONCE(s->len));
	d->offset = vring_le16(READ_ONCE(s->offset));
	d->flags = vring_le16(READ_ONCE(s->flags));
	d->next = vring_le32(READ_ONCE(s->next));
}

/* Write every field of descriptor i but the flags, which the caller
 * stores separately so that it can order them (see vring_desc_set_flags). */
static inline void vring_desc_write_fields(const struct vring *vr, uint32_t i,
					   const struct vring_desc *d)
{
	struct vring_desc *s = &vr->desc[i];

	assert(i < vr->num);
	WRITE_ONCE(s->pfn, vring_le32(d->pfn));
	WRITE_ONCE(s->len, vring_le32(d->len));
	WRITE_ONCE(s->offset, vring_le16(d->offset));
	WRITE_ONCE(s->next, vring_le32(d->next));
}

static inline void vring_desc_set_flags(const struct vring *vr, uint32_t i,
					uint16_t flags)
{
	assert(i < vr->num);
	WRITE_ONCE(vr->desc[i].flags, vring_le16(flags));
}

/* Set a head's flags after the rest of its chain, with release: whoever
 * sees HEAD also sees the whole chain (the seed's wmb()). */
static inline void vring_desc_set_flags_release(const struct vring *vr,
						uint32_t i, uint16_t flags)
{
	assert(i < vr->num);
	smp_store_release(&vr->desc[i].flags, vring_le16(flags));
}

/* ---- available page ---- */

static inline uint32_t vring_avail_idx_acquire(const struct vring *vr)
{
	return vring_le32(smp_load_acquire(&vr->avail->idx));
}

static inline void vring_avail_idx_release(const struct vring *vr,
					   uint32_t idx)
{
	smp_store_release(&vr->avail->idx, vring_le32(idx));
}

/* The head in the slot that free-running index idx addresses. */
static inline uint32_t vring_avail_ring_read(const struct vring *vr,
					     uint32_t idx)
{
	return vring_le32(READ_ONCE(vr->avail->ring[vring_slot(idx, vr->num)]));
}

static inline void vring_avail_ring_write(const struct vring *vr, uint32_t idx,
					  uint32_t head)
{
	WRITE_ONCE(vr->avail->ring[vring_slot(idx, vr->num)], vring_le32(head));
}

/* ---- used page ---- */

static inline uint32_t vring_used_idx_acquire(const struct vring *vr)
{
	return vring_le32(smp_load_acquire(&vr->used->idx));
}

static inline void vring_used_idx_release(const struct vring *vr, uint32_t idx)
{
	smp_store_release(&vr->used->idx, vring_le32(idx));
}

static inline void vring_used_elem_read(const struct vring *vr, uint32_t idx,
					struct vring_used_elem *e)
{
	const struct vring_used_elem *s = &vr->used->ring[vring_slot(idx, vr->num)];

	e->id = vring_le32(READ_ONCE(s->id));
	e->len = vring_le32(READ_ONCE(s->len));
}

static inline void vring_used_elem_write(const struct vring *vr, uint32_t idx,
					 uint32_t id, uint32_t len)
{
	struct vring_used_elem *s = &vr->used->ring[vring_slot(idx, vr->num)];

	WRITE_ONCE(s->id, vring_le32(id));
	WRITE_ONCE(s->len, vring_le32(len));
}

/* ---- notification hints (the page tails) ---- */

/*
 * How the two sides use the hint words.  Both must agree, as a virtio
 * feature would be negotiated.  The hints only save notifications: a side
 * that ignores them (plain) is always correct, merely slower.
 */
enum vring_notify {
	VRING_NOTIFY_PLAIN,	/* always kick, always interrupt: the seed */
	VRING_NOTIFY_FLAGS,	/* NO_INTERRUPT / NO_NOTIFY while busy */
	VRING_NOTIFY_EVENT_IDX,	/* notify when the index passes the event */
};

static inline uint32_t vring_avail_flags_read(const struct vring *vr)
{
	return vring_le32(READ_ONCE(vr->avail->flags));
}

static inline void vring_avail_flags_write(const struct vring *vr, uint32_t f)
{
	WRITE_ONCE(vr->avail->flags, vring_le32(f));
}

static inline uint32_t vring_used_event_read(const struct vring *vr)
{
	return vring_le32(READ_ONCE(vr->avail->used_event));
}

static inline void vring_used_event_write(const struct vring *vr, uint32_t e)
{
	WRITE_ONCE(vr->avail->used_event, vring_le32(e));
}

static inline uint32_t vring_used_flags_read(const struct vring *vr)
{
	return vring_le32(READ_ONCE(vr->used->flags));
}

static inline void vring_used_flags_write(const struct vring *vr, uint32_t f)
{
	WRITE_ONCE(vr->used->flags, vring_le32(f));
}

static inline uint32_t vring_avail_event_read(const struct vring *vr)
{
	return vring_le32(READ_ONCE(vr->used->avail_event));
}

static inline void vring_avail_event_write(const struct vring *vr, uint32_t e)
{
	WRITE_ONCE(vr->used->avail_event, vring_le32(e));
}

/*
 * Event-index mode: an index just moved from old_idx to new_idx; does it
 * pass event, the index the other side asked to be told about?  True when
 * event is in [old_idx, new_idx), counted across the 2^32 wrap.
 */
static inline int vring_need_event(uint32_t event, uint32_t new_idx,
				   uint32_t old_idx)
{
	return vring_idx_dist(new_idx, event) - 1 <
	       vring_idx_dist(new_idx, old_idx);
}

/* ---- the configuration word ---- */

/*
 * Before the driver starts, the first u32 of page 0 carries the device's
 * configuration (blk: the capacity in 512-byte sectors, an i386 unsigned
 * long in the seed); the driver takes it and zeroes the word, since it is
 * also descriptor 0's pfn.
 */
static inline void vring_config_set(const struct vring *vr, uint32_t v)
{
	WRITE_ONCE(vr->desc[0].pfn, vring_le32(v));
}

static inline uint32_t vring_config_take(const struct vring *vr)
{
	uint32_t v = vring_le32(READ_ONCE(vr->desc[0].pfn));

	WRITE_ONCE(vr->desc[0].pfn, 0);
	return v;
}

/* ---- snapshot ---- */

/*
 * Copy the three pages into buf (VRING_BYTES) word by word, with untorn
 * loads: a consistent-enough picture for a dump even while the other side
 * is writing, and no data race for a sanitizer to report.
 */
static inline void vring_snapshot(const struct vring *vr, void *buf)
{
	const uint32_t *src[VRING_PAGES] = {
		(const uint32_t *)vr->desc, (const uint32_t *)vr->avail,
		(const uint32_t *)vr->used,
	};
	uint32_t *dst = buf;
	unsigned int p, w;

	for (p = 0; p < VRING_PAGES; p++)
		for (w = 0; w < VRING_PAGE_SIZE / 4; w++)
			*dst++ = READ_ONCE(src[p][w]);
}

/* ---- setup ---- */

/* Point vr at the three pages starting at pages; num must be valid. */
void vring_init(struct vring *vr, void *pages, uint32_t num);

/* Zero the three pages and start both indices at start_idx, as a device
 * reset does before either side runs.  Not safe against a running peer. */
void vring_reset(const struct vring *vr, uint32_t start_idx);

/* ---- guest-physical memory ---- */

/*
 * One shared anonymous mapping standing in for guest RAM, with an
 * inaccessible guard page on each side so that a translation bug faults
 * instead of silently touching host memory.
 */
struct vring_mem {
	uint8_t *base;		/* guest-physical address 0 */
	uint64_t size;		/* bytes, a whole number of pages */
	void *map;		/* the mapping including the guard pages */
	size_t map_len;
};

/* Map size bytes (a non-zero multiple of the page size) of zeroed guest
 * memory.  Returns 0 or a negative errno. */
int vring_mem_map(struct vring_mem *m, uint64_t size);
void vring_mem_unmap(struct vring_mem *m);

static inline uint32_t vring_mem_pages(const struct vring_mem *m)
{
	return (uint32_t)(m->size >> VRING_PAGE_SHIFT);
}

/*
 * The checked translation (the seed's check_pointer): a host pointer to len
 * bytes at guest-physical gpa, or NULL unless all of them lie inside guest
 * memory.  No sum here can overflow: gpa and len are compared separately
 * against the size.
 */
static inline void *vring_mem_at(const struct vring_mem *m, uint64_t gpa,
				 uint64_t len)
{
	if (gpa > m->size || len > m->size - gpa)
		return NULL;
	return m->base + gpa;
}

/* The same for a descriptor's (pfn, offset, len). */
static inline void *vring_mem_desc_ptr(const struct vring_mem *m,
				       uint32_t pfn, uint16_t offset,
				       uint32_t len)
{
	return vring_mem_at(m, ((uint64_t)pfn << VRING_PAGE_SHIFT) + offset,
			    len);
}

/* True if [p, p + len) lies inside guest memory: for tests and asserts. */
static inline int vring_mem_contains(const struct vring_mem *m, const void *p,
				     uint64_t len)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)m->base;

	return a >= b && a - b <= m->size && len <= m->size - (a - b);
}

/*
 * Copy out of and into guest buffers with untorn loads and stores, as the
 * ring is: a hostile other side can make one side touch a buffer the other
 * is rewriting (a head made available again after it completed, say), and
 * that must be garbage for the checks to catch, not a data race in the
 * simulator.  Whole aligned words where the guest address allows.
 */
static inline void vring_copy_from_guest(void *to, const void *guest,
					 size_t n)
{
	const uint8_t *src = guest;
	uint8_t *dst = to;

	for (; n && ((uintptr_t)src & 7); n--)
		*dst++ = READ_ONCE(*src++);
	for (; n >= 8; n -= 8, src += 8, dst += 8) {
		uint64_t v = READ_ONCE(*(const uint64_t *)(const void *)src);

		__builtin_memcpy(dst, &v, 8);
	}
	for (; n; n--)
		*dst++ = READ_ONCE(*src++);
}

static inline void vring_copy_to_guest(void *guest, const void *from,
				       size_t n)
{
	const uint8_t *src = from;
	uint8_t *dst = guest;

	for (; n && ((uintptr_t)dst & 7); n--)
		WRITE_ONCE(*dst++, *src++);
	for (; n >= 8; n -= 8, src += 8, dst += 8) {
		uint64_t v;

		__builtin_memcpy(&v, src, 8);
		WRITE_ONCE(*(uint64_t *)(void *)dst, v);
	}
	for (; n; n--)
		WRITE_ONCE(*dst++, *src++);
}

/* ---- what a check reports ---- */

#define VRING_CHECK_MAX_VALUES 4

/* One detection: the stable check id (DESIGN.md section 4) and the values
 * the check saw, each with a name, for the summary, the JSON and tests. */
struct vring_detection {
	const char *check;
	unsigned int nvalues;
	struct {
		const char *name;
		uint64_t value;
	} values[VRING_CHECK_MAX_VALUES];
};

/*
 * Fill det for check with up to three named values (names after the
 * first NULL are ignored): the one way both sides record a detection.
 */
static inline void vring_detection_set(struct vring_detection *det,
				       const char *check,
				       const char *n0, uint64_t v0,
				       const char *n1, uint64_t v1,
				       const char *n2, uint64_t v2)
{
	const char *names[3] = { n0, n1, n2 };
	uint64_t vals[3] = { v0, v1, v2 };
	unsigned int i;

	det->check = check;
	det->nvalues = 0;
	for (i = 0; i < 3 && names[i]; i++) {
		det->values[i].name = names[i];
		det->values[i].value = vals[i];
		det->nvalues++;
	}
}

/* ---- what a side tells whoever runs it, for traces and dumps ---- */

enum vring_event_type {
	VRING_EV_ADD,		/* driver: chain added (head, ndesc, out, in; idx: its avail slot) */
	VRING_EV_PUBLISH,	/* either: idx stored (idx; a: entries in it) */
	VRING_EV_KICK,		/* driver: notified the device (idx: avail idx) */
	VRING_EV_CONSUME,	/* device: took head from avail idx */
	VRING_EV_GATHER,	/* device: walked head's chain (ndesc, out, in) */
	VRING_EV_USE,		/* device: used head, a bytes, at used idx */
	VRING_EV_INTERRUPT,	/* device: interrupted the driver (idx: used idx) */
	VRING_EV_GET_BUF,	/* driver: reaped head, a bytes, at used idx */
	VRING_EV_DETACH,	/* driver: freed head's ndesc descriptors */
	VRING_EV_RESTART,	/* either: re-armed; a = 1 if more had arrived */
	VRING_EV_CHECK,		/* either: a check fired (det) */
};

struct vring_event {
	enum vring_event_type type;
	uint32_t idx;		/* the free-running index involved */
	uint32_t head;
	uint32_t ndesc;
	uint64_t a, b;		/* byte counts or results, per type */
	const struct vring_detection *det;	/* VRING_EV_CHECK only */
};

#endif
