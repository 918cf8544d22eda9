/*
 * bilevel/outer_amigo.c — AmIGO (Arbel & Mairal 2022, "Amortized implicit
 * differentiation for stochastic bilevel optimization"): per outer
 * iteration, T SGD steps on θ and T SGD steps on the linear system
 * min_v ½vᵀHv + vᵀ∇_θF, both warm-started from the previous outer
 * iteration's θ and v, fresh batches every step (README, "Stochastic
 * algorithms"):
 *   θ −= ρ_t ∇_θG_i(θ, λ)                          (T times),
 *   v −= ρ_t (H_i v + ∇_θF_j)  at the new θ          (T times),
 *   D_λ = cross_i(v) + ∇_λF_j  (fresh batches),  λ ← P(λ − γ_t D_λ).
 * Memory: θ, v, the directions and one call's rows, O(p + m + b(p + m)).
 */
#include "bilevel/internal.h"
#include <hypertape/outer.h>

typedef struct amigo_state {
    bl__stoch s; /* first: bl_outer_stoch_get */
} amigo_state;

static bl_status amigo_alloc(bl_outer *o, void *state)
{
    return bl__stoch_alloc(o, &((amigo_state *)state)->s, 0.1, 0.1);
}

static bl_status amigo_set(bl_outer *o, void *state) { return bl__stoch_set(o, &((amigo_state *)state)->s); }

static void amigo_free(void *state) { bl__stoch_free(&((amigo_state *)state)->s); }

static bl_status amigo_solves(bl_outer *o, bl__stoch *s, const double *lam, double rho)
{
    int p = s->p;
    double *hv = s->work, *fT = hv + p;
    bl__means dg = {.gG = s->dth}, dv = {.hv = hv, .fT = fT};
    for (int k = 0; k < s->T; k++) {
        bl__batches_draw(&s->bt, 1, 0);
        bl_status st = bl__stoch_means(o, s, s->theta, lam, s->v, &dg, 0);
        if (st != BL_OK)
            return st;
        bl__axpy(p, -rho, s->dth, s->theta);
    }
    for (int k = 0; k < s->T; k++) {
        bl__batches_draw(&s->bt, 1, 1);
        bl_status st = bl__stoch_means(o, s, s->theta, lam, s->v, &dv, 0);
        if (st != BL_OK)
            return st;
        for (int j = 0; j < p; j++)
            s->dv[j] = hv[j] + fT[j];
        bl__axpy(p, -rho, s->dv, s->v);
    }
    return BL_OK;
}

static bl_status amigo_iterate(bl_outer *o, void *state)
{
    bl__stoch *s = &((amigo_state *)state)->s;
    int p = s->p, m = s->m, t = bl_outer_last(o)->iter + 1;
    double *lam = bl_outer_lambda_mut(o), rho, gamma, *fL = s->work + 2 * p;
    bl_oracle_clear_error(s->orc);
    bl__stoch_steps(s, t, &rho, &gamma);
    bl_status st = amigo_solves(o, s, lam, rho);
    bl__batches_draw(&s->bt, 1, 1);
    bl__means dl = {.cr = s->dla, .fL = fL};
    if (st == BL_OK)
        st = bl__stoch_means(o, s, s->theta, lam, s->v, &dl, 0);
    if (st == BL_OK)
        st = bl__stoch_value(o, s, t, lam);
    if (st != BL_OK)
        return bl__stoch_fail(o, s, st);
    for (int k = 0; k < m; k++)
        s->dla[k] += fL[k];
    bl__stoch_move(o, s, t, 0);
    return BL_OK;
}

static const bl_outer_type amigo_type = {"amigo", sizeof(amigo_state), amigo_alloc, amigo_set,
                                         amigo_iterate, amigo_free};
const bl_outer_type *const bl_outer_amigo = &amigo_type;
