// SPDX-License-Identifier: MIT
/*
 * ring/: the byte layout as a raw dump shows it, index arithmetic across
 * the 2^32 wrap, and the checked translation into guest memory.
 */
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "tests.h"

static uint32_t raw32(const void *page, size_t off)
{
	const uint8_t *p = (const uint8_t *)page + off;

	/* Little-endian by definition, whatever the host. */
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint16_t raw16(const void *page, size_t off)
{
	const uint8_t *p = (const uint8_t *)page + off;

	return (uint16_t)(p[0] | p[1] << 8);
}

/* DESIGN.md section 1: a dump must be readable from the table alone, so
 * every field lands at the offset the table gives, little-endian. */
START_TEST(test_layout_offsets)
{
	struct mock_ring m;
	const uint8_t *page0, *page1, *page2;
	struct vring_desc d = {
		.pfn = 0x11223344, .len = 0x55667788, .offset = 0x99aa,
		.next = 0xccddeeff,
	};

	mock_ring_init(&m, 256, 0);
	page0 = m.pages;
	page1 = page0 + VRING_PAGE_SIZE;
	page2 = page0 + 2 * VRING_PAGE_SIZE;

	vring_desc_write_fields(&m.vr, 255, &d);
	vring_desc_set_flags_release(&m.vr, 255, 0x0007);
	ck_assert_uint_eq(raw32(page0, 255 * 16 + 0), 0x11223344);
	ck_assert_uint_eq(raw32(page0, 255 * 16 + 4), 0x55667788);
	ck_assert_uint_eq(raw16(page0, 255 * 16 + 8), 0x99aa);
	ck_assert_uint_eq(raw16(page0, 255 * 16 + 10), 0x0007);
	ck_assert_uint_eq(raw32(page0, 255 * 16 + 12), 0xccddeeff);

	vring_avail_idx_release(&m.vr, 0x01020304);
	vring_avail_ring_write(&m.vr, 0x01020304, 0xabcd);
	ck_assert_uint_eq(raw32(page1, 0), 0x01020304);
	ck_assert_uint_eq(raw32(page1, 4 + 4 * (0x01020304 & 255)), 0xabcd);

	vring_used_idx_release(&m.vr, 0xa0b0c0d0);
	vring_used_elem_write(&m.vr, 0xa0b0c0d0, 0x1234, 0x5678);
	ck_assert_uint_eq(raw32(page2, 0), 0xa0b0c0d0);
	ck_assert_uint_eq(raw32(page2, 4 + 8 * (0xa0b0c0d0 & 255)), 0x1234);
	ck_assert_uint_eq(raw32(page2, 8 + 8 * (0xa0b0c0d0 & 255)), 0x5678);

	ck_assert_uint_eq(offsetof(struct vring_avail, flags), 2048);
	ck_assert_uint_eq(offsetof(struct vring_avail, used_event), 2112);
	ck_assert_uint_eq(offsetof(struct vring_used, flags), 3072);
	ck_assert_uint_eq(offsetof(struct vring_used, avail_event), 3136);
	mock_ring_fini(&m);
}
END_TEST

/* The accessors read back what they wrote, slot by free-running index,
 * for every queue size: a slot is idx mod num, not mod 256. */
START_TEST(test_accessors_round_trip)
{
	uint32_t num = 2u << _i, idx;
	struct mock_ring m;
	struct vring_desc d;
	struct vring_used_elem e;

	mock_ring_init(&m, num, 0);
	for (idx = 0; idx < 3 * num; idx++) {
		vring_avail_ring_write(&m.vr, idx, idx ^ 0x55);
		ck_assert_uint_eq(vring_avail_ring_read(&m.vr, idx), idx ^ 0x55);
		ck_assert_uint_eq(vring_avail_ring_read(&m.vr, idx + num),
				  idx ^ 0x55);
		vring_used_elem_write(&m.vr, idx, idx, ~idx);
		vring_used_elem_read(&m.vr, idx + 2 * num, &e);
		ck_assert_uint_eq(e.id, idx);
		ck_assert_uint_eq(e.len, ~idx);
	}
	/* Nothing beyond slot num - 1 was written. */
	ck_assert_uint_eq(num == 256 ? 0 : m.vr.avail->ring[num], 0);
	mock_desc(&m, num - 1, 7, 9, 11, VRING_DESC_F_WRITE, 3);
	vring_desc_read(&m.vr, num - 1, &d);
	ck_assert_uint_eq(d.pfn, 7);
	ck_assert_uint_eq(d.offset, 9);
	ck_assert_uint_eq(d.len, 11);
	ck_assert_uint_eq(d.flags, VRING_DESC_F_WRITE);
	ck_assert_uint_eq(d.next, 3);
	mock_ring_fini(&m);
}
END_TEST

/* Indices are free-running: distance is right across the wrap, and a
 * slot depends only on the low bits. */
START_TEST(test_index_wrap)
{
	ck_assert_uint_eq(vring_idx_dist(3, UINT32_MAX - 2), 6);
	ck_assert_uint_eq(vring_idx_dist(0, UINT32_MAX), 1);
	ck_assert_uint_eq(vring_idx_dist(5, 5), 0);
	/* Behind by one reads as almost 2^32 ahead: a jump, never "fine". */
	ck_assert_uint_eq(vring_idx_dist(4, 5), UINT32_MAX);
	ck_assert_uint_eq(vring_slot(UINT32_MAX, 256), 255);
	ck_assert_uint_eq(vring_slot(UINT32_MAX + 1u, 256), 0);
	ck_assert_uint_eq(vring_slot(4294967040u, 256), 0);
	ck_assert_uint_eq(vring_slot(13, 4), 1);
}
END_TEST

START_TEST(test_size_valid)
{
	uint32_t n, powers = 0;

	for (n = 0; n <= 1024; n++) {
		int valid = vring_size_valid(n);

		ck_assert_int_eq(valid, n >= 2 && n <= 256 && !(n & (n - 1)));
		powers += valid;
	}
	ck_assert_uint_eq(powers, 8);
	ck_assert(!vring_size_valid(UINT32_MAX));
	ck_assert(!vring_size_valid(1u << 31));
}
END_TEST

/* A reset is what both sides start from: zeroed pages, both indices at
 * the start index, hint words clear. */
START_TEST(test_reset)
{
	struct mock_ring m;

	mock_ring_init(&m, 8, 77);
	mock_desc(&m, 3, 1, 2, 3, 7, 4);
	vring_avail_ring_write(&m.vr, 5, 9);
	vring_used_elem_write(&m.vr, 5, 9, 9);
	m.vr.avail->flags = 1;
	vring_reset(&m.vr, 4294967040u);
	ck_assert_uint_eq(vring_avail_idx_acquire(&m.vr), 4294967040u);
	ck_assert_uint_eq(vring_used_idx_acquire(&m.vr), 4294967040u);
	ck_assert_uint_eq(raw32(m.pages, 3 * 16), 0);
	ck_assert_uint_eq(vring_avail_ring_read(&m.vr, 5), 0);
	ck_assert_uint_eq(m.vr.avail->flags, 0);
	mock_ring_fini(&m);
}
END_TEST

/* The seed's check_pointer, without its overflow: all of [gpa, gpa+len)
 * inside memory or nothing, whatever the sum would wrap to. */
START_TEST(test_translate_bounds)
{
	struct vring_mem mem;
	uint32_t pages;

	ck_assert_int_eq(vring_mem_map(&mem, 64 * VRING_PAGE_SIZE), 0);
	pages = vring_mem_pages(&mem);
	ck_assert_uint_eq(pages, 64);
	ck_assert_ptr_eq(vring_mem_at(&mem, 0, 1), mem.base);
	ck_assert_ptr_eq(vring_mem_at(&mem, 0, mem.size), mem.base);
	ck_assert_ptr_eq(vring_mem_at(&mem, mem.size - 1, 1),
			 mem.base + mem.size - 1);
	ck_assert_ptr_null(vring_mem_at(&mem, mem.size - 1, 2));
	ck_assert_ptr_null(vring_mem_at(&mem, 0, mem.size + 1));
	ck_assert_ptr_null(vring_mem_at(&mem, mem.size + 1, 0));
	ck_assert_ptr_null(vring_mem_at(&mem, UINT64_MAX, 2));
	ck_assert_ptr_null(vring_mem_at(&mem, 1, UINT64_MAX));

	ck_assert_ptr_eq(vring_mem_desc_ptr(&mem, 63, 4095, 1),
			 mem.base + mem.size - 1);
	ck_assert_ptr_null(vring_mem_desc_ptr(&mem, 63, 4095, 2));
	ck_assert_ptr_null(vring_mem_desc_ptr(&mem, 64, 0, 1));
	/* offset is a u16: it may reach past its own page, not past RAM. */
	ck_assert_ptr_eq(vring_mem_desc_ptr(&mem, 0, 65535, 1),
			 mem.base + 65535);
	ck_assert_ptr_eq(vring_mem_desc_ptr(&mem, 48, 65535, 1),
			 mem.base + mem.size - 1);
	ck_assert_ptr_null(vring_mem_desc_ptr(&mem, 49, 65535, 1));
	/* pfn * 4096 would wrap a u32 back to 0 here. */
	ck_assert_ptr_null(vring_mem_desc_ptr(&mem, 1u << 20, 0, 1));
	ck_assert_ptr_null(vring_mem_desc_ptr(&mem, UINT32_MAX, 65535,
					      UINT32_MAX));
	ck_assert_ptr_null(vring_mem_desc_ptr(&mem, 0, 16, UINT32_MAX));

	ck_assert(vring_mem_contains(&mem, mem.base, mem.size));
	ck_assert(!vring_mem_contains(&mem, mem.base - 1, 1));
	ck_assert(!vring_mem_contains(&mem, mem.base + 1, mem.size));
	vring_mem_unmap(&mem);
	ck_assert_ptr_null(mem.base);
}
END_TEST

START_TEST(test_map_rejects_bad_sizes)
{
	struct vring_mem mem;

	ck_assert_int_lt(vring_mem_map(&mem, 0), 0);
	ck_assert_int_lt(vring_mem_map(&mem, 4095), 0);
	ck_assert_int_lt(vring_mem_map(&mem, VRING_PAGE_SIZE + 1), 0);
	ck_assert_int_lt(vring_mem_map(&mem, ((uint64_t)UINT32_MAX + 1) *
					     VRING_PAGE_SIZE), 0);
	ck_assert_int_eq(vring_mem_map(&mem, VRING_PAGE_SIZE), 0);
	vring_mem_unmap(&mem);
}
END_TEST

/* Guest memory is bracketed by guard pages: a translation bug that
 * strays one byte out faults rather than corrupting the host. */
START_TEST(test_guard_below)
{
	struct vring_mem mem;

	ck_assert_int_eq(vring_mem_map(&mem, 4 * VRING_PAGE_SIZE), 0);
	/* A sanitizer's own handler would turn the fault into an exit. */
	signal(SIGSEGV, SIG_DFL);
	((volatile uint8_t *)mem.base)[-1] = 1;
}
END_TEST

START_TEST(test_guard_above)
{
	struct vring_mem mem;

	ck_assert_int_eq(vring_mem_map(&mem, 4 * VRING_PAGE_SIZE), 0);
	signal(SIGSEGV, SIG_DFL);
	((volatile uint8_t *)mem.base)[mem.size] = 1;
}
END_TEST

/* Guest memory is MAP_SHARED and starts zeroed. */
START_TEST(test_map_zeroed_and_writable)
{
	struct vring_mem mem;
	uint64_t i;

	ck_assert_int_eq(vring_mem_map(&mem, 16 * VRING_PAGE_SIZE), 0);
	for (i = 0; i < mem.size; i++)
		ck_assert_uint_eq(mem.base[i], 0);
	memset(mem.base, 0xff, mem.size);
	ck_assert_uint_eq(mem.base[mem.size - 1], 0xff);
	vring_mem_unmap(&mem);
}
END_TEST

Suite *ring_suite(void)
{
	Suite *s = suite_create("ring");
	TCase *tc = tcase_create("layout");

	tcase_add_test(tc, test_layout_offsets);
	tcase_add_loop_test(tc, test_accessors_round_trip, 0, 8);
	tcase_add_test(tc, test_index_wrap);
	tcase_add_test(tc, test_size_valid);
	tcase_add_test(tc, test_reset);
	suite_add_tcase(s, tc);

	tc = tcase_create("memory");
	tcase_add_test(tc, test_translate_bounds);
	tcase_add_test(tc, test_map_rejects_bad_sizes);
	tcase_add_test_raise_signal(tc, test_guard_below, SIGSEGV);
	tcase_add_test_raise_signal(tc, test_guard_above, SIGSEGV);
	tcase_add_test(tc, test_map_zeroed_and_writable);
	suite_add_tcase(s, tc);
	return s;
}
