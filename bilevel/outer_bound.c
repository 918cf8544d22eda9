/*
 * bilevel/outer_bound.c — bound-controlled inexact descent: hypergradient
 * descent whose every step is backed by the certified a-posteriori bound
 * (Ehrhardt & Roberts 2023, who name it as future work).
 *
 * At λ the method tightens the inner tolerance ε (‖∇_θG‖ ≤ ε) and the
 * linear tolerance δ (‖Hq − ∇_θF‖ ≤ δ) by factors of 10 until the
 * a-posteriori bound b on ‖ĥ − ∇h(λ)‖ satisfies b ≤ c‖ĥ‖ (c < 1, the
 * condition of inexact-gradient methods: then −ĥ is a descent direction,
 * ĥᵀ∇h ≥ (1 − c)‖ĥ‖²), or both reach eps_min. It then backtracks along the
 * projected step λ' = P(λ − tĥ) with an Armijo test made valid for
 * inexact values by their error bounds:
 *     h̃(λ') + e + e' ≤ h̃(λ) − 10⁻⁴ ĥᵀ(λ − λ')   → accept (a certified decrease)
 *     h̃(λ') − e − e' > h̃(λ) − 10⁻⁴ ĥᵀ(λ − λ')   → reject, halve t
 *     otherwise (undecided within the errors)   → tighten ε, δ by 10,
 *                                                  re-evaluate λ, retry t
 * where h̃ = F(θ_ε) is the computed value and e, e' bound its error,
 * |F(θ_ε) − h| ≤ ‖∇_θF‖ε̂ + L_f ε̂²/2 (bl_diag.value_error_bound). With
 * both tolerances at eps_min the computed values decide. (The relaxed test
 * h̃(λ') ≤ h̃(λ) − 10⁻⁴ĥᵀ(λ − λ') + 2(e + e') of Berahas, Cao & Scheinberg
 * 2021 converges only to a neighbourhood set by e: it accepted overshoots
 * and oscillated there.) The trial point's evaluation, tightened the same
 * way, is the next iteration's. t doubles after an accepted step and halves
 * on a rejected trial (at most 40 halvings; after that the method has
 * stalled at the values' resolution: it stops, BL_ENOTCONVERGED). ε and δ carry over between
 * iterations and only tighten. The report gives the ε, δ and b of the
 * evaluation at λ the step was taken from, whether b is certified, and t.
 * Without certified constants the bound is an estimate and every report
 * says so (bound_certified = 0).
 */
#include "bilevel/internal.h"
#include <hypertape/outer.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct evaln {
    double *hg;       /* m */
    double value, err, bound, gnorm, pgnorm;
    int certified, met; /* bound certified; b ≤ c‖ĥ‖ */
} evaln;

typedef struct bound_state {
    evaln cur, trial;
    double *lam_trial; /* m */
    double *buf;       /* the one allocation (cur.hg and trial.hg swap inside it) */
    double eps, delta, t;
    int have;          /* cur holds the evaluation at the current λ */
} bound_state;

static bl_status bound_alloc(bl_outer *o, void *state)
{
    bound_state *s = state;
    int m = bl_outer_problem(o)->m;
    if (!(s->buf = s->cur.hg = calloc(3 * (size_t)m, sizeof(double))))
        return bl_outer_fail(o, BL_ENOMEM, "cannot allocate 3 x %d doubles", m);
    s->trial.hg = s->cur.hg + m;
    s->lam_trial = s->trial.hg + m;
    return BL_OK;
}

static void bound_free(void *state) { free(((bound_state *)state)->buf); }

static bl_status bound_set(bl_outer *o, void *state)
{
    bound_state *s = state;
    const bl_outer_opts *op = bl_outer_options(o);
    s->eps = s->delta = op->eps0;
    s->t = op->step;
    s->have = 0;
    return BL_OK;
}

/* Evaluates at λ, tightening ε and δ until b ≤ c‖ĥ‖ or both are at eps_min. */
static bl_status evaluate(bl_outer *o, bound_state *s, const double *lam, evaln *e)
{
    const bl_outer_opts *op = bl_outer_options(o);
    int m = bl_outer_problem(o)->m;
    for (;;) {
        bl_diag d = {.produced = 0};
        bl_status st = bl_hg_set_tolerances(bl_outer_hg(o), s->eps, s->delta);
        if (st == BL_OK)
            st = bl_outer_hypergrad(o, lam, e->hg, &d);
        if (!d.produced)
            return st;
        e->value = d.outer_value;
        e->err = d.value_error_bound;
        e->bound = d.bound_a_posteriori;
        e->certified = d.bound_certified;
        e->gnorm = bl__nrm2(m, e->hg);
        e->pgnorm = bl_outer_projected_norm(o, lam, e->hg);
        e->met = e->bound <= op->bound_c * e->gnorm;
        if (!isfinite(e->bound) || !isfinite(e->err))
            return bl_outer_fail(o, BL_EINVAL,
                                 "the method %s gives no a-posteriori bound here (it needs a q "
                                 "and constants, certified or estimated)",
                                 bl_method_name(bl_outer_options(o)->hg.method));
        if (e->met || (s->eps <= op->eps_min && s->delta <= op->eps_min))
            return st;
        s->eps = fmax(op->eps_min, s->eps / 10);
        s->delta = fmax(op->eps_min, s->delta / 10);
    }
}

