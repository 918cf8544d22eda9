/*
 * bilevel/outer_stocbio.c — StocBiO (Ji, Yang & Liang 2021): per outer
 * iteration, T inner SGD steps on θ (warm-started, a fresh inner batch
 * each), then the stochastic Neumann series for v with a fresh inner
 * batch per term (README, "Stochastic algorithms"):
 *   r_0 = ∇_θF_j(θ, λ),  r_q = (I − η H_{i_q}) r_{q−1}  (q = 1..Q),
 *   v = −η Σ_{q=0}^{Q} r_q  ≈ −H⁻¹∇_θF   (SOBA's sign),
 *   D_λ = cross_i(v) + ∇_λF_j  (a fresh inner batch i),  λ ← P(λ − γ_t D_λ),
 * with η = ρ_t (the inner step). Memory: θ, v, r, the directions and one
 * call's rows, O(p + m + b(p + m)).
 */
#include "bilevel/internal.h"
#include <hypertape/outer.h>

#include <string.h>

typedef struct stocbio_state {
    bl__stoch s; /* first: bl_outer_stoch_get */
} stocbio_state;

static bl_status stocbio_alloc(bl_outer *o, void *state)
{
    return bl__stoch_alloc(o, &((stocbio_state *)state)->s, 0.1, 0.1);
}

static bl_status stocbio_set(bl_outer *o, void *state)
{
    return bl__stoch_set(o, &((stocbio_state *)state)->s);
}

static void stocbio_free(void *state) { bl__stoch_free(&((stocbio_state *)state)->s); }

/* T SGD steps of θ at λ with step rho (shared with AmIGO's pattern). */
static bl_status inner_sgd(bl_outer *o, bl__stoch *s, const double *lam, double rho)
{
    bl__means d = {.gG = s->dth};
    for (int k = 0; k < s->T; k++) {
        bl__batches_draw(&s->bt, 1, 0);
        bl_status st = bl__stoch_means(o, s, s->theta, lam, s->v, &d, 0);
        if (st != BL_OK)
            return st;
        bl__axpy(s->p, -rho, s->dth, s->theta);
    }
    return BL_OK;
}

/* v by the stochastic Neumann series; fT, fL get ∇_θF_j, ∇_λF_j. */
static bl_status neumann(bl_outer *o, bl__stoch *s, const double *lam, double eta, double *fT,
                         double *fL, double *r, double *hv)
{
    int p = s->p;
    bl__batches_draw(&s->bt, 0, 1);
    bl__means df = {.fT = fT, .fL = fL};
    bl_status st = bl__stoch_means(o, s, s->theta, lam, s->v, &df, 0);
    if (st != BL_OK)
        return st;
    memcpy(r, fT, (size_t)p * sizeof(double));
    memcpy(s->v, fT, (size_t)p * sizeof(double)); /* Σ r_q so far */
    bl__means dh = {.hv = hv};
    for (int q = 1; q <= s->Q; q++) {
        bl__batches_draw(&s->bt, 1, 0);
        if ((st = bl__stoch_means(o, s, s->theta, lam, r, &dh, 0)) != BL_OK)
            return st;
        bl__axpy(p, -eta, hv, r);
        bl__axpy(p, 1.0, r, s->v);
    }
    for (int k = 0; k < p; k++)
        s->v[k] *= -eta;
    return BL_OK;
}

static bl_status stocbio_iterate(bl_outer *o, void *state)
{
    bl__stoch *s = &((stocbio_state *)state)->s;
    int p = s->p, m = s->m, t = bl_outer_last(o)->iter + 1;
    double *lam = bl_outer_lambda_mut(o), rho, gamma;
    double *fT = s->work, *fL = fT + p, *r = fL + m, *hv = r + p;
    bl_oracle_clear_error(s->orc);
    bl__stoch_steps(s, t, &rho, &gamma);
    bl_status st = inner_sgd(o, s, lam, rho);
    if (st == BL_OK)
        st = neumann(o, s, lam, rho, fT, fL, r, hv);
    if (st == BL_OK)
        st = bl__stoch_value(o, s, t, lam);
    bl__batches_draw(&s->bt, 1, 0);
    bl__means dc = {.cr = s->dla};
    if (st == BL_OK)
        st = bl__stoch_means(o, s, s->theta, lam, s->v, &dc, 0);
    if (st != BL_OK)
        return bl__stoch_fail(o, s, st);
    for (int k = 0; k < m; k++)
        s->dla[k] += fL[k];
    memset(s->dv, 0, (size_t)p * sizeof(double));
    bl__stoch_move(o, s, t, 0);
    return BL_OK;
}

static const bl_outer_type stocbio_type = {"stocbio", sizeof(stocbio_state), stocbio_alloc,
                                           stocbio_set, stocbio_iterate, stocbio_free};
const bl_outer_type *const bl_outer_stocbio = &stocbio_type;
