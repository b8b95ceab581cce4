/* SPDX-License-Identifier: MIT */
/*
 * splitmix64: every random choice of a run comes from the seed through
 * this, so a seed names a run exactly.
 */
#ifndef VQSIM_SIM_RNG_H
#define VQSIM_SIM_RNG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi]; the modulo bias is irrelevant at these ranges. */
static inline uint32_t rng_range(uint64_t *state, uint32_t lo, uint32_t hi)
{
	return lo + (uint32_t)(rng_next(state) % ((uint64_t)hi - lo + 1));
}

/*
 * Test data named by a key (itself from rng_next, so the keys of different
 * buffers are unrelated): word n, from 1, is key ^ (n * RNG_PATTERN_STEP).
 * Two different keys differ in every word, so a stale, misplaced or
 * shifted buffer cannot pass for another; and a word costs two
 * instructions, where a splitmix a word was most of a guest's time.
 */
#define RNG_PATTERN_STEP	0x9e3779b97f4a7c15ull

static inline void rng_pattern_fill(uint8_t *p, size_t len, uint64_t key)
{
	uint64_t word = 0, v;

	for (; len >= 8; p += 8, len -= 8) {
		word += RNG_PATTERN_STEP;
		v = key ^ word;
		memcpy(p, &v, 8);
	}
	if (len) {
		word += RNG_PATTERN_STEP;
		v = key ^ word;
		memcpy(p, &v, len);
	}
}

#endif
