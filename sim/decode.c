// SPDX-License-Identifier: MIT
/*
 * `vqsim decode`: print a raw three-page dump for a person.  The input is
 * only bytes in the seed's layout, from vqsim or anything else, so nothing
 * in it is trusted: every index is range-checked and every chain walk is
 * bounded, and whatever looks wrong is said, in words, with the numbers.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

struct decoder {
	struct vring vr;
	FILE *out;
	unsigned int problems;
	/* For each descriptor: the outstanding head whose chain reached it
	 * first (head + 1), 0 if none. */
	uint16_t owner[VRING_MAX_SIZE];
};

static void problem(struct decoder *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(struct decoder *d, const char *fmt, ...)
{
	va_list ap;

	d->problems++;
	fputs("  !! ", d->out);
	va_start(ap, fmt);
	vfprintf(d->out, fmt, ap);
	va_end(ap);
	fputc('\n', d->out);
}

static const char *flag_names(uint16_t flags, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s%s",
		 flags & VRING_DESC_F_HEAD ? "HEAD|" : "",
		 flags & VRING_DESC_F_NEXT ? "NEXT|" : "",
		 flags & VRING_DESC_F_WRITE ? "WRITE|" : "",
		 flags & ~VRING_DESC_F_KNOWN ? "?|" : "",
		 flags ? "" : "-|");
	buf[strlen(buf) - 1] = '\0';	/* the last '|' */
	return buf;
}

/* Print the chain at head, descriptor by descriptor, with what is wrong. */
static void decode_chain(struct decoder *d, uint32_t head)
{
	const uint32_t num = d->vr.num;
	uint32_t i = head, n = 0, in = 0;
	uint64_t out_len = 0, in_len = 0;
	struct vring_desc desc;
	char fl[32];

	for (;;) {
		vring_desc_read(&d->vr, i, &desc);
		fprintf(d->out, "      desc %3" PRIu32 ": pfn %#" PRIx32
			" offset %#" PRIx16 " len %" PRIu32 " (gpa %#" PRIx64
			") %-15s %s", i, desc.pfn, desc.offset, desc.len,
			((uint64_t)desc.pfn << VRING_PAGE_SHIFT) + desc.offset,
			flag_names(desc.flags, fl, sizeof(fl)),
			desc.flags & VRING_DESC_F_WRITE ? "in (device writes)" :
			"out (device reads)");
		if (desc.flags & VRING_DESC_F_NEXT)
			fprintf(d->out, " -> %" PRIu32, desc.next);
		fputc('\n', d->out);

		if (d->owner[i] == head + 1) {
			problem(d, "chain at head %" PRIu32 " loops back to "
				"desc %" PRIu32, head, i);
			return;
		}
		/* Through other chains' descriptors a walk could go round
		 * forever without meeting its own again. */
		if (n == num) {
			problem(d, "chain at head %" PRIu32 " is longer than "
				"the queue", head);
			return;
		}
		if (d->owner[i])
			problem(d, "desc %" PRIu32 " is also in the chain at "
				"head %u", i, d->owner[i] - 1u);
		else
			d->owner[i] = (uint16_t)(head + 1);
		if (n == 0 && !(desc.flags & VRING_DESC_F_HEAD))
			problem(d, "head %" PRIu32 " is available without "
				"HEAD", head);
		if (n > 0 && (desc.flags & VRING_DESC_F_HEAD))
			problem(d, "desc %" PRIu32 " has HEAD inside the chain "
				"at head %" PRIu32, i, head);
		if (desc.flags & ~VRING_DESC_F_KNOWN)
			problem(d, "desc %" PRIu32 " has unknown flags %#x",
				i, desc.flags & ~VRING_DESC_F_KNOWN);
		if (desc.len == 0)
			problem(d, "desc %" PRIu32 " has length 0", i);
		if (desc.flags & VRING_DESC_F_WRITE) {
			in++;
			in_len += desc.len;
		} else {
			if (in)
				problem(d, "desc %" PRIu32 " is readable after "
					"a writable one", i);
			out_len += desc.len;
		}
		n++;
		if (!(desc.flags & VRING_DESC_F_NEXT))
			break;
		if (desc.next >= num) {
			problem(d, "desc %" PRIu32 " chains to %" PRIu32
				", beyond the queue", i, desc.next);
			return;
		}
		i = desc.next;
	}
	fprintf(d->out, "      = %" PRIu32 " descriptors, %" PRIu64
		" bytes out, %" PRIu64 " bytes in\n", n, out_len, in_len);
}

