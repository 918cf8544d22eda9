/*
 * bilevel/outer_soba.c — SOBA (Dagréou, Ablin, Vaiter & Moreau 2022): one
 * loop moving θ, v and λ together along stochastic directions on an inner
 * batch i and an outer batch j (README, "Stochastic algorithms"):
 *   D_θ = ∇_θG_i,  D_v = H_i v + ∇_θF_j,  D_λ = cross_i(v) + ∇_λF_j,
 *   θ −= ρ_t D_θ,  v −= ρ_t D_v,  λ ← P(λ − γ_t D_λ),
 * all three directions at (θ_t, v_t, λ_t). Memory: θ, v, the directions and
 * one call's per-sample rows, O(p + b(p + m)).
 */
#include "bilevel/internal.h"
#include <hypertape/outer.h>

typedef struct soba_state {
    bl__stoch s; /* first: bl_outer_stoch_get */
} soba_state;

static bl_status soba_alloc(bl_outer *o, void *state)
{
    return bl__stoch_alloc(o, &((soba_state *)state)->s, 0.1, 0.1);
}

static bl_status soba_set(bl_outer *o, void *state) { return bl__stoch_set(o, &((soba_state *)state)->s); }

static void soba_free(void *state) { bl__stoch_free(&((soba_state *)state)->s); }

void bl__soba_update(bl_outer *o, bl__stoch *s, const double *hv, const double *fT,
                     const double *fL, int t)
{
    for (int k = 0; k < s->p; k++)
        s->dv[k] = hv[k] + fT[k];
    for (int k = 0; k < s->m; k++)
        s->dla[k] += fL[k];
    bl__stoch_move(o, s, t, 1);
}

static bl_status soba_iterate(bl_outer *o, void *state)
{
    bl__stoch *s = &((soba_state *)state)->s;
    int p = s->p, t = bl_outer_last(o)->iter + 1;
    double *lam = bl_outer_lambda_mut(o);
    double *hv = s->work, *fT = hv + p, *fL = fT + p;
    bl_oracle_clear_error(s->orc);
    bl__batches_draw(&s->bt, 1, 1);
    bl__means d = {s->dth, hv, s->dla, fT, fL};
    bl_status st = bl__stoch_means(o, s, s->theta, lam, s->v, &d, 0);
    if (st == BL_OK)
        st = bl__stoch_value(o, s, t, lam);
    if (st != BL_OK)
        return bl__stoch_fail(o, s, st);
    bl__soba_update(o, s, hv, fT, fL, t);
    return BL_OK;
}

static const bl_outer_type soba_type = {"soba", sizeof(soba_state), soba_alloc, soba_set,
                                        soba_iterate, soba_free};
const bl_outer_type *const bl_outer_soba = &soba_type;
