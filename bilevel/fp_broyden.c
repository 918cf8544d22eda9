/*
 * bilevel/fp_broyden.c — good Broyden for g(θ) = 0 in inverse form, limited
 * memory. H ≈ (∂g)⁻¹ starts at I (∂g = I − ∂_θf is I where ∂_θf = 0) and
 * is kept as H = I + Σ_i a_i b_iᵀ. Each iteration:
 *   d = −H g,  θ⁺ = θ + βd,  s = θ⁺ − θ,  y = g(θ⁺) − g(θ),
 *   H ← H + (s − Hy) sᵀH / (sᵀHy)     (Sherman–Morrison of the good-Broyden
 *                                       update B ← B + (y − Bs)sᵀ/(sᵀs)),
 * stored as a = (s − Hy)/(sᵀHy), b = Hᵀs, so H⁺y = s (the secant equation).
 * When the memory is full the oldest pair is dropped before the new one is
 * made (the remaining sum then approximates the full product, as in limited
 * memory quasi-Newton codes for DEQs). SHINE reads Hᵀ through
 * bl_root_broyden_apply.
 */
#include "bilevel/fp_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct broyden_state {
    int mem, count;
    double *A, *B;          /* mem×p each: a_i, b_i */
    double *th_prev, *g_prev, *s, *y, *hy; /* p each */
    double *coef;           /* mem */
} broyden_state;

static bl_status broyden_alloc(bl_root *s, void *state)
{
    broyden_state *b = state;
    b->mem = s->opts.memory;
    size_t mp = (size_t)(b->mem ? b->mem : 1) * (size_t)s->p, p = (size_t)s->p;
    if (!(b->A = bl__fp_alloc(s->o, "root broyden: updates", mp)) ||
        !(b->B = bl__fp_alloc(s->o, "root broyden: updates", mp)) ||
        !(b->th_prev = bl__fp_alloc(s->o, "root broyden: work", p)) ||
        !(b->g_prev = bl__fp_alloc(s->o, "root broyden: work", p)) ||
        !(b->s = bl__fp_alloc(s->o, "root broyden: work", p)) ||
        !(b->y = bl__fp_alloc(s->o, "root broyden: work", p)) ||
        !(b->hy = bl__fp_alloc(s->o, "root broyden: work", p)) ||
        !(b->coef = bl__fp_alloc(s->o, "root broyden: coefficients", (size_t)b->mem + 1)))
        return BL_ENOMEM;
    return BL_OK;
}

static bl_status broyden_set(bl_root *s, void *state)
{
    broyden_state *b = state;
    b->count = 0;
    (void)s;
    return BL_OK;
}

/* out = Hx (tr 0) or Hᵀx (tr 1); out may alias x. */
static void apply(const broyden_state *b, int p, int tr, const double *x, double *out)
{
    const double *L = tr ? b->B : b->A, *R = tr ? b->A : b->B;
    for (int i = 0; i < b->count; i++)
        b->coef[i] = bl__dot(p, R + (size_t)i * p, x);
    if (out != x)
        memcpy(out, x, (size_t)p * sizeof *out);
    for (int i = 0; i < b->count; i++)
        bl__axpy(p, b->coef[i], L + (size_t)i * p, out);
}

/* The rank-one inverse update for the pair (s, y). The pairs are kept
 * oldest first in [0, count); a full memory drops the oldest first, so the
 * new pair is computed with (and H⁺y = s holds for) the H that is kept. */
static void update(broyden_state *b, int p, const double *s, const double *y)
{
    if (b->mem == 0)
        return;
    if (b->count == b->mem) {
        size_t n = (size_t)(b->count - 1) * (size_t)p * sizeof *b->A;
        memmove(b->A, b->A + p, n);
        memmove(b->B, b->B + p, n);
        b->count--;
    }
    apply(b, p, 0, y, b->hy);
    double den = bl__dot(p, s, b->hy);
    if (!(fabs(den) > 1e-14 * bl__nrm2(p, s) * bl__nrm2(p, b->hy)) || !isfinite(den))
        return;
    double *a = b->A + (size_t)b->count * p, *bb = b->B + (size_t)b->count * p;
    apply(b, p, 1, s, bb);
    for (int i = 0; i < p; i++)
        a[i] = (s[i] - b->hy[i]) / den;
    b->count++;
}

static bl_status broyden_iterate(bl_root *s, void *state)
{
    broyden_state *b = state;
    int p = s->p;
    memcpy(b->th_prev, s->theta, (size_t)p * sizeof *s->theta);
    memcpy(b->g_prev, s->g, (size_t)p * sizeof *s->g);
    apply(b, p, 0, s->g, b->s);
    bl__axpy(p, -s->opts.damping, b->s, s->theta);
    bl_status st = bl_root_eval(s);
    if (st != BL_OK)
        return st;
    for (int i = 0; i < p; i++) {
        b->s[i] = s->theta[i] - b->th_prev[i];
        b->y[i] = s->g[i] - b->g_prev[i];
    }
    update(b, p, b->s, b->y);
    return BL_OK;
}

static void broyden_free(void *state)
{
    broyden_state *b = state;
    free(b->A);
    free(b->B);
    free(b->th_prev);
    free(b->g_prev);
    free(b->s);
    free(b->y);
    free(b->hy);
    free(b->coef);
}

static const bl_root_type broyden_type = {"broyden", sizeof(broyden_state), broyden_alloc,
                                          broyden_set, broyden_iterate, broyden_free};
const bl_root_type *const bl_root_broyden = &broyden_type;

bl_status bl_root_broyden_apply(const bl_root *s, int transpose, const double *x, double *out)
{
    if (!s || s->type != bl_root_broyden)
        return s ? bl__fp_fail(s->o, BL_EINVAL, "root_broyden_apply: the solver is %s, not broyden",
                               s->type->name)
                 : BL_EINVAL;
    if (!x || !out)
        return bl__fp_fail(s->o, BL_EINVAL, "root_broyden_apply: x or out is NULL");
    apply(s->state, s->p, transpose != 0, x, out);
    return BL_OK;
}

bl_status bl_root_broyden_update(bl_root *s, const double *step, const double *dg)
{
    if (!s || s->type != bl_root_broyden)
        return s ? bl__fp_fail(s->o, BL_EINVAL, "root_broyden_update: the solver is %s, not broyden",
                               s->type->name)
                 : BL_EINVAL;
    if (!step || !dg)
        return bl__fp_fail(s->o, BL_EINVAL, "root_broyden_update: step or dg is NULL");
    if (!bl__fp_finite(step, s->p) || !bl__fp_finite(dg, s->p))
        return bl__fp_fail(s->o, BL_ENONFINITE, "root_broyden_update: step or dg is not finite");
    broyden_state *b = s->state;
    memcpy(b->y, dg, (size_t)s->p * sizeof *dg);
    memcpy(b->s, step, (size_t)s->p * sizeof *step);
    update(b, s->p, b->s, b->y);
    return BL_OK;
}

int bl_root_broyden_rank(const bl_root *s)
{
    return s && s->type == bl_root_broyden ? ((const broyden_state *)s->state)->count : 0;
}
