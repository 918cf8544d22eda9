/*
 * hypertape/sampler.h — seeded minibatch samplers for stochastic outer
 * algorithms (prefix bl_sampler_). A sampler draws sample indices in
 * [0, n), with replacement or in epochs without replacement, from its own
 * PRNG state (xoshiro256**, seeded through splitmix64): there is no global
 * random state, so two samplers with the same n, seed and mode give the
 * same stream on any thread, and samplers on different threads do not
 * interact. A sampler itself is not shared between threads.
 */
#ifndef HYPERTAPE_BILEVEL_SAMPLER_H
#define HYPERTAPE_BILEVEL_SAMPLER_H

#include <hypertape/status.h>

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** How a sampler draws. */
typedef enum bl_sample_mode {
    BL_SAMPLE_REPLACE = 0, /**< each index uniform on [0, n), independently */
    BL_SAMPLE_EPOCHS = 1,  /**< epochs without replacement: each epoch is a fresh
                                uniform permutation of [0, n), drawn in order; a draw
                                that crosses an epoch's end continues in the next
                                (so such a batch may repeat an index) */
    BL_SAMPLE_MODE_COUNT
} bl_sample_mode;

/** Opaque sampler. */
typedef struct bl_sampler bl_sampler;

/** A sampler of indices in [0, n) with the given seed (any value) and mode
 *  (a bl_sample_mode). On failure returns NULL and sets *st (st may be
 *  NULL): BL_EINVAL for n <= 0 or an unknown mode, BL_ENOMEM when the
 *  permutation (n ints, epochs mode) cannot be allocated. */
bl_sampler *bl_sampler_new(int n, uint64_t seed, int mode, bl_status *st);

/** Frees the sampler; bl_sampler_free(NULL) is a no-op. */
void bl_sampler_free(bl_sampler *s);

/** Draws the next k indices of the stream into idx (k entries; k = 0 is a
 *  no-op). BL_EINVAL (message in bl_sampler_message) for k < 0 or idx
 *  NULL with k > 0; the stream is then unchanged. */
bl_status bl_sampler_draw(bl_sampler *s, int k, int *idx);

/** Indices drawn since creation. */
long bl_sampler_drawn(const bl_sampler *s);

/** Completed epochs: bl_sampler_drawn() / n (in both modes, so that an
 *  outer loop can count passes over the data the same way). */
long bl_sampler_epoch(const bl_sampler *s);

/** The n of the sampler. */
int bl_sampler_size(const bl_sampler *s);

/** Message of the last failed call ("" when none). */
const char *bl_sampler_message(const bl_sampler *s);

#ifdef __cplusplus
}
#endif
#endif /* HYPERTAPE_BILEVEL_SAMPLER_H */
