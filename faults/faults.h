/* SPDX-License-Identifier: MIT */
/*
 * The fault injector: a spec names one field of the shared layout, how to
 * corrupt it and at which publication (DESIGN.md section 5).  It speaks
 * only the layout, as a buggy or malicious other side would: it never
 * reaches into either side's private state, so every corruption it makes
 * must be caught by one of their checks.
 */
#ifndef VQSIM_FAULTS_H
#define VQSIM_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vring.h"

enum flt_field {
	FLT_AVAIL_IDX,
	FLT_AVAIL_RING,		/* avail.ring[I] */
	FLT_USED_IDX,
	FLT_USED_ID,		/* used.ring[I].id */
	FLT_USED_LEN,		/* used.ring[I].len */
	FLT_DESC_PFN,		/* desc[I].pfn, and so on */
	FLT_DESC_LEN,
	FLT_DESC_OFFSET,
	FLT_DESC_FLAGS,
	FLT_DESC_NEXT,
};

/*
 * An index or a value: a number; last-N, the slot written N before the
 * last one (last is last-0); head.N, the Nth descriptor after the head the
 * last slot names, following next (head is head.0); or, as a value only,
 * what a ring slot holds: avail.ring[I] or used.ring[I].id, I a number or
 * last-N (the two are vqsim's additions to DESIGN.md's language, to make
 * a head appear twice).
 */
enum flt_ref {
	FLT_REF_NUM,
	FLT_REF_LAST,		/* indices only */
	FLT_REF_HEAD,
	FLT_REF_AVAIL,		/* values only */
	FLT_REF_USED_ID,	/* values only */
};

struct flt_operand {
	enum flt_ref ref;
	uint32_t n;		/* the number, N of last-N or head.N, or I */
	bool last;		/* FLT_REF_AVAIL/USED_ID: I is last-n */
};

enum flt_op { FLT_SET, FLT_ADD, FLT_XOR };

/* Which publication: the driver's Nth of avail idx, or the device's Nth
 * of used idx (counted per queue, from 1). */
enum flt_moment { FLT_AT_KICK, FLT_AT_IRQ };

struct flt_spec {
	char queue[16];		/* "" when the spec names none */
	enum flt_field field;
	struct flt_operand index;	/* ring and desc fields only */
	enum flt_op op;
	struct flt_operand value;	/* FLT_REF_NUM or FLT_REF_HEAD */
	enum flt_moment moment;
	uint64_t n;
};

/*
 * Parse text into spec.  Returns 0, or -EINVAL with one line in err that
 * names the offending token and what was expected there.
 */
int flt_parse(const char *text, struct flt_spec *spec, char *err,
	      size_t errlen);

/* The spec in its canonical text form (what flt_parse reads back). */
void flt_format(const struct flt_spec *spec, char *buf, size_t len);

/*
 * Corrupt vr as spec says, at the publication about to store *idx (the
 * avail idx at a kick, the used idx at an interrupt); a fault on that very
 * index changes *idx, so the corrupt value is what gets published.
 * Returns 1 if it changed something, 0 if the spec could not be resolved
 * (head.N past the end of the chain, say) or would change nothing (a head
 * copied onto itself).  The caller matches queue and moment.
 */
int flt_apply(const struct flt_spec *spec, const struct vring *vr,
	      uint32_t *idx);

/* ---- the catalogue: classes of corruption and the checks they trip ---- */

/* What a generator needs to know of the run its fault goes into. */
struct flt_target {
	uint32_t queue_size;
	uint32_t chain_len;	/* descriptors per request; 0 if it varies */
	uint32_t chain_out;	/* of which readable, at the front */
	uint32_t mem_pages;	/* guest memory, in pages */
	uint64_t kicks;		/* kick:N up to this certainly happens */
	uint64_t irqs;		/* likewise irq:N */
};

#define FLT_MAX_SPECS	2	/* specs one generated fault consists of */
#define FLT_SPEC_LEN	112

struct flt_class {
	const char *name;
	const char *queue;	/* the queue it corrupts */
	uint32_t min_chain;	/* chain_len it needs (0: any) */
	/* "side:check" ids that may fire, the intended one first. */
	const char *expect[6];
	const char *about;	/* one line: the corruption, and why more
				 * than one id can be right */
	/* Write 1..FLT_MAX_SPECS spec texts for t; returns how many. */
	unsigned int (*gen)(uint64_t *rng, const struct flt_target *t,
			    char spec[FLT_MAX_SPECS][FLT_SPEC_LEN]);
};

extern const struct flt_class flt_classes[];
extern const unsigned int flt_nclasses;

/* Is "side:check" one of c's expected ids? */
int flt_class_expects(const struct flt_class *c, const char *side,
		      const char *check);

#endif
