/*
 * bilevel/checkpoint.c — unroll-checkpointed: the lean reverse sweep with s
 * snapshots (θ_0's slot included), recomputing inner steps between them on
 * the optimal binomial schedule (Griewank & Walther's revolve). The split
 * points come from the dynamic programme
 *   F(1, f) = 0,  F(l, 0) = l(l−1)/2,  F(l, f) = min_m m + F(l−m, f−1) + F(m, f)
 * over f free snapshots, whose optimum is the closed form checked by the
 * tests: r·l − C(s+r, s+1) with r minimal such that C(s+r, s) ≥ l.
 * Memory: s snapshots + current state + adjoint = (s+2)·p doubles for GD
 * (twice the snapshot width for heavy ball, whose state is (θ_k, θ_{k−1})).
 */
#include "bilevel/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

long bl_checkpoint_forward_steps(long l, int s)
{
    if (l < 1 || s < 1)
        return -1;
    long r = 0;
    double beta = 1.0; /* C(s+r, s) */
    while (beta < (double)l) {
        r++;
        beta = beta * (s + r) / r;
    }
    double c = 1.0; /* C(s+r, s+1) = C(s+r, r−1) */
    for (long k = 1; k <= r - 1; k++)
        c = c * (s + 1 + k) / k;
    if (r == 0)
        c = 0.0;
    return r * l - (long)llround(c);
}

typedef struct ckpt {
    bl_run *r;
    int p, w;          /* state width: 1 (GD) or 2 (HB: θ_k, θ_{k−1}) */
    int K, S;          /* steps and snapshots */
    int *split;        /* split[l*S + f]: first advance for l steps, f free snapshots */
    double *slots;     /* S states of w·p */
    double *cur, *nxt; /* current state and scratch (2·p each for the step) */
    double *c, *n, *hc, *cross;
    long fwd;
} ckpt;

static bl_status build_splits(ckpt *ck)
{
    int K = ck->K, S = ck->S;
    long *F = malloc((size_t)(K + 1) * S * sizeof(long));
    ck->split = malloc((size_t)(K + 1) * S * sizeof(int));
    if (!F || !ck->split) {
        free(F);
        return bl__fail(ck->r->orc, BL_ENOMEM, "unroll-checkpointed: no memory for a %d-step schedule", K);
    }
    for (int l = 1; l <= K; l++)
        for (int f = 0; f < S; f++) {
            long best = f == 0 ? (long)l * (l - 1) / 2 : (l == 1 ? 0 : -1);
            int arg = 0;
            for (int m = 1; f > 0 && m < l; m++) {
                long v = m + F[(size_t)(l - m) * S + f - 1] + F[(size_t)m * S + f];
                if (best < 0 || v < best) {
                    best = v;
                    arg = m;
                }
            }
            F[(size_t)l * S + f] = best;
            ck->split[(size_t)l * S + f] = arg;
        }
    free(F);
    return BL_OK;
}

/* Advances the state in ck->cur by n inner steps. */
static bl_status advance(ckpt *ck, int n)
{
    int p = ck->p;
    for (int i = 0; i < n; i++) {
        const double *prev = ck->w == 2 ? ck->cur + p : ck->cur;
        bl_status st = bl__inner_step(ck->r, ck->cur, prev, ck->nxt);
        if (st != BL_OK)
            return st;
        if (ck->w == 2)
            memcpy(ck->cur + p, ck->cur, (size_t)p * sizeof(double));
        memcpy(ck->cur, ck->nxt, (size_t)p * sizeof(double));
        ck->fwd++;
    }
    return BL_OK;
}

/* The adjoint of step k at θ_k (first p entries of state). */
static bl_status adjoint_step(ckpt *ck, const double *theta_k)
{
    bl_run *r = ck->r;
    int p = ck->p;
    double a = bl_inner_step(r->in), beta = bl_inner_momentum(r->in);
    bl_status st = bl_oracle_point(r->orc, theta_k, r->lambda);
    if (st == BL_OK)
        st = bl_oracle_hvp(r->orc, ck->c, ck->hc, ck->cross);
    if (st != BL_OK)
        return st;
    bl__axpy(r->m, -a, ck->cross, r->hg);
    for (int j = 0; j < p; j++) {
        double cj = ck->c[j];
        ck->c[j] = ck->n[j] + (1.0 + beta) * cj - a * ck->hc[j];
        ck->n[j] = -beta * cj;
    }
    return BL_OK;
}