static void report(bl_outer *o, const bound_state *s, const evaln *e, int accepted)
{
    bl_outer_report *rep = bl_outer_report_mut(o);
    rep->value = e->value;
    rep->grad_norm = e->gnorm;
    rep->pgrad_norm = e->pgnorm;
    rep->bound = e->bound;
    rep->bound_certified = e->certified;
    rep->inner_tol = s->eps;
    rep->linear_tol = s->delta;
    rep->accepted = accepted;
}

/* Evaluations of the current point and of the trial at step t: the Armijo
 * threshold h̃(λ) − 10⁻⁴ĥᵀ(λ − λ') compared with h̃(λ') within the value
 * errors e, e'. Returns 1 (accepted: λ moved, cur = trial), 0 (rejected:
 * halve t) or 2 (undecided within e + e': tighten ε and δ). */
static int trial(bl_outer *o, bound_state *s, bl_status *st)
{
    const bl_outer_opts *op = bl_outer_options(o);
    int m = bl_outer_problem(o)->m;
    double *lam = bl_outer_lambda_mut(o), dec = 0;
    memcpy(s->lam_trial, lam, (size_t)m * sizeof(double));
    bl__axpy(m, -s->t, s->cur.hg, s->lam_trial);
    bl_outer_project(o, s->lam_trial);
    for (int j = 0; j < m; j++)
        dec += s->cur.hg[j] * (lam[j] - s->lam_trial[j]);
    *st = evaluate(o, s, s->lam_trial, &s->trial);
    if (*st != BL_OK && *st != BL_ENOTCONVERGED)
        return 0;
    double thr = s->cur.value - 1e-4 * dec, err = s->cur.err + s->trial.err;
    int pass;
    if (s->trial.value + err <= thr)      /* h(λ') ≤ h(λ) − 10⁻⁴ĥᵀ(λ − λ'): certified */
        pass = 1;
    else if (s->trial.value - err > thr)  /* certainly not */
        pass = 0;
    else if (s->eps > op->eps_min || s->delta > op->eps_min)
        return 2;
    else                                  /* at eps_min: the computed values decide */
        pass = s->trial.value <= thr;
    if (!pass)
        return 0;
    memcpy(lam, s->lam_trial, (size_t)m * sizeof(double));
    evaln keep = s->cur;
    s->cur = s->trial;
    s->trial = keep; /* swap the buffers */
    return 1;
}

static bl_status bound_iterate(bl_outer *o, void *state)
{
    bound_state *s = state;
    const bl_outer_opts *op = bl_outer_options(o);
    bl_status st = BL_OK;
    if (!s->have) {
        st = evaluate(o, s, bl_outer_lambda(o), &s->cur);
        if (st != BL_OK && st != BL_ENOTCONVERGED)
            return st;
        s->have = 1;
    }
    for (int k = 0; k < 40;) {
        evaln at = s->cur; /* the values this step is taken from (its scalars are reported) */
        double eps = s->eps, delta = s->delta;
        int r = trial(o, s, &st);
        if (r == 1) {
            report(o, s, &at, 1);
            bl_outer_report *rep = bl_outer_report_mut(o);
            rep->step = s->t;
            rep->inner_tol = eps; /* the tolerances of the evaluation at λ */
            rep->linear_tol = delta;
            s->t *= 2.0;
            return st;
        }
        if (st != BL_OK && st != BL_ENOTCONVERGED)
            return st;
        if (r == 2) { /* the value errors hide the outcome: tighten and re-evaluate λ */
            s->eps = fmax(op->eps_min, s->eps / 10);
            s->delta = fmax(op->eps_min, s->delta / 10);
            st = evaluate(o, s, bl_outer_lambda(o), &s->cur);
            if (st != BL_OK && st != BL_ENOTCONVERGED)
                return st;
            continue;
        }
        s->t *= 0.5;
        k++;
    }
    report(o, s, &s->cur, 0);
    bl_outer_set_done(o); /* stalled: the values cannot tell the trial points apart */
    return bl_outer_fail(o, BL_ENOTCONVERGED,
                         "stalled: no step passed the inexact Armijo test in 40 halvings "
                         "(t = %.3g, tolerances %.3g, %.3g)", s->t, s->eps, s->delta);
}

static const bl_outer_type bound_type = {"bound", sizeof(bound_state), bound_alloc, bound_set,
                                         bound_iterate, bound_free};
const bl_outer_type *const bl_outer_bound = &bound_type;
