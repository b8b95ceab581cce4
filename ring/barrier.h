/* SPDX-License-Identifier: MIT */
/*
 * Kernel-named memory-ordering primitives for shared queue memory, built on
 * the GCC/Clang __atomic builtins (the C11 memory model without _Atomic
 * types, so the shared layout stays plain fixed-width integers).
 *
 * Guest and host share no lock: every word the other side may touch is read
 * and written through these, which also keeps ThreadSanitizer meaningful.
 */
#ifndef VQSIM_RING_BARRIER_H
#define VQSIM_RING_BARRIER_H

/* A single untorn access with no ordering: for ring entries and descriptor
 * fields, which an index store/load with release/acquire orders. */
#define READ_ONCE(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* Publish/consume an index: everything written before the release is seen
 * by whoever acquires the value it stored. */
#define smp_store_release(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define smp_load_acquire(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)

/*
 * Full barrier: orders an earlier store before a later load, which release/
 * acquire does not.  Needed only by the notification handshakes, where each
 * side stores "I am going to sleep" and then re-reads the other's index.
 */
#define smp_mb()		__atomic_thread_fence(__ATOMIC_SEQ_CST)

/* In a spin on the other side's index: tell the CPU, which then yields to
 * its hyperthread sibling and leaves the spin without a memory-order
 * mis-speculation when the index changes (Linux's cpu_relax). */
#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax()		__builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax()		__asm__ __volatile__("yield" ::: "memory")
#else
#define cpu_relax()		__atomic_signal_fence(__ATOMIC_SEQ_CST)
#endif

#endif