static void load(ckpt *ck, int slot) { memcpy(ck->cur, ck->slots + (size_t)slot * ck->w * ck->p, (size_t)ck->w * ck->p * sizeof(double)); }
static void store(ckpt *ck, int slot) { memcpy(ck->slots + (size_t)slot * ck->w * ck->p, ck->cur, (size_t)ck->w * ck->p * sizeof(double)); }

/* Reverses steps lo..hi−1; the state θ_lo is in `slot`; `f` free slots
 * follow it. */
static bl_status reverse(ckpt *ck, int lo, int hi, int slot, int f)
{
    int l = hi - lo;
    bl_status st = BL_OK;
    if (l == 1 || f == 0) {
        for (int k = hi - 1; k >= lo && st == BL_OK; k--) {
            load(ck, slot);
            st = advance(ck, k - lo);
            if (st == BL_OK)
                st = adjoint_step(ck, ck->cur);
        }
        return st;
    }
    int m = ck->split[(size_t)l * ck->S + f];
    load(ck, slot);
    st = advance(ck, m);
    if (st != BL_OK)
        return st;
    store(ck, slot + 1);
    st = reverse(ck, lo + m, hi, slot + 1, f - 1);
    return st != BL_OK ? st : reverse(ck, lo, lo + m, slot, f);
}

bl_status bl__hg_checkpointed(bl_run *r)
{
    const bl_inner_type *T = bl_inner_type_of(r->in);
    if (T != bl_inner_gd && T != bl_inner_hb)
        return bl__fail(r->orc, BL_EINVAL, "unroll-checkpointed: needs the gd or hb inner solver, not %s",
                        bl_inner_type_name(T));
    ckpt ck = {.r = r, .p = r->p, .w = T == bl_inner_hb ? 2 : 1, .K = bl_inner_iters(r->in)};
    ck.S = r->o.snapshots < ck.K ? r->o.snapshots : (ck.K > 0 ? ck.K : 1);
    if (ck.K > 20000)
        return bl__fail(r->orc, BL_EINVAL, "unroll-checkpointed: K = %d steps is above the schedule limit of 20000", ck.K);
    memcpy(r->hg, r->gl, (size_t)r->m * sizeof(double));
    if (ck.K == 0)
        return BL_OK;
    int p = r->p, w = ck.w;
    double *mem = malloc(((size_t)ck.S * w * p + (size_t)w * p + 2 * (size_t)p + 3 * (size_t)p + r->m) * sizeof(double));
    bl_status st = mem ? build_splits(&ck)
                       : bl__fail(r->orc, BL_ENOMEM, "unroll-checkpointed: no memory for %d snapshots", ck.S);
    if (st == BL_OK) {
        ck.slots = mem;
        ck.cur = ck.slots + (size_t)ck.S * w * p;
        ck.nxt = ck.cur + (size_t)w * p;
        ck.c = ck.nxt + 2 * (size_t)p;
        ck.n = ck.c + p;
        ck.hc = ck.n + p;
        ck.cross = ck.hc + p;
        const double *th0 = bl_inner_iterate_at(r->in, 0);
        th0 = th0 ? th0 : r->o.theta0;
        for (int k = 0; k < w; k++) /* θ_0 (and θ_{−1} = θ_0) */
            th0 ? memcpy(ck.slots + (size_t)k * p, th0, (size_t)p * sizeof(double))
                : memset(ck.slots + (size_t)k * p, 0, (size_t)p * sizeof(double));
        memcpy(ck.c, r->b, (size_t)p * sizeof(double));
        memset(ck.n, 0, (size_t)p * sizeof(double));
        st = reverse(&ck, 0, ck.K, 0, ck.S - 1);
    }
    r->d->forward_steps = ck.fwd;
    r->d->stored_doubles = (size_t)(ck.S + 1) * w * p + (size_t)p; /* snapshots, state, adjoint */
    free(ck.split);
    free(mem);
    return st;
}
