/*
 * bilevel/outer_srba.c — SRBA (Dagréou, Moreau, Vaiter & Ablin 2023, "A
 * lower bound and a near-optimal algorithm for bilevel empirical risk
 * minimization"): SARAH estimators (Nguyen et al. 2017) of the three
 * directions with a full-batch refresh every q iterations
 * (README, "Stochastic algorithms"). Iteration t = 0, 1, ...:
 *   t ≡ 0 (mod q):  D_θ = ∇_θG,  D_v = H v + ∇_θF,  D_λ = cross(v) + ∇_λF,
 *                   every sample, at (θ_t, v_t, λ_t);
 *   otherwise:      on fresh batches i, j, with the same batches at both points,
 *                   D_θ += ∇_θG_i(θ_t, λ_t) − ∇_θG_i(θ_{t−1}, λ_{t−1}),
 *                   D_v += [H_i v + ∇_θF_j](t) − [same](t − 1),
 *                   D_λ += [cross_i(v) + ∇_λF_j](t) − [same](t − 1);
 *   then θ −= ρ D_θ,  v ← Π_Γ(v − ρ D_v),  λ ← P(λ − γ D_λ)
 * with constant steps (unless a schedule is set). Γ is the ball
 * ‖v‖ ≤ R on which v* lives, R = C_F/μ with C_F ≥ ‖∇_θF‖; the library knows
 * no C_F, so R is the largest ‖∇_θF(θ_r, λ_r)‖/μ(λ_r) over the refreshes r
 * so far (μ from the problem's constants; no projection without them).
 * q = opts->refresh, default ⌈(n_inner + n_outer)/(b_inner + b_outer)⌉
 * (one pass of draws per refresh). Memory: θ, v, λ and their previous
 * values, the directions and two calls' rows, O(p + m + b(p + m)).
 */
#include "bilevel/internal.h"
#include <hypertape/outer.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct srba_state {
    bl__stoch s;                  /* first: bl_outer_stoch_get */
    double *th0, *v0, *la0;       /* the previous point (p, p, m) */
    double *q1, *q0;              /* the five batch means at t and t − 1 (3p + 2m each) */
} srba_state;

static bl_status srba_alloc(bl_outer *o, void *state)
{
    srba_state *S = state;
    bl__stoch *s = &S->s;
    bl_status st = bl__stoch_alloc(o, s, 0.1, 0.1);
    if (st != BL_OK)
        return st;
    size_t p = (size_t)s->p, m = (size_t)s->m, n = 2 * p + m + 2 * (3 * p + 2 * m);
    if (!(S->th0 = malloc(n * sizeof(double))))
        return bl_outer_fail(o, BL_ENOMEM, "cannot allocate %zu doubles", n);
    S->v0 = S->th0 + p;
    S->la0 = S->v0 + p;
    S->q1 = S->la0 + m;
    S->q0 = S->q1 + 3 * p + 2 * m;
    s->bytes += n * sizeof(double);
    return BL_OK;
}

static void srba_free(void *state)
{
    srba_state *S = state;
    bl__stoch_free(&S->s);
    free(S->th0);
}

static bl_status srba_set(bl_outer *o, void *state) { return bl__stoch_set(o, &((srba_state *)state)->s); }

static bl__means split(const bl__stoch *s, double *q)
{
    return (bl__means){q, q + s->p, q + 2 * s->p, q + 2 * s->p + s->m, q + 3 * s->p + s->m};
}

/* The full-batch directions at the current point; updates the v ball. */
static bl_status refresh(bl_outer *o, srba_state *S, const double *lam)
{
    bl__stoch *s = &S->s;
    bl__means d = split(s, S->q1);
    bl_status st = bl__stoch_means(o, s, s->theta, lam, s->v, &d, 1);
    if (st != BL_OK)
        return st;
    for (int k = 0; k < s->p; k++) {
        s->dth[k] = d.gG[k];
        s->dv[k] = d.hv[k] + d.fT[k];
    }
    for (int k = 0; k < s->m; k++)
        s->dla[k] = d.cr[k] + d.fL[k];
    const bl_problem *pb = bl_outer_problem(o);
    bl_constants K;
    if (pb->constants && pb->constants(lam, &K, pb->ctx) == BL_OK && K.mu > 0 && isfinite(K.mu)) {
        double R = bl__nrm2(s->p, d.fT) / K.mu;
        s->v_radius = isfinite(s->v_radius) ? fmax(s->v_radius, R) : R;
    }
    return BL_OK;
}

/* The SARAH corrections on fresh batches, at the current and previous points. */
static bl_status recurse(bl_outer *o, srba_state *S, const double *lam, int t)
{
    bl__stoch *s = &S->s;
    bl__means d1 = split(s, S->q1), d0 = split(s, S->q0);
    bl__batches_draw(&s->bt, 1, 1);
    bl_status st = bl__stoch_means(o, s, s->theta, lam, s->v, &d1, 0);
    if (st == BL_OK)
        st = bl__stoch_value(o, s, t, lam);
    if (st == BL_OK)
        st = bl__stoch_means(o, s, S->th0, S->la0, S->v0, &d0, 0);
    if (st != BL_OK)
        return st;
    for (int k = 0; k < s->p; k++) {
        s->dth[k] += d1.gG[k] - d0.gG[k];
        s->dv[k] += (d1.hv[k] - d0.hv[k]) + (d1.fT[k] - d0.fT[k]);
    }
    for (int k = 0; k < s->m; k++)
        s->dla[k] += (d1.cr[k] - d0.cr[k]) + (d1.fL[k] - d0.fL[k]);
    return BL_OK;
}

static void project_ball(double *v, int p, double R)
{
    double nv = bl__nrm2(p, v);
    if (isfinite(R) && nv > R)
        for (int k = 0; k < p; k++)
            v[k] *= R / nv;
}

static bl_status srba_iterate(bl_outer *o, void *state)
{
    srba_state *S = state;
    bl__stoch *s = &S->s;
    int p = s->p, m = s->m, k = bl_outer_last(o)->iter, t = k + 1;
    double *lam = bl_outer_lambda_mut(o);
    bl_oracle_clear_error(s->orc);
    s->refreshed = k % s->refresh == 0;
    bl_status st = s->refreshed ? refresh(o, S, lam) : recurse(o, S, lam, t);
    if (st != BL_OK)
        return bl__stoch_fail(o, s, st);
    memcpy(S->th0, s->theta, (size_t)p * sizeof(double));
    memcpy(S->v0, s->v, (size_t)p * sizeof(double));
    memcpy(S->la0, lam, (size_t)m * sizeof(double));
    bl__stoch_move(o, s, t, 1);
    project_ball(s->v, p, s->v_radius);
    return BL_OK;
}

static const bl_outer_type srba_type = {"srba", sizeof(srba_state), srba_alloc, srba_set,
                                        srba_iterate, srba_free};
const bl_outer_type *const bl_outer_srba = &srba_type;
