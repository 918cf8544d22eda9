/*
 * bilevel/outer_first.c — first-order outer algorithms on the hypergradient
 * estimate ĥ of the context: hypergradient descent (fixed or decaying
 * step) and Adam. Each iteration evaluates ĥ at λ_t, reports F at θ_t and
 * ‖ĥ‖ there, then steps and projects onto the box.
 */
#include "bilevel/internal.h"
#include "bilevel/outer.h"

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

static bl_status hgd_iterate(bl_outer *o, void *state)
{
    first_state *s = state;
    bl_status st;
    if (!estimate(o, s, &st))
        return st;
    const bl_outer_opts *op = bl_outer_options(o);
    bl_outer_report *rep = bl_outer_report_mut(o);
    double a = op->step / (1.0 + op->decay * rep->iter);
    double *lam = bl_outer_lambda_mut(o);
    bl__axpy(bl_outer_problem(o)->m, -a, s->hg, lam);
    bl_outer_project(o, lam);
    rep->step = a;
    return st;
}

static bl_status adam_iterate(bl_outer *o, void *state)
{
    first_state *s = state;
    bl_status st;
    if (!estimate(o, s, &st))
        return st;
    const bl_outer_opts *op = bl_outer_options(o);
    bl_outer_report *rep = bl_outer_report_mut(o);
    int m = bl_outer_problem(o)->m, t = rep->iter + 1;
    double c1 = 1.0 - pow(op->beta1, t), c2 = 1.0 - pow(op->beta2, t);
    double *lam = bl_outer_lambda_mut(o);
    for (int j = 0; j < m; j++) {
        double g = s->hg[j];
        s->mom[j] = op->beta1 * s->mom[j] + (1.0 - op->beta1) * g;
        s->var[j] = op->beta2 * s->var[j] + (1.0 - op->beta2) * g * g;
        lam[j] -= op->step * (s->mom[j] / c1) / (sqrt(s->var[j] / c2) + op->adam_eps);
    }
    bl_outer_project(o, lam);
    rep->step = op->step;
    return st;
}

static const bl_outer_type hgd_type = {"hgd", sizeof(first_state), first_alloc, first_set,
                                       hgd_iterate, first_free};
static const bl_outer_type adam_type = {"adam", sizeof(first_state), first_alloc, first_set,
                                        adam_iterate, first_free};
const bl_outer_type *const bl_outer_hgd = &hgd_type;
const bl_outer_type *const bl_outer_adam = &adam_type;