int sim_decode(const void *dump, size_t len, uint32_t num, FILE *out)
{
	/* Our own aligned copy: the file's bytes may sit anywhere. */
	uint8_t *pages = aligned_alloc(VRING_PAGE_SIZE, VRING_BYTES);
	struct decoder *d = calloc(1, sizeof(*d));
	uint32_t avail_idx, used_idx, ahead, k;
	int ret = -1;

	if (!pages || !d || len != VRING_BYTES || !vring_size_valid(num))
		goto out;
	memcpy(pages, dump, VRING_BYTES);
	vring_init(&d->vr, pages, num);
	d->out = out;

	avail_idx = vring_avail_idx_acquire(&d->vr);
	used_idx = vring_used_idx_acquire(&d->vr);
	ahead = vring_idx_dist(avail_idx, used_idx);
	fprintf(out, "queue of %" PRIu32 " entries\n", num);
	fprintf(out, "  avail_idx %" PRIu32 " (slot %" PRIu32 ")  flags %#"
		PRIx32 "  used_event %" PRIu32 "\n", avail_idx,
		vring_slot(avail_idx, num), vring_le32(d->vr.avail->flags),
		vring_le32(d->vr.avail->used_event));
	fprintf(out, "  used_idx  %" PRIu32 " (slot %" PRIu32 ")  flags %#"
		PRIx32 "  avail_event %" PRIu32 "\n", used_idx,
		vring_slot(used_idx, num), vring_le32(d->vr.used->flags),
		vring_le32(d->vr.used->avail_event));
	if (ahead > num && vring_idx_dist(used_idx, avail_idx) <= num) {
		problem(d, "used_idx is %" PRIu32 " past avail_idx: more used "
			"than was made available",
			vring_idx_dist(used_idx, avail_idx));
		ahead = 0;
	} else if (ahead > num) {
		problem(d, "avail_idx is %" PRIu32 " past used_idx, more than "
			"the queue holds", ahead);
		ahead = num;
	}

	fprintf(out, "available, not yet used (%" PRIu32 "):\n", ahead);
	for (k = 0; k < ahead; k++) {
		uint32_t idx = used_idx + k;
		uint32_t head = vring_avail_ring_read(&d->vr, idx);

		fprintf(out, "  avail[%3" PRIu32 "] (idx %" PRIu32 ") head %"
			PRIu32 "\n", vring_slot(idx, num), idx, head);
		if (head >= num)
			problem(d, "head %" PRIu32 " is beyond the queue",
				head);
		else if (d->owner[head] == head + 1)
			problem(d, "head %" PRIu32 " is available twice",
				head);
		else
			decode_chain(d, head);
	}

	/* The dump does not say how far the driver has reaped, so an old
	 * entry cannot be told from a new one: show them all, check ids. */
	fprintf(out, "used, most recent first:\n");
	for (k = 1; k <= num; k++) {
		struct vring_used_elem e;
		uint32_t idx = used_idx - k;

		vring_used_elem_read(&d->vr, idx, &e);
		fprintf(out, "  used[%3" PRIu32 "] (idx %" PRIu32 ") id %"
			PRIu32 " len %" PRIu32 "\n", vring_slot(idx, num), idx,
			e.id, e.len);
		if (e.id >= num)
			problem(d, "used id %" PRIu32 " is beyond the queue",
				e.id);
	}
	fprintf(out, "%u thing%s look%s wrong\n", d->problems,
		d->problems == 1 ? "" : "s", d->problems == 1 ? "s" : "");
	ret = (int)d->problems;
out:
	free(pages);
	free(d);
	return ret;
}

int sim_decode_main(int argc, char **argv)
{
	static uint8_t buf[VRING_BYTES + 1];
	const char *path = NULL;
	unsigned long num = VRING_MAX_SIZE;
	size_t len;
	FILE *f;
	int i, ret;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--queue-size") && i + 1 < argc) {
			char *end;

			num = strtoul(argv[++i], &end, 10);
			if (*end || argv[i][0] < '0' || argv[i][0] > '9' ||
			    num > VRING_MAX_SIZE ||
			    !vring_size_valid((uint32_t)num)) {
				fprintf(stderr, "vqsim: decode: --queue-size "
					"'%s': expected a power of two from "
					"%u to %u\n", argv[i], VRING_MIN_SIZE,
					VRING_MAX_SIZE);
				return 2;
			}
		} else if (argv[i][0] == '-' || path) {
			fprintf(stderr, "vqsim: decode: unexpected '%s' "
				"(usage: vqsim decode [--queue-size N] FILE)\n",
				argv[i]);
			return 2;
		} else {
			path = argv[i];
		}
	}
	if (!path) {
		fprintf(stderr, "vqsim: decode: no file "
			"(usage: vqsim decode [--queue-size N] FILE)\n");
		return 2;
	}
	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "vqsim: decode: cannot open %s\n", path);
		return 1;
	}
	len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (len != VRING_BYTES) {
		fprintf(stderr, "vqsim: decode: %s has %s%zu bytes; a dump of "
			"one queue has exactly %u\n", path,
			len > VRING_BYTES ? "more than " : "",
			len > VRING_BYTES ? (size_t)VRING_BYTES : len,
			VRING_BYTES);
		return 1;
	}
	printf("%s: ", path);
	ret = sim_decode(buf, len, (uint32_t)num, stdout);
	return ret == 0 ? 0 : 1;
}
