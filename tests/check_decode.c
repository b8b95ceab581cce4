// SPDX-License-Identifier: MIT
/*
 * sim/decode.c: `vqsim decode` reads a raw three-page dump that nothing
 * vouches for.  A clean queue must say so with the right numbers, every
 * inconsistency must be named with its numbers, no input may crash it, and
 * what it prints must agree with a reader written from DESIGN.md alone.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sim.h"
#include "tests.h"

#define F_HEAD		VRING_DESC_F_HEAD
#define F_NEXT		VRING_DESC_F_NEXT
#define F_WRITE		VRING_DESC_F_WRITE

#define DIR_OUT		"out (device reads)"
#define DIR_IN		"in (device writes)"

/* Start indices every inconsistency test runs from: plain, and two short
 * of the 2^32 wrap so the corrupt layout straddles it. */
static const uint32_t starts[] = { 0, 4294967294u };

/* ---- running the decoder ---- */

/* Lines starting with "  !! ": the decoder's own count must match. */
static int count_problem_lines(const char *text)
{
	const char *p = text;
	int n = 0;

	while (*p) {
		if (!strncmp(p, "  !! ", 5))
			n++;
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
	}
	return n;
}

/* Whatever the input, a report's count, its "!!" lines and its last line
 * must agree: a person reads the last line first. */
static void check_report(int ret, const char *text)
{
	char last[64];
	size_t tl = strlen(text), ll;

	ck_assert_int_eq(count_problem_lines(text), ret);
	snprintf(last, sizeof(last), "\n%d thing%s look%s wrong\n", ret,
		 ret == 1 ? "" : "s", ret == 1 ? "s" : "");
	ll = strlen(last);
	ck_assert_msg(tl >= ll && !strcmp(text + tl - ll, last),
		      "report does not end with '%s'", last + 1);
}

/* The report being looked at, freed by the teardown if an assertion
 * leaves the test early (no leak report under CK_FORK=no). */
static char *cur_text;

static void put_text(char *text)
{
	ck_assert_ptr_eq(text, cur_text);
	free(text);
	cur_text = NULL;
}

static void free_text(void)
{
	free(cur_text);
	cur_text = NULL;
}

/* Decode len bytes at dump into *text (put_text() it). */
static int decode_bytes(const void *dump, size_t len, uint32_t num,
			char **text)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);
	int ret;

	ck_assert_ptr_nonnull(f);
	ret = sim_decode(dump, len, num, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_null(cur_text);
	cur_text = s;
	if (ret >= 0)
		check_report(ret, s);
	*text = s;
	return ret;
}

/* Decode the queue's three pages from a copy at an odd address: a dump
 * read from a file may sit anywhere, and the copy ends where ASan sees. */
static int decode_ring(const struct mock_ring *m, char **text)
{
	uint8_t *raw = malloc(VRING_BYTES + 1);
	int ret;

	ck_assert_ptr_nonnull(raw);
	memcpy(raw + 1, m->pages, VRING_BYTES);
	ret = decode_bytes(raw + 1, VRING_BYTES, m->num, text);
	free(raw);
	return ret;
}

/* A correct layout: nothing flagged, and the report says so. */
static void expect_clean(const struct mock_ring *m)
{
	char *text;
	int ret = decode_ring(m, &text);

	ck_assert_msg(ret == 0, "clean layout gave %d problems:\n%s", ret,
		      text);
	ck_assert_ptr_nonnull(strstr(text, "\n0 things look wrong\n"));
	ck_assert_ptr_null(strstr(text, "!!"));
	put_text(text);
}

static void expect_problem(const struct mock_ring *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A corrupt layout: at least one problem, and this one in these words. */
static void expect_problem(const struct mock_ring *m, const char *fmt, ...)
{
	char msg[160], line[176];
	char *text;
	va_list ap;
	int ret;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "\n  !! %s\n", msg);
	ret = decode_ring(m, &text);
	ck_assert_msg(ret >= 1, "'%s' not reported (returned %d):\n%s", msg,
		      ret, text);
	ck_assert_msg(strstr(text, line) != NULL, "no '!! %s' in:\n%s", msg,
		      text);
	put_text(text);
}

/* The first line of text containing key, copied into buf. */
static const char *line_with(const char *text, const char *key, char *buf,
			     size_t len)
{
	const char *hit = strstr(text, key), *bol, *eol;

	ck_assert_msg(hit != NULL, "no '%s' in:\n%s", key, text);
	for (bol = hit; bol > text && bol[-1] != '\n'; bol--)
		;
	eol = strchr(hit, '\n');
	ck_assert_ptr_nonnull(eol);
	ck_assert_uint_lt((size_t)(eol - bol), len);
	memcpy(buf, bol, (size_t)(eol - bol));
	buf[eol - bol] = '\0';
	return buf;
}

/*
 * Exactly one line for descriptor i, with its fields and address, its
 * flags spelled out, its direction, and where it chains to (next < 0:
 * nowhere).
 */
