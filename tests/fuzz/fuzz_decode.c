// SPDX-License-Identifier: MIT
/*
 * vqsim decode (sim/decode.c) on arbitrary dump bytes: the first byte is
 * the queue size (0 for 256), the rest the dump.  A dump that is not one
 * queue's three pages, or a size that is no queue's, is refused (-1) with
 * nothing printed; anything else is decoded, every problem it counts is a
 * "!!" line, and the last line says how many there were.
 */
#define _GNU_SOURCE
#include <stdio.h>

#include "fuzz.h"
#include "sim.h"

FUZZ_NOCOV_BEGIN

/* What sim_decode printed, seen through a FILE without storing it. */
static struct {
	uint64_t bytes;
	unsigned int problems;		/* lines starting "  !! " */
	char line[160];			/* the line being written */
	size_t len;
	char last[160];			/* the last whole line */
	bool complete;			/* output ends with a newline */
} out;

static FILE *sink;

static ssize_t sink_write(void *cookie, const char *buf, size_t n)
{
	size_t i;

	(void)cookie;
	for (i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			if (out.len + 1 < sizeof(out.line))
				out.line[out.len++] = buf[i];
			continue;
		}
		out.line[out.len] = '\0';
		if (!strncmp(out.line, "  !! ", 5))
			out.problems++;
		memcpy(out.last, out.line, out.len + 1);
		out.len = 0;
	}
	out.bytes += n;
	out.complete = n && buf[n - 1] == '\n';
	return (ssize_t)n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const cookie_io_functions_t io = { .write = sink_write };

	(void)argc;
	(void)argv;
	sink = fopencookie(NULL, "w", io);
	ASSERT(sink, "fopencookie failed");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t num = size && data[0] ? data[0] : VRING_MAX_SIZE;
	size_t len = size ? size - 1 : 0;
	bool valid = len == VRING_BYTES && vring_size_valid(num);
	uint8_t *dump = malloc(len ? len : 1);
	char want[64];
	int ret;

	/* The dump is only the bytes after the size: a copy of exactly
	 * that length, so that ASan sees any read past its end. */
	ASSERT(dump, "out of memory");
	memcpy(dump, data + (size ? 1 : 0), len);
	memset(&out, 0, sizeof(out));
	ret = sim_decode(dump, len, num, sink);
	fflush(sink);
	free(dump);
	if (!valid) {
		ASSERT(ret == -1 && out.bytes == 0,
		       "%zu bytes, queue of %u: returned %d, printed %llu "
		       "bytes", len, num, ret, (unsigned long long)out.bytes);
		return 0;
	}
	ASSERT(ret >= 0, "a dump of a queue of %u refused (%d)", num, ret);
	ASSERT(out.complete && (unsigned int)ret == out.problems,
	       "returned %d with %u '!!' lines", ret, out.problems);
	snprintf(want, sizeof(want), "%d thing%s look%s wrong", ret,
		 ret == 1 ? "" : "s", ret == 1 ? "s" : "");
	ASSERT(!strcmp(out.last, want), "the last line is '%s', not '%s'",
	       out.last, want);
	return 0;
}

FUZZ_NOCOV_END
