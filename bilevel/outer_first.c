/*
 * bilevel/outer_first.c — first-order outer algorithms on the hypergradient
 * estimate ĥ of the context: hypergradient descent (fixed or decaying
 * step) and Adam. Each iteration evaluates ĥ at λ_t, reports F at θ_t and
 * ‖ĥ‖ there, then steps and projects onto the box.
 */
#include "bilevel/internal.h"
#include <hypertape/outer.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct first_state {
    double *hg, *mom, *var; /* ĥ, Adam's first and second moments (m each) */
} first_state;

static bl_status first_alloc(bl_outer *o, void *state)
{
    first_state *s = state;
    int m = bl_outer_problem(o)->m;
    if (!(s->hg = calloc(3 * (size_t)m, sizeof(double))))
        return bl_outer_fail(o, BL_ENOMEM, "cannot allocate 3 x %d doubles", m);
    s->mom = s->hg + m;
    s->var = s->mom + m;
    return BL_OK;
}

static void first_free(void *state) { free(((first_state *)state)->hg); }

static bl_status first_set(bl_outer *o, void *state)
{
    first_state *s = state;
    int m = bl_outer_problem(o)->m;
    memset(s->mom, 0, 2 * (size_t)m * sizeof(double));
    return BL_OK;
}

/* ĥ at the current λ into s->hg and the report; 0 when none was produced. */
static int estimate(bl_outer *o, first_state *s, bl_status *st)
{
    bl_diag d;
    *st = bl_outer_hypergrad(o, bl_outer_lambda(o), s->hg, &d);
    bl_outer_report *rep = bl_outer_report_mut(o);
    rep->accepted = d.produced;
    if (!d.produced)
        return 0;
    rep->value = d.outer_value;
    rep->grad_norm = bl__nrm2(bl_outer_problem(o)->m, s->hg);
    rep->pgrad_norm = bl_outer_projected_norm(o, bl_outer_lambda(o), s->hg);
    rep->bound = d.bound_a_posteriori;
    rep->bound_certified = d.bound_certified;
    return 1;
}

void bl__adam_step(int n, double a, const double *g, double *x, double *mo, double *va, int t,
                   const struct bl_outer_opts *op)
{
    double c1 = 1.0 - pow(op->beta1, t), c2 = 1.0 - pow(op->beta2, t);
    for (int j = 0; j < n; j++) {
        mo[j] = op->beta1 * mo[j] + (1.0 - op->beta1) * g[j];
        va[j] = op->beta2 * va[j] + (1.0 - op->beta2) * g[j] * g[j];
        x[j] -= a * (mo[j] / c1) / (sqrt(va[j] / c2) + op->adam_eps);
    }
}

/* ĥ at λ_t, then λ ← P(λ − a_t ĥ) with a_t = step/(1 + decay·t), or Adam's step. */
static bl_status first_iterate(bl_outer *o, first_state *s, int adam)
{
    bl_status st;
    if (!estimate(o, s, &st))
        return st;
    const bl_outer_opts *op = bl_outer_options(o);
    bl_outer_report *rep = bl_outer_report_mut(o);
    int m = bl_outer_problem(o)->m;
    double *lam = bl_outer_lambda_mut(o);
    rep->step = adam ? op->step : op->step / (1.0 + op->decay * rep->iter);
    if (adam)
        bl__adam_step(m, rep->step, s->hg, lam, s->mom, s->var, rep->iter + 1, op);
    else
        bl__axpy(m, -rep->step, s->hg, lam);
    bl_outer_project(o, lam);
    return st;
}

static bl_status hgd_iterate(bl_outer *o, void *state) { return first_iterate(o, state, 0); }
static bl_status adam_iterate(bl_outer *o, void *state) { return first_iterate(o, state, 1); }

static const bl_outer_type hgd_type = {"hgd", sizeof(first_state), first_alloc, first_set,
                                       hgd_iterate, first_free};
static const bl_outer_type adam_type = {"adam", sizeof(first_state), first_alloc, first_set,
                                        adam_iterate, first_free};
const bl_outer_type *const bl_outer_hgd = &hgd_type;
const bl_outer_type *const bl_outer_adam = &adam_type;