static void expect_desc_line(const char *text, uint32_t i, uint32_t pfn,
			     uint16_t off, uint32_t len, const char *flags,
			     const char *dir, long next)
{
	char frag[128], want[32];
	const char *hit, *eol, *p;
	size_t fl = strlen(flags), dl = strlen(dir);

	snprintf(frag, sizeof(frag), "desc %3" PRIu32 ": pfn %#" PRIx32
		 " offset %#x len %" PRIu32 " (gpa %#" PRIx64 ") ", i, pfn,
		 (unsigned int)off, len,
		 ((uint64_t)pfn << VRING_PAGE_SHIFT) + off);
	hit = strstr(text, frag);
	ck_assert_msg(hit != NULL, "no '%s' in:\n%s", frag, text);
	ck_assert_msg(strstr(hit + 1, frag) == NULL, "'%s' twice", frag);
	eol = strchr(hit, '\n');
	ck_assert_ptr_nonnull(eol);
	p = hit + strlen(frag);
	ck_assert_msg(!strncmp(p, flags, fl) && p[fl] == ' ',
		      "desc %" PRIu32 ": flags not '%s'", i, flags);
	for (p += fl; *p == ' '; p++)
		;
	ck_assert_msg(!strncmp(p, dir, dl), "desc %" PRIu32 ": not '%s'", i,
		      dir);
	p += dl;
	want[0] = '\0';
	if (next >= 0)
		snprintf(want, sizeof(want), " -> %ld", next);
	ck_assert_msg((size_t)(eol - p) == strlen(want) &&
		      !strncmp(p, want, strlen(want)),
		      "desc %" PRIu32 ": line does not end in '%s'", i, want);
}

/* No line at all for descriptor i (it is in no outstanding chain). */
static void expect_no_desc_line(const char *text, uint32_t i)
{
	char frag[32];

	snprintf(frag, sizeof(frag), "desc %3" PRIu32 ": ", i);
	ck_assert_msg(strstr(text, frag) == NULL, "'%s' shown:\n%s", frag,
		      text);
}

/* ---- 1. clean layouts ---- */

/* A queue in use, some chains used and some outstanding: the report has
 * both indices, every outstanding descriptor once with its fields, flags
 * and direction, nothing from the used chains, and no problem. */
START_TEST(test_clean_layout)
{
	struct mock_ring m;
	char *text, line[256];

	mock_ring_init(&m, 16, 1000);
	/* head 0: used */
	mock_desc(&m, 0, 8, 0, 16, F_HEAD | F_NEXT, 1);
	mock_desc(&m, 1, 9, 0x10, 1, F_WRITE, 0);
	/* head 2: used */
	mock_desc(&m, 2, 10, 0, 64, F_HEAD, 0);
	/* head 5: two out, two in, in shuffled slots */
	mock_desc(&m, 5, 10, 0x200, 512, F_HEAD | F_NEXT, 9);
	mock_desc(&m, 9, 11, 0, 4096, F_NEXT, 3);
	mock_desc(&m, 3, 12, 0xfff, 1, F_WRITE | F_NEXT, 15);
	mock_desc(&m, 15, 0, 0, 0xffffffffu, F_WRITE, 4);
	/* head 7: one writable buffer only */
	mock_desc(&m, 7, 0x12345, 0xffff, 2, F_HEAD | F_WRITE, 0);
	mock_avail_push(&m, 0);
	mock_avail_push(&m, 2);
	mock_avail_push(&m, 5);
	mock_avail_push(&m, 7);
	mock_used_push(&m, 0, 1);
	mock_used_push(&m, 2, 0);

	ck_assert_int_eq(decode_ring(&m, &text), 0);
	ck_assert_ptr_nonnull(strstr(text, "\n0 things look wrong\n"));
	ck_assert_ptr_nonnull(strstr(line_with(text, "avail_idx ", line,
					       sizeof(line)),
				     "1004 (slot 12)"));
	ck_assert_ptr_nonnull(strstr(line_with(text, "used_idx ", line,
					       sizeof(line)),
				     "1002 (slot 10)"));
	ck_assert_ptr_nonnull(strstr(text, "available, not yet used (2):"));
	ck_assert_ptr_nonnull(strstr(text, "(idx 1002) head 5\n"));
	ck_assert_ptr_nonnull(strstr(text, "(idx 1003) head 7\n"));
	expect_desc_line(text, 5, 10, 0x200, 512, "HEAD|NEXT", DIR_OUT, 9);
	expect_desc_line(text, 9, 11, 0, 4096, "NEXT", DIR_OUT, 3);
	expect_desc_line(text, 3, 12, 0xfff, 1, "NEXT|WRITE", DIR_IN, 15);
	expect_desc_line(text, 15, 0, 0, 0xffffffffu, "WRITE", DIR_IN, -1);
	expect_desc_line(text, 7, 0x12345, 0xffff, 2, "HEAD|WRITE", DIR_IN,
			 -1);
	expect_no_desc_line(text, 0);
	expect_no_desc_line(text, 1);
	expect_no_desc_line(text, 2);
	ck_assert_ptr_null(strstr(text, "!!"));
	put_text(text);
	mock_ring_fini(&m);
}
END_TEST

