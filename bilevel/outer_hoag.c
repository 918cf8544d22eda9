/*
 * bilevel/outer_hoag.c — HOAG (Pedregosa 2016, "Hyperparameter optimization
 * with approximate gradient"), as the reference implementation runs it:
 *
 *   tolerances  the inner solve stops at ‖∇_θG‖ ≤ ε_k·g_0 and the linear
 *               solve at ‖Hq − ∇_θF‖ ≤ ε_k·r_0, with g_0 = ‖∇_θG(θ_0, λ_0)‖
 *               and r_0 = ‖∇_θF(θ_0, λ_0)‖ (relative, as the reference), θ
 *               and q warm-started from the previous iteration;
 *   ε_k         exponential ε_{k+1} = ρ ε_k, quadratic ε_0/k², cubic ε_0/k³,
 *               never below eps_min;
 *   step        1/L_λ; at the first iteration L_λ = m‖ĥ_1‖ when ‖ĥ_1‖ > 1e-3,
 *               else 1;
 *   test        from the second iteration, with h_k = F(θ_k, λ_k), the step
 *               s = ‖λ_k − λ_{k−1}‖ and the previous tolerance ε_{k−1}:
 *                 h_k − ε_k ≤ h_{k−1} + ε_{k−1} + ε_{k−1}·s − (L_λ/2)s²
 *                   → accept, L_λ ← 0.95 L_λ;
 *                 else h_k − ε_k > h_{k−1} + ε_{k−1} (h grew beyond the
 *                   tolerances' slack) → reject: L_λ ← 2 L_λ and λ goes back
 *                   to the base λ_{k−1}, whose ĥ is stepped again with the
 *                   new L_λ. A second reject in a row does not step: λ stays
 *                   at the base, where the next iteration measures h and ĥ
 *                   again at its tighter tolerance and, untested, makes them
 *                   the new base (a base measured loosely would otherwise
 *                   reject every later step, since the values' slack is the
 *                   relative ε while the inner tolerance is ε·g_0);
 *                 else accept, L_λ unchanged.
 *   update      λ_{k+1} = P(λ_k − ĥ_k/L_λ), P the box projection.
 * The backward pass is the context's method: ift-cg (HOAG's), any other
 * linear solver, shine, shine-opa, shine-refine or ift-identity
 * (Jacobian-free).
 */
#include "bilevel/internal.h"
#include <hypertape/outer.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct hoag_state {
    double *hg, *prev, *prev_hg; /* ĥ_k, λ_{k−1}, ĥ_{k−1} (m each) */
    double L, eps, eps_prev, h_prev, g0, r0;
    int k;         /* iterations done */
    int rejects;   /* consecutive rejects */
    int remeasure; /* after two rejects in a row: this evaluation is at the base */
} hoag_state;

static bl_status hoag_alloc(bl_outer *o, void *state)
{
    hoag_state *s = state;
    int m = bl_outer_problem(o)->m;
    if (!(s->hg = calloc(3 * (size_t)m, sizeof(double))))
        return bl_outer_fail(o, BL_ENOMEM, "cannot allocate 3 x %d doubles", m);
    s->prev = s->hg + m;
    s->prev_hg = s->prev + m;
    return BL_OK;
}

static void hoag_free(void *state) { free(((hoag_state *)state)->hg); }

/* g_0 and r_0 at (θ_0, λ_0): two gradients, charged to the algorithm. */
static bl_status hoag_set(bl_outer *o, void *state)
{
    hoag_state *s = state;
    const bl_problem *pb = bl_outer_problem(o);
    bl_hg *h = bl_outer_hg(o);
    bl_oracle *orc = bl_hg_oracle(h);
    double *th = calloc((size_t)2 * pb->p, sizeof(double)), *g = th + pb->p;
    if (!th)
        return bl_outer_fail(o, BL_ENOMEM, "cannot allocate 2 x %d doubles", pb->p);
    const double *t0 = bl_outer_theta0(o); /* bl_outer_set's θ_0, else opts->hg.theta0 */
    if (t0)
        memcpy(th, t0, (size_t)pb->p * sizeof(double));
    bl_oracle_reset(orc);
    bl_status st = bl_oracle_G(orc, NULL, th, bl_outer_lambda(o), NULL, g, NULL);
    s->g0 = bl__nrm2(pb->p, g);
    if (st == BL_OK)
        st = bl_oracle_F(orc, NULL, th, bl_outer_lambda(o), NULL, g, NULL);
    s->r0 = bl__nrm2(pb->p, g);
    bl_counts c = bl_oracle_counts(orc);
    bl_outer_charge(o, &c);
    free(th);
    if (st != BL_OK)
        return bl_outer_fail(o, st, "%s", bl_oracle_message(orc));
    s->g0 = s->g0 > 0 ? s->g0 : 1.0; /* θ_0 stationary: absolute tolerances */
    s->r0 = s->r0 > 0 ? s->r0 : 1.0;
    s->eps = s->eps_prev = bl_outer_options(o)->eps0;
    s->L = NAN;
    s->h_prev = INFINITY;
    s->k = 0;
    s->remeasure = s->rejects = 0;
    return BL_OK;
}

