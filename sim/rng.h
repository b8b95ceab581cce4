/* SPDX-License-Identifier: MIT */
/*
 * splitmix64: every random choice of a run comes from the seed through
 * this, so a seed names a run exactly.
 */
#ifndef VQSIM_SIM_RNG_H
#define VQSIM_SIM_RNG_H

#include <stdint.h>

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

#endif
