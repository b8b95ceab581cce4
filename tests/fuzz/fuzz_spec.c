// SPDX-License-Identifier: MIT
/*
 * The fault-spec parser (faults/spec.c) on any text: a spec that parses
 * prints back as text that parses to the very same spec and prints the
 * same; one that does not parse says why in one non-empty line.  Small
 * buffers, for the error and for the printed form, are filled without
 * overflowing them, and give the same answer.
 */
#define _DEFAULT_SOURCE	/* strdup, strnlen */
#include "fuzz.h"
#include "faults.h"

FUZZ_NOCOV_BEGIN

#define TEXT_MAX	512	/* a spec this long is no longer plausible */

static char text[TEXT_MAX + 1];

/*
 * One line: a terminating NUL inside the buffer, and no line break unless
 * the text had one (an error quotes the offending token as given).
 */
static void check_line(const char *s, size_t cap, const char *what)
{
	size_t n = strnlen(s, cap);

	ASSERT(n < cap, "%s is not terminated in its %zu bytes", what, cap);
	ASSERT((!strchr(s, '\n') || strchr(text, '\n')) &&
	       (!strchr(s, '\r') || strchr(text, '\r')),
	       "%s spans lines: '%s'", what, s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct flt_spec a, b;
	char err[200], out[256], again[256], *small;
	size_t n = size < TEXT_MAX ? size : TEXT_MAX, cap;
	int ret, ret2;

	/* The text ends at the first NUL, as a C string from argv does. */
	memcpy(text, data, n);
	text[n] = '\0';

	err[0] = '\0';
	ret = flt_parse(text, &a, err, sizeof(err));
	ASSERT(ret == 0 || ret == -EINVAL, "flt_parse returned %d", ret);

	/* The same with an error buffer of 1..16 bytes, exactly allocated
	 * so that ASan sees any write past it. */
	cap = 1 + (n ? data[0] % 16 : 0);
	small = malloc(cap);
	ASSERT(small, "out of memory");
	small[0] = 'x';
	ret2 = flt_parse(text, &b, small, cap);
	ASSERT(ret2 == ret, "%d with a %zu-byte error buffer, %d without",
	       ret2, cap, ret);
	if (ret)
		check_line(small, cap, "the short error");
	free(small);

	if (ret) {
		check_line(err, sizeof(err), "the error");
		ASSERT(err[0], "flt_parse('%s') failed without a message",
		       text);
		return 0;
	}

	flt_format(&a, out, sizeof(out));
	check_line(out, sizeof(out), "the printed spec");
	ASSERT(strlen(out) + 1 < sizeof(out), "'%s' may be cut short", out);
	ret = flt_parse(out, &b, err, sizeof(err));
	ASSERT(ret == 0, "'%s' (from '%s') does not parse back: %s", out,
	       text, err);
	ASSERT(!memcmp(&a, &b, sizeof(a)),
	       "'%s' parses to another spec than '%s'", out, text);
	flt_format(&b, again, sizeof(again));
	ASSERT(!strcmp(out, again), "'%s' prints back as '%s'", out, again);

	/* Printing into a small buffer cuts it short, in bounds. */
	cap = 1 + strlen(out) % 24;
	small = malloc(cap);
	ASSERT(small, "out of memory");
	flt_format(&a, small, cap);
	ASSERT(strnlen(small, cap) < cap && !strncmp(small, out, cap - 1),
	       "'%s' printed into %zu bytes is not its start", out, cap);
	free(small);
	return 0;
}

FUZZ_NOCOV_END