/* ε_{k+1} from ε_k after iteration k (1-based). */
static double next_eps(const bl_outer_opts *op, double eps, int k)
{
    double e = op->schedule == BL_HOAG_QUADRATIC ? op->eps0 / ((double)(k + 1) * (k + 1))
               : op->schedule == BL_HOAG_CUBIC   ? op->eps0 / ((double)(k + 1) * (k + 1) * (k + 1))
                                                 : op->eps_factor * eps;
    return fmax(e, op->eps_min);
}

/* The acceptance test of iteration k > 1; may move λ back (reject). */
static void hoag_test(bl_outer *o, hoag_state *s, double h, double *lam, bl_outer_report *rep)
{
    int m = bl_outer_problem(o)->m;
    double d2 = 0;
    for (int j = 0; j < m; j++)
        d2 += (lam[j] - s->prev[j]) * (lam[j] - s->prev[j]);
    double incr = sqrt(d2);
    rep->accepted = 1;
    if (h - s->eps <= s->h_prev + s->eps_prev + s->eps_prev * incr - 0.5 * s->L * incr * incr) {
        s->L *= 0.95;
    } else if (h - s->eps > s->h_prev + s->eps_prev) {
        s->L *= 2.0;
        rep->accepted = 0;
        memcpy(lam, s->prev, (size_t)m * sizeof(double));
        memcpy(s->hg, s->prev_hg, (size_t)m * sizeof(double));
    }
}

static bl_status hoag_iterate(bl_outer *o, void *state)
{
    hoag_state *s = state;
    const bl_outer_opts *op = bl_outer_options(o);
    int m = bl_outer_problem(o)->m;
    double *lam = bl_outer_lambda_mut(o);
    bl_outer_report *rep = bl_outer_report_mut(o);
    bl_hg *h = bl_outer_hg(o);
    bl_status st = bl_hg_set_tolerances(h, s->eps * s->g0, s->eps * s->r0);
    bl_diag d = {.produced = 0};
    if (st == BL_OK)
        st = bl_outer_hypergrad(o, lam, s->hg, &d);
    if (st != BL_OK && !d.produced)
        return st;
    s->k++;
    double hk = d.outer_value;
    rep->value = hk;
    rep->grad_norm = bl__nrm2(m, s->hg);
    rep->pgrad_norm = bl_outer_projected_norm(o, lam, s->hg);
    rep->accepted = 1;
    if (s->k == 1)
        s->L = rep->grad_norm > 1e-3 ? rep->grad_norm * m : 1.0;
    else if (!s->remeasure)
        hoag_test(o, s, hk, lam, rep);
    s->rejects = rep->accepted ? 0 : s->rejects + 1;
    s->remeasure = s->rejects >= 2;
    rep->step = 1.0 / s->L;
    if (rep->accepted) { /* λ_k is the new base point */
        memcpy(s->prev, lam, (size_t)m * sizeof(double));
        memcpy(s->prev_hg, s->hg, (size_t)m * sizeof(double));
        s->h_prev = hk;
        s->eps_prev = s->eps;
    }
    if (!s->remeasure) { /* step from the base (λ_k, or λ_{k−1} after a reject) */
        bl__axpy(m, -rep->step, s->hg, lam);
        bl_outer_project(o, lam);
    }
    s->eps = next_eps(op, s->eps, s->k);
    return st;
}

static const bl_outer_type hoag_type = {"hoag", sizeof(hoag_state), hoag_alloc, hoag_set,
                                        hoag_iterate, hoag_free};
const bl_outer_type *const bl_outer_hoag = &hoag_type;