/* The same across the 2^32 wrap: avail_idx has wrapped to 2, used_idx
 * has not, and the outstanding slots 7, 0, 1 are found through it. */
START_TEST(test_clean_layout_wrap)
{
	struct mock_ring m;
	char *text, line[256];

	mock_ring_init(&m, 8, 4294967293u);
	mock_desc(&m, 4, 20, 0, 100, F_HEAD, 0);
	mock_desc(&m, 6, 21, 0, 200, F_HEAD | F_WRITE, 0);
	mock_desc(&m, 0, 22, 0x80, 300, F_HEAD | F_NEXT, 7);
	mock_desc(&m, 7, 23, 0, 1, F_WRITE, 0);
	mock_desc(&m, 1, 24, 0x8, 400, F_HEAD | F_NEXT, 2);
	mock_desc(&m, 2, 25, 0, 500, F_NEXT, 3);
	mock_desc(&m, 3, 26, 0, 600, 0, 5);
	mock_desc(&m, 5, 27, 0, 700, F_HEAD, 0);
	mock_avail_push(&m, 4);
	mock_avail_push(&m, 6);
	mock_avail_push(&m, 0);		/* idx 4294967295, slot 7 */
	mock_avail_push(&m, 1);		/* idx 0, slot 0 */
	mock_avail_push(&m, 5);		/* idx 1, slot 1 */
	mock_used_push(&m, 4, 0);
	mock_used_push(&m, 6, 200);
	ck_assert_uint_eq(m.avail_idx, 2);
	ck_assert_uint_eq(m.used_idx, 4294967295u);

	ck_assert_int_eq(decode_ring(&m, &text), 0);
	ck_assert_ptr_nonnull(strstr(text, "\n0 things look wrong\n"));
	ck_assert_ptr_nonnull(strstr(line_with(text, "avail_idx ", line,
					       sizeof(line)), " 2 (slot 2)"));
	ck_assert_ptr_nonnull(strstr(line_with(text, "used_idx ", line,
					       sizeof(line)),
				     "4294967295 (slot 7)"));
	ck_assert_ptr_nonnull(strstr(text, "available, not yet used (3):"));
	ck_assert_ptr_nonnull(strstr(text, "(idx 4294967295) head 0\n"));
	ck_assert_ptr_nonnull(strstr(text, "(idx 0) head 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "(idx 1) head 5\n"));
	expect_desc_line(text, 0, 22, 0x80, 300, "HEAD|NEXT", DIR_OUT, 7);
	expect_desc_line(text, 7, 23, 0, 1, "WRITE", DIR_IN, -1);
	expect_desc_line(text, 1, 24, 0x8, 400, "HEAD|NEXT", DIR_OUT, 2);
	expect_desc_line(text, 2, 25, 0, 500, "NEXT", DIR_OUT, 3);
	expect_desc_line(text, 3, 26, 0, 600, "-", DIR_OUT, -1);
	expect_desc_line(text, 5, 27, 0, 700, "HEAD", DIR_OUT, -1);
	expect_no_desc_line(text, 4);
	expect_no_desc_line(text, 6);
	put_text(text);
	mock_ring_fini(&m);
}
END_TEST

/* ---- 2. one test per inconsistency ---- */

/*
 * The layout the inconsistency tests start from, a queue of 8:
 *   head 0: 0 (out) -> 1 (in)                      used
 *   head 2: 2 (out) -> 3 (out) -> 4 (in) -> 5 (in)  outstanding
 *   head 6: 6 (out)                                outstanding
 * Descriptor 7 is free for a test's own neighbouring correct layout.
 */
static void base_layout(struct mock_ring *m, uint32_t start)
{
	mock_ring_init(m, 8, start);
	mock_desc(m, 0, 8, 0, 16, F_HEAD | F_NEXT, 1);
	mock_desc(m, 1, 8, 16, 1, F_WRITE, 0);
	mock_desc(m, 2, 9, 0, 16, F_HEAD | F_NEXT, 3);
	mock_desc(m, 3, 10, 0, 4096, F_NEXT, 4);
	mock_desc(m, 4, 11, 0x100, 512, F_WRITE | F_NEXT, 5);
	mock_desc(m, 5, 9, 16, 1, F_WRITE, 0);
	mock_desc(m, 6, 12, 0, 8, F_HEAD, 0);
	mock_avail_push(m, 0);
	mock_avail_push(m, 2);
	mock_avail_push(m, 6);
	mock_used_push(m, 0, 1);
}

/* The driver sets HEAD last, so a head without it was made available
 * before its chain was complete. */
START_TEST(test_head_without_head_flag)
{
	struct mock_ring m;

	base_layout(&m, starts[_i]);
	expect_clean(&m);
	mock_desc(&m, 2, 9, 0, 16, F_NEXT, 3);
	expect_problem(&m, "head 2 is available without HEAD");
	mock_ring_fini(&m);
}
END_TEST

/* A chain whose last descriptor points back at its head never ends. */
START_TEST(test_loop_to_head)
{
	struct mock_ring m;

	base_layout(&m, starts[_i]);
	expect_clean(&m);
	mock_desc(&m, 5, 9, 16, 1, F_WRITE | F_NEXT, 2);
	expect_problem(&m, "chain at head 2 loops back to desc 2");
	mock_ring_fini(&m);
}
END_TEST

/* A loop that does not pass through the head again: 4 -> 5 -> 4, and a
 * descriptor chaining to itself. */
START_TEST(test_loop_later)
{
	struct mock_ring m;

	base_layout(&m, starts[_i]);
	expect_clean(&m);
	mock_desc(&m, 5, 9, 16, 1, F_WRITE | F_NEXT, 4);
	expect_problem(&m, "chain at head 2 loops back to desc 4");
	mock_desc(&m, 5, 9, 16, 1, F_WRITE | F_NEXT, 5);
	expect_problem(&m, "chain at head 2 loops back to desc 5");
	mock_ring_fini(&m);
}
END_TEST

/* The smallest queue, its one chain using both descriptors and looping
 * back to the head: a loop, wherever the walk bound falls. */
START_TEST(test_loop_whole_queue)
{
	struct mock_ring m;

	mock_ring_init(&m, 2, starts[_i]);
	mock_desc(&m, 0, 8, 0, 16, F_HEAD | F_NEXT, 1);
	mock_desc(&m, 1, 9, 0, 16, F_WRITE, 0);
	mock_avail_push(&m, 0);
	expect_clean(&m);
	mock_desc(&m, 1, 9, 0, 16, F_WRITE | F_NEXT, 0);
	expect_problem(&m, "chain at head 0 loops back to desc 0");
	mock_ring_fini(&m);
}
END_TEST

/* next names a descriptor the queue does not have: 7 is the last one of
 * a queue of 8, 8 is one too far. */
START_TEST(test_next_beyond_queue)
{
	struct mock_ring m;

	base_layout(&m, starts[_i]);
	mock_desc(&m, 5, 9, 16, 1, F_WRITE | F_NEXT, 7);
	mock_desc(&m, 7, 13, 0, 32, F_WRITE, 0);
	expect_clean(&m);
	mock_desc(&m, 5, 9, 16, 1, F_WRITE | F_NEXT, 8);
	expect_problem(&m, "desc 5 chains to 8, beyond the queue");
	mock_desc(&m, 5, 9, 16, 1, F_WRITE | F_NEXT, UINT32_MAX);
	expect_problem(&m, "desc 5 chains to 4294967295, beyond the queue");
	mock_ring_fini(&m);
}
END_TEST

/* HEAD marks only the start of a chain; inside one it means two chains
 * were spliced together. */
START_TEST(test_head_inside_chain)
{
	struct mock_ring m;

	base_layout(&m, starts[_i]);
	expect_clean(&m);
	mock_desc(&m, 3, 10, 0, 4096, F_HEAD | F_NEXT, 4);
	expect_problem(&m, "desc 3 has HEAD inside the chain at head 2");
	mock_ring_fini(&m);
}
END_TEST

/* A chain is all readable descriptors, then all writable ones. */
START_TEST(test_readable_after_writable)
{
	struct mock_ring m;

	base_layout(&m, starts[_i]);
	expect_clean(&m);
	mock_desc(&m, 5, 9, 16, 1, 0, 0);
	expect_problem(&m, "desc 5 is readable after a writable one");
	mock_ring_fini(&m);
}
END_TEST

/* Only HEAD, NEXT and WRITE exist; any other bit is named by value in
 * the complaint and shown as "?" in the descriptor's line. */
START_TEST(test_unknown_flags)
{
	struct mock_ring m;
	char *text;

	base_layout(&m, starts[_i]);
	expect_clean(&m);
	mock_desc(&m, 4, 11, 0x100, 512, F_WRITE | F_NEXT | 0x10, 5);
	expect_problem(&m, "desc 4 has unknown flags 0x10");
	decode_ring(&m, &text);
	expect_desc_line(text, 4, 11, 0x100, 512, "NEXT|WRITE|?", DIR_IN, 5);
	put_text(text);
	mock_desc(&m, 4, 11, 0x100, 512, F_WRITE | F_NEXT, 5);
	mock_desc(&m, 6, 12, 0, 8, F_HEAD | 0x8000, 0);
	expect_problem(&m, "desc 6 has unknown flags 0x8000");
	decode_ring(&m, &text);
	expect_desc_line(text, 6, 12, 0, 8, "HEAD|?", DIR_OUT, -1);
	put_text(text);
	mock_ring_fini(&m);
}
END_TEST

/* A buffer of no bytes: one byte is fine, none is not. */
START_TEST(test_zero_length)
{
	struct mock_ring m;

	base_layout(&m, starts[_i]);
	mock_desc(&m, 3, 10, 0, 1, F_NEXT, 4);
	expect_clean(&m);
	mock_desc(&m, 3, 10, 0, 0, F_NEXT, 4);
	expect_problem(&m, "desc 3 has length 0");
	mock_ring_fini(&m);
}
END_TEST

/* Two outstanding chains through one descriptor: the device would use
 * one buffer for two requests. */
START_TEST(test_shared_descriptor)
{
	struct mock_ring m;

	base_layout(&m, starts[_i]);
	mock_desc(&m, 6, 12, 0, 8, F_HEAD | F_NEXT, 7);
	mock_desc(&m, 7, 13, 0, 8, F_WRITE, 0);
	expect_clean(&m);
	mock_desc(&m, 6, 12, 0, 8, F_HEAD | F_NEXT, 5);
	expect_problem(&m, "desc 5 is also in the chain at head 2");
	mock_ring_fini(&m);
}
END_TEST

/* An available entry naming a descriptor the queue does not have. */
START_TEST(test_avail_head_beyond_queue)
{
	struct mock_ring m;

	base_layout(&m, starts[_i]);
	mock_desc(&m, 7, 13, 0, 8, F_HEAD, 0);
	mock_avail_push(&m, 7);
	expect_clean(&m);
	vring_avail_ring_write(&m.vr, m.avail_idx - 1, 8);
	expect_problem(&m, "head 8 is beyond the queue");
	vring_avail_ring_write(&m.vr, m.avail_idx - 1, 0x80000000u);
	expect_problem(&m, "head 2147483648 is beyond the queue");
	mock_ring_fini(&m);
}
END_TEST

/* One chain in two available slots: the device would run it twice. */
START_TEST(test_head_available_twice)
{
	struct mock_ring m;

	base_layout(&m, starts[_i]);
	mock_desc(&m, 7, 13, 0, 8, F_HEAD, 0);
	mock_avail_push(&m, 7);
	expect_clean(&m);
	vring_avail_ring_write(&m.vr, m.avail_idx - 1, 6);
	expect_problem(&m, "head 6 is available twice");
	mock_ring_fini(&m);
}
END_TEST

/* A full queue has exactly num entries outstanding; one more is an
 * avail_idx that jumped. */
START_TEST(test_avail_too_far_ahead)
{
	struct mock_ring m;
	uint32_t i;

	mock_ring_init(&m, 8, starts[_i]);
	for (i = 0; i < 8; i++) {
		mock_desc(&m, i, 8 + i, 0, 16, F_HEAD, 0);
		mock_avail_push(&m, i);
	}
	expect_clean(&m);
	mock_avail_publish(&m, m.avail_idx + 1);
	expect_problem(&m, "avail_idx is 9 past used_idx, more than the "
		       "queue holds");
	mock_ring_fini(&m);
}
END_TEST

/* Everything available used is fine; one more used than that is not. */
START_TEST(test_used_past_avail)
{
	struct mock_ring m;

	base_layout(&m, starts[_i]);
	mock_used_push(&m, 2, 513);
	mock_used_push(&m, 6, 0);
	expect_clean(&m);
	mock_used_publish(&m, m.used_idx + 1);
	expect_problem(&m, "used_idx is 1 past avail_idx: more used than was "
		       "made available");
	mock_ring_fini(&m);
}
END_TEST

/* A used entry naming a descriptor the queue does not have. */
START_TEST(test_used_id_beyond_queue)
{
	struct mock_ring m;

	base_layout(&m, starts[_i]);
	mock_desc(&m, 7, 13, 0, 8, F_HEAD | F_WRITE, 0);
	mock_avail_push(&m, 7);
	mock_used_push(&m, 7, 8);
	expect_clean(&m);
	vring_used_elem_write(&m.vr, m.used_idx - 1, 8, 8);
	expect_problem(&m, "used id 8 is beyond the queue");
	mock_ring_fini(&m);
}
END_TEST

/* ---- 3. robustness ---- */

/* Anything but one queue's three pages, or a queue size that is not a
 * power of two from 2 to 256, is refused before a byte is read: each
 * buffer is exactly len bytes, so ASan sees any read past it. */
START_TEST(test_bad_len_or_num)
{
	static const size_t lens[] = {
		0, 1, 4096, VRING_BYTES - 1, VRING_BYTES + 1,
		2 * VRING_BYTES,
	};
	static const uint32_t nums[] = {
		0, 1, 3, 6, 255, 257, 384, 512, 1u << 31, UINT32_MAX,
	};
	uint8_t *buf;
	char *text;
	unsigned int k;
	uint32_t num;

	for (k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		buf = calloc(1, lens[k] ? lens[k] : 1);
		ck_assert_ptr_nonnull(buf);
		ck_assert_int_eq(decode_bytes(buf, lens[k], 8, &text), -1);
		put_text(text);
		free(buf);
	}
	buf = calloc(1, VRING_BYTES);
	ck_assert_ptr_nonnull(buf);
	for (k = 0; k < sizeof(nums) / sizeof(nums[0]); k++) {
		ck_assert_int_eq(decode_bytes(buf, VRING_BYTES, nums[k], &text),
				 -1);
		put_text(text);
	}
	/* The neighbours: every valid size decodes a zeroed queue cleanly. */
	for (num = 2; num <= 256; num *= 2) {
		ck_assert_int_eq(decode_bytes(buf, VRING_BYTES, num, &text), 0);
		put_text(text);
	}
	free(buf);
}
END_TEST

static uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static void put_le32(uint8_t *p, size_t off, uint32_t v)
{
	p[off] = (uint8_t)v;
	p[off + 1] = (uint8_t)(v >> 8);
	p[off + 2] = (uint8_t)(v >> 16);
	p[off + 3] = (uint8_t)(v >> 24);
}

/*
 * Make random bytes look like a queue in places, so that chains get
 * walked: indices a few apart (one time in eight anywhere), heads and
 * nexts mostly in range, flags mostly known bits, some lengths 0.
 */
static void tame(uint8_t *buf, uint32_t num, uint64_t *rng)
{
	uint32_t used_idx = (uint32_t)xorshift64(rng), i;
	uint32_t ahead = (uint32_t)(xorshift64(rng) % (num + 3));

	if (xorshift64(rng) % 2)
		used_idx = UINT32_MAX - (uint32_t)(xorshift64(rng) % 300);
	if (xorshift64(rng) % 8 == 0)
		ahead = 0u - (uint32_t)(xorshift64(rng) % (num + 2));
	put_le32(buf, 2 * VRING_PAGE_SIZE, used_idx);
	put_le32(buf, VRING_PAGE_SIZE, used_idx + ahead);
	for (i = 0; i < VRING_MAX_SIZE; i++) {
		uint64_t r = xorshift64(rng);
		uint8_t *d = buf + 16 * i;

		if (r % 16)
			put_le32(buf, VRING_PAGE_SIZE + 4 + 4 * i,
				 (uint32_t)((r >> 8) % (num + 1)));
		if (r % 13)
			put_le32(d, 12, (uint32_t)((r >> 24) % (num + 1)));
		if (r % 11) {
			d[10] &= 7;
			d[11] = 0;
		}
		if (r % 17 == 0)
			put_le32(d, 4, 0);
		if (r % 7)
			put_le32(buf, 2 * VRING_PAGE_SIZE + 4 + 8 * i,
				 (uint32_t)((r >> 40) % (num + 1)));
	}
}

/* 2000 seeded random dumps per size, half of them tamed into something
 * queue-like: never a crash, a hang or a sanitizer report, never -1, and
 * a report that always agrees with itself. */
START_TEST(test_random_dumps)
{
	static const uint32_t nums[] = { 2, 16, 256 };
	static uint8_t buf[VRING_BYTES];
	const uint32_t num = nums[_i];
	uint64_t rng = 0x9e3779b97f4a7c15ull ^ num;
	unsigned int iter, w;
	char *text;

	for (iter = 0; iter < 2000; iter++) {
		for (w = 0; w < VRING_BYTES; w += 4)
			put_le32(buf, w, (uint32_t)xorshift64(&rng));
		if (iter % 2)
			tame(buf, num, &rng);
		ck_assert_int_ge(decode_bytes(buf, VRING_BYTES, num, &text), 0);
		put_text(text);
	}
}
END_TEST

/* ---- 4. an independent reader, from DESIGN.md section 1 alone ---- */

/*
 * Nothing from vring.h below: only the table.  Three 4096-byte pages,
 * little-endian.  Page 0: 16-byte descriptors {u32 pfn; u32 len;
 * u16 offset; u16 flags; u32 next}.  Page 1: u32 avail_idx at 0,
 * u32 available[256] at 4.  Page 2: u32 used_idx at 0, {u32 id; u32 len}
 * used[256] at 4.  Flag NEXT = 2.  Indices free-running, reduced % size.
 */
#define IR_PAGE		4096u
#define IR_DESC_BYTES	16u
#define IR_F_NEXT	2u
#define IR_FRAG_LEN	80
#define IR_MAX_FRAGS	256

static uint32_t ir_le32(const uint8_t *p, uint32_t off)
{
	return (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 |
	       (uint32_t)p[off + 2] << 16 | (uint32_t)p[off + 3] << 24;
}

static uint16_t ir_le16(const uint8_t *p, uint32_t off)
{
	return (uint16_t)(p[off] | p[off + 1] << 8);
}

/*
 * For every outstanding available slot, from used_idx up to avail_idx,
 * walk its chain and write "desc %3u: pfn %#x offset %#x len %u" for each
 * descriptor into frags.  Returns how many.
 */
static unsigned int ir_fragments(const uint8_t *dump, uint32_t size,
				 char frags[][IR_FRAG_LEN])
{
	const uint8_t *descs = dump;
	const uint8_t *avail = dump + IR_PAGE;
	const uint8_t *used = dump + 2 * IR_PAGE;
	const uint32_t avail_idx = ir_le32(avail, 0);
	const uint32_t used_idx = ir_le32(used, 0);
	unsigned int n = 0;
	uint32_t idx, i, steps;

	for (idx = used_idx; idx != avail_idx; idx++) {
		ck_assert_uint_lt(idx - used_idx, size);
		i = ir_le32(avail, 4 + 4 * (idx % size));
		for (steps = 0; steps < size; steps++) {
			uint32_t at = i * IR_DESC_BYTES;

			ck_assert_uint_lt(i, size);
			ck_assert_uint_lt(n, IR_MAX_FRAGS);
			snprintf(frags[n++], IR_FRAG_LEN, "desc %3" PRIu32
				 ": pfn %#" PRIx32 " offset %#x len %" PRIu32,
				 i, ir_le32(descs, at),
				 (unsigned int)ir_le16(descs, at + 8),
				 ir_le32(descs, at + 4));
			if (!(ir_le16(descs, at + 10) & IR_F_NEXT))
				break;
			i = ir_le32(descs, at + 12);
		}
	}
	return n;
}

/* frag at p or later as a whole field: not followed by another digit. */
static const char *find_field(const char *p, const char *frag)
{
	size_t fl = strlen(frag);

	while ((p = strstr(p, frag)) && p[fl] >= '0' && p[fl] <= '9')
		p++;
	return p;
}

static const struct {
	uint32_t num, start, rounds;
} ir_layouts[] = {
	{ 2, 0, 1 },
	{ 2, 4294967295u, 3 },
	{ 4, 4294967294u, 4 },
	{ 8, 77, 2 },
	{ 16, 4294967290u, 3 },
	{ 64, 2147483645u, 2 },
	{ 128, 1000, 1 },
	{ 256, 4294967040u, 2 },
	{ 256, 4294967100u, 3 },
};

/*
 * Fill the queue over several rounds of chains built from a shuffled
 * list of descriptors: all chains of earlier rounds used, some of the
 * last round's.  Returns how many descriptors are outstanding.
 */
static unsigned int random_layout(struct mock_ring *m, uint32_t rounds,
				  uint64_t *rng)
{
	const uint32_t num = m->num;
	uint32_t order[VRING_MAX_SIZE], heads[VRING_MAX_SIZE];
	uint32_t lens[VRING_MAX_SIZE];
	uint32_t r, i, j, k, nchains, nused, pos, total;
	unsigned int outstanding = 0;

	for (r = 0; r < rounds; r++) {
		for (i = 0; i < num; i++)
			order[i] = i;
		for (i = num - 1; i > 0; i--) {
			j = (uint32_t)(xorshift64(rng) % (i + 1));
			k = order[i];
			order[i] = order[j];
			order[j] = k;
		}
		total = 1 + (uint32_t)(xorshift64(rng) % num);
		for (pos = 0, nchains = 0; pos < total; nchains++) {
			uint32_t len = 1 + (uint32_t)(xorshift64(rng) %
						      (total - pos < 6 ?
						       total - pos : 6));
			uint32_t outs = (uint32_t)(xorshift64(rng) % (len + 1));

			for (j = 0; j < len; j++) {
				uint64_t x = xorshift64(rng);
				uint32_t pfn = x % 3 == 0 ? 0 : x % 3 == 1 ?
					(uint32_t)(x >> 8) & 0xff :
					(uint32_t)(x >> 32);
				uint16_t off = x % 5 == 0 ? 0 : x % 5 == 1 ?
					0xffff : (uint16_t)(x >> 16);
				uint16_t fl = (j == 0 ? F_HEAD : 0) |
					(j + 1 < len ? F_NEXT : 0) |
					(j >= outs ? F_WRITE : 0);
				/* A last descriptor's next is junk: unread. */
				uint32_t next = j + 1 < len ?
					order[pos + j + 1] : (uint32_t)x;

				mock_desc(m, order[pos + j], pfn, off,
					  1 + (uint32_t)(x >> 20) % 70000, fl,
					  next);
			}
			/* Each chain takes at least one of num descriptors,
			 * so nchains < num <= 256, which cppcheck cannot see. */
			// cppcheck-suppress arrayIndexOutOfBounds
			heads[nchains] = order[pos];
			// cppcheck-suppress arrayIndexOutOfBounds
			lens[nchains] = len;
			mock_avail_push(m, order[pos]);
			pos += len;
		}
		nused = nchains;
		if (r + 1 == rounds)
			nused = (uint32_t)(xorshift64(rng) % nchains);
		for (i = 0; i < nused; i++)
			mock_used_push(m, heads[i], (uint32_t)xorshift64(rng));
		if (r + 1 == rounds)
			for (i = nused; i < nchains; i++)
				outstanding += lens[i];
	}
	return outstanding;
}

/* On valid layouts of every size, chain shape, offset and start index,
 * each descriptor the independent reader finds is printed by the decoder
 * with the same fields, in the same order. */
START_TEST(test_independent_reader)
{
	static char frags[IR_MAX_FRAGS][IR_FRAG_LEN];
	static uint8_t dump[VRING_BYTES];
	uint64_t rng = 0x2545f4914f6cdd1dull + (uint64_t)_i;
	struct mock_ring m;
	unsigned int n, k, expected;
	const char *p;
	char *text;

	mock_ring_init(&m, ir_layouts[_i].num, ir_layouts[_i].start);
	expected = random_layout(&m, ir_layouts[_i].rounds, &rng);
	ck_assert_uint_gt(expected, 0);
	memcpy(dump, m.pages, VRING_BYTES);

	n = ir_fragments(dump, ir_layouts[_i].num, frags);
	ck_assert_uint_eq(n, expected);
	ck_assert_int_eq(decode_bytes(dump, VRING_BYTES, ir_layouts[_i].num,
				      &text), 0);
	for (k = 0, p = text; k < n; k++) {
		p = find_field(p, frags[k]);
		ck_assert_msg(p != NULL, "'%s' missing or out of order in:\n%s",
			      frags[k], text);
		p += strlen(frags[k]);
	}
	put_text(text);
	mock_ring_fini(&m);
}
END_TEST

/* The reader itself, on a hand-made dump written byte by byte from the
 * table: it must find what was written, or the comparison proves little. */
START_TEST(test_independent_reader_self)
{
	static char frags[IR_MAX_FRAGS][IR_FRAG_LEN];
	static uint8_t dump[3 * IR_PAGE];

	/* used_idx 0xffffffff, avail_idx 1: slots 3 and 0 of a queue of 4 */
	put_le32(dump, 2 * IR_PAGE, 0xffffffffu);
	put_le32(dump, IR_PAGE, 1);
	put_le32(dump, IR_PAGE + 4 + 4 * 3, 2);
	put_le32(dump, IR_PAGE + 4 + 4 * 0, 0);
	/* desc 2: pfn 0x10 len 5 offset 0x20 HEAD|NEXT -> 1 */
	put_le32(dump, 2 * 16, 0x10);
	put_le32(dump, 2 * 16 + 4, 5);
	dump[2 * 16 + 8] = 0x20;
	dump[2 * 16 + 10] = 3;
	put_le32(dump, 2 * 16 + 12, 1);
	/* desc 1: pfn 0 len 7 offset 0x1234 WRITE */
	put_le32(dump, 1 * 16 + 4, 7);
	dump[1 * 16 + 8] = 0x34;
	dump[1 * 16 + 9] = 0x12;
	dump[1 * 16 + 10] = 4;
	/* desc 0: pfn 0xabcdef len 1 offset 0 HEAD */
	put_le32(dump, 0, 0xabcdef);
	put_le32(dump, 4, 1);
	dump[10] = 1;

	ck_assert_uint_eq(ir_fragments(dump, 4, frags), 3);
	ck_assert_str_eq(frags[0], "desc   2: pfn 0x10 offset 0x20 len 5");
	ck_assert_str_eq(frags[1], "desc   1: pfn 0 offset 0x1234 len 7");
	ck_assert_str_eq(frags[2], "desc   0: pfn 0xabcdef offset 0 len 1");
}
END_TEST

Suite *decode_suite(void)
{
	const int nstarts = (int)(sizeof(starts) / sizeof(starts[0]));
	Suite *s = suite_create("decode");
	TCase *tc = tcase_create("clean");

	tcase_add_checked_fixture(tc, NULL, free_text);
	tcase_add_test(tc, test_clean_layout);
	tcase_add_test(tc, test_clean_layout_wrap);
	suite_add_tcase(s, tc);

	tc = tcase_create("problems");
	tcase_add_checked_fixture(tc, NULL, free_text);
	tcase_add_loop_test(tc, test_head_without_head_flag, 0, nstarts);
	tcase_add_loop_test(tc, test_loop_to_head, 0, nstarts);
	tcase_add_loop_test(tc, test_loop_later, 0, nstarts);
	tcase_add_loop_test(tc, test_loop_whole_queue, 0, nstarts);
	tcase_add_loop_test(tc, test_next_beyond_queue, 0, nstarts);
	tcase_add_loop_test(tc, test_head_inside_chain, 0, nstarts);
	tcase_add_loop_test(tc, test_readable_after_writable, 0, nstarts);
	tcase_add_loop_test(tc, test_unknown_flags, 0, nstarts);
	tcase_add_loop_test(tc, test_zero_length, 0, nstarts);
	tcase_add_loop_test(tc, test_shared_descriptor, 0, nstarts);
	tcase_add_loop_test(tc, test_avail_head_beyond_queue, 0, nstarts);
	tcase_add_loop_test(tc, test_head_available_twice, 0, nstarts);
	tcase_add_loop_test(tc, test_avail_too_far_ahead, 0, nstarts);
	tcase_add_loop_test(tc, test_used_past_avail, 0, nstarts);
	tcase_add_loop_test(tc, test_used_id_beyond_queue, 0, nstarts);
	suite_add_tcase(s, tc);

	tc = tcase_create("robustness");
	tcase_add_checked_fixture(tc, NULL, free_text);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_bad_len_or_num);
	tcase_add_loop_test(tc, test_random_dumps, 0, 3);
	suite_add_tcase(s, tc);

	tc = tcase_create("independent");
	tcase_add_checked_fixture(tc, NULL, free_text);
	tcase_add_test(tc, test_independent_reader_self);
	tcase_add_loop_test(tc, test_independent_reader, 0,
			    (int)(sizeof(ir_layouts) / sizeof(ir_layouts[0])));
	suite_add_tcase(s, tc);
	return s;
}
