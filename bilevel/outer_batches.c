/*
 * bilevel/outer_batches.c — the inner and outer batches of the sampling
 * outer algorithms (hypertape/outer.h): index buffers, the two samplers
 * (inner seeded opts->seed, outer opts->seed + BL__OUTER_SEED_SHIFT) and
 * the draws. A full batch never samples.
 */
#include "bilevel/internal.h"
#include <hypertape/outer.h>
#include <hypertape/sampler.h>

#include <stdlib.h>

int bl__batch_size(int b, int n, int dflt)
{
    int want = b > 0 ? b : dflt;
    return want < n ? want : n;
}

bl_status bl__batches_init(bl__batches *b, int b_in, int n_in, int b_out, int n_out)
{
    *b = (bl__batches){.b_in = b_in, .b_out = b_out, .full_in = b_in == n_in,
                       .full_out = b_out == n_out, .n_idx = b_in + b_out + 1};
    b->idx_in = malloc((size_t)b->n_idx * sizeof(int));
    if (!b->idx_in)
        return BL_ENOMEM;
    b->idx_out = b->idx_in + b_in;
    return BL_OK;
}

bl_status bl__batches_set(bl_outer *o, bl__batches *b, int n_in, int n_out)
{
    const bl_outer_opts *op = bl_outer_options(o);
    uint64_t seed = op->seed;
    int mode = op->sample_mode;
    bl_sampler_free(b->si);
    bl_sampler_free(b->so);
    b->si = b->so = NULL;
    bl_status st = BL_OK;
    if (!b->full_in)
        b->si = bl_sampler_new(n_in, seed, mode, &st);
    if (st == BL_OK && !b->full_out)
        b->so = bl_sampler_new(n_out, seed + BL__OUTER_SEED_SHIFT, mode, &st);
    for (int k = 0; b->full_in && k < b->b_in; k++)
        b->idx_in[k] = k;
    for (int k = 0; b->full_out && k < b->b_out; k++)
        b->idx_out[k] = k;
    if (st != BL_OK)
        return bl_outer_fail(o, st, "cannot create the samplers (n_inner = %d, n_outer = %d)",
                             n_in, n_out);
    return BL_OK;
}

void bl__batches_draw(bl__batches *b, int inner, int outer)
{
    if (inner && !b->full_in)
        bl_sampler_draw(b->si, b->b_in, b->idx_in);
    if (outer && !b->full_out)
        bl_sampler_draw(b->so, b->b_out, b->idx_out);
}

const bl_batch *bl__batches_next(bl__batches *b, int outer, bl_batch *out)
{
    if (outer ? b->full_out : b->full_in)
        return NULL;
    bl__batches_draw(b, !outer, outer);
    *out = outer ? (bl_batch){b->idx_out, b->b_out} : (bl_batch){b->idx_in, b->b_in};
    return out;
}

/* Bytes of a sampler over n samples in mode: the state, plus a permutation
 * of n ints in BL_SAMPLE_EPOCHS mode. */
static size_t sampler_bytes(const bl_sampler *s, int mode)
{
    if (!s)
        return 0;
    return 64 + (mode == BL_SAMPLE_EPOCHS ? (size_t)bl_sampler_size(s) * sizeof(int) : 0);
}

void bl__batches_note_memory(bl_outer *o, const bl__batches *b, size_t own, bl_oracle *orc)
{
    int mode = bl_outer_options(o)->sample_mode;
    size_t mem = own + (size_t)b->n_idx * sizeof(int) + sampler_bytes(b->si, mode) +
                 sampler_bytes(b->so, mode) + bl_oracle_peak_bytes(orc);
    bl_outer_report *rep = bl_outer_report_mut(o);
    if (mem > rep->memory_bytes)
        rep->memory_bytes = mem;
}

void bl__batches_free(bl__batches *b)
{
    bl_sampler_free(b->si);
    bl_sampler_free(b->so);
    free(b->idx_in);
    b->si = b->so = NULL;
    b->idx_in = b->idx_out = NULL;
}
